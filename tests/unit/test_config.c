/*
 * test_config.c - loading, checking and dumping the configuration: every key of
 * the design's config.yaml, interpolation, precedence (override > env > file >
 * default), one exact line per problem, and secrets that never leak.
 *
 * Inputs are the YAML files in tests/data/config; the environment is injected through
 * cfg_load()'s getenv_fn, and problems are captured with open_memstream.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"

#define DATA(name) CDC_TEST_DATA "/config/" name

/* ---- injected environment ------------------------------------------------------------ */

static const char *const *test_env; /* NULL-terminated "NAME=value" strings */

static const char *
test_getenv(const char *name)
{
    size_t n = strlen(name);

    for (int i = 0; test_env && test_env[i]; i++)
        if (strncmp(test_env[i], name, n) == 0 && test_env[i][n] == '=')
            return test_env[i] + n + 1;
    return NULL;
}

/* The design document's "Environment Variables" section, verbatim. */
static const char *const design_env[] = {
    "AWS_RDS_ENDPOINT=rds-instance.xxxxx.region.rds.amazonaws.com",
    "AWS_RDS_USERNAME=replicator",
    "AWS_RDS_PASSWORD=secure_password",
    "AWS_RDS_DATABASE=production_db",
    "AWS_RDS_REGION=us-east-1",
    "NATS_URL=nats://nats-cluster:4222",
    "NATS_USERNAME=nats_user",
    "NATS_PASSWORD=nats_password",
    "NATS_CLUSTER_ID=prod-cluster",
    "CHECKPOINT_STORAGE=redis://localhost:6379",
    "CHECKPOINT_INTERVAL=10s",
    "MAX_RETRY_ATTEMPTS=3",
    "BATCH_SIZE=1000",
    "BATCH_TIMEOUT=5s",
    "PROMETHEUS_PORT=8080",
    "LOG_LEVEL=info",
    NULL,
};

static const char *const no_env[] = {NULL};

/* ---- helpers --------------------------------------------------------------------------- */

struct loaded {
    struct cdc_config cfg;
    cdc_rc rc;
    char *out; /* everything written to errout */
};

static void
load(struct loaded *l, const char *path, const char *const *env, const char *const *ov, int n)
{
    struct cdc_err err;
    size_t len;
    FILE *f = open_memstream(&l->out, &len);

    assert_non_null(f);
    test_env = env;
    cfg_init(&l->cfg);
    l->rc = cfg_load(&l->cfg, path, ov, n, test_getenv, f, &err);
    fclose(f);
}

static char *
check(const struct cdc_config *cfg, cdc_rc *rc)
{
    struct cdc_err err;
    char *out;
    size_t len;
    FILE *f = open_memstream(&out, &len);

    assert_non_null(f);
    *rc = cfg_check(cfg, f, &err);
    fclose(f);
    return out;
}

static char *
dump(const struct cdc_config *cfg)
{
    char *out;
    size_t len;
    FILE *f = open_memstream(&out, &len);

    assert_non_null(f);
    cfg_dump(cfg, f);
    fclose(f);
    return out;
}

static void
unload(struct loaded *l)
{
    cfg_free(&l->cfg);
    free(l->out);
}

/* Replace every "{F}" in tmpl with path: expected messages name the file as given. */
static char *
with_path(const char *path, const char *tmpl)
{
    char *out = calloc(1, strlen(tmpl) * 2 + 64 * strlen(path));
    const char *p;

    assert_non_null(out);
    while ((p = strstr(tmpl, "{F}")) != NULL) {
        strncat(out, tmpl, (size_t) (p - tmpl));
        strcat(out, path);
        tmpl = p + 3;
    }
    strcat(out, tmpl);
    return out;
}

static void
assert_output(const char *got, const char *path, const char *tmpl)
{
    char *want = with_path(path, tmpl);

    assert_string_equal(got, want);
    free(want);
}

static void
assert_list(const struct cfg_strlist *l, const char *const *want, int n)
{
    assert_int_equal(l->n, n);
    for (int i = 0; i < n; i++)
        assert_string_equal(l->items[i], want[i]);
}

