/*
 * http.h - the daemon's HTTP endpoints, served by libmicrohttpd on its own
 * thread:
 *
 *   GET /metrics  Prometheus text 0.0.4 (metrics_render())
 *   GET /health   liveness: 200 {"status":"ok"} while the pipeline's heartbeat
 *                 (metrics_heartbeat()) is recent, else 503
 *   GET /ready    readiness: 200 when every dependency's connection_up is 1
 *                 and its circuit breaker is closed (cdc_circuit_state 0), and
 *                 the resident memory is within http_set_memory_limit(); else
 *                 503. The body has one {"ok":..,"reason":..} per check:
 *                 "source", "nats", "checkpoint" (with "circuit":"open" or
 *                 "half-open" while the breaker is not closed) and "memory"
 *   anything else 404 (405 for methods other than GET and HEAD)
 *
 * The server thread only reads the atomics in struct cdc_metrics, so it can
 * never block the pipeline, and the pipeline never waits for it. This module
 * knows nothing about the pipeline beyond those numbers.
 */
#ifndef CDC_HTTP_HTTP_H
#define CDC_HTTP_HTTP_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "http/metrics.h"

struct http_server;

/* /health turns 503 when the last heartbeat is older than this (http_set_stale_ms()). */
#define HTTP_DEFAULT_STALE_MS 60000

/*
 * Start serving on addr:port. addr is a numeric IPv4/IPv6 address or a host
 * name (NULL or "" means 0.0.0.0); port 0 picks a free port (see http_port()).
 * m and source are borrowed and must outlive the server; the server only
 * reads m. Returns CDC_OK and sets *out, or CDC_ERR_CONFIG (bad address) /
 * CDC_ERR_IO (could not bind or start the thread) with err filled.
 * Call from the main thread.
 */
cdc_rc http_start(struct http_server **out, const char *addr, int port, struct cdc_metrics *m,
                  const char *source, struct cdc_err *err) CDC_MUST_CHECK;

/* The TCP port actually bound (useful after port 0), or -1 if unknown. */
int http_port(const struct http_server *s);

/* Change the /health staleness limit (milliseconds, > 0). Any thread. */
void http_set_stale_ms(struct http_server *s, int64_t ms);

/*
 * Serve /metrics (true, the default) or answer 404 there (false), for when
 * monitoring.prometheus.enabled is off but the server runs for /health and
 * /ready. Any thread.
 */
void http_set_metrics_enabled(struct http_server *s, bool on);

/*
 * /ready fails while the process's resident memory (/proc/self/statm) is over
 * bytes (monitoring.memory_limit_bytes); 0, the default, means no limit. Any
 * thread.
 */
void http_set_memory_limit(struct http_server *s, uint64_t bytes);

/* Stop the server thread, close the socket and free s. NULL does nothing. Main thread. */
void http_stop(struct http_server *s);

#endif
