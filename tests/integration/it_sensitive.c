/*
 * it_sensitive.c - cdc.sensitive_fields end to end, on PostgreSQL and MariaDB:
 * - the plain list (drop): those columns never reach a published event or a
 *   log line;
 * - every action (drop, mask, hash, truncate:N, PII detection) on insert,
 *   update and delete, before and after, written in the YAML mapping forms,
 *   each value compared with JSON written by hand (the HMACs computed with
 *   `printf '%s' VALUE | openssl dgst -sha256 -hmac KEY`);
 * - key rotation: a restart with a new key (from a *_FILE) and key id
 *   changes the prefix of new hashes, while earlier events keep theirs;
 * - cdc_pii_redactions_total counts the detected values;
 * - the acceptance check: no raw sensitive value and no key in the published
 *   events, the daemon's (debug-level) log or the --dump-config output.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "itlib.h"

#define NAME "it_sensitive"

static void
test_sensitive_fields_never_leave_the_daemon(void **state)
{
    const char *extra[] = {"-X", "cdc.sensitive_fields=password,public.users.email",
                           "--exit-when-idle", "1500", NULL};
    struct it_msgs ms;
    char buf[4096];
    PGconn *c;
    FILE *f;
    pid_t pid;

    (void) state;
    c = it_fresh_db(NAME);
    it_sql(c, "CREATE TABLE users (id int PRIMARY KEY, name text, password text, email text)");
    it_sql(c, "ALTER TABLE users REPLICA IDENTITY FULL");
    it_sql(c, "CREATE TABLE contacts (id int PRIMARY KEY, email text, password text)");
    unlink(it_daemon_log(NAME));
    pid = it_daemon_start(NAME, NAME, extra);
    it_wait_slot_active(c, NAME);
    it_sql(c, "INSERT INTO users VALUES (1, 'ann', 'PW-Secret-1', 'ann@secret.example')");
    it_sql(c, "UPDATE users SET password = 'PW-Secret-2', name = 'anne' WHERE id = 1");
    it_sql(c, "DELETE FROM users WHERE id = 1");
    it_sql(c, "INSERT INTO contacts VALUES (1, 'visible@example.org', 'PW-Secret-3')");
    assert_int_equal(it_daemon_wait(pid, 60000), 0);

    it_read_stream(NAME, &ms);
    assert_int_equal(ms.n, 4);
    for (int i = 0; i < ms.n; i++) {
        assert_null(strstr(ms.v[i].data, "PW-Secret"));
        assert_null(strstr(ms.v[i].data, "secret.example"));
        assert_null(strstr(ms.v[i].data, "\"password\""));
    }
    assert_non_null(strstr(ms.v[1].data, "\"after\":{\"id\":1,\"name\":\"anne\"}"));
    assert_non_null(strstr(ms.v[1].data, "\"before\":{\"id\":1,\"name\":\"ann\"}"));
    /* the qualified rule is for public.users only: contacts keeps its email */
    assert_non_null(strstr(ms.v[3].data, "\"after\":{\"id\":1,\"email\":\"visible@example.org\"}"));
    it_msgs_free(&ms);

    /* and the debug-level log holds none of them either */
    f = fopen(it_daemon_log(NAME), "r");
    assert_non_null(f);
    while (fgets(buf, sizeof(buf), f) != NULL) {
        assert_null(strstr(buf, "PW-Secret"));
        assert_null(strstr(buf, "secret.example"));
    }
    fclose(f);
    PQfinish(c);
}

/* ---- every action, both sources ---- */

#define KEY1 "it-key-one-0123456789abcdef"
#define KEY2 "it-key-two-fedcba9876543210"

/* printf '%s' VALUE | openssl dgst -sha256 -hmac KEY */
#define K1_EMAIL1 "d472f70c894445c98e76a3fd9c2f3559256d82e1bcff220a752b3092636f8399"
#define K1_EMAIL2 "3a92c96fb1dd3301a11a85f22717a0dacedbe8d08f55092456ed29ea5f4ac97b"
#define K1_AGE    "1d8703873593357bad502ac9d1023bb288420d5539b1e72cf2ac8c32506271b2"
#define K2_EMAIL1 "8fe6f97fec939b5ed17a79c3808eaa9cf305cf19801ac2d191cb459c3a8517c3"
#define K2_AGE    "bc4ee9ed37f84f58abd2595a38ddd75a08706dc7a3fef3cd370e14c7d7a3e7a7"

