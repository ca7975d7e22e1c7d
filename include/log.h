/* log.h - the daemon's log: levels, one line per message on stderr.
 *
 * log_warn and log_error append strerror(errno); log_warnx and log_errorx do
 * not (OpenBSD log.c). Only detector/ logs; library-like code never prints.
 */
#ifndef DETECTOR_LOG_H
#define DETECTOR_LOG_H

typedef enum log_level { LOG_LVL_DEBUG = 0, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR } log_level_t;

/* Sets the level by name ("debug", "info", "warn", "error"); -1 if unknown. */
int log_set_level(const char *name);
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_errorx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
