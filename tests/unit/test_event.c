/* test_event.c - unit tests of detector/event.c: every class of bad event
 * with its exact reason, valid events of every type, timestamps. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"

/* The common fields of a valid event, to which a test appends its own. */
#define COMMON "\"event_id\":\"e-1\",\"ts\":\"2026-11-24T10:00:00Z\",\"identity\":\"id-7f3a\""

#define TS_2026_11_24_10 INT64_C(1795514400000000) /* 2026-11-24T10:00:00Z */

static const char example1[] =
    "{\"event_id\":\"e-1001\",\"ts\":\"2026-11-24T10:00:00Z\",\"type\":\"login.started\","
    "\"identity\":\"id-7f3a\",\"request_id\":\"r-1\",\"ip\":\"203.0.113.7\",\"country\":\"DK\","
    "\"device_id\":\"br-11\",\"user_agent\":\"Mozilla/5.0\",\"service_provider\":\"bank.example\"}";
static const char example2[] =
    "{\"event_id\":\"e-1002\",\"ts\":\"2026-11-24T10:00:20Z\",\"type\":\"login.approved\","
    "\"identity\":\"id-7f3a\",\"request_id\":\"r-1\",\"authenticator_id\":\"app-1\","
    "\"ip\":\"198.51.100.4\",\"country\":\"DK\"}";
static const char example3[] =
    "{\"event_id\":\"e-1003\",\"ts\":\"2026-11-24T11:02:00Z\",\"type\":\"userid.changed\","
    "\"identity\":\"id-7f3a\",\"old_user_id\":\"anna1\",\"new_user_id\":\"anna2\","
    "\"ip\":\"203.0.113.7\",\"device_id\":\"br-11\",\"channel\":\"self_service\"}";

/* ---- helpers ---- */

static char err[512];

static event_status_t parse_n(const char *data, size_t len, event_t *ev)
{
    memset(err, 'x', sizeof err - 1);
    err[sizeof err - 1] = '\0';
    return event_parse(data, len, ev, err, sizeof err);
}

static event_status_t parse(const char *json, event_t *ev)
{
    return parse_n(json, strlen(json), ev);
}

/* Asserts that json is a bad event with exactly this reason and that ev
 * holds nothing afterwards. */
static void check_bad(const char *json, const char *reason)
{
    event_t ev;
    event_status_t st = parse(json, &ev);

    if (st != EVENT_BAD) print_error("accepted: %s\n", json);
    assert_int_equal(st, EVENT_BAD);
    assert_string_equal(err, reason);
    assert_null(ev.doc);
    assert_null(ev.str[FIELD_EVENT_ID]);
}

/* Asserts that json is a valid event of type t; the caller clears ev. */
static void check_ok(const char *json, event_type_t t, event_t *ev)
{
    event_status_t st = parse(json, ev);

    if (st != EVENT_OK) print_error("refused: %s\nreason: %s\n", json, err);
    assert_int_equal(st, EVENT_OK);
    assert_int_equal(ev->type, t);
    assert_string_equal(err, "");
    assert_non_null(ev->doc);
}

static void ok_event(const char *json, event_type_t t)
{
    event_t ev;

    check_ok(json, t, &ev);
    event_clear(&ev);
}

static void assert_field(const event_t *ev, event_field_t f, const char *value)
{
    if (value == NULL) {
        assert_null(ev->str[f]);
        assert_int_equal(ev->len[f], 0);
        return;
    }
    assert_non_null(ev->str[f]);
    assert_string_equal(ev->str[f], value);
    assert_int_equal(ev->len[f], strlen(value));
}

/* An event of this type with the common fields and extra (a comma-separated
 * list of members, maybe empty). Returns a static buffer. */
static char *with_common(const char *type, const char *extra)
{
    static char buf[8192];

    snprintf(buf, sizeof buf, "{" COMMON ",\"type\":\"%s\"%s%s}", type, *extra ? "," : "", extra);
    return buf;
}

static char *repeat(const char *unit, size_t n)
{
    size_t ul = strlen(unit);
    char *s = malloc(ul * n + 1);

    assert_non_null(s);
    for (size_t i = 0; i < n; i++)
        memcpy(s + i * ul, unit, ul);
    s[ul * n] = '\0';
    return s;
}

static int64_t ts(const char *s)
{
    int64_t us = 0;

    if (event_ts_parse(s, strlen(s), &us) != 0) print_error("refused timestamp: %s\n", s);
    assert_int_equal(event_ts_parse(s, strlen(s), &us), 0);
    return us;
}

static void bad_ts(const char *s)
{
    char json[512];
    int64_t us;

    if (event_ts_parse(s, strlen(s), &us) == 0) print_error("accepted timestamp: %s\n", s);
    assert_int_equal(event_ts_parse(s, strlen(s), &us), -1);
    snprintf(json, sizeof json,
             "{\"event_id\":\"e-1\",\"ts\":\"%s\",\"type\":\"identity.unblocked\","
             "\"identity\":\"id-1\"}",
             s);
    check_bad(json, "field \"ts\" is not an RFC 3339 timestamp");
}

/* ---- bad events ---- */

static void test_not_json(void **state)
{
    (void)state;
    check_bad("not json", "invalid JSON: invalid token near 'not' at line 1 column 3");
    check_bad("{\"event_id\":",
              "invalid JSON: unexpected token near end of file at line 1 column 12");
    check_bad("", "invalid JSON: unexpected token near end of file at line 1 column 0");
    check_bad("{\"a\":1,}", "invalid JSON: string or '}' expected near '}' at line 1 column 8");
    check_bad("{\"a\":1} {\"b\":2}",
              "invalid JSON: end of file expected near '{' at line 1 column 9");
    /* A NUL byte inside the buffer is not the end of it. */
    event_t ev;
    assert_int_equal(parse_n("{\"a\":1}\0", 8, &ev), EVENT_BAD);
    assert_string_equal(err,
                        "invalid JSON: end of file expected near end of file at line 1 column 8");
    assert_int_equal(event_parse(NULL, 0, &ev, err, sizeof err), EVENT_BAD);
    assert_string_equal(err, "invalid JSON: unexpected token near end of file at line 1 column 0");
}

static void test_not_object(void **state)
{
    (void)state;
    check_bad("[1,2]", "event is not a JSON object");
    check_bad("42", "event is not a JSON object");
    check_bad("\"login.started\"", "event is not a JSON object");
    check_bad("null", "event is not a JSON object");
}

