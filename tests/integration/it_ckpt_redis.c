/*
 * it_ckpt_redis.c - the redis:// checkpoint store against real redis-server
 * instances: the fixture's (CDC_IT_REDIS_URL) for the round trip, a missing
 * key, a corrupt value and two writers on one key; private ones started here
 * (on free ports, in the run's temp dir, killed by pid) for an outage
 * (SIGSTOP/SIGCONT, then kill and restart) and for passwords; and records
 * encrypted at rest (AES-256-GCM) through Redis.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "checkpoint/ckpt.h"
#include "itlib.h"

#define PASSWORD      "s3cret-Ckpt-pw"
#define WRONGPASSWORD "wr0ng-Ckpt-pw"
#define ACLPASSWORD   "acl-Ckpt-pw"

/* a private redis-server */
struct priv {
    pid_t pid;
    int port;
    char dir[512];
    const char *requirepass; /* NULL: none */
};

static struct priv *live[4]; /* started and not yet stopped, killed by the teardown */

static void
sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* A raw client (fails the test if it cannot connect and authenticate). */
static redisContext *
raw_connect(int port, const char *password)
{
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    redisReply *r;

    assert_non_null(c);
    if (c->err)
        fail_msg("raw connect to 127.0.0.1:%d: %s", port, c->errstr);
    if (password) {
        r = redisCommand(c, "AUTH %s", password);
        assert_non_null(r);
        assert_int_equal(r->type, REDIS_REPLY_STATUS);
        freeReplyObject(r);
    }
    return c;
}

static bool
ping(int port, const char *password)
{
    struct timeval tv = {0, 300000};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    redisReply *r = NULL;
    bool ok = false;

    if (c == NULL || c->err)
        goto done;
    redisSetTimeout(c, tv);
    if (password) {
        r = redisCommand(c, "AUTH %s", password);
        if (r == NULL || r->type != REDIS_REPLY_STATUS)
            goto done;
        freeReplyObject(r);
    }
    r = redisCommand(c, "PING");
    ok = r != NULL && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
done:
    if (r)
        freeReplyObject(r);
    if (c)
        redisFree(c);
    return ok;
}

static void
priv_run(struct priv *p)
{
    char port[16], log[600];
    pid_t pid;

    snprintf(port, sizeof(port), "%d", p->port);
    snprintf(log, sizeof(log), "%s/redis.log", p->dir);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        FILE *f = freopen(log, "a", stdout);

        (void) f;
        dup2(STDOUT_FILENO, STDERR_FILENO);
        if (p->requirepass)
            execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1", "--dir",
                   p->dir, "--save", "", "--appendonly", "no", "--daemonize", "no", "--requirepass",
                   p->requirepass, (char *) NULL);
        else
            execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1", "--dir",
                   p->dir, "--save", "", "--appendonly", "no", "--daemonize", "no", (char *) NULL);
        _exit(127);
    }
    p->pid = pid;
    for (int i = 0; i < 100; i++) {
        if (ping(p->port, p->requirepass))
            return;
        sleep_ms(100);
    }
    fail_msg("private redis-server on port %d did not answer PING (see %s)", p->port, log);
}

static void
priv_start(struct priv *p, const char *requirepass)
{
    memset(p, 0, sizeof(*p));
    snprintf(p->dir, sizeof(p->dir), "%s/redis-priv.XXXXXX", it_env("CDC_IT_TMP"));
    assert_non_null(mkdtemp(p->dir));
    p->port = it_free_port();
    p->requirepass = requirepass;
    for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++)
        if (live[i] == NULL) {
            live[i] = p;
            break;
        }
    priv_run(p);
}

/* Kill (SIGKILL after SIGCONT, in case it was stopped) and reap; keeps the slot in live[]. */
static void
priv_kill(struct priv *p)
{
    if (p->pid <= 0)
        return;
    kill(p->pid, SIGKILL);
    kill(p->pid, SIGCONT);
    waitpid(p->pid, NULL, 0);
    p->pid = 0;
}

static void
priv_stop(struct priv *p)
{
    priv_kill(p);
    for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++)
        if (live[i] == p)
            live[i] = NULL;
}

static int
teardown_privs(void **state)
{
    (void) state;
    for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++)
        if (live[i]) {
            priv_kill(live[i]);
            live[i] = NULL;
        }
    return 0;
}

