/* store_cache.c - the batch cache: a batch of events decided in memory over
 * a snapshot of the state it touches, then written back in one round trip.
 *
 * The daemon decides a batch in *passes*. A pass runs every event of the
 * batch, in order, through the engine against a memory store that holds a
 * copy of the keys loaded so far (each exactly as it was in the backing
 * store when loaded). An operation on a key that is not loaded is a *miss*:
 * the key is noted (with the type of value the operation wants) and the
 * operation answers "empty"; the pass goes on, but its results are thrown
 * away. After a pass with misses, store_cache_fetch loads every noted key in
 * one round trip and the batch runs again. A pass without a miss read only
 * loaded keys and the batch's own earlier writes, in event order: its
 * decisions are those of one event at a time against the backing store.
 * Its writes (the log) are then sent to the backing store in event order,
 * pipelined, in one round trip (store_cache_commit), each run of member
 * adds and removals regrouped by key (commit_run).
 *
 * Writes that replace a whole value (a hash replaced, a string set, a key
 * deleted) need not load the key: the key is known for the rest of the
 * pass. Two passes are the rule (the first learns the keys, the second
 * decides); a key an event finds only through a value it read is loaded
 * in the second pass as it is met (see usable).
 *
 * The backing store executes the log in order on one connection, so a
 * failure or a crash in the middle leaves a prefix of it: the state of
 * "events 1..k done, event k+1 partly", exactly what processing one event at
 * a time can leave, which the engine's idempotence per event already covers.
 * (A regrouped run can also leave members of an event before k+1 unwritten
 * when no mark of done separates them: an event fed again after a
 * redelivery, whose members are already there.)
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store_impl.h"
#include "strmap.h"

/* What the cache knows of a key during a batch. */
struct ckey {
    int type;            /* STORE_T_*: what to read it as */
    int loaded;          /* its snapshot is in the cache's base */
    unsigned local_pass; /* a whole-value write of pass local_pass made it known */
    unsigned need_pass;  /* noted as missing in pass need_pass */
    size_t klen;
    char key[];
};

enum { OP_ZADD = 1, OP_ZREM, OP_HREPLACE, OP_SET, OP_DEL, OP_PUSH };

/* One write of the pass, with copies of its arguments. */
struct wop {
    int kind;
    int flags;
    char *key, *str;
    int64_t score, min_score, ttl_ms, expire_at_ms;
    size_t cap;
    struct store_field *f; /* OP_HREPLACE: the fields; OP_ZREM: the members (names) */
    size_t nf;
};

struct store_cache {
    struct store base;
    store_t *back;      /* borrowed */
    store_t *snap;      /* the loaded keys as the backing store had them */
    store_t *mem;       /* this pass's state: snap, moved, changed by the pass */
    struct strmap keys; /* key -> struct ckey */
    unsigned pass;      /* the pass in progress (0: none yet) */
    unsigned nth;       /* passes of this batch so far */
    /* Loading keys at once (load_now) costs a round trip each: a pass
     * stops when they have taken as long as the previous pass and its
     * fetch (about what a further pass would cost), or load_budget_us
     * when set (store_cache_set_load_budget). */
    int64_t pass_start_us, prev_pass_us, load_us, load_budget_us;
    struct ckey **need; /* the keys missed in this pass */
    size_t nneed, capneed;
    struct wop *log; /* the writes of this pass, in order */
    size_t nlog, caplog;
    unsigned long passes, fetched, committed; /* totals, for statistics */
};

static const struct store_ops cache_ops;

static struct store_cache *cache_of(store_t *s)
{
    return s != NULL && s->ops == &cache_ops ? (struct store_cache *)s : NULL;
}

static int oom(char *err, size_t errlen)
{
    store_err(err, errlen, "store: out of memory");
    return -1;
}

/* --- Keys -------------------------------------------------------------- */

static struct ckey *key_get(struct store_cache *c, const char *key, int type)
{
    size_t len = strlen(key);
    uint64_t h = strmap_hash(key, len);
    struct slot *sl = strmap_find(&c->keys, key, len, h);
    struct ckey *k;

    if (sl != NULL) return sl->val;
    k = calloc(1, sizeof *k + len + 1);
    if (k == NULL) return NULL;
    k->type = type;
    k->klen = len;
    memcpy(k->key, key, len + 1);
    if (strmap_add(&c->keys, k->key, len, h, k) < 0) {
        free(k);
        return NULL;
    }
    return k;
}