static void test_too_big(void **state)
{
    event_t ev;
    char *big = malloc(70000);
    const char *head = "{" COMMON ",\"type\":\"identity.unblocked\",\"pad\":\"";
    size_t hl = strlen(head);

    (void)state;
    assert_non_null(big);
    memset(big, ' ', 70000);
    assert_int_equal(parse_n(big, 70000, &ev), EVENT_BAD);
    assert_string_equal(err, "event is 70000 bytes, over the 64 KiB limit");
    assert_null(ev.doc);

    /* Exactly 64 KiB is allowed, one byte more is not. */
    memcpy(big, head, hl);
    memset(big + hl, 'p', EVENT_MAX_BYTES - hl - 2);
    memcpy(big + EVENT_MAX_BYTES - 2, "\"}", 2);
    assert_int_equal(parse_n(big, EVENT_MAX_BYTES, &ev), EVENT_OK);
    event_clear(&ev);
    big[EVENT_MAX_BYTES] = '\n';
    assert_int_equal(parse_n(big, EVENT_MAX_BYTES + 1, &ev), EVENT_BAD);
    assert_string_equal(err, "event is 65537 bytes, over the 64 KiB limit");
    free(big);
}

static void test_missing_required(void **state)
{
    (void)state;
    check_bad("{}", "missing required field \"event_id\"");
    check_bad("{\"event_id\":\"e-1\",\"type\":\"identity.unblocked\",\"identity\":\"id\"}",
              "missing required field \"ts\"");
    check_bad("{\"event_id\":\"e-1\",\"ts\":\"2026-11-24T10:00:00Z\",\"identity\":\"id\"}",
              "missing required field \"type\"");
    check_bad(
        "{\"event_id\":\"e-1\",\"ts\":\"2026-11-24T10:00:00Z\",\"type\":\"identity.unblocked\"}",
        "missing required field \"identity\"");
    /* null is absent */
    check_bad(
        "{\"event_id\":\"e-1\",\"ts\":\"2026-11-24T10:00:00Z\",\"type\":\"identity.unblocked\","
        "\"identity\":null}",
        "missing required field \"identity\"");
    /* per type */
    check_bad(with_common("login.started", ""),
              "missing required field \"request_id\" for type login.started");
    check_bad(with_common("login.approved", "\"authenticator_id\":\"app-1\""),
              "missing required field \"request_id\" for type login.approved");
    check_bad(with_common("login.approved", "\"request_id\":\"r-1\""),
              "missing required field \"authenticator_id\" for type login.approved");
    check_bad(with_common("login.rejected", "\"authenticator_id\":\"app-1\""),
              "missing required field \"request_id\" for type login.rejected");
    check_bad(with_common("authenticator.activated", "\"authenticator_id\":\"app-1\""),
              "missing required field \"authenticator_type\" for type authenticator.activated");
    check_bad(with_common("authenticator.activated", "\"authenticator_type\":\"app\""),
              "missing required field \"authenticator_id\" for type authenticator.activated");
    check_bad(with_common("authenticator.blocked", "\"reason\":\"lost\""),
              "missing required field \"authenticator_id\" for type authenticator.blocked");
    check_bad(with_common("authenticator.reactivated", "\"authenticator_id\":null"),
              "missing required field \"authenticator_id\" for type authenticator.reactivated");
}

static void test_wrong_type(void **state)
{
    (void)state;
    check_bad("{\"event_id\":1001}", "field \"event_id\" must be a string");
    check_bad("{\"event_id\":\"e-1\",\"ts\":1795514400,\"type\":\"identity.unblocked\","
              "\"identity\":\"id\"}",
              "field \"ts\" must be a string");
    check_bad("{\"event_id\":\"e-1\",\"ts\":\"2026-11-24T10:00:00Z\",\"type\":[\"login.started\"],"
              "\"identity\":\"id\"}",
              "field \"type\" must be a string");
    check_bad(
        "{\"event_id\":\"e-1\",\"ts\":\"2026-11-24T10:00:00Z\",\"type\":\"identity.unblocked\","
        "\"identity\":{}}",
        "field \"identity\" must be a string");
    check_bad(
        "{\"event_id\":\"e-1\",\"ts\":\"2026-11-24T10:00:00Z\",\"type\":\"identity.unblocked\","
        "\"identity\":7}",
        "field \"identity\" must be a string");
    check_bad(with_common("identity.unblocked", "\"ip\":true"), "field \"ip\" must be a string");
    check_bad(with_common("identity.unblocked", "\"country\":45"),
              "field \"country\" must be a string");
    check_bad(with_common("identity.unblocked", "\"user_agent\":[]"),
              "field \"user_agent\" must be a string");
    check_bad(with_common("login.approved", "\"request_id\":1,\"authenticator_id\":\"a\""),
              "field \"request_id\" must be a string");
    check_bad(with_common("login.failed", "\"reason\":{\"code\":3}"),
              "field \"reason\" must be a string");
    check_bad(with_common("userid.changed", "\"old_user_id\":\"a\",\"new_user_id\":false"),
              "field \"new_user_id\" must be a string");
}

static void test_reported_wrong_type(void **state)
{
    (void)state;
    check_bad(with_common("login.rejected", "\"request_id\":\"r-1\",\"reported\":\"true\""),
              "field \"reported\" must be a boolean");
    check_bad(with_common("login.rejected", "\"request_id\":\"r-1\",\"reported\":1"),
              "field \"reported\" must be a boolean");
}

static void test_identity_pattern(void **state)
{
    char json[1024];
    char *long_id = repeat("a", 129);

    (void)state;
    const char *bad[] = {"id 7f3a", "", "id/7f3a", "id\\u00e9", "id:1", long_id};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(json, sizeof json,
                 "{\"event_id\":\"e-1\",\"ts\":\"2026-11-24T10:00:00Z\","
                 "\"type\":\"identity.unblocked\",\"identity\":\"%s\"}",
                 bad[i]);
        check_bad(json, "field \"identity\" does not match ^[A-Za-z0-9._-]{1,128}$");
    }
    long_id[128] = '\0';
    snprintf(json, sizeof json,
             "{\"event_id\":\"e-1\",\"ts\":\"2026-11-24T10:00:00Z\","
             "\"type\":\"identity.unblocked\",\"identity\":\"%s\"}",
             long_id);
    ok_event(json, EV_IDENTITY_UNBLOCKED);
    ok_event(
        "{\"event_id\":\"e-1\",\"ts\":\"2026-11-24T10:00:00Z\",\"type\":\"identity.unblocked\","
        "\"identity\":\"A.b_C-9\"}",
        EV_IDENTITY_UNBLOCKED);
    free(long_id);
}

static void test_duplicate_key(void **state)
{
    char json[1024];
    char *key = repeat("k", 100);

    (void)state;
    check_bad("{\"event_id\":\"e-1\",\"event_id\":\"e-2\"}",
              "duplicate key \"event_id\" at line 1 column 28");
    check_bad("{\"a\":1,\n \"a\" : 2}", "duplicate key \"a\" at line 2 column 4");
    /* Keys are compared after unescaping; the reason quotes the key as written. */
    check_bad("{\"ts\":\"x\",\"t\\u0073\":\"y\"}",
              "duplicate key \"t\\u0073\" at line 1 column 19");
    /* Inside a nested object too. */
    check_bad("{\"x\":{\"a\":1,\"a\":1}}", "duplicate key \"a\" at line 1 column 15");
    /* A long key is cut (Jansson's own text leaves it out). */
    snprintf(json, sizeof json, "{\"%s\":1,\"%s\":2}", key, key);
    key[63] = '\0';
    char want[256];
    snprintf(want, sizeof want, "duplicate key \"%s... at line 1 column 208", key);
    check_bad(json, want);
    free(key);
}

