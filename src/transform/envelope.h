/*
 * envelope.h - a change (event.h) -> event JSON, in one of two formats: the
 * design's CDCEvent ("native", the default) or a Debezium-compatible envelope
 * ("debezium"); and the deterministic event id.
 *
 * Every event carries the envelope version (ENV_EVENT_VERSION) and the
 * enrichment configured once per source with env_ctx_configure(): source
 * host, engine, handler version, static labels (cdc.metadata), and the
 * relation's schema version when known.
 *
 * The envelope is pure: no I/O, no allocation beyond growing the output
 * buffer (env_ctx_configure() allocates once), no clock (every time is the
 * commit time carried by the change). It does not know where events go
 * (subjects are subject.h's job). The formats are documented in
 * docs/EVENTS.md.
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

/* The envelope version: metadata.event_version and the Cdc-Event-Version header. */
#define ENV_EVENT_VERSION     1
#define ENV_EVENT_VERSION_STR "1"

/* cdc.format */
enum env_format {
    ENV_FORMAT_NATIVE = 0, /* the design's CDCEvent */
    ENV_FORMAT_DEBEZIUM,   /* Debezium's change event value (schemas disabled) */
};

/* The enrichment of every event of one source (env_ctx_configure()). Borrowed. */
struct env_opts {
    enum env_format format;
    const char *engine;   /* "postgres", "mysql" or "mariadb"; NULL: postgres */
    const char *host;     /* the source host (rds.endpoint); NULL: left out */
    const char *database; /* the database (rds.database): Debezium's source.db on PostgreSQL */
    const char *handler_version;     /* cdc-handler's version (CDC_VERSION); NULL: left out */
    const char *const *label_keys;   /* static labels (cdc.metadata), n_labels of them */
    const char *const *label_values; /* their values, same order */
    int n_labels;
};

/* The static parts of every event of one source. */
struct env_ctx {
    char source[ENV_SOURCE_MAX + 1];    /* "source" field, as configured (cut at ENV_SOURCE_MAX) */
    size_t source_len;                  /* strlen(source) */
    char id_prefix[ENV_SOURCE_MAX + 1]; /* source with bytes outside 0x21..0x7E as '_' */
    enum env_format format;             /* native unless configured */
    bool binlog;               /* a MySQL/MariaDB source (Debezium's binlog source block) */
    struct cdc_buf meta_tail;  /* `,"source_host":..,"engine":..,"handler_version":..,"labels":{..}`
                                  ready to copy into metadata; empty until configured */
    struct cdc_buf dbz_source; /* debezium: `"source":{"version":..,"connector":..,"name":..` */
    struct cdc_buf dbz_db;     /* debezium: the database as a JSON string (PostgreSQL source.db) */
};

/*
 * Fill ctx for a source name (cdc.source_name), native format, no
 * enrichment. source may be NULL (empty). Copies what it keeps; allocates
 * nothing (env_ctx_free() is still fine to call).
 */
void env_ctx_init(struct env_ctx *ctx, const char *source);

/* Defaults: native format, everything else NULL/0. */
void env_opts_init(struct env_opts *o);

/*
 * After env_ctx_init(): set the format and render the static enrichment
 * once, so that each event only copies it. Copies what it keeps.
 * CDC_ERR_NOMEM if the fragments could not be allocated. Owner thread.
 */
cdc_rc env_ctx_configure(struct env_ctx *ctx, const struct env_opts *o,
                         struct cdc_err *err) CDC_MUST_CHECK;

/* Free what env_ctx_configure() allocated. ctx can be initialised again afterwards. */
void env_ctx_free(struct env_ctx *ctx);

/* "cdc.insert", "cdc.update", "cdc.delete", "cdc.truncate", "cdc.ddl" (NULL for a bad op). */
const char *env_event_type(enum cdc_op op);

/*
 * Append the event JSON of ch to out, in ctx's format (appends: callers
 * reset the buffer themselves).
 *
 * Native: fields, in order: event_id, event_type, source, timestamp,
 * schema, table, operation, before (omitted when ch->before is NULL), after
 * (omitted when ch->after is NULL), metadata.
 *
 * Debezium: before, after, source{...}, op (c/u/d/t), ts_ms, transaction
 * (null), metadata (our enrichment); a truncate has no before/after; a DDL
 * event is Debezium's schema change event (source, ts_ms, databaseName,
 * schemaName, ddl, tableChanges, metadata). docs/EVENTS.md maps every field.
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
