/*
 * pgsrc.h - the libpq side of the PostgreSQL source: connections, the
 * publication and the logical replication slot, and the COPY BOTH stream of
 * pgoutput messages with its keepalives and standby status updates.
 *
 * It hands out raw pgoutput payloads and positions; it does not decode them
 * (pgoutput.c does), and knows nothing of JSON, NATS or checkpoints. The flush
 * position it reports to PostgreSQL is exactly the one the pipeline gives it
 * with pgsrc_set_flushed(), never more.
 *
 * Both connections carry session options that make the text output of types
 * stable for the encoder: DateStyle=ISO, TimeZone=UTC, IntervalStyle=iso_8601,
 * extra_float_digits=3, bytea_output=hex (the walsender honours them, so
 * pgoutput's tuple text follows them too).
 *
 * The password is never copied into an error message: every message built from
 * libpq's text has it scrubbed.
 *
 * A struct pgsrc belongs to one thread (the reader); nothing here is
 * thread-safe, and nothing here logs or exits.
 */
#ifndef CDC_SOURCE_PG_PGSRC_H
#define CDC_SOURCE_PG_PGSRC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/lsn.h"

/* libpq sslmode; the values match enum cfg_ssl_mode in config/config.h */
enum pgsrc_sslmode {
    PGSRC_SSL_DISABLE = 0,
    PGSRC_SSL_REQUIRE,
    PGSRC_SSL_VERIFY_CA,
    PGSRC_SSL_VERIFY_FULL
};

/*
 * Gives the password for one connection attempt, e.g. a fresh RDS IAM token
 * (see struct pgsrc_opts.password_fn). *out: malloc'd, NUL-terminated; pgsrc
 * wipes and frees it. Called on the thread that calls pgsrc_create().
 */
typedef cdc_rc (*pgsrc_password_fn)(void *closure, const char *host, int port, const char *user,
                                    char **out, struct cdc_err *err);

/* One object of a managed publication: a table, or every table of a schema (table NULL). */
struct pgsrc_pub_object {
    const char *schema; /* exact name (quoted by pgsrc) */
    const char *table;  /* exact name, or NULL: TABLES IN SCHEMA schema (PostgreSQL 15) */
};

/* Options, borrowed for the length of pgsrc_create() (which copies what it keeps). */
struct pgsrc_opts {
    const char *host;              /* host name, address or socket directory; NULL: libpq default */
    int port;                      /* TCP port, default 5432 */
    const char *user;              /* role name; NULL: libpq default */
    const char *password;          /* secret: never appears in an error message; NULL/"": none */
    const char *dbname;            /* database to stream from; NULL: libpq default */
    int sslmode;                   /* enum pgsrc_sslmode, default PGSRC_SSL_REQUIRE; with TLS, libpq
                                      is told ssl_min_protocol_version=TLSv1.2, and a server without
                                      TLS is refused (never a plaintext fallback) */
    const char *sslrootcert;       /* CA bundle file (libpq sslrootcert); NULL: libpq's default */
    pgsrc_password_fn password_fn; /* if set, called before each connection for its password
                                      (replaces `password`); the value is scrubbed from messages */
    void *password_closure;        /* passed to password_fn */
    const char *slot;        /* logical slot name ([a-z0-9_], <= 63 bytes), default "cdc_handler" */
    const char *publication; /* publication name, default "cdc_handler" */
    const char *const *tables; /* "table" or "schema.table" for CREATE PUBLICATION ... FOR TABLE */
    int n_tables;              /* 0: FOR ALL TABLES */
    bool create_slot;          /* create the slot when missing, default true */
    bool create_publication;   /* create the publication when missing, default true */
    bool manage_publication;   /* the publication holds exactly pub_all_tables / pub_objects
                                  (instead of `tables`): created so, with the comment
                                  "cdc-handler: <its FOR clause>", and recreated at
                                  pgsrc_prepare() when a publication with a comment starting
                                  "cdc-handler" says otherwise; one without such a comment was
                                  made by hand and is left alone. Default false */
    bool pub_all_tables;       /* manage_publication: FOR ALL TABLES */
    const struct pgsrc_pub_object *pub_objects; /* manage_publication, !pub_all_tables: the
                                                   objects; none: an empty publication */
    int n_pub_objects;
    int status_interval_ms;       /* standby status update period, default 10000 */
    const char *application_name; /* shown in pg_stat_activity, default "cdc-handler" */
    int connect_timeout_s;        /* libpq connect_timeout, default 10 */
    bool streaming; /* on PostgreSQL 14+, pgoutput proto_version 2 with streaming 'on': large
                       in-progress transactions arrive in chunks (pgstream.h); default true */
};

