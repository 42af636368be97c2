/*
 * it_jssink.c - the JetStream publisher against a real nats-server: stream
 * set-up, every async publish acked exactly once and readable in order,
 * deduplication by Nats-Msg-Id, clear errors, and resends across a server
 * stall.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nats/nats.h>

#include "itlib.h"
#include "sink/nats/jssink.h"

#define N 10000

struct acks {
    _Atomic int n;
    _Atomic int dup;
    unsigned char seen[N];
};

static void
on_ack(void *c, const char *id, size_t len, bool ok, bool dup, uint64_t seq)
{
    struct acks *a = c;
    int i;

    (void) len;
    (void) seq;
    assert_true(ok);
    if (sscanf(id, "id-%d", &i) == 1 && i >= 0 && i < N)
        a->seen[i]++;
    atomic_fetch_add(&a->n, 1);
    if (dup)
        atomic_fetch_add(&a->dup, 1);
}

static struct jssink *
open_sink(const char *url, const char *stream, const char *prefix, struct acks *a)
{
    const char *urls[1] = {url};
    struct jssink_opts o;
    struct jssink *s = NULL;
    struct cdc_err err;

    jssink_opts_init(&o);
    o.urls = urls;
    o.n_urls = 1;
    o.stream = stream;
    o.subject_prefix = prefix;
    o.max_pending = 500;
    o.ack_timeout_ms = 1000;
    o.on_ack = on_ack;
    o.closure = a;
    if (jssink_create(&s, &o, &err) != CDC_OK)
        fail_msg("jssink_create: %s", err.msg);
    return s;
}

static void
delete_stream(const char *url, const char *stream)
{
    natsConnection *nc = NULL;
    jsCtx *js = NULL;

    assert_int_equal(natsConnection_ConnectTo(&nc, url), NATS_OK);
    assert_int_equal(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
    js_DeleteStream(js, stream, NULL, NULL);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

struct readback {
    int n;
    int in_order;
    uint64_t last_seq;
};

static void
count_msg(void *c, const char *subject, const char *data, int len, const char *id, uint64_t seq)
{
    struct readback *r = c;
    char want[32];

    (void) subject;
    snprintf(want, sizeof(want), "id-%d", r->n);
    if (id != NULL && strcmp(id, want) == 0 && len == (int) strlen(data) && seq > r->last_seq)
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

static void
test_jssink_every_publish_acked_once_and_stored_in_order(void **state)
{
    const char *url = it_env("CDC_IT_NATS_URL");
    struct acks *a = calloc(1, sizeof(*a));
    struct readback r = {0, 0, 0};
    struct cdc_err err;
    struct jssink *s;

    (void) state;
    delete_stream(url, "ITJS_ORDER");
    s = open_sink(url, "ITJS_ORDER", "itjs1", a);
    publish_range(s, "itjs1.db.public.t", 0, N);
    assert_int_equal(jssink_flush(s, 30000, &err), CDC_OK);
    assert_int_equal(atomic_load(&a->n), N);
    for (int i = 0; i < N; i++)
        assert_int_equal(a->seen[i], 1);
    assert_int_equal(jssink_pending(s), 0);
    jssink_destroy(s);
    assert_int_equal(jssink_read_stream(url, "ITJS_ORDER", NULL, count_msg, &r, 10000, &err),
                     CDC_OK);
    assert_int_equal(r.n, N);
    assert_int_equal(r.in_order, N);
    delete_stream(url, "ITJS_ORDER");
    free(a);
}

static void
test_jssink_same_msg_id_is_stored_once(void **state)
{
    const char *url = it_env("CDC_IT_NATS_URL");
    struct acks *a = calloc(1, sizeof(*a));
    struct readback r = {0, 0, 0};
    struct cdc_err err;
    struct jssink *s;

    (void) state;
    delete_stream(url, "ITJS_DUP");
    s = open_sink(url, "ITJS_DUP", "itjs2", a);
    publish_range(s, "itjs2.x", 0, 10);
    assert_int_equal(jssink_flush(s, 10000, &err), CDC_OK);
    publish_range(s, "itjs2.x", 0, 10); /* a replay */
    assert_int_equal(jssink_flush(s, 10000, &err), CDC_OK);
    assert_int_equal(atomic_load(&a->n), 20);
    assert_int_equal(atomic_load(&a->dup), 10);
    jssink_destroy(s);
    assert_int_equal(jssink_read_stream(url, "ITJS_DUP", NULL, count_msg, &r, 10000, &err), CDC_OK);
    assert_int_equal(r.n, 10);
    delete_stream(url, "ITJS_DUP");
    free(a);
}

