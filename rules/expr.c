/* expr.c - conditions and values of the rule language (see parser.c for
 * the grammar). Types are checked while parsing: every error names the
 * place and says what was expected. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules_impl.h"

static rule_expr_t *node(expr_op_t op, const token_t *at)
{
    rule_expr_t *e = calloc(1, sizeof *e);
    if (e) {
        e->op = op;
        e->line = at->line;
        e->col = at->col;
        e->request = -1;
        e->set = -1;
        e->counter = -1;
    }
    return e;
}

/* count(TYPE [where C] [by F] within D) or distinct(F of TYPE ...). */
static rule_expr_t *parse_counter(parser_t *p, int distinct)
{
    token_t at = p->tok;
    at.str = NULL;
    char b[64];
    rules_counter_t c;
    memset(&c, 0, sizeof c);
    c.distinct = distinct;
    c.by = FIELD_IDENTITY;
    rule_expr_t *e = node(distinct ? EX_DISTINCT : EX_COUNT, &at);
    if (!e) return NULL;
    e->type = T_NUM;
    parser_next(p);
    if (p->tok.kind != TOK_LPAREN) {
        parser_error(p, p->tok.line, p->tok.col, "expected \"(\" after %s, found %s",
                     distinct ? "distinct" : "count", tok_desc(&p->tok, b, sizeof b));
        goto fail;
    }
    parser_next(p);
    token_t of_tok = p->tok;
    of_tok.str = NULL;
    char *of_name = NULL;
    if (distinct) {
        of_name = tok_text(&p->tok);
        parser_next(p);
        if (parser_expect(p, "of", "in distinct(FIELD of TYPE ...)") < 0) {
            free(of_name);
            goto fail;
        }
    }
    if (parser_type(p, &c.type) < 0) {
        free(of_name);
        goto fail;
    }
    if (distinct) {
        int f = of_name ? event_field_from_name(of_name) : -1;
        if (f < 0) {
            parser_error(p, of_tok.line, of_tok.col, "unknown field \"%s\"",
                         of_name ? of_name : "");
            free(of_name);
            goto fail;
        }
        free(of_name);
        c.of = (event_field_t)f;
        if (parser_check_field(p, &of_tok, c.of, c.type) < 0) goto fail;
    }
    if (tok_is(&p->tok, "where")) {
        parser_next(p);
        if (p->in_filter) {
            parser_error(p, p->tok.line, p->tok.col, "a filter cannot hold another count");
            goto fail;
        }
        event_type_t saved = p->ctx_type;
        p->ctx_type = c.type;
        p->in_filter = 1;
        p->canon_on = 1;
        p->canon_hash = 2166136261u;
        c.filter = parser_cond(p);
        p->canon_on = 0;
        p->in_filter = 0;
        p->ctx_type = saved;
        if (!c.filter) goto fail;
        snprintf(b, sizeof b, "%08x", p->canon_hash);
    } else {
        b[0] = '\0';
    }
    char filter_hash[16];
    snprintf(filter_hash, sizeof filter_hash, "%s", b);
    if (tok_is(&p->tok, "by")) {
        parser_next(p);
        token_t ft = p->tok;
        ft.str = NULL;
        if (parser_field(p, c.type, &c.by) < 0) goto fail;
        if (c.by == FIELD_REPORTED) {
            parser_error(p, ft.line, ft.col, "cannot group by a boolean field");
            goto fail;
        }
        /* The event that reads the count must carry the grouping field. */
        if (parser_check_field(p, &ft, c.by, p->ctx_type) < 0) goto fail;
    }
    if (parser_expect(p, "within", distinct ? "in distinct(...)" : "in count(...)") < 0) goto fail;
    if (parser_duration(p, "a window", WINDOW_MIN_US, WINDOW_MAX_US, &e->window_us) < 0) goto fail;
    if (p->tok.kind != TOK_RPAREN) {
        parser_error(p, p->tok.line, p->tok.col, "expected \")\" to close %s, found %s",
                     distinct ? "distinct(...)" : "count(...)", tok_desc(&p->tok, b, sizeof b));
        goto fail;
    }
    parser_next(p);
    /* The state name: stable when thresholds or windows change. */
    char name[256];
    int n = snprintf(name, sizeof name, "%s", event_type_name(c.type));
    if (distinct) n += snprintf(name + n, sizeof name - (size_t)n, ":%s", event_field_name(c.of));
    if (c.by != FIELD_IDENTITY)
        n += snprintf(name + n, sizeof name - (size_t)n, "@%s", event_field_name(c.by));
    if (filter_hash[0]) snprintf(name + n, sizeof name - (size_t)n, "?%s", filter_hash);
    c.name = strdup(name);
    c.keep_us = e->window_us;
    e->counter = builder_add_counter(p->b, &c);
    e->slot = (int)p->b->rs->nslots++;
    return e;
fail:
    rules_expr_free(c.filter);
    rules_expr_free(e);
    return NULL;
}

