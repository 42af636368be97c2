/*
 * it_pgstream.c - large transactions on PostgreSQL 15 with pgoutput protocol
 * 2 and `streaming 'on'` (issue 6 section 4; fault scenario 8). Each test's
 * database has logical_decoding_work_mem = 64kB (ALTER DATABASE: the
 * walsender of a database connection takes it), so the server streams every
 * transaction above that size in chunks while it runs, and
 * pg_stat_replication_slots.stream_count shows that it did.
 * - a streamed transaction is published only after its COMMIT, exactly once,
 *   in order, all under its commit LSN; its spill file sits in cdc.spill_dir
 *   (an open, already unlinked file of the daemon) and is gone afterwards;
 * - a streamed transaction rolled back publishes nothing;
 * - two streamed transactions interleaved, and a small one committing in
 *   between: published in commit order, each whole;
 * - subtransactions rolled back (ROLLBACK TO, nested savepoints, a PL/pgSQL
 *   loop of EXCEPTION blocks) drop exactly their rows;
 * - kill -9 while a streamed transaction is open, and again right after its
 *   commit, under the oracle's load: every change exactly once;
 * - scenario 8: one transaction of 300k rows (5M with CDC_IT_LONG=1, as
 *   `make test-faults` runs it), the daemon's RSS sampled throughout; the
 *   peak is printed and must stay <= 64 MiB (not checked under ASan).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "itlib.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1 /* ASan's shadow memory and quarantine make RSS meaningless */
#else
#define UNDER_ASAN 0
#endif

#define RSS_LIMIT_KB (64 * 1024)

static void
sleep_ms(int ms)
{
    usleep((useconds_t) ms * 1000);
}

/* A fresh database `name` that streams above 64kB, without stream, checkpoint or log of an
 * earlier run; *spill_arg is "cdc.spill_dir=<a new directory>". */
static PGconn *
fresh(const char *name, char *spill_arg, size_t cap)
{
    PGconn *c = it_fresh_db(name);
    char path[600];

    it_sql(c, "ALTER DATABASE %s SET logical_decoding_work_mem = '64kB'", name);
    it_stream_delete(name);
    unlink(it_daemon_log(name));
    snprintf(path, sizeof(path), "%s/%s.ckpt.json", it_env("CDC_IT_TMP"), name);
    unlink(path);
    snprintf(path, sizeof(path), "%s/spill-%s", it_env("CDC_IT_TMP"), name);
    mkdir(path, 0700);
    snprintf(spill_arg, cap, "cdc.spill_dir=%s", path);
    return c;
}

/* The chunks the server streamed from the slot so far. */
static long
stream_count(PGconn *c, const char *slot)
{
    char *v = it_sql_value(c,
                           "SELECT coalesce(sum(stream_count), 0) FROM pg_stat_replication_slots "
                           "WHERE slot_name = '%s'",
                           slot);
    long n = atol(v);

    free(v);
    return n;
}

/* Wait (up to 30 s) until the server streamed more than `above` chunks; returns the count. */
static long
wait_streamed(PGconn *c, const char *slot, long above)
{
    long n = 0;

    for (int i = 0; i < 300 && (n = stream_count(c, slot)) <= above; i++)
        sleep_ms(100);
    if (n <= above)
        fail_msg("the server never streamed a transaction from slot %s", slot);
    return n;
}

/* Spill files the daemon holds open in directory spill (its already unlinked files). */
static int
open_spills(pid_t pid, const char *spill_arg)
{
    const char *dir = strchr(spill_arg, '=') + 1;
    char fds[64], link[1200], target[1200];
    struct dirent *e;
    int n = 0;
    DIR *d;

    snprintf(fds, sizeof(fds), "/proc/%d/fd", (int) pid);
    d = opendir(fds);
    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL) {
        ssize_t k;

        snprintf(link, sizeof(link), "%s/%s", fds, e->d_name);
        k = readlink(link, target, sizeof(target) - 1);
        if (k <= 0)
            continue;
        target[k] = '\0';
        if (strncmp(target, dir, strlen(dir)) == 0 && strstr(target, "/cdc-handler-spill.") &&
            strstr(target, "(deleted)"))
            n++;
    }
    closedir(d);
    return n;
}

