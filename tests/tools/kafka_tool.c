/*
 * kafka_tool: produces and consumes Kafka messages for the tests and the demo.
 *
 *   kafka_tool produce -b BOOTSTRAP -t TOPIC [--raw|--keyed] [--rate EVENTS_PER_SEC]
 *                      [-H NAME=VALUE]... [-X KEY=VALUE]... [FILE|-]
 *   kafka_tool consume -b BOOTSTRAP -t TOPIC [--group G] [--from-beginning]
 *                      [--count N] [--idle-ms MS] [--timeout-ms MS]
 *                      [--format value|json] [-X KEY=VALUE]...
 *
 * produce sends each non-empty line of FILE (default stdin; JSON Lines, up to
 * 16 MiB a line) as one message, keyed by the line's top-level "identity"
 * string when it has one (--raw: never parsed, no key; --keyed: each line is
 * KEY, a tab and the value, and is not parsed either), with the -H headers.
 * The producer is idempotent with acks=all. --rate paces the lines to that
 * many per second on average from the first line read (a steady stream, as
 * live traffic; without it, as fast as librdkafka takes them). It prints
 * "produced N" (messages delivered) on stderr and exits 1 if any line was
 * not delivered.
 *
 * consume joins group G (default "kafka_tool-PID-TIME"; offsets auto-committed,
 * auto.offset.reset=earliest; --from-beginning also overrides committed
 * offsets) and prints each value followed by "\n", or with --format json one
 * {"topic","partition","offset","key","value","headers"} object per line
 * (bytes that are not UTF-8 become U+FFFD). It stops after --count messages,
 * after --idle-ms (3000) without a message while partitions are assigned, or
 * at --timeout-ms (60000). Exit 0, or 2 when --count was not reached.
 *
 * -X KEY=VALUE sets any librdkafka property, after the defaults.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#define LINE_MAX_BYTES (16 * 1024 * 1024)
#define MAX_PROPS 64
#define MAX_HEADERS 32
#define MAX_REPORTED_ERRORS 10

enum format { FORMAT_VALUE, FORMAT_JSON };

struct options {
    const char *bootstrap;
    const char *topic;
    const char *props[MAX_PROPS]; /* "key=value", borrowed from argv */
    int nprops;
    const char *headers[MAX_HEADERS]; /* "name=value", borrowed from argv */
    int nheaders;
    int raw;
    int keyed; /* lines are KEY\tVALUE */
    long rate; /* lines per second; 0: no pacing */
    const char *input;
    const char *group;
    int from_beginning;
    long count; /* -1: no limit */
    long idle_ms;
    long timeout_ms;
    enum format format;
};

struct delivery_stats {
    long ok;
    long failed;
};

struct consume_state {
    int from_beginning;
    int assigned;
    int64_t assigned_at;
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: kafka_tool produce -b BOOTSTRAP -t TOPIC [--raw|--keyed] [--rate EVENTS_PER_SEC]\n"
        "                          [-H NAME=VALUE]... [-X KEY=VALUE]... [FILE|-]\n"
        "       kafka_tool consume -b BOOTSTRAP -t TOPIC [--group G] [--from-beginning]\n"
        "                          [--count N] [--idle-ms MS] [--timeout-ms MS]\n"
        "                          [--format value|json] [-X KEY=VALUE]...\n");
}

static int64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t now_ms(void)
{
    return now_us() / 1000;
}

static int parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max) return -1;
    *out = v;
    return 0;
}

static void install_signals(void)
{
    struct sigaction sa;

    /* No SA_RESTART: a blocked getline() on stdin returns on a signal. */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static int conf_set(rd_kafka_conf_t *conf, const char *name, const char *value)
{
    char errstr[512];

    if (rd_kafka_conf_set(conf, name, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "kafka_tool: %s=%s: %s\n", name, value, errstr);
        return -1;
    }
    return 0;
}

/* Applies the -X properties, after the defaults so that they win. */
static int conf_set_props(rd_kafka_conf_t *conf, const struct options *o)
{
    int i;

    for (i = 0; i < o->nprops; i++) {
        char name[256];
        const char *eq = strchr(o->props[i], '=');
        size_t n;

        if (eq == NULL || eq == o->props[i] || (n = (size_t)(eq - o->props[i])) >= sizeof(name)) {
            fprintf(stderr, "kafka_tool: -X %s: want KEY=VALUE\n", o->props[i]);
            return -1;
        }
        memcpy(name, o->props[i], n);
        name[n] = '\0';
        if (conf_set(conf, name, eq + 1) != 0) return -1;
    }
    return 0;
}

/* ---- produce ---- */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct delivery_stats *st = opaque;

    (void)rk;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        st->ok++;
        return;
    }
    st->failed++;
    if (st->failed <= MAX_REPORTED_ERRORS)
        fprintf(stderr, "kafka_tool: delivery failed: %s\n", rd_kafka_err2str(m->err));
    else if (st->failed == MAX_REPORTED_ERRORS + 1)
        fprintf(stderr, "kafka_tool: more delivery failures follow, not shown\n");
}

