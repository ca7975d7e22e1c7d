/* lexer.c - tokens of the rule language and its diagnostics. */
#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules_impl.h"

static void diag_append(rules_diag_t *d, const char *s, size_t n)
{
    if (d->len + n + 1 > d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 512;
        while (cap < d->len + n + 1)
            cap *= 2;
        char *t = realloc(d->text, cap);
        if (!t) return;
        d->text = t;
        d->cap = cap;
    }
    memcpy(d->text + d->len, s, n);
    d->len += n;
    d->text[d->len] = '\0';
}

size_t lexer_utf8_len(const char *str, size_t n, uint32_t *cp)
{
    const unsigned char *s = (const unsigned char *)str;
    unsigned char c = s[0], lo = 0x80, hi = 0xBF; /* range of the second byte */
    size_t len;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        *cp = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        *cp = c & 0x0Fu;
        if (c == 0xE0) lo = 0xA0; /* no overlong forms */
        if (c == 0xED) hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        *cp = c & 0x07u;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F; /* nothing above U+10FFFF */
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        *cp = *cp << 6 | (s[i] & 0x3Fu);
    }
    return len;
}

/* Appends the formatted text, however long. */
static void diag_vappend(rules_diag_t *d, const char *fmt, va_list ap)
{
    char buf[512];
    va_list aq;
    va_copy(aq, ap);
    int n = vsnprintf(buf, sizeof buf, fmt, aq);
    va_end(aq);
    if (n < 0) return;
    if ((size_t)n < sizeof buf) {
        diag_append(d, buf, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) return;
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    diag_append(d, big, (size_t)n);
    free(big);
}

/* Appends n bytes of a source line, each byte that is not printable text
 * (control characters other than tab, bytes that are not UTF-8) as '?':
 * a rule file cannot drive the terminal, and the caret below stays under
 * its byte. */
static void diag_append_line(rules_diag_t *d, const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t l = lexer_utf8_len(s + i, n - i, &cp);
        if (l == 0 || (cp < 0x20 && cp != '\t') || (cp >= 0x7F && cp <= 0x9F)) {
            for (size_t k = 0; k < (l ? l : 1); k++)
                diag_append(d, "?", 1);
            i += l ? l : 1;
            continue;
        }
        diag_append(d, s + i, l);
        i += l;
    }
}

void diag_vat(rules_diag_t *d, const char *src, const char *name, int line, int col,
              const char *fmt, va_list ap)
{
    /* Built piece by piece: a file name or a message of any length. */
    char at[48];
    if (name) diag_append(d, name, strlen(name));
    snprintf(at, sizeof at, ":%d:%d: ", line, col);
    diag_append(d, at, strlen(at));
    diag_vappend(d, fmt, ap);
    diag_append(d, "\n", 1);
    /* The offending line, then a caret under the column. */
    if (src && line > 0) {
        const char *p = src;
        for (int l = 1; l < line && *p; p++)
            if (*p == '\n') l++;
        const char *e = p;
        while (*e && *e != '\n')
            e++;
        diag_append(d, "    ", 4);
        diag_append_line(d, p, (size_t)(e - p));
        diag_append(d, "\n    ", 5);
        for (int i = 1; i < col && p + i - 1 < e; i++)
            diag_append(d, p[i - 1] == '\t' ? "\t" : " ", 1);
        diag_append(d, "^\n", 2);
    }
    d->count++;
}

void diag_at(rules_diag_t *d, const char *src, const char *name, int line, int col, const char *fmt,
             ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_vat(d, src, name, line, col, fmt, ap);
    va_end(ap);
}

void diag_plain(rules_diag_t *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_vappend(d, fmt, ap);
    va_end(ap);
    diag_append(d, "\n", 1);
    d->count++;
}

void rules_diag_free(rules_diag_t *d)
{
    if (!d) return;
    free(d->text);
    memset(d, 0, sizeof *d);
}

void lexer_init(lexer_t *lx, const char *src, const char *name, rules_diag_t *diag)
{
    memset(lx, 0, sizeof *lx);
    lx->src = lx->p = lx->line_start = src;
    lx->end = src + strlen(src);
    lx->name = name;
    lx->line = 1;
    lx->diag = diag;
}

static void lex_error(lexer_t *lx, int line, int col, const char *fmt, ...)
{
    if (lx->errors >= LEXER_MAX_ERRORS) return;
    va_list ap;
    va_start(ap, fmt);
    diag_vat(lx->diag, lx->src, lx->name, line, col, fmt, ap);
    va_end(ap);
    lx->errors++;
}