/* Files in the spill directory (a crash leaves none: they are unlinked once open). */
static int
dir_entries(const char *spill_arg)
{
    DIR *d = opendir(strchr(spill_arg, '=') + 1);
    struct dirent *e;
    int n = 0;

    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* One event of a stream, as the tests need it. */
struct ev {
    char table[32];
    char op; /* 'I', 'U', 'D' */
    int id;
    char commit[24]; /* the commit LSN part of event_id */
    unsigned seq;    /* its sequence part */
};

static int
member_int(const char *json, const char *key)
{
    char *v = it_json_member(json, key);
    int n;

    if (v == NULL)
        fail_msg("no %s in %s", key, json);
    n = atoi(v);
    free(v);
    return n;
}

/* Every event of the stream of `name`, in stream order; *n of them. */
static struct ev *
read_events(const char *name, int *n)
{
    struct it_msgs ms;
    struct ev *v;

    it_read_stream(name, &ms);
    v = calloc((size_t) ms.n + 1, sizeof(*v));
    assert_non_null(v);
    for (int i = 0; i < ms.n; i++) {
        const char *d = ms.v[i].data, *id = ms.v[i].msg_id;
        char *table = it_json_member(d, "table"), *op = it_json_member(d, "operation");
        char *row =
            it_json_member(d, op != NULL && strcmp(op, "\"DELETE\"") == 0 ? "before" : "after");
        size_t len = id != NULL ? strlen(id) : 0;

        if (table == NULL || op == NULL || row == NULL || len < 26)
            fail_msg("not a change event: %s", d);
        snprintf(v[i].table, sizeof(v[i].table), "%.*s", (int) strlen(table) - 2, table + 1);
        v[i].op = op[1];
        v[i].id = member_int(row, "id");
        /* <source>-<16 hex digits>-<8 hex digits> */
        snprintf(v[i].commit, sizeof(v[i].commit), "%.16s", id + len - 25);
        v[i].seq = (unsigned) strtoul(id + len - 8, NULL, 16);
        free(table);
        free(op);
        free(row);
    }
    *n = ms.n;
    it_msgs_free(&ms);
    return v;
}

/* Wait until the stream holds n events, then 1 s more for any extra; returns the count. */
static long
settle(const char *name, long n, int timeout_ms)
{
    int64_t t0 = it_now_ms();
    long got = 0;

    while (it_now_ms() - t0 < timeout_ms && (got = it_stream_msg_count(name)) < n)
        sleep_ms(100);
    sleep_ms(1000);
    return it_stream_msg_count(name);
}

/* The RssAnon and RssFile lines of pid's /proc status, for the log. */
static void
print_rss_parts(pid_t pid)
{
    char path[64], line[256];
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
    f = fopen(path, "r");
    if (f == NULL)
        return;
    while (fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, "RssAnon:", 8) == 0 || strncmp(line, "RssFile:", 8) == 0 ||
            strncmp(line, "Threads:", 8) == 0)
            print_message("huge transaction: %s", line);
    fclose(f);
}

static void
stop_daemon(pid_t pid)
{
    kill(pid, SIGTERM);
    assert_int_equal(it_daemon_wait(pid, 30000), 0);
}

/*
 * Events v[from, from + n) are one transaction: one commit LSN, sequences 0..n-1 in order, of
 * table `table`, with operation op and ids first, first + step, ...
 */
static void
expect_run(const struct ev *v, int from, int n, const char *table, char op, int first, int step)
{
    for (int i = 0; i < n; i++) {
        const struct ev *e = &v[from + i];

        if (strcmp(e->table, table) != 0 || e->op != op || e->id != first + i * step)
            fail_msg("event %d: %s %c id %d, want %s %c id %d", from + i, e->table, e->op, e->id,
                     table, op, first + i * step);
        if (strcmp(e->commit, v[from].commit) != 0)
            fail_msg("event %d: commit %s, the transaction's first event has %s", from + i,
                     e->commit, v[from].commit);
    }
}

