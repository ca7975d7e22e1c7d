/* test_store_cache.c - the batch cache (detector/store_cache.c).
 *
 * The cache must give, batch by batch, exactly the answers and the final
 * state of one operation at a time against the backing store. A
 * differential test drives a memory store one operation at a time and the
 * cache over a second store (memory, then a real redis-server) batch by
 * batch with the same random operations of every kind, and compares every
 * answer of the pass that counts. Further tests check the number of passes
 * and round trips, that a pass with misses cannot be committed, that
 * nothing is cached from one batch to the next, and a failing commit.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <hiredis/hiredis.h>

#include "store.h"
#include "../support/redis_server.h"
#include "../support/requests.h"

#define T0 1795514400000000LL /* 2026-11-24T10:00:00Z */
#define DAY (86400 * 1000000LL)

static test_redis_t g_redis;

static uint64_t rng_state;

static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* One random operation, applied the same way to any store. */
struct op {
    int kind;
    const char *scope;
    char member[16], entry[16];
    int64_t ts, keep, lo, hi;
    size_t max;
};

enum { N_KINDS = 13 };

static void op_random(struct op *o, int64_t *now)
{
    static const char *scopes[] = {"id-1", "id-2", "{x}", "ip=10.0.0.1"};
    static const int64_t keeps[] = {0, 500, 5000, DAY};

    o->kind = (int)(rnd() % N_KINDS);
    o->scope = scopes[rnd() % 4];
    *now += (int64_t)(rnd() % 50);
    o->ts = *now - (int64_t)(rnd() % 1000);
    o->keep = keeps[rnd() % 4];
    o->lo = *now - (int64_t)(rnd() % 8000);
    o->hi = o->lo + (int64_t)(rnd() % 8000);
    o->max = rnd() % 2 ? 5 : 100;
    snprintf(o->member, sizeof o->member, "m%d", (int)(rnd() % 40));
    snprintf(o->entry, sizeof o->entry, "e%d", (int)(rnd() % 12));
}

static void append_list(char *res, size_t reslen, char **v, size_t n)
{
    for (size_t j = 0; j < n; j++) {
        strncat(res, " ", reslen - strlen(res) - 1);
        strncat(res, v[j], reslen - strlen(res) - 1);
        free(v[j]);
    }
    free(v);
}

