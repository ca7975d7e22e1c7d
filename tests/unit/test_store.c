/* test_store.c - the contract suite of the state store.
 *
 * The same tests run against the memory store and against the Redis store
 * (a redis-server started by the suite on a free loopback port, flushed
 * before each test). Redis-only tests then check the key names of
 * contract/actions.md, the TTLs, and what happens when the server stops or
 * hangs. A differential test drives both stores with the same random
 * operations and compares every answer.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "store.h"
#include "../support/redis_server.h"
#include "../support/requests.h"

#define T0 1795514400000000LL /* 2026-11-24T10:00:00Z */
#define SEC 1000000LL
#define DAY (86400 * SEC)

struct fx {
    store_t *s;
    int redis;
    char err[256];
};

static test_redis_t g_redis; /* the suite's server */
static redisContext *g_raw;  /* raw connection to it */
static test_redis_t g_extra; /* servers of single tests, stopped in teardown */
static store_t *g_extra_store;

/* Fails the test with the store's message when expr is not 0. */
#define OK(expr)                                                                                   \
    do {                                                                                           \
        F->err[0] = '\0';                                                                          \
        if ((expr) != 0) fail_msg("%s failed: %s", #expr, F->err);                                 \
    } while (0)

#define ERR F->err, sizeof F->err

/* --- Fixtures --------------------------------------------------------------- */

static int setup_mem(void **state)
{
    struct fx *F = calloc(1, sizeof *F);

    if (F == NULL) return -1;
    F->s = store_mem_new("t:");
    if (F->s == NULL) {
        free(F);
        return -1;
    }
    *state = F;
    return 0;
}

/* The store under test: its pipelined writes are flushed before a raw look. */
static store_t *g_flush_before_raw;

static redisReply *raw(const char *fmt, ...)
{
    redisReply *rep;
    va_list ap;
    char err[256];

    if (g_flush_before_raw) assert_int_equal(store_flush(g_flush_before_raw, err, sizeof err), 0);
    va_start(ap, fmt);
    rep = redisvCommand(g_raw, fmt, ap);
    va_end(ap);
    assert_non_null(rep);
    return rep;
}

static int setup_redis(void **state)
{
    struct fx *F;
    redisReply *rep;

    rep = redisCommand(g_raw, "FLUSHALL");
    if (rep == NULL || rep->type == REDIS_REPLY_ERROR) return -1;
    freeReplyObject(rep);
    F = calloc(1, sizeof *F);
    if (F == NULL) return -1;
    F->redis = 1;
    F->s = store_redis_new("127.0.0.1", g_redis.port, NULL, NULL, 0, "t:", 2000, ERR);
    g_flush_before_raw = F->s;
    if (F->s == NULL) {
        fprintf(stderr, "store_redis_new: %s\n", F->err);
        free(F);
        return -1;
    }
    *state = F;
    return 0;
}

static int teardown(void **state)
{
    struct fx *F = *state;

    g_flush_before_raw = NULL;
    if (g_extra_store != NULL) {
        store_free(g_extra_store);
        g_extra_store = NULL;
    }
    test_redis_stop(&g_extra);
    if (F != NULL) {
        store_free(F->s);
        free(F);
    }
    return 0;
}

static int group_setup_redis(void **state)
{
    struct timeval tv = {2, 0};

    (void)state;
    if (test_redis_start(&g_redis) < 0) return -1;
    g_raw = redisConnectWithTimeout("127.0.0.1", g_redis.port, tv);
    if (g_raw == NULL || g_raw->err || redisSetTimeout(g_raw, tv) != REDIS_OK) return -1;
    return 0;
}

static int group_teardown_redis(void **state)
{
    (void)state;
    if (g_raw != NULL) redisFree(g_raw);
    g_raw = NULL;
    test_redis_stop(&g_redis);
    return 0;
}

/* --- Helpers ----------------------------------------------------------------- */

static long wcount(struct fx *F, const char *scope, const char *name, int64_t lo, int64_t hi)
{
    long n = -1;

    OK(store_window_count(F->s, scope, name, lo, hi, &n, ERR));
    return n;
}

static long dcount(struct fx *F, const char *scope, const char *name, int64_t lo, int64_t hi)
{
    long n = -1;

    OK(store_distinct_count(F->s, scope, name, lo, hi, &n, ERR));
    return n;
}

static void free_list(char **v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* Checks that the window's members in (lo, hi] (at most max) are the
 * space-separated words of want, in order. */
static void check_members(struct fx *F, const char *scope, const char *name, int64_t lo, int64_t hi,
                          size_t max, const char *want)
{
    char **v = NULL, got[1024] = "";
    size_t n = 99, i;

    OK(store_window_members(F->s, scope, name, lo, hi, max, &v, &n, ERR));
    for (i = 0; i < n; i++) {
        if (i > 0) strcat(got, " ");
        strcat(got, v[i]);
    }
    free_list(v, n);
    assert_string_equal(got, want);
}

static void check_activity(struct fx *F, const char *scope, size_t max, const char *want)
{
    char **v = NULL, got[1024] = "";
    size_t n = 99, i;

    OK(store_activity_get(F->s, scope, max, &v, &n, ERR));
    for (i = 0; i < n; i++) {
        if (i > 0) strcat(got, " ");
        strcat(got, v[i]);
    }
    free_list(v, n);
    assert_string_equal(got, want);
}

static int64_t wall_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * SEC + ts.tv_nsec / 1000;
}

static double mono_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* --- Windows ------------------------------------------------------------------ */

static void test_window_idempotent(void **state)
{
    struct fx *F = *state;

    OK(store_window_add(F->s, "id-1", "logins", "e1", T0, DAY, ERR));
    OK(store_window_add(F->s, "id-1", "logins", "e1", T0 + 5 * SEC, DAY, ERR));
    OK(store_window_add(F->s, "id-1", "logins", "e1", T0 - 5 * SEC, DAY, ERR));
    assert_int_equal(wcount(F, "id-1", "logins", T0 - 10 * SEC, T0 + 10 * SEC), 1);
    /* the member kept its first time */
    assert_int_equal(wcount(F, "id-1", "logins", T0 - 10 * SEC, T0 - SEC), 0);
    assert_int_equal(wcount(F, "id-1", "logins", T0 + SEC, T0 + 10 * SEC), 0);
    check_members(F, "id-1", "logins", T0 - SEC, T0, 10, "e1");
    OK(store_window_add(F->s, "id-1", "logins", "e2", T0, DAY, ERR));
    assert_int_equal(wcount(F, "id-1", "logins", T0 - SEC, T0), 2);
}

static void test_window_bounds(void **state)
{
    struct fx *F = *state;

    OK(store_window_add(F->s, "id-1", "w", "e1", T0 + 100, DAY, ERR));
    OK(store_window_add(F->s, "id-1", "w", "e2", T0 + 200, DAY, ERR));
    OK(store_window_add(F->s, "id-1", "w", "e3", T0 + 300, DAY, ERR));
    assert_int_equal(wcount(F, "id-1", "w", T0 + 100, T0 + 300), 2); /* lo out, hi in */
    assert_int_equal(wcount(F, "id-1", "w", T0 + 99, T0 + 300), 3);
    assert_int_equal(wcount(F, "id-1", "w", T0 + 100, T0 + 299), 1);
    assert_int_equal(wcount(F, "id-1", "w", T0, T0 + 100), 1);
    assert_int_equal(wcount(F, "id-1", "w", T0 + 300, T0 + 400), 0);
    assert_int_equal(wcount(F, "id-1", "w", T0 + 200, T0 + 200), 0);
    assert_int_equal(wcount(F, "id-1", "w", T0 + 300, T0 + 100), 0);
    assert_int_equal(wcount(F, "id-1", "w", INT64_MIN, INT64_MAX), 3);
    assert_int_equal(wcount(F, "id-1", "other", T0, T0 + 400), 0);
    assert_int_equal(wcount(F, "id-2", "w", T0, T0 + 400), 0);
    check_members(F, "id-1", "w", T0 + 100, T0 + 300, 10, "e2 e3");
    check_members(F, "id-1", "w", T0 + 99, T0 + 299, 10, "e1 e2");
    check_members(F, "id-1", "w", T0 + 300, T0 + 100, 10, "");
}

static void test_window_prune(void **state)
{
    struct fx *F = *state;
    const int64_t keep = 1000;

    OK(store_window_add(F->s, "id-1", "w", "a", T0, keep, ERR));
    OK(store_window_add(F->s, "id-1", "w", "b", T0 + 500, keep, ERR));
    OK(store_window_add(F->s, "id-1", "w", "c", T0 + 1000, keep, ERR)); /* a is at ts - keep */
    assert_int_equal(wcount(F, "id-1", "w", INT64_MIN, INT64_MAX), 3);
    OK(store_window_add(F->s, "id-1", "w", "d", T0 + 1500, keep, ERR)); /* a is older */
    check_members(F, "id-1", "w", INT64_MIN, INT64_MAX, 10, "b c d");
    /* an out-of-order add prunes relative to its own time */
    OK(store_window_add(F->s, "id-1", "w", "e", T0 + 100, keep, ERR));
    check_members(F, "id-1", "w", INT64_MIN, INT64_MAX, 10, "e b c d");
    /* a pruned member may come back */
    OK(store_window_add(F->s, "id-1", "w", "a", T0 + 1600, keep, ERR));
    check_members(F, "id-1", "w", INT64_MIN, INT64_MAX, 10, "c d a"); /* b, e < ts - keep */
    OK(store_window_add(F->s, "id-1", "w", "f", T0 + 3000, keep, ERR));
    check_members(F, "id-1", "w", INT64_MIN, INT64_MAX, 10, "f");
    /* keep 0 keeps only the latest time */
    OK(store_window_add(F->s, "id-1", "z", "x", T0, 0, ERR));
    OK(store_window_add(F->s, "id-1", "z", "y", T0, 0, ERR));
    OK(store_window_add(F->s, "id-1", "z", "z", T0 + 1, 0, ERR));
    check_members(F, "id-1", "z", INT64_MIN, INT64_MAX, 10, "z");
}

/* Shared windows keep (latest - keep, ...] whatever the order of the adds. */
static void test_window_shared_order(void **state)
{
    struct fx *F = *state;
    const int64_t keep = 1000;
    const char *order[2][4] = {{"a", "b", "c", "d"}, {"d", "c", "b", "a"}};
    const int64_t ts[4] = {T0, T0 + 500, T0 + 1200, T0 + 1600};

    for (int o = 0; o < 2; o++) {
        char name[8];
        snprintf(name, sizeof name, "s%d", o);
        for (int i = 0; i < 4; i++) {
            int k = order[o][i][0] - 'a';
            OK(store_window_add_shared(F->s, "ip=1", name, order[o][i], ts[k], keep, ERR));
        }
        /* latest d at 1600: a (0) and b (500) are outside, in both orders */
        check_members(F, "ip=1", name, INT64_MIN, INT64_MAX, 10, "c d");
    }
    /* a late member inside is added, one outside is not */
    OK(store_window_add_shared(F->s, "ip=1", "s0", "g", T0 + 700, keep, ERR));
    OK(store_window_add_shared(F->s, "ip=1", "s0", "h", T0 + 500, keep, ERR));
    check_members(F, "ip=1", "s0", INT64_MIN, INT64_MAX, 10, "g c d");
}

static void test_window_members_order(void **state)
{
    struct fx *F = *state;
    char **v = (char **)1;
    size_t n = 5;

    OK(store_window_add(F->s, "id-1", "w", "b", T0 + 100, DAY, ERR));
    OK(store_window_add(F->s, "id-1", "w", "a", T0 + 100, DAY, ERR));
    OK(store_window_add(F->s, "id-1", "w", "c", T0 + 50, DAY, ERR));
    OK(store_window_add(F->s, "id-1", "w", "aa", T0 + 100, DAY, ERR));
    OK(store_window_add(F->s, "id-1", "w", "B", T0 + 100, DAY, ERR));
    OK(store_window_add(F->s, "id-1", "w", "d", T0 + 200, DAY, ERR));
    /* oldest first, ties by member bytes */
    check_members(F, "id-1", "w", T0, T0 + 1000, 10, "c B a aa b d");
    check_members(F, "id-1", "w", T0, T0 + 1000, 3, "c B a");
    check_members(F, "id-1", "w", T0, T0 + 1000, 1, "c");
    check_members(F, "id-1", "w", T0 + 50, T0 + 100, 10, "B a aa b");
    check_members(F, "id-1", "w", T0 + 50, T0 + 100, SIZE_MAX, "B a aa b");
    OK(store_window_members(F->s, "id-1", "w", T0, T0 + 1000, 0, &v, &n, ERR));
    assert_null(v);
    assert_int_equal(n, 0);
    v = (char **)1;
    OK(store_window_members(F->s, "id-1", "missing", T0, T0 + 1000, 10, &v, &n, ERR));
    assert_null(v);
    assert_int_equal(n, 0);
}

static void test_window_scopes(void **state)
{
    struct fx *F = *state;

    OK(store_window_add(F->s, "id-1", "w", "e1", T0, DAY, ERR));
    OK(store_window_add(F->s, "id-2", "w", "e1", T0, DAY, ERR));
    OK(store_window_add(F->s, "id-2", "w", "e2", T0, DAY, ERR));
    OK(store_window_add(F->s, "{id-1}", "w", "e3", T0, DAY, ERR));
    OK(store_window_add(F->s, "ip=203.0.113.7", "w", "e4", T0, DAY, ERR));
    OK(store_window_add(F->s, "id-1", "w2", "e5", T0, DAY, ERR));
    assert_int_equal(wcount(F, "id-1", "w", T0 - 1, T0), 1);
    assert_int_equal(wcount(F, "id-2", "w", T0 - 1, T0), 2);
    assert_int_equal(wcount(F, "{id-1}", "w", T0 - 1, T0), 1);
    assert_int_equal(wcount(F, "ip=203.0.113.7", "w", T0 - 1, T0), 1);
    assert_int_equal(wcount(F, "id-1", "w2", T0 - 1, T0), 1);
    /* a distinct count of the same name is another key */
    assert_int_equal(dcount(F, "id-1", "w", T0 - 1, T0), 0);
}

/* --- Distinct counts and known sets -------------------------------------------- */

static void test_distinct_latest(void **state)
{
    struct fx *F = *state;

    OK(store_distinct_add(F->s, "id-1", "ips", "ip1", T0 + 100, DAY, ERR));
    OK(store_distinct_add(F->s, "id-1", "ips", "ip2", T0 + 200, DAY, ERR));
    OK(store_distinct_add(F->s, "id-1", "ips", "ip1", T0 + 50, DAY, ERR)); /* older: ignored */
    assert_int_equal(dcount(F, "id-1", "ips", T0, T0 + 1000), 2);
    assert_int_equal(dcount(F, "id-1", "ips", T0 + 60, T0 + 1000), 2);
    assert_int_equal(dcount(F, "id-1", "ips", T0, T0 + 100), 1);
    assert_int_equal(dcount(F, "id-1", "ips", T0, T0 + 99), 0);
    OK(store_distinct_add(F->s, "id-1", "ips", "ip1", T0 + 300, DAY, ERR)); /* newer: moves */
    assert_int_equal(dcount(F, "id-1", "ips", T0, T0 + 200), 1);
    assert_int_equal(dcount(F, "id-1", "ips", T0 + 200, T0 + 300), 1);
    assert_int_equal(dcount(F, "id-1", "ips", T0, T0 + 300), 2);
    /* pruned by the latest time */
    OK(store_distinct_add(F->s, "id-1", "ips", "ip3", T0 + 1000, 750, ERR));
    assert_int_equal(dcount(F, "id-1", "ips", INT64_MIN, INT64_MAX), 2);
    assert_int_equal(dcount(F, "id-1", "ips", T0 + 200, T0 + 300), 1);
    OK(store_distinct_add(F->s, "id-1", "ips", "ip3", T0 + 2000, 500, ERR));
    assert_int_equal(dcount(F, "id-1", "ips", INT64_MIN, INT64_MAX), 1);
    assert_int_equal(dcount(F, "id-1", "other", INT64_MIN, INT64_MAX), 0);
}

static void test_set_add_get(void **state)
{
    struct fx *F = *state;
    int64_t ts = -1;
    int found = -1;

    OK(store_set_get(F->s, "id-1", "devices", "dev1", &found, &ts, ERR));
    assert_int_equal(found, 0);
    OK(store_set_add(F->s, "id-1", "devices", "dev1", T0 + 100, 90 * DAY, ERR));
    OK(store_set_get(F->s, "id-1", "devices", "dev1", &found, &ts, ERR));
    assert_int_equal(found, 1);
    assert_int_equal(ts, T0 + 100);
    OK(store_set_add(F->s, "id-1", "devices", "dev1", T0 + 50, 90 * DAY, ERR));
    OK(store_set_get(F->s, "id-1", "devices", "dev1", &found, &ts, ERR));
    assert_int_equal(ts, T0 + 100);
    OK(store_set_add(F->s, "id-1", "devices", "dev1", T0 + 200, 90 * DAY, ERR));
    OK(store_set_get(F->s, "id-1", "devices", "dev1", &found, &ts, ERR));
    assert_int_equal(ts, T0 + 200);
    /* the first learning is the time of the first add */
    OK(store_set_first(F->s, "id-1", "devices", "dev1", &found, &ts, ERR));
    assert_int_equal(found, 1);
    assert_int_equal(ts, T0 + 100);
    OK(store_set_first(F->s, "id-1", "devices", "dev2", &found, &ts, ERR));
    assert_int_equal(found, 0);
    /* a value that looks like the encoding of another is still its own */
    OK(store_set_get(F->s, "id-1", "devices", "l:dev1", &found, &ts, ERR));
    assert_int_equal(found, 0);
    OK(store_set_get(F->s, "id-1", "devices", "dev2", &found, &ts, ERR));
    assert_int_equal(found, 0);
    OK(store_set_get(F->s, "id-2", "devices", "dev1", &found, &ts, ERR));
    assert_int_equal(found, 0);
    OK(store_set_get(F->s, "id-1", "countries", "dev1", &found, NULL, ERR));
    assert_int_equal(found, 0);
    /* ages: a member older than ts - keep is forgotten */
    OK(store_set_add(F->s, "id-1", "devices", "dev2", T0 + 90 * DAY + 200, 90 * DAY, ERR));
    OK(store_set_get(F->s, "id-1", "devices", "dev1", &found, &ts, ERR));
    assert_int_equal(found, 1);
    OK(store_set_add(F->s, "id-1", "devices", "dev2", T0 + 90 * DAY + 201, 90 * DAY, ERR));
    OK(store_set_get(F->s, "id-1", "devices", "dev1", &found, &ts, ERR));
    assert_int_equal(found, 0);
    OK(store_set_get(F->s, "id-1", "devices", "dev2", &found, &ts, ERR));
    assert_int_equal(found, 1);
    assert_int_equal(ts, T0 + 90 * DAY + 201);
    /* the first learning of dev1 aged out with it; dev2's is its first add */
    OK(store_set_first(F->s, "id-1", "devices", "dev1", &found, &ts, ERR));
    assert_int_equal(found, 0);
    OK(store_set_first(F->s, "id-1", "devices", "dev2", &found, &ts, ERR));
    assert_int_equal(ts, T0 + 90 * DAY + 200);
}

static void assert_hfield(const char *key, const char *field, const char *want);
static long long pttl(const char *key);

/* The state marker: absent in a new store, then found with its time. */
static void test_marker(void **state)
{
    struct fx *F = *state;
    char since[40] = "x";
    int found = -1;

    OK(store_marker_get(F->s, &found, since, sizeof since, ERR));
    assert_int_equal(found, 0);
    OK(store_marker_set(F->s, T0, "host-1", ERR));
    OK(store_marker_get(F->s, &found, since, sizeof since, ERR));
    assert_int_equal(found, 1);
    assert_string_equal(since, "2026-11-24T10:00:00Z");
    int layout = 0;
    OK(store_marker_layout(F->s, &found, &layout, ERR));
    assert_int_equal(found, 1);
    assert_int_equal(layout, STORE_LAYOUT);
    if (F->redis) {
        assert_hfield("t:{detector}:marker", "layout", "2");
        freeReplyObject(raw("HDEL t:{detector}:marker layout")); /* an earlier version's */
        OK(store_marker_layout(F->s, &found, &layout, ERR));
        assert_int_equal(layout, 1);
        assert_hfield("t:{detector}:marker", "by", "host-1");
        assert_int_equal(pttl("t:{detector}:marker"), -1); /* never expires */
    }
}

/* --- Requests, cooldowns, resets -------------------------------------------------- */

static void test_request(void **state)
{
    struct fx *F = *state;
    store_request_t req, got;
    char ip[] = "ip", ipv[] = "203.0.113.7", cn[] = "country", cnv[] = "NL";
    char dv[] = "device_id", dvv[] = "d 1\r\n\xc3\xa9{x}", ts[] = "ts";
    char tsv[] = "2026-11-24T10:00:00Z", evid[] = "event_id", evidv[] = "other";
    char hash[] = "#x", hashv[] = "3";
    int found = -1;

    memset(&req, 0, sizeof req);
    req.ts_us = T0 + 123;
    strcpy(req.event_id, "ev-1");
    req.name[0] = ip;
    req.value[0] = ipv;
    req.name[1] = cn;
    req.value[1] = cnv;
    req.name[2] = dv;
    req.value[2] = dvv;
    req.nfields = 3;
    OK(store_request_put(F->s, "id-1", "login", "req-1", &req, DAY, ERR));
    OK(store_request_get(F->s, "id-1", "login", "req-1", &found, &got, ERR));
    assert_int_equal(found, 1);
    assert_int_equal(got.ts_us, T0 + 123);
    assert_string_equal(got.event_id, "ev-1");
    assert_int_equal(got.nfields, 3); /* sorted by name */
    assert_string_equal(got.name[0], "country");
    assert_string_equal(got.value[0], "NL");
    assert_string_equal(got.name[1], "device_id");
    assert_string_equal(got.value[1], dvv);
    assert_string_equal(got.name[2], "ip");
    assert_string_equal(got.value[2], "203.0.113.7");
    store_request_clear(&got);
    assert_int_equal(got.nfields, 0);

    /* a later put replaces the whole request */
    req.ts_us = T0 + 456;
    strcpy(req.event_id, "ev-2");
    req.nfields = 1;
    OK(store_request_put(F->s, "id-1", "login", "req-1", &req, DAY, ERR));
    OK(store_request_get(F->s, "id-1", "login", "req-1", &found, &got, ERR));
    assert_int_equal(found, 1);
    assert_int_equal(got.ts_us, T0 + 456);
    assert_string_equal(got.event_id, "ev-2");
    assert_int_equal(got.nfields, 1);
    assert_string_equal(got.name[0], "ip");
    store_request_clear(&got);

    /* no fields at all */
    req.nfields = 0;
    OK(store_request_put(F->s, "id-1", "login", "req-2", &req, DAY, ERR));
    OK(store_request_get(F->s, "id-1", "login", "req-2", &found, &got, ERR));
    assert_int_equal(found, 1);
    assert_int_equal(got.nfields, 0);
    assert_string_equal(got.event_id, "ev-2");
    store_request_clear(&got);

    OK(store_request_get(F->s, "id-1", "login", "req-3", &found, &got, ERR));
    assert_int_equal(found, 0);
    assert_int_equal(got.nfields, 0);
    store_request_clear(&got);
    OK(store_request_get(F->s, "id-2", "login", "req-1", &found, &got, ERR));
    assert_int_equal(found, 0);
    OK(store_request_get(F->s, "id-1", "other", "req-1", &found, &got, ERR));
    assert_int_equal(found, 0);

    /* fields named like the hash's own "ts" and "event_id" are kept apart */
    req.ts_us = T0 + 789;
    strcpy(req.event_id, "ev-3");
    req.name[0] = ts;
    req.value[0] = tsv;
    req.name[1] = evid;
    req.value[1] = evidv;
    req.name[2] = hash;
    req.value[2] = hashv;
    req.nfields = 3;
    OK(store_request_put(F->s, "id-1", "login", "req-4", &req, DAY, ERR));
    OK(store_request_get(F->s, "id-1", "login", "req-4", &found, &got, ERR));
    assert_int_equal(found, 1);
    assert_int_equal(got.ts_us, T0 + 789);
    assert_string_equal(got.event_id, "ev-3");
    assert_int_equal(got.nfields, 3);
    assert_string_equal(got.name[0], "#x");
    assert_string_equal(got.value[0], "3");
    assert_string_equal(got.name[1], "event_id");
    assert_string_equal(got.value[1], "other");
    assert_string_equal(got.name[2], "ts");
    assert_string_equal(got.value[2], "2026-11-24T10:00:00Z");
    store_request_clear(&got);
    req.nfields = STORE_REQ_MAX_FIELDS + 1;
    assert_int_equal(store_request_put(F->s, "id-1", "login", "req-1", &req, DAY, ERR), -1);
}

/* put request id at ts (one field, ip = id) */
static void req_put(struct fx *F, const char *scope, const char *id, int64_t ts, int64_t keep)
{
    store_request_t req;

    test_request_ip(&req, ts, id, id);
    OK(store_request_put(F->s, scope, "login", id, &req, keep, ERR));
}

/* "1" when request id is stored (with its own fields), "0" when not */
static int req_has(struct fx *F, const char *scope, const char *id)
{
    store_request_t got;
    int found = -1;

    OK(store_request_get(F->s, scope, "login", id, &found, &got, ERR));
    if (found) {
        assert_int_equal(got.nfields, 1);
        assert_string_equal(got.value[0], id);
        store_request_clear(&got);
    }
    return found;
}

/* The windows, known sets and requests of a scope share one sorted set:
 * each is counted, listed, pruned and ordered by its own members and keep
 * only. */
static void test_scope_shares_key(void **state)
{
    struct fx *F = *state;
    int found = 0;
    int64_t ts = 0;

    OK(store_set_add(F->s, "id-1", "known", "192.0.2.1", T0, 90 * DAY, ERR));
    OK(store_window_add(F->s, "id-1", "long", "e1", T0, DAY, ERR));
    OK(store_window_add(F->s, "id-1", "short", "e1", T0, 600 * SEC, ERR));
    OK(store_window_add(F->s, "id-1", "short", "e2", T0 + 60 * SEC, 600 * SEC, ERR));
    /* the same member in two windows is two members */
    assert_int_equal(wcount(F, "id-1", "long", INT64_MIN, INT64_MAX), 1);
    assert_int_equal(wcount(F, "id-1", "short", INT64_MIN, INT64_MAX), 2);
    check_members(F, "id-1", "short", INT64_MIN, INT64_MAX, 10, "e1 e2");
    check_members(F, "id-1", "short", INT64_MIN, INT64_MAX, 1, "e1");
    check_members(F, "id-1", "long", INT64_MIN, INT64_MAX, 10, "e1");
    /* a window named like a prefix of another is not that window */
    assert_int_equal(wcount(F, "id-1", "shor", INT64_MIN, INT64_MAX), 0);
    assert_int_equal(wcount(F, "id-1", "known", INT64_MIN, INT64_MAX), 0);
    /* an add two hours on prunes the short window only */
    OK(store_window_add(F->s, "id-1", "short", "e3", T0 + 7200 * SEC, 600 * SEC, ERR));
    check_members(F, "id-1", "short", INT64_MIN, INT64_MAX, 10, "e3");
    check_members(F, "id-1", "long", INT64_MIN, INT64_MAX, 10, "e1");
    OK(store_set_get(F->s, "id-1", "known", "192.0.2.1", &found, &ts, ERR));
    assert_int_equal(found, 1);
    assert_int_equal(ts, T0);
    /* a set's add two days on prunes the long window only when it is its own */
    OK(store_set_add(F->s, "id-1", "known", "192.0.2.2", T0 + 2 * DAY, 90 * DAY, ERR));
    check_members(F, "id-1", "long", INT64_MIN, INT64_MAX, 10, "e1");
    OK(store_window_add(F->s, "id-1", "long", "e4", T0 + 2 * DAY, DAY, ERR));
    check_members(F, "id-1", "long", INT64_MIN, INT64_MAX, 10, "e4");
    OK(store_set_first(F->s, "id-1", "known", "192.0.2.1", &found, &ts, ERR));
    assert_int_equal(found, 1);
    assert_int_equal(ts, T0);
    /* a shared window's latest time is its own, not the key's: "s" at T0
     * keeps T0 - 500 although the other windows hold later times */
    OK(store_window_add_shared(F->s, "id-1", "s", "a", T0, 1000, ERR));
    OK(store_window_add_shared(F->s, "id-1", "s", "b", T0 - 500, 1000, ERR));
    check_members(F, "id-1", "s", INT64_MIN, INT64_MAX, 10, "b a");
    OK(store_window_add_shared(F->s, "id-1", "s", "c", T0 - 1500, 1000, ERR));
    check_members(F, "id-1", "s", INT64_MIN, INT64_MAX, 10, "b a");
    /* a name holding the separator is refused */
    assert_int_equal(store_window_add(F->s, "id-1",
                                      "a\x1f"
                                      "b",
                                      "e", T0, DAY, ERR),
                     -1);
    assert_non_null(strstr(F->err, "0x1f"));
}

/* The requests of a scope are pruned by event time from the newest one,
 * whatever the order of the puts. */
static void test_request_pruning(void **state)
{
    struct fx *F = *state;
    const int64_t keep = 3600 * SEC;
    /* r1..r5 at these times; r5 makes the line T0 + 1h30m - 1h */
    static const char *ids[] = {"r1", "r2", "r3", "r4", "r5"};
    const int64_t at[] = {T0, T0 + 29 * 60 * SEC, T0 + 30 * 60 * SEC, T0 + 60 * 60 * SEC,
                          T0 + 90 * 60 * SEC};
    static const int want[] = {0, 0, 1, 1, 1};
    static const int orders[3][5] = {{0, 1, 2, 3, 4}, {4, 3, 2, 1, 0}, {2, 4, 0, 3, 1}};
    char scope[16];

    for (int o = 0; o < 3; o++) {
        snprintf(scope, sizeof scope, "id-p%d", o);
        for (int i = 0; i < 5; i++)
            req_put(F, scope, ids[orders[o][i]], at[orders[o][i]], keep);
        for (int i = 0; i < 5; i++)
            if (req_has(F, scope, ids[i]) != want[i])
                fail_msg("order %d: %s found %d, want %d", o, ids[i], !want[i], want[i]);
    }
    /* the line is inclusive: exactly keep before the newest is kept */
    req_put(F, "id-q", "a", T0, keep);
    req_put(F, "id-q", "b", T0 + keep, keep);
    assert_int_equal(req_has(F, "id-q", "a"), 1);
    req_put(F, "id-q", "c", T0 + keep + 1, keep);
    assert_int_equal(req_has(F, "id-q", "a"), 0);
    assert_int_equal(req_has(F, "id-q", "b"), 1);
    /* the same id put again at a later time moves, and is not pruned by itself */
    req_put(F, "id-q", "b", T0 + 5 * keep, keep);
    assert_int_equal(req_has(F, "id-q", "b"), 1);
    assert_int_equal(req_has(F, "id-q", "c"), 0);
    /* an id that prefixes another is a different request */
    req_put(F, "id-q", "b2", T0 + 5 * keep, keep);
    assert_int_equal(req_has(F, "id-q", "b2"), 1);
    assert_int_equal(req_has(F, "id-q", "b"), 1);
}

static void test_cooldown(void **state)
{
    struct fx *F = *state;
    char ev[STORE_ID_MAX];
    int64_t ts = -1;
    int found = -1;

    OK(store_cooldown_get(F->s, "id-1", "R1", &found, &ts, ev, ERR));
    assert_int_equal(found, 0);
    OK(store_cooldown_set(F->s, "id-1", "R1", T0 + 100, "ev 1", DAY, ERR));
    OK(store_cooldown_get(F->s, "id-1", "R1", &found, &ts, ev, ERR));
    assert_int_equal(found, 1);
    assert_int_equal(ts, T0 + 100);
    assert_string_equal(ev, "ev 1");
    /* a set replaces (the engine decides whether to set) */
    OK(store_cooldown_set(F->s, "id-1", "R1", T0 + 50, "ev-0", DAY, ERR));
    OK(store_cooldown_get(F->s, "id-1", "R1", &found, &ts, ev, ERR));
    assert_int_equal(ts, T0 + 50);
    assert_string_equal(ev, "ev-0");
    OK(store_cooldown_get(F->s, "id-1", "R2", &found, &ts, ev, ERR));
    assert_int_equal(found, 0);
    OK(store_cooldown_get(F->s, "id-2", "R1", &found, NULL, NULL, ERR));
    assert_int_equal(found, 0);
}

/* --- Blocks ------------------------------------------------------------------------ */

static void make_block(store_block_t *b, const char *rule, int64_t since, int64_t expires)
{
    memset(b, 0, sizeof *b);
    snprintf(b->rule, sizeof b->rule, "%s", rule);
    snprintf(b->reason, sizeof b->reason, "Many failed logins \"from\" a new device: %s.",
             "\xc3\xa9t\xc3\xa9");
    b->since_us = since;
    b->expires_us = expires;
    snprintf(b->action_id, sizeof b->action_id, "act-%s", rule);
}

static void assert_block_equal(const store_block_t *a, const store_block_t *b)
{
    assert_string_equal(a->rule, b->rule);
    assert_string_equal(a->reason, b->reason);
    assert_int_equal(a->since_us, b->since_us);
    assert_int_equal(a->expires_us, b->expires_us);
    assert_string_equal(a->action_id, b->action_id);
}

static void test_block(void **state)
{
    struct fx *F = *state;
    /* whole seconds, milliseconds and microseconds must all round-trip */
    int64_t now = wall_us() / SEC * SEC;
    store_block_t b, a, got;
    int found = -1;

    make_block(&b, "R1", T0 + 123000, now + 3600 * SEC + 456);
    make_block(&a, "R2", T0 + 7, 0);
    OK(store_block_get(F->s, "id-1", NULL, &found, &got, ERR));
    assert_int_equal(found, 0);
    OK(store_block_set(F->s, "id-1", NULL, &b, ERR));
    OK(store_block_get(F->s, "id-1", NULL, &found, &got, ERR));
    assert_int_equal(found, 1);
    assert_block_equal(&got, &b);
    OK(store_block_get(F->s, "id-1", "app-1", &found, &got, ERR));
    assert_int_equal(found, 0);
    OK(store_block_set(F->s, "id-1", "app-1", &a, ERR));
    OK(store_block_get(F->s, "id-1", "app-1", &found, &got, ERR));
    assert_int_equal(found, 1);
    assert_block_equal(&got, &a);
    OK(store_block_get(F->s, "id-1", "app-2", &found, &got, ERR));
    assert_int_equal(found, 0);
    OK(store_block_get(F->s, "id-2", NULL, &found, &got, ERR));
    assert_int_equal(found, 0);

    /* replace: a block without expiry */
    make_block(&b, "R3", T0, 0);
    OK(store_block_set(F->s, "id-1", NULL, &b, ERR));
    OK(store_block_get(F->s, "id-1", NULL, &found, &got, ERR));
    assert_int_equal(found, 1);
    assert_block_equal(&got, &b);
    make_block(&b, "R4", T0 + SEC, now + 60 * SEC);
    OK(store_block_set(F->s, "id-1", NULL, &b, ERR));
    OK(store_block_get(F->s, "id-1", NULL, &found, &got, ERR));
    assert_block_equal(&got, &b);

    /* clearing one leaves the other */
    OK(store_block_clear(F->s, "id-1", NULL, ERR));
    OK(store_block_get(F->s, "id-1", NULL, &found, &got, ERR));
    assert_int_equal(found, 0);
    OK(store_block_get(F->s, "id-1", "app-1", &found, &got, ERR));
    assert_int_equal(found, 1);
    OK(store_block_clear(F->s, "id-1", "app-1", ERR));
    OK(store_block_get(F->s, "id-1", "app-1", &found, &got, ERR));
    assert_int_equal(found, 0);
    OK(store_block_clear(F->s, "id-1", "app-1", ERR)); /* absent: fine */

    /* Authenticator ids with spaces, '%', braces, non-ASCII, of any length:
     * each its own block, none of them the identity's. */
    {
        static const char *const ids[] = {
            "app \xc3\xa9 1", "app%20\xc3\xa9%201", "}", "{", "%7D", ""};
        char *longid = malloc(4001);
        assert_non_null(longid);
        memset(longid, 'a', 4000);
        longid[4000] = '\0';
        for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
            make_block(&b, ids[i][0] ? ids[i] : "empty", T0 + (int64_t)i, 0);
            OK(store_block_set(F->s, "id-1", ids[i], &b, ERR));
        }
        make_block(&b, "long", T0, 0);
        OK(store_block_set(F->s, "id-1", longid, &b, ERR));
        for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
            OK(store_block_get(F->s, "id-1", ids[i], &found, &got, ERR));
            assert_int_equal(found, 1);
            assert_string_equal(got.rule, ids[i][0] ? ids[i] : "empty");
        }
        OK(store_block_get(F->s, "id-1", longid, &found, &got, ERR));
        assert_int_equal(found, 1);
        assert_string_equal(got.rule, "long");
        OK(store_block_get(F->s, "id-1", NULL, &found, &got, ERR));
        assert_int_equal(found, 0);
        OK(store_block_clear(F->s, "id-1", "}", ERR));
        OK(store_block_get(F->s, "id-1", "}", &found, &got, ERR));
        assert_int_equal(found, 0);
        OK(store_block_get(F->s, "id-1", "%7D", &found, &got, ERR));
        assert_int_equal(found, 1);
        free(longid);
    }
}

