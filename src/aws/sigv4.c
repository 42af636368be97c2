/*
 * sigv4.c - AWS Signature Version 4 query-string presigning (see sigv4.h).
 *
 * Pure computation: strings in, strings out. SHA-256 and HMAC-SHA256 come from
 * OpenSSL's one-shot EVP_Digest() and HMAC(). Buffers that held the secret or
 * a derived key are wiped with OPENSSL_cleanse() before they are released.
 * Error messages name fields, never their values when those are secret.
 */
#include "aws/sigv4.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

/* A query parameter after encoding; both strings are malloc'd. */
struct sigv4_kv {
    char *key;
    char *value;
};

/* The X-Amz-* parameters this module adds itself, besides the caller's. */
#define SIGV4_OWN_PARAMS 6

static bool
sigv4_is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

void
sigv4_uri_encode(struct cdc_buf *out, const char *s, bool keep_slash)
{
    static const char hexdig[] = "0123456789ABCDEF";

    for (const unsigned char *p = (const unsigned char *) s; *p != '\0'; p++) {
        if (sigv4_is_unreserved(*p) || (keep_slash && *p == '/')) {
            cdc_buf_putc(out, (char) *p);
        } else {
            char esc[3] = {'%', hexdig[*p >> 4], hexdig[*p & 0x0f]};

            cdc_buf_append(out, esc, sizeof(esc));
        }
    }
}

static void
sigv4_hex(const unsigned char *bin, size_t len, char *hex)
{
    static const char hexdig[] = "0123456789abcdef";

    for (size_t i = 0; i < len; i++) {
        hex[2 * i] = hexdig[bin[i] >> 4];
        hex[2 * i + 1] = hexdig[bin[i] & 0x0f];
    }
    hex[2 * len] = '\0';
}

cdc_rc
sigv4_sha256_hex(const void *data, size_t len, char hex[SIGV4_HEX_SIZE], struct cdc_err *err)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != SIGV4_KEY_LEN)
        return cdc_err_set(err, CDC_ERR_FATAL, "could not compute SHA-256: OpenSSL failed");
    sigv4_hex(md, mdlen, hex);
    return CDC_OK;
}

/* out = HMAC-SHA256(key, msg). */
static cdc_rc
sigv4_hmac(unsigned char out[SIGV4_KEY_LEN], const void *key, size_t keylen, const char *msg,
           struct cdc_err *err)
{
    unsigned int outlen = 0;

    if (HMAC(EVP_sha256(), key, (int) keylen, (const unsigned char *) msg, strlen(msg), out,
             &outlen) == NULL ||
        outlen != SIGV4_KEY_LEN)
        return cdc_err_set(err, CDC_ERR_FATAL, "could not compute HMAC-SHA256: OpenSSL failed");
    return CDC_OK;
}

cdc_rc
sigv4_signing_key(unsigned char key[SIGV4_KEY_LEN], const char *secret, const char *date,
                  const char *region, const char *service, struct cdc_err *err)
{
    unsigned char k1[SIGV4_KEY_LEN], k2[SIGV4_KEY_LEN];
    size_t slen = strlen(secret);
    char *seed = malloc(slen + 5);
    cdc_rc rc;

    if (seed == NULL)
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory deriving the signing key");
    memcpy(seed, "AWS4", 4);
    memcpy(seed + 4, secret, slen + 1);
    if ((rc = sigv4_hmac(k1, seed, slen + 4, date, err)) != CDC_OK ||
        (rc = sigv4_hmac(k2, k1, sizeof(k1), region, err)) != CDC_OK ||
        (rc = sigv4_hmac(k1, k2, sizeof(k2), service, err)) != CDC_OK ||
        (rc = sigv4_hmac(key, k1, sizeof(k1), "aws4_request", err)) != CDC_OK)
        goto fail;
    rc = CDC_OK;
fail:
    OPENSSL_cleanse(seed, slen + 4);
    OPENSSL_cleanse(k1, sizeof(k1));
    OPENSSL_cleanse(k2, sizeof(k2));
    free(seed);
    return rc;
}

cdc_rc
sigv4_format_time(time_t when, char amz_date[SIGV4_AMZDATE_SIZE], char date[SIGV4_DATE_SIZE],
                  struct cdc_err *err)
{
    struct tm tm;

