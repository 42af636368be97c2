/*
 * test_metrics.c - the Prometheus exposition is exactly the text the format
 * asks for, histograms are cumulative, updates from several threads add up,
 * and the process_* metrics are real. If promtool is installed, it must accept
 * the rendered text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "http/metrics.h"

static const char expected_text[] =
    "# HELP cdc_events_total Change events produced, by table and operation.\n"
    "# TYPE cdc_events_total counter\n"
    "cdc_events_total{source=\"orders\",table=\"public.orders\",operation=\"insert\"} 3\n"
    "cdc_events_total{source=\"orders\",table=\"public.orders\",operation=\"update\"} 1\n"
    "cdc_events_total{source=\"orders\",table=\"public.orders\",operation=\"delete\"} 0\n"
    "cdc_events_total{source=\"orders\",table=\"public.orders\",operation=\"truncate\"} 0\n"
    "cdc_events_total{source=\"orders\",table=\"public.orders\",operation=\"ddl\"} 0\n"
    "cdc_events_total{source=\"orders\",table=\"public.customers\",operation=\"insert\"} 0\n"
    "cdc_events_total{source=\"orders\",table=\"public.customers\",operation=\"update\"} 1\n"
    "cdc_events_total{source=\"orders\",table=\"public.customers\",operation=\"delete\"} 1\n"
    "cdc_events_total{source=\"orders\",table=\"public.customers\",operation=\"truncate\"} 0\n"
    "cdc_events_total{source=\"orders\",table=\"public.customers\",operation=\"ddl\"} 0\n"
    "# HELP cdc_events_acked_total Events acknowledged by JetStream.\n"
    "# TYPE cdc_events_acked_total counter\n"
    "cdc_events_acked_total{source=\"orders\"} 5\n"
    "# HELP cdc_publish_duplicates_total Publishes JetStream acknowledged as duplicates.\n"
    "# TYPE cdc_publish_duplicates_total counter\n"
    "cdc_publish_duplicates_total{source=\"orders\"} 1\n"
    "# HELP cdc_publish_resent_total Publishes sent again after an ack timeout.\n"
    "# TYPE cdc_publish_resent_total counter\n"
    "cdc_publish_resent_total{source=\"orders\"} 2\n"
    "# HELP cdc_errors_total Errors, by type.\n"
    "# TYPE cdc_errors_total counter\n"
    "cdc_errors_total{source=\"orders\",type=\"source\"} 0\n"
    "cdc_errors_total{source=\"orders\",type=\"sink\"} 4\n"
    "cdc_errors_total{source=\"orders\",type=\"checkpoint\"} 0\n"
    "cdc_errors_total{source=\"orders\",type=\"config\"} 0\n"
    "cdc_errors_total{source=\"orders\",type=\"decode\"} 1\n"
    "# HELP cdc_dlq_events_total Events dead-lettered, by reason.\n"
    "# TYPE cdc_dlq_events_total counter\n"
    "cdc_dlq_events_total{source=\"orders\",reason=\"too_large\"} 0\n"
    "cdc_dlq_events_total{source=\"orders\",reason=\"rejected\"} 2\n"
    "cdc_dlq_events_total{source=\"orders\",reason=\"encode\"} 0\n"
    "cdc_dlq_events_total{source=\"orders\",reason=\"publish_failed\"} 0\n"
    "# HELP cdc_claim_checks_total Events too large for a message, stored in the object store.\n"
    "# TYPE cdc_claim_checks_total counter\n"
    "cdc_claim_checks_total{source=\"orders\"} 1\n"
    "# HELP cdc_retries_total Retries and reconnects, by dependency.\n"
    "# TYPE cdc_retries_total counter\n"
    "cdc_retries_total{source=\"orders\",dependency=\"source\"} 0\n"
    "cdc_retries_total{source=\"orders\",dependency=\"nats\"} 3\n"
    "cdc_retries_total{source=\"orders\",dependency=\"checkpoint\"} 1\n"
    "# HELP cdc_checkpoint_writes_total Checkpoints made durable.\n"
    "# TYPE cdc_checkpoint_writes_total counter\n"
    "cdc_checkpoint_writes_total{source=\"orders\"} 7\n"
    "# HELP cdc_checkpoint_failures_total Checkpoint writes that failed.\n"
    "# TYPE cdc_checkpoint_failures_total counter\n"
    "cdc_checkpoint_failures_total{source=\"orders\"} 1\n"
    "# HELP cdc_transactions_total Source transactions processed.\n"
    "# TYPE cdc_transactions_total counter\n"
    "cdc_transactions_total{source=\"orders\"} 2\n"
    "# HELP cdc_pii_redactions_total Values masked by PII detection (cdc.sensitive_fields detect "
    "rules), by kind.\n"
    "# TYPE cdc_pii_redactions_total counter\n"
    "cdc_pii_redactions_total{source=\"orders\",kind=\"email\"} 0\n"
    "cdc_pii_redactions_total{source=\"orders\",kind=\"card\"} 5\n"
    "cdc_pii_redactions_total{source=\"orders\",kind=\"ssn\"} 1\n"
    "# HELP cdc_connection_up Whether a dependency is connected and usable (1) or not (0).\n"
    "# TYPE cdc_connection_up gauge\n"
    "cdc_connection_up{source=\"orders\",dependency=\"source\"} 1\n"
    "cdc_connection_up{source=\"orders\",dependency=\"nats\"} 0\n"
    "cdc_connection_up{source=\"orders\",dependency=\"checkpoint\"} 1\n"
    "# HELP cdc_circuit_state State of a dependency's circuit breaker: 0 closed, 1 open, 2 "
    "half-open.\n"
    "# TYPE cdc_circuit_state gauge\n"
    "cdc_circuit_state{source=\"orders\",dependency=\"source\"} 0\n"
    "cdc_circuit_state{source=\"orders\",dependency=\"nats\"} 1\n"
    "cdc_circuit_state{source=\"orders\",dependency=\"checkpoint\"} 2\n"
    "# HELP cdc_checkpoint_lag_bytes Bytes of source log between the read position and the "
    "checkpoint.\n"
    "# TYPE cdc_checkpoint_lag_bytes gauge\n"
    "cdc_checkpoint_lag_bytes{source=\"orders\"} 4096\n"
    "# HELP cdc_checkpoint_lag_seconds Seconds since the last checkpoint write while the read "
    "position is past it (0 when the checkpoint holds everything read).\n"
    "# TYPE cdc_checkpoint_lag_seconds gauge\n"
    "cdc_checkpoint_lag_seconds{source=\"orders\"} 2.050\n"
    "# HELP cdc_binlog_lag_seconds MySQL/MariaDB: now minus the timestamp of the last binlog "
    "event read (0 when caught up).\n"
    "# TYPE cdc_binlog_lag_seconds gauge\n"
    "cdc_binlog_lag_seconds{source=\"orders\"} 0.007\n"
    "# HELP cdc_buffer_events Events published and not yet acknowledged.\n"
    "# TYPE cdc_buffer_events gauge\n"
    "cdc_buffer_events{source=\"orders\"} 12\n"
    "# HELP cdc_publish_window Events allowed in flight now: the adaptive window, up to "
    "cdc.batch_size.\n"
    "# TYPE cdc_publish_window gauge\n"
    "cdc_publish_window{source=\"orders\"} 256\n"
    "# HELP cdc_buffer_bytes Payload bytes of the events published and not yet acknowledged.\n"
    "# TYPE cdc_buffer_bytes gauge\n"
    "cdc_buffer_bytes{source=\"orders\"} 3000\n"
    "# HELP cdc_replication_slot_lag_bytes WAL the replication slot retains (current WAL position "
    "- restart_lsn).\n"
    "# TYPE cdc_replication_slot_lag_bytes gauge\n"
    "cdc_replication_slot_lag_bytes{source=\"orders\"} 0\n"
    "# HELP cdc_replication_slot_wal_status The slot's wal_status: 0 reserved, 1 extended, 2 "
    "unreserved, 3 lost, -1 unknown.\n"
    "# TYPE cdc_replication_slot_wal_status gauge\n"
    "cdc_replication_slot_wal_status{source=\"orders\"} -1\n"
    "# HELP cdc_replication_slot_safe_wal_bytes WAL that can still be written before "
    "max_slot_wal_keep_size invalidates the slot (-1: no such limit).\n"
    "# TYPE cdc_replication_slot_safe_wal_bytes gauge\n"
    "cdc_replication_slot_safe_wal_bytes{source=\"orders\"} -1\n"
    "# HELP cdc_event_latency_seconds Time from the source commit to the JetStream "
    "acknowledgement.\n"
    "# TYPE cdc_event_latency_seconds histogram\n"
    "cdc_event_latency_seconds_bucket{source=\"orders\",le=\"0.0001\"} 0\n"
    "cdc_event_latency_seconds_bucket{source=\"orders\",le=\"0.00025\"} 0\n"
    "cdc_event_latency_seconds_bucket{source=\"orders\",le=\"0.0005\"} 2\n"
    "cdc_event_latency_seconds_bucket{source=\"orders\",le=\"0.001\"} 2\n"
    "cdc_event_latency_seconds_bucket{source=\"orders\",le=\"0.0015\"} 3\n"
    "cdc_event_latency_seconds_bucket{source=\"orders\",le=\"0.002\"} 3\n"
    "cdc_event_latency_seconds_bucket{source=\"orders\",le=\"0.003\"} 3\n"
    "cdc_event_latency_seconds_bucket{source=\"orders\",le=\"0.004\"} 3\n"
    "cdc_event_latency_seconds_bucket{source=\"orders\",le=\"0.005\"} 3\n"
    "cdc_event_latency_seconds_bucket{source=\"orders\",le=\"0.006\"} 3\n"
    "cdc_event_latency_seconds_bucket{source=\"orders\",le=\"0.008\"} 3\n"
    "cdc_event_latency_seconds_bucket{source=\"orders\",le=\"0.01\"} 3\n"
    "cdc_event_latency_seconds_bucket{source=\"orders\",le=\"0.015\"} 3\n"
    "cdc_event_latency_seconds_bucket{source=\"orders\",le=\"0.02\"} 3\n"
    "cdc_event_latency_seconds_bucket{source=\"orders\",le=\"0.025\"} 3\n"
    "cdc_event_latency_seconds_bucket{source=\"orders\",le=\"0.05\"} 3\n"
    "cdc_event_latency_seconds_bucket{source=\"orders\",le=\"0.1\"} 3\n"
    "cdc_event_latency_seconds_bucket{source=\"orders\",le=\"0.25\"} 3\n"
    "cdc_event_latency_seconds_bucket{source=\"orders\",le=\"0.5\"} 3\n"
    "cdc_event_latency_seconds_bucket{source=\"orders\",le=\"1\"} 3\n"
    "cdc_event_latency_seconds_bucket{source=\"orders\",le=\"2.5\"} 3\n"
    "cdc_event_latency_seconds_bucket{source=\"orders\",le=\"5\"} 3\n"
    "cdc_event_latency_seconds_bucket{source=\"orders\",le=\"10\"} 3\n"
    "cdc_event_latency_seconds_bucket{source=\"orders\",le=\"30\"} 3\n"
    "cdc_event_latency_seconds_bucket{source=\"orders\",le=\"+Inf\"} 4\n"
    "cdc_event_latency_seconds_sum{source=\"orders\"} 40.002100\n"
    "cdc_event_latency_seconds_count{source=\"orders\"} 4\n"
    "# HELP cdc_event_latency_max_seconds The longest source commit to JetStream "
    "acknowledgement since the start.\n"
    "# TYPE cdc_event_latency_max_seconds gauge\n"
    "cdc_event_latency_max_seconds{source=\"orders\"} 40.000000\n"
    "# HELP cdc_publish_latency_seconds Time from the publish call to the JetStream "
    "acknowledgement.\n"
    "# TYPE cdc_publish_latency_seconds histogram\n"
    "cdc_publish_latency_seconds_bucket{source=\"orders\",le=\"0.0001\"} 0\n"
    "cdc_publish_latency_seconds_bucket{source=\"orders\",le=\"0.00025\"} 0\n"
    "cdc_publish_latency_seconds_bucket{source=\"orders\",le=\"0.0005\"} 0\n"
    "cdc_publish_latency_seconds_bucket{source=\"orders\",le=\"0.001\"} 0\n"
    "cdc_publish_latency_seconds_bucket{source=\"orders\",le=\"0.0015\"} 0\n"
    "cdc_publish_latency_seconds_bucket{source=\"orders\",le=\"0.002\"} 0\n"
    "cdc_publish_latency_seconds_bucket{source=\"orders\",le=\"0.003\"} 0\n"
    "cdc_publish_latency_seconds_bucket{source=\"orders\",le=\"0.004\"} 0\n"
    "cdc_publish_latency_seconds_bucket{source=\"orders\",le=\"0.005\"} 0\n"
    "cdc_publish_latency_seconds_bucket{source=\"orders\",le=\"0.006\"} 0\n"
    "cdc_publish_latency_seconds_bucket{source=\"orders\",le=\"0.008\"} 0\n"
    "cdc_publish_latency_seconds_bucket{source=\"orders\",le=\"0.01\"} 0\n"
    "cdc_publish_latency_seconds_bucket{source=\"orders\",le=\"0.015\"} 0\n"
    "cdc_publish_latency_seconds_bucket{source=\"orders\",le=\"0.02\"} 0\n"
    "cdc_publish_latency_seconds_bucket{source=\"orders\",le=\"0.025\"} 0\n"
    "cdc_publish_latency_seconds_bucket{source=\"orders\",le=\"0.05\"} 0\n"
    "cdc_publish_latency_seconds_bucket{source=\"orders\",le=\"0.1\"} 0\n"
    "cdc_publish_latency_seconds_bucket{source=\"orders\",le=\"0.25\"} 0\n"
    "cdc_publish_latency_seconds_bucket{source=\"orders\",le=\"0.5\"} 0\n"
    "cdc_publish_latency_seconds_bucket{source=\"orders\",le=\"1\"} 0\n"
    "cdc_publish_latency_seconds_bucket{source=\"orders\",le=\"2.5\"} 0\n"
    "cdc_publish_latency_seconds_bucket{source=\"orders\",le=\"5\"} 0\n"
    "cdc_publish_latency_seconds_bucket{source=\"orders\",le=\"10\"} 0\n"
    "cdc_publish_latency_seconds_bucket{source=\"orders\",le=\"30\"} 0\n"
    "cdc_publish_latency_seconds_bucket{source=\"orders\",le=\"+Inf\"} 0\n"
    "cdc_publish_latency_seconds_sum{source=\"orders\"} 0.000000\n"
    "cdc_publish_latency_seconds_count{source=\"orders\"} 0\n"
    "# HELP cdc_publish_latency_max_seconds The longest publish call to JetStream "
    "acknowledgement since the start.\n"
    "# TYPE cdc_publish_latency_max_seconds gauge\n"
    "cdc_publish_latency_max_seconds{source=\"orders\"} 0.000000\n"
    "# HELP cdc_build_info Build information; the value is always 1.\n"
    "# TYPE cdc_build_info gauge\n"
    "cdc_build_info{source=\"orders\","
    "version=\"" CDC_VERSION "\"} 1\n";

static void
fill_sample(struct cdc_metrics *m)
{
    metrics_init(m);
    {
        uint32_t o = metrics_table_index(m, "public", "orders");
        uint32_t c = metrics_table_index(m, "public", "customers");

        assert_int_equal(metrics_table_index(m, "public", "orders"), o); /* found again */
        for (int i = 0; i < 3; i++)
            metrics_event(m, o, METRICS_OP_INSERT);
        metrics_event(m, o, METRICS_OP_UPDATE);
        metrics_event(m, c, METRICS_OP_UPDATE);
        metrics_event(m, c, METRICS_OP_DELETE);
    }
    metrics_add(&m->events_acked_total, 5);
    metrics_inc(&m->publish_duplicates_total);
    metrics_add(&m->publish_resent_total, 2);
    metrics_add(&m->errors_total[METRICS_ERR_SINK], 4);
    metrics_inc(&m->errors_total[METRICS_ERR_DECODE]);
    metrics_inc(&m->dlq_events_total[METRICS_DLQ_REJECTED]);
    metrics_inc(&m->dlq_events_total[METRICS_DLQ_REJECTED]);
    metrics_inc(&m->claim_checks_total);
    metrics_add(&m->retries_total[METRICS_DEP_NATS], 3);
    metrics_inc(&m->retries_total[METRICS_DEP_CHECKPOINT]);
    metrics_add(&m->checkpoint_writes_total, 7);
    metrics_inc(&m->checkpoint_failures_total);
    metrics_add(&m->transactions_total, 2);
    metrics_dep_up(m, METRICS_DEP_SOURCE);
    metrics_dep_down(m, METRICS_DEP_NATS, "no servers available");
    metrics_dep_up(m, METRICS_DEP_CHECKPOINT);
    metrics_set(&m->checkpoint_lag_bytes, 4096);
    metrics_set(&m->checkpoint_lag_ms, 2050); /* 2.050 s */
    metrics_set(&m->binlog_lag_ms, 7);        /* 0.007 s */
    metrics_set(&m->buffer_bytes, 3000);
    metrics_set(&m->publish_window, 256);
    metrics_set(&m->circuit_state[METRICS_DEP_NATS], 1);
    metrics_set(&m->circuit_state[METRICS_DEP_CHECKPOINT], 2);
    metrics_set(&m->buffer_events, 10);
    metrics_gauge_add(&m->buffer_events, 2);
    /* 400 us and 500 us (the bound itself: le is inclusive) in le=0.0005, 1.2 ms in le=0.0015,
     * 40 s above every bound (30 s). Sum 40.002100 s, max 40 s. */
    metrics_observe_us(&m->event_latency, 400);
    metrics_add(&m->pii_redactions_total[METRICS_PII_CARD], 5);
    metrics_inc(&m->pii_redactions_total[METRICS_PII_SSN]);
    metrics_observe_us(&m->event_latency, 500);
    metrics_observe_us(&m->event_latency, 1200);
    metrics_observe_us(&m->event_latency, 40000000);
}

