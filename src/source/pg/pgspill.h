/*
 * pgspill.h - the spill file of one streamed (in-progress) PostgreSQL
 * transaction: the raw pgoutput messages the server sent for it inside its
 * stream blocks, kept on disk until its Stream Commit (read back in order,
 * once) or its Stream Abort (thrown away), and cut back when one of its
 * subtransactions aborts.
 *
 * The file is created with mkostemp() in the spill directory under the name
 * "cdc-handler-spill.<tag>.XXXXXX" and unlinked at once: it lives only as long
 * as its descriptor, so nothing is left behind by a crash, a kill -9 or a
 * reconnect (pgspill_sweep() removes files of that name that a crash between
 * the two calls could leave). Memory per transaction is two 64 KiB buffers
 * (write, read) plus the largest single message, whatever the number of rows
 * or subtransactions: the subtransaction stack used by pgspill_abort_sub() is
 * kept in the file itself (see pgspill.c).
 *
 * It knows records and offsets, not pgoutput: the caller says which
 * subtransaction each message belongs to. Not thread-safe: one owner (the
 * source's thread). Nothing here logs or exits.
 */
#ifndef CDC_SOURCE_PG_PGSPILL_H
#define CDC_SOURCE_PG_PGSPILL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/lsn.h"

#define PGSPILL_PREFIX "cdc-handler-spill." /* file names: PGSPILL_PREFIX "<tag>.XXXXXX" */

struct pgspill; /* opaque */

/*
 * Create the spill file of top-level transaction xid in directory dir (NULL
 * or "": $TMPDIR, else /tmp); tag (the slot name) goes into the file name.
 * max_bytes > 0 limits the file's size (pgspill_append() then fails with
 * CDC_ERR_FATAL); 0: no limit. CDC_ERR_IO when the file cannot be created,
 * CDC_ERR_NOMEM. *out is written only on success.
 */
cdc_rc pgspill_create(struct pgspill **out, const char *dir, const char *tag, uint32_t xid,
                      uint64_t max_bytes, struct cdc_err *err) CDC_MUST_CHECK;

/* Close (and so delete) the file and free s. NULL is fine. */
void pgspill_destroy(struct pgspill *s);

/* The top-level transaction's xid, the bytes in the file (headers included). */
uint32_t pgspill_xid(const struct pgspill *s);
uint64_t pgspill_bytes(const struct pgspill *s);

/*
 * Append one message of subtransaction subxid (the top-level xid for its own
 * changes) that started at WAL position lsn; msg is copied. CDC_ERR_FATAL when
 * the file would outgrow max_bytes (the message says which setting to raise),
 * CDC_ERR_IO when writing fails (disk full), CDC_ERR_NOMEM. Not after
 * pgspill_rewind().
 */
cdc_rc pgspill_append(struct pgspill *s, uint32_t subxid, cdc_lsn lsn, const uint8_t *msg,
                      size_t len, struct cdc_err *err) CDC_MUST_CHECK;

/*
 * Append a message that no abort of a subtransaction may drop (a Relation
 * message: the server sends each relation's once per streamed transaction,
 * whichever subtransaction needed it first). Codes as pgspill_append().
 */
cdc_rc pgspill_append_kept(struct pgspill *s, cdc_lsn lsn, const uint8_t *msg, size_t len,
                           struct cdc_err *err) CDC_MUST_CHECK;

/*
 * Subtransaction subxid aborted: drop every message from its first one on.
 * Within one top-level transaction the messages are in WAL order, and a
 * subtransaction and its children write nothing after its abort, so what
 * follows its first message is its own work or its children's, all aborted.
 * *found is false when no message of subxid is in the file (it wrote nothing
 * that was kept, or an abort of one of its parents already dropped it).
 * CDC_ERR_IO when the file cannot be read or cut.
 */
cdc_rc pgspill_abort_sub(struct pgspill *s, uint32_t subxid, bool *found,
                         struct cdc_err *err) CDC_MUST_CHECK;

/* Finish writing and start reading from the first message. CDC_ERR_IO. */
cdc_rc pgspill_rewind(struct pgspill *s, struct cdc_err *err) CDC_MUST_CHECK;

/* One message read back by pgspill_next(). */
struct pgspill_rec {
    const uint8_t *msg; /* the message: valid until the next pgspill_next() or pgspill_destroy() */
    size_t len;
    uint32_t subxid;
    cdc_lsn lsn;
};

/*
 * The next message after pgspill_rewind(), in append order; *end when there
 * is none left. CDC_ERR_IO, CDC_ERR_NOMEM, CDC_ERR_PROTO for a damaged file.
 */
cdc_rc pgspill_next(struct pgspill *s, struct pgspill_rec *rec, bool *end,
                    struct cdc_err *err) CDC_MUST_CHECK;

/*
 * Remove files named PGSPILL_PREFIX "<tag>." in dir (NULL or "": as
 * pgspill_create) left by an earlier process; *removed counts them (may be
 * NULL). CDC_ERR_IO when the directory cannot be read (the caller may ignore
 * it: pgspill_create() then says what is wrong with the directory).
 */
cdc_rc pgspill_sweep(const char *dir, const char *tag, int *removed, struct cdc_err *err);

#endif
