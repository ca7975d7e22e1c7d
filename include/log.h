/* log.h - the daemon's log: levels, one line per message on stderr.
 *
 * log_warn appends strerror(errno); the others do not (OpenBSD log.c).
 * Only detector/ logs; library-like code never prints.
 *
 * A line is "TS LEVEL MESSAGE" (log.format = text) or a JSON object
 * {"ts","level","msg"} (log.format = json). Whatever the message holds
 * (event text, bytes that are not UTF-8), it is written escaped: control
 * bytes, backslashes, C1 controls, U+2028/U+2029 and bytes that are not
 * UTF-8 become \n, \\, \xNN or \uNNNN, so a value can neither forge a line
 * nor drive a terminal.
 *
 * Repeated warnings and errors are rate-limited: within the repeat window
 * (10 s by default) only the first message of a template (its format
 * string, or the key given to log_msg) is written; the others are counted
 * and summed up in one line "repeated N times in Ts: LAST MESSAGE" when the
 * window has passed (log_flush_repeats) or when the template comes again.
 * Every function is thread-safe.
 */
#ifndef DETECTOR_LOG_H
#define DETECTOR_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum log_level { LOG_LVL_DEBUG = 0, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR } log_level_t;
typedef enum log_format { LOG_FMT_TEXT = 0, LOG_FMT_JSON } log_format_t;

/* Sets the level by name ("debug", "info", "warn", "error"); -1 if unknown. */
int log_set_level(const char *name);
/* Sets the format by name ("text", "json"); -1 if unknown. */
int log_set_format(const char *name);
/* The repeat window in milliseconds; 0 writes every message. */
void log_set_repeat_window(int64_t ms);

void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_errorx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A message whose template is named by key (copied; NULL: fmt), for
 * messages that share one format string, such as librdkafka's. */
void log_msg(log_level_t level, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_vmsg(log_level_t level, const char *key, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* Writes the summaries of the repeat windows that have passed (every
 * pending one when force is set, e.g. at exit). Call it from the main loop. */
void log_flush_repeats(int force);
/* Between begin and end the calling thread's messages are not rate-limited:
 * a report of several lines (every error of a refused reload) is whole. */
void log_report_begin(void);
void log_report_end(void);

/* Escapes len bytes at in for a log line of format fmt (for JSON: the
 * inside of a string) into out (always NUL-terminated when outlen > 0;
 * cut with "..." when it does not fit). Returns the length written. */
size_t log_escape(char *out, size_t outlen, const char *in, size_t len, log_format_t fmt);

/* For tests: where lines go (NULL: stderr), and the clock of the repeat
 * windows in milliseconds (NULL: CLOCK_MONOTONIC). Borrowed. */
void log_set_stream(FILE *f);
void log_set_clock(int64_t (*now_ms)(void));

#endif
