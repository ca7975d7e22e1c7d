/* replay.c - `detector replay`: the pipeline over JSON Lines files with the
 * in-memory store. Actions go to stdout as JSON Lines (or, with --explain,
 * the explanation of each event), the per-rule table to stderr.
 *
 * Per event: 1. parse it once; 2. run it through engine A (the configured or
 * --rules rule set), traced when explaining; 3. print A's actions, or the
 * explanation; 4. with --compare, run it through engine B (its own memory
 * store); 5. note both engines' actions for the tables and the difference.
 *
 * Two threads: a reader reads the files in chunks of lines, a few chunks
 * ahead, and parses them (step 1, half of a replay's time under perf); the
 * calling thread takes the chunks in order and does the rest, and while
 * the chunk it needs is not parsed yet it parses the oldest one read, so
 * that parsing, which depends on nothing but the line, fills both cores.
 * The engines see the events one at a time in file order, as before, so
 * the decisions are those of one thread.
 */
#include <errno.h>
#include <pthread.h>
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
#define CHUNK_EVENTS 64 /* events per chunk handed from the reader */
#define CHUNKS 8        /* chunks in the ring: how far the reader runs ahead */

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

/* One line, parsed by a parser. */
typedef struct parsed {
    unsigned long lineno;
    event_status_t st;
    event_t ev; /* EVENT_OK, EVENT_UNKNOWN: to be cleared */
    char *buf;  /* its strings (event_detach), kept for the next use */
    size_t cap;
    char err[512]; /* EVENT_BAD: the reason */
} parsed_t;

/* FREE -> (the reader reads lines into it) RAW -> (a parser claims it)
 * PARSING -> READY -> (the engines take it in order) FREE. */
typedef enum { CHUNK_FREE, CHUNK_RAW, CHUNK_PARSING, CHUNK_READY } chunk_state_t;

/* A run of lines of one file, or the end of the input (last), or an error
 * of the reader (fatal) after those lines. */
typedef struct chunk {
    chunk_state_t state;
    size_t seq;    /* its place in the input */
    size_t n;      /* lines filled */
    size_t parsed; /* of which hold an event to clear */
    int file;      /* index into the files */
    int last;
    char fatal[512];
    char *text; /* the lines, each followed by a NUL */
    size_t textlen, textcap;
    size_t off[CHUNK_EVENTS], len[CHUNK_EVENTS];
    parsed_t ev[CHUNK_EVENTS];
} chunk_t;

typedef struct reader {
    pthread_mutex_t mu;
    pthread_cond_t changed; /* a chunk changed state, or stop */
    chunk_t *ring;          /* CHUNKS */
    char **files;
    int nfiles;
    int stop; /* the consumer gave up: the reader ends */
} reader_t;

static void chunk_release(chunk_t *c)
{
    for (size_t i = 0; i < c->parsed; i++)
        if (c->ev[i].st != EVENT_BAD) event_clear(&c->ev[i].ev);
    c->n = c->parsed = c->textlen = 0;
    c->last = 0;
    c->fatal[0] = '\0';
}

/* Parses the lines of c (a chunk this thread claimed). The document of each
 * event is freed here, while its memory is in this core's cache, as the
 * baseline does; out of memory, it stays. */
static void chunk_parse(chunk_t *c)
{
    for (size_t i = 0; i < c->n; i++) {
        parsed_t *e = &c->ev[i];
        e->st = event_parse(c->text + c->off[i], c->len[i], &e->ev, e->err, sizeof e->err);
        if (e->st == EVENT_OK) (void)event_detach(&e->ev, &e->buf, &e->cap);
        c->parsed = i + 1;
    }
}

/* With mu held: claims the oldest RAW chunk, parses it without the lock,
 * and hands it on as READY. 0 when there was none. */
static int parse_one(reader_t *r)
{
    chunk_t *c = NULL;
    for (int i = 0; i < CHUNKS; i++)
        if (r->ring[i].state == CHUNK_RAW && (!c || r->ring[i].seq < c->seq)) c = &r->ring[i];
    if (!c) return 0;
    c->state = CHUNK_PARSING;
    pthread_mutex_unlock(&r->mu);
    chunk_parse(c);
    pthread_mutex_lock(&r->mu);
    c->state = CHUNK_READY;
    pthread_cond_broadcast(&r->changed);
    return 1;
}

/* The next free chunk, its old events cleared; NULL when told to stop. */
static chunk_t *reader_take(reader_t *r, size_t *slot)
{
    chunk_t *c = &r->ring[*slot % CHUNKS];
    pthread_mutex_lock(&r->mu);
    while (c->state != CHUNK_FREE && !r->stop)
        if (!parse_one(r)) pthread_cond_wait(&r->changed, &r->mu);
    int stop = r->stop;
    pthread_mutex_unlock(&r->mu);
    if (stop) return NULL;
    chunk_release(c);
    c->seq = (*slot)++;
    return c;
}

/* c's lines are read: to be parsed by whichever thread is free first. */
static void reader_hand(reader_t *r, chunk_t *c)
{
    pthread_mutex_lock(&r->mu);
    c->state = CHUNK_RAW;
    pthread_cond_broadcast(&r->changed);
    pthread_mutex_unlock(&r->mu);
}

/* Appends a line to c. 0, or -1 when out of memory. */
static int chunk_add(chunk_t *c, const char *line, size_t len, unsigned long lineno)
{
    if (c->textlen + len + 1 > c->textcap) {
        size_t cap = c->textcap ? c->textcap : 16384;
        while (cap < c->textlen + len + 1)
            cap *= 2;
        char *t = realloc(c->text, cap);
        if (!t) return -1;
        c->text = t;
        c->textcap = cap;
    }
    memcpy(c->text + c->textlen, line, len);
    c->text[c->textlen + len] = '\0';
    c->off[c->n] = c->textlen;
    c->len[c->n] = len;
    c->ev[c->n].lineno = lineno;
    c->textlen += len + 1;
    c->n++;
    return 0;
}

