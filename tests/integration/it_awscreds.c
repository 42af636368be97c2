/*
 * it_awscreds.c - AWS credentials fetched over HTTP (awscreds.c) from a
 * small libmicrohttpd server started here on a free loopback port, which
 * plays the two AWS endpoints as AWS documents them:
 * - the ECS container credentials endpoint (GET, optional Authorization
 *   header: a missing one gets 401, a wrong one 403);
 * - the EC2 instance metadata service, IMDSv2: PUT /latest/api/token with
 *   X-aws-ec2-metadata-token-ttl-seconds hands out a session token, and
 *   GET /latest/meta-data/iam/security-credentials/[ROLE] answers only with
 *   X-aws-ec2-metadata-token set to it (401 otherwise).
 * Each document carries a new AccessKeyId ("ASIA" + a counter, or the fixed
 * key s3rver accepts) and an Expiration TTL seconds ahead, so a refresh is
 * visible. Then the S3 checkpoint store against the fixture's s3rver
 * (CDC_IT_S3_ENDPOINT) with container credentials that expire in a minute:
 * every request fetches them again.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <microhttpd.h>

#include "aws/awscreds.h"
#include "checkpoint/ckpt.h"
#include "itlib.h"

#define IMDS_TOKEN "imds-session-AQAEAOk"
#define ROLE       "cdc-role"

struct credsrv {
    struct MHD_Daemon *d;
    int port;
    pthread_mutex_t mu;
    const char *auth;    /* the Authorization value required on /creds; NULL: none */
    const char *akid;    /* fixed AccessKeyId; NULL: "ASIA" + counter */
    int ttl_s;           /* Expiration = now + ttl_s */
    int fail_status;     /* non-zero: /creds answers this */
    int ndocs;           /* credential documents handed out */
    int ntokens;         /* IMDS session tokens handed out */
    char sts_body[4096]; /* the body of the STS request being received */
    size_t sts_len;
    const char *sts_want;  /* the exact form body /sts accepts */
    const char *sts_error; /* non-NULL: /sts answers 400 with this Code */
};

static struct credsrv srv;

