/* event.c - parsing and validation of authentication events.
 *
 * Implements include/event.h against shared/contract/events.md. Choices the
 * contract leaves open, made here:
 *
 * - JSON null counts as an absent field, for every field: an optional field
 *   that is null is absent, a required field that is null is missing.
 * - A top-level value that is valid JSON but not an object (42, "x", [])
 *   gives "event is not a JSON object", so the parse uses JSON_DECODE_ANY.
 * - "N characters" counts Unicode code points (Jansson has already checked
 *   the UTF-8). event_id and device_id are 1-128 characters, user_agent at
 *   most 1024 (and may be empty): the limits the contract states. The other
 *   strings (request_id, service_provider, authenticator_id, reason,
 *   old_user_id, new_user_id) have none but the message's 64 KiB; they may
 *   be empty, and a required one must still be present and a string.
 * - A per-type field listed for the event's type is checked fully (JSON type
 *   and value) and stored. A known per-type field that is not listed for the
 *   type is not stored, but a wrong JSON type is still a bad event ("reported"
 *   is always a boolean, the others always strings); its value is not
 *   checked. For an unknown type only the common fields are checked.
 * - Timestamps: a leap second (second 60) is accepted and read as second 59,
 *   keeping its fraction; fractions beyond microseconds are truncated;
 *   "-00:00" is UTC. Years are 0000-9999, in UTC too: actions and the
 *   store write times in UTC with four-digit years, so a time whose offset
 *   moves it out of them ("9999-12-31T23:59:59-05:00") is refused.
 * - Reasons never echo field values (attacker-controlled); the exceptions
 *   are the key of a duplicate-key error (as written, cut at 64 bytes) and the
 *   input Jansson quotes in its syntax errors. Every reason is sanitised to
 *   printable, valid UTF-8 on one line.
 */
#include "event.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define ID_MAX_CHARS 128    /* event_id, device_id */
#define TEXT_MAX_CHARS 1024 /* user_agent */
#define DUP_KEY_MAX 64      /* bytes of a duplicate key quoted in a reason */
#define US_PER_SEC INT64_C(1000000)
#define US_PER_DAY (INT64_C(86400) * US_PER_SEC)

static const char *const type_names[EV_TYPE_COUNT] = {
    [EV_UNKNOWN] = "unknown",
    [EV_LOGIN_STARTED] = "login.started",
    [EV_LOGIN_APPROVED] = "login.approved",
    [EV_LOGIN_REJECTED] = "login.rejected",
    [EV_LOGIN_FAILED] = "login.failed",
    [EV_USERID_CHANGED] = "userid.changed",
    [EV_AUTHENTICATOR_ACTIVATED] = "authenticator.activated",
    [EV_AUTHENTICATOR_BLOCKED] = "authenticator.blocked",
    [EV_AUTHENTICATOR_REACTIVATED] = "authenticator.reactivated",
    [EV_IDENTITY_BLOCKED] = "identity.blocked",
    [EV_IDENTITY_UNBLOCKED] = "identity.unblocked",
};

/* How a field's value is checked. */
enum field_kind {
    K_ID,       /* string, 1-128 characters */
    K_TEXT,     /* string, at most 1024 characters */
    K_STRING,   /* string, any (the contract sets no limit) */
    K_TS,       /* string, RFC 3339 */
    K_TYPE,     /* string, any */
    K_IDENTITY, /* string, ^[A-Za-z0-9._-]{1,128}$ */
    K_IP,       /* string, IPv4 or IPv6 literal */
    K_COUNTRY,  /* string, two uppercase ASCII letters */
    K_CHANNEL,  /* string, one of channel_values */
    K_AUTHTYPE, /* string, one of authtype_values */
    K_BOOL      /* JSON boolean */
};