static void
test_metrics_render_exact_text(void **state)
{
    struct cdc_metrics m;
    struct cdc_buf b = CDC_BUF_INIT;

    (void) state;
    fill_sample(&m);
    metrics_render_cdc(&m, "orders", &b);
    assert_true(cdc_buf_ok(&b));
    assert_string_equal(b.data, expected_text);
    cdc_buf_free(&b);
}

/* The table label has at most METRICS_TABLES_MAX values; later tables count under "_other". */
static void
test_metrics_table_label_is_capped(void **state)
{
    struct cdc_metrics *m = malloc(sizeof(*m));
    struct cdc_buf b = CDC_BUF_INIT;
    char name[32];
    int series = 0;

    (void) state;
    assert_non_null(m);
    metrics_init(m);
    for (int i = 0; i < METRICS_TABLES_MAX + 6; i++) {
        snprintf(name, sizeof name, "t%d", i);
        metrics_event(m, metrics_table_index(m, "s", name), METRICS_OP_INSERT);
    }
    assert_int_equal(metrics_table_index(m, "s", "t70"), METRICS_TABLES_MAX);
    metrics_render_cdc(m, "x", &b);
    assert_true(cdc_buf_ok(&b));
    for (const char *p = strstr(b.data, "cdc_events_total{"); p != NULL;
         p = strstr(p + 1, "cdc_events_total{"))
        series++;
    assert_int_equal(series, (METRICS_TABLES_MAX + 1) * METRICS_OP_N);
    assert_non_null(
        strstr(b.data, "cdc_events_total{source=\"x\",table=\"s.t63\",operation=\"insert\"} 1\n"));
    assert_null(strstr(b.data, "table=\"s.t64\""));
    assert_non_null(
        strstr(b.data, "cdc_events_total{source=\"x\",table=\"_other\",operation=\"insert\"} 6\n"));
    assert_int_equal(atomic_load(&m->events_total[METRICS_OP_INSERT]), METRICS_TABLES_MAX + 6);
    cdc_buf_free(&b);
    free(m);
}

