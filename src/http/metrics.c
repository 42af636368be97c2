/*
 * metrics.c - the metrics registry's updates and its Prometheus text
 * exposition (see metrics.h).
 *
 * Everything here is relaxed atomics: counters only need to be exact in the
 * end, not ordered against each other. The one exception is the /ready reason
 * text, a small seqlock (Boehm, "Can seqlocks get along with programming
 * language memory models?", 2012) so the HTTP thread never sees a torn string
 * and never blocks the writer.
 *
 * The text format: https://prometheus.io/docs/instrumenting/exposition_formats/
 * Histogram sums are kept as integer microseconds and printed with exactly six
 * decimals, so the output does not depend on float formatting.
 */
#include "http/metrics.h"

#include "core/clock.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "http/procstat.h"

#ifndef CDC_VERSION
#define CDC_VERSION "unknown"
#endif

const uint64_t metrics_hist_bounds_us[METRICS_HIST_NBOUNDS] = {
    100,    250,    500,    1000,    1500,    2000,    3000,     4000,
    5000,   6000,   8000,   10000,   15000,   20000,   25000,    50000,
    100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000, 30000000,
};

/* The same bounds as Prometheus writes them in le="...". */
static const char *const metrics_hist_le[METRICS_HIST_NBOUNDS + 1] = {
    "0.0001", "0.00025", "0.0005", "0.001", "0.0015", "0.002", "0.003", "0.004", "0.005",
    "0.006",  "0.008",   "0.01",   "0.015", "0.02",   "0.025", "0.05",  "0.1",   "0.25",
    "0.5",    "1",       "2.5",    "5",     "10",     "30",    "+Inf",
};

static const char *const metrics_op_names[METRICS_OP_N] = {"insert", "update", "delete", "truncate",
                                                           "ddl"};
static const char *const metrics_dlq_names[METRICS_DLQ_N] = {"too_large", "rejected", "encode",
                                                             "publish_failed"};
static const char *const metrics_err_names[METRICS_ERR_N] = {"source", "sink", "checkpoint",
                                                             "config", "decode"};
static const char *const metrics_dep_names[METRICS_DEP_N] = {"source", "nats", "checkpoint"};
static const char *const metrics_pii_names[METRICS_PII_N] = {"email", "card", "ssn"};

/* Loads through a const pointer: C11 atomic_load takes a non-const one. */
static uint64_t
ld_u64(const _Atomic uint64_t *p)
{
    return atomic_load_explicit((_Atomic uint64_t *) p, memory_order_relaxed);
}

static int64_t
ld_i64(const _Atomic int64_t *p)
{
    return atomic_load_explicit((_Atomic int64_t *) p, memory_order_relaxed);
}

void
metrics_init(struct cdc_metrics *m)
{
    /* Zero bytes are a valid zero for lock-free atomic integers on every platform we build for. */
    memset(m, 0, sizeof *m);
    atomic_store_explicit(&m->heartbeat_ms, cdc_now_ms(), memory_order_relaxed);
    atomic_store_explicit(&m->slot_wal_status, -1, memory_order_relaxed);
    atomic_store_explicit(&m->slot_safe_wal_bytes, -1, memory_order_relaxed);
    atomic_store_explicit(&m->binlog_lag_ms, -1, memory_order_relaxed);
}

uint32_t
metrics_table_index(struct cdc_metrics *m, const char *schema, const char *table)
{
    uint32_t n = atomic_load_explicit(&m->n_tables, memory_order_relaxed);
    char name[METRICS_TABLE_NAME];

    snprintf(name, sizeof name, "%s%s%s", schema ? schema : "", schema && *schema ? "." : "",
             table ? table : "");
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(m->tables[i].name, name) == 0)
            return i;
    if (n == METRICS_TABLES_MAX) {
        atomic_store_explicit(&m->tables_overflowed, true, memory_order_relaxed);
        return METRICS_TABLES_MAX;
    }
    memcpy(m->tables[n].name, name, sizeof name);
    /* release: a reader that sees the new count sees the name */
    atomic_store_explicit(&m->n_tables, n + 1, memory_order_release);
    return n;
}

void
metrics_event(struct cdc_metrics *m, uint32_t idx, enum metrics_op op)
{
    if (idx > METRICS_TABLES_MAX)
        idx = METRICS_TABLES_MAX;
    metrics_inc(&m->tables[idx].events[op]);
    metrics_inc(&m->events_total[op]);
}

