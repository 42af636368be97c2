/*
 * ckpt_s3.c - the S3 checkpoint backend (libcurl 7.88 and its AWS SigV4).
 *
 * URL: s3://BUCKET/KEY[?region=R&endpoint=URL&sse=AES256|aws:kms&kms_key_id=ID&timeout=MS]
 * BUCKET is 3 to 63 characters among a-z, 0-9, . and -; KEY is 1 to 1024
 * characters among A-Z a-z 0-9 / _ . = - with no empty, "." or ".." segment
 * (so it never needs escaping). region defaults to $AWS_REGION, then
 * $AWS_DEFAULT_REGION; one of them is required. endpoint (http:// or
 * https://, no user info, no path) defaults to https://s3.REGION.amazonaws.com.
 * Requests are path-style: ENDPOINT/BUCKET/KEY. Query values may be
 * %-escaped. sse sets x-amz-server-side-encryption on every PUT (with
 * aws:kms, kms_key_id sets x-amz-server-side-encryption-aws-kms-key-id).
 * timeout (default 10000 ms) bounds each request, connecting included.
 *
 * Credentials are resolved at open by awscreds_resolve() (the environment,
 * the container endpoint or the EC2 instance metadata service: see
 * awscreds.h); none: CDC_ERR_CONFIG. Temporary credentials are fetched again
 * before a request once they are within 5 minutes of their Expiration; if
 * that fails while the old ones are still valid, the old ones are used (and
 * the next request tries again); once expired, the request fails with the
 * fetch's error (CDC_ERR_RETRY when the endpoint did not answer, else
 * CDC_ERR_FATAL). libcurl signs each
 * request (CURLOPT_AWS_SIGV4 "aws:amz:REGION:s3"); we add the headers it does
 * not: x-amz-content-sha256 (the hex SHA-256 of the body) and
 * x-amz-security-token. Every header we set is signed.
 *
 * A read is a GET: 404 NoSuchKey is "no record". A write is a conditional
 * PUT: If-None-Match: * while the object is absent, else If-Match with the
 * ETag this store last read or wrote, so two daemons on one key cannot both
 * win. A 412 is looked into with a GET: the object holds one of our own
 * writes whose answer was lost (a timeout or a 5xx after the request left)
 * -> we adopt its ETag and write again; it holds someone else's record ->
 * CDC_ERR_FATAL ("changed by another writer"); it vanished -> written again
 * as a new object. The same GET is made before each overwrite, because some
 * S3-compatible servers ignore If-Match: a second writer is then caught at
 * the next write of the first. Callers are expected to load before the
 * first save.
 *
 * No answer (connection refused, timeout, reset), 5xx, 408, 429 and 409
 * (a concurrent conditional write): CDC_ERR_RETRY. Any other 4xx:
 * CDC_ERR_FATAL with the S3 error Code and Message from the XML body. The
 * secret and the session token never appear in the description or in a
 * message, which name s3://BUCKET/KEY.
 *
 * A web identity (STS) is refused by awscreds.c with a message. One store,
 * one thread.
 */
#include "checkpoint/ckpt_store.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "aws/awscreds.h"

#define S3_PENDING_MAX     8 /* unanswered writes we still accept as "ours" */
#define S3_DEFAULT_TIMEOUT 10000
#define S3_BODY_MAX        (CKPT_STORED_MAX + 1024) /* an answer larger than this is not ours */

struct s3_pending {
    char *text;
    size_t len;
};

struct ckpt_s3 {
    char bucket[64];
    char key[1025];
    char region[64];
    char endpoint[512];   /* no trailing slash */
    char sse[16];         /* "", "AES256" or "aws:kms" */
    char kms_key_id[512]; /* with aws:kms, may be "" (the bucket's default key) */
    long timeout_ms;
    char url[2048];   /* ENDPOINT/BUCKET/KEY */
    char sigv4[128];  /* "aws:amz:REGION:s3" */
    char where[1200]; /* "s3://BUCKET/KEY" for messages */

    struct awscreds creds; /* secret: wiped at close */
    CURL *curl;            /* kept between requests: the connection is reused */

