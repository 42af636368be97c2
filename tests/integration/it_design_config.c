/*
 * it_design_config.c - the design document's config.yaml, verbatim
 * (tests/data/config/design.yaml), runs the daemon with only the values of its
 * environment variables changed: endpoint, credentials, database, NATS URL,
 * checkpoint storage. Its table_filters (schema1.table1, schema2.table2)
 * decide what is published, its ssl_mode: require is honoured (the test
 * server speaks TLS), and its subjects are cdc.{database}.{schema}.{table}.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "itlib.h"

#define DB "it_design"

static pid_t
start_with_design_config(void)
{
    char cfg[600], ckpt[600], url[256];
    pid_t pid;

    snprintf(cfg, sizeof(cfg), "%s/config/design.yaml", it_env("CDC_TEST_DATA"));
    snprintf(ckpt, sizeof(ckpt), "file://%s/it_design.ckpt.json", it_env("CDC_IT_TMP"));
    snprintf(url, sizeof(url), "%s", it_env("CDC_IT_NATS_URL"));
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(it_daemon_log("it_design"), O_WRONLY | O_CREAT | O_TRUNC, 0644);

        dup2(fd, STDERR_FILENO);
        dup2(fd, STDOUT_FILENO);
        /* the design's variables, with our servers' values */
        setenv("AWS_RDS_ENDPOINT", it_env("CDC_IT_PGHOST"), 1);
        setenv("AWS_RDS_PORT", it_env("CDC_IT_PGPORT"), 1);
        setenv("AWS_RDS_USERNAME", it_env("CDC_IT_PGUSER"), 1);
        setenv("AWS_RDS_PASSWORD", "not-used-trust-auth", 1);
        setenv("AWS_RDS_DATABASE", DB, 1);
        setenv("AWS_RDS_REGION", "us-east-1", 1);
        setenv("NATS_URL", url, 1);
        setenv("NATS_USERNAME", "", 1);
        setenv("NATS_PASSWORD", "", 1);
        setenv("NATS_CLUSTER_ID", "it-cluster", 1);
        setenv("CHECKPOINT_STORAGE", ckpt, 1);
        setenv("CHECKPOINT_INTERVAL", "1s", 1);
        setenv("MAX_RETRY_ATTEMPTS", "3", 1);
        setenv("BATCH_SIZE", "1000", 1);
        setenv("BATCH_TIMEOUT", "5s", 1);
        setenv("PROMETHEUS_PORT", "18080", 1);
        setenv("LOG_LEVEL", "debug", 1);
        execl(it_env("CDC_BIN"), it_env("CDC_BIN"), "--config", cfg, "--exit-when-idle", "2000",
              (char *) NULL);
        _exit(127);
    }
    return pid;
}

static void
test_design_config_runs_with_only_values_changed(void **state)
{
    struct it_msgs ms;
    PGconn *c;
    pid_t pid;

    (void) state;
    c = it_fresh_db(DB);
    it_sql(c, "CREATE SCHEMA schema1; CREATE SCHEMA schema2");
    it_sql(c, "CREATE TABLE schema1.table1 (id int PRIMARY KEY, v text)");
    it_sql(c, "CREATE TABLE schema2.table2 (id int PRIMARY KEY, v text)");
    it_sql(c, "CREATE TABLE public.not_filtered (id int PRIMARY KEY, password text)");
    pid = start_with_design_config();
    it_wait_slot_active(c, "cdc_handler");
    {
        /* ssl_mode: require is honoured: the replication connection is encrypted */
        char *ssl = it_sql_value(c, "SELECT bool_and(s.ssl)::text FROM pg_stat_replication r JOIN "
                                    "pg_stat_ssl s USING (pid)");

        assert_non_null(ssl);
        assert_string_equal(ssl, "true");
        free(ssl);
    }
    it_sql(c, "INSERT INTO schema1.table1 VALUES (1, 'a')");
    it_sql(c, "INSERT INTO public.not_filtered VALUES (1, 'hidden')");
    it_sql(c, "INSERT INTO schema2.table2 VALUES (2, 'b')");
    assert_int_equal(it_daemon_wait(pid, 60000), 0);
    it_read_stream("cdc", &ms); /* stream "CDC" */
    assert_int_equal(ms.n, 2);
    assert_string_equal(ms.v[0].subject, "cdc." DB ".schema1.table1");
    assert_string_equal(ms.v[1].subject, "cdc." DB ".schema2.table2");
    assert_non_null(strstr(ms.v[0].data, "\"after\":{\"id\":1,\"v\":\"a\"}"));
    assert_non_null(strstr(ms.v[0].data, "\"source\":\"" DB "\""));
    it_msgs_free(&ms);
    PQfinish(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_design_config_runs_with_only_values_changed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