/* --- Activity list and breaker ---------------------------------------------------------- */

static void test_activity(void **state)
{
    struct fx *F = *state;

    check_activity(F, "id-1", 10, "");
    OK(store_activity_push(F->s, "id-1", "{\"n\":1}", 100, ERR));
    OK(store_activity_push(F->s, "id-1", "{\"n\":2}", 100, ERR));
    OK(store_activity_push(F->s, "id-1", "{\"n\":3}", 100, ERR));
    check_activity(F, "id-1", 10, "{\"n\":3} {\"n\":2} {\"n\":1}");
    /* a redelivered entry changes nothing */
    OK(store_activity_push(F->s, "id-1", "{\"n\":2}", 100, ERR));
    OK(store_activity_push(F->s, "id-1", "{\"n\":1}", 100, ERR));
    check_activity(F, "id-1", 10, "{\"n\":3} {\"n\":2} {\"n\":1}");
    /* capped, newest first */
    OK(store_activity_push(F->s, "id-1", "{\"n\":4}", 3, ERR));
    check_activity(F, "id-1", 10, "{\"n\":4} {\"n\":3} {\"n\":2}");
    check_activity(F, "id-1", 2, "{\"n\":4} {\"n\":3}");
    check_activity(F, "id-1", 0, "");
    OK(store_activity_push(F->s, "id-1", "{\"n\":5}", 2, ERR));
    check_activity(F, "id-1", 10, "{\"n\":5} {\"n\":4}");
    check_activity(F, "id-2", 10, "");
    OK(store_activity_push(F->s, "id-2", "{\"n\":1}", 1, ERR));
    OK(store_activity_push(F->s, "id-2", "{\"n\":2}", 1, ERR));
    check_activity(F, "id-2", 10, "{\"n\":2}");
    OK(store_activity_push(F->s, "id-2", "{\"n\":3}", 0, ERR));
    check_activity(F, "id-2", 10, "");
}

