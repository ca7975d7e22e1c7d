/* ruletest.c - `detector test`: runs the test cases carried by rule files.
 *
 * Each test runs its events through the whole pack (so pack order, first
 * block wins, cooldowns and the breaker play as in production) with a fresh
 * in-memory store, then compares the actions with its expectations:
 *   - every "expect RULE ..." needs an action of RULE matching it;
 *   - the actions of the rules a test names are exactly the expected ones
 *     (an extra one fails the test);
 *   - "expect no RULE ..." needs no matching action.
 * Events may omit event_id: the Nth event of a test is "eN".
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "engine.h"
#include "event.h"
#include "ruletest.h"
#include "store.h"

typedef struct got {
    char rule[128];
    rule_kind_t kind;
    rule_mode_t mode;
    char event[STORE_ID_MAX];
    char identity[129];
    int matched;
} got_t;

static int expect_matches(const rules_expect_t *x, const got_t *g)
{
    return strcmp(x->rule, g->rule) == 0 && (x->kind < 0 || (int)g->kind == x->kind) &&
           (x->mode < 0 || (int)g->mode == x->mode) &&
           (!x->event || strcmp(x->event, g->event) == 0) &&
           (!x->identity || strcmp(x->identity, g->identity) == 0);
}

static void print_expect(FILE *out, const rules_expect_t *x)
{
    fprintf(out, "%s%s", x->negate ? "no " : "", x->rule);
    if (x->kind >= 0) fprintf(out, " %s", rule_kind_name((rule_kind_t)x->kind));
    if (x->mode >= 0) fprintf(out, " %s", rule_mode_name((rule_mode_t)x->mode));
    if (x->event) fprintf(out, " on %s", x->event);
    if (x->identity) fprintf(out, " for %s", x->identity);
}

static void print_got(FILE *out, const got_t *g)
{
    fprintf(out, "%s %s %s on %s for %s", g->rule, rule_kind_name(g->kind), rule_mode_name(g->mode),
            g->event, g->identity);
}

/* Adds "event_id": "eN" when the event has none. Returns a new string. */
static char *with_event_id(const char *raw, size_t n, char *err, size_t errlen)
{
    json_error_t je;
    json_t *o = json_loads(raw, JSON_REJECT_DUPLICATES, &je);
    if (!o || !json_is_object(o)) {
        snprintf(err, errlen, "not a JSON object: %s", o ? "" : je.text);
        json_decref(o);
        return NULL;
    }
    if (!json_object_get(o, "event_id")) {
        char id[32];
        snprintf(id, sizeof id, "e%zu", n);
        json_t *n2 = json_object();
        json_object_set_new(n2, "event_id", json_string(id));
        json_object_update(n2, o);
        json_decref(o);
        o = n2;
    }
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return s;
}

