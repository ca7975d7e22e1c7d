/* engine.c - one event through the rule set.
 *
 * engine_process() does, for one event:
 *   1. feed the counters (windows, distinct counts) of the event's type,
 *      so a window "W before t" includes the event itself;
 *   2. remember the event as a request context if a request is taken from
 *      its type;
 *   3. apply resets (rules reset on this type) and the contract's
 *      reactivations (identity.unblocked, authenticator.reactivated);
 *   4. evaluate the rules listening on the type, in pack order, reading state
 *      lazily, and decide: cooldown, block suppression, first block wins,
 *      breaker;
 *   5. apply enforced actions (blocks, activity list) and cooldowns;
 *   6. feed the known sets of this type ("known after the rules have seen
 *      the approval").
 * Every state change is idempotent per event, so a redelivered event (or a
 * retry after a store failure) changes nothing and gives the same actions.
 *
 * A trace function (engine_set_trace, for `replay --explain`) is told what
 * each step saw. Every trace call sits behind a test of e->trace, and what is
 * traced is only read, so tracing never changes a decision.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine_impl.h"

engine_t *engine_new(const ruleset_t *rs, store_t *st, const engine_opts_t *opts)
{
    engine_t *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    e->rs = rs;
    e->st = st;
    e->activity_cap = opts && opts->activity_cap ? opts->activity_cap : 100;
    size_t nr = ruleset_rule_count(rs), ns = ruleset_slot_count(rs), nq = ruleset_request_count(rs);
    e->stats = calloc(nr ? nr : 1, sizeof *e->stats);
    e->saved = calloc((nr ? nr : 1) * ENGINE_STATS_SLOTS, sizeof *e->saved);
    e->slot_gen = calloc(ns ? ns : 1, sizeof *e->slot_gen);
    e->slot_val = calloc(ns ? ns : 1, sizeof *e->slot_val);
    e->slot_lo = calloc(ns ? ns : 1, sizeof *e->slot_lo);
    e->req_state = calloc(nq ? nq : 1, sizeof *e->req_state);
    e->req = calloc(nq ? nq : 1, sizeof *e->req);
    e->md = pcre2_match_data_create(16, NULL);
    if (!e->stats || !e->saved || !e->slot_gen || !e->slot_val || !e->slot_lo || !e->req_state ||
        !e->req || !e->md) {
        engine_free(e);
        return NULL;
    }
    return e;
}

static void clear_actions(engine_t *e)
{
    for (size_t i = 0; i < e->nactions; i++)
        action_clear(&e->actions[i]);
    e->nactions = 0;
}

static void clear_requests(engine_t *e)
{
    for (size_t i = 0; i < ruleset_request_count(e->rs); i++) {
        if (e->req_state[i] >= 2) store_request_clear(&e->req[i]);
        e->req_state[i] = 0;
    }
}

void engine_free(engine_t *e)
{
    if (!e) return;
    clear_actions(e);
    if (e->req_state && e->req) clear_requests(e);
    free(e->stats);
    free(e->saved);
    free(e->slot_gen);
    free(e->slot_val);
    free(e->slot_lo);
    free(e->req_state);
    free(e->req);
    if (e->md) pcre2_match_data_free(e->md);
    free(e);
}

const engine_rule_stats_t *engine_rule_stats(const engine_t *e, size_t i)
{
    return &e->stats[i];
}

void engine_adopt_stats(engine_t *e, const engine_t *old)
{
    for (size_t i = 0; i < ruleset_rule_count(e->rs); i++)
        for (size_t k = 0; k < ruleset_rule_count(old->rs); k++)
            if (strcmp(ruleset_rule(e->rs, i)->id, ruleset_rule(old->rs, k)->id) == 0) {
                e->stats[i] = old->stats[k];
                break;
            }
}

static engine_rule_stats_t *stats_slot(engine_t *e, int slot)
{
    if (slot < 0 || slot >= ENGINE_STATS_SLOTS) slot = 0;
    return e->saved + (size_t)slot * ruleset_rule_count(e->rs);
}

void engine_stats_save(engine_t *e, int slot)
{
    memcpy(stats_slot(e, slot), e->stats, ruleset_rule_count(e->rs) * sizeof *e->stats);
}

void engine_stats_restore(engine_t *e, int slot)
{
    memcpy(e->stats, stats_slot(e, slot), ruleset_rule_count(e->rs) * sizeof *e->stats);
}

void engine_stats_copy(engine_t *e, int to, int from)
{
    memcpy(stats_slot(e, to), stats_slot(e, from), ruleset_rule_count(e->rs) * sizeof *e->stats);
}

const ruleset_t *engine_ruleset(const engine_t *e)
{
    return e->rs;
}

void engine_set_trace(engine_t *e, engine_trace_fn fn, void *ctx)
{
    e->trace = fn;
    e->trace_ctx = fn ? ctx : NULL;
}

/* Writes a reason into the caller's err (engine_process). */
void engine_err(engine_t *e, const char *fmt, ...)
{
    va_list ap;
    if (!e->err || e->errlen == 0) return;
    va_start(ap, fmt);
    vsnprintf(e->err, e->errlen, fmt, ap);
    va_end(ap);
}

