/* run.c - `detector run`: the daemon. Kafka in, state in Redis, actions out.
 *
 * The loop, once per batch:
 *   1. take what the consumer has ready, up to batch.size messages, for at
 *      most batch.time after the first;
 *   2. parse every message once, then decide the valid events in order with
 *      the decisions of one event at a time, through the batch cache
 *      (store_cache.c): the state the batch needs comes from Redis in one
 *      round trip (rarely two) and its writes, the outbox included, are sent
 *      back in one more. When Redis fails, the partitions are paused and the
 *      whole batch is decided again with backoff until Redis answers:
 *      nothing is skipped;
 *   3. settle it (settle): once Redis has confirmed every write, produce the
 *      dead letters and actions in message order, and wait until the
 *      producer has delivered every one (failed deliveries are produced
 *      again);
 *   4. only then store the offsets of the batch (committed by librdkafka's
 *      auto-commit, and synchronously on shutdown and on revocation).
 * Redis applies a batch's writes while the next batch is taken, parsed and
 * run through its first pass (which needs nothing from Redis); the batch is
 * settled before the next one reads Redis, or at once when no next batch is
 * ready.
 * At-least-once delivery plus idempotent state and deterministic action ids
 * gives every effect exactly once by action_id.
 *
 * Around it: the metrics and readiness (telemetry.c, served by http.c on its
 * own thread) are updated once per batch and once per turn of the loop,
 * systemd is told READY/RELOADING/STOPPING and fed its watchdog (service.c).
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "engine.h"
#include "event.h"
#include "guard.h"
#include "http.h"
#include "log.h"
#include "service.h"
#include "split.h"
#include "store.h"
#include "telemetry.h"

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t reload_requested;

static void on_hup(int sig)
{
    (void)sig;
    reload_requested = 1;
}

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* Shutdown must end even when Kafka is unreachable (closing the consumer
 * would wait for the group coordinator): after the limit, exit at once. The
 * offsets not committed then are delivered again; effects are idempotent. */
static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "detector: shutdown took too long; exiting\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    _exit(3);
}

/* A message whose delivery failed, kept to be produced again. */
typedef struct pending {
    char *topic;
    void *key, *value;
    size_t klen, vlen;
    rd_kafka_headers_t *hdrs;
    struct pending *next;
} pending_t;

typedef struct daemon {
    const char *conf_path;
    config_t cfg;
    ruleset_t *rs;
    store_t *st;    /* Redis */
    store_t *cache; /* the batch cache over st: what the engine works on */
    engine_t *eng;
    rd_kafka_t *consumer, *producer;
    pending_t *failed; /* deliveries to retry */
    int rebalanced;
    int redis_down;
    int fatal; /* the producer failed for good: stop, commit nothing more */
    rd_kafka_topic_t *t_actions, *t_dlq; /* held so their metadata is known early */
    unsigned long events, bad, unknown, actions, breaker, delivery_errors, republished;
    /* Latency from an event's arrival at the consumer to the delivery of
     * its action: a log-scale histogram (10% buckets) in microseconds. */
    uint64_t lat_hist[256];
    uint64_t lat_count;
    int64_t lat_max_us;
    /* Telemetry: what the batch in hand adds (added when it is done), the
     * inputs of readiness, and the HTTP server that shows them. */
    telemetry_t *tm;
    http_server_t *http;
    telemetry_batch_t tally;
    telemetry_state_t state;
    int64_t redis_checked_ms; /* the last time Redis answered, or was checked */
    int64_t status_ms;        /* the last STATUS= sent to systemd */
    guard_t guard;            /* the state marker (redis.on_state_loss) */
    int64_t guard_ms;         /* its last check */
    split_t *split;           /* a second thread: parsing and releasing a batch */
    struct batch *batch;      /* the batch in hand (run_loop), for a revocation */
    /* The offsets of the settled batches whose effects were handed to the
     * producer, stored once it has delivered them (deliver). */
    rd_kafka_topic_partition_list_t *delivering;
    int64_t delivering_cut_us; /* when that batch was cut */
    int64_t stop_ms;           /* when flush_all first saw the stop asked for */
    int64_t cut_us;            /* when the batch being decided was cut */
} daemon_t;

/* The state marker is checked this often (detector/guard.c). */
#define GUARD_CHECK_MS 1000
/* While idle, Redis is checked this often (readiness). */
#define REDIS_CHECK_MS 1000
/* How often systemd's STATUS= line is refreshed. */
#define STATUS_MS 5000

#define LAT_BASE 1.1

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void latency_add(daemon_t *d, int64_t us)
{
    int b = us <= 1 ? 0 : (int)(log((double)us) / log(LAT_BASE)) + 1;
    if (b > 255) b = 255;
    d->lat_hist[b]++;
    d->lat_count++;
    if (us > d->lat_max_us) d->lat_max_us = us;
}

/* The upper bound of the bucket holding quantile q, in milliseconds. */
static double latency_quantile_ms(const daemon_t *d, double q)
{
    if (d->lat_count == 0) return 0;
    uint64_t want = (uint64_t)ceil(q * (double)d->lat_count), seen = 0;
    for (int b = 0; b < 256; b++) {
        seen += d->lat_hist[b];
        if (seen >= want) { /* the bucket's upper edge, never above the maximum seen */
            double ms = pow(LAT_BASE, b) / 1000.0, max = (double)d->lat_max_us / 1000.0;
            return ms < max ? ms : max;
        }
    }
    return (double)d->lat_max_us / 1000.0;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    daemon_t *d = opaque;
    if (!m->err) {
        if (m->_private) {
            int64_t us = mono_us() - (int64_t)(intptr_t)m->_private;
            latency_add(d, us);
            telemetry_action_latency(d->tm, (double)us / 1e6);
        }
        return;
    }
    d->delivery_errors++;
    d->tally.delivery_errors++;
    if (m->err == RD_KAFKA_RESP_ERR__FATAL) {
        char why[256];
        rd_kafka_fatal_error(rk, why, sizeof why);
        log_errorx("fatal producer error: %s", why);
        d->fatal = 1;
        return;
    }
    log_warnx("delivery to %s failed: %s; producing it again", rd_kafka_topic_name(m->rkt),
              rd_kafka_err2str(m->err));
    pending_t *p = calloc(1, sizeof *p);
    if (!p) return;
    p->topic = strdup(rd_kafka_topic_name(m->rkt));
    p->vlen = m->len;
    p->value = malloc(m->len ? m->len : 1);
    if (m->payload && p->value) memcpy(p->value, m->payload, m->len);
    if (m->key) {
        p->klen = m->key_len;
        p->key = malloc(m->key_len ? m->key_len : 1);
        if (p->key) memcpy(p->key, m->key, m->key_len);
    }
    rd_kafka_headers_t *h = NULL;
    if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR && h)
        p->hdrs = rd_kafka_headers_copy(h);
    p->next = d->failed;
    d->failed = p;
}

static int conf_set(rd_kafka_conf_t *c, const char *k, const char *v)
{
    char err[256];
    if (rd_kafka_conf_set(c, k, v, err, sizeof err) != RD_KAFKA_CONF_OK) {
        log_errorx("kafka.%s: %s", k, err);
        return -1;
    }
    return 0;
}

/* Applies the kafka.* passthrough: "X" to both, "consumer.X" or
 * "producer.X" to one. */
static int conf_passthrough(rd_kafka_conf_t *c, const config_t *cfg, const char *role)
{
    size_t rl = strlen(role);
    for (size_t i = 0; i < cfg->nkafka; i++) {
        const char *k = cfg->kafka[i].key;
        if (strncmp(k, "consumer.", 9) == 0 || strncmp(k, "producer.", 9) == 0) {
            if (strncmp(k, role, rl) != 0 || k[rl] != '.') continue;
            k += rl + 1;
        }
        if (conf_set(c, k, cfg->kafka[i].value) < 0) return -1;
    }
    return 0;
}

/* librdkafka's own messages (from its threads) go to the log, rate-limited
 * per facility. */
static void kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    char key[64];
    log_level_t l = level <= 3   ? LOG_LVL_ERROR
                    : level == 4 ? LOG_LVL_WARN
                    : level <= 6 ? LOG_LVL_INFO
                                 : LOG_LVL_DEBUG;
    snprintf(key, sizeof key, "kafka:%s", fac);
    log_msg(l, key, "kafka %s: %s", fac, buf);
}