static char *
write_temp(const char *text)
{
    char *path = strdup("/tmp/test_config_XXXXXX.yaml");
    int fd = mkstemps(path, 5);
    FILE *f;

    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

/* ---- defaults ------------------------------------------------------------------------- */

static void
test_cfg_init_sets_documented_defaults(void **state)
{
    struct cdc_config c;
    const char *const urls[] = {"nats://127.0.0.1:4222"};

    (void) state;
    cfg_init(&c);
    assert_int_equal(c.server.port, 8080);
    assert_int_equal(c.server.grace_period_ms, 30000);
    assert_int_equal(c.rds.engine, CFG_ENGINE_POSTGRES);
    assert_int_equal(c.rds.port, 5432);
    assert_int_equal(c.rds.ssl_mode, CFG_SSL_REQUIRE);
    assert_int_equal(c.rds.max_connections, 10);
    assert_null(c.rds.endpoint);
    assert_null(c.rds.password);
    assert_list(&c.nats.urls, urls, 1);
    assert_int_equal(c.nats.request_timeout_ms, 10000);
    assert_string_equal(c.nats.stream, "CDC");
    assert_string_equal(c.nats.subject_prefix, "cdc");
    assert_int_equal(c.nats.stream_storage, CFG_STORAGE_FILE);
    assert_int_equal(c.nats.stream_replicas, 1);
    assert_int_equal(c.nats.duplicate_window_ms, 120000);
    assert_string_equal(c.cdc.checkpoint_storage, "file://cdc-handler-checkpoint.json");
    assert_int_equal(c.cdc.checkpoint_interval_ms, 10000);
    assert_int_equal(c.cdc.max_retry_attempts, 3);
    assert_int_equal(c.cdc.batch_size, 1000);
    assert_int_equal(c.cdc.batch_timeout_ms, 5000);
    assert_int_equal(c.cdc.max_buffer_bytes, 64 * 1024 * 1024);
    assert_int_equal(c.cdc.slot_lag_warn_bytes, INT64_C(1) << 30);
    assert_int_equal(c.cdc.slot_lag_error_bytes, INT64_C(8) << 30);
    assert_int_equal(c.cdc.table_filters.n, 0);
    assert_int_equal(c.cdc.table_excludes.n, 0);
    {
        static const char *const ops[] = {"insert", "update", "delete", "truncate", "ddl"};

        assert_list(&c.cdc.operations, ops, 5);
    }
    assert_true(c.cdc.schema_evolution_enabled);
    assert_false(c.cdc.schema_evolution_strict);
    assert_string_equal(c.cdc.slot_name, "cdc_handler");
    assert_string_equal(c.cdc.publication, "cdc_handler");
    assert_null(c.cdc.source_name);
    assert_true(c.monitoring.prometheus_enabled);
    assert_int_equal(c.monitoring.prometheus_port, 8080);
    assert_string_equal(c.monitoring.log_level, "info");
    assert_int_equal(c.monitoring.log_format, CFG_LOG_JSON);
    cfg_free(&c);
}

static void
test_cfg_key_table_names_every_documented_key(void **state)
{
    static const char *const keys[] = {"server.port",
                                       "server.grace_period",
                                       "rds.endpoint",
                                       "rds.username",
                                       "rds.password",
                                       "rds.database",
                                       "rds.region",
                                       "rds.ssl_mode",
                                       "rds.max_connections",
                                       "rds.engine",
                                       "rds.port",
                                       "rds.auth",
                                       "rds.ssl_root_cert",
                                       "rds.server_id",
                                       "nats.urls",
                                       "nats.username",
                                       "nats.password",
                                       "nats.cluster_id",
                                       "nats.request_timeout",
                                       "nats.stream",
                                       "nats.subject_prefix",
                                       "nats.subject_template",
                                       "nats.stream_storage",
                                       "nats.stream_replicas",
                                       "nats.duplicate_window",
                                       "nats.token",
                                       "nats.nkey_seed_file",
                                       "nats.credentials_file",
                                       "nats.tls.ca_file",
                                       "nats.tls.cert_file",
                                       "nats.tls.key_file",
                                       "cdc.checkpoint_storage",
                                       "cdc.checkpoint_interval",
                                       "cdc.checkpoint_encryption_key",
                                       "cdc.checkpoint_encryption_key_file",
                                       "cdc.max_retry_attempts",
                                       "cdc.retry_backoff_base",
                                       "cdc.retry_backoff_max",
                                       "cdc.batch_size",
                                       "cdc.batch_timeout",
                                       "cdc.max_buffer_bytes",
                                       "cdc.tolerable_downtime",
                                       "cdc.heartbeat_interval",
                                       "cdc.heartbeat_topic",
                                       "cdc.slot_lag_warn_bytes",
                                       "cdc.slot_lag_error_bytes",
                                       "cdc.table_filters",
                                       "cdc.table_excludes",
                                       "cdc.operations",
                                       "cdc.schema_evolution.enabled",
                                       "cdc.schema_evolution.strict_mode",
                                       "cdc.sensitive_fields",
                                       "cdc.sensitive_hash_key",
                                       "cdc.sensitive_hash_key_id",
                                       "cdc.slot_name",
                                       "cdc.publication",
                                       "cdc.source_name",
                                       "cdc.dlq_on_publish_failure",
                                       "cdc.claim_check_bucket",
                                       "cdc.format",
                                       "cdc.cloudevents",
                                       "cdc.metadata",
                                       "cdc.circuit_breaker.failure_threshold",
                                       "cdc.circuit_breaker.cooldown",
                                       "cdc.pg_streaming",
                                       "cdc.spill_dir",
                                       "cdc.spill_max_bytes",
                                       "monitoring.prometheus.enabled",
                                       "monitoring.prometheus.port",
                                       "monitoring.logging.level",
                                       "monitoring.logging.format",
                                       "monitoring.memory_limit_bytes"};

    (void) state;
    assert_int_equal(sizeof(keys) / sizeof(keys[0]), CFG_NKEYS);
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        assert_true(cfg_key_find(keys[i]) >= 0);
    assert_int_equal(cfg_key_find("nats.url"), -1);
}

/* ---- the file -------------------------------------------------------------------------- */

static void
test_cfg_load_reads_every_key_from_a_file(void **state)
{
    struct loaded l;
    const char *const urls[] = {"nats://n1:4222", "tls://n2:4222", "n3:4222"};
    const char *const tables[] = {"public.orders", "public.customers"};
    const char *const fields[] = {"card"};
    const struct cdc_config *c = &l.cfg;

    (void) state;
    load(&l, DATA("full.yaml"), no_env, NULL, 0);
    assert_string_equal(l.out, "");
    assert_int_equal(l.rc, CDC_OK);
    assert_int_equal(c->server.port, 9090);
    assert_int_equal(c->server.grace_period_ms, 45000);
    assert_int_equal(c->rds.engine, CFG_ENGINE_MYSQL);
    assert_string_equal(c->rds.endpoint, "db.example.com");
    assert_int_equal(c->rds.port, 3307);
    assert_string_equal(c->rds.username, "repl");
    assert_string_equal(c->rds.password, "s3cr3t-pw");
    assert_string_equal(c->rds.database, "shop");
    assert_string_equal(c->rds.region, "eu-west-1");
    assert_int_equal(c->rds.ssl_mode, CFG_SSL_VERIFY_FULL);
    assert_int_equal(c->rds.max_connections, 4);
    assert_list(&c->nats.urls, urls, 3);
    assert_string_equal(c->nats.username, "natsu");
    assert_string_equal(c->nats.password, "nats-s3cret");
    assert_string_equal(c->nats.cluster_id, "prod-cluster");
    assert_int_equal(c->nats.request_timeout_ms, 90000);
    assert_string_equal(c->nats.stream, "ORDERS");
    assert_string_equal(c->nats.subject_prefix, "acme.cdc");
    assert_int_equal(c->nats.stream_storage, CFG_STORAGE_MEMORY);
    assert_int_equal(c->nats.stream_replicas, 3);
    assert_int_equal(c->nats.duplicate_window_ms, 3600000);
    assert_string_equal(c->cdc.checkpoint_storage, "redis://ckpt:ckpt-pass@redis:6379/0");
    assert_int_equal(c->cdc.checkpoint_interval_ms, 500);
    assert_int_equal(c->cdc.max_retry_attempts, 0);
    assert_int_equal(c->cdc.batch_size, 250);
    assert_int_equal(c->cdc.batch_timeout_ms, 2000); /* a bare number is seconds */
    assert_list(&c->cdc.table_filters, tables, 2);
    assert_false(c->cdc.schema_evolution_enabled);
    assert_true(c->cdc.schema_evolution_strict);
    assert_list(&c->cdc.sensitive_fields, fields, 1);
    assert_string_equal(c->cdc.slot_name, "shop_slot");
    assert_string_equal(c->cdc.publication, "shop_pub");
    assert_string_equal(c->cdc.source_name, "shop_eu");
    assert_false(c->monitoring.prometheus_enabled);
    assert_int_equal(c->monitoring.prometheus_port, 9100);
    assert_string_equal(c->monitoring.log_level, "debug");
    assert_int_equal(c->monitoring.log_format, CFG_LOG_TEXT);
    /* each key remembers its line */
    assert_int_equal(c->origin[cfg_key_find("server.port")].src, CFG_SRC_FILE);
    assert_int_equal(c->origin[cfg_key_find("server.port")].line, 3);
    assert_int_equal(c->origin[cfg_key_find("monitoring.logging.format")].line, 50);
    assert_int_equal(c->nats.urls.lines[2], 19);
    unload(&l);
}

static void
test_cfg_load_design_config_with_design_environment(void **state)
{
    struct loaded l;
    const char *const urls[] = {"nats://nats-cluster:4222"};
    const char *const tables[] = {"schema1.table1", "schema2.table2"};
    const char *const fields[] = {"password", "credit_card", "ssn"};
    const struct cdc_config *c = &l.cfg;
    char *out;
    cdc_rc rc;

    (void) state;
    load(&l, DATA("design.yaml"), design_env, NULL, 0);
    assert_string_equal(l.out, "");
    assert_int_equal(l.rc, CDC_OK);
    assert_int_equal(c->server.port, 8080);
    assert_int_equal(c->server.grace_period_ms, 30000);
    assert_string_equal(c->rds.endpoint, "rds-instance.xxxxx.region.rds.amazonaws.com");
    assert_string_equal(c->rds.username, "replicator");
    assert_string_equal(c->rds.password, "secure_password");
    assert_string_equal(c->rds.database, "production_db");
    assert_string_equal(c->rds.region, "us-east-1");
    assert_int_equal(c->rds.ssl_mode, CFG_SSL_REQUIRE);
    assert_int_equal(c->rds.max_connections, 10);
    assert_int_equal(c->rds.engine, CFG_ENGINE_POSTGRES);
    assert_int_equal(c->rds.port, 5432);
    assert_list(&c->nats.urls, urls, 1);
    assert_string_equal(c->nats.username, "nats_user");
    assert_string_equal(c->nats.password, "nats_password");
    assert_string_equal(c->nats.cluster_id, "prod-cluster");
    assert_int_equal(c->nats.request_timeout_ms, 10000);
    assert_string_equal(c->cdc.checkpoint_storage, "redis://localhost:6379");
    assert_int_equal(c->cdc.checkpoint_interval_ms, 10000);
    assert_int_equal(c->cdc.max_retry_attempts, 3);
    assert_int_equal(c->cdc.batch_size, 1000);
    assert_int_equal(c->cdc.batch_timeout_ms, 5000);
    assert_list(&c->cdc.table_filters, tables, 2);
    assert_true(c->cdc.schema_evolution_enabled);
    assert_false(c->cdc.schema_evolution_strict);
    assert_list(&c->cdc.sensitive_fields, fields, 3);
    assert_string_equal(c->cdc.source_name, "production_db");
    assert_true(c->monitoring.prometheus_enabled);
    assert_int_equal(c->monitoring.prometheus_port, 8080);
    assert_string_equal(c->monitoring.log_level, "info");
    assert_int_equal(c->monitoring.log_format, CFG_LOG_JSON);
    out = check(c, &rc);
    assert_string_equal(out, "");
    assert_int_equal(rc, CDC_OK);
    free(out);
    unload(&l);
}

static void
test_cfg_design_config_without_environment_names_each_unset_variable(void **state)
{
    struct loaded l;
    char *out;
    cdc_rc rc;

    (void) state;
    load(&l, DATA("design.yaml"), no_env, NULL, 0);
    assert_int_equal(l.rc, CDC_ERR_CONFIG);
    assert_output(l.out, DATA("design.yaml"),
                  "{F}:24: cdc.checkpoint_interval: is empty (${CHECKPOINT_INTERVAL} is not set)\n"
                  "{F}:25: cdc.max_retry_attempts: is empty (${MAX_RETRY_ATTEMPTS} is not set)\n"
                  "{F}:26: cdc.batch_size: is empty (${BATCH_SIZE} is not set)\n"
                  "{F}:27: cdc.batch_timeout: is empty (${BATCH_TIMEOUT} is not set)\n"
                  "{F}:46: monitoring.prometheus.port: is empty (${PROMETHEUS_PORT} is not set)\n"
                  "{F}:49: monitoring.logging.level: is empty (${LOG_LEVEL} is not set)\n");
    /* the required strings are cfg_check()'s business */
    out = check(&l.cfg, &rc);
    assert_int_equal(rc, CDC_ERR_CONFIG);
    assert_output(out, DATA("design.yaml"),
                  "{F}:6: rds.endpoint: is empty (${AWS_RDS_ENDPOINT} is not set)\n"
                  "{F}:9: rds.database: is empty (${AWS_RDS_DATABASE} is not set)\n"
                  "{F}:7: rds.username: is empty (${AWS_RDS_USERNAME} is not set)\n"
                  "{F}:23: cdc.checkpoint_storage: is empty (${CHECKPOINT_STORAGE} is not set)\n"
                  "{F}:15: nats.urls: is empty (${NATS_URL} is not set)\n");
    free(out);
    unload(&l);
}

static void
test_cfg_load_interpolates_variables_and_defaults(void **state)
{
    static const char *const env[] = {"DB_NAME=shop", "DB_SUFFIX=", "DB_USER=bob",
                                      "URLS=nats://a:4222, nats://b:4222", NULL};
    const char *const urls[] = {"nats://a:4222", "nats://b:4222"};
    struct loaded l;

    (void) state;
    load(&l, DATA("interp.yaml"), env, NULL, 0);
    assert_string_equal(l.out, "");
    assert_int_equal(l.rc, CDC_OK);
    assert_string_equal(l.cfg.rds.endpoint, "localhost"); /* unset: the default */
    assert_string_equal(l.cfg.rds.database, "shop_dev");  /* set but empty: the default too */
    assert_string_equal(l.cfg.rds.username, "bob");
    assert_string_equal(l.cfg.rds.password, "${NOT_A_VAR}"); /* $${ is a literal ${ */
    assert_list(&l.cfg.nats.urls, urls, 2); /* an interpolated item splits at commas */
    assert_int_equal(l.cfg.cdc.batch_size, 500);
    assert_int_equal(l.cfg.cdc.checkpoint_interval_ms, 90000);
    unload(&l);
}

static void
test_cfg_load_set_but_empty_variable_is_named_as_such(void **state)
{
    static const char *const env[] = {"BATCH_SIZE=", NULL};
    struct loaded l;
    char *path = write_temp("cdc:\n  batch_size: ${BATCH_SIZE}\n");

    (void) state;
    load(&l, path, env, NULL, 0);
    assert_int_equal(l.rc, CDC_ERR_CONFIG);
    assert_output(l.out, path,
                  "{F}:2: cdc.batch_size: is empty (${BATCH_SIZE} is set but empty)\n");
    unload(&l);
    unlink(path);
    free(path);
}

static void
test_cfg_load_reports_bad_references_and_misspelled_sections(void **state)
{
    struct loaded l;
    char *path = write_temp("nat:\n"
                            "  urls: [a]\n"
                            "rds:\n"
                            "  endpoint: ${1HOST}\n"
                            "  database: ${DB\n"
                            "  region: ${DB:oops}\n"
                            "  prot: 1\n");

    (void) state;
    load(&l, path, no_env, NULL, 0);
    assert_int_equal(l.rc, CDC_ERR_CONFIG);
    assert_output(l.out, path,
                  "{F}:1: nat: unknown key (did you mean \"nats\"?)\n"
                  "{F}:4: rds.endpoint: invalid variable name in ${...}\n"
                  "{F}:5: rds.database: unterminated ${\n"
                  "{F}:6: rds.region: invalid variable name in ${...}\n"
                  "{F}:7: rds.prot: unknown key (did you mean \"rds.port\"?)\n");
    unload(&l);
    unlink(path);
    free(path);
}

static void
test_cfg_load_reports_every_problem_in_a_file(void **state)
{
    struct loaded l;

    (void) state;
    load(&l, DATA("bad.yaml"), no_env, NULL, 0);
    assert_int_equal(l.rc, CDC_ERR_CONFIG);
    assert_output(
        l.out, DATA("bad.yaml"),
        "{F}:2: server.port: must be an integer between 1 and 65535, got \"70000\"\n"
        "{F}:3: server.grace_period: must be a duration such as 500ms, 10s or 1m30s, got \"soon\"\n"
        "{F}:5: rds.engine: must be one of postgres, mysql, mariadb, got \"oracle\"\n"
        "{F}:6: rds.ssl_mode: must be one of disable, require, verify-ca, verify-full, got "
        "\"prefer\"\n"
        "{F}:10: rds.max_connections: expected a scalar value, got a list\n"
        "{F}:12: nats.url: unknown key (did you mean \"nats.urls\"?)\n"
        "{F}:13: nats.stream_replicas: must be an integer between 1 and 5, got \"0\"\n"
        "{F}:15: cdc.batch_size: must be an integer >= 1, got \"abc\"\n"
        "{F}:17: cdc.schema_evolution.enabled: must be true or false (or yes/no, on/off), got "
        "\"maybe\"\n"
        "{F}:18: cdc.colour: unknown key\n"
        "{F}:21: monitoring.logging.level: must be one of error, warn, info, debug, got "
        "\"verbose\"\n");
    /* bad values leave the defaults in place */
    assert_int_equal(l.cfg.server.port, 8080);
    assert_int_equal(l.cfg.rds.engine, CFG_ENGINE_POSTGRES);
    unload(&l);
}

static void
test_cfg_load_reports_wrong_node_kinds_and_duplicate_keys(void **state)
{
    struct loaded l;

    (void) state;
    load(&l, DATA("kinds.yaml"), no_env, NULL, 0);
    assert_int_equal(l.rc, CDC_ERR_CONFIG);
    assert_output(l.out, DATA("kinds.yaml"),
                  "{F}:1: server: expected a mapping, got a scalar\n"
                  "{F}:3: rds.endpoint: expected a scalar value, got a mapping\n"
                  "{F}:8: nats.urls: list items must be scalars, got a list\n"
                  "{F}:11: cdc.batch_size: duplicate key (first set at line 10)\n");
    unload(&l);
}

static void
test_cfg_load_reports_one_problem_for_a_syntax_error(void **state)
{
    struct loaded l;

    (void) state;
    load(&l, DATA("syntax.yaml"), no_env, NULL, 0);
    assert_int_equal(l.rc, CDC_ERR_CONFIG);
    assert_output(l.out, DATA("syntax.yaml"),
                  "{F}:4: invalid YAML: mapping values are not allowed in this context\n");
    unload(&l);
}

static void
test_cfg_load_reports_a_second_document(void **state)
{
    struct loaded l;

    (void) state;
    load(&l, DATA("two_docs.yaml"), no_env, NULL, 0);
    assert_int_equal(l.rc, CDC_ERR_CONFIG);
    assert_output(l.out, DATA("two_docs.yaml"), "{F}:4: only one YAML document is allowed\n");
    assert_int_equal(l.cfg.server.port, 8080);
    unload(&l);
}

static void
test_cfg_load_reports_a_missing_file_and_goes_on(void **state)
{
    static const char *const env[] = {"BATCH_SIZE=x", NULL};
    struct loaded l;

    (void) state;
    load(&l, "/nonexistent/cdc.yaml", env, NULL, 0);
    assert_int_equal(l.rc, CDC_ERR_CONFIG);
    assert_string_equal(l.out, "/nonexistent/cdc.yaml: could not open configuration file: No "
                               "such file or directory\n"
                               "<env>: BATCH_SIZE: must be an integer >= 1, got \"x\"\n");
    unload(&l);
}

static void
test_cfg_load_empty_or_null_file_keeps_defaults(void **state)
{
    struct loaded l;
    char *path = write_temp("# nothing here\n");

    (void) state;
    load(&l, path, no_env, NULL, 0);
    assert_string_equal(l.out, "");
    assert_int_equal(l.rc, CDC_OK);
    assert_int_equal(l.cfg.cdc.batch_size, 1000);
    unload(&l);
    unlink(path);
    free(path);
}

static void
test_cfg_load_accepts_every_boolean_spelling(void **state)
{
    static const char *const yes[] = {"true", "yes", "on", "True", "YES", "On"};
    static const char *const no[] = {"false", "no", "off", "False", "NO", "Off"};

    (void) state;
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        char o1[64], o2[64];
        const char *ov[2] = {o1, o2};
        struct loaded l;

        snprintf(o1, sizeof(o1), "cdc.schema_evolution.strict_mode=%s", yes[i]);
        snprintf(o2, sizeof(o2), "monitoring.prometheus.enabled=%s", no[i]);
        load(&l, NULL, no_env, ov, 2);
        assert_int_equal(l.rc, CDC_OK);
        assert_true(l.cfg.cdc.schema_evolution_strict);
        assert_false(l.cfg.monitoring.prometheus_enabled);
        unload(&l);
    }
}