/* Builds the -H headers once; the caller frees with rd_kafka_headers_destroy. */
static rd_kafka_headers_t *headers_build(const struct options *o)
{
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new((size_t)o->nheaders);
    int i;

    for (i = 0; i < o->nheaders; i++) {
        const char *eq = strchr(o->headers[i], '=');

        if (eq == NULL || eq == o->headers[i]) {
            fprintf(stderr, "kafka_tool: -H %s: want NAME=VALUE\n", o->headers[i]);
            rd_kafka_headers_destroy(hdrs);
            return NULL;
        }
        rd_kafka_header_add(hdrs, o->headers[i], eq - o->headers[i], eq + 1, -1);
    }
    return hdrs;
}

/*
 * Returns a copy of the top-level "identity" string of a JSON object line,
 * or NULL when the line has none. The caller frees the copy.
 */
static char *identity_key(const char *line, size_t len, size_t *keylen)
{
    json_t *doc = json_loadb(line, len, 0, NULL);
    json_t *id = json_object_get(doc, "identity");
    char *key = NULL;

    if (json_is_string(id)) {
        *keylen = json_string_length(id);
        key = malloc(*keylen + 1);
        if (key != NULL) memcpy(key, json_string_value(id), *keylen + 1);
    }
    json_decref(doc);
    return key;
}

/*
 * --rate: waits until line number n (from 0) is due, start_us + n / rate,
 * serving delivery reports meanwhile. A producer that fell behind does not
 * wait, so the average holds even when single lines are late. Lines due
 * within PACE_SLACK_US go at once: the producer gathers them for linger.ms
 * (5 ms) anyway, and a wake-up per line cost this process a third of a
 * core at 19,000 lines/s (make bench's latency phase), on the cores the
 * daemon under test shares.
 */
#define PACE_SLACK_US 1000

static void pace(rd_kafka_t *rk, long rate, int64_t start_us, long n)
{
    int64_t due = start_us + (int64_t)((double)n * 1e6 / (double)rate);
    int64_t ahead;

    while (!stop_requested && (ahead = due - now_us()) > PACE_SLACK_US)
        rd_kafka_poll(rk, (int)((ahead - PACE_SLACK_US + 999) / 1000));
}

/*
 * Produces one message, waiting while the local queue is full. Returns 0 when
 * librdkafka took the message (delivery is reported later), -1 otherwise.
 */
static int produce_one(rd_kafka_t *rk, const struct options *o, const rd_kafka_headers_t *hdrs,
                       char *line, size_t len, char *key, size_t keylen)
{
    rd_kafka_resp_err_t err;

    for (;;) {
        /* producev takes ownership of the headers only on success. */
        rd_kafka_headers_t *copy = hdrs != NULL ? rd_kafka_headers_copy(hdrs) : NULL;

        err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(o->topic), RD_KAFKA_V_VALUE(line, len),
                                RD_KAFKA_V_KEY(key, keylen), RD_KAFKA_V_HEADERS(copy),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
        if (copy != NULL) rd_kafka_headers_destroy(copy);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            fprintf(stderr, "kafka_tool: produce: %s\n", rd_kafka_err2str(err));
            return -1;
        }
        rd_kafka_poll(rk, 100);
    }
    rd_kafka_poll(rk, 0);
    return 0;
}

