/* test_engine.c - unit tests of the engine (detector/engine.c) and of the
 * actions it gives (detector/action.c): store failures, evidence, action ids
 * and the JSON of actions, long free-text values.
 *
 * Each test builds its own small rule set from a string and runs events
 * through an engine with the memory store, or with a Redis store whose
 * server the test starts (and stops, to make the store fail).
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
#include <jansson.h>

#include "action.h"
#include "engine.h"
#include "event.h"
#include "rules.h"
#include "store.h"
#include "../support/redis_server.h"

/* The clauses that make a rule complete after "on" and "when". */
#define TAIL "  action alert\n  severity low\n  reason \"r\"\nend\n"

struct fx {
    ruleset_t *rs;
    store_t *st;
    engine_t *eng;
    test_redis_t redis;
    const action_t *acts;
    size_t n;
    char err[512];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f) return -1;
    *state = f;
    return 0;
}

static void stop(struct fx *f);

static int teardown(void **state)
{
    struct fx *f = *state;
    stop(f);
    test_redis_stop(&f->redis);
    free(f);
    return 0;
}

/* Loads the rules (they must load) and makes an engine over store st
 * (taken over by the fixture). */
static void start(struct fx *f, const char *rules, store_t *st)
{
    rules_diag_t diag = {0};
    f->rs = rules_load_string(rules, "t.rules", &diag);
    if (!f->rs) fail_msg("rules refused:\n%s", diag.text ? diag.text : "");
    rules_diag_free(&diag);
    assert_non_null(st);
    f->st = st;
    f->eng = engine_new(f->rs, f->st, NULL);
    assert_non_null(f->eng);
}

/* Frees the engine, its store and rules, for a second start. */
static void stop(struct fx *f)
{
    engine_free(f->eng);
    f->eng = NULL;
    store_free(f->st);
    f->st = NULL;
    ruleset_free(f->rs);
    f->rs = NULL;
}

static void start_mem(struct fx *f, const char *rules)
{
    start(f, rules, store_mem_new("t:"));
}

/* A Redis store whose server is already stopped: every call fails. */
static void start_redis_down(struct fx *f, const char *rules)
{
    assert_int_equal(test_redis_start(&f->redis), 0);
    store_t *st = store_redis_new("127.0.0.1", f->redis.port, NULL, NULL, 0, "t:", 500, f->err,
                                  sizeof f->err);
    if (!st) fail_msg("store_redis_new: %s", f->err);
    test_redis_stop(&f->redis);
    start(f, rules, st);
}

/* Runs one event (JSON text, must be a valid event) through the engine;
 * returns engine_process's result, the actions in f->acts and f->n. */
static int run(struct fx *f, const char *json)
{
    event_t ev;
    char why[256];
    if (event_parse(json, strlen(json), &ev, why, sizeof why) != EVENT_OK)
        fail_msg("bad event: %s: %s", why, json);
    f->err[0] = '\0';
    int rc = engine_process(f->eng, &ev, &f->acts, &f->n, f->err, sizeof f->err);
    event_clear(&ev);
    return rc;
}

/* ---- a store failure is never a "no" ---- */

/* A set's filter reads the store: when that read fails the event fails
 * (it is processed again later), instead of the set silently learning
 * nothing. */
static void test_set_filter_store_failure(void **state)
{
    struct fx *f = *state;
    static const char rules[] = "set a on identity.unblocked add device_id keep 1d\n"
                                "set b on identity.blocked add device_id keep 1d "
                                "where device_id in a\n";
    static const char ev[] = "{\"event_id\":\"e1\",\"ts\":\"2026-11-24T10:00:00Z\","
                             "\"type\":\"identity.blocked\",\"identity\":\"id-1\","
                             "\"device_id\":\"d1\"}";

    start_mem(f, rules);
    assert_int_equal(run(f, ev), 0);
    stop(f);

    start_redis_down(f, rules);
    assert_int_equal(run(f, ev), -1);
    assert_int_equal(f->n, 0);
    assert_true(f->err[0] != '\0');
}

