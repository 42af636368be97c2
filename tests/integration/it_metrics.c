/*
 * it_metrics.c - the daemon's /metrics, /health and /ready end to end, with
 * its own nats-server (so the test can stop and restart it) and a real
 * Prometheus server scraping it:
 * - after a known workload every counter says exactly what happened
 *   (events by operation, acks, transactions, checkpoint writes, latency
 *   observations), the exposition passes `promtool check metrics`, and
 *   Prometheus reads the same value back through its query API;
 * - /ready turns 503 naming NATS when nats-server stops, /health stays 200,
 *   and both are 200 again when it returns; events flow again.
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itlib.h"

#define NAME "it_metrics"

/* The value of the series written exactly as `series` ("name{labels}"); fails if absent. */
static double
metric(const char *body, const char *series)
{
    char needle[512];
    const char *p;

    snprintf(needle, sizeof(needle), "\n%s ", series);
    p = strstr(body, needle);
    if (p == NULL)
        fail_msg("no series %s in /metrics:\n%s", series, body);
    return strtod(p + strlen(needle), NULL);
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

/* Poll until cdc_events_acked_total reaches n (up to 30 s); returns the last scrape. */
static char *
wait_acked(int port, double n)
{
    char *body = NULL;

    for (int i = 0; i < 300; i++) {
        free(body);
        body = scrape(port);
        if (metric(body, "cdc_events_acked_total{source=\"" NAME "\"}") >= n)
            return body;
        usleep(100000);
    }
    fail_msg("cdc_events_acked_total stayed below %.0f:\n%s", n, body);
    return NULL;
}

/* Poll until a checkpoint was written and holds everything read (up to 30 s); returns the last
   scrape. (The gauges are refreshed on the checkpoint tick: before the first write they still
   show the start.) */
static char *
wait_checkpointed(int port)
{
    char *body = NULL;

    for (int i = 0; i < 300; i++) {
        free(body);
        body = scrape(port);
        if (metric(body, "cdc_checkpoint_writes_total{source=\"" NAME "\"}") >= 1 &&
            metric(body, "cdc_checkpoint_lag_bytes{source=\"" NAME "\"}") == 0)
            return body;
        usleep(100000);
    }
    fail_msg("cdc_checkpoint_lag_bytes stayed above 0:\n%s", body);
    return NULL;
}

/* Poll /ready until its status is `want` (up to 30 s); returns the body. */
static char *
wait_ready(int port, int want)
{
    char *body = NULL;
    int status = -1;

    for (int i = 0; i < 300; i++) {
        free(body);
        body = it_http_get(port, "/ready", &status);
        if (status == want)
            return body;
        usleep(100000);
    }
    fail_msg("/ready stayed at %d (wanted %d): %s", status, want, body ? body : "");
    return NULL;
}

static void
promtool_check(const char *body)
{
    char path[512], cmd[700];
    FILE *f;

    snprintf(path, sizeof(path), "%s/it_metrics.prom", it_env("CDC_IT_TMP"));
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(body, f);
    fclose(f);
    snprintf(cmd, sizeof(cmd), "promtool check metrics < '%s'", path);
    assert_int_equal(system(cmd), 0);
}

/* Start Prometheus scraping 127.0.0.1:target every second; returns its pid, *api_port its port. */
static pid_t
prometheus_start(int target, int *api_port)
{
    char dir[512], conf[600], listen[64], cfg_arg[700], db_arg[700], log[600];
    FILE *f;
    pid_t pid;

    snprintf(dir, sizeof(dir), "%s/prometheus", it_env("CDC_IT_TMP"));
    mkdir(dir, 0755);
    snprintf(conf, sizeof(conf), "%s/prometheus.yml", dir);
    f = fopen(conf, "w");
    assert_non_null(f);
    fprintf(f,
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
            "scrape_configs:\n  - job_name: cdc-handler\n    static_configs:\n"
            "      - targets: ['127.0.0.1:%d']\n",
            target);
    fclose(f);
    *api_port = it_free_port();
    snprintf(listen, sizeof(listen), "--web.listen-address=127.0.0.1:%d", *api_port);
    snprintf(cfg_arg, sizeof(cfg_arg), "--config.file=%s", conf);
    snprintf(db_arg, sizeof(db_arg), "--storage.tsdb.path=%s/data", dir);
    snprintf(log, sizeof(log), "%s/prometheus.log", dir);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        freopen(log, "a", stderr);
        freopen(log, "a", stdout);
        execlp("prometheus", "prometheus", cfg_arg, db_arg, listen, (char *) NULL);
        _exit(127);
    }
    return pid;
}

