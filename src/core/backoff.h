/*
 * backoff.h - exponential backoff with full jitter (the design's 1 s, 2 s, 4 s, 8 s).
 *
 * Attempt n waits a uniformly random time in [0, min(cap, base * 2^n)], so that
 * many daemons restarting together do not retry in lockstep. Pure apart from
 * the random source, which the caller passes in so tests are deterministic.
 */
#ifndef CDC_CORE_BACKOFF_H
#define CDC_CORE_BACKOFF_H

#include <stdint.h>

struct backoff {
    int64_t base_ms;  /* first ceiling */
    int64_t cap_ms;   /* largest ceiling */
    unsigned attempt; /* failures since the last success */
    uint64_t rng;     /* xorshift state, never 0 */
};

void backoff_init(struct backoff *b, int64_t base_ms, int64_t cap_ms, uint64_t seed);
/* The ceiling for the current attempt: min(cap, base * 2^attempt). */
int64_t backoff_ceiling_ms(const struct backoff *b);
/* Delay to wait before the next attempt, then count the attempt. */
int64_t backoff_next_ms(struct backoff *b);
/* A success: start again from base. */
void backoff_reset(struct backoff *b);

#endif
