/* parser.c - the rule language's parser and checker.
 *
 * Grammar (newlines are whitespace; '#' starts a comment):
 *
 *   file      := { request | set | breaker | rule }
 *   request   := "request" NAME "from" TYPE "by" FIELD "keep" DURATION
 *   set       := "set" NAME "on" TYPE "add" VALUE "keep" DURATION ["where" cond]
 *   breaker   := "breaker" NUMBER "blocks" "per" DURATION
 *   rule      := "rule" ID { clause } "end"
 *   clause    := "on" TYPE | "mode" ("enforce"|"shadow") | "when" cond
 *              | "action" KIND | "severity" SEV | "reason" STRING
 *              | "duration" DURATION | "cooldown" DURATION | "reset" "on" TYPE
 *   cond      := and { "or" and }
 *   and       := unary { "and" unary }
 *   unary     := "not" unary | "(" cond ")" | value [test]
 *   test      := CMP value | ["not"] "in" (list | SETNAME ["within" DURATION])
 *              | "matches" STRING | "is" ("present" | "missing")
 *   value     := STRING | NUMBER | "true" | "false" | FIELD | REQ "." FIELD | REQ
 *              | "count" "(" TYPE ["where" cond] ["by" FIELD] "within" DURATION ")"
 *              | "distinct" "(" FIELD "of" TYPE ["where" cond] ["by" FIELD] "within" DURATION ")"
 *
 * Declarations (request, set) must come before their use in pack order.
 * Every error is reported; parsing resynchronises at the next top-level
 * keyword so that one run shows them all.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules_impl.h"

void parser_next(parser_t *p)
{
    /* The canonical text of a filter: its tokens, each followed by one
     * space, so that a filter's state survives reformatting. */
    if (p->canon_on && p->tok.kind != TOK_EOF) {
        for (size_t i = 0; i <= p->tok.len; i++)
            p->canon_hash =
                (p->canon_hash ^ (i < p->tok.len ? (unsigned char)p->tok.start[i] : ' ')) *
                16777619u;
    }
    free(p->tok.str);
    p->lex_failed = 0;
    lexer_next(&p->lx, &p->tok);
    if (p->tok.kind == TOK_ERROR) {
        p->errors++;
        /* Skip bad tokens; the lexer reported them, and a parser error at
         * the token after them would only repeat it. */
        while (p->tok.kind == TOK_ERROR) {
            free(p->tok.str);
            lexer_next(&p->lx, &p->tok);
        }
        p->lex_failed = 1;
        p->lex_line = p->tok.line;
        p->lex_col = p->tok.col;
    }
}

