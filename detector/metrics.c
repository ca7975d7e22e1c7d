/* metrics.c - the registry of metrics and the Prometheus text format. */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

/* One combination of label values. */
struct series {
    char **values;
    uint64_t hash;
    double value;          /* counter, gauge */
    unsigned long *counts; /* histogram: per bucket (not cumulative), +Inf last */
    unsigned long count;
    double sum;
};

struct metric {
    metrics_t *m;
    char *name, *help;
    metric_type_t type;
    char **labels;
    size_t nlabels;
    double *bounds;
    size_t nbounds;
    struct series **series; /* in order of creation */
    size_t n, cap;
    size_t *slots; /* open addressing over series: index + 1, 0 empty */
    size_t nslots;
    struct metric *next;
};

struct metrics {
    pthread_mutex_t lock;
    metric_t *first, *last;
};

metrics_t *metrics_new(void)
{
    metrics_t *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    pthread_mutex_init(&m->lock, NULL);
    return m;
}

static void series_free(struct series *s, size_t nlabels)
{
    if (!s) return;
    for (size_t i = 0; s->values && i < nlabels; i++)
        free(s->values[i]);
    free(s->values);
    free(s->counts);
    free(s);
}

void metric_clear(metric_t *f)
{
    for (size_t i = 0; i < f->n; i++)
        series_free(f->series[i], f->nlabels);
    f->n = 0;
    if (f->slots) memset(f->slots, 0, f->nslots * sizeof *f->slots);
}

static void family_free(metric_t *f)
{
    metric_clear(f);
    free(f->series);
    free(f->slots);
    for (size_t i = 0; i < f->nlabels; i++)
        free(f->labels[i]);
    free(f->labels);
    free(f->bounds);
    free(f->name);
    free(f->help);
    free(f);
}

void metrics_free(metrics_t *m)
{
    if (!m) return;
    for (metric_t *f = m->first, *next; f; f = next) {
        next = f->next;
        family_free(f);
    }
    pthread_mutex_destroy(&m->lock);
    free(m);
}

void metrics_lock(metrics_t *m)
{
    pthread_mutex_lock(&m->lock);
}

void metrics_unlock(metrics_t *m)
{
    pthread_mutex_unlock(&m->lock);
}

static int name_ok(const char *s, int label)
{
    if (!s || !*s || (label && s[0] == '_' && s[1] == '_')) return 0;
    for (size_t i = 0; s[i]; i++) {
        char c = s[i];
        int alpha =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (!label && c == ':');
        if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return 0;
    }
    return 1;
}

/* Splits "a,b,c" into f->labels. 0 or -1. */
static int split_labels(metric_t *f, const char *labels)
{
    if (!labels || !*labels) return 0;
    size_t n = 1;
    for (const char *p = labels; *p; p++)
        n += *p == ',';
    f->labels = calloc(n, sizeof *f->labels);
    if (!f->labels) return -1;
    for (const char *p = labels;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char *l = strndup(p, len);
        if (!l) return -1;
        f->labels[f->nlabels++] = l;
        if (!name_ok(l, 1) || (f->type == METRIC_HISTOGRAM && strcmp(l, "le") == 0)) return -1;
        for (size_t i = 0; i + 1 < f->nlabels; i++)
            if (strcmp(f->labels[i], l) == 0) return -1;
        if (!comma) return 0;
        p = comma + 1;
    }
}

static uint64_t hash_values(const char *const *values, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        for (const unsigned char *p = (const unsigned char *)values[i]; *p; p++)
            h = (h ^ *p) * 1099511628211ULL;
        h = (h ^ 0xFF) * 1099511628211ULL; /* no UTF-8 text holds 0xFF */
    }
    return h;
}

static int same_values(const struct series *s, const char *const *values, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s->values[i], values[i]) != 0) return 0;
    return 1;
}

/* The series of values: found, or created when create is set. NULL when
 * absent (or out of memory). */