/* Raw values that must appear nowhere (and the keys). */
static const char *const secrets[] = {
    "PW-Secret", "secret.example", "123-45-6789", "4111 1111 1111 1111",
    "4111-1111", "8675309",        "Adams",       "PF-Secret",
    "3q2+7w==",  "deadbeef",       KEY1,          KEY2,
};

static void
assert_no_secret(const char *what, const char *text)
{
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
        if (strstr(text, secrets[i]) != NULL)
            fail_msg("%s holds \"%s\":\n%s", what, secrets[i], text);
}

/* One engine under test: PostgreSQL (schema public) or MariaDB (schema = the database). */
struct eng {
    const char *name; /* database, slot, stream and prefix */
    const char *schema;
    PGconn *pg;
    MYSQL *my;
    char yaml[600]; /* the config file */
    char keyfile[600];
    int http_port;
};

static void
eng_sql(struct eng *e, const char *sql)
{
    if (e->pg != NULL)
        it_sql(e->pg, "%s", sql);
    else
        it_my(e->my, "%s", sql);
}

static void
write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* The rules, in the YAML forms: a plain item, {column, action}, {name: action}, a table rule. */
static void
write_config(struct eng *e)
{
    char text[1024];

    snprintf(e->yaml, sizeof(e->yaml), "%s/%s.yaml", it_env("CDC_IT_TMP"), e->name);
    snprintf(text, sizeof(text),
             "cdc:\n"
             "  sensitive_fields:\n"
             "    - password\n"
             "    - {column: email, action: hash}\n"
             "    - ssn: mask\n"
             "    - %s.users.name: truncate:2\n"
             "    - column: age\n"
             "      action: hash\n"
             "    - {column: profile, action: mask}\n"
             "    - {column: pic, action: \"truncate:2\"}\n"
             "    - {table: %s.users, detect: true}\n",
             e->schema, e->schema);
    write_file(e->yaml, text);
}

static pid_t
eng_start(struct eng *e, const char *key_id)
{
    static char x[9][300];
    const char *argv[40];
    int n = 0, nx = 0;

    argv[n++] = "--config";
    argv[n++] = e->yaml;
#define X(...) (snprintf(x[nx], sizeof(x[nx]), __VA_ARGS__), argv[n++] = "-X", argv[n++] = x[nx++])
    X("cdc.sensitive_hash_key_id=%s", key_id);
    X("server.port=%d", e->http_port);
    X("monitoring.prometheus.port=%d", e->http_port);
    if (e->my != NULL) {
        X("rds.engine=mariadb");
        X("rds.endpoint=%s", it_env("CDC_IT_MY_HOST"));
        X("rds.port=%s", it_env("CDC_IT_MY_PORT"));
        X("rds.username=%s", it_env("CDC_IT_MY_USER"));
        X("rds.password=%s", it_env("CDC_IT_MY_PASSWORD"));
    }
#undef X
    argv[n] = NULL;
    return it_daemon_start(e->name, e->name, argv);
}

/* The value of `series` (a whole series name with labels) in a /metrics body, -1 if absent. */
static long
metric(const char *body, const char *series)
{
    const char *p = strstr(body, series);

    return p != NULL ? strtol(p + strlen(series), NULL, 10) : -1;
}

static void
stop_daemon(struct eng *e, pid_t pid, int nmsgs)
{
    char series[200];
    char *body;
    int status;

    assert_int_equal(it_wait_stream_count(e->name, nmsgs, 60000), nmsgs);
    body = it_http_get(e->http_port, "/metrics", &status);
    assert_int_equal(status, 200);
    /* detection sees before images too. First run: cards in the insert's after, the update's
       before and after, the delete's before (4); e-mails in the insert's note, seen again as
       the update's before (2). Second run: the insert's card. */
    snprintf(series, sizeof(series), "cdc_pii_redactions_total{source=\"%s\",kind=\"card\"} ",
             e->name);
    assert_int_equal(metric(body, series), nmsgs == 3 ? 4 : 1);
    snprintf(series, sizeof(series), "cdc_pii_redactions_total{source=\"%s\",kind=\"email\"} ",
             e->name);
    assert_int_equal(metric(body, series), nmsgs == 3 ? 2 : 0);
    free(body);
    kill(pid, SIGTERM);
    assert_int_equal(it_daemon_wait(pid, 60000), 0);
}

