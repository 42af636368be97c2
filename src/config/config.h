/*
 * config.h - the daemon's configuration: the design document's config.yaml,
 * its environment variables, and our additions.
 *
 * Loading order (highest precedence first): command-line overrides (-X
 * key.path=value), environment variables, the YAML file (with ${VAR} and
 * ${VAR:-default} interpolation), defaults from cfg_init(). After loading,
 * cfg_check() validates everything in one pass.
 *
 * Knows YAML, the environment and defaults; knows nothing of run time.
 */
#ifndef CDC_CONFIG_CONFIG_H
#define CDC_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/err.h"

enum cfg_engine { CFG_ENGINE_POSTGRES = 0, CFG_ENGINE_MYSQL, CFG_ENGINE_MARIADB };
enum cfg_ssl_mode { CFG_SSL_DISABLE = 0, CFG_SSL_REQUIRE, CFG_SSL_VERIFY_CA, CFG_SSL_VERIFY_FULL };
enum cfg_rds_auth { CFG_AUTH_PASSWORD = 0, CFG_AUTH_IAM };
enum cfg_storage { CFG_STORAGE_FILE = 0, CFG_STORAGE_MEMORY };
enum cfg_log_format { CFG_LOG_JSON = 0, CFG_LOG_TEXT };
enum cfg_format { CFG_FORMAT_NATIVE = 0, CFG_FORMAT_DEBEZIUM };

/* A list of strings (nats.urls, cdc.table_filters, cdc.sensitive_fields). */
struct cfg_strlist {
    char **items;
    int n;
    int *lines; /* per item: its 1-based line in the file, 0 if not from the file; may be NULL */
};

/* A mapping of strings to strings (cdc.metadata), in file order, keys unique. */
struct cfg_strmap {
    char **keys;
    char **values;
    int n;
    int *lines; /* per entry: its 1-based line in the file, 0 if not from the file; may be NULL */
};

/* Where a key's value came from, so cfg_check() can point at the culprit. */
enum cfg_src { CFG_SRC_DEFAULT = 0, CFG_SRC_FILE, CFG_SRC_ENV, CFG_SRC_OVERRIDE };

struct cfg_origin {
    enum cfg_src src;   /* who set the value last */
    int line;           /* 1-based line of the key in cfg->path (CFG_SRC_FILE), else 0 */
    char unset_var[64]; /* the first ${VAR} (no default) in the file value that was unset or
                           empty, "" if none: explains why a value ended up empty */
    bool var_was_empty; /* unset_var was set, but to "" */
    bool literal;       /* CFG_SRC_FILE: the value is written in the file itself, not (only)
                           taken from a ${VAR} */
};

/* The number of keys in the table (cfg_keys[] in config.c); origin[] is indexed like it. */
#define CFG_NKEYS 72

struct cdc_config {
    char *path; /* the file loaded, NULL if none */

    struct {
        int port;                /* server.port, default 8080 */
        int64_t grace_period_ms; /* server.grace_period, default 30s */
    } server;

    struct {
        enum cfg_engine engine;     /* rds.engine / AWS_RDS_ENGINE, default postgres */
        char *endpoint;             /* rds.endpoint / AWS_RDS_ENDPOINT */
        int port;                   /* rds.port / AWS_RDS_PORT, default 5432 (pg) or 3306 (mysql) */
        char *username;             /* rds.username / AWS_RDS_USERNAME */
        char *password;             /* rds.password / AWS_RDS_PASSWORD (secret) */
        char *database;             /* rds.database / AWS_RDS_DATABASE */
        char *region;               /* rds.region / AWS_RDS_REGION */
        enum cfg_ssl_mode ssl_mode; /* rds.ssl_mode, default require */
        int max_connections;        /* rds.max_connections, default 10 */
        enum cfg_rds_auth auth;     /* rds.auth / AWS_RDS_AUTH: password (default) or iam */
        char *ssl_root_cert;        /* rds.ssl_root_cert / AWS_RDS_SSL_ROOT_CERT: CA bundle file
                                       (libpq sslrootcert); NULL: libpq's default */
        int64_t server_id; /* rds.server_id, 1..2^32-1, default 4242: our replica id on a MySQL
                              or MariaDB server (see MYSRC_DEFAULT_SERVER_ID) */
    } rds;

