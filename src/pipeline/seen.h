/*
 * seen.h - the events a previous run already put in the stream past the
 * checkpoint, found by reading the stream back at start (reconciliation).
 *
 * The pipeline replays from the checkpoint; an event whose (commit LSN,
 * sequence in transaction) is in the set is not published again. This is
 * what keeps exactly-once when the stream's duplicate window has passed
 * since those events were stored. The set is exact, not a high-water mark:
 * a resent event may sit in the stream after later ones, and one missing
 * from the stream must still be published.
 *
 * Not thread-safe: the reader thread fills and queries it.
 */
#ifndef CDC_PIPELINE_SEEN_H
#define CDC_PIPELINE_SEEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/lsn.h"

struct seen {
    uint64_t *keys; /* pairs (commit_lsn, seq + 1); seq + 1 == 0 marks a free slot */
    size_t cap;     /* slots, a power of two, 0 when empty */
    size_t n;
    cdc_lsn max_commit; /* the highest commit LSN in the set */
};

void seen_init(struct seen *s);
void seen_free(struct seen *s);
/* Add one event; adding it twice is harmless. CDC_ERR_NOMEM. */
cdc_rc seen_add(struct seen *s, cdc_lsn commit_lsn, uint32_t seq, struct cdc_err *err);
bool seen_has(const struct seen *s, cdc_lsn commit_lsn, uint32_t seq);

#endif
