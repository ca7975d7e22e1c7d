/* http.h - the operator's HTTP endpoint (libmicrohttpd, its own thread):
 *
 *   GET /metrics   the metrics, Prometheus text format 0.0.4
 *   GET /healthz   200 "ok" while the process runs
 *   GET /readyz    200 "ready" or 503 with the reasons, one per line
 *
 * Anything else is 404 (405 for a method other than GET and HEAD).
 */
#ifndef DETECTOR_HTTP_H
#define DETECTOR_HTTP_H

#include <stddef.h>

#include "telemetry.h"

typedef struct http_server http_server_t;

/* Serves t (borrowed, must outlive the server) on listen: "HOST:PORT" or
 * "[IPV6]:PORT" (HOST a name or an address). Caller stops it with
 * http_stop. NULL with err when the address is bad or taken. */
http_server_t *http_start(const char *listen, telemetry_t *t, char *err, size_t errlen);
/* Stops serving and frees; NULL is fine. */
void http_stop(http_server_t *h);
/* The port it listens on (useful with port 0). */
int http_port(const http_server_t *h);

#endif