static int cmd_produce(const struct options *o)
{
    rd_kafka_conf_t *conf = NULL;
    rd_kafka_t *rk = NULL;
    rd_kafka_headers_t *hdrs = NULL;
    struct delivery_stats st = {0, 0};
    FILE *in = stdin;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long lineno = 0, rejected = 0, sent = 0;
    int64_t start_us = 0;
    char errstr[512];
    int status = 1;

    /*
     * 1. Configure an idempotent producer (-X properties last).
     * 2. For each non-empty line: wait until it is due (--rate), take the
     *    key from "identity" unless --raw, produce, retrying while the queue
     *    is full.
     * 3. Flush until every delivery is reported; fail if any failed.
     */
    if (o->input != NULL && strcmp(o->input, "-") != 0) {
        in = fopen(o->input, "r");
        if (in == NULL) {
            fprintf(stderr, "kafka_tool: %s: %s\n", o->input, strerror(errno));
            return 1;
        }
    }
    if (o->nheaders > 0 && (hdrs = headers_build(o)) == NULL) goto out;

    conf = rd_kafka_conf_new();
    /* Lines may be up to 16 MiB; leave room for the key, headers, framing. */
    if (conf_set(conf, "bootstrap.servers", o->bootstrap) != 0 ||
        conf_set(conf, "enable.idempotence", "true") != 0 || conf_set(conf, "acks", "all") != 0 ||
        conf_set(conf, "linger.ms", "5") != 0 ||
        conf_set(conf, "message.max.bytes", "20971520") != 0 || conf_set_props(conf, o) != 0)
        goto out;
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, &st);
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (rk == NULL) {
        fprintf(stderr, "kafka_tool: rd_kafka_new: %s\n", errstr);
        goto out;
    }
    conf = NULL; /* owned by rk */

    while (!stop_requested && (len = getline(&line, &cap, in)) != -1) {
        char *key = NULL;
        size_t keylen = 0;

        lineno++;
        if (len > 0 && line[len - 1] == '\n') line[--len] = '\0';
        if (len > 0 && line[len - 1] == '\r') line[--len] = '\0';
        if (len == 0) continue;
        if (len > LINE_MAX_BYTES) {
            fprintf(stderr, "kafka_tool: line %ld: %zd bytes, over the %d byte limit\n", lineno,
                    len, LINE_MAX_BYTES);
            rejected++;
            continue;
        }
        char *value = line, *tab = NULL;
        size_t vlen = (size_t)len;
        if (o->keyed) { /* KEY, a tab, the value: nothing to parse */
            if ((tab = memchr(line, '\t', (size_t)len)) == NULL) {
                fprintf(stderr, "kafka_tool: line %ld: no tab after a key (--keyed)\n", lineno);
                rejected++;
                continue;
            }
            value = tab + 1;
            vlen = (size_t)(line + len - value);
        }
        if (o->rate > 0) {
            if (sent == 0) start_us = now_us();
            pace(rk, o->rate, start_us, sent);
        }
        sent++;
        if (o->keyed) {
            key = line;
            keylen = (size_t)(tab - line);
        } else if (!o->raw) {
            key = identity_key(line, (size_t)len, &keylen);
        }
        if (produce_one(rk, o, hdrs, value, vlen, key, keylen) != 0) rejected++;
        if (!o->keyed) free(key);
    }
    if (ferror(in) && !stop_requested)
        fprintf(stderr, "kafka_tool: %s: %s\n", o->input ? o->input : "stdin", strerror(errno));
    if (stop_requested) rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE);

    while (rd_kafka_outq_len(rk) > 0)
        rd_kafka_flush(rk, 1000);

    if (st.failed + rejected > 0)
        fprintf(stderr, "kafka_tool: %ld messages not delivered\n", st.failed + rejected);
    fprintf(stderr, "produced %ld\n", st.ok);
    if (st.failed == 0 && rejected == 0 && !ferror(in) && !stop_requested) status = 0;

out:
    free(line);
    if (rk != NULL) rd_kafka_destroy(rk);
    if (conf != NULL) rd_kafka_conf_destroy(conf);
    if (hdrs != NULL) rd_kafka_headers_destroy(hdrs);
    if (in != stdin) fclose(in);
    return status;
}

/* ---- consume ---- */

/*
 * Returns data as a new JSON string (JSON null for NULL data); bytes that are
 * not UTF-8 become U+FFFD, so that a binary value still gives a valid JSON
 * line. The caller owns the reference; NULL when out of memory.
 */
