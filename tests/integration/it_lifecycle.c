/*
 * it_lifecycle.c - the daemon's life around its servers: missing servers give
 * one clear log line per attempt and backoff (no crash loop), SIGTERM stops it
 * cleanly with the final position checkpointed and confirmed, and a restart
 * after that publishes nothing twice.
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
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "core/lsn.h"
#include "itlib.h"

static int
count_substr(const char *s, const char *needle)
{
    int n = 0;

    for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static bool
alive(pid_t pid)
{
    return waitpid(pid, NULL, WNOHANG) == 0;
}

/* A daemon pointed at a dead server keeps retrying with backoff and stops on SIGTERM. */
static void
check_unreachable(const char *name, const char *const *extra, const char *needle)
{
    int64_t t0;
    char *log;
    pid_t pid;

    unlink(it_daemon_log(name));
    pid = it_daemon_start("cdc_test", name, extra);
    sleep(4);
    assert_true(alive(pid));
    t0 = it_now_ms();
    kill(pid, SIGTERM);
    assert_int_equal(it_daemon_wait(pid, 5000), 0);
    assert_true(it_now_ms() - t0 < 3000);
    log = it_slurp(it_daemon_log(name));
    /* in 4 s with a 1-2-4 s full-jitter backoff: at least 2 attempts, and not a tight loop */
    if (count_substr(log, needle) < 2 || count_substr(log, "retrying in") > 12)
        fail_msg("expected a few \"%s\" lines with backoff, got:\n%s", needle, log);
    assert_non_null(strstr(log, "retrying in"));
    free(log);
}

static void
test_unreachable_postgres_is_retried_with_backoff(void **state)
{
    const char *extra[] = {"-X", "rds.port=1", NULL};

    (void) state;
    check_unreachable("it_nopg", extra, "127.0.0.1:1");
}

static void
test_unreachable_nats_is_retried_with_backoff(void **state)
{
    const char *extra[] = {"-X", "nats.urls=nats://127.0.0.1:1", NULL};

    (void) state;
    check_unreachable("it_nonats", extra, "could not connect to NATS at nats://127.0.0.1:1");
}

/* cdc.retry_backoff_base / _max set the supervisor's full-jitter backoff: every delay within it. */
static void
test_retry_backoff_comes_from_the_config(void **state)
{
    const char *name = "it_backoff";
    const char *extra[] = {"-X", "rds.port=1",
                           "-X", "cdc.retry_backoff_base=100ms",
                           "-X", "cdc.retry_backoff_max=200ms",
                           "-X", "cdc.circuit_breaker.failure_threshold=0",
                           NULL};
    int n = 0, max_ms = 0;
    char *log;
    pid_t pid;

    (void) state;
    unlink(it_daemon_log(name));
    pid = it_daemon_start("cdc_test", name, extra);
    sleep(3);
    kill(pid, SIGTERM);
    assert_int_equal(it_daemon_wait(pid, 5000), 0);
    log = it_slurp(it_daemon_log(name));
    for (const char *q = strstr(log, "retrying in "); q != NULL;
         q = strstr(q + 1, "retrying in ")) {
        int ms = atoi(q + strlen("retrying in "));

        n++;
        if (ms > max_ms)
            max_ms = ms;
    }
    print_message("%d retries in 3 s, the longest delay %d ms (ceiling 200 ms)\n", n, max_ms);
    free(log);
    /* error lines are rate-limited to 5 per 10 s, so 5 are seen; under the default 1-2-4-8 s
       ceilings five delays all under 200 ms would have a chance of about 1 in 10^6 */
    assert_true(n >= 5);
    assert_true(max_ms <= 200);
}