/* ---- actions: whole, or not at all ---- */

/* s repeated n times; caller frees. */
static char *repeat(const char *s, size_t n)
{
    size_t l = strlen(s);
    char *r = malloc(l * n + 1);
    assert_non_null(r);
    for (size_t i = 0; i < n; i++)
        memcpy(r + i * l, s, l);
    r[l * n] = '\0';
    return r;
}

/* The string member key of the JSON object text js; caller frees. */
static char *json_member(const char *js, const char *key)
{
    json_error_t jerr;
    json_t *o = json_loads(js, 0, &jerr);
    if (!o) fail_msg("not JSON: %s: %s", jerr.text, js);
    const char *v = json_string_value(json_object_get(o, key));
    char *r = v ? strdup(v) : NULL;
    json_decref(o);
    return r;
}

#define BLOCK_AUTH_RULE                                                                            \
    "rule r\n  on login.approved\n  action block_authenticator\n  severity high\n"                 \
    "  reason \"r\"\nend\n"

/* Runs a login.approved by authenticator auth through BLOCK_AUTH_RULE:
 * one action for it, published whole, and its block under its full id. */
static void check_block_authenticator(struct fx *f, const char *auth)
{
    char *json = malloc(strlen(auth) + 256);
    assert_non_null(json);
    sprintf(json,
            "{\"event_id\":\"e1\",\"ts\":\"2026-11-24T10:00:00Z\",\"type\":\"login.approved\","
            "\"identity\":\"id-1\",\"request_id\":\"q1\",\"authenticator_id\":\"%s\"}",
            auth);
    assert_int_equal(run(f, json), 0);
    free(json);
    assert_int_equal(f->n, 1);
    assert_string_equal(f->acts[0].authenticator_id, auth);
    char *js = action_to_json(&f->acts[0]);
    assert_non_null(js);
    char *got = json_member(js, "authenticator_id");
    assert_non_null(got);
    assert_string_equal(got, auth);
    free(got);
    free(js);

    int found = 0;
    store_block_t b;
    assert_int_equal(store_block_get(f->st, "id-1", auth, &found, &b, f->err, sizeof f->err), 0);
    assert_true(found);
    assert_string_equal(b.action_id, f->acts[0].action_id);
}

/* An authenticator id of 600 four-byte characters (2400 bytes: the
 * contract sets no limit) is kept whole: cut at 128 bytes it was another id,
 * and cut inside a character it was not UTF-8 and left the action without
 * its authenticator_id. */
static void test_long_authenticator_id(void **state)
{
    struct fx *f = *state;
    start_mem(f, BLOCK_AUTH_RULE);
    char *auth = repeat("\xf0\x9f\x94\x91", 600);
    check_block_authenticator(f, auth);
    free(auth);
}

/* A block that would end after year 9999 ends at its last microsecond:
 * "10000-01-01T01:00:00Z" is no RFC 3339 time, and the store, unable to
 * read it back, kept the block for ever (found by tests/fuzz/fuzz_eval.c). */
static void test_block_expires_in_range(void **state)
{
    struct fx *f = *state;
    start_mem(f, "rule r\n  on identity.blocked\n  action block_identity\n  severity high\n"
                 "  duration 2h\n  reason \"r\"\nend\n");
    assert_int_equal(run(f, "{\"event_id\":\"e1\",\"ts\":\"9999-12-31T23:00:00Z\","
                            "\"type\":\"identity.blocked\",\"identity\":\"id-1\"}"),
                     0);
    assert_int_equal(f->n, 1);
    assert_int_equal(f->acts[0].expires_us, EVENT_TS_MAX_US);
    char *got = json_member(f->acts[0].json, "expires");
    assert_non_null(got);
    assert_string_equal(got, "9999-12-31T23:59:59.999999Z");
    free(got);

    int found = 0;
    store_block_t b;
    assert_int_equal(store_block_get(f->st, "id-1", NULL, &found, &b, f->err, sizeof f->err), 0);
    assert_true(found);
    assert_int_equal(b.expires_us, EVENT_TS_MAX_US);
}

