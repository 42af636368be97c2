/*
 * jsobj.h - put one object into a NATS Object Store bucket (libnats 3.4 has
 * no Object Store API; this writes its documented layout over JetStream).
 *
 * The layout is the one the NATS clients and the `nats object` CLI read
 * (ADR-20): bucket B is stream OBJ_B with subjects $O.B.C.> (chunks) and
 * $O.B.M.> (metadata), discard new, rollups allowed. An object is its chunks
 * on $O.B.C.<nuid>, then one JSON ObjectInfo on $O.B.M.<base64url(name)>
 * with header Nats-Rollup: sub, which names the nuid, the size, the chunk
 * count and the digest "SHA-256=<base64url of the SHA-256 of the data>".
 *
 * Used for claim checks: an event too large for a NATS message is stored
 * here and a small event pointing at it is published instead.
 * Knows libnats and JetStream; nothing of events or SQL.
 */
#ifndef CDC_SINK_NATS_JSOBJ_H
#define CDC_SINK_NATS_JSOBJ_H

#include <stddef.h>
#include <stdint.h>

#include <nats/nats.h>

#include "core/err.h"

#define JSOBJ_CHUNK (128 * 1024) /* chunk size, as the NATS clients use */

/* Where an object was put. */
struct jsobj_ref {
    char nuid[32];   /* its chunks' subject token */
    char digest[64]; /* "SHA-256=" + base64url */
    uint64_t size;
    uint32_t chunks;
};

/*
 * Store data[0..len) as object `name` of bucket (created when missing, file
 * storage, `replicas`), with synchronous publishes (each waits for its ack,
 * up to timeout_ms). When an object of that name with the same digest
 * exists already (a replay), nothing is written. CDC_ERR_RETRY when the
 * server does not answer, CDC_ERR_IO when it refuses (bucket full, limits).
 */
cdc_rc jsobj_put(jsCtx *js, const char *bucket, int replicas, const char *name, const void *data,
                 size_t len, int64_t timeout_ms, struct jsobj_ref *out,
                 struct cdc_err *err) CDC_MUST_CHECK;

/* base64url (RFC 4648 section 5, with padding) of in[0..n) into out (cap >= 4*((n+2)/3)+1). */
void jsobj_b64url(const unsigned char *in, size_t n, char *out);

#endif
