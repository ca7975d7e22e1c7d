/* backtest.h - what a rule set decided over a replay: the per-rule table
 * and the difference between two rule sets.
 *
 * A backtest is fed the actions of every event (backtest_add) and keeps, per
 * rule, the identities it acted on, and per kind of decision the identities
 * decided in enforce mode with the first rule and time. With the engine's
 * counters (engine.h) it prints the per-rule table of `detector replay`, and
 * with a second backtest over the same events, which identities one rule set
 * decides and the other does not (`replay --compare`).
 */
#ifndef DETECTOR_BACKTEST_H
#define DETECTOR_BACKTEST_H

#include <stddef.h>
#include <stdio.h>

#include "action.h"
#include "engine.h"
#include "rules.h"

typedef struct backtest backtest_t;

/* rs is borrowed and must outlive the backtest. Caller frees with
 * backtest_free. NULL on out-of-memory. */
backtest_t *backtest_new(const ruleset_t *rs);
void backtest_free(backtest_t *b);

/* Takes note of the n actions (borrowed) of one event. -1 on out-of-memory. */
int backtest_add(backtest_t *b, const action_t *actions, size_t n);

/* Prints the per-rule table to f: the engine's counters (e, whose rule set
 * is the backtest's) and the identities affected, then a total line. */
void backtest_print_table(FILE *f, const backtest_t *b, const engine_t *e);

/* Prints, per kind of enforced decision, the identities that a decides and
 * b does not and the reverse (counts, and up to `examples` of each with the
 * rule and the time of the first decision), then the totals. name_a and
 * name_b label the two rule sets. */
void backtest_print_diff(FILE *f, const backtest_t *a, const char *name_a, const backtest_t *b,
                         const char *name_b, size_t examples);

#endif