/* v[from, from + n): one transaction, numbered 0..n-1 in order. */
static void
expect_seqs(const struct ev *v, int from, int n)
{
    for (int i = 0; i < n; i++) {
        if (v[from + i].seq != (unsigned) i)
            fail_msg("event %d: sequence %u, want %d", from + i, v[from + i].seq, i);
        if (strcmp(v[from + i].commit, v[from].commit) != 0)
            fail_msg("event %d: commit %s, want %s", from + i, v[from + i].commit, v[from].commit);
    }
}

static void
test_streamed_transaction_is_published_once_in_order_after_commit(void **state)
{
    const char *name = "it_strm_commit";
    char spill[700];
    const char *extra[] = {"-X", spill, NULL};
    PGconn *c, *w;
    struct ev *v;
    long chunks;
    int n;
    pid_t pid;

    (void) state;
    c = fresh(name, spill, sizeof(spill));
    it_sql(c, "CREATE TABLE big (id int PRIMARY KEY, pad text)");
    pid = it_daemon_start(name, name, extra);
    it_wait_slot_active(c, name);
    w = it_pg_connect(name);
    it_sql(w, "BEGIN");
    it_sql(w, "INSERT INTO big SELECT g, repeat('x', 200) FROM generate_series(1, 10000) g");
    chunks = wait_streamed(c, name, 0);
    it_sql(w, "UPDATE big SET pad = 'y' WHERE id <= 100");
    it_sql(w, "DELETE FROM big WHERE id > 9900");
    sleep_ms(1000);
    print_message("before COMMIT: %ld chunks streamed, %ld events in the stream, %d spill "
                  "file(s) open\n",
                  stream_count(c, name), it_stream_msg_count(name), open_spills(pid, spill));
    assert_true(chunks > 0);
    assert_int_equal(it_stream_msg_count(name), 0);
    assert_int_equal(open_spills(pid, spill), 1);
    it_sql(w, "COMMIT");

    assert_int_equal(settle(name, 10200, 60000), 10200);
    v = read_events(name, &n);
    assert_int_equal(n, 10200);
    expect_run(v, 0, 10000, "big", 'I', 1, 1);
    expect_run(v, 10000, 100, "big", 'U', 1, 1);
    expect_run(v, 10100, 100, "big", 'D', 9901, 1);
    expect_seqs(v, 0, 10200);
    assert_int_equal(open_spills(pid, spill), 0);
    print_message("published %d events after COMMIT, one transaction (commit %s), in order\n", n,
                  v[0].commit);
    free(v);
    stop_daemon(pid);
    PQfinish(w);
    PQfinish(c);
}

static void
test_streamed_transaction_rolled_back_publishes_nothing(void **state)
{
    const char *name = "it_strm_abort";
    char spill[700];
    const char *extra[] = {"-X", spill, NULL};
    PGconn *c, *w;
    struct ev *v;
    int n, open_before;
    pid_t pid;

    (void) state;
    c = fresh(name, spill, sizeof(spill));
    it_sql(c, "CREATE TABLE big (id int PRIMARY KEY, pad text)");
    pid = it_daemon_start(name, name, extra);
    it_wait_slot_active(c, name);
    w = it_pg_connect(name);
    it_sql(w, "BEGIN");
    it_sql(w, "INSERT INTO big SELECT g, repeat('x', 200) FROM generate_series(1, 10000) g");
    wait_streamed(c, name, 0);
    sleep_ms(500);
    open_before = open_spills(pid, spill);
    it_sql(w, "ROLLBACK");
    it_sql(c, "INSERT INTO big VALUES (-1, 'after the rollback')");
    assert_int_equal(settle(name, 1, 30000), 1);
    v = read_events(name, &n);
    assert_int_equal(n, 1);
    expect_run(v, 0, 1, "big", 'I', -1, 1);
    print_message("rolled back after %ld chunks: %d event(s) published (the later insert), spill "
                  "files open before/after: %d/%d\n",
                  stream_count(c, name), n, open_before, open_spills(pid, spill));
    assert_int_equal(open_before, 1);
    assert_int_equal(open_spills(pid, spill), 0);
    free(v);
    stop_daemon(pid);
    PQfinish(w);
    PQfinish(c);
}

