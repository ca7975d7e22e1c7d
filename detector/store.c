/* store.c - the store object: argument checks, key layout and the
 * conversions shared by the Redis and memory implementations.
 *
 * Key layout (P = prefix, every key built by key_build below):
 *
 *   P{scope}:z                      the scope's windows, known sets and
 *                                   requests: one sorted set,
 *                                   "wNAME\x1fMEMBER" -> ts_us,
 *                                   "lNAME\x1fVALUE" -> latest ts_us,
 *                                   "fNAME\x1fVALUE" -> first ts_us,
 *                                   "qNAME\x1fID\x1fRECORD" -> the request's
 *                                   ts_us (see request_tail), each window,
 *                                   set and request name pruned by its keep
 *   P{scope}:d:NAME                 distinct: sorted set, member -> latest ts_us
 *   P{scope}:r:NAME:ID              record (the outbox): hash ts, event_id, the
 *                                   fields (a field named ts, event_id or #...
 *                                   gets a '#')
 *   P{scope}:c:RULE                 cooldown: string "TS_US EVENT_ID"
 *   P{scope}:block[:AUTHENTICATOR]  block: hash rule, reason, since, expires, action_id
 *   P{scope}:activity               activity list, newest first
 *
 * The scope is %XX-escaped (see store_key); what follows the tag is written
 * as it is. NAME and RULE come from the rule set, never from events, and
 * REQUEST_ID and AUTHENTICATOR (event text) come last in their keys, so no
 * two different pieces of state share a key. The block and activity keys
 * are part of contract/actions.md.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_impl.h"

/* TTLs are capped (a century) so that now + ttl never overflows in Redis. */
#define TTL_MAX_MS 3155760000000LL

void store_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0) return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int store_base_init(store_t *s, const struct store_ops *ops, const char *prefix)
{
    if (prefix == NULL) prefix = "sad:";
    s->ops = ops;
    s->prefix_len = strlen(prefix);
    s->prefix = malloc(s->prefix_len + 1);
    if (s->prefix == NULL) return -1;
    memcpy(s->prefix, prefix, s->prefix_len + 1);
    return 0;
}

void store_base_fini(store_t *s)
{
    free(s->prefix);
    s->prefix = NULL;
}

void store_free(store_t *s)
{
    if (s != NULL) s->ops->destroy(s);
}

int store_reconnect(store_t *s, char *err, size_t errlen)
{
    if (s == NULL) {
        store_err(err, errlen, "store: no store");
        return -1;
    }
    return s->ops->reconnect(s, err, errlen);
}

const char *store_prefix(const store_t *s)
{
    return s != NULL ? s->prefix : NULL;
}

/* --- Keys -------------------------------------------------------------
 *
 * Only the scope is escaped: a '}' in it would end the Redis Cluster hash
 * tag early (and a '{' or '%' would make two scopes one key). What follows
 * the tag is written as it is: braces there do not move the slot, and keys
 * are binary-safe, so "P{ID}:block:AUTHENTICATOR_ID" is the contract's key
 * for every authenticator id. */

static int needs_escape(unsigned char c)
{
    return c == '{' || c == '}' || c == '%' || c < 0x21 || c > 0x7e;
}

/* Appends the scope str escaped at out (when out is not NULL); returns its
 * length. */
static size_t escape(char *out, const char *str)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p;
    size_t n = 0;

    for (p = (const unsigned char *)str; *p != '\0'; p++) {
        if (needs_escape(*p)) {
            if (out != NULL) {
                out[n] = '%';
                out[n + 1] = hex[*p >> 4];
                out[n + 2] = hex[*p & 0x0f];
            }
            n += 3;
        } else {
            if (out != NULL) out[n] = (char)*p;
            n++;
        }
    }
    return n;
}

/* Writes "PREFIX{SCOPE}:" followed by the parts (a NULL-terminated list of
 * strings, concatenated) into out, or only measures when out is NULL.
 * Returns the length without the NUL. */
static size_t key_write(const store_t *s, char *out, const char *scope, va_list parts)
{
    const char *part;
    size_t n = s->prefix_len;

    if (out != NULL) memcpy(out, s->prefix, n);
    if (out != NULL) out[n] = '{';
    n++;
    n += escape(out != NULL ? out + n : NULL, scope);
    if (out != NULL) {
        out[n] = '}';
        out[n + 1] = ':';
    }
    n += 2;
    while ((part = va_arg(parts, const char *)) != NULL) {
        size_t l = strlen(part);
        if (out != NULL) memcpy(out + n, part, l);
        n += l;
    }
    if (out != NULL) out[n] = '\0';
    return n;
}

int store_key(const store_t *s, char *buf, size_t buflen, const char *scope, const char *suffix)
{
    size_t n;

    if (s == NULL || buf == NULL || scope == NULL || suffix == NULL) return -1;
    n = s->prefix_len + 3 + escape(NULL, scope) + strlen(suffix);
    if (n >= buflen || n > INT_MAX) return -1;
    n = s->prefix_len + 1;
    memcpy(buf, s->prefix, s->prefix_len);
    buf[s->prefix_len] = '{';
    n += escape(buf + n, scope);
    buf[n++] = '}';
    buf[n++] = ':';
    memcpy(buf + n, suffix, strlen(suffix));
    n += strlen(suffix);
    buf[n] = '\0';
    return (int)n;
}

/* A key on the stack when it fits, else on the heap. */
struct keybuf {
    char *key;
    char *heap;
    char stack[256];
};

/* Builds the key of scope and the parts that follow it (NULL-terminated);
 * the caller calls key_done. 0, or -1 with err when out of memory. */
static int key_build(struct keybuf *kb, const store_t *s, char *err, size_t errlen,
                     const char *scope, ...)
{
    va_list ap;
    size_t n;

    kb->heap = NULL;
    kb->key = kb->stack;
    va_start(ap, scope);
    n = key_write(s, NULL, scope, ap);
    va_end(ap);
    if (n >= sizeof kb->stack) {
        kb->heap = malloc(n + 1);
        if (kb->heap == NULL) {
            store_err(err, errlen, "store: out of memory");
            return -1;
        }
        kb->key = kb->heap;
    }
    va_start(ap, scope);
    key_write(s, kb->key, scope, ap);
    va_end(ap);
    return 0;
}