void parser_error(parser_t *p, int line, int col, const char *fmt, ...)
{
    if (p->lex_failed && line == p->lex_line && col <= p->lex_col) {
        p->lex_failed = 0;
        p->errors++;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    diag_vat(p->diag, p->lx.src, p->name, line, col, fmt, ap);
    va_end(ap);
    p->errors++;
}

int tok_is(const token_t *t, const char *w)
{
    return t->kind == TOK_IDENT && strlen(w) == t->len && memcmp(t->start, w, t->len) == 0;
}

const char *tok_desc(const token_t *t, char *buf, size_t len)
{
    switch (t->kind) {
    case TOK_EOF:
        return "end of file";
    case TOK_STRING:
        return "a string";
    default:
        snprintf(buf, len, "\"%.*s\"", (int)(t->len > 40 ? 40 : t->len), t->start);
        return buf;
    }
}

int parser_expect(parser_t *p, const char *w, const char *what)
{
    if (tok_is(&p->tok, w)) {
        parser_next(p);
        return 0;
    }
    char b[64];
    parser_error(p, p->tok.line, p->tok.col, "expected \"%s\" %s, found %s", w, what,
                 tok_desc(&p->tok, b, sizeof b));
    return -1;
}

char *tok_text(const token_t *t)
{
    char *s = malloc(t->len + 1);
    if (s) {
        memcpy(s, t->start, t->len);
        s[t->len] = '\0';
    }
    return s;
}

/* Reads an event type name. */
int parser_type(parser_t *p, event_type_t *out)
{
    char b[64];
    if (p->tok.kind != TOK_IDENT) {
        parser_error(p, p->tok.line, p->tok.col, "expected an event type, found %s",
                     tok_desc(&p->tok, b, sizeof b));
        return -1;
    }
    char *s = tok_text(&p->tok);
    event_type_t t = s ? event_type_from_name(s) : EV_UNKNOWN;
    if (t == EV_UNKNOWN) {
        parser_error(p, p->tok.line, p->tok.col,
                     "unknown event type \"%s\": one of login.started, login.approved, "
                     "login.rejected, login.failed, userid.changed, authenticator.activated, "
                     "authenticator.blocked, authenticator.reactivated, identity.blocked, "
                     "identity.unblocked",
                     s ? s : "");
        free(s);
        parser_next(p);
        return -1;
    }
    free(s);
    *out = t;
    parser_next(p);
    return 0;
}

int parser_check_field(parser_t *p, const token_t *at, event_field_t f, event_type_t t)
{
    if (!event_type_has_field(t, f)) {
        parser_error(p, at->line, at->col, "field \"%s\" never appears on %s events",
                     event_field_name(f), event_type_name(t));
        return -1;
    }
    return 0;
}

/* Reads a plain field name of events of type t. */
int parser_field(parser_t *p, event_type_t t, event_field_t *out)
{
    char b[64];
    if (p->tok.kind != TOK_IDENT) {
        parser_error(p, p->tok.line, p->tok.col, "expected a field name, found %s",
                     tok_desc(&p->tok, b, sizeof b));
        return -1;
    }
    char *s = tok_text(&p->tok);
    int f = s ? event_field_from_name(s) : -1;
    token_t at = p->tok;
    at.str = NULL;
    if (f < 0) {
        parser_error(p, at.line, at.col, "unknown field \"%s\"", s ? s : "");
        free(s);
        parser_next(p);
        return -1;
    }
    free(s);
    parser_next(p);
    if (parser_check_field(p, &at, (event_field_t)f, t) < 0) return -1;
    *out = (event_field_t)f;
    return 0;
}

int parser_duration(parser_t *p, const char *what, int64_t min, int64_t max, int64_t *out)
{
    char b[64], lo[32], hi[32];
    if (p->tok.kind == TOK_NUMBER) {
        parser_error(p, p->tok.line, p->tok.col,
                     "%s needs its unit right after the number, as in %lldd or %lldm", what,
                     p->tok.num, p->tok.num);
        return -1;
    }
    if (p->tok.kind != TOK_DURATION) {
        parser_error(p, p->tok.line, p->tok.col,
                     "expected a duration for %s (such as 10m), found %s", what,
                     tok_desc(&p->tok, b, sizeof b));
        return -1;
    }
    if (p->tok.us < min || p->tok.us > max) {
        parser_error(p, p->tok.line, p->tok.col, "%s must be between %s and %s", what,
                     rules_duration_format(min, lo, sizeof lo),
                     rules_duration_format(max, hi, sizeof hi));
        parser_next(p);
        return -1;
    }
    *out = p->tok.us;
    parser_next(p);
    return 0;
}

/* Skips to the next top-level keyword after an error. Consumes an "end". */
int parser_text_ok(const char *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = lexer_utf8_len(s + i, len - i, &cp);
        if (n == 0 || cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) return 0;
        i += n;
    }
    return 1;
}

static void resync(parser_t *p)
{
    while (p->tok.kind != TOK_EOF) {
        if (tok_is(&p->tok, "end")) {
            parser_next(p);
            return;
        }
        if (tok_is(&p->tok, "rule") || tok_is(&p->tok, "request") || tok_is(&p->tok, "set") ||
            tok_is(&p->tok, "breaker") || tok_is(&p->tok, "test"))
            return;
        parser_next(p);
    }
}

static int is_name(const token_t *t)
{
    return t->kind == TOK_IDENT && !memchr(t->start, '.', t->len) && t->len <= 64;
}

