/*
 * ckpt.h - the checkpoint manager's store interface and record.
 *
 * A checkpoint records the highest source position whose events JetStream has
 * acknowledged (the ack tracker's safe position). It is written before that
 * position is confirmed to the source, so the source never runs ahead of it.
 *
 * The record is versioned JSON with a SHA-256 of its content; a record whose
 * digest does not match is a fatal error, never silently ignored.
 *
 * Stores are chosen by URL (cdc.checkpoint_storage): `file://PATH` or a bare
 * path, or `redis://[user:password@]host[:port][/db][?key=...&wait=N&timeout=MS]`.
 * Knows nothing of what produced the position.
 */
#ifndef CDC_CHECKPOINT_CKPT_H
#define CDC_CHECKPOINT_CKPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/lsn.h"

#define CKPT_VERSION 1

struct ckpt_record {
    int version;         /* CKPT_VERSION */
    char source[128];    /* cdc.source_name */
    char engine[16];     /* "postgres", "mysql", "mariadb" */
    cdc_lsn lsn;         /* PostgreSQL: the safe (acked) position */
    char slot[64];       /* replication slot name */
    char system_id[32];  /* PostgreSQL system identifier, decimal */
    uint32_t timeline;   /* PostgreSQL timeline */
    char stream[64];     /* JetStream stream name */
    uint64_t stream_seq; /* every event past lsn is stored above this stream sequence: the
                            restart reads the stream back from stream_seq + 1 */
    int64_t time_us;     /* when it was written, Unix microseconds */
};

struct ckpt_store;

/* Open the store named by url. CDC_ERR_CONFIG for an unknown or unsupported scheme. */
cdc_rc ckpt_open(struct ckpt_store **out, const char *url, struct cdc_err *err);
void ckpt_close(struct ckpt_store *s);

/*
 * Read the record. *found is false (and CDC_OK returned) when none was written yet.
 * A record that cannot be parsed or whose digest does not match: CDC_ERR_FATAL.
 */
cdc_rc ckpt_load(struct ckpt_store *s, struct ckpt_record *rec, bool *found, struct cdc_err *err);

/* Make rec durable. On CDC_OK the record survives a crash of this process and of the machine. */
cdc_rc ckpt_save(struct ckpt_store *s, const struct ckpt_record *rec, struct cdc_err *err);

/* A description of the store for logs ("file:/var/lib/cdc/ckpt.json"), without credentials. */
const char *ckpt_describe(const struct ckpt_store *s);

/* Encode rec as the versioned JSON with its digest; out must hold CKPT_MAX_LEN bytes. */
#define CKPT_MAX_LEN 1024
cdc_rc ckpt_encode(const struct ckpt_record *rec, char *out, size_t outlen, struct cdc_err *err);
/* Parse and verify text produced by ckpt_encode. */
cdc_rc ckpt_decode(const char *text, size_t len, struct ckpt_record *rec, struct cdc_err *err);

#endif