static void key_done(struct keybuf *kb)
{
    free(kb->heap);
    kb->heap = NULL;
}

/* --- Numbers and times ------------------------------------------------ */

int store_parse_i64(const char *s, size_t len, int64_t *out)
{
    char buf[64], *end;
    long long ll;
    double d;

    if (len == 0 || len >= sizeof buf) return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (isspace((unsigned char)buf[0])) return -1;
    errno = 0;
    ll = strtoll(buf, &end, 10);
    if (*end == '\0' && errno == 0) {
        *out = (int64_t)ll;
        return 0;
    }
    /* Redis writes large scores as "%.17g". */
    d = strtod(buf, &end);
    if (*end != '\0' || !(d > -9.2e18 && d < 9.2e18)) /* also refuses NaN */
        return -1;
    *out = (int64_t)(d < 0 ? d - 0.5 : d + 0.5);
    return 0;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;

    if ((a % b != 0) && ((a < 0) != (b < 0))) q--;
    return q;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = floor_div(y, 400);
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    int64_t era, doe, yoe, doy, mp;

    z += 719468;
    era = floor_div(z, 146097);
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

int store_time_format(int64_t us, char *buf, size_t buflen)
{
    int64_t secs = floor_div(us, 1000000), frac = us - secs * 1000000;
    int64_t days = floor_div(secs, 86400), sod = secs - days * 86400, y;
    int m, d, n;

    civil_from_days(days, &y, &m, &d);
    n = snprintf(buf, buflen, "%04lld-%02d-%02dT%02d:%02d:%02d", (long long)y, m, d,
                 (int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60));
    if (n < 0 || (size_t)n >= buflen) return -1;
    if (frac == 0)
        n += snprintf(buf + n, buflen - (size_t)n, "Z");
    else if (frac % 1000 == 0)
        n += snprintf(buf + n, buflen - (size_t)n, ".%03dZ", (int)(frac / 1000));
    else
        n += snprintf(buf + n, buflen - (size_t)n, ".%06dZ", (int)frac);
    return (size_t)n < buflen ? n : -1;
}

/* Reads exactly n digits at *p into *v. */
static int digits(const char **p, const char *end, int n, int *v)
{
    *v = 0;
    if (end - *p < n) return -1;
    while (n-- > 0) {
        if (!isdigit((unsigned char)**p)) return -1;
        *v = *v * 10 + (**p - '0');
        (*p)++;
    }
    return 0;
}

static int expect(const char **p, const char *end, char c)
{
    if (*p >= end || **p != c) return -1;
    (*p)++;
    return 0;
}

int store_time_parse(const char *s, size_t len, int64_t *us)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const char *p = s, *end = s + len;
    int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0, leap;
    int64_t frac = 0, scale = 100000;

    if (digits(&p, end, 4, &y) || expect(&p, end, '-') || digits(&p, end, 2, &mo) ||
        expect(&p, end, '-') || digits(&p, end, 2, &d))
        return -1;
    if (p >= end || (*p != 'T' && *p != 't')) return -1;
    p++;
    if (digits(&p, end, 2, &h) || expect(&p, end, ':') || digits(&p, end, 2, &mi) ||
        expect(&p, end, ':') || digits(&p, end, 2, &sec))
        return -1;
    if (p < end && *p == '.') {
        int nd = 0;

        for (p++; p < end && isdigit((unsigned char)*p); p++, nd++) {
            if (nd < 6) {
                frac += (*p - '0') * scale;
                scale /= 10;
            }
        }
        if (nd == 0 || nd > 9) return -1;
    }
    if (p < end && (*p == 'Z' || *p == 'z')) {
        p++;
    } else if (p < end && (*p == '+' || *p == '-')) {
        sign = *p++ == '+' ? 1 : -1;
        if (digits(&p, end, 2, &oh) || expect(&p, end, ':') || digits(&p, end, 2, &om) || oh > 23 ||
            om > 59)
            return -1;
    } else {
        return -1;
    }
    if (p != end) return -1;
    leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap) || h > 23 || mi > 59 ||
        sec > 59)
        return -1;
    *us = ((days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec) -
           (int64_t)sign * (oh * 3600 + om * 60)) *
              1000000 +
          frac;
    return 0;
}

/* --- Retention -------------------------------------------------------- */

/* The lowest score kept: ts - keep, saturating. */
static int64_t min_score(int64_t ts_us, int64_t keep_us)
{
    if (keep_us < 0) keep_us = 0;
    if (ts_us < INT64_MIN + keep_us) return INT64_MIN;
    return ts_us - keep_us;
}

/* Wall-clock TTL for garbage collection: keep plus one day, in ms. */
static int64_t gc_ttl_ms(int64_t keep_us)
{
    int64_t ms = keep_us > 0 ? keep_us / 1000 : 0;

    if (ms > TTL_MAX_MS - STORE_TTL_SLACK_MS) ms = TTL_MAX_MS - STORE_TTL_SLACK_MS;
    return ms + STORE_TTL_SLACK_MS;
}

static int missing(const char *what, char *err, size_t errlen)
{
    store_err(err, errlen, "store: %s: missing argument", what);
    return -1;
}

/* --- Windows, distinct counts, known sets ----------------------------- */

size_t store_zprefix(const char *member, int flags, size_t *rlen)
{
    const char *sep = (flags & ZADD_PREFIX) ? strchr(member, STORE_SEP) : NULL;
    const char *rsep = sep != NULL && (flags & ZADD_REPLACE) ? strchr(sep + 1, STORE_SEP) : NULL;

    if (rlen != NULL) *rlen = rsep != NULL ? (size_t)(rsep - member) + 1 : 0;
    return sep != NULL ? (size_t)(sep - member) + 1 : 0;
}

/* A member of the scope's sorted set "P{scope}:z": TAG NAME STORE_SEP MEMBER
 * (tag 'w' for a window, 'l' and 'f' for a known set's latest and first
 * times), on the stack when it fits. */