/* Applies o to s and writes what it answered into res. 0, or -1 with err. */
static int op_apply(store_t *s, const struct op *o, char *res, size_t reslen, char *err,
                    size_t errlen)
{
    char **v = NULL;
    size_t n = 0;
    int64_t t = 0;
    long c = 0;
    int found = 0, rc = 0;
    store_request_t rq;
    store_block_t b;

    res[0] = '\0';
    switch (o->kind) {
    case 0:
        return store_window_add(s, o->scope, "w", o->member, o->ts, o->keep, err, errlen);
    case 1:
        rc = store_window_count(s, o->scope, "w", o->lo, o->hi, &c, err, errlen);
        snprintf(res, reslen, "%ld", c);
        return rc;
    case 2:
        rc = store_window_members(s, o->scope, "w", o->lo, o->hi, o->max, &v, &n, err, errlen);
        append_list(res, reslen, v, n);
        return rc;
    case 3:
        return store_window_add_shared(s, o->scope, "ws", o->member, o->ts, o->keep, err, errlen);
    case 4:
        rc = store_window_count(s, o->scope, "ws", o->lo, o->hi, &c, err, errlen);
        snprintf(res, reslen, "%ld", c);
        return rc;
    case 5:
        if (store_distinct_add(s, o->scope, "d", o->member, o->ts, o->keep, err, errlen) < 0)
            return -1;
        rc = store_distinct_count(s, o->scope, "d", o->lo, o->hi, &c, err, errlen);
        snprintf(res, reslen, "%ld", c);
        return rc;
    case 6:
        if (rnd() % 2 &&
            store_set_add(s, o->scope, "s", o->member, o->ts, o->keep, err, errlen) < 0)
            return -1;
        rc = store_set_get(s, o->scope, "s", o->member, &found, &t, err, errlen);
        snprintf(res, reslen, "%d %lld", found, (long long)t);
        return rc;
    case 7:
        if (store_activity_push(s, o->scope, o->entry, 5, err, errlen) < 0) return -1;
        rc = store_activity_get(s, o->scope, 10, &v, &n, err, errlen);
        append_list(res, reslen, v, n);
        return rc;
    case 8: {
        memset(&rq, 0, sizeof rq);
        rq.ts_us = o->ts;
        snprintf(rq.event_id, sizeof rq.event_id, "ev-%s", o->entry);
        const char *name = "ip", *value = o->member;
        memcpy(&rq.name[0], &name, sizeof name);
        memcpy(&rq.value[0], &value, sizeof value);
        rq.nfields = 1;
        return store_request_put(s, o->scope, "login", o->entry, &rq, DAY, err, errlen);
    }
    case 9:
        rc = store_request_get(s, o->scope, "login", o->entry, &found, &rq, err, errlen);
        if (rc == 0 && found) {
            snprintf(res, reslen, "%lld %.100s %.100s=%.100s", (long long)rq.ts_us, rq.event_id,
                     rq.nfields ? rq.name[0] : "", rq.nfields ? rq.value[0] : "");
            store_request_clear(&rq);
        }
        return rc;
    case 10: {
        char by[STORE_ID_MAX] = "";
        if (rnd() % 2 &&
            store_cooldown_set(s, o->scope, "r1", o->ts, o->member, DAY, err, errlen) < 0)
            return -1;
        rc = store_cooldown_get(s, o->scope, "r1", &found, &t, by, err, errlen);
        if (found) snprintf(res, reslen, "%lld %s", (long long)t, by);
        return rc;
    }
    case 11:
        if (rnd() % 3 == 0) return store_block_clear(s, o->scope, NULL, err, errlen);
        memset(&b, 0, sizeof b);
        snprintf(b.rule, sizeof b.rule, "r-%s", o->entry);
        snprintf(b.reason, sizeof b.reason, "because %s", o->member);
        b.since_us = o->ts - o->ts % 1000000;
        snprintf(b.action_id, sizeof b.action_id, "a-%s", o->member);
        return store_block_set(s, o->scope, NULL, &b, err, errlen);
    default:
        rc = store_block_get(s, o->scope, NULL, &found, &b, err, errlen);
        if (found) snprintf(res, reslen, "%.100s|%.100s|%.100s", b.rule, b.reason, b.action_id);
        return rc;
    }
}

#define RES 512

/* Runs ops[0..n) through the cache as one batch: passes until one has no
 * miss, then commit. The answers of the last pass go to res. Returns the
 * number of passes. */
static int run_batch(store_t *c, const struct op *ops, size_t n, char (*res)[RES])
{
    char err[256];
    int passes = 0;

    for (;;) {
        passes++;
        assert_true(passes < 10);
        if (store_cache_begin(c, err, sizeof err) < 0) fail_msg("begin: %s", err);
        for (size_t i = 0; i < n; i++)
            if (op_apply(c, &ops[i], res[i], RES, err, sizeof err) < 0)
                fail_msg("op %zu: %s", i, err);
        if (store_cache_missing(c) == 0) break;
        if (store_cache_fetch(c, err, sizeof err) < 0) fail_msg("fetch: %s", err);
    }
    if (store_cache_commit(c, err, sizeof err) < 0) fail_msg("commit: %s", err);
    store_cache_end(c);
    return passes;
}

