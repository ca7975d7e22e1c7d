/* log.c - leveled logging to stderr, as text or JSON lines, escaped and
 * rate-limited (see log.h). */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"

#define MSG_MAX 2048      /* a message is cut here before escaping */
#define LOG_LINE_MAX 8192 /* an escaped message */
#define REPEAT_SLOTS 64   /* templates followed at once */
#define KEY_MAX 96

/* One template inside its repeat window. */
struct repeat {
    char key[KEY_MAX];
    log_level_t level;
    int64_t start_ms;         /* when its window began (its first message) */
    unsigned long suppressed; /* messages not written since */
    char last[MSG_MAX];       /* the last of them */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static log_level_t level = LOG_LVL_INFO;
static log_format_t format = LOG_FMT_TEXT;
static int64_t window_ms = 10000;
static FILE *stream;
static int64_t (*clock_fn)(void);
static struct repeat repeats[REPEAT_SLOTS];
static size_t nrepeats;
static _Thread_local int in_report;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

int log_set_level(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(name, level_names[i]) == 0) {
            pthread_mutex_lock(&lock);
            level = (log_level_t)i;
            pthread_mutex_unlock(&lock);
            return 0;
        }
    return -1;
}

int log_set_format(const char *name)
{
    log_format_t f;
    if (strcmp(name, "text") == 0)
        f = LOG_FMT_TEXT;
    else if (strcmp(name, "json") == 0)
        f = LOG_FMT_JSON;
    else
        return -1;
    pthread_mutex_lock(&lock);
    format = f;
    pthread_mutex_unlock(&lock);
    return 0;
}

void log_set_repeat_window(int64_t ms)
{
    pthread_mutex_lock(&lock);
    window_ms = ms < 0 ? 0 : ms;
    pthread_mutex_unlock(&lock);
}

void log_set_stream(FILE *f)
{
    pthread_mutex_lock(&lock);
    stream = f;
    pthread_mutex_unlock(&lock);
}

void log_set_clock(int64_t (*now_ms)(void))
{
    pthread_mutex_lock(&lock);
    clock_fn = now_ms;
    nrepeats = 0; /* windows of another clock mean nothing */
    pthread_mutex_unlock(&lock);
}

void log_report_begin(void)
{
    in_report++;
}

void log_report_end(void)
{
    if (in_report > 0) in_report--;
}

static int64_t now_ms(void)
{
    if (clock_fn) return clock_fn();
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xBF;
    size_t len;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0; /* no overlong forms */
        if (c == 0xED) hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F; /* nothing above U+10FFFF */
    } else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    return len;
}

size_t log_escape(char *out, size_t outlen, const char *in, size_t len, log_format_t fmt)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t o = 0;
    if (outlen == 0) return 0;
    for (size_t i = 0; i < len;) {
        char esc[16];
        const char *piece = esc;
        size_t plen, adv = 1, u = utf8_len(s + i, len - i);
        unsigned c = s[i];
        if (u == 0) { /* not UTF-8: the byte, as text */
            snprintf(esc, sizeof esc, fmt == LOG_FMT_JSON ? "\\\\x%02X" : "\\x%02X", c);
        } else if (c == '\\') {
            piece = "\\\\";
        } else if (c == '"' && fmt == LOG_FMT_JSON) {
            piece = "\\\"";
        } else if (c == '\n' || c == '\r' || c == '\t') {
            piece = c == '\n' ? "\\n" : c == '\r' ? "\\r" : "\\t";
        } else if (c < 0x20 || c == 0x7F) {
            snprintf(esc, sizeof esc, fmt == LOG_FMT_JSON ? "\\u%04X" : "\\x%02X", c);
        } else if (u == 2 && c == 0xC2 && s[i + 1] < 0xA0) { /* C1 controls */
            snprintf(esc, sizeof esc, "\\u%04X", (unsigned)s[i + 1]);
            adv = 2;
        } else if (u == 3 && c == 0xE2 && s[i + 1] == 0x80 && (s[i + 2] & 0xFE) == 0xA8) {
            snprintf(esc, sizeof esc, "\\u%04X", 0x2000u + (s[i + 2] & 0x3F)); /* U+2028/9 */
            adv = 3;
        } else {
            piece = (const char *)s + i;
            adv = u;
        }
        plen = piece == (const char *)s + i ? adv : strlen(piece);
        if (o + plen + 4 > outlen) { /* room for "..." and the NUL */
            if (o + 4 <= outlen) {
                memcpy(out + o, "...", 3);
                o += 3;
            }
            break;
        }
        memcpy(out + o, piece, plen);
        o += plen;
        i += adv;
    }
    out[o] = '\0';
    return o;
}

