/* requests.h - a remembered request for the store tests: one field.
 *
 * test_request_ip() fills *rq with time ts, event id "ev-EVENT" and the one
 * field ip = value. The name and value point at static text and at value:
 * rq is for store_request_put only and is not cleared.
 */
#ifndef TESTS_SUPPORT_REQUESTS_H
#define TESTS_SUPPORT_REQUESTS_H

#include <stdint.h>

#include "store.h"

void test_request_ip(store_request_t *rq, int64_t ts, const char *event, const char *value);

#endif