static json_t *json_string_lossy(const void *data, size_t len)
{
    const unsigned char *s = data;
    json_t *j;
    char *buf;
    size_t i = 0, o = 0;

    if (data == NULL) return json_null();
    j = json_stringn(data, len);
    if (j != NULL) return j;
    buf = malloc(len * 3 + 1);
    if (buf == NULL) return NULL;
    while (i < len) {
        size_t n = 0, k;
        unsigned c = s[i];
        uint32_t cp = 0;

        if (c < 0x80)
            n = 1, cp = c;
        else if (c >= 0xc2 && c <= 0xdf)
            n = 2, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef)
            n = 3, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4)
            n = 4, cp = c & 0x07;
        for (k = 1; n > 0 && k < n; k++) {
            if (i + k >= len || (s[i + k] & 0xc0) != 0x80) {
                n = 0;
                break;
            }
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (n == 0 || cp == 0 || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            /* Jansson refuses NUL inside strings too; replace it likewise. */
            memcpy(buf + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        } else {
            memcpy(buf + o, s + i, n);
            o += n;
            i += n;
        }
    }
    j = json_stringn(buf, o);
    free(buf);
    return j;
}

static int message_print(const rd_kafka_message_t *m, enum format format)
{
    json_t *obj, *hobj;
    rd_kafka_headers_t *hdrs = NULL;
    char *text;
    size_t idx = 0;
    const char *name;
    const void *val;
    size_t vlen;

    if (format == FORMAT_VALUE) {
        if (m->len > 0) fwrite(m->payload, 1, m->len, stdout);
        fputc('\n', stdout);
        return fflush(stdout) == 0 ? 0 : -1;
    }

    obj = json_object();
    hobj = json_object();
    json_object_set_new(
        obj, "topic",
        json_string_lossy(rd_kafka_topic_name(m->rkt), strlen(rd_kafka_topic_name(m->rkt))));
    json_object_set_new(obj, "partition", json_integer(m->partition));
    json_object_set_new(obj, "offset", json_integer(m->offset));
    json_object_set_new(obj, "key", json_string_lossy(m->key, m->key_len));
    json_object_set_new(obj, "value", json_string_lossy(m->payload, m->len));
    if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        while (rd_kafka_header_get_all(hdrs, idx++, &name, &val, &vlen) ==
               RD_KAFKA_RESP_ERR_NO_ERROR) {
            /* A repeated name keeps its last value. */
            json_t *hv = json_string_lossy(val, vlen);
            json_t *hk = json_string_lossy(name, strlen(name));

            if (hk != NULL && hv != NULL) json_object_set(hobj, json_string_value(hk), hv);
            json_decref(hk);
            json_decref(hv);
        }
    }
    json_object_set_new(obj, "headers", hobj);
    text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(obj);
    if (text == NULL) {
        fprintf(stderr, "kafka_tool: cannot encode message at offset %" PRId64 "\n", m->offset);
        return -1;
    }
    fputs(text, stdout);
    fputc('\n', stdout);
    free(text);
    return fflush(stdout) == 0 ? 0 : -1;
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct consume_state *cs = opaque;
    int cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    rd_kafka_error_t *error = NULL;
    rd_kafka_resp_err_t rerr = RD_KAFKA_RESP_ERR_NO_ERROR;
    int i;

    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        /* --from-beginning overrides committed offsets, not only their
         * absence; only at the first assignment, so that a later rebalance
         * does not replay the partitions. */
        for (i = 0; cs->from_beginning && i < parts->cnt; i++)
            parts->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
        cs->from_beginning = 0;
        if (cooperative)
            error = rd_kafka_incremental_assign(rk, parts);
        else
            rerr = rd_kafka_assign(rk, parts);
        cs->assigned = 1;
        cs->assigned_at = now_ms();
    } else {
        rd_kafka_topic_partition_list_t *left = NULL;

        if (cooperative)
            error = rd_kafka_incremental_unassign(rk, parts);
        else
            rerr = rd_kafka_assign(rk, NULL);
        /* Idle time only counts while partitions are held: a rebalance can
         * take session.timeout.ms on the mock cluster. */
        if (cooperative && rd_kafka_assignment(rk, &left) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            cs->assigned = left->cnt > 0;
            rd_kafka_topic_partition_list_destroy(left);
        } else {
            cs->assigned = 0;
        }
    }
    if (error != NULL) {
        fprintf(stderr, "kafka_tool: rebalance: %s\n", rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    } else if (rerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "kafka_tool: rebalance: %s\n", rd_kafka_err2str(rerr));
    }
}

