/*
 * sigv4.h - AWS Signature Version 4, query-string (presigned) form.
 *
 * This module turns a request description and a set of credentials into the
 * canonical query string of a presigned URL, X-Amz-Signature included. It is
 * pure: no I/O, no clock, no environment (aws_creds_from_env() takes the
 * getenv function as an argument). Hashing and HMAC come from OpenSSL.
 *
 * It does not do header-based signing (Authorization: AWS4-HMAC-SHA256 ...),
 * does not fetch credentials from instance metadata or profiles, and encodes
 * the path once, as S3 and rds-db expect (other services double-encode paths
 * with segments that need escaping; that is not supported here).
 *
 * Secrets (secret access key, derived keys) are wiped from memory this module
 * allocates before it is freed, and never appear in an error message.
 */
#ifndef CDC_AWS_SIGV4_H
#define CDC_AWS_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "core/buf.h"
#include "core/err.h"

#define SIGV4_ALGORITHM    "AWS4-HMAC-SHA256"
#define SIGV4_HEX_SIZE     65     /* 64 lower-case hex digits and a NUL */
#define SIGV4_KEY_LEN      32     /* bytes in a SHA-256 digest / derived key */
#define SIGV4_DATE_SIZE    9      /* "yyyymmdd" and a NUL */
#define SIGV4_AMZDATE_SIZE 17     /* "yyyymmddThhmmssZ" and a NUL */
#define SIGV4_EXPIRES_MAX  604800 /* seven days, the service limit */
/* SHA-256 of the empty string: the payload hash of a request without a body. */
#define SIGV4_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* Credentials. Every pointer is borrowed; the strings are owned by the caller. */
struct aws_creds {
    const char *access_key_id;     /* AKID, appears in X-Amz-Credential */
    const char *secret_access_key; /* never leaves this module except as a signature */
    const char *session_token;     /* NULL or "" when the keys are long-term */
};

/* One extra query parameter, raw (this module percent-encodes it). */
struct sigv4_param {
    const char *key;
    const char *value; /* "" for a key without a value */
};

/* What to presign. All pointers borrowed for the length of the call. */
struct sigv4_request {
    const char *method;               /* "GET" */
    const char *host;                 /* signed host header value, with ":port" when not default */
    const char *path;                 /* raw absolute path, "/" at least; encoded with '/' kept */
    const struct sigv4_param *params; /* extra query parameters (Action=connect, ...) */
    size_t nparams;
    const char *service; /* "rds-db", "s3" */
    const char *region;  /* "us-east-1" */
    const struct aws_creds *creds;
    time_t when;              /* signing time, unix seconds (UTC) */
    long expires;             /* X-Amz-Expires, 1..SIGV4_EXPIRES_MAX seconds */
    const char *payload_hash; /* SIGV4_EMPTY_SHA256, "UNSIGNED-PAYLOAD", ... */
};

/* Intermediate values, for tests and debugging (neither is secret). */
struct sigv4_result {
    char canonical_request_hash[SIGV4_HEX_SIZE]; /* hex SHA-256 of the canonical request */
    char signature[SIGV4_HEX_SIZE];              /* hex X-Amz-Signature */
};

/*
 * Append s to out, percent-encoded as RFC 3986 / SigV4 require: the unreserved
 * characters A-Z a-z 0-9 - . _ ~ are kept, every other byte becomes upper-case
 * %XX. With keep_slash, '/' is kept too (paths). Check cdc_buf_ok(out) after.
 */
void sigv4_uri_encode(struct cdc_buf *out, const char *s, bool keep_slash);

/* Write the lower-case hex SHA-256 of data[0..len) to hex. */
cdc_rc sigv4_sha256_hex(const void *data, size_t len, char hex[SIGV4_HEX_SIZE],
                        struct cdc_err *err) CDC_MUST_CHECK;

/*
 * Derive the signing key: kDate = HMAC("AWS4" + secret, date), kRegion =
 * HMAC(kDate, region), kService = HMAC(kRegion, service), key = HMAC(kService,
 * "aws4_request"). date is "yyyymmdd". The caller should wipe key after use.
 */
cdc_rc sigv4_signing_key(unsigned char key[SIGV4_KEY_LEN], const char *secret, const char *date,
                         const char *region, const char *service,
                         struct cdc_err *err) CDC_MUST_CHECK;

/*
 * Format when (UTC) as "yyyymmddThhmmssZ" into amz_date and, when date is not
 * NULL, as "yyyymmdd" into date. CDC_ERR_CONFIG if the time cannot be
 * represented in four-digit years.
 */
cdc_rc sigv4_format_time(time_t when, char amz_date[SIGV4_AMZDATE_SIZE], char date[SIGV4_DATE_SIZE],
                         struct cdc_err *err) CDC_MUST_CHECK;

/*
 * Append the canonical request to out:
 *   method \n uri \n query \n headers \n signed_headers \n payload_hash
 * uri and query must already be canonical (encoded, sorted); headers is the
 * canonical header block with every line ending in '\n' ("host:h\n").
 * CDC_ERR_NOMEM if out could not grow.
 */
cdc_rc sigv4_canonical_request(struct cdc_buf *out, const char *method, const char *uri,
                               const char *query, const char *headers, const char *signed_headers,
                               const char *payload_hash, struct cdc_err *err) CDC_MUST_CHECK;

/*
 * Append the string to sign to out:
 *   AWS4-HMAC-SHA256 \n amz_date \n scope \n canonical_request_hash
 * scope is "yyyymmdd/region/service/aws4_request".
 */
cdc_rc sigv4_string_to_sign(struct cdc_buf *out, const char *amz_date, const char *scope,
                            const char *canonical_request_hash, struct cdc_err *err) CDC_MUST_CHECK;

/*
 * Presign req: append to query the canonical query string (req->params plus
 * X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date, X-Amz-Expires,
 * X-Amz-Security-Token when creds has one, X-Amz-SignedHeaders=host, all
 * encoded and sorted by key) followed by "&X-Amz-Signature=<hex>". The only
 * signed header is host. res, when not NULL, receives the canonical request
 * hash and the signature.
 *
 * Returns CDC_OK; CDC_ERR_CONFIG for a missing or invalid input (empty
 * credential, expires out of range, a parameter given twice), with a message
 * that names the field but never a secret; CDC_ERR_NOMEM; CDC_ERR_FATAL if
 * OpenSSL fails. On failure query may hold a partial result: discard it.
 * Any thread may call this; it keeps no state.
 */
cdc_rc sigv4_presign(const struct sigv4_request *req, struct cdc_buf *query,
                     struct sigv4_result *res, struct cdc_err *err) CDC_MUST_CHECK;

/*
 * Read AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and (optional)
 * AWS_SESSION_TOKEN through getenv_fn into out. The strings are borrowed from
 * the environment: valid until it changes. An empty session token counts as
 * none. CDC_ERR_CONFIG names the first missing variable; *out is written only
 * on success.
 */
cdc_rc aws_creds_from_env(struct aws_creds *out, const char *(*getenv_fn)(const char *),
                          struct cdc_err *err) CDC_MUST_CHECK;

#endif
