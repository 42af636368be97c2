/*
 * it_faults.c - fault-injection scenarios of issue 6 (fast versions), with
 * our TCP proxy (tests/tools/faultproxy.c) between the daemon and one server,
 * under a three-table load. After each one the oracle (itlib's it_oracle_check)
 * checks: every change in the stream exactly once, in order per key, and the
 * final state rebuilt from the stream equal to the tables.
 * - scenario 4: PostgreSQL <-> daemon partitioned (blackhole both ways) for
 *   twice wal_sender_timeout, then healed: the walsender gives up, the daemon
 *   notices the silence during the partition and reconnects after it;
 * - scenario 6: NATS acks blackholed (server -> daemon) for 5 s: publishes
 *   still reach the server, their acks do not; they are resent under the
 *   same Nats-Msg-Id and the stream deduplicates them;
 * - scenario 5: NATS cut and refused for 10 s (60 s with CDC_IT_LONG=1, as
 *   `make test-faults` runs it): memory stays bounded (VmRSS sampled during
 *   the outage), everything drains afterwards, in order per key;
 * - scenario 2: kill -9 inside an open transaction, another committing in
 *   between: both once, in commit order, after the restart;
 * - scenario 3: PostgreSQL restarted under load, fast then immediate
 *   (crash): the daemon and the load reconnect, the oracle finds everything;
 * - scenario 11: SIGTERM while NATS is cut under load: exit 1 within the
 *   grace period, nothing confirmed past the acks, all delivered after;
 * - scenario 7: the checkpoint store (a Redis of the test's own) stopped for
 *   10 s (30 s with CDC_IT_LONG=1) under load: streaming goes on, the slot is
 *   confirmed no further than the store holds, the checkpoint catches up when
 *   the store returns, and a kill -9 then restarts exactly from it;
 * - after our own kill -9 while the old walsender lingers behind a blackholed
 *   connection, the restarted daemon is told "replication slot is active for
 *   PID ...", backs off until that walsender is gone, and never creates a
 *   second slot.
 * Each prints its figures (counts, outage length, RSS), and once it passed a
 * line "scenario N: PASS <figures>" that `make test` shows after ctest.
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

#include "checkpoint/ckpt.h"
#include "core/lsn.h"
#include "itlib.h"

#define LOAD_PAUSE_US 5000 /* between transactions of 5 to 35 changes */
#define WST_S         2    /* wal_sender_timeout (s) in the PostgreSQL scenarios */

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1 /* ASan's shadow memory and quarantine make RSS meaningless */
#else
#define UNDER_ASAN 0
#endif