static enum MHD_Result
answer(struct MHD_Connection *c, int status, const char *body)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(body), (void *) body, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret;

    MHD_add_response_header(resp, "Content-Type", "application/json");
    ret = MHD_queue_response(c, (unsigned int) status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result
creds_doc(struct MHD_Connection *c)
{
    char doc[1024], akid[64], exp[32];
    time_t t;
    struct tm tm;
    int n;

    pthread_mutex_lock(&srv.mu);
    n = ++srv.ndocs;
    pthread_mutex_unlock(&srv.mu);
    t = time(NULL) + srv.ttl_s;
    gmtime_r(&t, &tm);
    strftime(exp, sizeof(exp), "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (srv.akid != NULL)
        snprintf(akid, sizeof(akid), "%s", srv.akid);
    else
        snprintf(akid, sizeof(akid), "ASIA%d", n);
    snprintf(doc, sizeof(doc),
             "{\n  \"Code\" : \"Success\",\n  \"LastUpdated\" : \"2026-01-01T00:00:00Z\",\n"
             "  \"Type\" : \"AWS-HMAC\",\n  \"AccessKeyId\" : \"%s\",\n"
             "  \"SecretAccessKey\" : \"secret-%d\",\n  \"Token\" : \"token-%d\",\n"
             "  \"Expiration\" : \"%s\"\n}",
             akid, n, n, exp);
    return answer(c, 200, doc);
}

/* STS AssumeRoleWithWebIdentity, answered as the STS API reference shows it. */
static enum MHD_Result
sts_answer(struct MHD_Connection *c)
{
    char doc[2048], exp[32];
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    time_t t;
    struct tm tm;
    int n;

    if (srv.sts_error != NULL) {
        snprintf(doc, sizeof(doc),
                 "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
                 "  <Error>\n    <Type>Sender</Type>\n    <Code>%s</Code>\n"
                 "    <Message>Token rejected &amp; logged</Message>\n  </Error>\n"
                 "  <RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId>\n"
                 "</ErrorResponse>",
                 srv.sts_error);
        return answer(c, 400, doc);
    }
    /* the form body, byte for byte, and its content type */
    if (ct == NULL || strncmp(ct, "application/x-www-form-urlencoded", 33) != 0 ||
        srv.sts_want == NULL || strlen(srv.sts_want) != srv.sts_len ||
        memcmp(srv.sts_body, srv.sts_want, srv.sts_len) != 0)
        return answer(c, 400,
                      "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidParameterValue</Code>"
                      "<Message>unexpected request</Message></Error></ErrorResponse>");
    pthread_mutex_lock(&srv.mu);
    n = ++srv.ndocs;
    pthread_mutex_unlock(&srv.mu);
    t = time(NULL) + srv.ttl_s;
    gmtime_r(&t, &tm);
    strftime(exp, sizeof(exp), "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(doc, sizeof(doc),
             "<AssumeRoleWithWebIdentityResponse "
             "xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
             "  <AssumeRoleWithWebIdentityResult>\n"
             "    <SubjectFromWebIdentityToken>system:serviceaccount:cdc:cdc-handler"
             "</SubjectFromWebIdentityToken>\n"
             "    <Audience>sts.amazonaws.com</Audience>\n"
             "    <AssumedRoleUser>\n"
             "      <Arn>arn:aws:sts::123456789012:assumed-role/cdc-handler/cdc-it</Arn>\n"
             "      <AssumedRoleId>AROACLKWSDQRAOEXAMPLE:cdc-it</AssumedRoleId>\n"
             "    </AssumedRoleUser>\n"
             "    <Credentials>\n"
             "      <SessionToken>IQoJb3JpZ2luX2VjE%d/+a=</SessionToken>\n"
             "      <SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCY%d</SecretAccessKey>\n"
             "      <Expiration>%s</Expiration>\n"
             "      <AccessKeyId>ASIAWEB%d</AccessKeyId>\n"
             "    </Credentials>\n"
             "    <Provider>arn:aws:iam::123456789012:oidc-provider/oidc.eks.example</Provider>\n"
             "  </AssumeRoleWithWebIdentityResult>\n"
             "  <ResponseMetadata>\n"
             "    <RequestId>ad4156e9-bce1-11e2-82e6-6b6efEXAMPLE</RequestId>\n"
             "  </ResponseMetadata>\n"
             "</AssumeRoleWithWebIdentityResponse>\n",
             n, n, exp, n);
    return answer(c, 200, doc);
}

static enum MHD_Result
srv_handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
           const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    static int first;
    const char *tok;

    (void) cls;
    (void) version;
    if (*con_cls == NULL) {
        *con_cls = &first;
        srv.sts_len = 0; /* one request at a time in these tests */
        return MHD_YES;
    }
    if (*upload_size > 0) {
        size_t n = *upload_size;

        if (n > sizeof(srv.sts_body) - srv.sts_len)
            n = sizeof(srv.sts_body) - srv.sts_len;
        memcpy(srv.sts_body + srv.sts_len, upload, n);
        srv.sts_len += n;
        *upload_size = 0;
        return MHD_YES;
    }
    if (strcmp(url, "/sts") == 0 && strcmp(method, "POST") == 0)
        return sts_answer(c);
    if (strcmp(url, "/creds") == 0 && strcmp(method, "GET") == 0) {
        const char *a = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");

        if (srv.fail_status != 0)
            return answer(c, srv.fail_status, "{}");
        if (srv.auth != NULL && a == NULL)
            return answer(c, 401, "{\"Code\":\"Unauthorized\"}");
        if (srv.auth != NULL && strcmp(a, srv.auth) != 0)
            return answer(c, 403, "{\"Code\":\"Forbidden\"}");
        return creds_doc(c);
    }
    if (strcmp(url, "/latest/api/token") == 0) {
        if (strcmp(method, "PUT") != 0)
            return answer(c, 405, "");
        if (MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                        "X-aws-ec2-metadata-token-ttl-seconds") == NULL)
            return answer(c, 400, "");
        pthread_mutex_lock(&srv.mu);
        srv.ntokens++;
        pthread_mutex_unlock(&srv.mu);
        return answer(c, 200, IMDS_TOKEN);
    }
    if (strncmp(url, "/latest/meta-data/iam/security-credentials/", 43) == 0 &&
        strcmp(method, "GET") == 0) {
        tok = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-aws-ec2-metadata-token");
        if (tok == NULL || strcmp(tok, IMDS_TOKEN) != 0)
            return answer(c, 401, "");
        if (url[43] == '\0')
            return answer(c, 200, ROLE "\n");
        if (strcmp(url + 43, ROLE) == 0)
            return creds_doc(c);
    }
    return answer(c, 404, "");
}

