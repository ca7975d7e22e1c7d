/* action.h - a decision of the engine and its JSON forms.
 *
 * The JSON is the output contract (shared/contract/actions.md): the action
 * published on the actions topic and printed by replay, and the entry pushed
 * to the person's activity list.
 */
#ifndef DETECTOR_ACTION_H
#define DETECTOR_ACTION_H

#include <stddef.h>
#include <stdint.h>

#include "rules.h"

#define ACTION_ID_LEN 32 /* hex characters */
#define ACTION_MAX_EVIDENCE 21

/* A plain value struct; rule points into the rule set that decided it
 * (borrowed), evidence strings are owned by the action (action_clear). */
typedef struct action {
    char action_id[ACTION_ID_LEN + 1];
    rule_kind_t kind;
    rule_mode_t mode;
    const rule_t *rule;
    char identity[129];
    char authenticator_id[129]; /* "" unless kind is block_authenticator */
    int64_t ts_us;
    int64_t expires_us; /* 0: null */
    int breaker;        /* 1: a block the breaker turned into shadow */
    size_t nevents;
    char *events[ACTION_MAX_EVIDENCE]; /* evidence, triggering event last */
} action_t;

/* Deterministic id from the rule, the kind, the identity, the authenticator
 * and the triggering event: the same event and rule give the same id, live
 * or in replay, however often the event is delivered. out holds 33 bytes. */
void action_make_id(const char *rule, rule_kind_t kind, const char *identity,
                    const char *authenticator_id, const char *event_id, char *out);

/* The action as one line of compact JSON (no newline). Caller frees. */
char *action_to_json(const action_t *a);
/* The activity list entry {"ts","kind","rule","severity","reason","action_id"}.
 * Caller frees. Byte-identical for the same action (used to deduplicate). */
char *action_activity_entry(const action_t *a);

void action_clear(action_t *a);

#endif