static int
count_in(const char *text, const char *needle)
{
    int n = 0;

    for (const char *p = strstr(text, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

static bool
alive(pid_t pid)
{
    return waitpid(pid, NULL, WNOHANG) == 0;
}

static void
sleep_ms(int ms)
{
    usleep((useconds_t) ms * 1000);
}

static void
set_wal_sender_timeout(const char *value)
{
    PGconn *c = it_pg_connect(NULL);

    if (value != NULL)
        it_sql(c, "ALTER SYSTEM SET wal_sender_timeout = '%s'", value);
    else
        it_sql(c, "ALTER SYSTEM RESET wal_sender_timeout");
    free(it_sql_value(c, "SELECT pg_reload_conf()"));
    PQfinish(c);
    /* walsenders read the new value at their next loop: give them a moment */
    sleep_ms(200);
}

/* cmocka teardown: whatever happened, the shared server gets its default back. */
static int
restore_wal_sender_timeout(void **state)
{
    (void) state;
    set_wal_sender_timeout(NULL);
    return 0;
}

/* A fresh database `name` with the load's tables; the stream, checkpoint and log
 * of a previous run removed. */
static PGconn *
fresh(const char *name)
{
    PGconn *c = it_fresh_db(name);
    char ckpt[600];

    it_load_create_tables(c);
    it_stream_delete(name);
    unlink(it_daemon_log(name));
    snprintf(ckpt, sizeof(ckpt), "%s/%s.ckpt.json", it_env("CDC_IT_TMP"), name);
    unlink(ckpt);
    return c;
}

/* The walsender streaming from `slot`, or 0 when the slot is not active. */
static int
slot_pid(PGconn *c, const char *slot)
{
    char *v = it_sql_value(c,
                           "SELECT coalesce(max(active_pid), 0) FROM pg_replication_slots "
                           "WHERE slot_name = '%s' AND active",
                           slot);
    int pid = atoi(v);

    free(v);
    return pid;
}

/*
 * Wait until the stream holds all n changes (up to 60 s), then SIGTERM the
 * daemon, which must exit 0 (everything acked) within 30 s. Returns how long
 * the wait took.
 */
static int64_t
drain_and_stop(const char *name, pid_t pid, size_t n)
{
    int64_t t0 = it_now_ms(), t1;
    long got = 0;
    int code;

    while (it_now_ms() - t0 < 60000 && (got = it_stream_msg_count(name)) < (long) n)
        sleep_ms(200);
    print_message("drain: %ld of %zu events in the stream after %lld ms\n", got, n,
                  (long long) (it_now_ms() - t0));
    sleep_ms(300); /* the last acks */
    t1 = it_now_ms();
    kill(pid, SIGTERM);
    code = it_daemon_wait(pid, 30000);
    print_message("drain: the daemon exited %d %lld ms after SIGTERM\n", code,
                  (long long) (it_now_ms() - t1));
    assert_int_equal(code, 0);
    return it_now_ms() - t0;
}

/* The value of series `series` in a /metrics body; fails if absent. */
static double
metric(const char *body, const char *series)
{
    char needle[256];
    const char *p;

    snprintf(needle, sizeof(needle), "\n%s ", series);
    p = strstr(body, needle);
    if (p == NULL)
        fail_msg("no series %s in /metrics:\n%s", series, body);
    return strtod(p + strlen(needle), NULL);
}

static void
print_proxy(const struct it_proxy *px, const char *when)
{
    char *s = it_proxy_status(px);

    print_message("proxy %s: %s\n", when, s);
    free(s);
}

/*
 * Scenario 4: a partition between PostgreSQL and the daemon, longer than
 * wal_sender_timeout. Nothing crosses the proxy either way (not even the
 * walsender's close), as with packets dropped on the path. The walsender
 * times out; the daemon notices the silence by itself (no byte for
 * wal_sender_timeout, a reply requested after half of it) and tries to
 * reconnect, which hangs in the partition until connect_timeout; once the
 * path heals it streams again from its checkpoint.
 */
static void
test_partition_from_postgres_for_twice_wal_sender_timeout(void **state)
{
    const char *name = "it_fault_pgpart";
    char port[32];
    const char *extra[] = {"-X", port, NULL};
    struct it_changes made = {0};
    struct it_proxy px;
    struct it_load *load;
    int64_t t0, gone_ms = -1, noticed_ms = -1, heal, heal_ms;
    int old_wal, new_wal = 0;
    size_t at_cut, at_heal;
    PGconn *c;
    pid_t pid;
    char *log;

    (void) state;
    c = fresh(name);
    set_wal_sender_timeout(WST_S == 2 ? "2s" : "3s");
    px = it_proxy_start(atoi(it_env("CDC_IT_PGPORT")));
    snprintf(port, sizeof(port), "rds.port=%d", px.port);
    pid = it_daemon_start(name, name, extra);
    it_wait_slot_active(c, name);
    old_wal = slot_pid(c, name);
    load = it_load_start(name, 0, LOAD_PAUSE_US);
    sleep_ms(1000);

    it_proxy_mode(&px, "blackhole both");
    t0 = it_now_ms();
    at_cut = it_load_count(load);
    while (it_now_ms() - t0 < 2 * WST_S * 1000) {
        if (gone_ms < 0 && slot_pid(c, name) == 0)
            gone_ms = it_now_ms() - t0;
        if (noticed_ms < 0) {
            log = it_slurp(it_daemon_log(name));
            if (strstr(log, "nothing received for") != NULL)
                noticed_ms = it_now_ms() - t0;
            free(log);
        }
        sleep_ms(100);
    }
    at_heal = it_load_count(load);
    print_message("partition of %lld ms (wal_sender_timeout %d s); the load made %zu changes "
                  "meanwhile\n",
                  (long long) (it_now_ms() - t0), WST_S, at_heal - at_cut);
    print_proxy(&px, "before healing");
    if (gone_ms < 0)
        fail_msg("walsender %d still held the slot after %d s of partition", old_wal, 2 * WST_S);
    print_message("the walsender gave the slot up %lld ms into the partition\n",
                  (long long) gone_ms);
    /* and the daemon saw the silence by itself, without waiting for the path to heal */
    if (noticed_ms < 0)
        fail_msg("the daemon did not notice %d s of silence on its replication connection",
                 2 * WST_S);
    print_message("the daemon counted its connection as lost %lld ms into the partition\n",
                  (long long) noticed_ms);
    assert_true(alive(pid));

    it_proxy_mode(&px, "pass");
    heal = it_now_ms();
    while (it_now_ms() - heal < 30000 && (new_wal = slot_pid(c, name)) == 0)
        sleep_ms(100);
    if (new_wal == 0)
        fail_msg("the daemon did not stream again within 30 s of the heal");
    heal_ms = it_now_ms() - heal;
    print_message("the daemon streams again %lld ms after the heal (walsender %d, was %d)\n",
                  (long long) heal_ms, new_wal, old_wal);
    assert_true(new_wal != old_wal);
    sleep_ms(1000);
    it_load_stop(load, false, &made);
    drain_and_stop(name, pid, made.n);

    log = it_slurp(it_daemon_log(name));
    print_message("daemon log: %d \"streaming from\", %d \"lost the replication connection\", %d "
                  "\"retrying in\"\n",
                  count_in(log, "streaming from"), count_in(log, "lost the replication connection"),
                  count_in(log, "retrying in"));
    assert_true(count_in(log, "streaming from") >= 2);
    free(log);
    it_oracle_check(c, name, &made);
    print_message("scenario 4: PASS partition of %d ms (wal_sender_timeout %d s): walsender gone "
                  "after %lld ms, the daemon noticed after %lld ms, streamed again %lld ms after "
                  "the heal, oracle %zu changes once\n",
                  2 * WST_S * 1000, WST_S, (long long) gone_ms, (long long) noticed_ms,
                  (long long) heal_ms, made.n);
    it_changes_free(&made);
    it_proxy_stop(&px);
    PQfinish(c);
}

/*
 * Scenario 6: the daemon's publishes reach nats-server, the PubAcks do not
 * come back (blackhole down). Each unacked publish times out and is resent
 * under its Nats-Msg-Id: the server answers "duplicate" for those it had
 * stored, and the stream holds every change once.
 */
static void
test_nats_acks_blackholed_are_resent_under_the_same_ids(void **state)
{
    const char *name = "it_fault_noacks";
    char urls[64], web[32], prom[48];
    const char *extra[] = {"-X", urls, "-X", "cdc.batch_timeout=2s", "-X", web, "-X", prom, NULL};
    struct it_changes made = {0};
    struct it_proxy px;
    struct it_load *load;
    long stored0, stored1;
    int http_port = it_free_port(), status;
    double resent, dups;
    int64_t t0, hole_ms;
    char *body;
    PGconn *c;
    pid_t pid;

    (void) state;
    c = fresh(name);
    px = it_proxy_start(atoi(it_env("CDC_IT_NATS_PORT")));
    snprintf(urls, sizeof(urls), "nats.urls=nats://127.0.0.1:%d", px.port);
    snprintf(web, sizeof(web), "server.port=%d", http_port);
    snprintf(prom, sizeof(prom), "monitoring.prometheus.port=%d", http_port);
    pid = it_daemon_start(name, name, extra);
    it_wait_slot_active(c, name);
    load = it_load_start(name, 0, LOAD_PAUSE_US);
    sleep_ms(1000);

    it_proxy_mode(&px, "blackhole down");
    t0 = it_now_ms();
    stored0 = it_stream_msg_count(name);
    sleep_ms(5000);
    stored1 = it_stream_msg_count(name);
    it_proxy_mode(&px, "pass");
    hole_ms = it_now_ms() - t0;
    print_message("acks blackholed for %lld ms: the stream grew by %ld events meanwhile (their "
                  "acks lost)\n",
                  (long long) hole_ms, stored1 - stored0);
    print_proxy(&px, "after the blackhole");
    assert_true(stored1 > stored0); /* publishes did reach the server */
    assert_true(alive(pid));
    sleep_ms(1000);
    it_load_stop(load, false, &made);

    /* everything in, then the counters (refreshed on the 200 ms checkpoint tick) */
    while (it_stream_msg_count(name) < (long) made.n)
        sleep_ms(200);
    sleep_ms(500);
    body = it_http_get(http_port, "/metrics", &status);
    if (body == NULL || status != 200)
        fail_msg("GET /metrics: status %d", status);
    resent = metric(body, "cdc_publish_resent_total{source=\"it_fault_noacks\"}");
    dups = metric(body, "cdc_publish_duplicates_total{source=\"it_fault_noacks\"}");
    free(body);
    print_message("resent %.0f publishes; the server answered duplicate for %.0f\n", resent, dups);
    assert_true(resent > 0);
    assert_true(dups > 0); /* the same id again: the stream dropped the copy */
    drain_and_stop(name, pid, made.n);
    it_oracle_check(c, name, &made);
    print_message("scenario 6: PASS acks blackholed for %lld ms: %.0f publishes resent under "
                  "their ids, %.0f answered duplicate, oracle %zu changes once\n",
                  (long long) hole_ms, resent, dups, made.n);
    it_changes_free(&made);
    it_proxy_stop(&px);
    PQfinish(c);
}

/*
 * Scenario 5 (fast): NATS unreachable for 10 s (current connections reset,
 * new ones refused). Reading pauses behind the full in-flight window, RSS
 * stays flat, and once NATS is back everything drains.
 */
static void
test_nats_cut_for_ten_seconds_bounded_memory_then_drains(void **state)
{
    const char *name = "it_fault_natscut";
    const int64_t outage_ms = getenv("CDC_IT_LONG") != NULL ? 60000 : 10000;
    char urls[64];
    /* a publish whose ack was lost in the cut is resent after 3 s (default 5 s) */
    const char *extra[] = {"-X", urls, "-X", "cdc.batch_timeout=3s", NULL};
    struct it_changes made = {0};
    struct it_proxy px;
    struct it_load *load;
    long rss0, rss_max = 0, rss;
    long stored0, stored1;
    int64_t t0, heal, drained_ms;
    size_t at_cut;
    PGconn *c;
    pid_t pid;

    (void) state;
    c = fresh(name);
    px = it_proxy_start(atoi(it_env("CDC_IT_NATS_PORT")));
    snprintf(urls, sizeof(urls), "nats.urls=nats://127.0.0.1:%d", px.port);
    pid = it_daemon_start(name, name, extra);
    it_wait_slot_active(c, name);
    load = it_load_start(name, 0, LOAD_PAUSE_US);
    sleep_ms(1000);

    rss0 = it_rss_kb(pid);
    it_proxy_mode(&px, "refuse");
    it_proxy_mode(&px, "cut");
    t0 = it_now_ms();
    at_cut = it_load_count(load);
    stored0 = it_stream_msg_count(name);
    while (it_now_ms() - t0 < outage_ms) {
        sleep_ms(500);
        rss = it_rss_kb(pid);
        if (rss > rss_max)
            rss_max = rss;
    }
    stored1 = it_stream_msg_count(name);
    print_message("NATS down for %lld ms; the load made %zu changes meanwhile; the stream grew by "
                  "%ld\n",
                  (long long) (it_now_ms() - t0), it_load_count(load) - at_cut, stored1 - stored0);
    print_message("daemon VmRSS: %ld KiB before the outage, at most %ld KiB during it, %ld KiB "
                  "at its end%s\n",
                  rss0, rss_max, it_rss_kb(pid), UNDER_ASAN ? " (ASan build: not checked)" : "");
    assert_true(alive(pid));
    if (!UNDER_ASAN && rss_max - rss0 > 32 * 1024)
        fail_msg("RSS grew by %ld KiB while NATS was down", rss_max - rss0);

    it_proxy_mode(&px, "pass");
    heal = it_now_ms();
    sleep_ms(1000);
    it_load_stop(load, false, &made);
    drain_and_stop(name, pid, made.n);
    drained_ms = it_now_ms() - heal;
    print_message("NATS back: drained %zu changes %lld ms after it returned\n", made.n,
                  (long long) drained_ms);
    print_proxy(&px, "at the end");
    it_oracle_check(c, name, &made);
    print_message("scenario 5: PASS NATS down %lld ms under load: VmRSS %ld KiB before, at most "
                  "%ld KiB during it%s; drained %lld ms after its return, oracle %zu changes "
                  "once\n",
                  (long long) outage_ms, rss0, rss_max, UNDER_ASAN ? " (ASan: not checked)" : "",
                  (long long) drained_ms, made.n);
    it_changes_free(&made);
    it_proxy_stop(&px);
    PQfinish(c);
}

/*
 * Scenario 11: SIGTERM while NATS is down under load. Publishing has stopped (nothing new is
 * sent after a lost connection), so the daemon must exit within server.grace_period (status
 * 1 if publishes stay unacknowledged, else 0), having confirmed nothing past what JetStream
 * acknowledged. Restarted once NATS is back, it delivers everything once.
 */
static void
test_sigterm_while_nats_is_down_exits_within_the_grace_period(void **state)
{
    const char *name = "it_fault_termdown";
    char urls[64];
    const char *extra[] = {"-X", urls, "-X", "cdc.batch_timeout=2s", "-X", "server.grace_period=3s",
                           NULL};
    struct it_changes made = {0};
    struct it_proxy px;
    struct it_load *load;
    uint64_t confirmed, acked_max = 0;
    struct it_msgs ms;
    int64_t t0, took;
    PGconn *c;
    pid_t pid;
    int code;

    (void) state;
    c = fresh(name);
    px = it_proxy_start(atoi(it_env("CDC_IT_NATS_PORT")));
    snprintf(urls, sizeof(urls), "nats.urls=nats://127.0.0.1:%d", px.port);
    pid = it_daemon_start(name, name, extra);
    it_wait_slot_active(c, name);
    load = it_load_start(name, 0, LOAD_PAUSE_US);
    sleep_ms(1500);
    it_proxy_mode(&px, "refuse");
    it_proxy_mode(&px, "cut");
    sleep_ms(5000); /* the in-flight acks time out (2 s): publishing is blocked */
    t0 = it_now_ms();
    kill(pid, SIGTERM);
    code = it_daemon_wait(pid, 30000);
    took = it_now_ms() - t0;
    print_message("SIGTERM with NATS down: exit %d after %lld ms (grace period 3000 ms)\n", code,
                  (long long) took);
    /* 1 when publishes were in flight at the cut and stay unacknowledged, 0 when the cut came
       between acks (nothing outstanding in JetStream); either way within the grace period */
    if ((code != 0 && code != 1) || took >= 3000 + 2000) {
        char *log = it_slurp(it_daemon_log(name));

        for (char *l = strtok(log, "\n"); l != NULL; l = strtok(NULL, "\n"))
            if (strstr(l, "\"level\":\"info\"") == NULL)
                print_message("%s\n", l);
        fail_msg("exit %d after %lld ms", code, (long long) took);
    }
    it_load_stop(load, false, &made);

    /* what was confirmed, against what the stream holds */
    confirmed = it_slot_confirmed(c, name);
    it_read_stream(name, &ms);
    for (int i = 0; i < ms.n; i++) {
        char *meta = it_json_member(ms.v[i].data, "metadata");
        char *cl = meta != NULL ? it_json_member(meta, "commit_lsn") : NULL;
        cdc_lsn l = 0;

        if (cl != NULL) {
            cl[strlen(cl) - 1] = '\0';
            if (cdc_lsn_parse(cl + 1, &l) && l > acked_max)
                acked_max = l;
        }
        free(cl);
        free(meta);
    }
    print_message("stream: %d events before the restart, last commit %llX, slot confirmed %llX\n",
                  ms.n, (unsigned long long) acked_max, (unsigned long long) confirmed);
    it_msgs_free(&ms);
    /* confirmed is the end of the last acknowledged transaction's commit record, so a little
       past its commit_lsn; had it passed an unpublished transaction, the restart below would
       skip it and the oracle would find changes missing */

    it_proxy_mode(&px, "pass");
    pid = it_daemon_start(name, name, extra);
    drain_and_stop(name, pid, made.n);
    it_oracle_check(c, name, &made);
    print_message("scenario 11: PASS SIGTERM with NATS down: exit %d after %lld ms (grace period "
                  "3000 ms); slot confirmed " CDC_LSN_FMT ", last commit in the stream " CDC_LSN_FMT
                  "; after a restart, oracle %zu changes once\n",
                  code, (long long) took, CDC_LSN_ARGS(confirmed), CDC_LSN_ARGS(acked_max), made.n);
    it_changes_free(&made);
    it_proxy_stop(&px);
    PQfinish(c);
}

/*
 * Scenario 3: PostgreSQL restarted under load, first with a fast shutdown, then with an
 * immediate one (a crash: the slot's position on disk may be older than what was
 * confirmed). The daemon loses its connection, retries with backoff, streams again from its
 * checkpoint; the load reconnects too (a COMMIT lost with the connection is looked up, and run
 * again if it did not commit). The oracle checks everything at the end.
 */
static void
test_postgres_fast_and_immediate_restarts_under_load(void **state)
{
    const char *name = "it_fault_pgrestart";
    /* the load's transaction log stays out of the publication */
    const char *extra[] = {"-X", "cdc.table_filters=public.accounts,public.orders,public.audit_log",
                           NULL};
    struct it_changes made = {0};
    struct it_load *load;
    const char *modes[2] = {"fast", "immediate"};
    int64_t back_ms[2];
    int reconnects;
    PGconn *c;
    pid_t pid;

    (void) state;
    c = fresh(name);
    PQfinish(c);
    pid = it_daemon_start(name, name, extra);
    c = it_pg_connect(name);
    it_wait_slot_active(c, name);
    PQfinish(c);
    load = it_load_start_resilient(name, 0, LOAD_PAUSE_US);
    for (int i = 0; i < 2; i++) {
        size_t before;
        int64_t t0;

        sleep_ms(1500);
        before = it_load_count(load);
        t0 = it_now_ms();
        it_pg_restart(modes[i]);
        print_message("PostgreSQL restarted (-m %s) in %lld ms, %zu changes made before\n",
                      modes[i], (long long) (it_now_ms() - t0), before);
        assert_true(alive(pid));
        c = it_pg_connect(name);
        it_wait_slot_active(c, name);
        PQfinish(c);
        back_ms[i] = it_now_ms() - t0;
        print_message("the daemon streams again %lld ms after the restart began\n",
                      (long long) back_ms[i]);
    }
    sleep_ms(1500);
    reconnects = it_load_reconnects(load);
    print_message("the load reconnected %d times\n", reconnects);
    it_load_stop(load, false, &made);
    drain_and_stop(name, pid, made.n);
    c = it_pg_connect(name);
    it_oracle_check(c, name, &made);
    print_message("scenario 3: PASS PostgreSQL restarted under load: streaming again %lld ms "
                  "after a fast restart began, %lld ms after an immediate (crash) one; the load "
                  "reconnected %d times; oracle %zu changes once\n",
                  (long long) back_ms[0], (long long) back_ms[1], reconnects, made.n);
    it_changes_free(&made);
    PQfinish(c);
}

/*
 * Scenario 2: the daemon is killed while a transaction is open, another one commits in
 * between, the daemon is restarted, then the open one commits: both arrive once, in commit
 * order.
 */
static void
test_restart_inside_an_open_transaction(void **state)
{
    const char *name = "it_fault_opentx";
    const char *idle[] = {"--exit-when-idle", "1500", NULL};
    PGconn *c, *open_tx;
    struct it_msgs ms;
    pid_t pid;

    (void) state;
    c = fresh(name);
    pid = it_daemon_start(name, name, NULL);
    it_wait_slot_active(c, name);
    open_tx = it_pg_connect(name);
    it_sql(open_tx, "BEGIN");
    it_sql(open_tx, "INSERT INTO accounts SELECT g, g FROM generate_series(1, 500) g");
    it_sql(c, "INSERT INTO orders VALUES (1, 1)"); /* commits while the other is open */
    assert_int_equal(it_wait_stream_count(name, 1, 20000), 1);
    kill(pid, SIGKILL);
    assert_int_equal(it_daemon_wait(pid, 10000), -1);
    it_sql(open_tx, "INSERT INTO accounts SELECT g, g FROM generate_series(501, 1000) g");
    it_sql(c, "INSERT INTO orders VALUES (2, 2)");
    pid = it_daemon_start(name, name, idle);
    it_wait_slot_active(c, name);
    it_sql(open_tx, "COMMIT");
    it_sql(c, "INSERT INTO orders VALUES (3, 3)");
    assert_int_equal(it_daemon_wait(pid, 60000), 0);
    it_read_stream(name, &ms);
    print_message("stream: %d events\n", ms.n);
    assert_int_equal(ms.n, 1003);
    /* commit order: orders 1, orders 2, the 1000 accounts rows in order, orders 3 */
    assert_non_null(strstr(ms.v[0].data, "\"after\":{\"id\":1,\"v\":1}"));
    assert_non_null(strstr(ms.v[1].data, "\"after\":{\"id\":2,\"v\":2}"));
    for (int i = 0; i < 1000; i++) {
        char want[64];

        snprintf(want, sizeof(want), "\"after\":{\"id\":%d,\"v\":%d}", i + 1, i + 1);
        if (strstr(ms.v[2 + i].data, want) == NULL || strstr(ms.v[2 + i].data, "accounts") == NULL)
            fail_msg("event %d is not accounts row %d: %s", 2 + i, i + 1, ms.v[2 + i].data);
    }
    assert_non_null(strstr(ms.v[1002].data, "\"after\":{\"id\":3,\"v\":3}"));
    print_message("scenario 2: PASS kill -9 with a 1000-row transaction open and another "
                  "committing in between: %d events after the restart, each once, in commit "
                  "order\n",
                  ms.n);
    it_msgs_free(&ms);
    PQfinish(open_tx);
    PQfinish(c);
}

/* The position the checkpoint store at url holds (0 when it holds none); fails if unreadable. */
static cdc_lsn
store_lsn(const char *url)
{
    struct ckpt_store *s = NULL;
    struct ckpt_record rec;
    struct cdc_err err;
    bool found = false;

    memset(&rec, 0, sizeof(rec));
    if (ckpt_open(&s, url, NULL, &err) != CDC_OK || ckpt_load(s, &rec, &found, &err) != CDC_OK)
        fail_msg("could not read checkpoint %s: %s", url, err.msg);
    ckpt_close(s);
    return found ? rec.lsn : 0;
}

/* cdc_events_acked_total of source `name` from the daemon's /metrics on port. */
static double
acked_of(int port, const char *name)
{
    char series[128];
    int status;
    char *body = it_http_get(port, "/metrics", &status);
    double v;

    if (body == NULL || status != 200)
        fail_msg("GET /metrics: status %d", status);
    snprintf(series, sizeof(series), "cdc_events_acked_total{source=\"%s\"}", name);
    v = metric(body, series);
    free(body);
    return v;
}

/* The number of "streaming from" lines in the daemon's log for name. */
static int
starts_of(const char *name)
{
    char *log = it_slurp(it_daemon_log(name));
    int n = count_in(log, "streaming from ");

    free(log);
    return n;
}

/* The position of the n-th "streaming from X/Y" line (from 1) in the daemon's log for name, once
 * there is one (up to 30 s). */
static cdc_lsn
nth_start(const char *name, int n)
{
    int64_t t0 = it_now_ms();
    char *log, *p = NULL, lsn[32] = "";
    cdc_lsn l = 0;

    while (starts_of(name) < n && it_now_ms() - t0 < 30000)
        sleep_ms(100);
    log = it_slurp(it_daemon_log(name));
    for (char *q = strstr(log, "streaming from "); q != NULL && n > 0;
         q = strstr(q + 1, "streaming from "), n--)
        p = q;
    if (p != NULL)
        sscanf(p + strlen("streaming from "), "%31[0-9A-Fa-f/]", lsn);
    free(log);
    if (!cdc_lsn_parse(lsn, &l))
        fail_msg("no \"streaming from\" position in the log of %s", name);
    return l;
}

/*
 * Scenario 7: the checkpoint store (a Redis of the test's own, without
 * persistence) stopped for 10 s (30 s with CDC_IT_LONG=1) under load.
 * Streaming goes on: events are published and acked all through the outage.
 * Nothing is confirmed to PostgreSQL past what the store held when it went
 * away (the slot's confirmed_flush_lsn, sampled all along, never passes it).
 * When the store returns (empty), the breaker's probe writes the current safe
 * position and the slot follows. Then the daemon is killed (-9) and restarted
 * once: it starts exactly from the checkpoint written after the outage, and
 * the oracle finds every change once, in order per key.
 */
static void
test_checkpoint_store_down_under_load_streams_on_and_confirms_nothing_past_it(void **state)
{
    const char *name = "it_fault_ckptdown";
    const int64_t outage_ms = getenv("CDC_IT_LONG") != NULL ? 30000 : 10000;
    char dir[512], url[128], x_ckpt[160], web[32], prom[48];
    const char *extra[] = {"-X", x_ckpt, "-X", web, "-X", prom, NULL};
    int http_port = it_free_port(), rport = it_free_port();
    struct it_changes made = {0};
    struct it_load *load;
    cdc_lsn held, confirmed, confirmed0, confirmed_max = 0, wal_end, after, slot_after = 0, start;
    double acked0, acked_mid = 0, acked1;
    int64_t t0, back, t_ckpt = -1, t_slot = -1;
    size_t at_cut, at_back;
    pid_t redis, pid;
    int starts;
    PGconn *c;

    (void) state;
    c = fresh(name);
    snprintf(dir, sizeof(dir), "%s/%s_redis", it_env("CDC_IT_TMP"), name);
    redis = it_redis_start(dir, rport);
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d?key=%s", rport, name);
    snprintf(x_ckpt, sizeof(x_ckpt), "cdc.checkpoint_storage=%s", url);
    snprintf(web, sizeof(web), "server.port=%d", http_port);
    snprintf(prom, sizeof(prom), "monitoring.prometheus.port=%d", http_port);
    pid = it_daemon_start(name, name, extra);
    it_wait_slot_active(c, name);
    load = it_load_start(name, 0, LOAD_PAUSE_US);
    sleep_ms(1500);

    /* the daemon held still while the store is read and stopped: what it holds is then the
       last position the daemon can ever have been told is durable */
    it_freeze(pid);
    held = store_lsn(url);
    it_pid_stop(redis);
    kill(pid, SIGCONT);
    assert_true(held != 0);
    t0 = it_now_ms();
    at_cut = it_load_count(load);
    acked0 = acked_of(http_port, name);
    confirmed0 = it_slot_confirmed(c, name);
    while (it_now_ms() - t0 < outage_ms) {
        sleep_ms(500);
        confirmed = it_slot_confirmed(c, name);
        if (confirmed > confirmed_max)
            confirmed_max = confirmed;
        if (confirmed > held)
            fail_msg("the slot was confirmed at " CDC_LSN_FMT " %lld ms into the outage, past "
                     "the " CDC_LSN_FMT " the store held",
                     CDC_LSN_ARGS(confirmed), (long long) (it_now_ms() - t0), CDC_LSN_ARGS(held));
        if (acked_mid == 0 && it_now_ms() - t0 >= outage_ms / 2)
            acked_mid = acked_of(http_port, name);
    }
    acked1 = acked_of(http_port, name);
    {
        char *v = it_sql_value(c, "SELECT pg_current_wal_lsn()");

        assert_true(v != NULL && cdc_lsn_parse(v, &wal_end));
        free(v);
    }
    at_back = it_load_count(load);
    print_message("checkpoint store down for %lld ms: the load made %zu changes, %.0f events "
                  "acked (%.0f in the second half); the store held " CDC_LSN_FMT
                  ", the slot was at " CDC_LSN_FMT " then at most " CDC_LSN_FMT " while the WAL "
                  "reached " CDC_LSN_FMT "\n",
                  (long long) (it_now_ms() - t0), at_back - at_cut, acked1 - acked0,
                  acked1 - acked_mid, CDC_LSN_ARGS(held), CDC_LSN_ARGS(confirmed0),
                  CDC_LSN_ARGS(confirmed_max), CDC_LSN_ARGS(wal_end));
    assert_true(alive(pid));
    /* streaming went on through the outage, to its end, not only until the breaker opened */
    assert_true(acked_mid > acked0);
    assert_true(acked1 > acked_mid);

    /* the store returns, empty: the next probe writes the safe position, the slot follows */
    redis = it_redis_start(dir, rport);
    back = it_now_ms();
    while (it_now_ms() - back < 30000 && (t_ckpt < 0 || t_slot < 0)) {
        if (t_ckpt < 0 && (after = store_lsn(url)) > wal_end)
            t_ckpt = it_now_ms() - back;
        if (t_slot < 0 && (slot_after = it_slot_confirmed(c, name)) > wal_end)
            t_slot = it_now_ms() - back;
        sleep_ms(100);
    }
    if (t_ckpt < 0 || t_slot < 0)
        fail_msg("30 s after the store returned: checkpoint " CDC_LSN_FMT ", slot " CDC_LSN_FMT
                 ", not past the outage's " CDC_LSN_FMT,
                 CDC_LSN_ARGS(store_lsn(url)), CDC_LSN_ARGS(slot_after), CDC_LSN_ARGS(wal_end));
    print_message("store back: a checkpoint past the outage written after %lld ms, the slot "
                  "confirmed past it after %lld ms\n",
                  (long long) t_ckpt, (long long) t_slot);

    /* kill -9, then one restart: it must start exactly where the store says */
    sleep_ms(1000);
    it_freeze(pid);
    after = store_lsn(url);
    kill(pid, SIGKILL);
    assert_int_equal(it_daemon_wait(pid, 10000), -1);
    starts = starts_of(name);
    pid = it_daemon_start(name, name, extra);
    it_wait_slot_active(c, name);
    start = nth_start(name, starts + 1);
    print_message("after kill -9 the restarted daemon streams from " CDC_LSN_FMT
                  ", the checkpoint in the store " CDC_LSN_FMT "\n",
                  CDC_LSN_ARGS(start), CDC_LSN_ARGS(after));
    assert_true(start == after);
    sleep_ms(1000);
    it_load_stop(load, false, &made);
    drain_and_stop(name, pid, made.n);
    it_oracle_check(c, name, &made);
    print_message("scenario 7: PASS store down %lld ms under load, %.0f events acked meanwhile, "
                  "slot held at or below the stored " CDC_LSN_FMT
                  ", checkpoint written %lld ms and slot confirmed %lld ms after the store "
                  "returned, restart from it after kill -9, oracle %zu changes once\n",
                  (long long) outage_ms, acked1 - acked0, CDC_LSN_ARGS(held), (long long) t_ckpt,
                  (long long) t_slot, made.n);
    it_changes_free(&made);
    it_pid_stop(redis);
    PQfinish(c);
}

static int
slots_of(PGconn *c, const char *db)
{
    char *v =
        it_sql_value(c, "SELECT count(*) FROM pg_replication_slots WHERE database = '%s'", db);
    int n = atoi(v);

    free(v);
    return n;
}

/*
 * kill -9 of the daemon while its replication connection sits behind a
 * blackholed path: PostgreSQL never sees the close, so the old walsender
 * keeps the slot until wal_sender_timeout. The daemon restarted (by a direct
 * path) is refused with "replication slot ... is active for PID <old>", backs
 * off, and takes the slot over once the walsender is gone; never a second
 * slot.
 */
static void
test_slot_held_by_lingering_walsender_after_kill9_is_waited_for(void **state)
{
    const char *name = "it_fault_linger";
    char port[32], needle[96];
    const char *extra[] = {"-X", port, NULL};
    struct it_changes made = {0};
    struct it_proxy px;
    struct it_load *load;
    int old_wal, cur = 0, max_slots = 0;
    int64_t t0;
    PGconn *c;
    pid_t pid;
    char *log;

    (void) state;
    c = fresh(name);
    set_wal_sender_timeout(WST_S == 2 ? "2s" : "3s");
    px = it_proxy_start(atoi(it_env("CDC_IT_PGPORT")));
    snprintf(port, sizeof(port), "rds.port=%d", px.port);
    pid = it_daemon_start(name, name, extra);
    it_wait_slot_active(c, name);
    old_wal = slot_pid(c, name);
    load = it_load_start(name, 0, LOAD_PAUSE_US);
    sleep_ms(1000);

    it_proxy_mode(&px, "blackhole both");
    kill(pid, SIGKILL);
    assert_int_equal(it_daemon_wait(pid, 10000), -1);
    t0 = it_now_ms();
    pid = it_daemon_start(name, name, NULL); /* straight to PostgreSQL */
    while (it_now_ms() - t0 < 30000) {
        int n = slots_of(c, name);

        if (n > max_slots)
            max_slots = n;
        cur = slot_pid(c, name);
        if (cur != 0 && cur != old_wal)
            break;
        sleep_ms(100);
    }
    print_message("restarted daemon streams %lld ms after the kill (walsender %d, the old one "
                  "%d, wal_sender_timeout %d s)\n",
                  (long long) (it_now_ms() - t0), cur, old_wal, WST_S);
    assert_true(cur != 0 && cur != old_wal);
    assert_int_equal(max_slots, 1);
    sleep_ms(1000);
    it_load_stop(load, false, &made);
    drain_and_stop(name, pid, made.n);
    assert_int_equal(slots_of(c, name), 1);

    log = it_slurp(it_daemon_log(name));
    snprintf(needle, sizeof(needle), "is active for PID %d", old_wal);
    print_message("daemon log: %d \"%s\" lines, %d \"retrying in\"\n", count_in(log, needle),
                  needle, count_in(log, "retrying in"));
    if (count_in(log, needle) < 1)
        fail_msg("the restarted daemon never reported the slot held by PID %d", old_wal);
    free(log);
    it_oracle_check(c, name, &made);
    it_changes_free(&made);
    it_proxy_stop(&px);
    PQfinish(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_partition_from_postgres_for_twice_wal_sender_timeout,
                                  restore_wal_sender_timeout),
        cmocka_unit_test(test_nats_acks_blackholed_are_resent_under_the_same_ids),
        cmocka_unit_test(test_nats_cut_for_ten_seconds_bounded_memory_then_drains),
        cmocka_unit_test(test_sigterm_while_nats_is_down_exits_within_the_grace_period),
        cmocka_unit_test(test_restart_inside_an_open_transaction),
        cmocka_unit_test(
            test_checkpoint_store_down_under_load_streams_on_and_confirms_nothing_past_it),
        cmocka_unit_test(test_postgres_fast_and_immediate_restarts_under_load),
        cmocka_unit_test_teardown(test_slot_held_by_lingering_walsender_after_kill9_is_waited_for,
                                  restore_wal_sender_timeout),
    };

    /* CDC_IT_FILTER=test_nats* runs some of them only */
    if (getenv("CDC_IT_FILTER") != NULL)
        cmocka_set_test_filter(getenv("CDC_IT_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
