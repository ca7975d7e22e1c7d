/* rules_impl.h - private to rules/: tokens, the lexer and diagnostics. */
#ifndef RULES_IMPL_H
#define RULES_IMPL_H

#include <stdarg.h>

#include "diag.h"
#include "rules.h"

typedef enum tok_kind {
    TOK_EOF = 0,
    TOK_IDENT,    /* login-burst, login.started, initiator.ip, count */
    TOK_NUMBER,   /* 20 */
    TOK_DURATION, /* 10m */
    TOK_STRING,   /* "text" */
    TOK_LPAREN,
    TOK_RPAREN,
    TOK_LBRACK,
    TOK_RBRACK,
    TOK_COMMA,
    TOK_EQ,
    TOK_NE,
    TOK_LT,
    TOK_LE,
    TOK_GT,
    TOK_GE,
    TOK_ERROR
} tok_kind_t;

typedef struct token {
    tok_kind_t kind;
    const char *start; /* into the source */
    size_t len;
    int line, col;
    long long num; /* TOK_NUMBER */
    int64_t us;    /* TOK_DURATION */
    char *str;     /* TOK_STRING: unescaped, owned by the lexer's arena */
    size_t slen;
} token_t;

typedef struct lexer {
    const char *src, *p, *end;
    const char *name;
    int line;
    const char *line_start;
    rules_diag_t *diag;
    size_t errors;
} lexer_t;

/* After this many errors the lexer reports no more and ends the source. */
#define LEXER_MAX_ERRORS 100

void lexer_init(lexer_t *lx, const char *src, const char *name, rules_diag_t *diag);
/* Reads the next token; TOK_STRING text is malloc'd into tok->str (the
 * caller takes ownership). Errors are reported and give TOK_ERROR. */
void lexer_next(lexer_t *lx, token_t *tok);
/* Takes the rest of the current line raw (for a test's event JSON): returns
 * its start and length, and moves the lexer to the end of the line. */
const char *lexer_rest_of_line(lexer_t *lx, size_t *len);

/* Length of the valid UTF-8 sequence at s (n bytes at most) with its code
 * point in *cp, or 0 when the bytes there are not valid UTF-8. */
size_t lexer_utf8_len(const char *s, size_t n, uint32_t *cp);

/* Duration parsing: "10m" -> microseconds; -1 on a bad unit, -2 when too long. */
int64_t rules_duration_parse(const char *s, size_t len);

/* Frees what a test case holds. */
void rules_test_clear(rules_test_t *t);

/* Frees an expression tree. */
void rules_expr_free(rule_expr_t *e);

#define WINDOW_MIN_US 1000000LL
#define WINDOW_MAX_US (366 * 86400000000LL)

/* The compiled rule set (opaque to other modules). */
struct ruleset {
    rule_t *rules;
    size_t nrules, caprules;
    rules_counter_t *counters;
    size_t ncounters, capcounters;
    rules_request_t *requests;
    size_t nrequests, caprequests;
    rules_set_t *sets;
    size_t nsets, capsets;
    rules_breaker_t breaker;
    rules_test_t *tests;
    size_t ntests, captests;
    size_t nslots;
    pcre2_match_context *mctx; /* made with the builder: patterns are probed as they are read */
    pcre2_jit_stack *jit_stack;
    rules_regex_on_limit_t regex_on_limit;
};

struct rules_builder {
    struct ruleset *rs;
    int breaker_seen;
    char breaker_at[300]; /* FILE:LINE:COL of the breaker */
    size_t errors;        /* errors of this builder's sources */
};

/* Adds a counter or merges it with an equal one (same name); returns its
 * index. Takes ownership of c's name and filter. */
int builder_add_counter(rules_builder_t *b, rules_counter_t *c);
int builder_find_request(const rules_builder_t *b, const char *name, size_t len);
int builder_find_set(const rules_builder_t *b, const char *name);
int builder_find_rule(const rules_builder_t *b, const char *id);

typedef struct parser {
    lexer_t lx;
    token_t tok;
    rules_builder_t *b;
    const char *name;
    rules_diag_t *diag;
    size_t errors;
    event_type_t ctx_type; /* event type that fields refer to in the current expression */
    int in_filter;         /* inside a count filter: no counts, no requests, no sets */
    rule_t *rule;          /* the rule being parsed, if any */
    int lex_failed;        /* the lexer reported an error just before the current token: */
    int lex_line, lex_col; /* a parser error at this token would only repeat it */
    int canon_on;          /* hashing the canonical text of a filter */
    uint32_t canon_hash;   /* FNV-1a of its tokens, each followed by a space */
} parser_t;

/* Regular expressions (regex.c). A match context with the limits and a JIT
 * stack (*jit_stack, freed by the caller after the context; NULL when none
 * could be made); NULL out of memory. */
pcre2_match_context *regex_context_new(pcre2_jit_stack **jit_stack);
/* Tries re (compiled from pattern) on the probe subjects: 0 when no limit
 * stopped it, 1 with the message in why when one did, -1 out of memory. */
int regex_probe(const pcre2_code *re, const char *pattern, pcre2_match_context *mctx, char *why,
                size_t whylen);

/* Parser helpers (parser.c), used by expr.c. */
void parser_next(parser_t *p);
void parser_error(parser_t *p, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int tok_is(const token_t *t, const char *w);
const char *tok_desc(const token_t *t, char *buf, size_t len);
char *tok_text(const token_t *t);
int parser_expect(parser_t *p, const char *w, const char *what);
int parser_type(parser_t *p, event_type_t *out);
int parser_check_field(parser_t *p, const token_t *at, event_field_t f, event_type_t t);
int parser_field(parser_t *p, event_type_t t, event_field_t *out);
int parser_duration(parser_t *p, const char *what, int64_t min, int64_t max, int64_t *out);
/* 1 when the len bytes at s are valid UTF-8 without control characters
 * (U+0000-U+001F, U+007F-U+009F): text fit for an action, a log line or a
 * terminal. */
int parser_text_ok(const char *s, size_t len);
rule_expr_t *parser_cond(parser_t *p);
rule_expr_t *parser_value(parser_t *p);

#endif
