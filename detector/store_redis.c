/* store_redis.c - the Redis store (hiredis, blocking, one connection).
 *
 * Every primitive of store_impl.h is one round trip: its commands are
 * pipelined (MULTI/EXEC where a reader must never see half of a change), or
 * one Lua script where a decision depends on what is stored. Every value
 * goes as a binary-safe argument (%b), never into the command text.
 *
 * hiredis leaves a context unusable after an I/O error or a timeout; the
 * store remembers that and fails every call at once until store_reconnect
 * succeeds.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

#include "store_impl.h"

/* Redis's Lua prints numbers with 14 significant digits: keep caps below. */
#define LIST_CAP_MAX 1000000000000LL

struct store_redis {
    struct store base;
    redisContext *c;
    char *host;
    int port;
    char *password;
    char *user; /* ACL user, or NULL */
    int db;
    int timeout_ms;
    int broken;        /* c is unusable until a reconnect succeeds */
    char lasterr[160]; /* why */
    int deferred;      /* replies of writes sent and not read yet */
    /* A write's failure that its flush has not reported yet: read by a
     * read (which failed with it), or never read (a reconnect dropped the
     * replies). The next flush fails with it: whoever sent the writes
     * waits for that flush before counting on them. */
    char write_lost[200];
    char sha_zadd[41], sha_zaddp[41], sha_push[41]; /* the scripts, loaded at connect */
    /* Adds to one key in a row, sent as one command: argv[0..pendc),
     * copies; pendc 0 when none. ZADD_PREFIX adds that may prune go as one
     * script call (zaddp_script takes many); ZADD_NOPRUNE adds (pend_plain)
     * as one ZADD of many members (while their NX or GT is the same) and
     * then one pair of PEXPIRE NX and GT with the greatest TTL, pend_ttl. */
    const char **pend;
    size_t *pendlen;
    size_t pendc, pendcap;
    int pend_plain;
    int64_t pend_ttl;
    char *resp; /* send_argv's buffer */
    size_t respcap;
};

/* LPUSH unless the same entry is in the list already, then cap it. */
static const char zadd_script[] =
    "local s = tonumber(ARGV[1]) local keep = tonumber(ARGV[4]) "
    "if keep >= 0 then "
    "  local m = s "
    "  if ARGV[6] == '1' then "
    "    local top = redis.call('ZREVRANGE', KEYS[1], 0, 0, 'WITHSCORES') "
    "    if top[2] and tonumber(top[2]) > m then m = tonumber(top[2]) end "
    "  end "
    "  local floor = m - keep "
    "  if s >= floor then redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1], ARGV[2]) end "
    "  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. string.format('%.0f', floor)) "
    "else redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1], ARGV[2]) end "
    "redis.call('PEXPIRE', KEYS[1], ARGV[5]) return 0";

/* ZADD_PREFIX (store_impl.h), for one or more adds to KEYS[1] in order;
 * ARGV, 8 per add: score, member, NX|GT, min_score ('' when none), ttl_ms,
 * the member's prefix, '1' for ZADD_FROM_MAX, the prefix ZADD_REPLACE
 * removes ('' when none). Only members of the prefix are pruned or give
 * the greatest score, and the TTL only grows: other windows, sets and
 * requests share the key. One call for the adds of a row (a known set's
 * latest and first time, an event's window and request): a script call
 * costs Redis more than the commands it runs. */
static const char zaddp_script[] =
    "local k, ttl = KEYS[1], 0 "
    "local function has(m, q) return string.find(m, q, 1, true) == 1 end "
    /* the least score, or less: a prune below it has nothing to do */
    "local low = redis.call('ZRANGE', k, 0, 0, 'WITHSCORES')[2] "
    "low = low and tonumber(low) or math.huge "
    "for b = 0, #ARGV - 8, 8 do "
    "  local s, p, line, add = tonumber(ARGV[b + 1]), ARGV[b + 6], ARGV[b + 4], true "
    "  if line ~= '' and ARGV[b + 7] == '1' then "
    "    local top, at, hit = s, 0, false "
    "    repeat "
    "      local c = redis.call('ZREVRANGE', k, at, at + 7, 'WITHSCORES') "
    "      for i = 1, #c, 2 do "
    "        if has(c[i], p) then "
    "          if tonumber(c[i + 1]) > top then top = tonumber(c[i + 1]) end "
    "          hit = true "
    "          break "
    "        end "
    "      end "
    "      at = at + 8 "
    "    until hit or #c < 16 "
    "    local floor = top - (s - tonumber(line)) "
    "    line = string.format('%.0f', floor) "
    "    add = s >= floor "
    "  end "
    "  if add then "
    "    if ARGV[b + 8] ~= '' then "
    "      local all = redis.call('ZRANGE', k, 0, -1) "
    "      for i = 1, #all do "
    "        if has(all[i], ARGV[b + 8]) then redis.call('ZREM', k, all[i]) end "
    "      end "
    "    end "
    "    redis.call('ZADD', k, ARGV[b + 3], ARGV[b + 1], ARGV[b + 2]) "
    "    if s < low then low = s end "
    "  end "
    "  if line ~= '' and low < tonumber(line) then "
    "    local old = redis.call('ZRANGEBYSCORE', k, '-inf', '(' .. line) "
    "    for i = 1, #old do if has(old[i], p) then redis.call('ZREM', k, old[i]) end end "
    "  end "
    "  if tonumber(ARGV[b + 5]) > ttl then ttl = tonumber(ARGV[b + 5]) end "
    "end "
    "if redis.call('PTTL', k) < ttl then redis.call('PEXPIRE', k, ttl) end "
    "return 0";

static const char push_script[] =
    "if not redis.call('LPOS', KEYS[1], ARGV[1]) then\n"
    "  redis.call('LPUSH', KEYS[1], ARGV[1])\n"
    "end\n"
    "local cap = tonumber(ARGV[2])\n"
    "if cap > 0 then redis.call('LTRIM', KEYS[1], 0, cap - 1) else redis.call('DEL', KEYS[1]) end\n"
    "return 0\n";

/* --- Calls ---------------------------------------------------------------- */

