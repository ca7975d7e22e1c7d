/* test_metrics.c - unit tests of the metrics registry and its Prometheus
 * text (detector/metrics.c), the daemon's telemetry (detector/telemetry.c:
 * classes of bad events, consumer lag, readiness, rule set version), the
 * HTTP endpoints (detector/http.c) and the metrics.listen directive.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "event.h"
#include "http.h"
#include "metrics.h"
#include "telemetry.h"

static int setup(void **state)
{
    metrics_t *m = metrics_new();
    if (!m) return -1;
    *state = m;
    return 0;
}

static int teardown(void **state)
{
    metrics_free(*state);
    return 0;
}

static char *render(metrics_t *m)
{
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(metrics_render(m, &text, &len), 0);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    return text;
}

/* Every line of text is "# HELP name ...", "# TYPE name type", or a sample
 * `name{label="value",...} number` of a family announced before it. Returns
 * the number of samples; fails the test otherwise. */
static int check_exposition(const char *text)
{
    char family[128] = "";
    int samples = 0;
    for (const char *line = text; *line;) {
        const char *nl = strchr(line, '\n');
        assert_non_null(nl); /* every line ends with a newline */
        char buf[4096];
        size_t len = (size_t)(nl - line);
        assert_true(len < sizeof buf);
        memcpy(buf, line, len);
        buf[len] = '\0';
        line = nl + 1;
        if (strncmp(buf, "# HELP ", 7) == 0) {
            size_t n = strcspn(buf + 7, " ");
            assert_true(n > 0 && n < sizeof family);
            memcpy(family, buf + 7, n);
            family[n] = '\0';
            continue;
        }
        if (strncmp(buf, "# TYPE ", 7) == 0) {
            char name[128], type[32];
            assert_int_equal(sscanf(buf + 7, "%127s %31s", name, type), 2);
            assert_string_equal(name, family);
            assert_true(strcmp(type, "counter") == 0 || strcmp(type, "gauge") == 0 ||
                        strcmp(type, "histogram") == 0);
            continue;
        }
        /* A sample: the name, of the family (histograms: _bucket, _sum, _count). */
        size_t n = strspn(buf, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:");
        assert_true(n > 0);
        if (strncmp(buf, family, strlen(family)) != 0) fail_msg("sample of no family: %s", buf);
        const char *p = buf + n;
        if (*p == '{') {
            p++;
            while (*p != '}') {
                size_t ln =
                    strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
                assert_true(ln > 0);
                p += ln;
                assert_int_equal(*p++, '=');
                assert_int_equal(*p++, '"');
                while (*p != '"') {
                    assert_true(*p != '\0' && *p != '\n');
                    if (*p == '\\') {
                        p++;
                        assert_true(*p == '\\' || *p == '"' || *p == 'n');
                    }
                    p++;
                }
                p++;
                if (*p == ',') p++;
            }
            p++;
        }
        assert_int_equal(*p++, ' ');
        char *end;
        if (strcmp(p, "+Inf") != 0 && strcmp(p, "-Inf") != 0 && strcmp(p, "NaN") != 0) {
            strtod(p, &end);
            if (end == p || *end) fail_msg("not a number: %s", buf);
        }
        samples++;
    }
    return samples;
}

static void test_render_exact(void **state)
{
    metrics_t *m = *state;
    metric_t *c = metrics_counter(m, "t_events_total", "Events, by type", "type");
    metric_t *g = metrics_gauge(m, "t_up", "Up or not", NULL);
    const double b[] = {0.5, 1, 2.5};
    metric_t *h = metrics_histogram(m, "t_seconds", "Time", "op", b, 3);
    assert_non_null(c);
    assert_non_null(g);
    assert_non_null(h);
    const char *a[] = {"a"}, *bb[] = {"b"}, *get[] = {"get"};
    metrics_lock(m);
    assert_int_equal(metric_add(c, a, 2), 0);
    assert_int_equal(metric_add(c, bb, 1), 0);
    assert_int_equal(metric_add(c, a, 3), 0);
    assert_int_equal(metric_set(g, NULL, 1), 0);
    assert_int_equal(metric_observe(h, get, 0.5), 0); /* on the bound: that bucket (le) */
    assert_int_equal(metric_observe(h, get, 0.7), 0);
    assert_int_equal(metric_observe(h, get, 100), 0);
    metrics_unlock(m);
    char *text = render(m);
    assert_string_equal(text, "# HELP t_events_total Events, by type\n"
                              "# TYPE t_events_total counter\n"
                              "t_events_total{type=\"a\"} 5\n"
                              "t_events_total{type=\"b\"} 1\n"
                              "# HELP t_up Up or not\n"
                              "# TYPE t_up gauge\n"
                              "t_up 1\n"
                              "# HELP t_seconds Time\n"
                              "# TYPE t_seconds histogram\n"
                              "t_seconds_bucket{op=\"get\",le=\"0.5\"} 1\n"
                              "t_seconds_bucket{op=\"get\",le=\"1\"} 2\n"
                              "t_seconds_bucket{op=\"get\",le=\"2.5\"} 2\n"
                              "t_seconds_bucket{op=\"get\",le=\"+Inf\"} 3\n"
                              "t_seconds_sum{op=\"get\"} 101.2\n"
                              "t_seconds_count{op=\"get\"} 3\n");
    assert_int_equal(check_exposition(text), 9);
    free(text);
}

/* A family without labels shows 0 before any update; one with labels
 * shows its HELP and TYPE only. */
static void test_empty_families(void **state)
{
    metrics_t *m = *state;
    const double b[] = {1};
    assert_non_null(metrics_counter(m, "t_plain_total", "plain", NULL));
    assert_non_null(metrics_gauge(m, "t_labelled", "labelled", "x"));
    assert_non_null(metrics_histogram(m, "t_h", "h", NULL, b, 1));
    char *text = render(m);
    assert_string_equal(text, "# HELP t_plain_total plain\n# TYPE t_plain_total counter\n"
                              "t_plain_total 0\n"
                              "# HELP t_labelled labelled\n# TYPE t_labelled gauge\n"
                              "# HELP t_h h\n# TYPE t_h histogram\n"
                              "t_h_bucket{le=\"1\"} 0\nt_h_bucket{le=\"+Inf\"} 0\n"
                              "t_h_sum 0\nt_h_count 0\n");
    assert_int_equal(check_exposition(text), 5);
    free(text);
}

/* Label values and help are escaped; bytes that are not UTF-8 and control
 * bytes become U+FFFD: no value can break a line or the format. */
static void test_escaping(void **state)
{
    metrics_t *m = *state;
    metric_t *c = metrics_gauge(m, "t_g", "a \\ help\nwith a newline", "v");
    assert_non_null(c);
    const char *v1[] = {"say \"hi\"\\\n} 1\nt_g 2"}, *v2[] = {"bad\xff\x01utf8 \xc3\xa9"};
    metrics_lock(m);
    assert_int_equal(metric_set(c, v1, 1), 0);
    assert_int_equal(metric_set(c, v2, 2), 0);
    metrics_unlock(m);
    char *text = render(m);
    assert_string_equal(text, "# HELP t_g a \\\\ help\\nwith a newline\n"
                              "# TYPE t_g gauge\n"
                              "t_g{v=\"say \\\"hi\\\"\\\\\\n} 1\\nt_g 2\"} 1\n"
                              "t_g{v=\"bad\xef\xbf\xbd\xef\xbf\xbdutf8 \xc3\xa9\"} 2\n");
    assert_int_equal(check_exposition(text), 2);
    free(text);
}

static void test_numbers(void **state)
{
    metrics_t *m = *state;
    metric_t *g = metrics_gauge(m, "t_n", "n", "k");
    const char *k[][1] = {{"int"}, {"frac"}, {"big"}, {"neg"}, {"tiny"}};
    metrics_lock(m);
    metric_set(g, k[0], 1234567);
    metric_set(g, k[1], 0.1);
    metric_set(g, k[2], 1e20);
    metric_set(g, k[3], -2.5);
    metric_set(g, k[4], 1.0 / 3);
    metrics_unlock(m);
    char *text = render(m);
    assert_non_null(strstr(text, "t_n{k=\"int\"} 1234567\n"));
    assert_non_null(strstr(text, "t_n{k=\"frac\"} 0.1\n"));
    assert_non_null(strstr(text, "t_n{k=\"big\"} 1e+20\n"));
    assert_non_null(strstr(text, "t_n{k=\"neg\"} -2.5\n"));
    const char *tiny = strstr(text, "t_n{k=\"tiny\"} ");
    assert_non_null(tiny);
    assert_true(strtod(tiny + strlen("t_n{k=\"tiny\"} "), NULL) == 1.0 / 3); /* read back exactly */
    check_exposition(text);
    free(text);
}

/* Names, labels and calls that do not fit are refused. */
static void test_refusals(void **state)
{
    metrics_t *m = *state;
    const double b[] = {1, 2}, bad_b[] = {2, 1};
    assert_null(metrics_counter(m, "1abc", "h", NULL));
    assert_null(metrics_counter(m, "a-b", "h", NULL));
    assert_null(metrics_counter(m, "", "h", NULL));
    assert_null(metrics_counter(m, "ok", "h", "a,a"));
    assert_null(metrics_counter(m, "ok", "h", "__x"));
    assert_null(metrics_counter(m, "ok", "h", "a:b"));
    assert_null(metrics_histogram(m, "ok", "h", "le", b, 2));
    assert_null(metrics_histogram(m, "ok", "h", NULL, bad_b, 2));
    assert_null(metrics_histogram(m, "ok", "h", NULL, NULL, 0));
    metric_t *c = metrics_counter(m, "ok:total", "h", "a,b");
    assert_non_null(c);
    assert_null(metrics_gauge(m, "ok:total", "again", NULL)); /* a name is taken once */
    const char *one[] = {"x", NULL}, *two[] = {"x", "y"};
    metrics_lock(m);
    assert_int_equal(metric_add(c, one, 1), -1); /* a value missing */
    assert_int_equal(metric_add(c, NULL, 1), -1);
    assert_int_equal(metric_add(c, two, -1), -1); /* a counter never goes down */
    assert_int_equal(metric_observe(c, two, 1), -1);
    assert_int_equal(metric_add(c, two, 2), 0);
    assert_int_equal(metric_set(c, two, 7), 0); /* mirrored from a cumulative source */
    metrics_unlock(m);
    assert_true(metric_value(c, two) == 7);
    char *text = render(m);
    assert_string_equal(text, "# HELP ok:total h\n# TYPE ok:total counter\n"
                              "ok:total{a=\"x\",b=\"y\"} 7\n");
    free(text);
}

/* Many series: each found again (the table grows), in order of creation;
 * metric_clear forgets them. */
static void test_many_series(void **state)
{
    metrics_t *m = *state;
    metric_t *c = metrics_counter(m, "t_many", "many", "a,b");
    char x[16], y[16];
    metrics_lock(m);
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < 1000; i++) {
            snprintf(x, sizeof x, "%d", i % 37);
            snprintf(y, sizeof y, "%d", i);
            const char *v[] = {x, y};
            assert_int_equal(metric_add(c, v, (double)i), 0);
        }
    metrics_unlock(m);
    for (int i = 0; i < 1000; i++) {
        snprintf(x, sizeof x, "%d", i % 37);
        snprintf(y, sizeof y, "%d", i);
        const char *v[] = {x, y};
        assert_true(metric_value(c, v) == 3.0 * i);
    }
    const char *swapped[] = {"1", "0"}; /* no such series: a=1,b=0 */
    assert_true(metric_value(c, swapped) == 0);
    char *text = render(m);
    assert_int_equal(check_exposition(text), 1000);
    assert_non_null(strstr(text, "# TYPE t_many counter\nt_many{a=\"0\",b=\"0\"} 0\n"
                                 "t_many{a=\"1\",b=\"1\"} 3\n"));
    free(text);
    metrics_lock(m);
    metric_clear(c);
    metrics_unlock(m);
    text = render(m);
    assert_string_equal(text, "# HELP t_many many\n# TYPE t_many counter\n");
    free(text);
}