/* ---- environment and overrides ----------------------------------------------------------- */

static void
test_cfg_load_precedence_is_override_then_env_then_file_then_default(void **state)
{
    static const char *const env[] = {"BATCH_SIZE=200", "CHECKPOINT_INTERVAL=30s",
                                      "MAX_RETRY_ATTEMPTS=7", NULL};
    const char *ov[] = {"cdc.batch_size=300"};
    struct loaded l;

    (void) state;
    load(&l, DATA("prec.yaml"), env, ov, 1);
    assert_int_equal(l.rc, CDC_OK);
    assert_int_equal(l.cfg.cdc.batch_size, 300);               /* override beats env */
    assert_int_equal(l.cfg.cdc.checkpoint_interval_ms, 30000); /* env beats file */
    assert_int_equal(l.cfg.cdc.max_retry_attempts, 7);         /* env beats default */
    assert_int_equal(l.cfg.cdc.batch_timeout_ms, 5000);        /* default */
    assert_int_equal(l.cfg.origin[cfg_key_find("cdc.batch_size")].src, CFG_SRC_OVERRIDE);
    assert_int_equal(l.cfg.origin[cfg_key_find("cdc.checkpoint_interval")].src, CFG_SRC_ENV);
    unload(&l);

    load(&l, DATA("prec.yaml"), no_env, NULL, 0);
    assert_int_equal(l.rc, CDC_OK);
    assert_int_equal(l.cfg.cdc.batch_size, 100); /* file beats default */
    assert_int_equal(l.cfg.cdc.checkpoint_interval_ms, 20000);
    unload(&l);
}

