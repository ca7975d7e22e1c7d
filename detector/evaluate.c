/* evaluate.c - conditions and values of a rule against one event: fields,
 * the initiating request, counts and distinct counts over their windows,
 * known sets, regular expressions. Reads state lazily and caches counts per
 * event; traces what it saw when explaining. Part of the engine (see
 * engine.c for the pipeline of one event). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_impl.h"
#include "log.h"

/* The scope of state grouped by a field of the event: the identity itself,
 * or "field=value" with the whole value, however long (a user agent is up to
 * 4 KB, other text has no limit): on the stack when it fits, else on the
 * heap. */

/* Fills sc (the caller calls scope_done). 0, or -1 out of memory (with
 * e->failed and err set). */
int engine_scope_make(engine_t *e, event_field_t by, struct scope *sc)
{
    const event_t *ev = e->ev;
    sc->heap = NULL;
    sc->s = NULL;
    if (by == FIELD_IDENTITY) {
        sc->s = ev->str[FIELD_IDENTITY];
        return 0;
    }
    if (!ev->str[by]) return 0;
    const char *name = event_field_name(by);
    size_t nl = strlen(name), n = nl + 1 + ev->len[by] + 1;
    char *buf = sc->stack;
    if (n > sizeof sc->stack && !(buf = sc->heap = malloc(n))) {
        engine_err(e, "out of memory");
        e->failed = 1;
        return -1;
    }
    memcpy(buf, name, nl);
    buf[nl] = '=';
    memcpy(buf + nl + 1, ev->str[by], ev->len[by]);
    buf[n - 1] = '\0';
    sc->s = buf;
    return 0;
}

void engine_scope_done(struct scope *sc)
{
    free(sc->heap);
    sc->heap = NULL;
}

const store_request_t *engine_request(engine_t *e, int ri)
{
    if (e->req_state[ri] == 0) {
        const rules_request_t *r = ruleset_request(e->rs, (size_t)ri);
        const char *key = e->ev->str[r->by];
        int found = 0, traced = 0;
        e->req_state[ri] = 1;
        if (key) {
            if (store_request_get(e->st, e->ev->str[FIELD_IDENTITY], r->name, key, &found,
                                  &e->req[ri], e->err, e->errlen) < 0) {
                e->failed = 1;
                return NULL;
            }
            if (found) {
                e->req_state[ri] = 2;
                /* Remembered for `keep` of event time: (t - keep, t]. An
                 * older one is for the known sets only (state 3), for a
                 * day more (RULES_REQUEST_LEARN_US). */
                if (e->ev->ts_us - e->req[ri].ts_us >= r->keep_us) {
                    e->req_state[ri] = 3;
                    if (e->trace && !e->request_any_age) {
                        engine_trace_t t = {.request = ri, .req = &e->req[ri], .expired = 1};
                        engine_trace_emit(e, &t, ENGINE_TRACE_REQUEST);
                        traced = 1;
                    }
                }
            }
        }
        if (e->trace && !traced && !e->request_any_age) {
            engine_trace_t t = {.request = ri, .req = e->req_state[ri] == 2 ? &e->req[ri] : NULL};
            engine_trace_emit(e, &t, ENGINE_TRACE_REQUEST);
        }
    }
    if (e->req_state[ri] == 3 && e->request_any_age &&
        e->ev->ts_us - e->req[ri].ts_us <
            rules_request_retention_us(ruleset_request(e->rs, (size_t)ri)))
        return &e->req[ri];
    return e->req_state[ri] == 2 ? &e->req[ri] : NULL;
}

value_t engine_field_value(engine_t *e, const rule_expr_t *x, const event_t *ev)
{
    value_t v = {T_NONE, 0, NULL, 0};
    if (x->request >= 0) {
        const store_request_t *r = engine_request(e, x->request);
        const char *name = event_field_name(x->field);
        if (!r) return v;
        for (size_t i = 0; i < r->nfields; i++)
            if (strcmp(r->name[i], name) == 0) {
                v.type = T_STR;
                v.s = r->value[i];
                v.len = strlen(v.s);
                if (x->field == FIELD_REPORTED) {
                    v.type = T_BOOL;
                    v.num = strcmp(v.s, "true") == 0;
                }
                return v;
            }
        return v;
    }
    if (x->field == FIELD_REPORTED) {
        if (ev->reported >= 0) {
            v.type = T_BOOL;
            v.num = ev->reported;
        }
        return v;
    }
    if (ev->str[x->field]) {
        v.type = T_STR;
        v.s = ev->str[x->field];
        v.len = ev->len[x->field];
    }
    return v;
}