static int check_new_name(parser_t *p, const token_t *t, const char *what)
{
    char b[64];
    if (!is_name(t)) {
        parser_error(p, t->line, t->col, "expected a %s name (letters, digits, _ and -), found %s",
                     what, tok_desc(t, b, sizeof b));
        return -1;
    }
    static const char *const reserved[] = {
        "rule",    "request", "set",      "breaker", "end",      "on",       "when",
        "mode",    "action",  "severity", "reason",  "duration", "cooldown", "reset",
        "and",     "or",      "not",      "in",      "is",       "matches",  "present",
        "missing", "count",   "distinct", "of",      "by",       "within",   "where",
        "true",    "false",   "from",     "keep",    "add",      "blocks",   "per"};
    char *s = tok_text(t);
    const char *clash = NULL;
    if (!s) return -1;
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (strcmp(s, reserved[i]) == 0) clash = "a word of the language";
    if (!clash && event_field_from_name(s) >= 0) clash = "a field name";
    if (!clash && builder_find_request(p->b, s, t->len) >= 0) clash = "a request declared before";
    if (!clash && builder_find_set(p->b, s) >= 0) clash = "a set declared before";
    if (clash) parser_error(p, t->line, t->col, "%s name \"%s\" is %s", what, s, clash);
    free(s);
    return clash ? -1 : 0;
}

/* request NAME from TYPE by FIELD keep DURATION */
static int parse_request(parser_t *p)
{
    rules_request_t r;
    memset(&r, 0, sizeof r);
    parser_next(p);
    if (check_new_name(p, &p->tok, "request") < 0) return -1;
    r.name = tok_text(&p->tok);
    parser_next(p);
    if (parser_expect(p, "from", "after the request name") < 0 || parser_type(p, &r.from) < 0 ||
        parser_expect(p, "by", "after the request's event type") < 0 ||
        parser_field(p, r.from, &r.by) < 0 ||
        parser_expect(p, "keep", "after the request key") < 0 ||
        parser_duration(p, "a request's keep", WINDOW_MIN_US, WINDOW_MAX_US, &r.keep_us) < 0) {
        free(r.name);
        return -1;
    }
    r.fields[FIELD_EVENT_ID] = 1;
    struct ruleset *rs = p->b->rs;
    if (rs->nrequests == rs->caprequests) {
        size_t cap = rs->caprequests ? rs->caprequests * 2 : 4;
        rules_request_t *n = realloc(rs->requests, cap * sizeof *n);
        if (!n) {
            free(r.name);
            return -1;
        }
        rs->requests = n;
        rs->caprequests = cap;
    }
    rs->requests[rs->nrequests++] = r;
    return 0;
}

/* set NAME on TYPE add VALUE keep DURATION [where COND] */
static int parse_set(parser_t *p)
{
    rules_set_t s;
    memset(&s, 0, sizeof s);
    parser_next(p);
    if (check_new_name(p, &p->tok, "set") < 0) return -1;
    s.name = tok_text(&p->tok);
    parser_next(p);
    if (parser_expect(p, "on", "after the set name") < 0 || parser_type(p, &s.on) < 0 ||
        parser_expect(p, "add", "after the set's event type") < 0)
        goto fail;
    p->ctx_type = s.on;
    token_t at = p->tok;
    at.str = NULL;
    s.value = parser_value(p);
    if (!s.value) goto fail;
    if (s.value->op != EX_FIELD || s.value->type != T_STR) {
        parser_error(p, at.line, at.col, "a set adds a text field of the event or of a request");
        goto fail;
    }
    if (parser_expect(p, "keep", "after the value the set adds") < 0 ||
        parser_duration(p, "a set's keep", WINDOW_MIN_US, WINDOW_MAX_US, &s.keep_us) < 0)
        goto fail;
    if (tok_is(&p->tok, "where")) {
        parser_next(p);
        s.filter = parser_cond(p);
        if (!s.filter) goto fail;
    }
    struct ruleset *rs = p->b->rs;
    if (rs->nsets == rs->capsets) {
        size_t cap = rs->capsets ? rs->capsets * 2 : 4;
        rules_set_t *n = realloc(rs->sets, cap * sizeof *n);
        if (!n) goto fail;
        rs->sets = n;
        rs->capsets = cap;
    }
    rs->sets[rs->nsets++] = s;
    return 0;
fail:
    free(s.name);
    rules_expr_free(s.value);
    rules_expr_free(s.filter);
    return -1;
}

