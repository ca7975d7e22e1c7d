/* telemetry.c - the daemon's metric families, readiness, and the version of
 * a rule set (see telemetry.h). */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "telemetry.h"

static const double size_bounds[] = {1,   2,    5,    10,   25,    50,    100,   250,
                                     500, 1000, 2500, 5000, 10000, 25000, 50000, 100000};
static const double second_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                       0.5,   1,      2.5,   5,    10,    30,   60};
#define NSECONDS (sizeof second_bounds / sizeof second_bounds[0])

struct telemetry {
    metrics_t *m;
    metric_t *events, *bad, *unknown, *republished, *published, *breaker, *delivery_errors;
    metric_t *r_evaluated, *r_hits, *r_actions, *r_suppressed, *r_regex, *r_eval_seconds;
    metric_t *batch_size, *batch_seconds, *action_latency;
    metric_t *redis_errors, *redis_reconnects, *redis_up, *state_lost;
    metric_t *lag, *rebalances, *assigned;
    metric_t *rules_info, *rules_count, *rules_loaded_at;
    metric_t *reload_ok, *reload_at, *reloads;
    /* Staged action latencies (daemon's thread only). */
    unsigned long lat_counts[NSECONDS + 1];
    double lat_sum;
    telemetry_state_t state; /* under the registry's lock */
};

static const char *const bad_names[BAD_CLASSES] = {
    [BAD_TOO_LARGE] = "too_large",
    [BAD_INVALID_JSON] = "invalid_json",
    [BAD_DUPLICATE_KEY] = "duplicate_key",
    [BAD_NOT_OBJECT] = "not_object",
    [BAD_TOO_DEEP] = "too_deep",
    [BAD_MISSING_FIELD] = "missing_field",
    [BAD_WRONG_TYPE] = "wrong_type",
    [BAD_INVALID_VALUE] = "invalid_value",
    [BAD_OTHER] = "other",
};

const char *telemetry_bad_name(telemetry_bad_t c)
{
    return (int)c >= 0 && c < BAD_CLASSES ? bad_names[c] : bad_names[BAD_OTHER];
}

static int starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* By the fixed beginning of each reason of event.c; what follows the
 * beginning (a field name, a quoted key or input) never decides the class
 * except for the field errors, whose field names come from the parser's
 * own table. */
telemetry_bad_t telemetry_bad_class(const char *reason)
{
    if (!reason) return BAD_OTHER;
    if (starts(reason, "event is not a JSON object")) return BAD_NOT_OBJECT;
    if (starts(reason, "event is ")) return BAD_TOO_LARGE;
    if (starts(reason, "invalid JSON")) return BAD_INVALID_JSON;
    if (starts(reason, "duplicate key")) return BAD_DUPLICATE_KEY;
    if (starts(reason, "nesting deeper than")) return BAD_TOO_DEEP;
    if (starts(reason, "missing required field")) return BAD_MISSING_FIELD;
    if (starts(reason, "field \"")) {
        const char *end = strchr(reason + 7, '"');
        if (end &&
            (strcmp(end, "\" must be a boolean") == 0 || strcmp(end, "\" must be a string") == 0))
            return BAD_WRONG_TYPE;
        return BAD_INVALID_VALUE;
    }
    return BAD_OTHER;
}