static void
test_sigterm_checkpoints_confirms_and_restarts_without_duplicates(void **state)
{
    /* a long checkpoint interval: only the shutdown itself can write the final position */
    const char *extra[] = {"-X", "cdc.checkpoint_interval=1h", NULL};
    const char *idle[] = {"-X", "cdc.checkpoint_interval=1h", "--exit-when-idle", "1500", NULL};
    char ckpt_path[512], lsn[32], *ckpt, *end;
    struct it_msgs ms;
    cdc_lsn confirmed;
    PGconn *c;
    pid_t pid;

    (void) state;
    c = it_fresh_db("it_term");
    it_sql(c, "CREATE TABLE t (id int PRIMARY KEY)");
    pid = it_daemon_start("it_term", "it_term", extra);
    it_wait_slot_active(c, "it_term");
    end = it_sql_value(c, "SELECT pg_current_wal_lsn()"); /* before the insert */
    it_sql(c, "INSERT INTO t SELECT generate_series(1, 500)");
    assert_int_equal(it_wait_stream_count("it_term", 500, 20000), 500);
    kill(pid, SIGTERM);
    assert_int_equal(it_daemon_wait(pid, 30000), 0);

    /* the final checkpoint holds the position, and the slot was told exactly that */
    snprintf(ckpt_path, sizeof(ckpt_path), "%s/it_term.ckpt.json", it_env("CDC_IT_TMP"));
    ckpt = it_slurp(ckpt_path);
    confirmed = it_slot_confirmed(c, "it_term");
    snprintf(lsn, sizeof(lsn), "\"lsn\":\"" CDC_LSN_FMT "\"", CDC_LSN_ARGS(confirmed));
    if (strstr(ckpt, lsn) == NULL)
        fail_msg("slot confirmed " CDC_LSN_FMT " but the checkpoint is %s", CDC_LSN_ARGS(confirmed),
                 ckpt);
    {
        cdc_lsn e;

        assert_true(cdc_lsn_parse(end, &e));
        /* the insert's transaction, which started after `end`, was confirmed (an idle
         * server may let the position move further: keepalives past the last commit) */
        assert_true(confirmed > e);
    }
    free(ckpt);
    free(end);

    /* restart: the transaction is not sent again, the new one is */
    it_sql(c, "INSERT INTO t VALUES (501)");
    pid = it_daemon_start("it_term", "it_term", idle);
    assert_int_equal(it_daemon_wait(pid, 60000), 0);
    it_read_stream("it_term", &ms);
    assert_int_equal(ms.n, 501);
    {
        char *log = it_slurp(it_daemon_log("it_term"));
        const char *last = NULL;

        /* the second run resumed past the first run's events: it published only the new row */
        for (const char *p = strstr(log, "stopped at"); p; p = strstr(p + 1, "stopped at"))
            last = p;
        assert_non_null(last);
        if (strstr(last, "after 1 events") == NULL)
            fail_msg("second run republished old events: %.200s", last);
        free(log);
    }
    it_msgs_free(&ms);
    PQfinish(c);
}

static void
copy_file(const char *from, const char *to)
{
    char *s = it_slurp(from);
    FILE *f = fopen(to, "w");

    assert_non_null(f);
    fputs(s, f);
    fclose(f);
    free(s);
}

/* SIGTERM while JetStream does not answer: exit non-zero after the grace period, confirm nothing
 * unacked. */
static void
test_sigterm_with_unacked_events_exits_nonzero_and_confirms_nothing_more(void **state)
{
    const char *extra[] = {"-X", "server.grace_period=2s", NULL};
    const char *idle[] = {"--exit-when-idle", "1500", NULL};
    pid_t nats = (pid_t) atoi(it_env("CDC_IT_NATS_PID"));
    cdc_lsn confirmed;
    struct it_msgs ms;
    int64_t t0;
    PGconn *c;
    pid_t pid;
    int code;

    (void) state;
    c = it_fresh_db("it_graceless");
    it_sql(c, "CREATE TABLE t (id int PRIMARY KEY)");
    pid = it_daemon_start("it_graceless", "it_graceless", extra);
    it_wait_slot_active(c, "it_graceless");
    it_sql(c, "INSERT INTO t SELECT generate_series(1, 100)");
    assert_int_equal(it_wait_stream_count("it_graceless", 100, 20000), 100);
    it_freeze(nats);
    it_sql(c, "INSERT INTO t SELECT generate_series(101, 200)");
    usleep(1000000);
    t0 = it_now_ms();
    kill(pid, SIGTERM);
    code = it_daemon_wait(pid, 20000);
    kill(nats, SIGCONT);
    print_message("exit %d after %lld ms\n", code, (long long) (it_now_ms() - t0));
    assert_int_equal(code, 1);
    confirmed = it_slot_confirmed(c, "it_graceless");
    /* the second insert is delivered by the next run, once */
    pid = it_daemon_start("it_graceless", "it_graceless", idle);
    assert_int_equal(it_daemon_wait(pid, 60000), 0);
    it_read_stream("it_graceless", &ms);
    assert_int_equal(ms.n, 200);
    {
        /* the slot had not been confirmed past the commit of the unacked second insert */
        char *meta = it_json_member(ms.v[199].data, "metadata");
        char *cl = it_json_member(meta, "commit_lsn");
        cdc_lsn second_commit = 0;

        assert_non_null(cl);
        cl[strlen(cl) - 1] = '\0';
        assert_true(cdc_lsn_parse(cl + 1, &second_commit));
        if (confirmed > second_commit)
            fail_msg("slot confirmed " CDC_LSN_FMT
                     " past the unacked transaction committed at " CDC_LSN_FMT,
                     CDC_LSN_ARGS(confirmed), CDC_LSN_ARGS(second_commit));
        free(cl);
        free(meta);
    }
    it_msgs_free(&ms);
    PQfinish(c);
}

