/*
 * mysrc.h - the Connector/C side of the MySQL and MariaDB source: the SQL
 * connection (preflight, server identity, current position) and the binlog
 * dump connection, registered as a replica with its own server_id, that
 * hands out raw binlog events one at a time with the position to resume
 * after each of them.
 *
 * It frames events (MariaDB Connector/C's mariadb_rpl_fetch) and reads only
 * the few header and body fields that positions need: the event type, the
 * header's next position, ROTATE's next file name and position, and the GTID
 * of GTID events. Everything else (TABLE_MAP, row images, QUERY) is the pure
 * decoder's work (binlog.c, rowdec.c); nothing here knows JSON, NATS or
 * checkpoints. mariadb_rpl_extract_rows is never used.
 *
 * Positions: after every event, (file, pos) is where a new dump must start to
 * get exactly the events that follow it. ROTATE events, real (end of a file)
 * and artificial (the first event of every dump, naming the file the server
 * starts from), move it to the new file.
 *
 * A struct mysrc belongs to one thread (the reader); nothing here is
 * thread-safe, and nothing here logs or exits. Problems found by the
 * preflight are returned as data, each with the fix in its message, for the
 * caller to log.
 */
#ifndef CDC_SOURCE_MYSQL_MYSRC_H
#define CDC_SOURCE_MYSQL_MYSRC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* The values match enum cfg_ssl_mode in config/config.h. */
/* The system's CA directory (Debian: /etc/ssl/certs), for verify-ca without rds.ssl_root_cert. */
#define MYSRC_SYSTEM_CAPATH "/etc/ssl/certs"

/* TLS 1.2 is the minimum in every mode but disable. */
enum mysrc_sslmode {
    MYSRC_SSL_DISABLE = 0,
    MYSRC_SSL_REQUIRE,    /* TLS or nothing; the chain is checked only when ssl_ca is set */
    MYSRC_SSL_VERIFY_CA,  /* the chain, against ssl_ca or MYSRC_SYSTEM_CAPATH; not the host name */
    MYSRC_SSL_VERIFY_FULL /* the chain (ssl_ca or the system's store) and the host name */
};

/*
 * The default replica server_id (rds.server_id). Fixed rather than random so
 * that a restarted daemon takes over its own lingering dump thread on the
 * server (the server drops the older connection of a replica id) instead of
 * leaving one behind; it must differ from every other replica of the server.
 */
#define MYSRC_DEFAULT_SERVER_ID 4242u

#define MYSRC_FILE_MAX                                                                             \
    256                     /* binlog file names are at most FN_REFLEN (512) but short in practice \
                             */
#define MYSRC_CHECKS_MAX 16 /* preflight findings kept */

/*
 * Gives the password for one connection attempt, e.g. a fresh RDS IAM token
 * (struct mysrc_opts.password_fn; aws/awscreds.h's awscreds_rds_password has
 * this type). *out: malloc'd, NUL-terminated; mysrc wipes and frees it once
 * the connection is made or has failed. Called on the thread that calls
 * mysrc_create() and mysrc_start_*(), which is the source's own thread.
 */
typedef cdc_rc (*mysrc_password_fn)(void *closure, const char *host, int port, const char *user,
                                    char **out, struct cdc_err *err);