rule_expr_t *parser_value(parser_t *p)
{
    token_t at = p->tok;
    at.str = NULL;
    char b[64];
    rule_expr_t *e;
    switch (p->tok.kind) {
    case TOK_STRING:
        /* Shown by explanations; an event's text is valid UTF-8 anyway. */
        if (!parser_text_ok(p->tok.str, p->tok.slen)) {
            parser_error(p, at.line, at.col,
                         "a string must be valid UTF-8 without control characters");
            return NULL;
        }
        e = node(EX_LITERAL, &at);
        if (!e) return NULL;
        e->type = T_STR;
        e->str = p->tok.str;
        e->slen = p->tok.slen;
        p->tok.str = NULL;
        parser_next(p);
        return e;
    case TOK_NUMBER:
        e = node(EX_LITERAL, &at);
        if (!e) return NULL;
        e->type = T_NUM;
        e->num = p->tok.num;
        parser_next(p);
        return e;
    case TOK_IDENT:
        break;
    default:
        parser_error(p, at.line, at.col,
                     "expected a value (a field, a string, a number, count(...)), found %s",
                     tok_desc(&p->tok, b, sizeof b));
        return NULL;
    }
    if (tok_is(&p->tok, "true") || tok_is(&p->tok, "false")) {
        e = node(EX_LITERAL, &at);
        if (!e) return NULL;
        e->type = T_BOOL;
        e->num = tok_is(&p->tok, "true");
        parser_next(p);
        return e;
    }
    if (tok_is(&p->tok, "count") || tok_is(&p->tok, "distinct")) {
        if (p->in_filter) {
            parser_error(p, at.line, at.col, "a filter cannot hold another count");
            return NULL;
        }
        return parse_counter(p, tok_is(&p->tok, "distinct"));
    }
    char *s = tok_text(&p->tok);
    if (!s) return NULL;
    parser_next(p);
    char *dot = strchr(s, '.');
    int req = builder_find_request(p->b, s, dot ? (size_t)(dot - s) : strlen(s));
    if (req >= 0) {
        rules_request_t *r = &p->b->rs->requests[req];
        if (p->in_filter) {
            parser_error(p, at.line, at.col, "a filter reads only the counted event's own fields");
            free(s);
            return NULL;
        }
        if (!event_type_has_field(p->ctx_type, r->by)) {
            parser_error(p, at.line, at.col, "%s events carry no %s to find the request \"%s\" by",
                         event_type_name(p->ctx_type), event_field_name(r->by), r->name);
            free(s);
            return NULL;
        }
        if (p->rule) p->rule->uses_request = req;
        e = node(dot ? EX_FIELD : EX_REQUEST, &at);
        if (!e) {
            free(s);
            return NULL;
        }
        e->request = req;
        if (dot) {
            int f = event_field_from_name(dot + 1);
            if (f < 0) {
                parser_error(p, at.line, at.col + (int)(dot - s) + 1, "unknown field \"%s\"",
                             dot + 1);
                free(s);
                rules_expr_free(e);
                return NULL;
            }
            token_t ft = at;
            ft.col += (int)(dot - s) + 1;
            if (parser_check_field(p, &ft, (event_field_t)f, r->from) < 0) {
                free(s);
                rules_expr_free(e);
                return NULL;
            }
            e->field = (event_field_t)f;
            e->type = f == FIELD_REPORTED ? T_BOOL : T_STR;
            r->fields[f] = 1;
        }
        free(s);
        return e;
    }
    int f = event_field_from_name(s);
    if (f < 0) {
        if (dot)
            parser_error(p, at.line, at.col,
                         "unknown request \"%.*s\": declare it first with "
                         "\"request %.*s from TYPE by FIELD keep DURATION\"",
                         (int)(dot - s), s, (int)(dot - s), s);
        else
            parser_error(p, at.line, at.col, "unknown field \"%s\"", s);
        free(s);
        return NULL;
    }
    free(s);
    if (parser_check_field(p, &at, (event_field_t)f, p->ctx_type) < 0) return NULL;
    e = node(EX_FIELD, &at);
    if (!e) return NULL;
    e->field = (event_field_t)f;
    e->type = f == FIELD_REPORTED ? T_BOOL : T_STR;
    return e;
}