static int64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Loads key k into the pass's state now, in a round trip of its own: at a
 * miss in a pass after the first (see usable). 0, or -1 when the pass's
 * budget for such loads is spent or the backing store failed (the miss is
 * then noted as any other). */
static int load_now(struct store_cache *c, struct ckey *k, int type)
{
    const char *keys[1] = {k->key};
    int types[1] = {type};
    char err[256];
    int64_t budget = c->load_budget_us >= 0 ? c->load_budget_us : c->prev_pass_us, t0;

    if (c->load_us >= budget) return -1;
    t0 = now_us();
    k->type = type;
    int rc = c->back->ops->fetch(c->back, 1, keys, types, c->mem, err, sizeof err);
    c->load_us += now_us() - t0;
    if (rc < 0) return -1;
    k->loaded = 1;
    c->fetched++;
    return 0;
}

/* 1 when the pass may use key (of type); 0 after noting a miss; -1 when out
 * of memory. blind: the operation replaces the whole value, so the key
 * becomes known for the rest of the pass without being loaded.
 *
 * The first pass learns the keys; the second finds them loaded, but for
 * the keys an event finds only through values it read (a request's
 * initiator IP, say). At each such miss, while the pass has had no miss
 * it did not load, the key is loaded at once and the pass goes on: it is
 * still exact, as the backing store has the key as it was before the
 * batch (nothing is written before the last pass) and no earlier event of
 * the pass touched it (that would have been a miss). A round trip of one
 * key instead of a third pass over the whole batch, which nearly every
 * batch of a few hundred events needed; once these round trips have taken
 * as long as a further pass would (see pass_start_us), the misses are
 * noted as in the first pass, for one fetch and a third pass. */
static int usable(struct store_cache *c, const char *key, int type, int blind)
{
    struct ckey *k = key_get(c, key, type);

    if (k == NULL) return -1;
    if (k->loaded || k->local_pass == c->pass) return 1;
    if (blind) {
        k->local_pass = c->pass;
        return 1;
    }
    if (c->nth > 1 && c->nneed == 0 && load_now(c, k, type) == 0) return 1;
    if (k->need_pass != c->pass) {
        if (c->nneed == c->capneed) {
            size_t ncap = c->capneed ? c->capneed * 2 : 64;
            struct ckey **nv = realloc(c->need, ncap * sizeof *nv);

            if (nv == NULL) return -1;
            c->need = nv;
            c->capneed = ncap;
        }
        c->need[c->nneed++] = k;
        k->need_pass = c->pass;
        k->type = type;
    }
    return 0;
}

/* --- The log of writes -------------------------------------------------- */

static void wop_clear(struct wop *w)
{
    size_t i;

    free(w->key);
    free(w->str);
    for (i = 0; i < w->nf; i++) {
        free((char *)(uintptr_t)w->f[i].name);
        free((char *)(uintptr_t)w->f[i].value);
    }
    free(w->f);
}

static void log_clear(struct store_cache *c)
{
    size_t i;

    for (i = 0; i < c->nlog; i++)
        wop_clear(&c->log[i]);
    c->nlog = 0;
}

/* A new entry at the end of the log with a copy of key and str (may be
 * NULL), or NULL when out of memory. */
static struct wop *log_add(struct store_cache *c, int kind, const char *key, const char *str)
{
    struct wop *w;

    if (c->nlog == c->caplog) {
        size_t ncap = c->caplog ? c->caplog * 2 : 256;
        struct wop *nv = realloc(c->log, ncap * sizeof *nv);

        if (nv == NULL) return NULL;
        c->log = nv;
        c->caplog = ncap;
    }
    w = &c->log[c->nlog];
    memset(w, 0, sizeof *w);
    w->kind = kind;
    w->key = strdup(key);
    w->str = str != NULL ? strdup(str) : NULL;
    if (w->key == NULL || (str != NULL && w->str == NULL)) {
        wop_clear(w);
        return NULL;
    }
    c->nlog++;
    return w;
}

/* Copies fields f[0..nf) into w. 0, or -1 when out of memory (w->nf says
 * how many wop_clear frees). */