/* An event whose field "x" holds n nested containers around a 0, so the
 * event has n + 1 levels. */
static char *nested(int n, const char *open, const char *close)
{
    static char buf[16384];
    size_t off;

    off = (size_t)snprintf(buf, sizeof buf, "{" COMMON ",\"type\":\"identity.unblocked\",\"x\":");
    for (int i = 0; i < n; i++)
        off += (size_t)snprintf(buf + off, sizeof buf - off, "%s", open);
    off += (size_t)snprintf(buf + off, sizeof buf - off, "0");
    for (int i = 0; i < n; i++)
        off += (size_t)snprintf(buf + off, sizeof buf - off, "%s", close);
    snprintf(buf + off, sizeof buf - off, "}");
    return buf;
}

static void test_nesting(void **state)
{
    (void)state;
    ok_event(nested(7, "[", "]"), EV_IDENTITY_UNBLOCKED);
    ok_event(nested(7, "{\"y\":", "}"), EV_IDENTITY_UNBLOCKED);
    ok_event(nested(3, "[1,{\"y\":", "},2]"), EV_IDENTITY_UNBLOCKED);
    ok_event("{" COMMON
             ",\"type\":\"identity.unblocked\",\"x\":[1,{\"y\":[{\"y\":[{\"z\":[]}]}]}]}",
             EV_IDENTITY_UNBLOCKED);
    check_bad(nested(8, "[", "]"), "nesting deeper than 8 levels");
    check_bad(nested(8, "{\"y\":", "}"), "nesting deeper than 8 levels");
    check_bad(nested(4, "[1,{\"y\":", "},2]"), "nesting deeper than 8 levels");
    check_bad("{" COMMON
              ",\"type\":\"identity.unblocked\",\"x\":[1,{\"y\":[{\"y\":[{\"z\":[{}]}]}]}]}",
              "nesting deeper than 8 levels");
    /* Deeper than Jansson's own limit: the same reason. */
    check_bad(nested(3000, "[", "]"), "nesting deeper than 8 levels");
    /* The deep part after a shallow one is still found. */
    check_bad("{" COMMON ",\"type\":\"identity.unblocked\",\"a\":[[]],\"b\":{},"
              "\"c\":[[[[[[[[{}]]]]]]]]}",
              "nesting deeper than 8 levels");
    /* Depth comes before field checks. */
    check_bad("{\"x\":[[[[[[[[1]]]]]]]]}", "nesting deeper than 8 levels");
}

static void test_bad_timestamp(void **state)
{
    (void)state;
    bad_ts("2026-11-24T10:00:00");             /* no zone */
    bad_ts("2026-02-30T10:00:00Z");            /* Feb 30 */
    bad_ts("2027-02-29T10:00:00Z");            /* not a leap year */
    bad_ts("1900-02-29T10:00:00Z");            /* not a leap year */
    bad_ts("2026-04-31T10:00:00Z");            /* April has 30 days */
    bad_ts("2026-11-24T24:00:00Z");            /* hour 24 */
    bad_ts("2026-11-24T10:60:00Z");            /* minute 60 */
    bad_ts("2026-11-24T10:00:61Z");            /* second 61 */
    bad_ts("2026-13-24T10:00:00Z");            /* month 13 */
    bad_ts("2026-00-24T10:00:00Z");            /* month 0 */
    bad_ts("2026-11-00T10:00:00Z");            /* day 0 */
    bad_ts("garbage");                         /* garbage */
    bad_ts("");                                /* empty */
    bad_ts("2026-11-24 10:00:00Z");            /* space instead of T */
    bad_ts("2026-11-24T10:00Z");               /* no seconds */
    bad_ts("2026-11-24T10:00:00.Z");           /* empty fraction */
    bad_ts("2026-11-24T10:00:00.1234567890Z"); /* 10 fraction digits */
    bad_ts("2026-11-24T10:00:00+0100");        /* offset without colon */
    bad_ts("2026-11-24T10:00:00+01");          /* short offset */
    bad_ts("2026-11-24T10:00:00+24:00");       /* offset hour 24 */
    bad_ts("2026-11-24T10:00:00+01:60");       /* offset minute 60 */
    bad_ts("2026-11-24T10:00:00ZZ");           /* trailing bytes */
    bad_ts("2026-11-24T10:00:00Z ");           /* trailing space */
    bad_ts("+2026-11-24T10:00:00Z");           /* sign */
    bad_ts("2026-1-24T10:00:00Z");             /* one-digit month */
    bad_ts("２026-11-24T10:00:00Z");           /* non-ASCII digit */
    bad_ts("2026-11-24T10:00:00UTC");          /* zone name */
    bad_ts("1795514400");                      /* epoch seconds */
    /* Out of years 0000-9999 once in UTC: actions would carry
     * "10000-01-01T04:59:59Z" (found by tests/fuzz/fuzz_event.c). */
    bad_ts("9999-12-31T23:59:59-05:00");
    bad_ts("9999-12-31T23:59:59.999999-00:01");
    bad_ts("0000-01-01T00:00:00+00:01");
    bad_ts("0000-01-01T00:59:59.999999+01:00");
}

static void test_ts_parse_len(void **state)
{
    int64_t us = 0;

    (void)state;
    /* Exactly len bytes are read; the text need not be NUL-terminated. */
    assert_int_equal(event_ts_parse("2026-11-24T10:00:00Zjunk", 20, &us), 0);
    assert_int_equal(us, TS_2026_11_24_10);
    assert_int_equal(event_ts_parse("2026-11-24T10:00:00Z", 19, &us), -1);
    assert_int_equal(event_ts_parse(NULL, 0, &us), -1);
}

static void test_bad_ip(void **state)
{
    (void)state;
    const char *bad[] = {"300.1.1.1",    "203.0.113",    "::g",         "",
                         "203.0.113.7 ", "fe80::1%eth0", "example.org", "1.2.3.4/24"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char extra[128];
        snprintf(extra, sizeof extra, "\"ip\":\"%s\"", bad[i]);
        check_bad(with_common("identity.unblocked", extra),
                  "field \"ip\" must be an IPv4 or IPv6 address");
    }
    ok_event(with_common("identity.unblocked", "\"ip\":\"2001:db8::1\""), EV_IDENTITY_UNBLOCKED);
    ok_event(with_common("identity.unblocked", "\"ip\":\"::ffff:192.0.2.1\""),
             EV_IDENTITY_UNBLOCKED);
    ok_event(with_common("identity.unblocked", "\"ip\":\"192.0.2.1\""), EV_IDENTITY_UNBLOCKED);
}

