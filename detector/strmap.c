/* strmap.c - the string-keyed hash table of strmap.h. */
#include <stdlib.h>
#include <string.h>

#include "strmap.h"

/* Eight bytes at a time, each word mixed in by a multiply, then a
 * finalizer (MurmurHash3's fmix64): a key of the batch cache is some 40
 * bytes, hashed at every lookup, and FNV-1a's byte loop was the daemon's
 * largest single cost under perf. */
uint64_t strmap_hash(const char *p, size_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ (uint64_t)n, w;

    for (; n >= 8; p += 8, n -= 8) {
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 29;
    }
    w = 0;
    memcpy(&w, p, n);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

struct slot *strmap_find(const struct strmap *m, const char *key, size_t klen, uint64_t h)
{
    size_t mask, i;

    if (m->cap == 0) return NULL;
    mask = m->cap - 1;
    for (i = (size_t)h & mask;; i = (i + 1) & mask) {
        struct slot *sl = &m->slots[i];

        if (sl->key == NULL) return NULL;
        if (sl->hash == h && sl->klen == klen && memcmp(sl->key, key, klen) == 0) return sl;
    }
}

static void strmap_place(struct slot *slots, size_t cap, const struct slot *src)
{
    size_t i;

    for (i = (size_t)src->hash & (cap - 1); slots[i].key != NULL; i = (i + 1) & (cap - 1))
        ;
    slots[i] = *src;
}

int strmap_add(struct strmap *m, const char *key, size_t klen, uint64_t h, void *val)
{
    struct slot sl;

    if ((m->len + 1) * 4 > m->cap * 3) {
        size_t ncap = m->cap != 0 ? m->cap * 2 : 8, i;
        struct slot *ns = calloc(ncap, sizeof *ns);

        if (ns == NULL) return -1;
        for (i = 0; i < m->cap; i++)
            if (m->slots[i].key != NULL) strmap_place(ns, ncap, &m->slots[i]);
        free(m->slots);
        m->slots = ns;
        m->cap = ncap;
    }
    sl.hash = h;
    sl.key = key;
    sl.klen = klen;
    sl.val = val;
    strmap_place(m->slots, m->cap, &sl);
    m->len++;
    return 0;
}

/* Backward-shift deletion. */
void strmap_remove(struct strmap *m, struct slot *sl)
{
    size_t mask = m->cap - 1, i = (size_t)(sl - m->slots), j = i, home;

    for (;;) {
        j = (j + 1) & mask;
        if (m->slots[j].key == NULL) break;
        home = (size_t)m->slots[j].hash & mask;
        /* The entry at j may move to i unless its home lies in (i, j]. */
        if (i <= j ? (i < home && home <= j) : (i < home || home <= j)) continue;
        m->slots[i] = m->slots[j];
        i = j;
    }
    m->slots[i].key = NULL;
    m->len--;
}
