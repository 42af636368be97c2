/*
 * it_jssink.c - the JetStream publisher against a real nats-server: stream
 * set-up and refusal, every async publish acked exactly once and readable in
 * order, deduplication by Nats-Msg-Id, clear errors (unreachable server,
 * oversize message, rejected message, no stream for the subject), flush
 * timeouts, and resends across a stalled and a restarted server.
 *
 * Most tests use the fixture's server (CDC_IT_NATS_URL) with a stream of
 * their own, deleted at the end. Tests that stop or restart a server start a
 * private nats-server (free loopback port, mktemp -d store) so that the
 * shared one is never disturbed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nats/nats.h>

#include "itlib.h"
#include "sink/nats/jssink.h"

#define N 10000

struct acks {
    _Atomic int n;
    _Atomic int dup;
    _Atomic int not_ok;
    _Atomic int bad_id;
    _Atomic unsigned char seen[N];
};

/* libnats thread: only record (cmocka asserts must stay on the test thread) */
static void
on_ack(void *c, const char *id, size_t len, bool ok, bool dup, uint64_t seq)
{
    struct acks *a = c;
    int i;

    (void) seq;
    if (!ok)
        atomic_fetch_add(&a->not_ok, 1);
    if (len == strlen(id) && sscanf(id, "id-%d", &i) == 1 && i >= 0 && i < N)
        atomic_fetch_add(&a->seen[i], 1);
    else
        atomic_fetch_add(&a->bad_id, 1);
    atomic_fetch_add(&a->n, 1);
    if (dup)
        atomic_fetch_add(&a->dup, 1);
}

static void
sink_opts(struct jssink_opts *o, const char **urls, const char *stream, const char *prefix,
          struct acks *a)
{
    jssink_opts_init(o);
    o->urls = urls;
    o->n_urls = 1;
    o->stream = stream;
    o->subject_prefix = prefix;
    o->max_pending = 500;
    o->ack_timeout_ms = 1000;
    o->retry_base_ms = 50;
    o->retry_cap_ms = 1000;
    o->on_ack = a != NULL ? on_ack : NULL;
    o->closure = a;
}

static struct jssink *
open_sink(const char *url, const char *stream, const char *prefix, struct acks *a)
{
    const char *urls[1] = {url};
    struct jssink_opts o;
    struct jssink *s = NULL;
    struct cdc_err err;

    sink_opts(&o, urls, stream, prefix, a);
    if (jssink_create(&s, &o, &err) != CDC_OK)
        fail_msg("jssink_create: %s", err.msg);
    return s;
}

/* A JetStream context on url for the test's own checks. */
struct admin {
    natsConnection *nc;
    jsCtx *js;
};

static void
admin_open(struct admin *ad, const char *url)
{
    assert_int_equal(natsConnection_ConnectTo(&ad->nc, url), NATS_OK);
    assert_int_equal(natsConnection_JetStream(&ad->js, ad->nc, NULL), NATS_OK);
}

static void
admin_close(struct admin *ad)
{
    jsCtx_Destroy(ad->js);
    natsConnection_Destroy(ad->nc);
}

static void
delete_stream(const char *url, const char *stream)
{
    struct admin ad;

    admin_open(&ad, url);
    js_DeleteStream(ad.js, stream, NULL, NULL);
    admin_close(&ad);
}

static void
add_stream(const char *url, const char *stream, const char **subjects, int n, int32_t max_msg_size)
{
    struct admin ad;
    jsStreamConfig sc;

    delete_stream(url, stream);
    admin_open(&ad, url);
    jsStreamConfig_Init(&sc);
    sc.Name = stream;
    sc.Subjects = subjects;
    sc.SubjectsLen = n;
    sc.Storage = js_MemoryStorage;
    if (max_msg_size > 0)
        sc.MaxMsgSize = max_msg_size;
    assert_int_equal(js_AddStream(NULL, ad.js, &sc, NULL, NULL), NATS_OK);
    admin_close(&ad);
}

struct readback {
    int n;
    int in_order; /* messages with the expected id, whole body and a rising sequence */
    uint64_t last_seq;
};