/* --- Keys ---------------------------------------------------------------------------------- */

static void check_key(const store_t *s, const char *scope, const char *suffix, const char *want)
{
    char buf[256];
    int n = store_key(s, buf, sizeof buf, scope, suffix);

    assert_int_equal(n, (int)strlen(want));
    assert_string_equal(buf, want);
}

static void test_key_escaping(void **state)
{
    struct fx *F = *state;
    char buf[64];

    assert_string_equal(store_prefix(F->s), "t:");
    check_key(F->s, "id-1", "activity", "t:{id-1}:activity");
    check_key(F->s, "{victim}", "block", "t:{%7Bvictim%7D}:block");
    check_key(F->s, "a\r\nb", "x", "t:{a%0D%0Ab}:x");
    /* Only the scope is escaped: after the tag, braces do not change the
     * slot and keys are binary-safe. */
    check_key(F->s, "100%", "a b", "t:{100%25}:a b");
    check_key(F->s, "\x7f\xc3\xa9\x01", "w:x}y{", "t:{%7F%C3%A9%01}:w:x}y{");
    check_key(F->s, "id-1", "block:app \xc3\xa9 1", "t:{id-1}:block:app \xc3\xa9 1");
    check_key(F->s, "id-1", "block:%7D{}%", "t:{id-1}:block:%7D{}%");
    /* Redis Cluster hashes the text between the first '{' and the first '}'
     * after it: still the scope, whatever the suffix holds. */
    {
        char key[128];
        assert_true(store_key(F->s, key, sizeof key, "id-1", "block:}{x} \xf0\x9f\x94\x91") > 0);
        const char *open = strchr(key, '{'), *close = strchr(open, '}');
        assert_int_equal(close - open - 1, 4);
        assert_memory_equal(open + 1, "id-1", 4);
    }
    check_key(F->s, "ip=203.0.113.7", "d:ips", "t:{ip=203.0.113.7}:d:ips");
    check_key(F->s, "", "", "t:{}:");
    /* exactly enough room, and one byte less */
    assert_int_equal(store_key(F->s, buf, 18, "id-1", "activity"), 17);
    assert_int_equal(store_key(F->s, buf, 17, "id-1", "activity"), -1);
    assert_int_equal(store_key(F->s, buf, 9, "{", "x"), -1);
    assert_int_equal(store_key(F->s, buf, 10, "{", "x"), 9);
    assert_string_equal(buf, "t:{%7B}:x");
    assert_int_equal(store_key(F->s, buf, 8, "x", "{}"), -1);
    assert_int_equal(store_key(F->s, buf, 9, "x", "{}"), 8);
    assert_string_equal(buf, "t:{x}:{}");
    assert_int_equal(store_key(F->s, buf, 0, "id-1", "x"), -1);
    assert_int_equal(store_key(F->s, buf, sizeof buf, NULL, "x"), -1);
}