static void
test_metrics_label_value_escaped(void **state)
{
    struct cdc_metrics m;
    struct cdc_buf b = CDC_BUF_INIT;

    (void) state;
    metrics_init(&m);
    metrics_render_cdc(&m, "a\"b\\c\nd", &b);
    assert_non_null(strstr(b.data, "cdc_events_acked_total{source=\"a\\\"b\\\\c\\nd\"} 0\n"));
    cdc_buf_free(&b);
}

/* A source that is not a binlog leaves cdc_binlog_lag_seconds out rather than showing a number. */
static void
test_metrics_binlog_lag_only_when_known(void **state)
{
    struct cdc_metrics m;
    struct cdc_buf b = CDC_BUF_INIT;

    (void) state;
    metrics_init(&m);
    metrics_render_cdc(&m, "s", &b);
    assert_null(strstr(b.data, "cdc_binlog_lag_seconds"));
    assert_non_null(strstr(b.data, "\ncdc_checkpoint_lag_seconds{source=\"s\"} 0.000\n"));
    assert_non_null(strstr(b.data, "\ncdc_circuit_state{source=\"s\",dependency=\"source\"} 0\n"));
    cdc_buf_free(&b);
    b = (struct cdc_buf) CDC_BUF_INIT;
    metrics_set(&m.binlog_lag_ms, 0); /* caught up */
    metrics_render_cdc(&m, "s", &b);
    assert_non_null(strstr(b.data, "\ncdc_binlog_lag_seconds{source=\"s\"} 0.000\n"));
    cdc_buf_free(&b);
    b = (struct cdc_buf) CDC_BUF_INIT;
    metrics_set(&m.binlog_lag_ms, 61234);
    metrics_render_cdc(&m, "s", &b);
    assert_non_null(strstr(b.data, "\ncdc_binlog_lag_seconds{source=\"s\"} 61.234\n"));
    cdc_buf_free(&b);
}

