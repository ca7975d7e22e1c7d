/* ruletext.c - conditions written back as the language writes them, and
 * event text quoted for a terminal. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ruletext.h"

/* Precedence of the language: or < and < not and tests. */
enum { PREC_OR = 1, PREC_AND = 2, PREC_UNARY = 3 };

/* Decodes one UTF-8 code point at s (n bytes left): its length, or 0 when
 * the bytes are not UTF-8 (overlong forms and surrogates included). */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    size_t len;
    uint32_t c, min;
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    if ((s[0] & 0xe0) == 0xc0) {
        len = 2;
        c = s[0] & 0x1f;
        min = 0x80;
    } else if ((s[0] & 0xf0) == 0xe0) {
        len = 3;
        c = s[0] & 0x0f;
        min = 0x800;
    } else if ((s[0] & 0xf8) == 0xf0) {
        len = 4;
        c = s[0] & 0x07;
        min = 0x10000;
    } else {
        return 0;
    }
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        c = (c << 6) | (s[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) return 0;
    *cp = c;
    return len;
}

/* Code points that must not reach a terminal as they are: controls (C0,
 * DEL, C1, where ESC and CSI start terminal sequences), and characters that
 * are invisible or reorder the text around them (bidirectional overrides,
 * zero-width characters, line separators, tags). */
static int unsafe(uint32_t c)
{
    return c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0xad || c == 0x061c ||
           (c >= 0x200b && c <= 0x200f) || (c >= 0x2028 && c <= 0x202e) ||
           (c >= 0x2060 && c <= 0x206f) || c == 0xfeff || (c >= 0xfff9 && c <= 0xfffb) ||
           (c >= 0xe0000 && c <= 0xe007f);
}

static void write_u(FILE *f, uint32_t c)
{
    if (c >= 0x10000) {
        c -= 0x10000;
        fprintf(f, "\\u%04x\\u%04x", (unsigned)(0xd800 + (c >> 10)),
                (unsigned)(0xdc00 + (c & 0x3ff)));
    } else {
        fprintf(f, "\\u%04x", (unsigned)c);
    }
}

/* The body of a quoted string. lang: the rule language's escapes (only \"
 * and \\, and a backslash is written doubled only where it would otherwise
 * read as one of those); else JSON's. Unsafe characters are \u escapes in
 * both (the language has no escape for them; a rule with such a literal is
 * unusual and the explanation stays safe to print). */
static void write_body(FILE *f, const char *str, size_t len, int lang)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        uint32_t c;
        size_t n = utf8_decode(s + i, len - i, &c);
        if (n == 0) {
            fputs("\\ufffd", f);
            i++;
            continue;
        }
        if (c == '"') {
            fputs("\\\"", f);
        } else if (c == '\\') {
            if (!lang || i + 1 == len || s[i + 1] == '"' || s[i + 1] == '\\')
                fputs("\\\\", f);
            else
                fputc('\\', f);
        } else if (unsafe(c)) {
            if (!lang && c == '\n')
                fputs("\\n", f);
            else if (!lang && c == '\t')
                fputs("\\t", f);
            else if (!lang && c == '\r')
                fputs("\\r", f);
            else
                write_u(f, c);
        } else {
            fwrite(s + i, 1, n, f);
        }
        i += n;
    }
}

void ruletext_quote(FILE *f, const char *s, size_t len)
{
    fputc('"', f);
    write_body(f, s, len, 0);
    fputc('"', f);
}

void ruletext_literal(FILE *f, const char *s, size_t len)
{
    fputc('"', f);
    write_body(f, s, len, 1);
    fputc('"', f);
}

void ruletext_token(FILE *f, const char *s)
{
    size_t n = strlen(s);
    int plain = n > 0 && n <= 128;
    for (size_t i = 0; plain && i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                strchr("._:@/+=-", c) != NULL;
    }
    if (plain)
        fputs(s, f);
    else
        ruletext_quote(f, s, n);
}

int ruletext_is_negated_test(const rule_expr_t *x)
{
    /* The parser gives the `not` of "not in" and "is missing" the place of
     * the test itself; a `not` written by itself stands before its operand. */
    return x && x->op == EX_NOT && x->a &&
           (x->a->op == EX_IN_LIST || x->a->op == EX_IN_SET || x->a->op == EX_PRESENT) &&
           x->a->line == x->line && x->a->col == x->col;
}

static const char *cmp_text(expr_cmp_t c)
{
    static const char *t[] = {"==", "!=", "<", "<=", ">", ">="};
    return t[c];
}

static void write_expr(FILE *f, const ruleset_t *rs, const rule_expr_t *x, int prec);