/* Marks the context unusable after an I/O error. */
static int io_fail(struct store_redis *r, char *err, size_t errlen)
{
    const char *why = r->c != NULL && r->c->err ? r->c->errstr : "no connection";
    int e = errno;

    if (why[0] == '\0') why = "I/O error";
    if (r->c != NULL && r->c->err == REDIS_ERR_IO && (e == EAGAIN || e == EWOULDBLOCK))
        snprintf(r->lasterr, sizeof r->lasterr, "timeout after %d ms", r->timeout_ms);
    else
        snprintf(r->lasterr, sizeof r->lasterr, "%s", why);
    why = r->lasterr;
    r->broken = 1;
    store_err(err, errlen, "redis: %s", why);
    return -1;
}

static size_t fmt_i64(char *buf, int64_t n);

/* Appends one command, given as arguments, to the output buffer: the same
 * as redisAppendCommandArgv, whose formatting (sdscatfmt per argument) was
 * a tenth of the daemon's time (perf, make bench). REDIS_OK or REDIS_ERR. */
static int send_argv(struct store_redis *r, int argc, const char *const *argv, const size_t *lens)
{
    size_t need = 16, n;
    char *p;

    for (int i = 0; i < argc; i++)
        need += lens[i] + 24;
    if (need > r->respcap) {
        size_t cap = r->respcap ? r->respcap : 1024;
        while (cap < need)
            cap *= 2;
        char *nb = realloc(r->resp, cap);
        if (nb == NULL) return REDIS_ERR;
        r->resp = nb;
        r->respcap = cap;
    }
    p = r->resp;
    *p++ = '*';
    p += fmt_i64(p, argc);
    *p++ = '\r';
    *p++ = '\n';
    for (int i = 0; i < argc; i++) {
        *p++ = '$';
        p += fmt_i64(p, (int64_t)lens[i]);
        *p++ = '\r';
        *p++ = '\n';
        memcpy(p, argv[i], lens[i]);
        p += lens[i];
        *p++ = '\r';
        *p++ = '\n';
    }
    n = (size_t)(p - r->resp);
    int rc = redisAppendFormattedCommand(r->c, r->resp, n);
    if (r->respcap > (1u << 20)) { /* not kept after a huge command */
        free(r->resp);
        r->resp = NULL;
        r->respcap = 0;
    }
    return rc;
}

/* Forgets the pending arguments from the from-th on. */
static void pend_cut(struct store_redis *r, size_t from)
{
    for (size_t i = from; i < r->pendc; i++)
        free((void *)(uintptr_t)r->pend[i]);
    if (from < r->pendc) r->pendc = from;
}

static void pend_clear(struct store_redis *r)
{
    pend_cut(r, 0);
    r->pend_plain = 0;
}

/* Sends the pending command as it is: a write. */
static int pend_argv(struct store_redis *r, char *err, size_t errlen)
{
    if (send_argv(r, (int)r->pendc, r->pend, r->pendlen) != REDIS_OK)
        return io_fail(r, err, errlen);
    r->deferred++;
    return 0;
}

/* Sends the pending command: the script call, or the ZADD and its TTL. */
static int pend_send(struct store_redis *r, char *err, size_t errlen)
{
    int rc;

    if (r->pendc == 0) return 0;
    rc = pend_argv(r, err, errlen);
    if (rc == 0 && r->pend_plain) {
        char ttl[24];
        const char *nx[4] = {"PEXPIRE", r->pend[1], ttl, "NX"};
        const char *gt[4] = {"PEXPIRE", r->pend[1], ttl, "GT"};
        size_t lens[4] = {7, r->pendlen[1], fmt_i64(ttl, r->pend_ttl), 2};

        if (send_argv(r, 4, nx, lens) != REDIS_OK || send_argv(r, 4, gt, lens) != REDIS_OK)
            rc = io_fail(r, err, errlen);
        else
            r->deferred += 2;
    }
    pend_clear(r);
    return rc;
}

/* Appends an argument to the pending call; -1 when out of memory. */
static int pend_add(struct store_redis *r, const char *v, size_t len)
{
    if (r->pendc == r->pendcap) {
        size_t cap = r->pendcap ? r->pendcap * 2 : 64;
        const char **nv = realloc(r->pend, cap * sizeof *nv);
        size_t *nl = nv != NULL ? realloc(r->pendlen, cap * sizeof *nl) : NULL;

        if (nv != NULL) r->pend = nv;
        if (nl == NULL) return -1;
        r->pendlen = nl;
        r->pendcap = cap;
    }
    char *copy = malloc(len + 1);

    if (copy == NULL) return -1;
    memcpy(copy, v, len);
    copy[len] = '\0';
    r->pend[r->pendc] = copy;
    r->pendlen[r->pendc++] = len;
    return 0;
}

/* The connection is usable; every call but a prefixed add starts here, so
 * the pending script call goes first and the order of writes is kept. */
static int ready(struct store_redis *r, char *err, size_t errlen)
{
    if (r->c != NULL && !r->broken) return pend_send(r, err, errlen);
    pend_clear(r);
    store_err(err, errlen, "redis: connection unusable until reconnect (%s)", r->lasterr);
    return -1;
}

/* An error reply, or an error inside an EXEC reply. */
static const redisReply *error_in(const redisReply *rep)
{
    size_t i;

    if (rep->type == REDIS_REPLY_ERROR) return rep;
    if (rep->type == REDIS_REPLY_ARRAY)
        for (i = 0; i < rep->elements; i++)
            if (rep->element[i] != NULL && rep->element[i]->type == REDIS_REPLY_ERROR)
                return rep->element[i];
    return NULL;
}

/* Reads n pipelined replies. Fails with the first error reply (after reading
 * them all, so that the connection stays in step). On success the last reply
 * goes to *last (caller frees) when last is not NULL. */
static int collect(struct store_redis *r, int n, redisReply **last, char *err, size_t errlen)
{
    redisReply *rep = NULL;
    int i, rc = 0;

    if (last != NULL) *last = NULL;
    for (i = 0; i < n; i++) {
        void *p = NULL;
        const redisReply *e;

        if (redisGetReply(r->c, &p) != REDIS_OK || p == NULL) return io_fail(r, err, errlen);
        if (rep != NULL) freeReplyObject(rep);
        rep = p;
        e = error_in(rep);
        if (e != NULL && rc == 0) {
            store_err(err, errlen, "redis: %.*s", (int)e->len, e->str);
            rc = -1;
        }
    }
    if (rc == 0 && last != NULL) {
        *last = rep;
        rep = NULL;
    }
    if (rep != NULL) freeReplyObject(rep);
    return rc;
}

/* Reads the replies of the writes sent so far. A read calls it first
 * (for_read): a failure then fails the read, and the next flush too. */
