/* explain.c - the explanation of one event: collected from the engine's
 * trace records, printed as text (here) or JSON (explain_json.c).
 *
 * The records of an event are copied (their pointers live only during the
 * trace call) into one entry per rule that listened: the condition nodes it
 * evaluated, keyed by node, and its outcome. Printing walks each rule's
 * condition tree: a node with no record was cut short ("not evaluated").
 */
#include <stdlib.h>
#include <string.h>

#include "explain_impl.h"
#include "ruletext.h"

explain_t *explain_new(const ruleset_t *rs, explain_format_t fmt, FILE *out)
{
    explain_t *x = calloc(1, sizeof *x);
    if (!x) return NULL;
    size_t nr = ruleset_rule_count(rs), nq = ruleset_request_count(rs);
    x->rs = rs;
    x->fmt = fmt;
    x->out = out;
    x->rules = calloc(nr ? nr : 1, sizeof *x->rules);
    x->resets = calloc(nr ? nr : 1, sizeof *x->resets);
    x->reqs = calloc(nq ? nq : 1, sizeof *x->reqs);
    if (!x->rules || !x->resets || !x->reqs) {
        explain_free(x);
        return NULL;
    }
    return x;
}

static void forget_event(explain_t *x)
{
    for (size_t i = 0; i < x->nrules; i++) {
        xrule_t *r = &x->rules[i];
        for (size_t j = 0; j < r->nnodes; j++) {
            free(r->nodes[j].a.s);
            free(r->nodes[j].b.s);
            free(r->nodes[j].scope);
        }
        free(r->nodes);
        free(r->action_json);
        free(r->auth);
        free(r->by);
        memset(r, 0, sizeof *r);
    }
    x->nrules = 0;
    for (size_t i = 0; i < ruleset_request_count(x->rs); i++) {
        free(x->reqs[i].event_id);
        memset(&x->reqs[i], 0, sizeof x->reqs[i]);
    }
    x->nresets = 0;
    for (size_t i = 0; i < x->nnotes; i++) {
        free(x->notes[i].value);
        free(x->notes[i].rule);
    }
    x->nnotes = 0;
    x->ev = NULL;
}

void explain_free(explain_t *x)
{
    if (!x) return;
    if (x->rules && x->reqs) forget_event(x);
    free(x->rules);
    free(x->resets);
    free(x->reqs);
    free(x->notes);
    free(x->rule_on);
    free(x->ids);
    free(x);
}

int explain_add_rule(explain_t *x, const char *rule_id)
{
    size_t nr = ruleset_rule_count(x->rs);
    for (size_t i = 0; i < nr; i++) {
        if (strcmp(ruleset_rule(x->rs, i)->id, rule_id) != 0) continue;
        if (!x->rule_on && !(x->rule_on = calloc(nr, 1))) return -1;
        x->rule_on[i] = 1;
        return 0;
    }
    return -1;
}

int explain_add_identity(explain_t *x, const char *identity)
{
    if (x->nids == x->capids) {
        size_t cap = x->capids ? 2 * x->capids : 4;
        const char **n = realloc(x->ids, cap * sizeof *n);
        if (!n) return -1;
        x->ids = n;
        x->capids = cap;
    }
    x->ids[x->nids++] = identity;
    return 0;
}

int explain_wants(const explain_t *x, const event_t *ev)
{
    if (x->nids == 0) return 1;
    for (size_t i = 0; i < x->nids; i++)
        if (strcmp(x->ids[i], ev->str[FIELD_IDENTITY]) == 0) return 1;
    return 0;
}

void explain_begin(explain_t *x, const event_t *ev)
{
    forget_event(x);
    x->ev = ev;
}

/* --- Collecting ------------------------------------------------------- */