static void write_counter(FILE *f, const ruleset_t *rs, const rule_expr_t *x)
{
    const rules_counter_t *c = ruleset_counter(rs, (size_t)x->counter);
    char d[64];
    if (c->distinct)
        fprintf(f, "distinct(%s of %s", event_field_name(c->of), event_type_name(c->type));
    else
        fprintf(f, "count(%s", event_type_name(c->type));
    if (c->filter) {
        fputs(" where ", f);
        write_expr(f, rs, c->filter, PREC_OR);
    }
    if (c->by != FIELD_IDENTITY) fprintf(f, " by %s", event_field_name(c->by));
    fprintf(f, " within %s)", rules_duration_format(x->window_us, d, sizeof d));
}

static void write_value(FILE *f, const ruleset_t *rs, const rule_expr_t *x)
{
    switch (x->op) {
    case EX_LITERAL:
        if (x->type == T_STR)
            ruletext_literal(f, x->str, x->slen);
        else if (x->type == T_BOOL) {
            fputs(x->num ? "true" : "false", f);
        } else {
            fprintf(f, "%lld", x->num);
        }
        return;
    case EX_FIELD:
        if (x->request >= 0) fprintf(f, "%s.", ruleset_request(rs, (size_t)x->request)->name);
        fputs(event_field_name(x->field), f);
        return;
    case EX_REQUEST:
        fputs(ruleset_request(rs, (size_t)x->request)->name, f);
        return;
    case EX_COUNT:
    case EX_DISTINCT:
        write_counter(f, rs, x);
        return;
    default:
        return;
    }
}

static void write_list(FILE *f, const ruleset_t *rs, const rule_expr_t *x)
{
    fputc('[', f);
    for (size_t i = 0; i < x->nitems; i++) {
        if (i) fputs(", ", f);
        write_value(f, rs, x->items[i]);
    }
    fputc(']', f);
}

/* A test, negated (`not in`, `is missing`) or not. */
static void write_test(FILE *f, const ruleset_t *rs, const rule_expr_t *x, int neg)
{
    char d[64];
    write_value(f, rs, x->a);
    switch (x->op) {
    case EX_CMP:
        fprintf(f, " %s ", cmp_text(x->cmp));
        write_value(f, rs, x->b);
        return;
    case EX_IN_LIST:
        fputs(neg ? " not in " : " in ", f);
        write_list(f, rs, x);
        return;
    case EX_IN_SET:
        fprintf(f, "%s%s", neg ? " not in " : " in ", ruleset_set(rs, (size_t)x->set)->name);
        if (x->within_us)
            fprintf(f, " within %s", rules_duration_format(x->within_us, d, sizeof d));
        return;
    case EX_MATCH:
        fputs(" matches ", f);
        ruletext_literal(f, x->pattern, strlen(x->pattern));
        return;
    case EX_PRESENT:
        fputs(neg ? " is missing" : " is present", f);
        return;
    default: /* EX_TRUTH: the value alone */
        return;
    }
}

static void write_expr(FILE *f, const ruleset_t *rs, const rule_expr_t *x, int prec)
{
    switch (x->op) {
    case EX_AND:
    case EX_OR: {
        int p = x->op == EX_AND ? PREC_AND : PREC_OR;
        if (p < prec) fputc('(', f);
        write_expr(f, rs, x->a, p);
        fputs(x->op == EX_AND ? " and " : " or ", f);
        /* Both are left-associative: a right operand of the same kind was
         * written in parentheses. */
        write_expr(f, rs, x->b, p + 1);
        if (p < prec) fputc(')', f);
        return;
    }
    case EX_NOT:
        if (ruletext_is_negated_test(x)) {
            write_test(f, rs, x->a, 1);
            return;
        }
        fputs("not ", f);
        if (x->a->op == EX_TRUTH) {
            write_expr(f, rs, x->a, PREC_UNARY);
        } else {
            fputc('(', f);
            write_expr(f, rs, x->a, PREC_OR);
            fputc(')', f);
        }
        return;
    case EX_CMP:
    case EX_IN_LIST:
    case EX_IN_SET:
    case EX_MATCH:
    case EX_PRESENT:
    case EX_TRUTH:
        write_test(f, rs, x, 0);
        return;
    default:
        write_value(f, rs, x);
        return;
    }
}

void ruletext_write(FILE *f, const ruleset_t *rs, const rule_expr_t *x)
{
    if (x) write_expr(f, rs, x, PREC_OR);
}

char *ruletext_string(const ruleset_t *rs, const rule_expr_t *x)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return NULL;
    ruletext_write(f, rs, x);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}