/* Options, borrowed for the length of mysrc_create() (which copies what it keeps). */
struct mysrc_opts {
    const char *host;      /* host name or address; NULL: localhost */
    int port;              /* TCP port, default 3306 */
    const char *socket;    /* Unix socket path, used instead of TCP when set (tests); NULL */
    const char *user;      /* account name */
    const char *password;  /* secret: never appears in an error message; NULL/"": none */
    int sslmode;           /* enum mysrc_sslmode, default MYSRC_SSL_REQUIRE */
    const char *ssl_ca;    /* CA file for VERIFY_*; NULL: the system's trust store */
    uint32_t server_id;    /* our replica id, 1..2^32-1, default MYSRC_DEFAULT_SERVER_ID */
    int connect_timeout_s; /* default 10 */
    int read_timeout_s;    /* a read that waits longer is a lost connection; default 30, must
                              exceed heartbeat_ms */
    int write_timeout_s;   /* default 30 */
    int heartbeat_ms;      /* the server sends a heartbeat after this long without events, so
                              mysrc_read() returns at least this often; default 1000 */
    /* if set, called before every connection (the SQL one, each dump, each reconnect) for its
       password, which replaces `password` and is scrubbed from messages. Needs TLS (sslmode
       not DISABLE): the value may go in cleartext (RDS IAM: mysql_clear_password) */
    mysrc_password_fn password_fn;
    void *password_closure; /* passed to password_fn */
};

/* Who we are talking to (mysrc_server_info()). */
struct mysrc_server {
    bool is_mariadb;          /* MariaDB (else MySQL) */
    char version[64];         /* @@version */
    uint32_t server_id;       /* @@server_id */
    char server_uuid[40];     /* @@server_uuid (MySQL); "" on MariaDB */
    char binlog_checksum[16]; /* @@binlog_checksum: CRC32 or NONE */
    bool gtid_mode;           /* MariaDB: always true; MySQL: @@gtid_mode = ON */
};

/* A binlog position: where a dump starts, or what follows an event. */
struct mysrc_pos {
    char file[MYSRC_FILE_MAX]; /* binlog file name, e.g. "mysql-bin-changelog.000042" */
    uint64_t pos;              /* byte offset in it; 4 is the first event after the magic */
};

enum mysrc_severity {
    MYSRC_SEV_INFO = 0, /* worth logging once, nothing to fix */
    MYSRC_SEV_WARN,     /* it will work, with a risk or a loss the message names */
    MYSRC_SEV_ERROR     /* it cannot work: the caller should refuse to start */
};

/* One preflight finding. */
struct mysrc_check {
    enum mysrc_severity severity;
    char what[32]; /* a stable name: "log_bin", "binlog_format", "grants", "retention", ... */
    char msg[320]; /* what is wrong and how to fix it, one line */
};

struct mysrc_preflight {
    int n;                                  /* findings in v[] */
    struct mysrc_check v[MYSRC_CHECKS_MAX]; /* the first MYSRC_CHECKS_MAX findings */
    int64_t retention_hours;                /* RDS "binlog retention hours"; -1: not RDS or
                                               NULL (purged as soon as possible) */
    bool is_rds;                            /* mysql.rds_show_configuration exists */
};

enum mysrc_kind {
    MYSRC_EVENT = 1, /* a binlog event: data/len/type and the position after it */
    MYSRC_HEARTBEAT  /* the server had nothing to send for heartbeat_ms */
};

/* A GTID: MariaDB domain-server-seq, or MySQL uuid:gno. */
struct mysrc_gtid {
    bool is_mysql;
    uint32_t domain_id; /* MariaDB */
    uint32_t server_id; /* MariaDB: the originating server */
    uint64_t seq;       /* MariaDB seq_no, MySQL gno */
    uint8_t uuid[16];   /* MySQL source uuid */
};

/* One event from mysrc_read(). */
struct mysrc_event {
    enum mysrc_kind kind;
    const uint8_t *data; /* MYSRC_EVENT: header (19 bytes) + body, without the checksum, in the
                            connector's buffer: valid until the next mysrc_read(), mysrc_stop()
                            or mysrc_destroy() */
    size_t len;          /* length of data (the header's event length minus the checksum) */
    uint8_t type;        /* event type code: 2 QUERY, 4 ROTATE, 15 FORMAT_DESCRIPTION, 16 XID,
                            19 TABLE_MAP, 30-32 rows v2, 162 MariaDB GTID, 33 MySQL GTID, ... */
    uint32_t timestamp;  /* header: seconds since the epoch (0 for artificial events) */
    uint32_t server_id;  /* header: the server that wrote it */
    uint32_t next_pos;   /* header: end of the event in its file; 0 for artificial ones */
    uint16_t flags;      /* header flags (0x20: artificial) */
    const char *file;    /* the binlog file after this event (a ROTATE's new file); valid
                            until the next mysrc_read() */
    uint64_t pos;        /* where to resume to get the next event: next_pos, or a ROTATE's
                            position in the new file, or unchanged for events without one */
    bool has_gtid;       /* a GTID event (MariaDB 162 or MySQL 33): gtid is filled */
    struct mysrc_gtid gtid;
};