static void
test_interleaved_streamed_transactions_publish_in_commit_order(void **state)
{
    const char *name = "it_strm_inter";
    char spill[700];
    const char *extra[] = {"-X", spill, NULL};
    PGconn *c, *wa, *wb;
    struct ev *v;
    int n;
    pid_t pid;

    (void) state;
    c = fresh(name, spill, sizeof(spill));
    it_sql(c, "CREATE TABLE a (id int PRIMARY KEY, pad text)");
    it_sql(c, "CREATE TABLE b (id int PRIMARY KEY, pad text)");
    pid = it_daemon_start(name, name, extra);
    it_wait_slot_active(c, name);
    wa = it_pg_connect(name);
    wb = it_pg_connect(name);
    it_sql(wa, "BEGIN");
    it_sql(wb, "BEGIN");
    for (int k = 0; k < 5; k++) {
        it_sql(wa, "INSERT INTO a SELECT g, repeat('a', 200) FROM generate_series(%d, %d) g",
               k * 2000 + 1, k * 2000 + 2000);
        it_sql(wb, "INSERT INTO b SELECT g, repeat('b', 200) FROM generate_series(%d, %d) g",
               k * 2000 + 1, k * 2000 + 2000);
        if (k == 2)
            it_sql(c, "INSERT INTO a VALUES (-1, 'small, committed in between')");
    }
    wait_streamed(c, name, 1);
    assert_int_equal(settle(name, 1, 30000), 1);
    assert_int_equal(open_spills(pid, spill), 2);
    it_sql(wb, "COMMIT");
    it_sql(wa, "COMMIT");
    assert_int_equal(settle(name, 20001, 60000), 20001);
    v = read_events(name, &n);
    assert_int_equal(n, 20001);
    expect_run(v, 0, 1, "a", 'I', -1, 1);
    expect_run(v, 1, 10000, "b", 'I', 1, 1);
    expect_seqs(v, 1, 10000);
    expect_run(v, 10001, 10000, "a", 'I', 1, 1);
    expect_seqs(v, 10001, 10000);
    assert_true(strcmp(v[0].commit, v[1].commit) < 0 && strcmp(v[1].commit, v[10001].commit) < 0);
    print_message("interleaved: %ld chunks; published the small one (%s), then b (%s), then a "
                  "(%s), each whole\n",
                  stream_count(c, name), v[0].commit, v[1].commit, v[10001].commit);
    assert_int_equal(open_spills(pid, spill), 0);
    free(v);
    stop_daemon(pid);
    PQfinish(wa);
    PQfinish(wb);
    PQfinish(c);
}

