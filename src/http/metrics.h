/*
 * metrics.h - the daemon's counters, gauges and histograms, and their
 * Prometheus text exposition (format 0.0.4).
 *
 * The registry is one plain struct with a named field per metric: there is no
 * registration at run time, no allocation and no lock. Every update is a
 * relaxed C11 atomic, so the pipeline thread and the libnats ack thread can
 * update it per event while the HTTP thread reads it at scrape time. A scrape
 * sees each value atomically, but not a snapshot of all values at one instant
 * (Prometheus client libraries behave the same).
 *
 * This module does not know where the numbers come from (the pipeline bumps
 * them) and does no I/O except reading /proc/self at render time.
 */
#ifndef CDC_HTTP_METRICS_H
#define CDC_HTTP_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* Operation label of cdc_events_total. */
enum metrics_op {
    METRICS_OP_INSERT,
    METRICS_OP_UPDATE,
    METRICS_OP_DELETE,
    METRICS_OP_TRUNCATE,
    METRICS_OP_DDL,
    METRICS_OP_N
};

/* Type label of cdc_errors_total. */
enum metrics_errtype {
    METRICS_ERR_SOURCE,
    METRICS_ERR_SINK,
    METRICS_ERR_CHECKPOINT,
    METRICS_ERR_CONFIG,
    METRICS_ERR_DECODE,
    METRICS_ERR_N
};

/* Why an event was dead-lettered: the reason label of cdc_dlq_events_total. */
enum metrics_dlq {
    METRICS_DLQ_TOO_LARGE = 0,
    METRICS_DLQ_REJECTED,
    METRICS_DLQ_ENCODE,
    METRICS_DLQ_PUBLISH_FAILED,
    METRICS_DLQ_N
};

/* Kind label of cdc_pii_redactions_total (the order of transform/redact.h's enum redact_pii). */
enum metrics_pii { METRICS_PII_EMAIL, METRICS_PII_CARD, METRICS_PII_SSN, METRICS_PII_N };

/* Dependency label of cdc_retries_total and cdc_connection_up, and the checks of /ready. */
enum metrics_dep { METRICS_DEP_SOURCE, METRICS_DEP_NATS, METRICS_DEP_CHECKPOINT, METRICS_DEP_N };

/*
 * Histogram upper bounds in microseconds: 0.1 ms .. 30 s, plus +Inf. Steps of
 * 0.5-2 ms between 1 and 10 ms and of 5 ms up to 25 ms, so that a p99 near a
 * 10 ms target is read from the buckets within a millisecond or two.
 */
#define METRICS_HIST_NBOUNDS 24
extern const uint64_t metrics_hist_bounds_us[METRICS_HIST_NBOUNDS];

struct metrics_hist {
    _Atomic uint64_t bucket[METRICS_HIST_NBOUNDS + 1]; /* per bucket, NOT cumulative; last: +Inf */
    _Atomic uint64_t sum_us;                           /* sum of observations, microseconds */
    _Atomic uint64_t max_us; /* the largest observation since metrics_init(), microseconds */
};

/* Longest /ready reason kept, including the terminating NUL; longer ones are cut. */
#define METRICS_REASON_MAX 128

/* A dependency's "why not ready" text, written rarely, read by the HTTP thread (seqlock). */
struct metrics_reason {
    _Atomic uint32_t seq;                  /* odd while a writer is copying */
    _Atomic char text[METRICS_REASON_MAX]; /* NUL-terminated */
};

/* Per-table event counters: the first METRICS_TABLES_MAX tables, then one "_other" row. */
#define METRICS_TABLES_MAX 64
#define METRICS_TABLE_NAME 128

struct metrics_table {
    char name[METRICS_TABLE_NAME]; /* "schema.table"; written once, before it is counted in */
    _Atomic uint64_t events[METRICS_OP_N];
};

struct cdc_metrics {
    _Atomic uint64_t events_total[METRICS_OP_N];      /* changes turned into events, by operation */
    _Atomic uint64_t events_acked_total;              /* events whose PubAck arrived */
    _Atomic uint64_t publish_duplicates_total;        /* PubAcks with duplicate=true */
    _Atomic uint64_t publish_resent_total;            /* publishes sent again after a timeout */
    _Atomic uint64_t errors_total[METRICS_ERR_N];     /* failures, by type */
    _Atomic uint64_t dlq_events_total[METRICS_DLQ_N]; /* events dead-lettered (acked), by reason */
    _Atomic uint64_t claim_checks_total;              /* events stored in the object store */
    _Atomic uint64_t retries_total[METRICS_DEP_N]; /* reconnects / retried calls, by dependency */
    _Atomic uint64_t checkpoint_writes_total;      /* checkpoint records made durable */
    _Atomic uint64_t checkpoint_failures_total;    /* checkpoint writes that failed */
    _Atomic uint64_t transactions_total;           /* source transactions committed */
    _Atomic uint64_t pii_redactions_total[METRICS_PII_N]; /* values masked by PII detection */
    _Atomic int64_t connection_up[METRICS_DEP_N];         /* 1 when connected/usable, else 0 */
    _Atomic int64_t checkpoint_lag_bytes;         /* source position - checkpointed position */
    _Atomic int64_t checkpoint_lag_ms;            /* since the last checkpoint write while the
                                                     read position is past it; 0 when not */
    _Atomic int64_t binlog_lag_ms;                /* MySQL/MariaDB: now - timestamp of the last
                                                     binlog event read (0 when caught up);
                                                     -1: unknown / not a binlog (not shown) */
    _Atomic int64_t buffer_events;                /* events published but not yet acked */
    _Atomic int64_t publish_window;               /* events allowed in flight now (adaptive) */
    _Atomic int64_t buffer_bytes;                 /* their payload bytes */
    _Atomic int64_t circuit_state[METRICS_DEP_N]; /* enum breaker_state: 0 closed, 1 open,
                                                     2 half-open */
    _Atomic int64_t slot_lag_bytes;               /* PostgreSQL: WAL the slot retains (bytes) */
    _Atomic int64_t slot_wal_status;              /* PostgreSQL: 0 reserved, 1 extended,
                                                     2 unreserved, 3 lost; -1 unknown */
    _Atomic int64_t slot_safe_wal_bytes;          /* PostgreSQL: WAL before the slot is lost
                                                     (max_slot_wal_keep_size); -1: no limit */
    struct metrics_hist event_latency;            /* source commit -> PubAck */
    struct metrics_hist publish_latency;          /* publish call -> PubAck */
    struct metrics_reason reason[METRICS_DEP_N];  /* why a dependency is down (for /ready) */
    _Atomic int64_t heartbeat_ms;                 /* CLOCK_MONOTONIC ms of the last heartbeat */
    struct metrics_table tables[METRICS_TABLES_MAX + 1]; /* [METRICS_TABLES_MAX]: "_other" */
    _Atomic uint32_t n_tables;                           /* rows of tables[] in use */
    _Atomic bool tables_overflowed;                      /* "_other" has been used */
};

