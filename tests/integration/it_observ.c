/*
 * it_observ.c - readiness, circuit breakers and the lag and buffer metrics
 * end to end, against the fixture's PostgreSQL (through the fault proxy, so
 * the shared server is never stopped), the fixture's MariaDB, the fixture's
 * nats-server and a private redis-server:
 * - PostgreSQL cut off: /ready 503 naming the source, /health 200; after
 *   cdc.circuit_breaker.failure_threshold failures in a row the breaker opens
 *   (cdc_circuit_state 1, /ready says "circuit breaker open"); the link
 *   back, the probe after the cool-down closes it, /ready 200, events flow;
 *   cdc_buffer_bytes is positive while a large transaction is in flight and
 *   0 once it is acked; cdc_checkpoint_lag_seconds is 0 when caught up;
 * - the Redis checkpoint store stopped: streaming goes on (acks rise),
 *   nothing is checkpointed, /ready 503 naming the checkpoint store, /health
 *   200, cdc_checkpoint_lag_seconds grows, the breaker opens; Redis back:
 *   the probe writes, /ready 200, the lag is 0 again;
 * - MariaDB: cdc_binlog_lag_seconds shows the age of a transaction whose
 *   binlog events carry a timestamp an hour old, then 0 once caught up;
 * - monitoring.memory_limit_bytes below the process's size: /ready 503 with
 *   the memory reason while every dependency is fine, /health 200.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "itlib.h"

/* The value of `series` ("name{labels}") in body; -1e300 if absent. */
static double
metric_or(const char *body, const char *series)
{
    char needle[512];
    const char *p;

    snprintf(needle, sizeof(needle), "\n%s ", series);
    p = strstr(body, needle);
    return p != NULL ? strtod(p + strlen(needle), NULL) : -1e300;
}

static double
metric(const char *body, const char *series)
{
    double v = metric_or(body, series);

    if (v == -1e300)
        fail_msg("no series %s in /metrics:\n%s", series, body);
    return v;
}

static char *
scrape(int port)
{
    int status;
    char *body = it_http_get(port, "/metrics", &status);

    if (body == NULL || status != 200)
        fail_msg("GET /metrics on %d: status %d", port, status);
    return body;
}

/* Poll /metrics until series compares to v as op says ('=' or '>'), up to timeout_ms. */
static char *
wait_metric(int port, const char *series, char op, double v, int timeout_ms)
{
    int64_t end = it_now_ms() + timeout_ms;
    char *body = NULL;

    for (;;) {
        double got;

        free(body);
        body = scrape(port);
        got = metric_or(body, series);
        if (got != -1e300 && (op == '=' ? got == v : got > v))
            return body;
        if (it_now_ms() > end)
            fail_msg("%s stayed at %g, wanted %c %g:\n%s", series, got, op, v, body);
        usleep(50000);
    }
}

/* Poll /ready until its status is want and its body holds needle (NULL: any), up to timeout_ms. */
static char *
wait_ready(int port, int want, const char *needle, int timeout_ms)
{
    int64_t end = it_now_ms() + timeout_ms;
    char *body = NULL;
    int status = -1;

    for (;;) {
        free(body);
        body = it_http_get(port, "/ready", &status);
        if (status == want && body != NULL && (needle == NULL || strstr(body, needle) != NULL))
            return body;
        if (it_now_ms() > end)
            fail_msg("/ready stayed at %d %s (wanted %d with %s)", status, body ? body : "", want,
                     needle ? needle : "");
        usleep(100000);
    }
}

/* No checkpoint, stream or log left from an earlier run of `name` against the same servers. */
static void
forget(const char *name)
{
    char path[600];

    snprintf(path, sizeof(path), "%s/%s.ckpt.json", it_env("CDC_IT_TMP"), name);
    unlink(path);
    unlink(it_daemon_log(name));
    it_stream_delete(name);
}

static void
expect_health_ok(int port)
{
    int status;
    char *b = it_http_get(port, "/health", &status);

    assert_int_equal(status, 200);
    free(b);
}

#define PGN             "it_observ_pg"
#define S(name, labels) name "{source=\"" PGN "\"" labels "}"