/* Readiness of a dependency: connected and its breaker closed; the breaker's state comes first. */
static void
test_metrics_dep_ready_needs_connection_and_closed_breaker(void **state)
{
    struct cdc_metrics m;
    char why[METRICS_REASON_MAX + 64];

    (void) state;
    metrics_init(&m);
    assert_false(metrics_dep_ready(&m, METRICS_DEP_SOURCE, why, sizeof why));
    assert_string_equal(why, "not connected");
    metrics_dep_up(&m, METRICS_DEP_SOURCE);
    assert_true(metrics_dep_ready(&m, METRICS_DEP_SOURCE, why, sizeof why));
    assert_string_equal(why, "");
    metrics_dep_down(&m, METRICS_DEP_SOURCE, "could not connect to server: Connection refused");
    metrics_set(&m.circuit_state[METRICS_DEP_SOURCE], 1);
    assert_false(metrics_dep_ready(&m, METRICS_DEP_SOURCE, why, sizeof why));
    assert_string_equal(why,
                        "circuit breaker open: could not connect to server: Connection refused");
    metrics_set(&m.circuit_state[METRICS_DEP_SOURCE], 2);
    assert_false(metrics_dep_ready(&m, METRICS_DEP_SOURCE, why, sizeof why));
    assert_string_equal(
        why, "circuit breaker half-open: could not connect to server: Connection refused");
    /* connected, but the breaker not closed yet: still not ready */
    metrics_dep_up(&m, METRICS_DEP_SOURCE);
    assert_false(metrics_dep_ready(&m, METRICS_DEP_SOURCE, why, sizeof why));
    assert_string_equal(why, "circuit breaker half-open: repeated failures");
    metrics_set(&m.circuit_state[METRICS_DEP_SOURCE], 0);
    assert_true(metrics_dep_ready(&m, METRICS_DEP_SOURCE, why, sizeof why));
}

