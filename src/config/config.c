/*
 * config.c - loading the configuration: defaults, the YAML file (libyaml's
 * document API, with ${VAR} and ${VAR:-default} interpolation), the design's
 * environment variables, and -X key.path=value overrides, in that order, each
 * overriding the one before.
 *
 * Every key is described once, in cfg_keys[]: its path, type, field, bounds and
 * environment variable. Loading, checking (config_check.c) and dumping
 * (cfg_dump.c) all walk that table, so a new key is one line here plus a field.
 *
 * Problems are written one per line, "FILE:LINE: key.path: problem", and
 * loading goes on after each one so the user sees them all at once. The value of
 * a secret key is never echoed. Nothing here knows what the values are used for.
 */
#include "config/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <yaml.h>

#include "core/buf.h"

static const char *const cfg_engine_names[] = {"postgres", "mysql", "mariadb", NULL};
static const char *const cfg_ssl_names[] = {"disable", "require", "verify-ca", "verify-full", NULL};
static const char *const cfg_auth_names[] = {"password", "iam", NULL};
static const char *const cfg_storage_names[] = {"file", "memory", NULL};
static const char *const cfg_level_names[] = {"error", "warn", "info", "debug", NULL};
static const char *const cfg_format_names[] = {"json", "text", NULL};
static const char *const cfg_event_format_names[] = {"native", "debezium", NULL};

#define CFG_OFF(f) offsetof(struct cdc_config, f)
#define CFG_NOMAX  INT64_MAX

/* clang-format off */
#define K_STR(p, f, e)        {p, CFG_T_STR, CFG_OFF(f), e, 0, 0, NULL, false}
#define K_SECRET(p, f, e)     {p, CFG_T_STR, CFG_OFF(f), e, 0, 0, NULL, true}
#define K_INT(p, f, e, lo, h) {p, CFG_T_INT, CFG_OFF(f), e, lo, h, NULL, false}
#define K_I64(p, f, e, lo, h) {p, CFG_T_I64, CFG_OFF(f), e, lo, h, NULL, false}
#define K_DUR(p, f, e, lo)    {p, CFG_T_DUR, CFG_OFF(f), e, lo, CFG_NOMAX, NULL, false}
#define K_SIZE(p, f, e)       {p, CFG_T_SIZE, CFG_OFF(f), e, 0, CFG_NOMAX, NULL, false}
#define K_BOOL(p, f)          {p, CFG_T_BOOL, CFG_OFF(f), NULL, 0, 0, NULL, false}
#define K_ENUM(p, f, e, n)    {p, CFG_T_ENUM, CFG_OFF(f), e, 0, 0, n, false}
#define K_WORD(p, f, e, n)    {p, CFG_T_WORD, CFG_OFF(f), e, 0, 0, n, false}
#define K_LIST(p, f, e)       {p, CFG_T_LIST, CFG_OFF(f), e, 0, 0, NULL, false}
#define K_MAP(p, f)           {p, CFG_T_MAP, CFG_OFF(f), NULL, 0, 0, NULL, false}
/* clang-format on */

/* Sections must stay contiguous: cfg_dump() prints them in this order. */
const struct cfg_key cfg_keys[CFG_NKEYS] = {
    K_INT("server.port", server.port, NULL, 1, 65535),
    K_DUR("server.grace_period", server.grace_period_ms, NULL, 0),

    K_STR("rds.endpoint", rds.endpoint, "AWS_RDS_ENDPOINT"),
    K_STR("rds.username", rds.username, "AWS_RDS_USERNAME"),
    K_SECRET("rds.password", rds.password, "AWS_RDS_PASSWORD"),
    K_STR("rds.database", rds.database, "AWS_RDS_DATABASE"),
    K_STR("rds.region", rds.region, "AWS_RDS_REGION"),
    K_ENUM("rds.ssl_mode", rds.ssl_mode, NULL, cfg_ssl_names),
    K_INT("rds.max_connections", rds.max_connections, NULL, 1, 1000),
    K_ENUM("rds.engine", rds.engine, "AWS_RDS_ENGINE", cfg_engine_names),
    K_INT("rds.port", rds.port, "AWS_RDS_PORT", 1, 65535),
    K_ENUM("rds.auth", rds.auth, "AWS_RDS_AUTH", cfg_auth_names),
    K_STR("rds.ssl_root_cert", rds.ssl_root_cert, "AWS_RDS_SSL_ROOT_CERT"),
    K_I64("rds.server_id", rds.server_id, NULL, 1, UINT32_MAX),

    K_LIST("nats.urls", nats.urls, "NATS_URL"),
    K_STR("nats.username", nats.username, "NATS_USERNAME"),
    K_SECRET("nats.password", nats.password, "NATS_PASSWORD"),
    K_STR("nats.cluster_id", nats.cluster_id, "NATS_CLUSTER_ID"),
    K_DUR("nats.request_timeout", nats.request_timeout_ms, NULL, 1),
    K_STR("nats.stream", nats.stream, NULL),
    K_STR("nats.subject_prefix", nats.subject_prefix, NULL),
    K_STR("nats.subject_template", nats.subject_template, NULL),
    K_ENUM("nats.stream_storage", nats.stream_storage, NULL, cfg_storage_names),
    K_INT("nats.stream_replicas", nats.stream_replicas, NULL, 1, 5),
    K_DUR("nats.duplicate_window", nats.duplicate_window_ms, NULL, 1),
    K_SECRET("nats.token", nats.token, "NATS_TOKEN"),
    K_STR("nats.nkey_seed_file", nats.nkey_seed_file, "NATS_NKEY_SEED_FILE"),
    K_STR("nats.credentials_file", nats.credentials_file, "NATS_CREDS_FILE"),
    K_STR("nats.tls.ca_file", nats.tls_ca_file, "NATS_TLS_CA_FILE"),
    K_STR("nats.tls.cert_file", nats.tls_cert_file, "NATS_TLS_CERT_FILE"),
    K_STR("nats.tls.key_file", nats.tls_key_file, "NATS_TLS_KEY_FILE"),

    K_STR("cdc.checkpoint_storage", cdc.checkpoint_storage, "CHECKPOINT_STORAGE"),
    K_DUR("cdc.checkpoint_interval", cdc.checkpoint_interval_ms, "CHECKPOINT_INTERVAL", 1),
    K_SECRET("cdc.checkpoint_encryption_key", cdc.checkpoint_encryption_key,
             "CHECKPOINT_ENCRYPTION_KEY"),
    K_STR("cdc.checkpoint_encryption_key_file", cdc.checkpoint_encryption_key_file, NULL),
    K_INT("cdc.max_retry_attempts", cdc.max_retry_attempts, "MAX_RETRY_ATTEMPTS", 0, INT_MAX),
    K_DUR("cdc.retry_backoff_base", cdc.retry_backoff_base_ms, NULL, 1),
    K_DUR("cdc.retry_backoff_max", cdc.retry_backoff_max_ms, NULL, 1),
    K_INT("cdc.batch_size", cdc.batch_size, "BATCH_SIZE", 1, INT_MAX),
    K_DUR("cdc.batch_timeout", cdc.batch_timeout_ms, "BATCH_TIMEOUT", 1),
    K_SIZE("cdc.max_buffer_bytes", cdc.max_buffer_bytes, NULL),
    K_DUR("cdc.tolerable_downtime", cdc.tolerable_downtime_ms, NULL, 0),
    K_DUR("cdc.heartbeat_interval", cdc.heartbeat_interval_ms, NULL, 0),
    K_BOOL("cdc.heartbeat_topic", cdc.heartbeat_topic),
    K_SIZE("cdc.slot_lag_warn_bytes", cdc.slot_lag_warn_bytes, NULL),
    K_SIZE("cdc.slot_lag_error_bytes", cdc.slot_lag_error_bytes, NULL),
    K_LIST("cdc.table_filters", cdc.table_filters, NULL),
    K_LIST("cdc.table_excludes", cdc.table_excludes, NULL),
    K_LIST("cdc.operations", cdc.operations, NULL),
    K_BOOL("cdc.schema_evolution.enabled", cdc.schema_evolution_enabled),
    K_BOOL("cdc.schema_evolution.strict_mode", cdc.schema_evolution_strict),
    K_LIST("cdc.sensitive_fields", cdc.sensitive_fields, NULL),
    K_SECRET("cdc.sensitive_hash_key", cdc.sensitive_hash_key, "SENSITIVE_HASH_KEY"),
    K_STR("cdc.sensitive_hash_key_id", cdc.sensitive_hash_key_id, "SENSITIVE_HASH_KEY_ID"),
    K_STR("cdc.slot_name", cdc.slot_name, NULL),
    K_STR("cdc.publication", cdc.publication, NULL),
    K_STR("cdc.source_name", cdc.source_name, NULL),
    K_BOOL("cdc.dlq_on_publish_failure", cdc.dlq_on_publish_failure),
    K_STR("cdc.claim_check_bucket", cdc.claim_check_bucket, NULL),
    K_ENUM("cdc.format", cdc.format, NULL, cfg_event_format_names),
    K_BOOL("cdc.cloudevents", cdc.cloudevents),
    K_MAP("cdc.metadata", cdc.metadata),
    K_INT("cdc.circuit_breaker.failure_threshold", cdc.breaker_threshold, NULL, 0, INT_MAX),
    K_DUR("cdc.circuit_breaker.cooldown", cdc.breaker_cooldown_ms, NULL, 1),
    K_BOOL("cdc.pg_streaming", cdc.pg_streaming),
    K_STR("cdc.spill_dir", cdc.spill_dir, NULL),
    K_I64("cdc.spill_max_bytes", cdc.spill_max_bytes, NULL, 0, INT64_MAX),

    K_BOOL("monitoring.prometheus.enabled", monitoring.prometheus_enabled),
    K_INT("monitoring.prometheus.port", monitoring.prometheus_port, "PROMETHEUS_PORT", 1, 65535),
    K_WORD("monitoring.logging.level", monitoring.log_level, "LOG_LEVEL", cfg_level_names),
    K_ENUM("monitoring.logging.format", monitoring.log_format, NULL, cfg_format_names),
    K_SIZE("monitoring.memory_limit_bytes", monitoring.memory_limit_bytes, NULL),
};

