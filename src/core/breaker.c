/*
 * breaker.c - the circuit breaker's state machine; see breaker.h.
 *
 * Only consecutive failures count (not a failure rate over a window): our
 * dependencies are few, calls to them are rare (connects, checkpoint ticks),
 * and a success in between means the dependency works.
 */
#include "core/breaker.h"

#include <limits.h>

void
breaker_init(struct breaker *b, unsigned threshold, int64_t cooldown_ms)
{
    b->state = BREAKER_CLOSED;
    b->threshold = threshold;
    b->cooldown_ms = cooldown_ms > 0 ? cooldown_ms : 0;
    b->failures = 0;
    b->opened_ms = 0;
    b->opened = 0;
}

bool
breaker_allow(struct breaker *b, int64_t now_ms)
{
    switch (b->state) {
    case BREAKER_CLOSED:
        return true;
    case BREAKER_OPEN:
        if (now_ms - b->opened_ms < b->cooldown_ms)
            return false;
        b->state = BREAKER_HALF_OPEN;
        return true;
    default:
        return false;
    }
}

void
breaker_success(struct breaker *b)
{
    b->state = BREAKER_CLOSED;
    b->failures = 0;
}

static void
breaker_open(struct breaker *b, int64_t now_ms)
{
    b->state = BREAKER_OPEN;
    b->opened_ms = now_ms;
    b->opened++;
}

bool
breaker_failure(struct breaker *b, int64_t now_ms)
{
    if (b->failures < UINT_MAX)
        b->failures++;
    switch (b->state) {
    case BREAKER_CLOSED:
        if (b->threshold == 0 || b->failures < b->threshold)
            return false;
        breaker_open(b, now_ms);
        return true;
    case BREAKER_HALF_OPEN:
        breaker_open(b, now_ms);
        return true;
    default:
        return false;
    }
}

int64_t
breaker_wait_ms(const struct breaker *b, int64_t now_ms)
{
    int64_t left;

    switch (b->state) {
    case BREAKER_OPEN:
        left = b->opened_ms + b->cooldown_ms - now_ms;
        return left > 0 ? left : 0;
    case BREAKER_HALF_OPEN:
        return b->cooldown_ms;
    default:
        return 0;
    }
}

const char *
breaker_state_name(enum breaker_state s)
{
    switch (s) {
    case BREAKER_CLOSED:
        return "closed";
    case BREAKER_OPEN:
        return "open";
    case BREAKER_HALF_OPEN:
        return "half-open";
    }
    return "unknown";
}
