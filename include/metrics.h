/* metrics.h - a registry of metrics and its rendering in the Prometheus
 * text exposition format (version 0.0.4).
 *
 * A registry holds families (counter, gauge, histogram), each with a name,
 * a help text and fixed label names; a family holds series, one per
 * combination of label values, created on first use. The registry has one
 * lock: the owner takes it around a group of updates (once per batch) with
 * metrics_lock/metrics_unlock, and metrics_render takes it to render, from
 * any thread. Label values are escaped when rendered; they should still come
 * from a small fixed set (never raw event text).
 */
#ifndef DETECTOR_METRICS_H
#define DETECTOR_METRICS_H

#include <stddef.h>

typedef struct metrics metrics_t;
typedef struct metric metric_t; /* a family */

typedef enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM } metric_type_t;

/* Caller frees with metrics_free (which frees every family). NULL on
 * out-of-memory. */
metrics_t *metrics_new(void);
void metrics_free(metrics_t *m);

/* Registers a family (name and help copied). labels: the label names,
 * comma-separated ("rule,kind,mode"), or NULL for none. A histogram takes
 * its bucket upper bounds, increasing (copied; +Inf is implied). Returns a
 * handle owned by m, or NULL when a name is invalid, taken, or out of
 * memory. Takes the lock itself. */
metric_t *metrics_counter(metrics_t *m, const char *name, const char *help, const char *labels);
metric_t *metrics_gauge(metrics_t *m, const char *name, const char *help, const char *labels);
metric_t *metrics_histogram(metrics_t *m, const char *name, const char *help, const char *labels,
                            const double *bounds, size_t nbounds);

void metrics_lock(metrics_t *m);
void metrics_unlock(metrics_t *m);

/* Updates; the caller holds the lock. values: one label value per label
 * name, in order (borrowed; NULL when the family has none). 0, or -1 on
 * out-of-memory, a NULL value, or a call that does not fit the family's
 * type (add: counter or gauge, and a counter only goes up; set: counter or
 * gauge; observe: histogram). */
int metric_add(metric_t *f, const char *const *values, double v);
int metric_set(metric_t *f, const char *const *values, double v);
int metric_observe(metric_t *f, const char *const *values, double v);
/* n observations at once: counts[i] of them in bucket i (nbounds + 1
 * counts, the last one for +Inf), summing to sum. */
int metric_observe_counts(metric_t *f, const char *const *values, const unsigned long *counts,
                          double sum);
/* Forgets every series of the family (e.g. the partitions no longer
 * assigned). */
void metric_clear(metric_t *f);
/* The value of a series (counter, gauge) or the count of observations
 * (histogram); 0 when it does not exist. */
double metric_value(metric_t *f, const char *const *values);
/* Histograms (no lock needed: the bounds never change): the number of
 * buckets, +Inf included, and the bucket a value falls in (the first whose
 * bound is >= v). 0 for other families. */
size_t metric_buckets(const metric_t *f);
size_t metric_bucket(const metric_t *f, double v);

/* Renders every family, in the order registered, each as "# HELP",
 * "# TYPE" and its samples. Takes the lock. *text is NUL-terminated, and
 * the caller frees it with free(). 0, or -1 on out-of-memory. */
int metrics_render(metrics_t *m, char **text, size_t *len);

#endif