telemetry_t *telemetry_new(void)
{
    telemetry_t *t = calloc(1, sizeof *t);
    if (!t || !(t->m = metrics_new())) goto fail;
    metrics_t *m = t->m;
    const size_t nsizes = sizeof size_bounds / sizeof size_bounds[0];
    /* Every family is checked below: a NULL handle is a bug or out of memory. */
    t->events =
        metrics_counter(m, "detector_events_total", "Valid events consumed, by type", "type");
    t->bad =
        metrics_counter(m, "detector_bad_events_total",
                        "Bad events sent to the dead-letter topic, by class of reason", "reason");
    t->unknown = metrics_counter(m, "detector_unknown_type_events_total",
                                 "Events of an unknown type, counted and skipped", NULL);
    t->republished = metrics_counter(m, "detector_events_republished_total",
                                     "Redelivered events whose actions were published again "
                                     "from the outbox",
                                     NULL);
    t->published = metrics_counter(m, "detector_actions_published_total",
                                   "Actions published to the actions topic (republished ones "
                                   "included)",
                                   NULL);
    t->breaker = metrics_counter(m, "detector_breaker_trips_total",
                                 "Blocks the breaker published as shadow", NULL);
    t->delivery_errors = metrics_counter(m, "detector_delivery_errors_total",
                                         "Failed deliveries to Kafka (produced again)", NULL);
    t->r_evaluated =
        metrics_counter(m, "detector_rule_evaluations_total", "Events a rule listened to", "rule");
    t->r_hits = metrics_counter(m, "detector_rule_hits_total",
                                "Events on which a rule's "
                                "condition held",
                                "rule");
    t->r_actions = metrics_counter(m, "detector_rule_actions_total",
                                   "Actions a rule published, by kind and mode", "rule,kind,mode");
    t->r_suppressed = metrics_counter(m, "detector_rule_suppressions_total",
                                      "Hits not published: inside the rule's cooldown, or a "
                                      "block in force or already decided",
                                      "rule,cause");
    t->r_regex =
        metrics_counter(m, "detector_rule_regex_limit_total",
                        "Regular expression matches stopped by the match or depth limit", "rule");
    t->r_eval_seconds = metrics_counter(m, "detector_rule_eval_seconds_total",
                                        "Time spent evaluating a rule", "rule");
    t->batch_size = metrics_histogram(m, "detector_batch_size", "Messages per batch", NULL,
                                      size_bounds, nsizes);
    t->batch_seconds = metrics_histogram(m, "detector_batch_duration_seconds",
                                         "Time from a batch's cut to its offsets stored", NULL,
                                         second_bounds, NSECONDS);
    t->action_latency = metrics_histogram(m, "detector_action_latency_seconds",
                                          "Time from an event's arrival at the consumer to the "
                                          "delivery of its action",
                                          NULL, second_bounds, NSECONDS);
    t->redis_errors = metrics_counter(m, "detector_redis_errors_total",
                                      "Failed Redis calls (batches, checks, reconnects)", NULL);
    t->redis_reconnects = metrics_counter(m, "detector_redis_reconnects_total",
                                          "Successful reconnections to Redis", NULL);
    t->redis_up =
        metrics_gauge(m, "detector_redis_up", "1 when the last batch or check reached Redis", NULL);
    t->state_lost =
        metrics_counter(m, "detector_redis_state_lost_total",
                        "Times Redis was found without the state marker (data lost)", NULL);
    t->lag = metrics_gauge(m, "detector_consumer_lag",
                           "Messages behind the end of the partition (librdkafka consumer_lag)",
                           "topic,partition");
    t->rebalances = metrics_counter(m, "detector_rebalances_total",
                                    "Rebalances of the consumer group, by event", "event");
    t->assigned = metrics_gauge(m, "detector_assigned_partitions", "Partitions assigned", NULL);
    t->rules_info = metrics_gauge(m, "detector_rules_info",
                                  "The rule set in force (version: hash of its files)", "version");
    t->rules_count = metrics_gauge(m, "detector_rules", "Rules in force", NULL);
    t->rules_loaded_at = metrics_gauge(m, "detector_rules_loaded_timestamp_seconds",
                                       "When the rule set in force was loaded", NULL);
    t->reload_ok = metrics_gauge(m, "detector_reload_success",
                                 "1 when the last load of the configuration and rules (start or "
                                 "SIGHUP) succeeded, 0 when it was refused",
                                 NULL);
    t->reload_at =
        metrics_gauge(m, "detector_reload_timestamp_seconds",
                      "When the configuration and rules were last loaded or refused", NULL);
    t->reloads =
        metrics_counter(m, "detector_reloads_total", "Reloads on SIGHUP, by result", "result");
    metric_t *all[] = {t->events,          t->bad,          t->unknown,
                       t->republished,     t->published,    t->breaker,
                       t->delivery_errors, t->r_evaluated,  t->r_hits,
                       t->r_actions,       t->r_suppressed, t->r_regex,
                       t->r_eval_seconds,  t->batch_size,   t->batch_seconds,
                       t->action_latency,  t->redis_errors, t->redis_reconnects,
                       t->redis_up,        t->lag,          t->rebalances,
                       t->assigned,        t->rules_info,   t->rules_count,
                       t->rules_loaded_at, t->reload_ok,    t->reload_at,
                       t->reloads,         t->state_lost};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (!all[i]) goto fail;
    /* The labelled series known in advance exist from the start, at 0. */
    int rc = 0;
    metrics_lock(m);
    for (int ty = EV_UNKNOWN + 1; ty < EV_TYPE_COUNT; ty++) {
        const char *v[] = {event_type_name((event_type_t)ty)};
        rc |= metric_add(t->events, v, 0);
    }
    for (int c = 0; c < BAD_CLASSES; c++) {
        const char *v[] = {bad_names[c]};
        rc |= metric_add(t->bad, v, 0);
    }
    const char *assign[] = {"assign"}, *revoke[] = {"revoke"};
    const char *ok[] = {"success"}, *refused[] = {"failure"};
    rc |= metric_add(t->rebalances, assign, 0) | metric_add(t->rebalances, revoke, 0);
    rc |= metric_add(t->reloads, ok, 0) | metric_add(t->reloads, refused, 0);
    metrics_unlock(m);
    if (rc) goto fail;
    return t;
fail:
    telemetry_free(t);
    return NULL;
}