/* The differential test over back: 3,000 operations in batches of 1 to 40. */
static void differential(store_t *back)
{
    enum { OPS = 3000 };
    store_t *ref = store_mem_new("t:"), *c = store_cache_new(back);
    static struct op ops[OPS];
    static char got[OPS][RES], want[OPS][RES];
    char err[256];
    int64_t now = T0;
    size_t i, at = 0, batches = 0;
    int max_passes = 0;

    assert_non_null(ref);
    assert_non_null(c);
    rng_state = 11;
    for (i = 0; i < OPS; i++)
        op_random(&ops[i], &now);
    /* The reference, one operation at a time. The same random choices
     * inside op_apply: the generator is reset for each side and each batch
     * draws its choices in the same order on both. */
    while (at < OPS) {
        size_t n = 1 + (size_t)(rnd() % 40);
        uint64_t seed = rnd();
        if (n > OPS - at) n = OPS - at;
        rng_state = seed;
        for (i = 0; i < n; i++)
            if (op_apply(ref, &ops[at + i], want[at + i], RES, err, sizeof err) < 0)
                fail_msg("reference op %zu: %s", at + i, err);
        /* Every pass draws the same choices: reset before each. */
        char err2[256];
        int passes = 0;
        for (;;) {
            passes++;
            assert_true(passes < 10);
            rng_state = seed;
            if (store_cache_begin(c, err2, sizeof err2) < 0) fail_msg("begin: %s", err2);
            for (i = 0; i < n; i++)
                if (op_apply(c, &ops[at + i], got[at + i], RES, err2, sizeof err2) < 0)
                    fail_msg("op %zu: %s", at + i, err2);
            if (store_cache_missing(c) == 0) break;
            if (store_cache_fetch(c, err2, sizeof err2) < 0) fail_msg("fetch: %s", err2);
        }
        if (store_cache_commit(c, err2, sizeof err2) < 0) fail_msg("commit: %s", err2);
        store_cache_end(c);
        if (passes > max_passes) max_passes = passes;
        for (i = at; i < at + n; i++)
            if (strcmp(got[i], want[i]) != 0)
                fail_msg("op %zu (kind %d, batch %zu): cache \"%s\", one at a time \"%s\"", i,
                         ops[i].kind, batches, got[i], want[i]);
        at += n;
        batches++;
        rng_state = seed ^ 0x9e3779b97f4a7c15ULL; /* the next batch's size and seed */
    }
    /* The final state, read through the backing store directly. */
    static const char *scopes[] = {"id-1", "id-2", "{x}", "ip=10.0.0.1"};
    static const int reads[] = {1, 2, 4, 9, 12};
    for (int sc = 0; sc < 4; sc++) {
        for (int e = 0; e < 12; e++) {
            for (size_t r = 0; r < sizeof reads / sizeof reads[0]; r++) {
                struct op o = {
                    .kind = reads[r], .scope = scopes[sc], .lo = 0, .hi = INT64_MAX, .max = 1000};
                char a[RES], b[RES];
                snprintf(o.entry, sizeof o.entry, "e%d", e);
                if (op_apply(back, &o, a, RES, err, sizeof err) < 0) fail_msg("back: %s", err);
                if (op_apply(ref, &o, b, RES, err, sizeof err) < 0) fail_msg("ref: %s", err);
                if (strcmp(a, b) != 0)
                    fail_msg("final state of %s (kind %d): \"%s\" vs \"%s\"", scopes[sc], reads[r],
                             a, b);
            }
        }
        char **v = NULL, **w = NULL;
        size_t nv = 0, nw = 0;
        assert_int_equal(store_activity_get(back, scopes[sc], 100, &v, &nv, err, sizeof err), 0);
        assert_int_equal(store_activity_get(ref, scopes[sc], 100, &w, &nw, err, sizeof err), 0);
        char a[RES] = "", b[RES] = "";
        append_list(a, RES, v, nv);
        append_list(b, RES, w, nw);
        assert_string_equal(a, b);
    }
    assert_true(batches > 100);
    assert_true(max_passes >= 2);
    store_free(c);
    store_free(ref);
}

static void test_differential_mem(void **state)
{
    (void)state;
    store_t *back = store_mem_new("t:");
    assert_non_null(back);
    differential(back);
    store_free(back);
}

static store_t *redis_store(void)
{
    char err[256];
    store_t *s =
        store_redis_new("127.0.0.1", g_redis.port, NULL, NULL, 0, "t:", 2000, err, sizeof err);
    if (s == NULL) fail_msg("store_redis_new: %s", err);
    return s;
}

static void test_differential_redis(void **state)
{
    (void)state;
    store_t *back = redis_store();
    differential(back);
    store_free(back);
}

/* Keys that do not depend on values read take two passes: one to learn
 * them, one to decide; a batch of nothing but whole-value writes takes one. */
