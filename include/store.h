/* store.h - the state store: windows, distinct counts, known sets, request
 * context, cooldowns, resets, blocks, the activity list and the breaker.
 *
 * One interface, two implementations: Redis (store_redis_new, hiredis) for
 * the daemon and memory (store_mem_new) for replay and tests. Both pass the
 * same contract suite (tests/unit/test_store.c).
 *
 * Every piece of state lives under a *scope*, the text inside the Redis
 * Cluster hash tag: the identity for per-identity state, "ip=203.0.113.7"
 * (field=value) for state keyed by another field, "breaker" for the breaker.
 * Keys are built only by store_key(), so no operation touches two tags.
 *
 * All times are event time in microseconds since the epoch. Nothing here
 * reads the wall clock to decide; Redis TTLs (wall clock) only collect
 * garbage and are always longer than the event-time retention.
 *
 * Every operation returns 0 on success and -1 on failure with a reason in
 * err (Redis unreachable, timeout, protocol error). The memory store does not
 * fail. Strings passed in are borrowed.
 */
#ifndef DETECTOR_STORE_H
#define DETECTOR_STORE_H

#include <stddef.h>
#include <stdint.h>

typedef struct store store_t;

#define STORE_ID_MAX 520 /* an event_id: 128 code points of UTF-8, plus NUL */

/* A remembered request (the initiator of a login). */
#define STORE_REQ_MAX_FIELDS 16
typedef struct store_request {
    int64_t ts_us;
    char event_id[STORE_ID_MAX];
    size_t nfields;
    char *name[STORE_REQ_MAX_FIELDS];  /* field names, e.g. "ip" */
    char *value[STORE_REQ_MAX_FIELDS]; /* their values */
} store_request_t;

/* Frees the names and values of a request filled by store_request_get. */
void store_request_clear(store_request_t *r);

/* An active block. expires_us is 0 when the block lasts until reactivation. */
typedef struct store_block {
    char rule[128];
    char reason[512];
    int64_t since_us;
    int64_t expires_us;
    char action_id[STORE_ID_MAX];
} store_block_t;

/* Constructors. Caller frees with store_free().
 * prefix is the key prefix (default "sad:"), copied.
 * store_redis_new connects at once; on failure it returns NULL with err.
 * timeout_ms bounds every call; user (an ACL user) and password may be NULL
 * or "" (AUTH password alone, or AUTH user password). */
store_t *store_mem_new(const char *prefix);
store_t *store_redis_new(const char *host, int port, const char *user, const char *password, int db,
                         const char *prefix, int timeout_ms, char *err, size_t errlen);
void store_free(store_t *s);

/* Redis only: drop the connection and connect again (timeouts, AUTH and
 * SELECT set again). The memory store returns 0. */
int store_reconnect(store_t *s, char *err, size_t errlen);

/* Redis only: moves the state of layout 1 into STORE_LAYOUT (every key of
 * the prefix "P{SCOPE}:w:NAME", ":s:NAME" and ":q:NAME" becomes members of
 * "P{SCOPE}:z", one script per key, the longest TTL kept), then sets the
 * marker's layout. With dry_run, only counts. *keys and *members count
 * what was (or would be) moved. Run with every daemon stopped. */
int store_redis_migrate(store_t *s, int dry_run, unsigned long *keys, unsigned long *members,
                        char *err, size_t errlen);

/* Redis only: the server's setting name (CONFIG GET) into buf. 0, or -1
 * with err when it cannot be read (not Redis, CONFIG not allowed, no such
 * setting). */
int store_redis_setting(store_t *s, const char *name, char *buf, size_t buflen, char *err,
                        size_t errlen);

/* Writes may be pipelined (the Redis store sends them without waiting and
 * reads their replies before the next read): store_flush waits for every
 * write so far and reports the first that failed. A caller that needs its
 * writes durable (before storing a Kafka offset) flushes. */
int store_flush(store_t *s, char *err, size_t errlen);
/* Puts every write so far on its way to the server without waiting for
 * any reply: the server works on them while the caller goes on, and a
 * later store_flush reads their replies. A read in between reads them
 * first: it fails if one of them failed, and so does the next flush. A
 * reconnect forgets them (the caller decides their batch again). 0, or -1
 * when the connection failed. */
int store_send(store_t *s, char *err, size_t errlen);

/* --- The batch cache (detector/store_cache.c) ----------------------------
 *
 * store_cache_new(back) gives a store through which a batch of events is
 * decided in memory and written back in one round trip, with the decisions
 * of one event at a time against back. back (borrowed, must outlive the
 * cache) is the Redis or the memory store. Per batch:
 *
 *     do {
 *         store_cache_begin(c);            a pass: every event of the
 *         ... the batch through the engine ... batch, in order
 *     } while (store_cache_missing(c) > 0 && store_cache_fetch(c) == 0);
 *     store_cache_commit(c);               the last pass's writes, in order
 *     store_cache_end(c);                  forget the batch (also on failure)
 *
 * Only the results of a pass with no miss may be used: a pass with misses
 * read "empty" for the keys it had not loaded. Caller frees with
 * store_free(); NULL when out of memory or when back cannot be fetched. */