static void
count_msg(void *c, const char *subject, const char *data, int len, const char *id, uint64_t seq)
{
    struct readback *r = c;
    char want_id[32], want_body[64];

    (void) subject;
    snprintf(want_id, sizeof(want_id), "id-%d", r->n);
    snprintf(want_body, sizeof(want_body), "{\"i\":%d}", r->n);
    if (id != NULL && strcmp(id, want_id) == 0 && len == (int) strlen(want_body) &&
        memcmp(data, want_body, (size_t) len) == 0 && seq > r->last_seq)
        r->in_order++;
    r->last_seq = seq;
    r->n++;
}

static void
publish_range(struct jssink *s, const char *subject, int from, int to)
{
    struct cdc_err err;

    for (int i = from; i < to; i++) {
        char id[32], body[64];

        snprintf(id, sizeof(id), "id-%d", i);
        snprintf(body, sizeof(body), "{\"i\":%d}", i);
        if (jssink_publish(s, subject, id, body, strlen(body), NULL, 0, &err) != CDC_OK)
            fail_msg("publish %d: %s", i, err.msg);
    }
}

/* Every id in [0, n) acked exactly once, nothing else, all ok. */
static void
assert_acked_once(struct acks *a, int n)
{
    assert_int_equal(atomic_load(&a->n), n);
    assert_int_equal(atomic_load(&a->not_ok), 0);
    assert_int_equal(atomic_load(&a->bad_id), 0);
    for (int i = 0; i < n; i++)
        if (atomic_load(&a->seen[i]) != 1)
            fail_msg("id-%d acked %d times", i, (int) atomic_load(&a->seen[i]));
}

/* The stream holds exactly ids 0..n-1, in order, each once. */
static void
assert_stream_holds(const char *url, const char *stream, int n)
{
    struct readback r = {0, 0, 0};
    struct cdc_err err;

    if (jssink_read_stream(url, stream, NULL, count_msg, &r, 10000, &err) != CDC_OK)
        fail_msg("read back %s: %s", stream, err.msg);
    assert_int_equal(r.n, n);
    assert_int_equal(r.in_order, n);
}

struct idset {
    int n;
    int bad;
    int last;         /* the previous message's number, -1 before the first */
    int out_of_order; /* messages stored after one with a higher number */
    unsigned char seen[N];
};

static void
mark_msg(void *c, const char *subject, const char *data, int len, const char *id, uint64_t seq)
{
    struct idset *set = c;
    int i;

    (void) subject;
    (void) data;
    (void) len;
    (void) seq;
    set->n++;
    if (id != NULL && sscanf(id, "id-%d", &i) == 1 && i >= 0 && i < N) {
        set->seen[i]++;
        if (i < set->last)
            set->out_of_order++;
        set->last = i;
    } else {
        set->bad++;
    }
}

/*
 * The stream holds exactly ids 0..n-1, each once, in publish order: a message
 * resent after a failure is stored before anything published after it.
 */
static void
assert_stream_holds_each_once(const char *url, const char *stream, int n)
{
    struct idset *set = calloc(1, sizeof(*set));
    struct cdc_err err;

    set->last = -1;
    if (jssink_read_stream(url, stream, NULL, mark_msg, set, 10000, &err) != CDC_OK)
        fail_msg("read back %s: %s", stream, err.msg);
    assert_int_equal(set->n, n);
    assert_int_equal(set->bad, 0);
    if (set->out_of_order != 0)
        fail_msg("%d messages of %s were stored after a later one", set->out_of_order, stream);
    for (int i = 0; i < n; i++)
        if (set->seen[i] != 1)
            fail_msg("id-%d is %d times in %s", i, set->seen[i], stream);
    free(set);
}

/* --- a private nats-server, for the tests that stop or restart one --- */

struct priv_nats {
    pid_t pid;
    int port;
    char dir[64];
    char url[64];
};

/* The running private server, so that a failed test's teardown still stops it. */
static struct priv_nats *live_priv;
static struct priv_nats the_priv; /* static: outlives a failed test's stack frame */

static struct priv_nats *
priv_nats_fresh(void)
{
    memset(&the_priv, 0, sizeof(the_priv));
    return &the_priv;
}