static void
test_cfg_load_set_but_empty_env_var_does_not_override(void **state)
{
    static const char *const env[] = {"BATCH_SIZE=", "AWS_RDS_ENDPOINT=", NULL};
    struct loaded l;

    (void) state;
    load(&l, DATA("prec.yaml"), env, NULL, 0);
    assert_string_equal(l.out, "");
    assert_int_equal(l.rc, CDC_OK);
    assert_int_equal(l.cfg.cdc.batch_size, 100);
    assert_null(l.cfg.rds.endpoint);
    unload(&l);
}

static void
test_cfg_load_reports_bad_env_values_by_variable(void **state)
{
    static const char *const env[] = {"BATCH_SIZE=abc", "AWS_RDS_ENGINE=oracle",
                                      "BATCH_TIMEOUT=5 seconds", "AWS_RDS_PORT=0", NULL};
    struct loaded l;

    (void) state;
    load(&l, NULL, env, NULL, 0);
    assert_int_equal(l.rc, CDC_ERR_CONFIG);
    assert_string_equal(
        l.out, "<env>: AWS_RDS_ENGINE: must be one of postgres, mysql, mariadb, got \"oracle\"\n"
               "<env>: AWS_RDS_PORT: must be an integer between 1 and 65535, got \"0\"\n"
               "<env>: BATCH_SIZE: must be an integer >= 1, got \"abc\"\n"
               "<env>: BATCH_TIMEOUT: must be a positive duration such as 500ms, 10s or 1m30s, got "
               "\"5 seconds\"\n");
    unload(&l);
}

static void
test_cfg_load_nats_url_env_takes_a_comma_separated_list(void **state)
{
    static const char *const env[] = {"NATS_URL=nats://a:4222,nats://b:4222,,tls://c:4443", NULL};
    const char *const urls[] = {"nats://a:4222", "nats://b:4222", "tls://c:4443"};
    struct loaded l;

    (void) state;
    load(&l, DATA("design.yaml"), env, NULL, 0);
    assert_list(&l.cfg.nats.urls, urls, 3);
    unload(&l);
}

static void
test_cfg_load_overrides_set_scalars_and_lists(void **state)
{
    const char *ov[] = {"nats.urls=nats://x:1,nats://y:2",
                        "cdc.table_filters=", "rds.ssl_mode=disable", "cdc.source_name=eu"};
    const char *const urls[] = {"nats://x:1", "nats://y:2"};
    struct loaded l;

    (void) state;
    load(&l, DATA("full.yaml"), no_env, ov, 4);
    assert_string_equal(l.out, "");
    assert_list(&l.cfg.nats.urls, urls, 2);
    assert_int_equal(l.cfg.cdc.table_filters.n, 0);
    assert_int_equal(l.cfg.rds.ssl_mode, CFG_SSL_DISABLE);
    assert_string_equal(l.cfg.cdc.source_name, "eu");
    unload(&l);
}

static void
test_cfg_load_reports_bad_overrides(void **state)
{
    const char *ov[] = {"cdc.batch_size=0",
                        "nats.urlz=nats://a:1",
                        "novalue",
                        "rds.ssl_mode=prefer",
                        "=x",
                        "monitoring.logging.level=loud"};
    struct loaded l;

    (void) state;
    load(&l, NULL, no_env, ov, 6);
    assert_int_equal(l.rc, CDC_ERR_CONFIG);
    assert_string_equal(
        l.out, "<override>: cdc.batch_size: must be an integer >= 1, got \"0\"\n"
               "<override>: nats.urlz: unknown key (did you mean \"nats.urls\"?)\n"
               "<override>: novalue: expected key.path=value\n"
               "<override>: rds.ssl_mode: must be one of disable, require, verify-ca, "
               "verify-full, got \"prefer\"\n"
               "<override>: (empty key): expected key.path=value\n"
               "<override>: monitoring.logging.level: must be one of error, warn, info, debug, "
               "got \"loud\"\n");
    unload(&l);
}