/* A long scope does not fit the stack buffer of the store's keys. */
static void test_long_names(void **state)
{
    struct fx *F = *state;
    char scope[600], member[400];
    int64_t ts = 0;
    int found = 0;

    memset(scope, '{', sizeof scope - 1);
    scope[sizeof scope - 1] = '\0';
    memset(member, 'm', sizeof member - 1);
    member[sizeof member - 1] = '\0';
    OK(store_set_add(F->s, scope, "s", member, T0, DAY, ERR));
    OK(store_set_get(F->s, scope, "s", member, &found, &ts, ERR));
    assert_int_equal(found, 1);
    assert_int_equal(ts, T0);
    check_members(F, scope, "w", T0 - 1, T0, 10, "");
}

/* --- Against a model ---------------------------------------------------------------------- */

static uint64_t rng_state = 88172645463325252ULL;

static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Distinct adds, nearly in time order, against a brute-force model. */
static void test_distinct_model(void **state)
{
    enum { MEMBERS = 300, OPS = 3000 };
    struct fx *F = *state;
    static int64_t latest[MEMBERS];
    const int64_t keep = 2000;
    int64_t now = T0, lo, hi;
    char member[16];
    long want, got;
    int i, j, k;

    rng_state = 42;
    for (i = 0; i < MEMBERS; i++)
        latest[i] = INT64_MIN;
    for (k = 0; k < OPS; k++) {
        int64_t ts = now - (int64_t)(rnd() % 300);

        now += (int64_t)(rnd() % 20);
        i = (int)(rnd() % MEMBERS);
        snprintf(member, sizeof member, "m%d", i);
        OK(store_distinct_add(F->s, "ip=1", "d", member, ts, keep, ERR));
        if (latest[i] < ts) latest[i] = ts;
        for (j = 0; j < MEMBERS; j++)
            if (latest[j] != INT64_MIN && latest[j] < ts - keep) latest[j] = INT64_MIN;
        lo = now - (int64_t)(rnd() % 3000);
        hi = lo + (int64_t)(rnd() % 3000);
        want = 0;
        for (j = 0; j < MEMBERS; j++)
            if (latest[j] != INT64_MIN && latest[j] > lo && latest[j] <= hi) want++;
        got = dcount(F, "ip=1", "d", lo, hi);
        if (got != want)
            fail_msg("op %d: count (%lld, %lld] = %ld, want %ld", k, (long long)(lo - T0),
                     (long long)(hi - T0), got, want);
    }
}