_Static_assert(sizeof(enum cfg_engine) == sizeof(int) && sizeof(enum cfg_ssl_mode) == sizeof(int) &&
                   sizeof(enum cfg_rds_auth) == sizeof(int) &&
                   sizeof(enum cfg_storage) == sizeof(int) &&
                   sizeof(enum cfg_log_format) == sizeof(int) &&
                   sizeof(enum cfg_format) == sizeof(int),
               "CFG_T_ENUM fields are stored as int");

/* Where the value being set was written, for problem messages. */
struct cfg_loc {
    enum cfg_src src;
    int line;         /* CFG_SRC_FILE: 1-based */
    const char *name; /* CFG_SRC_ENV: the variable */
};

/* The result of interpolating one scalar. */
struct cfg_interp {
    char *value;       /* malloc'd, NULL on a syntax problem */
    bool had_ref;      /* it contained at least one ${...} */
    char unset[64];    /* first ${VAR} without default that was unset or empty */
    bool unset_empty;  /* ... it was set but empty */
    const char *error; /* syntax problem (static text), or NULL */
};

struct cfg_loader {
    struct cdc_config *cfg;
    const char *path;                       /* the file as given, for messages */
    const char *(*getenv_fn)(const char *); /* never NULL */
    FILE *out;                              /* problems go here; may be NULL */
    int problems;                           /* how many were reported */
    bool nomem;                             /* an allocation failed */
};

int
cfg_key_find(const char *path)
{
    for (int i = 0; i < CFG_NKEYS; i++)
        if (strcmp(cfg_keys[i].path, path) == 0)
            return i;
    return -1;
}

static void *
cfg_field(struct cdc_config *cfg, int ki)
{
    return (char *) cfg + cfg_keys[ki].off;
}

/* ---- defaults and freeing --------------------------------------------------------- */

static void
cfg_list_clear(struct cfg_strlist *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    free(l->lines);
    l->items = NULL;
    l->lines = NULL;
    l->n = 0;
}

/* Append s[0..n) to l; line is its line in the file (0: not from the file). */
static bool
cfg_list_push(struct cfg_strlist *l, const char *s, size_t n, int line)
{
    char **items = realloc(l->items, sizeof(*items) * (size_t) (l->n + 1));
    int *lines;
    char *copy;

    if (items == NULL)
        return false;
    l->items = items;
    lines = realloc(l->lines, sizeof(*lines) * (size_t) (l->n + 1));
    if (lines == NULL)
        return false;
    l->lines = lines;
    copy = strndup(s, n);
    if (copy == NULL)
        return false;
    l->items[l->n] = copy;
    l->lines[l->n] = line;
    l->n++;
    return true;
}

/* Append the comma-separated pieces of s, trimmed, skipping empty ones. */
static bool
cfg_list_push_split(struct cfg_strlist *l, const char *s, int line)
{
    while (*s) {
        const char *end = strchr(s, ',');
        const char *e = end ? end : s + strlen(s);
        const char *b = s;

        while (b < e && isspace((unsigned char) *b))
            b++;
        while (e > b && isspace((unsigned char) e[-1]))
            e--;
        if (e > b && !cfg_list_push(l, b, (size_t) (e - b), line))
            return false;
        if (end == NULL)
            break;
        s = end + 1;
    }
    return true;
}

static void
cfg_map_clear(struct cfg_strmap *m)
{
    for (int i = 0; i < m->n; i++) {
        free(m->keys[i]);
        free(m->values[i]);
    }
    free(m->keys);
    free(m->values);
    free(m->lines);
    memset(m, 0, sizeof(*m));
}

/* Set key k (k[0..kn)) to v[0..vn) in m: replaces an existing entry, else appends. */
static bool
cfg_map_put(struct cfg_strmap *m, const char *k, size_t kn, const char *v, size_t vn, int line)
{
    char *key, *val, **keys, **values;
    int *lines;

    if ((val = strndup(v, vn)) == NULL)
        return false;
    for (int i = 0; i < m->n; i++) {
        if (strlen(m->keys[i]) == kn && memcmp(m->keys[i], k, kn) == 0) {
            free(m->values[i]);
            m->values[i] = val;
            m->lines[i] = line;
            return true;
        }
    }
    key = strndup(k, kn);
    keys = realloc(m->keys, sizeof(*keys) * (size_t) (m->n + 1));
    if (keys != NULL)
        m->keys = keys;
    values = realloc(m->values, sizeof(*values) * (size_t) (m->n + 1));
    if (values != NULL)
        m->values = values;
    lines = realloc(m->lines, sizeof(*lines) * (size_t) (m->n + 1));
    if (lines != NULL)
        m->lines = lines;
    if (key == NULL || keys == NULL || values == NULL || lines == NULL) {
        free(key);
        free(val);
        return false;
    }
    m->keys[m->n] = key;
    m->values[m->n] = val;
    m->lines[m->n] = line;
    m->n++;
    return true;
}

static void
cfg_set_default_str(char **field, const char *v)
{
    /* cfg_init() cannot fail: on OOM the field stays NULL and cfg_check() reports it */
    *field = strdup(v);
}