static void
test_postgres_cut_off_opens_the_source_breaker_and_ready_follows(void **state)
{
    char x_port[64], x_http[64], x_prom[64];
    const char *extra[] = {"-X", x_port,
                           "-X", x_http,
                           "-X", x_prom,
                           "-X", "cdc.circuit_breaker.failure_threshold=2",
                           "-X", "cdc.circuit_breaker.cooldown=4s",
                           NULL};
    int http = it_free_port();
    struct it_proxy px;
    double max_bytes = 0, events_then = 0, max_window = 0;
    char *body;
    PGconn *c;
    pid_t pid;

    (void) state;
    px = it_proxy_start(atoi(it_env("CDC_IT_PGPORT")));
    snprintf(x_port, sizeof(x_port), "rds.port=%d", px.port);
    snprintf(x_http, sizeof(x_http), "server.port=%d", http);
    snprintf(x_prom, sizeof(x_prom), "monitoring.prometheus.port=%d", http);
    forget(PGN);
    c = it_fresh_db(PGN);
    it_sql(c, "CREATE TABLE t (id int PRIMARY KEY, v text)");
    pid = it_daemon_start(PGN, PGN, extra);
    body = wait_ready(http, 200, NULL, 30000);
    assert_string_equal(body, "{\"source\":{\"ok\":true},\"nats\":{\"ok\":true},"
                              "\"checkpoint\":{\"ok\":true},\"memory\":{\"ok\":true}}");
    free(body);

    /* a large transaction: the unacked window fills, cdc_buffer_bytes with it */
    it_sql(c, "INSERT INTO t SELECT g, repeat('x', 100) FROM generate_series(1, 50000) g");
    for (int64_t end = it_now_ms() + 60000; it_now_ms() < end;) {
        double bytes, events, acked;

        body = scrape(http);
        bytes = metric(body, S("cdc_buffer_bytes", ""));
        events = metric(body, S("cdc_buffer_events", ""));
        if (metric(body, S("cdc_publish_window", "")) > max_window)
            max_window = metric(body, S("cdc_publish_window", ""));
        acked = metric(body, S("cdc_events_acked_total", ""));
        free(body);
        if (bytes > max_bytes) {
            max_bytes = bytes;
            events_then = events;
        }
        if (acked >= 50000)
            break;
        usleep(20000);
    }
    print_message("cdc_buffer_bytes peaked at %.0f with %.0f events in flight\n", max_bytes,
                  events_then);
    /* each event carries a 100-byte value, so its payload is over 100 bytes */
    assert_true(max_bytes > 100);
    /* the window grew from 16 to cdc.batch_size (1000 by default) while acks came back fast */
    print_message("cdc_publish_window reached %.0f\n", max_window);
    assert_int_equal(max_window, 1000);
    /* drained: nothing in flight, and the checkpoint holds everything read */
    free(wait_metric(http, S("cdc_buffer_bytes", ""), '=', 0, 30000));
    /* (lag in seconds is 0 as well right after a checkpoint write, while the read position may
       already be past it: wait on the bytes, which say the checkpoint holds everything read) */
    body = wait_metric(http, S("cdc_checkpoint_lag_bytes", ""), '=', 0, 30000);
    assert_int_equal(metric(body, S("cdc_buffer_events", "")), 0);
    assert_int_equal(metric(body, S("cdc_checkpoint_lag_seconds", "")), 0);
    for (int d = 0; d < 3; d++) {
        static const char *const deps[] = {"source", "nats", "checkpoint"};
        char series[128];

        snprintf(series, sizeof(series), "cdc_circuit_state{source=\"%s\",dependency=\"%s\"}", PGN,
                 deps[d]);
        assert_int_equal(metric(body, series), 0);
    }
    /* PostgreSQL has no binlog: the series is left out */
    assert_null(strstr(body, "cdc_binlog_lag_seconds"));
    free(body);

    /* PostgreSQL unreachable: the stream breaks, reconnects are refused */
    it_proxy_mode(&px, "refuse");
    it_proxy_mode(&px, "cut");
    /* (NATS may show down too between runs: a run closes its connection when it ends) */
    free(wait_ready(http, 503, "\"source\":{\"ok\":false,\"reason\":", 30000));
    expect_health_ok(http);
    /* the second failure in a row opens the breaker */
    body = wait_metric(http, S("cdc_circuit_state", ",dependency=\"source\""), '=', 1, 30000);
    assert_int_equal(metric(body, S("cdc_connection_up", ",dependency=\"source\"")), 0);
    assert_true(metric(body, S("cdc_errors_total", ",type=\"source\"")) >= 2);
    free(body);
    body = wait_ready(http, 503, "\"circuit\":\"open\"", 5000);
    assert_non_null(strstr(body, "\"source\":{\"ok\":false,\"reason\":\"circuit breaker open: "));
    free(body);
    expect_health_ok(http);
    it_wait_log(PGN, "circuit breaker of source opened after 2 failures in a row", 5000);

    /* the link back: the probe after the cool-down (4 s) closes the breaker */
    it_proxy_mode(&px, "pass");
    free(wait_ready(http, 200, NULL, 30000));
    body = scrape(http);
    assert_int_equal(metric(body, S("cdc_circuit_state", ",dependency=\"source\"")), 0);
    assert_int_equal(metric(body, S("cdc_connection_up", ",dependency=\"source\"")), 1);
    free(body);
    it_wait_log(PGN, "circuit breaker of source closed", 5000);
    it_sql(c, "INSERT INTO t VALUES (100001, 'after')");
    free(wait_metric(http, S("cdc_events_acked_total", ""), '>', 50000, 30000));

    kill(pid, SIGTERM);
    assert_int_equal(it_daemon_wait(pid, 30000), 0);
    it_proxy_stop(&px);
    PQfinish(c);
}

