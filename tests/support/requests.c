/* requests.c - a remembered request for the store tests (requests.h). */
#include <stdio.h>
#include <string.h>

#include "requests.h"

void test_request_ip(store_request_t *rq, int64_t ts, const char *event, const char *value)
{
    static const char name[] = "ip";
    const char *n = name;

    memset(rq, 0, sizeof *rq);
    rq->ts_us = ts;
    snprintf(rq->event_id, sizeof rq->event_id, "ev-%s", event);
    /* the store takes the fields as char *; it does not write them */
    memcpy(&rq->name[0], &n, sizeof n);
    memcpy(&rq->value[0], &value, sizeof value);
    rq->nfields = 1;
}