/* librdkafka's statistics of the consumer (served by its poll, on this
 * thread): the lag per partition. */
static int stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    daemon_t *d = opaque;
    (void)rk;
    if (telemetry_consumer_stats(d->tm, json, len) < 0)
        log_warnx("kafka statistics: not readable JSON");
    return 0; /* librdkafka frees json */
}

/* Counts a rebalance and the partitions assigned after it. */
static void note_rebalance(daemon_t *d, rd_kafka_t *rk, int assign)
{
    rd_kafka_topic_partition_list_t *a = NULL;
    int n = 0;
    if (rd_kafka_assignment(rk, &a) == RD_KAFKA_RESP_ERR_NO_ERROR && a) {
        n = a->cnt;
        rd_kafka_topic_partition_list_destroy(a);
    }
    d->state.assigned = n;
    telemetry_rebalance(d->tm, assign, n);
}

static void settle_now(daemon_t *d, struct batch *b);
static void deliver(daemon_t *d);

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    daemon_t *d = opaque;
    int coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    d->rebalanced = 1;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        log_info("assigned %d partition%s", parts->cnt, parts->cnt == 1 ? "" : "s");
        if (coop)
            rd_kafka_error_destroy(rd_kafka_incremental_assign(rk, parts));
        else
            rd_kafka_assign(rk, parts);
        /* A pause outlives an unassign: a partition paused during a Redis
         * outage would never be read again. The outage loop pauses anew. */
        rd_kafka_resume_partitions(rk, parts);
        note_rebalance(d, rk, 1);
        return;
    }
    /* Revoked: the batch whose writes were sent is settled (its actions
     * published, its offsets stored) while its partitions are still ours,
     * then what is stored is committed (its effects are durable). The rest
     * of the batch in hand is not processed (see run_loop). */
    log_info("revoked %d partition%s", parts->cnt, parts->cnt == 1 ? "" : "s");
    if (d->batch) settle_now(d, d->batch);
    rd_kafka_commit(rk, NULL, 0);
    if (coop)
        rd_kafka_error_destroy(rd_kafka_incremental_unassign(rk, parts));
    else
        rd_kafka_assign(rk, NULL);
    note_rebalance(d, rk, 0);
}

/* Settings the delivery guarantees rest on: applied after the kafka.*
 * passthrough, so that no configuration can turn them off. */
static const char *const producer_required[][2] = {{"enable.idempotence", "true"}, {"acks", "all"}};
static const char *const consumer_required[][2] = {{"enable.auto.offset.store", "false"},
                                                   {"enable.auto.commit", "true"}};

static int conf_required(rd_kafka_conf_t *c, const config_t *cfg, const char *const (*req)[2],
                         size_t n)
{
    log_report_begin(); /* every ignored key is named */
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < cfg->nkafka; k++) {
            const char *key = cfg->kafka[k].key;
            const char *dot = strchr(key, '.');
            if (strcmp(key, req[i][0]) == 0 ||
                (dot && (strncmp(key, "consumer.", 9) == 0 || strncmp(key, "producer.", 9) == 0) &&
                 strcmp(dot + 1, req[i][0]) == 0))
                log_warnx("kafka.%s is ignored: the detector needs %s=%s", key, req[i][0],
                          req[i][1]);
        }
        if (conf_set(c, req[i][0], req[i][1]) < 0) {
            log_report_end();
            return -1;
        }
    }
    log_report_end();
    return 0;
}

static int kafka_open(daemon_t *d)
{
    char err[512];
    rd_kafka_conf_t *pc = rd_kafka_conf_new();
    /* Nagle off: a second request on a connection (a dead letter after the
     * actions) would otherwise wait ~40 ms for a delayed ACK. */
    /* A broker back after an outage is found again within a second, not
     * after librdkafka's default backoff of up to 10 s. linger.ms 0: an
     * action is sent as soon as the producer's thread runs, with whatever
     * else is queued then, rather than after 2 ms of waiting for others. */
    if (conf_set(pc, "linger.ms", "0") < 0 || conf_set(pc, "socket.nagle.disable", "true") < 0 ||
        conf_set(pc, "reconnect.backoff.max.ms", "1000") < 0 ||
        conf_passthrough(pc, &d->cfg, "producer") < 0 ||
        conf_required(pc, &d->cfg, producer_required, 2) < 0) {
        rd_kafka_conf_destroy(pc);
        return -1;
    }
    rd_kafka_conf_set_dr_msg_cb(pc, dr_cb);
    rd_kafka_conf_set_log_cb(pc, kafka_log);
    rd_kafka_conf_set_opaque(pc, d);
    d->producer = rd_kafka_new(RD_KAFKA_PRODUCER, pc, err, sizeof err);
    if (!d->producer) {
        log_errorx("kafka producer: %s", err);
        rd_kafka_conf_destroy(pc);
        return -1;
    }
    pc = NULL;
    /* Known topics from the start: the first action does not wait for a
     * metadata lookup. */
    d->t_actions = rd_kafka_topic_new(d->producer, d->cfg.topic_actions, NULL);
    d->t_dlq = rd_kafka_topic_new(d->producer, d->cfg.topic_dlq, NULL);
    rd_kafka_conf_t *cc = rd_kafka_conf_new();
    /* With the metrics served, the consumer's statistics give the lag
     * (kafka.consumer.statistics.interval.ms may change the interval). */
    if (conf_set(cc, "auto.commit.interval.ms", "1000") < 0 ||
        conf_set(cc, "socket.nagle.disable", "true") < 0 ||
        conf_set(cc, "reconnect.backoff.max.ms", "1000") < 0 ||
        conf_set(cc, "auto.offset.reset", "earliest") < 0 ||
        (d->http && conf_set(cc, "statistics.interval.ms", "5000") < 0) ||
        conf_passthrough(cc, &d->cfg, "consumer") < 0 ||
        conf_set(cc, "group.id", d->cfg.group_id) < 0 ||
        conf_required(cc, &d->cfg, consumer_required, 2) < 0) {
        rd_kafka_conf_destroy(cc);
        return -1;
    }
    rd_kafka_conf_set_rebalance_cb(cc, rebalance_cb);
    rd_kafka_conf_set_log_cb(cc, kafka_log);
    if (d->http) rd_kafka_conf_set_stats_cb(cc, stats_cb);
    rd_kafka_conf_set_opaque(cc, d);
    d->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, cc, err, sizeof err);
    if (!d->consumer) {
        log_errorx("kafka consumer: %s", err);
        rd_kafka_conf_destroy(cc);
        return -1;
    }
    cc = NULL;
    rd_kafka_poll_set_consumer(d->consumer);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, d->cfg.topic_events, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(d->consumer, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (e) {
        log_errorx("subscribe to %s: %s", d->cfg.topic_events, rd_kafka_err2str(e));
        return -1;
    }
    d->state.subscribed = 1;
    return 0;
}

/* Produces one message (copied). Waits while the local queue is full. */
/* arrived_us: when the event behind an action arrived (0: not an action);
 * the delivery report measures the latency from it. */
static int produce(daemon_t *d, const char *topic, const void *key, size_t klen, const void *val,
                   size_t vlen, rd_kafka_headers_t *hdrs, int64_t arrived_us)
{
    void *v; /* librdkafka copies it (F_COPY) and takes a non-const pointer */
    memcpy(&v, &val, sizeof v);
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            d->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_KEY(key, klen), RD_KAFKA_V_VALUE(v, vlen), RD_KAFKA_V_HEADERS(hdrs),
            RD_KAFKA_V_OPAQUE((void *)(intptr_t)arrived_us), RD_KAFKA_V_END);
        if (!e) return 0; /* the producer owns hdrs now */
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            if (e == RD_KAFKA_RESP_ERR__FATAL) d->fatal = 1;
            log_errorx("produce to %s: %s", topic, rd_kafka_err2str(e));
            if (hdrs) rd_kafka_headers_destroy(hdrs);
            return -1;
        }
        rd_kafka_poll(d->producer, 50);
    }
}

/* A dead letter keeps the original bytes, up to what a Kafka message may
 * carry: a longer bad event is cut, and the headers say so. */