/* The before/after member of message i, compared with the hand-written JSON. */
static void
assert_image(const struct it_msgs *ms, int i, const char *member, const char *want)
{
    char *got = it_json_member(ms->v[i].data, member);

    if (got == NULL || strcmp(got, want) != 0)
        fail_msg("message %d %s:\n got  %s\n want %s", i, member, got ? got : "(none)", want);
    free(got);
}

static void
check_dump_config(struct eng *e)
{
    char cmd[1500], out[600];
    char *text;

    snprintf(out, sizeof(out), "%s/%s.dump", it_env("CDC_IT_TMP"), e->name);
    snprintf(cmd, sizeof(cmd),
             "SENSITIVE_HASH_KEY='%s' '%s' --config '%s' -X rds.endpoint=h -X rds.database=d "
             "-X rds.username=u -X cdc.sensitive_hash_key_id=k1 --dump-config > '%s' 2>&1",
             KEY1, it_env("CDC_BIN"), e->yaml, out);
    assert_int_equal(system(cmd), 0);
    text = it_slurp(out);
    assert_no_secret("--dump-config", text);
    assert_non_null(strstr(text, "  sensitive_hash_key: \"********\"\n"));
    assert_non_null(strstr(text, "  sensitive_hash_key_id: \"k1\"\n"));
    /* the mapping forms, dumped in their string form (they load back) */
    assert_non_null(strstr(text, "    - \"email=hash\"\n"));
    assert_non_null(strstr(text, "    - \"ssn=mask\"\n"));
    assert_non_null(strstr(text, ".users=detect\"\n"));
    free(text);
}

/*
 * users(id, name, password, email, ssn, card, age, profile, pic, note): insert,
 * update, delete with key k1; then a restart with k2 from a file and one more
 * insert. `json`/`blob` are the engine's type names.
 */