static void
test_cfg_load_rds_port_defaults_by_engine(void **state)
{
    static const char *const mysql[] = {"AWS_RDS_ENGINE=mysql", NULL};
    static const char *const mariadb_port[] = {"AWS_RDS_ENGINE=mariadb", "AWS_RDS_PORT=3310", NULL};
    struct loaded l;

    (void) state;
    load(&l, NULL, mysql, NULL, 0);
    assert_int_equal(l.cfg.rds.engine, CFG_ENGINE_MYSQL);
    assert_int_equal(l.cfg.rds.port, 3306);
    unload(&l);
    load(&l, NULL, mariadb_port, NULL, 0);
    assert_int_equal(l.cfg.rds.engine, CFG_ENGINE_MARIADB);
    assert_int_equal(l.cfg.rds.port, 3310);
    unload(&l);
    load(&l, NULL, no_env, NULL, 0);
    assert_int_equal(l.cfg.rds.port, 5432);
    unload(&l);
}

/* rds.server_id is a MySQL replica id: 1..2^32-1, which does not fit an int. */
static void
test_cfg_server_id_takes_the_whole_u32_range(void **state)
{
    const char *top[] = {"rds.server_id=4294967295"};
    const char *bad[] = {"rds.server_id=0", "rds.server_id=4294967296", "rds.server_id=12x"};
    struct loaded l;
    cdc_rc rc;
    char *out, *d;

    (void) state;
    load(&l, NULL, no_env, NULL, 0);
    assert_int_equal(l.cfg.rds.server_id, 4242);
    unload(&l);
    load(&l, NULL, no_env, top, 1);
    assert_int_equal(l.rc, CDC_OK);
    assert_true(l.cfg.rds.server_id == 4294967295LL);
    d = dump(&l.cfg);
    assert_non_null(strstr(d, "\n  server_id: 4294967295\n"));
    free(d);
    unload(&l);
    load(&l, NULL, no_env, bad, 3);
    assert_int_equal(l.rc, CDC_ERR_CONFIG);
    assert_string_equal(l.out,
                        "<override>: rds.server_id: must be an integer between 1 and 4294967295, "
                        "got \"0\"\n"
                        "<override>: rds.server_id: must be an integer between 1 and 4294967295, "
                        "got \"4294967296\"\n"
                        "<override>: rds.server_id: must be an integer between 1 and 4294967295, "
                        "got \"12x\"\n");
    /* cfg_check sees a value set in code, too */
    l.cfg.rds.server_id = 0;
    out = check(&l.cfg, &rc);
    assert_int_equal(rc, CDC_ERR_CONFIG);
    assert_non_null(
        strstr(out, "rds.server_id: must be an integer between 1 and 4294967295, got 0"));
    free(out);
    unload(&l);
}

static void
test_cfg_load_source_name_defaults_to_the_database(void **state)
{
    static const char *const env[] = {"AWS_RDS_DATABASE=orders", NULL};
    const char *ov[] = {"cdc.source_name=orders_eu"};
    struct loaded l;

    (void) state;
    load(&l, NULL, env, NULL, 0);
    assert_string_equal(l.cfg.cdc.source_name, "orders");
    unload(&l);
    load(&l, NULL, env, ov, 1);
    assert_string_equal(l.cfg.cdc.source_name, "orders_eu");
    unload(&l);
}

/* ---- cfg_check ------------------------------------------------------------------------------ */

static void
test_cfg_check_requires_endpoint_database_and_username(void **state)
{
    struct loaded l;
    char *out;
    cdc_rc rc;

    (void) state;
    load(&l, NULL, no_env, NULL, 0);
    assert_int_equal(l.rc, CDC_OK);
    out = check(&l.cfg, &rc);
    assert_int_equal(rc, CDC_ERR_CONFIG);
    assert_string_equal(
        out, "<default>: rds.endpoint: is required (set it in the file, with AWS_RDS_ENDPOINT "
             "or with -X rds.endpoint=...)\n"
             "<default>: rds.database: is required (set it in the file, with AWS_RDS_DATABASE "
             "or with -X rds.database=...)\n"
             "<default>: rds.username: is required (set it in the file, with AWS_RDS_USERNAME "
             "or with -X rds.username=...)\n");
    free(out);
    unload(&l);
}

static void
test_cfg_check_reports_names_and_urls_at_their_lines(void **state)
{
    struct loaded l;
    char *out;
    cdc_rc rc;

    (void) state;
    load(&l, DATA("check_bad.yaml"), no_env, NULL, 0);
    assert_string_equal(l.out, "");
    out = check(&l.cfg, &rc);
    assert_int_equal(rc, CDC_ERR_CONFIG);
    assert_output(out, DATA("check_bad.yaml"),
                  "{F}:8: nats.urls: \"http://user:********@web:80\" is not a NATS server URL "
                  "(expected nats://HOST:PORT, tls://HOST:PORT or HOST:PORT)\n"
                  "{F}:9: nats.stream: must be a stream name without spaces, dots, wildcards or "
                  "slashes, got \"my.stream\"\n"
                  "{F}:10: nats.subject_prefix: must be NATS subject tokens separated by dots, "
                  "without spaces or wildcards, got \"cdc..x\"\n"
                  "{F}:12: cdc.slot_name: must be 1 to 63 characters among a-z, 0-9 and _, got "
                  "\"Bad-Slot\"\n"
                  "<default>: cdc.source_name: must be one NATS subject token (no dots, spaces "
                  "or wildcards), got \"shop db\" (it defaults to rds.database: set "
                  "cdc.source_name)\n");
    assert_null(strstr(out, "hunter2"));
    free(out);
    unload(&l);
}

static void
test_cfg_check_reports_env_and_override_origins(void **state)
{
    static const char *const env[] = {"AWS_RDS_ENDPOINT=db", "AWS_RDS_USERNAME=u",
                                      "AWS_RDS_DATABASE=d", "NATS_URL=localhost", NULL};
    const char *ov[] = {"nats.subject_prefix=cdc.>", "nats.duplicate_window=0s"};
    struct loaded l;
    char *out;
    cdc_rc rc;

    (void) state;
    load(&l, NULL, env, ov, 2);
    assert_int_equal(l.rc, CDC_ERR_CONFIG);
    assert_string_equal(l.out, "<override>: nats.duplicate_window: must be a positive duration "
                               "such as 500ms, 10s or 1m30s, got \"0s\"\n");
    out = check(&l.cfg, &rc);
    assert_int_equal(rc, CDC_ERR_CONFIG);
    assert_string_equal(out, "<env>: NATS_URL: \"localhost\" is not a NATS server URL (expected "
                             "nats://HOST:PORT, tls://HOST:PORT or HOST:PORT)\n"
                             "<override>: nats.subject_prefix: must be NATS subject tokens "
                             "separated by dots, without spaces or wildcards, got \"cdc.>\"\n");
    free(out);
    unload(&l);
}

static void
test_cfg_check_validates_fields_set_in_code(void **state)
{
    struct cdc_config c;
    char *out;
    cdc_rc rc;

    (void) state;
    cfg_init(&c);
    c.rds.endpoint = strdup("db");
    c.rds.database = strdup("d");
    c.rds.username = strdup("u");
    c.cdc.source_name = strdup("d");
    c.nats.duplicate_window_ms = 0;
    c.cdc.batch_size = 0;
    out = check(&c, &rc);
    assert_int_equal(rc, CDC_ERR_CONFIG);
    assert_string_equal(out, "<default>: nats.duplicate_window: must be a positive duration, got "
                             "0ms\n"
                             "<default>: cdc.batch_size: must be an integer >= 1, got 0\n");
    free(out);
    cfg_free(&c);
}

