/*
 * awscreds.c - AWS credentials from the environment (and *_FILE secrets),
 * the container/instance-metadata JSON document, and the RDS IAM password
 * callback; see awscreds.h.
 */
#include "aws/awscreds.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "aws/rdsiam.h"
#include "aws/sts.h"
#include "core/buf.h"

#define AWSCREDS_TOKEN_MAX 8192 /* an IAM token with a long session token stays far below */

static bool
is_set(const char *s)
{
    return s != NULL && *s != '\0';
}

static const char *
awscreds_getenv(const char *name)
{
    return getenv(name);
}

static void
wipe_free(char *s)
{
    if (s != NULL) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

void
awscreds_free(struct awscreds *c)
{
    wipe_free(c->access_key_id);
    wipe_free(c->secret_access_key);
    wipe_free(c->session_token);
    memset(c, 0, sizeof(*c));
}

void
awscreds_view(const struct awscreds *c, struct aws_creds *view)
{
    view->access_key_id = c->access_key_id;
    view->secret_access_key = c->secret_access_key;
    view->session_token = c->session_token;
}

/* The content of `path` with one trailing newline removed, malloc'd; NULL after setting err. */
static char *
read_secret_file(const char *var, const char *path, struct cdc_err *err)
{
    char buf[4096];
    size_t n;
    FILE *f = fopen(path, "rb");
    char *s;

    if (f == NULL) {
        cdc_err_set(err, CDC_ERR_CONFIG, "could not open \"%s\" (%s): %s", path, var,
                    strerror(errno));
        return NULL;
    }
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    n = strlen(buf);
    if (n > 0 && buf[n - 1] == '\n')
        buf[--n] = '\0';
    if (n > 0 && buf[n - 1] == '\r')
        buf[--n] = '\0';
    if (n == 0) {
        cdc_err_set(err, CDC_ERR_CONFIG, "\"%s\" (%s) is empty", path, var);
        return NULL;
    }
    s = strdup(buf);
    explicit_bzero(buf, sizeof(buf));
    if (s == NULL)
        cdc_err_set(err, CDC_ERR_NOMEM, "out of memory reading AWS credentials");
    return s;
}

/*
 * VAR, or the content of the file VAR_FILE names. *out NULL (and CDC_OK) when
 * neither is set.
 */
static cdc_rc
env_or_file(const char *(*getenv_fn)(const char *), const char *var, char **out,
            struct cdc_err *err)
{
    char fvar[64];
    const char *v = getenv_fn(var), *path;

    snprintf(fvar, sizeof(fvar), "%s_FILE", var);
    path = getenv_fn(fvar);
    *out = NULL;
    if (is_set(v) && is_set(path))
        return cdc_err_set(err, CDC_ERR_CONFIG, "both %s and %s are set: set only one", var, fvar);
    if (is_set(path)) {
        *out = read_secret_file(fvar, path, err);
        return *out != NULL ? CDC_OK : err->code;
    }
    if (is_set(v) && (*out = strdup(v)) == NULL)
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory reading AWS credentials");
    return CDC_OK;
}

static cdc_rc
from_env(struct awscreds *c, const char *(*getenv_fn)(const char *), struct cdc_err *err)
{
    const char *akid = getenv_fn("AWS_ACCESS_KEY_ID");
    cdc_rc rc;

    if (!is_set(akid))
        return cdc_err_set(err, CDC_ERR_CONFIG, "AWS_ACCESS_KEY_ID is not set");
    if ((c->access_key_id = strdup(akid)) == NULL)
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory reading AWS credentials");
    rc = env_or_file(getenv_fn, "AWS_SECRET_ACCESS_KEY", &c->secret_access_key, err);
    if (rc == CDC_OK && c->secret_access_key == NULL)
        rc = cdc_err_set(err, CDC_ERR_CONFIG,
                         "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY (or "
                         "AWS_SECRET_ACCESS_KEY_FILE) is not");
    if (rc == CDC_OK)
        rc = env_or_file(getenv_fn, "AWS_SESSION_TOKEN", &c->session_token, err);
    c->source = "environment";
    return rc;
}

/* ---- fetching: the container endpoint and the instance metadata service (libcurl) -------- */

#define AWSCREDS_BODY_MAX        32768 /* a credentials document is about 1.5 kB */
#define AWSCREDS_CONTAINER_HOST  "http://169.254.170.2"
#define AWSCREDS_IMDS_HOST       "http://169.254.169.254"
#define AWSCREDS_CONTAINER_TO_MS 2000L /* the SDKs' 2 s */
#define AWSCREDS_STS_TO_MS       5000L /* STS over the internet */
#define AWSCREDS_IMDS_TO_MS      1000L /* the SDKs' 1 s: a machine without IMDS does not stall */
#define AWSCREDS_IMDS_TOKEN_TTL  "21600"

static pthread_once_t awscreds_curl_once = PTHREAD_ONCE_INIT;
static CURLcode awscreds_curl_rc = CURLE_FAILED_INIT;

static void
awscreds_curl_init(void)
{
    /* once per process; reference counted by libcurl, never cleaned up */
    awscreds_curl_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct fetch_body {
    char *data; /* NUL-terminated */
    size_t len;
    bool truncated;
};

static size_t
fetch_on_body(char *d, size_t size, size_t n, void *arg)
{
    struct fetch_body *b = arg;
    size_t len = size * n;

    if (len > AWSCREDS_BODY_MAX - 1 - b->len) {
        b->truncated = true;
        return 0; /* curl stops with CURLE_WRITE_ERROR */
    }
    memcpy(b->data + b->len, d, len);
    b->len += len;
    b->data[b->len] = '\0';
    return size * n;
}

/*
 * One HTTP request: method on url with the headers h, body into b (cleared
 * first). CDC_OK with *status when an answer came; CDC_ERR_RETRY when none
 * did (what names the endpoint in the message).
 */
static cdc_rc
fetch_body_req(const char *method, const char *url, struct curl_slist *h, const char *body,
               long timeout_ms, struct fetch_body *b, long *status, const char *what,
               struct cdc_err *err)
{
    char ebuf[CURL_ERROR_SIZE] = "";
    CURL *c;
    CURLcode cc;

    b->len = 0;
    b->data[0] = '\0';
    b->truncated = false;
    *status = 0;
    pthread_once(&awscreds_curl_once, awscreds_curl_init);
    if (awscreds_curl_rc != CURLE_OK || (c = curl_easy_init()) == NULL)
        return cdc_err_set(err, CDC_ERR_NOMEM, "could not set up libcurl for %s", what);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*"); /* link-local endpoints: never through a proxy */
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, fetch_on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
    if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, body != NULL ? (long) strlen(body) : 0L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body != NULL ? body : "");
    }
    cc = curl_easy_perform(c);
    if (cc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_easy_cleanup(c);
    if (b->truncated)
        return cdc_err_set(err, CDC_ERR_PROTO, "%s: the answer is larger than %d bytes", what,
                           AWSCREDS_BODY_MAX - 1);
    if (cc != CURLE_OK)
        return cdc_err_set(err, CDC_ERR_RETRY, "%s did not answer: %s", what,
                           ebuf[0] ? ebuf : curl_easy_strerror(cc));
    return CDC_OK;
}

static cdc_rc
fetch(const char *method, const char *url, struct curl_slist *h, long timeout_ms,
      struct fetch_body *b, long *status, const char *what, struct cdc_err *err)
{
    return fetch_body_req(method, url, h, NULL, timeout_ms, b, status, what, err);
}

/* A status that is not 200: RETRY for 5xx/408/429, CONFIG for a refusal (hint: name the token). */
static cdc_rc
fetch_status_failed(long status, const char *what, bool hint, struct cdc_err *err)
{
    bool transient = status >= 500 || status == 408 || status == 429;

    return cdc_err_set(
        err, transient ? CDC_ERR_RETRY : CDC_ERR_CONFIG, "%s answered HTTP %ld%s", what, status,
        hint && (status == 401 || status == 403) ? " (refused: check the authorization token)"
                                                 : "");
}

/* true for a loopback host or one of the ECS/EKS link-local endpoints (plain http allowed). */
static bool
container_host_ok(const char *host)
{
    static const char *const ok[] = {
        "localhost",     "127.0.0.1",      "[::1]",          "::1",
        "169.254.170.2", "169.254.170.23", "[fd00:ec2::23]", "fd00:ec2::23"};

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (strcmp(host, ok[i]) == 0)
            return true;
    return strncmp(host, "127.", 4) == 0;
}

/* Check AWS_CONTAINER_CREDENTIALS_FULL_URI: https, or http to a loopback/link-local host. */
static cdc_rc
check_full_uri(const char *uri, struct cdc_err *err)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    cdc_rc rc = CDC_OK;

    if (u == NULL)
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
    if (curl_url_set(u, CURLUPART_URL, uri, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
        rc = cdc_err_set(err, CDC_ERR_CONFIG, "AWS_CONTAINER_CREDENTIALS_FULL_URI is not a URL");
    else if (strcmp(scheme, "https") != 0 &&
             (strcmp(scheme, "http") != 0 || !container_host_ok(host)))
        rc = cdc_err_set(err, CDC_ERR_CONFIG,
                         "AWS_CONTAINER_CREDENTIALS_FULL_URI must be https, or http to a loopback "
                         "host or the ECS/EKS link-local address (host \"%.100s\")",
                         host);
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return rc;
}

/* An Authorization header value from _TOKEN_FILE (preferred, as the SDKs do) or _TOKEN; may be
 * NULL. */
static cdc_rc
container_token(const char *(*getenv_fn)(const char *), char **out, struct cdc_err *err)
{
    const char *path = getenv_fn("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    const char *v = getenv_fn("AWS_CONTAINER_AUTHORIZATION_TOKEN");

    *out = NULL;
    if (is_set(path)) {
        if ((*out = read_secret_file("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", path, err)) == NULL)
            return err->code;
    } else if (is_set(v) && (*out = strdup(v)) == NULL) {
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory reading AWS credentials");
    }
    if (*out != NULL && strpbrk(*out, "\r\n") != NULL) {
        wipe_free(*out);
        *out = NULL;
        return cdc_err_set(err, CDC_ERR_CONFIG,
                           "the container authorization token contains a line break");
    }
    return CDC_OK;
}

/* A header "name: value" appended to *h; false when out of memory. The text is wiped. */
static bool
add_header(struct curl_slist **h, const char *name, const char *value)
{
    size_t n = strlen(name) + strlen(value) + 3;
    char *line = malloc(n);
    struct curl_slist *nh;

    if (line == NULL)
        return false;
    snprintf(line, n, "%s: %s", name, value);
    nh = curl_slist_append(*h, line);
    explicit_bzero(line, n);
    free(line);
    if (nh == NULL)
        return false;
    *h = nh;
    return true;
}

/* Wipe the header lines (they may hold a token) and free them. */
static void
free_headers(struct curl_slist *h)
{
    for (struct curl_slist *p = h; p != NULL; p = p->next)
        explicit_bzero(p->data, strlen(p->data));
    curl_slist_free_all(h);
}

static cdc_rc
parse_doc(struct awscreds *c, const struct fetch_body *b, const char *source, const char *what,
          struct cdc_err *err)
{
    cdc_rc rc = awscreds_parse_json(c, b->data, err);

    if (rc != CDC_OK)
        return cdc_err_prefix(err, "%s", what);
    c->source = source;
    return CDC_OK;
}

/* STS's URL: AWS_ENDPOINT_URL_STS, else the regional endpoint, else the global one. */
static cdc_rc
sts_url(const char *(*getenv_fn)(const char *), char *url, size_t cap, struct cdc_err *err)
{
    const char *ep = getenv_fn("AWS_ENDPOINT_URL_STS");
    const char *region = getenv_fn("AWS_REGION");

    if (!is_set(region))
        region = getenv_fn("AWS_DEFAULT_REGION");
    if (is_set(ep)) {
        /* https anywhere; plain http only to this machine (a test or a local proxy) */
        if (strncmp(ep, "https://", 8) != 0 && strncmp(ep, "http://127.0.0.1", 16) != 0 &&
            strncmp(ep, "http://localhost", 16) != 0 && strncmp(ep, "http://[::1]", 12) != 0)
            return cdc_err_set(err, CDC_ERR_CONFIG,
                               "AWS_ENDPOINT_URL_STS must be an https:// URL (http only to "
                               "127.0.0.1, localhost or [::1])");
        if (snprintf(url, cap, "%s", ep) >= (int) cap)
            return cdc_err_set(err, CDC_ERR_CONFIG, "AWS_ENDPOINT_URL_STS is too long");
    } else if (is_set(region)) {
        if (strspn(region, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(region) ||
            snprintf(url, cap, "https://sts.%s.amazonaws.com/", region) >= (int) cap)
            return cdc_err_set(err, CDC_ERR_CONFIG, "AWS_REGION \"%.40s\" is not a region name",
                               region);
    } else {
        snprintf(url, cap, "https://sts.amazonaws.com/");
    }
    return CDC_OK;
}

/* EKS IRSA: exchange the web identity token file for role credentials (STS, unsigned). */
static cdc_rc
from_web_identity(struct awscreds *c, const char *(*getenv_fn)(const char *), struct fetch_body *b,
                  struct cdc_err *err)
{
    const char *role = getenv_fn("AWS_ROLE_ARN");
    const char *session = getenv_fn("AWS_ROLE_SESSION_NAME");
    struct curl_slist *h = NULL;
    char url[1024], what[1300], code[64];
    char *tok, *body;
    long status;
    cdc_rc rc;

    if (!is_set(role))
        return cdc_err_set(err, CDC_ERR_CONFIG,
                           "AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not: set the "
                           "role to assume");
    if ((rc = sts_url(getenv_fn, url, sizeof(url), err)) != CDC_OK)
        return rc;
    tok = read_secret_file("AWS_WEB_IDENTITY_TOKEN_FILE", getenv_fn("AWS_WEB_IDENTITY_TOKEN_FILE"),
                           err);
    if (tok == NULL)
        return err->code;
    body = sts_web_identity_body(role, is_set(session) ? session : "cdc-handler", tok);
    wipe_free(tok);
    if (body == NULL ||
        !add_header(&h, "Content-Type", "application/x-www-form-urlencoded; charset=utf-8") ||
        !add_header(&h, "Accept", "application/xml")) {
        wipe_free(body);
        free_headers(h);
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
    }
    snprintf(what, sizeof(what), "STS (%s) AssumeRoleWithWebIdentity for %.200s", url, role);
    rc = fetch_body_req("POST", url, h, body, AWSCREDS_STS_TO_MS, b, &status, what, err);
    wipe_free(body);
    free_headers(h);
    if (rc != CDC_OK)
        return rc;
    /* STS answers errors with an XML body: 400/403 carry the reason */
    if (status != 200 && (status >= 500 || strstr(b->data, "<ErrorResponse") == NULL))
        return fetch_status_failed(status, what, false, err);
    rc = sts_parse(b->data, c, code, sizeof(code), err);
    if (rc != CDC_OK)
        return cdc_err_prefix(err, "role %.200s", role);
    return CDC_OK;
}

static cdc_rc
from_container(struct awscreds *c, const char *(*getenv_fn)(const char *), struct fetch_body *b,
               struct cdc_err *err)
{
    const char *full = getenv_fn("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    const char *rel = getenv_fn("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    struct curl_slist *h = NULL;
    char url[2048], what[2200];
    char *tok = NULL;
    long status;
    cdc_rc rc;

    if (is_set(rel)) { /* the SDKs prefer the relative URI when both are set */
        if (snprintf(url, sizeof(url), "%s%s%s", AWSCREDS_CONTAINER_HOST, rel[0] == '/' ? "" : "/",
                     rel) >= (int) sizeof(url))
            return cdc_err_set(err, CDC_ERR_CONFIG,
                               "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI is too long");
    } else {
        if ((rc = check_full_uri(full, err)) != CDC_OK)
            return rc;
        if (snprintf(url, sizeof(url), "%s", full) >= (int) sizeof(url))
            return cdc_err_set(err, CDC_ERR_CONFIG,
                               "AWS_CONTAINER_CREDENTIALS_FULL_URI is too long");
    }
    snprintf(what, sizeof(what), "the container credentials endpoint %s", url);
    if ((rc = container_token(getenv_fn, &tok, err)) != CDC_OK)
        return rc;
    if (!add_header(&h, "Accept", "application/json") ||
        (tok != NULL && !add_header(&h, "Authorization", tok)))
        rc = cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
    wipe_free(tok);
    if (rc == CDC_OK)
        rc = fetch("GET", url, h, AWSCREDS_CONTAINER_TO_MS, b, &status, what, err);
    free_headers(h);
    if (rc == CDC_OK && status != 200)
        rc = fetch_status_failed(status, what, true, err);
    if (rc == CDC_OK)
        rc = parse_doc(c, b, "container endpoint", what, err);
    return rc;
}

static cdc_rc
from_imds(struct awscreds *c, const char *(*getenv_fn)(const char *), struct fetch_body *b,
          struct cdc_err *err)
{
    const char *ep = getenv_fn("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    char base[512], url[1024], what[600], role[256];
    struct curl_slist *h = NULL;
    char *tok = NULL;
    size_t n;
    long status;
    cdc_rc rc;

    if (!is_set(ep))
        ep = AWSCREDS_IMDS_HOST;
    n = strlen(ep);
    while (n > 0 && ep[n - 1] == '/')
        n--;
    if (n >= sizeof(base))
        return cdc_err_set(err, CDC_ERR_CONFIG, "AWS_EC2_METADATA_SERVICE_ENDPOINT is too long");
    memcpy(base, ep, n);
    base[n] = '\0';
    snprintf(what, sizeof(what), "the EC2 instance metadata service at %s", base);

    /* IMDSv2: a session token first (no fallback to the unauthenticated IMDSv1) */
    snprintf(url, sizeof(url), "%s/latest/api/token", base);
    if (!add_header(&h, "X-aws-ec2-metadata-token-ttl-seconds", AWSCREDS_IMDS_TOKEN_TTL))
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
    rc = fetch("PUT", url, h, AWSCREDS_IMDS_TO_MS, b, &status, what, err);
    free_headers(h);
    h = NULL;
    if (rc == CDC_OK && status != 200)
        rc = fetch_status_failed(status, what, false, err);
    if (rc == CDC_OK && (b->len == 0 || strpbrk(b->data, "\r\n") != NULL))
        rc = cdc_err_set(err, CDC_ERR_PROTO, "%s: bad session token", what);
    if (rc == CDC_OK &&
        ((tok = strdup(b->data)) == NULL || !add_header(&h, "X-aws-ec2-metadata-token", tok)))
        rc = cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
    wipe_free(tok);
    explicit_bzero(b->data, b->len);

    /* the role: the first line of the listing */
    if (rc == CDC_OK) {
        snprintf(url, sizeof(url), "%s/latest/meta-data/iam/security-credentials/", base);
        rc = fetch("GET", url, h, AWSCREDS_IMDS_TO_MS, b, &status, what, err);
    }
    if (rc == CDC_OK && status == 404)
        rc = cdc_err_set(err, CDC_ERR_CONFIG, "%s: this instance has no IAM role", what);
    else if (rc == CDC_OK && status != 200)
        rc = fetch_status_failed(status, what, false, err);
    if (rc == CDC_OK) {
        n = strcspn(b->data, "\r\n");
        if (n == 0 || n >= sizeof(role) ||
            strspn(b->data,
                   "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+=,.@_-") < n)
            rc = cdc_err_set(err, CDC_ERR_PROTO, "%s: bad IAM role name", what);
        else {
            memcpy(role, b->data, n);
            role[n] = '\0';
        }
    }
    if (rc == CDC_OK) {
        snprintf(url, sizeof(url), "%s/latest/meta-data/iam/security-credentials/%s", base, role);
        rc = fetch("GET", url, h, AWSCREDS_IMDS_TO_MS, b, &status, what, err);
    }
    if (rc == CDC_OK && status != 200)
        rc = fetch_status_failed(status, what, false, err);
    if (rc == CDC_OK)
        rc = parse_doc(c, b, "instance metadata", what, err);
    free_headers(h);
    return rc;
}

/* Run a fetching source with a scratch body, wiped afterwards. */
static cdc_rc
with_body(cdc_rc (*src)(struct awscreds *, const char *(*) (const char *), struct fetch_body *,
                        struct cdc_err *),
          struct awscreds *c, const char *(*getenv_fn)(const char *), struct cdc_err *err)
{
    struct fetch_body b = {0};
    cdc_rc rc;

    if ((b.data = malloc(AWSCREDS_BODY_MAX)) == NULL)
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory reading AWS credentials");
    rc = src(c, getenv_fn, &b, err);
    explicit_bzero(b.data, AWSCREDS_BODY_MAX);
    free(b.data);
    return rc;
}

static bool
imds_disabled(const char *(*getenv_fn)(const char *) )
{
    const char *v = getenv_fn("AWS_EC2_METADATA_DISABLED");

    return v != NULL && strcasecmp(v, "true") == 0;
}

#define AWSCREDS_NONE                                                                              \
    "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or "                     \
    "AWS_SECRET_ACCESS_KEY_FILE), and AWS_SESSION_TOKEN for temporary credentials, or "            \
    "AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN, or AWS_CONTAINER_CREDENTIALS_RELATIVE_URI / "   \
    "_FULL_URI"

cdc_rc
awscreds_resolve(struct awscreds *out, const char *(*getenv_fn)(const char *), struct cdc_err *err)
{
    struct awscreds c = {0};
    cdc_rc rc;

    if (getenv_fn == NULL)
        getenv_fn = awscreds_getenv;
    if (is_set(getenv_fn("AWS_ACCESS_KEY_ID")) || is_set(getenv_fn("AWS_SECRET_ACCESS_KEY")) ||
        is_set(getenv_fn("AWS_SECRET_ACCESS_KEY_FILE"))) {
        rc = from_env(&c, getenv_fn, err);
        if (rc != CDC_OK) {
            awscreds_free(&c);
            return cdc_err_prefix(err, "could not read AWS credentials from the environment");
        }
        *out = c;
        return CDC_OK;
    }
    if (is_set(getenv_fn("AWS_WEB_IDENTITY_TOKEN_FILE")))
        rc = with_body(from_web_identity, &c, getenv_fn, err);
    else if (is_set(getenv_fn("AWS_CONTAINER_CREDENTIALS_FULL_URI")) ||
             is_set(getenv_fn("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")))
        rc = with_body(from_container, &c, getenv_fn, err);
    else if (imds_disabled(getenv_fn))
        return cdc_err_set(err, CDC_ERR_CONFIG,
                           AWSCREDS_NONE " (the instance metadata service is disabled by "
                                         "AWS_EC2_METADATA_DISABLED)");
    else if ((rc = with_body(from_imds, &c, getenv_fn, err)) != CDC_OK) {
        /*
         * The fallback failed: no answer is most likely "not on EC2", i.e.
         * nothing configured (CONFIG); the message says both.
         */
        cdc_err_prefix(err, AWSCREDS_NONE "; instance metadata fallback");
        if (rc == CDC_ERR_RETRY) {
            rc = CDC_ERR_CONFIG;
            if (err != NULL)
                err->code = rc;
        }
        return rc;
    }
    if (rc != CDC_OK) {
        awscreds_free(&c);
        return cdc_err_prefix(err, "could not read AWS credentials");
    }
    *out = c;
    return CDC_OK;
}

bool
awscreds_expiring(const struct awscreds *c, time_t now)
{
    return c->access_key_id == NULL ||
           (c->expiration != 0 && now >= c->expiration - AWSCREDS_REFRESH_MARGIN);
}

cdc_rc
awscreds_refresh(struct awscreds *c, const char *(*getenv_fn)(const char *), time_t now,
                 struct cdc_err *err)
{
    struct awscreds fresh = {0};
    cdc_rc rc;

    if (!awscreds_expiring(c, now))
        return CDC_OK;
    rc = awscreds_resolve(&fresh, getenv_fn, err);
    if (rc != CDC_OK)
        return rc;
    awscreds_free(c);
    *c = fresh;
    return CDC_OK;
}

/* ---- the credentials document ------------------------------------------------------------ */

static const char *
skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
        p++;
    return p;
}

static int
hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* A JSON string at p (after the quote) into b; returns the position after the closing quote. */
static const char *
json_string(const char *p, struct cdc_buf *b)
{
    for (; *p != '"'; p++) {
        if ((unsigned char) *p < 0x20)
            return NULL;
        if (*p != '\\') {
            cdc_buf_putc(b, *p);
            continue;
        }
        switch (*++p) {
        case '"':
        case '\\':
        case '/':
            cdc_buf_putc(b, *p);
            break;
        case 'n':
            cdc_buf_putc(b, '\n');
            break;
        case 't':
            cdc_buf_putc(b, '\t');
            break;
        case 'r':
            cdc_buf_putc(b, '\r');
            break;
        case 'b':
            cdc_buf_putc(b, '\b');
            break;
        case 'f':
            cdc_buf_putc(b, '\f');
            break;
        case 'u': {
            int v = 0;

            for (int i = 1; i <= 4; i++) {
                int h = hexval(p[i]);

                if (h < 0)
                    return NULL;
                v = v * 16 + h;
            }
            if (v >= 0x80)
                return NULL; /* credentials are ASCII */
            cdc_buf_putc(b, (char) v);
            p += 4;
            break;
        }
        default:
            return NULL;
        }
    }
    return p + 1;
}

/* A scalar that is not a string (number, true, false, null): skipped. */
static const char *
json_skip_scalar(const char *p)
{
    const char *s = p;

    while (*p && strchr(",} \t\r\n", *p) == NULL)
        p++;
    return p > s ? p : NULL;
}

struct doc {
    char *code, *akid, *secret, *token, *expiration;
};

static char **
doc_slot(struct doc *d, const char *key)
{
    static const char *const names[] = {"Code", "AccessKeyId", "SecretAccessKey", "Token",
                                        "Expiration"};
    char **slots[] = {&d->code, &d->akid, &d->secret, &d->token, &d->expiration};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(key, names[i]) == 0)
            return slots[i];
    return NULL;
}

/* Walk the flat object; false if it is not one. */
static bool
json_walk(const char *p, struct doc *d)
{
    struct cdc_buf k = CDC_BUF_INIT, v = CDC_BUF_INIT;
    bool ok = false;

    p = skip_ws(p);
    if (*p++ != '{')
        return false;
    p = skip_ws(p);
    if (*p == '}')
        return *skip_ws(p + 1) == '\0';
    for (;;) {
        char **slot;

        cdc_buf_reset(&k);
        cdc_buf_reset(&v);
        if (*p != '"' || (p = json_string(p + 1, &k)) == NULL)
            break;
        p = skip_ws(p);
        if (*p++ != ':')
            break;
        p = skip_ws(p);
        if (*p == '"') {
            if ((p = json_string(p + 1, &v)) == NULL || !cdc_buf_ok(&k) || !cdc_buf_ok(&v))
                break;
            slot = doc_slot(d, k.data ? k.data : "");
            if (slot != NULL && *slot == NULL)
                *slot = strdup(v.data ? v.data : "");
        } else if ((p = json_skip_scalar(p)) == NULL) {
            break;
        }
        p = skip_ws(p);
        if (*p == '}') {
            ok = *skip_ws(p + 1) == '\0';
            break;
        }
        if (*p++ != ',')
            break;
        p = skip_ws(p);
    }
    if (v.data != NULL)
        explicit_bzero(v.data, v.len);
    cdc_buf_free(&k);
    cdc_buf_free(&v);
    return ok;
}

/* "2024-01-01T00:00:00Z" -> unix seconds; false if it is not that form. */
static bool
parse_iso8601(const char *s, time_t *out)
{
    struct tm tm;
    const char *end;

    memset(&tm, 0, sizeof(tm));
    end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (end == NULL || (strcmp(end, "Z") != 0 && strcmp(end, "+00:00") != 0))
        return false;
    *out = timegm(&tm);
    return true;
}

cdc_rc
awscreds_parse_json(struct awscreds *out, const char *json, struct cdc_err *err)
{
    struct doc d = {0};
    struct awscreds c = {0};
    cdc_rc rc = CDC_OK;

    if (json == NULL || !json_walk(json, &d))
        rc = cdc_err_set(err, CDC_ERR_PROTO, "AWS credentials document is not a flat JSON object");
    else if (d.code != NULL && strcmp(d.code, "Success") != 0)
        rc = cdc_err_set(err, CDC_ERR_PROTO, "AWS credentials document has Code \"%.40s\"", d.code);
    else if (!is_set(d.akid) || !is_set(d.secret))
        rc = cdc_err_set(err, CDC_ERR_PROTO, "AWS credentials document lacks %s",
                         is_set(d.akid) ? "SecretAccessKey" : "AccessKeyId");
    else if (d.expiration != NULL && !parse_iso8601(d.expiration, &c.expiration))
        rc = cdc_err_set(err, CDC_ERR_PROTO, "AWS credentials document: bad Expiration");
    if (rc == CDC_OK) {
        c.access_key_id = d.akid;
        c.secret_access_key = d.secret;
        c.session_token = is_set(d.token) ? d.token : NULL;
        c.source = "credentials document";
        d.akid = d.secret = NULL;
        if (c.session_token != NULL)
            d.token = NULL;
        *out = c;
    }
    wipe_free(d.code);
    wipe_free(d.akid);
    wipe_free(d.secret);
    wipe_free(d.token);
    wipe_free(d.expiration);
    return rc;
}

/* ---- the RDS password callback ----------------------------------------------------------- */

cdc_rc
awscreds_rds_password(void *closure, const char *host, int port, const char *user, char **out,
                      struct cdc_err *err)
{
    const char *region = closure;
    struct awscreds c = {0};
    struct aws_creds view;
    char *tok;
    cdc_rc rc;

    rc = awscreds_resolve(&c, NULL, err);
    if (rc != CDC_OK)
        return cdc_err_prefix(err, "rds.auth iam");
    tok = malloc(AWSCREDS_TOKEN_MAX);
    if (tok == NULL) {
        awscreds_free(&c);
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory building an RDS IAM token");
    }
    awscreds_view(&c, &view);
    rc = rdsiam_token(tok, AWSCREDS_TOKEN_MAX, host, port, user, region, &view, time(NULL), err);
    awscreds_free(&c);
    if (rc != CDC_OK) {
        free(tok);
        return rc;
    }
    *out = tok;
    return CDC_OK;
}
