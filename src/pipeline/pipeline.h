/*
 * pipeline.h - one run of the PostgreSQL -> JetStream pipeline.
 *
 * pipeline_run() connects the checkpoint store, the JetStream sink and the
 * PostgreSQL source, reconciles the resume position, then streams until it is
 * asked to stop or something fails. Data path, on the calling thread:
 * pgsrc_read -> pgd_feed -> env_encode -> jssink_publish, with the ack tracker
 * fed by the sink's ack callback (a libnats thread). Every checkpoint interval
 * the tracker's safe position is written to the checkpoint store and only then
 * reported to PostgreSQL as the flush position.
 *
 * It never logs a failure it returns and never exits: the supervisor in main.c
 * decides (CDC_ERR_RETRY/CLOSED/TIMEOUT/IO: back off and call again;
 * CDC_ERR_FATAL/CONFIG: stop).
 *
 * Circuit breakers (opts.breakers): before it calls a dependency (the
 * checkpoint store's load, the NATS connect, the source's connect, each
 * checkpoint write) the run asks that dependency's breaker, and tells it
 * how the call went: a failure to connect, or the dependency lost while
 * streaming, counts as a failure; a connect, prepare or write that worked,
 * as a success. A run that meets an open breaker returns CDC_ERR_RETRY at
 * once without calling; the supervisor waits for the cool-down (see
 * breaker_wait_ms). The checkpoint store's breaker does not stop streaming:
 * while it is open no checkpoint is written and nothing more is confirmed.
 * Each breaker's state is copied to cdc_circuit_state.
 */
#ifndef CDC_PIPELINE_PIPELINE_H
#define CDC_PIPELINE_PIPELINE_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "core/breaker.h"
#include "core/err.h"
#include "core/lsn.h"
#include "http/metrics.h"
#include "sink/nats/jssink.h"

struct pipeline_opts {
    const struct cdc_config *cfg;
    int64_t max_events;          /* stop once this many events are acked; 0: no limit */
    int64_t exit_when_idle_ms;   /* stop after this long without data, all acked; 0: never */
    cdc_lsn stop_at_lsn;         /* stop after the commit reaching this position; 0: never */
    bool accept_slot_position;   /* start from a slot that is ahead of the checkpoint */
    bool *accept_schema_change;  /* --accept-schema-change (schematrack.h); NULL: not given */
    volatile sig_atomic_t *stop; /* set by the signal handler: shut down gracefully */
    struct cdc_metrics *metrics; /* counters for /metrics and /ready; NULL: a private one */
    struct breaker *breakers;    /* METRICS_DEP_N circuit breakers, indexed by enum metrics_dep,
                                    owned by the caller so they outlive a run; NULL: none */
};

struct pipeline_result {
    uint64_t events_published; /* handed to the sink in this run */
    uint64_t events_acked;     /* acknowledged by JetStream in this run */
    bool streamed;             /* reached the streaming state (resets the supervisor's backoff) */
    bool finished;             /* a stop condition was met: do not run again */
};

void pipeline_opts_init(struct pipeline_opts *o);

/*
 * The NATS connection part of so from the configuration: urls, authentication
 * (username/password, token, NKey seed file, .creds file), TLS files, the
 * connection name (nats.cluster_id) and request_timeout. The strings are
 * borrowed from c. Used by the pipeline and by `cdc-handler tail`.
 */
void pipeline_nats_opts(struct jssink_opts *so, const struct cdc_config *c);

cdc_rc pipeline_run(const struct pipeline_opts *o, struct pipeline_result *res,
                    struct cdc_err *err);

#endif