static struct series *series_get(metric_t *f, const char *const *values, int create)
{
    for (size_t i = 0; i < f->nlabels; i++)
        if (!values || !values[i]) return NULL;
    uint64_t h = hash_values(values, f->nlabels);
    size_t mask = f->nslots - 1, at = f->nslots ? (size_t)h & mask : 0;
    for (size_t probe = 0; f->nslots && f->slots[at] && probe < f->nslots; probe++) {
        struct series *s = f->series[f->slots[at] - 1];
        if (s->hash == h && same_values(s, values, f->nlabels)) return s;
        at = (at + 1) & mask;
    }
    if (!create) return NULL;
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 8;
        struct series **ns = realloc(f->series, cap * sizeof *ns);
        if (!ns) return NULL;
        f->series = ns;
        f->cap = cap;
    }
    if ((f->n + 1) * 2 > f->nslots) { /* keep the table at most half full */
        size_t nslots = f->nslots ? f->nslots * 2 : 16;
        size_t *slots = calloc(nslots, sizeof *slots);
        if (!slots) return NULL;
        for (size_t i = 0; i < f->n; i++) {
            size_t j = (size_t)f->series[i]->hash & (nslots - 1);
            while (slots[j])
                j = (j + 1) & (nslots - 1);
            slots[j] = i + 1;
        }
        free(f->slots);
        f->slots = slots;
        f->nslots = nslots;
    }
    struct series *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->hash = h;
    s->values = calloc(f->nlabels ? f->nlabels : 1, sizeof *s->values);
    if (!s->values) goto fail;
    for (size_t i = 0; i < f->nlabels; i++)
        if (!(s->values[i] = strdup(values[i]))) goto fail;
    if (f->type == METRIC_HISTOGRAM && !(s->counts = calloc(f->nbounds + 1, sizeof *s->counts)))
        goto fail;
    at = (size_t)h & (f->nslots - 1);
    while (f->slots[at])
        at = (at + 1) & (f->nslots - 1);
    f->slots[at] = f->n + 1;
    f->series[f->n++] = s;
    return s;
fail:
    series_free(s, f->nlabels);
    return NULL;
}

static metric_t *family_new(metrics_t *m, metric_type_t type, const char *name, const char *help,
                            const char *labels, const double *bounds, size_t nbounds)
{
    if (!name_ok(name, 0)) return NULL;
    for (size_t i = 1; i < nbounds; i++)
        if (!(bounds[i] > bounds[i - 1])) return NULL;
    metric_t *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    f->m = m;
    f->type = type;
    f->name = strdup(name);
    f->help = strdup(help ? help : "");
    if (!f->name || !f->help || split_labels(f, labels) < 0) goto fail;
    if (nbounds) {
        if (!(f->bounds = malloc(nbounds * sizeof *f->bounds))) goto fail;
        memcpy(f->bounds, bounds, nbounds * sizeof *bounds);
        f->nbounds = nbounds;
    }
    /* Without labels the one series exists from the start: it is rendered
     * (as 0) before its first update. */
    if (f->nlabels == 0 && !series_get(f, NULL, 1)) goto fail;
    metrics_lock(m);
    for (metric_t *o = m->first; o; o = o->next)
        if (strcmp(o->name, name) == 0) {
            metrics_unlock(m);
            goto fail;
        }
    if (m->last)
        m->last->next = f;
    else
        m->first = f;
    m->last = f;
    metrics_unlock(m);
    return f;
fail:
    family_free(f);
    return NULL;
}

metric_t *metrics_counter(metrics_t *m, const char *name, const char *help, const char *labels)
{
    return family_new(m, METRIC_COUNTER, name, help, labels, NULL, 0);
}

metric_t *metrics_gauge(metrics_t *m, const char *name, const char *help, const char *labels)
{
    return family_new(m, METRIC_GAUGE, name, help, labels, NULL, 0);
}

metric_t *metrics_histogram(metrics_t *m, const char *name, const char *help, const char *labels,
                            const double *bounds, size_t nbounds)
{
    if (!bounds || nbounds == 0) return NULL;
    return family_new(m, METRIC_HISTOGRAM, name, help, labels, bounds, nbounds);
}

int metric_add(metric_t *f, const char *const *values, double v)
{
    if (f->type == METRIC_HISTOGRAM || (f->type == METRIC_COUNTER && !(v >= 0))) return -1;
    struct series *s = series_get(f, values, 1);
    if (!s) return -1;
    s->value += v;
    return 0;
}

int metric_set(metric_t *f, const char *const *values, double v)
{
    if (f->type == METRIC_HISTOGRAM) return -1;
    struct series *s = series_get(f, values, 1);
    if (!s) return -1;
    s->value = v;
    return 0;
}

size_t metric_buckets(const metric_t *f)
{
    return f->type == METRIC_HISTOGRAM ? f->nbounds + 1 : 0;
}

