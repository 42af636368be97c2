/*
 * it_http.c - the HTTP endpoints over a real socket: status codes, content
 * types and bodies of /metrics, /health, /ready and unknown paths, and how
 * /health and /ready follow the heartbeat and the connection gauges.
 *
 * Needs no PostgreSQL or NATS; the client is a few lines of HTTP/1.0 so the
 * test does not depend on libcurl.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "http/http.h"
#include "http/metrics.h"

struct reply {
    int status;         /* from the status line, -1 if none */
    char type[128];     /* Content-Type, "" if none */
    struct cdc_buf raw; /* the whole response */
    const char *body;   /* into raw, after the blank line */
};

struct fixture {
    struct cdc_metrics m;
    struct http_server *srv;
};

static void
sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static void
find_type(struct reply *r)
{
    const char *p = strcasestr(r->raw.data, "\r\nContent-Type: ");
    const char *e;

    if (p == NULL || p > r->body)
        return;
    p += strlen("\r\nContent-Type: ");
    e = strstr(p, "\r\n");
    snprintf(r->type, sizeof r->type, "%.*s", (int) (e - p), p);
}

/* Send `method path HTTP/1.0` to 127.0.0.1:port and read the response until the server closes. */
static void
http_do(int port, const char *method, const char *path, struct reply *r)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t) port)};
    struct timeval tv = {5, 0};
    char req[256], chunk[4096];
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ssize_t n;

    memset(r, 0, sizeof *r);
    r->status = -1;
    assert_true(fd >= 0);
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    assert_int_equal(connect(fd, (struct sockaddr *) &sa, sizeof sa), 0);
    n = snprintf(req, sizeof req, "%s %s HTTP/1.0\r\nHost: localhost\r\n\r\n", method, path);
    assert_int_equal(write(fd, req, (size_t) n), n);
    while ((n = read(fd, chunk, sizeof chunk)) > 0)
        cdc_buf_append(&r->raw, chunk, (size_t) n);
    close(fd);
    assert_true(n == 0); /* EOF, not a timeout */
    assert_true(cdc_buf_ok(&r->raw) && r->raw.len > 0);
    sscanf(r->raw.data, "HTTP/1.%*d %d", &r->status);
    r->body = strstr(r->raw.data, "\r\n\r\n");
    assert_non_null(r->body);
    r->body += 4;
    find_type(r);
}

static void
get(struct fixture *f, const char *path, struct reply *r)
{
    http_do(http_port(f->srv), "GET", path, r);
}

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    struct cdc_err err;

    metrics_init(&f->m);
    if (http_start(&f->srv, "127.0.0.1", 0, &f->m, "orders", &err) != CDC_OK) {
        fprintf(stderr, "http_start: %s\n", err.msg);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    http_stop(f->srv);
    free(f);
    return 0;
}

static void
test_http_binds_a_free_port_when_asked_for_zero(void **state)
{
    struct fixture *f = *state;

    assert_true(http_port(f->srv) > 0 && http_port(f->srv) <= 65535);
}

static void
test_http_metrics_serves_prometheus_text(void **state)
{
    struct fixture *f = *state;
    struct reply r;

    for (int i = 0; i < 3; i++)
        metrics_event(&f->m, metrics_table_index(&f->m, "public", "orders"), METRICS_OP_INSERT);
    metrics_observe_us(&f->m.publish_latency, 700);
    get(f, "/metrics", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.type, "text/plain; version=0.0.4; charset=utf-8");
    assert_non_null(strstr(r.body,
                           "\ncdc_events_total{source=\"orders\",table=\"public.orders\",operation="
                           "\"insert\"} 3\n"));
    assert_non_null(
        strstr(r.body, "\ncdc_publish_latency_seconds_bucket{source=\"orders\",le=\"0.001\"} 1\n"));
    assert_non_null(
        strstr(r.body, "\ncdc_publish_latency_seconds_sum{source=\"orders\"} 0.000700\n"));
    assert_non_null(strstr(r.body, "\nprocess_resident_memory_bytes "));
    cdc_buf_free(&r.raw);
}

static void
test_http_unknown_path_is_404_and_post_is_405(void **state)
{
    struct fixture *f = *state;
    struct reply r;

    get(f, "/nope", &r);
    assert_int_equal(r.status, 404);
    cdc_buf_free(&r.raw);
    http_do(http_port(f->srv), "POST", "/metrics", &r);
    assert_int_equal(r.status, 405);
    cdc_buf_free(&r.raw);
}

static void
test_http_metrics_can_be_disabled(void **state)
{
    struct fixture *f = *state;
    struct reply r;

    http_set_metrics_enabled(f->srv, false);
    get(f, "/metrics", &r);
    assert_int_equal(r.status, 404);
    cdc_buf_free(&r.raw);
    get(f, "/health", &r);
    assert_int_equal(r.status, 200);
    cdc_buf_free(&r.raw);
    http_set_metrics_enabled(f->srv, true);
}