static void test_passes(void **state)
{
    (void)state;
    store_t *back = store_mem_new("p:"), *c = store_cache_new(back);
    struct op ops[3];
    char res[3][RES];
    unsigned long passes, fetched, written;

    assert_non_null(c);
    memset(ops, 0, sizeof ops);
    ops[0] = (struct op){.kind = 0, .scope = "a", .member = "m1", .ts = T0, .keep = DAY};
    ops[1] = (struct op){.kind = 1, .scope = "a", .lo = T0 - 1, .hi = T0};
    ops[2] = (struct op){.kind = 9, .scope = "a", .entry = "r1"};
    rng_state = 1;
    assert_int_equal(run_batch(c, ops, 3, res), 2);
    assert_string_equal(res[1], "1");
    assert_string_equal(res[2], "");
    store_cache_counters(c, &passes, &fetched, &written);
    assert_int_equal(passes, 2);
    assert_int_equal(fetched, 1); /* the scope's sorted set: the window and the requests */
    assert_int_equal(written, 1);
    /* Whole-value writes only: one pass, nothing fetched. */
    ops[0] = (struct op){.kind = 11, .scope = "a", .member = "ip1", .entry = "r1", .ts = T0};
    ops[1] = (struct op){.kind = 12, .scope = "a"};
    rng_state = 99991; /* its first draw is not a multiple of 3: a set, not a clear */
    assert_int_equal(run_batch(c, ops, 2, res), 1);
    assert_string_equal(res[1], "r-r1|because ip1|a-ip1");
    store_cache_counters(c, &passes, &fetched, &written);
    assert_int_equal(passes, 3);
    assert_int_equal(fetched, 1);
    /* A request is added to the scope's sorted set, pruned by the times of
     * the others: the set is loaded first. */
    ops[0] = (struct op){.kind = 8, .scope = "a", .member = "ip1", .entry = "r1", .ts = T0};
    ops[1] = (struct op){.kind = 9, .scope = "a", .entry = "r1"};
    assert_int_equal(run_batch(c, ops, 2, res), 2);
    assert_string_equal(res[1], "1795514400000000 ev-r1 ip=ip1");
    store_free(c);
    store_free(back);
}

/* What a batch read is not kept for the next: a change made to the
 * backing store between batches is seen. */
static void test_no_stale_state(void **state)
{
    (void)state;
    store_t *back = store_mem_new("p:"), *c = store_cache_new(back);
    struct op ops[1] = {{.kind = 1, .scope = "a", .lo = T0 - 10, .hi = T0 + 10}};
    char res[1][RES], err[256];

    assert_int_equal(run_batch(c, ops, 1, res), 2);
    assert_string_equal(res[0], "0");
    assert_int_equal(store_window_add(back, "a", "w", "m", T0, DAY, err, sizeof err), 0);
    run_batch(c, ops, 1, res);
    assert_string_equal(res[0], "1");
    store_free(c);
    store_free(back);
}

/* A pass with misses cannot be committed; nothing of it reaches back. */
static void test_commit_refuses_misses(void **state)
{
    (void)state;
    store_t *back = store_mem_new("p:"), *c = store_cache_new(back);
    struct op op = {.kind = 0, .scope = "a", .member = "m", .ts = T0, .keep = DAY};
    char res[RES], err[256];
    long n = -1;

    assert_int_equal(store_cache_begin(c, err, sizeof err), 0);
    assert_int_equal(op_apply(c, &op, res, RES, err, sizeof err), 0);
    assert_int_equal(store_cache_missing(c), 1);
    assert_int_equal(store_cache_commit(c, err, sizeof err), -1);
    assert_non_null(strstr(err, "misses"));
    store_cache_end(c);
    assert_int_equal(store_window_count(back, "a", "w", 0, INT64_MAX, &n, err, sizeof err), 0);
    assert_int_equal(n, 0);
    /* Not a cache: refused. */
    assert_int_equal(store_cache_begin(back, err, sizeof err), -1);
    assert_null(store_cache_new(NULL));
    store_free(c);
    store_free(back);
}

/* Redis gone: fetch and commit fail with a reason, and after a restart the
 * same batch goes through (deciding it again is the caller's retry). */