static void
sample(struct ckpt_record *r, uint64_t seq)
{
    memset(r, 0, sizeof(*r));
    r->version = CKPT_VERSION;
    snprintf(r->source, sizeof(r->source), "it-redis");
    snprintf(r->engine, sizeof(r->engine), "postgres");
    r->lsn = UINT64_C(0x16B3748) + seq;
    snprintf(r->slot, sizeof(r->slot), "cdc_slot");
    snprintf(r->system_id, sizeof(r->system_id), "7301234567890123456");
    r->timeline = 1;
    snprintf(r->stream, sizeof(r->stream), "CDC");
    r->stream_seq = seq;
    r->time_us = INT64_C(1700000000000000) + (int64_t) seq;
}

static void
assert_same(const struct ckpt_record *a, const struct ckpt_record *b)
{
    assert_int_equal(a->version, b->version);
    assert_string_equal(a->source, b->source);
    assert_string_equal(a->engine, b->engine);
    assert_int_equal(a->lsn, b->lsn);
    assert_string_equal(a->slot, b->slot);
    assert_string_equal(a->system_id, b->system_id);
    assert_int_equal(a->timeline, b->timeline);
    assert_string_equal(a->stream, b->stream);
    assert_int_equal(a->stream_seq, b->stream_seq);
    assert_int_equal(a->time_us, b->time_us);
}

/* The fixture's URL with a key for this test (deleted first). */
static const char *
fixture_url(const char *key, const char *extra)
{
    static char url[512];
    int port = atoi(it_env("CDC_IT_REDIS_PORT"));
    redisContext *c = raw_connect(port, NULL);
    redisReply *r = redisCommand(c, "DEL %s", key);

    assert_non_null(r);
    freeReplyObject(r);
    redisFree(c);
    snprintf(url, sizeof(url), "%s/0?key=%s%s", it_env("CDC_IT_REDIS_URL"), key, extra);
    return url;
}

static struct ckpt_store *
open_ok(const char *url)
{
    struct ckpt_store *s = NULL;
    struct cdc_err err = {0};

    if (ckpt_open(&s, url, NULL, &err) != CDC_OK)
        fail_msg("ckpt_open(%s): %s", url, err.msg);
    return s;
}

static void
save_ok(struct ckpt_store *s, const struct ckpt_record *rec)
{
    struct cdc_err err = {0};

    if (ckpt_save(s, rec, &err) != CDC_OK)
        fail_msg("ckpt_save on %s: %s", ckpt_describe(s), err.msg);
}

static void
load_ok(struct ckpt_store *s, struct ckpt_record *rec, bool want_found)
{
    struct cdc_err err = {0};
    bool found = !want_found;

    if (ckpt_load(s, rec, &found, &err) != CDC_OK)
        fail_msg("ckpt_load on %s: %s", ckpt_describe(s), err.msg);
    assert_true(found == want_found);
}

static void
test_ckpt_redis_round_trip(void **state)
{
    struct ckpt_record in, out;
    struct ckpt_store *a, *b;
    char want[256];

    (void) state;
    a = open_ok(fixture_url("it:roundtrip", ""));
    snprintf(want, sizeof(want), "redis://127.0.0.1:%s/0 key=it:roundtrip",
             it_env("CDC_IT_REDIS_PORT"));
    assert_string_equal(ckpt_describe(a), want);
    load_ok(a, &out, false);
    sample(&in, 1);
    save_ok(a, &in);
    sample(&in, 2);
    save_ok(a, &in); /* a second save by the same store is not a conflict */
    {
        /* the server closes the idle connection: the next save reconnects at once */
        redisContext *c = raw_connect(atoi(it_env("CDC_IT_REDIS_PORT")), NULL);
        redisReply *r = redisCommand(c, "CLIENT KILL TYPE normal SKIPME yes");

        assert_non_null(r);
        assert_int_equal(r->type, REDIS_REPLY_INTEGER);
        assert_true(r->integer >= 1);
        freeReplyObject(r);
        redisFree(c);
    }
    sample(&in, 3);
    save_ok(a, &in);
    b = open_ok(fixture_url("it:unused", ""));
    ckpt_close(b);
    b = open_ok(it_env("CDC_IT_REDIS_URL")); /* only to check the defaults parse */
    assert_non_null(strstr(ckpt_describe(b), "/0 key=cdc-handler:checkpoint"));
    ckpt_close(b);
    {
        char url[512];

        snprintf(url, sizeof(url), "%s/0?key=it:roundtrip", it_env("CDC_IT_REDIS_URL"));
        b = open_ok(url);
    }
    load_ok(b, &out, true);
    assert_same(&in, &out);
    ckpt_close(a);
    ckpt_close(b);
}

