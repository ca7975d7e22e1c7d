/* telemetry.h - what the daemon tells about itself: its metrics (on the
 * registry of metrics.h) and its readiness.
 *
 * The daemon's thread updates; the HTTP server's thread renders and asks
 * for readiness. Every function takes the registry's lock itself, once per
 * call, and the daemon calls them once per batch (or per rare event:
 * rebalance, reload, Redis failure), never per event. The exception is
 * telemetry_action_latency: it only stages a value in memory of the
 * daemon's thread, added to the registry by the next telemetry_batch_add.
 */
#ifndef DETECTOR_TELEMETRY_H
#define DETECTOR_TELEMETRY_H

#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "event.h"
#include "metrics.h"

typedef struct telemetry telemetry_t;

/* Classes of bad events: a reason (detector/event.c) names fields and may
 * quote input, so the metric's label is its class, from this fixed set. */
typedef enum telemetry_bad {
    BAD_TOO_LARGE = 0, /* over the 64 KiB limit */
    BAD_INVALID_JSON,  /* not JSON, or not UTF-8, or \u0000 */
    BAD_DUPLICATE_KEY,
    BAD_NOT_OBJECT, /* JSON, but not an object */
    BAD_TOO_DEEP,   /* nesting deeper than 8 levels */
    BAD_MISSING_FIELD,
    BAD_WRONG_TYPE,    /* a field of the wrong JSON type */
    BAD_INVALID_VALUE, /* a field of the right type with a value out of its contract */
    BAD_OTHER,
    BAD_CLASSES
} telemetry_bad_t;

telemetry_bad_t telemetry_bad_class(const char *reason);
/* "too_large", "invalid_json", ...: static. */
const char *telemetry_bad_name(telemetry_bad_t c);

/* What one batch adds. */
typedef struct telemetry_batch {
    unsigned long events[EV_TYPE_COUNT]; /* valid events by type (EV_UNKNOWN unused) */
    unsigned long bad[BAD_CLASSES];
    unsigned long unknown;         /* events of an unknown type */
    unsigned long republished;     /* events whose actions came from the outbox */
    unsigned long actions;         /* actions published (republished ones included) */
    unsigned long breaker;         /* blocks the breaker made shadow */
    unsigned long delivery_errors; /* failed deliveries (produced again) */
    size_t size;                   /* messages in the batch */
    double seconds;                /* from the batch's cut to its offsets stored */
} telemetry_batch_t;

/* The inputs of readiness, set by the daemon's thread. */
typedef struct telemetry_state {
    int rules_loaded;
    int subscribed;     /* the consumer subscribed to the events topic */
    int assigned;       /* partitions assigned now */
    int64_t polled_ms;  /* the consumer's last poll, monotonic ms (0: never) */
    int redis_ok;       /* the last batch, or check, succeeded with Redis */
    int redis_retrying; /* a batch waits for Redis (partitions paused) */
    int state_paused;   /* Redis lost the state; paused (redis.on_state_loss) */
    int stopping;
} telemetry_state_t;

/* The consumer counts as stalled when not polled for this long. */
#define TELEMETRY_POLL_STALE_MS 15000

/* Caller frees with telemetry_free. NULL on out-of-memory. */
telemetry_t *telemetry_new(void);
void telemetry_free(telemetry_t *t);
/* The registry (borrowed; tests read values from it). */
metrics_t *telemetry_metrics(telemetry_t *t);

/* Stages one action's latency (daemon's thread only, no lock). */
void telemetry_action_latency(telemetry_t *t, double seconds);
/* Adds a batch (b borrowed) and the staged latencies. */
void telemetry_batch_add(telemetry_t *t, const telemetry_batch_t *b);
/* Sets the per-rule counters from the engine's statistics (cumulative,
 * carried over reloads); with reset, the rules of a former set are dropped
 * first. eng borrowed. */
void telemetry_rules(telemetry_t *t, const engine_t *eng, int reset);
/* A rule set in force: its version (a hash of its files), its size and
 * when it was loaded (seconds since the epoch). */
void telemetry_rules_loaded(telemetry_t *t, const char *version, size_t nrules, double when);
/* The result of a load of the configuration and rules: ok 1 or 0; sighup
 * 1 for a reload (counted), 0 for the start. */
void telemetry_reload(telemetry_t *t, int ok, double when, int sighup);
/* A rebalance: assign 1 (partitions assigned) or 0 (revoked); partitions:
 * how many are assigned after it. */
void telemetry_rebalance(telemetry_t *t, int assign, int partitions);
/* Redis: errors and reconnects since the last call, and whether it answers. */
void telemetry_redis(telemetry_t *t, unsigned long errors, unsigned long reconnects, int up);
/* Counts a loss of the state (detector/guard.c). */
void telemetry_state_lost(telemetry_t *t);
/* The consumer lag per partition from librdkafka's statistics JSON (len
 * bytes, borrowed): topics -> partitions -> consumer_lag. Partitions with no
 * known lag (-1) are left out. 0, or -1 when the JSON is not readable. */
int telemetry_consumer_stats(telemetry_t *t, const char *json, size_t len);

void telemetry_state_set(telemetry_t *t, const telemetry_state_t *s);
/* 1 when ready; otherwise 0 and why holds the reasons, one per line. */
int telemetry_ready(telemetry_t *t, int64_t now_ms, char *why, size_t whylen);
/* The same, of a given state (no lock). */
int telemetry_ready_check(const telemetry_state_t *s, int64_t now_ms, char *why, size_t whylen);

/* The version of the rule files in dir: the first 16 hex digits of a
 * SHA-256 over every *.rules file, in name order, with its name and length.
 * out holds at least 17 bytes. 0, or -1 with err. */
int telemetry_rules_version(const char *dir, char *out, size_t outlen, char *err, size_t errlen);

#endif
