/* backtest.c - identities per rule and per decision over a replay; the
 * per-rule table and the difference between two rule sets. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backtest.h"
#include "ruletext.h"

/* A set of identities, each with the rule and time of its first action. */
typedef struct identry {
    char *key; /* NULL: free slot */
    uint64_t hash;
    const rule_t *rule;
    int64_t ts_us;
} identry_t;

typedef struct idmap {
    identry_t *e;
    size_t n, cap; /* cap is 0 or a power of two */
} idmap_t;

struct backtest {
    const ruleset_t *rs;
    size_t nrules;
    idmap_t *per_rule;  /* any mode */
    idmap_t all;        /* any rule, any mode */
    idmap_t decided[3]; /* enforced, by kind */
    idmap_t decided_any;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 14695981039346656037ULL; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static const identry_t *idmap_get(const idmap_t *m, const char *key)
{
    if (m->cap == 0) return NULL;
    uint64_t h = hash_str(key);
    for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        const identry_t *e = &m->e[i];
        if (!e->key) return NULL;
        if (e->hash == h && strcmp(e->key, key) == 0) return e;
    }
}

static int idmap_grow(idmap_t *m)
{
    size_t cap = m->cap ? 2 * m->cap : 64;
    identry_t *ne = calloc(cap, sizeof *ne);
    if (!ne) return -1;
    for (size_t j = 0; j < m->cap; j++) {
        if (!m->e[j].key) continue;
        size_t i = m->e[j].hash & (cap - 1);
        while (ne[i].key)
            i = (i + 1) & (cap - 1);
        ne[i] = m->e[j];
    }
    free(m->e);
    m->e = ne;
    m->cap = cap;
    return 0;
}

/* Adds key (copied) unless present: the first rule and time stay. */
static int idmap_put(idmap_t *m, const char *key, const rule_t *rule, int64_t ts_us)
{
    if ((m->n + 1) * 4 > m->cap * 3 && idmap_grow(m) < 0) return -1;
    uint64_t h = hash_str(key);
    size_t i = h & (m->cap - 1);
    for (; m->e[i].key; i = (i + 1) & (m->cap - 1))
        if (m->e[i].hash == h && strcmp(m->e[i].key, key) == 0) {
            /* Events come in time order, mostly; keep the earliest. */
            if (ts_us < m->e[i].ts_us) {
                m->e[i].ts_us = ts_us;
                m->e[i].rule = rule;
            }
            return 0;
        }
    if (!(m->e[i].key = strdup(key))) return -1;
    m->e[i].hash = h;
    m->e[i].rule = rule;
    m->e[i].ts_us = ts_us;
    m->n++;
    return 0;
}

static void idmap_clear(idmap_t *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->e[i].key);
    free(m->e);
    memset(m, 0, sizeof *m);
}

backtest_t *backtest_new(const ruleset_t *rs)
{
    backtest_t *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    b->rs = rs;
    b->nrules = ruleset_rule_count(rs);
    b->per_rule = calloc(b->nrules ? b->nrules : 1, sizeof *b->per_rule);
    if (!b->per_rule) {
        free(b);
        return NULL;
    }
    return b;
}

void backtest_free(backtest_t *b)
{
    if (!b) return;
    for (size_t i = 0; i < b->nrules; i++)
        idmap_clear(&b->per_rule[i]);
    free(b->per_rule);
    idmap_clear(&b->all);
    for (int k = 0; k < 3; k++)
        idmap_clear(&b->decided[k]);
    idmap_clear(&b->decided_any);
    free(b);
}

static size_t rule_index(const backtest_t *b, const rule_t *r)
{
    /* Rules are an array in pack order: the index is the offset. */
    const rule_t *first = b->nrules ? ruleset_rule(b->rs, 0) : NULL;
    if (first && r >= first && r < first + b->nrules) return (size_t)(r - first);
    for (size_t i = 0; i < b->nrules; i++)
        if (ruleset_rule(b->rs, i) == r) return i;
    return (size_t)-1;
}

int backtest_add(backtest_t *b, const action_t *actions, size_t n)
{
    for (size_t j = 0; j < n; j++) {
        const action_t *a = &actions[j];
        size_t i = rule_index(b, a->rule);
        if (i == (size_t)-1) continue;
        if (idmap_put(&b->per_rule[i], a->identity, a->rule, a->ts_us) < 0 ||
            idmap_put(&b->all, a->identity, a->rule, a->ts_us) < 0)
            return -1;
        if (a->mode == MODE_ENFORCE &&
            (idmap_put(&b->decided[a->kind], a->identity, a->rule, a->ts_us) < 0 ||
             idmap_put(&b->decided_any, a->identity, a->rule, a->ts_us) < 0))
            return -1;
    }
    return 0;
}