static void
test_ckpt_redis_missing_key_is_not_found(void **state)
{
    struct ckpt_record out;
    struct ckpt_store *s;
    char url[512];

    (void) state;
    s = open_ok(fixture_url("it:missing", ""));
    load_ok(s, &out, false);
    ckpt_close(s);
    /* another database of the same server: nothing there either */
    snprintf(url, sizeof(url), "%s/3?key=it:missing", it_env("CDC_IT_REDIS_URL"));
    s = open_ok(url);
    load_ok(s, &out, false);
    ckpt_close(s);
}

static void
test_ckpt_redis_corrupt_value_is_fatal(void **state)
{
    struct ckpt_record in, out;
    struct ckpt_store *s;
    struct cdc_err err = {0};
    char text[CKPT_MAX_LEN], *p;
    redisContext *c;
    redisReply *r;
    bool found = false;

    (void) state;
    s = open_ok(fixture_url("it:corrupt", ""));
    sample(&in, 42);
    assert_int_equal(ckpt_encode(&in, text, sizeof(text), &err), CDC_OK);
    p = strstr(text, "\"stream_seq\":42");
    assert_non_null(p);
    p[strlen("\"stream_seq\":4")] = '3'; /* 42 -> 43, the digest no longer matches */
    c = raw_connect(atoi(it_env("CDC_IT_REDIS_PORT")), NULL);
    r = redisCommand(c, "SET it:corrupt %s", text);
    assert_non_null(r);
    freeReplyObject(r);
    assert_int_equal(ckpt_load(s, &out, &found, &err), CDC_ERR_FATAL);
    assert_false(found);
    /* a value that is not a record at all */
    r = redisCommand(c, "SET it:corrupt %s", "hello");
    assert_non_null(r);
    freeReplyObject(r);
    assert_int_equal(ckpt_load(s, &out, &found, &err), CDC_ERR_FATAL);
    /* an empty value is corrupt, not missing */
    r = redisCommand(c, "SET it:corrupt %s", "");
    assert_non_null(r);
    freeReplyObject(r);
    assert_int_equal(ckpt_load(s, &out, &found, &err), CDC_ERR_FATAL);
    assert_false(found);
    redisFree(c);
    ckpt_close(s);
}

