/* action.c - action ids and the JSON of actions and activity entries. */
#include <jansson.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "action.h"
#include "event.h"

void action_make_id(const char *rule, rule_kind_t kind, const char *identity,
                    const char *authenticator_id, const char *event_id, char *out)
{
    /* SHA-256 over the NUL-separated parts; 128 bits of it in hex. */
    const char *parts[5] = {rule, rule_kind_name(kind), identity,
                            authenticator_id ? authenticator_id : "", event_id};
    unsigned char buf[1024], md[SHA256_DIGEST_LENGTH];
    size_t n = 0;
    for (int i = 0; i < 5; i++) {
        size_t l = strlen(parts[i]);
        if (n + l + 1 > sizeof buf)
            l = sizeof buf - n - 1; /* every part is at most 128 bytes: never cut */
        memcpy(buf + n, parts[i], l);
        n += l;
        buf[n++] = '\0';
    }
    SHA256(buf, n, md);
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < ACTION_ID_LEN / 2; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[ACTION_ID_LEN] = '\0';
}

char *action_to_json(const action_t *a)
{
    char ts[40], ex[40];
    json_t *o = json_object();
    json_t *ev = json_array();
    if (!o || !ev) {
        json_decref(o);
        json_decref(ev);
        return NULL;
    }
    for (size_t i = 0; i < a->nevents; i++)
        json_array_append_new(ev, json_string(a->events[i]));
    json_object_set_new(o, "action_id", json_string(a->action_id));
    json_object_set_new(o, "kind", json_string(rule_kind_name(a->kind)));
    json_object_set_new(o, "identity", json_string(a->identity));
    if (a->kind == KIND_BLOCK_AUTHENTICATOR)
        json_object_set_new(o, "authenticator_id", json_string(a->authenticator_id));
    json_object_set_new(o, "rule", json_string(a->rule->id));
    json_object_set_new(o, "severity", json_string(rule_severity_name(a->rule->severity)));
    json_object_set_new(o, "mode", json_string(rule_mode_name(a->mode)));
    json_object_set_new(o, "reason", json_string(a->rule->reason));
    json_object_set_new(o, "ts", json_string(event_ts_format(a->ts_us, ts, sizeof ts)));
    json_object_set_new(o, "expires",
                        a->expires_us ? json_string(event_ts_format(a->expires_us, ex, sizeof ex))
                                      : json_null());
    json_object_set_new(o, "events", ev);
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return s;
}

char *action_activity_entry(const action_t *a)
{
    char ts[40];
    json_t *o = json_object();
    if (!o) return NULL;
    json_object_set_new(o, "ts", json_string(event_ts_format(a->ts_us, ts, sizeof ts)));
    json_object_set_new(o, "kind", json_string(rule_kind_name(a->kind)));
    json_object_set_new(o, "rule", json_string(a->rule->id));
    json_object_set_new(o, "severity", json_string(rule_severity_name(a->rule->severity)));
    json_object_set_new(o, "reason", json_string(a->rule->reason));
    json_object_set_new(o, "action_id", json_string(a->action_id));
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return s;
}

void action_clear(action_t *a)
{
    for (size_t i = 0; i < a->nevents; i++)
        free(a->events[i]);
    a->nevents = 0;
}