/*
 * Zero every metric, and set the heartbeat to now (a process that has just
 * started counts as alive). Call once before any thread uses m.
 */
void metrics_init(struct cdc_metrics *m);

/* Counter helpers: any thread, lock-free. */
static inline void
metrics_inc(_Atomic uint64_t *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static inline void
metrics_add(_Atomic uint64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* Gauge helpers: any thread, lock-free. */
static inline void
metrics_set(_Atomic int64_t *g, int64_t v)
{
    atomic_store_explicit(g, v, memory_order_relaxed);
}

static inline void
metrics_gauge_add(_Atomic int64_t *g, int64_t delta)
{
    atomic_fetch_add_explicit(g, delta, memory_order_relaxed);
}

/*
 * Record one observation of `us` microseconds: its bucket, the sum, and the
 * maximum (shown as a gauge <name>_max_seconds). Any thread, lock-free, no
 * allocation; the maximum costs one relaxed load unless `us` is a new maximum.
 */
void metrics_observe_us(struct metrics_hist *h, uint64_t us);

/*
 * The row of schema.table in the per-table counters, registering it when new
 * (one writer thread: the pipeline's). Past METRICS_TABLES_MAX tables, the
 * "_other" row: the table label's cardinality is capped.
 */
uint32_t metrics_table_index(struct cdc_metrics *m, const char *schema, const char *table);

/* One event of operation op on the table at row idx: per table and in events_total. */
void metrics_event(struct cdc_metrics *m, uint32_t idx, enum metrics_op op);

/*
 * Say the pipeline is alive: /health stays 200 while the last heartbeat is
 * recent. Call it from the pipeline's main loop on every iteration (cheap: one
 * clock read and one relaxed store).
 */
void metrics_heartbeat(struct cdc_metrics *m);

/*
 * Mark dependency d usable (connection_up = 1, reason cleared) or not usable
 * (connection_up = 0, reason copied, cut to METRICS_REASON_MAX - 1 bytes;
 * NULL means "not connected"). Meant for state changes, not per event. Any
 * thread; concurrent writers for the same d spin briefly against each other,
 * readers never block a writer.
 */
void metrics_dep_up(struct cdc_metrics *m, enum metrics_dep d);
void metrics_dep_down(struct cdc_metrics *m, enum metrics_dep d, const char *reason);

/*
 * Copy dependency d's reason into out[0..n) (NUL-terminated, n > 0) and
 * return whether d is up; the pair is consistent when both were set through
 * metrics_dep_up()/metrics_dep_down(). Lock-free: retries while a writer is
 * mid-copy, and after 1000 failed tries gives "state changing" as the reason.
 */
bool metrics_dep_state(const struct cdc_metrics *m, enum metrics_dep d, char *out, size_t n);

/*
 * Whether dependency d may be counted as ready: connected, and its circuit
 * breaker closed. Fills out[0..n) (n > 0) with the reason when not: the
 * breaker's state, then the connection's reason. Any thread, lock-free.
 */
bool metrics_dep_ready(const struct cdc_metrics *m, enum metrics_dep d, char *out, size_t n);

/* Label values, for logs and tests: "insert", "sink", "nats", ... */
const char *metrics_op_name(enum metrics_op op);
const char *metrics_errtype_name(enum metrics_errtype t);
const char *metrics_dep_name(enum metrics_dep d);

/*
 * Append the whole exposition (HELP and TYPE lines, every cdc_* metric with a
 * source="<source>" label, then the process_* metrics read from /proc/self) to
 * out. Any thread; reads m only. Check cdc_buf_ok(out) afterwards.
 */
void metrics_render(const struct cdc_metrics *m, const char *source, struct cdc_buf *out);

/*
 * Like metrics_render() but without the process_* metrics, whose values change
 * between calls (so tests can compare the text exactly).
 */
void metrics_render_cdc(const struct cdc_metrics *m, const char *source, struct cdc_buf *out);

#endif
