/*
 * awscreds.h - where AWS credentials come from (RDS IAM tokens, the S3
 * checkpoint store), and when to fetch them again.
 *
 * Sources, in the AWS SDKs' order; the first one configured is used, and a
 * failure of it is reported (never silently skipped to the next):
 * 1. the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and the
 *    optional AWS_SESSION_TOKEN; the two secrets may instead be read from the
 *    file named by AWS_SECRET_ACCESS_KEY_FILE / AWS_SESSION_TOKEN_FILE (one
 *    trailing newline removed);
 * 2. a web identity (AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN, and the
 *    optional AWS_ROLE_SESSION_NAME, as EKS IRSA sets them): STS
 *    AssumeRoleWithWebIdentity (aws/sts.h), POSTed unsigned to
 *    AWS_ENDPOINT_URL_STS, else https://sts.AWS_REGION.amazonaws.com/, else
 *    the global endpoint; 5 s timeout. The token file is read anew each time
 *    (the kubelet rotates it);
 * 3. the ECS/EKS container endpoint: GET http://169.254.170.2 +
 *    AWS_CONTAINER_CREDENTIALS_RELATIVE_URI, or
 *    AWS_CONTAINER_CREDENTIALS_FULL_URI (https, or http to a loopback or the
 *    ECS/EKS link-local host), with an Authorization header from the file
 *    AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE names (preferred) or from
 *    AWS_CONTAINER_AUTHORIZATION_TOKEN; 2 s timeout;
 * 4. when none of the above is configured, the EC2 instance metadata service,
 *    IMDSv2 only: PUT /latest/api/token (X-aws-ec2-metadata-token-ttl-seconds),
 *    then GET /latest/meta-data/iam/security-credentials/ and .../ROLE with
 *    X-aws-ec2-metadata-token, at http://169.254.169.254 or
 *    AWS_EC2_METADATA_SERVICE_ENDPOINT; 1 s timeout per request, so a machine
 *    without IMDS waits about a second; skipped when
 *    AWS_EC2_METADATA_DISABLED=true. No answer there reads as "no
 *    credentials configured" (CDC_ERR_CONFIG).
 * 3 and 4 return the JSON document awscreds_parse_json() reads, 2 an XML
 * one (sts_parse()); their credentials expire, and awscreds_refresh()
 * fetches new ones 5 minutes before (AWSCREDS_REFRESH_MARGIN).
 *
 * Blocking HTTP through libcurl (never through a proxy), a new handle per
 * request. Nothing here logs, and no secret or token appears in a message.
 * Any thread (getenv is read only).
 */
#ifndef CDC_AWS_AWSCREDS_H
#define CDC_AWS_AWSCREDS_H

#include <stdbool.h>
#include <time.h>

#include "aws/sigv4.h"
#include "core/err.h"

/* Credentials we own (malloc'd strings); wiped and freed by awscreds_free(). */
struct awscreds {
    char *access_key_id;
    char *secret_access_key;
    char *session_token; /* NULL for long-term keys */
    time_t expiration;   /* 0: does not expire (environment keys) */
    const char *source;  /* "environment", "web identity", "container endpoint", "instance
                            metadata" (static) */
};

/* Credentials this close to their Expiration (seconds) are fetched again. */
#define AWSCREDS_REFRESH_MARGIN 300

/*
 * Resolve credentials from the sources above through getenv_fn (NULL:
 * getenv). On success *out is filled (free it with awscreds_free()).
 * CDC_ERR_CONFIG when no source is configured, a variable or file is
 * missing or empty, the source needs a fetch this build does not do, or an
 * endpoint refuses (4xx, e.g. a wrong authorization token); the message
 * names the variables or the endpoint, never a secret. CDC_ERR_RETRY when
 * the configured container endpoint does not answer or answers 5xx/408/429;
 * CDC_ERR_PROTO for a malformed answer. CDC_ERR_NOMEM.
 */
cdc_rc awscreds_resolve(struct awscreds *out, const char *(*getenv_fn)(const char *),
                        struct cdc_err *err) CDC_MUST_CHECK;

/*
 * Parse the credentials document of the ECS container endpoint or of the EC2
 * instance metadata service (IMDS .../security-credentials/ROLE):
 * {"Code":"Success","AccessKeyId":"...","SecretAccessKey":"...",
 *  "Token":"...","Expiration":"2024-01-01T00:00:00Z", ...}.
 * A flat JSON object; other members are ignored; "Code", when present, must
 * be "Success". CDC_ERR_PROTO for a malformed document or a missing key (the
 * message names the member, never a value). On success *out is filled.
 */
cdc_rc awscreds_parse_json(struct awscreds *out, const char *json,
                           struct cdc_err *err) CDC_MUST_CHECK;

/*
 * true when c is empty (never resolved) or expires within
 * AWSCREDS_REFRESH_MARGIN of now; environment keys (expiration 0) never do.
 */
bool awscreds_expiring(const struct awscreds *c, time_t now);

/*
 * Resolve anew when awscreds_expiring(c, now), replacing *c on success;
 * otherwise CDC_OK without I/O. On failure *c is left as it was (still
 * usable until its expiration, if that has not passed) and the error is
 * awscreds_resolve()'s.
 */
cdc_rc awscreds_refresh(struct awscreds *c, const char *(*getenv_fn)(const char *), time_t now,
                        struct cdc_err *err) CDC_MUST_CHECK;

/* A borrowed view for sigv4/rdsiam, valid while c is. */
void awscreds_view(const struct awscreds *c, struct aws_creds *view);

/* Wipe and free the strings; c may be zeroed or partly filled. */
void awscreds_free(struct awscreds *c);

/*
 * A pgsrc_password_fn (source/pg/pgsrc.h) and mysrc_password_fn
 * (source/mysql/mysrc.h) for rds.auth: iam: resolves the
 * credentials anew and returns a fresh RDS IAM token for user at host:port,
 * signed now for region `closure` (a const char *), valid 15 minutes. Called
 * before every connection, so a reconnect never reuses an expired token.
 */
cdc_rc awscreds_rds_password(void *closure, const char *host, int port, const char *user,
                             char **out, struct cdc_err *err) CDC_MUST_CHECK;

#endif
