/*
 * window.h - the adaptive in-flight window of the publisher (cdc.batch_size,
 * cdc.batch_timeout).
 *
 * How many publishes may wait for their acks at once. It starts small, and
 * grows while acks come back fast: after each round (as many acks as the
 * window holds) it doubles when the round's average publish -> ack latency
 * was under `low`, halves when it was over `high`, else stays. A failure
 * (an ack timed out or failed, the connection lost) sends it back to its
 * smallest size, so that after a leader failover the resends do not go out
 * as a storm, and it grows again as the acks show the server keeps up.
 * Pure: the caller measures the latency and enforces the window.
 */
#ifndef CDC_CORE_WINDOW_H
#define CDC_CORE_WINDOW_H

#include <stdint.h>

#define WINDOW_MIN 16 /* the smallest window, unless the largest is smaller */

struct window {
    uint32_t min, max, cur; /* cur: the window now, in [min, max] */
    int64_t low_us;         /* grow after a round faster than this on average */
    int64_t high_us;        /* shrink after a round slower than this on average */
    uint32_t n;             /* acks in the current round */
    int64_t sum_us;         /* their latencies */
};

/*
 * max: the largest window (cdc.batch_size, >= 1). timeout_ms: how long an ack
 * may take before the publish is resent (cdc.batch_timeout): a round counts as
 * fast under a hundredth of it, as slow over a tenth.
 */
void window_init(struct window *w, uint32_t max, int64_t timeout_ms);
/* One ack came back lat_us after its publish. Returns the window now. */
uint32_t window_ack(struct window *w, int64_t lat_us);
/* A failure: back to the smallest window. */
void window_fail(struct window *w);

#endif
