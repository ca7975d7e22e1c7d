/* fuzz_rules.c - libFuzzer target: the rule language (rules/), and what
 * reads a compiled rule set back (detector/ruletext.c, detector/ruletest.c).
 *
 * Per input:
 * 1. load the input as one rule file with rules_load_string (a copy with a
 *    NUL: the loader takes a string); a refusal must say why;
 * 2. when it loads: write every condition, filter and set value back as
 *    text, and check that the conditions read back to the same text (the
 *    promise of ruletext.h), by loading the input again with one more rule
 *    per condition;
 * 3. run the test cases the input carries with ruletest (engine and memory
 *    store), its report to /dev/null; and their events once more through
 *    an engine, which must not fail: the memory store does not, so a
 *    failure is a bug (an action that cannot be encoded, say);
 * 4. free the rule sets and diagnostics.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "event.h"
#include "rules.h"
#include "ruletest.h"
#include "ruletext.h"
#include "store.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ROUNDTRIP_ID "fuzz-roundtrip-"
#define MAX_TEST_EVENTS 256 /* more events per input only slow the fuzzer down */

static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    devnull = fopen("/dev/null", "w");
    if (!devnull) abort();
    return 0;
}

/* Writes x as text into a new string, or aborts: out of memory is not a
 * finding. */
static char *text_of(const ruleset_t *rs, const rule_expr_t *x)
{
    char *s = ruletext_string(rs, x);
    if (!s) abort();
    return s;
}

/* Writes every expression of rs as text; the strings are only checked to
 * be there. */
static void write_all(const ruleset_t *rs)
{
    char buf[64];
    for (size_t i = 0; i < ruleset_counter_count(rs); i++) {
        const rules_counter_t *c = ruleset_counter(rs, i);
        if (c->filter) free(text_of(rs, c->filter));
        rules_duration_format(c->keep_us, buf, sizeof buf);
    }
    for (size_t i = 0; i < ruleset_set_count(rs); i++) {
        const rules_set_t *s = ruleset_set(rs, i);
        free(text_of(rs, s->value));
        if (s->filter) free(text_of(rs, s->filter));
    }
    for (size_t i = 0; i < ruleset_rule_count(rs); i++) {
        const rule_t *r = ruleset_rule(rs, i);
        ruletext_quote(devnull, r->reason, strlen(r->reason));
        rules_duration_format(r->duration_us, buf, sizeof buf);
        rules_duration_format(r->cooldown_us, buf, sizeof buf);
    }
}

/* Loads text followed by one rule per condition of rs, with the condition
 * as ruletext writes it, and traps unless every condition reads back to the
 * same text. Conditions with characters ruletext writes as \u escapes (the
 * language has no escape for them) are left out. */
static void check_roundtrip(const ruleset_t *rs, const char *text)
{
    size_t n = ruleset_rule_count(rs), added = 0;
    char **orig = calloc(n ? n : 1, sizeof *orig);
    char *src = NULL;
    size_t srclen = 0;
    FILE *f = open_memstream(&src, &srclen);
    if (!orig || !f) abort();
    fprintf(f, "%s\n", text);
    for (size_t i = 0; i < n; i++) {
        const rule_t *r = ruleset_rule(rs, i);
        if (!r->when) continue;
        orig[i] = text_of(rs, r->when);
        if (strstr(orig[i], "\\u")) {
            free(orig[i]);
            orig[i] = NULL;
            continue;
        }
        fprintf(f, "rule %s%zu\n  on %s\n  when %s\n", ROUNDTRIP_ID, i, event_type_name(r->on),
                orig[i]);
        fputs("  action alert\n  severity low\n  reason \"r\"\nend\n", f);
        added++;
    }
    if (fclose(f) != 0) abort();
    /* The input's own rule ids may clash with the added ones. */
    if (added == 0 || strstr(text, ROUNDTRIP_ID)) goto out;

    rules_diag_t diag = {0};
    ruleset_t *again = rules_load_string(src, "roundtrip.rules", &diag);
    if (!again) {
        fprintf(stderr, "conditions written back do not load:\n%s\n%s", src,
                diag.text ? diag.text : "");
        __builtin_trap();
    }
    for (size_t i = 0, k = n; i < n; i++) {
        if (!orig[i]) continue;
        char *s = text_of(again, ruleset_rule(again, k++)->when);
        if (strcmp(s, orig[i]) != 0) {
            fprintf(stderr, "condition written back reads as another:\n  %s\n  %s\n", orig[i], s);
            __builtin_trap();
        }
        free(s);
    }
    ruleset_free(again);
    rules_diag_free(&diag);
out:
    for (size_t i = 0; i < n; i++)
        free(orig[i]);
    free(orig);
    free(src);
}

/* Runs the events of every test case of rs through an engine over a fresh
 * memory store, each given the event_id "eN" when it has none (as ruletest
 * does), and traps when the engine fails. */
static void run_events(const ruleset_t *rs)
{
    for (size_t i = 0; i < ruleset_test_count(rs); i++) {
        const rules_test_t *t = ruleset_test(rs, i);
        store_t *st = store_mem_new("fuzz:");
        engine_t *eng = st ? engine_new(rs, st, NULL) : NULL;
        if (!eng) abort();
        for (size_t k = 0; k < t->nevents; k++) {
            const char *js = t->events[k], *brace = strchr(js, '{');
            char *buf = NULL;
            size_t len = 0;
            if (brace && !strstr(js, "\"event_id\"")) {
                FILE *f = open_memstream(&buf, &len);
                if (!f) abort();
                fprintf(f, "{\"event_id\":\"e%zu\",%s", k + 1, brace + 1);
                if (fclose(f) != 0) abort();
                js = buf;
            }
            event_t ev;
            char err[512];
            if (event_parse(js, strlen(js), &ev, err, sizeof err) == EVENT_OK) {
                const action_t *acts;
                size_t n;
                if (engine_process(eng, &ev, &acts, &n, err, sizeof err) < 0) {
                    fprintf(stderr, "engine_process failed on %s: %s\n", js, err);
                    __builtin_trap();
                }
            }
            event_clear(&ev);
            free(buf);
        }
        engine_free(eng);
        store_free(st);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';

    rules_diag_t diag = {0};
    ruleset_t *rs = rules_load_string(text, "fuzz.rules", &diag);
    if (!rs) {
        /* A refusal names at least one error. */
        if (diag.count == 0 || !diag.text) __builtin_trap();
        goto out;
    }
    if (diag.count != 0) __builtin_trap();
    write_all(rs);
    check_roundtrip(rs, text);

    size_t nevents = 0;
    for (size_t i = 0; i < ruleset_test_count(rs); i++)
        nevents += ruleset_test(rs, i)->nevents;
    if (nevents <= MAX_TEST_EVENTS) {
        size_t passed, failed;
        ruletest_run(rs, 100, devnull, &passed, &failed);
        run_events(rs);
    }

out:
    ruleset_free(rs);
    rules_diag_free(&diag);
    free(text);
    return 0;
}
