/*
 * it_dlq.c - events that cannot be published as they are (issue 5, section 6),
 * against the fixture's real PostgreSQL, MariaDB and nats-server:
 * - a row of over 2 MB (larger than NATS's 1 MB max_payload): the event is
 *   stored in a NATS Object Store bucket and a claim-check event takes its
 *   place; the object is read back with the official NATS JavaScript client
 *   (tests/tools/objget.js), which checks its digest, and holds the whole row;
 *   on PostgreSQL and on MariaDB;
 * - the same when the object store refuses the object (its bucket is full),
 *   on PostgreSQL and on MariaDB:
 *   a dead letter on {prefix}.dlq.{database}.{schema}.{table} with the reason
 *   and the original subject in headers, and the pipeline goes on;
 * - an event the stream rejects (its max_msg_size lowered while the daemon
 *   runs): a dead letter, and the pipeline goes on;
 * - an event refused with a passing error ("no responders": the stream's
 *   subjects narrowed while the daemon runs) cdc.max_retry_attempts times:
 *   by default the run stops and nothing past it is stored or confirmed;
 *   with cdc.dlq_on_publish_failure, a dead letter of kind publish_failed.
 * In each, the daemon exits 0 when idle: every event, dead letters included,
 * was acknowledged, and the checkpoint passed them.
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

#include <nats/nats.h>

#include "itlib.h"

#define BIG_SQL "(SELECT string_agg(md5(i::text), '') FROM generate_series(1, 70000) i)"
#define BIG_LEN (32 * 70000) /* 2,240,000 characters */