void telemetry_free(telemetry_t *t)
{
    if (!t) return;
    metrics_free(t->m);
    free(t);
}

metrics_t *telemetry_metrics(telemetry_t *t)
{
    return t->m;
}

void telemetry_action_latency(telemetry_t *t, double seconds)
{
    t->lat_counts[metric_bucket(t->action_latency, seconds)]++;
    t->lat_sum += seconds;
}

void telemetry_batch_add(telemetry_t *t, const telemetry_batch_t *b)
{
    metrics_lock(t->m);
    for (int ty = EV_UNKNOWN + 1; ty < EV_TYPE_COUNT; ty++)
        if (b->events[ty]) {
            const char *v[] = {event_type_name((event_type_t)ty)};
            metric_add(t->events, v, (double)b->events[ty]);
        }
    for (int c = 0; c < BAD_CLASSES; c++)
        if (b->bad[c]) {
            const char *v[] = {bad_names[c]};
            metric_add(t->bad, v, (double)b->bad[c]);
        }
    metric_add(t->unknown, NULL, (double)b->unknown);
    metric_add(t->republished, NULL, (double)b->republished);
    metric_add(t->published, NULL, (double)b->actions);
    metric_add(t->breaker, NULL, (double)b->breaker);
    metric_add(t->delivery_errors, NULL, (double)b->delivery_errors);
    if (b->size > 0) {
        metric_observe(t->batch_size, NULL, (double)b->size);
        metric_observe(t->batch_seconds, NULL, b->seconds);
    }
    metric_observe_counts(t->action_latency, NULL, t->lat_counts, t->lat_sum);
    metrics_unlock(t->m);
    memset(t->lat_counts, 0, sizeof t->lat_counts);
    t->lat_sum = 0;
}