static void test_redis_gone(void **state)
{
    (void)state;
    store_t *back = redis_store(), *c = store_cache_new(back);
    struct op ops[2] = {{.kind = 0, .scope = "g", .member = "m", .ts = T0, .keep = DAY},
                        {.kind = 1, .scope = "g", .lo = T0 - 1, .hi = T0}};
    char res[2][RES], err[256];
    int port = g_redis.port;

    assert_non_null(c);
    assert_int_equal(store_cache_begin(c, err, sizeof err), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(op_apply(c, &ops[i], res[i], RES, err, sizeof err), 0);
    assert_int_equal(store_cache_missing(c), 1);
    test_redis_stop(&g_redis);
    assert_int_equal(store_cache_fetch(c, err, sizeof err), -1);
    assert_non_null(strstr(err, "redis"));
    store_cache_end(c);
    assert_int_equal(test_redis_start_port(&g_redis, port), 0);
    assert_int_equal(store_reconnect(c, err, sizeof err), 0);
    assert_int_equal(run_batch(c, ops, 2, res), 2);
    assert_string_equal(res[1], "1");
    store_free(c);
    store_free(back);
}

static int group_setup(void **state)
{
    (void)state;
    return test_redis_start(&g_redis);
}

static int group_teardown(void **state)
{
    (void)state;
    test_redis_stop(&g_redis);
    return 0;
}

/* How many times Redis ran command (lower case) so far. */
static long calls(redisContext *rc, const char *command)
{
    redisReply *r = redisCommand(rc, "INFO commandstats");
    char field[64];
    const char *p;
    long n;

    assert_non_null(r);
    snprintf(field, sizeof field, "cmdstat_%s:calls=", command);
    p = strstr(r->str, field);
    n = p != NULL ? atol(p + strlen(field)) : 0;
    freeReplyObject(r);
    return n;
}

static long evalsha_calls(redisContext *rc)
{
    return calls(rc, "evalsha");
}

static void put_request_in(store_t *s, const char *scope, const char *id, const char *ip,
                           int64_t ts)
{
    store_request_t rq;
    char err[256];

    test_request_ip(&rq, ts, ip, ip);
    if (store_request_put(s, scope, "login", id, &rq, DAY, err, sizeof err) < 0)
        fail_msg("request_put: %s", err);
}

static void put_request(store_t *s, const char *id, const char *ip, int64_t ts)
{
    put_request_in(s, "pl", id, ip, ts);
}

/* Through the cache, which sees the key, adds to a scope's sorted set are
 * plain commands, their prune and replacement a ZREM: no script, and the
 * state of one add at a time. The store used directly runs the script. */
static void test_plain_adds(void **state)
{
    (void)state;
    store_t *back = redis_store(), *c = store_cache_new(back);
    redisContext *rc = redisConnect("127.0.0.1", g_redis.port);
    const int64_t keep = 600 * 1000000LL;
    char err[256], **v = NULL;
    store_request_t rq;
    size_t n = 0;
    int found = 0;
    long before;
    redisReply *r;

    assert_non_null(c);
    assert_true(rc != NULL && rc->err == 0);
    assert_int_equal(store_window_add(back, "pl", "w", "old", T0 - DAY, keep, err, sizeof err), 0);
    put_request(back, "r1", "ip-a", T0 - 1000);
    assert_int_equal(store_flush(back, err, sizeof err), 0);
    before = evalsha_calls(rc);
    for (int pass = 0;; pass++) {
        assert_true(pass < 10);
        assert_int_equal(store_cache_begin(c, err, sizeof err), 0);
        assert_int_equal(store_window_add(c, "pl", "w", "new", T0, keep, err, sizeof err), 0);
        assert_int_equal(store_set_add(c, "pl", "s", "ip-1", T0, DAY, err, sizeof err), 0);
        put_request(c, "r1", "ip-b", T0); /* replaces ip-a */
        if (store_cache_missing(c) == 0) break;
        assert_int_equal(store_cache_fetch(c, err, sizeof err), 0);
    }
    assert_int_equal(store_cache_commit(c, err, sizeof err), 0);
    store_cache_end(c);
    assert_int_equal(evalsha_calls(rc), before);
    /* the window pruned, the request replaced, the set learned */
    assert_int_equal(
        store_window_members(back, "pl", "w", INT64_MIN, INT64_MAX, 10, &v, &n, err, sizeof err),
        0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0], "new");
    free(v[0]);
    free(v);
    assert_int_equal(store_request_get(back, "pl", "login", "r1", &found, &rq, err, sizeof err), 0);
    assert_int_equal(found, 1);
    assert_string_equal(rq.value[0], "ip-b");
    store_request_clear(&rq);
    r = redisCommand(rc, "ZCARD t:{pl}:z");
    assert_int_equal(r->integer, 4); /* the window's member, the set's two, the request */
    freeReplyObject(r);
    r = redisCommand(rc, "PTTL t:{pl}:z");
    assert_true(r->integer > 86400000); /* the longest keep and a day */
    freeReplyObject(r);
    /* the same add on the store itself: the script */
    assert_int_equal(store_window_add(back, "pl", "w", "x", T0 + 1, keep, err, sizeof err), 0);
    assert_int_equal(store_flush(back, err, sizeof err), 0);
    assert_int_equal(evalsha_calls(rc), before + 1);
    redisFree(rc);
    store_free(c);
    store_free(back);
}