/* A field that cannot be encoded gives no JSON at all, never an action
 * without the field. */
static void test_action_json_refuses_partial(void **state)
{
    struct fx *f = *state;
    start_mem(f, BLOCK_AUTH_RULE);
    action_t a;
    memset(&a, 0, sizeof a);
    strcpy(a.action_id, "0123456789abcdef0123456789abcdef");
    a.kind = KIND_BLOCK_AUTHENTICATOR;
    a.mode = MODE_ENFORCE;
    a.rule = ruleset_rule(f->rs, 0);
    strcpy(a.identity, "id-1");
    a.ts_us = 1795514400000000LL;
    a.events[a.nevents++] = strdup("e1");
    a.authenticator_id = strdup("app-\xc3"); /* cut inside a character */
    assert_null(action_to_json(&a));
    free(a.authenticator_id);
    a.authenticator_id = NULL; /* missing */
    assert_null(action_to_json(&a));
    a.authenticator_id = strdup("app-1");
    char *js = action_to_json(&a);
    assert_non_null(js);
    free(js);
    free(a.events[0]);
    a.events[0] = strdup("e-\xff"); /* evidence that is not UTF-8 */
    assert_null(action_to_json(&a));
    char *entry = action_activity_entry(&a);
    assert_non_null(entry);
    free(entry);
    action_clear(&a);
    assert_null(a.authenticator_id);
    assert_int_equal(a.nevents, 0);
}

/* ---- action ids ---- */

/* The id is SHA-256 over the parts, each with an 8-byte big-endian length:
 * sha256(len "login-burst" | len "alert" | len "id-1" | len "" | len "e-1"). */
static void test_action_id_format(void **state)
{
    char id[ACTION_ID_LEN + 1];
    (void)state;
    assert_int_equal(action_make_id("login-burst", KIND_ALERT, "id-1", NULL, "e-1", id), 0);
    assert_string_equal(id, "709828d2cd5ea67c478be5ce37047e7e");
    char again[ACTION_ID_LEN + 1];
    assert_int_equal(action_make_id("login-burst", KIND_ALERT, "id-1", "", "e-1", again), 0);
    assert_string_equal(again, id);
}

/* Long parts are hashed whole: two events of one long authenticator (the
 * event id came after 1 KB of other parts and was cut) have two ids, and
 * moving bytes from one part to the next changes the id. */
static void test_action_id_long_parts(void **state)
{
    char a[ACTION_ID_LEN + 1], b[ACTION_ID_LEN + 1];
    char *auth = repeat("\xe2\x82\xac", 400); /* 1200 bytes */
    (void)state;
    assert_int_equal(action_make_id("r", KIND_BLOCK_AUTHENTICATOR, "id-1", auth, "e-1", a), 0);
    assert_int_equal(action_make_id("r", KIND_BLOCK_AUTHENTICATOR, "id-1", auth, "e-2", b), 0);
    assert_string_not_equal(a, b);
    free(auth);
    assert_int_equal(action_make_id("r", KIND_BLOCK_AUTHENTICATOR, "id-1a", "b", "e-1", a), 0);
    assert_int_equal(action_make_id("r", KIND_BLOCK_AUTHENTICATOR, "id-1", "ab", "e-1", b), 0);
    assert_string_not_equal(a, b);
}

/* ---- evidence ---- */

/* An event of type at second sec of 10:00 for id-1, with event id eid. */
static int run_at(struct fx *f, const char *type, int sec, const char *eid, const char *extra)
{
    char json[512];
    snprintf(json, sizeof json,
             "{\"event_id\":\"%s\",\"ts\":\"2026-11-24T10:%02d:%02dZ\",\"type\":\"%s\","
             "\"identity\":\"id-1\"%s}",
             eid, sec / 60, sec % 60, type, extra);
    return run(f, json);
}