static void
test_cfg_check_reports_bad_filters_at_their_lines(void **state)
{
    char *path = write_temp("rds:\n"
                            "  endpoint: db\n"
                            "  username: u\n"
                            "  database: d\n"
                            "cdc:\n"
                            "  table_filters:\n"
                            "    - public.orders\n"
                            "    - orders\n"
                            "    - \"\"\n"
                            "    - sales.\"x\n"
                            "  table_excludes:\n"
                            "    - a.b.c\n"
                            "    - \"*.audit_*\"\n"
                            "  operations: [insert, upsert]\n");
    struct loaded l;
    char *out;
    cdc_rc rc;

    (void) state;
    load(&l, path, no_env, NULL, 0);
    assert_string_equal(l.out, "");
    out = check(&l.cfg, &rc);
    assert_int_equal(rc, CDC_ERR_CONFIG);
    assert_output(out, path,
                  "{F}:8: cdc.table_filters: item 2: \"orders\" has no schema part: write "
                  "schema.table, e.g. public.orders or *.orders\n"
                  "{F}:9: cdc.table_filters: item 3 is empty\n"
                  "{F}:10: cdc.table_filters: item 4: \"sales.\"x\" has an unterminated double "
                  "quote\n"
                  "{F}:12: cdc.table_excludes: item 1: \"a.b.c\" has more than one unquoted dot: "
                  "quote a name that holds a dot, e.g. \"my.schema\".orders\n"
                  "{F}:14: cdc.operations: unknown operation \"upsert\": use insert, update, "
                  "delete, truncate or ddl\n");
    free(out);
    unload(&l);
    /* an emptied operation list publishes nothing: refused */
    {
        const char *ov[] = {"rds.endpoint=db", "rds.username=u", "rds.database=d",
                            "cdc.operations="};

        load(&l, NULL, no_env, ov, 4);
        assert_string_equal(l.out, "");
        out = check(&l.cfg, &rc);
        assert_int_equal(rc, CDC_ERR_CONFIG);
        assert_string_equal(out, "<override>: cdc.operations: is empty: list the operations to "
                                 "publish (insert, update, delete, truncate, ddl)\n");
        free(out);
        unload(&l);
    }
    unlink(path);
    free(path);
}

/* ---- secrets -----------------------------------------------------------------------------------
 */

static void
test_cfg_problems_never_echo_secret_values(void **state)
{
    static const char *const env[] = {"NATS_URL=http://u:hunter2@x:1", NULL};
    struct loaded l;
    char *out;
    cdc_rc rc;

    (void) state;
    load(&l, DATA("secrets.yaml"), env, NULL, 0);
    assert_int_equal(l.rc, CDC_ERR_CONFIG);
    assert_output(l.out, DATA("secrets.yaml"),
                  "{F}:5: rds.password: unterminated ${\n"
                  "{F}:7: nats.password: expected a scalar value, got a list\n");
    out = check(&l.cfg, &rc);
    assert_string_equal(out, "<env>: NATS_URL: \"http://u:********@x:1\" is not a NATS server URL "
                             "(expected nats://HOST:PORT, tls://HOST:PORT or HOST:PORT)\n");
    assert_null(strstr(l.out, "hunter2"));
    free(out);
    unload(&l);
}

static void
test_cfg_redact_urls_masks_passwords_and_tokens(void **state)
{
    static const char *const cases[][2] = {
        {"redis://user:pass@host:6379/0", "redis://user:********@host:6379/0"},
        {"nats://tok@host:4222", "nats://********@host:4222"},
        {"redis://:pw@h", "redis://:********@h"},
        {"nats://a:1,nats://u:p@b:2", "nats://a:1,nats://u:********@b:2"},
        {"file:///var/lib/x@y.json", "file:///var/lib/x@y.json"},
        {"https://h/path?q=a@b", "https://h/path?q=a@b"},
        {"plain text", "plain text"},
        {"", ""},
    };

    (void) state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *r = cfg_redact_urls(cases[i][0]);

        assert_string_equal(r, cases[i][1]);
        free(r);
    }
}


/* ---- the checkpoint encryption key ------------------------------------------------------- */

#define CKPT_KEY_HEX "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

static void
test_cfg_check_reports_bad_checkpoint_keys_without_echoing_them(void **state)
{
    static const char *const env[] = {"CHECKPOINT_ENCRYPTION_KEY=Bad-Key-Text-41", NULL};
    char *path = write_temp("rds:\n"
                            "  endpoint: db\n"
                            "  username: u\n"
                            "  database: d\n"
                            "cdc:\n"
                            "  checkpoint_encryption_key: \"Bad-Key-Text-40\"\n");
    char *kpath = write_temp("Bad-Key-Text-42\n");
    char *path2, *yaml, *want;
    struct loaded l;
    char *out;
    cdc_rc rc;

    (void) state;
    /* in the file: file:line: key: problem */
    load(&l, path, no_env, NULL, 0);
    assert_int_equal(l.rc, CDC_OK);
    out = check(&l.cfg, &rc);
    assert_int_equal(rc, CDC_ERR_CONFIG);
    assert_output(out, path,
                  "{F}:6: cdc.checkpoint_encryption_key: encryption key must be 64 hex digits or "
                  "the base64 of 32 bytes (got 15 characters)\n");
    free(out);
    unload(&l);
    /* from the environment */
    load(&l, path, env, NULL, 0);
    out = check(&l.cfg, &rc);
    assert_int_equal(rc, CDC_ERR_CONFIG);
    assert_string_equal(out, "<env>: CHECKPOINT_ENCRYPTION_KEY: encryption key must be 64 hex "
                             "digits or the base64 of 32 bytes (got 15 characters)\n");
    assert_null(strstr(l.out, "Bad-Key-Text"));
    free(out);
    unload(&l);
    /* a key file holding no key, and a key file beside a key */
    yaml = calloc(1, 512);
    assert_non_null(yaml);
    snprintf(yaml, 512,
             "rds:\n  endpoint: db\n  username: u\n  database: d\n"
             "cdc:\n  checkpoint_encryption_key_file: %s\n",
             kpath);
    path2 = write_temp(yaml);
    load(&l, path2, no_env, NULL, 0);
    out = check(&l.cfg, &rc);
    assert_int_equal(rc, CDC_ERR_CONFIG);
    want = calloc(1, 1024);
    assert_non_null(want);
    snprintf(want, 1024,
             "{F}:6: cdc.checkpoint_encryption_key_file: encryption key file \"%s\": encryption "
             "key must be 64 hex digits or the base64 of 32 bytes (got 15 characters)\n",
             kpath);
    assert_output(out, path2, want);
    free(out);
    unload(&l);
    {
        static const char *const both[] = {"CHECKPOINT_ENCRYPTION_KEY=" CKPT_KEY_HEX, NULL};

        load(&l, path2, both, NULL, 0);
        out = check(&l.cfg, &rc);
        assert_int_equal(rc, CDC_ERR_CONFIG);
        assert_output(out, path2,
                      "{F}:6: cdc.checkpoint_encryption_key_file: cannot be set together with "
                      "cdc.checkpoint_encryption_key: set one of them\n");
        assert_null(strstr(out, CKPT_KEY_HEX));
        free(out);
        unload(&l);
    }
    unlink(path);
    unlink(path2);
    unlink(kpath);
    free(path);
    free(path2);
    free(kpath);
    free(yaml);
    free(want);
}

