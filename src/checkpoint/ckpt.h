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
 * path, `redis://[user:password@]host[:port][/db][?key=...&wait=N&timeout=MS]`
 * (ckpt_redis.c), or `nats-kv://BUCKET/KEY[?replicas=N&history=H&timeout=MS]`
 * (ckpt_kv.c): a JetStream key-value bucket on the daemon's NATS servers
 * (nats.urls, nats.username, nats.password from struct ckpt_opts), created
 * when missing, written with a revision check; or
 * `s3://BUCKET/KEY[?region=R&endpoint=URL&sse=AES256|aws:kms&kms_key_id=ID&timeout=MS]`
 * (ckpt_s3.c): one S3 object, path-style, SigV4-signed by libcurl with
 * credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY[_FILE] /
 * AWS_SESSION_TOKEN[_FILE] (none: CDC_ERR_CONFIG at open), S3 server-side
 * encryption when sse is given, and conditional writes (If-None-Match: *,
 * then If-Match on the ETag last read or written; a 412 that is not one of
 * our own lost writes is "changed by another writer", CDC_ERR_FATAL).
 *
 * Encryption at rest (optional, every backend): with a key in ckpt_opts, each
 * save stores the record text sealed with AES-256-GCM under a fresh random
 * 12-byte IV, as one line of JSON
 *   {"enc":"aes-256-gcm","kid":"<16 hex>","iv":"<b64>","ct":"<b64>","tag":"<b64>"}
 * where kid is the first 8 bytes of SHA-256(key) in hex, also bound to the
 * ciphertext as additional authenticated data. A load accepts such a record
 * (wrong key id, failed authentication or no key configured: CDC_ERR_FATAL,
 * naming the key ids, never the key) and also a plain record (a store written
 * before encryption was turned on). Keys are written as 64 hex digits or the
 * base64 of 32 bytes (ckpt_key_parse).
 *
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
    int version;      /* CKPT_VERSION */
    char source[128]; /* cdc.source_name */
    char engine[16];  /* "postgres", "mysql", "mariadb" */
    cdc_lsn lsn;      /* PostgreSQL: the safe (acked) position */
    char slot[64];    /* replication slot name */
    char
        system_id[48]; /* PostgreSQL system identifier (decimal), MySQL server_uuid, "mariadb:ID" */
    uint32_t timeline; /* PostgreSQL timeline */
    char stream[64];   /* JetStream stream name */
    char binlog_file[256]; /* MySQL/MariaDB: the binlog file to resume from ("" for PostgreSQL) */
    uint64_t binlog_pos;   /* MySQL/MariaDB: the offset in it */
    char gtid_set[2048];   /* MySQL/MariaDB: the GTID set executed up to there ("" when off) */
    uint64_t stream_seq;   /* every event past lsn is stored above this stream sequence: the
                              restart reads the stream back from stream_seq + 1 */
    int64_t time_us;       /* when it was written, Unix microseconds */
};

struct ckpt_store;

#define CKPT_KEY_LEN 32 /* AES-256 */

/* What backends need from the rest of the configuration. Borrowed for ckpt_open(), which copies. */
struct ckpt_opts {
    const char *const *nats_urls; /* nats-kv://: the servers (nats.urls) */
    int n_nats_urls;              /* 0: nats-kv:// is a configuration error */
    const char *nats_username;    /* NULL: none */
    const char *nats_password;    /* secret: never in a description or message */
    const char *nats_name;        /* connection name (nats.cluster_id), may be NULL */
    int64_t nats_timeout_ms;      /* connect and request timeout, default 5000 */
    const unsigned char *key;     /* CKPT_KEY_LEN bytes: encrypt records; NULL: plain text */
};

/* Defaults: no NATS servers, no key. */
void ckpt_opts_init(struct ckpt_opts *o);

/*
 * Open the store named by url; opts may be NULL (defaults). Does not reach the
 * store: a store that is down shows up at the first load or save.
 * CDC_ERR_CONFIG for an unknown or unsupported scheme or a malformed URL.
 * The store belongs to the calling thread; ckpt_close(NULL) does nothing.
 */
cdc_rc ckpt_open(struct ckpt_store **out, const char *url, const struct ckpt_opts *opts,
                 struct cdc_err *err);
void ckpt_close(struct ckpt_store *s);

/*
 * Parse an encryption key written as 64 hex digits or as standard base64
 * (with padding) of 32 bytes; surrounding white space is ignored. Anything
 * else is CDC_ERR_CONFIG with a message that never quotes the text. Pure.
 */
cdc_rc ckpt_key_parse(const char *text, size_t len, unsigned char key[CKPT_KEY_LEN],
                      struct cdc_err *err);
/* Read a key file (at most 1 KiB) and parse it as above. CDC_ERR_CONFIG naming the path. */
cdc_rc ckpt_key_read_file(const char *path, unsigned char key[CKPT_KEY_LEN], struct cdc_err *err);
/* The key id of key: the first 8 bytes of its SHA-256, as 16 hex digits (and a NUL). */
void ckpt_key_id(const unsigned char key[CKPT_KEY_LEN], char kid[17]);

/*
 * Read the record. *found is false (and CDC_OK returned) when none was written yet.
 * A record that cannot be parsed, whose digest does not match, or that cannot
 * be decrypted with the configured key (or was encrypted and no key is
 * configured): CDC_ERR_FATAL. The store unreachable: CDC_ERR_RETRY.
 */
cdc_rc ckpt_load(struct ckpt_store *s, struct ckpt_record *rec, bool *found, struct cdc_err *err);

/*
 * Make rec durable (encrypted when a key is configured). On CDC_OK the record
 * survives a crash of this process and of the machine (as far as the store
 * promises). CDC_ERR_RETRY: the store is unreachable, try again later;
 * CDC_ERR_FATAL: another writer owns the record, or the store refuses us.
 */
cdc_rc ckpt_save(struct ckpt_store *s, const struct ckpt_record *rec, struct cdc_err *err);

/* A description of the store for logs ("file:/var/lib/cdc/ckpt.json"), without credentials. */
const char *ckpt_describe(const struct ckpt_store *s);

/* Encode rec as the versioned JSON with its digest; out must hold CKPT_MAX_LEN bytes. */
#define CKPT_MAX_LEN 4096
cdc_rc ckpt_encode(const struct ckpt_record *rec, char *out, size_t outlen, struct cdc_err *err);
/* Parse and verify text produced by ckpt_encode. */
cdc_rc ckpt_decode(const char *text, size_t len, struct ckpt_record *rec, struct cdc_err *err);

#endif