static int
setup(void **state)
{
    const union MHD_DaemonInfo *info;

    (void) state;
    memset(&srv, 0, sizeof(srv));
    pthread_mutex_init(&srv.mu, NULL);
    srv.ttl_s = 3600;
    srv.d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                             srv_handle, NULL, MHD_OPTION_END);
    assert_non_null(srv.d);
    info = MHD_get_daemon_info(srv.d, MHD_DAEMON_INFO_BIND_PORT);
    assert_non_null(info);
    srv.port = info->port;
    /* nothing from the caller's environment leaks into the chain */
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_SESSION_TOKEN");
    unsetenv("AWS_WEB_IDENTITY_TOKEN_FILE");
    unsetenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    unsetenv("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    unsetenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    unsetenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    unsetenv("AWS_EC2_METADATA_DISABLED");
    return 0;
}

static int
teardown(void **state)
{
    (void) state;
    MHD_stop_daemon(srv.d);
    pthread_mutex_destroy(&srv.mu);
    unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    unsetenv("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    unsetenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    unsetenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    unsetenv("AWS_EC2_METADATA_DISABLED");
    unsetenv("AWS_WEB_IDENTITY_TOKEN_FILE");
    unsetenv("AWS_ROLE_ARN");
    unsetenv("AWS_ROLE_SESSION_NAME");
    unsetenv("AWS_ENDPOINT_URL_STS");
    return 0;
}

static void
use_container(void)
{
    char uri[128];

    snprintf(uri, sizeof(uri), "http://127.0.0.1:%d/creds", srv.port);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", uri, 1);
}

static void
test_awscreds_container_endpoint_without_a_token(void **state)
{
    struct awscreds c;
    struct cdc_err err = {0};
    time_t before = time(NULL);

    (void) state;
    use_container();
    if (awscreds_resolve(&c, NULL, &err) != CDC_OK)
        fail_msg("resolve: %s", err.msg);
    assert_string_equal(c.access_key_id, "ASIA1");
    assert_string_equal(c.secret_access_key, "secret-1");
    assert_string_equal(c.session_token, "token-1");
    assert_string_equal(c.source, "container endpoint");
    /* Expiration is whole seconds: now + 3600, give or take the second boundary */
    assert_true(c.expiration >= before + 3600 - 1 && c.expiration <= time(NULL) + 3600);
    assert_false(awscreds_expiring(&c, time(NULL)));
    awscreds_free(&c);
    assert_int_equal(srv.ndocs, 1);
}

static void
test_awscreds_container_endpoint_with_a_token_and_a_wrong_one(void **state)
{
    char path[] = "/tmp/it_awscreds_tokXXXXXX";
    struct awscreds c;
    struct cdc_err err = {0};
    int fd;

    (void) state;
    srv.auth = "Basic c2VjcmV0LXRhc2stdG9rZW4=";
    use_container();

    /* no token: the endpoint refuses (401) -> a configuration error, naming the endpoint */
    assert_int_equal(awscreds_resolve(&c, NULL, &err), CDC_ERR_CONFIG);
    print_message("no token: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "HTTP 401"));
    assert_non_null(strstr(err.msg, "/creds"));

    /* the right token from the variable */
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", srv.auth, 1);
    if (awscreds_resolve(&c, NULL, &err) != CDC_OK)
        fail_msg("resolve: %s", err.msg);
    assert_string_equal(c.access_key_id, "ASIA1");
    awscreds_free(&c);

    /* a wrong token: 403, and the token is not in the message */
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "Basic d3Jvbmctd3Jvbmc=", 1);
    assert_int_equal(awscreds_resolve(&c, NULL, &err), CDC_ERR_CONFIG);
    print_message("wrong token: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "HTTP 403"));
    assert_null(strstr(err.msg, "d3Jvbmctd3Jvbmc"));

    /* the file wins over the variable (as in the SDKs); its trailing newline is dropped */
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "Basic c2VjcmV0LXRhc2stdG9rZW4=\n", 31), 31);
    close(fd);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", path, 1);
    if (awscreds_resolve(&c, NULL, &err) != CDC_OK)
        fail_msg("resolve with the token file: %s", err.msg);
    assert_string_equal(c.access_key_id, "ASIA2");
    awscreds_free(&c);
    unlink(path);
    assert_int_equal(srv.ndocs, 2);
}