#define DLQ_MAX_VALUE (512 * 1024)

static int send_dead_letter(daemon_t *d, const rd_kafka_message_t *m, const char *reason)
{
    char part[16], off[32], size[32];
    snprintf(part, sizeof part, "%d", (int)m->partition);
    snprintf(off, sizeof off, "%lld", (long long)m->offset);
    rd_kafka_headers_t *h = rd_kafka_headers_new(6);
    const char *topic = rd_kafka_topic_name(m->rkt);
    rd_kafka_header_add(h, "source.topic", -1, topic, -1);
    rd_kafka_header_add(h, "source.partition", -1, part, -1);
    rd_kafka_header_add(h, "source.offset", -1, off, -1);
    rd_kafka_header_add(h, "reason", -1, reason, -1);
    size_t len = m->len;
    if (len > DLQ_MAX_VALUE) {
        snprintf(size, sizeof size, "%zu", m->len);
        rd_kafka_header_add(h, "original.size", -1, size, -1);
        rd_kafka_header_add(h, "truncated", -1, "true", -1);
        len = DLQ_MAX_VALUE;
    }
    return produce(d, d->cfg.topic_dlq, m->key, m->key_len, m->payload ? m->payload : "", len, h,
                   0);
}

/* The outbox: the actions decided for an event, kept with its identity's
 * state (a record named "#outbox" keyed by the event id) for a week, so
 * that a redelivered event publishes exactly what it decided the first time. */
#define OUTBOX "#outbox"
#define OUTBOX_KEEP_US (7 * 86400000000LL)

/* Publishes the actions of lines (one JSON per line) keyed by identity. */
static int publish_lines(daemon_t *d, const char *identity, const char *lines, int64_t arrived_us)
{
    for (const char *p = lines; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len > 0 && produce(d, d->cfg.topic_actions, identity, strlen(identity), p, len, NULL,
                               arrived_us) < 0)
            return -1;
        p += len + (nl ? 1 : 0);
    }
    return 0;
}

typedef struct item item_t;

/* The messages of a batch, in the order the consumer gave them. The first
 * sent of them were decided and their writes sent to Redis, which may still
 * be applying them: their actions wait for settle. The rest (the next
 * batch) are being decided meanwhile. */
typedef struct batch {
    rd_kafka_message_t **m;
    int64_t *arrived; /* when each message came out of the consumer */
    item_t *items;    /* each message parsed, and what was decided for it */
    size_t n, cap;
    size_t parsed;       /* items[0..parsed) are parsed */
    size_t sent;         /* items[0..sent) decided, their writes sent, not settled */
    int64_t sent_cut_us; /* when those were cut into a batch */
    struct part_mark {   /* per partition of the batch: see decide_batch */
        rd_kafka_topic_t *rkt;
        int32_t partition;
        int64_t mark, top;
    } * parts;
    size_t capparts;
} batch_t;

/* One message of a batch, parsed once. */
struct item {
    event_status_t status;
    event_t ev;       /* EVENT_OK (and EVENT_UNKNOWN: cleared) */
    char reason[512]; /* EVENT_BAD */
    char *lines;      /* its actions, one JSON per line (NULL: none) */
    char *breaker;    /* one line per block the breaker made shadow */
    size_t nactions;
    int republished; /* found in the outbox: published again as decided */
};

static void item_reset(item_t *it)
{
    free(it->lines);
    free(it->breaker);
    it->lines = it->breaker = NULL;
    it->nactions = 0;
    it->republished = 0;
}

static void item_clear(item_t *it)
{
    item_reset(it);
    if (it->status == EVENT_OK) event_clear(&it->ev);
}

/* Decides one event in a pass over the batch (see decide_batch). 0, or -1
 * with err when the store failed. */
static int decide_event(daemon_t *d, item_t *it, int redelivered, char *err, size_t errlen)
{
    const event_t *ev = &it->ev;
    const char *id = ev->str[FIELD_IDENTITY], *eid = ev->str[FIELD_EVENT_ID];
    int found = 0;
    store_request_t out;

    item_reset(it);
    /* A redelivered event whose actions were decided before: publish them
     * again as they were (the state has moved on since, so deciding anew
     * could differ). Its state is fed again (idempotent), its rules are not
     * run. */
    if (store_record_get(d->cache, id, OUTBOX, eid, &found, &out, err, errlen) < 0) return -1;
    if (redelivered && !found) /* decided before, without actions: only its state again */
        return engine_feed(d->eng, ev, err, errlen);
    if (found) {
        int rc = engine_feed(d->eng, ev, err, errlen);
        for (size_t i = 0; rc == 0 && i < out.nfields; i++)
            if (strcmp(out.name[i], "actions") == 0 && !it->lines &&
                !(it->lines = strdup(out.value[i])))
                rc = -1;
        store_request_clear(&out);
        it->republished = 1;
        if (rc < 0 && !it->lines) snprintf(err, errlen, "out of memory");
        return rc;
    }
    const action_t *acts;
    size_t n;
    if (engine_process(d->eng, ev, &acts, &n, err, errlen) < 0) return -1;
    if (n == 0) return 0;
    /* The actions, kept with the event (the outbox) before they are
     * published. */
    size_t len = 0, blen = 0;
    FILE *f = open_memstream(&it->lines, &len);
    FILE *bf = NULL;
    if (!f) goto oom;
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "%s\n", acts[i].json);
        if (acts[i].breaker) {
            if (!bf && !(bf = open_memstream(&it->breaker, &blen))) {
                fclose(f);
                goto oom;
            }
            fprintf(bf, "block %s of rule %s for %s\n", acts[i].action_id, acts[i].rule->id,
                    acts[i].identity);
        }
    }
    if (bf) fclose(bf);
    fclose(f);
    it->nactions = n;
    store_request_t o;
    memset(&o, 0, sizeof o);
    o.ts_us = ev->ts_us;
    snprintf(o.event_id, sizeof o.event_id, "%s", eid);
    const char *name = "actions";
    memcpy(&o.name[0], &name, sizeof name);
    memcpy(&o.value[0], &it->lines, sizeof it->lines);
    o.nfields = 1;
    return store_record_put(d->cache, id, OUTBOX, eid, &o, OUTBOX_KEEP_US, err, errlen);
oom:
    snprintf(err, errlen, "out of memory");
    return -1;
}

/* Parses message from + i of the batch (see decide_batch). */
struct parse_job {
    batch_t *b;
    size_t from;
};

static void parse_item(void *arg, size_t i)
{
    const struct parse_job *job = arg;
    const rd_kafka_message_t *m = job->b->m[job->from + i];
    item_t *it = &job->b->items[job->from + i];

    memset(it, 0, sizeof *it);
    it->status =
        event_parse(m->payload ? m->payload : "", m->len, &it->ev, it->reason, sizeof it->reason);
    if (it->status == EVENT_UNKNOWN) event_clear(&it->ev);
}

static int settle(daemon_t *d, batch_t *b, char *err, size_t errlen);

/* The engine's statistics saved before the batch being decided (restored
 * before each further pass), and before the oldest batch whose writes are
 * not confirmed (restored when they fail: it is decided again). */
enum { STATS_PASS = 0, STATS_UNSETTLED = 1 };

/* Serves the producer's delivery reports that have come in (dr_cb), without
 * waiting: called between the steps of deciding a batch, so that an
 * action's delivery is seen when it happens, not when the next batch is
 * decided (the latency histogram measures until dr_cb sees it). Offsets are
 * still stored only in deliver. */
static void serve_deliveries(daemon_t *d)
{
    rd_kafka_poll(d->producer, 0);
}

/* How many events a pass decides between two serve_deliveries. */
#define SERVE_EVERY 64

/* Decides the events of the batch after its first b->sent (those were
 * decided before: see settle) with the decisions of one event at a time,
 * reading and writing Redis in few round trips: passes over them in memory
 * until one needs no key it has not loaded (store_cache.c), then that
 * pass's writes are sent in one pipelined batch, and the function returns
 * while Redis applies them (b->sent = b->n). The first pass needs nothing
 * from Redis, so it runs while Redis applies the previous batch's writes;
 * that batch is settled before this one reads (its reads come after those
 * writes on the one connection) or writes. 0; -1 with err when Redis
 * failed, -2 when the producer did (settling): then b->sent is 0 and the
 * whole batch, the settled part included, is decided again later
 * (idempotent). */
