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

/* Statistics of rule i of the engine's rule set (borrowed). */
const engine_rule_stats_t *engine_rule_stats(const engine_t *e, size_t i);
const ruleset_t *engine_ruleset(const engine_t *e);

#endif