/* The lower bound of a window read by the current rule: (t - W, t], moved
 * up to the rule's last reset for identity-scoped counts. */
static int window_lo(engine_t *e, const rules_counter_t *c, int64_t window_us, int64_t *lo)
{
    *lo = e->ev->ts_us - window_us;
    if (e->cur_rule && e->cur_rule->reset_on && c->by == FIELD_IDENTITY) {
        /* The latest reset in (t - W, t]: resets are kept as a window of
         * "TIME:EVENT_ID" members, so a redelivered event sees the resets
         * of its own time, not later ones. */
        char name[300], **m = NULL;
        size_t n = 0;
        snprintf(name, sizeof name, "reset:%s", e->cur_rule->id);
        if (store_window_members(e->st, e->ev->str[FIELD_IDENTITY], name, *lo, e->ev->ts_us, 1000,
                                 &m, &n, e->err, e->errlen) < 0) {
            e->failed = 1;
            return -1;
        }
        if (n > 0) {
            long long ts = strtoll(m[n - 1], NULL, 10);
            if (ts > *lo) *lo = ts;
        }
        for (size_t i = 0; i < n; i++)
            free(m[i]);
        free(m);
    }
    return 0;
}

static value_t eval_value(engine_t *e, const rule_expr_t *x, const event_t *ev);

static void trace_count(engine_t *e, const rule_expr_t *x)
{
    const rules_counter_t *c = ruleset_counter(e->rs, (size_t)x->counter);
    struct scope sc = {0};
    engine_trace_t t = {
        .x = x, .count = e->slot_val[x->slot], .lo_us = e->slot_lo[x->slot], .hi_us = e->ev->ts_us};
    if (t.lo_us != INT64_MIN && engine_scope_make(e, c->by, &sc) < 0) return;
    t.scope = sc.s;
    engine_trace_emit(e, &t, ENGINE_TRACE_COUNT);
    engine_scope_done(&sc);
}

static value_t counter_value(engine_t *e, const rule_expr_t *x)
{
    value_t v = {T_NUM, 0, NULL, 0};
    if (e->slot_gen[x->slot] == e->gen) {
        v.num = e->slot_val[x->slot];
        if (e->trace) trace_count(e, x);
        return v;
    }
    const rules_counter_t *c = ruleset_counter(e->rs, (size_t)x->counter);
    struct scope sc;
    if (engine_scope_make(e, c->by, &sc) < 0) return v;
    const char *scope = sc.s;
    long n = 0;
    int64_t lo = 0;
    if (scope) {
        if (window_lo(e, c, x->window_us, &lo) < 0) {
            engine_scope_done(&sc);
            return v;
        }
        /* A distinct count keeps each value's latest time and counts those
         * in (t - W, t]: exact in time order. Events of other identities come
         * from other partitions, in the order they arrive (see README,
         * "Limits"). */
        int rc = c->distinct ? store_distinct_count(e->st, scope, c->name, lo, e->ev->ts_us, &n,
                                                    e->err, e->errlen)
                             : store_window_count(e->st, scope, c->name, lo, e->ev->ts_us, &n,
                                                  e->err, e->errlen);
        if (rc < 0) {
            e->failed = 1;
            engine_scope_done(&sc);
            return v;
        }
    }
    engine_scope_done(&sc);
    e->slot_gen[x->slot] = e->gen;
    e->slot_val[x->slot] = n;
    e->slot_lo[x->slot] = scope ? lo : INT64_MIN;
    v.num = n;
    if (e->trace) trace_count(e, x);
    return v;
}

