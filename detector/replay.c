/* replay.c - `detector replay`: the pipeline over JSON Lines files with the
 * in-memory store. Actions go to stdout as JSON Lines (or, with --explain,
 * the explanation of each event), the per-rule table to stderr.
 *
 * Per event: 1. parse it once; 2. run it through engine A (the configured or
 * --rules rule set), traced when explaining; 3. print A's actions, or the
 * explanation; 4. with --compare, run it through engine B (its own memory
 * store); 5. note both engines' actions for the tables and the difference.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backtest.h"
#include "commands.h"
#include "engine.h"
#include "event.h"
#include "replay.h"
#include "store.h"

#define PROGRESS_DEFAULT_MS 2000
#define PROGRESS_EVERY 1024 /* events between looks at the clock */
#define DIFF_EXAMPLES 20

/* One rule set over the events: its engine, store and backtest. */
typedef struct side {
    const char *dir; /* the rule directory, for the report */
    config_t cfg;
    ruleset_t *rs;
    store_t *st;
    engine_t *eng;
    backtest_t *bt;
    unsigned long actions;
} side_t;

typedef struct replay {
    side_t a, b;
    int compare;
    explain_t *ex;
    unsigned long lines, valid, bad, unknown;
    int64_t start_ns, last_ns, interval_ns;
    unsigned long last_lines;
} replay_t;

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int side_open(side_t *s, const char *conf_path, const char *rules_dir)
{
    memset(s, 0, sizeof *s);
    if (setup_load(conf_path, rules_dir, &s->cfg, &s->rs) < 0) return -1;
    s->dir = rules_dir ? rules_dir : s->cfg.rules_dir;
    engine_opts_t o = {.activity_cap = (size_t)s->cfg.activity_max};
    s->st = store_mem_new(s->cfg.redis_prefix);
    s->eng = s->st ? engine_new(s->rs, s->st, &o) : NULL;
    s->bt = backtest_new(s->rs);
    if (!s->eng || !s->bt) {
        fprintf(stderr, "replay: out of memory\n");
        return -1;
    }
    return 0;
}

/* A long replay's memory store holds millions of small allocations: freeing
 * them one by one took a fifth of a replay (make bench, under perf). The
 * process ends right after a replay, so a store is left to the exit, still
 * reachable from here; under AddressSanitizer everything is freed so that
 * leak checks keep their meaning. */
#if defined(__SANITIZE_ADDRESS__)
#define FREE_STORE_AT_EXIT 1
#else
#define FREE_STORE_AT_EXIT 0
#endif
static store_t *left_to_exit[2];

static void side_close(side_t *s)
{
    backtest_free(s->bt);
    engine_free(s->eng);
    if (!FREE_STORE_AT_EXIT && s->st && !left_to_exit[0])
        left_to_exit[0] = s->st;
    else if (!FREE_STORE_AT_EXIT && s->st && !left_to_exit[1])
        left_to_exit[1] = s->st;
    else
        store_free(s->st);
    if (s->rs) {
        ruleset_free(s->rs);
        config_clear(&s->cfg);
    }
    memset(s, 0, sizeof *s);
}

/* One event through one rule set. print: the actions to stdout. */
static int side_process(side_t *s, const event_t *ev, int print, const char *name,
                        unsigned long lineno)
{
    const action_t *acts;
    size_t n;
    char err[512];
    if (engine_process(s->eng, ev, &acts, &n, err, sizeof err) < 0) {
        /* The memory store does not fail; this is out of memory. */
        fprintf(stderr, "%s:%lu: %s\n", name, lineno, err);
        return -1;
    }
    for (size_t i = 0; print && i < n; i++) {
        fputs(acts[i].json, stdout);
        fputc('\n', stdout);
    }
    s->actions += n;
    if (backtest_add(s->bt, acts, n) < 0) {
        fprintf(stderr, "replay: out of memory\n");
        return -1;
    }
    return 0;
}

static void progress(replay_t *p)
{
    int64_t now = mono_ns();
    if (now - p->last_ns < p->interval_ns) return;
    double secs = (double)(now - p->last_ns) / 1e9;
    fprintf(stderr, "replay: %lu events read, %.0f events/s\n", p->lines,
            (double)(p->lines - p->last_lines) / secs);
    p->last_ns = now;
    p->last_lines = p->lines;
}