struct zmember {
    char *m;
    char *heap;
    size_t plen; /* the prefix: TAG NAME STORE_SEP */
    char stack[256];
};

static int zmember_build(struct zmember *zm, char tag, const char *name, const char *member,
                         char *err, size_t errlen)
{
    size_t nl = strlen(name), ml = member != NULL ? strlen(member) : 0;

    zm->heap = NULL;
    zm->m = zm->stack;
    if (memchr(name, STORE_SEP, nl) != NULL) {
        store_err(err, errlen, "store: a name may not hold the byte 0x1f");
        return -1;
    }
    if (nl + ml + 3 > sizeof zm->stack) {
        if ((zm->heap = malloc(nl + ml + 3)) == NULL) {
            store_err(err, errlen, "store: out of memory");
            return -1;
        }
        zm->m = zm->heap;
    }
    zm->m[0] = tag;
    memcpy(zm->m + 1, name, nl);
    zm->m[nl + 1] = STORE_SEP;
    zm->plen = nl + 2;
    if (ml > 0) memcpy(zm->m + zm->plen, member, ml);
    zm->m[zm->plen + ml] = '\0';
    return 0;
}

static void zmember_done(struct zmember *zm)
{
    free(zm->heap);
    zm->heap = NULL;
}

/* A member of the scope's sorted set (with member NULL: the prefix of a
 * name's members) and the key "P{scope}:z", built together. */
struct zref {
    struct keybuf kb;
    struct zmember zm;
};

static int zref_build(struct zref *r, store_t *s, char tag, const char *scope, const char *name,
                      const char *member, char *err, size_t errlen)
{
    if (zmember_build(&r->zm, tag, name, member, err, errlen) < 0) return -1;
    if (key_build(&r->kb, s, err, errlen, scope, "z", (const char *)NULL) < 0) {
        zmember_done(&r->zm);
        return -1;
    }
    return 0;
}

static void zref_done(struct zref *r)
{
    key_done(&r->kb);
    zmember_done(&r->zm);
}

/* Adds TAG NAME SEP member to the scope's sorted set (see zmember). */
static int zadd_in(store_t *s, char tag, const char *scope, const char *name, const char *member,
                   int64_t ts_us, int64_t keep_us, int flags, char *err, size_t errlen)
{
    struct zref z;
    int rc;

    if (s == NULL || scope == NULL || name == NULL || member == NULL)
        return missing("add", err, errlen);
    if (zref_build(&z, s, tag, scope, name, member, err, errlen) < 0) return -1;
    rc = s->ops->zadd(s, z.kb.key, z.zm.m, ts_us, flags | ZADD_PREFIX, min_score(ts_us, keep_us),
                      gc_ttl_ms(keep_us), err, errlen);
    zref_done(&z);
    return rc;
}

/* Distinct counts keep a key each: "P{scope}:d:NAME". */
static int dkey_build(struct keybuf *kb, store_t *s, const char *scope, const char *name, char *err,
                      size_t errlen)
{
    return key_build(kb, s, err, errlen, scope, "d:", name, (const char *)NULL);
}

int store_window_add(store_t *s, const char *scope, const char *name, const char *member,
                     int64_t ts_us, int64_t keep_us, char *err, size_t errlen)
{
    return zadd_in(s, 'w', scope, name, member, ts_us, keep_us, ZADD_FIXED, err, errlen);
}

int store_window_add_shared(store_t *s, const char *scope, const char *name, const char *member,
                            int64_t ts_us, int64_t keep_us, char *err, size_t errlen)
{
    /* not ZADD_FIXED: daemons of other partitions add to it at the same
     * time, and only the script's line is the same whatever their order */
    return zadd_in(s, 'w', scope, name, member, ts_us, keep_us, ZADD_FROM_MAX, err, errlen);
}

int store_window_count(store_t *s, const char *scope, const char *name, int64_t lo_us,
                       int64_t hi_us, long *count, char *err, size_t errlen)
{
    struct zref z;
    int rc;

    if (s == NULL || scope == NULL || name == NULL || count == NULL)
        return missing("count", err, errlen);
    *count = 0;
    if (lo_us >= hi_us) return 0;
    if (zref_build(&z, s, 'w', scope, name, NULL, err, errlen) < 0) return -1;
    rc = s->ops->zcount(s, z.kb.key, z.zm.m, lo_us, hi_us, count, err, errlen);
    zref_done(&z);
    return rc;
}

int store_window_members(store_t *s, const char *scope, const char *name, int64_t lo_us,
                         int64_t hi_us, size_t max, char ***members, size_t *n, char *err,
                         size_t errlen)
{
    struct zref z;
    int rc;

    if (s == NULL || scope == NULL || name == NULL || members == NULL || n == NULL)
        return missing("window_members", err, errlen);
    *members = NULL;
    *n = 0;
    if (max == 0 || lo_us >= hi_us) return 0;
    if (zref_build(&z, s, 'w', scope, name, NULL, err, errlen) < 0) return -1;
    rc = s->ops->zrange(s, z.kb.key, z.zm.m, lo_us, hi_us, max, members, n, err, errlen);
    /* the members without their prefix */
    for (size_t i = 0; rc == 0 && i < *n; i++) {
        char *m = (*members)[i];
        size_t len = strlen(m);

        if (len >= z.zm.plen) memmove(m, m + z.zm.plen, len - z.zm.plen + 1);
    }
    zref_done(&z);
    return rc;
}

int store_distinct_add(store_t *s, const char *scope, const char *name, const char *member,
                       int64_t ts_us, int64_t keep_us, char *err, size_t errlen)
{
    struct keybuf kb;
    int rc;

    if (s == NULL || scope == NULL || name == NULL || member == NULL)
        return missing("add", err, errlen);
    if (dkey_build(&kb, s, scope, name, err, errlen) < 0) return -1;
    rc = s->ops->zadd(s, kb.key, member, ts_us, ZADD_GT | ZADD_FROM_MAX, min_score(ts_us, keep_us),
                      gc_ttl_ms(keep_us), err, errlen);
    key_done(&kb);
    return rc;
}

