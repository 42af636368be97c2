/*
 * subject.h - the NATS subject of an event: `{prefix}.{database}.{schema}.{table}`
 * by default, or nats.subject_template with the tokens {op} and {pk_hash:N}.
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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "event/event.h"

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

/* ---- templates (nats.subject_template) ---- */

#define SUBJ_DEFAULT_TEMPLATE "{prefix}.{database}.{schema}.{table}"
#define SUBJ_TMPL_MAX         256  /* longest template, bytes */
#define SUBJ_TMPL_PARTS       32   /* most tokens and literal runs in one template */
#define SUBJ_PK_HASH_MAX      1024 /* largest N of {pk_hash:N} */

enum subj_part_kind {
    SUBJ_LITERAL = 0, /* text copied as is */
    SUBJ_PREFIX,      /* nats.subject_prefix, copied as is */
    SUBJ_DATABASE,    /* cdc.source_name, escaped */
    SUBJ_SCHEMA,      /* the relation's schema, escaped ("%00" without a relation) */
    SUBJ_TABLE,       /* the relation's name, escaped ("%00" without a relation) */
    SUBJ_OP,          /* insert, update, delete, truncate, ddl */
    SUBJ_PK_HASH,     /* subj_pk_hash() mod n, in decimal */
};

struct subj_part {
    enum subj_part_kind kind;
    uint16_t off, len; /* SUBJ_LITERAL: the text, in subj_tmpl.text */
    uint32_t n;        /* SUBJ_PK_HASH: the partition count */
};

/* A compiled template. Plain data: copy it, no destructor. */
struct subj_tmpl {
    char text[SUBJ_TMPL_MAX + 1]; /* the template as written */
    struct subj_part parts[SUBJ_TMPL_PARTS];
    int n_parts;
    bool has_pk_hash; /* rendering needs the key hash */
    bool is_default;  /* SUBJ_DEFAULT_TEMPLATE: rendered by subj_build() (the hot path) */
};

/*
 * Compile and check `tmpl` (NULL or "" means SUBJ_DEFAULT_TEMPLATE) for a
 * stream created with subjects "{prefix}.>" (prefix = nats.subject_prefix).
 * Problems (CDC_ERR_CONFIG, err->msg says which, in config-message style):
 * too long, an unknown or unterminated token, {pk_hash:N} with N not in
 * 1..SUBJ_PK_HASH_MAX, an empty level (leading, trailing or double dots),
 * whitespace, control characters or wildcards ('*', '>') in literal text,
 * and a template whose subjects the stream does not cover (it must start
 * with "{prefix}." or the prefix itself and a dot, and have a level after
 * it). Pure; any thread.
 */
cdc_rc subj_tmpl_compile(struct subj_tmpl *t, const char *tmpl, const char *prefix,
                         struct cdc_err *err) CDC_MUST_CHECK;

/*
 * Append ch's subject to b by t (callers reset b). database is
 * cdc.source_name. scratch is a caller-owned buffer reused across calls for
 * the key hash (only touched when t->has_pk_hash). Allocation failure sets
 * b->oom (or scratch->oom); check cdc_buf_ok().
 */
void subj_tmpl_render(const struct subj_tmpl *t, struct cdc_buf *b, const char *prefix,
                      const char *database, const struct cdc_change *ch, struct cdc_buf *scratch);

/*
 * The partition key hash of ch: 64-bit FNV-1a over the compact JSON array of
 * its key columns' values ('is_key' columns, in column order), each value
 * rendered as the event renders it (json_put_value), e.g. `[42]` or
 * `[7,"b"]`. Values come from the after image, or the before image when
 * there is no after image or the after value was not sent; a key value in
 * neither is null. Sensitive-field marks are ignored: the partition follows
 * the real key. A change without key columns (a truncate, DDL, a table
 * without a key) hashes `[]`. scratch is reused (reset here).
 */
uint64_t subj_pk_hash(const struct cdc_change *ch, struct cdc_buf *scratch);

/* 64-bit FNV-1a of p[0..len) (offset basis 0xcbf29ce484222325, prime 0x100000001b3). */
uint64_t subj_fnv1a64(const void *p, size_t len);

#endif