static void test_bad_country(void **state)
{
    (void)state;
    const char *bad[] = {"dk", "Dk", "DNK", "D", "", "D1", "\\u00c6B"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char extra[128];
        snprintf(extra, sizeof extra, "\"country\":\"%s\"", bad[i]);
        check_bad(with_common("identity.unblocked", extra),
                  "field \"country\" must be an ISO 3166-1 alpha-2 code (two uppercase letters)");
    }
}

static void test_bad_channel(void **state)
{
    (void)state;
    check_bad(with_common("userid.changed", "\"channel\":\"web\""),
              "field \"channel\" must be one of self_service, app, support, citizen_service, "
              "system");
    check_bad(with_common("userid.changed", "\"channel\":\"App\""),
              "field \"channel\" must be one of self_service, app, support, citizen_service, "
              "system");
    const char *good[] = {"self_service", "app", "support", "citizen_service", "system"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char extra[128];
        event_t ev;
        snprintf(extra, sizeof extra, "\"channel\":\"%s\"", good[i]);
        check_ok(with_common("userid.changed", extra), EV_USERID_CHANGED, &ev);
        assert_field(&ev, FIELD_CHANNEL, good[i]);
        event_clear(&ev);
    }
}

static void test_bad_authenticator_type(void **state)
{
    (void)state;
    check_bad(with_common("authenticator.activated",
                          "\"authenticator_id\":\"a-1\",\"authenticator_type\":\"sms\""),
              "field \"authenticator_type\" must be one of app, code_display, "
              "audio_code_reader, chip");
}

static void test_user_agent_length(void **state)
{
    char *ua = repeat("u", 1025);
    char *extra = malloc(4200);
    event_t ev;

    (void)state;
    assert_non_null(extra);
    snprintf(extra, 4200, "\"user_agent\":\"%s\"", ua);
    check_bad(with_common("identity.unblocked", extra),
              "field \"user_agent\" must be at most 1024 characters long, not 1025");
    ua[1024] = '\0';
    snprintf(extra, 4200, "\"user_agent\":\"%s\"", ua);
    check_ok(with_common("identity.unblocked", extra), EV_IDENTITY_UNBLOCKED, &ev);
    assert_int_equal(ev.len[FIELD_USER_AGENT], 1024);
    event_clear(&ev);
    free(ua);

    /* Characters, not bytes: 1024 two-byte characters are allowed. */
    ua = repeat("\xc3\xa9", 1024);
    snprintf(extra, 4200, "\"user_agent\":\"%s\"", ua);
    check_ok(with_common("identity.unblocked", extra), EV_IDENTITY_UNBLOCKED, &ev);
    assert_int_equal(ev.len[FIELD_USER_AGENT], 2048);
    event_clear(&ev);
    free(ua);
    ua = repeat("\xc3\xa9", 1025);
    snprintf(extra, 4200, "\"user_agent\":\"%s\"", ua);
    check_bad(with_common("identity.unblocked", extra),
              "field \"user_agent\" must be at most 1024 characters long, not 1025");
    free(ua);

    /* An empty user agent is allowed. */
    ok_event(with_common("identity.unblocked", "\"user_agent\":\"\""), EV_IDENTITY_UNBLOCKED);
    free(extra);
}

static void test_event_id_length(void **state)
{
    char json[2048];
    char *id = repeat("e", 129);
    event_t ev;

    (void)state;
    snprintf(json, sizeof json,
             "{\"event_id\":\"%s\",\"ts\":\"2026-11-24T10:00:00Z\","
             "\"type\":\"identity.unblocked\",\"identity\":\"id\"}",
             id);
    check_bad(json, "field \"event_id\" must be 1-128 characters long, not 129");
    check_bad("{\"event_id\":\"\"}", "field \"event_id\" must be 1-128 characters long, not 0");
    id[128] = '\0';
    snprintf(json, sizeof json,
             "{\"event_id\":\"%s\",\"ts\":\"2026-11-24T10:00:00Z\","
             "\"type\":\"identity.unblocked\",\"identity\":\"id\"}",
             id);
    ok_event(json, EV_IDENTITY_UNBLOCKED);
    free(id);

    /* 128 three-byte characters (384 bytes) are 128 characters. */
    id = repeat("\xe2\x82\xac", 128);
    snprintf(json, sizeof json,
             "{\"event_id\":\"%s\",\"ts\":\"2026-11-24T10:00:00Z\","
             "\"type\":\"identity.unblocked\",\"identity\":\"id\"}",
             id);
    check_ok(json, EV_IDENTITY_UNBLOCKED, &ev);
    assert_int_equal(ev.len[FIELD_EVENT_ID], 384);
    event_clear(&ev);
    free(id);

    /* The same limits for device_id, the contract's other id of 1-128
     * characters. */
    check_bad(with_common("identity.unblocked", "\"device_id\":\"\""),
              "field \"device_id\" must be 1-128 characters long, not 0");
    id = repeat("d", 129);
    snprintf(json, sizeof json, "\"device_id\":\"%s\"", id);
    check_bad(with_common("identity.unblocked", json),
              "field \"device_id\" must be 1-128 characters long, not 129");
    free(id);
}

/* An event of type with the extra fields (a printf format with one %s for
 * value); caller frees. */
static char *event_with(const char *type, const char *fmt, const char *value)
{
    size_t n = strlen(fmt) + strlen(value) + 256;
    char *extra = malloc(n), *json = malloc(n + 256);

    assert_non_null(extra);
    assert_non_null(json);
    snprintf(extra, n, fmt, value);
    snprintf(json, n + 256, "{" COMMON ",\"type\":\"%s\",%s}", type, extra);
    free(extra);
    return json;
}

/* The contract limits only event_id, device_id and user_agent (and the
 * message to 64 KiB): request_id, authenticator_id, reason,
 * service_provider, old_user_id and new_user_id may be of any length, and
 * empty. Their type is still checked. */
