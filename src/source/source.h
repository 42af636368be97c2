/*
 * source.h - what the pipeline asks of a database source, whatever the
 * engine: connect and decide where to resume (given the checkpoint), then
 * hand over transactions one piece at a time, and accept confirmations of
 * what is durable downstream.
 *
 * Positions are 64-bit and increase along the source's log: a PostgreSQL
 * LSN, or for a binlog (file number << 32 | offset). Each transaction has a
 * key (its commit LSN, or the binlog position where it starts) that is
 * unique and increasing, and an end position from which a restart resumes
 * after it. Event ids are built from the key, so a replay has the same ids.
 *
 * Lifetimes: what src_next() returns points into the source's buffers and
 * is valid until the next src_next(). One thread calls everything.
 */
#ifndef CDC_SOURCE_SOURCE_H
#define CDC_SOURCE_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "checkpoint/ckpt.h"
#include "config/config.h"
#include "core/err.h"
#include "core/lsn.h"
#include "event/event.h"

enum src_kind {
    SRC_NONE = 0, /* nothing arrived before the timeout */
    SRC_BEGIN,    /* a transaction starts: key, commit_time_us */
    SRC_CHANGES,  /* changes of the open transaction */
    SRC_COMMIT,   /* the open transaction ended: end */
    SRC_IDLE,     /* no transaction open and everything before `end` was delivered */
    SRC_SPILLED,  /* data arrived for a transaction not committed yet (kept by the source, e.g.
                     a streamed PostgreSQL transaction spilled to disk): nothing to publish */
};

struct src_out {
    enum src_kind kind;
    cdc_lsn key;            /* BEGIN: the transaction's key */
    int64_t commit_time_us; /* BEGIN: commit time, Unix microseconds (0 if unknown) */
    cdc_lsn end;            /* COMMIT, IDLE: the position to resume from after it */
    const struct cdc_change *changes;
    size_t n_changes;
};

/* Where to start, decided by src_prepare(). */
struct src_start {
    cdc_lsn pos;     /* resume position */
    char note[1024]; /* a line for the log about the decision, "" if none */
    bool warn;       /* log the note as a warning */
};

struct source;

/* A relation was (re)defined by the source: lets the caller mark columns (redaction). */
typedef void (*src_relation_fn)(void *closure, struct cdc_relation *rel);

/* Create the source for cfg->rds.engine. Nothing is connected yet. */
cdc_rc src_create(struct source **out, const struct cdc_config *cfg,
                  struct cdc_err *err) CDC_MUST_CHECK;
void src_destroy(struct source *s);

void src_set_relation_hook(struct source *s, src_relation_fn fn, void *closure);

/*
 * Connect, check the server, and decide where to resume. ckpt is the
 * checkpoint read from the store (NULL when none), ckpt_desc names the store
 * for messages; accept_position is
 * --accept-slot-position. Fills the identity fields of *rec (engine, slot,
 * system id, timeline, binlog file...) for the checkpoints to come.
 * CDC_ERR_FATAL for every refusal (another database system, a source ahead
 * of the checkpoint, a slot or binlog gone), with an actionable message;
 * CDC_ERR_RETRY when the server cannot be reached.
 */
cdc_rc src_prepare(struct source *s, const struct ckpt_record *ckpt, const char *ckpt_desc,
                   bool accept_position, struct ckpt_record *rec, struct src_start *start,
                   struct cdc_err *err) CDC_MUST_CHECK;

/* Start streaming from pos (src_start.pos). */
cdc_rc src_start(struct source *s, cdc_lsn pos, struct cdc_err *err) CDC_MUST_CHECK;

/* The next piece, waiting up to timeout_ms. CDC_ERR_RETRY when the connection is lost. */
cdc_rc src_next(struct source *s, int timeout_ms, struct src_out *out,
                struct cdc_err *err) CDC_MUST_CHECK;

/*
 * Everything before pos is durable downstream (acked and checkpointed): the
 * source may tell the server (PostgreSQL: standby status flush LSN).
 */