/* A big distinct set keyed by IP stays fast in memory. */
static void test_mem_large_set(void **state)
{
    struct fx *F = *state;
    char member[32];
    double t = mono_s();
    long n;
    int i;

    /* one add per 100 ms, 50000 ids in turn, kept 2 h: every add after the
     * first 50000 moves a member from the front to the end */
    for (i = 0; i < 200000; i++) {
        int64_t ts = T0 + (int64_t)i * SEC / 10;

        snprintf(member, sizeof member, "id-%d", i % 50000);
        OK(store_distinct_add(F->s, "ip=203.0.113.7", "ids", member, ts, 7200 * SEC, ERR));
        if (i % 10 == 0) {
            n = dcount(F, "ip=203.0.113.7", "ids", ts - 600 * SEC, ts);
            assert_int_equal(n, i < 6000 ? i + 1 : 6000);
        }
    }
    n = dcount(F, "ip=203.0.113.7", "ids", INT64_MIN, INT64_MAX);
    assert_int_equal(n, 50000);
    n = dcount(F, "ip=203.0.113.7", "ids", T0 + 199999 * SEC / 10 - 100 * SEC,
               T0 + 199999 * SEC / 10);
    assert_int_equal(n, 1000);
    /* a shorter keep prunes most of them */
    OK(store_distinct_add(F->s, "ip=203.0.113.7", "ids", "late", T0 + 200000 * SEC / 10, 60 * SEC,
                          ERR));
    n = dcount(F, "ip=203.0.113.7", "ids", INT64_MIN, INT64_MAX);
    assert_int_equal(n, 601);
    print_message("200000 distinct adds and 20000 counts: %.3f s\n", mono_s() - t);
}