/* Start (or restart, same port and store) the private server and wait until it answers. */
static void
priv_nats_start(struct priv_nats *p)
{
    char port[16], log[96];
    int64_t until = it_now_ms() + 10000;

    if (p->dir[0] == '\0') {
        snprintf(p->dir, sizeof(p->dir), "/tmp/it_jssink.XXXXXX");
        assert_non_null(mkdtemp(p->dir));
        p->port = it_free_port();
        snprintf(p->url, sizeof(p->url), "nats://127.0.0.1:%d", p->port);
    }
    live_priv = p;
    snprintf(port, sizeof(port), "%d", p->port);
    snprintf(log, sizeof(log), "%s/nats.log", p->dir);
    p->pid = fork();
    assert_true(p->pid >= 0);
    if (p->pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);

        dup2(fd, 1);
        dup2(fd, 2);
        execlp("nats-server", "nats-server", "-js", "-sd", p->dir, "-a", "127.0.0.1", "-p", port,
               (char *) NULL);
        _exit(127);
    }
    for (;;) {
        natsConnection *nc = NULL;

        if (natsConnection_ConnectTo(&nc, p->url) == NATS_OK) {
            natsConnection_Destroy(nc);
            return;
        }
        if (it_now_ms() > until)
            fail_msg("private nats-server on %s did not start (see %s)", p->url, log);
        usleep(50000);
    }
}

static void
priv_nats_stop(struct priv_nats *p)
{
    if (p->pid <= 0)
        return;
    kill(p->pid, SIGCONT);
    kill(p->pid, SIGTERM);
    waitpid(p->pid, NULL, 0);
    p->pid = 0;
}

static void
priv_nats_cleanup(struct priv_nats *p)
{
    char cmd[128];

    priv_nats_stop(p);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", p->dir);
    if (system(cmd) != 0)
        print_message("could not remove %s\n", p->dir);
    live_priv = NULL;
}

/* Teardown of the tests with a private server: stop it even if the test failed. */
static int
priv_nats_teardown(void **state)
{
    (void) state;
    if (live_priv != NULL)
        priv_nats_cleanup(live_priv);
    return 0;
}

/* --- stream set-up --- */

static void
test_jssink_creates_missing_stream_with_configured_settings(void **state)
{
    const char *url = it_env("CDC_IT_NATS_URL");
    const char *urls[1] = {url};
    struct jssink_opts o;
    struct jssink *s = NULL;
    jsStreamInfo *si = NULL;
    struct admin ad;
    struct cdc_err err;

    (void) state;
    delete_stream(url, "ITJS_CFG");
    sink_opts(&o, urls, "ITJS_CFG", "itjs.cfg", NULL);
    o.storage_memory = true;
    o.duplicate_window_ms = 45000;
    if (jssink_create(&s, &o, &err) != CDC_OK)
        fail_msg("jssink_create: %s", err.msg);
    admin_open(&ad, url);
    assert_int_equal(js_GetStreamInfo(&si, ad.js, "ITJS_CFG", NULL, NULL), NATS_OK);
    assert_int_equal(si->Config->SubjectsLen, 1);
    assert_string_equal(si->Config->Subjects[0], "itjs.cfg.>");
    assert_int_equal(si->Config->Storage, js_MemoryStorage);
    assert_int_equal(si->Config->Replicas, 1);
    assert_int_equal(si->Config->Duplicates, (int64_t) 45000 * 1000000);
    jsStreamInfo_Destroy(si);
    jssink_destroy(s);
    /* a second start finds the stream and keeps it */
    s = NULL;
    assert_int_equal(jssink_create(&s, &o, &err), CDC_OK);
    jssink_destroy(s);
    js_DeleteStream(ad.js, "ITJS_CFG", NULL, NULL);
    admin_close(&ad);
}

static void
test_jssink_existing_stream_with_other_subjects_is_refused(void **state)
{
    const char *url = it_env("CDC_IT_NATS_URL");
    const char *urls[1] = {url};
    const char *subjects[2] = {"other.>", "itjs3.only.*"};
    struct jssink_opts o;
    struct jssink *s = NULL;
    struct cdc_err err;

    (void) state;
    add_stream(url, "ITJS_OTHER", subjects, 2, 0);
    sink_opts(&o, urls, "ITJS_OTHER", "itjs3", NULL);
    assert_int_equal(jssink_create(&s, &o, &err), CDC_ERR_FATAL);
    assert_null(s);
    assert_non_null(strstr(err.msg, "\"ITJS_OTHER\""));
    assert_non_null(strstr(err.msg, "\"other.>\""));
    assert_non_null(strstr(err.msg, "\"itjs3.only.*\""));
    assert_non_null(strstr(err.msg, "\"itjs3.>\""));
    delete_stream(url, "ITJS_OTHER");
}

