/*
 * it_schema.c - schema evolution end to end, on the fixture's PostgreSQL,
 * MariaDB and nats-server:
 * - `setup-ddl` refuses a role without the rights with a clear message, and
 *   installs the event triggers as a superuser; DDL inside a transaction then
 *   arrives as a cdc.ddl event between that transaction's rows, in order;
 * - the registry (NATS KV bucket cdc_schemas) holds a JSON Schema per
 *   version, and the version changes when a column is added;
 * - strict_mode off: a dropped column is registered and the stream goes on;
 * - strict_mode on: a dropped column stops the daemon (exit 1) with a message
 *   naming the table, the column and the change; nothing after it is
 *   published or confirmed, a restart stops again, a restart with
 *   --accept-schema-change goes on and publishes the rest exactly once;
 * - MariaDB: INSERT, ALTER, INSERT arrive in order, and the added column
 *   makes a new registry version.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nats/nats.h>

#include "itlib.h"
#include "sink/nats/schemareg.h"

/* Forget what an earlier run on these servers registered for db.schema.table (reruns). */
static void
registry_purge(const char *db, const char *schema, const char *table)
{
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    kvStore *kv = NULL;
    char key[300];

    if (natsConnection_ConnectTo(&nc, it_env("CDC_IT_NATS_URL")) != NATS_OK)
        fail_msg("could not connect to NATS");
    if (natsConnection_JetStream(&js, nc, NULL) == NATS_OK &&
        js_KeyValue(&kv, js, SCHEMAREG_BUCKET) == NATS_OK) {
        for (int i = 0; i <= 8; i++) {
            if (i == 0)
                snprintf(key, sizeof(key), "%s.%s.%s.latest", db, schema, table);
            else
                snprintf(key, sizeof(key), "%s.%s.%s.v%d", db, schema, table, i);
            (void) kvStore_Purge(kv, key, NULL);
        }
    }
    kvStore_Destroy(kv);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

/* A fresh PostgreSQL database `name`, and nothing left of an earlier run's daemon. */
static PGconn *
fresh_pg(const char *name, const char *table)
{
    char path[600];

    snprintf(path, sizeof(path), "%s/%s.ckpt.json", it_env("CDC_IT_TMP"), name);
    unlink(path);
    unlink(it_daemon_log(name));
    it_stream_delete(name);
    registry_purge(name, "public", table);
    return it_fresh_db(name);
}

/* The registry's value for key, malloc'd; NULL when absent. */
static char *
registry_get(const char *key)
{
    const char *urls[1] = {it_env("CDC_IT_NATS_URL")};
    struct cdc_buf val = CDC_BUF_INIT;
    struct schemareg *r = NULL;
    struct jssink_opts so;
    struct cdc_err err;
    bool found = false;
    char *out = NULL;

    jssink_opts_init(&so);
    so.urls = urls;
    so.n_urls = 1;
    so.request_timeout_ms = 5000;
    assert_int_equal(schemareg_create(&r, &so, NULL, &err), CDC_OK);
    if (schemareg_get(r, key, &val, &found, &err) != CDC_OK)
        fail_msg("registry: %s", err.msg);
    if (found)
        out = strdup(val.data != NULL ? val.data : "");
    cdc_buf_free(&val);
    schemareg_destroy(r);
    return out;
}

/* `cdc-handler setup-ddl` on PostgreSQL database db as user (extra: NULL or "--remove"). */
static int
setup_ddl(const char *db, const char *user, const char *extra, const char *log)
{
    char x[6][300];
    const char *argv[20];
    int n = 0, status;
    pid_t pid;

    snprintf(x[0], sizeof(x[0]), "rds.endpoint=%s", it_env("CDC_IT_PGHOST"));
    snprintf(x[1], sizeof(x[1]), "rds.port=%s", it_env("CDC_IT_PGPORT"));
    snprintf(x[2], sizeof(x[2]), "rds.username=%s", user);
    snprintf(x[3], sizeof(x[3]), "rds.database=%s", db);
    snprintf(x[4], sizeof(x[4]), "rds.ssl_mode=disable");
    snprintf(x[5], sizeof(x[5]), "nats.urls=%s", it_env("CDC_IT_NATS_URL"));
    argv[n++] = it_env("CDC_BIN");
    argv[n++] = "setup-ddl";
    for (int i = 0; i < 6; i++) {
        argv[n++] = "-X";
        argv[n++] = x[i];
    }
    if (extra != NULL)
        argv[n++] = extra;
    argv[n] = NULL;
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);

        if (fd >= 0) {
            dup2(fd, STDERR_FILENO);
            dup2(fd, STDOUT_FILENO);
        }
        execv(argv[0], (char *const *) argv);
        _exit(127);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Index of the first message whose data holds needle, from `from`; -1 if none. */
static int
find_msg(const struct it_msgs *ms, int from, const char *needle)
{
    for (int i = from; i < ms->n; i++)
        if (strstr(ms->v[i].data, needle) != NULL)
            return i;
    return -1;
}

/* The 16 hex digits of commit position in an event id ("<source>-<16>-<8>"). */
static void
id_commit(const char *msg_id, char out[17])
{
    size_t n = strlen(msg_id);

    assert_true(n > 26);
    memcpy(out, msg_id + n - 25, 16);
    out[16] = '\0';
}

#define PGDB "it_schema_pg"

static void
test_pg_setup_ddl_events_in_order_and_registry_versions(void **state)
{
    const char *extra[] = {"-X", "cdc.schema_evolution.strict_mode=false", "--exit-when-idle",
                           "2000", NULL};
    char log[600], c0[17], c1[17], c2[17];
    struct it_msgs ms;
    char *v1, *v2, *v3, *ix;
    int ins1, ddl, ins2, ins3;
    PGconn *c;
    pid_t pid;

    (void) state;
    c = fresh_pg(PGDB, "t");
    snprintf(log, sizeof(log), "%s/%s.setup.log", it_env("CDC_IT_TMP"), PGDB);

    /* a role that may not create event triggers: a clear refusal */
    it_sql(c, "DROP ROLE IF EXISTS it_schema_weak");
    it_sql(c, "CREATE ROLE it_schema_weak LOGIN");
    it_sql(c, "GRANT CREATE ON DATABASE " PGDB " TO it_schema_weak");
    assert_int_equal(setup_ddl(PGDB, "it_schema_weak", NULL, log), 1);
    {
        char *text = it_slurp(log);

        if (strstr(text, "lacks the rights") == NULL || strstr(text, "rds_superuser") == NULL)
            fail_msg("setup-ddl as a plain role: unexpected output:\n%s", text);
        free(text);
    }
    assert_int_equal(setup_ddl(PGDB, it_env("CDC_IT_PGUSER"), NULL, log), 0);
    assert_int_equal(setup_ddl(PGDB, it_env("CDC_IT_PGUSER"), NULL, log), 0); /* again: fine */

    it_sql(c, "CREATE TABLE t (id int PRIMARY KEY, a text, z int)");
    pid = it_daemon_start(PGDB, PGDB, extra);
    it_wait_slot_active(c, PGDB);
    /* one statement at a time: the event carries the query string the client sent */
    it_sql(c, "BEGIN");
    it_sql(c, "INSERT INTO t VALUES (1, 'one', 0)");
    it_sql(c, "ALTER TABLE t ADD COLUMN b int");
    it_sql(c, "INSERT INTO t VALUES (2, 'two', 0, 22)");
    it_sql(c, "COMMIT");
    /* strict mode off: a dropped column is registered and the stream goes on */
    it_sql(c, "ALTER TABLE t DROP COLUMN z");
    it_sql(c, "INSERT INTO t VALUES (3, 'three', 33)");
    assert_int_equal(it_daemon_wait(pid, 60000), 0);

    it_read_stream(PGDB, &ms);
    ins1 = find_msg(&ms, 0, "\"after\":{\"id\":1,");
    ddl = find_msg(&ms, 0, "\"ddl\":\"ALTER TABLE t ADD COLUMN b int\"");
    ins2 = find_msg(&ms, 0, "\"after\":{\"id\":2,\"a\":\"two\",\"z\":0,\"b\":22}");
    ins3 = find_msg(&ms, 0, "\"after\":{\"id\":3,\"a\":\"three\",\"b\":33}");
    if (ins1 < 0 || ddl < 0 || ins2 < 0 || ins3 < 0)
        fail_msg("missing events (%d %d %d %d); first: %s", ins1, ddl, ins2, ins3,
                 ms.n > 0 ? ms.v[0].data : "(none)");
    /* one transaction, in statement order: seq 0, 1, 2 under one commit position */
    assert_true(ins1 < ddl && ddl < ins2 && ins2 < ins3);
    id_commit(ms.v[ins1].msg_id, c0);
    id_commit(ms.v[ddl].msg_id, c1);
    id_commit(ms.v[ins2].msg_id, c2);
    assert_string_equal(c0, c1);
    assert_string_equal(c1, c2);
    assert_non_null(strstr(ms.v[ins1].msg_id, "-00000000"));
    assert_non_null(strstr(ms.v[ddl].msg_id, "-00000001"));
    assert_non_null(strstr(ms.v[ins2].msg_id, "-00000002"));
    /* the DDL event looks like MariaDB's: no relation, the statement in metadata.ddl */
    assert_non_null(strstr(ms.v[ddl].data, "\"event_type\":\"cdc.ddl\""));
    assert_non_null(strstr(ms.v[ddl].data, "\"schema\":null,\"table\":null,\"operation\":\"DDL\""));
    assert_true(find_msg(&ms, 0, "\"ddl\":\"ALTER TABLE t DROP COLUMN z\"") > ins2);
    it_msgs_free(&ms);

    /* one registry version per definition: (id,a,z), (id,a,z,b), (id,a,b) */
    v1 = registry_get(PGDB ".public.t.v1");
    v2 = registry_get(PGDB ".public.t.v2");
    v3 = registry_get(PGDB ".public.t.v3");
    ix = registry_get(PGDB ".public.t.latest");
    assert_non_null(v1);
    assert_non_null(v2);
    assert_non_null(v3);
    assert_non_null(ix);
    assert_null(registry_get(PGDB ".public.t.v4"));
    assert_non_null(strstr(v1, "\"$schema\":\"https://json-schema.org/draft/2020-12/schema\""));
    assert_non_null(strstr(v1, "\"z\":{\"type\":[\"integer\",\"null\"],\"x-cdc-type-id\":23"));
    assert_null(strstr(v1, "\"b\":{"));
    assert_non_null(strstr(v2, "\"b\":{\"type\":[\"integer\",\"null\"]"));
    assert_null(strstr(v3, "\"z\":{"));
    {
        char *h1 = strstr(v1, "\"x-cdc-schema-version\":\""), *h2 = strstr(v2, "\"x-cdc-schema-"
                                                                               "version\":\"");

        assert_non_null(h1);
        assert_non_null(h2);
        assert_memory_not_equal(h1 + 24, h2 + 24, 16); /* the column added changed the version */
    }
    assert_non_null(strstr(ix, "{\"version\":3,"));
    free(v1);
    free(v2);
    free(v3);
    free(ix);

    assert_int_equal(setup_ddl(PGDB, it_env("CDC_IT_PGUSER"), "--remove", log), 0);
    {
        char *n = it_sql_value(c, "SELECT count(*) FROM pg_event_trigger WHERE evtname LIKE "
                                  "'cdc_handler%%'");

        assert_string_equal(n, "0");
        free(n);
    }
    PQfinish(c);
}

#define STRICTDB "it_schema_strict"

static void
test_pg_strict_mode_stops_until_accepted(void **state)
{
    const char *strict[] = {"-X", "cdc.schema_evolution.strict_mode=true", "--exit-when-idle",
                            "2000", NULL};
    const char *accept[] = {"-X",
                            "cdc.schema_evolution.strict_mode=true",
                            "--exit-when-idle",
                            "2000",
                            "--accept-schema-change",
                            NULL};
    struct it_msgs ms;
    uint64_t before_change;
    char *text, *lsn;
    PGconn *c;
    pid_t pid;

    (void) state;
    c = fresh_pg(STRICTDB, "s");
    it_sql(c, "CREATE TABLE s (id int PRIMARY KEY, a text, b int)");
    pid = it_daemon_start(STRICTDB, STRICTDB, strict);
    it_wait_slot_active(c, STRICTDB);
    it_sql(c, "INSERT INTO s VALUES (1, 'one', 1)");
    it_sql(c, "ALTER TABLE s ADD COLUMN c int"); /* compatible: goes on */
    it_sql(c, "INSERT INTO s VALUES (2, 'two', 2, 2)");
    it_sql(c, "ALTER TABLE s DROP COLUMN b");
    lsn = it_sql_value(c, "SELECT (pg_current_wal_lsn() - '0/0')::text");
    before_change = strtoull(lsn, NULL, 10);
    free(lsn);
    it_sql(c, "INSERT INTO s VALUES (3, 'three', 3)");
    it_sql(c, "INSERT INTO s VALUES (4, 'four', 4)");
    assert_int_equal(it_daemon_wait(pid, 60000), 1);
    text = it_slurp(it_daemon_log(STRICTDB));
    if (strstr(text, "incompatible schema change of table \\\"public\\\".\\\"s\\\"") == NULL ||
        strstr(text, "column \\\"b\\\" was dropped") == NULL ||
        strstr(text, "--accept-schema-change") == NULL)
        fail_msg("no clear error in the log:\n%s", text);
    free(text);
    it_read_stream(STRICTDB, &ms);
    assert_int_equal(ms.n, 2); /* insert 1, insert 2, and nothing of rows 3 and 4 */
    assert_true(find_msg(&ms, 0, "\"id\":3") < 0);
    assert_true(find_msg(&ms, 0, "\"id\":4") < 0);
    it_msgs_free(&ms);
    /* nothing confirmed past the change */
    assert_true(it_slot_confirmed(c, STRICTDB) <= before_change);

    /* a restart without the flag stops again, at the same place */
    pid = it_daemon_start(STRICTDB, STRICTDB, strict);
    assert_int_equal(it_daemon_wait(pid, 60000), 1);
    assert_int_equal(it_stream_msg_count(STRICTDB), 2);

    /* acknowledged: on it goes, rows 3 and 4 once each */
    pid = it_daemon_start(STRICTDB, STRICTDB, accept);
    assert_int_equal(it_daemon_wait(pid, 60000), 0);
    it_read_stream(STRICTDB, &ms);
    assert_int_equal(ms.n, 4);
    assert_non_null(strstr(ms.v[2].data, "\"after\":{\"id\":3,\"a\":\"three\",\"c\":3}"));
    assert_non_null(strstr(ms.v[3].data, "\"after\":{\"id\":4,\"a\":\"four\",\"c\":4}"));
    it_msgs_free(&ms);
    text = registry_get(STRICTDB ".public.s.v3");
    assert_non_null(text);
    assert_null(strstr(text, "\"b\":{"));
    free(text);
    assert_true(it_slot_confirmed(c, STRICTDB) > before_change);
    PQfinish(c);
}

#define MYDB "it_schema_my"

static void
test_mariadb_ddl_in_order_and_new_version(void **state)
{
    const char *extra[] = {"-X",
                           "rds.engine=mariadb",
                           "-X",
                           NULL,
                           "-X",
                           NULL,
                           "-X",
                           NULL,
                           "-X",
                           NULL,
                           "-X",
                           "cdc.schema_evolution.strict_mode=true",
                           "--exit-when-idle",
                           "2000",
                           NULL};
    char x[4][300], path[600];
    struct it_msgs ms;
    char *v1, *v2;
    int ins1, ddl, ins2;
    MYSQL *c;
    pid_t pid;

    (void) state;
    snprintf(x[0], sizeof(x[0]), "rds.endpoint=%s", it_env("CDC_IT_MY_HOST"));
    snprintf(x[1], sizeof(x[1]), "rds.port=%s", it_env("CDC_IT_MY_PORT"));
    snprintf(x[2], sizeof(x[2]), "rds.username=%s", it_env("CDC_IT_MY_USER"));
    snprintf(x[3], sizeof(x[3]), "rds.password=%s", it_env("CDC_IT_MY_PASSWORD"));
    extra[3] = x[0];
    extra[5] = x[1];
    extra[7] = x[2];
    extra[9] = x[3];
    snprintf(path, sizeof(path), "%s/%s.ckpt.json", it_env("CDC_IT_TMP"), MYDB);
    unlink(path);
    unlink(it_daemon_log(MYDB));
    it_stream_delete(MYDB);
    registry_purge(MYDB, MYDB, "m");
    c = it_my_connect(NULL);
    it_my(c, "DROP DATABASE IF EXISTS `%s`", MYDB);
    it_my(c, "CREATE DATABASE `%s`", MYDB);
    it_my(c, "USE `%s`", MYDB);
    it_my(c, "CREATE TABLE m (id INT PRIMARY KEY, a VARCHAR(20))");
    pid = it_daemon_start(MYDB, MYDB, extra);
    for (int i = 0; i < 300; i++) {
        char *log = it_slurp(it_daemon_log(MYDB));
        bool ok = strstr(log, "streaming from") != NULL;

        free(log);
        if (ok)
            break;
        usleep(100000);
    }
    it_my(c, "INSERT INTO m VALUES (1, 'one')");
    it_my(c, "ALTER TABLE m ADD COLUMN b INT");
    it_my(c, "INSERT INTO m VALUES (2, 'two', 22)");
    assert_int_equal(it_daemon_wait(pid, 60000), 0);

    it_read_stream(MYDB, &ms);
    ins1 = find_msg(&ms, 0, "\"after\":{\"id\":1,\"a\":\"one\"}");
    ddl = find_msg(&ms, 0, "\"ddl\":\"ALTER TABLE m ADD COLUMN b INT\"");
    ins2 = find_msg(&ms, 0, "\"after\":{\"id\":2,\"a\":\"two\",\"b\":22}");
    if (ins1 < 0 || ddl < 0 || ins2 < 0)
        fail_msg("missing events (%d %d %d); log:\n%s", ins1, ddl, ins2,
                 it_slurp(it_daemon_log(MYDB)));
    assert_true(ins1 < ddl && ddl < ins2);
    it_msgs_free(&ms);
    v1 = registry_get(MYDB "." MYDB ".m.v1");
    v2 = registry_get(MYDB "." MYDB ".m.v2");
    assert_non_null(v1);
    assert_non_null(v2);
    assert_null(strstr(v1, "\"b\":{"));
    assert_non_null(strstr(v2, "\"b\":{\"type\":[\"integer\",\"null\"]"));
    free(v1);
    free(v2);
    mysql_close(c);
}

#define MYSTRICT "it_schema_mystrict"

/* -X arguments for the fixture's MariaDB, then `more` (NULL-terminated), into argv. */
static void
my_args(const char **argv, char x[4][300], const char *const *more)
{
    int n = 0;

    snprintf(x[0], 300, "rds.endpoint=%s", it_env("CDC_IT_MY_HOST"));
    snprintf(x[1], 300, "rds.port=%s", it_env("CDC_IT_MY_PORT"));
    snprintf(x[2], 300, "rds.username=%s", it_env("CDC_IT_MY_USER"));
    snprintf(x[3], 300, "rds.password=%s", it_env("CDC_IT_MY_PASSWORD"));
    argv[n++] = "-X";
    argv[n++] = "rds.engine=mariadb";
    for (int i = 0; i < 4; i++) {
        argv[n++] = "-X";
        argv[n++] = x[i];
    }
    for (int i = 0; more[i] != NULL; i++)
        argv[n++] = more[i];
    argv[n] = NULL;
}

/* MariaDB, strict mode: a dropped column stops the daemon before the rows after it, until
   --accept-schema-change; then they are published once each. */
static void
test_mariadb_strict_mode_stops_until_accepted(void **state)
{
    const char *strict[] = {"-X", "cdc.schema_evolution.strict_mode=true", "--exit-when-idle",
                            "2000", NULL};
    const char *accept[] = {"-X",
                            "cdc.schema_evolution.strict_mode=true",
                            "--exit-when-idle",
                            "2000",
                            "--accept-schema-change",
                            NULL};
    const char *argv[32];
    char x[4][300], path[600], *text;
    struct it_msgs ms;
    long n_stopped;
    MYSQL *c;
    pid_t pid;

    (void) state;
    snprintf(path, sizeof(path), "%s/%s.ckpt.json", it_env("CDC_IT_TMP"), MYSTRICT);
    unlink(path);
    unlink(it_daemon_log(MYSTRICT));
    it_stream_delete(MYSTRICT);
    registry_purge(MYSTRICT, MYSTRICT, "m");
    c = it_my_connect(NULL);
    it_my(c, "DROP DATABASE IF EXISTS `%s`", MYSTRICT);
    it_my(c, "CREATE DATABASE `%s`", MYSTRICT);
    it_my(c, "USE `%s`", MYSTRICT);
    it_my(c, "CREATE TABLE m (id INT PRIMARY KEY, a VARCHAR(20), b INT)");
    my_args(argv, x, strict);
    pid = it_daemon_start(MYSTRICT, MYSTRICT, argv);
    it_wait_log(MYSTRICT, "streaming from", 30000);
    it_my(c, "INSERT INTO m VALUES (1, 'one', 1)");
    it_my(c, "ALTER TABLE m DROP COLUMN b");
    it_my(c, "INSERT INTO m VALUES (2, 'two')");
    it_my(c, "INSERT INTO m VALUES (3, 'three')");
    assert_int_equal(it_daemon_wait(pid, 60000), 1);
    text = it_slurp(it_daemon_log(MYSTRICT));
    if (strstr(text, "incompatible schema change") == NULL ||
        strstr(text, "column \\\"b\\\" was dropped") == NULL ||
        strstr(text, "--accept-schema-change") == NULL)
        fail_msg("no clear error in the log:\n%s", text);
    free(text);
    it_read_stream(MYSTRICT, &ms);
    assert_true(find_msg(&ms, 0, "\"after\":{\"id\":1,\"a\":\"one\",\"b\":1}") >= 0);
    assert_true(find_msg(&ms, 0, "\"id\":2") < 0);
    assert_true(find_msg(&ms, 0, "\"id\":3") < 0);
    n_stopped = ms.n;
    it_msgs_free(&ms);

    /* a restart without the flag stops again, at the same place */
    pid = it_daemon_start(MYSTRICT, MYSTRICT, argv);
    assert_int_equal(it_daemon_wait(pid, 60000), 1);
    assert_int_equal(it_stream_msg_count(MYSTRICT), n_stopped);

    /* acknowledged: rows 2 and 3, once each, in order */
    my_args(argv, x, accept);
    pid = it_daemon_start(MYSTRICT, MYSTRICT, argv);
    assert_int_equal(it_daemon_wait(pid, 60000), 0);
    it_read_stream(MYSTRICT, &ms);
    assert_int_equal(ms.n, n_stopped + 2);
    assert_non_null(strstr(ms.v[ms.n - 2].data, "\"after\":{\"id\":2,\"a\":\"two\"}"));
    assert_non_null(strstr(ms.v[ms.n - 1].data, "\"after\":{\"id\":3,\"a\":\"three\"}"));
    it_msgs_free(&ms);
    mysql_close(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pg_setup_ddl_events_in_order_and_registry_versions),
        cmocka_unit_test(test_pg_strict_mode_stops_until_accepted),
        cmocka_unit_test(test_mariadb_ddl_in_order_and_new_version),
        cmocka_unit_test(test_mariadb_strict_mode_stops_until_accepted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