/* --- Redis only ---------------------------------------------------------------------------- */

static void assert_type(const char *key, const char *type)
{
    redisReply *rep = raw("TYPE %s", key);

    assert_int_equal(rep->type, REDIS_REPLY_STATUS);
    if (strcmp(rep->str, type) != 0) fail_msg("TYPE %s = %s, want %s", key, rep->str, type);
    freeReplyObject(rep);
}

static void assert_hfield(const char *key, const char *field, const char *want)
{
    redisReply *rep = raw("HGET %s %s", key, field);

    if (rep->type != REDIS_REPLY_STRING) fail_msg("HGET %s %s: no value", key, field);
    assert_string_equal(rep->str, want);
    freeReplyObject(rep);
}

static long long pttl(const char *key)
{
    redisReply *rep = raw("PTTL %s", key);
    long long v;

    assert_int_equal(rep->type, REDIS_REPLY_INTEGER);
    v = rep->integer;
    freeReplyObject(rep);
    return v;
}

static void test_redis_keys(void **state)
{
    struct fx *F = *state;
    char ip[] = "ip", ipv[] = "192.0.2.1", ts[] = "ts", tsv[] = "2026-11-24T10:00:00Z";
    store_block_t b;
    store_request_t req;
    redisReply *rep;

    OK(store_activity_push(F->s, "id-1", "{\"kind\":\"alert\"}", 100, ERR));
    assert_type("t:{id-1}:activity", "list");
    rep = raw("LINDEX t:{id-1}:activity 0");
    assert_string_equal(rep->str, "{\"kind\":\"alert\"}");
    freeReplyObject(rep);

    make_block(&b, "R1", T0 + 123000, 4102444800LL * SEC); /* 2100: still in Redis */
    OK(store_block_set(F->s, "id-1", NULL, &b, ERR));
    assert_type("t:{id-1}:block", "hash");
    assert_hfield("t:{id-1}:block", "rule", "R1");
    assert_hfield("t:{id-1}:block", "reason", b.reason);
    assert_hfield("t:{id-1}:block", "since", "2026-11-24T10:00:00.123Z");
    assert_hfield("t:{id-1}:block", "expires", "2100-01-01T00:00:00Z");
    assert_hfield("t:{id-1}:block", "action_id", "act-R1");
    rep = raw("HLEN t:{id-1}:block");
    assert_int_equal(rep->integer, 5);
    freeReplyObject(rep);
    make_block(&b, "R2", T0, 0);
    OK(store_block_set(F->s, "id-1", "app-1", &b, ERR));
    assert_type("t:{id-1}:block:app-1", "hash");
    assert_hfield("t:{id-1}:block:app-1", "since", "2026-11-24T10:00:00Z");
    assert_hfield("t:{id-1}:block:app-1", "expires", "");
    OK(store_activity_push(F->s, "{victim}\r\n", "x", 100, ERR));
    assert_type("t:{%7Bvictim%7D%0D%0A}:activity", "list");
    /* The contract's key of an authenticator block, for any id: the id is
     * written as it is after the tag. */
    make_block(&b, "R3", T0, 0);
    OK(store_block_set(F->s, "id-1", "app \xc3\xa9 1", &b, ERR));
    assert_type("t:{id-1}:block:app \xc3\xa9 1", "hash");
    assert_hfield("t:{id-1}:block:app \xc3\xa9 1", "rule", "R3");
    OK(store_block_set(F->s, "id-1", "100% {x} \xf0\x9f\x94\x91", &b, ERR));
    assert_type("t:{id-1}:block:100% {x} \xf0\x9f\x94\x91", "hash");

    /* windows and known sets: one sorted set per scope */
    OK(store_window_add(F->s, "id-1", "logins", "e1", T0 + 1, 3600 * SEC, ERR));
    assert_type("t:{id-1}:z", "zset");
    rep = raw("ZSCORE t:{id-1}:z %s", "wlogins\x1f"
                                      "e1");
    assert_string_equal(rep->str, "1795514400000001");
    freeReplyObject(rep);
    OK(store_distinct_add(F->s, "ip=1.2.3.4", "ids", "id-1", T0, DAY, ERR));
    assert_type("t:{ip=1.2.3.4}:d:ids", "zset");
    OK(store_set_add(F->s, "id-1", "devices", "d1", T0 + 2, DAY, ERR));
    rep = raw("ZRANGE t:{id-1}:z 0 -1");
    assert_int_equal(rep->elements, 3);
    assert_string_equal(rep->element[0]->str, "wlogins\x1f"
                                              "e1");
    assert_string_equal(rep->element[1]->str, "fdevices\x1f"
                                              "d1");
    assert_string_equal(rep->element[2]->str, "ldevices\x1f"
                                              "d1");
    freeReplyObject(rep);
    memset(&req, 0, sizeof req);
    strcpy(req.event_id, "ev-1");
    req.name[0] = ip;
    req.value[0] = ipv;
    req.name[1] = ts;
    req.value[1] = tsv;
    req.nfields = 2;
    /* a request: a member of the scope's sorted set, scored with its time;
     * '%' and 0x1f of its id escaped */
    req.ts_us = T0 + 5;
    OK(store_request_put(F->s, "id-1", "login", "req-1", &req, DAY, ERR));
    rep = raw("ZSCORE t:{id-1}:z %s",
              "qlogin\x1freq-1\x1f 4:ev-1 2:ip 9:192.0.2.1 2:ts 20:2026-11-24T10:00:00Z");
    assert_int_equal(rep->type, REDIS_REPLY_STRING);
    assert_string_equal(rep->str, "1795514400000005");
    freeReplyObject(rep);
    OK(store_request_put(F->s, "id-1", "login",
                         "r%1\x1f"
                         "2",
                         &req, DAY, ERR));
    rep = raw("ZSCORE t:{id-1}:z %s",
              "qlogin\x1fr%251%1F2\x1f 4:ev-1 2:ip 9:192.0.2.1 2:ts 20:2026-11-24T10:00:00Z");
    assert_int_equal(rep->type, REDIS_REPLY_STRING);
    freeReplyObject(rep);
    req.ts_us = 0;
    /* a malformed record (written by hand) is as if absent, and pruned by
     * the next put a keep later */
    freeReplyObject(raw("ZADD t:{id-m}:z %lld %s", (long long)T0,
                        "qlogin\x1f"
                        "bad\x1f"
                        "12x 3:ev"));
    freeReplyObject(raw("ZADD t:{id-m}:z %lld %s", (long long)T0,
                        "qlogin\x1f"
                        "cut\x1f 99:ev-1"));
    assert_int_equal(req_has(F, "id-m", "bad"), 0);
    assert_int_equal(req_has(F, "id-m", "cut"), 0);
    req_put(F, "id-m", "good", T0 + 2 * DAY, DAY);
    assert_int_equal(req_has(F, "id-m", "good"), 1);
    rep = raw("ZCARD t:{id-m}:z");
    assert_int_equal(rep->integer, 1);
    freeReplyObject(rep);
    /* a record (the outbox) has a key of its own */
    OK(store_record_put(F->s, "id-1", "login", "req-1", &req, DAY, ERR));
    assert_type("t:{id-1}:r:login:req-1", "hash");
    assert_hfield("t:{id-1}:r:login:req-1", "event_id", "ev-1");
    assert_hfield("t:{id-1}:r:login:req-1", "ts", "0");
    assert_hfield("t:{id-1}:r:login:req-1", "ip", "192.0.2.1");
    assert_hfield("t:{id-1}:r:login:req-1", "#ts", "2026-11-24T10:00:00Z");
    OK(store_cooldown_set(F->s, "id-1", "R1", T0, "ev-1", DAY, ERR));
    rep = raw("GET t:{id-1}:c:R1");
    assert_string_equal(rep->str, "1795514400000000 ev-1");
    freeReplyObject(rep);
}

