/* http.c - /metrics, /healthz and /readyz over libmicrohttpd.
 *
 * libmicrohttpd runs its own thread (MHD_USE_INTERNAL_POLLING_THREAD); the
 * handlers only read the telemetry, which takes its lock. The daemon's
 * signals stay with the daemon's thread: the server's thread is started
 * with them blocked.
 */
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>

#include "http.h"
#include "log.h"

struct http_server {
    struct MHD_Daemon *d;
    telemetry_t *t;
    int port;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    log_msg(LOG_LVL_WARN, "http", "http: %s", msg);
}

/* Queues a response of len bytes of body (takes ownership: freed with
 * free()). */
static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, char *body, size_t len,
                             const char *type)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED) MHD_add_response_header(r, "Allow", "GET, HEAD");
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned status, const char *text)
{
    char *body = strdup(text);
    if (!body) return MHD_NO;
    return reply(c, status, body, strlen(body), "text/plain; charset=utf-8");
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **req)
{
    http_server_t *h = cls;
    (void)version;
    (void)upload;
    if (*req == NULL) { /* headers only so far: answer when the request is whole */
        *req = h;
        return MHD_YES;
    }
    if (*upload_size) { /* a body is not wanted: ignore it */
        *upload_size = 0;
        return MHD_YES;
    }
    int get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    int known =
        strcmp(url, "/metrics") == 0 || strcmp(url, "/healthz") == 0 || strcmp(url, "/readyz") == 0;
    if (!known) return reply_text(c, MHD_HTTP_NOT_FOUND, "not found\n");
    if (!get) return reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
    if (strcmp(url, "/healthz") == 0) return reply_text(c, MHD_HTTP_OK, "ok\n");
    if (strcmp(url, "/readyz") == 0) {
        char why[1024];
        if (telemetry_ready(h->t, mono_ms(), why, sizeof why))
            return reply_text(c, MHD_HTTP_OK, "ready\n");
        return reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, why);
    }
    char *text;
    size_t len;
    if (metrics_render(telemetry_metrics(h->t), &text, &len) < 0)
        return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
    return reply(c, MHD_HTTP_OK, text, len, "text/plain; version=0.0.4; charset=utf-8");
}

/* "HOST:PORT" or "[V6]:PORT" into host and port. 0 or -1. */
static int split_listen(const char *listen, char *host, size_t hostlen, char *port, size_t portlen)
{
    const char *colon;
    size_t hl;
    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');
        if (!close || close[1] != ':') return -1;
        hl = (size_t)(close - listen - 1);
        listen++;
        colon = close + 1;
    } else {
        colon = strrchr(listen, ':');
        if (!colon) return -1;
        hl = (size_t)(colon - listen);
    }
    if (hl == 0 || hl >= hostlen || strlen(colon + 1) >= portlen || !colon[1]) return -1;
    memcpy(host, listen, hl);
    host[hl] = '\0';
    snprintf(port, portlen, "%s", colon + 1);
    return 0;
}

http_server_t *http_start(const char *listen, telemetry_t *t, char *err, size_t errlen)
{
    char host[256], port[16];
    if (split_listen(listen, host, sizeof host, port, sizeof port) < 0) {
        snprintf(err, errlen, "%s: not HOST:PORT", listen);
        return NULL;
    }
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    int gai = getaddrinfo(host, port, &hints, &ai);
    if (gai != 0) {
        snprintf(err, errlen, "%s: %s", listen, gai_strerror(gai));
        return NULL;
    }
    http_server_t *h = calloc(1, sizeof *h);
    if (!h) {
        freeaddrinfo(ai);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->t = t;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    /* The server's thread inherits this mask: signals go to the daemon. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    h->d = MHD_start_daemon(flags, (uint16_t)atoi(port), NULL, NULL, handle, h,
                            MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_SOCK_ADDR,
                            ai->ai_addr, MHD_OPTION_CONNECTION_LIMIT, (unsigned)16,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    freeaddrinfo(ai);
    if (!h->d) {
        snprintf(err, errlen, "%s: cannot listen (address in use or not local?)", listen);
        free(h);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? (int)info->port : atoi(port);
    return h;
}

int http_port(const http_server_t *h)
{
    return h->port;
}

void http_stop(http_server_t *h)
{
    if (!h) return;
    MHD_stop_daemon(h->d);
    free(h);
}