    char etag[256];                            /* the ETag last read or written; "" with !exists */
    bool exists;                               /* the object existed at the last read or write */
    struct s3_pending pending[S3_PENDING_MAX]; /* writes whose outcome is unknown */
    int npending;
};

/* One HTTP exchange. */
struct s3_resp {
    long status;    /* 0: no answer */
    char *body;     /* NUL-terminated */
    size_t len;     /* bytes in body */
    size_t cap;     /* S3_BODY_MAX */
    bool truncated; /* the body was longer than cap - 1 */
    char etag[256]; /* the ETag header, quotes kept */
    char code[64];  /* S3 error Code, "" when none */
    char message[160];
};

/* ---- URL parsing ---- */

static bool
s3_is_bucket(const char *p, size_t n)
{
    if (n < 3 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') || p[i] == '.' ||
              p[i] == '-'))
            return false;
    return true;
}

/* A key that needs no escaping in a URL path and that no client normalises. */
static bool
s3_is_key(const char *p, size_t n)
{
    size_t seg = 0;

    if (n == 0 || n > 1024)
        return false;
    for (size_t i = 0; i <= n; i++) {
        char c = i < n ? p[i] : '/';

        if (c == '/') {
            /* segment p[seg..i): not empty, not "." or ".." */
            if (i == seg || (i - seg == 1 && p[seg] == '.') ||
                (i - seg == 2 && p[seg] == '.' && p[seg + 1] == '.'))
                return false;
            seg = i + 1;
        } else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                     c == '_' || c == '.' || c == '=' || c == '-')) {
            return false;
        }
    }
    return true;
}

static bool
s3_is_region(const char *r)
{
    if (r[0] == '\0' || strlen(r) >= 64)
        return false;
    for (; *r; r++)
        if (!((*r >= 'a' && *r <= 'z') || (*r >= '0' && *r <= '9') || *r == '-'))
            return false;
    return true;
}

/* http(s)://HOST[:PORT][/], no user info, no path, no query. Strips one trailing slash. */
static bool
s3_check_endpoint(char *e)
{
    size_t n = strlen(e);
    const char *host;

    if (strncmp(e, "https://", 8) == 0)
        host = e + 8;
    else if (strncmp(e, "http://", 7) == 0)
        host = e + 7;
    else
        return false;
    if (n > 0 && e[n - 1] == '/')
        e[--n] = '\0';
    return host[0] != '\0' && strpbrk(host, "/?#@ ") == NULL;
}

/* Copy a URL parameter's value into a field; false (not truncated) when it does not fit. */
static bool
s3_set(char *dst, size_t cap, const char *val)
{
    size_t n = strlen(val);

    if (n >= cap)
        return false;
    memcpy(dst, val, n + 1);
    return true;
}

static cdc_rc
s3_param(struct ckpt_s3 *k, const char *name, size_t nlen, const char *v, size_t vlen,
         struct cdc_err *err)
{
    char val[512];
    char *end;

