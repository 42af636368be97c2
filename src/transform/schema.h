/*
 * schema.h - table schema versions, compatibility of a change, and the
 * schema registry's documents (JSON Schema, index), all pure.
 *
 * A schema version is a hash of a relation's column names and types, in
 * column order: the first 8 bytes of the SHA-256 of, for each column,
 *   name, 0x00, type_id in decimal ASCII, 0x00, type_mod in decimal ASCII
 *   (with '-' when negative), 0x0A
 * written as 16 lower-case hex digits. Nothing else goes in (not the schema
 * or table name, the key flags or our rendering of the type), so the value is
 * the same across restarts, daemon versions and for both engines' sources
 * (type_id is the PostgreSQL type OID, or the MySQL binlog column type, and
 * type_mod the atttypmod, or -1). docs/EVENTS.md says the same.
 *
 * This module does no I/O: where the registry lives and when it is written
 * is pipeline/schematrack.c's business.
 */
#ifndef CDC_TRANSFORM_SCHEMA_H
#define CDC_TRANSFORM_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "event/event.h"

#define SCHEMA_VERSION_LEN 16 /* hex digits of a schema version */

/* Write rel's schema version (16 hex digits and a NUL) into out. */
void schema_version_of(const struct cdc_relation *rel, char out[SCHEMA_VERSION_LEN + 1]);

/* One column as the registry remembers it. */
struct schema_col {
    char *name; /* owned */
    uint32_t type_id;
    int32_t type_mod;
};

/* A table definition kept across relation messages (owned copy). */
struct schema_def {
    char version[SCHEMA_VERSION_LEN + 1]; /* schema_version_of() */
    uint32_t ncols;
    struct schema_col *cols; /* owned, ncols entries */
};

/* Copy rel's columns into *d (which must be empty or freed). CDC_ERR_NOMEM. */
cdc_rc schema_def_from_rel(struct schema_def *d, const struct cdc_relation *rel,
                           struct cdc_err *err) CDC_MUST_CHECK;
/* Free what *d owns and leave it empty. */
void schema_def_free(struct schema_def *d);

enum schema_change {
    SCHEMA_SAME = 0,     /* same columns, names and types */
    SCHEMA_COMPATIBLE,   /* columns added (or reordered): every old column is still there */
    SCHEMA_INCOMPATIBLE, /* a column dropped (or renamed), or its type changed */
};

struct schema_diff {
    enum schema_change change;
    unsigned n_incompatible; /* columns dropped or retyped */
    unsigned n_added;        /* columns new in rel */
    char what[384];          /* the first incompatible change (or the additions), for messages:
                                `column "b" was dropped (or renamed)`,
                                `column "a" changed type from 23/-1 to 20/-1` */
};

/* How rel differs from the previous definition old. */
void schema_compare(const struct schema_def *old, const struct cdc_relation *rel,
                    struct schema_diff *out);

/*
 * Append the registry key `{database}.{schema}.{table}.{suffix}` to b. The
 * three names are escaped into one key token each: bytes in [A-Za-z0-9_-]
 * are kept, every other byte becomes '=' and two upper-case hex digits, and
 * an empty name is "=00" (a NATS KV key allows [A-Za-z0-9_=/.-], so the
 * subjects' '%' escape of transform/subject.c is spelled '=' here; the rule is
 * otherwise the same, and injective). suffix is copied as is ("v3", "latest").
 */
void schema_kv_key(struct cdc_buf *b, const char *database, const char *schema, const char *table,
                   const char *suffix);

/*
 * Append the JSON Schema (draft 2020-12) of the row images (`before`,
 * `after`) of rel's events, as version n of the table: one property per
 * column that events carry (columns left out by redaction are left out),
 * nullable, typed by how the column renders (docs/EVENTS.md), plus "x-cdc-*"
 * annotations (database, schema, table, version, schema_version, and each
 * column's type_id, type_mod and key flag).
 */
void schema_json_schema(struct cdc_buf *b, const struct cdc_relation *rel, const char *database,
                        uint32_t n);

/*
 * The registry index of one table (key suffix "latest"): every version so
 * far, in order (versions[i] is version i + 1), the source position where
 * each was first seen, and the newest definition.
 */
struct schema_index {
    uint32_t n;                               /* versions; the newest is n */
    char (*versions)[SCHEMA_VERSION_LEN + 1]; /* owned, n entries */
    uint64_t *first_pos;                      /* owned, n entries */
    struct schema_def latest;                 /* the definition of version n */
};

/*
 * Append the index as compact JSON:
 * {"version":N,"schema_version":"<hex>","versions":[["<hex>","<pos>"],...],
 *  "columns":[{"name":"id","type_id":23,"type_mod":-1},...]}
 * (positions as 16 upper-case hex digits, the event id's form).
 */
void schema_index_encode(struct cdc_buf *b, const struct schema_index *ix);

/*
 * Parse what schema_index_encode() wrote into *ix (which must be empty).
 * CDC_ERR_PROTO when the text is not such an index (the message says what),
 * CDC_ERR_NOMEM. On failure *ix is left empty.
 */
cdc_rc schema_index_parse(const char *text, size_t len, struct schema_index *ix,
                          struct cdc_err *err) CDC_MUST_CHECK;

/* Append version (hash) at source position pos as version n + 1. CDC_ERR_NOMEM. */
cdc_rc schema_index_add(struct schema_index *ix, const char *version, uint64_t pos,
                        struct cdc_err *err) CDC_MUST_CHECK;

/* Free what *ix owns and leave it empty. */
void schema_index_free(struct schema_index *ix);

#endif