    if (gmtime_r(&when, &tm) == NULL || tm.tm_year < 0 || tm.tm_year > 9999 - 1900)
        return cdc_err_set(err, CDC_ERR_CONFIG, "signing time %lld is out of range",
                           (long long) when);
    if (strftime(amz_date, SIGV4_AMZDATE_SIZE, "%Y%m%dT%H%M%SZ", &tm) != SIGV4_AMZDATE_SIZE - 1)
        return cdc_err_set(err, CDC_ERR_CONFIG, "could not format signing time %lld",
                           (long long) when);
    if (date != NULL) {
        memcpy(date, amz_date, SIGV4_DATE_SIZE - 1);
        date[SIGV4_DATE_SIZE - 1] = '\0';
    }
    return CDC_OK;
}

cdc_rc
sigv4_canonical_request(struct cdc_buf *out, const char *method, const char *uri, const char *query,
                        const char *headers, const char *signed_headers, const char *payload_hash,
                        struct cdc_err *err)
{
    cdc_buf_puts(out, method);
    cdc_buf_putc(out, '\n');
    cdc_buf_puts(out, uri);
    cdc_buf_putc(out, '\n');
    cdc_buf_puts(out, query);
    cdc_buf_putc(out, '\n');
    cdc_buf_puts(out, headers);
    cdc_buf_putc(out, '\n');
    cdc_buf_puts(out, signed_headers);
    cdc_buf_putc(out, '\n');
    cdc_buf_puts(out, payload_hash);
    if (!cdc_buf_ok(out))
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory building the canonical request");
    return CDC_OK;
}

cdc_rc
sigv4_string_to_sign(struct cdc_buf *out, const char *amz_date, const char *scope,
                     const char *canonical_request_hash, struct cdc_err *err)
{
    cdc_buf_puts(out, SIGV4_ALGORITHM "\n");
    cdc_buf_puts(out, amz_date);
    cdc_buf_putc(out, '\n');
    cdc_buf_puts(out, scope);
    cdc_buf_putc(out, '\n');
    cdc_buf_puts(out, canonical_request_hash);
    if (!cdc_buf_ok(out))
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory building the string to sign");
    return CDC_OK;
}

static bool
sigv4_is_blank(const char *s)
{
    return s == NULL || *s == '\0';
}

/* Names the first missing field; never prints a value. */
static cdc_rc
sigv4_check_request(const struct sigv4_request *req, struct cdc_err *err)
{
    const char *missing = NULL;

    if (sigv4_is_blank(req->method))
        missing = "method";
    else if (sigv4_is_blank(req->host))
        missing = "host";
    else if (sigv4_is_blank(req->path) || req->path[0] != '/')
        missing = "path (absolute)";
    else if (sigv4_is_blank(req->service))
        missing = "service";
    else if (sigv4_is_blank(req->region))
        missing = "region";
    else if (req->creds == NULL || sigv4_is_blank(req->creds->access_key_id))
        missing = "access key id";
    else if (sigv4_is_blank(req->creds->secret_access_key))
        missing = "secret access key";
    else if (sigv4_is_blank(req->payload_hash))
        missing = "payload hash";
    if (missing != NULL)
        return cdc_err_set(err, CDC_ERR_CONFIG, "could not presign request: %s is missing",
                           missing);
    if (req->expires < 1 || req->expires > SIGV4_EXPIRES_MAX)
        return cdc_err_set(err, CDC_ERR_CONFIG,
                           "could not presign request: expires %ld is not within 1..%d",
                           req->expires, SIGV4_EXPIRES_MAX);
    for (size_t i = 0; i < req->nparams; i++)
        if (sigv4_is_blank(req->params[i].key))
            return cdc_err_set(err, CDC_ERR_CONFIG,
                               "could not presign request: query parameter %zu has no name", i);
    return CDC_OK;
}

static char *
sigv4_encode_dup(const char *s)
{
    struct cdc_buf b = CDC_BUF_INIT;

    /* reserve terminates nothing: set the NUL so an empty value is "" */
    if (cdc_buf_reserve(&b, 3 * strlen(s)))
        b.data[0] = '\0';
    sigv4_uri_encode(&b, s, false);
    if (!cdc_buf_ok(&b)) {
        cdc_buf_free(&b);
        return NULL;
    }
    return b.data;
}