static void
test_cfg_checkpoint_key_is_accepted_and_masked_in_dumps(void **state)
{
    static const char *const env[] = {"AWS_RDS_ENDPOINT=db", "AWS_RDS_USERNAME=u",
                                      "AWS_RDS_DATABASE=d",
                                      "CHECKPOINT_ENCRYPTION_KEY=" CKPT_KEY_HEX, NULL};
    char *kpath = write_temp("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n");
    const char *ov[1];
    char ovbuf[300];
    struct loaded l;
    char *out;
    cdc_rc rc;

    (void) state;
    load(&l, NULL, env, NULL, 0);
    assert_int_equal(l.rc, CDC_OK);
    assert_string_equal(l.cfg.cdc.checkpoint_encryption_key, CKPT_KEY_HEX);
    out = check(&l.cfg, &rc);
    assert_int_equal(rc, CDC_OK);
    free(out);
    out = dump(&l.cfg);
    assert_null(strstr(out, CKPT_KEY_HEX));
    assert_non_null(strstr(out, "\n  checkpoint_encryption_key: \"********\"\n"));
    free(out);
    unload(&l);
    /* a key file: its path is shown, its content is not in the configuration at all */
    snprintf(ovbuf, sizeof(ovbuf), "cdc.checkpoint_encryption_key_file=%s", kpath);
    ov[0] = ovbuf;
    {
        static const char *const env2[] = {"AWS_RDS_ENDPOINT=db", "AWS_RDS_USERNAME=u",
                                           "AWS_RDS_DATABASE=d", NULL};

        load(&l, NULL, env2, ov, 1);
    }
    assert_int_equal(l.rc, CDC_OK);
    out = check(&l.cfg, &rc);
    assert_int_equal(rc, CDC_OK);
    free(out);
    out = dump(&l.cfg);
    assert_non_null(strstr(out, kpath));
    assert_null(strstr(out, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="));
    free(out);
    unload(&l);
    unlink(kpath);
    free(kpath);
}

/* ---- dump -------------------------------------------------------------------------------------
 */

static void
test_cfg_dump_masks_secrets_and_url_credentials(void **state)
{
    struct loaded l;
    char *out;

    (void) state;
    load(&l, DATA("full.yaml"), no_env, NULL, 0);
    out = dump(&l.cfg);
    assert_null(strstr(out, "s3cr3t-pw"));
    assert_null(strstr(out, "nats-s3cret"));
    assert_null(strstr(out, "ckpt-pass"));
    assert_non_null(strstr(out, "\n  password: \"********\"\n"));
    assert_non_null(strstr(out, "checkpoint_storage: \"redis://ckpt:********@redis:6379/0\"\n"));
    free(out);
    unload(&l);
}

static void
test_cfg_dump_prints_every_key_and_empty_secrets_unmasked(void **state)
{
    struct cdc_config c;
    char *out;

    (void) state;
    cfg_init(&c);
    c.rds.endpoint = strdup("db\"x");
    out = dump(&c);
    assert_string_equal(out, "# cdc-handler effective configuration (defaults, file, "
                             "environment and -X overrides\n"
                             "# applied; secrets masked)\n"
                             "server:\n"
                             "  port: 8080\n"
                             "  grace_period: 30s\n"
                             "rds:\n"
                             "  endpoint: \"db\\\"x\"\n"
                             "  username: \"\"\n"
                             "  password: \"\"\n"
                             "  database: \"\"\n"
                             "  region: \"\"\n"
                             "  ssl_mode: require\n"
                             "  max_connections: 10\n"
                             "  engine: postgres\n"
                             "  port: 5432\n"
                             "  auth: password\n"
                             "  ssl_root_cert: \"\"\n"
                             "  server_id: 4242\n"
                             "nats:\n"
                             "  urls:\n"
                             "    - \"nats://127.0.0.1:4222\"\n"
                             "  username: \"\"\n"
                             "  password: \"\"\n"
                             "  cluster_id: \"\"\n"
                             "  request_timeout: 10s\n"
                             "  stream: \"CDC\"\n"
                             "  subject_prefix: \"cdc\"\n"
                             "  subject_template: \"{prefix}.{database}.{schema}.{table}\"\n"
                             "  stream_storage: file\n"
                             "  stream_replicas: 1\n"
                             "  duplicate_window: 2m\n"
                             "  token: \"\"\n"
                             "  nkey_seed_file: \"\"\n"
                             "  credentials_file: \"\"\n"
                             "  tls:\n"
                             "    ca_file: \"\"\n"
                             "    cert_file: \"\"\n"
                             "    key_file: \"\"\n"
                             "cdc:\n"
                             "  checkpoint_storage: \"file://cdc-handler-checkpoint.json\"\n"
                             "  checkpoint_interval: 10s\n"
                             "  checkpoint_encryption_key: \"\"\n"
                             "  checkpoint_encryption_key_file: \"\"\n"
                             "  max_retry_attempts: 3\n"
                             "  retry_backoff_base: 1s\n"
                             "  retry_backoff_max: 8s\n"
                             "  batch_size: 1000\n"
                             "  batch_timeout: 5s\n"
                             "  max_buffer_bytes: 67108864\n"
                             "  tolerable_downtime: 24h\n"
                             "  heartbeat_interval: 1m\n"
                             "  heartbeat_topic: false\n"
                             "  slot_lag_warn_bytes: 1073741824\n"
                             "  slot_lag_error_bytes: 8589934592\n"
                             "  table_filters: []\n"
                             "  table_excludes: []\n"
                             "  operations:\n"
                             "    - \"insert\"\n"
                             "    - \"update\"\n"
                             "    - \"delete\"\n"
                             "    - \"truncate\"\n"
                             "    - \"ddl\"\n"
                             "  schema_evolution:\n"
                             "    enabled: true\n"
                             "    strict_mode: false\n"
                             "  sensitive_fields: []\n"
                             "  sensitive_hash_key: \"\"\n"
                             "  sensitive_hash_key_id: \"\"\n"
                             "  slot_name: \"cdc_handler\"\n"
                             "  publication: \"cdc_handler\"\n"
                             "  source_name: \"\"\n"
                             "  dlq_on_publish_failure: false\n"
                             "  claim_check_bucket: \"cdc_large_events\"\n"
                             "  format: native\n"
                             "  cloudevents: false\n"
                             "  metadata: {}\n"
                             "  circuit_breaker:\n"
                             "    failure_threshold: 5\n"
                             "    cooldown: 30s\n"
                             "  pg_streaming: true\n"
                             "  spill_dir: \"\"\n"
                             "  spill_max_bytes: 0\n"
                             "monitoring:\n"
                             "  prometheus:\n"
                             "    enabled: true\n"
                             "    port: 8080\n"
                             "  logging:\n"
                             "    level: \"info\"\n"
                             "    format: json\n"
                             "  memory_limit_bytes: 0\n");
    free(out);
    cfg_free(&c);
}

static void
test_cfg_dump_loads_back_to_the_same_config(void **state)
{
    const char *ov[] = {"rds.region=${NOT_INTERPOLATED}", "nats.request_timeout=1500ms"};
    struct loaded a, b;
    char *first, *second, *path;

    (void) state;
    load(&a, DATA("full.yaml"), no_env, ov, 2);
    assert_int_equal(a.rc, CDC_OK);
    first = dump(&a.cfg);
    path = write_temp(first);
    load(&b, path, no_env, NULL, 0);
    assert_string_equal(b.out, "");
    assert_int_equal(b.rc, CDC_OK);
    second = dump(&b.cfg);
    assert_string_equal(first, second);
    assert_string_equal(b.cfg.rds.region, "${NOT_INTERPOLATED}");
    assert_int_equal(b.cfg.nats.request_timeout_ms, 1500);
    assert_int_equal(b.cfg.cdc.batch_size, 250);
    assert_string_equal(b.cfg.rds.password, "********");
    free(first);
    free(second);
    unload(&a);
    unload(&b);
    unlink(path);
    free(path);
}

/* ---- circuit breakers and the memory limit --------------------------------------------- */

static void
test_cfg_parse_size_accepts_bytes_and_units(void **state)
{
    static const struct {
        const char *s;
        int64_t bytes;
    } ok[] = {{"0", 0},
              {"1048576", 1048576},
              {"512MiB", 512LL * 1024 * 1024},
              {"512 MiB", 512LL * 1024 * 1024},
              {"64Mi", 64LL * 1024 * 1024},
              {"2GiB", 2LL * 1024 * 1024 * 1024},
              {"1gib", 1024LL * 1024 * 1024},
              {"3KiB", 3072},
              {"2GB", 2000000000LL},
              {"2G", 2000000000LL},
              {"500MB", 500000000LL},
              {"10kB", 10000},
              {"1TiB", 1099511627776LL},
              {"7B", 7}};
    static const char *const bad[] = {"",        "MiB",   "-1",
                                      "1.5GiB",  "12 34", "10XB",
                                      "10  MiB", "0x10",  "9223372036854775807KiB",
                                      "1 MiB ",  NULL};
    int64_t v;

    (void) state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        assert_true(cfg_parse_size(ok[i].s, &v));
        assert_int_equal(v, ok[i].bytes);
    }
    for (size_t i = 0; bad[i] != NULL; i++)
        assert_false(cfg_parse_size(bad[i], &v));
    assert_false(cfg_parse_size(NULL, &v));
}

static void
test_cfg_breaker_and_memory_keys_load_and_report_problems(void **state)
{
    struct loaded l;
    char *good = write_temp("cdc:\n"
                            "  circuit_breaker:\n"
                            "    failure_threshold: 3\n"
                            "    cooldown: 1m30s\n"
                            "monitoring:\n"
                            "  memory_limit_bytes: 256MiB\n");
    char *path = write_temp("cdc:\n"
                            "  circuit_breaker:\n"
                            "    failure_threshold: -1\n"
                            "    cooldown: 0s\n"
                            "monitoring:\n"
                            "  memory_limit_bytes: lots\n");

    (void) state;
    load(&l, good, no_env, NULL, 0);
    assert_int_equal(l.rc, CDC_OK);
    assert_int_equal(l.cfg.cdc.breaker_threshold, 3);
    assert_int_equal(l.cfg.cdc.breaker_cooldown_ms, 90000);
    assert_int_equal(l.cfg.monitoring.memory_limit_bytes, 256LL * 1024 * 1024);
    unload(&l);

    load(&l, path, no_env, NULL, 0);
    assert_int_equal(l.rc, CDC_ERR_CONFIG);
    assert_output(
        l.out, path,
        "{F}:3: cdc.circuit_breaker.failure_threshold: must be an integer >= 0, got \"-1\"\n"
        "{F}:4: cdc.circuit_breaker.cooldown: must be a positive duration such as 500ms, 10s or "
        "1m30s, got \"0s\"\n"
        "{F}:6: monitoring.memory_limit_bytes: must be a size in bytes such as 1048576, 512MiB "
        "or 2GB, got \"lots\"\n");
    /* the defaults stay: 5 failures, 30 s, no limit */
    assert_int_equal(l.cfg.cdc.breaker_threshold, 5);
    assert_int_equal(l.cfg.cdc.breaker_cooldown_ms, 30000);
    assert_int_equal(l.cfg.monitoring.memory_limit_bytes, 0);
    unload(&l);
    unlink(good);
    unlink(path);
    free(good);
    free(path);
}

/* ---- durations ----------------------------------------------------------------------------------
 */

static void
test_cfg_parse_duration_accepts_units_and_combinations(void **state)
{
    static const struct {
        const char *s;
        int64_t ms;
    } ok[] = {{"500ms", 500},   {"10s", 10000},         {"2m", 120000}, {"1h", 3600000},
              {"1m30s", 90000}, {"1h2m3s4ms", 3723004}, {"30", 30000},  {"0", 0},
              {"1.5s", 1500},   {".5m", 30000},         {"0ms", 0}};
    int64_t v;

    (void) state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        assert_true(cfg_parse_duration_ms(ok[i].s, &v));
        assert_int_equal(v, ok[i].ms);
    }
}

