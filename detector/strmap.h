/* strmap.h - a string-keyed hash table (open addressing, linear probing),
 * private to the stores (store_mem.c, store_cache.c).
 *
 * The table does not own its keys or values: a slot's key points into the
 * value it maps to, so a value lives exactly as long as its slot.
 */
#ifndef DETECTOR_STRMAP_H
#define DETECTOR_STRMAP_H

#include <stddef.h>
#include <stdint.h>

struct slot {
    uint64_t hash;
    const char *key; /* NULL: empty; points into the value */
    size_t klen;
    void *val;
};

struct strmap {
    struct slot *slots;
    size_t cap; /* a power of two, or 0 */
    size_t len;
};

/* FNV-1a with a finalizer. */
uint64_t strmap_hash(const char *p, size_t n);
/* The slot of key (hash h), or NULL. */
struct slot *strmap_find(const struct strmap *m, const char *key, size_t klen, uint64_t h);
/* Adds a key known to be absent (key borrowed: it must live in val). 0, or
 * -1 when out of memory. */
int strmap_add(struct strmap *m, const char *key, size_t klen, uint64_t h, void *val);
/* Removes a slot returned by strmap_find. */
void strmap_remove(struct strmap *m, struct slot *sl);

#endif