static void test_unlimited_strings(void **state)
{
    static const struct {
        const char *type, *fmt;
        event_field_t field;
    } cases[] = {
        {"login.approved", "\"request_id\":\"%s\",\"authenticator_id\":\"a\"", FIELD_REQUEST_ID},
        {"login.approved", "\"request_id\":\"r\",\"authenticator_id\":\"%s\"",
         FIELD_AUTHENTICATOR_ID},
        {"login.started", "\"request_id\":\"r\",\"service_provider\":\"%s\"",
         FIELD_SERVICE_PROVIDER},
        {"identity.blocked", "\"reason\":\"%s\"", FIELD_REASON},
        {"login.failed", "\"reason\":\"%s\"", FIELD_REASON},
        {"userid.changed", "\"old_user_id\":\"%s\"", FIELD_OLD_USER_ID},
        {"userid.changed", "\"new_user_id\":\"%s\"", FIELD_NEW_USER_ID},
    };
    /* 129 and 1025 characters were refused; 600 four-byte characters are
     * 2400 bytes. */
    char *values[] = {repeat("x", 129), repeat("x", 1025), repeat("\xf0\x9f\x94\x91", 600),
                      repeat("y", 20000), repeat("", 1)};
    event_t ev;

    (void)state;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (size_t v = 0; v < sizeof values / sizeof values[0]; v++) {
            char *json = event_with(cases[c].type, cases[c].fmt, values[v]);
            check_ok(json, event_type_from_name(cases[c].type), &ev);
            assert_int_equal(ev.len[cases[c].field], strlen(values[v]));
            assert_string_equal(ev.str[cases[c].field], values[v]);
            event_clear(&ev);
            free(json);
        }
    for (size_t v = 0; v < sizeof values / sizeof values[0]; v++)
        free(values[v]);

    /* Only the whole message is limited. */
    char *big = repeat("z", EVENT_MAX_BYTES);
    char *json = event_with("identity.blocked", "\"reason\":\"%s\"", big);
    char want[64];
    snprintf(want, sizeof want, "event is %zu bytes, over the 64 KiB limit", strlen(json));
    check_bad(json, want);
    free(json);
    free(big);

    /* The types are still checked. */
    check_bad(with_common("login.approved", "\"request_id\":7,\"authenticator_id\":\"a\""),
              "field \"request_id\" must be a string");
    check_bad(with_common("login.approved", "\"request_id\":\"r\",\"authenticator_id\":[]"),
              "field \"authenticator_id\" must be a string");
    check_bad(with_common("identity.blocked", "\"reason\":true"),
              "field \"reason\" must be a string");
    check_bad(with_common("userid.changed", "\"old_user_id\":{}"),
              "field \"old_user_id\" must be a string");
    check_bad(with_common("login.started", "\"request_id\":\"r\",\"service_provider\":1.5"),
              "field \"service_provider\" must be a string");
}

static void test_invalid_utf8(void **state)
{
    (void)state;
    check_bad("{\"event_id\":\"e-\xff\"}",
              "invalid JSON: unable to decode byte 0xff near '\"e-' at line 1 column 15");
    check_bad("{\"event_id\":\"e-\xc3\x28\"}",
              "invalid JSON: unable to decode byte 0xc3 near '\"e-' at line 1 column 15");
    /* An overlong encoding of '/' */
    check_bad("{\"event_id\":\"e-\xc0\xaf\"}",
              "invalid JSON: unable to decode byte 0xc0 near '\"e-' at line 1 column 15");
    /* A lone surrogate escape */
    check_bad("{\"event_id\":\"e-\\ud800\"}",
              "invalid JSON: invalid Unicode '\\uD800' near '\"e-\\ud800\"' at line 1 column 22");
}

static void test_nul_in_string(void **state)
{
    (void)state;
    check_bad("{\"event_id\":\"e-\\u0000-1\"}",
              "invalid JSON: \\u0000 is not allowed without JSON_ALLOW_NUL near '\"e-\\u0000-1\"' "
              "at line 1 column 24");
}

/* Known fields are checked by their JSON type even where the type does not
 * list them; unknown fields are ignored. */
static void test_unlisted_fields(void **state)
{
    event_t ev;

    (void)state;
    check_bad(with_common("login.started", "\"request_id\":\"r-1\",\"reported\":\"yes\""),
              "field \"reported\" must be a boolean");
    check_bad(with_common("identity.unblocked", "\"reason\":42"),
              "field \"reason\" must be a string");
    check_ok(with_common("login.started", "\"request_id\":\"r-1\",\"reported\":true,"
                                          "\"authenticator_type\":\"sms\",\"reason\":\"x\","
                                          "\"future\":{\"a\":[1,2,null]},\"n\":1.5"),
             EV_LOGIN_STARTED, &ev);
    assert_int_equal(ev.reported, -1);
    assert_field(&ev, FIELD_AUTHENTICATOR_TYPE, NULL);
    assert_field(&ev, FIELD_REASON, NULL);
    assert_field(&ev, FIELD_REQUEST_ID, "r-1");
    event_clear(&ev);
}

/* ---- valid events ---- */

static void test_contract_examples(void **state)
{
    event_t ev;
    char buf[32];

    (void)state;
    check_ok(example1, EV_LOGIN_STARTED, &ev);
    assert_field(&ev, FIELD_EVENT_ID, "e-1001");
    assert_field(&ev, FIELD_TS, "2026-11-24T10:00:00Z");
    assert_field(&ev, FIELD_TYPE, "login.started");
    assert_field(&ev, FIELD_IDENTITY, "id-7f3a");
    assert_field(&ev, FIELD_REQUEST_ID, "r-1");
    assert_field(&ev, FIELD_IP, "203.0.113.7");
    assert_field(&ev, FIELD_COUNTRY, "DK");
    assert_field(&ev, FIELD_DEVICE_ID, "br-11");
    assert_field(&ev, FIELD_USER_AGENT, "Mozilla/5.0");
    assert_field(&ev, FIELD_SERVICE_PROVIDER, "bank.example");
    assert_field(&ev, FIELD_CHANNEL, NULL);
    assert_field(&ev, FIELD_AUTHENTICATOR_ID, NULL);
    assert_int_equal(ev.reported, -1);
    assert_int_equal(ev.ts_us, TS_2026_11_24_10);
    assert_string_equal(event_ts_format(ev.ts_us, buf, sizeof buf), "2026-11-24T10:00:00Z");
    event_clear(&ev);
    assert_null(ev.doc);
    assert_null(ev.str[FIELD_EVENT_ID]);

    check_ok(example2, EV_LOGIN_APPROVED, &ev);
    assert_field(&ev, FIELD_EVENT_ID, "e-1002");
    assert_field(&ev, FIELD_REQUEST_ID, "r-1");
    assert_field(&ev, FIELD_AUTHENTICATOR_ID, "app-1");
    assert_field(&ev, FIELD_IP, "198.51.100.4");
    assert_field(&ev, FIELD_COUNTRY, "DK");
    assert_int_equal(ev.ts_us, TS_2026_11_24_10 + 20 * INT64_C(1000000));
    event_clear(&ev);

    check_ok(example3, EV_USERID_CHANGED, &ev);
    assert_field(&ev, FIELD_OLD_USER_ID, "anna1");
    assert_field(&ev, FIELD_NEW_USER_ID, "anna2");
    assert_field(&ev, FIELD_IP, "203.0.113.7");
    assert_field(&ev, FIELD_DEVICE_ID, "br-11");
    assert_field(&ev, FIELD_CHANNEL, "self_service");
    assert_int_equal(ev.ts_us, TS_2026_11_24_10 + 62 * 60 * INT64_C(1000000));
    event_clear(&ev);

    /* As a JSON Lines line, with its newline, and not NUL-terminated. */
    char line[sizeof example1 + 1];
    memcpy(line, example1, sizeof example1 - 1);
    line[sizeof example1 - 1] = '\n';
    line[sizeof example1] = '{';
    assert_int_equal(parse_n(line, sizeof example1, &ev), EVENT_OK);
    assert_field(&ev, FIELD_SERVICE_PROVIDER, "bank.example");
    event_clear(&ev);
}