static int drain(struct store_redis *r, int for_read, char *err, size_t errlen)
{
    int n = r->deferred;
    if (n == 0) return 0;
    r->deferred = 0;
    if (collect(r, n, NULL, err, errlen) == 0) return 0;
    if (for_read && r->write_lost[0] == '\0')
        snprintf(r->write_lost, sizeof r->write_lost, "%s", err != NULL && errlen > 0 ? err : "?");
    return -1;
}

static int append(struct store_redis *r, char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = redisvAppendCommand(r->c, fmt, ap);
    va_end(ap);
    return rc == REDIS_OK ? 0 : io_fail(r, err, errlen);
}

/* One command; the reply (never an error reply) or NULL with err. */
static redisReply *command(struct store_redis *r, char *err, size_t errlen, const char *fmt, ...)
{
    redisReply *rep;
    va_list ap;
    int rc;

    if (ready(r, err, errlen) < 0 || drain(r, 1, err, errlen) < 0) return NULL;
    va_start(ap, fmt);
    rc = redisvAppendCommand(r->c, fmt, ap);
    va_end(ap);
    if (rc != REDIS_OK) {
        io_fail(r, err, errlen);
        return NULL;
    }
    if (collect(r, 1, &rep, err, errlen) < 0) return NULL;
    return rep;
}

/* Sends a write without waiting for its reply: writes are pipelined, and
 * their replies read and checked before the next read and at flush, so a
 * reader always sees them and an error always surfaces. */
static int write_cmd(struct store_redis *r, char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    int rc;

    if (ready(r, err, errlen) < 0) return -1;
    va_start(ap, fmt);
    rc = redisvAppendCommand(r->c, fmt, ap);
    va_end(ap);
    if (rc != REDIS_OK) return io_fail(r, err, errlen);
    r->deferred++;
    return 0;
}

/* The same for a command given as arguments: no format string to parse,
 * which costs more than the rest of a write (perf, make bench). */
static int write_argv(struct store_redis *r, char *err, size_t errlen, int argc, const char **argv,
                      const size_t *lens)
{
    if (ready(r, err, errlen) < 0) return -1;
    if (send_argv(r, argc, argv, lens) != REDIS_OK) return io_fail(r, err, errlen);
    r->deferred++;
    return 0;
}