static const char *type_name(expr_type_t t)
{
    switch (t) {
    case T_BOOL:
        return "a boolean";
    case T_NUM:
        return "a number";
    case T_STR:
        return "text";
    default:
        return "nothing";
    }
}

static rule_expr_t *parse_list(parser_t *p, rule_expr_t *e)
{
    char b[64];
    parser_next(p); /* [ */
    size_t cap = 0;
    for (;;) {
        rule_expr_t *v = parser_value(p);
        if (!v) return NULL;
        if (v->op != EX_LITERAL) {
            parser_error(p, v->line, v->col, "a list holds only literal values");
            rules_expr_free(v);
            return NULL;
        }
        if (v->type != e->a->type) {
            parser_error(p, v->line, v->col, "list item is %s but %s is %s", type_name(v->type),
                         "the value tested", type_name(e->a->type));
            rules_expr_free(v);
            return NULL;
        }
        if (e->nitems == cap) {
            cap = cap ? cap * 2 : 4;
            rule_expr_t **ni = realloc(e->items, cap * sizeof *ni);
            if (!ni) {
                rules_expr_free(v);
                return NULL;
            }
            e->items = ni;
        }
        e->items[e->nitems++] = v;
        if (p->tok.kind == TOK_COMMA) {
            parser_next(p);
            continue;
        }
        if (p->tok.kind == TOK_RBRACK) {
            parser_next(p);
            return e;
        }
        parser_error(p, p->tok.line, p->tok.col, "expected \",\" or \"]\" in a list, found %s",
                     tok_desc(&p->tok, b, sizeof b));
        return NULL;
    }
}