static void test_every_type(void **state)
{
    event_t ev;

    (void)state;
    check_ok(with_common("login.started", "\"request_id\":\"r-1\""), EV_LOGIN_STARTED, &ev);
    assert_field(&ev, FIELD_SERVICE_PROVIDER, NULL);
    event_clear(&ev);

    check_ok(with_common("login.approved", "\"request_id\":\"r-1\",\"authenticator_id\":\"app-1\""),
             EV_LOGIN_APPROVED, &ev);
    assert_field(&ev, FIELD_AUTHENTICATOR_ID, "app-1");
    event_clear(&ev);

    check_ok(with_common("login.rejected", "\"request_id\":\"r-1\""), EV_LOGIN_REJECTED, &ev);
    assert_int_equal(ev.reported, -1);
    event_clear(&ev);
    check_ok(with_common("login.rejected",
                         "\"request_id\":\"r-1\",\"authenticator_id\":\"app-1\",\"reported\":true"),
             EV_LOGIN_REJECTED, &ev);
    assert_int_equal(ev.reported, 1);
    assert_field(&ev, FIELD_AUTHENTICATOR_ID, "app-1");
    event_clear(&ev);
    check_ok(with_common("login.rejected", "\"request_id\":\"r-1\",\"reported\":false"),
             EV_LOGIN_REJECTED, &ev);
    assert_int_equal(ev.reported, 0);
    event_clear(&ev);
    check_ok(with_common("login.rejected", "\"request_id\":\"r-1\",\"reported\":null"),
             EV_LOGIN_REJECTED, &ev);
    assert_int_equal(ev.reported, -1);
    event_clear(&ev);

    ok_event(with_common("login.failed", ""), EV_LOGIN_FAILED);
    check_ok(with_common("login.failed", "\"request_id\":\"r-1\",\"reason\":\"wrong code\""),
             EV_LOGIN_FAILED, &ev);
    assert_field(&ev, FIELD_REASON, "wrong code");
    event_clear(&ev);

    ok_event(with_common("userid.changed", ""), EV_USERID_CHANGED);

    const char *authtypes[] = {"app", "code_display", "audio_code_reader", "chip"};
    for (size_t i = 0; i < sizeof authtypes / sizeof authtypes[0]; i++) {
        char extra[128];
        snprintf(extra, sizeof extra, "\"authenticator_id\":\"a-1\",\"authenticator_type\":\"%s\"",
                 authtypes[i]);
        check_ok(with_common("authenticator.activated", extra), EV_AUTHENTICATOR_ACTIVATED, &ev);
        assert_field(&ev, FIELD_AUTHENTICATOR_TYPE, authtypes[i]);
        event_clear(&ev);
    }

    check_ok(
        with_common("authenticator.blocked", "\"authenticator_id\":\"a-1\",\"reason\":\"lost\""),
        EV_AUTHENTICATOR_BLOCKED, &ev);
    assert_field(&ev, FIELD_REASON, "lost");
    event_clear(&ev);
    ok_event(with_common("authenticator.blocked", "\"authenticator_id\":\"a-1\""),
             EV_AUTHENTICATOR_BLOCKED);

    ok_event(with_common("authenticator.reactivated", "\"authenticator_id\":\"a-1\""),
             EV_AUTHENTICATOR_REACTIVATED);

    check_ok(with_common("identity.blocked", "\"reason\":\"support\",\"channel\":\"support\""),
             EV_IDENTITY_BLOCKED, &ev);
    assert_field(&ev, FIELD_REASON, "support");
    event_clear(&ev);
    ok_event(with_common("identity.blocked", ""), EV_IDENTITY_BLOCKED);

    check_ok(with_common("identity.unblocked", "\"channel\":\"citizen_service\""),
             EV_IDENTITY_UNBLOCKED, &ev);
    assert_field(&ev, FIELD_TYPE, "identity.unblocked");
    event_clear(&ev);
}

static void test_null_optional_fields(void **state)
{
    event_t ev;

    (void)state;
    check_ok(with_common("login.started",
                         "\"request_id\":\"r-1\",\"ip\":null,\"country\":null,\"device_id\":null,"
                         "\"user_agent\":null,\"channel\":null,\"service_provider\":null"),
             EV_LOGIN_STARTED, &ev);
    for (int f = FIELD_IP; f <= FIELD_CHANNEL; f++)
        assert_null(ev.str[f]);
    assert_null(ev.str[FIELD_SERVICE_PROVIDER]);
    event_clear(&ev);
}

static void test_escaped_strings(void **state)
{
    event_t ev;

    (void)state;
    /* Strings are unescaped; len is the byte length of the UTF-8 value. */
    check_ok(with_common("identity.blocked", "\"reason\":\"a\\\"b\\u00e9\\n\""),
             EV_IDENTITY_BLOCKED, &ev);
    assert_field(&ev, FIELD_REASON, "a\"b\xc3\xa9\n");
    event_clear(&ev);
}

/* event_detach: the strings move into the caller's buffer (grown when a
 * later event needs more), the document is released, and the event reads
 * the same as before. */
static void test_detach(void **state)
{
    event_t ev;
    char *buf = NULL;
    size_t cap = 0;
    const char *ua = "Mozilla/5.0 (X11; Linux x86_64) with a longer tail to grow the buffer";

    (void)state;
    check_ok(with_common("identity.blocked", "\"reason\":\"a\\\"b\\u00e9\""), EV_IDENTITY_BLOCKED,
             &ev);
    int64_t ts = ev.ts_us;
    assert_int_equal(event_detach(&ev, &buf, &cap), 0);
    assert_null(ev.doc);
    assert_non_null(buf);
    assert_true(ev.str[FIELD_REASON] >= buf && ev.str[FIELD_REASON] < buf + cap);
    assert_field(&ev, FIELD_REASON, "a\"b\xc3\xa9");
    assert_field(&ev, FIELD_IDENTITY, "id-7f3a");
    assert_int_equal(ev.ts_us, ts);
    assert_null(ev.str[FIELD_IP]);
    size_t first = cap;
    event_clear(&ev); /* nothing left to free */

    char json[1024];
    snprintf(json, sizeof json,
             "{" COMMON ",\"type\":\"login.started\",\"request_id\":\"r-1\","
             "\"user_agent\":\"%s\"}",
             ua);
    check_ok(json, EV_LOGIN_STARTED, &ev);
    assert_int_equal(event_detach(&ev, &buf, &cap), 0);
    assert_true(cap > first);
    assert_field(&ev, FIELD_USER_AGENT, ua);
    assert_field(&ev, FIELD_REQUEST_ID, "r-1");
    event_clear(&ev);
    free(buf);
}

