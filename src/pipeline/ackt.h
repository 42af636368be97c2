/*
 * ackt.h - the ack tracker: which source position is safe to checkpoint.
 *
 * Transactions are registered in commit order by the reader thread
 * (ackt_begin, ackt_sent per published event, ackt_commit). Acks arrive on
 * the publisher's library thread in any order (ackt_ack). A transaction's end
 * position becomes safe only when it is committed, every event of it is
 * acked, and every earlier transaction is safe too: the safe position never
 * advances past a gap.
 *
 * Thread-safety: all functions may be called from any thread; a mutex guards
 * the state. ackt_ack does O(log n) work under the lock and nothing else.
 */
#ifndef CDC_PIPELINE_ACKT_H
#define CDC_PIPELINE_ACKT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "core/lsn.h"

struct ackt;

/* Create a tracker whose safe position starts at `start` (the resume position). */
cdc_rc ackt_create(struct ackt **out, cdc_lsn start, struct cdc_err *err);
void ackt_destroy(struct ackt *t);

/*
 * Forget every open or unacked transaction and restart at `start`; acks that
 * arrive later for forgotten transactions are ignored (their replays are
 * deduplicated by the broker). Used when the source reconnects.
 */
void ackt_reset(struct ackt *t, cdc_lsn start);

/*
 * A transaction whose commit record is at commit_lsn starts. floor: the
 * highest stream sequence acknowledged so far (0 if none); every event of
 * this transaction, published from now on, will be stored above it.
 */
cdc_rc ackt_begin(struct ackt *t, cdc_lsn commit_lsn, uint64_t floor, int64_t commit_time_us,
                  struct cdc_err *err);
/* One more event of the open transaction was handed to the publisher. */
void ackt_sent(struct ackt *t);
/* The open transaction committed; end_lsn is the position just past its commit record. */
void ackt_commit(struct ackt *t, cdc_lsn end_lsn);
/*
 * An event of the transaction committing at commit_lsn was acknowledged.
 * Returns false if unknown; else, when commit_time_us is not NULL, sets it to
 * the commit time given to ackt_begin.
 */
bool ackt_ack(struct ackt *t, cdc_lsn commit_lsn, int64_t *commit_time_us);

/*
 * With no transaction open or unacked, the source may report a position past
 * the last commit (a keepalive on an idle database): everything before it
 * has been delivered, so it becomes safe. Ignored when anything is pending.
 */
void ackt_idle_advance(struct ackt *t, cdc_lsn lsn);

/* The highest safe position. */
cdc_lsn ackt_safe(struct ackt *t);
/*
 * The safe position and, read together with it, a stream sequence below
 * every event past it: the floor of the oldest tracked transaction, or
 * floor_now (the highest acked sequence, read by the caller just before)
 * when none is tracked. A restart reads the stream from *floor + 1 to find
 * events published after the checkpoint (reconciliation).
 */
void ackt_position(struct ackt *t, uint64_t floor_now, cdc_lsn *safe, uint64_t *floor);
/* Events sent but not yet acked, across all tracked transactions. */
uint64_t ackt_unacked(struct ackt *t);

#endif