static int decide_batch(daemon_t *d, batch_t *b, char *err, size_t errlen)
{
    int rc = -1, redo = 0;
    /* Every message parsed once (a retried batch is not parsed again), on
     * two threads: parsing and releasing the documents were a third of
     * the daemon's time. */
    struct parse_job job = {b, b->parsed};
    split_run(d->split, parse_item, &job, b->n - b->parsed);
    b->parsed = b->n;
    serve_deliveries(d);
    if (b->sent == 0) engine_stats_save(d->eng, STATS_UNSETTLED);
    engine_stats_save(d->eng, STATS_PASS);
    for (;;) {
        if (store_cache_begin(d->cache, err, errlen) < 0) goto out;
        /* The processed offset of each partition of the batch: a message at
         * or below it comes again after a rebalance or a crash and is not
         * decided anew (its state is fed, its actions republished). */
        size_t np = 0;
        for (size_t i = b->sent; i < b->n; i++) {
            const rd_kafka_message_t *m = b->m[i];
            size_t k = 0;
            if ((i - b->sent) % SERVE_EVERY == SERVE_EVERY - 1) serve_deliveries(d);
            while (k < np && !(b->parts[k].rkt == m->rkt && b->parts[k].partition == m->partition))
                k++;
            if (k == np) {
                if (np == b->capparts) {
                    size_t cap = np ? np * 2 : 8;
                    struct part_mark *nv = realloc(b->parts, cap * sizeof *nv);
                    if (!nv) {
                        snprintf(err, errlen, "out of memory");
                        goto out;
                    }
                    b->parts = nv;
                    b->capparts = cap;
                }
                b->parts[np].rkt = m->rkt;
                b->parts[np].partition = m->partition;
                b->parts[np].top = -1;
                if (store_offset_get(d->cache, d->cfg.group_id, rd_kafka_topic_name(m->rkt),
                                     (int)m->partition, &b->parts[np].mark, err, errlen) < 0)
                    goto out;
                np++;
            }
            if (b->items[i].status == EVENT_OK &&
                decide_event(d, &b->items[i], m->offset <= b->parts[k].mark, err, errlen) < 0)
                goto out;
            /* After each event's writes: a commit cut short (Redis gone, kill
             * -9) leaves the events before the cut marked as decided, and
             * only those, as one event at a time would. */
            if (m->offset > b->parts[k].mark && m->offset > b->parts[k].top) {
                b->parts[k].top = m->offset;
                if (store_offset_set(d->cache, d->cfg.group_id, rd_kafka_topic_name(m->rkt),
                                     (int)m->partition, m->offset, err, errlen) < 0)
                    goto out;
            }
        }
        if (store_cache_missing(d->cache) == 0) break;
        /* Settling moves this batch to the front of b: the next pass runs
         * from b->sent, now 0. */
        if ((rc = settle(d, b, err, errlen)) < 0) {
            redo = 1;
            goto out;
        }
        rc = -1;
        if (store_cache_fetch(d->cache, err, errlen) < 0) goto out;
        serve_deliveries(d);
        engine_stats_restore(d->eng, STATS_PASS);
    }
    if ((rc = settle(d, b, err, errlen)) < 0) {
        redo = 1;
        goto out;
    }
    rc = -1;
    if (store_cache_send(d->cache, err, errlen) < 0) goto out;
    b->sent = b->n;
    b->sent_cut_us = d->cut_us;
    rc = 0;
out:
    if (rc < 0 && !redo) {
        if (b->sent > 0) { /* unsettled (nothing read since): decided again with this one */
            engine_stats_restore(d->eng, STATS_UNSETTLED);
            b->sent = 0;
        } else {
            engine_stats_restore(d->eng, STATS_PASS);
        }
    }
    store_cache_end(d->cache);
    return rc;
}

/* Publishes what the first n messages of the batch decided, in message
 * order: dead letters and actions. 0, or -1 when the producer refused a
 * message. */
static int publish_batch(daemon_t *d, const batch_t *b, size_t n)
{
    unsigned long events = 0, bad = 0, unknown = 0, actions = 0, breaker = 0, republished = 0;
    unsigned long by_type[EV_TYPE_COUNT] = {0}, by_class[BAD_CLASSES] = {0};
    for (size_t i = 0; i < n; i++) {
        const rd_kafka_message_t *m = b->m[i];
        const item_t *it = &b->items[i];
        if (it->status == EVENT_BAD) {
            if (send_dead_letter(d, m, it->reason) < 0) return -1;
            /* Rate-limited by log.c (one line per template and window), and
             * escaped there: a reason may quote input. */
            log_warnx("bad event at %s [%d] offset %lld: %s", rd_kafka_topic_name(m->rkt),
                      (int)m->partition, (long long)m->offset, it->reason);
            by_class[telemetry_bad_class(it->reason)]++;
            bad++;
            continue;
        }
        if (it->status == EVENT_UNKNOWN) {
            unknown++;
            continue;
        }
        const char *id = it->ev.str[FIELD_IDENTITY];
        if (it->lines && publish_lines(d, id, it->lines, b->arrived[i]) < 0) return -1;
        for (const char *p = it->breaker; p && *p;) {
            const char *nl = strchr(p, '\n');
            int len = nl ? (int)(nl - p) : (int)strlen(p);
            log_warnx("breaker: %.*s published as shadow", len, p);
            breaker++;
            p += len + (nl ? 1 : 0);
        }
        events++;
        by_type[it->ev.type]++;
        actions += it->nactions;
        republished += (unsigned long)it->republished;
    }
    for (int t = 0; t < EV_TYPE_COUNT; t++)
        d->tally.events[t] += by_type[t];
    for (int c = 0; c < BAD_CLASSES; c++)
        d->tally.bad[c] += by_class[c];
    d->tally.unknown += unknown;
    d->tally.actions += actions;
    d->tally.breaker += breaker;
    d->tally.republished += republished;
    d->events += events;
    d->bad += bad;
    d->unknown += unknown;
    d->actions += actions;
    d->breaker += breaker;
    d->republished += republished;
    return 0;
}

static void redis_failed(daemon_t *d, const char *err)
{
    if (!d->redis_down) log_warnx("state store failed: %s; pausing consumption and retrying", err);
    d->redis_down = 1;
    d->state.redis_ok = 0;
    d->state.redis_retrying = 1;
    telemetry_redis(d->tm, 1, 0, 0);
}

/* Decides the batch (its writes sent; its actions published when it is
 * settled). 0: done; -1: Redis or the producer failed, retry later (the
 * effects so far are idempotent). */
static int process_batch(daemon_t *d, batch_t *b)
{
    char err[512];
    int rc = decide_batch(d, b, err, sizeof err);
    if (rc == -2) return -1; /* logged by produce */
    if (rc < 0) {
        redis_failed(d, err);
        return -1;
    }
    if (d->state.redis_retrying || !d->state.redis_ok) telemetry_redis(d->tm, 0, 0, 1);
    d->state.redis_ok = 1;
    d->state.redis_retrying = 0;
    d->redis_checked_ms = mono_ms();
    return 0;
}

/* Waits until every message handed to the producer is delivered, producing
 * failed ones again. Returns -1 only when asked to stop and the hard
 * shutdown limit passed. */
static int flush_all(daemon_t *d)
{
    for (;;) {
        rd_kafka_flush(d->producer, 500);
        /* Failed deliveries are produced again; one that cannot even be
         * queued stays in the list, so the batch's offsets are not stored. */
        pending_t *again = NULL;
        while (d->failed) {
            pending_t *p = d->failed;
            d->failed = p->next;
            if (produce(d, p->topic, p->key, p->klen, p->value, p->vlen, p->hdrs, 0) < 0) {
                p->hdrs = NULL; /* destroyed by produce */
                p->next = again;
                again = p;
                continue;
            }
            free(p->topic);
            free(p->key);
            free(p->value);
            free(p);
        }
        d->failed = again;
        if (d->fatal) return -1;
        if (rd_kafka_outq_len(d->producer) == 0 && !d->failed) return 0;
        /* one limit for every flush after the stop was asked for */
        if (stop_requested && !d->stop_ms) d->stop_ms = mono_ms();
        if (stop_requested && mono_ms() - d->stop_ms > 8000) return -1;
        if (d->failed) usleep(100000);
    }
}

