/* test_log.c - unit tests of the log (detector/log.c): the text and JSON
 * lines, escaping of whatever a message holds, rate limiting of repeated
 * templates, and the log.format directive.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <jansson.h>
#include <pthread.h>

#include "config.h"
#include "log.h"

static FILE *out;
static long out_from; /* what captured() has returned of out */
static int64_t fake_now;

static int64_t fake_clock(void)
{
    return fake_now;
}

static int setup(void **state)
{
    (void)state;
    out = tmpfile();
    if (!out) return -1;
    out_from = 0;
    fake_now = 1000000;
    log_set_stream(out);
    log_set_clock(fake_clock);
    log_set_level("info");
    log_set_format("text");
    log_set_repeat_window(10000);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    log_flush_repeats(1);
    log_set_stream(NULL);
    log_set_clock(NULL);
    fclose(out);
    return 0;
}

/* What was written since the last call. */
static char *captured(void)
{
    fflush(out);
    long end = ftell(out);
    size_t n = (size_t)(end - out_from);
    char *buf = malloc(n + 1);
    fseek(out, out_from, SEEK_SET);
    size_t got = fread(buf, 1, n, out);
    buf[got] = '\0';
    fseek(out, end, SEEK_SET);
    out_from = end;
    return buf;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* The message part of a text line "TS LEVEL MSG\n" (in place). */
static char *text_msg(char *line, const char *level)
{
    /* 2026-11-24T10:00:00.000Z: 24 characters */
    assert_true(strlen(line) > 25);
    assert_int_equal(line[10], 'T');
    assert_int_equal(line[23], 'Z');
    assert_int_equal(line[24], ' ');
    assert_memory_equal(line + 25, level, strlen(level));
    char *msg = line + 25 + strlen(level) + 1;
    char *nl = strchr(msg, '\n');
    assert_non_null(nl);
    *nl = '\0';
    return msg;
}

static void test_text_line(void **state)
{
    (void)state;
    log_info("assigned %d partitions", 4);
    char *s = captured();
    assert_int_equal(count_lines(s), 1);
    assert_string_equal(text_msg(s, "info"), "assigned 4 partitions");
    free(s);
    log_debug("not shown at level info");
    s = captured();
    assert_string_equal(s, "");
    free(s);
    log_set_level("debug");
    log_debug("shown");
    s = captured();
    assert_string_equal(text_msg(s, "debug"), "shown");
    free(s);
}

/* Every kind of byte a message may carry from an event. */
static const char hostile[] = "a\nforged 2026-01-01T00:00:00.000Z error x\r\t\x1b[31m\\ \xff\xfe"
                              "\xc2\x9b \xe2\x80\xa8 caf\xc3\xa9 \"q\"";

static void test_escape_text(void **state)
{
    (void)state;
    char buf[512];
    size_t n = log_escape(buf, sizeof buf, hostile, strlen(hostile), LOG_FMT_TEXT);
    assert_int_equal(n, strlen(buf));
    assert_string_equal(buf, "a\\nforged 2026-01-01T00:00:00.000Z error x\\r\\t\\x1B[31m\\\\ "
                             "\\xFF\\xFE\\u009B \\u2028 caf\xc3\xa9 \"q\"");
    /* Through the log: one line. */
    log_warnx("bad event: %s", hostile);
    char *s = captured();
    assert_int_equal(count_lines(s), 1);
    assert_non_null(strstr(s, "bad event: a\\nforged"));
    free(s);
    /* Bytes 0 to 31 and 127: none is written as it is. */
    char all[33];
    for (int i = 1; i < 32; i++)
        all[i - 1] = (char)i;
    all[31] = 0x7f;
    all[32] = '\0';
    log_escape(buf, sizeof buf, all, 32, LOG_FMT_TEXT);
    for (const char *p = buf; *p; p++)
        assert_true(*p >= 0x20 && *p < 0x7f);
}

/* JSON lines: valid JSON with ts, level, msg; valid UTF-8 reads back as it
 * was, bytes that are not UTF-8 as \xNN text. */
static void test_json_lines(void **state)
{
    (void)state;
    log_set_format("json");
    log_info("plain %d", 1);
    log_errorx("hostile: %s", hostile);
    char *s = captured();
    assert_int_equal(count_lines(s), 2);
    char *second = strchr(s, '\n') + 1;
    json_error_t e;
    json_t *a = json_loadb(s, (size_t)(second - s), 0, &e);
    json_t *b = json_loads(second, 0, &e);
    assert_non_null(a);
    assert_non_null(b);
    assert_string_equal(json_string_value(json_object_get(a, "level")), "info");
    assert_string_equal(json_string_value(json_object_get(a, "msg")), "plain 1");
    const char *ts = json_string_value(json_object_get(a, "ts"));
    assert_non_null(ts);
    assert_int_equal(strlen(ts), 24);
    assert_int_equal(json_object_size(a), 3);
    assert_string_equal(json_string_value(json_object_get(b, "level")), "error");
    assert_string_equal(json_string_value(json_object_get(b, "msg")),
                        "hostile: a\nforged 2026-01-01T00:00:00.000Z error x\r\t\x1b[31m\\ "
                        "\\xFF\\xFE\xc2\x9b \xe2\x80\xa8 caf\xc3\xa9 \"q\"");
    /* And in the raw line no control byte, no C1, no U+2028. */
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        assert_true(*p == '\n' || (*p >= 0x20 && *p != 0x7f));
    assert_null(strstr(s, "\xc2\x9b"));
    assert_null(strstr(s, "\xe2\x80\xa8"));
    json_decref(a);
    json_decref(b);
    free(s);
}

static void test_escape_cut(void **state)
{
    (void)state;
    char buf[16];
    size_t n = log_escape(buf, sizeof buf, "0123456789abcdefghij", 20, LOG_FMT_TEXT);
    assert_string_equal(buf, "0123456789ab...");
    assert_int_equal(n, 15);
    n = log_escape(buf, sizeof buf, "\n\n\n\n\n\n\n\n", 8, LOG_FMT_TEXT); /* never half an escape */
    assert_string_equal(buf, "\\n\\n\\n\\n\\n\\n...");
    /* A multibyte character is whole or not there. */
    n = log_escape(buf, 8, "abc\xc3\xa9\xc3\xa9", 7, LOG_FMT_TEXT);
    assert_string_equal(buf, "abc...");
    /* A long message through the log is cut, on one line. */
    char *big = malloc(10000);
    memset(big, '\n', 9999);
    big[9999] = '\0';
    log_warnx("%s", big);
    char *s = captured();
    assert_int_equal(count_lines(s), 1);
    free(s);
    free(big);
}

/* The first message of a template is written, the repeats within the
 * window counted, and summed up once the window has passed. */
static void test_rate_limit(void **state)
{
    (void)state;
    for (int i = 0; i < 5; i++) {
        log_warnx("bad event at offset %d: %s", i, "invalid JSON");
        fake_now += 1000;
    }
    log_warnx("delivery to %s failed", "auth.actions"); /* another template */
    log_info("ordinary %d", 1);                         /* info is never limited */
    log_info("ordinary %d", 2);
    char *s = captured();
    assert_int_equal(count_lines(s), 4);
    assert_non_null(strstr(s, " warn bad event at offset 0: invalid JSON\n"));
    assert_null(strstr(s, "offset 1"));
    free(s);
    fake_now += 4000; /* 9 s after the first: still inside */
    log_flush_repeats(0);
    s = captured();
    assert_string_equal(s, "");
    free(s);
    fake_now += 1000; /* 10 s */
    log_flush_repeats(0);
    s = captured();
    assert_int_equal(count_lines(s), 1);
    assert_string_equal(text_msg(s, "warn"),
                        "repeated 4 times in 10s: bad event at offset 4: invalid JSON");
    free(s);
    /* The window is over: the next one is written again. */
    log_warnx("bad event at offset %d: %s", 5, "x");
    s = captured();
    assert_non_null(strstr(s, "bad event at offset 5: x"));
    free(s);
    /* Repeats, then the template after the window: summary first. */
    log_warnx("bad event at offset %d: %s", 6, "x");
    fake_now += 20000;
    log_warnx("bad event at offset %d: %s", 7, "x");
    s = captured();
    assert_int_equal(count_lines(s), 2);
    char *second = strchr(s, '\n') + 1;
    assert_non_null(strstr(s, "repeated 1 time in 20s: bad event at offset 6: x\n"));
    assert_non_null(strstr(second, "bad event at offset 7: x\n"));
    free(s);
    /* At exit every pending summary is written. */
    log_warnx("bad event at offset %d: %s", 8, "x");
    log_flush_repeats(1);
    s = captured();
    assert_non_null(strstr(s, "repeated 1 time in 0s: bad event at offset 8: x\n"));
    free(s);
}

static void test_rate_limit_keys(void **state)
{
    (void)state;
    /* The same format under two keys (librdkafka's facilities). */
    log_msg(LOG_LVL_WARN, "kafka:FAIL", "kafka %s: %s", "FAIL", "broker down");
    log_msg(LOG_LVL_WARN, "kafka:REQTMOUT", "kafka %s: %s", "REQTMOUT", "timed out");
    log_msg(LOG_LVL_WARN, "kafka:FAIL", "kafka %s: %s", "FAIL", "broker down again");
    /* A report (every error of a refused reload) is written whole. */
    log_report_begin();
    for (int i = 0; i < 3; i++)
        log_errorx("reload: %s", "rules/10.rules:4:35: bad duration");
    log_report_end();
    log_errorx("reload: %s", "limited again");
    log_errorx("reload: %s", "limited again");
    char *s = captured();
    assert_int_equal(count_lines(s), 6);
    assert_non_null(strstr(s, "kafka FAIL: broker down\n"));
    assert_non_null(strstr(s, "kafka REQTMOUT: timed out\n"));
    assert_null(strstr(s, "broker down again"));
    const char *limited = strstr(s, "reload: limited again\n");
    assert_non_null(limited);
    assert_null(strstr(limited + strlen("reload: limited again\n"), "limited again"));
    free(s);
    /* The window off: everything is written. */
    log_flush_repeats(1);
    free(captured());
    log_set_repeat_window(0);
    for (int i = 0; i < 3; i++)
        log_warnx("w %d", i);
    s = captured();
    assert_int_equal(count_lines(s), 3);
    free(s);
}

/* More templates than the table holds: the oldest window ends early, with
 * its summary; nothing is lost. */
static void test_many_templates(void **state)
{
    (void)state;
    static char fmts[100][32];
    for (int i = 0; i < 100; i++)
        snprintf(fmts[i], sizeof fmts[i], "template %d %%d", i);
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < 100; i++) {
            fake_now++;
            log_msg(LOG_LVL_WARN, fmts[i], fmts[i], round);
        }
    log_flush_repeats(1);
    char *s = captured();
    /* Each template: its first line, and its repeat written or summed up. */
    for (int i = 0; i < 100; i++) {
        char first[64], again[64], summary[96];
        snprintf(first, sizeof first, "template %d 0\n", i);
        snprintf(again, sizeof again, "warn template %d 1\n", i);
        snprintf(summary, sizeof summary, "s: template %d 1\n", i);
        assert_non_null(strstr(s, first));
        assert_true(strstr(s, again) || strstr(s, summary));
    }
    free(s);
}