static void test_histogram_counts(void **state)
{
    metrics_t *m = *state;
    const double b[] = {1, 10, 100};
    metric_t *h = metrics_histogram(m, "t_h", "h", NULL, b, 3);
    assert_int_equal(metric_buckets(h), 4);
    assert_int_equal(metric_bucket(h, 0), 0);
    assert_int_equal(metric_bucket(h, 1), 0);
    assert_int_equal(metric_bucket(h, 1.5), 1);
    assert_int_equal(metric_bucket(h, 100), 2);
    assert_int_equal(metric_bucket(h, 101), 3);
    const unsigned long counts[] = {2, 0, 1, 4};
    metrics_lock(m);
    assert_int_equal(metric_observe_counts(h, NULL, counts, 1000.5), 0);
    assert_int_equal(metric_observe(h, NULL, 5), 0);
    metrics_unlock(m);
    assert_true(metric_value(h, NULL) == 8);
    char *text = render(m);
    assert_string_equal(text, "# HELP t_h h\n# TYPE t_h histogram\n"
                              "t_h_bucket{le=\"1\"} 2\nt_h_bucket{le=\"10\"} 3\n"
                              "t_h_bucket{le=\"100\"} 4\nt_h_bucket{le=\"+Inf\"} 8\n"
                              "t_h_sum 1005.5\nt_h_count 8\n");
    free(text);
}

