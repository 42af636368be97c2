/*
 * window.c - the adaptive in-flight window; see window.h.
 */
#include "core/window.h"

void
window_init(struct window *w, uint32_t max, int64_t timeout_ms)
{
    w->max = max > 0 ? max : 1;
    w->min = w->max < WINDOW_MIN ? w->max : WINDOW_MIN;
    w->cur = w->min;
    w->low_us = timeout_ms > 0 ? timeout_ms * 10 : 1000;    /* timeout / 100, in µs */
    w->high_us = timeout_ms > 0 ? timeout_ms * 100 : 10000; /* timeout / 10, in µs */
    w->n = 0;
    w->sum_us = 0;
}

uint32_t
window_ack(struct window *w, int64_t lat_us)
{
    int64_t avg;

    w->n++;
    w->sum_us += lat_us > 0 ? lat_us : 0;
    if (w->n < w->cur)
        return w->cur;
    avg = w->sum_us / w->n;
    if (avg < w->low_us)
        w->cur = w->cur > w->max / 2 ? w->max : w->cur * 2;
    else if (avg > w->high_us)
        w->cur = w->cur / 2 < w->min ? w->min : w->cur / 2;
    w->n = 0;
    w->sum_us = 0;
    return w->cur;
}

void
window_fail(struct window *w)
{
    w->cur = w->min;
    w->n = 0;
    w->sum_us = 0;
}