void telemetry_rules(telemetry_t *t, const engine_t *eng, int reset)
{
    const ruleset_t *rs = engine_ruleset(eng);
    metric_t *per_rule[] = {t->r_evaluated,  t->r_hits,  t->r_actions,
                            t->r_suppressed, t->r_regex, t->r_eval_seconds};
    metrics_lock(t->m);
    if (reset)
        for (size_t i = 0; i < sizeof per_rule / sizeof per_rule[0]; i++)
            metric_clear(per_rule[i]);
    for (size_t i = 0; i < ruleset_rule_count(rs); i++) {
        const rule_t *r = ruleset_rule(rs, i);
        const engine_rule_stats_t *st = engine_rule_stats(eng, i);
        const char *rule[] = {r->id};
        metric_set(t->r_evaluated, rule, (double)st->evaluated);
        metric_set(t->r_hits, rule, (double)st->hits);
        for (int k = KIND_ALERT; k <= KIND_BLOCK_AUTHENTICATOR; k++)
            for (int md = MODE_ENFORCE; md <= MODE_SHADOW; md++) {
                const char *v[] = {r->id, rule_kind_name((rule_kind_t)k),
                                   rule_mode_name((rule_mode_t)md)};
                metric_set(t->r_actions, v, (double)st->actions[k][md]);
            }
        const char *cooldown[] = {r->id, "cooldown"}, *block[] = {r->id, "block"};
        metric_set(t->r_suppressed, cooldown, (double)st->suppressed_cooldown);
        metric_set(t->r_suppressed, block, (double)st->suppressed_block);
        metric_set(t->r_regex, rule, (double)st->regex_limit);
        metric_set(t->r_eval_seconds, rule, (double)st->eval_ns / 1e9);
    }
    metrics_unlock(t->m);
}

void telemetry_rules_loaded(telemetry_t *t, const char *version, size_t nrules, double when)
{
    const char *v[] = {version};
    metrics_lock(t->m);
    metric_clear(t->rules_info);
    metric_set(t->rules_info, v, 1);
    metric_set(t->rules_count, NULL, (double)nrules);
    metric_set(t->rules_loaded_at, NULL, when);
    metrics_unlock(t->m);
}

void telemetry_reload(telemetry_t *t, int ok, double when, int sighup)
{
    const char *v[] = {ok ? "success" : "failure"};
    metrics_lock(t->m);
    metric_set(t->reload_ok, NULL, ok ? 1 : 0);
    metric_set(t->reload_at, NULL, when);
    if (sighup) metric_add(t->reloads, v, 1);
    metrics_unlock(t->m);
}

void telemetry_rebalance(telemetry_t *t, int assign, int partitions)
{
    const char *v[] = {assign ? "assign" : "revoke"};
    metrics_lock(t->m);
    metric_add(t->rebalances, v, 1);
    metric_set(t->assigned, NULL, partitions);
    metrics_unlock(t->m);
}

void telemetry_state_lost(telemetry_t *t)
{
    metrics_lock(t->m);
    metric_add(t->state_lost, NULL, 1);
    metrics_unlock(t->m);
}

void telemetry_redis(telemetry_t *t, unsigned long errors, unsigned long reconnects, int up)
{
    metrics_lock(t->m);
    metric_add(t->redis_errors, NULL, (double)errors);
    metric_add(t->redis_reconnects, NULL, (double)reconnects);
    metric_set(t->redis_up, NULL, up ? 1 : 0);
    metrics_unlock(t->m);
}

int telemetry_consumer_stats(telemetry_t *t, const char *json, size_t len)
{
    json_t *doc = json_loadb(json, len, 0, NULL);
    json_t *topics = doc ? json_object_get(doc, "topics") : NULL;
    if (!json_is_object(topics)) {
        json_decref(doc);
        return -1;
    }
    const char *tname, *pname;
    json_t *topic, *part;
    metrics_lock(t->m);
    metric_clear(t->lag);
    json_object_foreach(topics, tname, topic)
    {
        json_t *parts = json_object_get(topic, "partitions");
        json_object_foreach(parts, pname, part)
        {
            json_t *lag = json_object_get(part, "consumer_lag");
            json_t *p = json_object_get(part, "partition");
            if (!json_is_integer(lag) || json_integer_value(lag) < 0 || !json_is_integer(p) ||
                json_integer_value(p) < 0)
                continue; /* the internal partition -1, or no lag known */
            char num[24];
            snprintf(num, sizeof num, "%lld", (long long)json_integer_value(p));
            const char *v[] = {tname, num};
            metric_set(t->lag, v, (double)json_integer_value(lag));
        }
    }
    metrics_unlock(t->m);
    json_decref(doc);
    return 0;
}