/* Fills in what every record carries (the rule: the one being evaluated,
 * unless the record names its own) and calls the trace function. */
void engine_trace_emit(engine_t *e, engine_trace_t *t, engine_trace_kind_t kind)
{
    t->kind = kind;
    t->ev = e->ev;
    if (!t->rule) {
        t->rule = e->cur_rule;
        t->rule_index = e->cur_index;
    }
    e->trace(e->trace_ctx, t);
}

/* Events a counter takes: its type, its filter, its grouping field. */
static int feed_counters(engine_t *e, const event_t *ev)
{
    for (size_t i = 0; i < ruleset_counter_count(e->rs); i++) {
        const rules_counter_t *c = ruleset_counter(e->rs, i);
        if (c->type != ev->type) continue;
        if (c->filter) {
            int take = engine_eval_cond(e, c->filter, ev);
            if (e->failed) return -1; /* a store failure in the filter */
            if (!take) continue;
        }
        if (c->distinct && !ev->str[c->of]) continue;
        struct scope sc;
        if (engine_scope_make(e, c->by, &sc) < 0) return -1;
        if (!sc.s) continue;
        int rc;
        if (c->distinct)
            rc = store_distinct_add(e->st, sc.s, c->name, ev->str[c->of], ev->ts_us,
                                    WINDOW_GRACE * c->keep_us, e->err, e->errlen);
        else
            rc = (c->by == FIELD_IDENTITY ? store_window_add : store_window_add_shared)(
                e->st, sc.s, c->name, ev->str[FIELD_EVENT_ID], ev->ts_us, WINDOW_GRACE * c->keep_us,
                e->err, e->errlen);
        engine_scope_done(&sc);
        if (rc < 0) return -1;
    }
    return 0;
}

static int remember_requests(engine_t *e, const event_t *ev)
{
    for (size_t i = 0; i < ruleset_request_count(e->rs); i++) {
        const rules_request_t *r = ruleset_request(e->rs, i);
        if (r->from != ev->type || !ev->str[r->by]) continue;
        store_request_t q;
        memset(&q, 0, sizeof q);
        q.ts_us = ev->ts_us;
        snprintf(q.event_id, sizeof q.event_id, "%s", ev->str[FIELD_EVENT_ID]);
        for (int f = 0; f < FIELD_COUNT && q.nfields < STORE_REQ_MAX_FIELDS; f++) {
            if (!r->fields[f] || f == FIELD_EVENT_ID) continue;
            const char *val = ev->str[f];
            if (f == FIELD_REPORTED)
                val = ev->reported < 0 ? NULL : ev->reported ? "true" : "false";
            if (!val) continue;
            const char *name = event_field_name((event_field_t)f);
            /* The request only reads these; the struct's pointers are not const. */
            memcpy(&q.name[q.nfields], &name, sizeof name);
            memcpy(&q.value[q.nfields], &val, sizeof val);
            q.nfields++;
        }
        if (store_request_put(e->st, ev->str[FIELD_IDENTITY], r->name, ev->str[r->by], &q,
                              rules_request_retention_us(r), e->err, e->errlen) < 0)
            return -1;
    }
    return 0;
}