/* What pgsrc_prepare() and pgsrc_slot_info() report. */
struct pgsrc_slot_info {
    char system_id[24];       /* IDENTIFY_SYSTEM systemid, decimal text (pgsrc_prepare only) */
    uint32_t timeline;        /* IDENTIFY_SYSTEM timeline (pgsrc_prepare only) */
    cdc_lsn xlogpos;          /* IDENTIFY_SYSTEM current WAL flush position (pgsrc_prepare only) */
    bool publication_created; /* pgsrc_prepare created the publication */
    bool publication_managed; /* manage_publication and the publication is ours (created or
                                 marked): it holds exactly the objects asked for */
    bool publication_changed; /* pgsrc_prepare recreated a marked publication whose objects
                                 differed */
    bool slot_created;        /* pgsrc_prepare created the slot */
    bool slot_missing;        /* pgsrc_prepare failed: the slot does not exist, may not create */
    cdc_lsn confirmed_flush;  /* the slot's confirmed_flush_lsn: where streaming resumes */
    cdc_lsn restart_lsn;      /* the oldest WAL the slot retains */
    int wal_status;           /* 0 reserved, 1 extended, 2 unreserved, 3 lost, -1 unknown */
    int64_t retained_bytes;   /* pg_current_wal_lsn() - restart_lsn, -1 unknown */
    int64_t safe_wal_bytes;   /* WAL that can still be written before the slot is lost
                                 (max_slot_wal_keep_size), -1: no such limit, or unknown */
    bool active;              /* some walsender is streaming from the slot */
    int active_pid;           /* its pid, 0 when not active */
};

enum pgsrc_kind {
    PGSRC_NONE = 0, /* nothing arrived before the timeout (or a signal interrupted the wait) */
    PGSRC_DATA,     /* an XLogData message: data/len hold one pgoutput message */
    PGSRC_KEEPALIVE /* a primary keepalive: wal_end is the server's sent position */
};

/* One message from pgsrc_read(). */
struct pgsrc_msg {
    enum pgsrc_kind kind;
    const uint8_t *data;  /* PGSRC_DATA: the pgoutput message, in libpq's buffer: valid until the
                             next pgsrc_read(), pgsrc_stop() or pgsrc_destroy() */
    size_t len;           /* PGSRC_DATA: length of data */
    cdc_lsn wal_start;    /* PGSRC_DATA: WAL position of the message; 0/0 for messages not
                             tied to a WAL record (pgoutput's Relation and Type) */
    cdc_lsn wal_end;      /* DATA/KEEPALIVE: the server's WAL end; for a keepalive, everything
                             before it has been sent to us */
    int64_t send_time_us; /* server clock at send, microseconds since 2000-01-01 UTC */
};

struct pgsrc;

/* Defaults as documented in struct pgsrc_opts. Never fails. */
void pgsrc_opts_init(struct pgsrc_opts *o);

/*
 * Open the SQL connection (catalog work) and the replication connection
 * (replication=database), both with the session options above.
 * On success *out is a new source (free it with pgsrc_destroy()); on failure
 * *out is untouched and nothing is left open.
 * Returns CDC_ERR_RETRY when the server cannot be reached or is starting up or
 * shutting down (the message names host:port and libpq's reason),
 * CDC_ERR_FATAL when it refuses us (authentication, missing role or database,
 * no replication privilege), CDC_ERR_CONFIG for invalid options,
 * CDC_ERR_NOMEM.
 */
cdc_rc pgsrc_create(struct pgsrc **out, const struct pgsrc_opts *opts,
                    struct cdc_err *err) CDC_MUST_CHECK;

/*
 * IDENTIFY_SYSTEM, then make sure the publication and the slot exist (creating
 * them when missing and allowed), then read the slot: fills every field of
 * *out. Returns CDC_ERR_RETRY when the slot is active for another walsender,
 * CDC_ERR_FATAL when the slot or publication is missing and may not be
 * created, or the slot is not a pgoutput slot of this database, or we lack
 * the privilege; CDC_ERR_RETRY when the connection is lost.
 */
cdc_rc pgsrc_prepare(struct pgsrc *src, struct pgsrc_slot_info *out,
                     struct cdc_err *err) CDC_MUST_CHECK;

/*
 * Read the slot from pg_replication_slots into the confirmed_flush,
 * restart_lsn, active and active_pid fields of *out (the others are left
 * alone). CDC_ERR_FATAL when the slot does not exist; CDC_ERR_RETRY, with *out
 * filled, when it is active for a walsender other than ours.
 */
cdc_rc pgsrc_slot_info(struct pgsrc *src, struct pgsrc_slot_info *out,
                       struct cdc_err *err) CDC_MUST_CHECK;

