/*
 * procstat.h - the process_* figures Prometheus clients export, read from
 * /proc/self (Linux only) at scrape time.
 *
 * Not for the hot path: each call opens and reads a few files and lists
 * /proc/self/fd.
 */
#ifndef CDC_HTTP_PROCSTAT_H
#define CDC_HTTP_PROCSTAT_H

#include <stdint.h>

#include "core/err.h"

struct procstat {
    double cpu_seconds;   /* user + system CPU time */
    double start_time;    /* process start, seconds since the Unix epoch */
    uint64_t rss_bytes;   /* resident set size */
    uint64_t vsize_bytes; /* virtual memory size */
    int64_t open_fds;     /* entries in /proc/self/fd */
    int64_t max_fds;      /* RLIMIT_NOFILE soft limit, -1 if unlimited */
};

/*
 * Fill ps from /proc/self/stat, /proc/stat (boot time) and /proc/self/fd.
 * Returns CDC_OK, or CDC_ERR_IO / CDC_ERR_PROTO with err filled (ps is then
 * unspecified). Any thread.
 */
cdc_rc procstat_read(struct procstat *ps, struct cdc_err *err);

/*
 * The resident set size alone, from /proc/self/statm (one small read: cheap
 * enough for every /ready request). CDC_ERR_IO / CDC_ERR_PROTO with err
 * filled. Any thread.
 */
cdc_rc procstat_rss_bytes(uint64_t *out, struct cdc_err *err);

#endif
