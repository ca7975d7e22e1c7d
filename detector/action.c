/* action.c - action ids and the JSON of actions and activity entries. */
#include <jansson.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "action.h"
#include "event.h"

int action_make_id(const char *rule, rule_kind_t kind, const char *identity,
                   const char *authenticator_id, const char *event_id, char *out)
{
    /* SHA-256 over the parts, each as its length (8 bytes, big-endian) and
     * its bytes, so that no two lists of parts hash the same text and no
     * part is ever cut; 128 bits of it in hex. */
    const char *parts[5] = {rule, rule_kind_name(kind), identity,
                            authenticator_id ? authenticator_id : "", event_id};
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    int rc = -1;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) goto done;
    for (int i = 0; i < 5; i++) {
        uint64_t l = strlen(parts[i]);
        unsigned char len[8];
        for (int k = 0; k < 8; k++)
            len[k] = (unsigned char)(l >> (56 - 8 * k));
        if (!EVP_DigestUpdate(ctx, len, sizeof len) || !EVP_DigestUpdate(ctx, parts[i], l))
            goto done;
    }
    if (!EVP_DigestFinal_ex(ctx, md, &mdlen) || mdlen < ACTION_ID_LEN / 2) goto done;
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < ACTION_ID_LEN / 2; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[ACTION_ID_LEN] = '\0';
    rc = 0;
done:
    EVP_MD_CTX_free(ctx);
    return rc;
}

/* Sets key of o to the string s. Jansson takes the new value even when the
 * set fails; a NULL s (or one that is not valid UTF-8) fails. 0 or -1. */
static int set_string(json_t *o, const char *key, const char *s)
{
    json_t *v = s ? json_string(s) : NULL;
    return v ? json_object_set_new(o, key, v) : -1;
}

static int set_time(json_t *o, const char *key, int64_t us)
{
    char ts[40];
    return set_string(o, key, event_ts_format(us, ts, sizeof ts));
}

/* The fields of the action and of its activity entry that come from the rule. */
static int set_rule_fields(json_t *o, const action_t *a)
{
    return set_string(o, "rule", a->rule->id) ||
           set_string(o, "severity", rule_severity_name(a->rule->severity));
}

char *action_to_json(const action_t *a)
{
    char *s = NULL;
    json_t *o = json_object();
    json_t *ev = json_array();
    if (!o || !ev) goto done;
    for (size_t i = 0; i < a->nevents; i++) {
        json_t *id = a->events[i] ? json_string(a->events[i]) : NULL;
        if (!id || json_array_append_new(ev, id) < 0) goto done;
    }
    if (set_string(o, "action_id", a->action_id) ||
        set_string(o, "kind", rule_kind_name(a->kind)) || set_string(o, "identity", a->identity))
        goto done;
    if (a->kind == KIND_BLOCK_AUTHENTICATOR &&
        set_string(o, "authenticator_id", a->authenticator_id))
        goto done;
    if (set_rule_fields(o, a) || set_string(o, "mode", rule_mode_name(a->mode)) ||
        set_string(o, "reason", a->rule->reason) || set_time(o, "ts", a->ts_us))
        goto done;
    if (a->expires_us ? set_time(o, "expires", a->expires_us)
                      : json_object_set_new(o, "expires", json_null()))
        goto done;
    if (json_object_set_new(o, "events", ev) < 0) {
        ev = NULL; /* taken even on failure */
        goto done;
    }
    ev = NULL;
    s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
done:
    json_decref(ev);
    json_decref(o);
    return s;
}

char *action_activity_entry(const action_t *a)
{
    char *s = NULL;
    json_t *o = json_object();
    if (!o) return NULL;
    if (set_time(o, "ts", a->ts_us) || set_string(o, "kind", rule_kind_name(a->kind)) ||
        set_rule_fields(o, a) || set_string(o, "reason", a->rule->reason) ||
        set_string(o, "action_id", a->action_id))
        goto done;
    s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
done:
    json_decref(o);
    return s;
}

void action_clear(action_t *a)
{
    for (size_t i = 0; i < a->nevents; i++)
        free(a->events[i]);
    a->nevents = 0;
    free(a->authenticator_id);
    a->authenticator_id = NULL;
    free(a->json);
    a->json = NULL;
}
