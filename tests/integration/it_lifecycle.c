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

#include "core/lsn.h"
#include "itlib.h"

static char *
slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *s;
    long n;

    if (f == NULL)
        return strdup("");
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    s = calloc(1, (size_t) n + 1);
    if (fread(s, 1, (size_t) n, f) != (size_t) n)
        n = 0;
    fclose(f);
    return s;
}

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
    log = slurp(it_daemon_log(name));
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

static cdc_lsn
slot_confirmed(PGconn *c, const char *slot)
{
    char *v = it_sql_value(c,
                           "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE "
                           "slot_name = '%s'",
                           slot);
    cdc_lsn l = 0;

    assert_true(cdc_lsn_parse(v, &l));
    free(v);
    return l;
}

static void
wait_active(PGconn *c, const char *slot)
{
    for (int i = 0; i < 300; i++) {
        char *n = it_sql_value(c,
                               "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '%s' "
                               "AND active",
                               slot);
        bool ok = strcmp(n, "1") == 0;

        free(n);
        if (ok)
            return;
        usleep(100000);
    }
    fail_msg("slot %s never became active", slot);
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
    wait_active(c, "it_term");
    it_sql(c, "INSERT INTO t SELECT generate_series(1, 500)");
    end = it_sql_value(c, "SELECT pg_current_wal_lsn()");
    assert_int_equal(it_wait_stream_count("it_term", 500, 20000), 500);
    kill(pid, SIGTERM);
    assert_int_equal(it_daemon_wait(pid, 30000), 0);

    /* the final checkpoint holds the position, and the slot was told exactly that */
    snprintf(ckpt_path, sizeof(ckpt_path), "%s/it_term.ckpt.json", it_env("CDC_IT_TMP"));
    ckpt = slurp(ckpt_path);
    confirmed = slot_confirmed(c, "it_term");
    snprintf(lsn, sizeof(lsn), "\"lsn\":\"" CDC_LSN_FMT "\"", CDC_LSN_ARGS(confirmed));
    if (strstr(ckpt, lsn) == NULL)
        fail_msg("slot confirmed " CDC_LSN_FMT " but the checkpoint is %s", CDC_LSN_ARGS(confirmed),
                 ckpt);
    {
        cdc_lsn e;

        assert_true(cdc_lsn_parse(end, &e));
        /* the commit of the insert ends before pg_current_wal_lsn() read after it */
        assert_true(confirmed > 0 && confirmed <= e);
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
        char *log = slurp(it_daemon_log("it_term"));
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

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unreachable_postgres_is_retried_with_backoff),
        cmocka_unit_test(test_unreachable_nats_is_retried_with_backoff),
        cmocka_unit_test(test_sigterm_checkpoints_confirms_and_restarts_without_duplicates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