/* breaker N blocks per DURATION */
static int parse_breaker(parser_t *p)
{
    token_t at = p->tok;
    at.str = NULL;
    char b[64];
    parser_next(p);
    if (p->tok.kind != TOK_NUMBER) {
        parser_error(p, p->tok.line, p->tok.col, "expected the number of blocks, found %s",
                     tok_desc(&p->tok, b, sizeof b));
        return -1;
    }
    long max = (long)p->tok.num;
    if (max < 1 || max > 10000000) {
        parser_error(p, p->tok.line, p->tok.col,
                     "the breaker's limit must be between 1 and 10000000");
        return -1;
    }
    parser_next(p);
    int64_t per;
    if (parser_expect(p, "blocks", "after the breaker's limit") < 0 ||
        parser_expect(p, "per", "after \"blocks\"") < 0 ||
        parser_duration(p, "the breaker's period", WINDOW_MIN_US, 86400000000LL, &per) < 0)
        return -1;
    if (p->b->breaker_seen) {
        parser_error(p, at.line, at.col, "a second breaker: a pack has one, declared at %s",
                     p->b->breaker_at);
        return -1;
    }
    p->b->breaker_seen = 1;
    snprintf(p->b->breaker_at, sizeof p->b->breaker_at, "%s:%d:%d", p->name, at.line, at.col);
    p->b->rs->breaker.max = max;
    p->b->rs->breaker.per_us = per;
    return 0;
}

static int parse_enum(parser_t *p, const char *what, const char *const *names, int n, int *out)
{
    char b[64];
    for (int i = 0; i < n; i++)
        if (tok_is(&p->tok, names[i])) {
            *out = i;
            parser_next(p);
            return 0;
        }
    char list[256] = "";
    for (int i = 0; i < n; i++) {
        strcat(list, names[i]);
        if (i + 1 < n) strcat(list, i + 2 == n ? " or " : ", ");
    }
    parser_error(p, p->tok.line, p->tok.col, "%s must be %s, found %s", what, list,
                 tok_desc(&p->tok, b, sizeof b));
    return -1;
}

static void rule_clear(rule_t *r)
{
    free(r->id);
    free(r->file);
    free(r->reason);
    rules_expr_free(r->when);
    memset(r, 0, sizeof *r);
}

static rule_expr_t *and_of(rule_expr_t *a, rule_expr_t *b)
{
    if (!a) return b;
    rule_expr_t *e = calloc(1, sizeof *e);
    if (!e) {
        rules_expr_free(b);
        return a;
    }
    e->op = EX_AND;
    e->line = b->line;
    e->col = b->col;
    e->a = a;
    e->b = b;
    return e;
}