    if (!ckpt_url_decode(v, vlen, val, sizeof(val)))
        return cdc_err_set(err, CDC_ERR_CONFIG,
                           "s3 checkpoint URL: malformed or too long value for parameter \"%.*s\"",
                           (int) nlen, name);
    if (nlen == 6 && strncmp(name, "region", 6) == 0) {
        if (!s3_is_region(val))
            return cdc_err_set(err, CDC_ERR_CONFIG,
                               "s3 checkpoint URL: invalid region \"%.63s\" (expected e.g. "
                               "eu-west-1)",
                               val);
        if (!s3_set(k->region, sizeof(k->region), val))
            return cdc_err_set(err, CDC_ERR_CONFIG, "s3 checkpoint URL: region is too long");
    } else if (nlen == 8 && strncmp(name, "endpoint", 8) == 0) {
        if (!s3_check_endpoint(val))
            return cdc_err_set(err, CDC_ERR_CONFIG,
                               "s3 checkpoint URL: endpoint must be http://HOST[:PORT] or "
                               "https://HOST[:PORT], without user info or path");
        if (!s3_set(k->endpoint, sizeof(k->endpoint), val))
            return cdc_err_set(err, CDC_ERR_CONFIG, "s3 checkpoint URL: endpoint is too long");
    } else if (nlen == 3 && strncmp(name, "sse", 3) == 0) {
        if (strcmp(val, "AES256") != 0 && strcmp(val, "aws:kms") != 0)
            return cdc_err_set(err, CDC_ERR_CONFIG,
                               "s3 checkpoint URL: sse must be AES256 or aws:kms");
        memcpy(k->sse, val, strlen(val) + 1); /* one of the two names above */
    } else if (nlen == 10 && strncmp(name, "kms_key_id", 10) == 0) {
        if (!s3_set(k->kms_key_id, sizeof(k->kms_key_id), val))
            return cdc_err_set(err, CDC_ERR_CONFIG, "s3 checkpoint URL: kms_key_id is too long");
    } else if (nlen == 7 && strncmp(name, "timeout", 7) == 0) {
        errno = 0;
        k->timeout_ms = strtol(val, &end, 10);
        if (errno != 0 || end == val || *end != '\0' || k->timeout_ms < 1 ||
            k->timeout_ms > 3600000)
            return cdc_err_set(err, CDC_ERR_CONFIG,
                               "s3 checkpoint URL: timeout must be 1..3600000 (milliseconds)");
    } else {
        return cdc_err_set(err, CDC_ERR_CONFIG,
                           "s3 checkpoint URL: unknown parameter \"%.*s\" (known: region, "
                           "endpoint, sse, kms_key_id, timeout)",
                           (int) (nlen > 64 ? 64 : nlen), name);
    }
    return CDC_OK;
}

/* url without "s3://": BUCKET/KEY[?query] */
static cdc_rc
s3_parse_url(struct ckpt_s3 *k, const char *url, struct cdc_err *err)
{
    size_t blen = strcspn(url, "/?"), klen;
    const char *key, *q;
    cdc_rc rc;

    if (!s3_is_bucket(url, blen))
        return cdc_err_set(err, CDC_ERR_CONFIG,
                           "s3 checkpoint URL: bucket \"%.*s\" must be 3 to 63 characters among "
                           "a-z, 0-9, . and - (expected s3://BUCKET/KEY)",
                           (int) (blen > 64 ? 64 : blen), url);
    memcpy(k->bucket, url, blen);
    k->bucket[blen] = '\0';
    if (url[blen] != '/')
        return cdc_err_set(err, CDC_ERR_CONFIG,
                           "s3 checkpoint URL: no key (expected s3://BUCKET/KEY)");
    key = url + blen + 1;
    klen = strcspn(key, "?");
    if (!s3_is_key(key, klen))
        return cdc_err_set(err, CDC_ERR_CONFIG,
                           "s3 checkpoint URL: key \"%.*s\" must be 1 to 1024 characters among "
                           "A-Z, a-z, 0-9, /, _, ., = and -, without empty, \".\" or \"..\" "
                           "segments",
                           (int) (klen > 64 ? 64 : klen), key);
    memcpy(k->key, key, klen);
    k->key[klen] = '\0';
    for (q = key[klen] == '?' ? key + klen + 1 : key + klen; *q;) {
        size_t n = strcspn(q, "&");
        const char *eq = memchr(q, '=', n);
        size_t nlen = eq ? (size_t) (eq - q) : n;
        const char *v = eq ? eq + 1 : q + n;

        rc = s3_param(k, q, nlen, v, (size_t) (q + n - v), err);
        if (rc != CDC_OK)
            return rc;
        q += n;
        if (*q == '&')
            q++;
    }
    if (k->kms_key_id[0] != '\0' && strcmp(k->sse, "aws:kms") != 0)
        return cdc_err_set(err, CDC_ERR_CONFIG, "s3 checkpoint URL: kms_key_id needs sse=aws:kms");
    return CDC_OK;
}