static void *log_thread(void *arg)
{
    (void)arg;
    for (int i = 0; i < 500; i++)
        log_info("thread line %d with some text", i);
    return NULL;
}

/* Lines from several threads are whole. */
static void test_threads(void **state)
{
    (void)state;
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, log_thread, NULL), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    char *s = captured();
    assert_int_equal(count_lines(s), 2000);
    for (char *line = s; *line;) {
        char *nl = strchr(line, '\n');
        *nl = '\0';
        assert_non_null(strstr(line, " info thread line "));
        assert_non_null(strstr(line, " with some text"));
        line = nl + 1;
    }
    free(s);
}

static void test_format_directive(void **state)
{
    (void)state;
    config_t cfg;
    rules_diag_t diag = {0};
    config_defaults(&cfg);
    assert_string_equal(cfg.log_format, "text");
    assert_int_equal(config_load_string(&cfg, "log.format = json\n", "t.conf", NULL, &diag), 0);
    assert_string_equal(cfg.log_format, "json");
    assert_int_equal(config_load_string(&cfg, "log.format = yaml\n", "t.conf", NULL, &diag), -1);
    assert_non_null(strstr(diag.text, "t.conf:1:14: log.format must be text or json"));
    config_clear(&cfg);
    rules_diag_free(&diag);
    assert_int_equal(log_set_format("yaml"), -1);
    assert_int_equal(log_set_level("loud"), -1);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_text_line),      T(test_escape_text), T(test_json_lines),
        T(test_escape_cut),     T(test_rate_limit),  T(test_rate_limit_keys),
        T(test_many_templates), T(test_threads),     T(test_format_directive),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
