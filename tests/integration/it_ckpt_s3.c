/*
 * it_ckpt_s3.c - the s3:// checkpoint store against real s3rver instances
 * (npm s3rver 3.7.1, scripts/s3ctl.sh): the fixture's (CDC_IT_S3_ENDPOINT,
 * bucket CDC_IT_S3_BUCKET) for the round trip, encryption, a corrupt object,
 * refusals (an unknown access key, a missing bucket) and the daemon end to
 * end; a private one started here (same script, free port, the run's temp
 * dir, stopped by pid) for an outage: killed, then restarted on the same port
 * and data dir, and frozen (a timeout). The fixture's server is never stopped.
 *
 * s3rver accepts the access key S3RVER (any secret: it does not verify SigV4)
 * and refuses other keys. It does NOT honour conditional PUTs: version 3.7.1's
 * putObject (lib/controllers/object.js) ignores If-Match and If-None-Match
 * (only GET looks at If-None-Match, for a 304), so it never answers 412. The
 * store reads the object's ETag before each overwrite, for servers like it,
 * so the two-writers case (the writer that was overtaken loses with "changed
 * by another writer") is tested here against s3rver; that the conditions are
 * sent as well is checked by pointing a store at a small libmicrohttpd
 * listener started here (a one-object store), which records each request and
 * checks x-amz-content-sha256, the SigV4 Authorization header, SignedHeaders,
 * x-amz-security-token, SSE headers and If-None-Match / If-Match.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <microhttpd.h>
#include <nats/nats.h>
#include <openssl/evp.h>

#include "checkpoint/ckpt.h"
#include "itlib.h"

#define S3_KEY    "S3RVER"
#define S3_SECRET "S3rver-s3cret-Pw/xyz"
#define REGION    "us-east-1"

static void
sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static void
use_creds(const char *key, const char *secret, const char *token)
{
    setenv("AWS_ACCESS_KEY_ID", key, 1);
    setenv("AWS_SECRET_ACCESS_KEY", secret, 1);
    if (token != NULL)
        setenv("AWS_SESSION_TOKEN", token, 1);
    else
        unsetenv("AWS_SESSION_TOKEN");
}

static void
sha256_hex(const char *data, size_t len, char hex[65])
{
    unsigned char md[32];
    unsigned int n = 0;

    assert_int_equal(EVP_Digest(data, len, md, &n, EVP_sha256(), NULL), 1);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* ---- raw, unsigned access to s3rver (it allows anonymous requests) ---- */

struct raw_body {
    char buf[16384];
    size_t len;
};

static size_t
raw_on_body(char *d, size_t size, size_t n, void *arg)
{
    struct raw_body *b = arg;
    size_t len = size * n;

    if (len > sizeof(b->buf) - 1 - b->len)
        len = sizeof(b->buf) - 1 - b->len;
    memcpy(b->buf + b->len, d, len);
    b->len += len;
    b->buf[b->len] = '\0';
    return size * n;
}

/* method on ENDPOINT/BUCKET/path; returns the HTTP status; *out (may be NULL) gets the body. */
static long
raw_http(const char *endpoint, const char *method, const char *path, const char *data,
         struct raw_body *out)
{
    static struct raw_body scratch;
    struct raw_body *b = out ? out : &scratch;
    char url[1024];
    CURL *c = curl_easy_init();
    long status = 0;

    assert_non_null(c);
    b->len = 0;
    b->buf[0] = '\0';
    snprintf(url, sizeof(url), "%s/%s/%s", endpoint, it_env("CDC_IT_S3_BUCKET"), path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, raw_on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
    if (data != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long) strlen(data));
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, data);
    }
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    return status;
}

static struct ckpt_store *
open_s3(const char *url, const unsigned char *key)
{
    struct ckpt_store *s = NULL;
    struct cdc_err err = {0};
    struct ckpt_opts o;

    ckpt_opts_init(&o);
    o.key = key;
    if (ckpt_open(&s, url, &o, &err) != CDC_OK)
        fail_msg("ckpt_open(%s): %s", url, err.msg);
    return s;
}