/* Region from the URL, else the environment; the endpoint from the region when not given. */
static cdc_rc
s3_defaults(struct ckpt_s3 *k, struct cdc_err *err)
{
    const char *env_names[] = {"AWS_REGION", "AWS_DEFAULT_REGION"};

    for (size_t i = 0; k->region[0] == '\0' && i < 2; i++) {
        const char *r = getenv(env_names[i]);

        if (r != NULL && r[0] != '\0') {
            if (!s3_is_region(r))
                return cdc_err_set(err, CDC_ERR_CONFIG, "s3 checkpoint store: invalid region in %s",
                                   env_names[i]);
            snprintf(k->region, sizeof(k->region), "%s", r);
        }
    }
    if (k->region[0] == '\0')
        return cdc_err_set(err, CDC_ERR_CONFIG,
                           "s3 checkpoint store s3://%s/%s: no region (add ?region=R to the URL "
                           "or set AWS_REGION)",
                           k->bucket, k->key);
    if (k->endpoint[0] == '\0')
        snprintf(k->endpoint, sizeof(k->endpoint), "https://s3.%s.amazonaws.com", k->region);
    snprintf(k->url, sizeof(k->url), "%s/%s/%s", k->endpoint, k->bucket, k->key);
    snprintf(k->sigv4, sizeof(k->sigv4), "aws:amz:%s:s3", k->region);
    snprintf(k->where, sizeof(k->where), "s3://%s/%s", k->bucket, k->key);
    return CDC_OK;
}

/* ---- one request ---- */

static size_t
s3_on_body(char *data, size_t size, size_t n, void *arg)
{
    struct s3_resp *r = arg;
    size_t len = size * n, room = r->cap - 1 - r->len;

    if (len > room) {
        r->truncated = true;
        len = room;
    }
    memcpy(r->body + r->len, data, len);
    r->len += len;
    r->body[r->len] = '\0';
    return size * n; /* keep reading: the connection stays usable */
}

static size_t
s3_on_header(char *data, size_t size, size_t n, void *arg)
{
    struct s3_resp *r = arg;
    size_t len = size * n, v;

    if (len > 5 && strncasecmp(data, "etag:", 5) == 0) {
        for (v = 5; v < len && (data[v] == ' ' || data[v] == '\t'); v++)
            ;
        while (len > v && (data[len - 1] == '\r' || data[len - 1] == '\n' || data[len - 1] == ' '))
            len--;
        if (len - v < sizeof(r->etag)) {
            memcpy(r->etag, data + v, len - v);
            r->etag[len - v] = '\0';
        }
    }
    return size * n;
}

/* The text of <tag>...</tag> in xml, printable ASCII only, into out. */
static void
s3_xml_text(const char *xml, const char *tag, char *out, size_t cap)
{
    char open[32];
    const char *p;
    size_t o = 0;

    out[0] = '\0';
    snprintf(open, sizeof(open), "<%s>", tag);
    p = strstr(xml, open);
    if (p == NULL)
        return;
    for (p += strlen(open); *p && *p != '<' && o + 1 < cap; p++)
        out[o++] = (*p >= 0x20 && *p < 0x7f) ? *p : '?';
    out[o] = '\0';
}