static void test_unknown_type(void **state)
{
    event_t ev;

    (void)state;
    assert_int_equal(
        parse(with_common("session.extended", "\"ip\":\"192.0.2.1\",\"request_id\":5"), &ev),
        EVENT_UNKNOWN);
    assert_int_equal(ev.type, EV_UNKNOWN);
    assert_field(&ev, FIELD_EVENT_ID, "e-1");
    assert_field(&ev, FIELD_TYPE, "session.extended");
    assert_field(&ev, FIELD_IDENTITY, "id-7f3a");
    assert_field(&ev, FIELD_IP, "192.0.2.1");
    assert_field(&ev, FIELD_REQUEST_ID, NULL);
    assert_int_equal(ev.ts_us, TS_2026_11_24_10);
    assert_non_null(ev.doc);
    event_clear(&ev);

    /* Names are case-sensitive; "unknown" is not a type either. */
    assert_int_equal(parse(with_common("Login.Started", ""), &ev), EVENT_UNKNOWN);
    event_clear(&ev);
    assert_int_equal(parse(with_common("unknown", ""), &ev), EVENT_UNKNOWN);
    event_clear(&ev);
    assert_int_equal(parse(with_common("", ""), &ev), EVENT_UNKNOWN);
    event_clear(&ev);

    /* The common fields are checked first. */
    check_bad(with_common("session.extended", "\"country\":\"dk\""),
              "field \"country\" must be an ISO 3166-1 alpha-2 code (two uppercase letters)");
    check_bad("{\"event_id\":\"e-1\",\"ts\":\"yesterday\",\"type\":\"session.extended\","
              "\"identity\":\"id\"}",
              "field \"ts\" is not an RFC 3339 timestamp");
    check_bad(
        "{\"event_id\":\"e-1\",\"ts\":\"2026-11-24T10:00:00Z\",\"type\":\"session.extended\"}",
        "missing required field \"identity\"");
}

static void test_check_order(void **state)
{
    (void)state;
    /* Size before JSON, JSON before object, then required fields in order. */
    check_bad("{\"identity\":\"bad id\",\"ts\":\"x\",\"type\":3}",
              "missing required field \"event_id\"");
    check_bad("{\"event_id\":\"e\",\"identity\":\"bad id\",\"ts\":\"x\",\"type\":3}",
              "field \"ts\" is not an RFC 3339 timestamp");
    check_bad("{\"event_id\":\"e\",\"identity\":\"bad id\",\"ts\":\"2026-11-24T10:00:00Z\","
              "\"type\":3}",
              "field \"type\" must be a string");
    /* Optional common fields before per-type ones. */
    check_bad(with_common("login.approved", "\"channel\":\"web\""),
              "field \"channel\" must be one of self_service, app, support, citizen_service, "
              "system");
}

static void test_err_buffer(void **state)
{
    event_t ev;
    char small[8];

    (void)state;
    /* A short buffer gets a truncated reason; no buffer at all is fine. */
    assert_int_equal(event_parse("{}", 2, &ev, small, sizeof small), EVENT_BAD);
    assert_string_equal(small, "missing");
    assert_int_equal(event_parse("{}", 2, &ev, NULL, 0), EVENT_BAD);
    assert_int_equal(event_parse(example1, strlen(example1), &ev, NULL, 0), EVENT_OK);
    event_clear(&ev);
}

static void test_clear_zeroed(void **state)
{
    event_t ev;

    (void)state;
    memset(&ev, 0, sizeof ev);
    event_clear(&ev);
    event_clear(&ev);
    event_clear(NULL);
    assert_null(ev.doc);
}

/* ---- timestamps ---- */

static void test_ts_parse(void **state)
{
    (void)state;
    assert_int_equal(ts("1970-01-01T00:00:00Z"), 0);
    assert_int_equal(ts("2026-11-24T10:00:00Z"), TS_2026_11_24_10);
    assert_int_equal(ts("2026-11-24T11:00:00+01:00"), TS_2026_11_24_10);
    assert_int_equal(ts("2026-11-24T04:30:00-05:30"), TS_2026_11_24_10);
    assert_int_equal(ts("2026-11-25T09:59:00+23:59"), TS_2026_11_24_10);
    assert_int_equal(ts("2026-11-24T10:00:00-00:00"), TS_2026_11_24_10);
    assert_int_equal(ts("2026-11-24T10:00:00+00:00"), TS_2026_11_24_10);
    assert_int_equal(ts("2026-11-24t10:00:00z"), TS_2026_11_24_10);
    assert_int_equal(ts("2026-11-24T10:00:00.5Z"), TS_2026_11_24_10 + 500000);
    assert_int_equal(ts("2026-11-24T10:00:00.25Z"), TS_2026_11_24_10 + 250000);
    assert_int_equal(ts("2026-11-24T10:00:00.000001Z"), TS_2026_11_24_10 + 1);
    assert_int_equal(ts("2026-11-24T10:00:00.123456789Z"), TS_2026_11_24_10 + 123456);
    assert_int_equal(ts("2026-11-24T10:00:00.999999999Z"), TS_2026_11_24_10 + 999999);
    assert_int_equal(ts("2026-11-24T11:00:00.5+01:00"), TS_2026_11_24_10 + 500000);
    /* Across a day, month and year boundary. */
    assert_int_equal(ts("2027-01-01T00:30:00+01:00"), ts("2026-12-31T23:30:00Z"));
    /* Leap years and the leap second (read as second 59). */
    assert_int_equal(ts("2000-02-29T00:00:00Z"), INT64_C(951782400000000));
    assert_int_equal(ts("2028-02-29T00:00:00Z") - ts("2028-02-28T00:00:00Z"), INT64_C(86400000000));
    assert_int_equal(ts("2016-12-31T23:59:60Z"), ts("2016-12-31T23:59:59Z"));
    assert_int_equal(ts("2016-12-31T23:59:60.5Z"), ts("2016-12-31T23:59:59.5Z"));
    /* Before the epoch and the ends of the range. */
    assert_int_equal(ts("1969-12-31T23:59:59.5Z"), -500000);
    assert_int_equal(ts("0000-01-01T00:00:00Z"), INT64_C(-62167219200000000));
    assert_int_equal(ts("9999-12-31T23:59:59.999999Z"), INT64_C(253402300799999999));
    assert_int_equal(ts("0000-01-01T01:00:00+01:00"), INT64_C(-62167219200000000));
    assert_int_equal(ts("9999-12-31T18:59:59.999999-05:00"), INT64_C(253402300799999999));
}