static const struct field_spec {
    const char *name;
    enum field_kind kind;
} fields[FIELD_COUNT] = {
    [FIELD_EVENT_ID] = {"event_id", K_ID},
    [FIELD_TS] = {"ts", K_TS},
    [FIELD_TYPE] = {"type", K_TYPE},
    [FIELD_IDENTITY] = {"identity", K_IDENTITY},
    [FIELD_IP] = {"ip", K_IP},
    [FIELD_COUNTRY] = {"country", K_COUNTRY},
    [FIELD_DEVICE_ID] = {"device_id", K_ID},
    [FIELD_USER_AGENT] = {"user_agent", K_TEXT},
    [FIELD_CHANNEL] = {"channel", K_CHANNEL},
    [FIELD_REQUEST_ID] = {"request_id", K_STRING},
    [FIELD_SERVICE_PROVIDER] = {"service_provider", K_STRING},
    [FIELD_AUTHENTICATOR_ID] = {"authenticator_id", K_STRING},
    [FIELD_AUTHENTICATOR_TYPE] = {"authenticator_type", K_AUTHTYPE},
    [FIELD_REASON] = {"reason", K_STRING},
    [FIELD_OLD_USER_ID] = {"old_user_id", K_STRING},
    [FIELD_NEW_USER_ID] = {"new_user_id", K_STRING},
    [FIELD_REPORTED] = {"reported", K_BOOL},
};

/* The first field after the common ones: per-type fields start here. */
#define FIELD_FIRST_PER_TYPE FIELD_REQUEST_ID

static const char *const channel_values[] = {"self_service",    "app",    "support",
                                             "citizen_service", "system", NULL};
static const char *const authtype_values[] = {"app", "code_display", "audio_code_reader", "chip",
                                              NULL};

#define BIT(f) (UINT32_C(1) << (f))

/* The contract's type table: which per-type fields each type lists, and
 * which of those are required. */
static const struct type_spec {
    uint32_t listed;
    uint32_t required;
} types[EV_TYPE_COUNT] = {
    [EV_LOGIN_STARTED] = {BIT(FIELD_REQUEST_ID) | BIT(FIELD_SERVICE_PROVIDER),
                          BIT(FIELD_REQUEST_ID)},
    [EV_LOGIN_APPROVED] = {BIT(FIELD_REQUEST_ID) | BIT(FIELD_AUTHENTICATOR_ID),
                           BIT(FIELD_REQUEST_ID) | BIT(FIELD_AUTHENTICATOR_ID)},
    [EV_LOGIN_REJECTED] = {BIT(FIELD_REQUEST_ID) | BIT(FIELD_AUTHENTICATOR_ID) |
                               BIT(FIELD_REPORTED),
                           BIT(FIELD_REQUEST_ID)},
    [EV_LOGIN_FAILED] = {BIT(FIELD_REQUEST_ID) | BIT(FIELD_REASON), 0},
    [EV_USERID_CHANGED] = {BIT(FIELD_OLD_USER_ID) | BIT(FIELD_NEW_USER_ID), 0},
    [EV_AUTHENTICATOR_ACTIVATED] = {BIT(FIELD_AUTHENTICATOR_ID) | BIT(FIELD_AUTHENTICATOR_TYPE),
                                    BIT(FIELD_AUTHENTICATOR_ID) | BIT(FIELD_AUTHENTICATOR_TYPE)},
    [EV_AUTHENTICATOR_BLOCKED] = {BIT(FIELD_AUTHENTICATOR_ID) | BIT(FIELD_REASON),
                                  BIT(FIELD_AUTHENTICATOR_ID)},
    [EV_AUTHENTICATOR_REACTIVATED] = {BIT(FIELD_AUTHENTICATOR_ID), BIT(FIELD_AUTHENTICATOR_ID)},
    [EV_IDENTITY_BLOCKED] = {BIT(FIELD_REASON), 0},
    [EV_IDENTITY_UNBLOCKED] = {0, 0},
};

/* ---- reasons ---- */

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF; /* range of the second byte */

    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0; /* no overlong forms */
        else if (c == 0xED)
            hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F; /* nothing above U+10FFFF */
    } else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    return len;
}

/* Makes err one line of printable, valid UTF-8: a reason ends up in a Kafka
 * header and a log line, and Jansson's "near '...'" quotes input bytes (so
 * does a duplicate key). C1 controls (U+0080-U+009F: U+009B is a terminal's
 * CSI), line and paragraph separators and bidi embeddings, overrides and
 * isolates (U+2028-U+202E, U+2066-U+2069) become "?" too, a "?" a byte. */