static void
s3_sha256_hex(const char *data, size_t len, char hex[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;

    if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
        memset(md, 0, sizeof(md)); /* only on an OpenSSL failure: the server will refuse it */
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static struct curl_slist *s3_add_header(struct curl_slist *h, bool *ok, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static struct curl_slist *
s3_add_header(struct curl_slist *h, bool *ok, const char *fmt, ...)
{
    char line[1024];
    struct curl_slist *n;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    n = curl_slist_append(h, line);
    if (n == NULL) {
        *ok = false;
        return h;
    }
    OPENSSL_cleanse(line, sizeof(line)); /* it may have held the session token */
    return n;
}

/* The headers of a GET (body NULL) or a conditional PUT; NULL when out of memory. */
static struct curl_slist *
s3_headers(const struct ckpt_s3 *k, const char *body, size_t len, const char *cond)
{
    struct curl_slist *h = NULL;
    char hex[65];
    bool ok = true;

    s3_sha256_hex(body ? body : "", body ? len : 0, hex);
    h = s3_add_header(h, &ok, "x-amz-content-sha256: %s", hex);
    if (k->creds.session_token != NULL)
        h = s3_add_header(h, &ok, "x-amz-security-token: %s", k->creds.session_token);
    if (body != NULL) {
        h = s3_add_header(h, &ok, "Content-Type: application/json");
        /*
         * No "Expect:" to suppress 100-continue: curl would sign the header and then not
         * send it, and S3 would refuse the signature. curl only asks for 100-continue
         * above 1 MiB, far beyond a record.
         */
        if (k->sse[0] != '\0')
            h = s3_add_header(h, &ok, "x-amz-server-side-encryption: %s", k->sse);
        if (k->kms_key_id[0] != '\0')
            h = s3_add_header(h, &ok, "x-amz-server-side-encryption-aws-kms-key-id: %s",
                              k->kms_key_id);
        h = s3_add_header(h, &ok, "%s", cond);
    }
    if (!ok) {
        curl_slist_free_all(h);
        return NULL;
    }
    return h;
}

/*
 * Send one request and fill r. CDC_OK when an HTTP answer came (whatever its
 * status); CDC_ERR_RETRY when none did (err says why), CDC_ERR_FATAL for a
 * request curl cannot make at all.
 */
/* Fetch credentials again when they are about to expire (see the file header). */
static cdc_rc
s3_fresh_creds(struct ckpt_s3 *k, struct cdc_err *err)
{
    time_t now = time(NULL);
    cdc_rc rc;

    if (!awscreds_expiring(&k->creds, now))
        return CDC_OK;
    rc = awscreds_refresh(&k->creds, NULL, now, err);
    if (rc == CDC_OK || (k->creds.access_key_id != NULL && now < k->creds.expiration)) {
        cdc_err_clear(err);
        return CDC_OK;
    }
    cdc_err_prefix(err, "s3 checkpoint store %s: the credentials expired", k->where);
    if (err != NULL && rc != CDC_ERR_RETRY && rc != CDC_ERR_NOMEM)
        err->code = CDC_ERR_FATAL;
    return rc == CDC_ERR_RETRY || rc == CDC_ERR_NOMEM ? rc : CDC_ERR_FATAL;
}

static cdc_rc
s3_request(struct ckpt_s3 *k, const char *body, size_t len, const char *cond, struct s3_resp *r,
           struct cdc_err *err)
{
    char ebuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *h;
    CURLcode cc;
    cdc_rc rc;

    r->status = 0;
    r->len = 0;
    r->body[0] = '\0';
    r->truncated = false;
    r->etag[0] = r->code[0] = r->message[0] = '\0';
    if ((rc = s3_fresh_creds(k, err)) != CDC_OK)
        return rc;
    h = s3_headers(k, body, len, cond);
    if (h == NULL)
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
    curl_easy_reset(k->curl);
    curl_easy_setopt(k->curl, CURLOPT_URL, k->url);
    curl_easy_setopt(k->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(k->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(k->curl, CURLOPT_TIMEOUT_MS, k->timeout_ms);
    curl_easy_setopt(k->curl, CURLOPT_CONNECTTIMEOUT_MS, k->timeout_ms);
    curl_easy_setopt(k->curl, CURLOPT_ERRORBUFFER, ebuf);
    curl_easy_setopt(k->curl, CURLOPT_AWS_SIGV4, k->sigv4);
    curl_easy_setopt(k->curl, CURLOPT_USERNAME, k->creds.access_key_id);
    curl_easy_setopt(k->curl, CURLOPT_PASSWORD, k->creds.secret_access_key);
    curl_easy_setopt(k->curl, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(k->curl, CURLOPT_WRITEFUNCTION, s3_on_body);
    curl_easy_setopt(k->curl, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(k->curl, CURLOPT_HEADERFUNCTION, s3_on_header);
    curl_easy_setopt(k->curl, CURLOPT_HEADERDATA, r);
    if (body != NULL) {
        /* POSTFIELDS, not a read callback: curl's SigV4 hashes the payload from it */
        curl_easy_setopt(k->curl, CURLOPT_CUSTOMREQUEST, "PUT");
        curl_easy_setopt(k->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) len);
        curl_easy_setopt(k->curl, CURLOPT_POSTFIELDS, body);
    }
    cc = curl_easy_perform(k->curl);
    curl_easy_setopt(k->curl, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(h);
    if (cc != CURLE_OK) {
        bool fatal = cc == CURLE_UNSUPPORTED_PROTOCOL || cc == CURLE_URL_MALFORMAT ||
                     cc == CURLE_NOT_BUILT_IN || cc == CURLE_PEER_FAILED_VERIFICATION;

        return cdc_err_set(err, fatal ? CDC_ERR_FATAL : CDC_ERR_RETRY,
                           "s3 checkpoint store %s: could not %s %s: %s", k->where,
                           body ? "write to" : "read from", k->endpoint,
                           ebuf[0] ? ebuf : curl_easy_strerror(cc));
    }
    curl_easy_getinfo(k->curl, CURLINFO_RESPONSE_CODE, &r->status);
    if (r->status >= 300) {
        s3_xml_text(r->body, "Code", r->code, sizeof(r->code));
        s3_xml_text(r->body, "Message", r->message, sizeof(r->message));
    }
    return CDC_OK;
}

/* err for an HTTP answer that is not what we wanted: RETRY for transient statuses. */
static cdc_rc
s3_http_failed(const struct ckpt_s3 *k, const struct s3_resp *r, const char *what,
               struct cdc_err *err)
{
    bool transient = r->status >= 500 || r->status == 408 || r->status == 429 || r->status == 409 ||
                     strcmp(r->code, "SlowDown") == 0;

    return cdc_err_set(err, transient ? CDC_ERR_RETRY : CDC_ERR_FATAL,
                       "s3 checkpoint store %s: %s: HTTP %ld%s%s%s%s%s", k->where, what, r->status,
                       r->code[0] ? " " : "", r->code, r->message[0] ? " (" : "", r->message,
                       r->message[0] ? ")" : "");
}

static bool
s3_alloc_resp(struct s3_resp *r)
{
    memset(r, 0, sizeof(*r));
    r->cap = S3_BODY_MAX;
    r->body = malloc(r->cap);
    return r->body != NULL;
}

/* ---- pending writes ---- */

static void
s3_clear_pending(struct ckpt_s3 *k)
{
    for (int i = 0; i < k->npending; i++)
        free(k->pending[i].text);
    k->npending = 0;
}

static void
s3_add_pending(struct ckpt_s3 *k, const char *text, size_t len)
{
    char *copy = malloc(len);

    if (copy == NULL)
        return; /* at worst a lost answer later looks like another writer: fatal, never wrong */
    memcpy(copy, text, len);
    if (k->npending == S3_PENDING_MAX) {
        free(k->pending[0].text);
        memmove(k->pending, k->pending + 1, sizeof(k->pending[0]) * (S3_PENDING_MAX - 1));
        k->npending--;
    }
    k->pending[k->npending].text = copy;
    k->pending[k->npending].len = len;
    k->npending++;
}

static bool
s3_is_pending(const struct ckpt_s3 *k, const char *v, size_t len)
{
    for (int i = 0; i < k->npending; i++)
        if (len == k->pending[i].len && memcmp(v, k->pending[i].text, len) == 0)
            return true;
    return false;
}

/* ---- the ops ---- */

static cdc_rc
s3_read(struct ckpt_store *s, char *buf, size_t cap, size_t *len, struct cdc_err *err)
{
    struct ckpt_s3 *k = s->impl;
    struct s3_resp r;
    cdc_rc rc;

    *len = 0;
    if (!s3_alloc_resp(&r))
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
    rc = s3_request(k, NULL, 0, NULL, &r, err);
    if (rc != CDC_OK)
        goto done;
    if (r.status == 404 && strcmp(r.code, "NoSuchKey") == 0) {
        k->exists = false;
        k->etag[0] = '\0';
        s3_clear_pending(k);
        goto done;
    }
    if (r.status != 200) {
        rc = s3_http_failed(k, &r, "could not read the checkpoint", err);
        goto done;
    }
    if (r.truncated || r.len >= cap) {
        rc = cdc_err_set(err, CDC_ERR_FATAL,
                         "s3 checkpoint store %s: the object does not hold a checkpoint (more "
                         "than %zu bytes)",
                         k->where, cap - 1);
        goto done;
    }
    memcpy(buf, r.body, r.len);
    buf[r.len] = '\0';
    /* an empty object is a corrupt record, not a missing one */
    *len = r.len == 0 ? 1 : r.len;
    k->exists = true;
    snprintf(k->etag, sizeof(k->etag), "%s", r.etag);
    s3_clear_pending(k);
done:
    free(r.body);
    return rc;
}

/*
 * Read the object and judge it against what this store last wrote: our own
 * lost write is adopted (*again), a vanished object is written anew, someone
 * else's record is CDC_ERR_FATAL. refused: after a 412 (the same ETag is then
 * a RETRY: the server refused for another reason); else a check before a
 * write (the same ETag: go on).
 */
static cdc_rc
s3_judge(struct ckpt_s3 *k, struct s3_resp *r, bool refused, bool *again, struct cdc_err *err)
{
    char sent[256];
    cdc_rc rc;

    snprintf(sent, sizeof(sent), "%s", k->exists ? k->etag : "*");
    rc = s3_request(k, NULL, 0, NULL, r, err);
    if (rc != CDC_OK)
        return rc;
    if (r->status == 404 && strcmp(r->code, "NoSuchKey") == 0) {
        /* deleted behind our back: write it again as a new object */
        *again = k->exists;
        k->exists = false;
        k->etag[0] = '\0';
        if (!refused)
            return CDC_OK;
        return *again ? CDC_OK
                      : cdc_err_set(err, CDC_ERR_RETRY,
                                    "s3 checkpoint store %s: conditional write refused, yet the "
                                    "object is absent",
                                    k->where);
    }
    if (r->status != 200)
        return s3_http_failed(k, r, "could not read the object back", err);
    if (!r->truncated && s3_is_pending(k, r->body, r->len)) {
        /* an earlier write whose answer we never got landed: it is ours, go on from there */
        k->exists = true;
        snprintf(k->etag, sizeof(k->etag), "%s", r->etag);
        s3_clear_pending(k);
        *again = true;
        return CDC_OK;
    }
    if (k->exists && strcmp(r->etag, k->etag) == 0)
        return !refused ? CDC_OK
                        : cdc_err_set(err, CDC_ERR_RETRY,
                                      "s3 checkpoint store %s: conditional write refused, yet the "
                                      "ETag is unchanged",
                                      k->where);
    return cdc_err_set(err, CDC_ERR_FATAL,
                       "s3 checkpoint store %s: checkpoint object was changed by another writer "
                       "(ETag %.64s, expected %.64s): is a second cdc-handler using the same "
                       "bucket and key?",
                       k->where, r->etag[0] ? r->etag : "none", sent);
}

/* One conditional PUT; *again: a lost write of ours was adopted (or the object vanished). */
static cdc_rc
s3_write_once(struct ckpt_s3 *k, const char *text, size_t len, struct s3_resp *r, bool *again,
              struct cdc_err *err)
{
    char cond[300];
    cdc_rc rc;

    *again = false;
    /*
     * Not every S3-compatible server honours If-Match (s3rver, some older ones ignore it):
     * read the ETag first, so that a second writer is caught there too. On AWS S3 the
     * conditional PUT below closes the window between the two requests.
     */
    if (k->exists) {
        bool adopted = false;

        rc = s3_judge(k, r, false, &adopted, err);
        if (rc != CDC_OK)
            return rc;
    }
    if (k->exists)
        snprintf(cond, sizeof(cond), "If-Match: %s", k->etag);
    else
        snprintf(cond, sizeof(cond), "If-None-Match: *");
    rc = s3_request(k, text, len, cond, r, err);
    if (rc == CDC_ERR_RETRY || (rc == CDC_OK && r->status >= 500)) {
        /* sent or not, S3 may still have applied it: ours if we see it later */
        s3_add_pending(k, text, len);
        return rc == CDC_OK ? s3_http_failed(k, r, "could not write the checkpoint", err) : rc;
    }
    if (rc != CDC_OK)
        return rc;
    if (r->status == 200) {
        if (r->etag[0] == '\0') {
            /* without an ETag the next If-Match cannot be built: the next write finds it */
            s3_add_pending(k, text, len);
            return cdc_err_set(err, CDC_ERR_RETRY,
                               "s3 checkpoint store %s: the write was answered without an ETag",
                               k->where);
        }
        k->exists = true;
        snprintf(k->etag, sizeof(k->etag), "%s", r->etag);
        s3_clear_pending(k);
        return CDC_OK;
    }
    if (r->status == 412)
        return s3_judge(k, r, true, again, err);
    return s3_http_failed(k, r, "could not write the checkpoint", err);
}

static cdc_rc
s3_write(struct ckpt_store *s, const char *text, size_t len, struct cdc_err *err)
{
    struct ckpt_s3 *k = s->impl;
    struct s3_resp r;
    bool again = true;
    cdc_rc rc = CDC_OK;

    if (!s3_alloc_resp(&r))
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
    /* at most: adopt a lost write, then find the object gone, then write */
    for (int i = 0; rc == CDC_OK && again && i < 3; i++)
        rc = s3_write_once(k, text, len, &r, &again, err);
    if (rc == CDC_OK && again)
        rc = cdc_err_set(err, CDC_ERR_RETRY,
                         "s3 checkpoint store %s: the object kept changing under us", k->where);
    free(r.body);
    return rc;
}

static void
s3_free(struct ckpt_s3 *k)
{
    if (k->curl != NULL)
        curl_easy_cleanup(k->curl);
    awscreds_free(&k->creds);
    s3_clear_pending(k);
    OPENSSL_cleanse(k, sizeof(*k));
    free(k);
}

static void
s3_close(struct ckpt_store *s)
{
    s3_free(s->impl);
}

static const struct ckpt_ops s3_ops = {s3_read, s3_write, s3_close};

static pthread_once_t s3_curl_once = PTHREAD_ONCE_INIT;
static CURLcode s3_curl_init_rc = CURLE_FAILED_INIT;

static void
s3_curl_init(void)
{
    /* once per process, before any handle; never cleaned up (it lives as long as the process) */
    s3_curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

cdc_rc
ckpt_s3_open(struct ckpt_store *s, const char *url, struct cdc_err *err)
{
    struct ckpt_s3 *k;
    cdc_rc rc;

    if (strncmp(url, "s3://", 5) != 0)
        return cdc_err_set(err, CDC_ERR_CONFIG, "not an s3:// URL");
    k = calloc(1, sizeof(*k));
    if (k == NULL)
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
    k->timeout_ms = S3_DEFAULT_TIMEOUT;
    rc = s3_parse_url(k, url + 5, err);
    if (rc == CDC_OK)
        rc = s3_defaults(k, err);
    if (rc == CDC_OK) {
        rc = awscreds_resolve(&k->creds, NULL, err);
        if (rc != CDC_OK)
            cdc_err_prefix(err, "s3 checkpoint store %s", k->where);
    }
    if (rc == CDC_OK) {
        pthread_once(&s3_curl_once, s3_curl_init);
        if (s3_curl_init_rc != CURLE_OK || (k->curl = curl_easy_init()) == NULL)
            rc = cdc_err_set(err, CDC_ERR_NOMEM, "s3 checkpoint store: could not set up libcurl");
    }
    if (rc != CDC_OK) {
        s3_free(k);
        return rc;
    }
    s->ops = &s3_ops;
    s->impl = k;
    snprintf(s->desc, sizeof(s->desc), "%.250s (region %s, endpoint %.150s%s%s)", k->where,
             k->region, k->endpoint, k->sse[0] ? ", sse " : "", k->sse);
    return CDC_OK;
}