/* Runs fn over the cache as the daemon runs a batch: passes until none
 * misses, then the commit. */
static void cache_batch(store_t *c, void (*fn)(store_t *s))
{
    char err[256];

    for (int pass = 0;; pass++) {
        assert_true(pass < 10);
        assert_int_equal(store_cache_begin(c, err, sizeof err), 0);
        fn(c);
        if (store_cache_missing(c) == 0) break;
        assert_int_equal(store_cache_fetch(c, err, sizeof err), 0);
    }
    if (store_cache_commit(c, err, sizeof err) < 0) fail_msg("commit: %s", err);
    store_cache_end(c);
}

#define OK(call)                                                                                   \
    do {                                                                                           \
        char err_[256];                                                                            \
        if ((call) < 0) fail_msg("%s", err_);                                                      \
    } while (0)
#define E err_, sizeof err_

/* One event's writes on scope sc: a window (its old member pruned), two
 * known sets, a distinct count (its old member pruned) and a request (its
 * earlier record replaced). */
static void grouped_event(store_t *s, const char *sc)
{
    char dscope[32];

    snprintf(dscope, sizeof dscope, "ip=%s", sc);
    OK(store_window_add(s, sc, "w", "ev-2", T0, 600 * 1000000LL, E));
    OK(store_set_add(s, sc, "ips", "ip-1", T0, DAY, E));
    OK(store_set_add(s, sc, "devices", "dev-1", T0, DAY, E));
    OK(store_distinct_add(s, dscope, "ids", "id-2", T0, 60 * 1000000LL, E));
    put_request_in(s, sc, "r1", "ip-b", T0);
}

static void grouped_event_gw(store_t *s)
{
    grouped_event(s, "gw");
}

/* The earlier state of grouped_event's scope sc. */
static void grouped_before(store_t *s, const char *sc)
{
    char dscope[32];

    snprintf(dscope, sizeof dscope, "ip=%s", sc);
    OK(store_window_add(s, sc, "w", "ev-1", T0 - DAY, 600 * 1000000LL, E));
    OK(store_distinct_add(s, dscope, "ids", "id-1", T0 - DAY, 60 * 1000000LL, E));
    put_request_in(s, sc, "r1", "ip-a", T0 - 1000);
    OK(store_flush(s, E));
}

/* The members and scores of a sorted set, as text. */
static void dump_zset(redisContext *rc, const char *key, char *out, size_t outlen)
{
    redisReply *r = redisCommand(rc, "ZRANGE %s 0 -1 WITHSCORES", key);

    out[0] = '\0';
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    for (size_t i = 0; i < r->elements; i++) {
        strncat(out, r->element[i]->str, outlen - strlen(out) - 1);
        strncat(out, " ", outlen - strlen(out) - 1);
    }
    freeReplyObject(r);
}

/* Through the cache, an event's member adds and removals go to Redis
 * regrouped by key and kind: for the scope's set one ZADD NX (the window's,
 * the first-seen and the request's members), one ZADD GT (the latest-seen),
 * one TTL and one ZREM (the pruned and the replaced), and a distinct
 * count's add and prune in plain commands, no script. The state is the one
 * of the same operations one at a time on the store itself (scope gw2). */