/* A slot ahead of the checkpoint is refused, naming both positions, unless accepted. */
static void
test_slot_ahead_of_checkpoint_is_refused_unless_accepted(void **state)
{
    const char *idle[] = {"--exit-when-idle", "1000", NULL};
    const char *accept[] = {"--exit-when-idle", "1000", "--accept-slot-position", NULL};
    char ckpt[512], saved[560], *log;
    PGconn *c;
    pid_t pid;

    (void) state;
    snprintf(ckpt, sizeof(ckpt), "%s/it_ahead.ckpt.json", it_env("CDC_IT_TMP"));
    snprintf(saved, sizeof(saved), "%s.saved", ckpt);
    unlink(ckpt);
    c = it_fresh_db("it_ahead");
    it_sql(c, "CREATE TABLE t (id int PRIMARY KEY)");
    pid = it_daemon_start("it_ahead", "it_ahead", idle);
    it_wait_slot_active(c, "it_ahead");
    it_sql(c, "INSERT INTO t VALUES (1)");
    assert_int_equal(it_daemon_wait(pid, 60000), 0);
    copy_file(ckpt, saved);
    it_sql(c, "INSERT INTO t VALUES (2)");
    pid = it_daemon_start("it_ahead", "it_ahead", idle);
    assert_int_equal(it_daemon_wait(pid, 60000), 0);
    /* an old checkpoint comes back (a restored backup): the slot is now ahead of it */
    copy_file(saved, ckpt);
    unlink(it_daemon_log("it_ahead"));
    pid = it_daemon_start("it_ahead", "it_ahead", idle);
    assert_int_equal(it_daemon_wait(pid, 60000), 1);
    log = it_slurp(it_daemon_log("it_ahead"));
    if (strstr(log, "ahead of the checkpoint") == NULL ||
        strstr(log, "--accept-slot-position") == NULL)
        fail_msg("expected a refusal naming both positions, got:\n%s", log);
    free(log);
    pid = it_daemon_start("it_ahead", "it_ahead", accept);
    assert_int_equal(it_daemon_wait(pid, 60000), 0);
    PQfinish(c);
}

/* Two daemons on one Redis checkpoint key: the one whose write loses the compare-and-set stops. */
static void
test_daemon_stops_when_another_writer_takes_the_redis_checkpoint(void **state)
{
    char url[600], key[64];
    const char *extra[] = {"-X", url, NULL};
    redisContext *rc;
    redisReply *r;
    char *log;
    PGconn *c;
    pid_t pid;

    (void) state;
    snprintf(key, sizeof(key), "it-lifecycle-%d", (int) getpid());
    snprintf(url, sizeof(url), "cdc.checkpoint_storage=%s/0?key=%s", it_env("CDC_IT_REDIS_URL"),
             key);
    c = it_fresh_db("it_twowriters");
    it_sql(c, "CREATE TABLE t (id int PRIMARY KEY)");
    unlink(it_daemon_log("it_twowriters"));
    pid = it_daemon_start("it_twowriters", "it_twowriters", extra);
    it_wait_slot_active(c, "it_twowriters");
    it_sql(c, "INSERT INTO t VALUES (1)");
    assert_int_equal(it_wait_stream_count("it_twowriters", 1, 20000), 1);
    usleep(500000); /* a checkpoint was written (interval 200 ms) */
    /* another writer replaces the record */
    rc = redisConnect("127.0.0.1", atoi(it_env("CDC_IT_REDIS_PORT")));
    assert_true(rc != NULL && rc->err == 0);
    r = redisCommand(rc, "SET %s %s", key, "{\"another\":\"writer\"}");
    assert_non_null(r);
    freeReplyObject(r);
    redisFree(rc);
    it_sql(c, "INSERT INTO t VALUES (2)");
    assert_int_equal(it_daemon_wait(pid, 20000), 1);
    log = it_slurp(it_daemon_log("it_twowriters"));
    if (strstr(log, "another writer") == NULL)
        fail_msg("expected the daemon to stop naming another writer, got:\n%s", log);
    free(log);
    PQfinish(c);
}