static void
test_jssink_existing_wider_stream_is_used(void **state)
{
    const char *url = it_env("CDC_IT_NATS_URL");
    const char *subjects[2] = {"itjs5other.>", "itjs5.>"};
    struct acks *a = calloc(1, sizeof(*a));
    struct cdc_err err;
    struct jssink *s;

    (void) state;
    add_stream(url, "ITJS_WIDE", subjects, 2, 0);
    s = open_sink(url, "ITJS_WIDE", "itjs5.app", a);
    publish_range(s, "itjs5.app.db.t", 0, 3);
    assert_int_equal(jssink_flush(s, 10000, &err), CDC_OK);
    jssink_destroy(s);
    assert_acked_once(a, 3);
    assert_stream_holds(url, "ITJS_WIDE", 3);
    delete_stream(url, "ITJS_WIDE");
    free(a);
}

/* --- publishing --- */

static void
test_jssink_every_publish_acked_once_and_stored_in_order(void **state)
{
    const char *url = it_env("CDC_IT_NATS_URL");
    struct acks *a = calloc(1, sizeof(*a));
    struct jssink_stats st;
    struct cdc_err err;
    struct jssink *s;

    (void) state;
    delete_stream(url, "ITJS_ORDER");
    s = open_sink(url, "ITJS_ORDER", "itjs1", a);
    publish_range(s, "itjs1.db.public.t", 0, N);
    assert_int_equal(jssink_flush(s, 30000, &err), CDC_OK);
    assert_acked_once(a, N); /* flush returned: every on_ack has run */
    assert_int_equal(jssink_pending(s), 0);
    jssink_stats(s, &st);
    assert_int_equal(st.published, N);
    assert_int_equal(st.acked, N);
    assert_int_equal(st.duplicates, 0);
    jssink_destroy(s);
    assert_stream_holds(url, "ITJS_ORDER", N);
    delete_stream(url, "ITJS_ORDER");
    free(a);
}

static void
test_jssink_same_msg_id_is_stored_once_with_headers(void **state)
{
    const char *url = it_env("CDC_IT_NATS_URL");
    const struct jssink_hdr hdr[1] = {{"Cdc-Commit-Lsn", "16/B374D848"}};
    struct acks *a = calloc(1, sizeof(*a));
    const char *v = NULL;
    natsMsg *m = NULL;
    struct admin ad;
    struct cdc_err err;
    struct jssink *s;

    (void) state;
    delete_stream(url, "ITJS_DUP");
    s = open_sink(url, "ITJS_DUP", "itjs2", a);
    assert_int_equal(jssink_publish(s, "itjs2.x", "id-0", "{\"i\":0}", 7, hdr, 1, &err), CDC_OK);
    assert_int_equal(jssink_flush(s, 10000, &err), CDC_OK);
    assert_int_equal(atomic_load(&a->dup), 0);
    /* a replay of the same event */
    assert_int_equal(jssink_publish(s, "itjs2.x", "id-0", "{\"i\":0}", 7, hdr, 1, &err), CDC_OK);
    assert_int_equal(jssink_flush(s, 10000, &err), CDC_OK);
    assert_int_equal(atomic_load(&a->n), 2);
    assert_int_equal(atomic_load(&a->dup), 1);
    assert_int_equal(atomic_load(&a->seen[0]), 2);
    jssink_destroy(s);
    assert_stream_holds(url, "ITJS_DUP", 1);
    admin_open(&ad, url);
    assert_int_equal(js_GetMsg(&m, ad.js, "ITJS_DUP", 1, NULL, NULL), NATS_OK);
    assert_int_equal(natsMsgHeader_Get(m, "Nats-Msg-Id", &v), NATS_OK);
    assert_string_equal(v, "id-0");
    assert_int_equal(natsMsgHeader_Get(m, "Cdc-Commit-Lsn", &v), NATS_OK);
    assert_string_equal(v, "16/B374D848");
    natsMsg_Destroy(m);
    admin_close(&ad);
    delete_stream(url, "ITJS_DUP");
    free(a);
}