/* rule ID clauses... end */
static int parse_rule(parser_t *p)
{
    static const char *const kinds[] = {"alert", "block_identity", "block_authenticator"};
    static const char *const sevs[] = {"low", "medium", "high"};
    static const char *const modes[] = {"enforce", "shadow"};
    char b[64];
    rule_t r;
    memset(&r, 0, sizeof r);
    r.uses_request = -1;
    int has_kind = 0, has_sev = 0, has_on = 0, dur_line = 0, dur_col = 0;
    token_t rt = p->tok;
    rt.str = NULL;
    parser_next(p);
    token_t idt = p->tok;
    idt.str = NULL;
    if (!is_name(&p->tok)) {
        parser_error(p, p->tok.line, p->tok.col,
                     "expected a rule id (letters, digits, _ and -), found %s",
                     tok_desc(&p->tok, b, sizeof b));
        return -1;
    }
    r.id = tok_text(&p->tok);
    r.file = strdup(p->name);
    r.line = rt.line;
    p->rule = &r;
    int dup = builder_find_rule(p->b, r.id);
    if (dup >= 0)
        parser_error(p, idt.line, idt.col, "rule \"%s\" is defined twice (first at %s:%d)", r.id,
                     p->b->rs->rules[dup].file, p->b->rs->rules[dup].line);
    parser_next(p);
    size_t errors_before = p->diag->count;
    while (!tok_is(&p->tok, "end")) {
        token_t ct = p->tok;
        ct.str = NULL;
        if (p->tok.kind == TOK_EOF) {
            parser_error(p, rt.line, rt.col, "rule \"%s\" has no \"end\"", r.id);
            goto fail;
        }
        if (tok_is(&p->tok, "rule") || tok_is(&p->tok, "request") || tok_is(&p->tok, "set") ||
            tok_is(&p->tok, "breaker")) {
            parser_error(p, rt.line, rt.col, "rule \"%s\" has no \"end\" before the next %.*s",
                         r.id, (int)p->tok.len, p->tok.start);
            goto fail;
        }
        if (!has_on && !tok_is(&p->tok, "on")) {
            parser_error(p, ct.line, ct.col, "the first clause of a rule is \"on EVENT_TYPE\"");
            goto fail;
        }
        if (tok_is(&p->tok, "on")) {
            parser_next(p);
            if (has_on) {
                parser_error(p, ct.line, ct.col, "a rule listens on one event type");
                goto fail;
            }
            if (parser_type(p, &r.on) < 0) goto fail;
            has_on = 1;
            p->ctx_type = r.on;
        } else if (tok_is(&p->tok, "when")) {
            parser_next(p);
            rule_expr_t *c = parser_cond(p);
            if (!c) goto fail;
            r.when = and_of(r.when, c);
        } else if (tok_is(&p->tok, "mode")) {
            parser_next(p);
            int m;
            if (parse_enum(p, "mode", modes, 2, &m) < 0) goto fail;
            r.mode = (rule_mode_t)m;
        } else if (tok_is(&p->tok, "action")) {
            parser_next(p);
            int k;
            if (parse_enum(p, "action", kinds, 3, &k) < 0) goto fail;
            r.kind = (rule_kind_t)k;
            has_kind = 1;
            if (r.kind == KIND_BLOCK_AUTHENTICATOR &&
                !event_type_has_field(r.on, FIELD_AUTHENTICATOR_ID)) {
                parser_error(p, ct.line, ct.col,
                             "block_authenticator needs an authenticator_id, which %s events "
                             "do not carry",
                             event_type_name(r.on));
                goto fail;
            }
        } else if (tok_is(&p->tok, "severity")) {
            parser_next(p);
            int sv;
            if (parse_enum(p, "severity", sevs, 3, &sv) < 0) goto fail;
            r.severity = (rule_severity_t)sv;
            has_sev = 1;
        } else if (tok_is(&p->tok, "reason")) {
            parser_next(p);
            if (p->tok.kind != TOK_STRING) {
                parser_error(p, p->tok.line, p->tok.col, "expected the reason in quotes, found %s",
                             tok_desc(&p->tok, b, sizeof b));
                goto fail;
            }
            if (p->tok.slen == 0 || p->tok.slen > 300) {
                parser_error(p, p->tok.line, p->tok.col,
                             "a reason must be between 1 and 300 characters");
                goto fail;
            }
            if (!parser_text_ok(p->tok.str, p->tok.slen)) {
                parser_error(p, p->tok.line, p->tok.col,
                             "a reason must be valid UTF-8 without control characters");
                goto fail;
            }
            free(r.reason);
            r.reason = p->tok.str;
            p->tok.str = NULL;
            parser_next(p);
        } else if (tok_is(&p->tok, "duration")) {
            dur_line = ct.line;
            dur_col = ct.col;
            parser_next(p);
            if (parser_duration(p, "a block's duration", 60000000LL, WINDOW_MAX_US,
                                &r.duration_us) < 0)
                goto fail;
        } else if (tok_is(&p->tok, "cooldown")) {
            parser_next(p);
            if (parser_duration(p, "a cooldown", WINDOW_MIN_US, WINDOW_MAX_US, &r.cooldown_us) < 0)
                goto fail;
        } else if (tok_is(&p->tok, "reset")) {
            parser_next(p);
            event_type_t t;
            if (parser_expect(p, "on", "after \"reset\"") < 0 || parser_type(p, &t) < 0) goto fail;
            r.reset_on = (int)t;
        } else {
            parser_error(p, ct.line, ct.col,
                         "unknown clause %s: one of on, when, mode, action, severity, reason, "
                         "duration, cooldown, reset",
                         tok_desc(&p->tok, b, sizeof b));
            goto fail;
        }
    }
    parser_next(p); /* end */
    if (!has_kind)
        parser_error(p, rt.line, rt.col,
                     "rule \"%s\" has no \"action\": add action alert, block_identity or "
                     "block_authenticator",
                     r.id);
    if (!has_sev)
        parser_error(p, rt.line, rt.col,
                     "rule \"%s\" has no \"severity\": add severity low, medium or high", r.id);
    if (!r.reason)
        parser_error(p, rt.line, rt.col,
                     "rule \"%s\" has no \"reason\": add reason \"...\", the sentence the "
                     "person reads",
                     r.id);
    if (r.duration_us && has_kind && r.kind == KIND_ALERT)
        parser_error(p, dur_line, dur_col,
                     "an alert has no duration: only block_identity and block_authenticator "
                     "rules have one");
    if (p->diag->count != errors_before) goto fail_noresync;
    struct ruleset *rs = p->b->rs;
    if (rs->nrules == rs->caprules) {
        size_t cap = rs->caprules ? rs->caprules * 2 : 16;
        rule_t *n = realloc(rs->rules, cap * sizeof *n);
        if (!n) goto fail_noresync;
        rs->rules = n;
        rs->caprules = cap;
    }
    rs->rules[rs->nrules++] = r;
    p->rule = NULL;
    return 0;
fail:
    resync(p);
fail_noresync:
    p->rule = NULL;
    rule_clear(&r);
    return -1;
}