    struct {
        struct cfg_strlist
            urls;       /* nats.urls / NATS_URL (comma-separated), default nats://127.0.0.1:4222 */
        char *username; /* nats.username / NATS_USERNAME */
        char *password; /* nats.password / NATS_PASSWORD (secret) */
        char *cluster_id;           /* nats.cluster_id / NATS_CLUSTER_ID: the connection name */
        int64_t request_timeout_ms; /* nats.request_timeout, default 10s */
        char *stream;               /* nats.stream, default "CDC" */
        char *subject_prefix;       /* nats.subject_prefix, default "cdc" */
        char *subject_template;     /* nats.subject_template, default
                                       "{prefix}.{database}.{schema}.{table}";     tokens {op} and
                                       {pk_hash:N} too (transform/subject.h) */
        enum cfg_storage stream_storage; /* nats.stream_storage, default file */
        int stream_replicas;             /* nats.stream_replicas, default 1 */
        int64_t duplicate_window_ms;     /* nats.duplicate_window, default 2m */
        char *token;                     /* nats.token / NATS_TOKEN (secret) */
        char *nkey_seed_file;   /* nats.nkey_seed_file / NATS_NKEY_SEED_FILE: a user NKey seed */
        char *credentials_file; /* nats.credentials_file / NATS_CREDS_FILE: a .creds (JWT) file */
        char *tls_ca_file;      /* nats.tls.ca_file / NATS_TLS_CA_FILE: CA bundle (PEM) */
        char *tls_cert_file;    /* nats.tls.cert_file / NATS_TLS_CERT_FILE: client cert (mTLS) */
        char *tls_key_file;     /* nats.tls.key_file / NATS_TLS_KEY_FILE: its private key */
    } nats;