void
cfg_init(struct cdc_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->server.port = 8080;
    cfg->server.grace_period_ms = 30000;
    cfg->rds.engine = CFG_ENGINE_POSTGRES;
    cfg->rds.port = 5432; /* 3306 for mysql/mariadb, decided after loading */
    cfg->rds.ssl_mode = CFG_SSL_REQUIRE;
    cfg->rds.max_connections = 10;
    cfg->rds.server_id = 4242; /* MYSRC_DEFAULT_SERVER_ID; fixed, so a restart replaces our own
                                  lingering dump connection instead of adding one */
    (void) cfg_list_push(&cfg->nats.urls, "nats://127.0.0.1:4222", 21, 0);
    cfg->nats.request_timeout_ms = 10000;
    cfg_set_default_str(&cfg->nats.stream, "CDC");
    cfg_set_default_str(&cfg->nats.subject_prefix, "cdc");
    /* SUBJ_DEFAULT_TEMPLATE (transform/subject.h) */
    cfg_set_default_str(&cfg->nats.subject_template, "{prefix}.{database}.{schema}.{table}");
    cfg->nats.stream_storage = CFG_STORAGE_FILE;
    cfg->nats.stream_replicas = 1;
    cfg->nats.duplicate_window_ms = 2 * 60 * 1000;
    /* relative to the working directory; see ckpt.h for the URL forms */
    cfg_set_default_str(&cfg->cdc.checkpoint_storage, "file://cdc-handler-checkpoint.json");
    cfg->cdc.checkpoint_interval_ms = 10000;
    cfg->cdc.tolerable_downtime_ms = 24 * 3600 * 1000;
    cfg->cdc.heartbeat_interval_ms = 60000;
    cfg->cdc.max_retry_attempts = 3;
    cfg->cdc.batch_size = 1000;
    cfg->cdc.batch_timeout_ms = 5000;
    for (int i = 0; i < 5; i++) {
        static const char *const ops[] = {"insert", "update", "delete", "truncate", "ddl"};

        (void) cfg_list_push(&cfg->cdc.operations, ops[i], strlen(ops[i]), 0);
    }
    cfg->cdc.schema_evolution_enabled = true;
    cfg->cdc.schema_evolution_strict = false;
    cfg_set_default_str(&cfg->cdc.slot_name, "cdc_handler");
    cfg_set_default_str(&cfg->cdc.publication, "cdc_handler");
    cfg_set_default_str(&cfg->cdc.claim_check_bucket, "cdc_large_events");
    cfg->cdc.pg_streaming = true;
    cfg->monitoring.prometheus_enabled = true;
    cfg->monitoring.prometheus_port = 8080;
    cfg_set_default_str(&cfg->monitoring.log_level, "info");
    cfg->monitoring.log_format = CFG_LOG_JSON;
    cfg->monitoring.memory_limit_bytes = 0;
    cfg->cdc.max_buffer_bytes = 64 * 1024 * 1024;
    cfg->cdc.slot_lag_warn_bytes = INT64_C(1) << 30;
    cfg->cdc.slot_lag_error_bytes = INT64_C(8) << 30;
    cfg->cdc.retry_backoff_base_ms = 1000; /* the design's 1, 2, 4, 8 s */
    cfg->cdc.retry_backoff_max_ms = 8000;
    cfg->cdc.breaker_threshold = 5;
    cfg->cdc.breaker_cooldown_ms = 30000;
}

void
cfg_free(struct cdc_config *cfg)
{
    for (int i = 0; i < CFG_NKEYS; i++) {
        void *f = cfg_field(cfg, i);

        if (cfg_keys[i].type == CFG_T_STR || cfg_keys[i].type == CFG_T_WORD)
            free(*(char **) f);
        else if (cfg_keys[i].type == CFG_T_LIST)
            cfg_list_clear(f);
        else if (cfg_keys[i].type == CFG_T_MAP)
            cfg_map_clear(f);
    }
    free(cfg->path);
    memset(cfg, 0, sizeof(*cfg));
}

/* ---- scalar parsers ------------------------------------------------------------------ */

static bool
cfg_parse_i64(const char *s, int64_t *out)
{
    char *end;
    long long v;

    if (*s == '\0' || isspace((unsigned char) *s))
        return false;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = v;
    return true;
}

static const int64_t cfg_pow10[] = {1, 10, 100, 1000, 10000, 100000, 1000000};

static const struct {
    const char *name;
    int64_t ms;
} cfg_dur_units[] = {{"ms", 1}, {"h", 3600000}, {"m", 60000}, {"s", 1000}}; /* "ms" before "m" */

/* One "<number><unit>" term of a duration; advances *sp. */
static bool
cfg_parse_dur_term(const char **sp, int64_t *ms)
{
    const char *s = *sp;
    int64_t ip = 0, frac = 0;
    int nint = 0, nfrac = 0;

    for (; isdigit((unsigned char) *s); s++, nint++) {
        if (ip > (INT64_MAX - 9) / 10)
            return false;
        ip = ip * 10 + (*s - '0');
    }
    if (*s == '.') {
        for (s++; isdigit((unsigned char) *s); s++) {
            if (nfrac == 6)
                continue; /* finer than a microsecond cannot matter in milliseconds */
            frac = frac * 10 + (*s - '0');
            nfrac++;
        }
    }
    if (nint == 0 && nfrac == 0)
        return false;
    for (size_t i = 0; i < sizeof(cfg_dur_units) / sizeof(cfg_dur_units[0]); i++) {
        size_t n = strlen(cfg_dur_units[i].name);
        int64_t unit = cfg_dur_units[i].ms;

        if (strncmp(s, cfg_dur_units[i].name, n) != 0)
            continue;
        if (ip > INT64_MAX / unit - 1)
            return false;
        *ms = ip * unit + frac * unit / cfg_pow10[nfrac];
        *sp = s + n;
        return true;
    }
    return false;
}

bool
cfg_parse_duration_ms(const char *s, int64_t *out)
{
    int64_t total = 0, v;

    if (s == NULL || *s == '\0')
        return false;
    if (strspn(s, "0123456789") == strlen(s)) {
        /* a bare integer means seconds */
        if (!cfg_parse_i64(s, &v) || v > INT64_MAX / 1000)
            return false;
        *out = v * 1000;
        return true;
    }
    while (*s) {
        if (!cfg_parse_dur_term(&s, &v) || v > INT64_MAX - total)
            return false;
        total += v;
    }
    *out = total;
    return true;
}

static const struct {
    const char *name;
    int64_t mult;
} cfg_size_units[] = {
    {"b", 1},
    {"k", 1000},
    {"kb", 1000},
    {"m", 1000000},
    {"mb", 1000000},
    {"g", 1000000000},
    {"gb", 1000000000},
    {"t", 1000000000000},
    {"tb", 1000000000000},
    {"ki", 1024},
    {"kib", 1024},
    {"mi", 1048576},
    {"mib", 1048576},
    {"gi", 1073741824},
    {"gib", 1073741824},
    {"ti", 1099511627776},
    {"tib", 1099511627776},
};

bool
cfg_parse_size(const char *s, int64_t *out)
{
    size_t ndig;
    char digits[24];
    int64_t v;
    const char *u;

    if (s == NULL)
        return false;
    ndig = strspn(s, "0123456789");
    if (ndig == 0 || ndig >= sizeof(digits))
        return false;
    memcpy(digits, s, ndig);
    digits[ndig] = '\0';
    if (!cfg_parse_i64(digits, &v))
        return false;
    u = s + ndig;
    if (*u == '\0') {
        *out = v;
        return true;
    }
    if (*u == ' ')
        u++;
    for (size_t i = 0; i < sizeof(cfg_size_units) / sizeof(cfg_size_units[0]); i++) {
        if (strcasecmp(u, cfg_size_units[i].name) != 0)
            continue;
        if (v > INT64_MAX / cfg_size_units[i].mult)
            return false;
        *out = v * cfg_size_units[i].mult;
        return true;
    }
    return false;
}

static bool
cfg_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on"};
    static const char *const no[] = {"false", "no", "off"};

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(s, yes[i]) == 0 || strcasecmp(s, no[i]) == 0) {
            *out = strcasecmp(s, yes[i]) == 0;
            return true;
        }
    }
    return false;
}