static int wop_fields(struct wop *w, const struct store_field *f, size_t nf)
{
    size_t i;

    if (nf > 0 && (w->f = calloc(nf, sizeof *w->f)) == NULL) return -1;
    for (i = 0; i < nf; i++) {
        w->f[i].name = strdup(f[i].name);
        w->f[i].value = strdup(f[i].value);
        w->nf++;
        if (w->f[i].name == NULL || w->f[i].value == NULL) return -1;
    }
    return 0;
}

/* --- Primitives ---------------------------------------------------------- */

/* What plain_add gathers from the pass's copy of a key. */
struct plain_scan {
    const char *member; /* the member added */
    size_t mlen, rlen;  /* its length; its id prefix (ZADD_REPLACE), or 0 */
    int64_t top, line;  /* the greatest score; the line below which to prune */
    int64_t low;        /* the least score */
    int add;            /* the member is added */
    char **below;       /* the members to remove */
    size_t n, cap;
};

static int scan_top(void *arg, const char *m, size_t len, int64_t score)
{
    struct plain_scan *ps = arg;
    (void)m;
    (void)len;
    if (score > ps->top) ps->top = score;
    if (score < ps->low) ps->low = score;
    return 0;
}

static int scan_gone(void *arg, const char *m, size_t len, int64_t score)
{
    struct plain_scan *ps = arg;
    int gone = score < ps->line || (ps->add && ps->rlen > 0 && len >= ps->rlen &&
                                    memcmp(m, ps->member, ps->rlen) == 0 &&
                                    !(len == ps->mlen && memcmp(m, ps->member, len) == 0));
    if (!gone) return 0;
    if (ps->n == ps->cap) {
        size_t cap = ps->cap ? ps->cap * 2 : 8;
        char **nv = realloc(ps->below, cap * sizeof *nv);
        if (nv == NULL) return -1;
        ps->below = nv;
        ps->cap = cap;
    }
    if ((ps->below[ps->n] = malloc(len + 1)) == NULL) return -1;
    memcpy(ps->below[ps->n], m, len);
    ps->below[ps->n++][len] = '\0';
    return 0;
}

/* An add to a scope's sorted set (ZADD_PREFIX), where this pass sees the
 * key whole (it was loaded): what the add would prune (and, for
 * ZADD_REPLACE, remove) is known here. When there is nothing, or only
 * members whose score never changes (ZADD_FIXED: event ids, requests), the
 * backing store is told to add without pruning (ZADD_NOPRUNE: plain
 * commands in Redis instead of a script), and the removal becomes an
 * OP_ZREM of those members after the add: the result of the add, remove
 * and prune of one script. *below (*n members, caller frees) are the
 * members to remove; *add 0 when the member is not added (ZADD_FROM_MAX).
 *
 * A key of one window (a distinct count, no ZADD_PREFIX) pruned from its
 * greatest score (ZADD_FROM_MAX) gets its line here too: *flags loses
 * ZADD_FROM_MAX and *min_score becomes that line, or INT64_MIN when
 * nothing (the member included) is below it, so the backing store sends
 * ZADD, ZREMRANGEBYSCORE (only then) and PEXPIRE instead of a script.
 * Daemons of other partitions may add to such a key (its scope need not
 * be an identity): a prune by score leaves their members above the line,
 * and a greater score of theirs that this copy lacks only puts the line
 * higher, which the next add prunes to; readers count by time, never
 * below the line. 0, or -1 when out of memory. */