static value_t eval_value(engine_t *e, const rule_expr_t *x, const event_t *ev)
{
    value_t v = {T_NONE, 0, NULL, 0};
    switch (x->op) {
    case EX_LITERAL:
        v.type = x->type;
        v.num = x->num;
        v.s = x->str;
        v.len = x->slen;
        return v;
    case EX_FIELD:
        return engine_field_value(e, x, ev);
    case EX_COUNT:
    case EX_DISTINCT:
        return counter_value(e, x);
    default:
        return v;
    }
}

static int value_eq(const value_t *a, const value_t *b)
{
    if (a->type == T_NONE || b->type == T_NONE || a->type != b->type) return 0;
    if (a->type == T_STR) return a->len == b->len && memcmp(a->s, b->s, a->len) == 0;
    return a->num == b->num;
}

void engine_trace_value(engine_trace_value_t *t, const value_t *v)
{
    t->type = v->type;
    t->num = v->num;
    t->s = v->s;
    t->len = v->len;
}

/* A match stopped by a limit: one warning (the log rate-limits repeats of
 * it). The value itself is attacker-controlled text and stays out: its
 * field, its length and the identity say enough to find the event. */
static void regex_limit_log(const engine_t *e, const rule_expr_t *x, const value_t *a, int rc,
                            int as_match)
{
    char what[200];
    const char *field = event_field_name(x->a->field);
    if (x->a->request >= 0)
        snprintf(what, sizeof what, "%s.%s", ruleset_request(e->rs, (size_t)x->a->request)->name,
                 field);
    else
        snprintf(what, sizeof what, "%s", field);
    if (e->cur_rule)
        log_warnx("rule %s: %s stopped \"%s matches\" at %s:%d:%d on a value of %zu bytes "
                  "(identity %s); taken as %s (regex.on_limit)",
                  e->cur_rule->id, rules_regex_limit_name(rc), what, e->cur_rule->file, x->line,
                  x->col, a->len, e->ev->str[FIELD_IDENTITY], as_match ? "a match" : "no match");
    else
        log_warnx("a filter on %s events: %s stopped \"%s matches\" at line %d:%d on a value "
                  "of %zu bytes (identity %s); taken as %s (regex.on_limit)",
                  event_type_name(e->ev->type), rules_regex_limit_name(rc), what, x->line, x->col,
                  a->len, e->ev->str[FIELD_IDENTITY], as_match ? "a match" : "no match");
}

/* Conditions. A missing value satisfies no test: ==, <, in, matches are
 * false, and their negations (!=, not in) are true. t, when tracing, receives
 * the values the node saw. */
static int eval_node(engine_t *e, const rule_expr_t *x, const event_t *ev, engine_trace_t *t);

int engine_eval_cond(engine_t *e, const rule_expr_t *x, const event_t *ev)
{
    if (e->failed) return 0;
    if (!e->trace || !e->cur_rule) return eval_node(e, x, ev, NULL);
    /* Tracing: only the conditions of rules (not counter or set filters). */
    engine_trace_t t;
    memset(&t, 0, sizeof t);
    t.x = x;
    t.set = -1;
    t.request = -1;
    int r = eval_node(e, x, ev, &t);
    if (!e->failed) {
        t.result = r;
        engine_trace_emit(e, &t, ENGINE_TRACE_COND);
    }
    return r;
}