static int
cfg_parse_name(const char *s, const char *const *names)
{
    for (int i = 0; names[i]; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

/* ---- problems ------------------------------------------------------------------------ */

static void cfg_problem(struct cfg_loader *ld, const struct cfg_loc *loc, const char *key,
                        const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
cfg_problem(struct cfg_loader *ld, const struct cfg_loc *loc, const char *key, const char *fmt, ...)
{
    va_list ap;

    ld->problems++;
    if (ld->out == NULL)
        return;
    switch (loc->src) {
    case CFG_SRC_FILE:
        fprintf(ld->out, "%s:%d: ", ld->path, loc->line);
        break;
    case CFG_SRC_ENV:
        fputs("<env>: ", ld->out);
        key = loc->name; /* the user set the variable, not the key */
        break;
    case CFG_SRC_OVERRIDE:
        fputs("<override>: ", ld->out);
        break;
    case CFG_SRC_DEFAULT:
        fputs("<default>: ", ld->out);
        break;
    }
    if (key != NULL)
        fprintf(ld->out, "%s: ", key);
    va_start(ap, fmt);
    vfprintf(ld->out, fmt, ap);
    va_end(ap);
    fputc('\n', ld->out);
}

/* Quote a value for a message: at most 60 bytes, control characters as '?'. */
static const char *
cfg_quote(const char *v, char *buf, size_t size)
{
    size_t i = 0, j = 0;

    buf[j++] = '"';
    for (; v[i] && j + 5 < size && i < 60; i++)
        buf[j++] = iscntrl((unsigned char) v[i]) ? '?' : v[i];
    if (v[i]) {
        memcpy(buf + j, "...", 3);
        j += 3;
    }
    buf[j++] = '"';
    buf[j] = '\0';
    return buf;
}

/* ---- suggestions for unknown keys ------------------------------------------------------ */

static size_t
cfg_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[128];

    if (la >= 128 || lb >= 128)
        return SIZE_MAX;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];

        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);

            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            diag = up;
            row[j] = best;
        }
    }
    return row[lb];
}

/* Is `path` a section ("nats", "cdc.schema_evolution"), i.e. a proper prefix of a key? */
static bool
cfg_is_section(const char *path, size_t len)
{
    for (int i = 0; i < CFG_NKEYS; i++)
        if (strncmp(cfg_keys[i].path, path, len) == 0 && cfg_keys[i].path[len] == '.')
            return true;
    return false;
}

/* Consider every key and every section as a suggestion for `path`. */
static void
cfg_suggest(const char *path, char *best, size_t size)
{
    size_t bestd = SIZE_MAX, last = strlen(strrchr(path, '.') ? strrchr(path, '.') + 1 : path);

    best[0] = '\0';
    for (int i = 0; i < CFG_NKEYS; i++) {
        const char *k = cfg_keys[i].path;

        for (size_t n = 0;; n++) {
            if (k[n] == '.' || k[n] == '\0') {
                char cand[128];
                size_t d;

                snprintf(cand, sizeof(cand), "%.*s", (int) n, k);
                d = cfg_edit_distance(path, cand);
                if (d < bestd) {
                    bestd = d;
                    snprintf(best, size, "%s", cand);
                }
            }
            if (k[n] == '\0')
                break;
        }
    }
    /* a suggestion must be close: a typo, not a different word */
    if (bestd > 2 || bestd * 2 > last)
        best[0] = '\0';
}

static void
cfg_unknown_key(struct cfg_loader *ld, const struct cfg_loc *loc, const char *path)
{
    char best[128];

    cfg_suggest(path, best, sizeof(best));
    if (best[0])
        cfg_problem(ld, loc, path, "unknown key (did you mean \"%s\"?)", best);
    else
        cfg_problem(ld, loc, path, "unknown key");
}

/* ---- interpolation ------------------------------------------------------------------------ */

static const char *
cfg_interp_fail(struct cfg_interp *r, const char *why)
{
    r->error = why;
    return NULL;
}

/* Expand one reference; p points after "${". Returns the position after '}', or NULL. */
static const char *
cfg_interp_ref(const char *p, const char *(*getenv_fn)(const char *), struct cdc_buf *b,
               struct cfg_interp *r)
{
    const char *name = p, *def = NULL, *end, *v;
    char var[64];

    if (!isalpha((unsigned char) *p) && *p != '_')
        return cfg_interp_fail(r, "invalid variable name in ${...}");
    while (isalnum((unsigned char) *p) || *p == '_')
        p++;
    if (p[0] == ':' && p[1] == '-')
        def = p + 2;
    else if (*p != '}')
        return cfg_interp_fail(r, (*p ? "invalid variable name in ${...}" : "unterminated ${"));
    end = strchr(p, '}');
    if (end == NULL)
        return cfg_interp_fail(r, "unterminated ${");
    if ((size_t) (p - name) >= sizeof(var))
        return cfg_interp_fail(r, "variable name in ${...} is too long");
    snprintf(var, sizeof(var), "%.*s", (int) (p - name), name);
    r->had_ref = true;
    v = getenv_fn(var);
    if (v != NULL && *v != '\0') {
        cdc_buf_puts(b, v);
    } else if (def != NULL) {
        cdc_buf_append(b, def, (size_t) (end - def));
    } else if (r->unset[0] == '\0') {
        snprintf(r->unset, sizeof(r->unset), "%s", var);
        r->unset_empty = v != NULL;
    }
    return end + 1;
}

/* Interpolate `in` into r->value. Returns false only when out of memory. */
static bool
cfg_interpolate(const char *in, const char *(*getenv_fn)(const char *), struct cfg_interp *r)
{
    struct cdc_buf b = CDC_BUF_INIT;
    const char *p = in;

    memset(r, 0, sizeof(*r));
    cdc_buf_reserve(&b, strlen(in));
    cdc_buf_reset(&b); /* NUL-terminate: the result may stay empty */
    while (p != NULL && *p) {
        if (p[0] == '$' && p[1] == '$' && p[2] == '{') {
            cdc_buf_puts(&b, "${");
            p += 3;
        } else if (p[0] == '$' && p[1] == '{') {
            p = cfg_interp_ref(p + 2, getenv_fn, &b, r);
        } else {
            cdc_buf_putc(&b, *p++);
        }
    }
    if (!cdc_buf_ok(&b)) {
        cdc_buf_free(&b);
        return false;
    }
    if (r->error != NULL) {
        cdc_buf_free(&b);
        return true;
    }
    r->value = b.data ? b.data : strdup("");
    return r->value != NULL;
}

/* ---- setting values ------------------------------------------------------------------------ */

static void
cfg_set_origin(struct cdc_config *cfg, int ki, const struct cfg_loc *loc,
               const struct cfg_interp *ip)
{
    struct cfg_origin *o = &cfg->origin[ki];

    memset(o, 0, sizeof(*o));
    o->src = loc->src;
    o->line = loc->src == CFG_SRC_FILE ? loc->line : 0;
    o->literal = loc->src == CFG_SRC_FILE && (ip == NULL || !ip->had_ref);
    if (ip != NULL && ip->unset[0]) {
        snprintf(o->unset_var, sizeof(o->unset_var), "%s", ip->unset);
        o->var_was_empty = ip->unset_empty;
    }
}

static void
cfg_report_empty(struct cfg_loader *ld, int ki, const struct cfg_loc *loc,
                 const struct cfg_interp *ip)
{
    if (ip != NULL && ip->unset[0])
        cfg_problem(ld, loc, cfg_keys[ki].path, "is empty (${%s} is %s)", ip->unset,
                    ip->unset_empty ? "set but empty" : "not set");
    else
        cfg_problem(ld, loc, cfg_keys[ki].path, "is empty");
}

