/*
 * pgstream.h - streamed transactions of pgoutput protocol version 2
 * (PostgreSQL 14+, `streaming 'on'`): the server sends a transaction larger
 * than logical_decoding_work_mem while it is still running, in chunks
 * (Stream Start xid .. Stream Stop), chunks of several transactions
 * interleaved with each other and with whole (Begin .. Commit) transactions,
 * and then a Stream Commit or a Stream Abort for it.
 *
 * Nothing of such a transaction may be published before it commits: it may
 * still abort, and our event ids are built from its commit LSN. So every
 * message of a chunk goes to the transaction's spill file (pgspill.h),
 * Stream Abort drops the file or the aborted subtransaction's part of it,
 * and Stream Commit hands the file back for replay as one ordinary
 * transaction (pgd_stream_begin / pgd_feed_streamed / pgd_stream_commit).
 * Relation messages of a chunk are spilled too, and only applied at replay:
 * they describe the relation as that transaction sees it (its own DDL),
 * which other transactions must not see before it commits.
 *
 * Memory: one spill per open streamed transaction (pgspill.h: two 64 KiB
 * buffers each), whatever their size. Not thread-safe: one owner (the
 * source's thread); nothing here logs or exits.
 */
#ifndef CDC_SOURCE_PG_PGSTREAM_H
#define CDC_SOURCE_PG_PGSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/lsn.h"
#include "source/pg/pgspill.h"

struct pgstream; /* opaque */

struct pgstream_opts {
    const char *dir;    /* spill directory; NULL or "": $TMPDIR, else /tmp */
    const char *tag;    /* in the spill files' names (the slot name) */
    uint64_t max_bytes; /* per transaction; 0: no limit */
};

enum pgstream_kind {
    PGSTREAM_OTHER = 0, /* not part of a streamed transaction: the caller decodes it (pgd_feed) */
    PGSTREAM_KEPT,      /* taken: spilled, a stream block opened or closed, or an abort applied */
    PGSTREAM_COMMIT,    /* Stream Commit: replay it now with pgstream_replay_next() */
};

struct pgstream_out {
    enum pgstream_kind kind;
    uint32_t xid;           /* COMMIT: the top-level transaction */
    cdc_lsn commit_lsn;     /* COMMIT: its commit record */
    cdc_lsn end_lsn;        /* COMMIT: the end of its commit record */
    int64_t commit_time_us; /* COMMIT: Unix microseconds */
};

/* Create the state, with no transaction open. CDC_ERR_NOMEM. */
cdc_rc pgstream_create(struct pgstream **out, const struct pgstream_opts *o,
                       struct cdc_err *err) CDC_MUST_CHECK;

/* Drop every open transaction (their files go with them) and free st. NULL is fine. */
void pgstream_destroy(struct pgstream *st);

/*
 * One pgoutput message (an XLogData payload starting at WAL position
 * wal_start), borrowed for the call. Decides whether it belongs to streaming
 * and, if so, applies it (see pgstream_kind). Not while a replay is under
 * way. CDC_ERR_PROTO for a malformed message or one out of place (a chunk
 * inside a chunk, a Stream Stop outside one, a later chunk or a Stream Commit
 * of a transaction this session never saw start); CDC_ERR_FATAL when a
 * transaction outgrows max_bytes; CDC_ERR_IO for the spill file (disk full);
 * CDC_ERR_NOMEM.
 */
cdc_rc pgstream_feed(struct pgstream *st, const uint8_t *msg, size_t len, cdc_lsn wal_start,
                     struct pgstream_out *out, struct cdc_err *err) CDC_MUST_CHECK;

/* A replay (after PGSTREAM_COMMIT) is under way. */
bool pgstream_replaying(const struct pgstream *st);

/*
 * The next message of the committed transaction being replayed, in the order
 * the server sent them, without the aborted subtransactions' messages (see
 * pgspill_next() for the record and its lifetime); *end when none is left, and
 * then the transaction's file is gone. Codes as pgspill_next().
 */
cdc_rc pgstream_replay_next(struct pgstream *st, struct pgspill_rec *rec, bool *end,
                            struct cdc_err *err) CDC_MUST_CHECK;

/* Streamed transactions open (begun, neither committed nor aborted), and their spilled bytes. */
size_t pgstream_open(const struct pgstream *st);
uint64_t pgstream_spilled_bytes(const struct pgstream *st);

#endif