/* "s3://BUCKET/path?region=...&endpoint=ENDPOINT&timeout=MS" + extra */
static void
s3_url(char *out, size_t cap, const char *endpoint, const char *path, int timeout_ms,
       const char *extra)
{
    snprintf(out, cap, "s3://%s/%s?region=" REGION "&endpoint=%s&timeout=%d%s",
             it_env("CDC_IT_S3_BUCKET"), path, endpoint, timeout_ms, extra ? extra : "");
}

static void
sample(struct ckpt_record *r, uint64_t seq)
{
    memset(r, 0, sizeof(*r));
    r->version = CKPT_VERSION;
    snprintf(r->source, sizeof(r->source), "it-s3");
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

static uint64_t
seq_of(const char *text)
{
    struct ckpt_record r;
    struct cdc_err err = {0};

    if (ckpt_decode(text, strlen(text), &r, &err) != CDC_OK)
        fail_msg("stored object does not decode: %s", err.msg);
    return r.stream_seq;
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

/* ---- a private s3rver, started with scripts/s3ctl.sh ---- */

struct priv {
    pid_t pid;
    int port;
    char dir[512];
    char endpoint[64];
};

static struct priv *live;

static void
priv_run(struct priv *p)
{
    char repo[512], cmd[2048], line[64] = "";
    const char *data = it_env("CDC_TEST_DATA"); /* <repo>/tests/data */
    FILE *f;

    snprintf(repo, sizeof(repo), "%s/../..", data);
    snprintf(cmd, sizeof(cmd),
             "bash -c 'source \"$1/scripts/pgctl.sh\" && source \"$1/scripts/s3ctl.sh\" && "
             "cdc_start_s3rver \"$2\" \"$3\" \"$4\"' _ '%s' '%s' %d '%s'",
             repo, p->dir, p->port, it_env("CDC_IT_S3_BUCKET"));
    f = popen(cmd, "r");
    assert_non_null(f);
    if (fgets(line, sizeof(line), f) == NULL)
        line[0] = '\0';
    assert_int_equal(pclose(f), 0);
    p->pid = (pid_t) atoi(line);
    assert_true(p->pid > 1);
    live = p;
}

static void
priv_start(struct priv *p)
{
    memset(p, 0, sizeof(*p));
    p->port = it_free_port();
    snprintf(p->dir, sizeof(p->dir), "%s/s3priv-%d", it_env("CDC_IT_TMP"), p->port);
    snprintf(p->endpoint, sizeof(p->endpoint), "http://127.0.0.1:%d", p->port);
    priv_run(p);
}

static void
priv_stop(struct priv *p)
{
    if (p->pid > 1) {
        kill(p->pid, SIGCONT);
        it_pid_stop(p->pid);
    }
    p->pid = 0;
    live = NULL;
}

static int
teardown_priv(void **state)
{
    (void) state;
    if (live != NULL)
        priv_stop(live);
    return 0;
}

/* ---- a header recorder (libmicrohttpd) for the signing test ---- */

#define REC_MAX 8
#define HDR_MAX 32

struct rec_req {
    char method[8];
    char hdr[HDR_MAX][2][600];
    int nhdr;
    char body[8192];
    size_t blen;
};

struct recorder {
    struct MHD_Daemon *d;
    int port;
    pthread_mutex_t mu;
    struct rec_req req[REC_MAX];
    int n;
    int last_put; /* index of the last PUT (the object GET returns), -1: none */
};

static enum MHD_Result
rec_header(void *cls, enum MHD_ValueKind kind, const char *name, const char *value)
{
    struct rec_req *q = cls;

    (void) kind;
    if (q->nhdr < HDR_MAX) {
        snprintf(q->hdr[q->nhdr][0], sizeof(q->hdr[0][0]), "%s", name);
        snprintf(q->hdr[q->nhdr][1], sizeof(q->hdr[0][1]), "%s", value ? value : "");
        q->nhdr++;
    }
    return MHD_YES;
}

static enum MHD_Result
rec_handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
           const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    static const char nokey[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey"
                                "</Code><Message>The specified key does not exist.</Message>"
                                "</Error>";
    struct recorder *r = cls;
    struct rec_req *q = *con_cls;
    struct MHD_Response *resp;
    enum MHD_Result ret;
    char etag[32];
    bool get, have;

    (void) url;
    (void) version;
    if (q == NULL) {
        pthread_mutex_lock(&r->mu);
        if (r->n == REC_MAX) {
            pthread_mutex_unlock(&r->mu);
            return MHD_NO;
        }
        q = &r->req[r->n++];
        pthread_mutex_unlock(&r->mu);
        snprintf(q->method, sizeof(q->method), "%s", method);
        MHD_get_connection_values(c, MHD_HEADER_KIND, rec_header, q);
        *con_cls = q;
        return MHD_YES;
    }
    if (*upload_size > 0) {
        size_t n = *upload_size;

        if (n > sizeof(q->body) - q->blen)
            n = sizeof(q->body) - q->blen;
        memcpy(q->body + q->blen, upload, n);
        q->blen += n;
        *upload_size = 0;
        return MHD_YES;
    }
    /* an object store of one object: GET returns the last PUT, with its ETag */
    get = strcmp(method, "GET") == 0;
    pthread_mutex_lock(&r->mu);
    if (!get)
        r->last_put = (int) (q - r->req);
    have = r->last_put >= 0;
    pthread_mutex_unlock(&r->mu);
    if (get && have)
        resp = MHD_create_response_from_buffer(r->req[r->last_put].blen, r->req[r->last_put].body,
                                               MHD_RESPMEM_MUST_COPY);
    else
        resp = MHD_create_response_from_buffer(get ? strlen(nokey) : 0, (void *) nokey,
                                               MHD_RESPMEM_PERSISTENT);
    snprintf(etag, sizeof(etag), "\"etag-%d\"", get ? r->last_put : (int) (q - r->req));
    if (!get || have)
        MHD_add_response_header(resp, "ETag", etag);
    ret = MHD_queue_response(c, get && !have ? 404 : 200, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void
rec_start(struct recorder *r)
{
    const union MHD_DaemonInfo *info;

    memset(r, 0, sizeof(*r));
    r->last_put = -1;
    pthread_mutex_init(&r->mu, NULL);
    r->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                            rec_handle, r, MHD_OPTION_END);
    assert_non_null(r->d);
    info = MHD_get_daemon_info(r->d, MHD_DAEMON_INFO_BIND_PORT);
    assert_non_null(info);
    r->port = info->port;
}

static const char *
rec_get(const struct rec_req *q, const char *name)
{
    for (int i = 0; i < q->nhdr; i++)
        if (strcasecmp(q->hdr[i][0], name) == 0)
            return q->hdr[i][1];
    return NULL;
}

/* Is name one of the ;-separated SignedHeaders of the Authorization value auth? */
static bool
is_signed(const char *auth, const char *name)
{
    const char *p = strstr(auth, "SignedHeaders=");
    size_t n = strlen(name);

    if (p == NULL)
        return false;
    p += strlen("SignedHeaders=");
    for (;;) {
        size_t len = strcspn(p, ";,");

        if (len == n && strncmp(p, name, n) == 0)
            return true;
        if (p[len] != ';')
            return false;
        p += len + 1;
    }
}

/* Check the SigV4 parts every request must carry; the credential scope from x-amz-date. */
static void
check_signed_request(const struct rec_req *q, const char *body, size_t blen, const char *token)
{
    const char *auth = rec_get(q, "Authorization"), *date = rec_get(q, "x-amz-date");
    const char *sha = rec_get(q, "x-amz-content-sha256");
    char want[256], hex[65], today[16], yesterday[16];
    time_t now = time(NULL), before = now - 86400;
    struct tm tm;

    assert_non_null(auth);
    assert_non_null(date);
    assert_non_null(sha);
    sha256_hex(body, blen, hex);
    assert_string_equal(sha, hex);
    assert_true(strlen(date) == 16 && date[8] == 'T' && date[15] == 'Z');
    /* the request was signed today (or just before midnight) */
    gmtime_r(&now, &tm);
    strftime(today, sizeof(today), "%Y%m%d", &tm);
    gmtime_r(&before, &tm);
    strftime(yesterday, sizeof(yesterday), "%Y%m%d", &tm);
    assert_true(strncmp(date, today, 8) == 0 || strncmp(date, yesterday, 8) == 0);
    snprintf(want, sizeof(want),
             "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/%.8s/eu-west-1/s3/aws4_request", date);
    if (strncmp(auth, want, strlen(want)) != 0)
        fail_msg("Authorization \"%s\" does not start with \"%s\"", auth, want);
    assert_true(is_signed(auth, "host"));
    assert_true(is_signed(auth, "x-amz-date"));
    assert_true(is_signed(auth, "x-amz-content-sha256"));
    assert_non_null(strstr(auth, "Signature="));
    /* every signed header was sent: S3 recomputes the signature from what it receives */
    for (const char *p = strstr(auth, "SignedHeaders=") + strlen("SignedHeaders=");;) {
        size_t len = strcspn(p, ";,");
        char name[64];

        assert_true(len > 0 && len < sizeof(name));
        memcpy(name, p, len);
        name[len] = '\0';
        if (rec_get(q, name) == NULL)
            fail_msg("header \"%s\" is signed but was not sent", name);
        if (p[len] != ';')
            break;
        p += len + 1;
    }
    if (token != NULL) {
        assert_string_equal(rec_get(q, "x-amz-security-token"), token);
        assert_true(is_signed(auth, "x-amz-security-token"));
    }
    for (int i = 0; i < q->nhdr; i++)
        assert_null(strstr(q->hdr[i][1], S3_SECRET));
}

/* ---- the tests ---- */

static void
test_ckpt_s3_round_trip(void **state)
{
    static const unsigned char key[CKPT_KEY_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    const char *ep = it_env("CDC_IT_S3_ENDPOINT");
    char url[1024], desc[1024];
    struct ckpt_record in, out;
    struct ckpt_store *a, *b;
    struct raw_body body;

    (void) state;
    use_creds(S3_KEY, S3_SECRET, NULL);
    raw_http(ep, "DELETE", "it/rt.json", NULL, NULL);
    s3_url(url, sizeof(url), ep, "it/rt.json", 3000, NULL);
    a = open_s3(url, NULL);
    snprintf(desc, sizeof(desc), "s3://%s/it/rt.json (region " REGION ", endpoint %s)",
             it_env("CDC_IT_S3_BUCKET"), ep);
    assert_string_equal(ckpt_describe(a), desc);
    load_ok(a, &out, false);
    sample(&in, 1);
    save_ok(a, &in); /* If-None-Match: * */
    assert_int_equal(raw_http(ep, "GET", "it/rt.json", NULL, &body), 200);
    assert_int_equal(seq_of(body.buf), 1);
    sample(&in, 2);
    save_ok(a, &in); /* If-Match: the ETag of the first write */
    assert_int_equal(raw_http(ep, "GET", "it/rt.json", NULL, &body), 200);
    assert_int_equal(seq_of(body.buf), 2);
    /* another store on the same key reads it back, and may carry on from there */
    b = open_s3(url, NULL);
    load_ok(b, &out, true);
    assert_same(&in, &out);
    sample(&in, 3);
    save_ok(b, &in);
    load_ok(b, &out, true);
    assert_same(&in, &out);
    ckpt_close(b);
    ckpt_close(a);

    /* encrypted: the object holds the sealed envelope, a store with the key reads it */
    raw_http(ep, "DELETE", "it/enc.json", NULL, NULL);
    s3_url(url, sizeof(url), ep, "it/enc.json", 3000, "&sse=AES256");
    a = open_s3(url, key);
    load_ok(a, &out, false);
    sample(&in, 7);
    save_ok(a, &in);
    assert_int_equal(raw_http(ep, "GET", "it/enc.json", NULL, &body), 200);
    assert_memory_equal(body.buf, "{\"enc\":\"aes-256-gcm\",\"kid\":\"", 28);
    load_ok(a, &out, true);
    assert_same(&in, &out);
    ckpt_close(a);
}

static void
test_ckpt_s3_corrupt_object_is_fatal(void **state)
{
    const char *ep = it_env("CDC_IT_S3_ENDPOINT");
    struct ckpt_record in, out;
    struct cdc_err err = {0};
    struct ckpt_store *s;
    struct raw_body body;
    bool found = true;
    char url[1024], *p;

    (void) state;
    use_creds(S3_KEY, S3_SECRET, NULL);
    raw_http(ep, "DELETE", "it/corrupt.json", NULL, NULL);
    s3_url(url, sizeof(url), ep, "it/corrupt.json", 3000, NULL);
    s = open_s3(url, NULL);
    load_ok(s, &out, false);
    sample(&in, 5);
    save_ok(s, &in);
    /* one digit of the stored position changed behind our back: the digest no longer matches */
    assert_int_equal(raw_http(ep, "GET", "it/corrupt.json", NULL, &body), 200);
    p = strstr(body.buf, "\"stream_seq\":5");
    assert_non_null(p);
    p[strlen("\"stream_seq\":")] = '6';
    assert_int_equal(raw_http(ep, "PUT", "it/corrupt.json", body.buf, NULL), 200);
    assert_int_equal(ckpt_load(s, &out, &found, &err), CDC_ERR_FATAL);
    print_message("tampered: %s\n", err.msg);
    assert_false(found);
    assert_non_null(strstr(err.msg, "s3://"));
    /* garbage */
    assert_int_equal(raw_http(ep, "PUT", "it/corrupt.json", "not a checkpoint \x01", NULL), 200);
    assert_int_equal(ckpt_load(s, &out, &found, &err), CDC_ERR_FATAL);
    print_message("garbage: %s\n", err.msg);
    /* empty: corrupt, not "no record" */
    assert_int_equal(raw_http(ep, "PUT", "it/corrupt.json", "", NULL), 200);
    assert_int_equal(ckpt_load(s, &out, &found, &err), CDC_ERR_FATAL);
    assert_false(found);
    ckpt_close(s);
}

static void
test_ckpt_s3_refusals_are_fatal_with_the_s3_code(void **state)
{
    const char *ep = it_env("CDC_IT_S3_ENDPOINT");
    struct ckpt_record in, out;
    struct cdc_err err = {0};
    struct ckpt_store *s;
    bool found = true;
    char url[1024];

    (void) state;
    /* an access key s3rver does not know: 403 InvalidAccessKeyId */
    use_creds("AKIAUNKNOWN", S3_SECRET, NULL);
    s3_url(url, sizeof(url), ep, "it/refused.json", 3000, NULL);
    s = open_s3(url, NULL);
    assert_int_equal(ckpt_load(s, &out, &found, &err), CDC_ERR_FATAL);
    print_message("unknown key: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "HTTP 403 InvalidAccessKeyId"));
    assert_null(strstr(err.msg, S3_SECRET));
    sample(&in, 1);
    assert_int_equal(ckpt_save(s, &in, &err), CDC_ERR_FATAL);
    assert_non_null(strstr(err.msg, "InvalidAccessKeyId"));
    assert_null(strstr(ckpt_describe(s), S3_SECRET));
    ckpt_close(s);

    /* a bucket that does not exist: 404 NoSuchBucket is not "no record" */
    use_creds(S3_KEY, S3_SECRET, NULL);
    snprintf(url, sizeof(url), "s3://no-such-bucket/k.json?region=" REGION "&endpoint=%s", ep);
    s = open_s3(url, NULL);
    assert_int_equal(ckpt_load(s, &out, &found, &err), CDC_ERR_FATAL);
    print_message("no bucket: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "NoSuchBucket"));
    ckpt_close(s);
}

static void
test_ckpt_s3_bad_configuration_is_refused_at_open(void **state)
{
    static const char *bad[] = {
        "s3://Bad_Bucket/k?region=" REGION,
        "s3://bucket?region=" REGION,
        "s3://bucket/a//b?region=" REGION,
        "s3://bucket/a/../b?region=" REGION,
        "s3://bucket/k?region=" REGION "&sse=DES",
        "s3://bucket/k?region=" REGION "&kms_key_id=abc",
        "s3://bucket/k?region=" REGION "&endpoint=http://user:pw@host",
        "s3://bucket/k?region=" REGION "&timeout=0",
        "s3://bucket/k?region=" REGION "&colour=blue",
        "s3://bucket/k",
    };
    struct ckpt_store *s = NULL;
    struct cdc_err err = {0};

    (void) state;
    use_creds(S3_KEY, S3_SECRET, NULL);
    unsetenv("AWS_REGION");
    unsetenv("AWS_DEFAULT_REGION");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (ckpt_open(&s, bad[i], NULL, &err) != CDC_ERR_CONFIG)
            fail_msg("%s was accepted", bad[i]);
        assert_null(strstr(err.msg, "pw@"));
    }
    /* the region may come from the environment; the endpoint follows it */
    setenv("AWS_REGION", "eu-central-1", 1);
    assert_int_equal(ckpt_open(&s, "s3://bucket/k?sse=aws:kms&kms_key_id=alias%2Fckpt", NULL, &err),
                     CDC_OK);
    assert_string_equal(ckpt_describe(s), "s3://bucket/k (region eu-central-1, endpoint "
                                          "https://s3.eu-central-1.amazonaws.com, sse aws:kms)");
    ckpt_close(s);
    unsetenv("AWS_REGION");

    /* no credentials: a configuration error at open, naming the variables */
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_SESSION_TOKEN");
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1); /* not the instance metadata fallback */
    assert_int_equal(ckpt_open(&s, "s3://bucket/k?region=" REGION, NULL, &err), CDC_ERR_CONFIG);
    print_message("no credentials: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "s3://bucket/k"));
    assert_non_null(strstr(err.msg, "AWS_ACCESS_KEY_ID"));
    unsetenv("AWS_EC2_METADATA_DISABLED");
    use_creds(S3_KEY, S3_SECRET, NULL);
}

static void
test_ckpt_s3_outage_is_retry_then_recovers(void **state)
{
    struct ckpt_record rec, out;
    struct ckpt_store *s, *late;
    struct cdc_err err = {0};
    static struct priv p;
    bool found = false;
    char url[1024];
    int64_t t0;
    int n;

    (void) state;
    use_creds(S3_KEY, S3_SECRET, NULL);
    priv_start(&p);
    s3_url(url, sizeof(url), p.endpoint, "out.json", 1000, NULL);
    s = open_s3(url, NULL);
    load_ok(s, &out, false);
    sample(&rec, 1);
    save_ok(s, &rec);

    /* killed: connection refused, at once */
    it_pid_stop(p.pid);
    p.pid = 0;
    sample(&rec, 2);
    t0 = it_now_ms();
    assert_int_equal(ckpt_save(s, &rec, &err), CDC_ERR_RETRY);
    print_message("while down: %s (%lld ms)\n", err.msg, (long long) (it_now_ms() - t0));
    assert_non_null(strstr(err.msg, "s3://"));
    assert_true(it_now_ms() - t0 < 1000);
    assert_int_equal(ckpt_load(s, &out, &found, &err), CDC_ERR_RETRY);
    late = open_s3(url, NULL); /* opening does not reach the store */
    assert_int_equal(ckpt_load(late, &out, &found, &err), CDC_ERR_RETRY);

    /* back on the same port and data dir: the first record is still there */
    priv_run(&p);
    load_ok(late, &out, true);
    assert_int_equal(out.stream_seq, 1);
    n = save_eventually(s, &rec, 20000);
    print_message("saved again after %d attempt(s)\n", n);
    load_ok(late, &out, true);
    assert_same(&rec, &out);

    /* frozen: no answer within the timeout is RETRY too, and it recovers when thawed */
    it_freeze(p.pid);
    sample(&rec, 3);
    t0 = it_now_ms();
    assert_int_equal(ckpt_load(s, &out, &found, &err), CDC_ERR_RETRY);
    print_message("while frozen: %s (%lld ms)\n", err.msg, (long long) (it_now_ms() - t0));
    assert_true(it_now_ms() - t0 < 3000);
    kill(p.pid, SIGCONT);
    load_ok(s, &out, true);
    assert_int_equal(out.stream_seq, 2);
    save_eventually(s, &rec, 20000);
    load_ok(late, &out, true);
    assert_same(&rec, &out);
    ckpt_close(late);
    ckpt_close(s);
    priv_stop(&p);
}

static void
test_ckpt_s3_signs_and_sends_the_headers(void **state)
{
    static const char token[] = "FwoGZXIvYXdzEXAMPLEtoken";
    static const char empty_sha[] =
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    struct ckpt_record in, out;
    struct cdc_err err = {0};
    struct recorder r;
    struct ckpt_store *s;
    const struct rec_req *q;
    char url[512];
    bool found;

    (void) state;
    use_creds("AKIDEXAMPLE", S3_SECRET, token);
    rec_start(&r);
    snprintf(url, sizeof(url),
             "s3://rec-bucket/a/b.json?region=eu-west-1&endpoint=http://127.0.0.1:%d&sse=AES256",
             r.port);
    s = open_s3(url, NULL);
    assert_null(strstr(ckpt_describe(s), S3_SECRET));
    assert_null(strstr(ckpt_describe(s), token));
    load_ok(s, &out, false); /* 0: GET, 404 NoSuchKey */
    sample(&in, 1);
    save_ok(s, &in); /* 1: PUT, If-None-Match: * */
    sample(&in, 2);
    save_ok(s, &in); /* 2: GET (the ETag is still "etag-1"), 3: PUT, If-Match: "etag-1" */
    ckpt_close(s);
    assert_int_equal(r.n, 4);

    q = &r.req[0];
    assert_string_equal(q->method, "GET");
    assert_string_equal(rec_get(q, "x-amz-content-sha256"), empty_sha);
    check_signed_request(q, "", 0, token);
    assert_null(rec_get(q, "x-amz-server-side-encryption"));

    q = &r.req[1];
    assert_string_equal(q->method, "PUT");
    assert_true(q->blen > 0);
    check_signed_request(q, q->body, q->blen, token);
    assert_int_equal(seq_of(q->body), 1);
    assert_string_equal(rec_get(q, "x-amz-server-side-encryption"), "AES256");
    assert_true(is_signed(rec_get(q, "Authorization"), "x-amz-server-side-encryption"));
    assert_string_equal(rec_get(q, "If-None-Match"), "*");
    assert_null(rec_get(q, "If-Match"));
    assert_true(is_signed(rec_get(q, "Authorization"), "if-none-match"));
    print_message("Authorization: %s\n", rec_get(q, "Authorization"));

    q = &r.req[2];
    assert_string_equal(q->method, "GET");
    check_signed_request(q, "", 0, token);

    q = &r.req[3];
    assert_string_equal(q->method, "PUT");
    check_signed_request(q, q->body, q->blen, token);
    assert_string_equal(rec_get(q, "If-Match"), "\"etag-1\"");
    assert_null(rec_get(q, "If-None-Match"));

    /* the listener gone: RETRY, and the message holds neither secret */
    MHD_stop_daemon(r.d);
    s = open_s3(url, NULL);
    assert_int_equal(ckpt_load(s, &out, &found, &err), CDC_ERR_RETRY);
    assert_null(strstr(err.msg, S3_SECRET));
    assert_null(strstr(err.msg, token));
    ckpt_close(s);
    pthread_mutex_destroy(&r.mu);
    use_creds(S3_KEY, S3_SECRET, NULL);
}

/* The daemon itself with cdc.checkpoint_storage=s3://...: the record matches the slot. */
static void
test_ckpt_s3_daemon_end_to_end(void **state)
{
    const char *ep = it_env("CDC_IT_S3_ENDPOINT");
    char url[1024], xurl[1100];
    const char *extra[] = {"-X", xurl, NULL};
    natsConnection *nc = NULL;
    struct ckpt_record out;
    struct ckpt_store *s;
    jsCtx *js = NULL;
    PGconn *c;
    pid_t pid;
    char *log;

    (void) state;
    use_creds(S3_KEY, S3_SECRET, NULL);
    raw_http(ep, "DELETE", "it_s3d.json", NULL, NULL);
    assert_int_equal(natsConnection_ConnectTo(&nc, it_env("CDC_IT_NATS_URL")), NATS_OK);
    assert_int_equal(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
    (void) js_DeleteStream(js, it_stream_name("it_s3d"), NULL, NULL); /* from an earlier run */
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    s3_url(url, sizeof(url), ep, "it_s3d.json", 3000, "&sse=AES256");
    snprintf(xurl, sizeof(xurl), "cdc.checkpoint_storage=%s", url);
    c = it_fresh_db("it_s3d");
    it_sql(c, "CREATE TABLE t (id int PRIMARY KEY)");
    pid = it_daemon_start("it_s3d", "it_s3d", extra);
    it_wait_slot_active(c, "it_s3d");
    it_sql(c, "INSERT INTO t SELECT generate_series(1, 100)");
    assert_int_equal(it_wait_stream_count("it_s3d", 100, 20000), 100);
    kill(pid, SIGTERM);
    assert_int_equal(it_daemon_wait(pid, 30000), 0);

    s = open_s3(url, NULL);
    load_ok(s, &out, true);
    assert_string_equal(out.source, "it_s3d");
    assert_int_equal(out.lsn, it_slot_confirmed(c, "it_s3d"));
    assert_true(out.stream_seq >= 100);
    ckpt_close(s);
    log = it_slurp(it_daemon_log("it_s3d"));
    assert_null(strstr(log, S3_SECRET));
    free(log);
    PQfinish(c);
}

/*
 * Two stores on one key: the one that wrote before the other loses at its next write, even on
 * s3rver, which ignores If-Match: the store reads the ETag before each overwrite.
 */
static void
test_ckpt_s3_second_writer_loses(void **state)
{
    const char *ep = it_env("CDC_IT_S3_ENDPOINT");
    struct ckpt_record in, out;
    struct ckpt_store *a, *b;
    struct cdc_err err = {0};
    char url[512];

    (void) state;
    use_creds(S3_KEY, S3_SECRET, NULL);
    raw_http(ep, "DELETE", "two/writers.json", NULL, NULL);
    s3_url(url, sizeof(url), ep, "two/writers.json", 3000, NULL);
    a = open_s3(url, NULL);
    load_ok(a, &out, false);
    sample(&in, 10);
    save_ok(a, &in);
    sample(&in, 11);
    save_ok(a, &in);
    /* B takes over: it loads what A wrote, then writes */
    b = open_s3(url, NULL);
    load_ok(b, &out, true);
    assert_int_equal(out.stream_seq, 11);
    sample(&in, 20);
    save_ok(b, &in);
    /* A's next write finds B's record: A loses, clearly */
    sample(&in, 12);
    assert_int_equal(ckpt_save(a, &in, &err), CDC_ERR_FATAL);
    print_message("first writer: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "changed by another writer"));
    assert_non_null(strstr(err.msg, "two/writers.json"));
    /* and keeps losing; B goes on; the object holds B's records only */
    assert_int_equal(ckpt_save(a, &in, &err), CDC_ERR_FATAL);
    sample(&in, 21);
    save_ok(b, &in);
    ckpt_close(a);
    ckpt_close(b);
    a = open_s3(url, NULL);
    load_ok(a, &out, true);
    assert_int_equal(out.stream_seq, 21);
    ckpt_close(a);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ckpt_s3_round_trip),
        cmocka_unit_test(test_ckpt_s3_corrupt_object_is_fatal),
        cmocka_unit_test(test_ckpt_s3_refusals_are_fatal_with_the_s3_code),
        cmocka_unit_test(test_ckpt_s3_bad_configuration_is_refused_at_open),
        cmocka_unit_test_teardown(test_ckpt_s3_outage_is_retry_then_recovers, teardown_priv),
        cmocka_unit_test(test_ckpt_s3_signs_and_sends_the_headers),
        cmocka_unit_test(test_ckpt_s3_daemon_end_to_end),
        cmocka_unit_test(test_ckpt_s3_second_writer_loses),
    };
    int rc;

    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, NULL, teardown_priv);
    curl_global_cleanup();
    nats_Close();
    return rc;
}
