/*
 * clock.h - the two clocks the daemon uses: a monotonic one for timeouts and
 * intervals, and the wall clock for timestamps written to records.
 */
#ifndef CDC_CORE_CLOCK_H
#define CDC_CORE_CLOCK_H

#include <stdint.h>

/* Milliseconds of CLOCK_MONOTONIC: for deadlines, intervals, ages. Any thread. */
int64_t cdc_now_ms(void);
/* Microseconds of CLOCK_MONOTONIC: for short durations (latencies). Any thread. */
int64_t cdc_mono_us(void);
/* Microseconds since the Unix epoch (CLOCK_REALTIME): for timestamps. Any thread. */
int64_t cdc_wall_us(void);

#endif
