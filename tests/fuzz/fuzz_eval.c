/* fuzz_eval.c - libFuzzer target: the rule evaluator (detector/engine.c,
 * detector/evaluate.c) over the memory store, with the explanation of
 * every event (detector/explain*.c) and the backtest table.
 *
 * At init, two rule packs are loaded with rules_load_dir, from the
 * repository root (the working directory): the shipped pack config/rules
 * and tests/golden/explain/09-language.rules, which has every form of
 * condition the shipped pack does not use. Each has its own engine, memory
 * store, explainer (text for the first, JSON for the second, both to
 * /dev/null) and backtest.
 *
 * The input is JSON Lines: each line that event_parse takes as a valid
 * event goes through both engines, as `detector replay --explain` does, and
 * every action must be a JSON object whose times read back. The
 * state carries over from input to input, so sequences build up; every
 * RESET_EVERY inputs (or FUZZ_EVAL_RESET, from the environment) the stores
 * are made anew so memory stays bounded. FUZZ_EVAL_RESET=1 makes every input
 * start from an empty state: a failing input then fails again by itself.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "backtest.h"
#include "engine.h"
#include "event.h"
#include "explain.h"
#include "rules.h"
#include "store.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RESET_EVERY 500

typedef struct pack {
    const char *dir;
    explain_format_t format;
    ruleset_t *rs;
    store_t *st;
    engine_t *eng;
    explain_t *ex;
    backtest_t *bt;
} pack_t;

static pack_t packs[] = {
    {.dir = "config/rules", .format = EXPLAIN_TEXT},
    {.dir = "tests/golden/explain/09-language.rules", .format = EXPLAIN_JSON},
};
#define NPACKS (sizeof packs / sizeof packs[0])

static FILE *devnull;
static unsigned long inputs, reset_every = RESET_EVERY;

static void pack_stop(pack_t *p)
{
    if (p->bt) backtest_print_table(devnull, p->bt, p->eng);
    backtest_free(p->bt);
    explain_free(p->ex);
    engine_free(p->eng);
    store_free(p->st);
    p->bt = NULL;
    p->ex = NULL;
    p->eng = NULL;
    p->st = NULL;
}

/* A fresh store, engine, explainer and backtest; aborts when out of memory
 * (not a finding). */
static void pack_start(pack_t *p)
{
    engine_opts_t o = {.activity_cap = 100};
    p->st = store_mem_new("fuzz:");
    p->eng = p->st ? engine_new(p->rs, p->st, &o) : NULL;
    p->ex = explain_new(p->rs, p->format, devnull);
    p->bt = backtest_new(p->rs);
    if (!p->eng || !p->ex || !p->bt) abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *reset = getenv("FUZZ_EVAL_RESET");
    if (reset && atol(reset) > 0) reset_every = (unsigned long)atol(reset);
    devnull = fopen("/dev/null", "w");
    if (!devnull) abort();
    for (size_t i = 0; i < NPACKS; i++) {
        rules_diag_t diag = {0};
        packs[i].rs = rules_load_dir(packs[i].dir, &diag);
        if (!packs[i].rs) {
            fprintf(stderr, "fuzz_eval: %s does not load (run from the repository root):\n%s",
                    packs[i].dir, diag.text ? diag.text : "");
            exit(1);
        }
        rules_diag_free(&diag);
        pack_start(&packs[i]);
    }
    return 0;
}

/* Traps unless the action's JSON is an object whose times ("ts", and
 * "expires" unless null) are RFC 3339 timestamps that read back. */
static void check_action(const action_t *a)
{
    static const char *const times[] = {"ts", "expires"};
    json_error_t jerr;
    json_t *o = a->json ? json_loads(a->json, 0, &jerr) : NULL;
    if (!json_is_object(o)) {
        fprintf(stderr, "fuzz_eval: action is not a JSON object: %s\n", a->json ? a->json : "");
        __builtin_trap();
    }
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
        json_t *v = json_object_get(o, times[i]);
        int64_t us;
        if (json_is_null(v) && i > 0) continue;
        if (!json_is_string(v) ||
            event_ts_parse(json_string_value(v), json_string_length(v), &us) != 0) {
            fprintf(stderr, "fuzz_eval: action's \"%s\" does not read back: %s\n", times[i],
                    a->json);
            __builtin_trap();
        }
    }
    json_decref(o);
}

/* One valid event through one pack. Traps when the engine fails: the
 * memory store does not, so that would be a bug (or out of memory). */
static void process(pack_t *p, const event_t *ev)
{
    const action_t *acts;
    size_t n;
    char err[512];

    explain_begin(p->ex, ev);
    engine_set_trace(p->eng, explain_trace, p->ex);
    if (engine_process(p->eng, ev, &acts, &n, err, sizeof err) < 0) {
        fprintf(stderr, "fuzz_eval: %s: engine_process: %s\n", p->dir, err);
        __builtin_trap();
    }
    engine_set_trace(p->eng, NULL, NULL);
    explain_end(p->ex);
    for (size_t i = 0; i < n; i++)
        check_action(&acts[i]);
    if (backtest_add(p->bt, acts, n) < 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data, *end = s + size;

    if (++inputs % reset_every == 0)
        for (size_t i = 0; i < NPACKS; i++) {
            pack_stop(&packs[i]);
            pack_start(&packs[i]);
        }
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        size_t len = (size_t)((nl ? nl : end) - s);
        const char *line = s;
        s = nl ? nl + 1 : end;
        if (len > 0 && line[len - 1] == '\r') len--;
        if (len == 0) continue;

        event_t ev;
        char err[512];
        event_status_t st = event_parse(line, len, &ev, err, sizeof err);
        if (st == EVENT_BAD) continue;
        if (st == EVENT_OK)
            for (size_t i = 0; i < NPACKS; i++)
                process(&packs[i], &ev);
        event_clear(&ev);
    }
    return 0;
}
