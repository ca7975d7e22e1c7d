/* store_mem.c - the in-memory store, for offline replay and tests.
 *
 * A hash table maps each full key (the same keys as in Redis) to a typed
 * value: a sorted set, a hash, a list or a string. Every primitive of
 * store_impl.h does what its Redis commands do, so that replay decides what
 * the daemon decides. Wall-clock TTLs are not modelled: in Redis they only
 * collect garbage long after the event-time retention has pruned the data.
 *
 * A sorted set is an array of entries ordered by (score, member) plus an
 * index from member to entry. Events arrive nearly in time order, so new
 * members go to the end and pruning takes them from the front: the array
 * keeps a movable head so that both are cheap, and counts are two binary
 * searches.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_impl.h"
#include "strmap.h"

/* --- Values ----------------------------------------------------------- */

enum { T_ZSET = 1, T_HASH, T_LIST, T_STR };

struct zent {
    int64_t score;
    uint64_t hash;
    size_t len;
    char member[];
};

struct zset {
    struct zent **v; /* live entries are v[head .. head + n) */
    size_t head, n, cap;
    struct strmap idx; /* member -> struct zent */
};

struct hent {
    char *value;
    size_t vlen;
    char name[];
};

struct list {
    char **v; /* newest first */
    size_t n, cap;
};

struct mobj {
    int type;
    union {
        struct zset z;
        struct strmap h; /* name -> struct hent */
        struct list l;
        char *str;
    } u;
    size_t klen;
    char key[];
};

struct store_mem {
    struct store base;
    struct strmap keys; /* key -> struct mobj */
};

static int oom(char *err, size_t errlen)
{
    store_err(err, errlen, "store: out of memory");
    return -1;
}

static void hash_free(struct strmap *h)
{
    size_t i;

    for (i = 0; i < h->cap; i++) {
        if (h->slots[i].key != NULL) {
            struct hent *e = h->slots[i].val;

            free(e->value);
            free(e);
        }
    }
    free(h->slots);
}

static void obj_free(struct mobj *o)
{
    size_t i;

    switch (o->type) {
    case T_ZSET:
        for (i = 0; i < o->u.z.n; i++)
            free(o->u.z.v[o->u.z.head + i]);
        free(o->u.z.v);
        free(o->u.z.idx.slots);
        break;
    case T_HASH:
        hash_free(&o->u.h);
        break;
    case T_LIST:
        for (i = 0; i < o->u.l.n; i++)
            free(o->u.l.v[i]);
        free(o->u.l.v);
        break;
    case T_STR:
        free(o->u.str);
        break;
    }
    free(o);
}

static struct slot *obj_slot(struct store_mem *m, const char *key)
{
    size_t len = strlen(key);

    return strmap_find(&m->keys, key, len, strmap_hash(key, len));
}

/* DEL key */
static void obj_del(struct store_mem *m, const char *key)
{
    struct slot *sl = obj_slot(m, key);
    struct mobj *o;

    if (sl != NULL) {
        o = sl->val;
        strmap_remove(&m->keys, sl);
        obj_free(o);
    }
}

/* Finds key as a value of type, creating it when create is set. *out is
 * NULL when the key is absent and not created. -1 on a key of another type
 * (as Redis's WRONGTYPE) or when out of memory. */
static int obj_open(struct store_mem *m, const char *key, int type, int create, struct mobj **out,
                    char *err, size_t errlen)
{
    size_t len = strlen(key);
    uint64_t h = strmap_hash(key, len);
    struct slot *sl = strmap_find(&m->keys, key, len, h);
    struct mobj *o;

    *out = NULL;
    if (sl != NULL) {
        o = sl->val;
        if (o->type != type) {
            store_err(err, errlen,
                      "store: WRONGTYPE Operation against a key holding the wrong kind of value");
            return -1;
        }
        *out = o;
        return 0;
    }
    if (!create) return 0;
    o = calloc(1, sizeof *o + len + 1);
    if (o == NULL) return oom(err, errlen);
    o->type = type;
    o->klen = len;
    memcpy(o->key, key, len + 1);
    if (strmap_add(&m->keys, o->key, len, h, o) < 0) {
        free(o);
        return oom(err, errlen);
    }
    *out = o;
    return 0;
}

/* --- Sorted sets -------------------------------------------------------- */

#define ZAT(z, i) ((z)->v[(z)->head + (i)])

