/*
 * http.c - /metrics, /health and /ready on libmicrohttpd (see http.h).
 *
 * libmicrohttpd runs one internal polling thread (MHD_USE_INTERNAL_POLLING_THREAD)
 * that calls http_handle() for each request. Handlers read atomics and build a
 * small body in a cdc_buf, which MHD copies; nothing here takes a lock the
 * pipeline could hold. Errors are not logged here: a request that cannot be
 * answered (out of memory) just fails, and http_start() reports why it could
 * not start in err.
 */
#include "http/http.h"

#include <errno.h>
#include <netdb.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "event/json.h"
#include "http/procstat.h"

struct http_server {
    struct MHD_Daemon *daemon;     /* owns the listening socket and the thread */
    struct cdc_metrics *metrics;   /* borrowed, read only */
    char *source;                  /* the source label, owned copy */
    int port;                      /* the bound port */
    _Atomic int64_t stale_ms;      /* /health limit on the heartbeat age */
    _Atomic bool metrics_on;       /* whether /metrics is served */
    _Atomic uint64_t memory_limit; /* /ready fails above this resident size; 0: no limit */
};

static enum MHD_Result
http_reply(struct MHD_Connection *c, unsigned status, const char *type, const struct cdc_buf *b)
{
    struct MHD_Response *r;
    enum MHD_Result ret;

    if (!cdc_buf_ok(b))
        return MHD_NO;
    r = MHD_create_response_from_buffer(b->len, b->len > 0 ? b->data : (void *) "",
                                        MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static unsigned
http_metrics(struct http_server *s, struct cdc_buf *b)
{
    metrics_render(s->metrics, s->source, b);
    return MHD_HTTP_OK;
}

static unsigned
http_health(struct http_server *s, struct cdc_buf *b)
{
    int64_t beat = atomic_load_explicit(&s->metrics->heartbeat_ms, memory_order_relaxed);
    int64_t age = cdc_now_ms() - beat;

    if (age <= atomic_load_explicit(&s->stale_ms, memory_order_relaxed)) {
        cdc_buf_puts(b, "{\"status\":\"ok\"}");
        return MHD_HTTP_OK;
    }
    cdc_buf_printf(b, "{\"status\":\"stalled\",\"heartbeat_age_ms\":%lld}", (long long) age);
    return MHD_HTTP_SERVICE_UNAVAILABLE;
}

/* One check of /ready: "name":{"ok":true} or "name":{"ok":false,"reason":"..."[,extra]}. */
static void
http_check(struct cdc_buf *b, const char *name, bool ok, const char *reason, const char *extra)
{
    json_put_key(b, name);
    if (ok) {
        cdc_buf_puts(b, "{\"ok\":true}");
        return;
    }
    cdc_buf_puts(b, "{\"ok\":false,\"reason\":");
    json_put_str(b, reason, strlen(reason));
    if (extra != NULL)
        cdc_buf_puts(b, extra);
    cdc_buf_putc(b, '}');
}

/* The memory check: resident memory under monitoring.memory_limit_bytes (0: no limit). */
static bool
http_memory_ok(struct http_server *s, char *reason, size_t n)
{
    uint64_t limit = atomic_load_explicit(&s->memory_limit, memory_order_relaxed), rss = 0;

    /* /proc unreadable: say nothing rather than fail readiness on a guess */
    if (limit == 0 || procstat_rss_bytes(&rss, NULL) != CDC_OK || rss <= limit)
        return true;
    snprintf(reason, n,
             "resident memory %llu bytes is over monitoring.memory_limit_bytes (%llu bytes)",
             (unsigned long long) rss, (unsigned long long) limit);
    return false;
}

static unsigned
http_ready(struct http_server *s, struct cdc_buf *b)
{
    static const char *const circuit[] = {NULL, ",\"circuit\":\"open\"",
                                          ",\"circuit\":\"half-open\""};
    char reason[METRICS_REASON_MAX + 64];
    bool all = true, ok;

    cdc_buf_putc(b, '{');
    for (int d = 0; d < METRICS_DEP_N; d++) {
        int64_t st = atomic_load_explicit(&s->metrics->circuit_state[d], memory_order_relaxed);

        ok = metrics_dep_ready(s->metrics, (enum metrics_dep) d, reason, sizeof reason);
        http_check(b, metrics_dep_name((enum metrics_dep) d), ok, reason,
                   st > 0 && st <= 2 ? circuit[st] : NULL);
        cdc_buf_putc(b, ',');
        all = all && ok;
    }
    ok = http_memory_ok(s, reason, sizeof reason);
    http_check(b, "memory", ok, reason, NULL);
    cdc_buf_putc(b, '}');
    return all && ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE;
}

static enum MHD_Result
http_route(struct http_server *s, struct MHD_Connection *c, const char *url)
{
    struct cdc_buf b = CDC_BUF_INIT;
    const char *type = "application/json";
    unsigned status;
    enum MHD_Result ret;

    if (strcmp(url, "/metrics") == 0 && atomic_load(&s->metrics_on)) {
        status = http_metrics(s, &b);
        type = "text/plain; version=0.0.4; charset=utf-8";
    } else if (strcmp(url, "/health") == 0) {
        status = http_health(s, &b);
    } else if (strcmp(url, "/ready") == 0) {
        status = http_ready(s, &b);
    } else {
        cdc_buf_puts(&b, "{\"error\":\"not found\"}");
        status = MHD_HTTP_NOT_FOUND;
    }
    ret = http_reply(c, status, type, &b);
    cdc_buf_free(&b);
    return ret;
}

static enum MHD_Result
http_handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
            const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    static int seen; /* marks a request whose headers we have already seen */
    struct cdc_buf b = CDC_BUF_INIT;
    enum MHD_Result ret;

    (void) version;
    (void) upload_data;
    /* MHD calls once with the headers, then again (body, then end): answer at the end. */
    if (*con_cls == NULL) {
        *con_cls = &seen;
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        *upload_data_size = 0; /* we take no body: discard it */
        return MHD_YES;
    }
    if (strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0)
        return http_route(cls, c, url);
    cdc_buf_puts(&b, "{\"error\":\"method not allowed\"}");
    ret = http_reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "application/json", &b);
    cdc_buf_free(&b);
    return ret;
}