size_t metric_bucket(const metric_t *f, double v)
{
    size_t lo = 0, hi = f->nbounds; /* the first bound >= v, by bisection */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (f->bounds[mid] >= v)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

int metric_observe(metric_t *f, const char *const *values, double v)
{
    if (f->type != METRIC_HISTOGRAM) return -1;
    struct series *s = series_get(f, values, 1);
    if (!s) return -1;
    s->counts[metric_bucket(f, v)]++;
    s->count++;
    s->sum += v;
    return 0;
}

int metric_observe_counts(metric_t *f, const char *const *values, const unsigned long *counts,
                          double sum)
{
    if (f->type != METRIC_HISTOGRAM) return -1;
    struct series *s = series_get(f, values, 1);
    if (!s) return -1;
    for (size_t i = 0; i <= f->nbounds; i++) {
        s->counts[i] += counts[i];
        s->count += counts[i];
    }
    s->sum += sum;
    return 0;
}

double metric_value(metric_t *f, const char *const *values)
{
    const struct series *s = series_get(f, values, 0);
    if (!s) return 0;
    return f->type == METRIC_HISTOGRAM ? (double)s->count : s->value;
}

/* A sample value as Prometheus reads it: integers whole, others with as
 * many digits as it takes to read them back exactly. */
static void put_number(FILE *o, double v)
{
    char buf[64];
    if (isnan(v)) {
        fputs("NaN", o);
    } else if (isinf(v)) {
        fputs(v > 0 ? "+Inf" : "-Inf", o);
    } else if (v == floor(v) && fabs(v) < 1e15) {
        fprintf(o, "%.0f", v);
    } else {
        snprintf(buf, sizeof buf, "%.15g", v);
        if (strtod(buf, NULL) != v) snprintf(buf, sizeof buf, "%.17g", v);
        fputs(buf, o);
    }
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xBF;
    size_t len;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    return len;
}

/* Text as the format wants it: "\\" and "\n" escaped (and '"' in label
 * values); other control bytes and bytes that are not UTF-8 become U+FFFD. */
static void put_escaped(FILE *o, const char *text, int quote)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t n = strlen(text);
    for (size_t i = 0; i < n;) {
        size_t l = utf8_len(s + i, n - i);
        if (l == 1 && s[i] == '\\')
            fputs("\\\\", o);
        else if (l == 1 && s[i] == '\n')
            fputs("\\n", o);
        else if (l == 1 && s[i] == '"' && quote)
            fputs("\\\"", o);
        else if (l == 0 || (l == 1 && (s[i] < 0x20 || s[i] == 0x7F)))
            fputs("\xEF\xBF\xBD", o);
        else
            fwrite(s + i, 1, l, o);
        i += l ? l : 1;
    }
}

/* "{a="x",b="y"" without the closing brace (le may follow); nothing when
 * there is no label. Returns 1 if a brace was opened. */
static int put_labels(FILE *o, const metric_t *f, const struct series *s)
{
    for (size_t i = 0; i < f->nlabels; i++) {
        fprintf(o, "%s%s=\"", i ? "," : "{", f->labels[i]);
        put_escaped(o, s->values[i], 1);
        fputc('"', o);
    }
    return f->nlabels > 0;
}

static void put_series(FILE *o, const metric_t *f, const struct series *s)
{
    if (f->type != METRIC_HISTOGRAM) {
        fputs(f->name, o);
        if (put_labels(o, f, s)) fputc('}', o);
        fputc(' ', o);
        put_number(o, s->value);
        fputc('\n', o);
        return;
    }
    unsigned long cum = 0;
    for (size_t b = 0; b <= f->nbounds; b++) {
        cum += s->counts[b];
        fprintf(o, "%s_bucket", f->name);
        fputs(put_labels(o, f, s) ? ",le=\"" : "{le=\"", o);
        put_number(o, b < f->nbounds ? f->bounds[b] : INFINITY);
        fprintf(o, "\"} %lu\n", cum);
    }
    fprintf(o, "%s_sum", f->name);
    if (put_labels(o, f, s)) fputc('}', o);
    fputc(' ', o);
    put_number(o, s->sum);
    fprintf(o, "\n%s_count", f->name);
    if (put_labels(o, f, s)) fputc('}', o);
    fprintf(o, " %lu\n", s->count);
}

int metrics_render(metrics_t *m, char **text, size_t *len)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    *text = NULL;
    *len = 0;
    FILE *o = open_memstream(text, len);
    if (!o) return -1;
    metrics_lock(m);
    for (const metric_t *f = m->first; f; f = f->next) {
        fprintf(o, "# HELP %s ", f->name);
        put_escaped(o, f->help, 0);
        fprintf(o, "\n# TYPE %s %s\n", f->name, types[f->type]);
        for (size_t i = 0; i < f->n; i++)
            put_series(o, f, f->series[i]);
    }
    metrics_unlock(m);
    if (ferror(o)) {
        fclose(o);
        free(*text);
        *text = NULL;
        return -1;
    }
    if (fclose(o) != 0) {
        free(*text);
        *text = NULL;
        return -1;
    }
    return 0;
}