struct race {
    metrics_t *m;
    atomic_int stop;
    atomic_int renders;
};

static void *render_loop(void *arg)
{
    struct race *r = arg;
    while (!atomic_load(&r->stop)) {
        char *text;
        size_t len;
        if (metrics_render(r->m, &text, &len) == 0) {
            atomic_fetch_add(&r->renders, 1);
            free(text);
        }
    }
    return NULL;
}

/* Rendering on another thread while the owner updates under the lock: the
 * final figures are exact (run under ThreadSanitizer or Helgrind to see
 * the locking; here the sums must hold). */
static void test_concurrent_render(void **state)
{
    metrics_t *m = *state;
    metric_t *c = metrics_counter(m, "t_c", "c", "k");
    struct race r = {.m = m};
    atomic_init(&r.stop, 0);
    atomic_init(&r.renders, 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, render_loop, &r), 0);
    while (atomic_load(&r.renders) == 0) /* rendering already, and during the updates */
        sched_yield();
    char k[8];
    for (int i = 0; i < 20000; i++) {
        snprintf(k, sizeof k, "%d", i % 50);
        const char *v[] = {k};
        metrics_lock(m);
        metric_add(c, v, 1);
        metrics_unlock(m);
    }
    int seen = atomic_load(&r.renders);
    while (atomic_load(&r.renders) < seen + 2)
        sched_yield();
    atomic_store(&r.stop, 1);
    pthread_join(th, NULL);
    for (int i = 0; i < 50; i++) {
        snprintf(k, sizeof k, "%d", i);
        const char *v[] = {k};
        assert_true(metric_value(c, v) == 400);
    }
}