static cdc_rc
http_resolve(const char *addr, int port, struct sockaddr_storage *sa, struct cdc_err *err)
{
    struct addrinfo hints, *res = NULL;
    char portstr[16];
    int rc;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    snprintf(portstr, sizeof portstr, "%d", port);
    rc = getaddrinfo(addr, portstr, &hints, &res);
    if (rc != 0)
        return cdc_err_set(err, CDC_ERR_CONFIG, "could not resolve HTTP address \"%s\": %s", addr,
                           gai_strerror(rc));
    memcpy(sa, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return CDC_OK;
}

static int
http_bound_port(struct MHD_Daemon *d)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);

    return info != NULL ? (int) info->port : -1;
}

cdc_rc
http_start(struct http_server **out, const char *addr, int port, struct cdc_metrics *m,
           const char *source, struct cdc_err *err)
{
    struct sockaddr_storage sa;
    struct http_server *s = NULL;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD;
    cdc_rc rc;

    if (addr == NULL || addr[0] == '\0')
        addr = "0.0.0.0";
    if (port < 0 || port > 65535)
        return cdc_err_set(err, CDC_ERR_CONFIG, "invalid HTTP port %d", port);
    if ((rc = http_resolve(addr, port, &sa, err)) != CDC_OK)
        return rc;
    s = calloc(1, sizeof *s);
    if (s == NULL || (s->source = strdup(source != NULL ? source : "")) == NULL) {
        rc = cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    s->metrics = m;
    atomic_init(&s->stale_ms, HTTP_DEFAULT_STALE_MS);
    atomic_init(&s->metrics_on, true);
    atomic_init(&s->memory_limit, 0);
    if (sa.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    errno = 0;
    s->daemon =
        MHD_start_daemon(flags, (uint16_t) port, NULL, NULL, http_handle, s, MHD_OPTION_SOCK_ADDR,
                         (struct sockaddr *) &sa, MHD_OPTION_CONNECTION_LIMIT, 64u,
                         MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    if (s->daemon == NULL) {
        rc = cdc_err_set(err, CDC_ERR_IO, "could not start HTTP server on %s:%d: %s", addr, port,
                         errno != 0 ? strerror(errno) : "unknown error");
        goto fail;
    }
    s->port = port != 0 ? port : http_bound_port(s->daemon);
    *out = s;
    return CDC_OK;
fail:
    if (s != NULL)
        free(s->source);
    free(s);
    return rc;
}

int
http_port(const struct http_server *s)
{
    return s->port;
}

void
http_set_stale_ms(struct http_server *s, int64_t ms)
{
    atomic_store(&s->stale_ms, ms);
}

void
http_set_metrics_enabled(struct http_server *s, bool on)
{
    atomic_store(&s->metrics_on, on);
}

void
http_set_memory_limit(struct http_server *s, uint64_t bytes)
{
    atomic_store(&s->memory_limit, bytes);
}

void
http_stop(struct http_server *s)
{
    if (s == NULL)
        return;
    MHD_stop_daemon(s->daemon);
    free(s->source);
    free(s);
}