static void
cfg_report_bad(struct cfg_loader *ld, int ki, const struct cfg_loc *loc, const char *v)
{
    const struct cfg_key *k = &cfg_keys[ki];
    char q[80], list[128] = "";

    if (k->secret) {
        cfg_problem(ld, loc, k->path, "invalid value");
        return;
    }
    cfg_quote(v, q, sizeof(q));
    switch (k->type) {
    case CFG_T_INT:
    case CFG_T_I64:
        if (k->max >= INT_MAX && k->type == CFG_T_INT)
            cfg_problem(ld, loc, k->path, "must be an integer >= %lld, got %s", (long long) k->min,
                        q);
        else
            cfg_problem(ld, loc, k->path, "must be an integer between %lld and %lld, got %s",
                        (long long) k->min, (long long) k->max, q);
        break;
    case CFG_T_DUR:
        cfg_problem(ld, loc, k->path, "must be a %sduration such as 500ms, 10s or 1m30s, got %s",
                    k->min > 0 ? "positive " : "", q);
        break;
    case CFG_T_SIZE:
        cfg_problem(ld, loc, k->path,
                    "must be a size in bytes such as 1048576, 512MiB or 2GB, got %s", q);
        break;
    case CFG_T_BOOL:
        cfg_problem(ld, loc, k->path, "must be true or false (or yes/no, on/off), got %s", q);
        break;
    default:
        for (int i = 0; k->names[i]; i++)
            snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "",
                     k->names[i]);
        cfg_problem(ld, loc, k->path, "must be one of %s, got %s", list, q);
        break;
    }
}

static bool
cfg_store_str(struct cfg_loader *ld, char **field, const char *v)
{
    char *copy = NULL;

    if (*v != '\0' && (copy = strdup(v)) == NULL) {
        ld->nomem = true;
        return false;
    }
    free(*field);
    *field = copy;
    return true;
}

/* Parse v into the field of a typed key. Returns false if v is not valid. */
static bool
cfg_store_typed(struct cfg_loader *ld, int ki, void *f, const char *v)
{
    const struct cfg_key *k = &cfg_keys[ki];
    int64_t n;
    bool b;
    int e;

    switch (k->type) {
    case CFG_T_INT:
        if (!cfg_parse_i64(v, &n) || n < k->min || n > k->max)
            return false;
        *(int *) f = (int) n;
        return true;
    case CFG_T_I64:
        if (!cfg_parse_i64(v, &n) || n < k->min || n > k->max)
            return false;
        *(int64_t *) f = n;
        return true;
    case CFG_T_DUR:
        if (!cfg_parse_duration_ms(v, &n) || n < k->min || n > k->max)
            return false;
        *(int64_t *) f = n;
        return true;
    case CFG_T_SIZE:
        if (!cfg_parse_size(v, &n) || n < k->min || n > k->max)
            return false;
        *(int64_t *) f = n;
        return true;
    case CFG_T_BOOL:
        if (!cfg_parse_bool(v, &b))
            return false;
        *(bool *) f = b;
        return true;
    case CFG_T_ENUM:
        if ((e = cfg_parse_name(v, k->names)) < 0)
            return false;
        *(int *) f = e;
        return true;
    case CFG_T_WORD:
        if (cfg_parse_name(v, k->names) < 0)
            return false;
        return cfg_store_str(ld, f, v);
    default:
        return false;
    }
}

/* Set a non-list key from a string; ip (may be NULL) explains an empty value. */
static void
cfg_set_scalar(struct cfg_loader *ld, int ki, const char *v, const struct cfg_loc *loc,
               const struct cfg_interp *ip)
{
    void *f = cfg_field(ld->cfg, ki);

    if (cfg_keys[ki].type == CFG_T_STR) {
        if (cfg_store_str(ld, f, v))
            cfg_set_origin(ld->cfg, ki, loc, ip);
        return;
    }
    if (*v == '\0') {
        cfg_report_empty(ld, ki, loc, ip);
        return;
    }
    if (!cfg_store_typed(ld, ki, f, v)) {
        if (!ld->nomem)
            cfg_report_bad(ld, ki, loc, v);
        return;
    }
    cfg_set_origin(ld->cfg, ki, loc, ip);
}

/* Replace a list key's value with *l (taken over). */
static void
cfg_set_list(struct cfg_loader *ld, int ki, struct cfg_strlist *l, const struct cfg_loc *loc,
             const struct cfg_interp *ip)
{
    struct cfg_strlist *f = cfg_field(ld->cfg, ki);

    cfg_list_clear(f);
    *f = *l;
    memset(l, 0, sizeof(*l));
    cfg_set_origin(ld->cfg, ki, loc, ip);
}

/* A list key from a comma-separated string (environment, override, YAML scalar). */
static void
cfg_set_list_csv(struct cfg_loader *ld, int ki, const char *v, const struct cfg_loc *loc,
                 const struct cfg_interp *ip)
{
    struct cfg_strlist l = {0};

    if (!cfg_list_push_split(&l, v, loc->line)) {
        ld->nomem = true;
        cfg_list_clear(&l);
        return;
    }
    cfg_set_list(ld, ki, &l, loc, ip);
}

/* Replace a map key's value with *m (taken over). */
static void
cfg_set_map(struct cfg_loader *ld, int ki, struct cfg_strmap *m, const struct cfg_loc *loc)
{
    struct cfg_strmap *f = cfg_field(ld->cfg, ki);

    cfg_map_clear(f);
    *f = *m;
    memset(m, 0, sizeof(*m));
    cfg_set_origin(ld->cfg, ki, loc, NULL);
}

/* A map key from "k=v,k2=v2" (override, YAML scalar). An empty string clears it. */
static void
cfg_set_map_csv(struct cfg_loader *ld, int ki, const char *v, const struct cfg_loc *loc)
{
    struct cfg_strmap m = {0};
    struct cfg_strlist l = {0};
    bool ok = cfg_list_push_split(&l, v, loc->line);

    for (int i = 0; ok && i < l.n; i++) {
        const char *eq = strchr(l.items[i], '=');

        if (eq == NULL || eq == l.items[i]) {
            cfg_problem(ld, loc, cfg_keys[ki].path,
                        "expected a mapping, or name=value pairs separated by commas");
            cfg_list_clear(&l);
            cfg_map_clear(&m);
            return;
        }
        ok = cfg_map_put(&m, l.items[i], (size_t) (eq - l.items[i]), eq + 1, strlen(eq + 1),
                         loc->line);
    }
    cfg_list_clear(&l);
    if (!ok) {
        ld->nomem = true;
        cfg_map_clear(&m);
        return;
    }
    cfg_set_map(ld, ki, &m, loc);
}

/* ---- the YAML file --------------------------------------------------------------------------- */

static const char *
cfg_node_kind(const yaml_node_t *n)
{
    return n->type == YAML_MAPPING_NODE    ? "a mapping"
           : n->type == YAML_SEQUENCE_NODE ? "a list"
                                           : "a scalar";
}

static int
cfg_node_line(const yaml_node_t *n)
{
    return (int) n->start_mark.line + 1;
}

/* YAML's null: an empty plain scalar, "~" or "null". */
static bool
cfg_node_is_null(const yaml_node_t *n)
{
    const char *v = (const char *) n->data.scalar.value;

    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    return *v == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 || strcmp(v, "Null") == 0 ||
           strcmp(v, "NULL") == 0;
}

/*
 * Interpolate a scalar node. Returns false (after reporting, or setting nomem)
 * if there is no usable value.
 */
static bool
cfg_node_value(struct cfg_loader *ld, int ki, const yaml_node_t *n, const struct cfg_loc *loc,
               struct cfg_interp *ip)
{
    if (cfg_node_is_null(n)) {
        memset(ip, 0, sizeof(*ip));
        ip->value = strdup("");
    } else if (!cfg_interpolate((const char *) n->data.scalar.value, ld->getenv_fn, ip)) {
        ld->nomem = true;
        return false;
    }
    if (ip->error != NULL) {
        cfg_problem(ld, loc, cfg_keys[ki].path, "%s", ip->error);
        return false;
    }
    if (ip->value == NULL)
        ld->nomem = true;
    return ip->value != NULL;
}