static uint64_t
bucket_value(const char *text, const char *le)
{
    char needle[128];
    const char *p;

    snprintf(needle, sizeof needle, "cdc_publish_latency_seconds_bucket{source=\"s\",le=\"%s\"} ",
             le);
    p = strstr(text, needle);
    assert_non_null(p);
    return strtoull(p + strlen(needle), NULL, 10);
}

static void
test_metrics_histogram_buckets_are_cumulative(void **state)
{
    static const char *const les[] = {
        "0.0001", "0.00025", "0.0005", "0.001", "0.0015", "0.002", "0.003", "0.004", "0.005",
        "0.006",  "0.008",   "0.01",   "0.015", "0.02",   "0.025", "0.05",  "0.1",   "0.25",
        "0.5",    "1",       "2.5",    "5",     "10",     "30",    "+Inf"};
    struct cdc_metrics m;
    struct cdc_buf b = CDC_BUF_INIT;
    uint64_t prev = 0;

    (void) state;
    metrics_init(&m);
    /* One observation just above each bound, and one below the first: bucket i holds i + 1. */
    metrics_observe_us(&m.publish_latency, 1);
    for (int i = 0; i < METRICS_HIST_NBOUNDS; i++)
        metrics_observe_us(&m.publish_latency, metrics_hist_bounds_us[i] + 1);
    metrics_render_cdc(&m, "s", &b);
    for (size_t i = 0; i < sizeof les / sizeof les[0]; i++) {
        uint64_t v = bucket_value(b.data, les[i]);

        assert_int_equal(v, i + 1);
        assert_true(v >= prev);
        prev = v;
    }
    assert_non_null(strstr(b.data, "cdc_publish_latency_seconds_count{source=\"s\"} 25\n"));
    cdc_buf_free(&b);
}