void
metrics_heartbeat(struct cdc_metrics *m)
{
    atomic_store_explicit(&m->heartbeat_ms, cdc_now_ms(), memory_order_relaxed);
}

void
metrics_observe_us(struct metrics_hist *h, uint64_t us)
{
    size_t i = 0;
    uint64_t max = atomic_load_explicit(&h->max_us, memory_order_relaxed);

    while (i < METRICS_HIST_NBOUNDS && us > metrics_hist_bounds_us[i])
        i++;
    atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, us, memory_order_relaxed);
    /* a failed exchange reloads max: retry only while us is still the larger */
    while (us > max && !atomic_compare_exchange_weak_explicit(
                           &h->max_us, &max, us, memory_order_relaxed, memory_order_relaxed))
        ;
}

const char *
metrics_op_name(enum metrics_op op)
{
    return (unsigned) op < METRICS_OP_N ? metrics_op_names[op] : "unknown";
}

const char *
metrics_errtype_name(enum metrics_errtype t)
{
    return (unsigned) t < METRICS_ERR_N ? metrics_err_names[t] : "unknown";
}

const char *
metrics_dep_name(enum metrics_dep d)
{
    return (unsigned) d < METRICS_DEP_N ? metrics_dep_names[d] : "unknown";
}

/* ---- /ready reasons: a seqlock over atomic chars ---- */

/* Write the reason and the connection_up gauge together, so a reader sees a matching pair. */
static void
metrics_reason_write(struct metrics_reason *r, const char *s, _Atomic int64_t *up, int64_t v)
{
    uint32_t seq = atomic_load_explicit(&r->seq, memory_order_relaxed);
    size_t i, n;

    /* Writers take the odd state in turn; readers only ever retry. */
    for (;;) {
        if ((seq & 1) == 0 &&
            atomic_compare_exchange_weak_explicit(&r->seq, &seq, seq + 1, memory_order_acq_rel,
                                                  memory_order_relaxed))
            break;
        seq = atomic_load_explicit(&r->seq, memory_order_relaxed);
    }
    atomic_thread_fence(memory_order_release);
    n = strnlen(s, METRICS_REASON_MAX - 1);
    for (i = 0; i < n; i++)
        atomic_store_explicit(&r->text[i], s[i], memory_order_relaxed);
    atomic_store_explicit(&r->text[n], '\0', memory_order_relaxed);
    atomic_store_explicit(up, v, memory_order_relaxed);
    atomic_store_explicit(&r->seq, seq + 2, memory_order_release);
}

void
metrics_dep_up(struct cdc_metrics *m, enum metrics_dep d)
{
    metrics_reason_write(&m->reason[d], "", &m->connection_up[d], 1);
}

void
metrics_dep_down(struct cdc_metrics *m, enum metrics_dep d, const char *reason)
{
    metrics_reason_write(&m->reason[d], reason != NULL ? reason : "not connected",
                         &m->connection_up[d], 0);
}

bool
metrics_dep_state(const struct cdc_metrics *m, enum metrics_dep d, char *out, size_t n)
{
    struct metrics_reason *r = (struct metrics_reason *) &m->reason[d];
    bool up = false;

    for (int tries = 0; tries < 1000; tries++) {
        uint32_t s1 = atomic_load_explicit(&r->seq, memory_order_acquire);
        size_t i;

        up = ld_i64(&m->connection_up[d]) == 1;
        for (i = 0; i + 1 < n && i < METRICS_REASON_MAX; i++) {
            out[i] = atomic_load_explicit(&r->text[i], memory_order_relaxed);
            if (out[i] == '\0')
                break;
        }
        out[i < n ? i : n - 1] = '\0';
        atomic_thread_fence(memory_order_acquire);
        if ((s1 & 1) == 0 && atomic_load_explicit(&r->seq, memory_order_relaxed) == s1)
            return up;
    }
    /* A writer kept us out for a long time: say so rather than show a torn string. */
    snprintf(out, n, "%s", "state changing");
    return up;
}

