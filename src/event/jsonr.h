/*
 * jsonr.h - a small JSON reader for the few JSON texts the daemon reads back:
 * the schema registry's index entries and the DDL messages that the
 * PostgreSQL event trigger writes (pg_logical_emit_message). It walks a text
 * in place with a cursor: skip values, find a member of an object, read a
 * string (unescaped into a buffer) or an integer.
 *
 * It is not a validating parser for arbitrary input (json_is_valid() in
 * json.h is): it checks what it reads, never reads past the end, and reports
 * failure with false, but it does not build a tree. Pure: no I/O; only the
 * output buffer grows.
 */
#ifndef CDC_EVENT_JSONR_H
#define CDC_EVENT_JSONR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* A cursor over text[0..len). Borrowed: the text must outlive the cursor. */
struct jsonr {
    const char *p;   /* next byte */
    const char *end; /* one past the last byte */
};

void jsonr_init(struct jsonr *r, const char *text, size_t len);

/* Skip white space; then, if the next byte is c, consume it and return true. */
bool jsonr_eat(struct jsonr *r, char c);

/* Skip one value of any kind (nested at most 64 levels). False if malformed. */
bool jsonr_skip(struct jsonr *r);

/*
 * r is at an object ('{' after optional white space): set *val to a cursor at
 * the value of its member `key` (the first one of that name) and return true;
 * false if the object has no such member or is malformed. r is not moved.
 */
bool jsonr_member(const struct jsonr *r, const char *key, struct jsonr *val);

/*
 * Read a string value, unescaped (\uXXXX and surrogate pairs to UTF-8), and
 * append it to out (NUL-terminated, as cdc_buf keeps it). False if the value
 * is not a well-formed string, or out could not grow.
 */
bool jsonr_string(struct jsonr *r, struct cdc_buf *out);

/* Read an integer value (optional '-', digits, within int64). False otherwise. */
bool jsonr_int(struct jsonr *r, int64_t *out);

#endif
