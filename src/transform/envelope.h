/*
 * envelope.h - a change (event.h) -> the design's CDCEvent JSON, and the
 * deterministic event id.
 *
 * The envelope is pure: no I/O, no allocation beyond growing the output
 * buffer, no clock (the timestamp is the commit time carried by the change).
 * It does not know where events go (subjects are subject.h's job). The event
 * format is documented in docs/EVENTS.md.
 */
#ifndef CDC_TRANSFORM_ENVELOPE_H
#define CDC_TRANSFORM_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/lsn.h"
#include "event/event.h"

/* Longest source name kept; a longer one is cut (ids stay well under 256 bytes). */
#define ENV_SOURCE_MAX 128
/* Bytes an event id takes beyond the source name: "-" 16 hex "-" 8 hex */
#define ENV_EVENT_ID_SUFFIX_LEN 26
/* A buffer this size always holds an event id and its terminator. */
#define ENV_EVENT_ID_MAX (ENV_SOURCE_MAX + ENV_EVENT_ID_SUFFIX_LEN + 1)

/* The static parts of every event of one source. */
struct env_ctx {
    char source[ENV_SOURCE_MAX + 1];    /* "source" field, as configured (cut at ENV_SOURCE_MAX) */
    size_t source_len;                  /* strlen(source) */
    char id_prefix[ENV_SOURCE_MAX + 1]; /* source with bytes outside 0x21..0x7E as '_' */
};

/*
 * Fill ctx for a source name (cdc.source_name). source may be NULL (empty).
 * Copies what it keeps.
 */
void env_ctx_init(struct env_ctx *ctx, const char *source);

/*
 * Append the CDCEvent JSON of ch to out (appends: callers reset the buffer
 * themselves). Fields, in order: event_id, event_type, source, timestamp,
 * schema, table, operation, before (omitted when ch->before is NULL), after
 * (omitted when ch->after is NULL), metadata.
 *
 * Returns CDC_OK; CDC_ERR_PROTO if a tuple's value count does not match its
 * relation's column count (nothing useful was written: reset out); or
 * CDC_ERR_NOMEM if out could not grow. Values that do not parse as their
 * format are written as strings, never dropped. Columns marked by
 * redact_apply() are left out (omit) or rendered by their rule (redact.h).
 * Borrowed: everything.
 */
cdc_rc env_encode(const struct env_ctx *ctx, const struct cdc_change *ch, struct cdc_buf *out,
                  struct cdc_err *err) CDC_MUST_CHECK;

/*
 * Write ch's event id into out (NUL-terminated): `<source>-<commit_lsn as 16
 * upper-case hex digits>-<seq as 8 upper-case hex digits>`, e.g.
 * "orders-00000016B374D848-00000002". It depends only on the source name and
 * the change's position (commit_lsn, seq), so a replay yields the same ids.
 * It is printable ASCII, at most ENV_EVENT_ID_MAX - 1 bytes; an outlen below
 * ENV_EVENT_ID_MAX may cut it (then it will not parse).
 */
void env_event_id(const struct env_ctx *ctx, const struct cdc_change *ch, char *out, size_t outlen);

/*
 * Parse an event id (id[0..len), need not be NUL-terminated) back into the
 * commit LSN and sequence number it was made from. Any source name is
 * accepted. Returns false if id is not in env_event_id()'s format.
 * Thread-safe (the ack path calls it on the libnats thread).
 */
bool env_event_id_parse(const char *id, size_t len, cdc_lsn *commit_lsn, uint32_t *seq);

/*
 * Append an RFC 3339 UTC time with exactly 6 fractional digits
 * ("2024-01-02T03:04:05.123456Z"), without quotes, for microseconds since the
 * Unix epoch. Years outside 0..9999 are written with a '-' sign / 5+ digits.
 */
void env_put_time(struct cdc_buf *b, int64_t us);

#endif