static void pause_all(daemon_t *d, int pause)
{
    rd_kafka_topic_partition_list_t *a = NULL;
    if (rd_kafka_assignment(d->consumer, &a) == RD_KAFKA_RESP_ERR_NO_ERROR && a) {
        if (pause)
            rd_kafka_pause_partitions(d->consumer, a);
        else
            rd_kafka_resume_partitions(d->consumer, a);
        rd_kafka_topic_partition_list_destroy(a);
    }
}

static int batch_push(batch_t *b, rd_kafka_message_t *m)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        rd_kafka_message_t **nm = realloc(b->m, cap * sizeof *nm);
        if (!nm) return -1;
        b->m = nm;
        int64_t *na = realloc(b->arrived, cap * sizeof *na);
        if (!na) return -1;
        b->arrived = na;
        item_t *ni = realloc(b->items, cap * sizeof *ni);
        if (!ni) return -1;
        b->items = ni;
        b->cap = cap;
    }
    b->arrived[b->n] = mono_us();
    b->m[b->n++] = m;
    return 0;
}

static void clear_item(void *arg, size_t i)
{
    item_clear(&((batch_t *)arg)->items[i]);
}

/* Lets the first n messages of the batch go (what was parsed of them is
 * released on two threads); the rest move to the front. */
static void batch_drop(daemon_t *d, batch_t *b, size_t n)
{
    split_run(d->split, clear_item, b, n < b->parsed ? n : b->parsed);
    for (size_t i = 0; i < n; i++)
        rd_kafka_message_destroy(b->m[i]);
    size_t rest = b->n - n;
    if (rest > 0 && n > 0) {
        memmove(b->m, b->m + n, rest * sizeof *b->m);
        memmove(b->arrived, b->arrived + n, rest * sizeof *b->arrived);
        memmove(b->items, b->items + n, (b->parsed > n ? b->parsed - n : 0) * sizeof *b->items);
    }
    b->n = rest;
    b->parsed = b->parsed > n ? b->parsed - n : 0;
    b->sent = b->sent > n ? b->sent - n : 0;
}

static void batch_clear(daemon_t *d, batch_t *b)
{
    batch_drop(d, b, b->n);
}

/* Polls one message into the batch; 1 if one was added. */
static int poll_one(daemon_t *d, batch_t *b, int timeout_ms)
{
    rd_kafka_message_t *m = rd_kafka_consumer_poll(d->consumer, timeout_ms);
    if (!m) return 0;
    if (m->err) {
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            log_warnx("consumer: %s", rd_kafka_message_errstr(m));
        rd_kafka_message_destroy(m);
        return 0;
    }
    if (batch_push(b, m) < 0) {
        /* Never skip a message: stop, and let a restart take it again. */
        log_errorx("out of memory holding a batch; stopping");
        rd_kafka_message_destroy(m);
        d->fatal = 1;
        return 0;
    }
    return 1;
}

/* Once per turn of a loop that polls the consumer: readiness (the consumer
 * is polled), systemd's watchdog and status, the log's repeat summaries. */
static void tick(daemon_t *d)
{
    int64_t now = mono_ms();
    d->state.polled_ms = now;
    telemetry_state_set(d->tm, &d->state);
    service_watchdog(now);
    log_flush_repeats(0);
    if (now - d->status_ms >= STATUS_MS) {
        d->status_ms = now;
        service_status("%lu events, %lu actions, %lu bad, %lu unknown type; %d partition%s; %s",
                       d->events, d->actions, d->bad, d->unknown, d->state.assigned,
                       d->state.assigned == 1 ? "" : "s",
                       d->state.redis_ok ? "Redis up" : "Redis down, retrying");
    }
}

/* While idle: is Redis still there? (A broken connection is made again
 * first.) For readiness; a batch would find out anyway. */
static void redis_check(daemon_t *d)
{
    char err[256] = "";
    long n;
    unsigned long reconnects = 0;
    int ok = 1;
    if (!d->state.redis_ok) {
        ok = store_reconnect(d->st, err, sizeof err) == 0;
        reconnects = (unsigned long)ok;
    }
    if (ok) ok = store_window_count(d->st, "#health", "check", 0, 1, &n, err, sizeof err) == 0;
    if (ok && !d->state.redis_ok) log_info("redis is reachable again");
    if (!ok && d->state.redis_ok) log_warnx("redis check failed: %s", err);
    d->state.redis_ok = ok;
    d->redis_checked_ms = mono_ms();
    telemetry_redis(d->tm, (unsigned long)!ok, reconnects, ok);
}

static void write_stats(daemon_t *d);

/* Checks the state marker (detector/guard.c); counts a loss. 0, or -1
 * when Redis failed. */
static int guard_tick(daemon_t *d)
{
    char err[256];
    unsigned long lost = d->guard.lost;
    d->guard_ms = mono_ms();
    if (guard_check(&d->guard, d->st, err, sizeof err) < 0) return -1;
    if (d->guard.lost != lost) telemetry_state_lost(d->tm);
    d->state.state_paused = d->guard.paused;
    return 0;
}

/* Redis lost the state and redis.on_state_loss = pause: nothing is decided
 * until the marker is back (restored with Redis's data, or written by an
 * operator). The partitions are paused and the consumer still polled, so
 * the group keeps us; what it returns is held in the batch. */
static void wait_for_state(daemon_t *d, batch_t *b)
{
    pause_all(d, 1);
    while (d->guard.paused && !stop_requested && !d->fatal && !d->rebalanced) {
        int64_t until = mono_ms() + 1000;
        while (mono_ms() < until && !stop_requested && !d->rebalanced) {
            poll_one(d, b, 50);
            tick(d);
        }
        char err[256];
        if (guard_tick(d) < 0) store_reconnect(d->st, err, sizeof err);
        if (d->cfg.stats_file[0]) write_stats(d);
    }
    pause_all(d, 0);
}

/* Retries the batch until Redis and the producer take it. While waiting,
 * the consumer is paused but still polled (so the group keeps us); anything
 * it returns joins the batch in order. Returns -1 when stopping or after a
 * rebalance (then nothing of the batch counts as done). */
static int retry_batch(daemon_t *d, batch_t *b)
{
    long backoff = 100;
    deliver(d); /* what was settled before: its offsets, while Redis is away */
    pause_all(d, 1);
    for (;;) {
        if (stop_requested || d->rebalanced || d->fatal) return -1;
        int64_t until = mono_ms() + backoff;
        while (mono_ms() < until && !stop_requested && !d->rebalanced) {
            poll_one(d, b, 50);
            tick(d);
        }
        if (stop_requested || d->rebalanced || d->fatal) return -1;
        char err[256];
        int reconnected = store_reconnect(d->st, err, sizeof err) == 0;
        telemetry_redis(d->tm, (unsigned long)!reconnected, (unsigned long)reconnected, 0);
        /* After a reconnect, before anything is decided: is the state
         * still there? (A restarted Redis may have come back empty.) */
        if (reconnected && guard_tick(d) == 0 && !d->guard.paused && process_batch(d, b) == 0) {
            if (d->redis_down) log_info("state store is back; resuming");
            d->redis_down = 0;
            pause_all(d, 0);
            return 0;
        }
        backoff = backoff * 2 > d->cfg.retry_max_ms ? d->cfg.retry_max_ms : backoff * 2;
    }
}

/* The offsets to store once the effects of the first n messages of the
 * batch are delivered: per partition, the next one to read. NULL when out
 * of memory. */
static rd_kafka_topic_partition_list_t *offsets_of(const batch_t *b, size_t n)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    rd_kafka_topic_partition_t *p = NULL;
    if (!l) return NULL;
    for (size_t i = 0; i < n; i++) {
        const rd_kafka_message_t *m = b->m[i];
        const char *topic = rd_kafka_topic_name(m->rkt);
        if (!p || p->partition != m->partition || strcmp(p->topic, topic) != 0) {
            p = rd_kafka_topic_partition_list_find(l, topic, m->partition);
            if (!p) p = rd_kafka_topic_partition_list_add(l, topic, m->partition);
        }
        if (m->offset + 1 > p->offset) p->offset = m->offset + 1;
    }
    return l;
}