#define NTHREADS 4
#define NITER    200000

static void *
hammer(void *arg)
{
    struct cdc_metrics *m = arg;

    for (int i = 0; i < NITER; i++) {
        metrics_inc(&m->events_total[METRICS_OP_INSERT]);
        metrics_gauge_add(&m->buffer_events, (i & 1) ? -1 : 1);
        metrics_observe_us(&m->event_latency, (uint64_t) (i % 3) * 1000);
    }
    return NULL;
}

static void
test_metrics_concurrent_updates_sum_exactly(void **state)
{
    struct cdc_metrics m;
    pthread_t t[NTHREADS];
    uint64_t count = 0;

    (void) state;
    metrics_init(&m);
    for (int i = 0; i < NTHREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer, &m), 0);
    for (int i = 0; i < NTHREADS; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    assert_int_equal(atomic_load(&m.events_total[METRICS_OP_INSERT]), NTHREADS * NITER);
    assert_int_equal(atomic_load(&m.buffer_events), 0);
    for (int i = 0; i <= METRICS_HIST_NBOUNDS; i++)
        count += atomic_load(&m.event_latency.bucket[i]);
    assert_int_equal(count, NTHREADS * NITER);
    /* Per thread: i % 3 == 1 and == 2 happen 66667 and 66666 times: 66667 * 1000 + 66666 * 2000
     * microseconds. */
    assert_int_equal(atomic_load(&m.event_latency.sum_us),
                     (uint64_t) NTHREADS * (66667 * 1000 + 66666 * 2000));
}