    struct {
        char *checkpoint_storage; /* cdc.checkpoint_storage / CHECKPOINT_STORAGE, default
                                     file://cdc-handler-checkpoint.json (relative to the
                                     working directory) */
        int64_t
            checkpoint_interval_ms; /* cdc.checkpoint_interval / CHECKPOINT_INTERVAL, default 10s */
        char *checkpoint_encryption_key;      /* cdc.checkpoint_encryption_key /
                                                 CHECKPOINT_ENCRYPTION_KEY (secret): 64 hex digits
                                                 or base64 of 32 bytes; unset: records in clear */
        char *checkpoint_encryption_key_file; /* cdc.checkpoint_encryption_key_file: a file
                                                 holding the key (not both; the environment's
                                                 CHECKPOINT_ENCRYPTION_KEY_FILE is the _FILE
                                                 form of the key itself) */
        int max_retry_attempts;        /* cdc.max_retry_attempts / MAX_RETRY_ATTEMPTS, default 3 */
        int batch_size;                /* cdc.batch_size / BATCH_SIZE, default 1000 */
        int64_t tolerable_downtime_ms; /* cdc.tolerable_downtime, default 24h: how long the daemon
                                          may be down; the MySQL preflight warns when binlog
                                          retention is shorter (0: no check) */
        int64_t heartbeat_interval_ms; /* cdc.heartbeat_interval, default 60s, 0: off: after this
                                          long without changes, write a heartbeat (PostgreSQL) */
        bool heartbeat_topic;          /* cdc.heartbeat_topic, default false: also publish each
                                          heartbeat written on {prefix}.heartbeat.{database}
                                          (core NATS, not in the stream's user subjects) */
        int64_t batch_timeout_ms;      /* cdc.batch_timeout / BATCH_TIMEOUT, default 5s */
        struct cfg_strlist table_filters;    /* cdc.table_filters: include patterns (see
                                                transform/filter.h); empty: every table */
        struct cfg_strlist table_excludes;   /* cdc.table_excludes: exclude patterns, win over
                                                table_filters */
        struct cfg_strlist operations;       /* cdc.operations: insert, update, delete, truncate,
                                                ddl; default all five */
        struct cfg_strlist sensitive_fields; /* cdc.sensitive_fields: "column[=action]" or
                                                "schema.table=detect" (transform/redact.h); a
                                                YAML mapping item is stored in that form */
        char *sensitive_hash_key;            /* cdc.sensitive_hash_key / SENSITIVE_HASH_KEY
                                                (secret): the HMAC key of hash rules */
        char *sensitive_hash_key_id;         /* cdc.sensitive_hash_key_id / SENSITIVE_HASH_KEY_ID:
                                                written in every hash ("hmac:<id>:...") */
        bool schema_evolution_enabled;       /* cdc.schema_evolution.enabled, default true */
        bool schema_evolution_strict;        /* cdc.schema_evolution.strict_mode, default false */
        char *slot_name;                     /* cdc.slot_name, default "cdc_handler" */
        char *publication;                   /* cdc.publication, default "cdc_handler" */
        char *source_name;                   /* cdc.source_name, default rds.database */
        bool dlq_on_publish_failure;         /* cdc.dlq_on_publish_failure, default false: an event
                                                refused max_retry_attempts times stops the run */
        char *claim_check_bucket; /* cdc.claim_check_bucket, default "cdc_large_events", "":
                                     off: where events too large for NATS are stored */
        enum cfg_format format;   /* cdc.format: native (default) or debezium */
        bool cloudevents; /* cdc.cloudevents, default false: CloudEvents binary-mode headers */
        struct cfg_strmap metadata;  /* cdc.metadata: static labels put in every event's metadata */
        int breaker_threshold;       /* cdc.circuit_breaker.failure_threshold, default 5, 0: off:
                                        failures in a row that open a dependency's breaker */
        int64_t breaker_cooldown_ms; /* cdc.circuit_breaker.cooldown, default 30s: how long an
                                        open breaker waits before its probe */
        bool pg_streaming;           /* cdc.pg_streaming, default true: on PostgreSQL 14+, receive
                                        large transactions while they run (pgoutput streaming) and
                                        spill them to cdc.spill_dir until they commit */
        int64_t retry_backoff_base_ms; /* cdc.retry_backoff_base, default 1s: the first ceiling of
                                          the full-jitter backoff between runs */
        int64_t retry_backoff_max_ms;  /* cdc.retry_backoff_max, default 8s: its largest ceiling */
        int64_t slot_lag_warn_bytes;   /* cdc.slot_lag_warn_bytes, default 1 GiB, 0: off: a warning
                                          when the slot retains more WAL, or has less room left
                                          before max_slot_wal_keep_size invalidates it */
        int64_t slot_lag_error_bytes;  /* cdc.slot_lag_error_bytes, default 8 GiB, 0: off: the same
                                          as an error */
        int64_t max_buffer_bytes;      /* cdc.max_buffer_bytes, default 64 MiB, 0: none: event bytes
                                          published and not yet acked before reading pauses */
        char *spill_dir;               /* cdc.spill_dir, default "": $TMPDIR, else /tmp */
        int64_t spill_max_bytes; /* cdc.spill_max_bytes, default 0: no limit; the largest spill
                                    file of one transaction (beyond: a fatal error) */
    } cdc;