static int plain_add(struct store_cache *c, const char *key, const char *member, int64_t score,
                     int *flags, int64_t *min_score, char ***below, size_t *n, int *add)
{
    struct plain_scan ps = {
        .member = member, .top = score, .low = score, .line = *min_score, .add = 1};
    size_t plen = store_zprefix(member, *flags, &ps.rlen);

    *below = NULL;
    *n = 0;
    *add = 1;
    if (*min_score == INT64_MIN) return 0;
    if (plen == 0 && !(*flags & ZADD_PREFIX) && (*flags & ZADD_FROM_MAX)) {
        store_mem_zscan(c->mem, key, member, 0, scan_top, &ps);
        ps.line = ps.top - (score - *min_score);
        *min_score = ps.low < ps.line ? ps.line : INT64_MIN;
        *flags &= ~ZADD_FROM_MAX;
        return 0;
    }
    if (plen == 0) return 0;
    int64_t min = *min_score;
    if ((*flags & (ZADD_FROM_MAX | ZADD_REPLACE)) && !(*flags & ZADD_FIXED)) return 0;
    ps.mlen = strlen(member);
    if (*flags & ZADD_FROM_MAX) {
        store_mem_zscan(c->mem, key, member, plen, scan_top, &ps);
        ps.line = ps.top - (score - min);
        ps.add = score >= ps.line;
    }
    if (store_mem_zscan(c->mem, key, member, plen, scan_gone, &ps) < 0) {
        for (size_t i = 0; i < ps.n; i++)
            free(ps.below[i]);
        free(ps.below);
        return -1;
    }
    *below = ps.below;
    *n = ps.n;
    *add = ps.add;
    if (ps.n == 0 || (*flags & ZADD_FIXED)) *flags |= ZADD_NOPRUNE;
    return 0;
}

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static int cache_zadd(store_t *s, const char *key, const char *member, int64_t score, int flags,
                      int64_t min_score, int64_t ttl_ms, char *err, size_t errlen)
{
    struct store_cache *c = (struct store_cache *)s;
    int u = usable(c, key, STORE_T_ZSET, 0);
    char **below;
    size_t n;
    struct wop *w;
    int add, wflags = flags; /* the flags and line of the write */
    int64_t wmin = min_score;

    if (u <= 0) return u < 0 ? oom(err, errlen) : 0;
    if (plain_add(c, key, member, score, &wflags, &wmin, &below, &n, &add) < 0)
        return oom(err, errlen);
    if (c->mem->ops->zadd(c->mem, key, member, score, flags, min_score, ttl_ms, err, errlen) < 0) {
        free_list(below, n);
        return -1;
    }
    /* A plain add the line refuses is no add at all. */
    if (add || !(wflags & ZADD_NOPRUNE)) {
        if ((w = log_add(c, OP_ZADD, key, member)) == NULL) goto oom;
        w->score = score;
        w->flags = wflags;
        w->min_score = wmin;
        w->ttl_ms = ttl_ms;
    }
    if (n > 0 && (wflags & ZADD_NOPRUNE)) { /* the removals, after the add */
        struct store_field *f = calloc(n, sizeof *f);
        if (f == NULL || (w = log_add(c, OP_ZREM, key, NULL)) == NULL) {
            free(f);
            goto oom;
        }
        for (size_t i = 0; i < n; i++) {
            f[i].name = below[i];
            f[i].value = "";
        }
        int rc = wop_fields(w, f, n);
        free(f);
        if (rc < 0) {
            wop_clear(w);
            c->nlog--;
            goto oom;
        }
    }
    free_list(below, n);
    return 0;
oom:
    free_list(below, n);
    return oom(err, errlen);
}

static int cache_zcount(store_t *s, const char *key, const char *prefix, int64_t lo, int64_t hi,
                        long *count, char *err, size_t errlen)
{
    struct store_cache *c = (struct store_cache *)s;
    int u = usable(c, key, STORE_T_ZSET, 0);

    *count = 0;
    if (u <= 0) return u < 0 ? oom(err, errlen) : 0;
    return c->mem->ops->zcount(c->mem, key, prefix, lo, hi, count, err, errlen);
}

static int cache_zrange(store_t *s, const char *key, const char *prefix, int64_t lo, int64_t hi,
                        size_t max, char ***members, size_t *n, char *err, size_t errlen)
{
    struct store_cache *c = (struct store_cache *)s;
    int u = usable(c, key, STORE_T_ZSET, 0);

    *members = NULL;
    *n = 0;
    if (u <= 0) return u < 0 ? oom(err, errlen) : 0;
    return c->mem->ops->zrange(c->mem, key, prefix, lo, hi, max, members, n, err, errlen);
}

static int cache_zscore(store_t *s, const char *key, const char *member, int *found, int64_t *score,
                        char *err, size_t errlen)
{
    struct store_cache *c = (struct store_cache *)s;
    int u = usable(c, key, STORE_T_ZSET, 0);

    *found = 0;
    if (u <= 0) return u < 0 ? oom(err, errlen) : 0;
    return c->mem->ops->zscore(c->mem, key, member, found, score, err, errlen);
}