static void
run_actions(struct eng *e, const char *json, const char *blob, const char *pic_trunc)
{
    char sql[1024], want[1024], *log;
    struct it_msgs ms;
    pid_t pid;

    snprintf(sql, sizeof(sql),
             "CREATE TABLE users (id int PRIMARY KEY, name varchar(40), password varchar(40), "
             "email varchar(60), ssn varchar(20), card varchar(40), age int, profile %s, "
             "pic %s, note varchar(200))",
             json, blob);
    eng_sql(e, sql);
    if (e->pg != NULL)
        eng_sql(e, "ALTER TABLE users REPLICA IDENTITY FULL");
    write_config(e);
    snprintf(e->keyfile, sizeof(e->keyfile), "%s/%s.key", it_env("CDC_IT_TMP"), e->name);
    write_file(e->keyfile, KEY2 "\n");
    e->http_port = it_free_port();

    setenv("SENSITIVE_HASH_KEY", KEY1, 1);
    pid = eng_start(e, "k1");
    unsetenv("SENSITIVE_HASH_KEY");
    it_wait_log(e->name, "streaming from", 30000);
    eng_sql(e, e->pg != NULL
                   ? "INSERT INTO users VALUES (1, 'Zoë Adams', 'PW-Secret-1', "
                     "'zoe@secret.example', '123-45-6789', '4111 1111 1111 1111', 8675309, "
                     "'{\"k\": \"PF-Secret\"}', '\\xdeadbeef', 'mail zoe.alt@secret.example')"
                   : "INSERT INTO users VALUES (1, 'Zoë Adams', 'PW-Secret-1', "
                     "'zoe@secret.example', '123-45-6789', '4111 1111 1111 1111', 8675309, "
                     "'{\"k\": \"PF-Secret\"}', 0xdeadbeef, 'mail zoe.alt@secret.example')");
    eng_sql(e, "UPDATE users SET password = 'PW-Secret-2', email = 'zoe2@secret.example', "
               "card = '4111-1111-1111-1111', note = 'plain note' WHERE id = 1");
    eng_sql(e, "DELETE FROM users WHERE id = 1");
    stop_daemon(e, pid, 3);

    /* rotation: the key from a file, a new id */
    setenv("SENSITIVE_HASH_KEY_FILE", e->keyfile, 1);
    pid = eng_start(e, "k2");
    unsetenv("SENSITIVE_HASH_KEY_FILE");
    it_wait_log(e->name, "streaming from", 30000);
    eng_sql(e, "INSERT INTO users (id, email, age, card, note) VALUES (2, 'zoe@secret.example', "
               "8675309, '4111111111111111', NULL)");
    stop_daemon(e, pid, 4);

    it_read_stream(e->name, &ms);
    assert_int_equal(ms.n, 4);
    for (int i = 0; i < ms.n; i++)
        assert_no_secret("a published event", ms.v[i].data);
    /* insert: password dropped, name cut to 2 characters (ë is one), ssn and profile masked,
       email and age hashed (the int's text "8675309"), pic's first 2 bytes (de ad) in base64,
       the card and the note's e-mail found by detection */
    snprintf(want, sizeof(want),
             "{\"id\":1,\"name\":\"Zo\",\"email\":\"hmac:k1:" K1_EMAIL1 "\",\"ssn\":\"****\","
             "\"card\":\"****\",\"age\":\"hmac:k1:" K1_AGE "\",\"profile\":\"****\","
             "\"pic\":%s,\"note\":\"****\"}",
             pic_trunc);
    assert_image(&ms, 0, "after", want);
    assert_image(&ms, 1, "before", want);
    snprintf(want, sizeof(want),
             "{\"id\":1,\"name\":\"Zo\",\"email\":\"hmac:k1:" K1_EMAIL2 "\",\"ssn\":\"****\","
             "\"card\":\"****\",\"age\":\"hmac:k1:" K1_AGE "\",\"profile\":\"****\","
             "\"pic\":%s,\"note\":\"plain note\"}",
             pic_trunc);
    assert_image(&ms, 1, "after", want);
    assert_image(&ms, 2, "before", want);
    assert_null(it_json_member(ms.v[2].data, "after"));
    /* after the rotation: the same e-mail and age, hashed with k2 */
    assert_image(&ms, 3, "after",
                 "{\"id\":2,\"name\":null,\"email\":\"hmac:k2:" K2_EMAIL1 "\",\"ssn\":null,"
                 "\"card\":\"****\",\"age\":\"hmac:k2:" K2_AGE "\",\"profile\":null,"
                 "\"pic\":null,\"note\":null}");
    it_msgs_free(&ms);

    log = it_slurp(it_daemon_log(e->name));
    assert_no_secret("the daemon's log", log);
    free(log);
    check_dump_config(e);
}

static void
test_every_action_on_postgres(void **state)
{
    struct eng e = {.name = NAME "_pg", .schema = "public"};

    (void) state;
    e.pg = it_fresh_db(e.name);
    unlink(it_daemon_log(e.name));
    /* bytea \xdeadbeef cut to 2 bytes: de ad -> base64 "3q0=" */
    run_actions(&e, "jsonb", "bytea", "\"3q0=\"");
    PQfinish(e.pg);
}

static void
test_every_action_on_mariadb(void **state)
{
    struct eng e = {.name = NAME "_my"};
    MYSQL *c = it_my_connect(NULL);
    char path[600];

    (void) state;
    e.schema = e.name; /* MariaDB: the database is the schema */
    snprintf(path, sizeof(path), "%s/%s.ckpt.json", it_env("CDC_IT_TMP"), e.name);
    unlink(path);
    unlink(it_daemon_log(e.name));
    it_stream_delete(e.name);
    it_my(c, "DROP DATABASE IF EXISTS `%s`", e.name);
    it_my(c, "CREATE DATABASE `%s`", e.name);
    it_my(c, "USE `%s`", e.name);
    e.my = c;
    /* varbinary 0xdeadbeef cut to 2 bytes: de ad -> base64 "3q0=" */
    run_actions(&e, "json", "varbinary(8)", "\"3q0=\"");
    mysql_close(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sensitive_fields_never_leave_the_daemon),
        cmocka_unit_test(test_every_action_on_postgres),
        cmocka_unit_test(test_every_action_on_mariadb),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
