/* rules.h - the rule language: loading, checking and the compiled plan.
 *
 * A rule set is compiled at load into a plan: the rules in pack order, the
 * counters (windows and distinct counts) they read, the requests and known
 * sets they use, and the breaker. The engine (engine.h) walks this plan per
 * event. The language is described in README.md ("The rule language").
 *
 * Loading never prints: every error goes into a rules_diag_t list as
 * "FILE:LINE:COL: message" with the offending line and a caret.
 */
#ifndef DETECTOR_RULES_H
#define DETECTOR_RULES_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stddef.h>
#include <stdint.h>

#include "diag.h"
#include "event.h"

typedef struct ruleset ruleset_t;

/* --- The plan --------------------------------------------------------- */
typedef enum rule_kind {
    KIND_ALERT = 0,
    KIND_BLOCK_IDENTITY,
    KIND_BLOCK_AUTHENTICATOR
} rule_kind_t;
typedef enum rule_severity { SEV_LOW = 0, SEV_MEDIUM, SEV_HIGH } rule_severity_t;
typedef enum rule_mode { MODE_ENFORCE = 0, MODE_SHADOW } rule_mode_t;

const char *rule_kind_name(rule_kind_t k);
const char *rule_severity_name(rule_severity_t s);
const char *rule_mode_name(rule_mode_t m);

/* Expression node kinds. */
typedef enum expr_op {
    EX_AND,      /* a and b */
    EX_OR,       /* a or b */
    EX_NOT,      /* not a */
    EX_CMP,      /* a cmp b */
    EX_IN_LIST,  /* a in [items] */
    EX_IN_SET,   /* a in SET [within D] */
    EX_MATCH,    /* a matches "re" */
    EX_PRESENT,  /* a is present */
    EX_TRUTH,    /* a boolean value used as a condition */
    EX_LITERAL,  /* "text", 5, true */
    EX_FIELD,    /* a field of the event, or of a request when request >= 0 */
    EX_REQUEST,  /* the request itself (for "initiator is present") */
    EX_COUNT,    /* count(TYPE [where C] [by F] within D) */
    EX_DISTINCT, /* distinct(F of TYPE [where C] [by F] within D) */
} expr_op_t;

typedef enum expr_cmp { CMP_EQ, CMP_NE, CMP_LT, CMP_LE, CMP_GT, CMP_GE } expr_cmp_t;
typedef enum expr_type { T_NONE = 0, T_BOOL, T_NUM, T_STR } expr_type_t;

typedef struct rule_expr rule_expr_t;
struct rule_expr {
    expr_op_t op;
    int line, col;
    expr_type_t type;   /* the value type of a value node */
    rule_expr_t *a, *b; /* operands */
    expr_cmp_t cmp;     /* EX_CMP */
    /* EX_LITERAL */
    long long num;
    char *str;
    size_t slen;
    /* EX_FIELD / EX_REQUEST */
    event_field_t field;
    int request; /* index into ruleset requests, -1 for the event itself */
    /* EX_IN_LIST */
    rule_expr_t **items;
    size_t nitems;
    /* EX_IN_SET */
    int set;
    int64_t within_us; /* 0: the set's keep */
    /* EX_MATCH */
    pcre2_code *re;
    char *pattern;
    /* EX_COUNT / EX_DISTINCT */
    int counter;
    int64_t window_us;
    int slot; /* per-event cache slot of this count, 0..nslots-1 */
};

/* A counter: a window (EX_COUNT) or distinct count (EX_DISTINCT) that the
 * engine feeds with every event of its type that passes its filter. */
typedef struct rules_counter {
    char *name;          /* state name, stable across threshold and window changes */
    int distinct;        /* 1: distinct values of `of` */
    event_type_t type;   /* counted event type */
    event_field_t by;    /* grouping field (FIELD_IDENTITY by default) */
    event_field_t of;    /* distinct: the counted field */
    rule_expr_t *filter; /* NULL or a condition on the counted event */
    int64_t keep_us;     /* longest window that reads it */
} rules_counter_t;

/* request NAME from TYPE by FIELD keep D
 *
 * The rules read a request for D of event time after it. A known set
 * learns from it (an approval teaches its initiator's IP) for a day more:
 * RULES_REQUEST_LEARN_US. The store keeps it for D + that day. */
#define RULES_REQUEST_LEARN_US 86400000000LL
typedef struct rules_request {
    char *name;
    event_type_t from;
    event_field_t by;
    int64_t keep_us;
    int fields[FIELD_COUNT]; /* 1: remember this field of the `from` event */
} rules_request_t;

/* How long a request is stored and a known set may learn from it. */
static inline int64_t rules_request_retention_us(const rules_request_t *r)
{
    return r->keep_us + RULES_REQUEST_LEARN_US;
}

/* set NAME on TYPE add VALUE keep D [where C] */
typedef struct rules_set {
    char *name;
    event_type_t on;
    rule_expr_t *value; /* EX_FIELD */
    rule_expr_t *filter;
    int64_t keep_us;
} rules_set_t;

