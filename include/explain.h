/* explain.h - `detector replay --explain`: why each rule fired or did not.
 *
 * An explainer collects what the engine reports through its trace hook
 * (engine.h, engine_set_trace) while it processes one event, then prints the
 * event: the rules that listened on its type, every part of their conditions
 * with the values it saw (counts with their window, known-set answers, the
 * initiator, regex matches, presence and list tests; parts cut short marked
 * "not evaluated"), and what each hit became (fired, suppressed and why,
 * not hit). As text for an analyst at a terminal, or as one JSON object per
 * event. Text read from events is always quoted and escaped, so a crafted
 * user agent cannot drive the terminal.
 *
 * Per event:
 *     if (explain_wants(x, &ev)) {
 *         explain_begin(x, &ev);
 *         engine_set_trace(eng, explain_trace, x);
 *     }
 *     engine_process(eng, &ev, ...);
 *     engine_set_trace(eng, NULL, NULL);
 *     explain_end(x);   (prints, when the event was begun)
 */
#ifndef DETECTOR_EXPLAIN_H
#define DETECTOR_EXPLAIN_H

#include <stdio.h>

#include "engine.h"
#include "event.h"
#include "rules.h"

typedef struct explain explain_t;

typedef enum explain_format { EXPLAIN_TEXT = 0, EXPLAIN_JSON } explain_format_t;

/* rs and out are borrowed and must outlive the explainer. Caller frees with
 * explain_free. NULL on out-of-memory. */
explain_t *explain_new(const ruleset_t *rs, explain_format_t fmt, FILE *out);
void explain_free(explain_t *x);

/* Filters (each repeatable; none: everything). Only the rules added are
 * shown, and only events where one of them listened or was reset. Returns
 * -1 for a rule id the rule set does not have. */
int explain_add_rule(explain_t *x, const char *rule_id);
/* Only events of the identities added. identity is borrowed and must outlive
 * the explainer. Returns -1 on out-of-memory. */
int explain_add_identity(explain_t *x, const char *identity);

/* 1 when ev (borrowed) passes the identity filter. */
int explain_wants(const explain_t *x, const event_t *ev);

/* Starts collecting for ev (borrowed, valid until explain_end). */
void explain_begin(explain_t *x, const event_t *ev);
/* The trace function for engine_set_trace; ctx is the explainer. */
void explain_trace(void *ctx, const engine_trace_t *t);
/* Prints the event begun (if any, and if it passes the rule filter) and
 * forgets it. Returns -1 when writing failed. */
int explain_end(explain_t *x);

#endif