/* value [test] */
static rule_expr_t *parse_test(parser_t *p)
{
    char b[64];
    token_t vt = p->tok;
    vt.str = NULL;
    rule_expr_t *v = parser_value(p);
    if (!v) return NULL;
    token_t at = p->tok;
    at.str = NULL;
    rule_expr_t *e = NULL;
    int negate = 0;
    if (p->tok.kind >= TOK_EQ && p->tok.kind <= TOK_GE) {
        static const expr_cmp_t map[] = {CMP_EQ, CMP_NE, CMP_LT, CMP_LE, CMP_GT, CMP_GE};
        expr_cmp_t cmp = map[p->tok.kind - TOK_EQ];
        parser_next(p);
        rule_expr_t *r = parser_value(p);
        if (!r) goto fail;
        e = node(EX_CMP, &at);
        if (!e) {
            rules_expr_free(r);
            goto fail;
        }
        e->cmp = cmp;
        e->a = v;
        e->b = r;
        v = NULL;
        if (e->a->type != e->b->type || e->a->op == EX_REQUEST) {
            parser_error(p, at.line, at.col, "cannot compare %s with %s", type_name(e->a->type),
                         type_name(e->b->type));
            goto fail;
        }
        if (cmp != CMP_EQ && cmp != CMP_NE && e->a->type != T_NUM) {
            parser_error(p, at.line, at.col, "<, <=, > and >= compare numbers, not %s",
                         type_name(e->a->type));
            goto fail;
        }
        return e;
    }
    if (tok_is(&p->tok, "not")) {
        parser_next(p);
        if (!tok_is(&p->tok, "in")) {
            parser_error(p, p->tok.line, p->tok.col, "expected \"in\" after \"not\" here, found %s",
                         tok_desc(&p->tok, b, sizeof b));
            goto fail;
        }
        negate = 1;
    }
    if (tok_is(&p->tok, "in")) {
        parser_next(p);
        if (v->type != T_STR && v->type != T_NUM) {
            parser_error(p, vt.line, vt.col, "\"in\" tests text or numbers, not %s",
                         type_name(v->type));
            goto fail;
        }
        if (p->tok.kind == TOK_LBRACK) {
            e = node(EX_IN_LIST, &at);
            if (!e) goto fail;
            e->a = v;
            v = NULL;
            if (!parse_list(p, e)) goto fail;
        } else if (p->tok.kind == TOK_IDENT) {
            char *s = tok_text(&p->tok);
            int set = s ? builder_find_set(p->b, s) : -1;
            if (set < 0) {
                parser_error(
                    p, p->tok.line, p->tok.col,
                    "unknown set \"%s\": declare it first with \"set %s on TYPE add FIELD keep "
                    "DURATION\", or write a list in [ ]",
                    s ? s : "", s ? s : "");
                free(s);
                goto fail;
            }
            free(s);
            if (p->in_filter) {
                parser_error(p, p->tok.line, p->tok.col, "a filter cannot read a known set");
                goto fail;
            }
            parser_next(p);
            e = node(EX_IN_SET, &at);
            if (!e) goto fail;
            e->a = v;
            v = NULL;
            e->set = set;
            if (e->a->type != T_STR) {
                parser_error(p, at.line, at.col, "known sets hold text");
                goto fail;
            }
            if (tok_is(&p->tok, "within")) {
                parser_next(p);
                if (parser_duration(p, "an age", WINDOW_MIN_US, p->b->rs->sets[set].keep_us,
                                    &e->within_us) < 0)
                    goto fail;
            }
        } else {
            parser_error(p, p->tok.line, p->tok.col,
                         "expected a list [ ... ] or a set name after \"in\", found %s",
                         tok_desc(&p->tok, b, sizeof b));
            goto fail;
        }
        if (negate) {
            rule_expr_t *n = node(EX_NOT, &at);
            if (!n) goto fail;
            n->a = e;
            return n;
        }
        return e;
    }
    if (tok_is(&p->tok, "matches")) {
        parser_next(p);
        if (v->type != T_STR || v->op == EX_LITERAL) {
            parser_error(p, vt.line, vt.col, "\"matches\" tests a text field");
            goto fail;
        }
        if (p->tok.kind != TOK_STRING) {
            parser_error(p, p->tok.line, p->tok.col,
                         "expected a pattern in quotes after \"matches\", found %s",
                         tok_desc(&p->tok, b, sizeof b));
            goto fail;
        }
        e = node(EX_MATCH, &at);
        if (!e) goto fail;
        e->a = v;
        v = NULL;
        e->pattern = p->tok.str;
        p->tok.str = NULL;
        int errcode;
        PCRE2_SIZE off;
        e->re = pcre2_compile((PCRE2_SPTR)e->pattern, strlen(e->pattern), PCRE2_UTF, &errcode, &off,
                              NULL);
        if (!e->re) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(errcode, msg, sizeof msg);
            /* The column of the offset in the source, where \\ and \" are two
             * characters for one of the pattern. */
            int col = p->tok.col + 1;
            const char *q = p->tok.start + 1;
            for (PCRE2_SIZE i = 0; i < off && *q; i++) {
                int w = (q[0] == '\\' && (q[1] == '"' || q[1] == '\\')) ? 2 : 1;
                q += w;
                col += w;
            }
            parser_error(p, p->tok.line, col, "bad regular expression at offset %zu: %s",
                         (size_t)off, (const char *)msg);
            parser_next(p);
            goto fail;
        }
        pcre2_jit_compile(e->re, PCRE2_JIT_COMPLETE); /* the interpreter is the fallback */
        /* A pattern that a limit stops on a probe would be undecided on
         * ordinary traffic (regex.c). */
        char why[300];
        int probe = regex_probe(e->re, e->pattern, p->b->rs->mctx, why, sizeof why);
        if (probe != 0) {
            parser_error(p, p->tok.line, p->tok.col, "%s", why);
            parser_next(p);
            goto fail;
        }
        parser_next(p);
        return e;
    }
    if (tok_is(&p->tok, "is")) {
        parser_next(p);
        int present;
        if (tok_is(&p->tok, "present"))
            present = 1;
        else if (tok_is(&p->tok, "missing"))
            present = 0;
        else {
            parser_error(p, p->tok.line, p->tok.col,
                         "expected \"present\" or \"missing\" after \"is\", found %s",
                         tok_desc(&p->tok, b, sizeof b));
            goto fail;
        }
        parser_next(p);
        if (v->op != EX_FIELD && v->op != EX_REQUEST) {
            parser_error(p, vt.line, vt.col, "\"is present\" tests a field or a request");
            goto fail;
        }
        e = node(EX_PRESENT, &at);
        if (!e) goto fail;
        e->a = v;
        v = NULL;
        if (!present) {
            rule_expr_t *n = node(EX_NOT, &at);
            if (!n) goto fail;
            n->a = e;
            return n;
        }
        return e;
    }
    if (v->type == T_BOOL) {
        e = node(EX_TRUTH, &vt);
        if (!e) goto fail;
        e->a = v;
        return e;
    }
    if (v->op == EX_REQUEST) {
        parser_error(p, vt.line, vt.col, "a request is not a condition: write \"%s is present\"",
                     p->b->rs->requests[v->request].name);
    } else {
        parser_error(p, vt.line, vt.col,
                     "%s is not a condition: compare it (==, >=, in, matches, is present)",
                     type_name(v->type));
    }