bool
metrics_dep_ready(const struct cdc_metrics *m, enum metrics_dep d, char *out, size_t n)
{
    static const char *const states[] = {"closed", "open", "half-open"};
    char why[METRICS_REASON_MAX];
    bool up = metrics_dep_state(m, d, why, sizeof why);
    int64_t st = ld_i64(&m->circuit_state[d]);

    if (st > 0 && st <= 2) {
        snprintf(out, n, "circuit breaker %s: %s", states[st],
                 why[0] != '\0' ? why : "repeated failures");
        return false;
    }
    snprintf(out, n, "%s", up ? "" : why[0] != '\0' ? why : "not connected");
    return up;
}

/* ---- rendering ---- */

static void
put_label_value(struct cdc_buf *out, const char *v)
{
    if (v == NULL)
        return;
    for (; *v != '\0'; v++) {
        if (*v == '\\')
            cdc_buf_puts(out, "\\\\");
        else if (*v == '"')
            cdc_buf_puts(out, "\\\"");
        else if (*v == '\n')
            cdc_buf_puts(out, "\\n");
        else
            cdc_buf_putc(out, *v);
    }
}

static void
put_header(struct cdc_buf *out, const char *name, const char *type, const char *help)
{
    cdc_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{source="...",label="value"} where label may be NULL. */
static void
put_series(struct cdc_buf *out, const char *name, const char *source, const char *label,
           const char *value)
{
    cdc_buf_puts(out, name);
    cdc_buf_puts(out, "{source=\"");
    put_label_value(out, source);
    cdc_buf_putc(out, '"');
    if (label != NULL) {
        cdc_buf_printf(out, ",%s=\"", label);
        put_label_value(out, value);
        cdc_buf_putc(out, '"');
    }
    cdc_buf_puts(out, "} ");
}

static void
put_counter(struct cdc_buf *out, const char *name, const char *help, const char *source,
            const _Atomic uint64_t *c)
{
    put_header(out, name, "counter", help);
    put_series(out, name, source, NULL, NULL);
    cdc_buf_put_u64(out, ld_u64(c));
    cdc_buf_putc(out, '\n');
}

static void
put_counter_vec(struct cdc_buf *out, const char *name, const char *help, const char *source,
                const char *label, const char *const *values, const _Atomic uint64_t *c, size_t n)
{
    put_header(out, name, "counter", help);
    for (size_t i = 0; i < n; i++) {
        put_series(out, name, source, label, values[i]);
        cdc_buf_put_u64(out, ld_u64(&c[i]));
        cdc_buf_putc(out, '\n');
    }
}

static void
put_gauge(struct cdc_buf *out, const char *name, const char *help, const char *source,
          const _Atomic int64_t *g)
{
    put_header(out, name, "gauge", help);
    put_series(out, name, source, NULL, NULL);
    cdc_buf_put_i64(out, ld_i64(g));
    cdc_buf_putc(out, '\n');
}

/* A gauge kept in milliseconds, shown in seconds with three decimals. */
static void
put_gauge_ms(struct cdc_buf *out, const char *name, const char *help, const char *source,
             const _Atomic int64_t *g)
{
    int64_t v = ld_i64(g);

    put_header(out, name, "gauge", help);
    put_series(out, name, source, NULL, NULL);
    if (v < 0) {
        cdc_buf_putc(out, '-');
        v = -v;
    }
    cdc_buf_printf(out, "%lld.%03lld\n", (long long) (v / 1000), (long long) (v % 1000));
}

static void
put_dep_gauges(struct cdc_buf *out, const char *name, const char *help, const char *source,
               const _Atomic int64_t *g)
{
    put_header(out, name, "gauge", help);
    for (size_t i = 0; i < METRICS_DEP_N; i++) {
        put_series(out, name, source, "dependency", metrics_dep_names[i]);
        cdc_buf_put_i64(out, ld_i64(&g[i]));
        cdc_buf_putc(out, '\n');
    }
}

/* Microseconds as seconds with exactly six decimals. */
static void
put_us_as_s(struct cdc_buf *out, uint64_t us)
{
    cdc_buf_printf(out, "%llu.%06llu\n", (unsigned long long) (us / 1000000),
                   (unsigned long long) (us % 1000000));
}

/* The histogram `name`, then its maximum as the gauge `max_name`. */
static void
put_hist(struct cdc_buf *out, const char *name, const char *help, const char *max_name,
         const char *max_help, const char *source, const struct metrics_hist *h)
{
    char series[96];
    uint64_t cum = 0, sum = ld_u64(&h->sum_us);

    put_header(out, name, "histogram", help);
    snprintf(series, sizeof series, "%s_bucket", name);
    for (size_t i = 0; i <= METRICS_HIST_NBOUNDS; i++) {
        /* Cumulative by construction: each bucket adds to the ones below it. */
        cum += ld_u64(&h->bucket[i]);
        put_series(out, series, source, "le", metrics_hist_le[i]);
        cdc_buf_put_u64(out, cum);
        cdc_buf_putc(out, '\n');
    }
    snprintf(series, sizeof series, "%s_sum", name);
    put_series(out, series, source, NULL, NULL);
    put_us_as_s(out, sum);
    snprintf(series, sizeof series, "%s_count", name);
    put_series(out, series, source, NULL, NULL);
    cdc_buf_put_u64(out, cum);
    cdc_buf_putc(out, '\n');
    put_header(out, max_name, "gauge", max_help);
    put_series(out, max_name, source, NULL, NULL);
    put_us_as_s(out, ld_u64(&h->max_us));
}

/* cdc_events_total{source,table,operation}: one row per table seen, and "_other" past the cap. */
static void
put_events(const struct cdc_metrics *m, const char *source, struct cdc_buf *out)
{
    uint32_t n = atomic_load_explicit(&((struct cdc_metrics *) m)->n_tables, memory_order_acquire);
    bool other =
        atomic_load_explicit(&((struct cdc_metrics *) m)->tables_overflowed, memory_order_relaxed);

    put_header(out, "cdc_events_total", "counter",
               "Change events produced, by table and operation.");
    for (uint32_t t = 0; t <= n; t++) {
        const char *name = m->tables[t].name;

        if (t == n) {
            if (!other)
                break;
            t = METRICS_TABLES_MAX;
            name = "_other";
        }
        for (size_t i = 0; i < METRICS_OP_N; i++) {
            cdc_buf_puts(out, "cdc_events_total{source=\"");
            put_label_value(out, source);
            cdc_buf_puts(out, "\",table=\"");
            put_label_value(out, name);
            cdc_buf_puts(out, "\",operation=\"");
            cdc_buf_puts(out, metrics_op_names[i]);
            cdc_buf_puts(out, "\"} ");
            cdc_buf_put_u64(out, ld_u64(&m->tables[t].events[i]));
            cdc_buf_putc(out, '\n');
        }
    }
}

static void
put_counters(const struct cdc_metrics *m, const char *source, struct cdc_buf *out)
{
    put_events(m, source, out);
    put_counter(out, "cdc_events_acked_total", "Events acknowledged by JetStream.", source,
                &m->events_acked_total);
    put_counter(out, "cdc_publish_duplicates_total",
                "Publishes JetStream acknowledged as duplicates.", source,
                &m->publish_duplicates_total);
    put_counter(out, "cdc_publish_resent_total", "Publishes sent again after an ack timeout.",
                source, &m->publish_resent_total);
    put_counter_vec(out, "cdc_errors_total", "Errors, by type.", source, "type", metrics_err_names,
                    m->errors_total, METRICS_ERR_N);
    put_counter_vec(out, "cdc_dlq_events_total", "Events dead-lettered, by reason.", source,
                    "reason", metrics_dlq_names, m->dlq_events_total, METRICS_DLQ_N);
    put_counter(out, "cdc_claim_checks_total",
                "Events too large for a message, stored in the object store.", source,
                &m->claim_checks_total);
    put_counter_vec(out, "cdc_retries_total", "Retries and reconnects, by dependency.", source,
                    "dependency", metrics_dep_names, m->retries_total, METRICS_DEP_N);
    put_counter(out, "cdc_checkpoint_writes_total", "Checkpoints made durable.", source,
                &m->checkpoint_writes_total);
    put_counter(out, "cdc_checkpoint_failures_total", "Checkpoint writes that failed.", source,
                &m->checkpoint_failures_total);
    put_counter(out, "cdc_transactions_total", "Source transactions processed.", source,
                &m->transactions_total);
    put_counter_vec(out, "cdc_pii_redactions_total",
                    "Values masked by PII detection (cdc.sensitive_fields detect rules), by kind.",
                    source, "kind", metrics_pii_names, m->pii_redactions_total, METRICS_PII_N);
}

void
metrics_render_cdc(const struct cdc_metrics *m, const char *source, struct cdc_buf *out)
{
    put_counters(m, source, out);
    put_dep_gauges(out, "cdc_connection_up",
                   "Whether a dependency is connected and usable (1) or not (0).", source,
                   m->connection_up);
    put_dep_gauges(out, "cdc_circuit_state",
                   "State of a dependency's circuit breaker: 0 closed, 1 open, 2 half-open.",
                   source, m->circuit_state);
    put_gauge(out, "cdc_checkpoint_lag_bytes",
              "Bytes of source log between the read position and the checkpoint.", source,
              &m->checkpoint_lag_bytes);
    put_gauge_ms(out, "cdc_checkpoint_lag_seconds",
                 "Seconds since the last checkpoint write while the read position is past it "
                 "(0 when the checkpoint holds everything read).",
                 source, &m->checkpoint_lag_ms);
    if (ld_i64(&m->binlog_lag_ms) >= 0)
        put_gauge_ms(out, "cdc_binlog_lag_seconds",
                     "MySQL/MariaDB: now minus the timestamp of the last binlog event read "
                     "(0 when caught up).",
                     source, &m->binlog_lag_ms);
    put_gauge(out, "cdc_buffer_events", "Events published and not yet acknowledged.", source,
              &m->buffer_events);
    put_gauge(out, "cdc_publish_window",
              "Events allowed in flight now: the adaptive window, up to cdc.batch_size.", source,
              &m->publish_window);
    put_gauge(out, "cdc_buffer_bytes",
              "Payload bytes of the events published and not yet "
              "acknowledged.",
              source, &m->buffer_bytes);
    put_gauge(out, "cdc_replication_slot_lag_bytes",
              "WAL the replication slot retains (current WAL position - restart_lsn).", source,
              &m->slot_lag_bytes);
    put_gauge(out, "cdc_replication_slot_wal_status",
              "The slot's wal_status: 0 reserved, 1 extended, 2 unreserved, 3 lost, -1 unknown.",
              source, &m->slot_wal_status);
    put_gauge(out, "cdc_replication_slot_safe_wal_bytes",
              "WAL that can still be written before max_slot_wal_keep_size invalidates the slot "
              "(-1: no such limit).",
              source, &m->slot_safe_wal_bytes);
    put_hist(out, "cdc_event_latency_seconds",
             "Time from the source commit to the JetStream acknowledgement.",
             "cdc_event_latency_max_seconds",
             "The longest source commit to JetStream acknowledgement since the start.", source,
             &m->event_latency);
    put_hist(out, "cdc_publish_latency_seconds",
             "Time from the publish call to the JetStream acknowledgement.",
             "cdc_publish_latency_max_seconds",
             "The longest publish call to JetStream acknowledgement since the start.", source,
             &m->publish_latency);
    put_header(out, "cdc_build_info", "gauge", "Build information; the value is always 1.");
    put_series(out, "cdc_build_info", source, "version", CDC_VERSION);
    cdc_buf_puts(out, "1\n");
}

static void
put_process(struct cdc_buf *out)
{
    struct procstat ps;

    /* Without /proc there is nothing to say; the cdc_* metrics still stand. */
    if (procstat_read(&ps, NULL) != CDC_OK)
        return;
    put_header(out, "process_cpu_seconds_total", "counter",
               "Total user and system CPU time spent in seconds.");
    cdc_buf_printf(out, "process_cpu_seconds_total %.3f\n", ps.cpu_seconds);
    put_header(out, "process_open_fds", "gauge", "Number of open file descriptors.");
    cdc_buf_printf(out, "process_open_fds %lld\n", (long long) ps.open_fds);
    if (ps.max_fds >= 0) {
        put_header(out, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
        cdc_buf_printf(out, "process_max_fds %lld\n", (long long) ps.max_fds);
    }
    put_header(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
    cdc_buf_printf(out, "process_virtual_memory_bytes %llu\n", (unsigned long long) ps.vsize_bytes);
    put_header(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    cdc_buf_printf(out, "process_resident_memory_bytes %llu\n", (unsigned long long) ps.rss_bytes);
    put_header(out, "process_start_time_seconds", "gauge",
               "Start time of the process since unix epoch in seconds.");
    cdc_buf_printf(out, "process_start_time_seconds %.2f\n", ps.start_time);
}

void
metrics_render(const struct cdc_metrics *m, const char *source, struct cdc_buf *out)
{
    metrics_render_cdc(m, source, out);
    put_process(out);
}
