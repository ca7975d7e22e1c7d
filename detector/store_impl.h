/* store_impl.h - private to store.c, store_mem.c and store_redis.c.
 *
 * store.c owns everything the two implementations must agree on: argument
 * checks, the key layout (every key is built by store.c, so both stores use
 * the same keys), and the conversions between the public structs and the
 * strings kept in the store (block and request hashes, cooldown strings,
 * RFC 3339 times). The implementations only provide the primitives below,
 * each one a small, fixed sequence of Redis commands (or a Lua script) that
 * the memory store mirrors exactly. Keys passed to the primitives are full
 * keys ("PREFIX{SCOPE}:SUFFIX"), borrowed.
 */
#ifndef DETECTOR_STORE_IMPL_H
#define DETECTOR_STORE_IMPL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* Milliseconds added to every garbage-collection TTL: one day. */
#define STORE_TTL_SLACK_MS 86400000LL

/* A field of a hash to write; both strings borrowed. */
struct store_field {
    const char *name;
    const char *value;
};

/* Called once per field by hgetall; the strings are valid during the call
 * only and need not be NUL-terminated. Returns 0, or -1 to report an error
 * (out of memory), which hgetall passes on. */
typedef int (*store_field_fn)(void *arg, const char *name, size_t nlen, const char *value,
                              size_t vlen);

#define ZADD_GT 1
#define ZADD_FROM_MAX 2
/* The key holds the members of many windows and sets, each member
 * "PREFIX\x1fREST" (STORE_SEP): pruning, the greatest score of
 * ZADD_FROM_MAX and the TTL concern the member's prefix only, and the TTL
 * is only ever lengthened (PTTL < ttl_ms: PEXPIRE), since the other
 * prefixes of the key may be kept longer. */
#define ZADD_PREFIX 4
#define STORE_SEP '\x1f'
/* With ZADD_PREFIX, when the member is added: first remove every member
 * that begins as it does up to its second STORE_SEP (inclusive), whatever
 * its score (a request replaced by a later put of the same id). */
#define ZADD_REPLACE 8
/* With ZADD_PREFIX, from a caller that knows the key (the batch cache): no
 * member of the prefix is below min_score, so there is nothing to prune:
 * ZADD and the TTL (PEXPIRE NX, PEXPIRE GT) as plain commands, cheaper for
 * Redis than a script. */
#define ZADD_NOPRUNE 16
/* The member's score never changes (an event id in an identity's window,
 * a request) and one daemon at a time writes the key: such a caller may
 * remove the members to prune or replace itself (zrem) after a
 * ZADD_NOPRUNE add. Not for windows that daemons of other partitions share
 * (the breaker's): their line is the script's. (A distinct count, which
 * other daemons may share too, is pruned by score through the batch
 * cache, with the line of the cache's copy: see plain_add.) */
#define ZADD_FIXED 32

/* The prefixes of a member under these flags: the length of the part that
 * ZADD_PREFIX prunes by (through the first STORE_SEP; 0 without
 * ZADD_PREFIX or a STORE_SEP) and, into *rlen when not NULL, of the part
 * ZADD_REPLACE removes by (through the second; 0 without ZADD_REPLACE or a
 * second STORE_SEP). */
size_t store_zprefix(const char *member, int flags, size_t *rlen);

struct store_ops {
    /* Frees the implementation, including the struct store it embeds. */
    void (*destroy)(store_t *s);
    int (*reconnect)(store_t *s, char *err, size_t errlen);

    /* ZADD key NX or GT (flags & ZADD_GT) score member;
     * ZREMRANGEBYSCORE key -inf (min_score; PEXPIRE key ttl_ms.
     * With ZADD_FROM_MAX the pruning line is (max score - (score -
     * min_score)) and a member below it is not added: the same members
     * whatever the order of the adds. ZADD_PREFIX: see above. */
    int (*zadd)(store_t *s, const char *key, const char *member, int64_t score, int flags,
                int64_t min_score, int64_t ttl_ms, char *err, size_t errlen);
    /* ZCOUNT key (lo hi, counting only the members that begin with prefix
     * (NULL: all). */
    int (*zcount)(store_t *s, const char *key, const char *prefix, int64_t lo, int64_t hi,
                  long *count, char *err, size_t errlen);
    /* ZRANGEBYSCORE key (lo hi LIMIT 0 max (max >= 1), of the members that
     * begin with prefix (NULL: all), returned whole. *members is NULL when
     * *n is 0; otherwise an array of *n strings, all from malloc. */
    int (*zrange)(store_t *s, const char *key, const char *prefix, int64_t lo, int64_t hi,
                  size_t max, char ***members, size_t *n, char *err, size_t errlen);
    /* ZSCORE key member */
    int (*zscore)(store_t *s, const char *key, const char *member, int *found, int64_t *score,
                  char *err, size_t errlen);
    /* ZREM key members[0..n) (n >= 1) */
    int (*zrem)(store_t *s, const char *key, const char *const *members, size_t n, char *err,
                size_t errlen);