static int cmd_consume(const struct options *o)
{
    rd_kafka_conf_t *conf = NULL;
    rd_kafka_t *rk = NULL;
    rd_kafka_topic_partition_list_t *subs = NULL;
    struct consume_state cs = {o->from_beginning, 0, 0};
    char group[128];
    char errstr[512];
    int64_t start = now_ms(), last_msg = 0;
    long got = 0;
    int status = 1;
    rd_kafka_resp_err_t err;

    /*
     * 1. Configure a group consumer (-X properties last) and subscribe.
     * 2. Poll and print until --count messages, --idle-ms without a message
     *    once partitions are assigned, --timeout-ms in all, or a signal.
     * 3. Close (which commits the offsets of what was printed), destroy.
     */
    if (o->group == NULL)
        snprintf(group, sizeof(group), "kafka_tool-%ld-%ld", (long)getpid(), (long)time(NULL));
    conf = rd_kafka_conf_new();
    if (conf_set(conf, "bootstrap.servers", o->bootstrap) != 0 ||
        conf_set(conf, "group.id", o->group != NULL ? o->group : group) != 0 ||
        conf_set(conf, "auto.offset.reset", "earliest") != 0 ||
        conf_set(conf, "enable.auto.commit", "true") != 0 || conf_set_props(conf, o) != 0)
        goto out;
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    rd_kafka_conf_set_opaque(conf, &cs);
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (rk == NULL) {
        fprintf(stderr, "kafka_tool: rd_kafka_new: %s\n", errstr);
        goto out;
    }
    conf = NULL; /* owned by rk */
    rd_kafka_poll_set_consumer(rk);

    subs = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(subs, o->topic, RD_KAFKA_PARTITION_UA);
    err = rd_kafka_subscribe(rk, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "kafka_tool: subscribe %s: %s\n", o->topic, rd_kafka_err2str(err));
        goto close;
    }

    while (!stop_requested && (o->count < 0 || got < o->count)) {
        int64_t now = now_ms();
        rd_kafka_message_t *m;

        if (now - start >= o->timeout_ms) break;
        if (cs.assigned) {
            int64_t since = last_msg > cs.assigned_at ? last_msg : cs.assigned_at;

            if (now - since >= o->idle_ms) break;
        }
        m = rd_kafka_consumer_poll(rk, 100);
        if (m == NULL) continue;
        if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            fprintf(stderr, "kafka_tool: consume: %s\n", rd_kafka_message_errstr(m));
            if (m->err == RD_KAFKA_RESP_ERR__FATAL) {
                rd_kafka_message_destroy(m);
                goto close;
            }
        } else {
            if (message_print(m, o->format) != 0) {
                rd_kafka_message_destroy(m);
                goto close;
            }
            got++;
            last_msg = now_ms();
        }
        rd_kafka_message_destroy(m);
    }
    status = (o->count >= 0 && got < o->count) ? 2 : 0;
    fprintf(stderr, "consumed %ld\n", got);

close:
    err = rd_kafka_consumer_close(rk);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
        fprintf(stderr, "kafka_tool: close: %s\n", rd_kafka_err2str(err));
out:
    if (rk != NULL) rd_kafka_destroy(rk);
    if (conf != NULL) rd_kafka_conf_destroy(conf);
    return status;
}

/* ---- command line ---- */

enum {
    OPT_RAW = 256,
    OPT_KEYED,
    OPT_RATE,
    OPT_GROUP,
    OPT_FROM_BEGINNING,
    OPT_COUNT,
    OPT_IDLE_MS,
    OPT_TIMEOUT_MS,
    OPT_FORMAT,
};

