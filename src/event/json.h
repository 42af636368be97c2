/*
 * json.h - the hot-path JSON encoder: strings (with UTF-8 repair), keys,
 * base64, and column values given in their source text form.
 *
 * Everything here is pure: it appends to a `struct cdc_buf` and does no I/O
 * and no allocation beyond growing that buffer (one exception: unescaping a
 * quoted array element longer than 256 bytes that holds backslashes, and is
 * not rendered as a plain string, takes one temporary malloc).
 * Functions never fail on bad input: a value that does not parse as its
 * format becomes a JSON string of its raw text. Allocation failures set
 * buf->oom (see buf.h); check cdc_buf_ok() once after a whole event.
 *
 * The rules (value table, UTF-8 repair) are documented in docs/EVENTS.md.
 * Any thread may call these functions on buffers it owns.
 */
#ifndef CDC_EVENT_JSON_H
#define CDC_EVENT_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "event/event.h"

/*
 * Append s[0..len) as a quoted JSON string. '"', '\\' and control characters
 * are escaped (\n \t \r \b \f, others as \u00xx). The input is checked as
 * UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF); each byte that
 * does not start a well-formed sequence is replaced by U+FFFD and decoding
 * resumes at the next byte. s may hold NUL bytes (escaped as \u0000).
 */
void json_put_str(struct cdc_buf *b, const char *s, size_t len);

/* Append `"name":` with name escaped as json_put_str() does. name is NUL-terminated. */
void json_put_key(struct cdc_buf *b, const char *name);

/*
 * Append the standard base64 (RFC 4648 alphabet, with '=' padding) of
 * data[0..len), without quotes.
 */
void json_put_base64(struct cdc_buf *b, const void *data, size_t len);

/*
 * Append one column value, given in PostgreSQL text form (or the source's
 * equivalent), rendered as `fmt` says (see enum cdc_vfmt in event.h and the
 * value table in docs/EVENTS.md). elem_fmt is the element format for
 * CDC_VF_ARRAY and ignored otherwise. text need not be NUL-terminated.
 *
 * Returns true when the value rendered as its format, false when it did not
 * parse and was written as a JSON string of its raw text instead (a malformed
 * array element is rendered that way on its own and does not count). Either
 * way exactly one JSON value is appended.
 */
bool json_put_value(struct cdc_buf *b, enum cdc_vfmt fmt, enum cdc_vfmt elem_fmt, const char *text,
                    size_t len);

/*
 * True if s[0..len) is exactly one JSON value (RFC 8259, surrounding
 * whitespace allowed) in well-formed UTF-8, nested at most 1024 deep.
 */
bool json_is_valid(const char *s, size_t len);

#endif