int64_t rules_duration_parse(const char *s, size_t len)
{
    /* One or more NUMBER UNIT groups: "90d", "1h30m", "500ms". */
    int64_t total = 0;
    size_t i = 0;
    if (len == 0) return -1;
    while (i < len) {
        if (!isdigit((unsigned char)s[i])) return -1;
        int64_t n = 0;
        while (i < len && isdigit((unsigned char)s[i])) {
            int d = s[i++] - '0';
            if (n > (INT64_MAX - d) / 10) return -2; /* too long */
            n = n * 10 + d;
        }
        int64_t unit, prev_total = total;
        if (i + 1 < len && s[i] == 'm' && s[i + 1] == 's') {
            unit = 1000;
            i += 2;
        } else if (i < len) {
            switch (s[i]) {
            case 's':
                unit = 1000000LL;
                break;
            case 'm':
                unit = 60000000LL;
                break;
            case 'h':
                unit = 3600000000LL;
                break;
            case 'd':
                unit = 86400000000LL;
                break;
            case 'w':
                unit = 7 * 86400000000LL;
                break;
            default:
                return -1;
            }
            i++;
        } else {
            return -1;
        }
        if (n > (INT64_MAX - prev_total) / unit) return -2; /* too long */
        total += n * unit;
    }
    return total;
}

char *rules_duration_format(int64_t us, char *buf, size_t len)
{
    static const struct {
        int64_t us;
        const char *u;
    } units[] = {{86400000000LL, "d"},
                 {3600000000LL, "h"},
                 {60000000LL, "m"},
                 {1000000LL, "s"},
                 {1000LL, "ms"}};
    size_t o = 0;
    if (len == 0) return buf;
    buf[0] = '\0';
    if (us <= 0) {
        if (len >= 3) snprintf(buf, len, "0s");
        return buf;
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0] && us > 0; i++) {
        if (us >= units[i].us) {
            int n = snprintf(buf + o, len - o, "%lld%s", (long long)(us / units[i].us), units[i].u);
            if (n < 0 || (size_t)n >= len - o) {
                buf[o] = '\0'; /* never half a unit */
                break;
            }
            o += (size_t)n;
            us %= units[i].us;
        }
    }
    return buf;
}