static void
test_http_health_follows_the_heartbeat(void **state)
{
    struct fixture *f = *state;
    struct reply r;

    get(f, "/health", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.type, "application/json");
    assert_string_equal(r.body, "{\"status\":\"ok\"}");
    cdc_buf_free(&r.raw);

    http_set_stale_ms(f->srv, 100);
    metrics_heartbeat(&f->m);
    sleep_ms(300);
    get(f, "/health", &r);
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(r.body, "\"status\":\"stalled\""));
    cdc_buf_free(&r.raw);

    metrics_heartbeat(&f->m);
    get(f, "/health", &r);
    assert_int_equal(r.status, 200);
    cdc_buf_free(&r.raw);
    http_set_stale_ms(f->srv, HTTP_DEFAULT_STALE_MS);
}

static void
test_http_ready_follows_the_connection_gauges(void **state)
{
    struct fixture *f = *state;
    struct reply r;

    get(f, "/ready", &r);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.body, "{\"source\":{\"ok\":false,\"reason\":\"not connected\"},"
                                "\"nats\":{\"ok\":false,\"reason\":\"not connected\"},"
                                "\"checkpoint\":{\"ok\":false,\"reason\":\"not connected\"},"
                                "\"memory\":{\"ok\":true}}");
    cdc_buf_free(&r.raw);

    metrics_dep_up(&f->m, METRICS_DEP_SOURCE);
    metrics_dep_down(&f->m, METRICS_DEP_NATS, "no \"servers\" available");
    metrics_dep_up(&f->m, METRICS_DEP_CHECKPOINT);
    get(f, "/ready", &r);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.body,
                        "{\"source\":{\"ok\":true},"
                        "\"nats\":{\"ok\":false,\"reason\":\"no \\\"servers\\\" available\"},"
                        "\"checkpoint\":{\"ok\":true},\"memory\":{\"ok\":true}}");
    cdc_buf_free(&r.raw);

    metrics_dep_up(&f->m, METRICS_DEP_NATS);
    get(f, "/ready", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(
        r.body, "{\"source\":{\"ok\":true},\"nats\":{\"ok\":true},\"checkpoint\":{\"ok\":true},"
                "\"memory\":{\"ok\":true}}");
    cdc_buf_free(&r.raw);

    /* The gauge alone decides: a pipeline that only sets connection_up flips readiness too. */
    metrics_set(&f->m.connection_up[METRICS_DEP_CHECKPOINT], 0);
    get(f, "/ready", &r);
    assert_int_equal(r.status, 503);
    cdc_buf_free(&r.raw);
    metrics_dep_up(&f->m, METRICS_DEP_CHECKPOINT);
}

static void
test_http_ready_fails_while_a_breaker_is_open(void **state)
{
    struct fixture *f = *state;
    struct reply r;

    for (int d = 0; d < METRICS_DEP_N; d++)
        metrics_dep_up(&f->m, (enum metrics_dep) d);
    /* the store failed, its breaker opened */
    metrics_dep_down(&f->m, METRICS_DEP_CHECKPOINT, "could not connect to Redis at 127.0.0.1:1");
    metrics_set(&f->m.circuit_state[METRICS_DEP_CHECKPOINT], 1);
    get(f, "/ready", &r);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.body, "{\"source\":{\"ok\":true},\"nats\":{\"ok\":true},"
                                "\"checkpoint\":{\"ok\":false,\"reason\":\"circuit breaker open: "
                                "could not connect to Redis at 127.0.0.1:1\",\"circuit\":\"open\"},"
                                "\"memory\":{\"ok\":true}}");
    cdc_buf_free(&r.raw);
    /* the probe is out: connected again, but not ready until the breaker closes */
    metrics_dep_up(&f->m, METRICS_DEP_CHECKPOINT);
    metrics_set(&f->m.circuit_state[METRICS_DEP_CHECKPOINT], 2);
    get(f, "/ready", &r);
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(r.body, "\"checkpoint\":{\"ok\":false,\"reason\":\"circuit breaker "
                                   "half-open: repeated failures\",\"circuit\":\"half-open\"}"));
    cdc_buf_free(&r.raw);
    metrics_set(&f->m.circuit_state[METRICS_DEP_CHECKPOINT], 0);
    get(f, "/ready", &r);
    assert_int_equal(r.status, 200);
    cdc_buf_free(&r.raw);
    /* /health does not care */
    metrics_set(&f->m.circuit_state[METRICS_DEP_SOURCE], 1);
    get(f, "/health", &r);
    assert_int_equal(r.status, 200);
    cdc_buf_free(&r.raw);
    metrics_set(&f->m.circuit_state[METRICS_DEP_SOURCE], 0);
}