static void
test_jssink_existing_stream_with_other_subjects_is_refused(void **state)
{
    const char *url = it_env("CDC_IT_NATS_URL");
    const char *urls[1] = {url};
    const char *subjects[1] = {"other.>"};
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    jsStreamConfig sc;
    struct jssink_opts o;
    struct jssink *s = NULL;
    struct cdc_err err;

    (void) state;
    delete_stream(url, "ITJS_OTHER");
    assert_int_equal(natsConnection_ConnectTo(&nc, url), NATS_OK);
    assert_int_equal(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
    jsStreamConfig_Init(&sc);
    sc.Name = "ITJS_OTHER";
    sc.Subjects = subjects;
    sc.SubjectsLen = 1;
    assert_int_equal(js_AddStream(NULL, js, &sc, NULL, NULL), NATS_OK);
    jssink_opts_init(&o);
    o.urls = urls;
    o.n_urls = 1;
    o.stream = "ITJS_OTHER";
    o.subject_prefix = "itjs3";
    assert_int_equal(jssink_create(&s, &o, &err), CDC_ERR_FATAL);
    assert_null(s);
    assert_non_null(strstr(err.msg, "\"ITJS_OTHER\""));
    assert_non_null(strstr(err.msg, "\"other.>\""));
    assert_non_null(strstr(err.msg, "\"itjs3.>\""));
    js_DeleteStream(js, "ITJS_OTHER", NULL, NULL);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

static void
test_jssink_unreachable_server_is_retryable_and_hides_password(void **state)
{
    const char *urls[1] = {"nats://alice:s3cr3t-pw@127.0.0.1:1"};
    struct jssink_opts o;
    struct jssink *s = NULL;
    struct cdc_err err;

    (void) state;
    jssink_opts_init(&o);
    o.urls = urls;
    o.n_urls = 1;
    o.request_timeout_ms = 2000;
    assert_int_equal(jssink_create(&s, &o, &err), CDC_ERR_RETRY);
    assert_null(s);
    assert_non_null(strstr(err.msg, "127.0.0.1:1"));
    assert_null(strstr(err.msg, "s3cr3t-pw"));
}

/*
 * The server stops answering (SIGSTOP) in the middle of a load: acks time
 * out, the messages are resent under the same ids once it is back, and the
 * stream holds each exactly once.
 */
static void
test_jssink_resends_after_server_stall_without_duplicates(void **state)
{
    const char *url = it_env("CDC_IT_NATS_URL");
    pid_t nats = (pid_t) atoi(it_env("CDC_IT_NATS_PID"));
    struct acks *a = calloc(1, sizeof(*a));
    struct readback r = {0, 0, 0};
    struct jssink_stats st;
    struct cdc_err err;
    struct jssink *s;

    (void) state;
    delete_stream(url, "ITJS_STALL");
    s = open_sink(url, "ITJS_STALL", "itjs4", a);
    publish_range(s, "itjs4.x", 0, 2000);
    kill(nats, SIGSTOP);
    publish_range(s, "itjs4.x", 2000, 2400); /* fits the window: they wait for acks */
    usleep(2500000);                         /* longer than the 1 s ack timeout */
    kill(nats, SIGCONT);
    publish_range(s, "itjs4.x", 2400, 3000);
    assert_int_equal(jssink_flush(s, 60000, &err), CDC_OK);
    jssink_stats(s, &st);
    print_message("stall: %llu resent, %llu duplicate acks\n", (unsigned long long) st.resent,
                  (unsigned long long) st.duplicates);
    assert_true(st.resent > 0);
    for (int i = 0; i < 3000; i++)
        assert_int_equal(a->seen[i], 1);
    jssink_destroy(s);
    assert_int_equal(jssink_read_stream(url, "ITJS_STALL", NULL, count_msg, &r, 10000, &err),
                     CDC_OK);
    assert_int_equal(r.n, 3000);
    delete_stream(url, "ITJS_STALL");
    free(a);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jssink_every_publish_acked_once_and_stored_in_order),
        cmocka_unit_test(test_jssink_same_msg_id_is_stored_once),
        cmocka_unit_test(test_jssink_existing_stream_with_other_subjects_is_refused),
        cmocka_unit_test(test_jssink_unreachable_server_is_retryable_and_hides_password),
        cmocka_unit_test(test_jssink_resends_after_server_stall_without_duplicates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