static void
test_awscreds_container_endpoint_failures(void **state)
{
    struct awscreds c;
    struct cdc_err err = {0};
    char uri[128];

    (void) state;
    use_container();
    srv.fail_status = 500; /* transient */
    assert_int_equal(awscreds_resolve(&c, NULL, &err), CDC_ERR_RETRY);
    assert_non_null(strstr(err.msg, "HTTP 500"));
    srv.fail_status = 0;

    /* nothing listening: no answer -> RETRY (the source is configured, so it is not skipped) */
    snprintf(uri, sizeof(uri), "http://127.0.0.1:%d/creds", it_free_port());
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", uri, 1);
    assert_int_equal(awscreds_resolve(&c, NULL, &err), CDC_ERR_RETRY);
    print_message("nothing listening: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "did not answer"));
}

/* A raw request to the test server, to check it enforces what IMDSv2 does. */
static long
raw_status(const char *method, const char *path, const char *header)
{
    char url[256];
    struct curl_slist *h = header ? curl_slist_append(NULL, header) : NULL;
    CURL *c = curl_easy_init();
    long status = 0;

    assert_non_null(c);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", srv.port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, fwrite);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, stderr);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    return status;
}

static void
test_awscreds_imdsv2_needs_the_session_token(void **state)
{
    struct awscreds c;
    struct cdc_err err = {0};
    char ep[128];

    (void) state;
    /* the server plays IMDSv2: without the session token a GET is refused */
    assert_int_equal(raw_status("GET", "/latest/meta-data/iam/security-credentials/", NULL), 401);
    assert_int_equal(raw_status("GET", "/latest/meta-data/iam/security-credentials/" ROLE,
                                "X-aws-ec2-metadata-token: forged"),
                     401);
    assert_int_equal(srv.ndocs, 0);

    snprintf(ep, sizeof(ep), "http://127.0.0.1:%d/", srv.port); /* a trailing slash is fine */
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", ep, 1);
    if (awscreds_resolve(&c, NULL, &err) != CDC_OK)
        fail_msg("resolve from IMDS: %s", err.msg);
    assert_string_equal(c.access_key_id, "ASIA1");
    assert_string_equal(c.secret_access_key, "secret-1");
    assert_string_equal(c.session_token, "token-1");
    assert_string_equal(c.source, "instance metadata");
    assert_true(c.expiration > time(NULL) + 3000);
    awscreds_free(&c);
    assert_int_equal(srv.ntokens, 1);
    assert_int_equal(srv.ndocs, 1);

    /* disabled: not asked at all */
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    assert_int_equal(awscreds_resolve(&c, NULL, &err), CDC_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "AWS_EC2_METADATA_DISABLED"));
    assert_int_equal(srv.ntokens, 1);
    unsetenv("AWS_EC2_METADATA_DISABLED");

    /* no IMDS (nothing listening): "no credentials", a configuration error, quickly */
    snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", it_free_port());
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", ep, 1);
    assert_int_equal(awscreds_resolve(&c, NULL, &err), CDC_ERR_CONFIG);
    print_message("no IMDS: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "no AWS credentials"));
    assert_non_null(strstr(err.msg, "did not answer"));
}

static void
test_awscreds_refresh_fetches_new_credentials_near_expiration(void **state)
{
    struct awscreds c;
    struct cdc_err err = {0};

    (void) state;
    use_container();
    srv.ttl_s = 60; /* inside the 5-minute margin from the start */
    if (awscreds_resolve(&c, NULL, &err) != CDC_OK)
        fail_msg("resolve: %s", err.msg);
    assert_string_equal(c.access_key_id, "ASIA1");
    assert_true(awscreds_expiring(&c, time(NULL)));
    if (awscreds_refresh(&c, NULL, time(NULL), &err) != CDC_OK)
        fail_msg("refresh: %s", err.msg);
    assert_string_equal(c.access_key_id, "ASIA2");
    assert_string_equal(c.session_token, "token-2");
    assert_int_equal(srv.ndocs, 2);

    /* a failed refresh leaves the old credentials in place */
    srv.fail_status = 503;
    assert_int_equal(awscreds_refresh(&c, NULL, time(NULL), &err), CDC_ERR_RETRY);
    assert_string_equal(c.access_key_id, "ASIA2");
    srv.fail_status = 0;

    /* an hour ahead: nothing to do, no request */
    srv.ttl_s = 3600;
    if (awscreds_refresh(&c, NULL, time(NULL), &err) != CDC_OK)
        fail_msg("refresh: %s", err.msg);
    assert_string_equal(c.access_key_id, "ASIA3");
    assert_int_equal(srv.ndocs, 3);
    if (awscreds_refresh(&c, NULL, time(NULL), &err) != CDC_OK)
        fail_msg("refresh: %s", err.msg);
    assert_string_equal(c.access_key_id, "ASIA3");
    assert_int_equal(srv.ndocs, 3);
    awscreds_free(&c);
}

static void
test_awscreds_s3_store_round_trip_with_container_credentials(void **state)
{
    static const unsigned char key[CKPT_KEY_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    struct ckpt_store *s = NULL;
    struct ckpt_record rec, got;
    struct cdc_err err = {0};
    struct ckpt_opts o;
    char url[512], path[64];
    bool found = true;

    (void) state;
    use_container();
    srv.akid = "S3RVER"; /* the only key s3rver accepts */
    srv.ttl_s = 60;      /* expiring: each request fetches them again */
    snprintf(path, sizeof(path), "it-awscreds/%ld/ckpt", (long) getpid());
    snprintf(url, sizeof(url), "s3://%s/%s?region=us-east-1&endpoint=%s&timeout=5000",
             it_env("CDC_IT_S3_BUCKET"), path, it_env("CDC_IT_S3_ENDPOINT"));
    ckpt_opts_init(&o);
    o.key = key;
    if (ckpt_open(&s, url, &o, &err) != CDC_OK)
        fail_msg("ckpt_open: %s", err.msg);
    assert_int_equal(srv.ndocs, 1);
    if (ckpt_load(s, &got, &found, &err) != CDC_OK)
        fail_msg("ckpt_load: %s", err.msg);
    assert_false(found);

    memset(&rec, 0, sizeof(rec));
    rec.version = CKPT_VERSION;
    snprintf(rec.source, sizeof(rec.source), "it-awscreds");
    snprintf(rec.engine, sizeof(rec.engine), "postgres");
    rec.lsn = UINT64_C(0x16B3748);
    snprintf(rec.slot, sizeof(rec.slot), "cdc_slot");
    snprintf(rec.stream, sizeof(rec.stream), "CDC");
    rec.stream_seq = 42;
    if (ckpt_save(s, &rec, &err) != CDC_OK)
        fail_msg("ckpt_save: %s", err.msg);
    if (ckpt_load(s, &got, &found, &err) != CDC_OK)
        fail_msg("ckpt_load: %s", err.msg);
    assert_true(found);
    assert_int_equal(got.lsn, rec.lsn);
    assert_int_equal(got.stream_seq, 42);
    assert_string_equal(got.source, "it-awscreds");
    /* open, then one fetch before each of the three requests (GET, PUT, GET) */
    print_message("credential documents fetched: %d\n", srv.ndocs);
    assert_int_equal(srv.ndocs, 4);

    /* the endpoint goes away while the credentials are still valid: the old ones are used */
    srv.fail_status = 500;
    rec.stream_seq = 43;
    if (ckpt_save(s, &rec, &err) != CDC_OK)
        fail_msg("ckpt_save with the endpoint failing: %s", err.msg);
    srv.fail_status = 0;
    ckpt_close(s);
}

/* The web identity token file, written with `token`; its path in path. */
static void
write_token(char *path, size_t cap, const char *token)
{
    FILE *f;

    snprintf(path, cap, "%s/it_awscreds.token", it_env("CDC_IT_TMP"));
    f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "%s\n", token); /* the kubelet's file ends with a newline */
    fclose(f);
}

/*
 * EKS IRSA: the token file is exchanged with STS (a local stand-in, POST /sts, which accepts
 * only the exact form body we expect: field names, order and percent-encoding written here by
 * hand) for role credentials; near their expiration the file is read again and exchanged anew.
 */
static void
test_awscreds_web_identity_exchanges_the_token_with_sts(void **state)
{
    /* a JWT-like token with characters that must be percent-encoded */
    const char *tok1 = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW0ifQ.c2ln+/=";
    const char *want1 =
        "Action=AssumeRoleWithWebIdentity&Version=2011-06-15"
        "&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fcdc-handler"
        "&RoleSessionName=cdc-it"
        "&WebIdentityToken=eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW0ifQ.c2ln%2B%2F%3D";
    const char *want2 = "Action=AssumeRoleWithWebIdentity&Version=2011-06-15"
                        "&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fcdc-handler"
                        "&RoleSessionName=cdc-it&WebIdentityToken=rotated.token.2";
    struct awscreds c = {0};
    struct cdc_err err;
    char path[600], ep[128];
    time_t now = time(NULL);

    (void) state;
    write_token(path, sizeof(path), tok1);
    snprintf(ep, sizeof(ep), "http://127.0.0.1:%d/sts", srv.port);
    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", path, 1);
    setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/cdc-handler", 1);
    setenv("AWS_ROLE_SESSION_NAME", "cdc-it", 1);
    setenv("AWS_ENDPOINT_URL_STS", ep, 1);
    srv.sts_want = want1;
    srv.ttl_s = 200; /* inside the 5-minute refresh margin: the next refresh fetches again */
    if (awscreds_resolve(&c, NULL, &err) != CDC_OK)
        fail_msg("resolve: %s", err.msg);
    assert_string_equal(c.access_key_id, "ASIAWEB1");
    assert_string_equal(c.secret_access_key, "wJalrXUtnFEMI/K7MDENG/bPxRfiCY1");
    assert_string_equal(c.session_token, "IQoJb3JpZ2luX2VjE1/+a=");
    assert_string_equal(c.source, "web identity");
    assert_true(c.expiration >= now + 199 && c.expiration <= now + 210);
    assert_true(awscreds_expiring(&c, now));

    /* the kubelet rotated the token: the refresh sends the new one */
    write_token(path, sizeof(path), "rotated.token.2");
    srv.sts_want = want2;
    srv.ttl_s = 3600;
    assert_int_equal(awscreds_refresh(&c, NULL, now, &err), CDC_OK);
    assert_string_equal(c.access_key_id, "ASIAWEB2");
    assert_false(awscreds_expiring(&c, now));
    awscreds_free(&c);

    /* STS refuses the token: a configuration error naming STS's code, never the token */
    srv.sts_error = "InvalidIdentityToken";
    assert_int_equal(awscreds_resolve(&c, NULL, &err), CDC_ERR_CONFIG);
    print_message("refused: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "InvalidIdentityToken"));
    assert_non_null(strstr(err.msg, "Token rejected & logged"));
    assert_non_null(strstr(err.msg, "role/cdc-handler"));
    assert_null(strstr(err.msg, "rotated.token"));
    /* an expired token (the file is about to be rotated): retried */
    srv.sts_error = "ExpiredTokenException";
    assert_int_equal(awscreds_resolve(&c, NULL, &err), CDC_ERR_RETRY);
    srv.sts_error = NULL;
    /* nothing answers: retried, and the message names the endpoint */
    setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9/sts", 1);
    assert_int_equal(awscreds_resolve(&c, NULL, &err), CDC_ERR_RETRY);
    assert_non_null(strstr(err.msg, "127.0.0.1:9"));
    unlink(path);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_awscreds_web_identity_exchanges_the_token_with_sts,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_awscreds_container_endpoint_without_a_token, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_awscreds_container_endpoint_with_a_token_and_a_wrong_one, setup, teardown),
        cmocka_unit_test_setup_teardown(test_awscreds_container_endpoint_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_awscreds_imdsv2_needs_the_session_token, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_awscreds_refresh_fetches_new_credentials_near_expiration, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_awscreds_s3_store_round_trip_with_container_credentials, setup, teardown),
    };

    curl_global_init(CURL_GLOBAL_DEFAULT);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