/* The parts of a cdc.sensitive_fields mapping item, interpolated (malloc'd, NULL if absent). */
struct cfg_rule_parts {
    char *column, *action, *table, *detect;
};

static void
cfg_rule_parts_free(struct cfg_rule_parts *rp)
{
    free(rp->column);
    free(rp->action);
    free(rp->table);
    free(rp->detect);
}

/* One key: value pair of a rule mapping; {C: A} (single pair, another key) means column C. */
static bool
cfg_rule_pair(struct cfg_loader *ld, int ki, yaml_document_t *doc, const yaml_node_pair_t *pair,
              bool single, struct cfg_rule_parts *rp)
{
    static const char *const names[] = {"column", "action", "table", "detect"};
    yaml_node_t *kn = yaml_document_get_node(doc, pair->key);
    yaml_node_t *vn = yaml_document_get_node(doc, pair->value);
    struct cfg_loc loc = {CFG_SRC_FILE, cfg_node_line(kn), NULL};
    char **slots[] = {&rp->column, &rp->action, &rp->table, &rp->detect};
    struct cfg_interp ip;
    const char *k;
    int which = -1;

    if (kn->type != YAML_SCALAR_NODE || vn->type != YAML_SCALAR_NODE) {
        cfg_problem(ld, &loc, cfg_keys[ki].path, "a rule's keys and values must be scalars");
        return false;
    }
    k = (const char *) kn->data.scalar.value;
    for (int i = 0; i < 4; i++)
        if (strcmp(k, names[i]) == 0)
            which = i;
    if (which < 0 && !single) {
        cfg_problem(ld, &loc, cfg_keys[ki].path,
                    "unknown key \"%.40s\" in a rule (expected column and action, or table and "
                    "detect)",
                    k);
        return false;
    }
    if (!cfg_node_value(ld, ki, vn, &loc, &ip))
        return false;
    if (which < 0) { /* the short form {password: mask} */
        rp->action = ip.value;
        if ((rp->column = strdup(k)) == NULL)
            ld->nomem = true;
        return rp->column != NULL;
    }
    free(*slots[which]);
    *slots[which] = ip.value;
    return true;
}

/* What is wrong with the shape of a rule mapping, or NULL; *on: detect is true. */
static const char *
cfg_rule_shape(const struct cfg_rule_parts *rp, bool *on)
{
    if ((rp->column == NULL) == (rp->table == NULL))
        return "a rule names either a column or a table";
    if (rp->table != NULL && (rp->action != NULL || rp->detect == NULL))
        return "a table rule is {table: schema.table, detect: true}";
    if (rp->column != NULL && rp->detect != NULL)
        return "detect applies to a table, not a column";
    if (rp->detect != NULL && !cfg_parse_bool(rp->detect, on))
        return "detect must be true or false";
    return NULL;
}

/*
 * A cdc.sensitive_fields item written as a mapping, as its string form
 * (transform/redact.h): {column: C, action: A} and {C: A} give "C=A",
 * {column: C} gives "C", {table: T, detect: true} gives "T=detect" and
 * detect: false no item at all (*out NULL). Returns false after reporting.
 */
static bool
cfg_rule_from_mapping(struct cfg_loader *ld, int ki, yaml_document_t *doc, const yaml_node_t *item,
                      char **out)
{
    struct cfg_loc loc = {CFG_SRC_FILE, cfg_node_line(item), NULL};
    const yaml_node_pair_t *p0 = item->data.mapping.pairs.start,
                           *top = item->data.mapping.pairs.top;
    struct cfg_rule_parts rp = {0};
    struct cdc_buf b = CDC_BUF_INIT;
    const char *why;
    bool ok = true, on = false;

    *out = NULL;
    for (const yaml_node_pair_t *p = p0; p < top && ok; p++)
        ok = cfg_rule_pair(ld, ki, doc, p, top - p0 == 1, &rp);
    if (ok && (why = cfg_rule_shape(&rp, &on)) != NULL) {
        cfg_problem(ld, &loc, cfg_keys[ki].path, "%s", why);
        ok = false;
    }
    if (ok && (rp.column != NULL || on)) {
        cdc_buf_puts(&b, rp.column != NULL ? rp.column : rp.table);
        if (rp.action != NULL || on)
            cdc_buf_printf(&b, "=%s", on ? "detect" : rp.action);
        cdc_buf_putc(&b, '\0');
        ok = cdc_buf_ok(&b);
        if (ok) {
            *out = b.data;
        } else {
            cdc_buf_free(&b);
            ld->nomem = true;
        }
    }
    cfg_rule_parts_free(&rp);
    return ok;
}

/* One list item: interpolated, and split at commas if it used ${...}. */
static bool
cfg_push_item(struct cfg_loader *ld, int ki, yaml_document_t *doc, const yaml_node_t *item,
              struct cfg_strlist *l, struct cfg_interp *first_unset)
{
    struct cfg_loc loc = {CFG_SRC_FILE, cfg_node_line(item), NULL};
    struct cfg_interp ip;
    char *rule;
    bool ok;

    if (item->type == YAML_MAPPING_NODE && strcmp(cfg_keys[ki].path, "cdc.sensitive_fields") == 0) {
        if (!cfg_rule_from_mapping(ld, ki, doc, item, &rule))
            return false;
        ok = rule == NULL || cfg_list_push(l, rule, strlen(rule), loc.line);
        free(rule);
        if (!ok)
            ld->nomem = true;
        return ok;
    }
    if (item->type != YAML_SCALAR_NODE) {
        cfg_problem(ld, &loc, cfg_keys[ki].path, "list items must be scalars, got %s",
                    cfg_node_kind(item));
        return false;
    }
    if (!cfg_node_value(ld, ki, item, &loc, &ip))
        return false;
    if (ip.unset[0] && first_unset->unset[0] == '\0') {
        *first_unset = ip;
        first_unset->value = NULL; /* only the name is kept; ip.value is freed below */
    }
    if (ip.had_ref)
        first_unset->had_ref = true; /* the list is not all literal (see cfg_warn_exposed) */
    if (ip.had_ref)
        ok = cfg_list_push_split(l, ip.value, loc.line);
    else
        ok = cfg_list_push(l, ip.value, strlen(ip.value), loc.line);
    free(ip.value);
    if (!ok)
        ld->nomem = true;
    return ok;
}

static void
cfg_set_list_node(struct cfg_loader *ld, yaml_document_t *doc, int ki, yaml_node_t *n,
                  const struct cfg_loc *loc)
{
    struct cfg_strlist l = {0};
    struct cfg_interp unset = {0};
    bool ok = true;

    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++)
        ok &= cfg_push_item(ld, ki, doc, yaml_document_get_node(doc, *it), &l, &unset);
    if (ok)
        cfg_set_list(ld, ki, &l, loc, &unset);
    cfg_list_clear(&l);
}

/* A YAML mapping of scalars into a map key; values are interpolated, keys are not. */
static void
cfg_set_map_node(struct cfg_loader *ld, yaml_document_t *doc, int ki, yaml_node_t *n,
                 const struct cfg_loc *loc)
{
    struct cfg_strmap m = {0};
    bool ok = true;

    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(doc, p->value);
        struct cfg_loc kloc = {CFG_SRC_FILE, cfg_node_line(kn), NULL};
        const char *k = (const char *) kn->data.scalar.value;
        struct cfg_interp ip;

        if (kn->type != YAML_SCALAR_NODE || vn->type != YAML_SCALAR_NODE) {
            cfg_problem(ld, &kloc, cfg_keys[ki].path, "names and values must be scalars, got %s",
                        cfg_node_kind(kn->type != YAML_SCALAR_NODE ? kn : vn));
            ok = false;
            continue;
        }
        if (*k == '\0') {
            cfg_problem(ld, &kloc, cfg_keys[ki].path, "a name is empty");
            ok = false;
            continue;
        }
        for (int i = 0; i < m.n; i++)
            if (strcmp(m.keys[i], k) == 0) {
                cfg_problem(ld, &kloc, cfg_keys[ki].path,
                            "duplicate name \"%s\" (first at line %d)", m.keys[i], m.lines[i]);
                ok = false;
            }
        if (!ok || !cfg_node_value(ld, ki, vn, &kloc, &ip)) {
            ok = false;
            continue;
        }
        if (!cfg_map_put(&m, k, strlen(k), ip.value, strlen(ip.value), kloc.line)) {
            ld->nomem = true;
            ok = false;
        }
        free(ip.value);
    }
    if (ok)
        cfg_set_map(ld, ki, &m, loc);
    cfg_map_clear(&m);
}