/* --- errors --- */

static void
test_jssink_unreachable_server_is_retryable_fast_and_hides_password(void **state)
{
    const char *urls[1] = {"nats://alice:s3cr3t-pw@127.0.0.1:1"};
    struct jssink_opts o;
    struct jssink *s = NULL;
    struct cdc_err err;
    int64_t t0 = it_now_ms();

    (void) state;
    jssink_opts_init(&o);
    o.urls = urls;
    o.n_urls = 1;
    o.username = "bob";
    o.password = "opt-pw-9";
    o.request_timeout_ms = 2000;
    assert_int_equal(jssink_create(&s, &o, &err), CDC_ERR_RETRY);
    assert_true(it_now_ms() - t0 < 2000); /* refused at once, no reconnect loop */
    assert_null(s);
    assert_non_null(strstr(err.msg, "nats://***@127.0.0.1:1"));
    assert_null(strstr(err.msg, "s3cr3t-pw"));
    assert_null(strstr(err.msg, "opt-pw-9"));
    jssink_destroy(NULL);
}

static void
test_jssink_oversize_message_is_fatal_at_once(void **state)
{
    const char *url = it_env("CDC_IT_NATS_URL");
    size_t len = 2 * 1024 * 1024; /* nats-server's default max_payload is 1 MB */
    char *big = calloc(1, len);
    struct cdc_err err;
    struct jssink *s;

    (void) state;
    delete_stream(url, "ITJS_BIG");
    s = open_sink(url, "ITJS_BIG", "itjs8", NULL);
    assert_int_equal(jssink_publish(s, "itjs8.x", "id-big", big, len, NULL, 0, &err),
                     CDC_ERR_FATAL);
    assert_non_null(strstr(err.msg, "\"id-big\""));
    assert_non_null(strstr(err.msg, "max_payload"));
    assert_int_equal(jssink_pending(s), 0);
    assert_int_equal(jssink_flush(s, 1000, &err), CDC_OK);
    jssink_destroy(s);
    delete_stream(url, "ITJS_BIG");
    free(big);
}

/* The stream refuses the message (larger than its max_msg_size): given up, not resent forever. */
static void
test_jssink_message_rejected_by_stream_is_fatal_not_resent(void **state)
{
    const char *url = it_env("CDC_IT_NATS_URL");
    const char *subjects[1] = {"itjs9.>"};
    char body[200];
    struct jssink_stats st;
    struct cdc_err err;
    struct jssink *s;

    (void) state;
    add_stream(url, "ITJS_SMALL", subjects, 1, 100);
    s = open_sink(url, "ITJS_SMALL", "itjs9", NULL);
    memset(body, 'x', sizeof(body));
    assert_int_equal(jssink_publish(s, "itjs9.x", "id-1", body, sizeof(body), NULL, 0, &err),
                     CDC_OK);
    assert_int_equal(jssink_flush(s, 5000, &err), CDC_ERR_FATAL);
    assert_non_null(strstr(err.msg, "\"ITJS_SMALL\""));
    assert_non_null(strstr(err.msg, "\"id-1\""));
    assert_int_equal(jssink_last_error(s, NULL), CDC_ERR_FATAL);
    assert_int_equal(jssink_poll(s, &err), CDC_ERR_FATAL);
    jssink_stats(s, &st);
    assert_int_equal(st.resent, 0);
    assert_int_equal(jssink_pending(s), 1); /* never acked */
    jssink_destroy(s);
    delete_stream(url, "ITJS_SMALL");
}