static void
test_ckpt_redis_second_writer_loses(void **state)
{
    struct ckpt_record rec, out;
    struct ckpt_store *a, *b, *c;
    struct cdc_err err = {0};
    char url[512];

    (void) state;
    snprintf(url, sizeof(url), "%s", fixture_url("it:twowriters", ""));
    a = open_ok(url);
    b = open_ok(url);
    load_ok(a, &out, false);
    load_ok(b, &out, false);
    sample(&rec, 10);
    save_ok(a, &rec);
    sample(&rec, 11);
    assert_int_equal(ckpt_save(b, &rec, &err), CDC_ERR_FATAL);
    print_message("second writer: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "changed by another writer"));
    assert_non_null(strstr(err.msg, "it:twowriters"));
    /* A keeps writing; B keeps losing */
    sample(&rec, 12);
    save_ok(a, &rec);
    assert_int_equal(ckpt_save(b, &rec, &err), CDC_ERR_FATAL);
    /* a store that loads after A wrote takes over, and then A loses */
    c = open_ok(url);
    load_ok(c, &out, true);
    assert_int_equal(out.stream_seq, 12);
    sample(&rec, 13);
    save_ok(c, &rec);
    sample(&rec, 14);
    assert_int_equal(ckpt_save(a, &rec, &err), CDC_ERR_FATAL);
    load_ok(c, &out, true);
    assert_int_equal(out.stream_seq, 13);
    ckpt_close(a);
    ckpt_close(b);
    ckpt_close(c);
}

static void
test_ckpt_redis_wait_without_replicas_is_retry(void **state)
{
    struct ckpt_record rec, out;
    struct ckpt_store *s;
    struct cdc_err err = {0};

    (void) state;
    s = open_ok(fixture_url("it:wait", "&wait=1&timeout=200"));
    load_ok(s, &out, false);
    sample(&rec, 5);
    assert_int_equal(ckpt_save(s, &rec, &err), CDC_ERR_RETRY);
    assert_non_null(strstr(err.msg, "0 of 1 replicas"));
    /* the primary holds it all the same, and the next save is not a conflict */
    load_ok(s, &out, true);
    assert_same(&rec, &out);
    sample(&rec, 6);
    assert_int_equal(ckpt_save(s, &rec, &err), CDC_ERR_RETRY);
    ckpt_close(s);
}

static void
test_ckpt_redis_outage_is_retry_then_recovers(void **state)
{
    struct ckpt_record rec, out;
    struct ckpt_store *s;
    struct cdc_err err = {0};
    static struct priv p;
    char url[256], where[64];

    (void) state;
    priv_start(&p, NULL);
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d?key=it:outage&timeout=300", p.port);
    snprintf(where, sizeof(where), "127.0.0.1:%d", p.port);
    s = open_ok(url);
    load_ok(s, &out, false);
    sample(&rec, 1);
    save_ok(s, &rec);

    /* frozen: connected, but no answer */
    it_freeze(p.pid);
    sample(&rec, 2);
    assert_int_equal(ckpt_save(s, &rec, &err), CDC_ERR_RETRY);
    print_message("while stopped: %s\n", err.msg);
    assert_non_null(strstr(err.msg, where));
    sample(&rec, 3);
    assert_int_equal(ckpt_save(s, &rec, &err), CDC_ERR_RETRY);
    assert_int_equal(ckpt_load(s, &out, &(bool){false}, &err), CDC_ERR_RETRY);
    assert_int_equal(kill(p.pid, SIGCONT), 0);
    /* the unanswered writes may land now: they are ours, not another writer's */
    sample(&rec, 4);
    save_ok(s, &rec);
    load_ok(s, &out, true);
    assert_same(&rec, &out);

    /* gone: connection refused */
    priv_kill(&p);
    sample(&rec, 5);
    assert_int_equal(ckpt_save(s, &rec, &err), CDC_ERR_RETRY);
    print_message("while killed: %s\n", err.msg);
    assert_non_null(strstr(err.msg, where));
    assert_int_equal(ckpt_save(s, &rec, &err), CDC_ERR_RETRY);
    /* back, empty (no persistence): the record is written again */
    priv_run(&p);
    save_ok(s, &rec);
    load_ok(s, &out, true);
    assert_same(&rec, &out);
    ckpt_close(s);
    priv_stop(&p);
}

static void
test_ckpt_redis_password_is_never_shown(void **state)
{
    struct ckpt_record rec, out;
    struct ckpt_store *s;
    struct cdc_err err = {0};
    static struct priv p;
    char url[256];
    redisContext *c;
    redisReply *r;
    bool found = false;

    (void) state;
    priv_start(&p, PASSWORD);

    /* the right password, db 2 */
    snprintf(url, sizeof(url), "redis://:%s@127.0.0.1:%d/2?key=it:pw", PASSWORD, p.port);
    s = open_ok(url);
    assert_null(strstr(ckpt_describe(s), PASSWORD));
    assert_non_null(strstr(ckpt_describe(s), "/2 key=it:pw"));
    load_ok(s, &out, false);
    sample(&rec, 7);
    save_ok(s, &rec);
    load_ok(s, &out, true);
    assert_same(&rec, &out);
    ckpt_close(s);

    /* a wrong password: fatal, and the message shows neither password */
    snprintf(url, sizeof(url), "redis://:%s@127.0.0.1:%d?key=it:pw", WRONGPASSWORD, p.port);
    s = open_ok(url);
    assert_null(strstr(ckpt_describe(s), WRONGPASSWORD));
    assert_int_equal(ckpt_load(s, &out, &found, &err), CDC_ERR_FATAL);
    print_message("wrong password: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "authentication"));
    assert_null(strstr(err.msg, WRONGPASSWORD));
    assert_null(strstr(err.msg, PASSWORD));
    assert_int_equal(ckpt_save(s, &rec, &err), CDC_ERR_FATAL);
    assert_null(strstr(err.msg, WRONGPASSWORD));
    ckpt_close(s);

    /* no password where one is required: fatal too */
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d?key=it:pw", p.port);
    s = open_ok(url);
    assert_int_equal(ckpt_load(s, &out, &found, &err), CDC_ERR_FATAL);
    print_message("no password: %s\n", err.msg);
    ckpt_close(s);

    /* a Redis 6 ACL user with its own password */
    c = raw_connect(p.port, PASSWORD);
    r = redisCommand(c, "ACL SETUSER ckpt on >%s ~it:* +@all", ACLPASSWORD);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);
    redisFree(c);
    snprintf(url, sizeof(url), "redis://ckpt:%s@127.0.0.1:%d/0?key=it:acl", ACLPASSWORD, p.port);
    s = open_ok(url);
    assert_null(strstr(ckpt_describe(s), ACLPASSWORD));
    assert_non_null(strstr(ckpt_describe(s), "ckpt@127.0.0.1"));
    load_ok(s, &out, false);
    save_ok(s, &rec);
    load_ok(s, &out, true);
    assert_same(&rec, &out);

    /* server gone: retry, naming host:port and not the password */
    priv_kill(&p);
    assert_int_equal(ckpt_save(s, &rec, &err), CDC_ERR_RETRY);
    assert_null(strstr(err.msg, ACLPASSWORD));
    assert_non_null(strstr(err.msg, "127.0.0.1:"));
    ckpt_close(s);
    priv_stop(&p);
}

static void
test_ckpt_redis_encrypted_round_trip(void **state)
{
    unsigned char key[CKPT_KEY_LEN], other[CKPT_KEY_LEN];
    struct ckpt_record in, out;
    struct ckpt_store *a, *b;
    struct cdc_err err = {0};
    struct ckpt_opts o;
    char url[512];
    redisContext *c;
    redisReply *r;
    bool found = true;

    (void) state;
    for (int i = 0; i < CKPT_KEY_LEN; i++) {
        key[i] = (unsigned char) (3 * i + 5);
        other[i] = (unsigned char) (3 * i + 6);
    }
    snprintf(url, sizeof(url), "%s", fixture_url("it:enc", ""));
    ckpt_opts_init(&o);
    o.key = key;
    assert_int_equal(ckpt_open(&a, url, &o, &err), CDC_OK);
    load_ok(a, &out, false);
    sample(&in, 31);
    save_ok(a, &in);
    sample(&in, 32);
    save_ok(a, &in); /* the compare-and-set works on the sealed values */
    /* what Redis holds is sealed */
    c = raw_connect(atoi(it_env("CDC_IT_REDIS_PORT")), NULL);
    r = redisCommand(c, "GET it:enc");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_memory_equal(r->str, "{\"enc\":\"aes-256-gcm\",\"kid\":\"", 28);
    assert_null(strstr(r->str, "it-redis"));
    freeReplyObject(r);
    redisFree(c);
    /* the same key reads it; another key or none cannot */
    assert_int_equal(ckpt_open(&b, url, &o, &err), CDC_OK);
    load_ok(b, &out, true);
    assert_same(&in, &out);
    ckpt_close(b);
    o.key = other;
    assert_int_equal(ckpt_open(&b, url, &o, &err), CDC_OK);
    assert_int_equal(ckpt_load(b, &out, &found, &err), CDC_ERR_FATAL);
    assert_non_null(strstr(err.msg, "checkpoint was written with key id"));
    ckpt_close(b);
    b = open_ok(url);
    assert_int_equal(ckpt_load(b, &out, &found, &err), CDC_ERR_FATAL);
    assert_non_null(strstr(err.msg, "no encryption key is configured"));
    ckpt_close(b);
    ckpt_close(a);
}

static void
test_ckpt_redis_bad_urls_are_config_errors(void **state)
{
    static const char *const bad[] = {
        "redis://",
        "redis://host:notaport",
        "redis://host:70000",
        "redis://host:6379/x",
        "redis://host:6379/0?bogus=1",
        "redis://host:6379/0?wait=-1",
        "redis://host:6379/0?timeout=0",
        "redis://host:6379/0?key=",
        "redis://:pw%zz@host:6379",
    };
    struct ckpt_store *s = NULL;
    struct cdc_err err = {0};

    (void) state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (ckpt_open(&s, bad[i], NULL, &err) != CDC_ERR_CONFIG)
            fail_msg("%s: expected a config error", bad[i]);
        assert_null(strstr(err.msg, "pw%zz"));
    }
    /* percent-encoded password and default port */
    s = open_ok("redis://user:p%40ss@localhost?key=a%3Ab");
    assert_string_equal(ckpt_describe(s), "redis://user@localhost:6379/0 key=a:b");
    ckpt_close(s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ckpt_redis_round_trip),
        cmocka_unit_test(test_ckpt_redis_missing_key_is_not_found),
        cmocka_unit_test(test_ckpt_redis_corrupt_value_is_fatal),
        cmocka_unit_test(test_ckpt_redis_second_writer_loses),
        cmocka_unit_test(test_ckpt_redis_wait_without_replicas_is_retry),
        cmocka_unit_test_teardown(test_ckpt_redis_outage_is_retry_then_recovers, teardown_privs),
        cmocka_unit_test_teardown(test_ckpt_redis_password_is_never_shown, teardown_privs),
        cmocka_unit_test(test_ckpt_redis_bad_urls_are_config_errors),
        cmocka_unit_test(test_ckpt_redis_encrypted_round_trip),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, teardown_privs);
}