static void test_grouped_writes(void **state)
{
    (void)state;
    store_t *back = redis_store(), *c = store_cache_new(back);
    redisContext *rc = redisConnect("127.0.0.1", g_redis.port);
    char a[4096], b[4096];

    assert_true(rc != NULL && rc->err == 0);
    grouped_before(back, "gw");
    grouped_before(back, "gw2");
    long zadd = calls(rc, "zadd"), pexpire = calls(rc, "pexpire"), zrem = calls(rc, "zrem"),
         eval = calls(rc, "evalsha");
    cache_batch(c, grouped_event_gw);
    assert_int_equal(calls(rc, "evalsha"), eval);
    assert_int_equal(calls(rc, "zadd") - zadd, 3);       /* NX, GT; the distinct count's */
    assert_int_equal(calls(rc, "pexpire") - pexpire, 3); /* NX and GT; the distinct count's */
    assert_int_equal(calls(rc, "zrem") - zrem, 1);
    grouped_event(back, "gw2");
    OK(store_flush(back, E));
    dump_zset(rc, "t:{gw}:z", a, sizeof a);
    dump_zset(rc, "t:{gw2}:z", b, sizeof b);
    assert_string_equal(a, b);
    assert_non_null(strstr(a, "ww\x1f"
                              "ev-2"));
    assert_null(strstr(a, "ww\x1f"
                          "ev-1")); /* pruned */
    assert_null(strstr(a, "ip-a")); /* replaced */
    dump_zset(rc, "t:{ip=gw}:d:ids", a, sizeof a);
    dump_zset(rc, "t:{ip=gw2}:d:ids", b, sizeof b);
    assert_string_equal(a, b);
    assert_null(strstr(a, "id-1"));
    redisReply *r = redisCommand(rc, "PTTL t:{gw}:z");
    assert_true(r->integer > 86400000); /* the longest keep and a day */
    freeReplyObject(r);
    redisFree(rc);
    store_free(c);
    store_free(back);
}

/* A window's member pruned and then added again in the same run of writes
 * to one key: regrouping (adds first, then removals) would lose it, so
 * that key's writes keep their order. */
static void readd_event(store_t *s)
{
    const int64_t keep = 1000;

    OK(store_window_add(s, "ra", "w", "a", T0, keep, E));
    OK(store_window_add(s, "ra", "w", "b", T0 + 5000, keep, E)); /* prunes a */
    OK(store_window_add(s, "ra", "w", "a", T0 + 5500, keep, E)); /* a again */
}

static void test_grouped_readd(void **state)
{
    (void)state;
    store_t *back = redis_store(), *c = store_cache_new(back);
    redisContext *rc = redisConnect("127.0.0.1", g_redis.port);
    char a[1024], want[256];

    assert_true(rc != NULL && rc->err == 0);
    cache_batch(c, readd_event);
    dump_zset(rc, "t:{ra}:z", a, sizeof a);
    snprintf(want, sizeof want,
             "ww\x1f"
             "b %lld ww\x1f"
             "a %lld ",
             (long long)(T0 + 5000), (long long)(T0 + 5500));
    assert_string_equal(a, want);
    redisFree(rc);
    store_free(c);
    store_free(back);
}

/* An event that finds a key through a value it read: the request r1 of
 * scope "a" names an IP, whose window is counted and added to. */
static char dep_got[2][64];

static void dependent_event(store_t *s, int k)
{
    int found = 0;
    store_request_t rq;
    long n = -1;

    OK(store_request_get(s, "a", "login", k ? "r2" : "r1", &found, &rq, E));
    if (!found) {
        snprintf(dep_got[k], sizeof dep_got[k], "no request");
        return;
    }
    OK(store_window_count(s, rq.value[0], "w", T0 - DAY, T0 + DAY, &n, E));
    OK(store_window_add(s, rq.value[0], "w", k ? "m-2" : "m-1", T0, DAY, E));
    snprintf(dep_got[k], sizeof dep_got[k], "%s %ld", rq.value[0], n);
    store_request_clear(&rq);
}

static void dependent_batch(store_t *s)
{
    dependent_event(s, 0);
    dependent_event(s, 1);
}

/* Keys found only through values read (two events, two IPs) are loaded
 * at once in the second pass, the first at its miss: two passes, not
 * three, and the answers of the store itself. Over memory, then over a
 * real Redis. */