static void test_ts_format(void **state)
{
    char buf[32];

    (void)state;
    assert_string_equal(event_ts_format(TS_2026_11_24_10, buf, sizeof buf), "2026-11-24T10:00:00Z");
    assert_string_equal(event_ts_format(TS_2026_11_24_10 + 250000, buf, sizeof buf),
                        "2026-11-24T10:00:00.250Z");
    assert_string_equal(event_ts_format(TS_2026_11_24_10 + 1000, buf, sizeof buf),
                        "2026-11-24T10:00:00.001Z");
    assert_string_equal(event_ts_format(TS_2026_11_24_10 + 250001, buf, sizeof buf),
                        "2026-11-24T10:00:00.250001Z");
    assert_string_equal(event_ts_format(TS_2026_11_24_10 + 1, buf, sizeof buf),
                        "2026-11-24T10:00:00.000001Z");
    assert_string_equal(event_ts_format(0, buf, sizeof buf), "1970-01-01T00:00:00Z");
    assert_string_equal(event_ts_format(-1, buf, sizeof buf), "1969-12-31T23:59:59.999999Z");
    assert_string_equal(event_ts_format(-500000, buf, sizeof buf), "1969-12-31T23:59:59.500Z");
    assert_string_equal(event_ts_format(INT64_C(951782400000000), buf, sizeof buf),
                        "2000-02-29T00:00:00Z");
    assert_string_equal(event_ts_format(INT64_C(253402300799999999), buf, sizeof buf),
                        "9999-12-31T23:59:59.999999Z");
    assert_string_equal(event_ts_format(INT64_C(-62167219200000000), buf, sizeof buf),
                        "0000-01-01T00:00:00Z");
    /* The extremes of int64 fit in 32 bytes. */
    assert_true(strlen(event_ts_format(INT64_MAX, buf, sizeof buf)) < sizeof buf);
    assert_true(strlen(event_ts_format(INT64_MIN, buf, sizeof buf)) < sizeof buf);
    /* A short buffer is truncated, not overrun. */
    char small[11];
    assert_string_equal(event_ts_format(TS_2026_11_24_10, small, sizeof small), "2026-11-24");
}

static void test_ts_round_trip(void **state)
{
    char buf[32];
    int64_t back;
    const char *texts[] = {"2026-11-24T10:00:00Z",        "2026-11-24T10:00:00.250Z",
                           "2026-11-24T10:00:00.250001Z", "2024-02-29T23:59:59.999Z",
                           "1969-07-20T20:17:40Z",        "2100-03-01T00:00:00.000001Z"};

    (void)state;
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        event_ts_format(ts(texts[i]), buf, sizeof buf);
        assert_string_equal(buf, texts[i]);
    }
    /* format then parse gives the same instant, across 1600-2400. */
    uint64_t x = 88172645463325252u; /* xorshift64 */
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int64_t us = INT64_C(-11676096000000000) + (int64_t)(x % UINT64_C(25245000000000000));
        if (i % 3 == 0)
            us -= us % 1000000;
        else if (i % 3 == 1)
            us -= us % 1000;
        event_ts_format(us, buf, sizeof buf);
        assert_int_equal(event_ts_parse(buf, strlen(buf), &back), 0);
        assert_int_equal(back, us);
    }
}

/* ---- names ---- */

static void test_names(void **state)
{
    /* clang-format off */
    static const char *const tnames[EV_TYPE_COUNT] = {
        "unknown", "login.started", "login.approved", "login.rejected", "login.failed",
        "userid.changed", "authenticator.activated", "authenticator.blocked",
        "authenticator.reactivated", "identity.blocked", "identity.unblocked"};
    static const char *const fnames[FIELD_COUNT] = {
        "event_id", "ts", "type", "identity", "ip", "country", "device_id", "user_agent",
        "channel", "request_id", "service_provider", "authenticator_id", "authenticator_type",
        "reason", "old_user_id", "new_user_id", "reported"};
    /* clang-format on */

    (void)state;
    for (int t = 0; t < EV_TYPE_COUNT; t++)
        assert_string_equal(event_type_name((event_type_t)t), tnames[t]);
    for (int t = 1; t < EV_TYPE_COUNT; t++)
        assert_int_equal(event_type_from_name(tnames[t]), t);
    assert_int_equal(event_type_from_name("unknown"), EV_UNKNOWN);
    assert_int_equal(event_type_from_name("login"), EV_UNKNOWN);
    assert_int_equal(event_type_from_name(NULL), EV_UNKNOWN);
    assert_string_equal(event_type_name(EV_TYPE_COUNT), "unknown");

    for (int f = 0; f < FIELD_COUNT; f++) {
        assert_string_equal(event_field_name((event_field_t)f), fnames[f]);
        assert_int_equal(event_field_from_name(fnames[f]), f);
    }
    assert_int_equal(event_field_from_name("pad"), -1);
    assert_int_equal(event_field_from_name("Event_id"), -1);
    assert_int_equal(event_field_from_name(""), -1);
    assert_int_equal(event_field_from_name(NULL), -1);
    assert_null(event_field_name(FIELD_COUNT));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_not_json),
        cmocka_unit_test(test_detach),
        cmocka_unit_test(test_not_object),
        cmocka_unit_test(test_too_big),
        cmocka_unit_test(test_missing_required),
        cmocka_unit_test(test_wrong_type),
        cmocka_unit_test(test_reported_wrong_type),
        cmocka_unit_test(test_identity_pattern),
        cmocka_unit_test(test_duplicate_key),
        cmocka_unit_test(test_nesting),
        cmocka_unit_test(test_bad_timestamp),
        cmocka_unit_test(test_ts_parse_len),
        cmocka_unit_test(test_bad_ip),
        cmocka_unit_test(test_bad_country),
        cmocka_unit_test(test_bad_channel),
        cmocka_unit_test(test_bad_authenticator_type),
        cmocka_unit_test(test_user_agent_length),
        cmocka_unit_test(test_event_id_length),
        cmocka_unit_test(test_unlimited_strings),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_nul_in_string),
        cmocka_unit_test(test_unlisted_fields),
        cmocka_unit_test(test_contract_examples),
        cmocka_unit_test(test_every_type),
        cmocka_unit_test(test_null_optional_fields),
        cmocka_unit_test(test_escaped_strings),
        cmocka_unit_test(test_unknown_type),
        cmocka_unit_test(test_check_order),
        cmocka_unit_test(test_err_buffer),
        cmocka_unit_test(test_clear_zeroed),
        cmocka_unit_test(test_ts_parse),
        cmocka_unit_test(test_ts_format),
        cmocka_unit_test(test_ts_round_trip),
        cmocka_unit_test(test_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