static void
sigv4_kv_free(struct sigv4_kv *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        /* the security token is a credential: wipe, not just free */
        if (kv[i].value != NULL)
            OPENSSL_cleanse(kv[i].value, strlen(kv[i].value));
        free(kv[i].key);
        free(kv[i].value);
    }
    free(kv);
}

static int
sigv4_kv_cmp(const void *a, const void *b)
{
    const struct sigv4_kv *x = a, *y = b;
    int c = strcmp(x->key, y->key);

    return c != 0 ? c : strcmp(x->value, y->value);
}

/* Encode and add one parameter to kv[*n]. */
static bool
sigv4_kv_add(struct sigv4_kv *kv, size_t *n, const char *key, const char *value)
{
    kv[*n].key = sigv4_encode_dup(key);
    kv[*n].value = sigv4_encode_dup(value == NULL ? "" : value);
    (*n)++;
    return kv[*n - 1].key != NULL && kv[*n - 1].value != NULL;
}

/*
 * Append the sorted canonical query (without the signature) to q. credential
 * is "akid/scope"; amz_date "yyyymmddThhmmssZ".
 */
static cdc_rc
sigv4_build_query(const struct sigv4_request *req, const char *credential, const char *amz_date,
                  struct cdc_buf *q, struct cdc_err *err)
{
    struct sigv4_kv *kv = calloc(req->nparams + SIGV4_OWN_PARAMS, sizeof(*kv));
    const char *token = req->creds->session_token;
    char expires[24];
    size_t n = 0;
    bool ok = kv != NULL;
    cdc_rc rc = CDC_OK;

    snprintf(expires, sizeof(expires), "%ld", req->expires);
    for (size_t i = 0; ok && i < req->nparams; i++)
        ok = sigv4_kv_add(kv, &n, req->params[i].key, req->params[i].value);
    ok = ok && sigv4_kv_add(kv, &n, "X-Amz-Algorithm", SIGV4_ALGORITHM) &&
         sigv4_kv_add(kv, &n, "X-Amz-Credential", credential) &&
         sigv4_kv_add(kv, &n, "X-Amz-Date", amz_date) &&
         sigv4_kv_add(kv, &n, "X-Amz-Expires", expires) &&
         sigv4_kv_add(kv, &n, "X-Amz-SignedHeaders", "host");
    if (ok && !sigv4_is_blank(token))
        ok = sigv4_kv_add(kv, &n, "X-Amz-Security-Token", token);
    if (!ok) {
        rc = cdc_err_set(err, CDC_ERR_NOMEM, "out of memory building the canonical query");
        goto fail;
    }
    qsort(kv, n, sizeof(*kv), sigv4_kv_cmp);
    for (size_t i = 0; i < n; i++) {
        /* a caller's X-Amz-Date would silently change what is signed */
        if (i > 0 && strcmp(kv[i - 1].key, kv[i].key) == 0) {
            rc = cdc_err_set(err, CDC_ERR_CONFIG,
                             "could not presign request: query parameter \"%s\" given twice",
                             kv[i].key);
            goto fail;
        }
        if (i > 0)
            cdc_buf_putc(q, '&');
        cdc_buf_puts(q, kv[i].key);
        cdc_buf_putc(q, '=');
        cdc_buf_puts(q, kv[i].value);
    }
    if (!cdc_buf_ok(q))
        rc = cdc_err_set(err, CDC_ERR_NOMEM, "out of memory building the canonical query");
fail:
    if (kv != NULL)
        sigv4_kv_free(kv, n);
    return rc;
}

/* Hash the canonical request for req with the canonical query q into res. */
static cdc_rc
sigv4_hash_request(const struct sigv4_request *req, const char *q, struct sigv4_result *res,
                   struct cdc_err *err)
{
    struct cdc_buf uri = CDC_BUF_INIT, hdr = CDC_BUF_INIT, cr = CDC_BUF_INIT;
    cdc_rc rc;

