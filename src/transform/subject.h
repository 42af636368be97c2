/*
 * subject.h - the NATS subject of an event: `{prefix}.{database}.{schema}.{table}`.
 *
 * Database, schema and table names are escaped into single, safe subject
 * tokens by an injective rule (docs/EVENTS.md, "Subjects"): bytes in
 * [A-Za-z0-9_-] are kept, every other byte becomes %XX (upper-case hex), and
 * an empty name becomes %00. Different names never share a subject token (for
 * names without NUL bytes, which SQL identifiers cannot hold), and no name can
 * produce a wildcard ('*', '>'), whitespace or an extra level ('.').
 * Pure: no I/O, no allocation beyond growing the buffer.
 */
#ifndef CDC_TRANSFORM_SUBJECT_H
#define CDC_TRANSFORM_SUBJECT_H

#include <stddef.h>

#include "core/buf.h"

/*
 * Append s[0..len) escaped as one subject token (see the file comment).
 * Allocation failure sets b->oom.
 */
void subj_put_token(struct cdc_buf *b, const char *s, size_t len);

/*
 * Append `{prefix}.{database}.{schema}.{table}` to b (callers reset b). The
 * prefix is copied as is: it is configuration (nats.subject_prefix, already
 * checked to be dot-separated tokens) and may itself span several levels;
 * a NULL or empty prefix leaves it and its dot out. The three names are
 * NUL-terminated (NULL counts as empty) and escaped with subj_put_token().
 * Allocation failure sets b->oom; check cdc_buf_ok().
 */
void subj_build(struct cdc_buf *b, const char *prefix, const char *database, const char *schema,
                const char *table);

#endif