/* A word or a quoted string (an event id, an identity). */
static char *parse_word(parser_t *p, const char *what)
{
    char b[64];
    if (p->tok.kind == TOK_STRING) {
        char *s = p->tok.str;
        p->tok.str = NULL;
        parser_next(p);
        return s;
    }
    if (p->tok.kind == TOK_IDENT || p->tok.kind == TOK_NUMBER) {
        char *s = tok_text(&p->tok);
        parser_next(p);
        return s;
    }
    parser_error(p, p->tok.line, p->tok.col, "expected %s, found %s", what,
                 tok_desc(&p->tok, b, sizeof b));
    return NULL;
}

/* expect [no] RULE [KIND] [MODE] [on EVENT_ID] [for IDENTITY] */
static int parse_expect(parser_t *p, rules_test_t *t)
{
    static const char *const kinds[] = {"alert", "block_identity", "block_authenticator"};
    static const char *const modes[] = {"enforce", "shadow"};
    rules_expect_t x;
    memset(&x, 0, sizeof x);
    x.kind = x.mode = -1;
    x.line = p->tok.line;
    parser_next(p); /* expect */
    if (tok_is(&p->tok, "no")) {
        x.negate = 1;
        parser_next(p);
    }
    if (!(x.rule = parse_word(p, "a rule id"))) return -1;
    for (int i = 0; i < 3; i++)
        if (tok_is(&p->tok, kinds[i])) {
            x.kind = i;
            parser_next(p);
        }
    for (int i = 0; i < 2; i++)
        if (tok_is(&p->tok, modes[i])) {
            x.mode = i;
            parser_next(p);
        }
    if (tok_is(&p->tok, "on")) {
        parser_next(p);
        if (!(x.event = parse_word(p, "the id of the triggering event"))) goto fail;
    }
    if (tok_is(&p->tok, "for")) {
        parser_next(p);
        if (!(x.identity = parse_word(p, "an identity"))) goto fail;
    }
    rules_expect_t *n = realloc(t->expects, (t->nexpects + 1) * sizeof *n);
    if (!n) goto fail;
    t->expects = n;
    t->expects[t->nexpects++] = x;
    return 0;
fail:
    free(x.rule);
    free(x.event);
    free(x.identity);
    return -1;
}