static void test_redis_ttls(void **state)
{
    struct fx *F = *state;
    int64_t now = wall_us();
    store_block_t b;
    store_request_t req;
    long long t;

    make_block(&b, "R1", now, now + 3600 * SEC);
    OK(store_block_set(F->s, "id-1", NULL, &b, ERR));
    t = pttl("t:{id-1}:block");
    assert_true(t > 3590000 && t <= 3600000);
    OK(store_block_set(F->s, "id-1", "app-1", &b, ERR));
    t = pttl("t:{id-1}:block:app-1");
    assert_true(t > 3590000 && t <= 3600000);
    /* a block until reactivation does not expire, even over one that did */
    make_block(&b, "R1", now, 0);
    OK(store_block_set(F->s, "id-1", NULL, &b, ERR));
    assert_int_equal(pttl("t:{id-1}:block"), -1);
    /* a block that already ended is not kept by Redis */
    make_block(&b, "R1", now - 7200 * SEC, now - 3600 * SEC);
    OK(store_block_set(F->s, "id-1", "app-2", &b, ERR));
    assert_int_equal(pttl("t:{id-1}:block:app-2"), -2);

    /* garbage collection: keep + one day of wall clock */
    OK(store_window_add(F->s, "id-1", "w", "e1", T0, 3600 * SEC, ERR));
    t = pttl("t:{id-1}:z");
    assert_true(t > 90000000 - 10000 && t <= 90000000);
    OK(store_distinct_add(F->s, "id-1", "d", "x", T0, 3600 * SEC, ERR));
    assert_true(pttl("t:{id-1}:d:d") > 90000000 - 10000);
    OK(store_set_add(F->s, "id-2", "s", "x", T0, 3600 * SEC, ERR));
    assert_true(pttl("t:{id-2}:z") > 90000000 - 10000);
    /* the scope's sorted set lives as long as its longest keep: a set kept
     * 90 days, then a window kept 10 minutes, leave 91 days */
    OK(store_set_add(F->s, "id-3", "s", "x", T0, 90 * DAY, ERR));
    OK(store_window_add(F->s, "id-3", "w", "e1", T0, 600 * SEC, ERR));
    t = pttl("t:{id-3}:z");
    assert_true(t > 91LL * 86400000 - 10000 && t <= 91LL * 86400000);
    /* and a longer keep lengthens it */
    OK(store_window_add(F->s, "id-1", "w2", "e1", T0, 7200 * SEC, ERR));
    assert_true(pttl("t:{id-1}:z") > 93600000 - 10000);
    memset(&req, 0, sizeof req);
    OK(store_request_put(F->s, "id-4", "login", "r", &req, 3600 * SEC, ERR));
    assert_true(pttl("t:{id-4}:z") > 90000000 - 10000);
    OK(store_record_put(F->s, "id-1", "login", "r", &req, 3600 * SEC, ERR));
    assert_true(pttl("t:{id-1}:r:login:r") > 90000000 - 10000);
    OK(store_cooldown_set(F->s, "id-1", "R1", T0, "e", 3600 * SEC, ERR));
    assert_true(pttl("t:{id-1}:c:R1") > 90000000 - 10000);
    /* a huge keep does not overflow Redis's expiry */
    OK(store_window_add(F->s, "id-1", "w", "e2", T0, INT64_MAX, ERR));
    assert_true(pttl("t:{id-1}:z") > 0);
}

/* A setting of the server, read for the start-up check of run.c. */
static void test_redis_setting(void **state)
{
    struct fx *F = *state;
    char v[32];
    store_t *m = store_mem_new("t:");

    OK(store_redis_setting(F->s, "zset-max-listpack-value", v, sizeof v, ERR));
    assert_string_equal(v, "64"); /* the suite's server runs with the defaults */
    freeReplyObject(raw("CONFIG SET zset-max-listpack-value 256"));
    OK(store_redis_setting(F->s, "zset-max-listpack-value", v, sizeof v, ERR));
    assert_string_equal(v, "256");
    freeReplyObject(raw("CONFIG SET zset-max-listpack-value 64"));
    assert_int_equal(store_redis_setting(F->s, "no-such-setting", v, sizeof v, ERR), -1);
    assert_non_null(strstr(F->err, "no setting"));
    /* the connection stays usable */
    OK(store_window_add(F->s, "id-1", "w", "e1", T0, DAY, ERR));
    assert_int_equal(store_redis_setting(m, "zset-max-listpack-value", v, sizeof v, ERR), -1);
    store_free(m);
}

static void test_redis_auth_db(void **state)
{
    struct fx *F = *state, extra = {NULL, 1, ""};
    redisContext *c;
    redisReply *rep;
    store_t *s;

    assert_int_equal(test_redis_start(&g_extra), 0);
    c = redisConnect("127.0.0.1", g_extra.port);
    assert_non_null(c);
    rep = redisCommand(c, "CONFIG SET requirepass s3cret");
    assert_non_null(rep);
    freeReplyObject(rep);

    s = store_redis_new("127.0.0.1", g_extra.port, NULL, NULL, 3, "t:", 1000, ERR);
    assert_null(s); /* no password */
    assert_true(F->err[0] != '\0');
    s = store_redis_new("127.0.0.1", g_extra.port, NULL, "wrong", 3, "t:", 1000, ERR);
    assert_null(s);
    assert_true(F->err[0] != '\0');
    g_extra_store = store_redis_new("127.0.0.1", g_extra.port, NULL, "s3cret", 3, "t:", 1000, ERR);
    if (g_extra_store == NULL) fail_msg("store_redis_new: %s", F->err);
    OK(store_activity_push(g_extra_store, "id-1", "x", 10, ERR));
    OK(store_flush(g_extra_store, ERR));
    rep = redisCommand(c, "AUTH s3cret");
    freeReplyObject(rep);
    rep = redisCommand(c, "EXISTS t:{id-1}:activity");
    assert_int_equal(rep->integer, 0); /* not in db 0 */
    freeReplyObject(rep);
    rep = redisCommand(c, "SELECT 3");
    freeReplyObject(rep);
    rep = redisCommand(c, "EXISTS t:{id-1}:activity");
    assert_int_equal(rep->integer, 1);
    freeReplyObject(rep);
    /* reconnect authenticates and selects again */
    OK(store_reconnect(g_extra_store, ERR));
    extra.s = g_extra_store;
    check_activity(&extra, "id-1", 10, "x");
    /* an ACL user limited to the prefix: AUTH user password */
    rep = redisCommand(c, "ACL SETUSER det on >pw2 ~t:* +@all");
    assert_non_null(rep);
    assert_int_not_equal(rep->type, REDIS_REPLY_ERROR);
    freeReplyObject(rep);
    s = store_redis_new("127.0.0.1", g_extra.port, "det", "wrong", 3, "t:", 1000, ERR);
    assert_null(s);
    s = store_redis_new("127.0.0.1", g_extra.port, "det", "pw2", 3, "t:", 1000, ERR);
    if (s == NULL) fail_msg("store_redis_new as an ACL user: %s", F->err);
    extra.s = s;
    check_activity(&extra, "id-1", 10, "x");
    OK(store_reconnect(s, ERR)); /* AUTH user password again */
    check_activity(&extra, "id-1", 10, "x");
    store_free(s);
    redisFree(c);
}

static void test_redis_server_gone(void **state)
{
    struct fx *F = *state;
    double t;
    long n = 0;
    int port;

    /* nobody listening */
    assert_int_equal(test_redis_start(&g_extra), 0);
    port = g_extra.port;
    test_redis_stop(&g_extra);
    assert_null(store_redis_new("127.0.0.1", port, NULL, NULL, 0, "t:", 500, ERR));
    assert_true(F->err[0] != '\0');

    assert_int_equal(test_redis_start_port(&g_extra, port), 0);
    g_extra_store = store_redis_new("127.0.0.1", port, NULL, NULL, 0, "t:", 500, ERR);
    assert_non_null(g_extra_store);
    OK(store_window_add(g_extra_store, "id-1", "w", "e1", T0, DAY, ERR));
    test_redis_stop(&g_extra);

    t = mono_s();
    F->err[0] = '\0';
    /* A write is pipelined: its failure shows at the latest at the flush. */
    int rc = store_window_add(g_extra_store, "id-1", "w", "e2", T0, DAY, ERR);
    if (rc == 0) rc = store_flush(g_extra_store, ERR);
    assert_int_equal(rc, -1);
    assert_true(F->err[0] != '\0');
    assert_true(mono_s() - t < 1.5);
    print_message("server gone: %s\n", F->err);
    /* then every call fails at once */
    F->err[0] = '\0';
    t = mono_s();
    assert_int_equal(store_window_count(g_extra_store, "id-1", "w", 0, T0, &n, ERR), -1);
    assert_true(F->err[0] != '\0');
    assert_true(mono_s() - t < 0.1);
    assert_int_equal(store_reconnect(g_extra_store, ERR), -1);
    assert_true(F->err[0] != '\0');
    assert_int_equal(store_activity_push(g_extra_store, "id-1", "x", 10, ERR), -1);

    /* back on the same port (empty: no persistence) */
    assert_int_equal(test_redis_start_port(&g_extra, port), 0);
    assert_int_equal(store_window_count(g_extra_store, "id-1", "w", 0, T0, &n, ERR), -1);
    OK(store_reconnect(g_extra_store, ERR));
    OK(store_window_add(g_extra_store, "id-1", "w", "e3", T0, DAY, ERR));
    OK(store_window_count(g_extra_store, "id-1", "w", 0, T0, &n, ERR));
    assert_int_equal(n, 1);
}