/* Writes n in decimal into buf (at least 21 bytes); returns the length. */
static size_t fmt_i64(char *buf, int64_t n)
{
    char tmp[24];
    size_t len = 0, i;
    uint64_t u = n < 0 ? (uint64_t)0 - (uint64_t)n : (uint64_t)n;

    do {
        tmp[len++] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    i = 0;
    if (n < 0) buf[i++] = '-';
    while (len > 0)
        buf[i++] = tmp[--len];
    buf[i] = '\0';
    return i;
}

static int unexpected(redisReply *rep, char *err, size_t errlen)
{
    store_err(err, errlen, "redis: unexpected reply type %d", rep->type);
    freeReplyObject(rep);
    return -1;
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

static void copy_out(char *buf, size_t buflen, const char *v, size_t len)
{
    if (buflen == 0) return;
    if (len >= buflen) len = buflen - 1;
    memcpy(buf, v, len);
    buf[len] = '\0';
}

/* Copies an array of strings into a malloc'd array (NULL when empty). */
static int strings_out(redisReply *rep, char ***out, size_t *n, char *err, size_t errlen)
{
    char **v;
    size_t i;

    if (rep->type != REDIS_REPLY_ARRAY) return unexpected(rep, err, errlen);
    if (rep->elements == 0) {
        freeReplyObject(rep);
        return 0;
    }
    v = calloc(rep->elements, sizeof *v);
    if (v == NULL) goto oom;
    for (i = 0; i < rep->elements; i++) {
        const redisReply *e = rep->element[i];

        v[i] = e->type == REDIS_REPLY_STRING ? dupn(e->str, e->len) : dupn("", 0);
        if (v[i] == NULL) {
            while (i-- > 0)
                free(v[i]);
            free(v);
            goto oom;
        }
    }
    *out = v;
    *n = rep->elements;
    freeReplyObject(rep);
    return 0;
oom:
    freeReplyObject(rep);
    store_err(err, errlen, "store: out of memory");
    return -1;
}

/* --- Sorted sets -------------------------------------------------------- */

static int redis_zadd(store_t *s, const char *key, const char *member, int64_t score, int flags,
                      int64_t min_score, int64_t ttl_ms, char *err, size_t errlen)
{
    struct store_redis *r = (struct store_redis *)s;
    long long keep = min_score == INT64_MIN ? -1 : (long long)(score - min_score);
    const char *how = (flags & ZADD_GT) ? "GT" : "NX";
    size_t klen = strlen(key);

    if ((flags & ZADD_PREFIX) && (flags & ZADD_NOPRUNE)) {
        /* Nothing to prune (the caller knows the key): plain commands, the
         * adds of a row to one key in one ZADD (see pend_plain). */
        char sc[24];
        size_t sclen = fmt_i64(sc, score);
        int same = r->pendc > 0 && r->pend_plain && r->pendlen[1] == klen &&
                   memcmp(r->pend[1], key, klen) == 0;

        if (!same) {
            if (ready(r, err, errlen) < 0) return -1;
            if (pend_add(r, "ZADD", 4) < 0 || pend_add(r, key, klen) < 0 || pend_add(r, how, 2) < 0)
                goto oom;
            r->pend_plain = 1;
            r->pend_ttl = ttl_ms;
        } else if (memcmp(r->pend[2], how, 2) != 0) { /* NX after GT, or GT after NX */
            if (pend_argv(r, err, errlen) < 0) {
                pend_clear(r);
                return -1;
            }
            pend_cut(r, 2);
            if (pend_add(r, how, 2) < 0) goto oom;
        }
        if (pend_add(r, sc, sclen) < 0 || pend_add(r, member, strlen(member)) < 0) goto oom;
        if (ttl_ms > r->pend_ttl) r->pend_ttl = ttl_ms;
        return 0;
    }
    if (flags & ZADD_PREFIX) {
        size_t rlen, plen = store_zprefix(member, flags, &rlen);
        char sc[24], line[24], ttl[24];
        const char *argv[8] = {
            sc, member, how, line, ttl, member, (flags & ZADD_FROM_MAX) ? "1" : "0", member};
        size_t lens[8] = {fmt_i64(sc, score),   strlen(member), 2, 0,
                          fmt_i64(ttl, ttl_ms), plen,           1, rlen};

        if (min_score != INT64_MIN) lens[3] = fmt_i64(line, min_score);
        /* Another key than the pending call's: that call goes first. */
        if (r->pendc > 0 &&
            (r->pend_plain || r->pendlen[3] != klen || memcmp(r->pend[3], key, klen) != 0) &&
            ready(r, err, errlen) < 0)
            return -1;
        if (r->pendc == 0) {
            if (ready(r, err, errlen) < 0) return -1;
            if (pend_add(r, "EVALSHA", 7) < 0 || pend_add(r, r->sha_zaddp, 40) < 0 ||
                pend_add(r, "1", 1) < 0 || pend_add(r, key, klen) < 0)
                goto oom;
        }
        for (int i = 0; i < 8; i++)
            if (pend_add(r, argv[i], lens[i]) < 0) goto oom;
        return 0;
    }
    /* Pruning from the greatest score needs that score first: a script.
     * Otherwise three plain commands, cheaper for Redis than a script; no
     * reader needs them atomic (a crash between them leaves members that
     * the next add prunes). */
    if (flags & ZADD_FROM_MAX && keep >= 0)
        return write_cmd(r, err, errlen, "EVALSHA %s 1 %b %lld %b %s %lld %lld 1", r->sha_zadd, key,
                         klen, (long long)score, member, strlen(member), how, keep,
                         (long long)ttl_ms);
    char sc[24], ttl[24], lo[26];
    const char *zargv[5] = {"ZADD", key, how, sc, member};
    size_t zlens[5] = {4, klen, 2, fmt_i64(sc, score), strlen(member)};

    if (write_argv(r, err, errlen, 5, zargv, zlens) < 0) return -1;
    /* the line may be above the score (the batch cache's line of a
     * ZADD_FROM_MAX add: see plain_add in store_cache.c) */
    if (min_score != INT64_MIN) {
        const char *pargv[4] = {"ZREMRANGEBYSCORE", key, "-inf", lo};
        size_t plens[4] = {16, klen, 4, 0};
        lo[0] = '(';
        plens[3] = 1 + fmt_i64(lo + 1, min_score);
        if (write_argv(r, err, errlen, 4, pargv, plens) < 0) return -1;
    }
    const char *eargv[3] = {"PEXPIRE", key, ttl};
    size_t elens[3] = {7, klen, fmt_i64(ttl, ttl_ms)};
    return write_argv(r, err, errlen, 3, eargv, elens);
oom:
    pend_clear(r);
    store_err(err, errlen, "store: out of memory");
    return -1;
}

/* The members in (lo hi] that begin with prefix, at most max (or their
 * count, when count is not NULL): ZRANGEBYSCORE and a filter here. The
 * daemon reads through the batch cache; this serves the store used
 * directly. */
static int zrange_prefix(struct store_redis *r, const char *key, const char *prefix, int64_t lo,
                         int64_t hi, size_t max, char ***members, size_t *n, long *count, char *err,
                         size_t errlen)
{
    size_t plen = strlen(prefix), i, k = 0;
    char **v = NULL;
    redisReply *rep = command(r, err, errlen, "ZRANGEBYSCORE %b (%lld %lld", key, strlen(key),
                              (long long)lo, (long long)hi);

    if (rep == NULL) return -1;
    if (rep->type != REDIS_REPLY_ARRAY) return unexpected(rep, err, errlen);
    if (count == NULL && rep->elements > 0 &&
        (v = calloc(rep->elements < max ? rep->elements : max, sizeof *v)) == NULL)
        goto oom;
    for (i = 0; i < rep->elements && k < max; i++) {
        const redisReply *e = rep->element[i];

        if (e->type != REDIS_REPLY_STRING || e->len < plen || memcmp(e->str, prefix, plen) != 0)
            continue;
        if (v != NULL && (v[k] = dupn(e->str, e->len)) == NULL) goto oom;
        k++;
    }
    freeReplyObject(rep);
    if (count != NULL) {
        *count = (long)k;
        return 0;
    }
    if (k == 0) {
        free(v);
        return 0;
    }
    *members = v;
    *n = k;
    return 0;
oom:
    while (k-- > 0)
        free(v[k]);
    free(v);
    freeReplyObject(rep);
    store_err(err, errlen, "store: out of memory");
    return -1;
}

static int redis_zcount(store_t *s, const char *key, const char *prefix, int64_t lo, int64_t hi,
                        long *count, char *err, size_t errlen)
{
    redisReply *rep;

    if (prefix != NULL && prefix[0] != '\0')
        return zrange_prefix((struct store_redis *)s, key, prefix, lo, hi, (size_t)-1, NULL, NULL,
                             count, err, errlen);
    rep = command((struct store_redis *)s, err, errlen, "ZCOUNT %b (%lld %lld", key, strlen(key),
                  (long long)lo, (long long)hi);
    if (rep == NULL) return -1;
    if (rep->type != REDIS_REPLY_INTEGER) return unexpected(rep, err, errlen);
    *count = (long)rep->integer;
    freeReplyObject(rep);
    return 0;
}

static int redis_zrange(store_t *s, const char *key, const char *prefix, int64_t lo, int64_t hi,
                        size_t max, char ***members, size_t *n, char *err, size_t errlen)
{
    long long lim = max > (size_t)LLONG_MAX ? LLONG_MAX : (long long)max;
    redisReply *rep;

    if (prefix != NULL && prefix[0] != '\0')
        return zrange_prefix((struct store_redis *)s, key, prefix, lo, hi, max, members, n, NULL,
                             err, errlen);
    rep = command((struct store_redis *)s, err, errlen, "ZRANGEBYSCORE %b (%lld %lld LIMIT 0 %lld",
                  key, strlen(key), (long long)lo, (long long)hi, lim);
    if (rep == NULL) return -1;
    return strings_out(rep, members, n, err, errlen);
}

static int redis_zrem(store_t *s, const char *key, const char *const *members, size_t n, char *err,
                      size_t errlen)
{
    struct store_redis *r = (struct store_redis *)s;
    const char **argv = malloc((n + 2) * sizeof *argv);
    size_t *lens = malloc((n + 2) * sizeof *lens);
    int rc = -1;

    if (argv == NULL || lens == NULL) {
        store_err(err, errlen, "store: out of memory");
        goto done;
    }
    argv[0] = "ZREM";
    lens[0] = 4;
    argv[1] = key;
    lens[1] = strlen(key);
    for (size_t i = 0; i < n; i++) {
        argv[2 + i] = members[i];
        lens[2 + i] = strlen(members[i]);
    }
    rc = write_argv(r, err, errlen, (int)(n + 2), argv, lens);
done:
    free(argv);
    free(lens);
    return rc;
}

static int redis_zscore(store_t *s, const char *key, const char *member, int *found, int64_t *score,
                        char *err, size_t errlen)
{
    redisReply *rep = command((struct store_redis *)s, err, errlen, "ZSCORE %b %b", key,
                              strlen(key), member, strlen(member));

    if (rep == NULL) return -1;
    if (rep->type == REDIS_REPLY_STRING) {
        if (store_parse_i64(rep->str, rep->len, score) < 0) {
            store_err(err, errlen, "redis: bad score \"%.40s\"", rep->str);
            freeReplyObject(rep);
            return -1;
        }
        *found = 1;
    } else if (rep->type != REDIS_REPLY_NIL) {
        return unexpected(rep, err, errlen);
    }
    freeReplyObject(rep);
    return 0;
}

/* --- Hashes ------------------------------------------------------------- */

/* Writes CMD key followed by the names and values of f[0..n) as one
 * argument vector (a write: see write_argv). */
static int write_hash_cmd(struct store_redis *r, const char *cmd, const char *key,
                          const struct store_field *f, size_t n, char *err, size_t errlen)
{
    size_t argc = 2 + 2 * n, i;
    const char **argv = malloc(argc * sizeof *argv);
    size_t *lens = malloc(argc * sizeof *lens);
    int rc = -1;

    if (argv == NULL || lens == NULL) {
        store_err(err, errlen, "store: out of memory");
        goto done;
    }
    argv[0] = cmd;
    argv[1] = key;
    for (i = 0; i < n; i++) {
        argv[2 + 2 * i] = f[i].name;
        argv[3 + 2 * i] = f[i].value;
    }
    for (i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    rc = write_argv(r, err, errlen, (int)argc, argv, lens);
done:
    free(argv);
    free(lens);
    return rc;
}

static int redis_hreplace(store_t *s, const char *key, const struct store_field *f, size_t nf,
                          int64_t ttl_ms, int64_t expire_at_ms, char *err, size_t errlen)
{
    struct store_redis *r = (struct store_redis *)s;
    size_t klen = strlen(key);
    int n = 0;

    if (ready(r, err, errlen) < 0) return -1;
    if (append(r, err, errlen, "MULTI") < 0 || append(r, err, errlen, "DEL %b", key, klen) < 0)
        return -1;
    n += 2;
    if (nf > 0 && write_hash_cmd(r, "HSET", key, f, nf, err, errlen) < 0) return -1;
    if (expire_at_ms > 0) {
        if (append(r, err, errlen, "PEXPIREAT %b %lld", key, klen, (long long)expire_at_ms) < 0)
            return -1;
        n++;
    } else if (ttl_ms > 0) {
        if (append(r, err, errlen, "PEXPIRE %b %lld", key, klen, (long long)ttl_ms) < 0) return -1;
        n++;
    }
    if (append(r, err, errlen, "EXEC") < 0) return -1;
    n++;
    r->deferred += n; /* a write: its replies are read with the next read (HSET's counted) */
    return 0;
}

static int redis_hgetall(store_t *s, const char *key, store_field_fn fn, void *arg, char *err,
                         size_t errlen)
{
    redisReply *rep = command((struct store_redis *)s, err, errlen, "HGETALL %b", key, strlen(key));
    size_t i;

    if (rep == NULL) return -1;
    if (rep->type != REDIS_REPLY_ARRAY) return unexpected(rep, err, errlen);
    for (i = 0; i + 1 < rep->elements; i += 2) {
        const redisReply *k = rep->element[i], *v = rep->element[i + 1];

        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) continue;
        if (fn(arg, k->str, k->len, v->str, v->len) < 0) {
            freeReplyObject(rep);
            store_err(err, errlen, "store: out of memory");
            return -1;
        }
    }
    freeReplyObject(rep);
    return 0;
}

/* A nil or string reply into buf. */
static int string_out(redisReply *rep, int *found, char *buf, size_t buflen, char *err,
                      size_t errlen)
{
    if (rep->type == REDIS_REPLY_STRING) {
        *found = 1;
        copy_out(buf, buflen, rep->str, rep->len);
    } else if (rep->type != REDIS_REPLY_NIL) {
        return unexpected(rep, err, errlen);
    }
    freeReplyObject(rep);
    return 0;
}

/* --- Strings and lists ---------------------------------------------------- */

static int redis_set(store_t *s, const char *key, const char *value, int64_t ttl_ms, char *err,
                     size_t errlen)
{
    char px[24];
    const char *argv[5] = {"SET", key, value, "PX", px};
    size_t lens[5] = {3, strlen(key), strlen(value), 2, fmt_i64(px, ttl_ms)};

    return write_argv((struct store_redis *)s, err, errlen, 5, argv, lens);
}

static int redis_get(store_t *s, const char *key, int *found, char *buf, size_t buflen, char *err,
                     size_t errlen)
{
    redisReply *rep = command((struct store_redis *)s, err, errlen, "GET %b", key, strlen(key));

    if (rep == NULL) return -1;
    return string_out(rep, found, buf, buflen, err, errlen);
}

static int redis_del(store_t *s, const char *key, char *err, size_t errlen)
{
    return write_cmd((struct store_redis *)s, err, errlen, "DEL %b", key, strlen(key));
}

static int redis_lpush_unique(store_t *s, const char *key, const char *entry, size_t cap, char *err,
                              size_t errlen)
{
    struct store_redis *r = (struct store_redis *)s;
    long long c = cap > (size_t)LIST_CAP_MAX ? LIST_CAP_MAX : (long long)cap;

    return write_cmd(r, err, errlen, "EVALSHA %s 1 %b %b %lld", r->sha_push, key, strlen(key),
                     entry, strlen(entry), c);
}

static int redis_flush(store_t *s, char *err, size_t errlen)
{
    struct store_redis *r = (struct store_redis *)s;

    int rc = ready(r, err, errlen) < 0 ? -1 : drain(r, 0, err, errlen);
    if (r->write_lost[0] != '\0') {
        if (rc == 0) store_err(err, errlen, "%s (a write before this flush)", r->write_lost);
        r->write_lost[0] = '\0';
        rc = -1;
    }
    return rc;
}

/* The commands buffered so far go out to the server (hiredis writes its
 * buffer only when it reads a reply); their replies wait for flush. */
static int redis_send(store_t *s, char *err, size_t errlen)
{
    struct store_redis *r = (struct store_redis *)s;
    int done = 0;

    if (ready(r, err, errlen) < 0) return -1;
    while (!done)
        if (redisBufferWrite(r->c, &done) != REDIS_OK) return io_fail(r, err, errlen);
    return 0;
}

static int redis_lrange(store_t *s, const char *key, size_t max, char ***entries, size_t *n,
                        char *err, size_t errlen)
{
    long long last = max > (size_t)LLONG_MAX ? LLONG_MAX - 1 : (long long)max - 1;
    redisReply *rep =
        command((struct store_redis *)s, err, errlen, "LRANGE %b 0 %lld", key, strlen(key), last);

    if (rep == NULL) return -1;
    return strings_out(rep, entries, n, err, errlen);
}

/* --- Fetch: the whole value of many keys, one round trip ------------------ */

/* Loads one reply (of a read of a key of type) into the memory store into,
 * through into's own primitives, after deleting the key there. */
static int load_reply(store_t *into, const char *key, int type, const redisReply *rep, char *err,
                      size_t errlen)
{
    size_t i;
    int rc = 0;

    if (into->ops->del(into, key, err, errlen) < 0) return -1;
    if (rep->type == REDIS_REPLY_NIL) return 0;
    if (type == STORE_T_STR) {
        char *v;

        if (rep->type != REDIS_REPLY_STRING) goto unexpected;
        if ((v = dupn(rep->str, rep->len)) == NULL) goto oom;
        rc = into->ops->set(into, key, v, 0, err, errlen);
        free(v);
        return rc;
    }
    if (rep->type != REDIS_REPLY_ARRAY) goto unexpected;
    for (i = 0; i < rep->elements; i++)
        if (rep->element[i]->type != REDIS_REPLY_STRING) goto unexpected;
    if (type == STORE_T_ZSET) { /* member, score, member, score, ... */
        for (i = 0; rc == 0 && i + 1 < rep->elements; i += 2) {
            const redisReply *m = rep->element[i], *sc = rep->element[i + 1];
            int64_t score;
            char *v;

            if (store_parse_i64(sc->str, sc->len, &score) < 0) {
                store_err(err, errlen, "redis: bad score \"%.40s\" in %s", sc->str, key);
                return -1;
            }
            if ((v = dupn(m->str, m->len)) == NULL) goto oom;
            rc = into->ops->zadd(into, key, v, score, 0, INT64_MIN, 0, err, errlen);
            free(v);
        }
    } else if (type == STORE_T_HASH) {
        size_t nf = rep->elements / 2;
        struct store_field *f = calloc(nf ? nf : 1, sizeof *f);
        char **v = calloc(nf * 2 + 1, sizeof *v);

        for (i = 0; f != NULL && v != NULL && i < nf * 2; i++)
            if ((v[i] = dupn(rep->element[i]->str, rep->element[i]->len)) == NULL) break;
        if (f != NULL && v != NULL && i == nf * 2) {
            for (i = 0; i < nf; i++) {
                f[i].name = v[2 * i];
                f[i].value = v[2 * i + 1];
            }
            rc = into->ops->hreplace(into, key, f, nf, 0, 0, err, errlen);
        } else {
            rc = -2;
        }
        for (i = 0; v != NULL && i < nf * 2; i++)
            free(v[i]);
        free(v);
        free(f);
        if (rc == -2) goto oom;
    } else { /* a list, newest first: pushed oldest first */
        for (i = rep->elements; rc == 0 && i-- > 0;) {
            char *v = dupn(rep->element[i]->str, rep->element[i]->len);

            if (v == NULL) goto oom;
            rc = into->ops->lpush_unique(into, key, v, (size_t)LIST_CAP_MAX, err, errlen);
            free(v);
        }
    }
    return rc;
unexpected:
    store_err(err, errlen, "redis: unexpected reply type %d for %s", rep->type, key);
    return -1;
oom:
    store_err(err, errlen, "store: out of memory");
    return -1;
}

static int redis_fetch(store_t *s, size_t n, const char *const *keys, const int *types,
                       store_t *into, char *err, size_t errlen)
{
    struct store_redis *r = (struct store_redis *)s;
    size_t i, sent = 0;
    int rc = 0;

    if (ready(r, err, errlen) < 0 || drain(r, 1, err, errlen) < 0) return -1;
    for (i = 0; i < n; i++) {
        const char *k = keys[i];
        size_t kl = strlen(k);
        int a;

        const char *argv[5] = {NULL, k, "0", "-1", "WITHSCORES"};
        size_t lens[5] = {0, kl, 1, 2, 10};
        int argc = 4;

        switch (types[i]) {
        case STORE_T_ZSET:
            argv[0] = "ZRANGE";
            argc = 5;
            break;
        case STORE_T_HASH:
            argv[0] = "HGETALL";
            argc = 2;
            break;
        case STORE_T_LIST:
            argv[0] = "LRANGE";
            break;
        default:
            argv[0] = "GET";
            argc = 2;
            break;
        }
        lens[0] = strlen(argv[0]);
        a = send_argv(r, argc, argv, lens) == REDIS_OK ? 0 : io_fail(r, err, errlen);
        if (a < 0) return -1;
        sent++;
    }
    /* Every reply is read, even after a failure, to keep the connection in
     * step. */
    for (i = 0; i < sent; i++) {
        void *p = NULL;

        if (redisGetReply(r->c, &p) != REDIS_OK || p == NULL) return io_fail(r, err, errlen);
        if (rc == 0) {
            const redisReply *rep = p;

            if (rep->type == REDIS_REPLY_ERROR) {
                store_err(err, errlen, "redis: %.*s", (int)rep->len, rep->str);
                rc = -1;
            } else {
                rc = load_reply(into, keys[i], types[i], rep, err, errlen);
            }
        }
        freeReplyObject(p);
    }
    return rc;
}

/* --- Connection ------------------------------------------------------------ */

/* Connects (again): timeouts, AUTH, SELECT. On failure the store stays
 * unusable and remembers why. */
static int redis_connect(struct store_redis *r, char *err, size_t errlen)
{
    struct timeval tv;
    redisContext *c;
    redisReply *rep;

    if (r->c != NULL) redisFree(r->c);
    r->c = NULL;
    r->broken = 1;
    tv.tv_sec = r->timeout_ms / 1000;
    tv.tv_usec = (r->timeout_ms % 1000) * 1000;
    c = r->timeout_ms > 0 ? redisConnectWithTimeout(r->host, r->port, tv)
                          : redisConnect(r->host, r->port);
    if (c == NULL || c->err) {
        snprintf(r->lasterr, sizeof r->lasterr, "connect %s:%d: %s", r->host, r->port,
                 c != NULL ? c->errstr : "out of memory");
        store_err(err, errlen, "redis: %s", r->lasterr);
        if (c != NULL) redisFree(c);
        return -1;
    }
    if (r->timeout_ms > 0 && redisSetTimeout(c, tv) != REDIS_OK) {
        snprintf(r->lasterr, sizeof r->lasterr, "cannot set timeout: %s", c->errstr);
        store_err(err, errlen, "redis: %s", r->lasterr);
        redisFree(c);
        return -1;
    }
    r->c = c;
    r->broken = 0;
    r->deferred = 0; /* writes not flushed are forgotten: their batch is decided again */
    r->write_lost[0] = '\0';
    pend_clear(r); /* a batch cut by the failure is decided again */
    if (r->password != NULL && r->password[0] != '\0') {
        rep = r->user != NULL
                  ? command(r, err, errlen, "AUTH %b %b", r->user, strlen(r->user), r->password,
                            strlen(r->password))
                  : command(r, err, errlen, "AUTH %b", r->password, strlen(r->password));
        if (rep == NULL) goto fail;
        freeReplyObject(rep);
    }
    if (r->db != 0) {
        rep = command(r, err, errlen, "SELECT %d", r->db);
        if (rep == NULL) goto fail;
        freeReplyObject(rep);
    }
    /* The scripts, by their SHA-1 from now on (loaded again on reconnect,
     * so a restarted server has them). */
    const char *scripts[3] = {zadd_script, zaddp_script, push_script};
    char *shas[3] = {r->sha_zadd, r->sha_zaddp, r->sha_push};
    for (int i = 0; i < 3; i++) {
        rep = command(r, err, errlen, "SCRIPT LOAD %s", scripts[i]);
        if (rep == NULL) goto fail;
        if (rep->type != REDIS_REPLY_STRING || rep->len != 40) {
            freeReplyObject(rep);
            store_err(err, errlen, "redis: SCRIPT LOAD gave no SHA-1");
            goto fail;
        }
        memcpy(shas[i], rep->str, 40);
        shas[i][40] = '\0';
        freeReplyObject(rep);
    }
    return 0;
fail:
    if (err != NULL && errlen > 0)
        snprintf(r->lasterr, sizeof r->lasterr, "%s",
                 strncmp(err, "redis: ", 7) == 0 ? err + 7 : err);
    redisFree(r->c);
    r->c = NULL;
    r->broken = 1;
    return -1;
}

static int redis_reconnect(store_t *s, char *err, size_t errlen)
{
    return redis_connect((struct store_redis *)s, err, errlen);
}

static void redis_destroy(store_t *s)
{
    struct store_redis *r = (struct store_redis *)s;

    if (r->c != NULL) redisFree(r->c);
    pend_clear(r);
    free(r->pend);
    free(r->pendlen);
    free(r->resp);
    free(r->host);
    free(r->password);
    free(r->user);
    store_base_fini(&r->base);
    free(r);
}

static const struct store_ops redis_ops = {
    .destroy = redis_destroy,
    .reconnect = redis_reconnect,
    .zadd = redis_zadd,
    .zcount = redis_zcount,
    .zrange = redis_zrange,
    .zscore = redis_zscore,
    .zrem = redis_zrem,
    .hreplace = redis_hreplace,
    .hgetall = redis_hgetall,
    .set = redis_set,
    .get = redis_get,
    .del = redis_del,
    .lpush_unique = redis_lpush_unique,
    .lrange = redis_lrange,
    .flush = redis_flush,
    .send = redis_send,
    .fetch = redis_fetch,
};

static char *dup0(const char *s)
{
    return s != NULL ? dupn(s, strlen(s)) : NULL;
}

store_t *store_redis_new(const char *host, int port, const char *user, const char *password, int db,
                         const char *prefix, int timeout_ms, char *err, size_t errlen)
{
    struct store_redis *r = calloc(1, sizeof *r);

    if (r == NULL || store_base_init(&r->base, &redis_ops, prefix) < 0) {
        free(r);
        store_err(err, errlen, "store: out of memory");
        return NULL;
    }
    r->host = dup0(host != NULL && host[0] != '\0' ? host : "127.0.0.1");
    r->password = dup0(password);
    r->user = user != NULL && user[0] != '\0' ? dup0(user) : NULL;
    r->port = port;
    r->db = db;
    r->timeout_ms = timeout_ms;
    snprintf(r->lasterr, sizeof r->lasterr, "not connected");
    if (r->host == NULL || (password != NULL && r->password == NULL)) {
        store_err(err, errlen, "store: out of memory");
        goto fail;
    }
    if (redis_connect(r, err, errlen) < 0) goto fail;
    return &r->base;
fail:
    redis_destroy(&r->base);
    return NULL;
}

int store_redis_setting(store_t *s, const char *name, char *buf, size_t buflen, char *err,
                        size_t errlen)
{
    redisReply *rep;

    if (s == NULL || s->ops != &redis_ops || name == NULL || buf == NULL) {
        store_err(err, errlen, "store: not a Redis store");
        return -1;
    }
    rep = command((struct store_redis *)s, err, errlen, "CONFIG GET %s", name);
    if (rep == NULL) return -1;
    /* [name, value], or [] when the server has no such setting */
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
        rep->element[1]->type != REDIS_REPLY_STRING) {
        store_err(err, errlen, "redis: no setting %s", name);
        freeReplyObject(rep);
        return -1;
    }
    copy_out(buf, buflen, rep->element[1]->str, rep->element[1]->len);
    freeReplyObject(rep);
    return 0;
}

/* Layout 1 -> 2 (store.h): the members of one key of a window ('w'), a
 * known set ('s') or the requests ('q') of a name, moved into the scope's
 * sorted set as store.c writes them. KEYS[1] the old key, KEYS[2]
 * P{SCOPE}:z; ARGV: the kind, the name. Returns the members moved. */
static const char migrate_script[] =
    "local old, new, kind, name = KEYS[1], KEYS[2], ARGV[1], ARGV[2] "
    "local sep, n = '\\31', 0 "
    "local function esc(c) return string.format('%%%02X', string.byte(c)) end "
    "if kind == 'q' then "
    "  if redis.call('TYPE', old).ok ~= 'hash' then return -1 end "
    "  local h = redis.call('HGETALL', old) "
    "  for i = 1, #h, 2 do "
    "    local ts, rest = string.match(h[i + 1], '^(%-?%d+)( .*)$') "
    "    if ts then "
    "      local id = string.gsub(h[i], '[%%\\31]', esc) "
    "      redis.call('ZADD', new, ts, 'q' .. name .. sep .. id .. sep .. rest) "
    "      n = n + 1 "
    "    end "
    "  end "
    "else "
    "  if redis.call('TYPE', old).ok ~= 'zset' then return -1 end "
    "  local z = redis.call('ZRANGE', old, 0, -1, 'WITHSCORES') "
    "  for i = 1, #z, 2 do "
    "    local m = nil "
    "    if kind == 'w' then m = 'w' .. name .. sep .. z[i] "
    "    else "
    "      local tag, v = string.match(z[i], '^([lf]):(.*)$') "
    "      if tag then m = tag .. name .. sep .. v end "
    "    end "
    "    if m then redis.call('ZADD', new, z[i + 1], m) n = n + 1 end "
    "  end "
    "end "
    "local ttl = redis.call('PTTL', old) "
    "if ttl > 0 and redis.call('PTTL', new) < ttl then redis.call('PEXPIRE', new, ttl) end "
    "redis.call('DEL', old) "
    "return n";

/* The parts of a key of layout 1 of the prefix: the length of
 * "PREFIX{SCOPE}", the kind ('w', 's' or 'q') and where the name starts;
 * 0 when key is not one. */
static size_t layout1_key(const char *key, size_t len, const char *prefix, size_t plen, char *kind,
                          size_t *name)
{
    const char *close;

    if (len < plen + 2 || memcmp(key, prefix, plen) != 0 || key[plen] != '{') return 0;
    close = memchr(key + plen, '}', len - plen);
    if (close == NULL) return 0;
    size_t at = (size_t)(close - key) + 1; /* after the tag */
    if (len < at + 4 || key[at] != ':' || key[at + 2] != ':') return 0;
    if (key[at + 1] != 'w' && key[at + 1] != 's' && key[at + 1] != 'q') return 0;
    if (memchr(key + at + 3, STORE_SEP, len - at - 3) != NULL) return 0;
    *kind = key[at + 1];
    *name = at + 3;
    return at;
}

int store_redis_migrate(store_t *s, int dry_run, unsigned long *keys, unsigned long *members,
                        char *err, size_t errlen)
{
    struct store_redis *r = (struct store_redis *)s;
    char cursor[32] = "0", pattern[256], *w = pattern;
    const char *prefix = s != NULL ? s->prefix : NULL;
    size_t plen;

    *keys = *members = 0;
    if (s == NULL || s->ops != &redis_ops) {
        store_err(err, errlen, "store: not a Redis store");
        return -1;
    }
    plen = s->prefix_len;
    if (2 * plen + 2 > sizeof pattern) {
        store_err(err, errlen, "store: prefix too long");
        return -1;
    }
    for (size_t i = 0; i < plen; i++) { /* the prefix, glob characters escaped */
        if (strchr("*?[]\\", prefix[i]) != NULL) *w++ = '\\';
        *w++ = prefix[i];
    }
    *w++ = '*';
    *w = '\0';
    do {
        redisReply *rep = command(r, err, errlen, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);

        if (rep == NULL) return -1;
        if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
            rep->element[0]->type != REDIS_REPLY_STRING ||
            rep->element[1]->type != REDIS_REPLY_ARRAY)
            return unexpected(rep, err, errlen);
        copy_out(cursor, sizeof cursor, rep->element[0]->str, rep->element[0]->len);
        for (size_t i = 0; i < rep->element[1]->elements; i++) {
            const redisReply *k = rep->element[1]->element[i];
            size_t name, at;
            char kind, *nkey;
            redisReply *m;

            if (k->type != REDIS_REPLY_STRING ||
                (at = layout1_key(k->str, k->len, prefix, plen, &kind, &name)) == 0)
                continue;
            if (dry_run) {
                m = command(r, err, errlen, kind == 'q' ? "HLEN %b" : "ZCARD %b", k->str, k->len);
            } else {
                if ((nkey = malloc(at + 3)) == NULL) {
                    freeReplyObject(rep);
                    store_err(err, errlen, "store: out of memory");
                    return -1;
                }
                memcpy(nkey, k->str, at);
                memcpy(nkey + at, ":z", 3);
                m = command(r, err, errlen, "EVAL %s 2 %b %s %b %b", migrate_script, k->str, k->len,
                            nkey, &kind, (size_t)1, k->str + name, k->len - name);
                free(nkey);
            }
            if (m == NULL) {
                freeReplyObject(rep);
                return -1;
            }
            if (m->type == REDIS_REPLY_INTEGER && m->integer >= 0) {
                (*keys)++;
                *members += (unsigned long)m->integer;
            }
            freeReplyObject(m);
        }
        freeReplyObject(rep);
    } while (strcmp(cursor, "0") != 0);
    if (dry_run) return 0;
    /* The marker says the layout (and is written when absent). */
    char mkey[512], since[40], layout[16];
    struct timeval tv;
    if (store_key(s, mkey, sizeof mkey, "detector", "marker") < 0) {
        store_err(err, errlen, "store: prefix too long");
        return -1;
    }
    gettimeofday(&tv, NULL);
    store_time_format((int64_t)tv.tv_sec * 1000000 + tv.tv_usec, since, sizeof since);
    snprintf(layout, sizeof layout, "%d", STORE_LAYOUT);
    redisReply *m = command(r, err, errlen, "HSETNX %s since %s", mkey, since);
    if (m != NULL) {
        freeReplyObject(m);
        m = command(r, err, errlen, "HSETNX %s by %s", mkey, "detector migrate");
    }
    if (m != NULL) {
        freeReplyObject(m);
        m = command(r, err, errlen, "HSET %s layout %s", mkey, layout);
    }
    if (m == NULL) return -1;
    freeReplyObject(m);
    return 0;
}
