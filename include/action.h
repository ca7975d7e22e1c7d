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
 * (borrowed); authenticator_id and the evidence strings are owned by the
 * action (action_clear frees them). */
typedef struct action {
    char action_id[ACTION_ID_LEN + 1];
    rule_kind_t kind;
    rule_mode_t mode;
    const rule_t *rule;
    char identity[129];
    char *authenticator_id; /* owned, any length; NULL unless kind is block_authenticator */
    int64_t ts_us;
    int64_t expires_us; /* 0: null */
    int breaker;        /* 1: a block the breaker turned into shadow */
    size_t nevents;
    char *events[ACTION_MAX_EVIDENCE]; /* evidence, triggering event last */
    char *json; /* owned: the action as published, set by the engine when it decides */
} action_t;

/* Deterministic id from the rule, the kind, the identity, the authenticator
 * (NULL: none) and the triggering event: the same event and rule give the
 * same id, live or in replay, however often the event is delivered, and
 * different parts give different ids whatever their length. out holds 33
 * bytes. Returns 0, or -1 when hashing failed (out of memory). */
int action_make_id(const char *rule, rule_kind_t kind, const char *identity,
                   const char *authenticator_id, const char *event_id, char *out);

/* The action as one line of compact JSON (no newline). Caller frees. NULL
 * when any field cannot be encoded (out of memory, a string that is not
 * valid UTF-8): never an action with a field left out. */
char *action_to_json(const action_t *a);
/* The activity list entry {"ts","kind","rule","severity","reason","action_id"}.
 * Caller frees. Byte-identical for the same action (used to deduplicate).
 * NULL as for action_to_json. */
char *action_activity_entry(const action_t *a);

/* Frees what the action owns (authenticator_id, evidence); a stays usable
 * as an empty action. */
void action_clear(action_t *a);

#endif