/* The max gauge keeps the largest observation, whatever the order, and renders it in seconds. */
static void
test_metrics_max_is_the_largest_observation(void **state)
{
    struct cdc_metrics m;
    struct cdc_buf b = CDC_BUF_INIT;

    (void) state;
    metrics_init(&m);
    metrics_observe_us(&m.event_latency, 3000);
    metrics_observe_us(&m.event_latency, 9250);
    metrics_observe_us(&m.event_latency, 2000);
    metrics_observe_us(&m.event_latency, 0);
    assert_int_equal(atomic_load(&m.event_latency.max_us), 9250);
    assert_int_equal(atomic_load(&m.publish_latency.max_us), 0);
    metrics_render_cdc(&m, "s", &b);
    assert_non_null(strstr(b.data, "\ncdc_event_latency_max_seconds{source=\"s\"} 0.009250\n"));
    assert_non_null(strstr(b.data, "\ncdc_publish_latency_max_seconds{source=\"s\"} 0.000000\n"));
    cdc_buf_free(&b);
}

struct max_arg {
    struct cdc_metrics *m;
    int tid;
};

static void *
hammer_max(void *arg)
{
    struct max_arg *a = arg;

    /* thread tid observes tid, NTHREADS + tid, 2 * NTHREADS + tid, ... */
    for (int i = 0; i < NITER; i++)
        metrics_observe_us(&a->m->publish_latency, (uint64_t) i * NTHREADS + (uint64_t) a->tid);
    return NULL;
}