/* The class of every kind of bad event, from the parser's own reasons:
 * a fixed label whatever the input quoted. */
static void test_bad_classes(void **state)
{
    (void)state;
    static const struct {
        const char *event;
        telemetry_bad_t want;
    } cases[] = {
        {"this is not json", BAD_INVALID_JSON},
        {"{\"a\":\"\xff\"}", BAD_INVALID_JSON},
        {"42", BAD_NOT_OBJECT},
        {"{\"event_id\":\"1\",\"event_id\":\"2\"}", BAD_DUPLICATE_KEY},
        {"{\"x\":[[[[[[[[[1]]]]]]]]]}", BAD_TOO_DEEP},
        {"{\"ts\":\"2026-11-05T10:00:00Z\",\"type\":\"login.started\",\"identity\":\"i\"}",
         BAD_MISSING_FIELD},
        {"{\"event_id\":\"e\",\"ts\":\"2026-11-05T10:00:00Z\",\"type\":\"login.started\","
         "\"identity\":\"i\"}",
         BAD_MISSING_FIELD},
        {"{\"event_id\":\"e\",\"ts\":\"yesterday\",\"type\":\"login.started\",\"identity\":\"i\","
         "\"request_id\":\"r\"}",
         BAD_INVALID_VALUE},
        {"{\"event_id\":\"e\",\"ts\":\"2026-11-05T10:00:00Z\",\"type\":\"login.started\","
         "\"identity\":\"id x\",\"request_id\":\"r\"}",
         BAD_INVALID_VALUE},
        {"{\"event_id\":\"e\",\"ts\":\"2026-11-05T10:00:00Z\",\"type\":\"login.rejected\","
         "\"identity\":\"i\",\"request_id\":\"r\",\"reported\":\"yes\"}",
         BAD_WRONG_TYPE},
        {"{\"event_id\":7,\"ts\":\"2026-11-05T10:00:00Z\",\"type\":\"login.started\","
         "\"identity\":\"i\",\"request_id\":\"r\"}",
         BAD_WRONG_TYPE},
        {"{\"event_id\":\"e\",\"ts\":\"2026-11-05T10:00:00Z\",\"type\":\"login.started\","
         "\"identity\":\"i\",\"request_id\":\"r\",\"ip\":\"999.1.1.1\"}",
         BAD_INVALID_VALUE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        event_t ev;
        char reason[512];
        assert_int_equal(
            event_parse(cases[i].event, strlen(cases[i].event), &ev, reason, sizeof reason),
            EVENT_BAD);
        if (telemetry_bad_class(reason) != cases[i].want)
            fail_msg("%s: class %s for reason \"%s\"", cases[i].event,
                     telemetry_bad_name(telemetry_bad_class(reason)), reason);
    }
    char *big = malloc(EVENT_MAX_BYTES + 2);
    memset(big, ' ', EVENT_MAX_BYTES + 1);
    event_t ev;
    char reason[512];
    assert_int_equal(event_parse(big, EVENT_MAX_BYTES + 1, &ev, reason, sizeof reason), EVENT_BAD);
    assert_int_equal(telemetry_bad_class(reason), BAD_TOO_LARGE);
    free(big);
    /* Attacker text after a fixed beginning changes nothing. */
    assert_int_equal(telemetry_bad_class("duplicate key \"missing required field\""),
                     BAD_DUPLICATE_KEY);
    assert_int_equal(telemetry_bad_class("something new"), BAD_OTHER);
    assert_int_equal(telemetry_bad_class(NULL), BAD_OTHER);
    assert_string_equal(telemetry_bad_name(BAD_WRONG_TYPE), "wrong_type");
    assert_string_equal(telemetry_bad_name((telemetry_bad_t)99), "other");
}

static char *render_telemetry(telemetry_t *t)
{
    return render(telemetry_metrics(t));
}

/* librdkafka's statistics: the lag of each partition with one; the rest
 * (partition -1, lag -1) left out, and the former values forgotten. */
static void test_consumer_lag(void **state)
{
    (void)state;
    telemetry_t *t = telemetry_new();
    assert_non_null(t);
    const char *stats =
        "{\"name\":\"c\",\"topics\":{\"auth.events\":{\"topic\":\"auth.events\",\"partitions\":{"
        "\"0\":{\"partition\":0,\"consumer_lag\":12},"
        "\"1\":{\"partition\":1,\"consumer_lag\":-1},"
        "\"2\":{\"partition\":2,\"consumer_lag\":0},"
        "\"-1\":{\"partition\":-1,\"consumer_lag\":-1}}}}}";
    assert_int_equal(telemetry_consumer_stats(t, stats, strlen(stats)), 0);
    char *text = render_telemetry(t);
    assert_non_null(strstr(text, "# TYPE detector_consumer_lag gauge\n"
                                 "detector_consumer_lag{topic=\"auth.events\",partition=\"0\"} 12\n"
                                 "detector_consumer_lag{topic=\"auth.events\",partition=\"2\"} 0\n"
                                 "# HELP"));
    free(text);
    const char *later = "{\"topics\":{\"auth.events\":{\"partitions\":{"
                        "\"2\":{\"partition\":2,\"consumer_lag\":5}}}}}";
    assert_int_equal(telemetry_consumer_stats(t, later, strlen(later)), 0);
    text = render_telemetry(t);
    assert_null(strstr(text, "partition=\"0\""));
    assert_non_null(
        strstr(text, "detector_consumer_lag{topic=\"auth.events\",partition=\"2\"} 5\n"));
    free(text);
    assert_int_equal(telemetry_consumer_stats(t, "{nope", 5), -1);
    assert_int_equal(telemetry_consumer_stats(t, "{}", 2), -1);
    telemetry_free(t);
}

/* A batch's tallies, rules, reloads, rebalances and Redis in the text. */
static void test_telemetry_figures(void **state)
{
    (void)state;
    telemetry_t *t = telemetry_new();
    assert_non_null(t);
    telemetry_batch_t b = {0};
    b.events[EV_LOGIN_STARTED] = 7;
    b.events[EV_LOGIN_APPROVED] = 2;
    b.bad[BAD_INVALID_JSON] = 3;
    b.unknown = 4;
    b.actions = 5;
    b.size = 16;
    b.seconds = 0.02;
    telemetry_action_latency(t, 0.004);
    telemetry_action_latency(t, 0.3);
    telemetry_batch_add(t, &b);
    telemetry_batch_add(t, &b);
    telemetry_rebalance(t, 1, 4);
    telemetry_rebalance(t, 0, 0);
    telemetry_rebalance(t, 1, 2);
    telemetry_redis(t, 3, 1, 0);
    telemetry_rules_loaded(t, "0123456789abcdef", 10, 1700000000.5);
    telemetry_reload(t, 0, 1700000100, 1);
    char *text = render_telemetry(t);
    assert_int_equal(check_exposition(text) > 50, 1);
    static const char *const want[] = {
        "detector_events_total{type=\"login.started\"} 14\n",
        "detector_events_total{type=\"login.approved\"} 4\n",
        "detector_events_total{type=\"identity.unblocked\"} 0\n",
        "detector_bad_events_total{reason=\"invalid_json\"} 6\n",
        "detector_bad_events_total{reason=\"too_large\"} 0\n",
        "detector_unknown_type_events_total 8\n",
        "detector_actions_published_total 10\n",
        "detector_batch_size_bucket{le=\"10\"} 0\ndetector_batch_size_bucket{le=\"25\"} 2\n",
        "detector_batch_size_sum 32\n",
        "detector_batch_duration_seconds_sum 0.04\n",
        "detector_action_latency_seconds_bucket{le=\"0.005\"} 1\n",
        "detector_action_latency_seconds_bucket{le=\"0.5\"} 2\n",
        "detector_action_latency_seconds_count 2\n",
        "detector_rebalances_total{event=\"assign\"} 2\n",
        "detector_rebalances_total{event=\"revoke\"} 1\n",
        "detector_assigned_partitions 2\n",
        "detector_redis_errors_total 3\n",
        "detector_redis_reconnects_total 1\n",
        "detector_redis_up 0\n",
        "detector_rules_info{version=\"0123456789abcdef\"} 1\n",
        "detector_rules 10\n",
        "detector_rules_loaded_timestamp_seconds 1700000000.5\n",
        "detector_reload_success 0\n",
        "detector_reload_timestamp_seconds 1700000100\n",
        "detector_reloads_total{result=\"failure\"} 1\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(text, want[i])) fail_msg("missing: %s", want[i]);
    free(text);
    telemetry_rules_loaded(t, "fedcba9876543210", 9, 1700000200);
    text = render_telemetry(t);
    assert_null(strstr(text, "0123456789abcdef")); /* one version at a time */
    assert_non_null(strstr(text, "detector_rules_info{version=\"fedcba9876543210\"} 1\n"));
    free(text);
    telemetry_free(t);
}

static void test_readiness(void **state)
{
    (void)state;
    char why[512];
    telemetry_state_t s = {.rules_loaded = 1, .subscribed = 1, .polled_ms = 1000, .redis_ok = 1};
    assert_int_equal(telemetry_ready_check(&s, 1500, why, sizeof why), 1);
    assert_string_equal(why, "");
    s.assigned = 0; /* subscribed and polling is enough */
    assert_int_equal(telemetry_ready_check(&s, 1000 + TELEMETRY_POLL_STALE_MS, why, sizeof why), 1);
    assert_int_equal(telemetry_ready_check(&s, 2001 + TELEMETRY_POLL_STALE_MS, why, sizeof why), 0);
    assert_string_equal(why, "kafka: the consumer has not been polled for 16 s\n");
    s.redis_ok = 0;
    assert_int_equal(telemetry_ready_check(&s, 1500, why, sizeof why), 0);
    assert_string_equal(why, "redis: unreachable\n");
    s.redis_retrying = 1;
    assert_int_equal(telemetry_ready_check(&s, 1500, why, sizeof why), 0);
    assert_string_equal(why, "redis: unreachable; consumption paused, the batch is being "
                             "retried\n");
    telemetry_state_t none = {0};
    assert_int_equal(telemetry_ready_check(&none, 1500, why, sizeof why), 0);
    assert_string_equal(why, "rules: not loaded\nkafka: not subscribed\nredis: unreachable\n");
    none.stopping = 1;
    char small[20];
    assert_int_equal(telemetry_ready_check(&none, 1500, small, sizeof small), 0);
    assert_int_equal(strlen(small), sizeof small - 1); /* cut, never overrun */
    /* Through the telemetry (the lock). */
    telemetry_t *t = telemetry_new();
    telemetry_state_set(t, &none);
    assert_int_equal(telemetry_ready(t, 1500, why, sizeof why), 0);
    assert_string_equal(why, "stopping\nrules: not loaded\nkafka: not subscribed\n"
                             "redis: unreachable\n");
    telemetry_free(t);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* The version of a rule directory: the same files give the same version,
 * any change of a name or a byte another; other files do not count. */
static void test_rules_version(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_metrics.XXXXXX", path[256], v1[17], v2[17], v3[17], err[256];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/10-a.rules", dir);
    write_file(path, "rule a\n");
    snprintf(path, sizeof path, "%s/20-b.rules", dir);
    write_file(path, "rule b\n");
    assert_int_equal(telemetry_rules_version(dir, v1, sizeof v1, err, sizeof err), 0);
    assert_int_equal(strlen(v1), 16);
    assert_int_equal(strspn(v1, "0123456789abcdef"), 16);
    snprintf(path, sizeof path, "%s/README", dir);
    write_file(path, "not a rule file");
    assert_int_equal(telemetry_rules_version(dir, v2, sizeof v2, err, sizeof err), 0);
    assert_string_equal(v1, v2);
    snprintf(path, sizeof path, "%s/20-b.rules", dir);
    write_file(path, "rule B\n");
    assert_int_equal(telemetry_rules_version(dir, v3, sizeof v3, err, sizeof err), 0);
    assert_string_not_equal(v1, v3);
    write_file(path, "rule b\n");
    assert_int_equal(telemetry_rules_version(dir, v3, sizeof v3, err, sizeof err), 0);
    assert_string_equal(v1, v3);
    /* The same bytes moved from one file to the other: another version. */
    snprintf(path, sizeof path, "%s/10-a.rules", dir);
    write_file(path, "rule a\nrule b\n");
    snprintf(path, sizeof path, "%s/20-b.rules", dir);
    write_file(path, "");
    assert_int_equal(telemetry_rules_version(dir, v3, sizeof v3, err, sizeof err), 0);
    assert_string_not_equal(v1, v3);
    const char *names[] = {"10-a.rules", "20-b.rules", "README"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
    assert_int_equal(telemetry_rules_version(dir, v3, sizeof v3, err, sizeof err), -1);
    assert_non_null(strstr(err, "No such file"));
}

/* One HTTP/1.0 request to 127.0.0.1:port; the whole response. */
static char *http_get(int port, const char *method, const char *path)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    char req[256];
    int n = snprintf(req, sizeof req, "%s %s HTTP/1.0\r\nHost: x\r\n\r\n", method, path);
    assert_int_equal(write(fd, req, (size_t)n), n);
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap);
    ssize_t got;
    while ((got = read(fd, buf + len, cap - 1 - len)) > 0)
        len += (size_t)got;
    buf[len] = '\0';
    close(fd);
    return buf;
}

static const char *body_of(const char *response)
{
    const char *b = strstr(response, "\r\n\r\n");
    assert_non_null(b);
    return b + 4;
}

static void test_http(void **state)
{
    (void)state;
    char err[256];
    telemetry_t *t = telemetry_new();
    assert_null(http_start("nonsense", t, err, sizeof err));
    assert_non_null(strstr(err, "not HOST:PORT"));
    http_server_t *h = http_start("127.0.0.1:0", t, err, sizeof err);
    if (!h) fail_msg("http_start: %s", err);
    int port = http_port(h);
    assert_true(port > 0);
    char other[64];
    snprintf(other, sizeof other, "127.0.0.1:%d", port);
    assert_null(http_start(other, t, err, sizeof err)); /* taken */

    char *r = http_get(port, "GET", "/healthz");
    assert_non_null(strstr(r, "HTTP/1.0 200") ? r : strstr(r, "HTTP/1.1 200"));
    assert_string_equal(body_of(r), "ok\n");
    free(r);

    telemetry_state_t s = {.rules_loaded = 1, .subscribed = 1, .redis_ok = 0};
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    s.polled_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    telemetry_state_set(t, &s);
    r = http_get(port, "GET", "/readyz");
    assert_non_null(strstr(r, " 503 "));
    assert_string_equal(body_of(r), "redis: unreachable\n");
    free(r);
    s.redis_ok = 1;
    telemetry_state_set(t, &s);
    r = http_get(port, "GET", "/readyz");
    assert_non_null(strstr(r, " 200 "));
    assert_string_equal(body_of(r), "ready\n");
    free(r);

    telemetry_batch_t b = {0};
    b.events[EV_USERID_CHANGED] = 3;
    telemetry_batch_add(t, &b);
    r = http_get(port, "GET", "/metrics");
    assert_non_null(strstr(r, " 200 "));
    assert_non_null(strstr(r, "Content-Type: text/plain; version=0.0.4"));
    assert_non_null(strstr(body_of(r), "detector_events_total{type=\"userid.changed\"} 3\n"));
    check_exposition(body_of(r));
    free(r);

    r = http_get(port, "HEAD", "/metrics");
    assert_non_null(strstr(r, " 200 "));
    assert_string_equal(body_of(r), "");
    free(r);
    r = http_get(port, "GET", "/nope");
    assert_non_null(strstr(r, " 404 "));
    free(r);
    r = http_get(port, "POST", "/metrics");
    assert_non_null(strstr(r, " 405 "));
    assert_non_null(strstr(r, "Allow: GET, HEAD"));
    free(r);
    http_stop(h);
    telemetry_free(t);
}

/* metrics.listen: HOST:PORT, [IPV6]:PORT or empty, checked where written. */
static void test_listen_directive(void **state)
{
    (void)state;
    static const char *const ok[] = {"127.0.0.1:9108", "[::1]:9108", "localhost:1", "",
                                     "0.0.0.0:65535"};
    static const char *const bad[] = {
        "9108",  ":9108", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536",
        "[::1]", "[]:80", "host:80x"};
    char text[128];
    config_t cfg;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        rules_diag_t diag = {0};
        config_defaults(&cfg);
        assert_string_equal(cfg.metrics_listen, "127.0.0.1:9108");
        snprintf(text, sizeof text, "metrics.listen = %s\n", ok[i]);
        if (config_load_string(&cfg, text, "t.conf", NULL, &diag) != 0)
            fail_msg("refused %s: %s", ok[i], diag.text);
        assert_string_equal(cfg.metrics_listen, ok[i]);
        config_clear(&cfg);
        rules_diag_free(&diag);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rules_diag_t diag = {0};
        config_defaults(&cfg);
        snprintf(text, sizeof text, "metrics.listen = %s\n", bad[i]);
        assert_int_equal(config_load_string(&cfg, text, "t.conf", NULL, &diag), -1);
        assert_non_null(strstr(diag.text, "t.conf:1:18: metrics.listen must be HOST:PORT or "
                                          "[IPV6]:PORT (port 1-65535), or empty"));
        config_clear(&cfg);
        rules_diag_free(&diag);
    }
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_render_exact),
        T(test_empty_families),
        T(test_escaping),
        T(test_numbers),
        T(test_refusals),
        T(test_many_series),
        T(test_histogram_counts),
        T(test_concurrent_render),
        cmocka_unit_test(test_bad_classes),
        cmocka_unit_test(test_consumer_lag),
        cmocka_unit_test(test_telemetry_figures),
        cmocka_unit_test(test_readiness),
        cmocka_unit_test(test_rules_version),
        cmocka_unit_test(test_http),
        cmocka_unit_test(test_listen_directive),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