/* No stream listens on the subject: "no responders" is resent only for a while, then fatal. */
static void
test_jssink_subject_without_stream_is_given_up_after_limit(void **state)
{
    const char *url = it_env("CDC_IT_NATS_URL");
    const char *urls[1] = {url};
    struct acks *a = calloc(1, sizeof(*a));
    struct jssink_opts o;
    struct jssink *s = NULL;
    struct cdc_err err;
    int64_t t0;
    cdc_rc rc;

    (void) state;
    delete_stream(url, "ITJS_NOSTREAM");
    sink_opts(&o, urls, "ITJS_NOSTREAM", "itjs10", a);
    o.no_responders_limit_ms = 1000;
    if (jssink_create(&s, &o, &err) != CDC_OK)
        fail_msg("jssink_create: %s", err.msg);
    publish_range(s, "itjs10.x", 0, 5);
    assert_int_equal(jssink_publish(s, "nowhere.itjs10", "id-lost", "{}", 2, NULL, 0, &err),
                     CDC_OK);
    t0 = it_now_ms();
    rc = jssink_flush(s, 10000, &err);
    assert_int_equal(rc, CDC_ERR_FATAL);
    assert_true(it_now_ms() - t0 >= 900);
    assert_non_null(strstr(err.msg, "no stream matches subject \"nowhere.itjs10\""));
    assert_non_null(strstr(err.msg, "\"ITJS_NOSTREAM\""));
    assert_acked_once(a, 5); /* the others went through */
    jssink_destroy(s);
    assert_stream_holds(url, "ITJS_NOSTREAM", 5);
    delete_stream(url, "ITJS_NOSTREAM");
    free(a);
}

/* --- a server that stops answering --- */

static void
test_jssink_flush_timeout_reports_outstanding(void **state)
{
    struct priv_nats *p = priv_nats_fresh();
    struct acks *a = calloc(1, sizeof(*a));
    struct cdc_err err;
    struct jssink *s;

    (void) state;
    priv_nats_start(p);
    s = open_sink(p->url, "ITJS_FLUSH", "itjs11", a);
    it_freeze(p->pid);
    publish_range(s, "itjs11.x", 0, 7);
    assert_int_equal(jssink_flush(s, 300, &err), CDC_ERR_TIMEOUT);
    assert_non_null(strstr(err.msg, "7 publishes still unacknowledged"));
    assert_int_equal(jssink_pending(s), 7);
    kill(p->pid, SIGCONT);
    assert_int_equal(jssink_flush(s, 20000, &err), CDC_OK);
    assert_acked_once(a, 7);
    jssink_destroy(s);
    assert_stream_holds(p->url, "ITJS_FLUSH", 7);
    priv_nats_cleanup(p);
    free(a);
}

/*
 * Backpressure: with the window full and no acks coming, jssink_publish
 * blocks, then gives up with CDC_ERR_RETRY at publish_deadline_ms; the
 * message it was given is not lost from the caller's point of view (it can
 * publish it again) and everything drains once the server answers.
 */
static void
test_jssink_publish_blocks_on_full_window_then_retry(void **state)
{
    struct priv_nats *p = priv_nats_fresh();
    const char *urls[1];
    struct acks *a = calloc(1, sizeof(*a));
    struct jssink_opts o;
    struct jssink *s = NULL;
    struct cdc_err err;
    int64_t t0, took;

    (void) state;
    priv_nats_start(p);
    urls[0] = p->url;
    sink_opts(&o, urls, "ITJS_WINDOW", "itjs13", a);
    o.max_pending = 10;
    o.ack_timeout_ms = 5000;
    o.publish_deadline_ms = 700;
    if (jssink_create(&s, &o, &err) != CDC_OK)
        fail_msg("jssink_create: %s", err.msg);
    it_freeze(p->pid);
    publish_range(s, "itjs13.x", 0, 10); /* fills the window */
    t0 = it_now_ms();
    assert_int_equal(jssink_publish(s, "itjs13.x", "id-10", "{\"i\":10}", 8, NULL, 0, &err),
                     CDC_ERR_RETRY);
    took = it_now_ms() - t0;
    assert_true(took >= 700 && took < 3000);
    assert_non_null(strstr(err.msg, "10 publishes unacknowledged"));
    kill(p->pid, SIGCONT);
    publish_range(s, "itjs13.x", 10, 11); /* the caller's retry */
    assert_int_equal(jssink_flush(s, 20000, &err), CDC_OK);
    assert_acked_once(a, 11);
    jssink_destroy(s);
    assert_stream_holds(p->url, "ITJS_WINDOW", 11);
    priv_nats_cleanup(p);
    free(a);
}

/* A publisher thread: the sink's owner while the test thread stalls or restarts the server. */
struct publisher {
    pthread_t t;
    struct jssink *s;
    const char *subject;
    int from, to;
    int failed_at; /* -1: all published */
    char why[CDC_ERR_MSG_MAX];
};