static void
cfg_set_node(struct cfg_loader *ld, yaml_document_t *doc, int ki, yaml_node_t *n,
             const struct cfg_loc *loc)
{
    const struct cfg_key *k = &cfg_keys[ki];
    struct cfg_interp ip;

    if (ld->cfg->origin[ki].src == CFG_SRC_FILE) {
        cfg_problem(ld, loc, k->path, "duplicate key (first set at line %d)",
                    ld->cfg->origin[ki].line);
        return;
    }
    if (k->type == CFG_T_MAP && n->type == YAML_MAPPING_NODE) {
        cfg_set_map_node(ld, doc, ki, n, loc);
        return;
    }
    if (n->type == YAML_MAPPING_NODE || (n->type == YAML_SEQUENCE_NODE && k->type != CFG_T_LIST)) {
        cfg_problem(ld, loc, k->path, "expected %s, got %s",
                    k->type == CFG_T_LIST  ? "a list"
                    : k->type == CFG_T_MAP ? "a mapping"
                                           : "a scalar value",
                    cfg_node_kind(n));
        return;
    }
    if (n->type == YAML_SEQUENCE_NODE) {
        cfg_set_list_node(ld, doc, ki, n, loc);
        return;
    }
    if (!cfg_node_value(ld, ki, n, loc, &ip))
        return;
    if (k->type == CFG_T_LIST)
        cfg_set_list_csv(ld, ki, ip.value, loc, &ip);
    else if (k->type == CFG_T_MAP)
        cfg_set_map_csv(ld, ki, ip.value, loc);
    else
        cfg_set_scalar(ld, ki, ip.value, loc, &ip);
    free(ip.value);
}

static void cfg_walk_mapping(struct cfg_loader *ld, yaml_document_t *doc, yaml_node_t *map,
                             const char *prefix);

static void
cfg_walk_pair(struct cfg_loader *ld, yaml_document_t *doc, yaml_node_pair_t *pair,
              const char *prefix)
{
    yaml_node_t *kn = yaml_document_get_node(doc, pair->key);
    yaml_node_t *vn = yaml_document_get_node(doc, pair->value);
    struct cfg_loc loc = {CFG_SRC_FILE, cfg_node_line(kn), NULL};
    char path[128];
    int ki, len;

    if (kn->type != YAML_SCALAR_NODE) {
        cfg_problem(ld, &loc, *prefix ? prefix : NULL, "keys must be scalars, got %s",
                    cfg_node_kind(kn));
        return;
    }
    len = snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "",
                   (const char *) kn->data.scalar.value);
    if (len < 0 || (size_t) len >= sizeof(path)) {
        cfg_problem(ld, &loc, prefix, "unknown key (too long)");
        return;
    }
    if ((ki = cfg_key_find(path)) >= 0) {
        cfg_set_node(ld, doc, ki, vn, &loc);
    } else if (cfg_is_section(path, strlen(path))) {
        if (vn->type == YAML_MAPPING_NODE)
            cfg_walk_mapping(ld, doc, vn, path);
        else if (!cfg_node_is_null(vn))
            cfg_problem(ld, &loc, path, "expected a mapping, got %s", cfg_node_kind(vn));
    } else {
        cfg_unknown_key(ld, &loc, path);
    }
}

static void
cfg_walk_mapping(struct cfg_loader *ld, yaml_document_t *doc, yaml_node_t *map, const char *prefix)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++)
        cfg_walk_pair(ld, doc, p, prefix);
}

static void
cfg_syntax_error(struct cfg_loader *ld, const yaml_parser_t *parser)
{
    const char *problem = parser->problem ? parser->problem : "could not parse";

    ld->problems++;
    if (ld->out == NULL)
        return;
    if (parser->error == YAML_READER_ERROR)
        fprintf(ld->out, "%s: invalid YAML: %s (at byte %zu)\n", ld->path, problem,
                parser->problem_offset);
    else
        fprintf(ld->out, "%s:%zu: invalid YAML: %s%s%s\n", ld->path, parser->problem_mark.line + 1,
                problem, parser->context ? " " : "", parser->context ? parser->context : "");
}

/* Walk the first document; a second one is a problem. */
static void
cfg_load_docs(struct cfg_loader *ld, yaml_parser_t *parser)
{
    struct cfg_loc loc = {CFG_SRC_FILE, 0, NULL};
    yaml_document_t doc;
    yaml_node_t *root;

    if (!yaml_parser_load(parser, &doc)) {
        cfg_syntax_error(ld, parser);
        return;
    }
    root = yaml_document_get_root_node(&doc);
    if (root != NULL && root->type == YAML_MAPPING_NODE)
        cfg_walk_mapping(ld, &doc, root, "");
    else if (root != NULL && !cfg_node_is_null(root)) {
        loc.line = cfg_node_line(root);
        cfg_problem(ld, &loc, NULL, "the top level must be a mapping, got %s", cfg_node_kind(root));
    }
    yaml_document_delete(&doc);
    if (root == NULL)
        return;
    if (!yaml_parser_load(parser, &doc)) {
        cfg_syntax_error(ld, parser);
        return;
    }
    if ((root = yaml_document_get_root_node(&doc)) != NULL) {
        loc.line = cfg_node_line(root);
        cfg_problem(ld, &loc, NULL, "only one YAML document is allowed");
    }
    yaml_document_delete(&doc);
}

static void
cfg_load_file(struct cfg_loader *ld, const char *path)
{
    yaml_parser_t parser;
    FILE *f = fopen(path, "rb");

    if (f == NULL) {
        ld->problems++;
        if (ld->out != NULL)
            fprintf(ld->out, "%s: could not open configuration file: %s\n", path, strerror(errno));
        return;
    }
    if (!yaml_parser_initialize(&parser)) {
        ld->nomem = true;
        fclose(f);
        return;
    }
    yaml_parser_set_input_file(&parser, f);
    cfg_load_docs(ld, &parser);
    yaml_parser_delete(&parser);
    fclose(f);
}

/* ---- environment and overrides ------------------------------------------------------------------
 */

/*
 * Read a secret from the file named by VAR_FILE into *out (malloc'd), one
 * trailing newline removed. Returns false after reporting a problem.
 */
static bool
cfg_read_secret_file(struct cfg_loader *ld, const char *var, const char *path, char **out)
{
    struct cfg_loc loc = {CFG_SRC_ENV, 0, var};
    struct cdc_buf b = CDC_BUF_INIT;
    char chunk[512];
    size_t n;
    FILE *f = fopen(path, "rb");

    if (f == NULL) {
        /* the path is not a secret; the content is never echoed */
        cfg_problem(ld, &loc, NULL, "could not open \"%s\": %s", path, strerror(errno));
        return false;
    }
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && b.len < 65536)
        cdc_buf_append(&b, chunk, n);
    fclose(f);
    explicit_bzero(chunk, sizeof(chunk));
    cdc_buf_putc(&b, '\0');
    if (!cdc_buf_ok(&b)) {
        cdc_buf_free(&b);
        ld->nomem = true;
        return false;
    }
    n = strlen(b.data);
    if (n > 0 && b.data[n - 1] == '\n')
        b.data[--n] = '\0';
    if (n > 0 && b.data[n - 1] == '\r')
        b.data[--n] = '\0';
    if (n == 0) {
        cfg_problem(ld, &loc, NULL, "\"%s\" is empty", path);
        cdc_buf_free(&b);
        return false;
    }
    *out = b.data;
    return true;
}