/*
 * The checkpoint store stops answering: the daemon keeps streaming, confirms
 * nothing more to PostgreSQL meanwhile, and catches up once the store is back.
 */
static void
test_store_down_holds_confirmation_then_recovers(void **state)
{
    char url[600];
    const char *extra[] = {"-X", url, NULL};
    pid_t redis = (pid_t) atoi(it_env("CDC_IT_REDIS_PID"));
    cdc_lsn before, held, after = 0;
    char *v, *log;
    PGconn *c;
    pid_t pid;

    (void) state;
    snprintf(url, sizeof(url), "cdc.checkpoint_storage=%s/0?key=it-storedown-%d&timeout=500",
             it_env("CDC_IT_REDIS_URL"), (int) getpid());
    c = it_fresh_db("it_storedown");
    it_sql(c, "CREATE TABLE t (id int PRIMARY KEY)");
    unlink(it_daemon_log("it_storedown"));
    pid = it_daemon_start("it_storedown", "it_storedown", extra);
    it_wait_slot_active(c, "it_storedown");
    v = it_sql_value(c, "SELECT pg_current_wal_lsn()");
    assert_true(cdc_lsn_parse(v, &before));
    free(v);
    it_sql(c, "INSERT INTO t SELECT generate_series(1, 10)");
    assert_int_equal(it_wait_stream_count("it_storedown", 10, 20000), 10);
    for (int i = 0; i < 100 && it_slot_confirmed(c, "it_storedown") <= before; i++)
        usleep(100000);
    assert_true(it_slot_confirmed(c, "it_storedown") > before);

    it_freeze(redis);
    usleep(700000); /* let a write that was under way finish or fail */
    held = it_slot_confirmed(c, "it_storedown");
    it_sql(c, "INSERT INTO t SELECT generate_series(11, 20)");
    /* events still flow to the stream ... */
    assert_int_equal(it_wait_stream_count("it_storedown", 20, 20000), 20);
    usleep(1500000);
    /* ... but nothing is confirmed while the checkpoint cannot be written */
    assert_int_equal(it_slot_confirmed(c, "it_storedown"), held);
    assert_int_equal(waitpid(pid, NULL, WNOHANG), 0);
    kill(redis, SIGCONT);

    for (int i = 0; i < 100 && (after = it_slot_confirmed(c, "it_storedown")) <= held; i++)
        usleep(100000);
    if (after <= held)
        fail_msg("the slot stayed at " CDC_LSN_FMT " after the store came back",
                 CDC_LSN_ARGS(held));
    kill(pid, SIGTERM);
    assert_int_equal(it_daemon_wait(pid, 30000), 0);
    log = it_slurp(it_daemon_log("it_storedown"));
    assert_non_null(strstr(log, "could not write checkpoint"));
    free(log);
    PQfinish(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unreachable_postgres_is_retried_with_backoff),
        cmocka_unit_test(test_unreachable_nats_is_retried_with_backoff),
        cmocka_unit_test(test_retry_backoff_comes_from_the_config),
        cmocka_unit_test(test_sigterm_checkpoints_confirms_and_restarts_without_duplicates),
        cmocka_unit_test(test_sigterm_with_unacked_events_exits_nonzero_and_confirms_nothing_more),
        cmocka_unit_test(test_slot_ahead_of_checkpoint_is_refused_unless_accepted),
        cmocka_unit_test(test_daemon_stops_when_another_writer_takes_the_redis_checkpoint),
        cmocka_unit_test(test_store_down_holds_confirmation_then_recovers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