static void
test_rolled_back_subtransactions_drop_exactly_their_rows(void **state)
{
    const char *name = "it_strm_subx";
    char spill[700];
    const char *extra[] = {"-X", spill, NULL};
    PGconn *c, *w;
    struct ev *v;
    int n, want = 0, at = 0;
    pid_t pid;

    (void) state;
    c = fresh(name, spill, sizeof(spill));
    it_sql(c, "CREATE TABLE big (id int PRIMARY KEY, pad text)");
    pid = it_daemon_start(name, name, extra);
    it_wait_slot_active(c, name);
    w = it_pg_connect(name);
#define INS(lo, hi)                                                                                \
    it_sql(w, "INSERT INTO big SELECT g, repeat('x', 200) FROM generate_series(%d, %d) g", lo, hi)
    it_sql(w, "BEGIN");
    INS(1, 3000); /* kept */
    it_sql(w, "SAVEPOINT s1");
    INS(3001, 6000);
    it_sql(w, "ROLLBACK TO s1"); /* drops 3001..6000 */
    INS(6001, 9000);             /* kept: in s1 begun again */
    it_sql(w, "SAVEPOINT s2");
    INS(9001, 12000);
    it_sql(w, "RELEASE s2"); /* kept */
    it_sql(w, "SAVEPOINT s3");
    it_sql(w, "SAVEPOINT s4");
    INS(12001, 15000); /* s4 writes first: s3 gets its xid now, its first row comes later */
    it_sql(w, "RELEASE s4");
    INS(15001, 16000);
    it_sql(w, "ROLLBACK TO s3"); /* drops 12001..16000 */
    /* one subtransaction per row; those of multiples of 3 roll back */
    it_sql(w, "DO $$ BEGIN FOR i IN 16001..18000 LOOP BEGIN INSERT INTO big VALUES (i, "
              "repeat('x', 200)); IF i %% 3 = 0 THEN RAISE EXCEPTION 'no'; END IF; EXCEPTION "
              "WHEN raise_exception THEN NULL; END; END LOOP; END $$");
    it_sql(w, "COMMIT");
#undef INS
    want = 3000 + 6000 + 2000 - 667;
    assert_int_equal(settle(name, want, 60000), want);
    v = read_events(name, &n);
    assert_int_equal(n, want);
    expect_seqs(v, 0, n);
    expect_run(v, 0, 3000, "big", 'I', 1, 1);
    expect_run(v, 3000, 6000, "big", 'I', 6001, 1);
    at = 9000;
    for (int i = 16001; i <= 18000; i++)
        if (i % 3 != 0) {
            if (v[at].id != i)
                fail_msg("event %d: id %d, want %d", at, v[at].id, i);
            at++;
        }
    assert_int_equal(at, n);
    print_message("subtransactions: %ld chunks streamed; %d rows published of 18000 inserted, "
                  "exactly the committed ones, in order\n",
                  stream_count(c, name), n);
    free(v);
    stop_daemon(pid);
    PQfinish(w);
    PQfinish(c);
}

/* Append a change to the oracle's list (it numbers each key's changes itself). */
static void
made_add(struct it_changes *m, int table, int id, char op, int v)
{
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 4096;
        m->v = realloc(m->v, m->cap * sizeof(*m->v));
        assert_non_null(m->v);
    }
    m->v[m->n++] = (struct it_change){table, id, 0, op, v};
}

static long
big_events_published(const char *name)
{
    struct ev *v;
    long k = 0;
    int n;

    v = read_events(name, &n);
    for (int i = 0; i < n; i++)
        k += v[i].id >= 190000;
    free(v);
    return k;
}

/*
 * kill -9 while a streamed transaction is open (chunks spilled, never
 * published), under the oracle's load: the slot still holds the transaction,
 * and the restarted daemon receives it again from its start. Then kill -9
 * right after its COMMIT (while it is being replayed and published, or just
 * before): the third daemon publishes it again under the same ids, skipping
 * those already in the stream. The oracle finds every change exactly once.
 */