void backtest_print_table(FILE *f, const backtest_t *b, const engine_t *e)
{
    int w = 5;
    for (size_t i = 0; i < b->nrules; i++)
        if ((int)strlen(ruleset_rule(b->rs, i)->id) > w)
            w = (int)strlen(ruleset_rule(b->rs, i)->id);
    fprintf(f, "%-*s %-7s %9s %7s %7s %8s %10s %7s %10s %8s %8s %7s\n", w, "rule", "mode",
            "evaluated", "hits", "alert", "block_id", "block_auth", "shadow", "identities",
            "cooldown", "blocked", "breaker");
    unsigned long long tot[10] = {0};
    for (size_t i = 0; i < b->nrules; i++) {
        const rule_t *r = ruleset_rule(b->rs, i);
        const engine_rule_stats_t *s = engine_rule_stats(e, i);
        unsigned long long v[10] = {
            s->evaluated,
            s->hits,
            s->actions[KIND_ALERT][MODE_ENFORCE],
            s->actions[KIND_BLOCK_IDENTITY][MODE_ENFORCE],
            s->actions[KIND_BLOCK_AUTHENTICATOR][MODE_ENFORCE],
            s->actions[0][MODE_SHADOW] + s->actions[1][MODE_SHADOW] + s->actions[2][MODE_SHADOW],
            b->per_rule[i].n,
            s->suppressed_cooldown,
            s->suppressed_block,
            s->breaker_trips,
        };
        for (int k = 0; k < 10; k++)
            tot[k] += v[k];
        fprintf(f, "%-*s %-7s %9llu %7llu %7llu %8llu %10llu %7llu %10llu %8llu %8llu %7llu\n", w,
                r->id, rule_mode_name(r->mode), v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7],
                v[8], v[9]);
    }
    /* The total of identities is of distinct identities, not a sum. */
    fprintf(f, "%-*s %-7s %9llu %7llu %7llu %8llu %10llu %7llu %10llu %8llu %8llu %7llu\n", w,
            "total", "", tot[0], tot[1], tot[2], tot[3], tot[4], tot[5],
            (unsigned long long)b->all.n, tot[7], tot[8], tot[9]);
}

static int cmp_entry(const void *pa, const void *pb)
{
    const identry_t *x = *(const identry_t *const *)pa, *y = *(const identry_t *const *)pb;
    if (x->ts_us != y->ts_us) return x->ts_us < y->ts_us ? -1 : 1;
    return strcmp(x->key, y->key);
}

/* The identities of a not in b, earliest first decision first; caller frees
 * the array (the entries stay a's). NULL with *n 0 when none or OOM. */
static const identry_t **only_in(const idmap_t *a, const idmap_t *b, size_t *n)
{
    *n = 0;
    const identry_t **v = a->n ? malloc(a->n * sizeof *v) : NULL;
    if (!v) return NULL;
    for (size_t i = 0; i < a->cap; i++)
        if (a->e[i].key && !idmap_get(b, a->e[i].key)) v[(*n)++] = &a->e[i];
    qsort(v, *n, sizeof *v, cmp_entry);
    return v;
}

static void print_only(FILE *f, const char *kind, const idmap_t *x, const char *nx,
                       const idmap_t *y, const char *ny, size_t examples)
{
    size_t n;
    const identry_t **v = only_in(x, y, &n);
    fprintf(f, "%s: %zu identit%s decided by %s and not by %s%s\n", kind, n, n == 1 ? "y" : "ies",
            nx, ny, n ? ":" : "");
    for (size_t i = 0; i < n && i < examples; i++) {
        char b[40];
        fputs("  ", f);
        ruletext_token(f, v[i]->key);
        fprintf(f, "  %s  %s\n", v[i]->rule->id, event_ts_format(v[i]->ts_us, b, sizeof b));
    }
    if (n > examples) fprintf(f, "  ... and %zu more\n", n - examples);
    free(v);
}

static size_t common(const idmap_t *a, const idmap_t *b)
{
    size_t n = 0;
    for (size_t i = 0; i < a->cap; i++)
        if (a->e[i].key && idmap_get(b, a->e[i].key)) n++;
    return n;
}

void backtest_print_diff(FILE *f, const backtest_t *a, const char *name_a, const backtest_t *b,
                         const char *name_b, size_t examples)
{
    static const char *kinds[] = {"alert", "block_identity", "block_authenticator"};
    fprintf(f, "difference: identities with an enforced decision, by kind\n");
    char only_a[64], only_b[64];
    snprintf(only_a, sizeof only_a, "only %s", name_a);
    snprintf(only_b, sizeof only_b, "only %s", name_b);
    fprintf(f, "%-20s %9s %9s %9s %9s %9s\n", "kind", name_a, name_b, "both", only_a, only_b);
    for (int k = 0; k < 4; k++) {
        const idmap_t *x = k < 3 ? &a->decided[k] : &a->decided_any;
        const idmap_t *y = k < 3 ? &b->decided[k] : &b->decided_any;
        size_t both = common(x, y);
        fprintf(f, "%-20s %9zu %9zu %9zu %9zu %9zu\n", k < 3 ? kinds[k] : "any", x->n, y->n, both,
                x->n - both, y->n - both);
    }
    for (int k = 0; k < 3; k++) {
        print_only(f, kinds[k], &a->decided[k], name_a, &b->decided[k], name_b, examples);
        print_only(f, kinds[k], &b->decided[k], name_b, &a->decided[k], name_a, examples);
    }
}