static void *reader_main(void *arg)
{
    reader_t *r = arg;
    size_t slot = 0;
    char *line = NULL;
    size_t cap = 0;
    chunk_t *c = reader_take(r, &slot);
    for (int f = 0; c && f < r->nfiles; f++) {
        int is_stdin = strcmp(r->files[f], "-") == 0;
        FILE *in = is_stdin ? stdin : fopen(r->files[f], "r");
        c->file = f;
        if (!in) {
            snprintf(c->fatal, sizeof c->fatal, "replay: %s: %s", r->files[f], strerror(errno));
            break;
        }
        unsigned long lineno = 0;
        ssize_t len;
        int rerr = 0;
        while ((len = getline(&line, &cap, in)) >= 0) {
            lineno++;
            if (len > 0 && line[len - 1] == '\n') len--;
            if (len > 0 && line[len - 1] == '\r') len--;
            if (len == 0) continue;
            if (chunk_add(c, line, (size_t)len, lineno) < 0) {
                rerr = ENOMEM;
                break;
            }
            if (c->n == CHUNK_EVENTS) {
                reader_hand(r, c);
                if (!(c = reader_take(r, &slot))) break;
                c->file = f;
            }
        }
        if (!rerr && ferror(in)) rerr = errno;
        if (!is_stdin) fclose(in);
        if (!c) break;
        if (rerr) {
            snprintf(c->fatal, sizeof c->fatal, "replay: %s: %s", r->files[f], strerror(rerr));
            break;
        }
        if (c->n > 0 && f + 1 < r->nfiles) { /* a chunk holds one file's lines */
            reader_hand(r, c);
            c = reader_take(r, &slot);
        }
    }
    free(line);
    if (c) {
        c->last = 1;
        reader_hand(r, c);
    }
    /* what is read and not parsed yet */
    pthread_mutex_lock(&r->mu);
    while (!r->stop && parse_one(r))
        ;
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

/* One parsed event through the rule sets. */
static int replay_event(replay_t *p, parsed_t *e, const char *name)
{
    p->lines++;
    if (p->lines % PROGRESS_EVERY == 0) progress(p);
    if (e->st == EVENT_BAD) {
        p->bad++;
        fprintf(stderr, "%s:%lu: bad event: %s\n", name, e->lineno, e->err);
        return 0;
    }
    if (e->st == EVENT_UNKNOWN) {
        p->unknown++;
        return 0;
    }
    p->valid++;
    const event_t *ev = &e->ev;
    int traced = p->ex && explain_wants(p->ex, ev);
    if (traced) {
        explain_begin(p->ex, ev);
        engine_set_trace(p->a.eng, explain_trace, p->ex);
    }
    int rc = side_process(&p->a, ev, !p->ex, name, e->lineno);
    if (traced) {
        engine_set_trace(p->a.eng, NULL, NULL);
        if (explain_end(p->ex) < 0 && rc == 0) {
            fprintf(stderr, "replay: writing the explanation: %s\n", strerror(errno));
            rc = -1;
        }
    }
    if (rc == 0 && p->compare) rc = side_process(&p->b, ev, 0, name, e->lineno);
    return rc;
}

/* Every event of the files, in order. 0, or -1 after an error (printed).
 * While the chunk it needs is not parsed yet, this thread parses the oldest
 * chunk the reader has read: parsing is spread over both cores. */
static int replay_files(replay_t *p, char **files, int nfiles)
{
    reader_t r = {.files = files, .nfiles = nfiles};
    r.ring = calloc(CHUNKS, sizeof *r.ring);
    if (!r.ring) {
        fprintf(stderr, "replay: out of memory\n");
        return -1;
    }
    pthread_mutex_init(&r.mu, NULL);
    pthread_cond_init(&r.changed, NULL);
    pthread_t th;
    int rc = 0;
    if ((errno = pthread_create(&th, NULL, reader_main, &r)) != 0) {
        fprintf(stderr, "replay: cannot start the reader: %s\n", strerror(errno));
        rc = -1;
        goto out;
    }
    for (size_t slot = 0;; slot++) {
        chunk_t *c = &r.ring[slot % CHUNKS];
        pthread_mutex_lock(&r.mu);
        while (c->state != CHUNK_READY)
            if (!parse_one(&r)) pthread_cond_wait(&r.changed, &r.mu);
        pthread_mutex_unlock(&r.mu);
        const char *name = strcmp(files[c->file], "-") == 0 ? "<stdin>" : files[c->file];
        for (size_t i = 0; rc == 0 && i < c->n; i++)
            rc = replay_event(p, &c->ev[i], name);
        if (rc == 0 && c->fatal[0]) {
            fprintf(stderr, "%s\n", c->fatal);
            rc = -1;
        }
        int last = c->last;
        pthread_mutex_lock(&r.mu);
        c->state = CHUNK_FREE;
        if (rc < 0) r.stop = 1;
        pthread_cond_broadcast(&r.changed);
        pthread_mutex_unlock(&r.mu);
        if (last || rc < 0) break;
    }
    pthread_join(th, NULL);
out:
    for (int i = 0; i < CHUNKS; i++) {
        chunk_release(&r.ring[i]);
        for (size_t j = 0; j < CHUNK_EVENTS; j++)
            free(r.ring[i].ev[j].buf);
        free(r.ring[i].text);
    }
    free(r.ring);
    pthread_cond_destroy(&r.changed);
    pthread_mutex_destroy(&r.mu);
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
    if (replay_files(&p, files, nfiles) < 0) goto out;
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
