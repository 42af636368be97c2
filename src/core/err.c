/*
 * err.c - filling struct cdc_err. No logging here: see err.h.
 */
#include "core/err.h"

#include <stdio.h>
#include <string.h>

cdc_rc
cdc_err_set(struct cdc_err *err, cdc_rc code, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return code;
    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return code;
}

cdc_rc
cdc_err_prefix(struct cdc_err *err, const char *fmt, ...)
{
    char prefix[CDC_ERR_MSG_MAX];
    char old[CDC_ERR_MSG_MAX];
    va_list ap;

    if (err == NULL)
        return CDC_OK;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof(old));
    /* truncation is acceptable: the message is for people */
    if (snprintf(err->msg, sizeof(err->msg), "%.*s: %.*s", 200, prefix, CDC_ERR_MSG_MAX - 210,
                 old) < 0)
        err->msg[0] = '\0';
    return err->code;
}

void
cdc_err_clear(struct cdc_err *err)
{
    if (err == NULL)
        return;
    err->code = CDC_OK;
    err->msg[0] = '\0';
}

const char *
cdc_rc_name(cdc_rc rc)
{
    switch (rc) {
    case CDC_OK:
        return "ok";
    case CDC_ERR_NOMEM:
        return "nomem";
    case CDC_ERR_IO:
        return "io";
    case CDC_ERR_PROTO:
        return "proto";
    case CDC_ERR_CONFIG:
        return "config";
    case CDC_ERR_TIMEOUT:
        return "timeout";
    case CDC_ERR_CLOSED:
        return "closed";
    case CDC_ERR_RETRY:
        return "retry";
    case CDC_ERR_FATAL:
        return "fatal";
    case CDC_ERR_LOST:
        return "lost";
    }
    return "unknown";
}