static int clear_block(engine_t *e, const char *id, const char *auth)
{
    int found = 0;
    store_block_t b;
    if (store_block_get(e->st, id, auth, &found, &b, e->err, e->errlen) < 0) return -1;
    if (!found || b.since_us > e->ev->ts_us) return 0;
    if (e->trace) {
        engine_trace_t t = {.block = &b, .authenticator_id = auth};
        engine_trace_emit(e, &t, ENGINE_TRACE_UNBLOCK);
    }
    return store_block_clear(e->st, id, auth, e->err, e->errlen);
}

static int apply_resets(engine_t *e, const event_t *ev)
{
    const char *id = ev->str[FIELD_IDENTITY];
    for (size_t i = 0; i < ruleset_rule_count(e->rs); i++) {
        const rule_t *r = ruleset_rule(e->rs, i);
        if (!r->reset_on || (event_type_t)r->reset_on != ev->type) continue;
        char name[300], member[600];
        snprintf(name, sizeof name, "reset:%s", r->id);
        snprintf(member, sizeof member, "%020lld:%s", (long long)ev->ts_us,
                 ev->str[FIELD_EVENT_ID]);
        if (store_window_add(e->st, id, name, member, ev->ts_us, WINDOW_MAX_KEEP, e->err,
                             e->errlen) < 0)
            return -1;
        if (e->trace) {
            engine_trace_t t = {.rule = r, .rule_index = i};
            engine_trace_emit(e, &t, ENGINE_TRACE_RESET);
        }
    }
    /* The contract: reactivation clears the block (one placed before it in
     * event time: a redelivered reactivation leaves a later block alone). */
    if (ev->type == EV_IDENTITY_UNBLOCKED) return clear_block(e, id, NULL);
    if (ev->type == EV_AUTHENTICATOR_REACTIVATED && ev->str[FIELD_AUTHENTICATOR_ID])
        return clear_block(e, id, ev->str[FIELD_AUTHENTICATOR_ID]);
    return 0;
}

static int feed_sets(engine_t *e, const event_t *ev)
{
    e->cur_rule = NULL;
    e->cur_stats = NULL;
    for (size_t i = 0; i < ruleset_set_count(e->rs); i++) {
        const rules_set_t *s = ruleset_set(e->rs, i);
        if (s->on != ev->type) continue;
        if (s->filter) {
            int take = engine_eval_cond(e, s->filter, ev);
            if (e->failed) return -1; /* a store failure in the filter */
            if (!take) continue;
        }
        /* A login approved after its initiator's keep still teaches its
         * IP and device, for a day more (RULES_REQUEST_LEARN_US). */
        e->request_any_age = 1;
        value_t v = engine_field_value(e, s->value, ev);
        e->request_any_age = 0;
        if (e->failed) return -1;
        if (v.type != T_STR) continue;
        const char *member = v.s; /* NUL-terminated at v.len (value_t) */
        if (store_set_add(e->st, ev->str[FIELD_IDENTITY], s->name, member, ev->ts_us, s->keep_us,
                          e->err, e->errlen) < 0)
            return -1;
        if (e->trace) {
            engine_trace_t t = {.set = (int)i};
            engine_trace_value(&t.a, &v);
            engine_trace_emit(e, &t, ENGINE_TRACE_LEARN);
        }
    }
    return 0;
}

/* Adds id to the evidence unless it is there already or the evidence is
 * full: ACTION_MAX_EVIDENCE - 1 entries, so the triggering event always
 * finds room after them (add_trigger). 0, or -1 out of memory. */
static int add_evidence(action_t *a, const char *id)
{
    for (size_t i = 0; i < a->nevents; i++)
        if (strcmp(a->events[i], id) == 0) return 0;
    if (a->nevents < ACTION_MAX_EVIDENCE - 1) {
        char *d = strdup(id);
        if (!d) return -1;
        a->events[a->nevents++] = d;
    }
    return 0;
}

/* Appends the triggering event: always, and last (the contract), also when
 * the evidence already named it (a request the event itself remembered). */
static int add_trigger(action_t *a, const char *id)
{
    char *d = NULL;
    for (size_t i = 0; i < a->nevents; i++)
        if (strcmp(a->events[i], id) == 0) {
            d = a->events[i];
            memmove(&a->events[i], &a->events[i + 1], (a->nevents - i - 1) * sizeof a->events[0]);
            a->nevents--;
            break;
        }
    if (!d && !(d = strdup(id))) return -1;
    a->events[a->nevents++] = d;
    return 0;
}