static int cache_hreplace(store_t *s, const char *key, const struct store_field *f, size_t nf,
                          int64_t ttl_ms, int64_t expire_at_ms, char *err, size_t errlen)
{
    struct store_cache *c = (struct store_cache *)s;
    struct wop *w;

    if (usable(c, key, STORE_T_HASH, 1) < 0) return oom(err, errlen);
    if (c->mem->ops->hreplace(c->mem, key, f, nf, ttl_ms, expire_at_ms, err, errlen) < 0) return -1;
    if ((w = log_add(c, OP_HREPLACE, key, NULL)) == NULL) return oom(err, errlen);
    w->ttl_ms = ttl_ms;
    w->expire_at_ms = expire_at_ms;
    if (wop_fields(w, f, nf) < 0) goto fail;
    return 0;
fail:
    wop_clear(w);
    c->nlog--;
    return oom(err, errlen);
}

static int cache_hgetall(store_t *s, const char *key, store_field_fn fn, void *arg, char *err,
                         size_t errlen)
{
    struct store_cache *c = (struct store_cache *)s;
    int u = usable(c, key, STORE_T_HASH, 0);

    if (u <= 0) return u < 0 ? oom(err, errlen) : 0;
    return c->mem->ops->hgetall(c->mem, key, fn, arg, err, errlen);
}

static int cache_set(store_t *s, const char *key, const char *value, int64_t ttl_ms, char *err,
                     size_t errlen)
{
    struct store_cache *c = (struct store_cache *)s;
    struct wop *w;

    if (usable(c, key, STORE_T_STR, 1) < 0) return oom(err, errlen);
    if (c->mem->ops->set(c->mem, key, value, ttl_ms, err, errlen) < 0) return -1;
    if ((w = log_add(c, OP_SET, key, value)) == NULL) return oom(err, errlen);
    w->ttl_ms = ttl_ms;
    return 0;
}

static int cache_get(store_t *s, const char *key, int *found, char *buf, size_t buflen, char *err,
                     size_t errlen)
{
    struct store_cache *c = (struct store_cache *)s;
    int u = usable(c, key, STORE_T_STR, 0);

    *found = 0;
    if (u <= 0) return u < 0 ? oom(err, errlen) : 0;
    return c->mem->ops->get(c->mem, key, found, buf, buflen, err, errlen);
}

static int cache_del(store_t *s, const char *key, char *err, size_t errlen)
{
    struct store_cache *c = (struct store_cache *)s;
    struct ckey *k = key_get(c, key, STORE_T_STR);

    if (k == NULL) return oom(err, errlen);
    /* Known from here on whatever its type; a key never loaded keeps the
     * type a later miss gives it. */
    if (!k->loaded) k->local_pass = c->pass;
    if (c->mem->ops->del(c->mem, key, err, errlen) < 0) return -1;
    return log_add(c, OP_DEL, key, NULL) != NULL ? 0 : oom(err, errlen);
}

static int cache_lpush_unique(store_t *s, const char *key, const char *entry, size_t cap, char *err,
                              size_t errlen)
{
    struct store_cache *c = (struct store_cache *)s;
    int u = usable(c, key, STORE_T_LIST, cap == 0);
    struct wop *w;

    if (u <= 0) return u < 0 ? oom(err, errlen) : 0;
    if (c->mem->ops->lpush_unique(c->mem, key, entry, cap, err, errlen) < 0) return -1;
    if ((w = log_add(c, OP_PUSH, key, entry)) == NULL) return oom(err, errlen);
    w->cap = cap;
    return 0;
}

static int cache_lrange(store_t *s, const char *key, size_t max, char ***entries, size_t *n,
                        char *err, size_t errlen)
{
    struct store_cache *c = (struct store_cache *)s;
    int u = usable(c, key, STORE_T_LIST, 0);

    *entries = NULL;
    *n = 0;
    if (u <= 0) return u < 0 ? oom(err, errlen) : 0;
    return c->mem->ops->lrange(c->mem, key, max, entries, n, err, errlen);
}

/* The engine flushes after every event: here its writes are in the log,
 * and store_cache_commit makes them durable. */
static int cache_flush(store_t *s, char *err, size_t errlen)
{
    (void)s;
    (void)err;
    (void)errlen;
    return 0;
}

static int cache_reconnect(store_t *s, char *err, size_t errlen)
{
    return store_reconnect(((struct store_cache *)s)->back, err, errlen);
}

/* --- Batches --------------------------------------------------------------- */

