/*
 * breaker.h - a circuit breaker for one dependency (the source, NATS, the
 * checkpoint store): after `threshold` failures in a row it opens, and calls
 * to the dependency stop; after `cooldown_ms` it lets exactly one call through
 * (half-open, the probe); the probe's success closes it, its failure opens it
 * again for another cool-down.
 *
 *           failure (count < threshold)
 *            +----+
 *            v    |        threshold-th failure in a row
 *          CLOSED ---------------------------------------> OPEN
 *            ^                                             |  ^
 *            |  probe succeeds                cool-down    |  | probe fails
 *            +------------------ HALF_OPEN <---------------+  |
 *                                    |     (breaker_allow)    |
 *                                    +------------------------+
 *
 * Pure: no clock, no I/O, no locks. Time is passed in (CLOCK_MONOTONIC
 * milliseconds, cdc_now_ms()), so tests drive it by hand. One thread owns a
 * breaker (the supervisor's: main.c and the pipeline it runs); others see its
 * state through the cdc_circuit_state gauge.
 */
#ifndef CDC_CORE_BREAKER_H
#define CDC_CORE_BREAKER_H

#include <stdbool.h>
#include <stdint.h>

/* The values of the cdc_circuit_state gauge. */
enum breaker_state { BREAKER_CLOSED = 0, BREAKER_OPEN = 1, BREAKER_HALF_OPEN = 2 };

struct breaker {
    enum breaker_state state;
    unsigned threshold;  /* failures in a row that open it; 0: never opens */
    int64_t cooldown_ms; /* how long it stays open before the probe */
    unsigned failures;   /* failures in a row, reset by a success */
    int64_t opened_ms;   /* when it last opened */
    uint64_t opened;     /* times it has opened (closed -> open or half-open -> open) */
};

/* Closed, no failures. threshold 0 disables the breaker (it counts, but never opens). */
void breaker_init(struct breaker *b, unsigned threshold, int64_t cooldown_ms);

/*
 * May the dependency be called now? Closed: yes. Open: no, until the
 * cool-down has passed since it opened; then it turns half-open and says yes
 * once (the probe). Half-open: no (the probe is out; report its outcome with
 * breaker_success() or breaker_failure()).
 */
bool breaker_allow(struct breaker *b, int64_t now_ms);

/* The call succeeded: closed, failure count reset. */
void breaker_success(struct breaker *b);

/*
 * The call failed. Closed: count it, and open at the threshold-th failure in
 * a row. Half-open (the probe failed): open again, for a new cool-down.
 * Open: count it only (a call made without asking breaker_allow()).
 * Returns true when this failure opened the breaker.
 */
bool breaker_failure(struct breaker *b, int64_t now_ms);

/*
 * Milliseconds until breaker_allow() says yes: 0 when closed or when the
 * cool-down has passed, the rest of the cool-down when open, and the whole
 * cool-down when half-open (the probe is out; its outcome decides).
 */
int64_t breaker_wait_ms(const struct breaker *b, int64_t now_ms);

/* "closed", "open", "half-open". */
const char *breaker_state_name(enum breaker_state s);

#endif
