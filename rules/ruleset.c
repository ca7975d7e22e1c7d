/* ruleset.c - the compiled rule set: building, loading files, reading. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "rules_impl.h"

#define RULE_FILE_MAX (4 * 1024 * 1024)

const char *rule_kind_name(rule_kind_t k)
{
    static const char *const n[] = {"alert", "block_identity", "block_authenticator"};
    return (unsigned)k < 3 ? n[k] : "?";
}

const char *rule_severity_name(rule_severity_t s)
{
    static const char *const n[] = {"low", "medium", "high"};
    return (unsigned)s < 3 ? n[s] : "?";
}

const char *rule_mode_name(rule_mode_t m)
{
    return m == MODE_SHADOW ? "shadow" : "enforce";
}

void rules_expr_free(rule_expr_t *e)
{
    if (!e) return;
    rules_expr_free(e->a);
    rules_expr_free(e->b);
    for (size_t i = 0; i < e->nitems; i++)
        rules_expr_free(e->items[i]);
    free(e->items);
    free(e->str);
    free(e->pattern);
    if (e->re) pcre2_code_free(e->re);
    free(e);
}

rules_builder_t *rules_builder_new(void)
{
    rules_builder_t *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    b->rs = calloc(1, sizeof *b->rs);
    if (b->rs) b->rs->mctx = regex_context_new(&b->rs->jit_stack);
    if (!b->rs || !b->rs->mctx) {
        ruleset_free(b->rs);
        free(b);
        return NULL;
    }
    return b;
}

int builder_add_counter(rules_builder_t *b, rules_counter_t *c)
{
    struct ruleset *rs = b->rs;
    for (size_t i = 0; i < rs->ncounters; i++) {
        if (strcmp(rs->counters[i].name, c->name) == 0) {
            if (c->keep_us > rs->counters[i].keep_us) rs->counters[i].keep_us = c->keep_us;
            free(c->name);
            rules_expr_free(c->filter);
            c->name = NULL;
            c->filter = NULL;
            return (int)i;
        }
    }
    if (rs->ncounters == rs->capcounters) {
        size_t cap = rs->capcounters ? rs->capcounters * 2 : 8;
        rules_counter_t *n = realloc(rs->counters, cap * sizeof *n);
        if (!n) return -1;
        rs->counters = n;
        rs->capcounters = cap;
    }
    rs->counters[rs->ncounters] = *c;
    c->name = NULL;
    c->filter = NULL;
    return (int)rs->ncounters++;
}

int builder_find_request(const rules_builder_t *b, const char *name, size_t len)
{
    for (size_t i = 0; i < b->rs->nrequests; i++)
        if (strlen(b->rs->requests[i].name) == len &&
            memcmp(b->rs->requests[i].name, name, len) == 0)
            return (int)i;
    return -1;
}

int builder_find_set(const rules_builder_t *b, const char *name)
{
    for (size_t i = 0; i < b->rs->nsets; i++)
        if (strcmp(b->rs->sets[i].name, name) == 0) return (int)i;
    return -1;
}

int builder_find_rule(const rules_builder_t *b, const char *id)
{
    for (size_t i = 0; i < b->rs->nrules; i++)
        if (strcmp(b->rs->rules[i].id, id) == 0) return (int)i;
    return -1;
}

void rules_test_clear(rules_test_t *t)
{
    free(t->name);
    free(t->file);
    for (size_t k = 0; k < t->nevents; k++)
        free(t->events[k]);
    free(t->events);
    free(t->event_lines);
    for (size_t k = 0; k < t->nexpects; k++) {
        free(t->expects[k].rule);
        free(t->expects[k].event);
        free(t->expects[k].identity);
    }
    free(t->expects);
    memset(t, 0, sizeof *t);
}

void ruleset_free(ruleset_t *rs)
{
    if (!rs) return;
    for (size_t i = 0; i < rs->nrules; i++) {
        free(rs->rules[i].id);
        free(rs->rules[i].file);
        free(rs->rules[i].reason);
        rules_expr_free(rs->rules[i].when);
    }
    for (size_t i = 0; i < rs->ncounters; i++) {
        free(rs->counters[i].name);
        rules_expr_free(rs->counters[i].filter);
    }
    for (size_t i = 0; i < rs->nrequests; i++)
        free(rs->requests[i].name);
    for (size_t i = 0; i < rs->nsets; i++) {
        free(rs->sets[i].name);
        rules_expr_free(rs->sets[i].value);
        rules_expr_free(rs->sets[i].filter);
    }
    for (size_t i = 0; i < rs->ntests; i++)
        rules_test_clear(&rs->tests[i]);
    free(rs->tests);
    free(rs->rules);
    free(rs->counters);
    free(rs->requests);
    free(rs->sets);
    if (rs->mctx) pcre2_match_context_free(rs->mctx);
    if (rs->jit_stack) pcre2_jit_stack_free(rs->jit_stack);
    free(rs);
}

ruleset_t *rules_builder_finish(rules_builder_t *b, rules_diag_t *diag)
{
    ruleset_t *rs = b->rs;
    /* Tests may name rules of any file: checked once all are read. */
    for (size_t i = 0; i < rs->ntests; i++)
        for (size_t k = 0; k < rs->tests[i].nexpects; k++) {
            const rules_expect_t *x = &rs->tests[i].expects[k];
            if (builder_find_rule(b, x->rule) < 0) {
                diag_plain(diag, "%s:%d: test \"%s\" expects unknown rule \"%s\"",
                           rs->tests[i].file, x->line, rs->tests[i].name, x->rule);
                b->errors++;
            }
        }
    size_t errors = b->errors;
    free(b);
    if (errors > 0) {
        ruleset_free(rs);
        return NULL;
    }
    return rs;
}

