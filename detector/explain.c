/* explain.c - the explanation of one event: collected from the engine's
 * trace records, printed as text or JSON.
 *
 * The records of an event are copied (their pointers live only during the
 * trace call) into one entry per rule that listened: the condition nodes it
 * evaluated, keyed by node, and its outcome. Printing walks each rule's
 * condition tree: a node with no record was cut short ("not evaluated").
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "explain.h"
#include "ruletext.h"

typedef struct xval {
    expr_type_t type;
    long long num;
    char *s;
    size_t len;
} xval_t;

/* A condition node evaluated (cond = 1), or a count read (cond = 0). */
typedef struct xnode {
    const rule_expr_t *x;
    int cond;
    int result;
    xval_t a, b;
    long count;
    int64_t lo_us, hi_us;
    char *scope; /* NULL: the event lacks the grouping field */
    int set, found;
    int64_t last_us, first_us, age_us;
    int regex_limit;
} xnode_t;

typedef struct xrule {
    size_t index;
    const rule_t *rule;
    xnode_t *nodes;
    size_t nnodes, capnodes;
    int has_outcome;
    engine_outcome_t outcome;
    char *action_json; /* FIRED: the action as published */
    char action_id[ACTION_ID_LEN + 1];
    rule_mode_t mode;
    int breaker;
    int64_t expires_us;
    char *auth; /* the authenticator of the action or of the block in force */
    int64_t since_us, until_us;
    char *by; /* COOLDOWN: the event; BLOCK_IN_FORCE: the rule of the block */
    const rule_t *by_rule;
} xrule_t;

typedef struct xreq {
    int state; /* 0 not read, 1 none, 2 found, 3 found but older than its keep */
    char *event_id;
    int64_t ts_us;
} xreq_t;

typedef struct xnote { /* an unblock or a learned value */
    int set;           /* -1: an unblock */
    char *value;       /* the value learned, or the unblocked authenticator (NULL: identity) */
    size_t len;
    char *rule;
    int64_t since_us;
} xnote_t;

struct explain {
    const ruleset_t *rs;
    explain_format_t fmt;
    FILE *out;
    unsigned char *rule_on; /* rule filter, NULL: all */
    const char **ids;       /* identity filter */
    size_t nids, capids;
    /* the event */
    const event_t *ev;
    xrule_t *rules; /* listened, in pack order */
    size_t nrules;
    xreq_t *reqs;
    size_t *resets;
    size_t nresets;
    xnote_t *notes;
    size_t nnotes, capnotes;
};

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
        if (t->action->kind == KIND_BLOCK_AUTHENTICATOR) r->auth = dup0(t->action->authenticator_id);
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

static const xnode_t *find(const xrule_t *r, const rule_expr_t *e, int cond)
{
    for (size_t i = 0; i < r->nnodes; i++)
        if (r->nodes[i].x == e && r->nodes[i].cond == cond) return &r->nodes[i];
    return NULL;
}

static int shown_rule(const explain_t *x, size_t i)
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
static const xreq_t *request_of(const explain_t *x, const rule_expr_t *v)
{
    return v && v->request >= 0 && (v->op == EX_FIELD || v->op == EX_REQUEST)
               ? &x->reqs[v->request]
               : NULL;
}

static int negated(const rule_expr_t *e)
{
    return ruletext_is_negated_test(e);
}

/* The test node that holds the values (the operand of a negated test). */
static const rule_expr_t *test_of(const rule_expr_t *e)
{
    return negated(e) ? e->a : e;
}

static int is_leaf(const rule_expr_t *e)
{
    return e->op != EX_AND && e->op != EX_OR && !(e->op == EX_NOT && !negated(e));
}

#include "explain_text.inc"