static void dependent_keys(store_t *back)
{
    store_t *c = store_cache_new(back);
    char want[2][64];
    unsigned long passes, fetched, written;

    assert_non_null(c);
    store_cache_set_load_budget(c, 10 * 1000000LL); /* not the time of a pass */
    put_request_in(back, "a", "r1", "ip-1", T0 - 10);
    put_request_in(back, "a", "r2", "ip-2", T0 - 5);
    OK(store_window_add(back, "ip-1", "w", "old", T0 - 100, DAY, E));
    OK(store_flush(back, E));
    cache_batch(c, dependent_batch);
    store_cache_counters(c, &passes, &fetched, &written);
    assert_int_equal(passes, 2);
    assert_int_equal(fetched, 3); /* scope a's set; then ip-1's and ip-2's, one at a time */
    memcpy(want, dep_got, sizeof want);
    assert_string_equal(want[0], "ip-1 1");
    assert_string_equal(want[1], "ip-2 0");
    /* the writes of the batch landed: the same events again see them */
    dependent_batch(back);
    assert_string_equal(dep_got[0], "ip-1 2");
    assert_string_equal(dep_got[1], "ip-2 1");
    store_free(c);
}

/* Runs fn over a memory store, then over a real Redis. */
static void on_mem_and_redis(void (*fn)(store_t *back))
{
    store_t *mem = store_mem_new("p:"), *red = redis_store();

    assert_non_null(mem);
    fn(mem);
    fn(red);
    store_free(mem);
    store_free(red);
}

static void test_dependent_keys(void **state)
{
    (void)state;
    on_mem_and_redis(dependent_keys);
}

/* Scope tp: an event adds to its window and counts it; the next finds the
 * window of an IP through the request r1. */
static char tp_got[2][64];

static void third_pass_batch(store_t *s)
{
    int found = 0;
    store_request_t rq;
    long n = -1;

    OK(store_window_add(s, "tp", "w", "m0", T0, DAY, E));
    OK(store_window_count(s, "tp", "w", T0 - DAY, T0 + DAY, &n, E));
    snprintf(tp_got[0], sizeof tp_got[0], "%ld", n);
    OK(store_request_get(s, "tp", "login", "r1", &found, &rq, E));
    if (!found) {
        snprintf(tp_got[1], sizeof tp_got[1], "no request");
        return;
    }
    OK(store_window_count(s, rq.value[0], "w", T0 - DAY, T0 + DAY, &n, E));
    OK(store_window_add(s, rq.value[0], "w", "m1", T0, DAY, E));
    snprintf(tp_got[1], sizeof tp_got[1], "%s %ld", rq.value[0], n);
    store_request_clear(&rq);
}

static void window_is(store_t *s, const char *scope, const char *want)
{
    char **v = NULL, got[256] = "";
    size_t n = 0;

    OK(store_window_members(s, scope, "w", INT64_MIN, INT64_MAX, 10, &v, &n, E));
    append_list(got, sizeof got, v, n);
    assert_string_equal(got, want);
}

/* Keys found through values, with no loading at once (its budget 0): the
 * misses wait for a third pass, which starts again from what the backing
 * store has. The second pass added m0 to tp's window in its copy; the
 * third must not see it twice. Over memory, then over a real Redis. */
static void third_pass(store_t *back)
{
    store_t *c = store_cache_new(back);
    unsigned long passes, fetched, written;

    assert_non_null(c);
    store_cache_set_load_budget(c, 0);
    put_request_in(back, "tp", "r1", "ip-t", T0 - 10);
    OK(store_window_add(back, "tp", "w", "old", T0 - 100, DAY, E));
    OK(store_window_add(back, "ip-t", "w", "old", T0 - 100, DAY, E));
    OK(store_flush(back, E));
    cache_batch(c, third_pass_batch);
    store_cache_counters(c, &passes, &fetched, &written);
    assert_int_equal(passes, 3);
    assert_int_equal(fetched, 3); /* tp's set; tp's again and ip-t's */
    assert_string_equal(tp_got[0], "2");
    assert_string_equal(tp_got[1], "ip-t 1");
    window_is(back, "tp", " old m0");
    window_is(back, "ip-t", " old m1");
    store_free(c);
}

static void test_third_pass(void **state)
{
    (void)state;
    on_mem_and_redis(third_pass);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_passes),
        cmocka_unit_test(test_dependent_keys),
        cmocka_unit_test(test_third_pass),
        cmocka_unit_test(test_no_stale_state),
        cmocka_unit_test(test_commit_refuses_misses),
        cmocka_unit_test(test_differential_mem),
        cmocka_unit_test(test_differential_redis),
        cmocka_unit_test(test_redis_gone),
        cmocka_unit_test(test_plain_adds),
        cmocka_unit_test(test_grouped_writes),
        cmocka_unit_test(test_grouped_readd),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, group_setup, group_teardown) != 0;
}