ruleset_t *rules_load_string(const char *text, const char *name, rules_diag_t *diag)
{
    rules_builder_t *b = rules_builder_new();
    if (!b) {
        diag_plain(diag, "%s: out of memory", name);
        return NULL;
    }
    rules_builder_add(b, text, name, diag);
    return rules_builder_finish(b, diag);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *read_file(const char *path, rules_diag_t *diag)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        diag_plain(diag, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(RULE_FILE_MAX + 1);
    size_t n = buf ? fread(buf, 1, RULE_FILE_MAX + 1, f) : 0;
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad) {
        diag_plain(diag, "%s: cannot read", path);
        free(buf);
        return NULL;
    }
    if (n > RULE_FILE_MAX) {
        diag_plain(diag, "%s: over %d bytes", path, RULE_FILE_MAX);
        free(buf);
        return NULL;
    }
    if (memchr(buf, '\0', n)) {
        diag_plain(diag, "%s: contains a NUL byte", path);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

ruleset_t *rules_load_dir(const char *dir, rules_diag_t *diag)
{
    DIR *d = opendir(dir);
    if (!d) {
        diag_plain(diag, "%s: cannot open rule directory: %s", dir, strerror(errno));
        return NULL;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l <= 6 || strcmp(de->d_name + l - 6, ".rules") != 0 || de->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) break;
            names = nn;
        }
        if (!(names[n] = strdup(de->d_name))) break;
        n++;
    }
    closedir(d);
    if (n > 1) qsort(names, n, sizeof *names, cmp_str);
    rules_builder_t *b = rules_builder_new();
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        char *text = read_file(path, diag);
        if (text && b)
            rules_builder_add(b, text, path, diag);
        else if (b)
            b->errors++;
        free(text);
        free(names[i]);
    }
    free(names);
    if (!b) {
        diag_plain(diag, "out of memory");
        return NULL;
    }
    if (n == 0) {
        /* A wrong rules.dir must not silently turn detection off. */
        diag_plain(diag, "%s: no *.rules files", dir);
        b->errors++;
    }
    return rules_builder_finish(b, diag);
}

size_t ruleset_rule_count(const ruleset_t *rs)
{
    return rs->nrules;
}
const rule_t *ruleset_rule(const ruleset_t *rs, size_t i)
{
    return &rs->rules[i];
}
size_t ruleset_counter_count(const ruleset_t *rs)
{
    return rs->ncounters;
}
const rules_counter_t *ruleset_counter(const ruleset_t *rs, size_t i)
{
    return &rs->counters[i];
}
size_t ruleset_request_count(const ruleset_t *rs)
{
    return rs->nrequests;
}
const rules_request_t *ruleset_request(const ruleset_t *rs, size_t i)
{
    return &rs->requests[i];
}
size_t ruleset_set_count(const ruleset_t *rs)
{
    return rs->nsets;
}
const rules_set_t *ruleset_set(const ruleset_t *rs, size_t i)
{
    return &rs->sets[i];
}
const rules_breaker_t *ruleset_breaker(const ruleset_t *rs)
{
    return &rs->breaker;
}
size_t ruleset_slot_count(const ruleset_t *rs)
{
    return rs->nslots;
}
size_t ruleset_test_count(const ruleset_t *rs)
{
    return rs->ntests;
}
const rules_test_t *ruleset_test(const ruleset_t *rs, size_t i)
{
    return &rs->tests[i];
}
pcre2_match_context *ruleset_match_context(const ruleset_t *rs)
{
    return rs->mctx;
}
void ruleset_set_regex_on_limit(ruleset_t *rs, rules_regex_on_limit_t v)
{
    rs->regex_on_limit = v;
}
rules_regex_on_limit_t ruleset_regex_on_limit(const ruleset_t *rs)
{
    return rs->regex_on_limit;
}