void telemetry_state_set(telemetry_t *t, const telemetry_state_t *s)
{
    metrics_lock(t->m);
    t->state = *s;
    metrics_unlock(t->m);
}

int telemetry_ready_check(const telemetry_state_t *s, int64_t now_ms, char *why, size_t whylen)
{
    size_t o = 0;
    why[0] = '\0';
#define WHY(...)                                                                                   \
    do {                                                                                           \
        int n_ = snprintf(why + o, o < whylen ? whylen - o : 0, __VA_ARGS__);                      \
        if (n_ > 0) o = o + (size_t)n_ < whylen ? o + (size_t)n_ : whylen - 1;                     \
    } while (0)
    if (s->stopping) WHY("stopping\n");
    if (!s->rules_loaded) WHY("rules: not loaded\n");
    if (!s->subscribed)
        WHY("kafka: not subscribed\n");
    else if (s->polled_ms == 0 || now_ms - s->polled_ms > TELEMETRY_POLL_STALE_MS)
        WHY("kafka: the consumer has not been polled for %lld s\n",
            (long long)(s->polled_ms ? (now_ms - s->polled_ms) / 1000 : 0));
    if (s->state_paused)
        WHY("redis: state lost; consumption paused until the state marker is back\n");
    if (s->redis_retrying)
        WHY("redis: unreachable; consumption paused, the batch is being retried\n");
    else if (!s->redis_ok)
        WHY("redis: unreachable\n");
#undef WHY
    return why[0] == '\0';
}

int telemetry_ready(telemetry_t *t, int64_t now_ms, char *why, size_t whylen)
{
    telemetry_state_t s;
    metrics_lock(t->m);
    s = t->state;
    metrics_unlock(t->m);
    return telemetry_ready_check(&s, now_ms, why, whylen);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Hashes a length (8 bytes, big-endian) and the bytes. */
static int hash_part(EVP_MD_CTX *ctx, const void *p, size_t len)
{
    unsigned char l[8];
    for (int k = 0; k < 8; k++)
        l[k] = (unsigned char)((uint64_t)len >> (56 - 8 * k));
    return EVP_DigestUpdate(ctx, l, sizeof l) && EVP_DigestUpdate(ctx, p, len);
}

int telemetry_rules_version(const char *dir, char *out, size_t outlen, char *err, size_t errlen)
{
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = -1;
    EVP_MD_CTX *ctx = NULL;
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return -1;
    }
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        size_t l = strlen(de->d_name);
        if (l <= 6 || strcmp(de->d_name + l - 6, ".rules") != 0 || de->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) goto oom;
            names = nn;
        }
        if (!(names[n] = strdup(de->d_name))) goto oom;
        n++;
    }
    if (n > 1) qsort(names, n, sizeof *names, cmp_str);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    ctx = EVP_MD_CTX_new();
    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) goto oom;
    for (size_t i = 0; i < n; i++) {
        char path[4096], *text = NULL;
        size_t tlen = 0;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        FILE *f = fopen(path, "rb"), *mem = open_memstream(&text, &tlen);
        char buf[8192];
        size_t got;
        while (f && mem && (got = fread(buf, 1, sizeof buf, f)) > 0)
            fwrite(buf, 1, got, mem);
        int ok = f && mem && !ferror(f);
        if (f) fclose(f);
        if (mem) fclose(mem);
        if (!ok || !hash_part(ctx, names[i], strlen(names[i])) || !hash_part(ctx, text, tlen)) {
            free(text);
            snprintf(err, errlen, "%s: cannot read", path);
            goto done;
        }
        free(text);
    }
    if (!EVP_DigestFinal_ex(ctx, md, &mdlen) || mdlen < 8 || outlen < 17) goto oom;
    for (int i = 0; i < 8; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    rc = 0;
    goto done;
oom:
    snprintf(err, errlen, "out of memory");
done:
    EVP_MD_CTX_free(ctx);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    closedir(d);
    return rc;
}
