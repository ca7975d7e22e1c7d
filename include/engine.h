/* engine.h - evaluates a rule set over events with a state store.
 *
 * The one pipeline of DESIGN.md: `detector run` (Redis store) and
 * `detector replay` (memory store) both call engine_process() per event, in
 * order, so the same events give the same actions.
 */
#ifndef DETECTOR_ENGINE_H
#define DETECTOR_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "action.h"
#include "event.h"
#include "rules.h"
#include "store.h"

typedef struct engine engine_t;

typedef struct engine_opts {
    size_t activity_cap; /* entries kept in an activity list (default 100) */
} engine_opts_t;

/* Counters kept per rule (index as in the rule set). */
typedef struct engine_rule_stats {
    uint64_t evaluated;           /* events the rule listened to */
    uint64_t hits;                /* its condition held */
    uint64_t actions[3][2];       /* published, by kind and mode */
    uint64_t suppressed_cooldown; /* hits inside the rule's cooldown */
    uint64_t suppressed_block;    /* blocks not published: already blocked, or an
                                     earlier rule decided the block for this event */
    uint64_t breaker_trips;       /* blocks the breaker turned into shadow */
    uint64_t regex_limit;         /* matches stopped by the match or depth limit */
    uint64_t eval_ns;             /* time spent evaluating the rule */
} engine_rule_stats_t;

/* rs and st are borrowed and must outlive the engine. Caller frees with
 * engine_free. NULL on out-of-memory. */
engine_t *engine_new(const ruleset_t *rs, store_t *st, const engine_opts_t *opts);
void engine_free(engine_t *e);

/* Processes one valid event (borrowed). On success returns 0 and sets
 * *actions to an array of *n actions owned by the engine, valid until the
 * next call. On a store failure returns -1 with err: the event must be
 * processed again later (every state change is idempotent per event). */
int engine_process(engine_t *e, const event_t *ev, const action_t **actions, size_t *n, char *err,
                   size_t errlen);

/* --- Tracing (`detector replay --explain`) ------------------------------
 *
 * With a trace function set, engine_process() calls it synchronously as it
 * works: when a rule starts, for every condition node it evaluates (nodes cut
 * short by `and`/`or` are not reported), every count it reads, every request
 * it looks up, and for what each rule's evaluation became. Tracing only
 * reads: it never changes state or a decision, and without a trace function
 * the engine does no extra work. Every pointer in a record is borrowed and
 * valid only during the call. */
typedef enum engine_trace_kind {
    ENGINE_TRACE_RULE,    /* rule (rule_index) starts: its conditions follow */
    ENGINE_TRACE_COUNT,   /* x, a count or distinct count, read as count over (lo_us, hi_us] */
    ENGINE_TRACE_REQUEST, /* request looked up: req (NULL: not found), expired */
    ENGINE_TRACE_COND,    /* x, a condition node, evaluated: result, values a and b */
    ENGINE_TRACE_OUTCOME, /* what the hit (or miss) of rule became: outcome */
    ENGINE_TRACE_RESET,   /* this event reset the counts of rule (`reset on`) */
    ENGINE_TRACE_UNBLOCK, /* this event cleared block (of authenticator_id, or the identity) */
    ENGINE_TRACE_LEARN,   /* known set `set` learned value a */
} engine_trace_kind_t;

typedef enum engine_outcome {
    ENGINE_NOT_HIT,          /* the condition did not hold */
    ENGINE_FIRED,            /* action */
    ENGINE_NO_AUTHENTICATOR, /* a block_authenticator hit on an event without authenticator_id */
    ENGINE_COOLDOWN,         /* the rule acted at since_us (event by_event) until until_us */
    ENGINE_BLOCK_IN_FORCE,   /* block is in force (of authenticator_id, or the identity) */
    ENGINE_BLOCK_DECIDED,    /* by_rule already decided an identity block for this event */
    ENGINE_ACTION_LIMIT,     /* the event already gave the most actions one event can */
} engine_outcome_t;

typedef struct engine_trace_value {
    expr_type_t type; /* T_NONE: missing */
    long long num;    /* T_NUM, T_BOOL */
    const char *s;    /* T_STR, not NUL-terminated */
    size_t len;
} engine_trace_value_t;

typedef struct engine_trace {
    engine_trace_kind_t kind;
    const event_t *ev;
    size_t rule_index; /* RULE, COND, COUNT, OUTCOME, RESET */
    const rule_t *rule;
    const rule_expr_t *x; /* COND, COUNT */
    int result;           /* COND: 1 true, 0 false */
    /* COND: the tested value (a) and the compared one (b, EX_CMP); the
     * value of a count is its number. LEARN: the value learned. */
    engine_trace_value_t a, b;
    /* COUNT: count in (lo_us, hi_us]; scope NULL when the event lacks the
     * grouping field (then count is 0 and no window was read). lo_us is
     * above hi_us - window when a reset (`reset on`) moved it. */
    long count;
    int64_t lo_us, hi_us;
    const char *scope;
    /* REQUEST: request index; req the request found (NULL: none); expired 1
     * when one was found but is older than its keep (then req is set). */
    int request;
    const store_request_t *req;
    int expired;
    /* COND of EX_IN_SET, and LEARN: set index; found, the latest and first
     * learning times (0 when unknown), the age that was allowed. */
    int set;
    int found;
    int64_t last_us, first_us, age_us;
    int regex_limit; /* COND of EX_MATCH: a limit stopped it: 1 taken as no match, 2 as a match */
    /* OUTCOME */
    engine_outcome_t outcome;
    const action_t *action;     /* FIRED */
    const store_block_t *block; /* BLOCK_IN_FORCE, UNBLOCK */
    const char *authenticator_id;
    const rule_t *by_rule; /* BLOCK_DECIDED */
    int64_t since_us, until_us;
    const char *by_event; /* COOLDOWN */
} engine_trace_t;

typedef void (*engine_trace_fn)(void *ctx, const engine_trace_t *t);

/* Sets (fn non-NULL) or removes (fn NULL) the trace function; ctx is
 * borrowed and passed to every call. May change between events. */
void engine_set_trace(engine_t *e, engine_trace_fn fn, void *ctx);

/* Feeds the state of one event (counters, requests, resets and
 * reactivations, known sets) without evaluating any rule: for an event
 * delivered again whose actions were already decided. 0 or -1 as above. */
int engine_feed(engine_t *e, const event_t *ev, char *err, size_t errlen);

/* Statistics of rule i of the engine's rule set (borrowed). */
const engine_rule_stats_t *engine_rule_stats(const engine_t *e, size_t i);
/* Copies the statistics of old's rules (borrowed) into e's rules of the same
 * id, so a reload keeps them. */
void engine_adopt_stats(engine_t *e, const engine_t *old);
const ruleset_t *engine_ruleset(const engine_t *e);

/* A batch decided in passes (see store_cache_new) runs its events more than
 * once: engine_stats_save before the first pass and engine_stats_restore
 * before each further one make the statistics count the batch once. The
 * statistics are saved into one of ENGINE_STATS_SLOTS slots: the daemon
 * keeps a second one from before a batch whose writes are not confirmed
 * yet, which is decided again if they fail. */
#define ENGINE_STATS_SLOTS 2
void engine_stats_save(engine_t *e, int slot);
void engine_stats_restore(engine_t *e, int slot);
/* Slot to gets what slot from holds. */
void engine_stats_copy(engine_t *e, int to, int from);

#endif