int store_distinct_count(store_t *s, const char *scope, const char *name, int64_t lo_us,
                         int64_t hi_us, long *count, char *err, size_t errlen)
{
    struct keybuf kb;
    int rc;

    if (s == NULL || scope == NULL || name == NULL || count == NULL)
        return missing("count", err, errlen);
    *count = 0;
    if (lo_us >= hi_us) return 0;
    if (dkey_build(&kb, s, scope, name, err, errlen) < 0) return -1;
    rc = s->ops->zcount(s, kb.key, NULL, lo_us, hi_us, count, err, errlen);
    key_done(&kb);
    return rc;
}

/* A known set lives in the scope's sorted set as "lNAME SEP VALUE", scored
 * with the latest time VALUE was learned, and "fNAME SEP VALUE" with the
 * first, each pruned by its own time as a window is. */
int store_set_add(store_t *s, const char *scope, const char *name, const char *member,
                  int64_t ts_us, int64_t keep_us, char *err, size_t errlen)
{
    if (zadd_in(s, 'l', scope, name, member, ts_us, keep_us, ZADD_GT, err, errlen) < 0) return -1;
    return zadd_in(s, 'f', scope, name, member, ts_us, keep_us, 0, err, errlen);
}

static int zscore_in(store_t *s, char tag, const char *scope, const char *name, const char *member,
                     int *found, int64_t *ts_us, char *err, size_t errlen)
{
    struct zref z;
    int64_t ts = 0;
    int rc;

    if (s == NULL || scope == NULL || name == NULL || member == NULL || found == NULL)
        return missing("score", err, errlen);
    *found = 0;
    if (zref_build(&z, s, tag, scope, name, member, err, errlen) < 0) return -1;
    rc = s->ops->zscore(s, z.kb.key, z.zm.m, found, &ts, err, errlen);
    zref_done(&z);
    if (ts_us != NULL) *ts_us = *found ? ts : 0;
    return rc;
}

int store_set_get(store_t *s, const char *scope, const char *name, const char *member, int *found,
                  int64_t *ts_us, char *err, size_t errlen)
{
    return zscore_in(s, 'l', scope, name, member, found, ts_us, err, errlen);
}

int store_set_first(store_t *s, const char *scope, const char *name, const char *member, int *found,
                    int64_t *ts_us, char *err, size_t errlen)
{
    return zscore_in(s, 'f', scope, name, member, found, ts_us, err, errlen);
}

int store_window_score(store_t *s, const char *scope, const char *name, const char *member,
                       int *found, int64_t *ts_us, char *err, size_t errlen)
{
    return zscore_in(s, 'w', scope, name, member, found, ts_us, err, errlen);
}

/* --- Requests ----------------------------------------------------------- */

void store_request_clear(store_request_t *r)
{
    size_t i;

    if (r == NULL) return;
    for (i = 0; i < r->nfields && i < STORE_REQ_MAX_FIELDS; i++) {
        free(r->name[i]);
        free(r->value[i]);
    }
    memset(r, 0, sizeof *r);
}

/* Request fields live next to the hash's own "ts" and "event_id". A field
 * of the request with one of those names (an event's "ts" text is a
 * legitimate request field), or starting with '#', is stored with a '#'
 * in front, and loses it when read back. */
static int field_needs_mark(const char *name, size_t len)
{
    return (len == 2 && memcmp(name, "ts", 2) == 0) ||
           (len == 8 && memcmp(name, "event_id", 8) == 0) || (len > 0 && name[0] == '#');
}

/* The checks of a put. 0 or -1. */
static int put_check(const char *what, const store_t *s, const char *scope, const char *name,
                     const char *id, const store_request_t *req, char *err, size_t errlen)
{
    if (s == NULL || scope == NULL || name == NULL || id == NULL || req == NULL)
        return missing(what, err, errlen);
    if (req->nfields > STORE_REQ_MAX_FIELDS) {
        store_err(err, errlen, "store: a request has at most %d fields", STORE_REQ_MAX_FIELDS);
        return -1;
    }
    if (memchr(req->event_id, '\0', sizeof req->event_id) == NULL) {
        store_err(err, errlen, "store: request event_id is not terminated");
        return -1;
    }
    return 0;
}

int store_record_put(store_t *s, const char *scope, const char *name, const char *request_id,
                     const store_request_t *req, int64_t keep_us, char *err, size_t errlen)
{
    struct store_field f[STORE_REQ_MAX_FIELDS + 2];
    char *marked[STORE_REQ_MAX_FIELDS] = {NULL};
    struct keybuf kb;
    char ts[24];
    size_t i, len;
    int rc = -1;

    if (put_check("record_put", s, scope, name, request_id, req, err, errlen) < 0) return -1;
    snprintf(ts, sizeof ts, "%lld", (long long)req->ts_us);
    f[0].name = "ts";
    f[0].value = ts;
    f[1].name = "event_id";
    f[1].value = req->event_id;
    for (i = 0; i < req->nfields; i++) {
        if (req->name[i] == NULL || req->value[i] == NULL) {
            missing("request_put field", err, errlen);
            goto done;
        }
        f[i + 2].name = req->name[i];
        f[i + 2].value = req->value[i];
        len = strlen(req->name[i]);
        if (field_needs_mark(req->name[i], len)) {
            marked[i] = malloc(len + 2);
            if (marked[i] == NULL) {
                store_err(err, errlen, "store: out of memory");
                goto done;
            }
            marked[i][0] = '#';
            memcpy(marked[i] + 1, req->name[i], len + 1);
            f[i + 2].name = marked[i];
        }
    }
    if (key_build(&kb, s, err, errlen, scope, "r:", name, ":", request_id, (const char *)NULL) < 0)
        goto done;
    rc = s->ops->hreplace(s, kb.key, f, req->nfields + 2, gc_ttl_ms(keep_us), 0, err, errlen);
    key_done(&kb);
done:
    for (i = 0; i < req->nfields; i++)
        free(marked[i]);
    return rc;
}

static char *dupn(const char *p, size_t n)
{
    char *d = malloc(n + 1);

    if (d != NULL) {
        memcpy(d, p, n);
        d[n] = '\0';
    }
    return d;
}