static void keys_clear(struct store_cache *c)
{
    size_t i;

    for (i = 0; i < c->keys.cap; i++)
        if (c->keys.slots[i].key != NULL) free(c->keys.slots[i].val);
    free(c->keys.slots);
    memset(&c->keys, 0, sizeof c->keys);
}

void store_cache_end(store_t *s)
{
    struct store_cache *c = cache_of(s);

    if (c == NULL) return;
    keys_clear(c);
    log_clear(c);
    c->nneed = 0;
    c->nth = 0;
    store_free(c->mem);
    c->mem = NULL;
    store_free(c->snap);
    c->snap = NULL;
}

int store_cache_begin(store_t *s, char *err, size_t errlen)
{
    struct store_cache *c = cache_of(s);

    if (c == NULL) {
        store_err(err, errlen, "store: not a cache");
        return -1;
    }
    /* The loaded keys become this pass's state as they are, not copied:
     * most passes are the last. A pass after this one fetches every loaded
     * key again (store_cache_fetch), as the backing store still has it
     * (nothing of the batch is written before the last pass). */
    store_free(c->mem);
    c->mem = c->snap;
    c->snap = NULL;
    if (c->mem == NULL && c->nth > 0) {
        /* no fetch since the last pass (or a failed one): what was loaded
         * is gone with that pass's state, so it is loaded again */
        for (size_t i = 0; i < c->keys.cap; i++)
            if (c->keys.slots[i].key != NULL) ((struct ckey *)c->keys.slots[i].val)->loaded = 0;
    }
    if (c->mem == NULL && (c->mem = store_mem_new(store_prefix(s))) == NULL)
        return oom(err, errlen);
    log_clear(c);
    int64_t t = now_us();
    if (c->nth > 0) c->prev_pass_us = t - c->pass_start_us;
    c->pass_start_us = t;
    c->load_us = 0;
    c->nneed = 0;
    if (++c->pass == 0) c->pass = 1; /* 0 is "never" in a ckey */
    c->passes++;
    c->nth++;
    return 0;
}

size_t store_cache_missing(const store_t *s)
{
    const struct store_cache *c =
        s != NULL && s->ops == &cache_ops ? (const struct store_cache *)s : NULL;

    return c != NULL ? c->nneed : 0;
}

int store_cache_fetch(store_t *s, char *err, size_t errlen)
{
    struct store_cache *c = cache_of(s);
    const char **keys;
    int *types;
    size_t i;
    int rc;

    if (c == NULL || c->back->ops->fetch == NULL) {
        store_err(err, errlen, "store: cannot fetch");
        return -1;
    }
    if (c->nneed == 0) return 0;
    /* the keys missed, and the keys loaded before (the pass changed them) */
    size_t n = c->nneed, k = 0;
    for (i = 0; i < c->keys.cap; i++) {
        const struct ckey *ck = c->keys.slots[i].key != NULL ? c->keys.slots[i].val : NULL;
        if (ck != NULL && ck->loaded) n++;
    }
    keys = malloc(n * sizeof *keys);
    types = malloc(n * sizeof *types);
    if (keys == NULL || types == NULL || (c->snap = store_mem_new(store_prefix(s))) == NULL) {
        free(keys);
        free(types);
        return oom(err, errlen);
    }
    for (i = 0; i < c->nneed; i++) {
        keys[k] = c->need[i]->key;
        types[k++] = c->need[i]->type;
    }
    for (i = 0; i < c->keys.cap; i++) {
        const struct ckey *ck = c->keys.slots[i].key != NULL ? c->keys.slots[i].val : NULL;
        if (ck != NULL && ck->loaded) {
            keys[k] = ck->key;
            types[k++] = ck->type;
        }
    }
    rc = c->back->ops->fetch(c->back, n, keys, types, c->snap, err, errlen);
    if (rc == 0) {
        for (i = 0; i < c->nneed; i++)
            c->need[i]->loaded = 1;
        c->fetched += n;
        c->nneed = 0;
    } else {
        store_free(c->snap);
        c->snap = NULL;
    }
    free(keys);
    free(types);
    return rc;
}