#undef S
#define CKN             "it_observ_ckpt"
#define S(name, labels) name "{source=\"" CKN "\"" labels "}"

static void
test_checkpoint_store_down_keeps_streaming_and_ready_follows(void **state)
{
    char dir[512], x_ckpt[128], x_http[64], x_prom[64];
    const char *extra[] = {"-X", x_ckpt,
                           "-X", x_http,
                           "-X", x_prom,
                           "-X", "cdc.circuit_breaker.failure_threshold=3",
                           "-X", "cdc.circuit_breaker.cooldown=2s",
                           NULL};
    int http = it_free_port(), rport = it_free_port();
    double writes, acked, lag;
    pid_t redis, pid;
    char *body;
    PGconn *c;

    (void) state;
    snprintf(dir, sizeof(dir), "%s/it_observ_redis", it_env("CDC_IT_TMP"));
    redis = it_redis_start(dir, rport);
    snprintf(x_ckpt, sizeof(x_ckpt), "cdc.checkpoint_storage=redis://127.0.0.1:%d?key=%s", rport,
             CKN);
    snprintf(x_http, sizeof(x_http), "server.port=%d", http);
    snprintf(x_prom, sizeof(x_prom), "monitoring.prometheus.port=%d", http);
    forget(CKN);
    c = it_fresh_db(CKN);
    it_sql(c, "CREATE TABLE t (id int PRIMARY KEY, v text)");
    pid = it_daemon_start(CKN, CKN, extra);
    free(wait_ready(http, 200, NULL, 30000));
    it_sql(c, "INSERT INTO t SELECT g, 'a' FROM generate_series(1, 10) g");
    free(wait_metric(http, S("cdc_events_acked_total", ""), '=', 10, 30000));
    free(wait_metric(http, S("cdc_checkpoint_writes_total", ""), '>', 0, 30000));
    body = wait_metric(http, S("cdc_checkpoint_lag_bytes", ""), '=', 0, 30000);
    assert_int_equal(metric(body, S("cdc_checkpoint_lag_seconds", "")), 0);
    free(body);

    /* the store goes away; a change makes the daemon try to write */
    it_pid_stop(redis);
    it_sql(c, "INSERT INTO t SELECT g, 'b' FROM generate_series(11, 20) g");
    body = wait_ready(http, 503, "\"checkpoint\":{\"ok\":false,\"reason\":", 30000);
    assert_non_null(strstr(body, "\"source\":{\"ok\":true},\"nats\":{\"ok\":true}"));
    free(body);
    expect_health_ok(http);
    /* streaming goes on: the events are published and acked, but not checkpointed */
    body = wait_metric(http, S("cdc_events_acked_total", ""), '=', 20, 30000);
    writes = metric(body, S("cdc_checkpoint_writes_total", ""));
    assert_true(metric(body, S("cdc_checkpoint_failures_total", "")) >= 1);
    free(body);
    /* three failed writes in a row open the breaker */
    body = wait_metric(http, S("cdc_circuit_state", ",dependency=\"checkpoint\""), '=', 1, 30000);
    assert_int_equal(metric(body, S("cdc_connection_up", ",dependency=\"checkpoint\"")), 0);
    assert_true(metric(body, S("cdc_checkpoint_lag_bytes", "")) > 0);
    free(body);
    free(wait_ready(http, 503, "circuit breaker open: ", 5000));
    /* the checkpoint stands still while the read position moved on: its lag grows */
    body = wait_metric(http, S("cdc_checkpoint_lag_seconds", ""), '>', 1.0, 30000);
    lag = metric(body, S("cdc_checkpoint_lag_seconds", ""));
    free(body);
    sleep(1);
    body = scrape(http);
    assert_true(metric(body, S("cdc_checkpoint_lag_seconds", "")) > lag);
    assert_int_equal(metric(body, S("cdc_checkpoint_writes_total", "")), writes);
    acked = metric(body, S("cdc_events_acked_total", ""));
    assert_int_equal(acked, 20);
    free(body);
    expect_health_ok(http);

    /* the store returns (empty: no persistence); the next probe writes, and all is well */
    redis = it_redis_start(dir, rport);
    free(wait_ready(http, 200, NULL, 30000));
    body = wait_metric(http, S("cdc_checkpoint_lag_bytes", ""), '=', 0, 30000);
    assert_true(metric(body, S("cdc_checkpoint_writes_total", "")) > writes);
    assert_int_equal(metric(body, S("cdc_circuit_state", ",dependency=\"checkpoint\"")), 0);
    assert_int_equal(metric(body, S("cdc_checkpoint_lag_seconds", "")), 0);
    free(body);
    it_wait_log(CKN, "circuit breaker of checkpoint closed", 5000);

    kill(pid, SIGTERM);
    assert_int_equal(it_daemon_wait(pid, 30000), 0);
    it_pid_stop(redis);
    PQfinish(c);
}