/*
 * START_REPLICATION from start_lsn (CDC_LSN_INVALID: the slot's
 * confirmed_flush) with our publication and pgoutput proto_version 1, or
 * proto_version 2 with streaming 'on' when opts.streaming and the server is
 * 14 or later.
 * The server never streams a transaction that committed before the slot's
 * confirmed_flush, whatever start_lsn says. CDC_ERR_RETRY when the slot is in
 * use by another walsender or the connection is lost; CDC_ERR_FATAL for other
 * refusals (slot missing, WAL removed).
 */
cdc_rc pgsrc_start(struct pgsrc *src, cdc_lsn start_lsn, struct cdc_err *err) CDC_MUST_CHECK;

/*
 * Wait up to timeout_ms (0: do not wait; < 0: no limit) for the next message
 * of the stream and describe it in *out (see struct pgsrc_msg: the payload is
 * valid until the next call). Keepalives that ask for a reply are answered at
 * once, and a standby status update is sent whenever status_interval_ms has
 * passed, so the caller only has to call this often enough.
 * A silent connection counts as lost (CDC_ERR_RETRY) after the server's
 * wal_sender_timeout (read at pgsrc_start; 60 s when it is 0) without a byte,
 * a reply having been requested after half of it: that is how a partition
 * that leaves the socket open is noticed.
 * Returns CDC_OK with out->kind PGSRC_NONE on timeout or EINTR;
 * CDC_ERR_CLOSED when the server ended the stream; CDC_ERR_RETRY when the
 * connection was lost or the server stopped us with an error it may not
 * repeat; CDC_ERR_FATAL for errors that will repeat (slot invalidated, WAL
 * removed); CDC_ERR_PROTO for malformed framing.
 */
cdc_rc pgsrc_read(struct pgsrc *src, int timeout_ms, struct pgsrc_msg *out,
                  struct cdc_err *err) CDC_MUST_CHECK;

/*
 * The highest position the pipeline has made safe (acknowledged and
 * checkpointed). It is reported as flush (and apply) in every later standby
 * status update; the server then never resends transactions that committed
 * before it. A value lower than the current one is ignored.
 */
void pgsrc_set_flushed(struct pgsrc *src, cdc_lsn lsn);

/* The current flushed position (as last set) and the highest WAL end received. */
cdc_lsn pgsrc_flushed(const struct pgsrc *src);
cdc_lsn pgsrc_received(const struct pgsrc *src);

/*
 * Connect with opts on a plain SQL connection only (no replication
 * connection, no slot or publication work), run sql (one or more statements,
 * one implicit transaction) and disconnect. On failure sqlstate holds the
 * server's SQLSTATE ("" if none) and err says what failed ("could not
 * <what>: ..."). Codes as pgsrc_create's; a refused statement is
 * CDC_ERR_FATAL. For `cdc-handler setup-ddl` (pgddl.c).
 */
cdc_rc pgsrc_exec_script(const struct pgsrc_opts *opts, const char *what, const char *sql,
                         char sqlstate[6], struct cdc_err *err) CDC_MUST_CHECK;

/*
 * Write a heartbeat into the database's WAL on the SQL connection: a
 * transactional pg_logical_emit_message(true, 'cdc_handler.heartbeat', now).
 * It is a transaction of this database, so the slot's position moves on an
 * idle or filtered database (a non-transactional message would not). Not
 * published: the decoder passes only setup-ddl's messages on as changes. On success *lsn
 * (may be NULL) is the message's LSN, as the function returns it. CDC_ERR_FATAL when
 * we may not call it (permission), CDC_ERR_RETRY when the connection is lost.
 */
cdc_rc pgsrc_heartbeat(struct pgsrc *src, cdc_lsn *lsn, struct cdc_err *err) CDC_MUST_CHECK;

/*
 * Send a standby status update: write = the highest WAL end received,
 * flush = apply = the flushed position. force: now; otherwise only when
 * status_interval_ms has passed since the last one. CDC_OK when not streaming.
 * CDC_ERR_RETRY when the connection is lost.
 */
cdc_rc pgsrc_send_status(struct pgsrc *src, bool force, struct cdc_err *err);

/*
 * End gracefully: when streaming, send a final status update, CopyDone, and
 * drain the server's remaining messages (at most a few seconds); then close
 * both connections. src stays valid for pgsrc_destroy() only. Returns the
 * first problem met; the connections are closed in every case.
 */
cdc_rc pgsrc_stop(struct pgsrc *src, struct cdc_err *err);

/* Close what is still open and free src. NULL does nothing. */
void pgsrc_destroy(struct pgsrc *src);

/*
 * Replace every occurrence of secret in the NUL-terminated msg (buffer of cap
 * bytes) with "********", truncating if needed. NULL or empty secret: no-op.
 */
void pgsrc_scrub(char *msg, size_t cap, const char *secret);

#endif
