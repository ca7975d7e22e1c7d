/* explain_impl.h - private to the explainer (explain.c, explain_json.c):
 * the records of one event and the helpers that read them. */
#ifndef DETECTOR_EXPLAIN_IMPL_H
#define DETECTOR_EXPLAIN_IMPL_H

#include "explain.h"

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

/* The record of node e (a condition when cond, else a count) of rule r, or
 * NULL when the engine did not evaluate it. */
const xnode_t *explain_find(const xrule_t *r, const rule_expr_t *e, int cond);
/* 1 when rule i passes the rule filter. */
int explain_shown_rule(const explain_t *x, size_t i);
/* What the event's lookup of the request read by value v found, or NULL when
 * v reads no request. */
const xreq_t *explain_request_of(const explain_t *x, const rule_expr_t *v);
/* 1 for the `not` of a test written negated ("not in", "is missing"). */
int explain_negated(const rule_expr_t *e);
/* The node holding the values of test e (the operand of a negated test). */
const rule_expr_t *explain_test_of(const rule_expr_t *e);
/* 1 for a test printed on one line; 0 for and, or, and a `not` written by
 * itself. */
int explain_is_leaf(const rule_expr_t *e);

/* Prints the event as one line of JSON. -1 on out-of-memory. */
int explain_json_event(const explain_t *x, FILE *f);

#endif