/* Sends one write of the log to the backing store. */
static int commit_op(store_t *b, const struct wop *w, char *err, size_t errlen)
{
    switch (w->kind) {
    case OP_ZADD:
        return b->ops->zadd(b, w->key, w->str, w->score, w->flags, w->min_score, w->ttl_ms, err,
                            errlen);
    case OP_ZREM: {
        const char **m = malloc(w->nf * sizeof *m);
        int rc;

        if (m == NULL) return oom(err, errlen);
        for (size_t k = 0; k < w->nf; k++)
            m[k] = w->f[k].name;
        rc = b->ops->zrem(b, w->key, m, w->nf, err, errlen);
        free(m);
        return rc;
    }
    case OP_HREPLACE:
        return b->ops->hreplace(b, w->key, w->f, w->nf, w->ttl_ms, w->expire_at_ms, err, errlen);
    case OP_SET:
        return b->ops->set(b, w->key, w->str, w->ttl_ms, err, errlen);
    case OP_DEL:
        return b->ops->del(b, w->key, err, errlen);
    case OP_PUSH:
        return b->ops->lpush_unique(b, w->key, w->str, w->cap, err, errlen);
    }
    store_err(err, errlen, "store: bad write %d", w->kind);
    return -1;
}

/* The kinds of write that commit_run regroups: plain adds to a scope's
 * sorted set with NX and with GT, removals of members, and other plain
 * adds (a distinct count's, whose order is kept). */
enum { W_NX, W_GT, W_REM, W_ORDERED };

/* A write that only adds or removes members, in plain commands: -1 for any
 * other (a script, a hash, a string, a list, a delete), else its W_ kind. */
static int movable(const struct wop *w)
{
    if (w->kind == OP_ZREM) return W_REM;
    if (w->kind != OP_ZADD) return -1;
    if (w->flags & ZADD_PREFIX) {
        if (!(w->flags & ZADD_NOPRUNE)) return -1;
        return (w->flags & ZADD_GT) ? W_GT : W_NX;
    }
    return (w->flags & ZADD_FROM_MAX) ? -1 : W_ORDERED;
}

/* Does any member of w (of kind a) appear in v (of kind b, another)? */
static int touches(const struct wop *w, const struct wop *v)
{
    size_t nw = w->kind == OP_ZREM ? w->nf : 1, nv = v->kind == OP_ZREM ? v->nf : 1;

    for (size_t i = 0; i < nw; i++) {
        const char *m = w->kind == OP_ZREM ? w->f[i].name : w->str;

        for (size_t k = 0; k < nv; k++)
            if (strcmp(m, v->kind == OP_ZREM ? v->f[k].name : v->str) == 0) return 1;
    }
    return 0;
}

/* Sends the writes log[from..to), all movable, regrouped: the writes of
 * one key together (keys in the order of their first write), and within a
 * key its NX adds, its GT adds, then one removal of every member it
 * removes, so the backing store sends one ZADD per kind and one TTL (see
 * pend_plain in store_redis.c). Member adds and removals commute across
 * keys, and within a key when no member is both added and removed or added
 * with both NX and GT (else that key's writes keep their order). A run
 * holds the state writes of one new event (a SET marking it done ends it,
 * and never moves) and those of events redelivered before it, fed again:
 * a cut in the middle leaves part of them, which deciding the new event
 * again (it is not marked done) and feeding the others again complete. A
 * key's TTL may come out longer than in event order (its adds come before
 * its removals), never shorter. */