/* Two counts give more evidence than an action holds: the others are cut
 * (20 at most) and the triggering event still comes last. */
static void test_evidence_trigger_last(void **state)
{
    struct fx *f = *state;
    char eid[32];
    start_mem(f, "rule r\n  on login.approved\n"
                 "  when count(login.started within 1h) >= 1"
                 " and count(login.failed within 1h) >= 1\n" TAIL);
    for (int i = 0; i < 25; i++) {
        snprintf(eid, sizeof eid, "s-%02d", i);
        assert_int_equal(run_at(f, "login.started", i, eid, ",\"request_id\":\"q\""), 0);
        snprintf(eid, sizeof eid, "f-%02d", i);
        assert_int_equal(run_at(f, "login.failed", 30 + i, eid, ""), 0);
    }
    assert_int_equal(run_at(f, "login.approved", 120, "trigger",
                            ",\"request_id\":\"q\",\"authenticator_id\":\"a\""),
                     0);
    assert_int_equal(f->n, 1);
    const action_t *a = &f->acts[0];
    assert_int_equal(a->nevents, ACTION_MAX_EVIDENCE);
    assert_string_equal(a->events[a->nevents - 1], "trigger");
    /* the newest of the first count, then what room is left for the second */
    assert_string_equal(a->events[0], "s-06");
    assert_string_equal(a->events[18], "s-24");
    assert_string_equal(a->events[19], "f-06");
    char *js = action_to_json(a);
    assert_non_null(js);
    assert_non_null(strstr(js, "\"f-06\",\"trigger\"]}"));
    free(js);
}

/* A request the triggering event remembered itself is the event: named
 * once, and last, even when the request is read before the count. */
static void test_evidence_trigger_once(void **state)
{
    struct fx *f = *state;
    start_mem(f, "request initiator from login.started by request_id keep 15m\n"
                 "rule r\n  on login.started\n"
                 "  when initiator is present and count(login.started within 1h) >= 2\n" TAIL);
    assert_int_equal(run_at(f, "login.started", 0, "e-0", ",\"request_id\":\"q0\""), 0);
    assert_int_equal(f->n, 0);
    assert_int_equal(run_at(f, "login.started", 1, "e-1", ",\"request_id\":\"q1\""), 0);
    assert_int_equal(f->n, 1);
    assert_int_equal(f->acts[0].nevents, 2);
    assert_string_equal(f->acts[0].events[0], "e-0");
    assert_string_equal(f->acts[0].events[1], "e-1");
}

/* ---- long values are whole values ---- */

/* A login.started of id-1 at second sec with user agent ua and service
 * provider sp. */
static int run_login(struct fx *f, int sec, const char *ua, const char *sp)
{
    size_t n = strlen(ua) + strlen(sp) + 512;
    char *json = malloc(n);
    assert_non_null(json);
    snprintf(json, n,
             "{\"event_id\":\"e-%d\",\"ts\":\"2026-11-24T10:00:%02dZ\",\"type\":\"login.started\","
             "\"identity\":\"id-1\",\"request_id\":\"q-%d\",\"user_agent\":\"%s\","
             "\"service_provider\":\"%s\"}",
             sec, sec, sec, ua, sp);
    int rc = run(f, json);
    free(json);
    return rc;
}

/* Two user agents of 1001 characters (4 KB) that differ only in their last
 * byte are two values: as a count's scope (it was cut at 1.2 KB) and as a
 * known set's member (cut at 1.1 KB); so are two 10 KB service providers. */