static int options_parse(int argc, char **argv, int produce, struct options *o)
{
    static const struct option longopts[] = {
        {"raw", no_argument, NULL, OPT_RAW},
        {"keyed", no_argument, NULL, OPT_KEYED},
        {"rate", required_argument, NULL, OPT_RATE},
        {"group", required_argument, NULL, OPT_GROUP},
        {"from-beginning", no_argument, NULL, OPT_FROM_BEGINNING},
        {"count", required_argument, NULL, OPT_COUNT},
        {"idle-ms", required_argument, NULL, OPT_IDLE_MS},
        {"timeout-ms", required_argument, NULL, OPT_TIMEOUT_MS},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c, longidx = 0;

    memset(o, 0, sizeof(*o));
    o->count = -1;
    o->idle_ms = 3000;
    o->timeout_ms = 60000;
    o->format = FORMAT_VALUE;
    opterr = 1;
    optind = 1;
    while ((c = getopt_long(argc, argv, "b:t:X:H:h", longopts, &longidx)) != -1) {
        int for_produce = c == OPT_RAW || c == OPT_KEYED || c == OPT_RATE || c == 'H';
        int for_consume = c >= OPT_GROUP && c <= OPT_FORMAT;

        if ((produce && for_consume) || (!produce && for_produce)) {
            if (c == 'H')
                fprintf(stderr, "kafka_tool: -H is not an option of consume\n");
            else
                fprintf(stderr, "kafka_tool: --%s is not an option of %s\n", longopts[longidx].name,
                        produce ? "produce" : "consume");
            return -1;
        }
        switch (c) {
        case 'b':
            o->bootstrap = optarg;
            break;
        case 't':
            o->topic = optarg;
            break;
        case 'X':
            if (o->nprops == MAX_PROPS) {
                fprintf(stderr, "kafka_tool: at most %d -X options\n", MAX_PROPS);
                return -1;
            }
            o->props[o->nprops++] = optarg;
            break;
        case 'H':
            if (o->nheaders == MAX_HEADERS) {
                fprintf(stderr, "kafka_tool: at most %d -H options\n", MAX_HEADERS);
                return -1;
            }
            o->headers[o->nheaders++] = optarg;
            break;
        case OPT_RAW:
            o->raw = 1;
            break;
        case OPT_KEYED:
            o->keyed = 1;
            break;
        case OPT_RATE:
            if (parse_long(optarg, 1, 100000000, &o->rate) != 0) {
                fprintf(stderr, "kafka_tool: --rate must be between 1 and 100000000 events/s\n");
                return -1;
            }
            break;
        case OPT_GROUP:
            o->group = optarg;
            break;
        case OPT_FROM_BEGINNING:
            o->from_beginning = 1;
            break;
        case OPT_COUNT:
            if (parse_long(optarg, 0, LONG_MAX, &o->count) != 0) {
                fprintf(stderr, "kafka_tool: --count must be a number >= 0\n");
                return -1;
            }
            break;
        case OPT_IDLE_MS:
            if (parse_long(optarg, 1, 86400000, &o->idle_ms) != 0) {
                fprintf(stderr, "kafka_tool: --idle-ms must be between 1 and 86400000\n");
                return -1;
            }
            break;
        case OPT_TIMEOUT_MS:
            if (parse_long(optarg, 1, 86400000, &o->timeout_ms) != 0) {
                fprintf(stderr, "kafka_tool: --timeout-ms must be between 1 and 86400000\n");
                return -1;
            }
            break;
        case OPT_FORMAT:
            if (strcmp(optarg, "value") == 0) {
                o->format = FORMAT_VALUE;
            } else if (strcmp(optarg, "json") == 0) {
                o->format = FORMAT_JSON;
            } else {
                fprintf(stderr, "kafka_tool: --format must be value or json\n");
                return -1;
            }
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            return -1;
        }
    }
    if (o->bootstrap == NULL || o->topic == NULL) {
        fprintf(stderr, "kafka_tool: -b BOOTSTRAP and -t TOPIC are required\n");
        return -1;
    }
    if (o->raw && o->keyed) {
        fprintf(stderr, "kafka_tool: --raw and --keyed exclude each other\n");
        return -1;
    }
    if (produce && optind < argc) o->input = argv[optind++];
    if (optind < argc) {
        fprintf(stderr, "kafka_tool: unexpected argument %s\n", argv[optind]);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct options o;
    int produce;

    if (argc < 2) {
        usage(stderr);
        return 1;
    }
    if (strcmp(argv[1], "produce") == 0) {
        produce = 1;
    } else if (strcmp(argv[1], "consume") == 0) {
        produce = 0;
    } else if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(stdout);
        return 0;
    } else {
        fprintf(stderr, "kafka_tool: unknown command %s\n", argv[1]);
        usage(stderr);
        return 1;
    }
    if (options_parse(argc - 1, argv + 1, produce, &o) != 0) {
        usage(stderr);
        return 1;
    }
    install_signals();
    return produce ? cmd_produce(&o) : cmd_consume(&o);
}