store_t *store_cache_new(store_t *back);
/* Starts a pass over the keys loaded so far; forgets the last pass's writes. */
int store_cache_begin(store_t *c, char *err, size_t errlen);
/* Keys the pass in progress missed (0: its results stand). */
size_t store_cache_missing(const store_t *c);
/* Loads the missed keys from back (one round trip for Redis). */
int store_cache_fetch(store_t *c, char *err, size_t errlen);
/* Writes the pass's writes to back in order (runs of member adds and
 * removals regrouped by key) and waits for them. On failure back holds a
 * prefix of them; decide the batch again from the start. */
int store_cache_commit(store_t *c, char *err, size_t errlen);
/* The same, without waiting: the writes are sent (store_send) and
 * store_flush(back) later reports whether they all succeeded. Reads of
 * back (a fetch) come after them on its connection, so they see them. */
int store_cache_send(store_t *c, char *err, size_t errlen);
/* Forgets the batch: what was loaded and written. */
void store_cache_end(store_t *c);
/* Totals since creation: passes run, keys fetched, writes committed. */
void store_cache_counters(const store_t *c, unsigned long *passes, unsigned long *fetched,
                          unsigned long *written);
/* How long, in a pass after the first, keys missed may be loaded one at a
 * time before the misses wait for a further pass: -1 (the default) as
 * long as the previous pass and its fetch took, 0 never (tests). */
void store_cache_set_load_budget(store_t *c, long long us);

/* Builds "PREFIX{SCOPE}:SUFFIX" into buf. Characters of the scope that
 * could end the hash tag or confuse a reader ('{', '}', '%', bytes below
 * 0x21 or above 0x7e) are written as %XX; the suffix is written as it is
 * (after the tag, braces do not change the slot, and keys are binary-safe),
 * so an authenticator block is "PREFIX{ID}:block:AUTHENTICATOR_ID" exactly
 * as contract/actions.md says. Returns the length, or -1 when buf is too
 * small. */
int store_key(const store_t *s, char *buf, size_t buflen, const char *scope, const char *suffix);
const char *store_prefix(const store_t *s);

/* --- Windows: members (event ids) with a score (event time) ------------- */

/* Adds member with score ts_us to window `name` (idempotent per member: a
 * second add of the same member changes nothing), and forgets members older
 * than ts_us - keep_us. For state fed in one order (one identity's events,
 * one partition): a redelivered stream ends in the same state. */
int store_window_add(store_t *s, const char *scope, const char *name, const char *member,
                     int64_t ts_us, int64_t keep_us, char *err, size_t errlen);
/* The same for state fed from many partitions in no common order: keeps
 * the members within keep_us of the latest one and adds none older, so the
 * members are the same whatever the order of the adds. Distinct counts
 * (store_distinct_add) always work this way. */
int store_window_add_shared(store_t *s, const char *scope, const char *name, const char *member,
                            int64_t ts_us, int64_t keep_us, char *err, size_t errlen);
/* Counts members with score in (lo_us, hi_us]. */
int store_window_count(store_t *s, const char *scope, const char *name, int64_t lo_us,
                       int64_t hi_us, long *count, char *err, size_t errlen);
/* Lists up to max members with score in (lo_us, hi_us], oldest first (ties by
 * member). *members is an array of *n strings; caller frees each and the
 * array with free(). */
int store_window_members(store_t *s, const char *scope, const char *name, int64_t lo_us,
                         int64_t hi_us, size_t max, char ***members, size_t *n, char *err,
                         size_t errlen);

/* *found = 1 and *ts_us = the member's time, or *found = 0. */
int store_window_score(store_t *s, const char *scope, const char *name, const char *member,
                       int *found, int64_t *ts_us, char *err, size_t errlen);

/* --- Distinct counts: each member keeps the latest time it was seen ----- */
int store_distinct_add(store_t *s, const char *scope, const char *name, const char *member,
                       int64_t ts_us, int64_t keep_us, char *err, size_t errlen);
/* Counts members whose latest time is in (lo_us, hi_us]. */
int store_distinct_count(store_t *s, const char *scope, const char *name, int64_t lo_us,
                         int64_t hi_us, long *count, char *err, size_t errlen);

/* --- Known sets: member -> latest and first time it was added ---------- */
/* Remembers that member was learned at ts_us: its latest time (the greatest
 * seen) and its first; each is forgotten keep_us after it. */
int store_set_add(store_t *s, const char *scope, const char *name, const char *member,
                  int64_t ts_us, int64_t keep_us, char *err, size_t errlen);
/* *found = 1 and *ts_us = latest add time, or *found = 0. */
int store_set_get(store_t *s, const char *scope, const char *name, const char *member, int *found,
                  int64_t *ts_us, char *err, size_t errlen);
/* *found = 1 and *ts_us = first add time still remembered, or *found = 0. */
int store_set_first(store_t *s, const char *scope, const char *name, const char *member, int *found,
                    int64_t *ts_us, char *err, size_t errlen);

