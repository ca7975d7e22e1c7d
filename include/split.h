/* split.h - a helper thread for work that divides by index.
 *
 * The daemon parses a batch's messages, and releases them, on two cores:
 * split_run runs fn for every index, the calling thread and the helper
 * each taking the next indices not taken yet. fn must only touch what
 * belongs to its index.
 */
#ifndef DETECTOR_SPLIT_H
#define DETECTOR_SPLIT_H

#include <stddef.h>

typedef struct split split_t;

/* Starts the helper thread; NULL (errno set) when it cannot. */
split_t *split_new(void);

/* Stops the helper and frees s; NULL is ignored. */
void split_free(split_t *s);

/* Runs fn(arg, i) once for each i in [0, n), on this thread and the
 * helper, and returns when every call has returned. Small n, or a NULL s,
 * runs here alone (waking the helper costs more). */
void split_run(split_t *s, void (*fn)(void *arg, size_t i), void *arg, size_t n);

#endif