static void test_long_values_distinct(void **state)
{
    struct fx *f = *state;
    char *base = repeat("\xf0\x9f\x94\x91", 1000);
    char *ua1 = malloc(strlen(base) + 2), *ua2 = malloc(strlen(base) + 2);
    char *sp1 = repeat("s", 10000), *sp2 = repeat("s", 10001);
    assert_non_null(ua1);
    assert_non_null(ua2);
    sprintf(ua1, "%s1", base);
    sprintf(ua2, "%s2", base);
    start_mem(f, "set agents on login.started add user_agent keep 1d\n"
                 "set providers on login.started add service_provider keep 1d\n"
                 "rule same-agent\n  on login.started\n"
                 "  when count(login.started by user_agent within 1h) >= 2\n" TAIL
                 "rule known-agent\n  on login.started\n  when user_agent in agents\n" TAIL
                 "rule known-provider\n  on login.started\n"
                 "  when service_provider in providers\n" TAIL);
    assert_int_equal(run_login(f, 1, ua1, sp1), 0);
    assert_int_equal(f->n, 0);
    assert_int_equal(run_login(f, 2, ua2, sp2), 0);
    assert_int_equal(f->n, 0);
    /* the same values again: each rule fires */
    assert_int_equal(run_login(f, 3, ua1, sp1), 0);
    assert_int_equal(f->n, 3);
    assert_string_equal(f->acts[0].rule->id, "same-agent");
    assert_string_equal(f->acts[1].rule->id, "known-agent");
    assert_string_equal(f->acts[2].rule->id, "known-provider");
    free(base);
    free(ua1);
    free(ua2);
    free(sp1);
    free(sp2);
}

/* ---- regular expressions stopped by their limits ---- */

/* Passes the probe at load, backtracks without bound on "aab" repeated. */
#define BACKTRACK "^(aab|a|ab)*$"

/* A login.started of id-1 whose user agent is n bytes of "aab" repeated and
 * a final "c": 64 KiB is 64 times what the parser lets in (1024
 * characters), so the value is put into the parsed event directly: the
 * engine must stay bounded whatever reaches it. */
static int run_long_agent(struct fx *f, int sec, size_t n)
{
    char json[256];
    snprintf(json, sizeof json,
             "{\"event_id\":\"e-%d\",\"ts\":\"2026-11-24T10:00:%02dZ\",\"type\":\"login.started\","
             "\"identity\":\"id-1\",\"request_id\":\"q-%d\",\"user_agent\":\"x\"}",
             sec, sec, sec);
    event_t ev;
    char why[256];
    if (event_parse(json, strlen(json), &ev, why, sizeof why) != EVENT_OK)
        fail_msg("bad event: %s", why);
    char *ua = malloc(n + 1);
    assert_non_null(ua);
    for (size_t i = 0; i + 1 < n; i++)
        ua[i] = "aab"[i % 3];
    ua[n - 1] = 'c';
    ua[n] = '\0';
    const char *parsed = ev.str[FIELD_USER_AGENT];
    ev.str[FIELD_USER_AGENT] = ua;
    ev.len[FIELD_USER_AGENT] = n;
    int rc = engine_process(f->eng, &ev, &f->acts, &f->n, f->err, sizeof f->err);
    ev.str[FIELD_USER_AGENT] = parsed;
    event_clear(&ev);
    free(ua);
    return rc;
}

/* What the trace said of the last `matches` it saw (regex_limit). */
static void trace_regex(void *ctx, const engine_trace_t *t)
{
    if (t->kind == ENGINE_TRACE_COND && t->x->op == EX_MATCH) *(int *)ctx = t->regex_limit;
}

/* A 64 KiB user agent against a backtracking pattern: the evaluation
 * returns (bounded by the match and depth limits), the limit is counted in
 * the rule's statistics, and the condition is taken as a match, the
 * default of regex.on_limit: the rule fires. */