/* Writes one line; the lock is held. */
static void emit(log_level_t l, const char *msg, unsigned long repeated)
{
    char ts[48], line[LOG_LINE_MAX];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof ts - n, ".%03ldZ", now.tv_nsec / 1000000);
    log_escape(line, sizeof line, msg, strlen(msg), format);
    FILE *f = stream ? stream : stderr;
    if (format == LOG_FMT_JSON) {
        if (repeated)
            fprintf(f, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"%s\",\"repeated\":%lu}\n", ts,
                    level_names[l], line, repeated);
        else
            fprintf(f, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"%s\"}\n", ts, level_names[l],
                    line);
    } else {
        fprintf(f, "%s %s %s\n", ts, level_names[l], line);
    }
    fflush(f);
}

/* The summary of a window, and the slot made ready for a new one. */
static void summarize(struct repeat *r, int64_t now)
{
    if (r->suppressed > 0) {
        char msg[MSG_MAX + 64];
        long long secs = (long long)((now - r->start_ms + 999) / 1000);
        snprintf(msg, sizeof msg, "repeated %lu time%s in %llds: %s", r->suppressed,
                 r->suppressed == 1 ? "" : "s", secs, r->last);
        emit(r->level, msg, r->suppressed);
    }
    r->suppressed = 0;
}

void log_flush_repeats(int force)
{
    pthread_mutex_lock(&lock);
    int64_t now = now_ms();
    size_t keep = 0;
    for (size_t i = 0; i < nrepeats; i++) {
        struct repeat *r = &repeats[i];
        if (force || now - r->start_ms >= window_ms) {
            summarize(r, now);
            continue; /* the window is over: the slot is free */
        }
        if (keep != i) repeats[keep] = *r;
        keep++;
    }
    nrepeats = keep;
    pthread_mutex_unlock(&lock);
}

/* 1 when the message is to be written (a new window begins), 0 when it is
 * counted in its template's window. The lock is held. */
static int admit(log_level_t l, const char *key, const char *msg)
{
    int64_t now = now_ms();
    struct repeat *r = NULL;
    for (size_t i = 0; i < nrepeats && !r; i++)
        if (repeats[i].level == l && strncmp(repeats[i].key, key, KEY_MAX - 1) == 0)
            r = &repeats[i];
    if (r && now - r->start_ms < window_ms) {
        r->suppressed++;
        snprintf(r->last, sizeof r->last, "%s", msg);
        return 0;
    }
    if (r) {
        summarize(r, now);
    } else {
        if (nrepeats == REPEAT_SLOTS) { /* the oldest window ends early */
            size_t old = 0;
            for (size_t i = 1; i < nrepeats; i++)
                if (repeats[i].start_ms < repeats[old].start_ms) old = i;
            summarize(&repeats[old], now);
            r = &repeats[old];
        } else {
            r = &repeats[nrepeats++];
        }
        snprintf(r->key, sizeof r->key, "%s", key);
        r->level = l;
        r->suppressed = 0;
    }
    r->start_ms = now;
    return 1;
}

static void vlog(log_level_t l, const char *key, int with_errno, const char *fmt, va_list ap)
{
    int saved = errno;
    char msg[MSG_MAX];
    pthread_mutex_lock(&lock);
    if (l < level) goto out;
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    if (with_errno && n >= 0 && (size_t)n < sizeof msg)
        snprintf(msg + n, sizeof msg - (size_t)n, ": %s", strerror(saved));
    if (l >= LOG_LVL_WARN && window_ms > 0 && !in_report && !admit(l, key ? key : fmt, msg))
        goto out;
    emit(l, msg, 0);
out:
    pthread_mutex_unlock(&lock);
    errno = saved;
}

void log_vmsg(log_level_t l, const char *key, const char *fmt, va_list ap)
{
    if ((int)l < LOG_LVL_DEBUG || l > LOG_LVL_ERROR) l = LOG_LVL_ERROR;
    vlog(l, key, 0, fmt, ap);
}

void log_msg(log_level_t l, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(l, key, fmt, ap);
    va_end(ap);
}

#define LOG_FN(fn, lvl, e)                                                                         \
    void fn(const char *fmt, ...)                                                                  \
    {                                                                                              \
        va_list ap;                                                                                \
        va_start(ap, fmt);                                                                         \
        vlog(lvl, NULL, e, fmt, ap);                                                               \
        va_end(ap);                                                                                \
    }

LOG_FN(log_debug, LOG_LVL_DEBUG, 0)
LOG_FN(log_info, LOG_LVL_INFO, 0)
LOG_FN(log_warn, LOG_LVL_WARN, 1)
LOG_FN(log_warnx, LOG_LVL_WARN, 0)
LOG_FN(log_errorx, LOG_LVL_ERROR, 0)