/* test "NAME" { event JSON | expect ... } end */
static int parse_test_case(parser_t *p)
{
    char b[64];
    rules_test_t t;
    memset(&t, 0, sizeof t);
    token_t at = p->tok;
    at.str = NULL;
    t.line = at.line;
    parser_next(p);
    if (p->tok.kind != TOK_STRING) {
        parser_error(p, p->tok.line, p->tok.col, "expected the test's name in quotes, found %s",
                     tok_desc(&p->tok, b, sizeof b));
        return -1;
    }
    t.name = p->tok.str;
    p->tok.str = NULL;
    t.file = strdup(p->name);
    parser_next(p);
    for (;;) {
        /* The lexer stands just after the current token: the JSON after
         * "event" is read raw, to the end of its line. */
        if (tok_is(&p->tok, "event")) {
            size_t len;
            int line = p->tok.line;
            const char *raw = lexer_rest_of_line(&p->lx, &len);
            if (len == 0) {
                parser_error(p, p->tok.line, p->tok.col,
                             "expected the event as JSON on the same line as \"event\"");
                goto fail;
            }
            char **ne = realloc(t.events, (t.nevents + 1) * sizeof *ne);
            int *nl = ne ? realloc(t.event_lines, (t.nevents + 1) * sizeof *nl) : NULL;
            if (ne) t.events = ne;
            if (!ne || !nl) goto fail;
            t.event_lines = nl;
            t.events[t.nevents] = strndup(raw, len);
            t.event_lines[t.nevents++] = line;
            parser_next(p);
        } else if (tok_is(&p->tok, "expect")) {
            if (parse_expect(p, &t) < 0) goto fail;
        } else if (tok_is(&p->tok, "end")) {
            parser_next(p);
            break;
        } else {
            parser_error(p, p->tok.line, p->tok.col,
                         "expected event, expect or end in test \"%s\", found %s", t.name,
                         tok_desc(&p->tok, b, sizeof b));
            goto fail;
        }
    }
    if (t.nevents == 0 || t.nexpects == 0) {
        parser_error(p, at.line, at.col, "test \"%s\" needs at least one event and one expect",
                     t.name);
        rules_test_clear(&t);
        return -1;
    }
    struct ruleset *rs = p->b->rs;
    if (rs->ntests == rs->captests) {
        size_t cap = rs->captests ? rs->captests * 2 : 8;
        rules_test_t *n = realloc(rs->tests, cap * sizeof *n);
        if (!n) goto fail;
        rs->tests = n;
        rs->captests = cap;
    }
    rs->tests[rs->ntests++] = t;
    return 0;
fail:
    rules_test_clear(&t);
    return -1;
}

size_t rules_builder_add(rules_builder_t *b, const char *text, const char *name, rules_diag_t *diag)
{
    parser_t p;
    memset(&p, 0, sizeof p);
    size_t before = diag->count;
    lexer_init(&p.lx, text, name, diag);
    p.b = b;
    p.name = name;
    p.diag = diag;
    parser_next(&p);
    while (p.tok.kind != TOK_EOF) {
        char tb[64];
        int rc;
        p.lex_failed = 0;
        if (tok_is(&p.tok, "rule"))
            rc = parse_rule(&p);
        else if (tok_is(&p.tok, "request"))
            rc = parse_request(&p);
        else if (tok_is(&p.tok, "set"))
            rc = parse_set(&p);
        else if (tok_is(&p.tok, "breaker"))
            rc = parse_breaker(&p);
        else if (tok_is(&p.tok, "test"))
            rc = parse_test_case(&p);
        else {
            parser_error(&p, p.tok.line, p.tok.col,
                         "expected rule, request, set, breaker or test, found %s",
                         tok_desc(&p.tok, tb, sizeof tb));
            parser_next(&p);
            rc = -1;
        }
        if (rc < 0) resync(&p);
        if (diag->count - before > 100 || p.lx.errors >= LEXER_MAX_ERRORS) {
            diag_plain(diag, "%s: too many errors; stopped", name);
            break;
        }
    }
    free(p.tok.str);
    b->errors += diag->count - before;
    return diag->count - before;
}