static int replay_stream(replay_t *p, FILE *in, const char *name)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    unsigned long lineno = 0;
    char err[512];
    int rc = 0;
    while (rc == 0 && (len = getline(&line, &cap, in)) >= 0) {
        lineno++;
        if (len > 0 && line[len - 1] == '\n') len--;
        if (len > 0 && line[len - 1] == '\r') len--;
        if (len == 0) continue;
        p->lines++;
        if (p->lines % PROGRESS_EVERY == 0) progress(p);
        event_t ev;
        event_status_t st = event_parse(line, (size_t)len, &ev, err, sizeof err);
        if (st == EVENT_BAD) {
            p->bad++;
            fprintf(stderr, "%s:%lu: bad event: %s\n", name, lineno, err);
            continue;
        }
        if (st == EVENT_UNKNOWN) {
            p->unknown++;
            event_clear(&ev);
            continue;
        }
        p->valid++;
        int traced = p->ex && explain_wants(p->ex, &ev);
        if (traced) {
            explain_begin(p->ex, &ev);
            engine_set_trace(p->a.eng, explain_trace, p->ex);
        }
        rc = side_process(&p->a, &ev, !p->ex, name, lineno);
        if (traced) {
            engine_set_trace(p->a.eng, NULL, NULL);
            if (explain_end(p->ex) < 0 && rc == 0) {
                fprintf(stderr, "replay: writing the explanation: %s\n", strerror(errno));
                rc = -1;
            }
        }
        if (rc == 0 && p->compare) rc = side_process(&p->b, &ev, 0, name, lineno);
        event_clear(&ev);
    }
    free(line);
    return rc;
}

static void print_report(const replay_t *p, double secs)
{
    if (!p->compare) {
        fprintf(stderr,
                "replay: %lu events (%lu valid, %lu bad, %lu unknown type), %lu actions, %.2f s\n",
                p->lines, p->valid, p->bad, p->unknown, p->a.actions, secs);
        backtest_print_table(stderr, p->a.bt, p->a.eng);
        return;
    }
    fprintf(stderr,
            "replay: %lu events (%lu valid, %lu bad, %lu unknown type), A: %lu actions, B: %lu "
            "actions, %.2f s\n",
            p->lines, p->valid, p->bad, p->unknown, p->a.actions, p->b.actions, secs);
    fprintf(stderr, "A: %s\n", p->a.dir);
    backtest_print_table(stderr, p->a.bt, p->a.eng);
    fprintf(stderr, "B: %s\n", p->b.dir);
    backtest_print_table(stderr, p->b.bt, p->b.eng);
    backtest_print_diff(stderr, p->a.bt, "A", p->b.bt, "B", DIFF_EXAMPLES);
}

static int setup_explain(replay_t *p, const replay_opts_t *o)
{
    p->ex = explain_new(p->a.rs, o->format, stdout);
    if (!p->ex) {
        fprintf(stderr, "replay: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < o->nrules; i++)
        if (explain_add_rule(p->ex, o->rules[i]) < 0) {
            fprintf(stderr, "replay: --explain-rule %s: no such rule in %s\n", o->rules[i],
                    p->a.dir);
            return 2;
        }
    for (size_t i = 0; i < o->nidentities; i++)
        if (explain_add_identity(p->ex, o->identities[i]) < 0) {
            fprintf(stderr, "replay: out of memory\n");
            return 1;
        }
    return 0;
}

int replay_main(const char *conf_path, const char *rules_dir, char **files, int nfiles,
                const replay_opts_t *opts)
{
    replay_opts_t none = {0};
    const replay_opts_t *o = opts ? opts : &none;
    replay_t p;
    memset(&p, 0, sizeof p);
    int rc = 1;
    if (side_open(&p.a, conf_path, rules_dir) < 0) goto out;
    if (o->compare_dir) {
        p.compare = 1;
        if (side_open(&p.b, conf_path, o->compare_dir) < 0) goto out;
    }
    if (o->explain && (rc = setup_explain(&p, o)) != 0) goto out;
    rc = 1;
    const char *env = getenv("DETECTOR_PROGRESS_MS");
    long ms = env && *env ? strtol(env, NULL, 10) : PROGRESS_DEFAULT_MS;
    p.interval_ns = (ms > 0 ? ms : PROGRESS_DEFAULT_MS) * 1000000LL;
    p.start_ns = p.last_ns = mono_ns();
    for (int i = 0; i < nfiles; i++) {
        int is_stdin = strcmp(files[i], "-") == 0;
        FILE *in = is_stdin ? stdin : fopen(files[i], "r");
        if (!in) {
            fprintf(stderr, "replay: %s: %s\n", files[i], strerror(errno));
            goto out;
        }
        int r = replay_stream(&p, in, is_stdin ? "<stdin>" : files[i]);
        if (!is_stdin) fclose(in);
        if (r < 0) goto out;
    }
    if (fflush(stdout) != 0) {
        fprintf(stderr, "replay: writing to stdout: %s\n", strerror(errno));
        goto out;
    }
    print_report(&p, (double)(mono_ns() - p.start_ns) / 1e9);
    rc = 0;
out:
    explain_free(p.ex);
    side_close(&p.b);
    side_close(&p.a);
    return rc;
}

int cmd_replay(const char *conf_path, const char *rules_dir, char **files, int nfiles)
{
    return replay_main(conf_path, rules_dir, files, nfiles, NULL);
}