static void sanitize(char *err)
{
    unsigned char *s = (unsigned char *)err;
    size_t n = strlen(err);

    for (size_t i = 0; i < n;) {
        size_t l = utf8_seq_len(s + i, n - i);
        int bad = l == 0 || (l == 1 && (s[i] < 0x20 || s[i] == 0x7F)) ||
                  (l == 2 && s[i] == 0xC2 && s[i + 1] < 0xA0) ||
                  (l == 3 && s[i] == 0xE2 &&
                   ((s[i + 1] == 0x80 && s[i + 2] >= 0xA8 && s[i + 2] <= 0xAE) ||
                    (s[i + 1] == 0x81 && s[i + 2] >= 0xA6 && s[i + 2] <= 0xA9)));
        if (bad) {
            for (size_t k = 0; k < (l ? l : 1); k++)
                s[i++] = '?';
            continue;
        }
        i += l;
    }
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes a reason into err (if there is room) and returns EVENT_BAD. */
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0) return EVENT_BAD;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    sanitize(err);
    return EVENT_BAD;
}

/* The key of a duplicate-key error as written in data, quotes included:
 * Jansson stops right after the second occurrence of the key, and its own
 * text leaves the key out when it is long. Sets *klen; NULL if not found. */
static const char *dup_key(const json_error_t *jerr, const char *data, size_t len, size_t *klen)
{
    size_t end = jerr->position > 0 ? (size_t)jerr->position : 0, i;

    if (end < 2 || end > len || data[end - 1] != '"') return NULL;
    for (i = end - 1; i-- > 0;) {
        size_t bs = 0;
        if (data[i] != '"') continue;
        while (bs < i && data[i - 1 - bs] == '\\')
            bs++;
        if (bs % 2 == 0) { /* an unescaped quote opens the key */
            *klen = end - i;
            return data + i;
        }
    }
    return NULL;
}

/* Reason for a Jansson parse error of data. */
static int fail_json(const json_error_t *jerr, const char *data, size_t len, char *err,
                     size_t errlen)
{
    enum json_error_code code = json_error_code(jerr);
    const char *key;
    size_t klen = 0;

    if (code == json_error_stack_overflow)
        return fail(err, errlen, "nesting deeper than %d levels", EVENT_MAX_DEPTH);
    if (code != json_error_duplicate_key)
        return fail(err, errlen, "invalid JSON: %s at line %d column %d", jerr->text, jerr->line,
                    jerr->column);
    key = dup_key(jerr, data, len, &klen);
    if (key == NULL)
        return fail(err, errlen, "duplicate key at line %d column %d", jerr->line, jerr->column);
    if (klen <= DUP_KEY_MAX)
        return fail(err, errlen, "duplicate key %.*s at line %d column %d", (int)klen, key,
                    jerr->line, jerr->column);
    klen = DUP_KEY_MAX;
    while (klen > 0 && ((unsigned char)key[klen] & 0xC0) == 0x80)
        klen--; /* cut at a character boundary */
    return fail(err, errlen, "duplicate key %.*s... at line %d column %d", (int)klen, key,
                jerr->line, jerr->column);
}

/* ---- value checks ---- */