#undef S
#define MYN             "it_observ_my"
#define S(name, labels) name "{source=\"" MYN "\"" labels "}"

static void
test_binlog_lag_shows_the_age_of_what_is_read(void **state)
{
    char x_http[64], x_prom[64];
    const char *extra[] = {"-X", x_http, "-X", x_prom, NULL};
    int http = it_free_port();
    double max_lag = -1;
    MYSQL *c;
    char *body;
    pid_t pid;

    (void) state;
    snprintf(x_http, sizeof(x_http), "server.port=%d", http);
    snprintf(x_prom, sizeof(x_prom), "monitoring.prometheus.port=%d", http);

    forget(MYN);
    c = it_my_connect(NULL);
    it_my(c, "DROP DATABASE IF EXISTS `" MYN "`");
    it_my(c, "CREATE DATABASE `" MYN "`");
    it_my(c, "USE `" MYN "`");
    it_my(c, "CREATE TABLE t (id INT PRIMARY KEY, v INT)");
    pid = it_my_daemon_start(MYN, MYN, extra);
    free(wait_ready(http, 200, NULL, 30000));
    /* caught up (a heartbeat came): 0 */
    free(wait_metric(http, S("cdc_binlog_lag_seconds", ""), '=', 0, 30000));

    /* a transaction whose binlog events say it was written an hour ago */
    it_my(c, "SET timestamp = UNIX_TIMESTAMP() - 3600");
    it_my(c, "INSERT INTO t VALUES (1, 1)");
    it_my(c, "SET timestamp = DEFAULT");
    for (int64_t end = it_now_ms() + 30000; it_now_ms() < end && max_lag < 3600;) {
        double v;

        body = scrape(http);
        v = metric_or(body, S("cdc_binlog_lag_seconds", ""));
        free(body);
        if (v > max_lag)
            max_lag = v;
        usleep(20000);
    }
    print_message("cdc_binlog_lag_seconds reached %.3f\n", max_lag);
    /* at least the hour, and not much more (the scrape is within seconds of the read) */
    assert_true(max_lag >= 3600 && max_lag < 3660);
    /* the next heartbeat says we are at the end of the binlog again */
    free(wait_metric(http, S("cdc_binlog_lag_seconds", ""), '=', 0, 30000));
    free(wait_metric(http, S("cdc_events_acked_total", ""), '=', 1, 30000));

    kill(pid, SIGTERM);
    assert_int_equal(it_daemon_wait(pid, 30000), 0);
    it_my(c, "DROP DATABASE `" MYN "`");
    mysql_close(c);
}

#define MEMN "it_observ_mem"

static void
test_ready_fails_over_the_memory_limit(void **state)
{
    char x_http[64], x_prom[64];
    const char *extra[] = {"-X", x_http, "-X", x_prom, "-X", "monitoring.memory_limit_bytes=1MiB",
                           NULL};
    int http = it_free_port();
    char *body;
    PGconn *c;
    pid_t pid;

    (void) state;
    snprintf(x_http, sizeof(x_http), "server.port=%d", http);
    snprintf(x_prom, sizeof(x_prom), "monitoring.prometheus.port=%d", http);
    forget(MEMN);
    c = it_fresh_db(MEMN);
    it_sql(c, "CREATE TABLE t (id int PRIMARY KEY)");
    pid = it_daemon_start(MEMN, MEMN, extra);
    /* every dependency connected, only the memory check fails */
    body = wait_ready(http, 503, "\"checkpoint\":{\"ok\":true}", 30000);
    assert_non_null(strstr(body, "{\"source\":{\"ok\":true},\"nats\":{\"ok\":true},"));
    assert_non_null(strstr(body, "\"memory\":{\"ok\":false,\"reason\":\"resident memory "));
    assert_non_null(
        strstr(body, "bytes is over monitoring.memory_limit_bytes (1048576 bytes)\"}}"));
    free(body);
    expect_health_ok(http);
    kill(pid, SIGTERM);
    assert_int_equal(it_daemon_wait(pid, 30000), 0);
    PQfinish(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_postgres_cut_off_opens_the_source_breaker_and_ready_follows),
        cmocka_unit_test(test_checkpoint_store_down_keeps_streaming_and_ready_follows),
        cmocka_unit_test(test_binlog_lag_shows_the_age_of_what_is_read),
        cmocka_unit_test(test_ready_fails_over_the_memory_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
