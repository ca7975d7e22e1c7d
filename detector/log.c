/* log.c - leveled logging to stderr with a UTC timestamp. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"

static log_level_t level = LOG_LVL_INFO;

int log_set_level(const char *name)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++)
        if (strcmp(name, names[i]) == 0) {
            level = (log_level_t)i;
            return 0;
        }
    return -1;
}

static void vlog(log_level_t l, const char *tag, int with_errno, const char *fmt, va_list ap)
{
    if (l < level) return;
    int saved = errno;
    char ts[32];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    char msg[2048];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (with_errno)
        fprintf(stderr, "%s.%03ldZ %s %s: %s\n", ts, now.tv_nsec / 1000000, tag, msg,
                strerror(saved));
    else
        fprintf(stderr, "%s.%03ldZ %s %s\n", ts, now.tv_nsec / 1000000, tag, msg);
}

#define LOG_FN(fn, lvl, tag, e)                                                                    \
    void fn(const char *fmt, ...)                                                                  \
    {                                                                                              \
        va_list ap;                                                                                \
        va_start(ap, fmt);                                                                         \
        vlog(lvl, tag, e, fmt, ap);                                                                \
        va_end(ap);                                                                                \
    }

LOG_FN(log_debug, LOG_LVL_DEBUG, "debug", 0)
LOG_FN(log_info, LOG_LVL_INFO, "info", 0)
LOG_FN(log_warn, LOG_LVL_WARN, "warn", 1)
LOG_FN(log_warnx, LOG_LVL_WARN, "warn", 0)
LOG_FN(log_errorx, LOG_LVL_ERROR, "error", 0)