fail:
    rules_expr_free(v);
    rules_expr_free(e);
    return NULL;
}

static rule_expr_t *parse_unary(parser_t *p)
{
    token_t at = p->tok;
    at.str = NULL;
    if (tok_is(&p->tok, "not")) {
        parser_next(p);
        rule_expr_t *a = parse_unary(p);
        if (!a) return NULL;
        rule_expr_t *e = node(EX_NOT, &at);
        if (!e) {
            rules_expr_free(a);
            return NULL;
        }
        e->a = a;
        return e;
    }
    if (p->tok.kind == TOK_LPAREN) {
        parser_next(p);
        rule_expr_t *e = parser_cond(p);
        if (!e) return NULL;
        if (p->tok.kind != TOK_RPAREN) {
            char b[64];
            parser_error(p, p->tok.line, p->tok.col, "expected \")\", found %s",
                         tok_desc(&p->tok, b, sizeof b));
            rules_expr_free(e);
            return NULL;
        }
        parser_next(p);
        return e;
    }
    return parse_test(p);
}

static rule_expr_t *parse_binary(parser_t *p, int level)
{
    rule_expr_t *l = level ? parse_unary(p) : parse_binary(p, 1);
    const char *w = level ? "and" : "or";
    while (l && tok_is(&p->tok, w)) {
        token_t at = p->tok;
        at.str = NULL;
        parser_next(p);
        rule_expr_t *r = level ? parse_unary(p) : parse_binary(p, 1);
        if (!r) {
            rules_expr_free(l);
            return NULL;
        }
        rule_expr_t *e = node(level ? EX_AND : EX_OR, &at);
        if (!e) {
            rules_expr_free(l);
            rules_expr_free(r);
            return NULL;
        }
        e->a = l;
        e->b = r;
        l = e;
    }
    return l;
}

rule_expr_t *parser_cond(parser_t *p)
{
    return parse_binary(p, 0);
}
