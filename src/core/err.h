/*
 * err.h - return codes and the error record every fallible function fills.
 *
 * A function that can fail returns a cdc_rc and takes a `struct cdc_err *err`
 * as its last argument. Lower layers fill err and return; they never log the
 * failure and never exit. The supervisor in main.c decides what to do.
 */
#ifndef CDC_CORE_ERR_H
#define CDC_CORE_ERR_H

#include <stdarg.h>

typedef enum cdc_rc {
    CDC_OK = 0,
    CDC_ERR_NOMEM,   /* allocation failed */
    CDC_ERR_IO,      /* a system call failed */
    CDC_ERR_PROTO,   /* malformed or unexpected protocol data */
    CDC_ERR_CONFIG,  /* invalid configuration */
    CDC_ERR_TIMEOUT, /* a deadline passed */
    CDC_ERR_CLOSED,  /* the peer closed the connection or stream */
    CDC_ERR_RETRY,   /* transient: back off and retry, or reconnect */
    CDC_ERR_FATAL,   /* permanent: retrying cannot help (a refusal, ...) */
    CDC_ERR_LOST     /* the source no longer holds changes we need (a lost slot, purged binlogs):
                        only an operator can decide what next */
} cdc_rc;

#define CDC_ERR_MSG_MAX 512

struct cdc_err {
    cdc_rc code;               /* the code last set, CDC_OK when clear */
    char msg[CDC_ERR_MSG_MAX]; /* human-readable reason, PG error style */
};

#define CDC_MUST_CHECK __attribute__((warn_unused_result))

/*
 * Record an error and return its code, so callers can write
 * `return cdc_err_set(err, CDC_ERR_IO, "could not open \"%s\": %s", p, strerror(errno));`.
 * err may be NULL, in which case only the code is returned.
 */
cdc_rc cdc_err_set(struct cdc_err *err, cdc_rc code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefix the message already in err with more context: "ctx: old message". */
cdc_rc cdc_err_prefix(struct cdc_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Reset err to CDC_OK with an empty message. err may be NULL. */
void cdc_err_clear(struct cdc_err *err);

/* A short lower-case name for a code ("io", "proto", ...), for logs and metrics. */
const char *cdc_rc_name(cdc_rc rc);

#endif