/* Message seq of name's stream, with its headers; fails the test if none. */
static natsMsg *
msg_at(const char *name, uint64_t seq)
{
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    natsMsg *m = NULL;
    jsErrCode jerr = 0;
    natsStatus st;

    assert_int_equal(natsConnection_ConnectTo(&nc, it_env("CDC_IT_NATS_URL")), NATS_OK);
    assert_int_equal(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
    st = js_GetMsg(&m, js, it_stream_name(name), seq, NULL, &jerr);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    if (st != NATS_OK)
        fail_msg("no message %llu in %s: %s (error %d)", (unsigned long long) seq,
                 it_stream_name(name), natsStatus_GetText(st), (int) jerr);
    return m;
}

static const char *
hdr(natsMsg *m, const char *key)
{
    const char *v = NULL;

    if (natsMsgHeader_Get(m, key, &v) != NATS_OK)
        fail_msg("header %s missing on %s", key, natsMsg_GetSubject(m));
    return v;
}

/* The object `name` of bucket, read with the NATS JavaScript client; malloc'd, its length in *len.
 */
static char *
objget(const char *bucket, const char *name, size_t *len)
{
    char cmd[2048], *buf = NULL;
    size_t cap = 0, n = 0, r;
    FILE *f;

    snprintf(cmd, sizeof(cmd), "NODE_PATH='%s' node '%s' '%s' '%s' '%s'",
             it_env("CDC_IT_NODE_PATH"), it_env("CDC_IT_OBJGET"), it_env("CDC_IT_NATS_URL"), bucket,
             name);
    f = popen(cmd, "r");
    assert_non_null(f);
    do {
        if (n + 65536 > cap) {
            cap = cap ? cap * 2 : 1 << 20;
            buf = realloc(buf, cap + 1);
            assert_non_null(buf);
        }
        r = fread(buf + n, 1, 65536, f);
        n += r;
    } while (r > 0);
    if (pclose(f) != 0)
        fail_msg("objget %s/%s failed (see stderr)", bucket, name);
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Wait for the daemon to go idle and exit; 0 means every event was acked and checkpointed. */
static void
expect_clean_exit(pid_t pid)
{
    assert_int_equal(it_daemon_wait(pid, 120000), 0);
}

/* The claim check on subj: its body names the stored object; the object is the whole event. */
static void
check_claim(const char *name, const struct it_msg *m, const char *bucket, const char *big)
{
    char *cc = it_json_member(m->data, "claim_check"), *obj, *after;
    char want[256];
    size_t len;

    assert_non_null(cc);
    snprintf(want, sizeof(want), "\"bucket\":\"%s\"", bucket);
    assert_non_null(strstr(cc, want));
    snprintf(want, sizeof(want), "\"name\":\"%s\"", m->msg_id);
    assert_non_null(strstr(cc, want));
    assert_non_null(strstr(cc, "\"digest\":\"SHA-256="));
    assert_true(strlen(m->data) < 1024);
    natsMsg *nm = msg_at(name, m->seq);
    snprintf(want, sizeof(want), "%s/%s", bucket, m->msg_id);
    assert_string_equal(hdr(nm, "Cdc-Claim-Check"), want);
    natsMsg_Destroy(nm);

    obj = objget(bucket, m->msg_id, &len);
    print_message("claim check %s: object of %zu bytes read back with nats.js\n", m->msg_id, len);
    snprintf(want, sizeof(want), "\"size\":%zu", len);
    assert_non_null(strstr(cc, want));
    /* the object is the event itself: same id, and the whole value in after */
    char *id = it_json_member(obj, "event_id");
    snprintf(want, sizeof(want), "\"%s\"", m->msg_id);
    assert_string_equal(id, want);
    after = it_json_member(obj, "after");
    assert_non_null(after);
    assert_non_null(strstr(after, big));
    free(id);
    free(after);
    free(obj);
    free(cc);
}

static void
test_pg_row_over_max_payload_becomes_a_claim_check(void **state)
{
    const char *name = "it_dlq_claim";
    const char *extra[] = {"--exit-when-idle", "1500", "-X", "cdc.claim_check_bucket=itdlq_claims",
                           NULL};
    struct it_msgs ms;
    PGconn *c;
    pid_t pid;
    char *big;

    (void) state;
    c = it_fresh_db(name);
    it_sql(c, "CREATE TABLE big (id int PRIMARY KEY, v text)");
    pid = it_daemon_start(name, name, extra);
    it_wait_slot_active(c, name);
    it_sql(c, "INSERT INTO big VALUES (1, " BIG_SQL ")");
    it_sql(c, "INSERT INTO big VALUES (2, 'small')");
    expect_clean_exit(pid);
    big = it_sql_value(c, "SELECT v FROM big WHERE id = 1");
    assert_int_equal(strlen(big), BIG_LEN);

    it_read_stream(name, &ms);
    assert_int_equal(ms.n, 2);
    check_claim(name, &ms.v[0], "itdlq_claims", big);
    assert_non_null(strstr(ms.v[1].data, "\"small\""));
    assert_null(strstr(ms.v[1].data, "claim_check"));
    it_msgs_free(&ms);
    free(big);
    PQfinish(c);
}

/* A bucket stream that holds almost nothing: every chunk is refused (discard new). */
static void
make_full_bucket(const char *bucket)
{
    char chunks[128], meta[128], stream[128];
    const char *subjects[2] = {chunks, meta};
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    jsStreamConfig sc;
    jsErrCode jerr = 0;

    snprintf(stream, sizeof(stream), "OBJ_%s", bucket);
    snprintf(chunks, sizeof(chunks), "$O.%s.C.>", bucket);
    snprintf(meta, sizeof(meta), "$O.%s.M.>", bucket);
    assert_int_equal(natsConnection_ConnectTo(&nc, it_env("CDC_IT_NATS_URL")), NATS_OK);
    assert_int_equal(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
    (void) js_DeleteStream(js, stream, NULL, &jerr);
    jsStreamConfig_Init(&sc);
    sc.Name = stream;
    sc.Subjects = subjects;
    sc.SubjectsLen = 2;
    sc.MaxBytes = 4096;
    sc.Discard = js_DiscardNew;
    sc.AllowRollup = true;
    assert_int_equal(js_AddStream(NULL, js, &sc, NULL, &jerr), NATS_OK);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

static void
test_pg_row_over_max_payload_is_dead_lettered_when_the_bucket_is_full(void **state)
{
    const char *name = "it_dlq_full";
    char port[32], prom[48];
    const char *extra[] = {"--exit-when-idle",
                           "5000",
                           "-X",
                           "cdc.claim_check_bucket=itdlq_full",
                           "-X",
                           port,
                           "-X",
                           prom,
                           NULL};
    char dlq_subj[256], subj[256];
    struct it_msgs ms;
    natsMsg *m;
    PGconn *c;
    pid_t pid;
    char *log, *body;
    int http = it_free_port(), status;

    (void) state;
    snprintf(port, sizeof(port), "server.port=%d", http);
    snprintf(prom, sizeof(prom), "monitoring.prometheus.port=%d", http);
    make_full_bucket("itdlq_full");
    c = it_fresh_db(name);
    it_sql(c, "CREATE TABLE big (id int PRIMARY KEY, v text)");
    pid = it_daemon_start(name, name, extra);
    it_wait_slot_active(c, name);
    it_sql(c, "INSERT INTO big VALUES (1, " BIG_SQL ")");
    it_sql(c, "INSERT INTO big VALUES (2, 'after the dead letter')");
    assert_int_equal(it_wait_stream_count(name, 2, 30000), 2);
    /* the dead letter is counted, by reason; no claim check was stored */
    body = it_http_get(http, "/metrics", &status);
    assert_int_equal(status, 200);
    assert_non_null(
        strstr(body, "cdc_dlq_events_total{source=\"it_dlq_full\",reason=\"too_large\"} 1\n"));
    assert_non_null(
        strstr(body, "cdc_dlq_events_total{source=\"it_dlq_full\",reason=\"rejected\"} 0\n"));
    assert_non_null(strstr(body, "cdc_claim_checks_total{source=\"it_dlq_full\"} 0\n"));
    free(body);
    expect_clean_exit(pid);

    it_read_stream(name, &ms);
    assert_int_equal(ms.n, 2);
    snprintf(subj, sizeof(subj), "%s.%s.public.big", name, name);
    snprintf(dlq_subj, sizeof(dlq_subj), "%s.dlq.%s.public.big", name, name);
    assert_string_equal(ms.v[0].subject, dlq_subj);
    assert_int_equal(strlen(ms.v[0].data), 0); /* too large to carry: the reason says so */
    assert_string_equal(ms.v[1].subject, subj);
    assert_non_null(strstr(ms.v[1].data, "\"after the dead letter\""));

    m = msg_at(name, ms.v[0].seq);
    print_message("dead letter: %s: %s\n", hdr(m, "Cdc-Dlq-Kind"), hdr(m, "Cdc-Dlq-Reason"));
    assert_string_equal(hdr(m, "Cdc-Dlq-Kind"), "too_large");
    assert_string_equal(hdr(m, "Cdc-Dlq-Subject"), subj);
    assert_string_equal(hdr(m, "Nats-Msg-Id"), ms.v[0].msg_id);
    assert_true(atol(hdr(m, "Cdc-Dlq-Size")) > BIG_LEN);
    assert_non_null(strstr(hdr(m, "Cdc-Dlq-Reason"), "larger than the largest message"));
    assert_non_null(strstr(hdr(m, "Cdc-Dlq-Reason"), "claim check failed"));
    assert_non_null(hdr(m, "Cdc-Commit-Lsn"));
    natsMsg_Destroy(m);
    log = it_slurp(it_daemon_log(name));
    assert_non_null(strstr(log, "dead-lettered"));
    free(log);
    it_msgs_free(&ms);
    PQfinish(c);
}

/* Lower the stream's max_msg_size while the daemon runs: the server rejects a larger event. */
static void
set_stream_max_msg_size(const char *name, int32_t max)
{
    natsConnection *nc = NULL;
    jsStreamInfo *si = NULL;
    jsCtx *js = NULL;
    jsErrCode jerr = 0;

    assert_int_equal(natsConnection_ConnectTo(&nc, it_env("CDC_IT_NATS_URL")), NATS_OK);
    assert_int_equal(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
    assert_int_equal(js_GetStreamInfo(&si, js, it_stream_name(name), NULL, &jerr), NATS_OK);
    si->Config->MaxMsgSize = max;
    jsStreamInfo *up = NULL;
    assert_int_equal(js_UpdateStream(&up, js, si->Config, NULL, &jerr), NATS_OK);
    assert_int_equal(up->Config->MaxMsgSize, max);
    jsStreamInfo_Destroy(up);
    jsStreamInfo_Destroy(si);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

/* Set the stream's subjects to s1 and s2 (an operator's change while the daemon runs). */
static void
set_stream_subjects(const char *name, const char *s1, const char *s2)
{
    const char *subjects[2] = {s1, s2}; /* s2 may be NULL: one subject */
    const char **orig;
    int orig_len;
    natsConnection *nc = NULL;
    jsStreamInfo *si = NULL, *up = NULL;
    jsCtx *js = NULL;
    jsErrCode jerr = 0;

    assert_int_equal(natsConnection_ConnectTo(&nc, it_env("CDC_IT_NATS_URL")), NATS_OK);
    assert_int_equal(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
    assert_int_equal(js_GetStreamInfo(&si, js, it_stream_name(name), NULL, &jerr), NATS_OK);
    orig = si->Config->Subjects;
    orig_len = si->Config->SubjectsLen;
    si->Config->Subjects = subjects;
    si->Config->SubjectsLen = s2 != NULL ? 2 : 1;
    assert_int_equal(js_UpdateStream(&up, js, si->Config, NULL, &jerr), NATS_OK);
    si->Config->Subjects = orig; /* the info's own, freed with it */
    si->Config->SubjectsLen = orig_len;
    jsStreamInfo_Destroy(up);
    jsStreamInfo_Destroy(si);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

/*
 * An event the server keeps refusing with a passing error (here "no responders": the stream no
 * longer covers its table's subject) is retried cdc.max_retry_attempts times. By default the
 * run then stops and nothing is confirmed past it; with cdc.dlq_on_publish_failure it becomes a
 * dead letter (kind publish_failed) and the pipeline goes on.
 */
static void
test_pg_publish_failures_stop_or_go_to_the_dlq(void **state)
{
    const char *name = "it_dlq_pubfail";
    const char *stop[] = {"-X", "cdc.max_retry_attempts=3", NULL};
    const char *dlq[] = {"-X",
                         "cdc.max_retry_attempts=3",
                         "-X",
                         "cdc.dlq_on_publish_failure=true",
                         "--exit-when-idle",
                         "3000",
                         NULL};
    char keep[200], dlq_all[200], lost_subj[200], dlq_subj[200], *log;
    struct it_msgs ms;
    natsMsg *m;
    PGconn *c;
    pid_t pid;
    int d;

    (void) state;
    c = it_fresh_db(name);
    it_sql(c, "CREATE TABLE keep (id int PRIMARY KEY)");
    it_sql(c, "CREATE TABLE lost (id int PRIMARY KEY)");
    snprintf(keep, sizeof(keep), "%s.%s.public.keep", name, name);
    snprintf(dlq_all, sizeof(dlq_all), "%s.dlq.>", name);
    snprintf(lost_subj, sizeof(lost_subj), "%s.%s.public.lost", name, name);
    snprintf(dlq_subj, sizeof(dlq_subj), "%s.dlq.%s.public.lost", name, name);

    /* default: the run stops on the event, and nothing past it is confirmed */
    pid = it_daemon_start(name, name, stop);
    it_wait_slot_active(c, name);
    it_sql(c, "INSERT INTO keep VALUES (1)");
    assert_int_equal(it_wait_stream_count(name, 1, 20000), 1);
    set_stream_subjects(name, keep, dlq_all);
    it_sql(c, "INSERT INTO lost VALUES (1)");
    it_wait_log(name, "failed 3 times", 30000);
    kill(pid, SIGTERM);
    it_daemon_wait(pid, 20000);
    log = it_slurp(it_daemon_log(name));
    {
        char *l = strstr(log, "failed 3 times");

        print_message("stopped: ...%.200s\n", l);
        assert_non_null(strstr(l, "esponders")); /* libnats: "No responders available ..." */
    }
    free(log);
    assert_int_equal(it_stream_msg_count(name), 1);

    /* the operator widens the stream again (a daemon refuses to start on a narrower one): the
       held event goes through; then, with dlq_on_publish_failure, the stream narrowed anew */
    snprintf(keep, sizeof(keep), "%s.>", name);
    set_stream_subjects(name, keep, NULL);
    snprintf(keep, sizeof(keep), "%s.%s.public.keep", name, name);
    unlink(it_daemon_log(name));
    pid = it_daemon_start(name, name, dlq);
    assert_int_equal(it_wait_stream_count(name, 2, 30000), 2);
    set_stream_subjects(name, keep, dlq_all);
    it_sql(c, "INSERT INTO lost VALUES (2)");
    it_sql(c, "INSERT INTO keep VALUES (2)");
    if (it_daemon_wait(pid, 90000) != 0) {
        log = it_slurp(it_daemon_log(name));
        for (char *l = strtok(log, "\n"); l != NULL; l = strtok(NULL, "\n"))
            if (strstr(l, "\"level\":\"info\"") == NULL)
                print_message("%.300s\n", l);
        fail_msg("the daemon did not exit 0");
    }
    it_read_stream(name, &ms);
    assert_int_equal(ms.n, 4);
    /* keep 1, lost 1 (stored once the stream covered it again), then keep 2 and the dead letter
       of lost 2, in either order: keep 2 may go out before lost 2's refusals come back */
    assert_string_equal(ms.v[0].subject, keep);
    assert_string_equal(ms.v[1].subject, lost_subj);
    d = strcmp(ms.v[2].subject, dlq_subj) == 0 ? 2 : 3;
    assert_string_equal(ms.v[d].subject, dlq_subj);
    assert_string_equal(ms.v[5 - d].subject, keep);
    m = msg_at(name, ms.v[d].seq);
    print_message("dead letter: %s: %s\n", hdr(m, "Cdc-Dlq-Kind"), hdr(m, "Cdc-Dlq-Reason"));
    assert_string_equal(hdr(m, "Cdc-Dlq-Kind"), "publish_failed");
    assert_string_equal(hdr(m, "Cdc-Dlq-Subject"), lost_subj);
    assert_non_null(strstr(hdr(m, "Cdc-Dlq-Reason"), "failed 3 times"));
    assert_true(natsMsg_GetDataLength(m) > 0); /* the event itself travels with it */
    natsMsg_Destroy(m);
    it_msgs_free(&ms);
    PQfinish(c);
}

static void
test_pg_event_rejected_by_the_stream_is_dead_lettered(void **state)
{
    const char *name = "it_dlq_reject";
    const char *extra[] = {"--exit-when-idle", "1500", NULL};
    char dlq_subj[256], subj[256];
    struct it_msgs ms;
    natsMsg *m;
    PGconn *c;
    pid_t pid;

    (void) state;
    c = it_fresh_db(name);
    it_sql(c, "CREATE TABLE t (id int PRIMARY KEY, v text)");
    pid = it_daemon_start(name, name, extra);
    it_wait_slot_active(c, name);
    it_sql(c, "INSERT INTO t VALUES (1, 'before')");
    assert_int_equal(it_wait_stream_count(name, 1, 30000), 1);
    set_stream_max_msg_size(name, 2000);
    it_sql(c, "INSERT INTO t VALUES (2, repeat('z', 5000))");
    it_sql(c, "INSERT INTO t VALUES (3, 'after')");
    expect_clean_exit(pid);

    it_read_stream(name, &ms);
    assert_int_equal(ms.n, 3);
    snprintf(subj, sizeof(subj), "%s.%s.public.t", name, name);
    snprintf(dlq_subj, sizeof(dlq_subj), "%s.dlq.%s.public.t", name, name);
    /* the rejection comes back after row 3 was sent: its dead letter may land after it */
    int d = -1, rows = 0;
    for (int i = 0; i < ms.n; i++) {
        if (strcmp(ms.v[i].subject, dlq_subj) == 0) {
            assert_int_equal(d, -1);
            d = i;
        } else {
            assert_string_equal(ms.v[i].subject, subj);
            assert_null(strstr(ms.v[i].data, "zzzz"));
            rows++;
        }
    }
    assert_int_equal(rows, 2);
    assert_true(d >= 1);
    m = msg_at(name, ms.v[d].seq);
    print_message("dead letter: %s: %s\n", hdr(m, "Cdc-Dlq-Kind"), hdr(m, "Cdc-Dlq-Reason"));
    assert_string_equal(hdr(m, "Cdc-Dlq-Subject"), subj);
    assert_non_null(strstr(hdr(m, "Cdc-Dlq-Reason"), "rejected message"));
    assert_string_equal(hdr(m, "Cdc-Dlq-Kind"), "too_large"); /* the stream said: too large */
    assert_int_equal(natsMsg_GetDataLength(m), 0);            /* so it is not carried */
    /* it stands for row 2: same id as row 2's event would have had (between rows 1 and 3) */
    assert_true(strcmp(hdr(m, "Nats-Msg-Id"), ms.v[0].msg_id) > 0);
    assert_true(strcmp(hdr(m, "Nats-Msg-Id"), ms.v[d == 2 ? 1 : 2].msg_id) < 0);
    natsMsg_Destroy(m);
    it_msgs_free(&ms);
    PQfinish(c);
}

/* A fresh MariaDB database `name` with table big; the daemon started on it with `more`. */
static pid_t
my_start(const char *name, MYSQL **c, const char *const *more)
{
    char path[600];

    *c = it_my_connect(NULL);
    it_my(*c, "DROP DATABASE IF EXISTS %s", name);
    it_my(*c, "CREATE DATABASE %s", name);
    it_my(*c, "CREATE TABLE %s.big (id int PRIMARY KEY, v longtext)", name);
    snprintf(path, sizeof(path), "%s/%s.ckpt.json", it_env("CDC_IT_TMP"), name);
    unlink(path);
    unlink(it_daemon_log(name));
    return it_my_daemon_start(name, name, more);
}

static void
test_mariadb_row_over_max_payload_becomes_a_claim_check(void **state)
{
    const char *name = "it_dlq_my";
    const char *more[] = {"-X", "cdc.claim_check_bucket=itdlq_my", "--exit-when-idle", "3000",
                          NULL};
    struct it_msgs ms;
    MYSQL *c;
    pid_t pid;
    char *big;

    (void) state;
    pid = my_start(name, &c, more);
    it_wait_log(name, "streaming from", 30000);
    it_my(c, "INSERT INTO %s.big VALUES (1, REPEAT('0123456789abcdef', 140000))", name);
    it_my(c, "INSERT INTO %s.big VALUES (2, 'small')", name);
    expect_clean_exit(pid);
    big = it_my_value(c, "SELECT v FROM %s.big WHERE id = 1", name);
    assert_int_equal(strlen(big), 16 * 140000);

    it_read_stream(name, &ms);
    assert_int_equal(ms.n, 2);
    check_claim(name, &ms.v[0], "itdlq_my", big);
    assert_non_null(strstr(ms.v[1].data, "\"small\""));
    it_msgs_free(&ms);
    free(big);
    mysql_close(c);
}

/* MariaDB: the object store refuses the object: a dead letter, and the next row goes on. */
static void
test_mariadb_row_over_max_payload_is_dead_lettered_when_the_bucket_is_full(void **state)
{
    const char *name = "it_dlq_myfull";
    const char *more[] = {"-X", "cdc.claim_check_bucket=itdlq_myfull", "--exit-when-idle", "3000",
                          NULL};
    char dlq_subj[256], subj[256];
    struct it_msgs ms;
    natsMsg *m;
    MYSQL *c;
    pid_t pid;

    (void) state;
    make_full_bucket("itdlq_myfull");
    pid = my_start(name, &c, more);
    it_wait_log(name, "streaming from", 30000);
    it_my(c, "INSERT INTO %s.big VALUES (1, REPEAT('0123456789abcdef', 140000))", name);
    it_my(c, "INSERT INTO %s.big VALUES (2, 'after the dead letter')", name);
    expect_clean_exit(pid);

    it_read_stream(name, &ms);
    assert_int_equal(ms.n, 2);
    /* MySQL/MariaDB: the schema is the database */
    snprintf(subj, sizeof(subj), "%s.%s.%s.big", name, name, name);
    snprintf(dlq_subj, sizeof(dlq_subj), "%s.dlq.%s.%s.big", name, name, name);
    assert_string_equal(ms.v[0].subject, dlq_subj);
    assert_string_equal(ms.v[1].subject, subj);
    assert_non_null(strstr(ms.v[1].data, "\"after the dead letter\""));
    m = msg_at(name, ms.v[0].seq);
    print_message("dead letter: %s: %s\n", hdr(m, "Cdc-Dlq-Kind"), hdr(m, "Cdc-Dlq-Reason"));
    assert_string_equal(hdr(m, "Cdc-Dlq-Kind"), "too_large");
    assert_string_equal(hdr(m, "Cdc-Dlq-Subject"), subj);
    assert_string_equal(hdr(m, "Nats-Msg-Id"), ms.v[0].msg_id);
    assert_non_null(strstr(hdr(m, "Cdc-Dlq-Reason"), "claim check failed"));
    natsMsg_Destroy(m);
    it_msgs_free(&ms);
    mysql_close(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pg_row_over_max_payload_becomes_a_claim_check),
        cmocka_unit_test(test_pg_row_over_max_payload_is_dead_lettered_when_the_bucket_is_full),
        cmocka_unit_test(test_pg_event_rejected_by_the_stream_is_dead_lettered),
        cmocka_unit_test(test_pg_publish_failures_stop_or_go_to_the_dlq),
        cmocka_unit_test(test_mariadb_row_over_max_payload_becomes_a_claim_check),
        cmocka_unit_test(
            test_mariadb_row_over_max_payload_is_dead_lettered_when_the_bucket_is_full),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);

    nats_Close();
    return failed;
}
