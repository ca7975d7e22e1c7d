/* regex.c - the regular expressions of `matches`: the bounds every match
 * runs under, and the probe that refuses, at load, a pattern that backtracks
 * without bound.
 *
 * A user agent is attacker-controlled text. Every match runs with a match
 * limit and a depth limit (the JIT, which ignores the depth limit, has a
 * bounded stack of its own), so no subject can make one run away: a stopped
 * match costs a few milliseconds, and the engine counts it and treats it as
 * configured (regex.on_limit). A pattern that is stopped on ordinary-looking
 * text would be undecided for real traffic, so loading tries each pattern on
 * adversarial probe subjects and refuses it when a limit stops one:
 *
 *   for each character c of an alphabet (the printable ASCII characters of
 *   the pattern, plus "a", "A", "0" and a space), and for the pattern's
 *   letters and digits in turn ("ab" for (ab|a|b)+):
 *     RUN = that text repeated to RULES_REGEX_PROBE_LEN bytes
 *     RUN "\x01"            a run with an end the pattern does not expect
 *     RUN "\x01" LITERALS   the same, then every character of the pattern,
 *                           so that a literal the pattern requires (the y of
 *                           (x+x+)+y) is present and the search runs.
 *
 * This catches the classic shapes (a repetition inside a repetition over
 * the same characters: (a+)+, (x+x+)+y, (\w+\s?)*$, (.*a){20}); a pattern
 * whose blow-up needs a more particular subject passes, and the limits
 * still bound it at run time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules_impl.h"

pcre2_match_context *regex_context_new(pcre2_jit_stack **jit_stack)
{
    pcre2_match_context *mctx = pcre2_match_context_create(NULL);
    if (!mctx) return NULL;
    pcre2_set_match_limit(mctx, RULES_REGEX_MATCH_LIMIT);
    pcre2_set_depth_limit(mctx, RULES_REGEX_DEPTH_LIMIT);
    /* The JIT's default stack (32 KiB) stops even (a|b)* on a 1 KiB
     * subject; this one allows about what the depth limit allows the
     * interpreter. Without a JIT, no stack is needed. */
    *jit_stack = pcre2_jit_stack_create(32 * 1024, RULES_REGEX_JIT_STACK, NULL);
    if (*jit_stack) pcre2_jit_stack_assign(mctx, NULL, *jit_stack);
    return mctx;
}

const char *rules_regex_limit_name(int rc)
{
    switch (rc) {
    case PCRE2_ERROR_MATCHLIMIT:
        return "the match limit";
    case PCRE2_ERROR_DEPTHLIMIT:
    case PCRE2_ERROR_JIT_STACKLIMIT:
        return "the depth limit";
    case PCRE2_ERROR_HEAPLIMIT:
        return "the heap limit";
    default:
        return "an error of the matcher";
    }
}

/* The printable ASCII characters of s, each once, in order of appearance;
 * with alnum, only letters and digits. */
static size_t chars_of(const char *s, int alnum, char *out, size_t cap)
{
    size_t n = 0;
    for (; *s && n + 1 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c > 0x7e) continue;
        if (alnum && !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
            continue;
        if (!memchr(out, c, n)) out[n++] = (char)c;
    }
    out[n] = '\0';
    return n;
}

/* Runs the pattern on RUN + tail, RUN being unit repeated to the probe
 * length. 0, or the PCRE2 error that stopped it. */
static int try_subject(const pcre2_code *re, pcre2_match_context *mctx, pcre2_match_data *md,
                       char *buf, const char *unit, size_t ulen, const char *tail)
{
    size_t n = 0, tl = strlen(tail);
    while (n < RULES_REGEX_PROBE_LEN) {
        buf[n] = unit[n % ulen];
        n++;
    }
    memcpy(buf + n, tail, tl);
    int rc = pcre2_match(re, (PCRE2_SPTR)buf, n + tl, 0, 0, md, mctx);
    return rc >= 0 || rc == PCRE2_ERROR_NOMATCH ? 0 : rc;
}

/* Quotes the probe's unit for a message: "a", "\"", "ab". */
static void quote_unit(const char *unit, char *out, size_t cap)
{
    size_t o = 0;
    out[o++] = '"';
    for (; *unit && o + 4 < cap; unit++) {
        if (*unit == '"' || *unit == '\\') out[o++] = '\\';
        out[o++] = *unit;
    }
    out[o++] = '"';
    out[o] = '\0';
}

int regex_probe(const pcre2_code *re, const char *pattern, pcre2_match_context *mctx, char *why,
                size_t whylen)
{
    char alphabet[128], cycle[128], lits[128], tail[140];
    size_t na = chars_of(pattern, 0, alphabet, sizeof alphabet - 4);
    for (const char *r = "aA0 "; *r; r++)
        if (!memchr(alphabet, *r, na)) alphabet[na++] = *r;
    alphabet[na] = '\0';
    size_t nc = chars_of(pattern, 1, cycle, sizeof cycle);
    chars_of(pattern, 0, lits, sizeof lits);
    snprintf(tail, sizeof tail, "\x01%s", lits);
    char *buf = malloc(RULES_REGEX_PROBE_LEN + sizeof tail);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    if (!buf || !md) {
        free(buf);
        pcre2_match_data_free(md);
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    int rc = 0;
    char unit[128];
    /* na single characters, then the cycle of letters and digits (when it
     * has two or more). */
    for (size_t i = 0; i <= na && rc == 0; i++) {
        size_t ul = 1;
        if (i < na) {
            unit[0] = alphabet[i];
            unit[1] = '\0';
        } else if (nc >= 2) {
            memcpy(unit, cycle, nc + 1);
            ul = nc;
        } else {
            break;
        }
        if ((rc = try_subject(re, mctx, md, buf, unit, ul, "\x01")) == 0)
            rc = try_subject(re, mctx, md, buf, unit, ul, tail);
    }
    free(buf);
    pcre2_match_data_free(md);
    if (rc == 0) return 0;
    char q[140];
    quote_unit(unit, q, sizeof q);
    snprintf(why, whylen,
             "regular expression refused: it backtracks without bound, and %s stopped it on a "
             "probe (%s repeated to %d bytes, then a character it does not expect); write it "
             "without a repetition inside a repetition such as (a+)+",
             rules_regex_limit_name(rc), q, RULES_REGEX_PROBE_LEN);
    return 1;
}