/* The evidence: members of the windows the rule counted (newest up to the
 * limit), the initiating request, then the triggering event. */
static int collect_evidence(engine_t *e, const rule_expr_t *x, action_t *a)
{
    if (!x) return 0;
    if (x->op == EX_COUNT && e->slot_gen[x->slot] == e->gen && e->slot_lo[x->slot] != INT64_MIN) {
        const rules_counter_t *c = ruleset_counter(e->rs, (size_t)x->counter);
        char **m = NULL;
        size_t n = 0;
        int oom = 0;
        /* The members of the identity's own windows; a window by another
         * field holds other identities' events. */
        if (c->by == FIELD_IDENTITY) {
            if (store_window_members(e->st, e->ev->str[FIELD_IDENTITY], c->name,
                                     e->slot_lo[x->slot], e->ev->ts_us, 1000, &m, &n, e->err,
                                     e->errlen) < 0)
                return -1;
            size_t from = n > ACTION_MAX_EVIDENCE - 2 ? n - (ACTION_MAX_EVIDENCE - 2) : 0;
            for (size_t i = 0; i < n; i++) {
                if (i >= from && strcmp(m[i], e->ev->str[FIELD_EVENT_ID]) != 0 &&
                    add_evidence(a, m[i]) < 0)
                    oom = 1;
                free(m[i]);
            }
            free(m);
            if (oom) goto oom;
        }
    }
    if ((x->op == EX_FIELD || x->op == EX_REQUEST) && x->request >= 0 &&
        e->req_state[x->request] == 2 && add_evidence(a, e->req[x->request].event_id) < 0)
        goto oom;
    if (collect_evidence(e, x->a, a) < 0 || collect_evidence(e, x->b, a) < 0) return -1;
    for (size_t i = 0; i < x->nitems; i++)
        if (collect_evidence(e, x->items[i], a) < 0) return -1;
    return 0;
oom:
    engine_err(e, "out of memory");
    return -1;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The breaker: an enforced block is admitted while fewer than max enforced
 * blocks lie in (t - per, t]; admitted blocks are remembered by action id
 * (so a redelivered block is admitted again), the others become shadow. */
static int breaker_admit(engine_t *e, const rules_breaker_t *br, const char *aid, int *tripped)
{
    int found = 0;
    int64_t ts = 0;
    long n = 0;
    *tripped = 0;
    if (store_window_score(e->st, BREAKER_SCOPE, BREAKER_NAME, aid, &found, &ts, e->err,
                           e->errlen) < 0)
        return -1;
    if (found) /* admitted before; the add prunes as the first time did */
        return store_window_add_shared(e->st, BREAKER_SCOPE, BREAKER_NAME, aid, e->ev->ts_us,
                                       WINDOW_GRACE * br->per_us, e->err, e->errlen);
    if (store_window_count(e->st, BREAKER_SCOPE, BREAKER_NAME, e->ev->ts_us - br->per_us,
                           e->ev->ts_us, &n, e->err, e->errlen) < 0)
        return -1;
    if (n >= br->max) {
        *tripped = 1;
        return 0;
    }
    return store_window_add_shared(e->st, BREAKER_SCOPE, BREAKER_NAME, aid, e->ev->ts_us,
                                   WINDOW_GRACE * br->per_us, e->err, e->errlen);
}

static void trace_outcome(engine_t *e, engine_outcome_t o, const action_t *a)
{
    engine_trace_t t = {.outcome = o, .action = a};
    engine_trace_emit(e, &t, ENGINE_TRACE_OUTCOME);
}

/* Decides what a hit of rule r becomes (step 4) and applies it (step 5).
 * *block_decided says an enforced identity block was already decided for
 * this event by an earlier rule (the first rule in pack order wins). */
static int decide(engine_t *e, const rule_t *r, engine_rule_stats_t *st, int *block_decided)
{
    const event_t *ev = e->ev;
    const char *id = ev->str[FIELD_IDENTITY];
    const char *auth = r->kind == KIND_BLOCK_AUTHENTICATOR ? ev->str[FIELD_AUTHENTICATOR_ID] : NULL;
    if (r->kind == KIND_BLOCK_AUTHENTICATOR && !auth) { /* nothing to block */
        if (e->trace) trace_outcome(e, ENGINE_NO_AUTHENTICATOR, NULL);
        return 0;
    }
    char aid[ACTION_ID_LEN + 1];
    if (action_make_id(r->id, r->kind, id, auth, ev->str[FIELD_EVENT_ID], aid) < 0) {
        engine_err(e, "rule %s: cannot hash its action id", r->id);
        return -1;
    }

    /* Cooldown: one action per identity and rule within the cooldown; the
     * event that set it may act again (a redelivery repeats its action). */
    if (r->cooldown_us) {
        int found = 0;
        int64_t ts = 0;
        char by[STORE_ID_MAX];
        if (store_cooldown_get(e->st, id, r->id, &found, &ts, by, e->err, e->errlen) < 0) return -1;
        if (found && strcmp(by, ev->str[FIELD_EVENT_ID]) != 0 && ev->ts_us - ts < r->cooldown_us) {
            st->suppressed_cooldown++;
            if (e->trace) {
                engine_trace_t t = {.outcome = ENGINE_COOLDOWN,
                                    .since_us = ts,
                                    .until_us = ts + r->cooldown_us,
                                    .by_event = by};
                engine_trace_emit(e, &t, ENGINE_TRACE_OUTCOME);
            }
            return 0;
        }
    }
    rule_mode_t mode = r->mode;
    int breaker = 0;
    if (r->kind != KIND_ALERT) {
        if (r->kind == KIND_BLOCK_IDENTITY && mode == MODE_ENFORCE && *block_decided) {
            st->suppressed_block++;
            if (e->trace) {
                engine_trace_t t = {.outcome = ENGINE_BLOCK_DECIDED, .by_rule = e->block_rule};
                engine_trace_emit(e, &t, ENGINE_TRACE_OUTCOME);
            }
            return 0;
        }
        int found = 0;
        store_block_t b;
        if (store_block_get(e->st, id, auth, &found, &b, e->err, e->errlen) < 0) return -1;
        if (found && strcmp(b.action_id, aid) != 0 &&
            (b.expires_us == 0 || ev->ts_us < b.expires_us)) {
            st->suppressed_block++;
            if (e->trace) {
                engine_trace_t t = {
                    .outcome = ENGINE_BLOCK_IN_FORCE, .block = &b, .authenticator_id = auth};
                engine_trace_emit(e, &t, ENGINE_TRACE_OUTCOME);
            }
            return 0;
        }
        const rules_breaker_t *br = ruleset_breaker(e->rs);
        if (mode == MODE_ENFORCE && br->max > 0) {
            int tripped;
            if (breaker_admit(e, br, aid, &tripped) < 0) return -1;
            if (tripped) {
                mode = MODE_SHADOW;
                breaker = 1;
                st->breaker_trips++;
            }
        }
        if (r->kind == KIND_BLOCK_IDENTITY && r->mode == MODE_ENFORCE) {
            *block_decided = 1;
            e->block_rule = r;
        }
    }
    if (e->nactions == sizeof e->actions / sizeof e->actions[0]) {
        if (e->trace) trace_outcome(e, ENGINE_ACTION_LIMIT, NULL);
        return 0;
    }
    action_t *a = &e->actions[e->nactions];
    memset(a, 0, sizeof *a);
    memcpy(a->action_id, aid, sizeof aid);
    a->kind = r->kind;
    a->mode = mode;
    a->rule = r;
    a->breaker = breaker;
    snprintf(a->identity, sizeof a->identity, "%s", id); /* at most 128 characters */
    if (auth && !(a->authenticator_id = strdup(auth))) {
        engine_err(e, "out of memory");
        return -1;
    }
    a->ts_us = ev->ts_us;
    a->expires_us = r->kind != KIND_ALERT && r->duration_us ? ev->ts_us + r->duration_us : 0;
    if (a->expires_us > EVENT_TS_MAX_US) /* written as RFC 3339: a four-digit year */
        a->expires_us = EVENT_TS_MAX_US;
    if (collect_evidence(e, r->when, a) < 0 || add_trigger(a, ev->str[FIELD_EVENT_ID]) < 0) {
        action_clear(a);
        return -1;
    }
    /* An action that cannot be published whole fails the event (it is
     * processed again), rather than being dropped or published in part. */
    a->json = action_to_json(a); /* once, for every consumer of the action */
    if (!a->json) {
        engine_err(e, "rule %s: cannot encode its action as JSON", r->id);
        action_clear(a);
        return -1;
    }
    e->nactions++;

    /* Apply. Shadow actions change nothing the platform reads; a rule's own
     * cooldown is kept in both modes so a shadow rule shows what it would
     * publish when enforced. */
    if (mode == MODE_ENFORCE) {
        if (r->kind != KIND_ALERT) {
            store_block_t b;
            memset(&b, 0, sizeof b);
            snprintf(b.rule, sizeof b.rule, "%s", r->id);
            snprintf(b.reason, sizeof b.reason, "%s", r->reason);
            b.since_us = ev->ts_us;
            b.expires_us = a->expires_us;
            memcpy(b.action_id, aid, sizeof aid);
            if (store_block_set(e->st, id, auth, &b, e->err, e->errlen) < 0) return -1;
        }
        char *entry = action_activity_entry(a);
        int rc =
            entry ? store_activity_push(e->st, id, entry, e->activity_cap, e->err, e->errlen) : -1;
        free(entry);
        if (rc < 0) return -1;
    }
    if (r->cooldown_us && store_cooldown_set(e->st, id, r->id, ev->ts_us, ev->str[FIELD_EVENT_ID],
                                             r->cooldown_us, e->err, e->errlen) < 0)
        return -1;
    st->actions[r->kind][mode]++;
    if (e->trace) trace_outcome(e, ENGINE_FIRED, a);
    return 0;
}

int engine_process(engine_t *e, const event_t *ev, const action_t **actions, size_t *n, char *err,
                   size_t errlen)
{
    int block_decided = 0;
    clear_actions(e);
    e->ev = ev;
    e->err = err;
    e->errlen = errlen;
    e->failed = 0;
    e->cur_rule = NULL;
    e->cur_index = 0;
    e->cur_stats = NULL;
    e->block_rule = NULL;
    if (++e->gen == 0) {
        memset(e->slot_gen, 0, ruleset_slot_count(e->rs) * sizeof *e->slot_gen);
        e->gen = 1;
    }
    if (feed_counters(e, ev) < 0 || remember_requests(e, ev) < 0 || apply_resets(e, ev) < 0)
        goto fail;
    for (size_t i = 0; !e->feed_only && i < ruleset_rule_count(e->rs); i++) {
        const rule_t *r = ruleset_rule(e->rs, i);
        if (r->on != ev->type) continue;
        engine_rule_stats_t *st = &e->stats[i];
        int64_t t0 = now_ns();
        e->cur_rule = r;
        e->cur_index = i;
        e->cur_stats = st;
        st->evaluated++;
        if (e->trace) {
            engine_trace_t t = {.outcome = ENGINE_NOT_HIT};
            engine_trace_emit(e, &t, ENGINE_TRACE_RULE);
        }
        int hit = !r->when || engine_eval_cond(e, r->when, ev);
        if (e->failed) goto fail;
        if (hit) {
            st->hits++;
            if (decide(e, r, st, &block_decided) < 0) goto fail;
        } else if (e->trace) {
            trace_outcome(e, ENGINE_NOT_HIT, NULL);
        }
        st->eval_ns += (uint64_t)(now_ns() - t0);
    }
    if (feed_sets(e, ev) < 0) goto fail;
    /* Every write of the event is in the store before it counts as done. */
    if (store_flush(e->st, err, errlen) < 0) goto fail;
    clear_requests(e);
    *actions = e->actions;
    *n = e->nactions;
    return 0;
fail:
    clear_requests(e);
    clear_actions(e);
    *actions = e->actions;
    *n = 0;
    return -1;
}

int engine_feed(engine_t *e, const event_t *ev, char *err, size_t errlen)
{
    const action_t *acts;
    size_t n;
    e->feed_only = 1;
    int rc = engine_process(e, ev, &acts, &n, err, errlen);
    e->feed_only = 0;
    return rc;
}