/*
 * The value of a secret key's VAR_FILE, if set: *out is the secret (malloc'd,
 * the caller wipes and frees it), NULL when VAR_FILE is not set. Returns false
 * after reporting a problem.
 */
static bool
cfg_env_secret_file(struct cfg_loader *ld, const char *env, char **out)
{
    char var[80];
    const char *path, *direct;
    struct cfg_loc loc = {CFG_SRC_ENV, 0, NULL};

    *out = NULL;
    snprintf(var, sizeof(var), "%s_FILE", env);
    path = ld->getenv_fn(var);
    if (path == NULL || *path == '\0')
        return true;
    direct = ld->getenv_fn(env);
    if (direct != NULL && *direct != '\0') {
        loc.name = var;
        cfg_problem(ld, &loc, NULL, "%s is set too: set only one of them", env);
        return false;
    }
    return cfg_read_secret_file(ld, var, path, out);
}

static void
cfg_apply_env(struct cfg_loader *ld)
{
    for (int i = 0; i < CFG_NKEYS; i++) {
        const char *env = cfg_keys[i].env, *v;
        struct cfg_loc loc = {CFG_SRC_ENV, 0, env};
        char *secret = NULL;

        if (env != NULL && cfg_keys[i].secret) {
            if (!cfg_env_secret_file(ld, env, &secret))
                continue;
            if (secret != NULL) {
                cfg_set_scalar(ld, i, secret, &loc, NULL);
                explicit_bzero(secret, strlen(secret));
                free(secret);
                continue;
            }
        }
        if (env == NULL || (v = ld->getenv_fn(env)) == NULL || *v == '\0')
            continue;
        if (cfg_keys[i].type == CFG_T_LIST)
            cfg_set_list_csv(ld, i, v, &loc, NULL);
        else
            cfg_set_scalar(ld, i, v, &loc, NULL);
    }
}

/* -X map.path.NAME=value: set one entry of a map key. Returns false if key names no map entry. */
static bool
cfg_override_map_entry(struct cfg_loader *ld, const struct cfg_loc *loc, const char *key,
                       const char *v)
{
    for (int i = 0; i < CFG_NKEYS; i++) {
        size_t n = strlen(cfg_keys[i].path);

        if (cfg_keys[i].type != CFG_T_MAP || strncmp(key, cfg_keys[i].path, n) != 0 ||
            key[n] != '.' || key[n + 1] == '\0')
            continue;
        if (!cfg_map_put(cfg_field(ld->cfg, i), key + n + 1, strlen(key + n + 1), v, strlen(v), 0))
            ld->nomem = true;
        cfg_set_origin(ld->cfg, i, loc, NULL);
        return true;
    }
    return false;
}

static void
cfg_apply_override(struct cfg_loader *ld, const char *o)
{
    struct cfg_loc loc = {CFG_SRC_OVERRIDE, 0, NULL};
    const char *eq = strchr(o, '=');
    char key[128];
    int ki;

    if (eq == NULL || eq == o) {
        /* no '=': o is only a key, so echoing it leaks nothing */
        cfg_problem(ld, &loc, NULL, "%s: expected key.path=value", eq ? "(empty key)" : o);
        return;
    }
    if ((size_t) (eq - o) >= sizeof(key)) {
        cfg_problem(ld, &loc, NULL, "%.40s...: unknown key", o);
        return;
    }
    snprintf(key, sizeof(key), "%.*s", (int) (eq - o), o);
    if ((ki = cfg_key_find(key)) < 0) {
        if (!cfg_override_map_entry(ld, &loc, key, eq + 1))
            cfg_unknown_key(ld, &loc, key);
        return;
    }
    if (cfg_keys[ki].type == CFG_T_MAP)
        cfg_set_map_csv(ld, ki, eq + 1, &loc);
    else if (cfg_keys[ki].type == CFG_T_LIST)
        cfg_set_list_csv(ld, ki, eq + 1, &loc, NULL);
    else
        cfg_set_scalar(ld, ki, eq + 1, &loc, NULL);
}

/* Defaults that depend on other keys. */
static void
cfg_derive_defaults(struct cfg_loader *ld)
{
    struct cdc_config *cfg = ld->cfg;

    if (cfg->origin[cfg_key_find("rds.port")].src == CFG_SRC_DEFAULT)
        cfg->rds.port = cfg->rds.engine == CFG_ENGINE_POSTGRES ? 5432 : 3306;
    if (cfg->cdc.source_name == NULL && cfg->rds.database != NULL) {
        cfg->cdc.source_name = strdup(cfg->rds.database);
        if (cfg->cdc.source_name == NULL)
            ld->nomem = true;
    }
}

/* Does key ki hold a secret written in the file itself (a secret key, or a URL credential)? */
static bool
cfg_holds_literal_secret(const struct cdc_config *cfg, int ki)
{
    const struct cfg_key *k = &cfg_keys[ki];
    const void *f = (const char *) cfg + k->off;
    bool found = false;

    if (cfg->origin[ki].src != CFG_SRC_FILE || !cfg->origin[ki].literal)
        return false;
    if (k->type == CFG_T_STR) {
        const char *v = *(char *const *) f;
        char *r;

        if (v == NULL || *v == '\0')
            return false;
        if (k->secret)
            return true;
        r = cfg_redact_urls(v);
        found = r != NULL && strcmp(r, v) != 0;
        free(r);
    } else if (k->type == CFG_T_LIST) {
        const struct cfg_strlist *l = f;

        for (int i = 0; i < l->n && !found; i++) {
            char *r = cfg_redact_urls(l->items[i]);

            found = r != NULL && strcmp(r, l->items[i]) != 0;
            free(r);
        }
    }
    return found;
}

bool
cfg_warn_exposed(const struct cdc_config *cfg, FILE *out)
{
    struct stat st;
    char keys[160] = "";
    const char *path = cfg->path;

    if (path == NULL || stat(path, &st) != 0 || (st.st_mode & 077) == 0)
        return false;
    for (int i = 0; i < CFG_NKEYS; i++) {
        size_t used = strlen(keys);

        if (cfg_holds_literal_secret(cfg, i) && used + 1 < sizeof(keys))
            snprintf(keys + used, sizeof(keys) - used, "%s%s", used ? ", " : "", cfg_keys[i].path);
    }
    if (keys[0] == '\0')
        return false;
    fprintf(out,
            "%s: warning: holds secrets (%s) and is readable by %s (mode %04o): chmod 600 it, "
            "or pass the secrets through the environment or *_FILE variables\n",
            path, keys, (st.st_mode & 007) ? "others" : "its group",
            (unsigned) (st.st_mode & 07777));
    return true;
}

static const char *
cfg_getenv(const char *name)
{
    return getenv(name);
}

cdc_rc
cfg_load(struct cdc_config *cfg, const char *path, const char *const *overrides, int n,
         const char *(*getenv_fn)(const char *), FILE *errout, struct cdc_err *err)
{
    struct cfg_loader ld = {cfg, path, getenv_fn ? getenv_fn : cfg_getenv, errout, 0, false};

    if (path != NULL) {
        free(cfg->path);
        if ((cfg->path = strdup(path)) == NULL)
            return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory loading the configuration");
        cfg_load_file(&ld, path);
    }
    cfg_apply_env(&ld);
    for (int i = 0; i < n; i++)
        cfg_apply_override(&ld, overrides[i]);
    cfg_derive_defaults(&ld);
    if (ld.nomem)
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory loading the configuration");
    if (ld.problems > 0)
        return cdc_err_set(err, CDC_ERR_CONFIG, "%d problem%s in the configuration", ld.problems,
                           ld.problems == 1 ? "" : "s");
    return CDC_OK;
}
