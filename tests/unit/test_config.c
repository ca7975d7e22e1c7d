/* test_config.c - unit tests of the configuration file (detector/config.c):
 * values, ranges, overflow, the log level, and the FILE:LINE:COL of every
 * error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"

struct fx {
    config_t cfg;
    rules_diag_t diag;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f) return -1;
    config_defaults(&f->cfg);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    config_clear(&f->cfg);
    rules_diag_free(&f->diag);
    free(f);
    return 0;
}

/* Loads text as "t.conf"; it must load. */
static void load_ok(struct fx *f, const char *text)
{
    config_clear(&f->cfg);
    config_defaults(&f->cfg);
    rules_diag_free(&f->diag);
    int rc = config_load_string(&f->cfg, text, "t.conf", NULL, &f->diag);
    if (rc != 0) fail_msg("refused: %s\n%s", text, f->diag.text ? f->diag.text : "");
    assert_int_equal(f->diag.count, 0);
}

/* Loads text as "t.conf"; it must give exactly one error, whose first line
 * is want. */
static void load_bad(struct fx *f, const char *text, const char *want)
{
    config_clear(&f->cfg);
    config_defaults(&f->cfg);
    rules_diag_free(&f->diag);
    assert_int_equal(config_load_string(&f->cfg, text, "t.conf", NULL, &f->diag), -1);
    assert_int_equal(f->diag.count, 1);
    assert_non_null(f->diag.text);
    const char *nl = strchr(f->diag.text, '\n');
    assert_non_null(nl);
    if (strlen(want) != (size_t)(nl - f->diag.text) ||
        strncmp(f->diag.text, want, strlen(want)) != 0)
        fail_msg("want: %s\ngot:  %s", want, f->diag.text);
}

static void test_durations(void **state)
{
    struct fx *f = *state;
    load_ok(f, "redis.timeout = 1m\nbatch.time = 15ms\nretry.max = 7\n");
    assert_int_equal(f->cfg.redis_timeout_ms, 60000);
    assert_int_equal(f->cfg.batch_time_ms, 15);
    assert_int_equal(f->cfg.retry_max_ms, 7000);
    load_bad(f, "redis.timeout = 61s",
             "t.conf:1:17: redis.timeout must be between 10ms and 60000ms");
    load_bad(f, "redis.timeout = 5x",
             "t.conf:1:17: redis.timeout must be a duration such as 500ms, 2s or 1m");
    load_bad(f, "redis.timeout = ms",
             "t.conf:1:17: redis.timeout must be a duration such as 500ms, 2s or 1m");
}

/* A duration too large for a long (as written, or once in milliseconds)
 * is out of range, with the range in the message: it used to overflow
 * (undefined behaviour), wrap, and could land inside the range. */
static void test_duration_overflow(void **state)
{
    struct fx *f = *state;
    static const char *const values[] = {
        "99999999999999999999999ms", /* beyond a long as written */
        "9223372036854775807s",      /* LONG_MAX seconds */
        "153722867280912931m",       /* just over LONG_MAX ms in minutes */
        "153722867280912930m",       /* just under: in a long, out of range */
        "9223372036854775807",       /* bare: seconds */
        "435650605874107244m",       /* times 60000 wrapped to 128: inside the range */
        "-5s",
    };
    char text[128];
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        snprintf(text, sizeof text, "retry.max = %s", values[i]);
        load_bad(f, text, "t.conf:1:13: retry.max must be between 100ms and 600000ms");
    }
    load_bad(f, "redis.port = 99999999999999999999",
             "t.conf:1:14: redis.port must be between 1 and 65535");
    load_bad(f, "redis.port = 8x", "t.conf:1:14: redis.port must be a whole number");
}

/* log.level is one of four words, checked where it is written. */
static void test_log_level(void **state)
{
    struct fx *f = *state;
    assert_string_equal(f->cfg.log_level, "info");
    static const char *const ok[] = {"debug", "info", "warn", "error"};
    char text[64];
    for (size_t i = 0; i < 4; i++) {
        snprintf(text, sizeof text, "log.level = %s\n", ok[i]);
        load_ok(f, text);
        assert_string_equal(f->cfg.log_level, ok[i]);
    }
    load_bad(f, "# comment\n  log.level =  verbose\n",
             "t.conf:2:16: log.level must be debug, info, warn or error");
    assert_non_null(strstr(f->diag.text, "\n      log.level =  verbose\n"
                                         "                   ^\n"));
    load_bad(f, "log.level = INFO", "t.conf:1:13: log.level must be debug, info, warn or error");
    load_bad(f, "log.level =", "t.conf:1:12: log.level must be debug, info, warn or error");
}

/* Every error is reported, each at its place. */
static void test_all_errors(void **state)
{
    struct fx *f = *state;
    assert_int_equal(config_load_string(&f->cfg,
                                        "log.level = loud\nretry.max = 99999999999999999999m\n"
                                        "nope = 1\n",
                                        "t.conf", NULL, &f->diag),
                     -1);
    assert_int_equal(f->diag.count, 3);
    assert_non_null(strstr(f->diag.text, "t.conf:1:13: log.level must be"));
    assert_non_null(strstr(f->diag.text, "t.conf:2:13: retry.max must be between"));
    assert_non_null(strstr(f->diag.text, "t.conf:3:1: unknown key \"nope\""));
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_durations),
        T(test_duration_overflow),
        T(test_log_level),
        T(test_all_errors),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
