/* explain_json.c - the explanation of one event as one line of JSON: the
 * same information as the text, structured (rules, their conditions with
 * text, values, result, and the outcome). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "explain_impl.h"
#include "ruletext.h"

static json_t *jstrn(const char *s, size_t n)
{
    json_t *j = s ? json_stringn(s, n) : NULL;
    return j ? j : json_null();
}

static json_t *jstr(const char *s)
{
    return s ? jstrn(s, strlen(s)) : json_null();
}

static json_t *jts(int64_t us)
{
    char b[40];
    return json_string(event_ts_format(us, b, sizeof b));
}

static json_t *jdur(int64_t us)
{
    char d[64];
    return json_string(rules_duration_format(us, d, sizeof d));
}

static json_t *jtext(const explain_t *x, const rule_expr_t *e)
{
    char *s = ruletext_string(x->rs, e);
    json_t *j = jstr(s);
    free(s);
    return j;
}

static json_t *json_request(const explain_t *x, const rule_expr_t *v)
{
    const xreq_t *q = explain_request_of(x, v);
    const rules_request_t *rq = ruleset_request(x->rs, (size_t)v->request);
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(rq->name));
    json_object_set_new(o, "keep", jdur(rq->keep_us));
    const char *state = !q || q->state == 0   ? "not_read"
                        : q->state == 2       ? "found"
                        : q->state == 3       ? "expired"
                        : !x->ev->str[rq->by] ? "no_key"
                                              : "not_found";
    json_object_set_new(o, "found", json_boolean(q && q->state == 2));
    json_object_set_new(o, "state", json_string(state));
    if (q && q->event_id) {
        json_object_set_new(o, "event_id", jstr(q->event_id));
        json_object_set_new(o, "ts", jts(q->ts_us));
    }
    return o;
}

static json_t *json_value(const explain_t *x, const xrule_t *r, const rule_expr_t *v,
                          const xval_t *val)
{
    json_t *o = json_object();
    json_object_set_new(o, "text", jtext(x, v));
    if (v->op == EX_COUNT || v->op == EX_DISTINCT) {
        const xnode_t *c = explain_find(r, v, 0);
        const rules_counter_t *ctr = ruleset_counter(x->rs, (size_t)v->counter);
        const char *by = event_field_name(ctr->by);
        json_object_set_new(o, "value", json_integer(c ? c->count : val->num));
        if (c && c->scope) {
            json_t *w = json_object();
            json_object_set_new(w, "from", jts(c->lo_us));
            json_object_set_new(w, "to", jts(c->hi_us));
            json_object_set_new(w, "reset", json_boolean(c->lo_us > c->hi_us - v->window_us));
            json_object_set_new(o, "window", w);
            if (ctr->by != FIELD_IDENTITY)
                json_object_set_new(
                    o, "by",
                    json_pack("{s:s,s:o}", "field", by, "value", jstr(c->scope + strlen(by) + 1)));
        } else if (c) {
            json_object_set_new(o, "window", json_null());
            json_object_set_new(o, "missing_field", json_string(by));
        }
        return o;
    }
    if (val->type == T_STR)
        json_object_set_new(o, "value", jstrn(val->s, val->len));
    else if (val->type == T_BOOL)
        json_object_set_new(o, "value", json_boolean(val->num));
    else if (val->type == T_NUM)
        json_object_set_new(o, "value", json_integer(val->num));
    else
        json_object_set_new(o, "value", json_null());
    if (explain_request_of(x, v)) json_object_set_new(o, "request", json_request(x, v));
    return o;
}

static json_t *json_set(const explain_t *x, const rule_expr_t *t, const xnode_t *n)
{
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(ruleset_set(x->rs, (size_t)t->set)->name));
    json_object_set_new(o, "age", jdur(n->age_us));
    json_object_set_new(o, "known", json_boolean(n->result));
    json_object_set_new(o, "found", json_boolean(n->found));
    json_object_set_new(o, "first_learned", n->first_us ? jts(n->first_us) : json_null());
    json_object_set_new(o, "last_learned", n->found ? jts(n->last_us) : json_null());
    return o;
}

static void json_chain(const explain_t *x, json_t *arr, const xrule_t *r, const rule_expr_t *e,
                       expr_op_t op);

static json_t *json_node(const explain_t *x, const xrule_t *r, const rule_expr_t *e)
{
    json_t *o = json_object();
    const xnode_t *n = explain_find(r, e, 1);
    const rule_expr_t *t = explain_test_of(e);
    const xnode_t *tn = explain_is_leaf(e) ? explain_find(r, t, 1) : n;
    json_object_set_new(o, "text", jtext(x, e));
    json_object_set_new(o, "evaluated", json_boolean(n && tn));
    json_object_set_new(o, "result", n && tn ? json_boolean(n->result) : json_null());
    if (!n || !tn) return o;
    if (!explain_is_leaf(e)) {
        json_t *c = json_array();
        json_object_set_new(o, "op",
                            json_string(e->op == EX_AND  ? "and"
                                        : e->op == EX_OR ? "or"
                                                         : "not"));
        if (e->op == EX_NOT)
            json_array_append_new(c, json_node(x, r, e->a));
        else
            json_chain(x, c, r, e, e->op);
        json_object_set_new(o, "children", c);
        return o;
    }
    json_t *vals = json_array();
    if (t->op != EX_PRESENT || t->a->op != EX_REQUEST)
        json_array_append_new(vals, json_value(x, r, t->a, &tn->a));
    if (t->op == EX_CMP && t->b->op != EX_LITERAL)
        json_array_append_new(vals, json_value(x, r, t->b, &tn->b));
    json_object_set_new(o, "values", vals);
    if (t->op == EX_IN_SET) json_object_set_new(o, "set", json_set(x, t, tn));
    if (t->op == EX_PRESENT && t->a->op == EX_REQUEST)
        json_object_set_new(o, "request", json_request(x, t->a));
    if (t->op == EX_MATCH) json_object_set_new(o, "match_limit", json_boolean(tn->regex_limit));
    return o;
}

static void json_chain(const explain_t *x, json_t *arr, const xrule_t *r, const rule_expr_t *e,
                       expr_op_t op)
{
    if (e->op == op) {
        json_chain(x, arr, r, e->a, op);
        json_chain(x, arr, r, e->b, op);
    } else {
        json_array_append_new(arr, json_node(x, r, e));
    }
}

static json_t *json_rule(const explain_t *x, const xrule_t *r)
{
    static const char *names[] = {"not_hit",        "fired",         "no_authenticator", "cooldown",
                                  "block_in_force", "block_decided", "action_limit"};
    json_t *o = json_object();
    json_object_set_new(o, "rule", json_string(r->rule->id));
    json_object_set_new(o, "kind", json_string(rule_kind_name(r->rule->kind)));
    json_object_set_new(o, "mode", json_string(rule_mode_name(r->rule->mode)));
    json_object_set_new(o, "hit", json_boolean(r->has_outcome && r->outcome != ENGINE_NOT_HIT));
    json_object_set_new(o, "outcome",
                        r->has_outcome ? json_string(names[r->outcome]) : json_null());
    switch (r->has_outcome ? r->outcome : ENGINE_NOT_HIT) {
    case ENGINE_FIRED: {
        json_t *a = r->action_json ? json_loads(r->action_json, 0, NULL) : NULL;
        json_object_set_new(o, "action_id", json_string(r->action_id));
        json_object_set_new(o, "action_mode", json_string(rule_mode_name(r->mode)));
        json_object_set_new(o, "breaker", json_boolean(r->breaker));
        json_object_set_new(o, "action", a ? a : json_null());
        break;
    }
    case ENGINE_COOLDOWN:
        json_object_set_new(o, "cooldown",
                            json_pack("{s:o,s:o,s:o}", "since", jts(r->since_us), "until",
                                      jts(r->until_us), "event_id", jstr(r->by)));
        break;
    case ENGINE_BLOCK_IN_FORCE:
        json_object_set_new(o, "block",
                            json_pack("{s:o,s:o,s:o,s:o}", "rule", jstr(r->by), "since",
                                      jts(r->since_us), "expires",
                                      r->until_us ? jts(r->until_us) : json_null(),
                                      "authenticator_id", jstr(r->auth)));
        break;
    case ENGINE_BLOCK_DECIDED:
        json_object_set_new(o, "decided_by", jstr(r->by_rule ? r->by_rule->id : NULL));
        break;
    default:
        break;
    }
    json_t *conds = json_array();
    if (r->rule->when) {
        if (r->rule->when->op == EX_AND)
            json_chain(x, conds, r, r->rule->when, EX_AND);
        else
            json_array_append_new(conds, json_node(x, r, r->rule->when));
    }
    json_object_set_new(o, "conditions", conds);
    return o;
}

int explain_json_event(const explain_t *x, FILE *f)
{
    const event_t *ev = x->ev;
    json_t *o = json_object(), *resets = json_array(), *unblocked = json_array(),
           *rules = json_array(), *learned = json_array();
    json_object_set_new(o, "event_id", jstr(ev->str[FIELD_EVENT_ID]));
    json_object_set_new(o, "ts", jts(ev->ts_us));
    json_object_set_new(o, "type", json_string(event_type_name(ev->type)));
    json_object_set_new(o, "identity", jstr(ev->str[FIELD_IDENTITY]));
    for (size_t i = 0; i < x->nresets; i++)
        if (explain_shown_rule(x, x->resets[i]))
            json_array_append_new(resets, json_string(ruleset_rule(x->rs, x->resets[i])->id));
    for (size_t i = 0; i < x->nnotes; i++) {
        const xnote_t *n = &x->notes[i];
        if (n->set >= 0)
            json_array_append_new(learned, json_pack("{s:s,s:o}", "set",
                                                     ruleset_set(x->rs, (size_t)n->set)->name,
                                                     "value", jstrn(n->value, n->len)));
        else
            json_array_append_new(unblocked,
                                  json_pack("{s:o,s:o,s:o}", "authenticator_id", jstr(n->value),
                                            "rule", jstr(n->rule), "since", jts(n->since_us)));
    }
    for (size_t i = 0; i < x->nrules; i++)
        if (explain_shown_rule(x, x->rules[i].index))
            json_array_append_new(rules, json_rule(x, &x->rules[i]));
    json_object_set_new(o, "resets", resets);
    json_object_set_new(o, "unblocked", unblocked);
    json_object_set_new(o, "rules", rules);
    json_object_set_new(o, "learned", learned);
    /* ASCII only, and DEL (which JSON leaves as it is) escaped too: the
     * output is safe on a terminal. DEL occurs only inside strings. */
    char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!s) return -1;
    for (const char *p = s;;) {
        size_t n = strcspn(p, "\x7f");
        fwrite(p, 1, n, f);
        if (!p[n]) break;
        fputs("\\u007f", f);
        p += n + 1;
    }
    fputc('\n', f);
    free(s);
    return 0;
}