static void copy_field(char *dst, size_t dstlen, const char *src, size_t n)
{
    if (n >= dstlen) n = dstlen - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

struct request_fill {
    store_request_t *req;
    int seen;
};

static int request_field(void *arg, const char *name, size_t nlen, const char *value, size_t vlen)
{
    struct request_fill *rf = arg;
    store_request_t *req = rf->req;
    int64_t v;

    rf->seen = 1;
    if (nlen == 2 && memcmp(name, "ts", 2) == 0) {
        if (store_parse_i64(value, vlen, &v) == 0) req->ts_us = v;
    } else if (nlen == 8 && memcmp(name, "event_id", 8) == 0) {
        copy_field(req->event_id, sizeof req->event_id, value, vlen);
    } else if (req->nfields < STORE_REQ_MAX_FIELDS) {
        if (nlen > 0 && name[0] == '#') {
            name++;
            nlen--;
        }
        req->name[req->nfields] = dupn(name, nlen);
        req->value[req->nfields] = dupn(value, vlen);
        req->nfields++;
        if (req->name[req->nfields - 1] == NULL || req->value[req->nfields - 1] == NULL) return -1;
    }
    return 0;
}

/* Hash field order differs between the stores (and between Redis
 * encodings), so fields come back sorted by name. */
static void request_sort(store_request_t *req)
{
    size_t i, j;

    for (i = 1; i < req->nfields; i++) {
        char *n = req->name[i], *v = req->value[i];

        for (j = i; j > 0 && strcmp(req->name[j - 1], n) > 0; j--) {
            req->name[j] = req->name[j - 1];
            req->value[j] = req->value[j - 1];
        }
        req->name[j] = n;
        req->value[j] = v;
    }
}

/* The checks and the first answer ("not found") of a get. 0 or -1. */
static int get_begin(const char *what, store_t *s, const char *scope, const char *name,
                     const char *id, int *found, store_request_t *req, char *err, size_t errlen)
{
    if (s == NULL || scope == NULL || name == NULL || id == NULL || found == NULL || req == NULL)
        return missing(what, err, errlen);
    *found = 0;
    memset(req, 0, sizeof *req);
    return 0;
}

int store_record_get(store_t *s, const char *scope, const char *name, const char *request_id,
                     int *found, store_request_t *req, char *err, size_t errlen)
{
    struct request_fill rf;
    struct keybuf kb;
    int rc;

    if (get_begin("record_get", s, scope, name, request_id, found, req, err, errlen) < 0) return -1;
    if (key_build(&kb, s, err, errlen, scope, "r:", name, ":", request_id, (const char *)NULL) < 0)
        return -1;
    rf.req = req;
    rf.seen = 0;
    rc = s->ops->hgetall(s, kb.key, request_field, &rf, err, errlen);
    key_done(&kb);
    if (rc < 0 || !rf.seen) {
        store_request_clear(req);
        return rc;
    }
    request_sort(req);
    *found = 1;
    return 0;
}

/* --- Requests: members of the scope's sorted set ----------------------
 *
 * A request is a member "qNAME SEP ID SEP RECORD" of P{scope}:z scored with
 * its time (request_tail), RECORD " LEN:EVENT_ID LEN:NAME LEN:VALUE ..."
 * (lengths in bytes, in decimal; the names sorted as store_request_get
 * returns them). In the key of the scope's windows and sets instead of one
 * of its own: a Redis key costs about 100 bytes before its value.
 *
 * Pruned by event time as shared windows are (ZADD_FROM_MAX): the newest
 * request of the name (stored or being put) draws the line at its time -
 * keep; requests below it are deleted and a request below it is not added.
 * So the requests kept depend only on the requests put, not on their order
 * (a redelivery, two daemons during a rebalance), and a put is one script
 * in Redis that adds and prunes members (ZADD_REPLACE drops the id's
 * earlier record): a daemon that lags cannot undo another's add. */

/* Appends " LEN:" and the LEN bytes of p at *w. */
static char *put_len(char *w, const char *p, size_t n)
{
    w += sprintf(w, " %zu:", n);
    memcpy(w, p, n);
    return w + n;
}

/* The record of req (malloc'd), " LEN:EVENT_ID" then " LEN:NAME LEN:VALUE"
 * per field (its time is the member's score), or NULL when out of memory.
 * Sized first and written in one allocation: this runs for every request an
 * event starts. */
static char *request_encode(const store_request_t *req)
{
    size_t nlen[STORE_REQ_MAX_FIELDS], vlen[STORE_REQ_MAX_FIELDS], i;
    size_t elen = strlen(req->event_id);
    /* Per piece, " " + a size_t + ":" at most. */
    size_t size = 22 + elen + 1;

    for (i = 0; i < req->nfields; i++) {
        nlen[i] = strlen(req->name[i]);
        vlen[i] = strlen(req->value[i]);
        size += 44 + nlen[i] + vlen[i];
    }
    char *buf = malloc(size), *w = buf;
    if (buf == NULL) return NULL;
    w = put_len(w, req->event_id, elen);
    for (i = 0; i < req->nfields; i++) {
        w = put_len(w, req->name[i], nlen[i]);
        w = put_len(w, req->value[i], vlen[i]);
    }
    *w = '\0';
    return buf;
}

/* Reads " LEN:" at *p (before end); the LEN bytes follow. 0, or -1 when
 * the record is malformed. */
static int get_len(const char **p, const char *end, size_t *n)
{
    const char *q = *p;
    size_t v = 0;

    if (q >= end || *q++ != ' ' || q >= end || *q < '0' || *q > '9') return -1;
    while (q < end && *q >= '0' && *q <= '9') {
        if (v > (SIZE_MAX - 9) / 10) return -1;
        v = v * 10 + (size_t)(*q++ - '0');
    }
    if (q >= end || *q++ != ':' || v > (size_t)(end - q)) return -1;
    *p = q;
    *n = v;
    return 0;
}

/* Fills req from a record and its time (names and values from malloc). 0;
 * -1 when out of memory; -2 when the record is malformed (req cleared). */
static int request_decode(const char *v, size_t vlen, int64_t ts_us, store_request_t *req)
{
    const char *p = v, *end = v + vlen;
    size_t n;

    memset(req, 0, sizeof *req);
    req->ts_us = ts_us;
    if (get_len(&p, end, &n) < 0) return -2;
    copy_field(req->event_id, sizeof req->event_id, p, n);
    p += n;
    while (p < end) {
        size_t nn, vn;
        const char *name, *value;

        if (req->nfields == STORE_REQ_MAX_FIELDS || get_len(&p, end, &nn) < 0) goto bad;
        name = p;
        p += nn;
        if (get_len(&p, end, &vn) < 0) goto bad;
        value = p;
        p += vn;
        req->name[req->nfields] = dupn(name, nn);
        req->value[req->nfields] = dupn(value, vn);
        req->nfields++;
        if (req->name[req->nfields - 1] == NULL || req->value[req->nfields - 1] == NULL) {
            store_request_clear(req);
            return -1;
        }
    }
    return 0;
bad:
    store_request_clear(req);
    return -2;
}

/* A request is a member of the scope's sorted set, scored with its time:
 * "qNAME SEP ID SEP RECORD" (request_encode), where ID is the request id
 * with '%' and SEP written as %XX, so that it ends at the second SEP and
 * no id's member begins with another's. This returns "ID SEP RECORD"
 * (malloc'd; rec "" for the prefix of the id's members) with the length of
 * "ID SEP" in *idlen, or NULL when out of memory. */
static char *request_tail(const char *request_id, const char *rec, size_t *idlen)
{
    size_t il = strlen(request_id), rl = strlen(rec), esc = 0;
    const char *p;
    char *t, *w;

    for (p = request_id; *p; p++)
        esc += *p == '%' || *p == STORE_SEP;
    if ((t = malloc(il + 2 * esc + rl + 2)) == NULL) return NULL;
    w = t;
    for (p = request_id; *p; p++) {
        if (*p == '%' || *p == STORE_SEP) {
            w += sprintf(w, "%%%02X", (unsigned char)*p);
        } else {
            *w++ = *p;
        }
    }
    *w++ = STORE_SEP;
    *idlen = (size_t)(w - t);
    memcpy(w, rec, rl + 1);
    return t;
}

int store_request_put(store_t *s, const char *scope, const char *name, const char *request_id,
                      const store_request_t *req, int64_t keep_us, char *err, size_t errlen)
{
    store_request_t sorted;
    struct zref z;
    char *rec, *tail;
    size_t idl, i;
    int rc;

    if (put_check("request_put", s, scope, name, request_id, req, err, errlen) < 0) return -1;
    for (i = 0; i < req->nfields; i++)
        if (req->name[i] == NULL || req->value[i] == NULL)
            return missing("request_put field", err, errlen);
    /* Stored with its fields in the order a get returns them. */
    sorted = *req;
    request_sort(&sorted);
    rec = request_encode(&sorted);
    tail = rec != NULL ? request_tail(request_id, rec, &idl) : NULL;
    free(rec);
    if (tail == NULL) {
        store_err(err, errlen, "store: out of memory");
        return -1;
    }
    rc = zref_build(&z, s, 'q', scope, name, tail, err, errlen);
    free(tail);
    if (rc < 0) return -1;
    /* Pruned from the newest request of the name, the same id replaced. */
    rc = s->ops->zadd(s, z.kb.key, z.zm.m, req->ts_us,
                      ZADD_PREFIX | ZADD_FROM_MAX | ZADD_REPLACE | ZADD_FIXED,
                      min_score(req->ts_us, keep_us), gc_ttl_ms(keep_us), err, errlen);
    zref_done(&z);
    return rc;
}

int store_request_get(store_t *s, const char *scope, const char *name, const char *request_id,
                      int *found, store_request_t *req, char *err, size_t errlen)
{
    struct zref z;
    char **members = NULL, *tail;
    size_t n = 0, idp;
    int64_t ts = 0;
    int rc, sfound = 0;

    if (get_begin("request_get", s, scope, name, request_id, found, req, err, errlen) < 0)
        return -1;
    if ((tail = request_tail(request_id, "", &idp)) == NULL) {
        store_err(err, errlen, "store: out of memory");
        return -1;
    }
    rc = zref_build(&z, s, 'q', scope, name, tail, err, errlen);
    free(tail);
    if (rc < 0) return -1;
    idp += z.zm.plen; /* the prefix "qNAME SEP ID SEP" */
    rc = s->ops->zrange(s, z.kb.key, z.zm.m, INT64_MIN, INT64_MAX, 1, &members, &n, err, errlen);
    if (rc == 0 && n == 1) rc = s->ops->zscore(s, z.kb.key, members[0], &sfound, &ts, err, errlen);
    if (rc == 0 && sfound) {
        int d = request_decode(members[0] + idp, strlen(members[0]) - idp, ts, req);

        if (d == -1) {
            store_err(err, errlen, "store: out of memory");
            rc = -1;
        }
        *found = d == 0; /* a malformed record: as if absent */
    }
    zref_done(&z);
    for (size_t i = 0; i < n; i++)
        free(members[i]);
    free(members);
    return rc;
}

/* --- Cooldowns and resets ------------------------------------------------ */

int store_cooldown_get(store_t *s, const char *scope, const char *rule, int *found, int64_t *ts_us,
                       char *event_id, char *err, size_t errlen)
{
    char buf[32 + STORE_ID_MAX], *sp;
    struct keybuf kb;
    int64_t ts;
    int rc, f = 0;

    if (s == NULL || scope == NULL || rule == NULL || found == NULL)
        return missing("cooldown_get", err, errlen);
    *found = 0;
    if (key_build(&kb, s, err, errlen, scope, "c:", rule, (const char *)NULL) < 0) return -1;
    rc = s->ops->get(s, kb.key, &f, buf, sizeof buf, err, errlen);
    key_done(&kb);
    if (rc < 0 || !f) return rc;
    sp = strchr(buf, ' ');
    if (sp == NULL || store_parse_i64(buf, (size_t)(sp - buf), &ts) < 0) {
        store_err(err, errlen, "store: bad cooldown value \"%.40s\"", buf);
        return -1;
    }
    *found = 1;
    if (ts_us != NULL) *ts_us = ts;
    if (event_id != NULL) copy_field(event_id, STORE_ID_MAX, sp + 1, strlen(sp + 1));
    return 0;
}

int store_cooldown_set(store_t *s, const char *scope, const char *rule, int64_t ts_us,
                       const char *event_id, int64_t keep_us, char *err, size_t errlen)
{
    char buf[32 + STORE_ID_MAX];
    struct keybuf kb;
    int rc;

    if (s == NULL || scope == NULL || rule == NULL) return missing("cooldown_set", err, errlen);
    if (event_id == NULL) event_id = "";
    if (strlen(event_id) >= STORE_ID_MAX) {
        store_err(err, errlen, "store: event_id longer than %d bytes", STORE_ID_MAX - 1);
        return -1;
    }
    snprintf(buf, sizeof buf, "%lld %s", (long long)ts_us, event_id);
    if (key_build(&kb, s, err, errlen, scope, "c:", rule, (const char *)NULL) < 0) return -1;
    rc = s->ops->set(s, kb.key, buf, gc_ttl_ms(keep_us), err, errlen);
    key_done(&kb);
    return rc;
}

/* --- Blocks ------------------------------------------------------------ */

static int block_key(struct keybuf *kb, store_t *s, const char *scope, const char *authenticator_id,
                     char *err, size_t errlen)
{
    if (authenticator_id == NULL)
        return key_build(kb, s, err, errlen, scope, "block", (const char *)NULL);
    return key_build(kb, s, err, errlen, scope, "block:", authenticator_id, (const char *)NULL);
}

#define TERMINATED(a) (memchr((a), '\0', sizeof(a)) != NULL)

int store_block_set(store_t *s, const char *scope, const char *authenticator_id,
                    const store_block_t *b, char *err, size_t errlen)
{
    struct store_field f[5];
    char since[40], expires[40] = "";
    int64_t at_ms = 0;
    struct keybuf kb;
    int rc;

    if (s == NULL || scope == NULL || b == NULL) return missing("block_set", err, errlen);
    if (!TERMINATED(b->rule) || !TERMINATED(b->reason) || !TERMINATED(b->action_id)) {
        store_err(err, errlen, "store: block field not terminated");
        return -1;
    }
    store_time_format(b->since_us, since, sizeof since);
    if (b->expires_us != 0) {
        store_time_format(b->expires_us, expires, sizeof expires);
        at_ms = b->expires_us / 1000;
        if (at_ms < 1) at_ms = 1; /* in the past: Redis drops the key at once */
    }
    f[0].name = "rule";
    f[0].value = b->rule;
    f[1].name = "reason";
    f[1].value = b->reason;
    f[2].name = "since";
    f[2].value = since;
    f[3].name = "expires";
    f[3].value = expires;
    f[4].name = "action_id";
    f[4].value = b->action_id;
    if (block_key(&kb, s, scope, authenticator_id, err, errlen) < 0) return -1;
    rc = s->ops->hreplace(s, kb.key, f, 5, 0, at_ms, err, errlen);
    key_done(&kb);
    return rc;
}

struct block_fill {
    store_block_t *b;
    int seen;
};

static int block_field(void *arg, const char *name, size_t nlen, const char *value, size_t vlen)
{
    struct block_fill *bf = arg;
    store_block_t *b = bf->b;
    int64_t t;

    bf->seen = 1;
    if (nlen == 4 && memcmp(name, "rule", 4) == 0) {
        copy_field(b->rule, sizeof b->rule, value, vlen);
    } else if (nlen == 6 && memcmp(name, "reason", 6) == 0) {
        copy_field(b->reason, sizeof b->reason, value, vlen);
    } else if (nlen == 9 && memcmp(name, "action_id", 9) == 0) {
        copy_field(b->action_id, sizeof b->action_id, value, vlen);
    } else if (nlen == 5 && memcmp(name, "since", 5) == 0) {
        if (store_time_parse(value, vlen, &t) == 0) b->since_us = t;
    } else if (nlen == 7 && memcmp(name, "expires", 7) == 0) {
        if (vlen > 0 && store_time_parse(value, vlen, &t) == 0) b->expires_us = t;
    }
    return 0;
}

int store_block_get(store_t *s, const char *scope, const char *authenticator_id, int *found,
                    store_block_t *out, char *err, size_t errlen)
{
    struct block_fill bf;
    struct keybuf kb;
    int rc;

    if (s == NULL || scope == NULL || found == NULL || out == NULL)
        return missing("block_get", err, errlen);
    *found = 0;
    memset(out, 0, sizeof *out);
    if (block_key(&kb, s, scope, authenticator_id, err, errlen) < 0) return -1;
    bf.b = out;
    bf.seen = 0;
    rc = s->ops->hgetall(s, kb.key, block_field, &bf, err, errlen);
    key_done(&kb);
    if (rc < 0) {
        memset(out, 0, sizeof *out);
        return -1;
    }
    *found = bf.seen;
    return 0;
}

int store_block_clear(store_t *s, const char *scope, const char *authenticator_id, char *err,
                      size_t errlen)
{
    struct keybuf kb;
    int rc;

    if (s == NULL || scope == NULL) return missing("block_clear", err, errlen);
    if (block_key(&kb, s, scope, authenticator_id, err, errlen) < 0) return -1;
    rc = s->ops->del(s, kb.key, err, errlen);
    key_done(&kb);
    return rc;
}

/* --- Activity list and breaker -------------------------------------------- */

int store_activity_push(store_t *s, const char *scope, const char *entry, size_t cap, char *err,
                        size_t errlen)
{
    struct keybuf kb;
    int rc;

    if (s == NULL || scope == NULL || entry == NULL) return missing("activity_push", err, errlen);
    if (key_build(&kb, s, err, errlen, scope, "activity", (const char *)NULL) < 0) return -1;
    rc = s->ops->lpush_unique(s, kb.key, entry, cap, err, errlen);
    key_done(&kb);
    return rc;
}

int store_activity_get(store_t *s, const char *scope, size_t max, char ***entries, size_t *n,
                       char *err, size_t errlen)
{
    struct keybuf kb;
    int rc;

    if (s == NULL || scope == NULL || entries == NULL || n == NULL)
        return missing("activity_get", err, errlen);
    *entries = NULL;
    *n = 0;
    if (max == 0) return 0;
    if (key_build(&kb, s, err, errlen, scope, "activity", (const char *)NULL) < 0) return -1;
    rc = s->ops->lrange(s, kb.key, max, entries, n, err, errlen);
    key_done(&kb);
    return rc;
}

int store_flush(store_t *s, char *err, size_t errlen)
{
    return s->ops->flush(s, err, errlen);
}

int store_send(store_t *s, char *err, size_t errlen)
{
    return s->ops->send != NULL ? s->ops->send(s, err, errlen) : 0;
}

/* --- The state marker ------------------------------------------------------ */

/* "P{detector}:marker", a hash without TTL: field "since" (RFC 3339, when
 * the state began) and "by". Its absence in a store the daemon has used
 * means the store lost its data. */
#define MARKER_SCOPE "detector"

struct marker_fields {
    int found;
    char since[40];
    char layout[16];
};

static int marker_field(void *arg, const char *name, size_t nlen, const char *value, size_t vlen)
{
    struct marker_fields *m = arg;

    m->found = 1;
    if (nlen == 5 && memcmp(name, "since", 5) == 0)
        copy_field(m->since, sizeof m->since, value, vlen);
    else if (nlen == 6 && memcmp(name, "layout", 6) == 0)
        copy_field(m->layout, sizeof m->layout, value, vlen);
    return 0;
}

int store_marker_layout(store_t *s, int *found, int *layout, char *err, size_t errlen)
{
    struct marker_fields m = {0};
    struct keybuf kb;
    int64_t v;
    int rc;

    if (s == NULL || found == NULL || layout == NULL) return missing("marker_layout", err, errlen);
    *found = 0;
    *layout = 0;
    if (key_build(&kb, s, err, errlen, MARKER_SCOPE, "marker", (const char *)NULL) < 0) return -1;
    rc = s->ops->hgetall(s, kb.key, marker_field, &m, err, errlen);
    key_done(&kb);
    if (rc < 0) return -1;
    *found = m.found;
    if (m.found)
        *layout = m.layout[0] == '\0' ? 1
                  : store_parse_i64(m.layout, strlen(m.layout), &v) == 0 && v > 0 && v < 1000
                      ? (int)v
                      : 0;
    return 0;
}

int store_marker_get(store_t *s, int *found, char *since, size_t sincelen, char *err, size_t errlen)
{
    struct marker_fields m = {0};
    struct keybuf kb;
    int rc;

    if (s == NULL || found == NULL) return missing("marker_get", err, errlen);
    *found = 0;
    if (key_build(&kb, s, err, errlen, MARKER_SCOPE, "marker", (const char *)NULL) < 0) return -1;
    rc = s->ops->hgetall(s, kb.key, marker_field, &m, err, errlen);
    key_done(&kb);
    if (rc < 0) return -1;
    *found = m.found;
    if (since != NULL && sincelen > 0) copy_field(since, sincelen, m.since, strlen(m.since));
    return 0;
}

int store_marker_set(store_t *s, int64_t since_us, const char *by, char *err, size_t errlen)
{
    struct store_field f[3];
    char since[40], layout[16];
    struct keybuf kb;
    int rc;

    if (s == NULL) return missing("marker_set", err, errlen);
    store_time_format(since_us, since, sizeof since);
    snprintf(layout, sizeof layout, "%d", STORE_LAYOUT);
    f[0].name = "since";
    f[0].value = since;
    f[1].name = "by";
    f[1].value = by != NULL ? by : "";
    f[2].name = "layout";
    f[2].value = layout;
    if (key_build(&kb, s, err, errlen, MARKER_SCOPE, "marker", (const char *)NULL) < 0) return -1;
    rc = s->ops->hreplace(s, kb.key, f, 3, 0, 0, err, errlen);
    key_done(&kb);
    if (rc == 0) rc = s->ops->flush(s, err, errlen);
    return rc;
}

/* --- Processed offsets ------------------------------------------------------ */

/* "P{detector}:offset:GROUP:TOPIC:PARTITION": the greatest offset of the
 * partition whose effects are written, written right after them in the
 * batch's commit. A message at or below it was decided already. */
#define OFFSET_KEEP_US (30 * 86400000000LL)

int store_offset_get(store_t *s, const char *group, const char *topic, int partition,
                     int64_t *offset, char *err, size_t errlen)
{
    char part[16], buf[32];
    struct keybuf kb;
    int rc, f = 0;

    if (s == NULL || group == NULL || topic == NULL || offset == NULL)
        return missing("offset_get", err, errlen);
    *offset = -1;
    snprintf(part, sizeof part, "%d", partition);
    if (key_build(&kb, s, err, errlen, MARKER_SCOPE, "offset:", group, ":", topic, ":", part,
                  (const char *)NULL) < 0)
        return -1;
    rc = s->ops->get(s, kb.key, &f, buf, sizeof buf, err, errlen);
    key_done(&kb);
    if (rc < 0 || !f) return rc;
    if (store_parse_i64(buf, strlen(buf), offset) < 0) {
        store_err(err, errlen, "store: bad offset \"%.20s\"", buf);
        return -1;
    }
    return 0;
}

int store_offset_set(store_t *s, const char *group, const char *topic, int partition,
                     int64_t offset, char *err, size_t errlen)
{
    char part[16], buf[32];
    struct keybuf kb;
    int rc;

    if (s == NULL || group == NULL || topic == NULL) return missing("offset_set", err, errlen);
    snprintf(part, sizeof part, "%d", partition);
    snprintf(buf, sizeof buf, "%lld", (long long)offset);
    if (key_build(&kb, s, err, errlen, MARKER_SCOPE, "offset:", group, ":", topic, ":", part,
                  (const char *)NULL) < 0)
        return -1;
    rc = s->ops->set(s, kb.key, buf, gc_ttl_ms(OFFSET_KEEP_US), err, errlen);
    key_done(&kb);
    return rc;
}