const char *lexer_rest_of_line(lexer_t *lx, size_t *len)
{
    while (lx->p < lx->end && (*lx->p == ' ' || *lx->p == '\t'))
        lx->p++;
    const char *start = lx->p;
    while (lx->p < lx->end && *lx->p != '\n')
        lx->p++;
    const char *e = lx->p;
    while (e > start && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
        e--;
    *len = (size_t)(e - start);
    return start;
}

static int is_ident_start(int c)
{
    return isalpha(c) || c == '_';
}

static int is_ident_char(int c)
{
    return isalnum(c) || c == '_' || c == '-' || c == '.';
}

void lexer_next(lexer_t *lx, token_t *t)
{
    memset(t, 0, sizeof *t);
    while (lx->p < lx->end) {
        char c = *lx->p;
        if (c == '\n') {
            lx->line++;
            lx->p++;
            lx->line_start = lx->p;
        } else if (c == ' ' || c == '\t' || c == '\r') {
            lx->p++;
        } else if (c == '#') {
            while (lx->p < lx->end && *lx->p != '\n')
                lx->p++;
        } else {
            break;
        }
    }
    if (lx->errors >= LEXER_MAX_ERRORS) lx->p = lx->end; /* too many errors: end the source */
    t->start = lx->p;
    t->line = lx->line;
    t->col = (int)(lx->p - lx->line_start) + 1;
    if (lx->p >= lx->end) {
        t->kind = TOK_EOF;
        return;
    }
    const char *s = lx->p;
    unsigned char c = (unsigned char)*s;
    if (is_ident_start(c)) {
        while (lx->p < lx->end && is_ident_char((unsigned char)*lx->p))
            lx->p++;
        /* A trailing '.' or '-' belongs to no identifier. */
        while (lx->p > s + 1 && (lx->p[-1] == '.' || lx->p[-1] == '-'))
            lx->p--;
        t->kind = TOK_IDENT;
        t->len = (size_t)(lx->p - s);
        return;
    }
    if (isdigit(c)) {
        while (lx->p < lx->end && isalnum((unsigned char)*lx->p))
            lx->p++;
        t->len = (size_t)(lx->p - s);
        size_t digits = 0;
        while (digits < t->len && isdigit((unsigned char)s[digits]))
            digits++;
        if (digits == t->len) {
            if (t->len > 15) {
                /* Reported, then read as a number so that the rest is checked. */
                lex_error(lx, t->line, t->col, "number %.*s is too large: at most 15 digits",
                          (int)t->len, s);
                t->kind = TOK_NUMBER;
                t->num = 0;
                return;
            }
            t->kind = TOK_NUMBER;
            t->num = strtoll(s, NULL, 10);
            return;
        }
        t->us = rules_duration_parse(s, t->len);
        if (t->us == -2) {
            lex_error(lx, t->line, t->col, "duration \"%.*s\" is too long", (int)t->len, s);
            t->kind = TOK_ERROR;
            return;
        }
        if (t->us < 0) {
            lex_error(lx, t->line, t->col,
                      "bad duration \"%.*s\": write a number and a unit: ms, s, m, h, d or w "
                      "(\"10m\", \"1h30m\")",
                      (int)t->len, s);
            t->kind = TOK_ERROR;
            return;
        }
        t->kind = TOK_DURATION;
        return;
    }
    if (c == '"') {
        /* Only \" and \\ are escapes, so regular expressions keep their
         * backslashes as written: "\d+" is the pattern \d+. */
        lx->p++;
        size_t cap = 16, n = 0;
        char *buf = malloc(cap);
        if (!buf) {
            t->kind = TOK_ERROR;
            return;
        }
        while (lx->p < lx->end && *lx->p != '"' && *lx->p != '\n') {
            char ch = *lx->p++;
            if (ch == '\\' && lx->p < lx->end && (*lx->p == '"' || *lx->p == '\\')) ch = *lx->p++;
            if (n + 2 > cap) {
                cap *= 2;
                char *nb = realloc(buf, cap);
                if (!nb) {
                    free(buf);
                    t->kind = TOK_ERROR;
                    return;
                }
                buf = nb;
            }
            buf[n++] = ch;
        }
        if (lx->p >= lx->end || *lx->p != '"') {
            free(buf);
            lex_error(lx, t->line, t->col,
                      "unterminated string: close it with \" on the same line");
            t->kind = TOK_ERROR;
            return;
        }
        lx->p++;
        buf[n] = '\0';
        t->kind = TOK_STRING;
        t->str = buf;
        t->slen = n;
        t->len = (size_t)(lx->p - s);
        return;
    }
    lx->p++;
    t->len = 1;
    char n1 = lx->p < lx->end ? *lx->p : '\0';
    switch (c) {
    case '(':
        t->kind = TOK_LPAREN;
        return;
    case ')':
        t->kind = TOK_RPAREN;
        return;
    case '[':
        t->kind = TOK_LBRACK;
        return;
    case ']':
        t->kind = TOK_RBRACK;
        return;
    case ',':
        t->kind = TOK_COMMA;
        return;
    case '=':
        if (n1 == '=') {
            lx->p++;
            t->len = 2;
            t->kind = TOK_EQ;
            return;
        }
        /* Reported, then read as == so that the rest is checked too. */
        lex_error(lx, t->line, t->col, "unexpected '=': compare with ==");
        t->kind = TOK_EQ;
        return;
    case '!':
        if (n1 == '=') {
            lx->p++;
            t->len = 2;
            t->kind = TOK_NE;
            return;
        }
        lex_error(lx, t->line, t->col, "unexpected '!': write != or not");
        t->kind = TOK_ERROR;
        return;
    case '<':
    case '>':
        if (n1 == '=') {
            lx->p++;
            t->len = 2;
            t->kind = c == '<' ? TOK_LE : TOK_GE;
        } else {
            t->kind = c == '<' ? TOK_LT : TOK_GT;
        }
        return;
    case '&':
        if (n1 == '&') lx->p++;
        lex_error(lx, t->line, t->col, "unexpected '&': write and");
        t->kind = TOK_ERROR;
        return;
    case '|':
        if (n1 == '|') lx->p++;
        lex_error(lx, t->line, t->col, "unexpected '|': write or");
        t->kind = TOK_ERROR;
        return;
    default:
        break;
    }
    if (c < 0x20 || c >= 0x7f)
        lex_error(lx, t->line, t->col, "unexpected byte 0x%02x", c);
    else
        lex_error(lx, t->line, t->col, "unexpected character '%c'", c);
    t->kind = TOK_ERROR;
}