/* The figures of the batch cut at cut_us (what publish_batch tallied, and
 * its size) go to the metrics. */
static void batch_figures(daemon_t *d, int64_t cut_us)
{
    d->tally.seconds = (double)(mono_us() - cut_us) / 1e6;
    telemetry_batch_add(d->tm, &d->tally);
    memset(&d->tally, 0, sizeof d->tally);
}

/* Waits until everything handed to the producer is delivered, then stores
 * the offsets noted for it (committed by auto-commit, on revocation and at
 * shutdown). When the delivery is given up (stopping, or the producer
 * failed for good) those offsets are not stored, and their messages come
 * again after a restart. */
static void deliver(daemon_t *d)
{
    rd_kafka_topic_partition_list_t *l = d->delivering;
    int ok = flush_all(d) == 0;
    d->delivering = NULL;
    if (!l) return;
    if (ok) {
        rd_kafka_offsets_store(d->consumer, l); /* the errors are per partition */
        for (int i = 0; i < l->cnt; i++) {
            const rd_kafka_topic_partition_t *p = &l->elems[i];
            if (p->err && p->err != RD_KAFKA_RESP_ERR__STATE) /* __STATE: no longer ours */
                log_warnx("offset store %s [%d] %lld: %s", p->topic, (int)p->partition,
                          (long long)p->offset - 1, rd_kafka_err2str(p->err));
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
    batch_figures(d, d->delivering_cut_us); /* its actions' latencies are in (dr_cb) */
}

/* Settles the part of the batch whose writes were sent (b->sent messages):
 * waits until Redis has applied them all, publishes what they decided in
 * message order, notes their offsets and lets them go. The offsets are
 * stored once the producer has delivered those messages: before the next
 * batch is published (by then it has, as a rule), or when the consumer has
 * nothing ready (deliver). 0; -1 with err when Redis failed, -2 when the
 * producer refused a message: then b->sent is 0, and the part is decided
 * again with the rest of the batch (what Redis applied of it is
 * idempotent). */
static int settle(daemon_t *d, batch_t *b, char *err, size_t errlen)
{
    size_t n = b->sent;
    int rc = -1;
    rd_kafka_topic_partition_list_t *l = NULL;
    if (n == 0) return 0;
    if (store_flush(d->st, err, errlen) < 0) goto fail;
    deliver(d); /* the previous batch's */
    rc = -2;
    if (!(l = offsets_of(b, n))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (publish_batch(d, b, n) < 0) {
        snprintf(err, errlen, "the producer refused a message");
        goto fail;
    }
    d->delivering = l;
    d->tally.size = n; /* its figures go to the metrics when it is delivered */
    d->delivering_cut_us = b->sent_cut_us;
    engine_stats_copy(d->eng, STATS_UNSETTLED, STATS_PASS); /* the batch after it, if any */
    batch_drop(d, b, n);
    return 0;
fail:
    if (l) rd_kafka_topic_partition_list_destroy(l);
    engine_stats_restore(d->eng, STATS_UNSETTLED);
    b->sent = 0;
    return rc;
}

/* Settles between batches, and waits for the delivery (deliver): a failure
 * is a failed batch's (the part joins the next batch, which is decided
 * again until Redis is back). */
static void settle_now(daemon_t *d, batch_t *b)
{
    char err[512];
    if (settle(d, b, err, sizeof err) == -1) redis_failed(d, err);
    deliver(d);
}

/* Writes the daemon's counters and the per-rule statistics as JSON to
 * stats.file (written to FILE.tmp, then renamed: a reader never sees half a
 * file). */
static void write_stats(daemon_t *d)
{
    const ruleset_t *rs = engine_ruleset(d->eng);
    json_t *rules = json_array();
    for (size_t i = 0; i < ruleset_rule_count(rs); i++) {
        const rule_t *r = ruleset_rule(rs, i);
        const engine_rule_stats_t *st = engine_rule_stats(d->eng, i);
        json_t *o = json_pack(
            "{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f}", "rule", r->id,
            "mode", rule_mode_name(r->mode), "file", r->file, "evaluated",
            (json_int_t)st->evaluated, "hits", (json_int_t)st->hits, "alerts",
            (json_int_t)st->actions[KIND_ALERT][MODE_ENFORCE], "block_identity",
            (json_int_t)st->actions[KIND_BLOCK_IDENTITY][MODE_ENFORCE], "block_authenticator",
            (json_int_t)st->actions[KIND_BLOCK_AUTHENTICATOR][MODE_ENFORCE], "shadow",
            (json_int_t)(st->actions[0][MODE_SHADOW] + st->actions[1][MODE_SHADOW] +
                         st->actions[2][MODE_SHADOW]),
            "suppressed_cooldown", (json_int_t)st->suppressed_cooldown, "suppressed_block",
            (json_int_t)st->suppressed_block, "breaker_trips", (json_int_t)st->breaker_trips,
            "regex_limit", (json_int_t)st->regex_limit, "eval_ms", (double)st->eval_ns / 1e6);
        if (o) json_array_append_new(rules, o);
    }
    json_t *lat = json_pack("{s:I, s:f, s:f, s:f}", "count", (json_int_t)d->lat_count, "p50_ms",
                            latency_quantile_ms(d, 0.50), "p99_ms", latency_quantile_ms(d, 0.99),
                            "max_ms", (double)d->lat_max_us / 1000.0);
    json_t *top =
        json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b, s:I, s:b, s:o, s:o}", "events",
                  (json_int_t)d->events, "bad", (json_int_t)d->bad, "unknown",
                  (json_int_t)d->unknown, "actions", (json_int_t)d->actions, "breaker_trips",
                  (json_int_t)d->breaker, "delivery_errors", (json_int_t)d->delivery_errors,
                  "republished", (json_int_t)d->republished, "redis_down", d->redis_down,
                  "state_lost", (json_int_t)d->guard.lost, "state_paused", d->guard.paused,
                  "action_latency", lat, "rules", rules);
    if (!top) return;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", d->cfg.stats_file);
    if (json_dump_file(top, tmp, JSON_INDENT(2) | JSON_PRESERVE_ORDER) == 0) {
        if (rename(tmp, d->cfg.stats_file) < 0) log_warn("stats: rename %s", tmp);
    } else {
        log_warnx("stats: cannot write %s", tmp);
    }
    json_decref(top);
}

static int str_differs(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") != 0;
}

/* The version of the rules in dir into version (17 bytes): "unknown" when
 * the files cannot be read again. */
static void rules_version(const char *dir, char *version)
{
    char err[256];
    if (telemetry_rules_version(dir, version, 17, err, sizeof err) < 0) {
        log_warnx("rules version: %s", err);
        snprintf(version, 17, "unknown");
    }
}

static double wall_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* SIGHUP: re-reads the configuration and the rules. A valid set replaces
 * the running one between batches (all state stays in Redis: counters are
 * named by what they count, not by thresholds); an invalid one is refused
 * with its errors in the log, and the running set stays in force.
 * Connection settings (Kafka, topics, group, Redis, metrics.listen) need a
 * restart. */
static void reload_config(daemon_t *d)
{
    config_t cfg;
    ruleset_t *rs = NULL;
    rules_diag_t diag = {0};
    log_info("reload: reading %s", d->conf_path);
    if (setup_load_diag(d->conf_path, NULL, &cfg, &rs, &diag) < 0) {
        /* One log line per message line, so every error is in the log (a
         * report: see reload). */
        for (char *line = diag.text, *next; line && *line; line = next) {
            next = strchr(line, '\n');
            if (next) *next++ = '\0';
            log_errorx("reload: %s", line);
        }
        log_errorx("reload refused: %zu error%s; the running rules stay in force", diag.count,
                   diag.count == 1 ? "" : "s");
        rules_diag_free(&diag);
        telemetry_reload(d->tm, 0, wall_seconds(), 1);
        return;
    }
    rules_diag_free(&diag);
    engine_opts_t o = {.activity_cap = (size_t)cfg.activity_max};
    engine_t *eng = engine_new(rs, d->cache, &o);
    if (!eng) {
        log_errorx("reload refused: out of memory; the running rules stay in force");
        ruleset_free(rs);
        config_clear(&cfg);
        telemetry_reload(d->tm, 0, wall_seconds(), 1);
        return;
    }
    static const char *const restart_keys[] = {
        "topic.events", "topic.actions",  "topic.dlq", "group.id",     "redis.host",
        "redis.port",   "redis.password", "redis.db",  "redis.prefix", "metrics.listen"};
    int differs[10] = {
        str_differs(cfg.topic_events, d->cfg.topic_events),
        str_differs(cfg.topic_actions, d->cfg.topic_actions),
        str_differs(cfg.topic_dlq, d->cfg.topic_dlq),
        str_differs(cfg.group_id, d->cfg.group_id),
        str_differs(cfg.redis_host, d->cfg.redis_host),
        cfg.redis_port != d->cfg.redis_port,
        str_differs(cfg.redis_password, d->cfg.redis_password) ||
            str_differs(cfg.redis_user, d->cfg.redis_user),
        cfg.redis_db != d->cfg.redis_db,
        str_differs(cfg.redis_prefix, d->cfg.redis_prefix),
        str_differs(cfg.metrics_listen, d->cfg.metrics_listen),
    };
    for (int i = 0; i < 10; i++)
        if (differs[i])
            log_warnx("reload: %s changed; it takes effect after a restart", restart_keys[i]);
    int kafka_differs = cfg.nkafka != d->cfg.nkafka;
    for (size_t i = 0; !kafka_differs && i < cfg.nkafka; i++)
        kafka_differs = str_differs(cfg.kafka[i].key, d->cfg.kafka[i].key) ||
                        str_differs(cfg.kafka[i].value, d->cfg.kafka[i].value);
    if (kafka_differs) log_warnx("reload: kafka.* changed; it takes effect after a restart");
    /* What applies at once. */
    d->cfg.batch_size = cfg.batch_size;
    d->cfg.batch_time_ms = cfg.batch_time_ms;
    d->cfg.retry_max_ms = cfg.retry_max_ms;
    d->cfg.activity_max = cfg.activity_max;
    d->cfg.stats_interval_ms = cfg.stats_interval_ms;
    d->guard.pause_on_loss = strcmp(cfg.redis_on_state_loss, "pause") == 0;
    char *t = d->cfg.stats_file;
    d->cfg.stats_file = cfg.stats_file;
    cfg.stats_file = t;
    t = d->cfg.log_level;
    d->cfg.log_level = cfg.log_level;
    cfg.log_level = t;
    log_set_level(d->cfg.log_level);
    t = d->cfg.log_format;
    d->cfg.log_format = cfg.log_format;
    cfg.log_format = t;
    log_set_format(d->cfg.log_format);
    engine_adopt_stats(eng, d->eng);
    engine_free(d->eng);
    ruleset_free(d->rs);
    d->eng = eng;
    d->rs = rs;
    char version[17];
    rules_version(cfg.rules_dir, version);
    double now = wall_seconds();
    telemetry_rules(d->tm, d->eng, 1);
    telemetry_rules_loaded(d->tm, version, ruleset_rule_count(rs), now);
    telemetry_reload(d->tm, 1, now, 1);
    log_info("reload: %zu rules in force from %s (version %s)", ruleset_rule_count(rs),
             cfg.rules_dir, version);
    config_clear(&cfg);
}

/* SIGHUP, told to systemd (Type=notify-reload waits for READY=1 again).
 * What a reload logs is a report, written whole (not rate-limited). */
static void reload(daemon_t *d)
{
    service_reloading();
    log_report_begin();
    reload_config(d);
    log_report_end();
    service_ready(NULL);
}

/* After a rebalance in the middle of a batch (what was settled before it is
 * delivered, and its offsets stored): each kept partition is rewound to its
 * first message of the batch, which was not processed (with cooperative
 * assignment a kept partition's position is already past the batch). The
 * messages of revoked partitions go to their new owner. */
static void after_rebalance(daemon_t *d, const batch_t *b)
{
    rd_kafka_topic_partition_list_t *a = NULL, *seek = rd_kafka_topic_partition_list_new(8);
    if (rd_kafka_assignment(d->consumer, &a) != RD_KAFKA_RESP_ERR_NO_ERROR || !a) {
        rd_kafka_topic_partition_list_destroy(seek);
        return;
    }
    for (size_t i = 0; i < b->n; i++) {
        rd_kafka_message_t *m = b->m[i];
        const char *topic = rd_kafka_topic_name(m->rkt);
        if (rd_kafka_topic_partition_list_find(a, topic, m->partition) &&
            !rd_kafka_topic_partition_list_find(seek, topic, m->partition))
            rd_kafka_topic_partition_list_add(seek, topic, m->partition)->offset = m->offset;
    }
    if (seek->cnt > 0) {
        rd_kafka_error_t *e = rd_kafka_seek_partitions(d->consumer, seek, 5000);
        if (e) {
            log_warnx("seek after rebalance: %s", rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
        }
    }
    rd_kafka_topic_partition_list_destroy(seek);
    rd_kafka_topic_partition_list_destroy(a);
}

static void run_loop(daemon_t *d)
{
    batch_t b = {0};
    int64_t last_stats = 0;
    d->batch = &b;
    while (!stop_requested && !d->fatal) {
        tick(d);
        /* What reads or changes Redis outside a batch comes after the
         * batch whose writes were sent is settled (each decided once per
         * turn: a signal or a clock tick in between must not skip that). */
        int64_t now = mono_ms();
        int reload_due = reload_requested != 0;
        int check_due = now - d->redis_checked_ms >= REDIS_CHECK_MS;
        int guard_due = now - d->guard_ms >= GUARD_CHECK_MS;
        if (b.sent > 0 && (reload_due || check_due || guard_due || d->guard.paused))
            settle_now(d, &b);
        if (reload_due) { /* between batches: atomically, or not at all */
            reload_requested = 0;
            reload(d);
        }
        if (check_due) redis_check(d);
        if (guard_due) guard_tick(d);
        if (d->guard.paused) {
            d->rebalanced = 0;
            wait_for_state(d, &b);
            if (d->rebalanced) { /* what is held goes back to its partition's owner */
                after_rebalance(d, &b);
                batch_clear(d, &b);
            }
            continue;
        }
        if (d->cfg.stats_file[0] && mono_ms() - last_stats >= d->cfg.stats_interval_ms) {
            write_stats(d);
            last_stats = mono_ms();
        }
        /* 1. A batch: what the consumer has ready, up to batch.size, and
         * for at most batch.time after its first message. While the
         * previous batch is unsettled, only what is ready at once: when
         * nothing is, that batch is settled first (its actions wait for
         * nothing). A rebalance while it fills is seen below. */
        int64_t deadline = 0;
        d->rebalanced = 0;
        while (b.n - b.sent < (size_t)d->cfg.batch_size && !stop_requested && !d->fatal) {
            int timeout = b.sent > 0 || d->delivering ? 0 : 100;
            if (b.n > b.sent) {
                int64_t left = deadline - mono_ms();
                if (left <= 0) break;
                timeout = 0; /* nothing ready: the batch is cut */
            }
            int got = poll_one(d, &b, timeout);
            if (got && b.n - b.sent == 1) deadline = mono_ms() + d->cfg.batch_time_ms;
            if (got) continue;
            if (b.n == b.sent && (b.sent > 0 || d->delivering)) {
                settle_now(d, &b);
                if (b.n == 0) continue; /* settled: wait for the next batch */
            }
            break; /* idle (back to the loop: reload, statistics), or cut */
        }
        if (d->rebalanced && b.sent > 0) settle_now(d, &b); /* still ours */
        if (b.n == b.sent) continue;
        /* 2. Decided in order, as one event at a time would; a failure of
         * Redis pauses and retries the whole batch (with the unsettled
         * part, if settling it failed). Its writes are sent, and it is
         * settled (3. its effects published and delivered, then 4. its
         * offsets stored) while the next batch is parsed and run through
         * its first pass, or as soon as no next batch is ready. */
        d->cut_us = mono_us();
        if (!d->rebalanced && !d->fatal && (process_batch(d, &b) == 0 || retry_batch(d, &b) == 0)) {
            d->state.redis_retrying = 0;
            telemetry_rules(d->tm, d->eng, 0);
            continue;
        }
        d->state.redis_retrying = 0; /* given up: no batch waits */
        /* Given up (a rebalance, stopping, the producer failed for good):
         * nothing of it counts as done. */
        settle_now(d, &b); /* a part whose writes were sent, if any */
        if (d->rebalanced) after_rebalance(d, &b);
        d->tally.size = 0; /* not counted */
        batch_figures(d, d->cut_us);
        telemetry_rules(d->tm, d->eng, 0);
        batch_clear(d, &b);
    }
    settle_now(d, &b); /* stopping: the last batch's effects, if it can */
    if (d->fatal)
        log_errorx("stopping after a fatal error; nothing after the last delivered batch is "
                   "committed");
    d->batch = NULL;
    batch_clear(d, &b);
    free(b.m);
    free(b.arrived);
    free(b.items);
    free(b.parts);
}

/* An identity's windows, known sets and requests are one sorted set whose
 * members (requests) are often over Redis's default 64-byte limit of a
 * compact listpack: above it the set is a skiplist, more than twice the
 * memory. Said once at start; nothing is changed on the server. */
#define ZSET_LISTPACK_VALUE_MIN 256
static void check_redis_settings(store_t *st)
{
    char v[32], err[256];
    if (store_redis_setting(st, "zset-max-listpack-value", v, sizeof v, err, sizeof err) < 0 &&
        store_redis_setting(st, "zset-max-ziplist-value", v, sizeof v, err, sizeof err) < 0) {
        log_debug("redis: cannot read zset-max-listpack-value (%s)", err);
        return;
    }
    if (atol(v) < ZSET_LISTPACK_VALUE_MIN)
        log_warnx("redis: zset-max-listpack-value is %s: each identity's state will take more "
                  "than twice the memory; set it to %d (README: Redis settings)",
                  v, ZSET_LISTPACK_VALUE_MIN);
}

/* A store whose marker says an older layout of the keys holds state this
 * version would not read (known devices forgotten, every one "new"): the
 * daemon does not start on it. -1 then; 0 otherwise, also when the marker
 * cannot be read now (the guard reads it again). */
static int check_state_layout(store_t *st)
{
    char err[256];
    int found = 0, layout = 0;
    if (store_marker_layout(st, &found, &layout, err, sizeof err) < 0) {
        log_warnx("redis: cannot read the state marker's layout: %s", err);
        return 0;
    }
    if (!found || layout == STORE_LAYOUT) return 0;
    if (layout > STORE_LAYOUT)
        log_errorx("redis holds state of layout %d, written by a later version; this version "
                   "reads layout %d",
                   layout, STORE_LAYOUT);
    else
        log_errorx("redis holds state of layout %d, written by an earlier version; this version "
                   "reads layout %d: stop every daemon and run `detector migrate` (README, "
                   "Operations)",
                   layout, STORE_LAYOUT);
    return -1;
}

int cmd_run(const char *conf_path)
{
    daemon_t d;
    memset(&d, 0, sizeof d);
    d.conf_path = conf_path;
    if (setup_load(conf_path, NULL, &d.cfg, &d.rs) < 0) return 1;
    int rc = 1;
    char err[512];
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_hup;
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    log_set_format(d.cfg.log_format);

    /* The endpoints answer from the start: /readyz says what is missing. A
     * port that cannot be had does not stop the detection. */
    d.tm = telemetry_new();
    if (!d.tm) {
        log_errorx("out of memory");
        goto out;
    }
    /* Without it, one thread does the work of two. Jansson's hash seed is
     * made here, before two threads parse. */
    json_object_seed(0);
    if (!(d.split = split_new())) log_warn("cannot start the parsing thread");
    char version[17];
    rules_version(d.cfg.rules_dir, version);
    telemetry_rules_loaded(d.tm, version, ruleset_rule_count(d.rs), wall_seconds());
    telemetry_reload(d.tm, 1, wall_seconds(), 0);
    d.state.rules_loaded = 1;
    telemetry_state_set(d.tm, &d.state);
    if (d.cfg.metrics_listen[0]) {
        d.http = http_start(d.cfg.metrics_listen, d.tm, err, sizeof err);
        if (d.http)
            log_info("metrics: http://%s/metrics, /healthz, /readyz", d.cfg.metrics_listen);
        else
            log_errorx("metrics: %s; running without the metrics and health endpoints", err);
    }

    /* Redis may be down at start: wait for it like for an outage. */
    long backoff = 100;
    while (!stop_requested &&
           !(d.st = store_redis_new(d.cfg.redis_host, (int)d.cfg.redis_port, d.cfg.redis_user,
                                    d.cfg.redis_password, (int)d.cfg.redis_db, d.cfg.redis_prefix,
                                    (int)d.cfg.redis_timeout_ms, err, sizeof err))) {
        log_warnx("redis %s:%ld: %s; retrying", d.cfg.redis_host, d.cfg.redis_port, err);
        telemetry_redis(d.tm, 1, 0, 0);
        service_watchdog(mono_ms());
        usleep((useconds_t)backoff * 1000);
        backoff = backoff * 2 > d.cfg.retry_max_ms ? d.cfg.retry_max_ms : backoff * 2;
    }
    if (!d.st) {
        if (stop_requested) rc = 0; /* asked to stop while waiting for Redis */
        goto out;
    }
    check_redis_settings(d.st);
    if (check_state_layout(d.st) < 0) goto out;
    d.state.redis_ok = 1;
    d.redis_checked_ms = mono_ms();
    d.guard.pause_on_loss = strcmp(d.cfg.redis_on_state_loss, "pause") == 0;
    telemetry_redis(d.tm, 0, 0, 1);
    engine_opts_t o = {.activity_cap = (size_t)d.cfg.activity_max};
    d.cache = store_cache_new(d.st);
    if (!d.cache) goto out;
    d.eng = engine_new(d.rs, d.cache, &o);
    if (!d.eng || kafka_open(&d) < 0) goto out;
    telemetry_rules(d.tm, d.eng, 1);
    log_info("running: %zu rules (version %s), events from %s, actions to %s, group %s",
             ruleset_rule_count(d.rs), version, d.cfg.topic_events, d.cfg.topic_actions,
             d.cfg.group_id);
    char status[256];
    snprintf(status, sizeof status, "consuming %s: %zu rules", d.cfg.topic_events,
             ruleset_rule_count(d.rs));
    service_ready(status);
    run_loop(&d);
    service_stopping();
    d.state.stopping = 1;
    telemetry_state_set(d.tm, &d.state);
    log_info("stopping: committing offsets");
    if (d.cfg.stats_file[0]) write_stats(&d);
    signal(SIGALRM, on_alarm);
    alarm(10);
    rc = d.fatal ? 1 : 0;
out:;
    /* Each step of the shutdown is timed: the 10-second limit above
     * covers them all, and the log says which one took the time. */
    int64_t t0 = mono_ms(), t_commit = t0, t_close = t0;
    if (d.consumer) {
        rd_kafka_commit(d.consumer, NULL, 0);
        t_commit = mono_ms();
        rd_kafka_consumer_close(d.consumer);
        rd_kafka_destroy(d.consumer);
        t_close = mono_ms();
    }
    if (d.producer) {
        flush_all(&d);
        if (d.t_actions) rd_kafka_topic_destroy(d.t_actions);
        if (d.t_dlq) rd_kafka_topic_destroy(d.t_dlq);
        rd_kafka_destroy(d.producer);
    }
    if (d.consumer || d.producer)
        log_info("shutdown: commit %.2f s, consumer close %.2f s, producer flush %.2f s",
                 (double)(t_commit - t0) / 1e3, (double)(t_close - t_commit) / 1e3,
                 (double)(mono_ms() - t_close) / 1e3);
    log_info("stopped: %lu events, %lu actions, %lu bad, %lu unknown type, %lu breaker trips",
             d.events, d.actions, d.bad, d.unknown, d.breaker);
    log_flush_repeats(1);
    http_stop(d.http);
    split_free(d.split);
    telemetry_free(d.tm);
    engine_free(d.eng);
    store_free(d.cache);
    store_free(d.st);
    ruleset_free(d.rs);
    config_clear(&d.cfg);
    return rc;
}
