/*
 * it_ckpt_kv.c - the nats-kv:// checkpoint store against real nats-server
 * instances: the fixture's (CDC_IT_NATS_URL) for the round trip, bucket
 * creation, encryption, a corrupt value and two writers; private ones started
 * here (on free ports, in the run's temp dir, with the arguments of
 * scripts/pgctl.sh's cdc_start_nats, killed by pid) for an outage (kill, then
 * restart on the same port and store), a lost reply (SIGSTOP while a write is
 * in flight, SIGCONT) and credentials. Last, the daemon itself with an
 * encrypted nats-kv:// checkpoint (and the fixture's PostgreSQL): the record
 * is sealed, matches the slot, and a wrong key is refused without any key in
 * the log. The fixture's server is never stopped.
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

#include <nats/nats.h>

#include "checkpoint/ckpt.h"
#include "itlib.h"

#define NATS_USER  "ckptuser"
#define NATS_PASS  "Kv-s3cret-Pw"
#define WRONG_PASS "Kv-wr0ng-Pw"

/* a private nats-server */
struct priv {
    pid_t pid;
    int port;
    char dir[512];
    char url[64];
    bool auth; /* --user NATS_USER --pass NATS_PASS */
};

static struct priv *live[4]; /* started and not yet stopped, killed by the teardown */

static void
sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static bool
accepts(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    bool ok;

    a.sin_port = htons((uint16_t) port);
    ok = fd >= 0 && connect(fd, (struct sockaddr *) &a, sizeof(a)) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

/* Start (or restart, same port and store) the server; as cdc_start_nats: -js -sd -a -p. */
static void
priv_run(struct priv *p)
{
    char port[16], log[600], *text;
    pid_t pid;

    snprintf(port, sizeof(port), "%d", p->port);
    snprintf(log, sizeof(log), "%s/nats.log", p->dir);
    unlink(log);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        FILE *f = freopen(log, "a", stdout);

        (void) f;
        dup2(STDOUT_FILENO, STDERR_FILENO);
        if (p->auth)
            execlp("nats-server", "nats-server", "-js", "-sd", p->dir, "-a", "127.0.0.1", "-p",
                   port, "--user", NATS_USER, "--pass", NATS_PASS, (char *) NULL);
        else
            execlp("nats-server", "nats-server", "-js", "-sd", p->dir, "-a", "127.0.0.1", "-p",
                   port, (char *) NULL);
        _exit(127);
    }
    p->pid = pid;
    for (int i = 0; i < 300; i++) {
        text = it_slurp(log);
        if (strstr(text, "Server is ready") != NULL && accepts(p->port)) {
            free(text);
            return;
        }
        free(text);
        sleep_ms(100);
    }
    fail_msg("private nats-server on port %d did not start (see %s)", p->port, log);
}

static void
priv_start(struct priv *p, bool auth)
{
    memset(p, 0, sizeof(*p));
    snprintf(p->dir, sizeof(p->dir), "%s/nats-priv.XXXXXX", it_env("CDC_IT_TMP"));
    assert_non_null(mkdtemp(p->dir));
    p->port = it_free_port();
    p->auth = auth;
    snprintf(p->url, sizeof(p->url), "nats://127.0.0.1:%d", p->port);
    for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++)
        if (live[i] == NULL) {
            live[i] = p;
            break;
        }
    priv_run(p);
}

/* SIGKILL (after SIGCONT, in case it was stopped) and reap; keeps the slot in live[]. */
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

/* ---- a raw client, to look at and spoil what the store wrote ---- */

struct raw {
    natsConnection *nc;
    jsCtx *js;
    kvStore *kv; /* NULL until raw_bind */
};

static void
raw_connect(struct raw *r, const char *url)
{
    natsStatus st;

    memset(r, 0, sizeof(*r));
    st = natsConnection_ConnectTo(&r->nc, url);
    if (st != NATS_OK)
        fail_msg("raw connect to %s: %s", url, natsStatus_GetText(st));
    assert_int_equal(natsConnection_JetStream(&r->js, r->nc, NULL), NATS_OK);
}