static void
test_kill9_mid_stream_and_mid_replay_loses_and_repeats_nothing(void **state)
{
    const char *name = "it_strm_kill";
    char spill[700];
    const char *extra[] = {"-X", spill, NULL};
    struct it_changes made = {0}, big = {0};
    struct it_load *load;
    PGconn *c, *w;
    long at_kill, before;
    int64_t t0;
    pid_t pid;

    (void) state;
    c = fresh(name, spill, sizeof(spill));
    it_load_create_tables(c);
    pid = it_daemon_start(name, name, extra);
    it_wait_slot_active(c, name);
    load = it_load_start(name, 0, 5000);
    w = it_pg_connect(name);
    it_sql(w, "BEGIN");
    it_sql(w, "INSERT INTO accounts SELECT g, g FROM generate_series(190000, 194999) g");
    for (int id = 190000; id <= 194999; id++)
        made_add(&big, 0, id, 'I', id);
    wait_streamed(c, name, 0);
    sleep_ms(1500); /* load transactions acked and confirmed past the big one's start */
    kill(pid, SIGKILL);
    assert_int_equal(it_daemon_wait(pid, 10000), -1);
    print_message("kill -9 with the big transaction open: %d file(s) left in the spill "
                  "directory\n",
                  dir_entries(spill));
    assert_int_equal(dir_entries(spill), 0);
    it_sql(w, "UPDATE accounts SET v = v + 1 WHERE id BETWEEN 190000 AND 190999");
    for (int id = 190000; id <= 190999; id++)
        made_add(&big, 0, id, 'U', id + 1);
    pid = it_daemon_start(name, name, extra);
    it_wait_slot_active(c, name);
    sleep_ms(1000);
    it_sql(w, "INSERT INTO accounts SELECT g, g FROM generate_series(195000, 199999) g");
    for (int id = 195000; id <= 199999; id++)
        made_add(&big, 0, id, 'I', id);
    it_sql(w, "UPDATE accounts SET v = v + 10 WHERE id >= 190000");
    for (int id = 190000; id <= 199999; id++)
        made_add(&big, 0, id, 'U', (id <= 190999 ? id + 1 : id) + 10);
    before = it_stream_msg_count(name);
    it_sql(w, "COMMIT");
    /* kill once the replay is under way: the stream grows much faster than the load makes it */
    t0 = it_now_ms();
    while (it_now_ms() - t0 < 10000 && it_stream_msg_count(name) < before + 3000)
        sleep_ms(5);
    kill(pid, SIGKILL);
    assert_int_equal(it_daemon_wait(pid, 10000), -1);
    at_kill = big_events_published(name);
    print_message("kill -9 %lld ms after COMMIT: %ld of %zu events of the big transaction were in "
                  "the stream\n",
                  (long long) (it_now_ms() - t0), at_kill, big.n);
    pid = it_daemon_start(name, name, extra);
    sleep_ms(2000);
    it_load_stop(load, false, &made);
    for (size_t i = 0; i < big.n; i++)
        made_add(&made, big.v[i].table, big.v[i].id, big.v[i].op, big.v[i].v);
    assert_int_equal(settle(name, (long) made.n, 60000), (long) made.n);
    stop_daemon(pid);
    it_oracle_check(c, name, &made);
    it_changes_free(&made);
    it_changes_free(&big);
    PQfinish(w);
    PQfinish(c);
}

/*
 * Fault scenario 8: one transaction of many rows (300k; 5M with
 * CDC_IT_LONG=1), with the daemon's VmRSS sampled every 100 ms from the
 * INSERT until the last event is in the stream.
 */
