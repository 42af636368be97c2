/*
 * schemareg.h - the schema registry's storage: a NATS JetStream key-value
 * bucket (default "cdc_schemas"), read and written by key. What the keys and
 * values mean is transform/schema.h's and pipeline/schematrack.c's business.
 *
 * It has its own connection, opened at the first get or put with the
 * daemon's NATS settings (servers, authentication, TLS: jsconn_open), and
 * creates the bucket (file storage, history 5) when it does not exist. A
 * call while NATS cannot be reached fails at once with CDC_ERR_RETRY; a
 * refusal (permissions, authentication) is CDC_ERR_FATAL. Owner thread only.
 */
#ifndef CDC_SINK_NATS_SCHEMAREG_H
#define CDC_SINK_NATS_SCHEMAREG_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"
#include "sink/nats/jssink.h"

#define SCHEMAREG_BUCKET "cdc_schemas"

struct schemareg;

/*
 * A registry on bucket (NULL: SCHEMAREG_BUCKET) reached with the connection
 * part of conn (urls, credentials, TLS, name, request_timeout_ms; copied).
 * Connects nothing yet. CDC_ERR_NOMEM.
 */
cdc_rc schemareg_create(struct schemareg **out, const struct jssink_opts *conn, const char *bucket,
                        struct cdc_err *err) CDC_MUST_CHECK;
void schemareg_destroy(struct schemareg *r);

/* The value of key, appended to val; *found false (val untouched) when there is none. */
cdc_rc schemareg_get(struct schemareg *r, const char *key, struct cdc_buf *val, bool *found,
                     struct cdc_err *err) CDC_MUST_CHECK;

/* Store data[0..len) under key (a new revision). */
cdc_rc schemareg_put(struct schemareg *r, const char *key, const char *data, size_t len,
                     struct cdc_err *err) CDC_MUST_CHECK;

#endif