struct mysrc;

/* Defaults as documented in struct mysrc_opts. Never fails. */
void mysrc_opts_init(struct mysrc_opts *o);

/*
 * Open the SQL connection. On success *out is a new source (free it with
 * mysrc_destroy()); on failure *out is untouched and nothing is left open.
 * Returns CDC_ERR_RETRY when the server cannot be reached or is shutting
 * down, CDC_ERR_FATAL when it refuses us (bad password, unknown account,
 * TLS required but not offered: then nothing at all was sent, not even the
 * user name), CDC_ERR_CONFIG for invalid options (a password_fn without TLS),
 * CDC_ERR_NOMEM; password_fn's own error, prefixed with the server.
 */
cdc_rc mysrc_create(struct mysrc **out, const struct mysrc_opts *opts,
                    struct cdc_err *err) CDC_MUST_CHECK;

/* Identity of the server (see struct mysrc_server). CDC_ERR_RETRY on a lost connection. */
cdc_rc mysrc_server_info(struct mysrc *src, struct mysrc_server *out,
                         struct cdc_err *err) CDC_MUST_CHECK;

/*
 * Check what binlog CDC needs, filling *out with findings (never logged here):
 * log_bin ON (ERROR), binlog_format ROW (ERROR), binlog_row_image FULL (WARN:
 * partial images lose column values), binlog_row_metadata FULL (WARN: column
 * names then come from information_schema, which can race with DDL), the
 * grants REPLICATION SLAVE (ERROR), REPLICATION CLIENT / BINLOG MONITOR and
 * SELECT (WARN), and the binlog retention: RDS "binlog retention hours" from
 * mysql.rds_show_configuration when that procedure exists (NULL or shorter
 * than tolerable_downtime_s: WARN), else binlog_expire_logs_seconds /
 * expire_logs_days when shorter. tolerable_downtime_s <= 0 skips the
 * comparison. Returns CDC_OK whatever it finds; CDC_ERR_RETRY on a lost
 * connection, CDC_ERR_FATAL when even the variables cannot be read.
 */
cdc_rc mysrc_preflight(struct mysrc *src, int64_t tolerable_downtime_s, struct mysrc_preflight *out,
                       struct cdc_err *err) CDC_MUST_CHECK;

/*
 * The server's current binlog position (SHOW MASTER STATUS) into *pos, and
 * its GTID position into *gtid_set (malloc'd, the caller frees it; MariaDB
 * @@gtid_binlog_pos "d-s-n,...", MySQL @@gtid_executed "uuid:1-5,..."; "" when
 * there is none). gtid_set may be NULL. CDC_ERR_FATAL when binary logging is
 * off or we lack BINLOG MONITOR / REPLICATION CLIENT.
 */
cdc_rc mysrc_current_position(struct mysrc *src, struct mysrc_pos *pos, char **gtid_set,
                              struct cdc_err *err) CDC_MUST_CHECK;

/*
 * Open the dump connection and start streaming from file:pos (pos >= 4): the
 * first event read is the one at pos (after the server's artificial ROTATE and
 * FORMAT_DESCRIPTION). Errors: see mysrc_read(), which reports most refusals,
 * because the server only answers the dump request with its first packet.
 */