static void
raw_bind(struct raw *r, const char *bucket)
{
    natsStatus st = js_KeyValue(&r->kv, r->js, bucket);

    if (st != NATS_OK)
        fail_msg("js_KeyValue(%s): %s", bucket, natsStatus_GetText(st));
}

static void
raw_close(struct raw *r)
{
    kvStore_Destroy(r->kv);
    jsCtx_Destroy(r->js);
    natsConnection_Destroy(r->nc);
}

/* Delete the bucket if it exists, so the test starts from nothing. */
static void
raw_drop_bucket(const char *url, const char *bucket)
{
    struct raw r;

    raw_connect(&r, url);
    (void) js_DeleteKeyValue(r.js, bucket);
    raw_close(&r);
}

/* The current value of the key, malloc'd and NUL-terminated, NULL if absent; *rev its revision. */
static char *
raw_get(struct raw *r, const char *key, uint64_t *rev)
{
    kvEntry *e = NULL;
    natsStatus st = kvStore_Get(&e, r->kv, key);
    char *v;

    if (st == NATS_NOT_FOUND)
        return NULL;
    if (st != NATS_OK)
        fail_msg("kvStore_Get(%s): %s", key, natsStatus_GetText(st));
    v = strndup(kvEntry_Value(e), (size_t) kvEntry_ValueLen(e));
    if (rev)
        *rev = kvEntry_Revision(e);
    kvEntry_Destroy(e);
    return v;
}

/* ---- records and the store ---- */