static void
test_http_ready_fails_over_the_memory_limit(void **state)
{
    struct fixture *f = *state;
    unsigned long long rss = 0, limit = 0;
    struct reply r;

    for (int d = 0; d < METRICS_DEP_N; d++)
        metrics_dep_up(&f->m, (enum metrics_dep) d);
    http_set_memory_limit(f->srv, 4096); /* one page: any process is over it */
    get(f, "/ready", &r);
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(r.body, "\"memory\":{\"ok\":false,\"reason\":\"resident memory "));
    assert_int_equal(sscanf(strstr(r.body, "resident memory "),
                            "resident memory %llu bytes is over monitoring.memory_limit_bytes "
                            "(%llu bytes)",
                            &rss, &limit),
                     2);
    assert_int_equal(limit, 4096);
    assert_true(rss > 4096);
    /* the dependencies are still fine */
    assert_non_null(strstr(r.body, "{\"source\":{\"ok\":true},\"nats\":{\"ok\":true},"
                                   "\"checkpoint\":{\"ok\":true},"));
    cdc_buf_free(&r.raw);
    http_set_memory_limit(f->srv, 1ULL << 40); /* 1 TiB: under it */
    get(f, "/ready", &r);
    assert_int_equal(r.status, 200);
    cdc_buf_free(&r.raw);
    http_set_memory_limit(f->srv, 0); /* no limit */
    get(f, "/ready", &r);
    assert_int_equal(r.status, 200);
    cdc_buf_free(&r.raw);
}

static _Atomic int hammering;

static void *
hammer(void *arg)
{
    struct cdc_metrics *m = arg;

    while (atomic_load(&hammering)) {
        metrics_inc(&m->events_acked_total);
        metrics_dep_down(m, METRICS_DEP_SOURCE, "reconnecting to \"primary\"");
        metrics_dep_up(m, METRICS_DEP_SOURCE);
        /* State changes are rare in a real pipeline; a writer that never pauses could starve a
         * reader's seqlock retries. */
        nanosleep(&(struct timespec){0, 20000}, NULL);
    }
    return NULL;
}

static uint64_t
acked_in(const char *body)
{
    const char *needle = "\ncdc_events_acked_total{source=\"orders\"} ";
    const char *p = strstr(body, needle);

    assert_non_null(p);
    return strtoull(p + strlen(needle), NULL, 10);
}

static void
test_http_scrapes_while_the_pipeline_updates(void **state)
{
    struct fixture *f = *state;
    struct reply r;
    pthread_t t;
    uint64_t prev = 0;

    atomic_store(&hammering, 1);
    assert_int_equal(pthread_create(&t, NULL, hammer, &f->m), 0);
    for (int i = 0; i < 30; i++) {
        uint64_t v;

        get(f, "/metrics", &r);
        assert_int_equal(r.status, 200);
        v = acked_in(r.body);
        assert_true(v >= prev);
        prev = v;
        cdc_buf_free(&r.raw);
        get(f, "/ready", &r);
        /* Never a torn reason: either up, or the whole reason. */
        assert_true(strstr(r.body, "\"source\":{\"ok\":true}") != NULL ||
                    strstr(r.body, "\"reason\":\"reconnecting to \\\"primary\\\"\"") != NULL);
        cdc_buf_free(&r.raw);
    }
    atomic_store(&hammering, 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_true(prev > 0);
}

static void
test_http_start_reports_bad_address_and_busy_port(void **state)
{
    struct fixture *f = *state;
    struct http_server *s = NULL;
    struct cdc_err err;

    assert_int_equal(http_start(&s, "not an address!", 0, &f->m, "x", &err), CDC_ERR_CONFIG);
    assert_null(s);
    assert_int_equal(http_start(&s, "127.0.0.1", http_port(f->srv), &f->m, "x", &err), CDC_ERR_IO);
    assert_null(s);
    assert_non_null(strstr(err.msg, "could not start HTTP server on 127.0.0.1:"));
    assert_int_equal(http_start(&s, "127.0.0.1", 70000, &f->m, "x", &err), CDC_ERR_CONFIG);
    http_stop(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_binds_a_free_port_when_asked_for_zero),
        cmocka_unit_test(test_http_metrics_serves_prometheus_text),
        cmocka_unit_test(test_http_unknown_path_is_404_and_post_is_405),
        cmocka_unit_test(test_http_metrics_can_be_disabled),
        cmocka_unit_test(test_http_health_follows_the_heartbeat),
        cmocka_unit_test(test_http_ready_follows_the_connection_gauges),
        cmocka_unit_test(test_http_ready_fails_while_a_breaker_is_open),
        cmocka_unit_test(test_http_ready_fails_over_the_memory_limit),
        cmocka_unit_test(test_http_scrapes_while_the_pipeline_updates),
        cmocka_unit_test(test_http_start_reports_bad_address_and_busy_port),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