    sigv4_uri_encode(&uri, req->path, true);
    cdc_buf_printf(&hdr, "host:%s\n", req->host);
    if (!cdc_buf_ok(&uri) || !cdc_buf_ok(&hdr)) {
        rc = cdc_err_set(err, CDC_ERR_NOMEM, "out of memory building the canonical request");
        goto fail;
    }
    rc = sigv4_canonical_request(&cr, req->method, uri.data, q, hdr.data, "host", req->payload_hash,
                                 err);
    if (rc == CDC_OK)
        rc = sigv4_sha256_hex(cr.data, cr.len, res->canonical_request_hash, err);
fail:
    if (cr.data != NULL)
        OPENSSL_cleanse(cr.data, cr.len); /* holds the session token */
    cdc_buf_free(&uri);
    cdc_buf_free(&hdr);
    cdc_buf_free(&cr);
    return rc;
}

/* res->signature = hex HMAC(signing key, string to sign). */
static cdc_rc
sigv4_sign(const struct sigv4_request *req, const char *amz_date, const char *date,
           const char *scope, struct sigv4_result *res, struct cdc_err *err)
{
    struct cdc_buf sts = CDC_BUF_INIT;
    unsigned char key[SIGV4_KEY_LEN], sig[SIGV4_KEY_LEN];
    cdc_rc rc;

    rc = sigv4_string_to_sign(&sts, amz_date, scope, res->canonical_request_hash, err);
    if (rc != CDC_OK)
        goto fail;
    rc =
        sigv4_signing_key(key, req->creds->secret_access_key, date, req->region, req->service, err);
    if (rc != CDC_OK)
        goto fail;
    rc = sigv4_hmac(sig, key, sizeof(key), sts.data, err);
    if (rc == CDC_OK)
        sigv4_hex(sig, sizeof(sig), res->signature);
fail:
    OPENSSL_cleanse(key, sizeof(key));
    cdc_buf_free(&sts);
    return rc;
}

cdc_rc
sigv4_presign(const struct sigv4_request *req, struct cdc_buf *query, struct sigv4_result *res,
              struct cdc_err *err)
{
    char amz_date[SIGV4_AMZDATE_SIZE], date[SIGV4_DATE_SIZE];
    struct cdc_buf scope = CDC_BUF_INIT, cred = CDC_BUF_INIT;
    struct sigv4_result local;
    size_t start = query->len;
    cdc_rc rc;

    if (res == NULL)
        res = &local;
    if ((rc = sigv4_check_request(req, err)) != CDC_OK ||
        (rc = sigv4_format_time(req->when, amz_date, date, err)) != CDC_OK)
        return rc;
    cdc_buf_printf(&scope, "%s/%s/%s/aws4_request", date, req->region, req->service);
    cdc_buf_printf(&cred, "%s/%s", req->creds->access_key_id, scope.data);
    if (!cdc_buf_ok(&scope) || !cdc_buf_ok(&cred)) {
        rc = cdc_err_set(err, CDC_ERR_NOMEM, "out of memory building the credential scope");
        goto fail;
    }
    if ((rc = sigv4_build_query(req, cred.data, amz_date, query, err)) != CDC_OK ||
        (rc = sigv4_hash_request(req, query->data + start, res, err)) != CDC_OK ||
        (rc = sigv4_sign(req, amz_date, date, scope.data, res, err)) != CDC_OK)
        goto fail;
    cdc_buf_puts(query, "&X-Amz-Signature=");
    cdc_buf_puts(query, res->signature);
    if (!cdc_buf_ok(query))
        rc = cdc_err_set(err, CDC_ERR_NOMEM, "out of memory appending the signature");
fail:
    cdc_buf_free(&scope);
    cdc_buf_free(&cred);
    return rc;
}

cdc_rc
aws_creds_from_env(struct aws_creds *out, const char *(*getenv_fn)(const char *),
                   struct cdc_err *err)
{
    static const char *const required[] = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"};
    const char *v[2];
    const char *token;

    for (size_t i = 0; i < 2; i++) {
        v[i] = getenv_fn(required[i]);
        if (sigv4_is_blank(v[i]))
            return cdc_err_set(err, CDC_ERR_CONFIG,
                               "could not read AWS credentials: environment variable %s is not "
                               "set or empty",
                               required[i]);
    }
    token = getenv_fn("AWS_SESSION_TOKEN");
    out->access_key_id = v[0];
    out->secret_access_key = v[1];
    out->session_token = sigv4_is_blank(token) ? NULL : token;
    return CDC_OK;
}
