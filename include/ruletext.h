/* ruletext.h - the text of compiled conditions, and safe quoting of event
 * text for a terminal.
 *
 * The rule language keeps no source text in its plan; ruletext writes a
 * condition or value (rules.h: rule_expr_t) back as the language writes it,
 * so `replay --explain` can name each part of a rule: "count(login.started
 * within 10m) >= 5", "initiator.ip not in known_ips", "device_id is missing".
 * The text reads back to the same plan (the parentheses it adds are the
 * ones the precedence needs).
 */
#ifndef DETECTOR_RULETEXT_H
#define DETECTOR_RULETEXT_H

#include <stddef.h>
#include <stdio.h>

#include "rules.h"

/* Writes condition or value x (borrowed) of rule set rs to f. */
void ruletext_write(FILE *f, const ruleset_t *rs, const rule_expr_t *x);

/* The same as a new string; caller frees. NULL on out-of-memory. */
char *ruletext_string(const ruleset_t *rs, const rule_expr_t *x);

/* Writes len bytes at s (borrowed) as a string literal of the language:
 * "text", with \" and \\ where needed. */
void ruletext_literal(FILE *f, const char *s, size_t len);

/* 1 when x is the `not` the parser wraps around a test written negated
 * ("a not in [...]", "a not in SET", "a is missing"), so the pair reads as
 * one test; 0 for a `not` written by itself, or any other node. */
int ruletext_is_negated_test(const rule_expr_t *x);

/* Writes len bytes at s (borrowed, need not be NUL-terminated) as a JSON
 * string in double quotes, safe to print on a terminal whatever the bytes:
 * control characters (C0, DEL, C1), invisible and bidirectional formatting
 * characters and line separators are written as \uXXXX escapes, bytes that
 * are not UTF-8 as \ufffd. Printable text, accented letters included, is
 * written as it is. */
void ruletext_quote(FILE *f, const char *s, size_t len);

/* Writes s bare when it is a plain token (letters, digits and ._:@/+=-, at
 * most 128 bytes), else quoted as ruletext_quote does. For identifiers that
 * are usually plain (event ids, identities). */
void ruletext_token(FILE *f, const char *s);

#endif