/* Ask Prometheus for `query` until its result holds `want` (up to 60 s). */
static void
prometheus_expect(int api_port, const char *query, const char *want)
{
    char path[512];
    char *body = NULL;
    int status = -1;

    snprintf(path, sizeof(path), "/api/v1/query?query=%s", query);
    for (int i = 0; i < 600; i++) {
        free(body);
        body = it_http_get(api_port, path, &status);
        if (status == 200 && body != NULL && strstr(body, want) != NULL) {
            print_message("Prometheus: %s -> %s\n", query, body);
            free(body);
            return;
        }
        usleep(100000);
    }
    fail_msg("Prometheus never answered %s with %s (last: %d %s)", query, want, status,
             body ? body : "");
}

static void
test_metrics_health_and_ready_follow_a_real_run(void **state)
{
    char dir[512], nats_url[64], x_nats[96], x_port[64], x_prom[64];
    int nats_port = it_free_port(), http_port = it_free_port(), prom_port, status;
    const char *extra[] = {"-X", x_nats, "-X", x_port, "-X", x_prom, NULL};
    pid_t nats, prom, pid;
    char *body, *b2;
    PGconn *c;

    (void) state;
    snprintf(dir, sizeof(dir), "%s/it_metrics_nats", it_env("CDC_IT_TMP"));
    nats = it_nats_start(dir, nats_port);
    snprintf(nats_url, sizeof(nats_url), "nats://127.0.0.1:%d", nats_port);
    snprintf(x_nats, sizeof(x_nats), "nats.urls=%s", nats_url);
    snprintf(x_port, sizeof(x_port), "server.port=%d", http_port);
    snprintf(x_prom, sizeof(x_prom), "monitoring.prometheus.port=%d", http_port);

    c = it_fresh_db(NAME);
    it_sql(c, "CREATE TABLE t (id int PRIMARY KEY, v text)");
    pid = it_daemon_start(NAME, NAME, extra);
    it_wait_slot_active(c, NAME);
    body = wait_ready(http_port, 200);
    assert_string_equal(body, "{\"source\":{\"ok\":true},\"nats\":{\"ok\":true},"
                              "\"checkpoint\":{\"ok\":true},\"memory\":{\"ok\":true}}");
    free(body);

    /* the workload: 3 transactions, 10 inserts, 5 updates, 3 deletes */
    it_sql(c, "INSERT INTO t SELECT g, 'a' FROM generate_series(1, 10) g");
    it_sql(c, "UPDATE t SET v = 'b' WHERE id <= 5");
    it_sql(c, "DELETE FROM t WHERE id > 7");
    free(wait_acked(http_port, 18));
    /* a checkpoint tick (200 ms in tests) writes the position of the last ack; the read position
       can move past it without a change (keepalives), and the next ticks follow it */
    body = wait_checkpointed(http_port);
    assert_int_equal(metric(body, "cdc_events_total{source=\"" NAME
                                  "\",table=\"public.t\",operation=\"insert\"}"),
                     10);
    assert_int_equal(metric(body, "cdc_events_total{source=\"" NAME
                                  "\",table=\"public.t\",operation=\"update\"}"),
                     5);
    assert_int_equal(metric(body, "cdc_events_total{source=\"" NAME
                                  "\",table=\"public.t\",operation=\"delete\"}"),
                     3);
    assert_int_equal(metric(body, "cdc_events_acked_total{source=\"" NAME "\"}"), 18);
    assert_int_equal(metric(body, "cdc_transactions_total{source=\"" NAME "\"}"), 3);
    assert_int_equal(metric(body, "cdc_publish_duplicates_total{source=\"" NAME "\"}"), 0);
    /* every ack observed its commit -> ack latency; publishes are sampled, the first one always */
    assert_int_equal(metric(body, "cdc_event_latency_seconds_count{source=\"" NAME "\"}"), 18);
    assert_true(metric(body, "cdc_event_latency_seconds_sum{source=\"" NAME "\"}") > 0);
    assert_true(metric(body, "cdc_publish_latency_seconds_count{source=\"" NAME "\"}") >= 1);
    assert_true(metric(body, "cdc_checkpoint_writes_total{source=\"" NAME "\"}") >= 1);
    assert_int_equal(metric(body, "cdc_checkpoint_failures_total{source=\"" NAME "\"}"), 0);
    assert_int_equal(metric(body, "cdc_checkpoint_lag_bytes{source=\"" NAME "\"}"), 0);
    assert_int_equal(metric(body, "cdc_buffer_events{source=\"" NAME "\"}"), 0);
    assert_int_equal(metric(body, "cdc_buffer_bytes{source=\"" NAME "\"}"), 0);
    /* the window starts at 16 publishes; the first 16 acks came back fast (a local server, far
       under a hundredth of the 5 s batch_timeout): it doubled once, and the 2 acks since are
       not a round */
    assert_int_equal(metric(body, "cdc_publish_window{source=\"" NAME "\"}"), 32);
    assert_int_equal(metric(body, "cdc_checkpoint_lag_seconds{source=\"" NAME "\"}"), 0);
    assert_int_equal(metric(body, "cdc_circuit_state{source=\"" NAME "\",dependency=\"nats\"}"), 0);
    assert_int_equal(metric(body, "cdc_connection_up{source=\"" NAME "\",dependency=\"nats\"}"), 1);
    assert_true(metric(body, "process_resident_memory_bytes") > 1e6);
    /* the slot was polled at start: WAL reserved, and a retained size that is a real number */
    assert_int_equal(metric(body, "cdc_replication_slot_wal_status{source=\"" NAME "\"}"), 0);
    assert_true(metric(body, "cdc_replication_slot_lag_bytes{source=\"" NAME "\"}") > 0);
    promtool_check(body);
    free(body);

    /* a real Prometheus scrapes the same number */
    prom = prometheus_start(http_port, &prom_port);
    prometheus_expect(prom_port, "cdc_events_acked_total", "\"18\"]");
    kill(prom, SIGTERM);
    waitpid(prom, NULL, 0);

    /* NATS goes away: not ready, still alive, the reason named */
    it_pid_stop(nats);
    body = wait_ready(http_port, 503);
    assert_non_null(strstr(body, "\"nats\":{\"ok\":false,\"reason\":\"connection to NATS lost"));
    b2 = it_http_get(http_port, "/health", &status);
    assert_int_equal(status, 200);
    free(b2);
    free(body);
    body = scrape(http_port);
    assert_int_equal(metric(body, "cdc_connection_up{source=\"" NAME "\",dependency=\"nats\"}"), 0);
    assert_true(metric(body, "cdc_retries_total{source=\"" NAME "\",dependency=\"nats\"}") >= 1);
    free(body);

    /* and comes back: ready again, and events flow */
    nats = it_nats_start(dir, nats_port);
    free(wait_ready(http_port, 200));
    it_sql(c, "INSERT INTO t VALUES (100, 'after')");
    free(wait_acked(http_port, 19));

    kill(pid, SIGTERM);
    assert_int_equal(it_daemon_wait(pid, 30000), 0);
    it_pid_stop(nats);
    PQfinish(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_health_and_ready_follow_a_real_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
