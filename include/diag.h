/* diag.h - diagnostics of rule and configuration files.
 *
 * Errors are collected, then shown together: each "FILE:LINE:COL: message",
 * followed by the offending line and a caret under the column.
 */
#ifndef DETECTOR_DIAG_H
#define DETECTOR_DIAG_H

#include <stdarg.h>
#include <stddef.h>

typedef struct rules_diag {
    size_t count;    /* number of errors */
    char *text;      /* all messages, NUL-terminated, or NULL when none */
    size_t len, cap; /* internal */
} rules_diag_t;

void rules_diag_free(rules_diag_t *d);

/* Appends "NAME:LINE:COL: message" plus the line of src (borrowed, may be
 * NULL) and a caret under the column. */
void diag_at(rules_diag_t *d, const char *src, const char *name, int line, int col, const char *fmt,
             ...) __attribute__((format(printf, 6, 7)));
void diag_vat(rules_diag_t *d, const char *src, const char *name, int line, int col,
              const char *fmt, va_list ap);
/* Appends a message without a location. */
void diag_plain(rules_diag_t *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