static int eval_node(engine_t *e, const rule_expr_t *x, const event_t *ev, engine_trace_t *t)
{
    switch (x->op) {
    case EX_AND:
        return engine_eval_cond(e, x->a, ev) && engine_eval_cond(e, x->b, ev);
    case EX_OR:
        return engine_eval_cond(e, x->a, ev) || engine_eval_cond(e, x->b, ev);
    case EX_NOT:
        return !engine_eval_cond(e, x->a, ev) && !e->failed;
    case EX_TRUTH: {
        value_t v = eval_value(e, x->a, ev);
        if (t) engine_trace_value(&t->a, &v);
        return v.type == T_BOOL && v.num;
    }
    case EX_PRESENT:
        if (x->a->op == EX_REQUEST) return engine_request(e, x->a->request) != NULL;
        {
            value_t v = eval_value(e, x->a, ev);
            if (t) engine_trace_value(&t->a, &v);
            return v.type != T_NONE;
        }
    case EX_CMP: {
        value_t a = eval_value(e, x->a, ev), b = eval_value(e, x->b, ev);
        if (t) {
            engine_trace_value(&t->a, &a);
            engine_trace_value(&t->b, &b);
        }
        if (a.type == T_NONE || b.type == T_NONE) return x->cmp == CMP_NE;
        switch (x->cmp) {
        case CMP_EQ:
            return value_eq(&a, &b);
        case CMP_NE:
            return !value_eq(&a, &b);
        case CMP_LT:
            return a.num < b.num;
        case CMP_LE:
            return a.num <= b.num;
        case CMP_GT:
            return a.num > b.num;
        case CMP_GE:
            return a.num >= b.num;
        }
        return 0;
    }
    case EX_IN_LIST: {
        value_t a = eval_value(e, x->a, ev);
        if (t) engine_trace_value(&t->a, &a);
        for (size_t i = 0; i < x->nitems; i++) {
            value_t b = eval_value(e, x->items[i], ev);
            if (value_eq(&a, &b)) return 1;
        }
        return 0;
    }
    case EX_IN_SET: {
        value_t a = eval_value(e, x->a, ev);
        if (t) engine_trace_value(&t->a, &a);
        if (a.type != T_STR) return 0;
        const rules_set_t *s = ruleset_set(e->rs, (size_t)x->set);
        int found = 0;
        int64_t ts = 0;
        const char *member = a.s; /* NUL-terminated at a.len (value_t) */
        if (store_set_get(e->st, ev->str[FIELD_IDENTITY], s->name, member, &found, &ts, e->err,
                          e->errlen) < 0) {
            e->failed = 1;
            return 0;
        }
        /* Known: learned before this event (its first learning is before t,
         * which matters when an event is delivered again after the set was
         * fed) and learned again within the age. */
        int64_t age = x->within_us ? x->within_us : s->keep_us;
        if (t) {
            /* The first learning too, for the explanation (a read only). */
            int ffound = 0;
            int64_t fts = 0;
            t->set = x->set;
            t->found = found;
            t->last_us = found ? ts : 0;
            t->age_us = age;
            if (found && store_set_first(e->st, ev->str[FIELD_IDENTITY], s->name, member, &ffound,
                                         &fts, e->err, e->errlen) < 0) {
                e->failed = 1;
                return 0;
            }
            t->first_us = ffound ? fts : 0;
        }
        if (!found || ts <= ev->ts_us - age) return 0;
        if (ts < ev->ts_us) return 1;
        if (store_set_first(e->st, ev->str[FIELD_IDENTITY], s->name, member, &found, &ts, e->err,
                            e->errlen) < 0) {
            e->failed = 1;
            return 0;
        }
        if (!found || ts < ev->ts_us) return 1;
        if (ts > ev->ts_us) return 0;
        /* Learned at this very time: known, unless by this event itself (a
         * redelivered approval must not find what it taught). */
        if (ev->type != s->on) return 1;
        e->request_any_age = 1;
        value_t own = engine_field_value(e, s->value, ev);
        e->request_any_age = 0;
        return !(own.type == T_STR && own.len == a.len && memcmp(own.s, a.s, a.len) == 0);
    }
    case EX_MATCH: {
        value_t a = eval_value(e, x->a, ev);
        if (t) engine_trace_value(&t->a, &a);
        if (a.type != T_STR) return 0;
        int rc =
            pcre2_match(x->re, (PCRE2_SPTR)a.s, a.len, 0, 0, e->md, ruleset_match_context(e->rs));
        if (rc >= 0 || rc == PCRE2_ERROR_NOMATCH) return rc >= 0;
        /* Stopped by a limit (or another error of the matcher): undecided,
         * never silently "no match". Counted, logged, and taken as the
         * configuration says (regex.on_limit). */
        int as_match = ruleset_regex_on_limit(e->rs) == REGEX_ON_LIMIT_MATCH;
        if (e->cur_stats) e->cur_stats->regex_limit++;
        if (t) t->regex_limit = as_match ? 2 : 1;
        regex_limit_log(e, x, &a, rc, as_match);
        return as_match;
    }
    default:
        return 0;
    }
}