/* guard.h - noticing that Redis lost the state (see detector/guard.c). */
#ifndef DETECTOR_GUARD_H
#define DETECTOR_GUARD_H

#include "store.h"

typedef struct guard {
    int pause_on_loss;  /* redis.on_state_loss = pause */
    int seen;           /* the marker was seen (or written) by this daemon */
    int paused;         /* state lost and pausing: do not consume */
    unsigned long lost; /* times the state was found lost */
} guard_t;

/* Reads the marker and acts on what it finds (logs, writes it, or sets
 * paused). 0, or -1 with err when the store failed (try again later). */
int guard_check(guard_t *g, store_t *st, char *err, size_t errlen);

#endif
