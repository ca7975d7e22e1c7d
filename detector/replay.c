/* replay.c - `detector replay`: the pipeline over JSON Lines files with the
 * in-memory store. Actions go to stdout as JSON Lines, a per-rule summary
 * to stderr. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commands.h"
#include "engine.h"
#include "event.h"
#include "store.h"

typedef struct replay_counts {
    unsigned long lines, valid, bad, unknown, actions;
} replay_counts_t;

static int replay_stream(FILE *in, const char *name, engine_t *eng, replay_counts_t *c)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    unsigned long lineno = 0;
    char err[512];
    while ((len = getline(&line, &cap, in)) >= 0) {
        lineno++;
        if (len > 0 && line[len - 1] == '\n') len--;
        if (len > 0 && line[len - 1] == '\r') len--;
        if (len == 0) continue;
        c->lines++;
        event_t ev;
        event_status_t st = event_parse(line, (size_t)len, &ev, err, sizeof err);
        if (st == EVENT_BAD) {
            c->bad++;
            fprintf(stderr, "%s:%lu: bad event: %s\n", name, lineno, err);
            continue;
        }
        if (st == EVENT_UNKNOWN) {
            c->unknown++;
            event_clear(&ev);
            continue;
        }
        c->valid++;
        const action_t *acts;
        size_t n;
        if (engine_process(eng, &ev, &acts, &n, err, sizeof err) < 0) {
            /* The memory store does not fail; this is out of memory. */
            fprintf(stderr, "%s:%lu: %s\n", name, lineno, err);
            event_clear(&ev);
            free(line);
            return -1;
        }
        for (size_t i = 0; i < n; i++) {
            char *js = action_to_json(&acts[i]);
            if (js) {
                fputs(js, stdout);
                fputc('\n', stdout);
                free(js);
            }
            c->actions++;
        }
        event_clear(&ev);
    }
    free(line);
    return 0;
}

static void print_summary(const engine_t *eng, const replay_counts_t *c, double secs)
{
    const ruleset_t *rs = engine_ruleset(eng);
    fprintf(stderr,
            "replay: %lu events (%lu valid, %lu bad, %lu unknown type), %lu actions, %.2f s\n",
            c->lines, c->valid, c->bad, c->unknown, c->actions, secs);
    fprintf(stderr, "%-38s %-7s %9s %7s %7s %7s %7s %8s %8s %7s\n", "rule", "mode", "evaluated",
            "hits", "alerts", "blocks", "shadow", "cooldown", "blocked", "breaker");
    for (size_t i = 0; i < ruleset_rule_count(rs); i++) {
        const rule_t *r = ruleset_rule(rs, i);
        const engine_rule_stats_t *s = engine_rule_stats(eng, i);
        unsigned long long alerts = s->actions[KIND_ALERT][MODE_ENFORCE];
        unsigned long long blocks = s->actions[KIND_BLOCK_IDENTITY][MODE_ENFORCE] +
                                    s->actions[KIND_BLOCK_AUTHENTICATOR][MODE_ENFORCE];
        unsigned long long shadow =
            s->actions[0][MODE_SHADOW] + s->actions[1][MODE_SHADOW] + s->actions[2][MODE_SHADOW];
        fprintf(stderr, "%-38s %-7s %9llu %7llu %7llu %7llu %7llu %8llu %8llu %7llu\n", r->id,
                rule_mode_name(r->mode), (unsigned long long)s->evaluated,
                (unsigned long long)s->hits, alerts, blocks, shadow,
                (unsigned long long)s->suppressed_cooldown, (unsigned long long)s->suppressed_block,
                (unsigned long long)s->breaker_trips);
    }
}

int cmd_replay(const char *conf_path, const char *rules_dir, char **files, int nfiles)
{
    config_t cfg;
    ruleset_t *rs;
    if (setup_load(conf_path, rules_dir, &cfg, &rs) < 0) return 1;
    int rc = 1;
    store_t *st = store_mem_new(cfg.redis_prefix);
    engine_opts_t o = {.activity_cap = (size_t)cfg.activity_max};
    engine_t *eng = st ? engine_new(rs, st, &o) : NULL;
    replay_counts_t c = {0};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (!eng) {
        fprintf(stderr, "replay: out of memory\n");
        goto out;
    }
    for (int i = 0; i < nfiles; i++) {
        FILE *in = strcmp(files[i], "-") == 0 ? stdin : fopen(files[i], "r");
        if (!in) {
            fprintf(stderr, "replay: %s: %s\n", files[i], strerror(errno));
            goto out;
        }
        int r = replay_stream(in, strcmp(files[i], "-") == 0 ? "<stdin>" : files[i], eng, &c);
        if (in != stdin) fclose(in);
        if (r < 0) goto out;
    }
    fflush(stdout);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    print_summary(eng, &c,
                  (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    rc = 0;
out:
    engine_free(eng);
    store_free(st);
    ruleset_free(rs);
    config_clear(&cfg);
    return rc;
}