/* Redis's order: by score, then by member bytes (a prefix first). */
static int zcmp(int64_t score, const char *member, size_t len, const struct zent *e)
{
    size_t n = len < e->len ? len : e->len;
    int c;

    if (score != e->score) return score < e->score ? -1 : 1;
    c = memcmp(member, e->member, n);
    if (c != 0) return c;
    return len < e->len ? -1 : len > e->len;
}

/* First index whose entry is >= (score, member). */
static size_t z_lower(const struct zset *z, int64_t score, const char *member, size_t len)
{
    size_t lo = 0, hi = z->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (zcmp(score, member, len, ZAT(z, mid)) > 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* First index whose score is > score (gt) or >= score (!gt). */
static size_t z_bound(const struct zset *z, int64_t score, int gt)
{
    size_t lo = 0, hi = z->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int64_t s = ZAT(z, mid)->score;

        if (gt ? s <= score : s < score)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int z_insert(struct zset *z, struct zent *e)
{
    size_t p = z_lower(z, e->score, e->member, e->len);

    if (z->head > 0 && p < z->n / 2) {
        memmove(&z->v[z->head - 1], &z->v[z->head], p * sizeof *z->v);
        z->head--;
    } else {
        if (z->head + z->n == z->cap) {
            if (z->head > 0 && z->head >= z->n / 2) {
                memmove(z->v, &z->v[z->head], z->n * sizeof *z->v);
                z->head = 0;
            } else {
                size_t ncap = z->cap != 0 ? z->cap * 2 : 8;
                struct zent **nv = realloc(z->v, ncap * sizeof *nv);

                if (nv == NULL) return -1;
                z->v = nv;
                z->cap = ncap;
            }
        }
        memmove(&ZAT(z, p + 1), &ZAT(z, p), (z->n - p) * sizeof *z->v);
    }
    ZAT(z, p) = e;
    z->n++;
    return 0;
}

static void z_remove_at(struct zset *z, size_t p)
{
    if (p < z->n / 2) {
        memmove(&z->v[z->head + 1], &z->v[z->head], p * sizeof *z->v);
        z->head++;
    } else {
        memmove(&ZAT(z, p), &ZAT(z, p + 1), (z->n - p - 1) * sizeof *z->v);
    }
    if (--z->n == 0) z->head = 0;
}

static void z_unindex(struct zset *z, const struct zent *e)
{
    struct slot *sl = strmap_find(&z->idx, e->member, e->len, e->hash);

    if (sl != NULL) strmap_remove(&z->idx, sl);
}

/* ZREMRANGEBYSCORE key -inf (min */
static void z_prune(struct zset *z, int64_t min)
{
    size_t k = z_bound(z, min, 0), i;

    for (i = 0; i < k; i++) {
        z_unindex(z, ZAT(z, i));
        free(ZAT(z, i));
    }
    z->head += k;
    z->n -= k;
    if (z->n == 0) z->head = 0;
}

/* 1 when e's member begins with prefix[0..plen). */
static int z_has_prefix(const struct zent *e, const char *prefix, size_t plen)
{
    return plen == 0 || (e->len >= plen && memcmp(e->member, prefix, plen) == 0);
}

/* Removes the members that begin with prefix[0..plen) among the first k
 * entries; the others keep their order. */
static void z_drop_prefix(struct zset *z, size_t k, const char *prefix, size_t plen)
{
    size_t i, kept = 0, gone;

    for (i = 0; i < k; i++) {
        struct zent *e = ZAT(z, i);

        if (z_has_prefix(e, prefix, plen)) {
            z_unindex(z, e);
            free(e);
        } else {
            ZAT(z, kept++) = e;
        }
    }
    gone = k - kept;
    if (gone == 0) return;
    memmove(&ZAT(z, gone), &ZAT(z, 0), kept * sizeof *z->v);
    z->head += gone;
    z->n -= gone;
    if (z->n == 0) z->head = 0;
}

/* ZADD_PREFIX's pruning: the members below min that begin with prefix. */
static void z_prune_prefix(struct zset *z, int64_t min, const char *prefix, size_t plen)
{
    z_drop_prefix(z, z_bound(z, min, 0), prefix, plen);
}

static int mem_zadd(store_t *s, const char *key, const char *member, int64_t score, int flags,
                    int64_t min_score, int64_t ttl_ms, char *err, size_t errlen)
{
    struct store_mem *m = (struct store_mem *)s;
    size_t len = strlen(member);
    uint64_t h = strmap_hash(member, len);
    struct mobj *o;
    struct zset *z;
    struct slot *sl;
    struct zent *e;
    size_t rlen, plen = store_zprefix(member, flags, &rlen);

    (void)ttl_ms;
    if (obj_open(m, key, T_ZSET, 1, &o, err, errlen) < 0) return -1;
    z = &o->u.z;
    if (min_score != INT64_MIN && (flags & ZADD_FROM_MAX)) {
        /* Keep (max score - keep, ...]: the same members whatever the order
         * of the adds. A member already outside is not added. */
        int64_t keep = score - min_score;
        int64_t top = score;
        size_t i = z->n;

        while (i-- > 0)
            if (z_has_prefix(ZAT(z, i), member, plen)) {
                if (ZAT(z, i)->score > top) top = ZAT(z, i)->score;
                break;
            }
        min_score = top - keep;
        if (score < min_score) {
            if (plen > 0)
                z_prune_prefix(z, min_score, member, plen);
            else
                z_prune(z, min_score);
            return 0;
        }
    }
    if (rlen > 0) z_drop_prefix(z, z->n, member, rlen);
    sl = strmap_find(&z->idx, member, len, h);
    if (sl != NULL) {
        e = sl->val;
        if ((flags & ZADD_GT) && score > e->score) {
            z_remove_at(z, z_lower(z, e->score, e->member, e->len));
            e->score = score;
            if (z_insert(z, e) < 0) {
                strmap_remove(&z->idx, sl);
                free(e);
                return oom(err, errlen);
            }
        }
    } else {
        e = malloc(sizeof *e + len + 1);
        if (e == NULL) return oom(err, errlen);
        e->score = score;
        e->hash = h;
        e->len = len;
        memcpy(e->member, member, len + 1);
        if (strmap_add(&z->idx, e->member, len, h, e) < 0) {
            free(e);
            return oom(err, errlen);
        }
        if (z_insert(z, e) < 0) {
            z_unindex(z, e);
            free(e);
            return oom(err, errlen);
        }
    }
    if (min_score != INT64_MIN) {
        if (plen > 0)
            z_prune_prefix(z, min_score, member, plen);
        else
            z_prune(z, min_score);
    }
    return 0;
}

static int mem_zcount(store_t *s, const char *key, const char *prefix, int64_t lo, int64_t hi,
                      long *count, char *err, size_t errlen)
{
    size_t plen = prefix != NULL ? strlen(prefix) : 0;
    struct mobj *o;
    size_t a, b;

    *count = 0;
    if (obj_open((struct store_mem *)s, key, T_ZSET, 0, &o, err, errlen) < 0) return -1;
    if (o == NULL || lo >= hi) return 0;
    a = z_bound(&o->u.z, lo, 1);
    b = z_bound(&o->u.z, hi, 1);
    if (plen == 0) {
        *count = (long)(b - a);
        return 0;
    }
    for (; a < b; a++)
        *count += z_has_prefix(ZAT(&o->u.z, a), prefix, plen);
    return 0;
}

static int mem_zrange(store_t *s, const char *key, const char *prefix, int64_t lo, int64_t hi,
                      size_t max, char ***members, size_t *n, char *err, size_t errlen)
{
    size_t plen = prefix != NULL ? strlen(prefix) : 0;
    struct mobj *o;
    size_t a, b, i, k = 0;
    char **v;

    *members = NULL;
    *n = 0;
    if (obj_open((struct store_mem *)s, key, T_ZSET, 0, &o, err, errlen) < 0) return -1;
    if (o == NULL || lo >= hi) return 0;
    a = z_bound(&o->u.z, lo, 1);
    b = z_bound(&o->u.z, hi, 1);
    if (a == b) return 0;
    v = calloc(b - a < max ? b - a : max, sizeof *v);
    if (v == NULL) return oom(err, errlen);
    for (i = a; i < b && k < max; i++) {
        const struct zent *e = ZAT(&o->u.z, i);

        if (!z_has_prefix(e, prefix, plen)) continue;
        v[k] = malloc(e->len + 1);
        if (v[k] == NULL) {
            while (k-- > 0)
                free(v[k]);
            free(v);
            return oom(err, errlen);
        }
        memcpy(v[k++], e->member, e->len + 1);
    }
    if (k == 0) {
        free(v);
        return 0;
    }
    *members = v;
    *n = k;
    return 0;
}

static int mem_zrem(store_t *s, const char *key, const char *const *members, size_t n, char *err,
                    size_t errlen)
{
    struct mobj *o;

    if (obj_open((struct store_mem *)s, key, T_ZSET, 0, &o, err, errlen) < 0) return -1;
    for (size_t i = 0; o != NULL && i < n; i++) {
        size_t len = strlen(members[i]);
        struct slot *sl = strmap_find(&o->u.z.idx, members[i], len, strmap_hash(members[i], len));
        struct zent *e;

        if (sl == NULL) continue;
        e = sl->val;
        z_remove_at(&o->u.z, z_lower(&o->u.z, e->score, e->member, e->len));
        strmap_remove(&o->u.z.idx, sl);
        free(e);
    }
    if (o != NULL && o->u.z.n == 0) obj_del((struct store_mem *)s, key);
    return 0;
}

static int mem_zscore(store_t *s, const char *key, const char *member, int *found, int64_t *score,
                      char *err, size_t errlen)
{
    size_t len = strlen(member);
    struct mobj *o;
    struct slot *sl;

    *found = 0;
    if (obj_open((struct store_mem *)s, key, T_ZSET, 0, &o, err, errlen) < 0) return -1;
    if (o == NULL) return 0;
    sl = strmap_find(&o->u.z.idx, member, len, strmap_hash(member, len));
    if (sl != NULL) {
        *found = 1;
        *score = ((const struct zent *)sl->val)->score;
    }
    return 0;
}

/* --- Hashes ------------------------------------------------------------- */

static struct hent *hash_find(const struct strmap *h, const char *name)
{
    size_t len = strlen(name);
    struct slot *sl = strmap_find(h, name, len, strmap_hash(name, len));

    return sl != NULL ? sl->val : NULL;
}

/* HSET h name value */
static int hash_set(struct strmap *h, const char *name, const char *value)
{
    size_t nlen = strlen(name), vlen = strlen(value);
    struct hent *e = hash_find(h, name);
    char *v = malloc(vlen + 1);

    if (v == NULL) return -1;
    memcpy(v, value, vlen + 1);
    if (e != NULL) {
        free(e->value);
        e->value = v;
        e->vlen = vlen;
        return 0;
    }
    e = malloc(sizeof *e + nlen + 1);
    if (e == NULL) {
        free(v);
        return -1;
    }
    e->value = v;
    e->vlen = vlen;
    memcpy(e->name, name, nlen + 1);
    if (strmap_add(h, e->name, nlen, strmap_hash(name, nlen), e) < 0) {
        free(v);
        free(e);
        return -1;
    }
    return 0;
}

static int mem_hreplace(store_t *s, const char *key, const struct store_field *f, size_t nf,
                        int64_t ttl_ms, int64_t expire_at_ms, char *err, size_t errlen)
{
    struct store_mem *m = (struct store_mem *)s;
    struct mobj *o;
    size_t i;

    (void)ttl_ms;
    (void)expire_at_ms;
    obj_del(m, key);
    if (nf == 0) return 0;
    if (obj_open(m, key, T_HASH, 1, &o, err, errlen) < 0) return -1;
    for (i = 0; i < nf; i++) {
        if (hash_set(&o->u.h, f[i].name, f[i].value) < 0) {
            obj_del(m, key);
            return oom(err, errlen);
        }
    }
    return 0;
}

static int mem_hgetall(store_t *s, const char *key, store_field_fn fn, void *arg, char *err,
                       size_t errlen)
{
    struct mobj *o;
    size_t i;

    if (obj_open((struct store_mem *)s, key, T_HASH, 0, &o, err, errlen) < 0) return -1;
    if (o == NULL) return 0;
    for (i = 0; i < o->u.h.cap; i++) {
        const struct slot *sl = &o->u.h.slots[i];
        const struct hent *e = sl->val;

        if (sl->key != NULL && fn(arg, e->name, sl->klen, e->value, e->vlen) < 0)
            return oom(err, errlen);
    }
    return 0;
}

static void copy_out(char *buf, size_t buflen, const char *v, size_t len)
{
    if (buflen == 0) return;
    if (len >= buflen) len = buflen - 1;
    memcpy(buf, v, len);
    buf[len] = '\0';
}

/* --- Strings -------------------------------------------------------------- */

static int mem_set(store_t *s, const char *key, const char *value, int64_t ttl_ms, char *err,
                   size_t errlen)
{
    struct store_mem *m = (struct store_mem *)s;
    size_t len = strlen(value);
    struct mobj *o;
    char *v;

    (void)ttl_ms;
    v = malloc(len + 1);
    if (v == NULL) return oom(err, errlen);
    memcpy(v, value, len + 1);
    obj_del(m, key);
    if (obj_open(m, key, T_STR, 1, &o, err, errlen) < 0) {
        free(v);
        return -1;
    }
    o->u.str = v;
    return 0;
}

static int mem_get(store_t *s, const char *key, int *found, char *buf, size_t buflen, char *err,
                   size_t errlen)
{
    struct mobj *o;

    *found = 0;
    if (obj_open((struct store_mem *)s, key, T_STR, 0, &o, err, errlen) < 0) return -1;
    if (o == NULL) return 0;
    *found = 1;
    copy_out(buf, buflen, o->u.str, strlen(o->u.str));
    return 0;
}

static int mem_del(store_t *s, const char *key, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    obj_del((struct store_mem *)s, key);
    return 0;
}

/* --- Lists ---------------------------------------------------------------- */

static int mem_lpush_unique(store_t *s, const char *key, const char *entry, size_t cap, char *err,
                            size_t errlen)
{
    struct store_mem *m = (struct store_mem *)s;
    size_t len = strlen(entry), i;
    struct mobj *o;
    struct list *l;
    char *v;

    if (cap == 0) {
        struct mobj *cur;

        /* The script pushes, then deletes: only the type check remains. */
        if (obj_open(m, key, T_LIST, 0, &cur, err, errlen) < 0) return -1;
        obj_del(m, key);
        return 0;
    }
    if (obj_open(m, key, T_LIST, 1, &o, err, errlen) < 0) return -1;
    l = &o->u.l;
    for (i = 0; i < l->n; i++)
        if (strcmp(l->v[i], entry) == 0) break;
    if (i == l->n) {
        if (l->n == l->cap) {
            size_t ncap = l->cap != 0 ? l->cap * 2 : 8;
            char **nv = realloc(l->v, ncap * sizeof *nv);

            if (nv == NULL) return oom(err, errlen);
            l->v = nv;
            l->cap = ncap;
        }
        v = malloc(len + 1);
        if (v == NULL) return oom(err, errlen);
        memcpy(v, entry, len + 1);
        memmove(&l->v[1], &l->v[0], l->n * sizeof *l->v);
        l->v[0] = v;
        l->n++;
    }
    while (l->n > cap)
        free(l->v[--l->n]);
    return 0;
}

static int mem_lrange(store_t *s, const char *key, size_t max, char ***entries, size_t *n,
                      char *err, size_t errlen)
{
    struct mobj *o;
    size_t k, i;
    char **v;

    *entries = NULL;
    *n = 0;
    if (obj_open((struct store_mem *)s, key, T_LIST, 0, &o, err, errlen) < 0) return -1;
    if (o == NULL || o->u.l.n == 0) return 0;
    k = o->u.l.n < max ? o->u.l.n : max;
    v = calloc(k, sizeof *v);
    if (v == NULL) return oom(err, errlen);
    for (i = 0; i < k; i++) {
        size_t len = strlen(o->u.l.v[i]);

        v[i] = malloc(len + 1);
        if (v[i] == NULL) {
            while (i-- > 0)
                free(v[i]);
            free(v);
            return oom(err, errlen);
        }
        memcpy(v[i], o->u.l.v[i], len + 1);
    }
    *entries = v;
    *n = k;
    return 0;
}

/* --- Copies (a cache's snapshot: see store_cache.c) --------------------- */

/* A deep copy of o under the same key, or NULL when out of memory. */
static struct mobj *obj_copy(const struct mobj *o)
{
    struct mobj *c = calloc(1, sizeof *c + o->klen + 1);
    size_t i;

    if (c == NULL) return NULL;
    c->type = o->type;
    c->klen = o->klen;
    memcpy(c->key, o->key, o->klen + 1);
    switch (o->type) {
    case T_ZSET: {
        const struct zset *z = &o->u.z;
        struct zset *d = &c->u.z;

        if (z->n == 0) break;
        d->v = malloc(z->n * sizeof *d->v);
        if (d->v == NULL) goto fail;
        d->cap = z->n;
        for (i = 0; i < z->n; i++) {
            const struct zent *e = ZAT(z, i);
            struct zent *ne = malloc(sizeof *ne + e->len + 1);

            if (ne == NULL) goto fail;
            memcpy(ne, e, sizeof *ne + e->len + 1);
            if (strmap_add(&d->idx, ne->member, ne->len, ne->hash, ne) < 0) {
                free(ne);
                goto fail;
            }
            d->v[d->n++] = ne;
        }
        break;
    }
    case T_HASH:
        for (i = 0; i < o->u.h.cap; i++) {
            const struct slot *sl = &o->u.h.slots[i];

            if (sl->key != NULL && hash_set(&c->u.h, ((const struct hent *)sl->val)->name,
                                            ((const struct hent *)sl->val)->value) < 0)
                goto fail;
        }
        break;
    case T_LIST:
        if (o->u.l.n == 0) break;
        c->u.l.v = malloc(o->u.l.n * sizeof *c->u.l.v);
        if (c->u.l.v == NULL) goto fail;
        c->u.l.cap = o->u.l.n;
        for (i = 0; i < o->u.l.n; i++) {
            if ((c->u.l.v[i] = strdup(o->u.l.v[i])) == NULL) goto fail;
            c->u.l.n++;
        }
        break;
    case T_STR:
        if ((c->u.str = strdup(o->u.str)) == NULL) goto fail;
        break;
    }
    return c;
fail:
    obj_free(c);
    return NULL;
}

/* Puts a copy of o (NULL: nothing) under its key in m, replacing what was
 * there. */
static int obj_put_copy(struct store_mem *m, const char *key, const struct mobj *o, char *err,
                        size_t errlen)
{
    struct mobj *c;

    obj_del(m, key);
    if (o == NULL) return 0;
    if ((c = obj_copy(o)) == NULL) return oom(err, errlen);
    if (strmap_add(&m->keys, c->key, c->klen, strmap_hash(c->key, c->klen), c) < 0) {
        obj_free(c);
        return oom(err, errlen);
    }
    return 0;
}

static int mem_fetch(store_t *s, size_t n, const char *const *keys, const int *types, store_t *into,
                     char *err, size_t errlen)
{
    struct store_mem *m = (struct store_mem *)s;
    size_t i;

    (void)types;
    for (i = 0; i < n; i++) {
        struct slot *sl = obj_slot(m, keys[i]);

        if (obj_put_copy((struct store_mem *)into, keys[i], sl != NULL ? sl->val : NULL, err,
                         errlen) < 0)
            return -1;
    }
    return 0;
}

int store_mem_zscan(store_t *s, const char *key, const char *prefix, size_t plen,
                    int (*fn)(void *arg, const char *member, size_t len, int64_t score), void *arg)
{
    struct mobj *o;
    int rc = 0;

    if (obj_open((struct store_mem *)s, key, T_ZSET, 0, &o, NULL, 0) < 0 || o == NULL) return 0;
    for (size_t i = 0; rc == 0 && i < o->u.z.n; i++) {
        const struct zent *e = ZAT(&o->u.z, i);

        if (z_has_prefix(e, prefix, plen)) rc = fn(arg, e->member, e->len, e->score);
    }
    return rc;
}

/* --- The store ------------------------------------------------------------ */

static int mem_reconnect(store_t *s, char *err, size_t errlen)
{
    (void)s;
    (void)err;
    (void)errlen;
    return 0;
}

static void mem_destroy(store_t *s)
{
    struct store_mem *m = (struct store_mem *)s;
    size_t i;

    for (i = 0; i < m->keys.cap; i++)
        if (m->keys.slots[i].key != NULL) obj_free(m->keys.slots[i].val);
    free(m->keys.slots);
    store_base_fini(&m->base);
    free(m);
}

static int mem_flush(store_t *s, char *err, size_t errlen)
{
    (void)s;
    (void)err;
    (void)errlen;
    return 0;
}

static const struct store_ops mem_ops = {
    .destroy = mem_destroy,
    .reconnect = mem_reconnect,
    .zadd = mem_zadd,
    .zcount = mem_zcount,
    .zrange = mem_zrange,
    .zscore = mem_zscore,
    .zrem = mem_zrem,
    .hreplace = mem_hreplace,
    .hgetall = mem_hgetall,
    .set = mem_set,
    .get = mem_get,
    .del = mem_del,
    .lpush_unique = mem_lpush_unique,
    .lrange = mem_lrange,
    .flush = mem_flush,
    .fetch = mem_fetch,
};

store_t *store_mem_new(const char *prefix)
{
    struct store_mem *m = calloc(1, sizeof *m);

    if (m == NULL) return NULL;
    if (store_base_init(&m->base, &mem_ops, prefix) < 0) {
        free(m);
        return NULL;
    }
    return &m->base;
}