static void
test_scenario8_huge_transaction_in_bounded_memory(void **state)
{
    const char *name = "it_strm_rss";
    const long rows = getenv("CDC_IT_ROWS") != NULL   ? atol(getenv("CDC_IT_ROWS"))
                      : getenv("CDC_IT_LONG") != NULL ? 5000000
                                                      : 300000;
    char spill[700];
    /* CDC_IT_PG_STREAMING=false: the same with protocol 1, for comparison */
    const char *mode =
        getenv("CDC_IT_PG_STREAMING") != NULL ? getenv("CDC_IT_PG_STREAMING") : "true";
    char streaming[64];
    const char *extra[] = {"-X", spill, "-X", streaming, NULL};
    long rss0, rss, peak = 0, peak_spill = 0, got = 0;
    bool published = false;
    int64_t t0, t_commit = 0, t_done;
    PGresult *r;
    PGconn *c, *w;
    pid_t pid;

    (void) state;
    c = fresh(name, spill, sizeof(spill));
    snprintf(streaming, sizeof(streaming), "cdc.pg_streaming=%s", mode);
    it_sql(c, "CREATE TABLE big (id int, pad text)");
    pid = it_daemon_start(name, name, extra);
    it_wait_slot_active(c, name);
    sleep_ms(500);
    rss0 = it_rss_kb(pid);
    w = it_pg_connect(name);
    it_sql(w, "SET cdc_it.rows = %ld", rows);
    t0 = it_now_ms();
    /* one statement, one transaction; the test keeps sampling while it runs */
    if (PQsendQuery(w, "INSERT INTO big SELECT g, repeat('x', 100) FROM generate_series(1, "
                       "(SELECT current_setting('cdc_it.rows')::int)) g") == 0)
        fail_msg("INSERT: %s", PQerrorMessage(w));
    for (int64_t last_count = 0, last_print = 0;;) {
        rss = it_rss_kb(pid);
        if (rss > peak)
            peak = rss;
        if (!published && rss > peak_spill)
            peak_spill = rss; /* nothing published yet: receiving and spilling */
        if (!published)
            published = it_stream_msg_count(name) > 0;
        if (it_now_ms() - last_print >= 10000) {
            last_print = it_now_ms();
            print_message("huge transaction: at %5.1f s: RSS %ld KiB, %ld events in the stream%s\n",
                          (double) (last_print - t0) / 1000, rss, it_stream_msg_count(name),
                          t_commit == 0 ? " (before COMMIT)" : "");
        }
        if (t_commit == 0 && PQconsumeInput(w) && !PQisBusy(w)) {
            while ((r = PQgetResult(w)) != NULL) {
                if (PQresultStatus(r) != PGRES_COMMAND_OK)
                    fail_msg("INSERT: %s", PQresultErrorMessage(r));
                PQclear(r);
            }
            t_commit = it_now_ms();
        }
        if (t_commit != 0 && it_now_ms() - last_count >= 500) {
            last_count = it_now_ms();
            got = it_stream_msg_count(name);
            if (got >= rows)
                break;
        }
        if (it_now_ms() - t0 > 540000)
            fail_msg("only %ld of %ld events after %lld s", got, rows,
                     (long long) (it_now_ms() - t0) / 1000);
        sleep_ms(100);
    }
    t_done = it_now_ms();
    print_rss_parts(pid);
    sleep_ms(1000);
    got = it_stream_msg_count(name);
    print_message(
        "huge transaction: %ld rows in one transaction: INSERT..COMMIT %.1f s, last event "
        "%.1f s after COMMIT (%.0f events/s); %ld chunks streamed\n",
        rows, (double) (t_commit - t0) / 1000, (double) (t_done - t_commit) / 1000,
        (double) rows * 1000 / (double) (t_done - t_commit > 0 ? t_done - t_commit : 1),
        stream_count(c, name));
    print_message(
        "huge transaction: daemon RSS %ld KiB before, peak %ld KiB (%.1f MiB) of which %ld KiB "
        "before the first event was published (receiving and spilling), %ld KiB after; "
        "limit %d MiB%s\n",
        rss0, peak, (double) peak / 1024, peak_spill, it_rss_kb(pid), RSS_LIMIT_KB / 1024,
        UNDER_ASAN ? " (ASan build: not checked)" : "");
    assert_int_equal(got, rows);
    if (!UNDER_ASAN && peak_spill - rss0 > 16 * 1024)
        fail_msg("RSS grew by %ld KiB while the transaction was received and spilled",
                 peak_spill - rss0);
    if (!UNDER_ASAN && peak > RSS_LIMIT_KB)
        fail_msg("peak RSS %ld KiB is over %d KiB", peak, RSS_LIMIT_KB);
    stop_daemon(pid);
    print_message("scenario 8: PASS %ld rows in one transaction (pg_streaming %s): daemon VmRSS "
                  "peak %.1f MiB (limit %d MiB%s), %.1f MiB before the first event was published; "
                  "the stream holds %ld events, %.0f events/s after COMMIT\n",
                  rows, mode, (double) peak / 1024, RSS_LIMIT_KB / 1024,
                  UNDER_ASAN ? ", ASan build: not checked" : "", (double) peak_spill / 1024, got,
                  (double) rows * 1000 / (double) (t_done - t_commit > 0 ? t_done - t_commit : 1));
    PQfinish(w);
    PQfinish(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_streamed_transaction_is_published_once_in_order_after_commit),
        cmocka_unit_test(test_streamed_transaction_rolled_back_publishes_nothing),
        cmocka_unit_test(test_interleaved_streamed_transactions_publish_in_commit_order),
        cmocka_unit_test(test_rolled_back_subtransactions_drop_exactly_their_rows),
        cmocka_unit_test(test_kill9_mid_stream_and_mid_replay_loses_and_repeats_nothing),
        cmocka_unit_test(test_scenario8_huge_transaction_in_bounded_memory),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