/* --- Request context -------------------------------------------------- */
/* Remembers req under (name, request_id) in the scope's sorted set
 * "P{SCOPE}:z" (with its windows and known sets); a later put of the same
 * id replaces it.
 * Pruned by event time: a request older than keep_us before the newest one
 * of the name (stored or put) is deleted, and is not added when it is the
 * one put; the requests kept do not depend on the order of the puts. */
int store_request_put(store_t *s, const char *scope, const char *name, const char *request_id,
                      const store_request_t *req, int64_t keep_us, char *err, size_t errlen);
/* *found = 0, or 1 with *req filled (caller calls store_request_clear). A
 * request may be found past its keep when no newer one pruned it: the
 * reader checks its age. */
int store_request_get(store_t *s, const char *scope, const char *name, const char *request_id,
                      int *found, store_request_t *req, char *err, size_t errlen);

/* --- Records: one key each, "P{SCOPE}:r:NAME:ID" ------------------------
 * The same struct kept under a key of its own (the daemon's outbox: the
 * actions of an event, read by event id), for keep_us plus a day of
 * wall-clock TTL. Large values that an identity can have many of belong
 * here, not in the sorted set of store_request_put. */
int store_record_put(store_t *s, const char *scope, const char *name, const char *id,
                     const store_request_t *req, int64_t keep_us, char *err, size_t errlen);
int store_record_get(store_t *s, const char *scope, const char *name, const char *id, int *found,
                     store_request_t *req, char *err, size_t errlen);

/* --- Cooldowns: the last time a rule acted for a scope ------------------ */
/* event_id receives the id of the event that set it (STORE_ID_MAX bytes). */
int store_cooldown_get(store_t *s, const char *scope, const char *rule, int *found, int64_t *ts_us,
                       char *event_id, char *err, size_t errlen);
int store_cooldown_set(store_t *s, const char *scope, const char *rule, int64_t ts_us,
                       const char *event_id, int64_t keep_us, char *err, size_t errlen);

/* --- Blocks ------------------------------------------------------------ */
/* authenticator_id NULL: the identity block "P{ID}:block"; otherwise
 * "P{ID}:block:AUTHENTICATOR_ID". The hash has the fields rule, reason,
 * since, expires (RFC 3339, "" when none) and action_id, and expires in Redis
 * at expires_us when that is set. */
int store_block_get(store_t *s, const char *scope, const char *authenticator_id, int *found,
                    store_block_t *out, char *err, size_t errlen);
int store_block_set(store_t *s, const char *scope, const char *authenticator_id,
                    const store_block_t *b, char *err, size_t errlen);
int store_block_clear(store_t *s, const char *scope, const char *authenticator_id, char *err,
                      size_t errlen);

/* --- Activity list: "P{ID}:activity", newest first, capped -------------- */
/* Pushes entry (a JSON text) unless an entry with the same bytes is already
 * in the list (redelivery), then trims the list to cap entries. */
int store_activity_push(store_t *s, const char *scope, const char *entry, size_t cap, char *err,
                        size_t errlen);
/* Reads up to max entries, newest first; caller frees as for members. */
int store_activity_get(store_t *s, const char *scope, size_t max, char ***entries, size_t *n,
                       char *err, size_t errlen);

/* --- The state marker: noticing a store that lost its data --------------
 *
 * "P{detector}:marker" (a hash without TTL) is written when a daemon first
 * finds the store without it; a daemon that has seen it and then finds it
 * gone (after a reconnect, or on its periodic check) knows that Redis lost
 * its data (restarted without persistence, flushed, failed over to an empty
 * replica). */
/* *found 0/1; since (when found) receives the RFC 3339 time the state began. */
int store_marker_get(store_t *s, int *found, char *since, size_t sincelen, char *err,
                     size_t errlen);
/* The layout of the keys this version writes: an identity's windows, known
 * sets and requests in one sorted set "P{ID}:z". The marker carries it
 * (field "layout"); a marker without one was written by a version whose
 * windows, sets and requests had keys of their own (layout 1), which this
 * version does not read: `detector migrate` moves them
 * (store_redis_migrate). */
#define STORE_LAYOUT 2
/* *found 0/1; *layout the marker's layout (1 when it has none, 0 when it
 * cannot be read). */
int store_marker_layout(store_t *s, int *found, int *layout, char *err, size_t errlen);
/* Writes the marker (since_us, by: who wrote it, layout STORE_LAYOUT) and
 * waits for it. */
int store_marker_set(store_t *s, int64_t since_us, const char *by, char *err, size_t errlen);

/* --- Processed offsets: "P{detector}:offset:GROUP:TOPIC:PARTITION" -------
 * The greatest offset of a partition whose effects are written (the daemon
 * writes it after each event's writes, in the same pipelined commit). A message delivered again at
 * or below it was decided already: its state is fed again, its actions come from the outbox, its
 * rules are not run again against a state that later events have changed. *offset is -1 when none
 * is stored. */
int store_offset_get(store_t *s, const char *group, const char *topic, int partition,
                     int64_t *offset, char *err, size_t errlen);
int store_offset_set(store_t *s, const char *group, const char *topic, int partition,
                     int64_t offset, char *err, size_t errlen);

#endif
