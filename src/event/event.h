/*
 * event.h - the change-event model shared by sources, transforms and sinks.
 *
 * A source decodes its protocol into a `struct cdc_change` that points into its
 * own buffers (relation cache, message bytes); the transform encodes it into
 * event bytes. Nothing here knows PostgreSQL, MySQL, NATS or JSON syntax:
 * a column only says *how* its values render (enum cdc_vfmt), and the JSON
 * encoder does the rendering.
 *
 * Lifetimes: every pointer in a cdc_change is borrowed from the source and is
 * valid only until the source reads its next message.
 */
#ifndef CDC_EVENT_EVENT_H
#define CDC_EVENT_EVENT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/lsn.h"

enum cdc_op {
    CDC_OP_INSERT = 0,
    CDC_OP_UPDATE,
    CDC_OP_DELETE,
    CDC_OP_TRUNCATE,
    CDC_OP_DDL,
};

/*
 * How a column's values, given in the source's text form, render to JSON.
 * PostgreSQL text forms assume the replication session runs with
 * DateStyle=ISO, TimeZone=UTC, IntervalStyle=iso_8601, bytea_output=hex,
 * extra_float_digits=3.
 */
enum cdc_vfmt {
    CDC_VF_STRING = 0,  /* JSON string of the text form; the default for unknown types */
    CDC_VF_INT,         /* JSON number, text copied as is ("-42") */
    CDC_VF_FLOAT,       /* JSON number; NaN, Infinity, -Infinity as strings */
    CDC_VF_NUMERIC,     /* JSON string, lossless ("1.50", "NaN") */
    CDC_VF_BOOL,        /* "t"/"f" -> true/false */
    CDC_VF_JSON,        /* embedded JSON value, text copied as is */
    CDC_VF_TIMESTAMPTZ, /* "2024-01-02 03:04:05.123456+00" -> "2024-01-02T03:04:05.123456Z" */
    CDC_VF_TIMESTAMP,   /* "2024-01-02 03:04:05.123456" -> "2024-01-02T03:04:05.123456" */
    CDC_VF_DATE,        /* "2024-01-02", "infinity", "-infinity" */
    CDC_VF_TIME,        /* "03:04:05[.ffffff]" */
    CDC_VF_TIMETZ,      /* "03:04:05[.ffffff]+02[:30]" */
    CDC_VF_INTERVAL,    /* ISO 8601 duration, already in that form (IntervalStyle=iso_8601) */
    CDC_VF_BYTEA_HEX,   /* "\\x0a0b" -> base64 string */
    CDC_VF_ARRAY,       /* "{1,2,NULL}" -> [1,2,null], elements rendered by elem_fmt */
    CDC_VF_RAW_JSON,    /* the value is already a JSON fragment (sources that render themselves) */
    CDC_VF_BASE64,      /* raw bytes (not text) -> base64 string; the MySQL/MariaDB binary types */
};

struct redact_rule; /* transform/redact.h */

/* One column of a relation. Owned by the source's relation cache. */
struct cdc_column {
    const char *name;       /* NUL-terminated column name */
    uint32_t type_id;       /* source type id (PostgreSQL type OID) */
    int32_t type_mod;       /* atttypmod, -1 if none */
    enum cdc_vfmt fmt;      /* how values render */
    enum cdc_vfmt elem_fmt; /* for CDC_VF_ARRAY: how elements render */
    bool is_key;            /* part of the replica identity */
    bool omit;              /* left out of events: a sensitive field (cdc.sensitive_fields) */
    const struct redact_rule *redact; /* values rendered by redact_put_value() (mask, hash,
                                         truncate, PII detection); NULL: as fmt says */
};

/* A relation (table). Owned by the source's relation cache. */
struct cdc_relation {
    uint32_t id;        /* source relation id (PostgreSQL OID) */
    const char *schema; /* namespace, "public" for the default */
    const char *table;  /* relation name */
    char replident;     /* PostgreSQL replica identity: 'd', 'n', 'f', 'i' */
    uint32_t ncols;
    struct cdc_column *cols;
    char schema_version[17]; /* 16 hex digits: hash of column names and types (transform/schema.c);
                                "" = unknown */
    bool excluded; /* left out by cdc.table_filters / cdc.table_excludes: its changes are not
                      published (set by the source once per relation definition) */
};

enum cdc_vstate {
    CDC_VAL_PRESENT = 0, /* data/len hold the text form */
    CDC_VAL_NULL,        /* SQL NULL */
    CDC_VAL_UNCHANGED,   /* unchanged TOAST value not sent by the source */
    CDC_VAL_ABSENT,      /* not part of this image (e.g. non-key column of a key-only old tuple) */
};

struct cdc_value {
    const char *data; /* not NUL-terminated; borrowed, see file comment */
    uint32_t len;
    enum cdc_vstate state;
};

/* A row image, one value per relation column, in relation column order. */
struct cdc_tuple {
    uint32_t nvals;
    struct cdc_value *vals;
};

/* Where a MySQL/MariaDB change was read, for the event's metadata. */
struct cdc_binlog_origin {
    const char *file;   /* binlog file name (NUL-terminated) */
    uint64_t pos;       /* position of the transaction's first event in that file */
    const char *gtid;   /* the transaction's GTID ("0-1-42", "uuid:42"), NULL when GTIDs are off */
    uint32_t server_id; /* server_id of the server that wrote it */
};

/* A value the source turned into NULL, kept raw for metadata (MySQL zero dates). */
struct cdc_raw_col {
    uint32_t col;         /* column index in the relation */
    struct cdc_value raw; /* its text as the server would print it */
};

/* One change, as handed by a source to the transform. */
struct cdc_change {
    enum cdc_op op;
    const struct cdc_relation *rel; /* NULL only for CDC_OP_DDL without a relation */
    const struct cdc_tuple *before; /* old image (key or full), NULL if none */
    const struct cdc_tuple *after;  /* new image, NULL for DELETE/TRUNCATE */
    cdc_lsn lsn;                    /* position of this change's record */
    cdc_lsn commit_lsn;             /* position of its transaction's commit record */
    uint32_t xid;                   /* transaction id */
    uint32_t seq;                   /* index of this event within its transaction, from 0 */
    int64_t commit_time_us;         /* commit time, microseconds since the Unix epoch (UTC) */
    const char *ddl;                /* CDC_OP_DDL: the statement text (NUL-terminated) */
    const struct cdc_binlog_origin *binlog; /* MySQL/MariaDB: origin; NULL for PostgreSQL */
    const struct cdc_raw_col *zero_dates;   /* MySQL/MariaDB: after-image values given as NULL */
    uint32_t n_zero_dates;
};

#endif
