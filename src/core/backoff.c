/*
 * backoff.c - full-jitter exponential backoff; see backoff.h.
 */
#include "core/backoff.h"

void
backoff_init(struct backoff *b, int64_t base_ms, int64_t cap_ms, uint64_t seed)
{
    b->base_ms = base_ms > 0 ? base_ms : 1;
    b->cap_ms = cap_ms >= b->base_ms ? cap_ms : b->base_ms;
    b->attempt = 0;
    b->rng = seed ? seed : 0x9E3779B97F4A7C15ull;
}

int64_t
backoff_ceiling_ms(const struct backoff *b)
{
    int64_t c = b->base_ms;

    for (unsigned i = 0; i < b->attempt && c < b->cap_ms; i++)
        c *= 2;
    return c < b->cap_ms ? c : b->cap_ms;
}

static uint64_t
xorshift64(uint64_t *s)
{
    uint64_t x = *s;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

int64_t
backoff_next_ms(struct backoff *b)
{
    int64_t ceil = backoff_ceiling_ms(b);

    if (b->attempt < 64)
        b->attempt++;
    return (int64_t) (xorshift64(&b->rng) % (uint64_t) (ceil + 1));
}

void
backoff_reset(struct backoff *b)
{
    b->attempt = 0;
}