static void test_redis_timeout(void **state)
{
    struct fx *F = *state;
    double t;
    long n = 0;

    assert_int_equal(test_redis_start(&g_extra), 0);
    g_extra_store = store_redis_new("127.0.0.1", g_extra.port, NULL, NULL, 0, "t:", 300, ERR);
    assert_non_null(g_extra_store);
    OK(store_window_add(g_extra_store, "id-1", "w", "e1", T0, DAY, ERR));
    kill(g_extra.pid, SIGSTOP);
    t = mono_s();
    F->err[0] = '\0';
    assert_int_equal(store_window_count(g_extra_store, "id-1", "w", 0, T0, &n, ERR), -1);
    t = mono_s() - t;
    kill(g_extra.pid, SIGCONT);
    print_message("hung server: %s after %.3f s\n", F->err, t);
    assert_non_null(strstr(F->err, "timeout"));
    assert_true(t >= 0.25 && t < 2.0);
    OK(store_reconnect(g_extra_store, ERR));
    OK(store_window_count(g_extra_store, "id-1", "w", 0, T0, &n, ERR));
    assert_int_equal(n, 1);
}

/* store_send puts the pipelined writes on the wire without reading their
 * replies: the server applies them while the caller goes on, and the
 * flush after it reports a write that failed. */
static void test_redis_send(void **state)
{
    struct fx *F = *state;
    redisReply *rep;
    long long seen = 0;

    g_flush_before_raw = NULL; /* look at what the server has, as it is */
    OK(store_window_add(F->s, "id-1", "w", "e1", T0, DAY, ERR));
    OK(store_window_add(F->s, "id-1", "w", "e2", T0 + 1, DAY, ERR));
    rep = raw("ZCARD t:{id-1}:z");
    assert_int_equal(rep->integer, 0); /* still in the client's buffer */
    freeReplyObject(rep);
    OK(store_send(F->s, ERR));
    for (int i = 0; i < 200 && seen < 2; i++) { /* applied without a flush */
        rep = raw("ZCARD t:{id-1}:z");
        seen = rep->integer;
        freeReplyObject(rep);
        if (seen < 2) usleep(10000);
    }
    assert_int_equal(seen, 2);
    OK(store_flush(F->s, ERR));

    /* a write that fails: reported by the flush after the send */
    rep = raw("SET t:{id-2}:z not-a-set");
    freeReplyObject(rep);
    OK(store_window_add(F->s, "id-2", "w", "e1", T0, DAY, ERR));
    OK(store_send(F->s, ERR));
    F->err[0] = '\0';
    assert_int_equal(store_flush(F->s, ERR), -1);
    assert_non_null(strstr(F->err, "WRONGTYPE"));
    /* the connection stays in step: the next read answers */
    long n = -1;
    OK(store_window_count(F->s, "id-1", "w", 0, T0 + 1, &n, ERR));
    assert_int_equal(n, 2);

    /* a read between the send and the flush reads the failed write's reply
     * first: the read fails with it, and so does the flush after it */
    OK(store_window_add(F->s, "id-2", "w", "e2", T0, DAY, ERR));
    OK(store_send(F->s, ERR));
    F->err[0] = '\0';
    assert_int_equal(store_window_count(F->s, "id-1", "w", 0, T0 + 1, &n, ERR), -1);
    assert_non_null(strstr(F->err, "WRONGTYPE"));
    F->err[0] = '\0';
    assert_int_equal(store_flush(F->s, ERR), -1);
    assert_non_null(strstr(F->err, "WRONGTYPE"));
    OK(store_flush(F->s, ERR)); /* reported once */

    /* the memory store has nothing in flight */
    store_t *m = store_mem_new("t:");
    assert_non_null(m);
    OK(store_send(m, ERR));
    store_free(m);
}

/* The same random operations on both stores give the same answers. */
static void test_redis_differential(void **state)
{
    enum { OPS = 4000 };
    static const char *scopes[] = {"id-1", "id-2", "{x}"};
    static const int64_t keeps[] = {0, 500, 5000, DAY};
    struct fx *F = *state;
    store_t *m = store_mem_new("t:"), *st[2];
    int64_t now = T0;
    int k, i;

    assert_non_null(m);
    g_extra_store = m;
    st[0] = F->s;
    st[1] = m;
    rng_state = 7;
    for (k = 0; k < OPS; k++) {
        const char *scope = scopes[rnd() % 3];
        int64_t ts = now - (int64_t)(rnd() % 1000), keep = keeps[rnd() % 4];
        int64_t lo = now - (int64_t)(rnd() % 8000), hi = lo + (int64_t)(rnd() % 8000);
        char member[16], entry[16], res[2][512];
        int op = (int)(rnd() % 7);
        size_t max = rnd() % 2 ? 5 : 100;

        now += (int64_t)(rnd() % 50);
        snprintf(member, sizeof member, "m%d", (int)(rnd() % 40));
        snprintf(entry, sizeof entry, "e%d", (int)(rnd() % 12));
        for (i = 0; i < 2; i++) {
            store_t *s = st[i];
            char **v = NULL;
            size_t n = 0, j;
            int64_t t = 0;
            long c = 0;
            int found = 0;

            res[i][0] = '\0';
            switch (op) {
            case 0:
                OK(store_window_add(s, scope, "w", member, ts, keep, ERR));
                break;
            case 1:
                OK(store_window_count(s, scope, "w", lo, hi, &c, ERR));
                snprintf(res[i], sizeof res[i], "%ld", c);
                break;
            case 2:
                OK(store_window_members(s, scope, "w", lo, hi, max, &v, &n, ERR));
                break;
            case 3:
                OK(store_distinct_add(s, scope, "d", member, ts, keep, ERR));
                break;
            case 4:
                OK(store_distinct_count(s, scope, "d", lo, hi, &c, ERR));
                snprintf(res[i], sizeof res[i], "%ld", c);
                break;
            case 5:
                OK(store_set_add(s, scope, "s", member, ts, keep, ERR));
                OK(store_set_get(s, scope, "s", member, &found, &t, ERR));
                snprintf(res[i], sizeof res[i], "%d %lld", found, (long long)t);
                break;
            default:
                OK(store_activity_push(s, scope, entry, 5, ERR));
                OK(store_activity_get(s, scope, 10, &v, &n, ERR));
                break;
            }
            for (j = 0; j < n; j++) {
                strncat(res[i], " ", sizeof res[i] - strlen(res[i]) - 1);
                strncat(res[i], v[j], sizeof res[i] - strlen(res[i]) - 1);
            }
            free_list(v, n);
        }
        if (strcmp(res[0], res[1]) != 0)
            fail_msg("op %d (%d): redis \"%s\", memory \"%s\"", k, op, res[0], res[1]);
    }
}

int main(void)
{
    /* The contract suite, once per store. */
#define CONTRACT(setup)                                                                            \
    cmocka_unit_test_setup_teardown(test_window_idempotent, setup, teardown),                      \
        cmocka_unit_test_setup_teardown(test_window_bounds, setup, teardown),                      \
        cmocka_unit_test_setup_teardown(test_window_prune, setup, teardown),                       \
        cmocka_unit_test_setup_teardown(test_window_shared_order, setup, teardown),                \
        cmocka_unit_test_setup_teardown(test_scope_shares_key, setup, teardown),                   \
        cmocka_unit_test_setup_teardown(test_window_members_order, setup, teardown),               \
        cmocka_unit_test_setup_teardown(test_window_scopes, setup, teardown),                      \
        cmocka_unit_test_setup_teardown(test_distinct_latest, setup, teardown),                    \
        cmocka_unit_test_setup_teardown(test_set_add_get, setup, teardown),                        \
        cmocka_unit_test_setup_teardown(test_marker, setup, teardown),                             \
        cmocka_unit_test_setup_teardown(test_request, setup, teardown),                            \
        cmocka_unit_test_setup_teardown(test_request_pruning, setup, teardown),                    \
        cmocka_unit_test_setup_teardown(test_cooldown, setup, teardown),                           \
        cmocka_unit_test_setup_teardown(test_block, setup, teardown),                              \
        cmocka_unit_test_setup_teardown(test_activity, setup, teardown),                           \
        cmocka_unit_test_setup_teardown(test_key_escaping, setup, teardown),                       \
        cmocka_unit_test_setup_teardown(test_long_names, setup, teardown),                         \
        cmocka_unit_test_setup_teardown(test_distinct_model, setup, teardown)

    const struct CMUnitTest memory_store[] = {
        CONTRACT(setup_mem),
        cmocka_unit_test_setup_teardown(test_mem_large_set, setup_mem, teardown),
    };
    const struct CMUnitTest redis_store[] = {
        CONTRACT(setup_redis),
        cmocka_unit_test_setup_teardown(test_redis_keys, setup_redis, teardown),
        cmocka_unit_test_setup_teardown(test_redis_ttls, setup_redis, teardown),
        cmocka_unit_test_setup_teardown(test_redis_setting, setup_redis, teardown),
        cmocka_unit_test_setup_teardown(test_redis_auth_db, setup_redis, teardown),
        cmocka_unit_test_setup_teardown(test_redis_differential, setup_redis, teardown),
        cmocka_unit_test_setup_teardown(test_redis_send, setup_redis, teardown),
        cmocka_unit_test_setup_teardown(test_redis_server_gone, setup_redis, teardown),
        cmocka_unit_test_setup_teardown(test_redis_timeout, setup_redis, teardown),
    };
    int failed = 0;

    /* hiredis 0.14 writes with write(2): a dead server must not kill us */
    signal(SIGPIPE, SIG_IGN);
    failed += cmocka_run_group_tests(memory_store, NULL, NULL);
    failed += cmocka_run_group_tests(redis_store, group_setup_redis, group_teardown_redis);
    return failed != 0;
}
