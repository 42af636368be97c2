/*
 * claim.h - the claim-check event: what is published in place of an event too
 * large for a NATS message, once the event itself is stored in a NATS Object
 * Store bucket (sink/nats/jsobj.h). It names the event and where to fetch it:
 *
 *   {"event_id":"...","event_type":"cdc.update","source":"...","schema":"...",
 *    "table":"...","operation":"UPDATE","claim_check":{"bucket":"...",
 *    "name":"<event_id>","size":2097321,"digest":"SHA-256=<base64url>"}}
 *
 * Pure: no I/O, no allocation beyond growing the buffer.
 */
#ifndef CDC_TRANSFORM_CLAIM_H
#define CDC_TRANSFORM_CLAIM_H

#include <stdint.h>

#include "core/buf.h"
#include "event/event.h"

/* Append the claim-check event of ch (callers reset b). Allocation failure sets b->oom. */
void claim_encode(struct cdc_buf *b, const struct cdc_change *ch, const char *event_id,
                  const char *source, const char *bucket, uint64_t size, const char *digest);

#endif
