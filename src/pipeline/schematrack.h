/*
 * schematrack.h - schema evolution on the pipeline's thread: each table's
 * current definition and schema version, the compatibility check of strict
 * mode, and the registry of versions (a key-value store: NATS KV in the
 * daemon, see sink/nats/schemareg.h; a fake in the unit tests).
 *
 * Per table, the registry holds `{database}.{schema}.{table}.v{N}` (the JSON
 * Schema of version N, N = 1, 2, ...) and `{database}.{schema}.{table}.latest`
 * (the index: every version's hash and the source position where it was
 * first seen, and the newest definition; transform/schema.h). The index is
 * where the previous definition comes from after a restart: the first time a
 * run meets a table it reads the index, and compares what the source sends
 * with the newest definition there.
 *
 * When a relation is (re)defined (schematrack_on_relation, from the source's
 * relation hook, inside a transaction):
 *  - same version as the table's current one: nothing;
 *  - the registry's newest version, or a position before the one where that
 *    version was first seen (a replay of history after a restart): adopted
 *    as current, nothing written;
 *  - otherwise a new version: compared with the current definition; an
 *    incompatible change (a column dropped or renamed, or its type changed)
 *    in strict mode fails with CDC_ERR_FATAL, naming the table, the column
 *    and the change, and nothing is adopted or written (a restart meets it
 *    again), unless --accept-schema-change is in force; else the JSON Schema
 *    and then the index are written, synchronously, before anything of that
 *    version is published (a consumer can always find the version an event
 *    names), and the version becomes current.
 * A failure is kept and returned by the next schematrack_check(); the
 * pipeline calls it after every src_next() and before publishing what that
 * call returned, so nothing after the failing relation is published.
 * One thread (the pipeline's) calls everything.
 */
#ifndef CDC_PIPELINE_SCHEMATRACK_H
#define CDC_PIPELINE_SCHEMATRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "event/event.h"

/* The registry's storage. get: *found false when the key is absent (val untouched). */
struct schematrack_store {
    cdc_rc (*get)(void *closure, const char *key, struct cdc_buf *val, bool *found,
                  struct cdc_err *err);
    cdc_rc (*put)(void *closure, const char *key, const char *data, size_t len,
                  struct cdc_err *err);
    void *closure;
};

struct schematrack_opts {
    const char *database; /* the events' database (cdc.source_name); borrowed */
    bool strict;          /* cdc.schema_evolution.strict_mode */
    /*
     * --accept-schema-change (may be NULL): while *accept is true, strict
     * mode lets the incompatible changes through; it is set to false at the
     * commit of the first transaction that had one, so that one restart
     * acknowledges one change (that transaction's), not every later one.
     */
    bool *accept;
    struct schematrack_store store;
};

struct schematrack;

cdc_rc schematrack_create(struct schematrack **out, const struct schematrack_opts *o,
                          struct cdc_err *err) CDC_MUST_CHECK;
void schematrack_destroy(struct schematrack *t);

/* A transaction starts at source position pos (its key). */
void schematrack_begin(struct schematrack *t, uint64_t pos);
/* The open transaction committed. */
void schematrack_commit(struct schematrack *t);

/*
 * rel was (re)defined: set rel->schema_version, then track it (see the file
 * comment). Failures are kept for schematrack_check().
 */
void schematrack_on_relation(struct schematrack *t, struct cdc_relation *rel);

/*
 * The failure kept since the last call, if any: CDC_ERR_FATAL (strict mode
 * refused a change; the message names the table, the column, the change and
 * the way out), CDC_ERR_RETRY (the registry could not be reached: retrying
 * replays from the checkpoint), CDC_ERR_NOMEM, CDC_ERR_PROTO (the index is
 * not one). CDC_OK otherwise.
 */
cdc_rc schematrack_check(struct schematrack *t, struct cdc_err *err) CDC_MUST_CHECK;

/* Registered versions of schema.table known to this run (0 if none); for tests and logs. */
uint32_t schematrack_versions(const struct schematrack *t, const char *schema, const char *table);

#endif