    struct {
        bool prometheus_enabled; /* monitoring.prometheus.enabled, default true */
        int prometheus_port;     /* monitoring.prometheus.port / PROMETHEUS_PORT, default 8080 */
        char *log_level;         /* monitoring.logging.level / LOG_LEVEL, default "info" */
        enum cfg_log_format log_format; /* monitoring.logging.format, default json */
        int64_t memory_limit_bytes;     /* monitoring.memory_limit_bytes, default 0 (none): /ready
                                           fails while the resident memory is above it */
    } monitoring;

    struct cfg_origin origin[CFG_NKEYS]; /* per key, indexed as cfg_keys[] */
};

/*
 * The key table: one entry per configuration key, in the order cfg_dump()
 * prints them. Used by the config module itself and by tests.
 */
enum cfg_type {
    CFG_T_STR,  /* char *, NULL when unset or empty */
    CFG_T_INT,  /* int, range [min, max] */
    CFG_T_I64,  /* int64_t, range [min, max] (rds.server_id: 1..2^32-1 does not fit an int) */
    CFG_T_DUR,  /* int64_t milliseconds, range [min, max] */
    CFG_T_SIZE, /* int64_t bytes, range [min, max]: "1048576", "512MiB", "2GB" (cfg_parse_size) */
    CFG_T_BOOL, /* bool */
    CFG_T_ENUM, /* an enum (int-sized), value = index in names[] */
    CFG_T_WORD, /* char *, one of names[] (monitoring.logging.level) */
    CFG_T_LIST, /* struct cfg_strlist */
    CFG_T_MAP   /* struct cfg_strmap: a YAML mapping of scalars; "k=v,k2=v2" from -X, and
                   -X key.path.NAME=value sets one entry */
};

struct cfg_key {
    const char *path;         /* "rds.endpoint" */
    enum cfg_type type;       /* how the value is parsed and stored */
    size_t off;               /* offsetof(struct cdc_config, field) */
    const char *env;          /* the environment variable that overrides it, or NULL */
    int64_t min, max;         /* CFG_T_INT / CFG_T_DUR bounds, inclusive */
    const char *const *names; /* CFG_T_ENUM / CFG_T_WORD accepted values, NULL-terminated */
    bool secret;              /* never echoed: masked in dumps and problem messages */
};

extern const struct cfg_key cfg_keys[CFG_NKEYS];

/* The index of `path` in cfg_keys[], or -1 if there is no such key. */
int cfg_key_find(const char *path);

/*
 * Parse a duration: "500ms", "10s", "2m", "1h", combinations such as "1m30s",
 * decimals such as "1.5s"; a bare integer means seconds. Returns false if s is
 * not a duration (or overflows). Pure; any thread.
 */
bool cfg_parse_duration_ms(const char *s, int64_t *out);

/*
 * Parse a size in bytes: a bare integer, or an integer and a unit (a space
 * between them is allowed, case is not significant): B; kB, MB, GB, TB
 * (powers of 1000, also written K, M, G, T); KiB, MiB, GiB, TiB (powers of
 * 1024, also written Ki, Mi, Gi, Ti as Kubernetes does). Returns false if s is
 * not such a size or overflows. Pure; any thread.
 */
bool cfg_parse_size(const char *s, int64_t *out);

/*
 * Return a malloc'd copy of s where every credential embedded in a URL
 * ("scheme://user:pass@host" -> "scheme://user:<8 stars>@host",
 * "scheme://token@host" -> "scheme://<8 stars>@host") is masked. The caller
 * frees it. NULL if out of memory; s NULL gives "".
 */
char *cfg_redact_urls(const char *s);

/* Fill cfg with defaults. Never fails. */
void cfg_init(struct cdc_config *cfg);

/* Free every string and list in cfg. cfg_init() makes it usable again. */
void cfg_free(struct cdc_config *cfg);