static void *
publisher_main(void *arg)
{
    struct publisher *pb = arg;
    struct cdc_err err;

    pb->failed_at = -1;
    for (int i = pb->from; i < pb->to; i++) {
        char id[32], body[64];

        snprintf(id, sizeof(id), "id-%d", i);
        snprintf(body, sizeof(body), "{\"i\":%d}", i);
        if (jssink_publish(pb->s, pb->subject, id, body, strlen(body), NULL, 0, &err) != CDC_OK) {
            pb->failed_at = i;
            snprintf(pb->why, sizeof(pb->why), "%s", err.msg);
            break;
        }
    }
    return NULL;
}

static void
publisher_start(struct publisher *pb, struct jssink *s, const char *subject, int from, int to)
{
    pb->s = s;
    pb->subject = subject;
    pb->from = from;
    pb->to = to;
    assert_int_equal(pthread_create(&pb->t, NULL, publisher_main, pb), 0);
}

/* Join; fails the test if a publish failed. */
static void
publisher_join(struct publisher *pb)
{
    assert_int_equal(pthread_join(pb->t, NULL), 0);
    if (pb->failed_at >= 0)
        fail_msg("publish %d: %s", pb->failed_at, pb->why);
}

/*
 * The byte bound (max_buffer_bytes): with 1,000 bytes allowed and 100-byte messages, the
 * eleventh publish waits while the server does not answer, although the window (max_pending)
 * has room; a message larger than the bound goes through when nothing is in flight.
 */
static void
test_jssink_publish_blocks_on_the_byte_bound(void **state)
{
    struct priv_nats *p = priv_nats_fresh();
    const char *urls[1];
    struct acks *a = calloc(1, sizeof(*a));
    struct jssink_opts o;
    struct jssink *s = NULL;
    struct cdc_err err;
    char body[2048];
    int64_t t0, took;

    (void) state;
    priv_nats_start(p);
    urls[0] = p->url;
    sink_opts(&o, urls, "ITJS_BYTES", "itjs14", a);
    o.max_pending = 1000;
    o.max_buffer_bytes = 1000;
    o.ack_timeout_ms = 5000;
    o.publish_deadline_ms = 700;
    if (jssink_create(&s, &o, &err) != CDC_OK)
        fail_msg("jssink_create: %s", err.msg);
    memset(body, 'x', sizeof(body));
    /* alone in flight, a message larger than the bound goes */
    assert_int_equal(jssink_publish(s, "itjs14.x", "id-0", body, 1500, NULL, 0, &err), CDC_OK);
    assert_int_equal(jssink_flush(s, 10000, &err), CDC_OK);
    it_freeze(p->pid);
    for (int i = 1; i <= 10; i++) {
        char id[16];

        snprintf(id, sizeof(id), "id-%d", i);
        assert_int_equal(jssink_publish(s, "itjs14.x", id, body, 100, NULL, 0, &err), CDC_OK);
    }
    t0 = it_now_ms();
    assert_int_equal(jssink_publish(s, "itjs14.x", "id-11", body, 100, NULL, 0, &err),
                     CDC_ERR_RETRY);
    took = it_now_ms() - t0;
    print_message("byte bound: the 11th publish waited %lld ms: %s\n", (long long) took, err.msg);
    assert_true(took >= 700 && took < 3000);
    assert_non_null(strstr(err.msg, "10 publishes unacknowledged"));
    kill(p->pid, SIGCONT);
    assert_int_equal(jssink_publish(s, "itjs14.x", "id-11", body, 100, NULL, 0, &err), CDC_OK);
    assert_int_equal(jssink_flush(s, 20000, &err), CDC_OK);
    assert_acked_once(a, 12);
    jssink_destroy(s);
    priv_nats_cleanup(p);
    free(a);
}

/*
 * The server stops answering (SIGSTOP) in the middle of a load: acks time
 * out, publishing blocks (nothing new is sent behind a failure) until the
 * server is back, the failed messages are resent under the same ids, oldest
 * first, and the stream holds each exactly once, in publish order.
 */