typedef struct rule {
    char *id;
    char *file;
    int line;
    event_type_t on;
    rule_mode_t mode;
    rule_kind_t kind;
    rule_severity_t severity;
    char *reason;
    rule_expr_t *when;   /* NULL: always */
    int64_t duration_us; /* blocks: 0 means until reactivation */
    int64_t cooldown_us; /* 0: none */
    int reset_on;        /* event type that resets this rule's counts, or 0 */
    int uses_request;    /* -1 or the request index the rule reads */
} rule_t;

/* A test case carried by a rule file (see parser.c, "test"). */
typedef struct rules_expect {
    char *rule;     /* rule id */
    int kind;       /* rule_kind_t, or -1: any */
    int mode;       /* rule_mode_t, or -1: any */
    char *event;    /* triggering event id, or NULL: any */
    char *identity; /* or NULL: any */
    int negate;     /* "expect no ..." */
    int line;
} rules_expect_t;

typedef struct rules_test {
    char *name;
    char *file;
    int line;
    char **events;    /* raw JSON lines */
    int *event_lines; /* their line numbers */
    size_t nevents;
    rules_expect_t *expects;
    size_t nexpects;
} rules_test_t;

typedef struct rules_breaker {
    long max; /* 0: no breaker */
    int64_t per_us;
} rules_breaker_t;

/* --- Loading ----------------------------------------------------------- */

/* Compiles the rule files in dir (every *.rules, in name order = pack
 * order). Returns a new rule set (caller frees with ruleset_free), or NULL
 * with every error in *diag (caller frees with rules_diag_free). */
ruleset_t *rules_load_dir(const char *dir, rules_diag_t *diag);

/* Compiles text (borrowed) named `name` in diagnostics. For tests and for
 * rule sets assembled from several sources: several calls add to one
 * builder; see rules_builder_*. */
ruleset_t *rules_load_string(const char *text, const char *name, rules_diag_t *diag);

typedef struct rules_builder rules_builder_t;
rules_builder_t *rules_builder_new(void);
/* Parses one source; errors go to diag. Returns the number of new errors. */
size_t rules_builder_add(rules_builder_t *b, const char *text, const char *name,
                         rules_diag_t *diag);
/* Finishes: checks the whole set, returns it or NULL. Frees b either way. */
ruleset_t *rules_builder_finish(rules_builder_t *b, rules_diag_t *diag);

void ruleset_free(ruleset_t *rs);

/* --- Reading the plan (borrowed pointers, valid until ruleset_free) ---- */
size_t ruleset_rule_count(const ruleset_t *rs);
const rule_t *ruleset_rule(const ruleset_t *rs, size_t i);
size_t ruleset_counter_count(const ruleset_t *rs);
const rules_counter_t *ruleset_counter(const ruleset_t *rs, size_t i);
size_t ruleset_request_count(const ruleset_t *rs);
const rules_request_t *ruleset_request(const ruleset_t *rs, size_t i);
size_t ruleset_set_count(const ruleset_t *rs);
const rules_set_t *ruleset_set(const ruleset_t *rs, size_t i);
const rules_breaker_t *ruleset_breaker(const ruleset_t *rs);
size_t ruleset_slot_count(const ruleset_t *rs); /* count/distinct nodes */
size_t ruleset_test_count(const ruleset_t *rs);
const rules_test_t *ruleset_test(const ruleset_t *rs, size_t i);
/* The match context every `matches` runs with: the match and depth limits
 * below and a JIT stack of its own (so one thread at a time per rule set). */
pcre2_match_context *ruleset_match_context(const ruleset_t *rs);

/* --- Regular expressions (rules/regex.c) ------------------------------- */
#define RULES_REGEX_MATCH_LIMIT 1000000     /* pcre2_set_match_limit */
#define RULES_REGEX_DEPTH_LIMIT 10000       /* pcre2_set_depth_limit (interpreter) */
#define RULES_REGEX_JIT_STACK (1024 * 1024) /* the JIT's stack at most, bytes */
#define RULES_REGEX_PROBE_LEN 1024          /* bytes of a probe subject at load */

/* What a `matches` stopped by a limit counts as (configuration key
 * regex.on_limit). Either way it is counted (engine_rule_stats_t
 * regex_limit) and logged. */
typedef enum rules_regex_on_limit {
    REGEX_ON_LIMIT_MATCH = 0, /* the test holds (the default) */
    REGEX_ON_LIMIT_NOMATCH    /* the test does not hold */
} rules_regex_on_limit_t;

/* Sets the treatment (default REGEX_ON_LIMIT_MATCH); engines read it at
 * every stopped match. */
void ruleset_set_regex_on_limit(ruleset_t *rs, rules_regex_on_limit_t v);
rules_regex_on_limit_t ruleset_regex_on_limit(const ruleset_t *rs);
/* "the match limit", "the depth limit", ... for a pcre2_match() error. */
const char *rules_regex_limit_name(int rc);

/* Formats a duration as the language writes it ("10m", "90d", "1h30m"). */
char *rules_duration_format(int64_t us, char *buf, size_t len);

#endif