/*
 * Load `path` (may be NULL: defaults and environment only), then apply the
 * environment variables, then the overrides ("key.path=value", n of them).
 * Every problem found is written to `errout` as one line
 * "file:line: key.path: problem" (or "<env>: VAR: problem", "<override>: key: problem"),
 * and the function returns CDC_ERR_CONFIG if there was at least one.
 * `env` is looked up with getenv-like semantics through `getenv_fn` (NULL: getenv),
 * so tests can inject an environment.
 *
 * cfg must come fresh from cfg_init(). Loading does not stop at the first problem:
 * every key is tried, and each problem is reported once. Environment variables
 * that are set but empty do not override. A list key accepts a YAML list or a
 * comma-separated scalar; a list item that contains ${...} is split at commas
 * after interpolation and its empty pieces are dropped (so `- ${NATS_URL}` takes
 * several URLs). `$${` writes a literal `${`. A cdc.sensitive_fields item may
 * also be a mapping ({column: C, action: A}, {C: A}, {table: T, detect: true}),
 * stored in the item's string form "C=A" / "T=detect" (transform/redact.h).
 * Values of -X overrides are not interpolated. After loading, rds.port
 * defaults by engine and cdc.source_name to rds.database.
 *
 * Secrets from files: for each secret key with an environment variable VAR
 * (AWS_RDS_PASSWORD, NATS_PASSWORD, NATS_TOKEN, CHECKPOINT_ENCRYPTION_KEY,
 * SENSITIVE_HASH_KEY), VAR_FILE names a file whose
 * content (one trailing newline, "\n" or "\r\n", removed) is the value, the
 * Kubernetes-secret convention; setting both VAR and VAR_FILE is a problem.
 * See cfg_warn_exposed() for secrets written in the file itself. Returns CDC_OK, CDC_ERR_CONFIG
 * (problems were written) or CDC_ERR_NOMEM. Main thread, before anything else runs.
 */
cdc_rc cfg_load(struct cdc_config *cfg, const char *path, const char *const *overrides, int n,
                const char *(*getenv_fn)(const char *), FILE *errout, struct cdc_err *err);

/*
 * After cfg_load(): if the loaded file holds a secret itself (a secret key or a
 * URL credential written literally, not through ${VAR}, and not overridden
 * since) and group or others may read it, write one line
 * "FILE: warning: holds secrets (keys) and is readable by ..." to out and
 * return true. A warning, not a problem: the daemon runs on. Never echoes a
 * value.
 */
bool cfg_warn_exposed(const struct cdc_config *cfg, FILE *out);

/*
 * Validate in one pass, with the same reporting as cfg_load() (the place is
 * taken from cfg->origin: file line, <env>, <override> or <default>):
 * rds.endpoint, rds.database, rds.username and cdc.checkpoint_storage are
 * required; the checkpoint encryption key (or key file) parses as a key and
 * only one of the two is set; every integer and duration is in range; nats.urls is not empty and
 * each is nats://..., tls://... or HOST:PORT; cdc.slot_name is [a-z0-9_]{1,63};
 * nats.subject_prefix is dot-separated subject tokens and nats.stream and
 * cdc.source_name single tokens (no spaces, dots or wildcards); rds.auth iam
 * needs TLS (rds.ssl_mode other than disable) and rds.region; at most one NATS
 * authentication method (username, token, nkey_seed_file, credentials_file);
 * nats.tls.cert_file and key_file together; cdc.table_filters and
 * cdc.table_excludes items are patterns of transform/filter.h and cdc.operations
 * is a non-empty list of known operations; every file named (CA bundles,
 * certificates, keys, seeds, credentials) is readable. Secrets are
 * never echoed and URL credentials are masked. Returns CDC_OK or
 * CDC_ERR_CONFIG.
 */
cdc_rc cfg_check(const struct cdc_config *cfg, FILE *errout, struct cdc_err *err);

/*
 * Print the effective configuration as YAML, every key, secrets and URL
 * credentials masked as "********" (an empty secret prints as ""). The output
 * loads back with cfg_load().
 */
void cfg_dump(const struct cdc_config *cfg, FILE *out);

#endif