void src_confirm(struct source *s, cdc_lsn pos);

/* Fill the engine-specific position fields of rec for rec->lsn (binlog file name, GTID set). */
void src_describe_position(struct source *s, struct ckpt_record *rec);

/* The source's read position (for lag metrics). */
cdc_lsn src_received(struct source *s);

/*
 * How far behind the source's log the reader is, in time: now_us (Unix
 * microseconds) minus the commit time of the last event read, 0 when the
 * server said there is nothing more to read (MySQL/MariaDB: a heartbeat),
 * -1 when the source cannot tell (PostgreSQL). No I/O: cheap, for gauges.
 */
int64_t src_lag_ms(struct source *s, int64_t now_us);

/* What src_health() reports; -1 where the source has no such thing. */
struct src_health {
    int64_t retained_bytes; /* log the server keeps for us (PostgreSQL: slot) */
    int wal_status;         /* PostgreSQL slot: 0 reserved, 1 extended, 2 unreserved, 3 lost */
    int64_t safe_wal_bytes; /* PostgreSQL slot: WAL that can still be written before it is lost
                               (max_slot_wal_keep_size); -1: no such limit, or unknown */
};

/*
 * Ask the server how our position fares (PostgreSQL: the slot's retained WAL
 * and wal_status). CDC_ERR_FATAL when the position is lost for good (slot
 * invalidated), with the recovery steps; CDC_ERR_RETRY when the server cannot
 * say now. Sources without such a thing fill -1 and return CDC_OK.
 */
cdc_rc src_health(struct source *s, struct src_health *out, struct cdc_err *err) CDC_MUST_CHECK;

/*
 * Nothing arrived for cdc.heartbeat_interval: write a heartbeat into the
 * source's log so that its position can advance (PostgreSQL). *lsn (may be
 * NULL) is where it was written, 0 when the source cannot say or wrote none.
 * CDC_OK and nothing done for sources without one.
 */
cdc_rc src_heartbeat(struct source *s, cdc_lsn *lsn, struct cdc_err *err) CDC_MUST_CHECK;

/* Clean end of streaming (after the last confirmation). */
void src_stop(struct source *s);

/* Engine-specific implementation (source.c dispatches). */
struct src_ops {
    cdc_rc (*prepare)(struct source *s, const struct ckpt_record *ckpt, const char *ckpt_desc,
                      bool accept_position, struct ckpt_record *rec, struct src_start *start,
                      struct cdc_err *err);
    cdc_rc (*start)(struct source *s, cdc_lsn pos, struct cdc_err *err);
    cdc_rc (*next)(struct source *s, int timeout_ms, struct src_out *out, struct cdc_err *err);
    void (*confirm)(struct source *s, cdc_lsn pos);
    void (*describe_position)(struct source *s, struct ckpt_record *rec);
    cdc_lsn (*received)(struct source *s);
    cdc_rc (*health)(struct source *s, struct src_health *out, struct cdc_err *err); /* or NULL */
    cdc_rc (*heartbeat)(struct source *s, cdc_lsn *lsn, struct cdc_err *err);        /* or NULL */
    void (*stop)(struct source *s);
    void (*destroy)(struct source *s);
    int64_t (*lag_ms)(struct source *s, int64_t now_us); /* or NULL */
};

struct source {
    const struct src_ops *ops;
    const struct cdc_config *cfg;
    src_relation_fn on_relation;
    void *relation_closure;
    void *impl;
};

struct filter;

/*
 * Compile cfg's cdc.table_filters and cdc.table_excludes (transform/filter.h)
 * for a source's per-relation verdicts; free with filter_destroy().
 * CDC_ERR_CONFIG for a bad pattern (cfg_check() reports those first).
 */
cdc_rc src_filter_create(const struct cdc_config *cfg, struct filter **out,
                         struct cdc_err *err) CDC_MUST_CHECK;

cdc_rc pgsource_init(struct source *s, struct cdc_err *err);
cdc_rc mysource_init(struct source *s, struct cdc_err *err);

#endif
