/*
 * myjson.h - MySQL 8 binary JSON (the storage format of JSON columns in the
 * binlog, MySQL's json_binary.h) to JSON text.
 *
 * Pure: no I/O, no allocation beyond the output buffer. Every offset and
 * length in the document is checked against its container, nesting is
 * limited, and a value reached twice (offsets shared between entries) is
 * bounded by a work budget, so hostile input costs at most linear time.
 */
#ifndef CDC_SOURCE_MYSQL_MYJSON_H
#define CDC_SOURCE_MYSQL_MYJSON_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

/*
 * Append the JSON text of the binary document p[0..len) to out, formatted as
 * MySQL prints JSON: `{"a": 1, "b": [true, null]}`. An empty document
 * (len 0) is `null`. Opaque values: DECIMAL as a number, DATE / TIME / DATETIME /
 * TIMESTAMP as strings ("2024-01-02 03:04:05.000000", six fraction digits as
 * MySQL prints them), anything else as the string "base64:type<N>:<base64>".
 * Strings are escaped (invalid UTF-8 becomes U+FFFD). CDC_ERR_PROTO with the
 * offset for a malformed document; out may then hold a partial text (the
 * caller discards it). Any thread.
 */
cdc_rc myjson_to_text(const uint8_t *p, size_t len, struct cdc_buf *out,
                      struct cdc_err *err) CDC_MUST_CHECK;

#endif