/* Runs one test; prints its result. Returns 1 when it passed. */
static int run_one(const ruleset_t *rs, const rules_test_t *t, size_t activity_cap, FILE *out)
{
    char err[512];
    got_t *got = NULL;
    size_t ngot = 0, capgot = 0;
    int ok = 1, setup_failed = 0;
    store_t *st = store_mem_new("t:");
    engine_opts_t o = {.activity_cap = activity_cap};
    engine_t *eng = st ? engine_new(rs, st, &o) : NULL;
    if (!eng) {
        fprintf(out, "%s:%d: FAIL %s\n    out of memory\n", t->file, t->line, t->name);
        store_free(st);
        return 0;
    }
    for (size_t i = 0; i < t->nevents && !setup_failed; i++) {
        char *js = with_event_id(t->events[i], i + 1, err, sizeof err);
        event_t ev;
        event_status_t s = js ? event_parse(js, strlen(js), &ev, err, sizeof err) : EVENT_BAD;
        free(js);
        if (s != EVENT_OK) {
            if (s == EVENT_UNKNOWN) event_clear(&ev);
            fprintf(out, "%s:%d: FAIL %s\n    %s:%d: bad event: %s\n", t->file, t->line, t->name,
                    t->file, t->event_lines[i], s == EVENT_UNKNOWN ? "unknown type" : err);
            setup_failed = 1;
            break;
        }
        const action_t *acts;
        size_t n;
        if (engine_process(eng, &ev, &acts, &n, err, sizeof err) < 0) {
            fprintf(out, "%s:%d: FAIL %s\n    %s\n", t->file, t->line, t->name, err);
            setup_failed = 1;
        }
        for (size_t k = 0; !setup_failed && k < n; k++) {
            if (ngot == capgot) {
                capgot = capgot ? capgot * 2 : 16;
                got_t *g = realloc(got, capgot * sizeof *g);
                if (!g) {
                    setup_failed = 1;
                    break;
                }
                got = g;
            }
            got_t *g = &got[ngot++];
            memset(g, 0, sizeof *g);
            snprintf(g->rule, sizeof g->rule, "%s", acts[k].rule->id);
            g->kind = acts[k].kind;
            g->mode = acts[k].mode;
            snprintf(g->event, sizeof g->event, "%s", ev.str[FIELD_EVENT_ID]);
            snprintf(g->identity, sizeof g->identity, "%s", acts[k].identity);
        }
        event_clear(&ev);
    }
    if (setup_failed) {
        ok = 0;
        goto out;
    }
    /* Expected actions, in order of the expectations. */
    char *missing = NULL, *extra = NULL;
    size_t mlen = 0, elen = 0;
    FILE *mf = open_memstream(&missing, &mlen), *ef = open_memstream(&extra, &elen);
    for (size_t k = 0; k < t->nexpects; k++) {
        const rules_expect_t *x = &t->expects[k];
        int found = 0;
        for (size_t i = 0; i < ngot; i++) {
            if (!expect_matches(x, &got[i]) || (!x->negate && got[i].matched)) continue;
            found = 1;
            if (!x->negate) {
                got[i].matched = 1;
                break;
            }
            fprintf(ef, "    + got       ");
            print_got(ef, &got[i]);
            fprintf(ef, "   (%s:%d: expect ", t->file, x->line);
            print_expect(ef, x);
            fprintf(ef, ")\n");
            got[i].matched = 1;
        }
        if (!x->negate && !found) {
            fprintf(mf, "    - expected  ");
            print_expect(mf, x);
            fprintf(mf, "   (%s:%d)\n", t->file, x->line);
        }
    }
    /* Actions of the rules the test names must all be expected. */
    for (size_t i = 0; i < ngot; i++) {
        if (got[i].matched) continue;
        for (size_t k = 0; k < t->nexpects; k++)
            if (strcmp(t->expects[k].rule, got[i].rule) == 0) {
                fprintf(ef, "    + got       ");
                print_got(ef, &got[i]);
                fprintf(ef, "   (not expected)\n");
                break;
            }
    }
    fclose(mf);
    fclose(ef);
    ok = mlen == 0 && elen == 0;
    if (ok) {
        fprintf(out, "%s:%d: ok   %s\n", t->file, t->line, t->name);
    } else {
        fprintf(out, "%s:%d: FAIL %s\n%s%s", t->file, t->line, t->name, missing, extra);
        fprintf(out, "    all actions of the test:\n");
        for (size_t i = 0; i < ngot; i++) {
            fprintf(out, "      ");
            print_got(out, &got[i]);
            fprintf(out, "\n");
        }
        if (ngot == 0) fprintf(out, "      (none)\n");
    }
    free(missing);
    free(extra);
out:
    free(got);
    engine_free(eng);
    store_free(st);
    return ok;
}

int ruletest_run(const ruleset_t *rs, size_t activity_cap, FILE *out, size_t *passed,
                 size_t *failed)
{
    *passed = *failed = 0;
    for (size_t i = 0; i < ruleset_test_count(rs); i++) {
        if (run_one(rs, ruleset_test(rs, i), activity_cap, out))
            (*passed)++;
        else
            (*failed)++;
    }
    return *failed == 0 ? 0 : -1;
}

int cmd_test(const char *conf_path, const char *rules_dir)
{
    config_t cfg;
    ruleset_t *rs;
    size_t passed, failed;
    if (setup_load(conf_path, rules_dir, &cfg, &rs) < 0) return 1;
    ruletest_run(rs, (size_t)cfg.activity_max, stdout, &passed, &failed);
    printf("rule tests: %zu passed, %zu failed\n", passed, failed);
    if (passed + failed == 0)
        printf("no test cases in %s\n", rules_dir ? rules_dir : cfg.rules_dir);
    ruleset_free(rs);
    config_clear(&cfg);
    return failed == 0 && passed > 0 ? 0 : 1;
}