cdc_rc mysrc_start_file(struct mysrc *src, const char *file, uint64_t pos,
                        struct cdc_err *err) CDC_MUST_CHECK;

/*
 * MariaDB only: start streaming after the GTID position gtid_set
 * ("domain-server-seq,...", one per domain, as @@gtid_binlog_pos): the first
 * transaction read is the one that follows it, in strict mode. MySQL GTID
 * sets cannot be resumed through Connector/C 3.3 (it has no
 * COM_BINLOG_DUMP_GTID): CDC_ERR_CONFIG there, use mysrc_start_file().
 */
cdc_rc mysrc_start_gtid(struct mysrc *src, const char *gtid_set,
                        struct cdc_err *err) CDC_MUST_CHECK;

/*
 * Block until the next event of the dump, or a heartbeat (at most about
 * heartbeat_ms of quiet), and describe it in *out (see struct mysrc_event:
 * data is valid until the next call). Returns CDC_ERR_FATAL when the binlog
 * position is gone (purged; error 1236, the message names the position and
 * the fix), or the account may not replicate, or a replica with the same
 * server_id connected after us: the server then ends our dump (MariaDB error
 * 4052, MySQL 1236) and the message names rds.server_id (the newer reader
 * wins, so a restarted daemon replaces its own dump from before a crash).
 * CDC_ERR_RETRY when the connection is lost, times out (read_timeout_s), is
 * killed, or the server shuts down;
 * CDC_ERR_PROTO for an event the connector rejects (malformed, checksum
 * mismatch) or that is too short; CDC_ERR_CLOSED when the server ended the
 * stream. Not streaming: CDC_ERR_CLOSED.
 */
cdc_rc mysrc_read(struct mysrc *src, struct mysrc_event *out, struct cdc_err *err) CDC_MUST_CHECK;

/* The current position (what follows the last event read, or the start position). */
const struct mysrc_pos *mysrc_position(const struct mysrc *src);

/* Close the dump connection (the SQL one stays open). CDC_OK when not streaming. */
cdc_rc mysrc_stop(struct mysrc *src, struct cdc_err *err);

/* Close what is still open and free src. NULL does nothing. */
void mysrc_destroy(struct mysrc *src);

/*
 * Put gtid (MariaDB) into the GTID position `set` (a "d-s-n,..." string of at
 * most cap bytes including the NUL), replacing the entry of its domain or
 * appending one, with domains kept in ascending order. For the pipeline to
 * keep the position of the last committed transaction. CDC_ERR_CONFIG when
 * set is malformed or the result does not fit. Pure; any thread.
 */
cdc_rc mysrc_gtid_set_update(char *set, size_t cap, const struct mysrc_gtid *gtid,
                             struct cdc_err *err);

/* Format gtid as "d-s-n" (MariaDB) or "uuid:n" (MySQL) into buf. Returns buf. */
const char *mysrc_gtid_format(const struct mysrc_gtid *gtid, char *buf, size_t cap);

/* One column of a table, from information_schema (mysrc_table_columns()). */
struct mysrc_colinfo {
    char name[65];      /* COLUMN_NAME */
    char data_type[32]; /* DATA_TYPE: "int", "uuid", "inet6", "longtext", ... */
    bool is_unsigned;   /* COLUMN_TYPE says unsigned */
    bool is_key;        /* part of the primary key */
    bool is_json;       /* MariaDB: a JSON column (a json_valid() check on it) */
};

/*
 * The columns of db.table in ordinal order, from information_schema on the
 * SQL connection: *out (malloc'd, the caller frees it) and *n. A table that
 * no longer exists gives *n = 0. CDC_ERR_RETRY on a lost connection.
 */
cdc_rc mysrc_table_columns(struct mysrc *src, const char *db, const char *table,
                           struct mysrc_colinfo **out, uint32_t *n,
                           struct cdc_err *err) CDC_MUST_CHECK;

#endif