static int commit_run(struct store_cache *c, size_t from, size_t to, char *err, size_t errlen)
{
    store_t *b = c->back;
    size_t n = to - from, ng;
    size_t *g = malloc(n * sizeof *g);
    char *sent = calloc(n, 1);
    int rc = -1;

    if (g == NULL || sent == NULL) {
        oom(err, errlen);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        const char *key = c->log[from + i].key;
        int ordered = 0;
        size_t nrem = 0;

        if (sent[i]) continue;
        ng = 0;
        for (size_t k = i; k < n; k++)
            if (!sent[k] && strcmp(c->log[from + k].key, key) == 0) {
                g[ng++] = k;
                sent[k] = 1;
            }
        for (size_t a = 0; a < ng && !ordered; a++) {
            const struct wop *wa = &c->log[from + g[a]];
            int ka = movable(wa);

            if (ka == W_ORDERED) ordered = 1;
            if (ka == W_REM) nrem += wa->nf;
            for (size_t z = a + 1; z < ng && !ordered; z++) {
                const struct wop *wz = &c->log[from + g[z]];

                if (movable(wz) != ka && touches(wa, wz)) ordered = 1;
            }
        }
        if (ordered) {
            for (size_t a = 0; a < ng; a++)
                if (commit_op(b, &c->log[from + g[a]], err, errlen) < 0) goto done;
            continue;
        }
        for (int kind = W_NX; kind <= W_GT; kind++)
            for (size_t a = 0; a < ng; a++)
                if (movable(&c->log[from + g[a]]) == kind &&
                    commit_op(b, &c->log[from + g[a]], err, errlen) < 0)
                    goto done;
        if (nrem > 0) {
            const char **m = malloc(nrem * sizeof *m);
            size_t k = 0;

            if (m == NULL) {
                oom(err, errlen);
                goto done;
            }
            for (size_t a = 0; a < ng; a++) {
                const struct wop *w = &c->log[from + g[a]];

                for (size_t f = 0; w->kind == OP_ZREM && f < w->nf; f++)
                    m[k++] = w->f[f].name;
            }
            int r = b->ops->zrem(b, key, m, nrem, err, errlen);
            free(m);
            if (r < 0) goto done;
        }
    }
    rc = 0;
done:
    free(g);
    free(sent);
    return rc;
}

static int commit_log(store_t *s, int wait, char *err, size_t errlen)
{
    struct store_cache *c = cache_of(s);
    store_t *b;
    size_t i, j;

    if (c == NULL) {
        store_err(err, errlen, "store: not a cache");
        return -1;
    }
    if (c->nneed > 0) {
        store_err(err, errlen, "store: a pass with misses cannot be committed");
        return -1;
    }
    b = c->back;
    for (i = 0; i < c->nlog; i = j) {
        /* a run of member adds and removals, regrouped; any other write
         * keeps its place */
        for (j = i; j < c->nlog && movable(&c->log[j]) >= 0; j++)
            ;
        if (j > i) {
            if (commit_run(c, i, j, err, errlen) < 0) return -1;
            continue;
        }
        if (commit_op(b, &c->log[i], err, errlen) < 0) return -1;
        j = i + 1;
    }
    if (wait ? b->ops->flush(b, err, errlen) < 0 : store_send(b, err, errlen) < 0) return -1;
    c->committed += c->nlog;
    log_clear(c);
    return 0;
}

int store_cache_commit(store_t *s, char *err, size_t errlen)
{
    return commit_log(s, 1, err, errlen);
}

int store_cache_send(store_t *s, char *err, size_t errlen)
{
    return commit_log(s, 0, err, errlen);
}

void store_cache_counters(const store_t *s, unsigned long *passes, unsigned long *fetched,
                          unsigned long *written)
{
    const struct store_cache *c =
        s != NULL && s->ops == &cache_ops ? (const struct store_cache *)s : NULL;

    *passes = c != NULL ? c->passes : 0;
    *fetched = c != NULL ? c->fetched : 0;
    *written = c != NULL ? c->committed : 0;
}

static void cache_destroy(store_t *s)
{
    struct store_cache *c = (struct store_cache *)s;

    store_cache_end(s);
    free(c->need);
    free(c->log);
    store_base_fini(&c->base);
    free(c);
}

static const struct store_ops cache_ops = {
    .destroy = cache_destroy,
    .reconnect = cache_reconnect,
    .zadd = cache_zadd,
    .zcount = cache_zcount,
    .zrange = cache_zrange,
    .zscore = cache_zscore,
    .hreplace = cache_hreplace,
    .hgetall = cache_hgetall,
    .set = cache_set,
    .get = cache_get,
    .del = cache_del,
    .lpush_unique = cache_lpush_unique,
    .lrange = cache_lrange,
    .flush = cache_flush,
    .fetch = NULL,
};

void store_cache_set_load_budget(store_t *s, long long us)
{
    struct store_cache *c = cache_of(s);

    if (c != NULL) c->load_budget_us = us < 0 ? -1 : us;
}

store_t *store_cache_new(store_t *back)
{
    struct store_cache *c;

    if (back == NULL || back->ops->fetch == NULL) return NULL;
    c = calloc(1, sizeof *c);
    if (c == NULL) return NULL;
    if (store_base_init(&c->base, &cache_ops, store_prefix(back)) < 0) {
        free(c);
        return NULL;
    }
    c->back = back;
    c->load_budget_us = -1;
    return &c->base;
}
