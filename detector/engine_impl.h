/* engine_impl.h - private to engine.c and evaluate.c: the engine's state
 * and the evaluation of conditions (evaluate.c) that the pipeline of one
 * event (engine.c) calls. */
#ifndef DETECTOR_ENGINE_IMPL_H
#define DETECTOR_ENGINE_IMPL_H

#include "engine.h"

#define BREAKER_SCOPE "breaker"
#define BREAKER_NAME "blocks"
/* Windows keep their members this many windows long, so an event that
 * arrives late (up to one window) is still counted exactly. */
#define WINDOW_GRACE 2
/* Resets are kept as long as the longest window the language allows. */
#define WINDOW_MAX_KEEP (2 * 366 * 86400000000LL)

/* A value; s (T_STR) is NUL-terminated at len: event text (Jansson's
 * strings, which hold no NUL), request values and literals all are. */
typedef struct value {
    expr_type_t type; /* T_NONE: missing */
    long long num;
    const char *s;
    size_t len;
} value_t;

struct engine {
    const ruleset_t *rs;
    store_t *st;
    size_t activity_cap;
    engine_rule_stats_t *stats;
    engine_rule_stats_t *saved; /* engine_stats_save: ENGINE_STATS_SLOTS copies */
    pcre2_match_data *md;
    /* per event */
    const event_t *ev;
    unsigned gen;
    unsigned *slot_gen;
    long *slot_val;
    int64_t *slot_lo;
    int *req_state;      /* 0 unknown, 1 missing, 2 found, 3 found but older than its keep */
    int request_any_age; /* reading for a known set: a request of any age will do */
    int feed_only;       /* engine_feed: state only, no rules */
    store_request_t *req;
    const rule_t *cur_rule;
    size_t cur_index;
    engine_rule_stats_t *cur_stats;
    const rule_t *block_rule; /* the rule that decided an identity block for this event */
    engine_trace_fn trace;
    void *trace_ctx;
    int failed;
    char *err;
    size_t errlen;
    action_t actions[64];
    size_t nactions;
};

/* The scope of state grouped by a field of the event (evaluate.c). */
struct scope {
    const char *s; /* NULL: the event lacks the field */
    char *heap;
    char stack[256];
};
int engine_scope_make(engine_t *e, event_field_t by, struct scope *sc);
void engine_scope_done(struct scope *sc);

/* Evaluation (evaluate.c). */
const store_request_t *engine_request(engine_t *e, int ri);
value_t engine_field_value(engine_t *e, const rule_expr_t *x, const event_t *ev);
int engine_eval_cond(engine_t *e, const rule_expr_t *x, const event_t *ev);
void engine_trace_value(engine_trace_value_t *t, const value_t *v);

/* The pipeline (engine.c), used by evaluate.c. */
void engine_err(engine_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void engine_trace_emit(engine_t *e, engine_trace_t *t, engine_trace_kind_t kind);

#endif