static void
sample(struct ckpt_record *r, uint64_t seq)
{
    memset(r, 0, sizeof(*r));
    r->version = CKPT_VERSION;
    snprintf(r->source, sizeof(r->source), "it-kv");
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

/* The stored text decoded (plain records only) to its stream_seq. */
static uint64_t
seq_of(const char *text)
{
    struct ckpt_record r;
    struct cdc_err err = {0};

    if (ckpt_decode(text, strlen(text), &r, &err) != CDC_OK)
        fail_msg("stored value does not decode: %s", err.msg);
    return r.stream_seq;
}

static struct ckpt_store *
open_kv(const char *url, const char *server, const char *user, const char *pass,
        const unsigned char *key)
{
    const char *urls[1] = {server};
    struct ckpt_store *s = NULL;
    struct cdc_err err = {0};
    struct ckpt_opts o;

    ckpt_opts_init(&o);
    o.nats_urls = urls;
    o.n_nats_urls = 1;
    o.nats_username = user;
    o.nats_password = pass;
    o.nats_name = "it_ckpt_kv";
    o.nats_timeout_ms = 2000;
    o.key = key;
    if (ckpt_open(&s, url, &o, &err) != CDC_OK)
        fail_msg("ckpt_open(%s): %s", url, err.msg);
    return s;
}

static struct ckpt_store *
open_fixture(const char *url)
{
    return open_kv(url, it_env("CDC_IT_NATS_URL"), NULL, NULL, NULL);
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

/* Save until it succeeds (the server is coming back), up to timeout_ms; returns the attempts. */
static int
save_eventually(struct ckpt_store *s, const struct ckpt_record *rec, int timeout_ms)
{
    int64_t until = it_now_ms() + timeout_ms;
    struct cdc_err err = {0};
    int n = 0;

    for (;;) {
        cdc_rc rc = ckpt_save(s, rec, &err);

        n++;
        if (rc == CDC_OK)
            return n;
        if (rc != CDC_ERR_RETRY)
            fail_msg("save after the outage: %s (%s)", err.msg, cdc_rc_name(rc));
        if (it_now_ms() > until)
            fail_msg("store did not recover within %d ms: %s", timeout_ms, err.msg);
        sleep_ms(200);
    }
}

/* ---- the tests ---- */

static void
test_ckpt_kv_round_trip_creates_the_bucket(void **state)
{
    const char *server = it_env("CDC_IT_NATS_URL");
    struct ckpt_record in, out;
    struct ckpt_store *a, *b;
    jsStreamInfo *si = NULL;
    struct raw r;
    uint64_t rev1 = 0, rev2 = 0;
    char *v;

    (void) state;
    raw_drop_bucket(server, "IT_ckpt_rt");
    a = open_fixture("nats-kv://IT_ckpt_rt/orders.main?history=3&timeout=2000");
    assert_string_equal(ckpt_describe(a), "nats-kv://IT_ckpt_rt/orders.main");
    load_ok(a, &out, false);
    /* the bucket exists now, with the history asked for */
    raw_connect(&r, server);
    assert_int_equal(js_GetStreamInfo(&si, r.js, "KV_IT_ckpt_rt", NULL, NULL), NATS_OK);
    assert_int_equal(si->Config->MaxMsgsPerSubject, 3);
    assert_int_equal(si->Config->Replicas, 1);
    jsStreamInfo_Destroy(si);
    raw_bind(&r, "IT_ckpt_rt");
    sample(&in, 1);
    save_ok(a, &in);
    v = raw_get(&r, "orders.main", &rev1);
    assert_non_null(v);
    assert_int_equal(seq_of(v), 1);
    free(v);
    sample(&in, 2);
    save_ok(a, &in); /* a second save by the same store is not a conflict */
    v = raw_get(&r, "orders.main", &rev2);
    assert_int_equal(seq_of(v), 2);
    assert_true(rev2 > rev1);
    free(v);
    /* another store on the same bucket and key reads it back */
    b = open_fixture("nats-kv://IT_ckpt_rt/orders.main");
    load_ok(b, &out, true);
    assert_same(&in, &out);
    ckpt_close(b);
    /* an existing bucket is used as it is (history stays 3) */
    b = open_fixture("nats-kv://IT_ckpt_rt/other?history=1");
    load_ok(b, &out, false);
    ckpt_close(b);
    assert_int_equal(js_GetStreamInfo(&si, r.js, "KV_IT_ckpt_rt", NULL, NULL), NATS_OK);
    assert_int_equal(si->Config->MaxMsgsPerSubject, 3);
    jsStreamInfo_Destroy(si);
    ckpt_close(a);
    raw_close(&r);
}

static void
test_ckpt_kv_encrypted_round_trip(void **state)
{
    const char *server = it_env("CDC_IT_NATS_URL");
    unsigned char key[CKPT_KEY_LEN], other[CKPT_KEY_LEN];
    struct ckpt_record in, out;
    struct ckpt_store *a, *b;
    struct cdc_err err = {0};
    struct raw r;
    char *v;
    bool found = true;

    (void) state;
    for (int i = 0; i < CKPT_KEY_LEN; i++) {
        key[i] = (unsigned char) (7 * i + 1);
        other[i] = (unsigned char) (7 * i + 2);
    }
    raw_drop_bucket(server, "IT_ckpt_enc");
    a = open_kv("nats-kv://IT_ckpt_enc/k", server, NULL, NULL, key);
    load_ok(a, &out, false);
    sample(&in, 77);
    save_ok(a, &in);
    sample(&in, 78);
    save_ok(a, &in);
    raw_connect(&r, server);
    raw_bind(&r, "IT_ckpt_enc");
    v = raw_get(&r, "k", NULL);
    assert_non_null(v);
    assert_memory_equal(v, "{\"enc\":\"aes-256-gcm\",\"kid\":\"", 28);
    assert_null(strstr(v, "it-kv"));
    free(v);
    b = open_kv("nats-kv://IT_ckpt_enc/k", server, NULL, NULL, key);
    load_ok(b, &out, true);
    assert_same(&in, &out);
    ckpt_close(b);
    b = open_kv("nats-kv://IT_ckpt_enc/k", server, NULL, NULL, other);
    assert_int_equal(ckpt_load(b, &out, &found, &err), CDC_ERR_FATAL);
    assert_non_null(strstr(err.msg, "checkpoint was written with key id"));
    assert_non_null(strstr(err.msg, "nats-kv://IT_ckpt_enc/k"));
    ckpt_close(b);
    ckpt_close(a);
    raw_close(&r);
}

static void
test_ckpt_kv_corrupt_value_is_fatal(void **state)
{
    const char *server = it_env("CDC_IT_NATS_URL");
    struct ckpt_record in, out;
    struct ckpt_store *s;
    struct cdc_err err = {0};
    char text[CKPT_MAX_LEN], *p;
    struct raw r;
    bool found = false;

    (void) state;
    raw_drop_bucket(server, "IT_ckpt_corrupt");
    s = open_fixture("nats-kv://IT_ckpt_corrupt/k");
    load_ok(s, &out, false); /* creates the bucket */
    raw_connect(&r, server);
    raw_bind(&r, "IT_ckpt_corrupt");
    sample(&in, 42);
    assert_int_equal(ckpt_encode(&in, text, sizeof(text), &err), CDC_OK);
    p = strstr(text, "\"stream_seq\":42");
    assert_non_null(p);
    p[strlen("\"stream_seq\":4")] = '3'; /* 42 -> 43, the digest no longer matches */
    assert_int_equal(kvStore_PutString(NULL, r.kv, "k", text), NATS_OK);
    assert_int_equal(ckpt_load(s, &out, &found, &err), CDC_ERR_FATAL);
    print_message("corrupt: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "corrupt"));
    assert_non_null(strstr(err.msg, "nats-kv://IT_ckpt_corrupt/k"));
    assert_false(found);
    /* a value that is not a record at all */
    assert_int_equal(kvStore_PutString(NULL, r.kv, "k", "hello"), NATS_OK);
    assert_int_equal(ckpt_load(s, &out, &found, &err), CDC_ERR_FATAL);
    /* an empty value is corrupt, not missing */
    assert_int_equal(kvStore_Put(NULL, r.kv, "k", "", 0), NATS_OK);
    assert_int_equal(ckpt_load(s, &out, &found, &err), CDC_ERR_FATAL);
    assert_false(found);
    /* a deleted key is missing, and is written again */
    assert_int_equal(kvStore_Delete(r.kv, "k"), NATS_OK);
    load_ok(s, &out, false);
    sample(&in, 44);
    save_ok(s, &in);
    load_ok(s, &out, true);
    assert_same(&in, &out);
    ckpt_close(s);
    raw_close(&r);
}

static void
test_ckpt_kv_second_writer_loses(void **state)
{
    const char *url = "nats-kv://IT_ckpt_two/k";
    struct ckpt_record rec, out;
    struct ckpt_store *a, *b, *c;
    struct cdc_err err = {0};

    (void) state;
    raw_drop_bucket(it_env("CDC_IT_NATS_URL"), "IT_ckpt_two");
    a = open_fixture(url);
    b = open_fixture(url);
    load_ok(a, &out, false);
    load_ok(b, &out, false);
    sample(&rec, 10);
    save_ok(a, &rec);
    sample(&rec, 11);
    assert_int_equal(ckpt_save(b, &rec, &err), CDC_ERR_FATAL);
    print_message("second writer: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "another writer"));
    assert_non_null(strstr(err.msg, "nats-kv://IT_ckpt_two/k"));
    /* A keeps writing; B keeps losing */
    sample(&rec, 12);
    save_ok(a, &rec);
    assert_int_equal(ckpt_save(b, &rec, &err), CDC_ERR_FATAL);
    /* a store that loads after A wrote takes over, and then A loses */
    c = open_fixture(url);
    load_ok(c, &out, true);
    assert_int_equal(out.stream_seq, 12);
    sample(&rec, 13);
    save_ok(c, &rec);
    sample(&rec, 14);
    assert_int_equal(ckpt_save(a, &rec, &err), CDC_ERR_FATAL);
    assert_non_null(strstr(err.msg, "another writer"));
    load_ok(c, &out, true);
    assert_int_equal(out.stream_seq, 13);
    ckpt_close(a);
    ckpt_close(b);
    ckpt_close(c);
}

static void
test_ckpt_kv_outage_is_retry_then_recovers(void **state)
{
    struct ckpt_record rec, out;
    struct ckpt_store *s, *late;
    struct cdc_err err = {0};
    static struct priv p;
    bool found = false;
    int64_t t0;
    int n;

    (void) state;
    priv_start(&p, false);
    s = open_kv("nats-kv://IT_ckpt_out/k?timeout=500", p.url, NULL, NULL, NULL);
    load_ok(s, &out, false);
    sample(&rec, 1);
    save_ok(s, &rec);

    /* gone: every call fails fast with RETRY */
    priv_kill(&p);
    sleep_ms(200); /* libnats notices the closed socket */
    sample(&rec, 2);
    t0 = it_now_ms();
    assert_int_equal(ckpt_save(s, &rec, &err), CDC_ERR_RETRY);
    print_message("while killed: %s (%lld ms)\n", err.msg, (long long) (it_now_ms() - t0));
    assert_non_null(strstr(err.msg, "nats-kv://IT_ckpt_out/k"));
    assert_int_equal(ckpt_load(s, &out, &found, &err), CDC_ERR_RETRY);
    /* a store opened while the server is down: the first load says RETRY */
    late = open_kv("nats-kv://IT_ckpt_out/k?timeout=500", p.url, NULL, NULL, NULL);
    assert_int_equal(ckpt_load(late, &out, &found, &err), CDC_ERR_RETRY);
    print_message("first load while down: %s\n", err.msg);

    /* back on the same port and store: both recover without being reopened */
    priv_run(&p);
    n = save_eventually(s, &rec, 20000);
    print_message("saved again after %d attempt(s)\n", n);
    load_ok(s, &out, true);
    assert_same(&rec, &out);
    load_ok(late, &out, true); /* the record survived the restart */
    assert_same(&rec, &out);
    ckpt_close(late);
    ckpt_close(s);
    priv_stop(&p);
}

static void
test_ckpt_kv_lost_reply_is_not_a_second_writer(void **state)
{
    struct ckpt_record rec, out;
    struct ckpt_store *s;
    struct cdc_err err = {0};
    static struct priv p;
    struct raw r;
    int64_t until;
    char *v = NULL;

    (void) state;
    priv_start(&p, false);
    s = open_kv("nats-kv://IT_ckpt_lost/k?timeout=400", p.url, NULL, NULL, NULL);
    load_ok(s, &out, false);
    sample(&rec, 1);
    save_ok(s, &rec);

    /* frozen: the write is sent, its reply never comes */
    it_freeze(p.pid);
    sample(&rec, 2);
    assert_int_equal(ckpt_save(s, &rec, &err), CDC_ERR_RETRY);
    print_message("while frozen: %s\n", err.msg);
    assert_int_equal(kill(p.pid, SIGCONT), 0);

    /* awake, the server executes the write it had received: the key holds record 2 */
    raw_connect(&r, p.url);
    raw_bind(&r, "IT_ckpt_lost");
    until = it_now_ms() + 5000;
    for (;;) {
        v = raw_get(&r, "k", NULL);
        if (v != NULL && seq_of(v) == 2)
            break;
        if (it_now_ms() > until)
            fail_msg("the write sent while frozen did not land (key holds %s)", v ? v : "nothing");
        free(v);
        sleep_ms(100);
    }
    free(v);

    /* the store did not see it land, yet its next write is not refused as another writer's */
    sample(&rec, 3);
    save_ok(s, &rec);
    load_ok(s, &out, true);
    assert_same(&rec, &out);
    v = raw_get(&r, "k", NULL);
    assert_int_equal(seq_of(v), 3);
    free(v);
    raw_close(&r);
    ckpt_close(s);
    priv_stop(&p);
}

static void
test_ckpt_kv_credentials_are_never_shown(void **state)
{
    struct ckpt_record rec, out;
    struct ckpt_store *s;
    struct cdc_err err = {0};
    static struct priv p;
    char url[128];
    bool found = false;

    (void) state;
    priv_start(&p, true);
    s = open_kv("nats-kv://IT_ckpt_auth/k", p.url, NATS_USER, NATS_PASS, NULL);
    assert_null(strstr(ckpt_describe(s), NATS_PASS));
    load_ok(s, &out, false);
    sample(&rec, 5);
    save_ok(s, &rec);
    load_ok(s, &out, true);
    assert_same(&rec, &out);
    ckpt_close(s);

    /* a wrong password: fatal, and the message shows neither password */
    s = open_kv("nats-kv://IT_ckpt_auth/k", p.url, NATS_USER, WRONG_PASS, NULL);
    assert_int_equal(ckpt_load(s, &out, &found, &err), CDC_ERR_FATAL);
    print_message("wrong password: %s\n", err.msg);
    assert_null(strstr(err.msg, WRONG_PASS));
    assert_null(strstr(err.msg, NATS_PASS));
    assert_int_equal(ckpt_save(s, &rec, &err), CDC_ERR_FATAL);
    assert_null(strstr(err.msg, WRONG_PASS));
    ckpt_close(s);

    /* credentials inside the server URL are not shown either */
    snprintf(url, sizeof(url), "nats://%s:%s@127.0.0.1:%d", NATS_USER, WRONG_PASS, p.port);
    s = open_kv("nats-kv://IT_ckpt_auth/k", url, NULL, NULL, NULL);
    assert_int_equal(ckpt_load(s, &out, &found, &err), CDC_ERR_FATAL);
    assert_null(strstr(err.msg, WRONG_PASS));
    assert_null(strstr(ckpt_describe(s), WRONG_PASS));
    ckpt_close(s);

    /* server gone: retry, without the password */
    s = open_kv("nats-kv://IT_ckpt_auth/k", p.url, NATS_USER, NATS_PASS, NULL);
    load_ok(s, &out, true);
    priv_kill(&p);
    sleep_ms(200);
    assert_int_equal(ckpt_save(s, &rec, &err), CDC_ERR_RETRY);
    assert_null(strstr(err.msg, NATS_PASS));
    ckpt_close(s);
    priv_stop(&p);
}

static void
write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* The daemon itself on nats-kv:// with an encrypted checkpoint: written, read back, key never
 * logged. */
static void
test_ckpt_kv_daemon_keeps_an_encrypted_checkpoint(void **state)
{
    static const char key_hex[] =
        "8f1c2b3a4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8";
    static const char other_hex[] =
        "0f1c2b3a4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f9";
    char keyfile[512], otherfile[512], xkey[600], xother[600], *log, *v;
    const char *extra[] = {"-X", "cdc.checkpoint_storage=nats-kv://IT_ckpt_daemon/it_kvd", "-X",
                           xkey, NULL};
    const char *wrong[] = {"-X",
                           "cdc.checkpoint_storage=nats-kv://IT_ckpt_daemon/it_kvd",
                           "-X",
                           xother,
                           "--exit-when-idle",
                           "1000",
                           NULL};
    unsigned char key[CKPT_KEY_LEN];
    struct ckpt_record out;
    struct ckpt_store *s;
    struct cdc_err err = {0};
    struct raw r;
    PGconn *c;
    pid_t pid;
    int status;

    (void) state;
    raw_drop_bucket(it_env("CDC_IT_NATS_URL"), "IT_ckpt_daemon");
    raw_connect(&r, it_env("CDC_IT_NATS_URL"));
    (void) js_DeleteStream(r.js, it_stream_name("it_kvd"), NULL, NULL); /* from an earlier run */
    raw_close(&r);
    snprintf(keyfile, sizeof(keyfile), "%s/it_kvd.key", it_env("CDC_IT_TMP"));
    snprintf(otherfile, sizeof(otherfile), "%s/it_kvd.other.key", it_env("CDC_IT_TMP"));
    write_text(keyfile, key_hex);
    write_text(otherfile, other_hex);
    snprintf(xkey, sizeof(xkey), "cdc.checkpoint_encryption_key_file=%s", keyfile);
    snprintf(xother, sizeof(xother), "cdc.checkpoint_encryption_key_file=%s", otherfile);
    c = it_fresh_db("it_kvd");
    it_sql(c, "CREATE TABLE t (id int PRIMARY KEY)");
    pid = it_daemon_start("it_kvd", "it_kvd", extra);
    it_wait_slot_active(c, "it_kvd");
    it_sql(c, "INSERT INTO t SELECT generate_series(1, 100)");
    assert_int_equal(it_wait_stream_count("it_kvd", 100, 20000), 100);
    kill(pid, SIGTERM);
    assert_int_equal(it_daemon_wait(pid, 30000), 0);

    /* the bucket holds a sealed record whose position is what the slot was told */
    raw_connect(&r, it_env("CDC_IT_NATS_URL"));
    raw_bind(&r, "IT_ckpt_daemon");
    v = raw_get(&r, "it_kvd", NULL);
    assert_non_null(v);
    assert_memory_equal(v, "{\"enc\":\"aes-256-gcm\",\"kid\":\"", 28);
    free(v);
    raw_close(&r);
    assert_int_equal(ckpt_key_parse(key_hex, strlen(key_hex), key, &err), CDC_OK);
    s = open_kv("nats-kv://IT_ckpt_daemon/it_kvd", it_env("CDC_IT_NATS_URL"), NULL, NULL, key);
    load_ok(s, &out, true);
    assert_string_equal(out.source, "it_kvd");
    assert_int_equal(out.lsn, it_slot_confirmed(c, "it_kvd"));
    ckpt_close(s);

    /* restarted with another key: it refuses, naming key ids, never a key */
    pid = it_daemon_start("it_kvd", "it_kvd", wrong);
    status = it_daemon_wait(pid, 30000);
    assert_true(status != 0 && status != -1);
    log = it_slurp(it_daemon_log("it_kvd"));
    assert_non_null(strstr(log, "checkpoint was written with key id"));
    assert_null(strstr(log, key_hex));
    assert_null(strstr(log, other_hex));
    free(log);
    PQfinish(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ckpt_kv_round_trip_creates_the_bucket),
        cmocka_unit_test(test_ckpt_kv_encrypted_round_trip),
        cmocka_unit_test(test_ckpt_kv_corrupt_value_is_fatal),
        cmocka_unit_test(test_ckpt_kv_second_writer_loses),
        cmocka_unit_test_teardown(test_ckpt_kv_outage_is_retry_then_recovers, teardown_privs),
        cmocka_unit_test_teardown(test_ckpt_kv_lost_reply_is_not_a_second_writer, teardown_privs),
        cmocka_unit_test_teardown(test_ckpt_kv_credentials_are_never_shown, teardown_privs),
        cmocka_unit_test(test_ckpt_kv_daemon_keeps_an_encrypted_checkpoint),
    };
    int rc;

    signal(SIGPIPE, SIG_IGN);
    rc = cmocka_run_group_tests(tests, NULL, teardown_privs);
    nats_Close();
    return rc;
}