    /* Atomically: DEL key; HSET key fields; then PEXPIREAT key expire_at_ms
     * when it is > 0, else PEXPIRE key ttl_ms when that is > 0. */
    int (*hreplace)(store_t *s, const char *key, const struct store_field *f, size_t nf,
                    int64_t ttl_ms, int64_t expire_at_ms, char *err, size_t errlen);
    /* HGETALL key, one call of fn per field (none when the key is absent). */
    int (*hgetall)(store_t *s, const char *key, store_field_fn fn, void *arg, char *err,
                   size_t errlen);

    /* SET key value PX ttl_ms */
    int (*set)(store_t *s, const char *key, const char *value, int64_t ttl_ms, char *err,
               size_t errlen);
    /* GET key into buf (truncated to buflen - 1 bytes); *found 0/1. */
    int (*get)(store_t *s, const char *key, int *found, char *buf, size_t buflen, char *err,
               size_t errlen);
    /* DEL key */
    int (*del)(store_t *s, const char *key, char *err, size_t errlen);

    /* Unless LPOS key entry: LPUSH key entry. Then LTRIM key 0 cap-1, or DEL
     * key when cap is 0. */
    int (*lpush_unique)(store_t *s, const char *key, const char *entry, size_t cap, char *err,
                        size_t errlen);
    /* LRANGE key 0 max-1 (max >= 1); results as for zrange. */
    int (*lrange)(store_t *s, const char *key, size_t max, char ***entries, size_t *n, char *err,
                  size_t errlen);
    /* Waits for every write sent so far and checks it (writes may be
     * pipelined: see store_redis.c). */
    int (*flush)(store_t *s, char *err, size_t errlen);
    /* Puts every write so far on its way without waiting for its reply
     * (flush reads them later); NULL where writes are not deferred. */
    int (*send)(store_t *s, char *err, size_t errlen);
    /* Copies the whole value of each of keys[0..n) (of types[i], one of
     * STORE_T_*) into the memory store into, replacing what into held
     * under that key (a key absent here is made absent there). The Redis
     * store sends every read at once: one round trip. NULL in a store that
     * cannot be a cache's backing store. */
    int (*fetch)(store_t *s, size_t n, const char *const *keys, const int *types, store_t *into,
                 char *err, size_t errlen);
};

/* The types of value a key holds (what fetch reads it with). */
enum { STORE_T_ZSET = 1, STORE_T_HASH, STORE_T_LIST, STORE_T_STR };

/* Calls fn for each member of the sorted set key of the memory store s that
 * begins with prefix[0..plen), oldest first (score, then member), with its
 * length and score; the strings are valid during the call only. Stops at
 * the first fn that returns non-zero, and returns that (0 otherwise, also
 * when there is no such key). For the batch cache, which reads its copy of
 * a key without copying its members again. */
int store_mem_zscan(store_t *s, const char *key, const char *prefix, size_t plen,
                    int (*fn)(void *arg, const char *member, size_t len, int64_t score), void *arg);

/* The part common to every store. Implementations embed it as their first
 * member and cast. */
struct store {
    const struct store_ops *ops;
    char *prefix;
    size_t prefix_len;
};

/* Sets ops and copies prefix (NULL means "sad:"). 0, or -1 when out of
 * memory. */
int store_base_init(store_t *s, const struct store_ops *ops, const char *prefix);
/* Frees what store_base_init allocated. */
void store_base_fini(store_t *s);

/* Writes err the way snprintf does; err may be NULL when errlen is 0. */
void store_err(char *err, size_t errlen, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* RFC 3339 UTC, "YYYY-MM-DDTHH:MM:SSZ", with ".mmm" or ".uuuuuu" only when
 * the fraction is not zero (the format of event_ts_format). buf holds at
 * least 32 bytes. Returns the length. */
int store_time_format(int64_t us, char *buf, size_t buflen);
/* Parses what store_time_format writes (also "+HH:MM" / "-HH:MM" offsets
 * and up to 9 fraction digits). 0 or -1. */
int store_time_parse(const char *s, size_t len, int64_t *us);

/* Parses a whole decimal integer of len bytes ("123", "-5", or the way
 * Redis writes a double score, "1.5e+15"). 0 or -1. */
int store_parse_i64(const char *s, size_t len, int64_t *out);

#endif