static void
test_jssink_resends_after_server_stall_without_duplicates(void **state)
{
    struct priv_nats *p = priv_nats_fresh();
    struct acks *a = calloc(1, sizeof(*a));
    struct jssink_stats st;
    struct publisher pb;
    struct cdc_err err;
    struct jssink *s;
    int64_t t0;

    (void) state;
    priv_nats_start(p);
    s = open_sink(p->url, "ITJS_STALL", "itjs4", a);
    publish_range(s, "itjs4.x", 0, 2000);
    it_freeze(p->pid);
    t0 = it_now_ms();
    publisher_start(&pb, s, "itjs4.x", 2000, 3000); /* blocks while the server is stopped */
    usleep(2500000);                                /* longer than the 1 s ack timeout */
    kill(p->pid, SIGCONT);
    publisher_join(&pb);
    print_message("stall: the last publish returned %lld ms after the stop (2500 ms)\n",
                  (long long) (it_now_ms() - t0));
    assert_true(it_now_ms() - t0 >= 2500);
    assert_int_equal(jssink_flush(s, 60000, &err), CDC_OK);
    jssink_stats(s, &st);
    print_message("stall: %llu resent, %llu duplicate acks\n", (unsigned long long) st.resent,
                  (unsigned long long) st.duplicates);
    assert_true(st.resent > 0);
    assert_acked_once(a, 3000);
    jssink_destroy(s);
    assert_stream_holds_each_once(p->url, "ITJS_STALL", 3000);
    priv_nats_cleanup(p);
    free(a);
}

/*
 * The server is restarted (same store) while publishing: publishes made
 * while it is down wait (libnats buffers nothing), the client reconnects,
 * the publishes lost with the old connection are resent first, and the
 * stream holds every message exactly once, in publish order.
 */
static void
test_jssink_survives_server_restart_without_loss_or_duplicates(void **state)
{
    struct priv_nats *p = priv_nats_fresh();
    struct acks *a = calloc(1, sizeof(*a));
    struct jssink_stats st;
    struct publisher pb;
    struct cdc_err err;
    struct jssink *s;

    (void) state;
    priv_nats_start(p);
    s = open_sink(p->url, "ITJS_RESTART", "itjs12", a);
    publish_range(s, "itjs12.x", 0, 1000);
    priv_nats_stop(p);
    publisher_start(&pb, s, "itjs12.x", 1000, 2000); /* waits while the server is down */
    usleep(1500000);
    priv_nats_start(p);
    publisher_join(&pb);
    assert_int_equal(jssink_flush(s, 60000, &err), CDC_OK);
    jssink_stats(s, &st);
    print_message("restart: %llu resent, %llu duplicate acks\n", (unsigned long long) st.resent,
                  (unsigned long long) st.duplicates);
    assert_acked_once(a, 2000);
    jssink_destroy(s);
    assert_stream_holds_each_once(p->url, "ITJS_RESTART", 2000);
    priv_nats_cleanup(p);
    free(a);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jssink_creates_missing_stream_with_configured_settings),
        cmocka_unit_test(test_jssink_existing_stream_with_other_subjects_is_refused),
        cmocka_unit_test(test_jssink_existing_wider_stream_is_used),
        cmocka_unit_test(test_jssink_every_publish_acked_once_and_stored_in_order),
        cmocka_unit_test(test_jssink_same_msg_id_is_stored_once_with_headers),
        cmocka_unit_test(test_jssink_unreachable_server_is_retryable_fast_and_hides_password),
        cmocka_unit_test(test_jssink_oversize_message_is_fatal_at_once),
        cmocka_unit_test(test_jssink_message_rejected_by_stream_is_fatal_not_resent),
        cmocka_unit_test(test_jssink_subject_without_stream_is_given_up_after_limit),
        cmocka_unit_test_teardown(test_jssink_flush_timeout_reports_outstanding,
                                  priv_nats_teardown),
        cmocka_unit_test_teardown(test_jssink_publish_blocks_on_full_window_then_retry,
                                  priv_nats_teardown),
        cmocka_unit_test_teardown(test_jssink_publish_blocks_on_the_byte_bound, priv_nats_teardown),
        cmocka_unit_test_teardown(test_jssink_resends_after_server_stall_without_duplicates,
                                  priv_nats_teardown),
        cmocka_unit_test_teardown(test_jssink_survives_server_restart_without_loss_or_duplicates,
                                  priv_nats_teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);

    nats_Close(); /* libnats's own threads, so that valgrind sees no leak */
    return failed;
}