static void
test_metrics_concurrent_max(void **state)
{
    struct cdc_metrics m;
    pthread_t t[NTHREADS];
    struct max_arg a[NTHREADS];

    (void) state;
    metrics_init(&m);
    for (int i = 0; i < NTHREADS; i++) {
        a[i].m = &m;
        a[i].tid = i;
        assert_int_equal(pthread_create(&t[i], NULL, hammer_max, &a[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    /* the last value of the last thread */
    assert_int_equal(atomic_load(&m.publish_latency.max_us),
                     (uint64_t) (NITER - 1) * NTHREADS + NTHREADS - 1);
}

static void
test_metrics_dep_reason_round_trip(void **state)
{
    struct cdc_metrics m;
    char reason[METRICS_REASON_MAX], longr[300];

    (void) state;
    metrics_init(&m);
    assert_false(metrics_dep_state(&m, METRICS_DEP_SOURCE, reason, sizeof reason));
    metrics_dep_down(&m, METRICS_DEP_SOURCE, "replication slot \"s\" is active");
    assert_false(metrics_dep_state(&m, METRICS_DEP_SOURCE, reason, sizeof reason));
    assert_string_equal(reason, "replication slot \"s\" is active");
    metrics_dep_up(&m, METRICS_DEP_SOURCE);
    assert_true(metrics_dep_state(&m, METRICS_DEP_SOURCE, reason, sizeof reason));
    assert_string_equal(reason, "");
    assert_int_equal(atomic_load(&m.connection_up[METRICS_DEP_SOURCE]), 1);
    memset(longr, 'x', sizeof longr - 1);
    longr[sizeof longr - 1] = '\0';
    metrics_dep_down(&m, METRICS_DEP_NATS, longr);
    metrics_dep_state(&m, METRICS_DEP_NATS, reason, sizeof reason);
    assert_int_equal(strlen(reason), METRICS_REASON_MAX - 1);
    /* A small output buffer gets a cut, terminated copy. */
    metrics_dep_state(&m, METRICS_DEP_NATS, reason, 4);
    assert_string_equal(reason, "xxx");
    metrics_dep_down(&m, METRICS_DEP_CHECKPOINT, NULL);
    metrics_dep_state(&m, METRICS_DEP_CHECKPOINT, reason, sizeof reason);
    assert_string_equal(reason, "not connected");
}

static double
sample_value(const char *text, const char *name)
{
    char needle[96];
    const char *p;

    snprintf(needle, sizeof needle, "\n%s ", name);
    p = strstr(text, needle);
    assert_non_null(p);
    return strtod(p + strlen(needle), NULL);
}

static void
test_metrics_process_metrics_plausible(void **state)
{
    struct cdc_metrics m;
    struct cdc_buf b = CDC_BUF_INIT;
    double now = (double) time(NULL);

    (void) state;
    metrics_init(&m);
    metrics_render(&m, "s", &b);
    assert_true(cdc_buf_ok(&b));
    assert_true(sample_value(b.data, "process_resident_memory_bytes") > 0);
    assert_true(sample_value(b.data, "process_virtual_memory_bytes") >=
                sample_value(b.data, "process_resident_memory_bytes"));
    /* stdin, stdout and stderr at least. */
    assert_true(sample_value(b.data, "process_open_fds") >= 3);
    assert_true(sample_value(b.data, "process_cpu_seconds_total") >= 0);
    assert_true(sample_value(b.data, "process_start_time_seconds") <= now + 2);
    assert_true(sample_value(b.data, "process_start_time_seconds") > now - 3600);
    assert_non_null(strstr(b.data, "# TYPE process_cpu_seconds_total counter\n"));
    cdc_buf_free(&b);
}

static bool
have_promtool(void)
{
    return system("command -v promtool >/dev/null 2>&1") == 0;
}

static void
test_metrics_promtool_accepts_exposition(void **state)
{
    struct cdc_metrics m;
    struct cdc_buf b = CDC_BUF_INIT;
    FILE *p;
    int status;

    (void) state;
    if (!have_promtool()) {
        fprintf(stderr, "promtool not installed (apt package prometheus): skipped\n");
        skip();
    }
    fill_sample(&m);
    metrics_render(&m, "orders", &b);
    p = popen("promtool check metrics", "w");
    assert_non_null(p);
    assert_int_equal(fwrite(b.data, 1, b.len, p), b.len);
    status = pclose(p);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    cdc_buf_free(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_render_exact_text),
        cmocka_unit_test(test_metrics_label_value_escaped),
        cmocka_unit_test(test_metrics_binlog_lag_only_when_known),
        cmocka_unit_test(test_metrics_dep_ready_needs_connection_and_closed_breaker),
        cmocka_unit_test(test_metrics_table_label_is_capped),
        cmocka_unit_test(test_metrics_histogram_buckets_are_cumulative),
        cmocka_unit_test(test_metrics_concurrent_updates_sum_exactly),
        cmocka_unit_test(test_metrics_max_is_the_largest_observation),
        cmocka_unit_test(test_metrics_concurrent_max),
        cmocka_unit_test(test_metrics_dep_reason_round_trip),
        cmocka_unit_test(test_metrics_process_metrics_plausible),
        cmocka_unit_test(test_metrics_promtool_accepts_exposition),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
