/* event.h - parsing and validation of authentication events.
 *
 * The input contract is shared/contract/events.md. event_parse() takes the
 * raw bytes of one Kafka message value (or one JSON Lines line) and either
 * fills an event or says why the bytes are a bad event. It never prints and
 * never exits.
 */
#ifndef DETECTOR_EVENT_H
#define DETECTOR_EVENT_H

#include <stddef.h>
#include <stdint.h>

#define EVENT_MAX_BYTES 65536 /* a message value is at most 64 KiB */
#define EVENT_MAX_DEPTH 8     /* nesting deeper than this is a bad event */

/* The times event_ts_parse accepts and event_ts_format writes back as RFC 3339
 * with a four-digit year: 0000-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z. */
#define EVENT_TS_MIN_US INT64_C(-62167219200000000)
#define EVENT_TS_MAX_US INT64_C(253402300799999999)

/* Event types, in the order of the contract's table. */
typedef enum event_type {
    EV_UNKNOWN = 0,
    EV_LOGIN_STARTED,
    EV_LOGIN_APPROVED,
    EV_LOGIN_REJECTED,
    EV_LOGIN_FAILED,
    EV_USERID_CHANGED,
    EV_AUTHENTICATOR_ACTIVATED,
    EV_AUTHENTICATOR_BLOCKED,
    EV_AUTHENTICATOR_REACTIVATED,
    EV_IDENTITY_BLOCKED,
    EV_IDENTITY_UNBLOCKED,
    EV_TYPE_COUNT
} event_type_t;

/* Every field an event may carry. String fields first; FIELD_REPORTED is the
 * only boolean. FIELD_TS is the timestamp as written in the event. */
typedef enum event_field {
    FIELD_EVENT_ID = 0,
    FIELD_TS,
    FIELD_TYPE,
    FIELD_IDENTITY,
    FIELD_IP,
    FIELD_COUNTRY,
    FIELD_DEVICE_ID,
    FIELD_USER_AGENT,
    FIELD_CHANNEL,
    FIELD_REQUEST_ID,
    FIELD_SERVICE_PROVIDER,
    FIELD_AUTHENTICATOR_ID,
    FIELD_AUTHENTICATOR_TYPE,
    FIELD_REASON,
    FIELD_OLD_USER_ID,
    FIELD_NEW_USER_ID,
    FIELD_REPORTED, /* boolean */
    FIELD_COUNT
} event_field_t;

/* A parsed event: a plain value struct. The strings point into memory owned
 * by the event (the parsed JSON document) and live until event_clear(). */
typedef struct event {
    event_type_t type;
    int64_t ts_us;                /* event time, microseconds since the epoch, UTC */
    const char *str[FIELD_COUNT]; /* NULL when absent; str[FIELD_REPORTED] unused */
    size_t len[FIELD_COUNT];      /* byte length of each present string */
    int reported;                 /* -1 absent, 0 false, 1 true */
    void *doc;                    /* owned parsed document (json_t *); internal */
} event_t;

typedef enum event_status {
    EVENT_OK = 0,      /* a valid event of a known type */
    EVENT_UNKNOWN = 1, /* valid common fields, unknown type: count and skip */
    EVENT_BAD = -1     /* a bad event: reason in err */
} event_status_t;

/* Parses and validates len bytes at data (borrowed; need not be
 * NUL-terminated). On EVENT_OK and EVENT_UNKNOWN, *ev is filled and the caller
 * releases it with event_clear(). On EVENT_BAD, *ev holds nothing to release
 * and err receives a one-line reason such as
 * "missing required field \"request_id\" for type login.approved". */
event_status_t event_parse(const char *data, size_t len, event_t *ev, char *err, size_t errlen);

/* Releases what event_parse() stored in ev; safe on a zeroed event. */
void event_clear(event_t *ev);

/* Moves the strings of a parsed event into *buf (grown with realloc as
 * needed; *cap its size) and releases the parsed document: the event then
 * lives as long as *buf is kept unchanged, and event_clear() has nothing to
 * free. For a pipeline that parses on one thread and decides on another: the
 * document's many small allocations stay with the thread that made them.
 * 0, or -1 when out of memory (ev is unchanged and still valid). */
int event_detach(event_t *ev, char **buf, size_t *cap);

/* Name <-> enum. event_type_name(EV_UNKNOWN) is "unknown". event_type_from_name
 * returns EV_UNKNOWN for a name it does not know. Returned names are static. */
const char *event_type_name(event_type_t t);
event_type_t event_type_from_name(const char *name);
const char *event_field_name(event_field_t f);
/* Returns the field or -1 for a name that is not a field. */
int event_field_from_name(const char *name);

/* 1 when events of type t may carry field f (the common fields and the
 * type's own fields of the contract), else 0. */
int event_type_has_field(event_type_t t, event_field_t f);

/* Parses an RFC 3339 timestamp ("2026-11-24T10:00:00Z", optional fraction,
 * "Z" or "+HH:MM"/"-HH:MM") into microseconds since the epoch. 0 or -1; -1
 * also for a time outside years 0000-9999 once in UTC, which
 * event_ts_format could not write back. */
int event_ts_parse(const char *s, size_t len, int64_t *out_us);

/* Formats microseconds since the epoch as RFC 3339 UTC with a "Z": no
 * fraction when it is zero, otherwise milliseconds, or microseconds when
 * needed. buf must hold at least 32 bytes. Returns buf. */
char *event_ts_format(int64_t us, char *buf, size_t buflen);

#endif