static char *dupn(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static char *dup0(const char *s)
{
    return s ? dupn(s, strlen(s)) : NULL;
}

static void copy_value(xval_t *d, const engine_trace_value_t *v)
{
    d->type = v->type;
    d->num = v->num;
    d->s = v->type == T_STR ? dupn(v->s, v->len) : NULL;
    d->len = d->s ? v->len : 0;
    if (v->type == T_STR && !d->s) d->type = T_NONE;
}

static xrule_t *current_rule(explain_t *x, const engine_trace_t *t)
{
    if (x->nrules == 0 || x->rules[x->nrules - 1].rule != t->rule) return NULL;
    return &x->rules[x->nrules - 1];
}

static void add_node(xrule_t *r, const engine_trace_t *t)
{
    if (r->nnodes == r->capnodes) {
        size_t cap = r->capnodes ? 2 * r->capnodes : 16;
        xnode_t *n = realloc(r->nodes, cap * sizeof *n);
        if (!n) return; /* the node shows as not evaluated */
        r->nodes = n;
        r->capnodes = cap;
    }
    xnode_t *n = &r->nodes[r->nnodes++];
    memset(n, 0, sizeof *n);
    n->x = t->x;
    n->cond = t->kind == ENGINE_TRACE_COND;
    n->result = t->result;
    copy_value(&n->a, &t->a);
    copy_value(&n->b, &t->b);
    n->count = t->count;
    n->lo_us = t->lo_us;
    n->hi_us = t->hi_us;
    n->scope = dup0(t->scope);
    n->set = t->set;
    n->found = t->found;
    n->last_us = t->last_us;
    n->first_us = t->first_us;
    n->age_us = t->age_us;
    n->regex_limit = t->regex_limit;
}

static void set_outcome(xrule_t *r, const engine_trace_t *t)
{
    r->has_outcome = 1;
    r->outcome = t->outcome;
    r->mode = r->rule->mode;
    switch (t->outcome) {
    case ENGINE_FIRED:
        r->action_json = action_to_json(t->action);
        memcpy(r->action_id, t->action->action_id, sizeof r->action_id);
        r->mode = t->action->mode;
        r->breaker = t->action->breaker;
        r->expires_us = t->action->expires_us;
        if (t->action->kind == KIND_BLOCK_AUTHENTICATOR)
            r->auth = dup0(t->action->authenticator_id);
        break;
    case ENGINE_COOLDOWN:
        r->since_us = t->since_us;
        r->until_us = t->until_us;
        r->by = dup0(t->by_event);
        break;
    case ENGINE_BLOCK_IN_FORCE:
        r->since_us = t->block->since_us;
        r->until_us = t->block->expires_us;
        r->by = dup0(t->block->rule);
        r->auth = dup0(t->authenticator_id);
        break;
    case ENGINE_BLOCK_DECIDED:
        r->by_rule = t->by_rule;
        break;
    default:
        break;
    }
}

static void add_note(explain_t *x, int set, const char *value, size_t len, const char *rule,
                     int64_t since_us)
{
    if (x->nnotes == x->capnotes) {
        size_t cap = x->capnotes ? 2 * x->capnotes : 4;
        xnote_t *n = realloc(x->notes, cap * sizeof *n);
        if (!n) return;
        x->notes = n;
        x->capnotes = cap;
    }
    xnote_t *n = &x->notes[x->nnotes++];
    n->set = set;
    n->value = value ? dupn(value, len) : NULL;
    n->len = n->value ? len : 0;
    n->rule = dup0(rule);
    n->since_us = since_us;
}

void explain_trace(void *ctx, const engine_trace_t *t)
{
    explain_t *x = ctx;
    if (!x->ev) return;
    xrule_t *r;
    switch (t->kind) {
    case ENGINE_TRACE_RULE:
        if (x->nrules == ruleset_rule_count(x->rs)) return;
        r = &x->rules[x->nrules++];
        memset(r, 0, sizeof *r);
        r->index = t->rule_index;
        r->rule = t->rule;
        return;
    case ENGINE_TRACE_COND:
    case ENGINE_TRACE_COUNT:
        if ((r = current_rule(x, t))) add_node(r, t);
        return;
    case ENGINE_TRACE_OUTCOME:
        if ((r = current_rule(x, t))) set_outcome(r, t);
        return;
    case ENGINE_TRACE_REQUEST: {
        xreq_t *q = &x->reqs[t->request];
        free(q->event_id);
        q->event_id = NULL;
        q->state = !t->req ? 1 : t->expired ? 3 : 2;
        if (t->req) {
            q->event_id = dup0(t->req->event_id);
            q->ts_us = t->req->ts_us;
        }
        return;
    }
    case ENGINE_TRACE_RESET:
        x->resets[x->nresets++] = t->rule_index;
        return;
    case ENGINE_TRACE_UNBLOCK:
        add_note(x, -1, t->authenticator_id, t->authenticator_id ? strlen(t->authenticator_id) : 0,
                 t->block->rule, t->block->since_us);
        return;
    case ENGINE_TRACE_LEARN:
        if (t->a.type == T_STR) add_note(x, t->set, t->a.s, t->a.len, NULL, 0);
        return;
    }
}

/* --- Reading the records ------------------------------------------------ */

const xnode_t *explain_find(const xrule_t *r, const rule_expr_t *e, int cond)
{
    for (size_t i = 0; i < r->nnodes; i++)
        if (r->nodes[i].x == e && r->nodes[i].cond == cond) return &r->nodes[i];
    return NULL;
}

int explain_shown_rule(const explain_t *x, size_t i)
{
    return !x->rule_on || x->rule_on[i];
}

static int shown_event(const explain_t *x)
{
    if (!x->rule_on) return 1;
    for (size_t i = 0; i < x->nrules; i++)
        if (x->rule_on[x->rules[i].index]) return 1;
    for (size_t i = 0; i < x->nresets; i++)
        if (x->rule_on[x->resets[i]]) return 1;
    return 0;
}

static const char *ts(int64_t us, char *buf, size_t len)
{
    return event_ts_format(us, buf, len);
}

/* The request a value or presence test reads, and its name. */
const xreq_t *explain_request_of(const explain_t *x, const rule_expr_t *v)
{
    return v && v->request >= 0 && (v->op == EX_FIELD || v->op == EX_REQUEST) ? &x->reqs[v->request]
                                                                              : NULL;
}

int explain_negated(const rule_expr_t *e)
{
    return ruletext_is_negated_test(e);
}

/* The test node that holds the values (the operand of a negated test). */
const rule_expr_t *explain_test_of(const rule_expr_t *e)
{
    return explain_negated(e) ? e->a : e;
}

int explain_is_leaf(const rule_expr_t *e)
{
    return e->op != EX_AND && e->op != EX_OR && !(e->op == EX_NOT && !explain_negated(e));
}

/* What the request of a value or presence test found, for a note:
 * "ev-1 at T", "no initiator within 15m", ... */
static void text_request(const explain_t *x, FILE *f, const rule_expr_t *v)
{
    const xreq_t *q = explain_request_of(x, v);
    const rules_request_t *rq = ruleset_request(x->rs, (size_t)v->request);
    char b[40], d[64];
    rules_duration_format(rq->keep_us, d, sizeof d);
    if (!q || q->state == 0) {
        fprintf(f, "%s not looked up", rq->name);
    } else if (q->state == 2) {
        ruletext_token(f, q->event_id);
        fprintf(f, " at %s", ts(q->ts_us, b, sizeof b));
    } else if (q->state == 3) {
        fprintf(f, "%s ", rq->name);
        ruletext_token(f, q->event_id);
        fprintf(f, " at %s is older than %s", ts(q->ts_us, b, sizeof b), d);
    } else if (!x->ev->str[rq->by]) {
        fprintf(f, "the event has no %s", event_field_name(rq->by));
    } else {
        fprintf(f, "no %s within %s", rq->name, d);
    }
}

/* A value as it was seen: `channel = "web"`, `initiator.country is missing
 * (no initiator within 15m)`, `count(...) = 6  window (T1, T2]`. */
static void text_value(const explain_t *x, FILE *f, const xrule_t *r, const rule_expr_t *v,
                       const xval_t *val)
{
    char b1[40], b2[40];
    ruletext_write(f, x->rs, v);
    if (v->op == EX_LITERAL) return;
    if (v->op == EX_COUNT || v->op == EX_DISTINCT) {
        const xnode_t *c = explain_find(r, v, 0);
        const rules_counter_t *ctr = ruleset_counter(x->rs, (size_t)v->counter);
        const char *by = event_field_name(ctr->by);
        if (!c) {
            fprintf(f, " = %lld", val->num);
            return;
        }
        fprintf(f, " = %ld", c->count);
        if (!c->scope) {
            fprintf(f, "  (the event has no %s: nothing counted)", by);
            return;
        }
        if (ctr->by != FIELD_IDENTITY) {
            const char *sv = c->scope + strlen(by) + 1;
            fprintf(f, " for %s ", by);
            ruletext_quote(f, sv, strlen(sv));
        }
        fprintf(f, "  window (%s, %s]", ts(c->lo_us, b1, sizeof b1), ts(c->hi_us, b2, sizeof b2));
        if (c->lo_us > c->hi_us - v->window_us)
            fprintf(f, ", lower bound moved up from %s by a reset (%s)",
                    ts(c->hi_us - v->window_us, b1, sizeof b1),
                    event_type_name((event_type_t)r->rule->reset_on));
        return;
    }
    if (val->type == T_NONE) {
        fputs(" is missing", f);
        if (explain_request_of(x, v)) {
            fputs(" (", f);
            text_request(x, f, v);
            fputc(')', f);
        }
    } else if (val->type == T_STR) {
        fputs(" = ", f);
        ruletext_quote(f, val->s, val->len);
    } else if (val->type == T_BOOL) {
        fprintf(f, " = %s", val->num ? "true" : "false");
    } else {
        fprintf(f, " = %lld", val->num);
    }
}

/* What a known set answered, in parentheses. */
static void text_set(const explain_t *x, FILE *f, const xnode_t *n)
{
    char b1[40], b2[40], d[64];
    int64_t t = x->ev->ts_us;
    if (n->a.type != T_STR) {
        fputs("(no value to look up)", f);
    } else if (!n->found) {
        fputs("(not known)", f);
    } else if (n->last_us <= t - n->age_us) {
        fprintf(f, "(last learned %s, not within %s)", ts(n->last_us, b1, sizeof b1),
                rules_duration_format(n->age_us, d, sizeof d));
    } else if (n->last_us < t || (n->first_us && n->first_us < t)) {
        if (n->first_us)
            fprintf(f, "(known since %s, last learned %s)", ts(n->first_us, b1, sizeof b1),
                    ts(n->last_us, b2, sizeof b2));
        else
            fprintf(f, "(known, last learned %s)", ts(n->last_us, b1, sizeof b1));
    } else {
        fprintf(f, "(first learned %s: not before this event)",
                ts(n->first_us ? n->first_us : n->last_us, b1, sizeof b1));
    }
}

/* One test on one line: its values, the test, the result, a note. */
static void text_leaf(const explain_t *x, FILE *f, const xrule_t *r, const rule_expr_t *e)
{
    static const char *cmps[] = {"==", "!=", "<", "<=", ">", ">="};
    const rule_expr_t *t = explain_test_of(e);
    const xnode_t *n = explain_find(r, e, 1), *tn = explain_find(r, t, 1);
    if (!n || !tn) {
        ruletext_write(f, x->rs, e);
        fputs("  not evaluated\n", f);
        return;
    }
    const char *res = n->result ? "true" : "false";
    int neg = explain_negated(e);
    switch (t->op) {
    case EX_CMP:
        text_value(x, f, r, t->a, &tn->a);
        if (t->b->op == EX_LITERAL) {
            fprintf(f, "  %s ", cmps[t->cmp]);
            ruletext_write(f, x->rs, t->b);
        } else {
            fputs("  ", f);
            text_value(x, f, r, t->b, &tn->b);
            fprintf(f, "  %s", cmps[t->cmp]);
        }
        fprintf(f, "  %s", res);
        break;
    case EX_IN_LIST:
        text_value(x, f, r, t->a, &tn->a);
        fputs(neg ? "  not in [" : "  in [", f);
        for (size_t i = 0; i < t->nitems; i++) {
            if (i) fputs(", ", f);
            ruletext_write(f, x->rs, t->items[i]);
        }
        fprintf(f, "]  %s", res);
        break;
    case EX_IN_SET:
        text_value(x, f, r, t->a, &tn->a);
        fprintf(f, "  %s %s", neg ? "not in" : "in", ruleset_set(x->rs, (size_t)t->set)->name);
        if (t->within_us) {
            char d[64];
            fprintf(f, " within %s", rules_duration_format(t->within_us, d, sizeof d));
        }
        fprintf(f, "  %s  ", res);
        text_set(x, f, tn);
        break;
    case EX_MATCH:
        text_value(x, f, r, t->a, &tn->a);
        fputs("  matches ", f);
        ruletext_literal(f, t->pattern, strlen(t->pattern));
        fprintf(f, "  %s", res);
        if (tn->regex_limit) /* 2: taken as a match (regex.on_limit) */
            fprintf(f, "  (match limit hit: taken as %s)",
                    tn->regex_limit == 2 ? "a match" : "no match");
        break;
    case EX_PRESENT:
        ruletext_write(f, x->rs, e);
        fprintf(f, "  %s", res);
        if (t->a->op == EX_REQUEST) {
            fputs("  (", f);
            text_request(x, f, t->a);
            fputc(')', f);
        } else if (tn->a.type == T_STR) {
            fputs("  (", f);
            ruletext_quote(f, tn->a.s, tn->a.len);
            fputc(')', f);
        } else if (tn->a.type == T_BOOL) {
            fprintf(f, "  (%s)", tn->a.num ? "true" : "false");
        } else if (explain_request_of(x, t->a)) {
            fputs("  (", f);
            text_request(x, f, t->a);
            fputc(')', f);
        }
        break;
    default: /* EX_TRUTH */
        text_value(x, f, r, t->a, &tn->a);
        fprintf(f, "  %s", res);
        break;
    }
    fputc('\n', f);
}

static void text_node(const explain_t *x, FILE *f, const xrule_t *r, const rule_expr_t *e,
                      int indent, int top);

/* The operands of a chain of one operator (a and b and c), each on its line. */
static void text_chain(const explain_t *x, FILE *f, const xrule_t *r, const rule_expr_t *e,
                       expr_op_t op, int indent)
{
    if (e->op == op) {
        text_chain(x, f, r, e->a, op, indent);
        text_chain(x, f, r, e->b, op, indent);
    } else {
        text_node(x, f, r, e, indent, 0);
    }
}

static void text_node(const explain_t *x, FILE *f, const xrule_t *r, const rule_expr_t *e,
                      int indent, int top)
{
    if (top && e->op == EX_AND) { /* the conditions of a rule: one per line */
        text_chain(x, f, r, e, EX_AND, indent);
        return;
    }
    fprintf(f, "%*s", indent, "");
    if (explain_is_leaf(e)) {
        text_leaf(x, f, r, e);
        return;
    }
    const xnode_t *n = explain_find(r, e, 1);
    ruletext_write(f, x->rs, e);
    fprintf(f, "  %s\n", n ? (n->result ? "true" : "false") : "not evaluated");
    if (!n) return;
    if (e->op == EX_NOT)
        text_node(x, f, r, e->a, indent + 2, 0);
    else
        text_chain(x, f, r, e, e->op, indent + 2);
}

static void text_outcome(const explain_t *x, FILE *f, const xrule_t *r)
{
    char b1[40], b2[40], d[64];
    if (!r->has_outcome) {
        fputs("not evaluated to the end", f);
        return;
    }
    switch (r->outcome) {
    case ENGINE_NOT_HIT:
        fputs("not hit", f);
        return;
    case ENGINE_FIRED:
        fprintf(f, "FIRED  %s %s", rule_kind_name(r->rule->kind), rule_mode_name(r->mode));
        if (r->breaker) {
            const rules_breaker_t *br = ruleset_breaker(x->rs);
            fprintf(f, " (breaker: %ld blocks per %s reached)", br->max,
                    rules_duration_format(br->per_us, d, sizeof d));
        }
        if (r->auth) {
            fputs("  authenticator ", f);
            ruletext_token(f, r->auth);
        }
        if (r->expires_us) fprintf(f, "  expires %s", ts(r->expires_us, b1, sizeof b1));
        fprintf(f, "  action %s", r->action_id);
        return;
    case ENGINE_NO_AUTHENTICATOR:
        fputs("hit, nothing to block: the event has no authenticator_id", f);
        return;
    case ENGINE_COOLDOWN:
        fprintf(f, "hit, suppressed: cooldown until %s (acted at %s on ",
                ts(r->until_us, b1, sizeof b1), ts(r->since_us, b2, sizeof b2));
        ruletext_token(f, r->by ? r->by : "");
        fputc(')', f);
        return;
    case ENGINE_BLOCK_IN_FORCE:
        fputs("hit, suppressed: block", f);
        if (r->auth) {
            fputs(" of authenticator ", f);
            ruletext_token(f, r->auth);
        }
        fprintf(f, " in force since %s by rule ", ts(r->since_us, b1, sizeof b1));
        ruletext_token(f, r->by ? r->by : "");
        if (r->until_us) fprintf(f, " until %s", ts(r->until_us, b2, sizeof b2));
        return;
    case ENGINE_BLOCK_DECIDED:
        fprintf(f, "hit, suppressed: block already decided by %s",
                r->by_rule ? r->by_rule->id : "an earlier rule");
        return;
    case ENGINE_ACTION_LIMIT:
        fputs("hit, dropped: the event already gave the most actions one event can", f);
        return;
    }
}

static void text_event(const explain_t *x, FILE *f)
{
    const event_t *ev = x->ev;
    char b[40];
    ruletext_token(f, ev->str[FIELD_EVENT_ID]);
    fprintf(f, "  %s  %s  identity ", ts(ev->ts_us, b, sizeof b), event_type_name(ev->type));
    ruletext_token(f, ev->str[FIELD_IDENTITY]);
    fputc('\n', f);
    for (size_t i = 0; i < x->nresets; i++) {
        if (!explain_shown_rule(x, x->resets[i])) continue;
        fprintf(f, "  resets the counts of %s (reset on %s)\n",
                ruleset_rule(x->rs, x->resets[i])->id, event_type_name(ev->type));
    }
    for (size_t i = 0; i < x->nnotes; i++) {
        const xnote_t *n = &x->notes[i];
        if (n->set >= 0) continue;
        fputs("  clears the block of ", f);
        if (n->value) {
            fputs("authenticator ", f);
            ruletext_token(f, n->value);
        } else {
            fputs("the identity", f);
        }
        fprintf(f, " placed at %s by rule ", ts(n->since_us, b, sizeof b));
        ruletext_token(f, n->rule ? n->rule : "");
        fputc('\n', f);
    }
    int width = 0;
    for (size_t i = 0; i < x->nrules; i++)
        if (explain_shown_rule(x, x->rules[i].index) && (int)strlen(x->rules[i].rule->id) > width)
            width = (int)strlen(x->rules[i].rule->id);
    for (size_t i = 0; i < x->nrules; i++) {
        const xrule_t *r = &x->rules[i];
        if (!explain_shown_rule(x, r->index)) continue;
        fprintf(f, "  %-*s  ", width, r->rule->id);
        text_outcome(x, f, r);
        fputc('\n', f);
        if (r->rule->when)
            text_node(x, f, r, r->rule->when, 4, 1);
        else
            fputs("    (no condition: always)\n", f);
    }
    if (x->nrules == 0) fprintf(f, "  no rule listens on %s\n", event_type_name(ev->type));
    for (size_t i = 0; i < x->nnotes; i++) {
        const xnote_t *n = &x->notes[i];
        if (n->set < 0) continue;
        fprintf(f, "  learns %s ", ruleset_set(x->rs, (size_t)n->set)->name);
        ruletext_quote(f, n->value ? n->value : "", n->len);
        fputc('\n', f);
    }
    fputc('\n', f);
}

int explain_end(explain_t *x)
{
    int rc = 0;
    if (!x->ev) return 0;
    if (shown_event(x)) {
        if (x->fmt == EXPLAIN_JSON)
            rc = explain_json_event(x, x->out);
        else
            text_event(x, x->out);
    }
    forget_event(x);
    return rc < 0 || ferror(x->out) ? -1 : 0;
}