static void
test_cfg_parse_duration_rejects_garbage(void **state)
{
    static const char *const bad[] = {
        "", "s", "10", "-5s", "10 s", "10x", "1.5", "5sec", "ms", "1m30", "99999999999999999999s"};
    int64_t v;

    (void) state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (i != 2) /* "10" is ten seconds */
            assert_false(cfg_parse_duration_ms(bad[i], &v));
    assert_false(cfg_parse_duration_ms(NULL, &v));
}

/* ---- the shipped example -----------------------------------------------------------------------
 */

static void
test_shipped_config_loads_with_the_design_environment(void **state)
{
    static const char *const minimal[] = {"AWS_RDS_ENDPOINT=127.0.0.1", "AWS_RDS_USERNAME=pg",
                                          "AWS_RDS_DATABASE=shop", NULL};
    const char *path = CDC_TEST_DATA "/../../configs/config.yaml";
    struct loaded l;
    char *out;
    cdc_rc rc;

    (void) state;
    load(&l, path, design_env, NULL, 0);
    assert_string_equal(l.out, "");
    assert_int_equal(l.rc, CDC_OK);
    out = check(&l.cfg, &rc);
    assert_string_equal(out, "");
    free(out);
    assert_string_equal(l.cfg.cdc.checkpoint_storage, "redis://localhost:6379");
    unload(&l);

    /* only the required variables: the ${VAR:-default}s fill in the rest */
    load(&l, path, minimal, NULL, 0);
    assert_string_equal(l.out, "");
    out = check(&l.cfg, &rc);
    assert_string_equal(out, "");
    assert_int_equal(rc, CDC_OK);
    assert_string_equal(l.cfg.nats.urls.items[0], "nats://127.0.0.1:4222");
    assert_int_equal(l.cfg.cdc.batch_size, 1000);
    assert_int_equal(l.cfg.cdc.table_filters.n, 0);
    free(out);
    unload(&l);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cfg_init_sets_documented_defaults),
        cmocka_unit_test(test_cfg_key_table_names_every_documented_key),
        cmocka_unit_test(test_cfg_load_reads_every_key_from_a_file),
        cmocka_unit_test(test_cfg_load_design_config_with_design_environment),
        cmocka_unit_test(test_cfg_design_config_without_environment_names_each_unset_variable),
        cmocka_unit_test(test_cfg_load_interpolates_variables_and_defaults),
        cmocka_unit_test(test_cfg_load_set_but_empty_variable_is_named_as_such),
        cmocka_unit_test(test_cfg_load_reports_bad_references_and_misspelled_sections),
        cmocka_unit_test(test_cfg_load_reports_every_problem_in_a_file),
        cmocka_unit_test(test_cfg_load_reports_wrong_node_kinds_and_duplicate_keys),
        cmocka_unit_test(test_cfg_load_reports_one_problem_for_a_syntax_error),
        cmocka_unit_test(test_cfg_load_reports_a_second_document),
        cmocka_unit_test(test_cfg_load_reports_a_missing_file_and_goes_on),
        cmocka_unit_test(test_cfg_load_empty_or_null_file_keeps_defaults),
        cmocka_unit_test(test_cfg_load_accepts_every_boolean_spelling),
        cmocka_unit_test(test_cfg_load_precedence_is_override_then_env_then_file_then_default),
        cmocka_unit_test(test_cfg_load_set_but_empty_env_var_does_not_override),
        cmocka_unit_test(test_cfg_load_reports_bad_env_values_by_variable),
        cmocka_unit_test(test_cfg_load_nats_url_env_takes_a_comma_separated_list),
        cmocka_unit_test(test_cfg_load_overrides_set_scalars_and_lists),
        cmocka_unit_test(test_cfg_load_reports_bad_overrides),
        cmocka_unit_test(test_cfg_load_rds_port_defaults_by_engine),
        cmocka_unit_test(test_cfg_server_id_takes_the_whole_u32_range),
        cmocka_unit_test(test_cfg_load_source_name_defaults_to_the_database),
        cmocka_unit_test(test_cfg_check_requires_endpoint_database_and_username),
        cmocka_unit_test(test_cfg_check_reports_names_and_urls_at_their_lines),
        cmocka_unit_test(test_cfg_check_reports_env_and_override_origins),
        cmocka_unit_test(test_cfg_check_validates_fields_set_in_code),
        cmocka_unit_test(test_cfg_check_reports_bad_filters_at_their_lines),
        cmocka_unit_test(test_cfg_problems_never_echo_secret_values),
        cmocka_unit_test(test_cfg_redact_urls_masks_passwords_and_tokens),
        cmocka_unit_test(test_cfg_check_reports_bad_checkpoint_keys_without_echoing_them),
        cmocka_unit_test(test_cfg_checkpoint_key_is_accepted_and_masked_in_dumps),
        cmocka_unit_test(test_cfg_dump_masks_secrets_and_url_credentials),
        cmocka_unit_test(test_cfg_dump_prints_every_key_and_empty_secrets_unmasked),
        cmocka_unit_test(test_cfg_dump_loads_back_to_the_same_config),
        cmocka_unit_test(test_cfg_parse_duration_accepts_units_and_combinations),
        cmocka_unit_test(test_cfg_parse_duration_rejects_garbage),
        cmocka_unit_test(test_cfg_parse_size_accepts_bytes_and_units),
        cmocka_unit_test(test_cfg_breaker_and_memory_keys_load_and_report_problems),
        cmocka_unit_test(test_shipped_config_loads_with_the_design_environment),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
