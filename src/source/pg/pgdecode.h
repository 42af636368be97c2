/*
 * pgdecode.h - turns a stream of pgoutput (protocol version 1) messages into
 * struct cdc_change values: the stateful layer over the pure decoder
 * (pgoutput.c) and the relation cache (relcache.c).
 *
 * It tracks the current transaction (Begin .. Commit) and stamps every change
 * with the transaction's xid, commit LSN, commit time and a per-transaction
 * sequence number. Row images are built in value arrays that pgd owns and
 * reuses (they only grow), whose values point into the message buffer: no
 * allocation per row once warmed up.
 *
 * Lifetimes: everything a struct pgd_out points to (changes, their tuples and
 * values, relation, message prefix and content) is valid until the next
 * pgd_feed() or pgd_destroy(), and only while the caller's msg buffer is.
 * Not thread-safe: one owner (the pipeline's source thread).
 */
#ifndef CDC_SOURCE_PG_PGDECODE_H
#define CDC_SOURCE_PG_PGDECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/lsn.h"
#include "event/event.h"

struct pgd; /* opaque */

/* Create a decoder with an empty relation cache, outside any transaction. */
cdc_rc pgd_create(struct pgd **out, struct cdc_err *err) CDC_MUST_CHECK;

/* Free the decoder and its relation cache. NULL is fine. */
void pgd_destroy(struct pgd *d);

/*
 * Called (on the caller's thread, inside pgd_feed) each time a Relation
 * message (re)defines a relation, so the caller can set per-column flags such
 * as cdc_column.omit. The relation stays valid until it is redefined or the
 * decoder is destroyed.
 */
typedef void (*pgd_relation_hook)(void *closure, struct cdc_relation *rel);
void pgd_set_relation_hook(struct pgd *d, pgd_relation_hook fn, void *closure);

/*
 * The prefix of the logical decoding messages that `cdc-handler setup-ddl`'s
 * event trigger writes (pg_logical_emit_message(true, PGD_DDL_PREFIX, json)).
 * Such a message inside a transaction becomes one CDC_OP_DDL change (rel
 * NULL, ddl = the JSON's "command" member, or the whole content when that
 * cannot be read), numbered in the transaction like any change. Other
 * messages (the heartbeat's) are PGD_MESSAGE.
 */
#define PGD_DDL_PREFIX "cdc_handler.ddl"

enum pgd_kind {
    PGD_NONE = 0, /* Relation, Type, Origin: nothing for the caller */
    PGD_BEGIN,
    PGD_COMMIT,
    PGD_CHANGES,
    PGD_MESSAGE,
};

struct pgd_out {
    enum pgd_kind kind;
    cdc_lsn commit_lsn;     /* BEGIN: final_lsn of the transaction; COMMIT: commit_lsn */
    cdc_lsn end_lsn;        /* COMMIT: end_lsn (position just past the commit record) */
    uint32_t xid;           /* BEGIN */
    int64_t commit_time_us; /* BEGIN: commit time, microseconds since the Unix epoch (UTC) */
    const struct cdc_change
        *changes; /* PGD_CHANGES: array owned by pgd, valid until next pgd_feed */
    size_t n_changes;
    const char *msg_prefix; /* PGD_MESSAGE: NUL-terminated, points into msg */
    const uint8_t *msg_content;
    size_t msg_len;
    bool msg_transactional;
};

/*
 * Decode one pgoutput message (the XLogData payload) that starts at WAL
 * position wal_start, and describe what it means in *out (zeroed first).
 * Insert, Update and Delete give one change, Truncate one change per relation.
 *
 * Returns CDC_ERR_PROTO (err->msg says which message, where and why) for a
 * malformed message, a change or Commit outside Begin/Commit, a Commit whose
 * LSN differs from its Begin's, a change for a relation no Relation message
 * described, or a tuple whose column count differs from its relation's;
 * CDC_ERR_NOMEM if growing a buffer fails. The decoder stays usable after an
 * error, but the caller normally reconnects and starts again (a new Begin
 * always starts a fresh transaction).
 */
cdc_rc pgd_feed(struct pgd *d, const uint8_t *msg, size_t len, cdc_lsn wal_start,
                struct pgd_out *out, struct cdc_err *err) CDC_MUST_CHECK;

/*
 * Replaying a streamed transaction (protocol version 2; see pgstream.h) as
 * one ordinary transaction once it committed:
 * pgd_stream_begin() stands for its Begin (out: PGD_BEGIN, as for a Begin
 * message with final_lsn commit_lsn), then pgd_feed_streamed() takes each
 * message that was received inside its stream blocks (Relation, Type,
 * Insert, Update, Delete, Truncate, Message, each with its xid after the type
 * byte), numbering the changes as pgd_feed() would have numbered them in the
 * same transaction sent whole; pgd_stream_commit() stands for its Commit
 * (out: PGD_COMMIT with commit_lsn and end_lsn). Codes, lifetimes and thread
 * as pgd_feed(); the changes carry the top-level xid.
 */
void pgd_stream_begin(struct pgd *d, uint32_t xid, cdc_lsn commit_lsn, int64_t commit_time_us,
                      struct pgd_out *out);
cdc_rc pgd_feed_streamed(struct pgd *d, const uint8_t *msg, size_t len, cdc_lsn wal_start,
                         struct pgd_out *out, struct cdc_err *err) CDC_MUST_CHECK;
cdc_rc pgd_stream_commit(struct pgd *d, cdc_lsn commit_lsn, cdc_lsn end_lsn, struct pgd_out *out,
                         struct cdc_err *err) CDC_MUST_CHECK;

#endif