/* Code points in valid UTF-8. */
static size_t utf8_chars(const char *s, size_t len)
{
    size_t n = 0;

    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

static bool one_of(const char *s, const char *const *values)
{
    for (size_t i = 0; values[i] != NULL; i++)
        if (strcmp(s, values[i]) == 0) return true;
    return false;
}

static bool identity_ok(const char *s, size_t len)
{
    if (len < 1 || len > ID_MAX_CHARS) return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static bool ip_ok(const char *s)
{
    unsigned char buf[sizeof(struct in6_addr)];

    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* Checks the value of present field f and stores it in ev. Returns
 * EVENT_OK or EVENT_BAD with a reason. With store false (a known field not
 * listed for the type), only the JSON type is checked. */
static int check_field(event_t *ev, event_field_t f, json_t *v, bool store, char *err,
                       size_t errlen)
{
    const char *name = fields[f].name;
    const char *s;
    size_t len, chars;

    if (fields[f].kind == K_BOOL) {
        if (!json_is_boolean(v)) return fail(err, errlen, "field \"%s\" must be a boolean", name);
        if (store) ev->reported = json_is_true(v) ? 1 : 0;
        return EVENT_OK;
    }
    if (!json_is_string(v)) return fail(err, errlen, "field \"%s\" must be a string", name);
    if (!store) return EVENT_OK;
    s = json_string_value(v);
    len = json_string_length(v);

    switch (fields[f].kind) {
    case K_ID:
        /* A code point is at least one byte: count only when it matters. */
        chars = len > ID_MAX_CHARS ? utf8_chars(s, len) : len;
        if (chars < 1 || chars > ID_MAX_CHARS)
            return fail(err, errlen, "field \"%s\" must be 1-%d characters long, not %zu", name,
                        ID_MAX_CHARS, chars);
        break;
    case K_TEXT:
        chars = len > TEXT_MAX_CHARS ? utf8_chars(s, len) : len;
        if (chars > TEXT_MAX_CHARS)
            return fail(err, errlen, "field \"%s\" must be at most %d characters long, not %zu",
                        name, TEXT_MAX_CHARS, chars);
        break;
    case K_TS:
        if (event_ts_parse(s, len, &ev->ts_us) != 0)
            return fail(err, errlen, "field \"%s\" is not an RFC 3339 timestamp", name);
        break;
    case K_TYPE:
    case K_STRING:
        break;
    case K_IDENTITY:
        if (!identity_ok(s, len))
            return fail(err, errlen, "field \"%s\" does not match ^[A-Za-z0-9._-]{1,128}$", name);
        break;
    case K_IP:
        if (!ip_ok(s))
            return fail(err, errlen, "field \"%s\" must be an IPv4 or IPv6 address", name);
        break;
    case K_COUNTRY:
        if (len != 2 || s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z')
            return fail(err, errlen,
                        "field \"%s\" must be an ISO 3166-1 alpha-2 code (two uppercase letters)",
                        name);
        break;
    case K_CHANNEL:
        if (!one_of(s, channel_values))
            return fail(err, errlen,
                        "field \"%s\" must be one of self_service, app, support, "
                        "citizen_service, system",
                        name);
        break;
    case K_AUTHTYPE:
        if (!one_of(s, authtype_values))
            return fail(err, errlen,
                        "field \"%s\" must be one of app, code_display, audio_code_reader, chip",
                        name);
        break;
    case K_BOOL:
        break; /* handled above */
    }
    ev->str[f] = s;
    ev->len[f] = len;
    return EVENT_OK;
}

/* The field's value, or NULL when it is absent or null. */
/* The field a member's name is, or -1. */
static int field_index(const char *key)
{
    for (int f = 0; f < FIELD_COUNT; f++)
        if (fields[f].name[0] == key[0] && strcmp(fields[f].name, key) == 0) return f;
    return -1;
}

/* The fields of doc, by one walk over its members rather than a lookup per
 * field (17 lookups, most of them for absent fields, were a sixth of a
 * parse): v[f] is NULL when the field is absent or null. Returns 1 when a
 * member is an object or an array (the depth is then checked), else 0. */
static int collect_fields(json_t *doc, json_t *v[FIELD_COUNT])
{
    const char *key;
    json_t *val;
    int nested = 0;

    memset(v, 0, FIELD_COUNT * sizeof *v);
    json_object_foreach(doc, key, val)
    {
        if (json_is_object(val) || json_is_array(val)) nested = 1;
        int f = field_index(key);
        if (f >= 0 && !json_is_null(val)) v[f] = val;
    }
    return nested;
}

/* Returns 0 when no container in doc is nested deeper than EVENT_MAX_DEPTH,
 * -1 otherwise. Iterative, with a stack bounded by the limit itself. */
static int depth_ok(json_t *doc)
{
    struct frame {
        json_t *j;
        void *it;   /* next member of an object */
        size_t idx; /* next element of an array */
    } stack[EVENT_MAX_DEPTH];
    int depth = 1;

    stack[0] = (struct frame){doc, json_is_object(doc) ? json_object_iter(doc) : NULL, 0};
    while (depth > 0) {
        struct frame *top = &stack[depth - 1];
        json_t *child = NULL;

        if (json_is_object(top->j)) {
            if (top->it != NULL) {
                child = json_object_iter_value(top->it);
                top->it = json_object_iter_next(top->j, top->it);
            }
        } else if (top->idx < json_array_size(top->j)) {
            child = json_array_get(top->j, top->idx++);
        }
        if (child == NULL) {
            depth--;
            continue;
        }
        if (!json_is_object(child) && !json_is_array(child)) continue;
        if (depth == EVENT_MAX_DEPTH) return -1;
        stack[depth++] =
            (struct frame){child, json_is_object(child) ? json_object_iter(child) : NULL, 0};
    }
    return 0;
}

/* ---- public API ---- */

/* Outline:
 * 1. size limit; 2. JSON parse (syntax, UTF-8, \u0000, duplicate keys);
 * 3. top-level object; 4. nesting depth;
 * 5. required common fields: event_id, ts, type, identity;
 * 6. optional common fields; 7. type: unknown -> EVENT_UNKNOWN;
 * 8. per-type fields, in field order. */
event_status_t event_parse(const char *data, size_t len, event_t *ev, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *doc = NULL;
    const struct type_spec *spec;
    int rc;

    if (err != NULL && errlen > 0) err[0] = '\0';
    if (ev == NULL) return fail(err, errlen, "no event to fill");
    memset(ev, 0, sizeof *ev);
    ev->reported = -1;

    if (len > EVENT_MAX_BYTES)
        return fail(err, errlen, "event is %zu bytes, over the 64 KiB limit", len);
    if (data == NULL) { /* json_loadb refuses NULL even for 0 bytes */
        data = "";
        len = 0;
    }
    doc = json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (doc == NULL) return fail_json(&jerr, data, len, err, errlen);
    if (!json_is_object(doc)) {
        rc = fail(err, errlen, "event is not a JSON object");
        goto bad;
    }
    json_t *fv[FIELD_COUNT];
    if (collect_fields(doc, fv) && depth_ok(doc) != 0) {
        rc = fail(err, errlen, "nesting deeper than %d levels", EVENT_MAX_DEPTH);
        goto bad;
    }

    for (int f = 0; f < FIELD_FIRST_PER_TYPE; f++) {
        json_t *v = fv[f];
        if (v == NULL) {
            if (f <= FIELD_IDENTITY) {
                rc = fail(err, errlen, "missing required field \"%s\"", fields[f].name);
                goto bad;
            }
            continue;
        }
        if ((rc = check_field(ev, (event_field_t)f, v, true, err, errlen)) != EVENT_OK) goto bad;
    }

    ev->type = event_type_from_name(ev->str[FIELD_TYPE]);
    if (ev->type == EV_UNKNOWN) {
        if (err != NULL && errlen > 0) snprintf(err, errlen, "unknown type");
        ev->doc = doc;
        return EVENT_UNKNOWN;
    }

    spec = &types[ev->type];
    for (int f = FIELD_FIRST_PER_TYPE; f < FIELD_COUNT; f++) {
        bool listed = (spec->listed & BIT(f)) != 0;
        json_t *v = fv[f];
        if (v == NULL) {
            if (spec->required & BIT(f)) {
                rc = fail(err, errlen, "missing required field \"%s\" for type %s", fields[f].name,
                          type_names[ev->type]);
                goto bad;
            }
            continue;
        }
        if ((rc = check_field(ev, (event_field_t)f, v, listed, err, errlen)) != EVENT_OK) goto bad;
    }
    ev->doc = doc;
    return EVENT_OK;

bad:
    json_decref(doc);
    memset(ev, 0, sizeof *ev);
    return (event_status_t)rc;
}

void event_clear(event_t *ev)
{
    if (ev == NULL) return;
    json_decref((json_t *)ev->doc);
    memset(ev, 0, sizeof *ev);
}

int event_detach(event_t *ev, char **buf, size_t *cap)
{
    size_t need = 1, f;

    for (f = 0; f < FIELD_COUNT; f++)
        if (ev->str[f] != NULL) need += ev->len[f] + 1;
    if (need > *cap) {
        char *nb = realloc(*buf, need);
        if (nb == NULL) return -1;
        *buf = nb;
        *cap = need;
    }
    char *w = *buf;
    for (f = 0; f < FIELD_COUNT; f++) {
        if (ev->str[f] == NULL) continue;
        memcpy(w, ev->str[f], ev->len[f]);
        w[ev->len[f]] = '\0';
        ev->str[f] = w;
        w += ev->len[f] + 1;
    }
    json_decref((json_t *)ev->doc);
    ev->doc = NULL;
    return 0;
}

const char *event_type_name(event_type_t t)
{
    if ((int)t < 0 || t >= EV_TYPE_COUNT) return type_names[EV_UNKNOWN];
    return type_names[t];
}

event_type_t event_type_from_name(const char *name)
{
    if (name == NULL) return EV_UNKNOWN;
    for (int t = EV_UNKNOWN + 1; t < EV_TYPE_COUNT; t++)
        if (strcmp(name, type_names[t]) == 0) return (event_type_t)t;
    return EV_UNKNOWN;
}

/* Returns NULL for a value that is not a field. */
const char *event_field_name(event_field_t f)
{
    if ((int)f < 0 || f >= FIELD_COUNT) return NULL;
    return fields[f].name;
}

int event_field_from_name(const char *name)
{
    if (name == NULL) return -1;
    for (int f = 0; f < FIELD_COUNT; f++)
        if (strcmp(name, fields[f].name) == 0) return f;
    return -1;
}

/* ---- time ---- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil): no timegm, no TZ, no locale, thread-safe. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* Reads n decimal digits at s into *out; -1 if any is not a digit. */
static int digits(const char *s, size_t n, int *out)
{
    int v = 0;

    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

static int days_in_month(int y, int m)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : mdays[m - 1];
}

/* Grammar (RFC 3339 section 5.6): YYYY-MM-DD ("T"/"t") HH:MM:SS
 * ["." 1*9DIGIT] ("Z"/"z" / ("+"/"-") HH:MM), exactly len bytes. */
int event_ts_parse(const char *s, size_t len, int64_t *out_us)
{
    int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
    int64_t frac_us = 0;
    size_t i;

    if (s == NULL || len < 20) return -1;
    if (digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
        digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') || digits(s + 11, 2, &h) ||
        s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' || digits(s + 17, 2, &sec))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60)
        return -1;
    if (sec == 60) sec = 59; /* a leap second: read as the second before it */

    i = 19;
    if (s[i] == '.') {
        size_t start = ++i;
        int64_t scale = 100000;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            frac_us += (s[i] - '0') * scale; /* digits past the 6th add 0 */
            scale /= 10;
            i++;
        }
        if (i == start || i - start > 9) return -1;
    }
    if (i >= len) return -1;
    if (s[i] == 'Z' || s[i] == 'z') {
        i++;
    } else if (s[i] == '+' || s[i] == '-') {
        sign = s[i] == '+' ? 1 : -1;
        if (len - i < 6 || digits(s + i + 1, 2, &oh) || s[i + 3] != ':' ||
            digits(s + i + 4, 2, &om) || oh > 23 || om > 59)
            return -1;
        i += 6;
    } else {
        return -1;
    }
    if (i != len) return -1;

    int64_t secs = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 +
                   sec - sign * (oh * 3600 + om * 60);
    int64_t us = secs * US_PER_SEC + frac_us;
    if (us < EVENT_TS_MIN_US || us > EVENT_TS_MAX_US) return -1; /* written back in UTC */
    if (out_us != NULL) *out_us = us;
    return 0;
}

char *event_ts_format(int64_t us, char *buf, size_t buflen)
{
    int64_t days = us / US_PER_DAY, rem = us % US_PER_DAY, y;
    unsigned m, d;
    int sod, frac;

    if (buf == NULL || buflen == 0) return buf;
    if (rem < 0) { /* floor, for times before 1970 */
        rem += US_PER_DAY;
        days--;
    }
    civil_from_days(days, &y, &m, &d);
    sod = (int)(rem / US_PER_SEC);
    frac = (int)(rem % US_PER_SEC);
    if (frac == 0)
        snprintf(buf, buflen, "%04lld-%02u-%02uT%02d:%02d:%02dZ", (long long)y, m, d, sod / 3600,
                 sod / 60 % 60, sod % 60);
    else if (frac % 1000 == 0)
        snprintf(buf, buflen, "%04lld-%02u-%02uT%02d:%02d:%02d.%03dZ", (long long)y, m, d,
                 sod / 3600, sod / 60 % 60, sod % 60, frac / 1000);
    else
        snprintf(buf, buflen, "%04lld-%02u-%02uT%02d:%02d:%02d.%06dZ", (long long)y, m, d,
                 sod / 3600, sod / 60 % 60, sod % 60, frac);
    return buf;
}

int event_type_has_field(event_type_t t, event_field_t f)
{
    if ((unsigned)t >= EV_TYPE_COUNT || (unsigned)f >= FIELD_COUNT) return 0;
    if (f <= FIELD_CHANNEL) /* the common fields */
        return 1;
    return (types[t].listed & BIT(f)) != 0;
}