static void test_regex_limit_taken_as_match(void **state)
{
    struct fx *f = *state;
    int traced = -1;
    start_mem(f, "rule r\n  on login.started\n  when user_agent matches \"" BACKTRACK "\"\n" TAIL);
    engine_set_trace(f->eng, trace_regex, &traced);
    assert_int_equal(run_long_agent(f, 1, 64 * 1024), 0);
    const engine_rule_stats_t *st = engine_rule_stats(f->eng, 0);
    assert_int_equal(st->regex_limit, 1);
    assert_int_equal(st->hits, 1);
    assert_int_equal(f->n, 1);
    assert_string_equal(f->acts[0].rule->id, "r");
    assert_int_equal(traced, 2); /* explained as "taken as a match" */
    /* again: counted each time (no cooldown here, so it fires again) */
    assert_int_equal(run_long_agent(f, 2, 64 * 1024), 0);
    assert_int_equal(st->regex_limit, 2);
    assert_int_equal(f->n, 1);
    /* a short agent is decided: "aab" x 3 + "c" does not match, no limit */
    assert_int_equal(run_long_agent(f, 3, 10), 0);
    assert_int_equal(st->regex_limit, 2);
    assert_int_equal(f->n, 0);
    assert_int_equal(traced, 0);
}

/* regex.on_limit = nomatch: the same evaluation is still bounded and
 * counted, and the test does not hold; under "not", the condition does. */
static void test_regex_limit_taken_as_no_match(void **state)
{
    struct fx *f = *state;
    int traced = -1;
    start_mem(f,
              "rule r\n  on login.started\n  when user_agent matches \"" BACKTRACK "\"\n" TAIL
              "rule n\n  on login.started\n  when not user_agent matches \"" BACKTRACK "\"\n" TAIL);
    ruleset_set_regex_on_limit(f->rs, REGEX_ON_LIMIT_NOMATCH);
    engine_set_trace(f->eng, trace_regex, &traced);
    assert_int_equal(run_long_agent(f, 1, 64 * 1024), 0);
    assert_int_equal(engine_rule_stats(f->eng, 0)->regex_limit, 1);
    assert_int_equal(engine_rule_stats(f->eng, 0)->hits, 0);
    assert_int_equal(engine_rule_stats(f->eng, 1)->regex_limit, 1);
    assert_int_equal(engine_rule_stats(f->eng, 1)->hits, 1);
    assert_int_equal(f->n, 1);
    assert_string_equal(f->acts[0].rule->id, "n");
    assert_int_equal(traced, 1); /* explained as "taken as no match" */

    /* and with the default, "not" inverts the match */
    stop(f);
    start_mem(f,
              "rule n\n  on login.started\n  when not user_agent matches \"" BACKTRACK "\"\n" TAIL);
    assert_int_equal(run_long_agent(f, 1, 64 * 1024), 0);
    assert_int_equal(engine_rule_stats(f->eng, 0)->regex_limit, 1);
    assert_int_equal(f->n, 0);
}

/* Through the parser: a login.failed whose reason (text without a length
 * limit in the contract) fills the 64 KiB message. */
static void test_regex_limit_long_reason(void **state)
{
    struct fx *f = *state;
    start_mem(f, "rule r\n  on login.failed\n  when reason matches \"" BACKTRACK "\"\n" TAIL);
    char *reason = repeat("aab", 21500);
    char *json = malloc(strlen(reason) + 256);
    assert_non_null(json);
    sprintf(json,
            "{\"event_id\":\"e1\",\"ts\":\"2026-11-24T10:00:00Z\",\"type\":\"login.failed\","
            "\"identity\":\"id-1\",\"reason\":\"%sc\"}",
            reason);
    assert_true(strlen(json) <= EVENT_MAX_BYTES);
    assert_int_equal(run(f, json), 0);
    assert_int_equal(engine_rule_stats(f->eng, 0)->regex_limit, 1);
    assert_int_equal(f->n, 1);
    free(json);
    free(reason);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_set_filter_store_failure),    T(test_long_authenticator_id),
        T(test_action_json_refuses_partial), T(test_action_id_format),
        T(test_action_id_long_parts),        T(test_evidence_trigger_last),
        T(test_evidence_trigger_once),       T(test_long_values_distinct),
        T(test_regex_limit_taken_as_match),  T(test_regex_limit_taken_as_no_match),
        T(test_regex_limit_long_reason),     T(test_block_expires_in_range),
    };
#undef T
    /* hiredis writes with write(2): a stopped server must not kill us */
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
