/*
 * awscreds.h - where AWS credentials come from, for RDS IAM tokens.
 *
 * Sources, in the AWS SDKs' order:
 * 1. the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and the
 *    optional AWS_SESSION_TOKEN; the two secrets may instead be read from the
 *    file named by AWS_SECRET_ACCESS_KEY_FILE / AWS_SESSION_TOKEN_FILE (one
 *    trailing newline removed);
 * 2. a web identity (AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN, as EKS sets
 *    them) and 3. the ECS container endpoint
 *    (AWS_CONTAINER_CREDENTIALS_FULL_URI / _RELATIVE_URI): both need an HTTP
 *    call (STS AssumeRoleWithWebIdentity over HTTPS; the container endpoint
 *    over HTTP) that this build does not make. They are recognised and
 *    refused with a message saying so, rather than silently skipped. The
 *    JSON document the container and instance metadata endpoints return is
 *    parsed by awscreds_parse_json(), ready for the day the fetch exists.
 *
 * Knows the environment and the documents; no sockets. Nothing here logs, and
 * no secret appears in a message. Any thread (getenv is read only).
 */
#ifndef CDC_AWS_AWSCREDS_H
#define CDC_AWS_AWSCREDS_H

#include <time.h>

#include "aws/sigv4.h"
#include "core/err.h"

/* Credentials we own (malloc'd strings); wiped and freed by awscreds_free(). */
struct awscreds {
    char *access_key_id;
    char *secret_access_key;
    char *session_token; /* NULL for long-term keys */
    time_t expiration;   /* 0: does not expire (environment keys) */
    const char *source;  /* "environment", "container endpoint", ... (static text) */
};

/*
 * Resolve credentials from the sources above through getenv_fn (NULL:
 * getenv). On success *out is filled (free it with awscreds_free()).
 * CDC_ERR_CONFIG when no source is configured, a variable or file is
 * missing or empty, or the source needs a fetch this build does not do (the
 * message names the variables, never a value). CDC_ERR_NOMEM.
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

/* A borrowed view for sigv4/rdsiam, valid while c is. */
void awscreds_view(const struct awscreds *c, struct aws_creds *view);

/* Wipe and free the strings; c may be zeroed or partly filled. */
void awscreds_free(struct awscreds *c);

/*
 * A pgsrc_password_fn (source/pg/pgsrc.h) for rds.auth: iam: resolves the
 * credentials anew and returns a fresh RDS IAM token for user at host:port,
 * signed now for region `closure` (a const char *), valid 15 minutes. Called
 * before every connection, so a reconnect never reuses an expired token.
 */
cdc_rc awscreds_rds_password(void *closure, const char *host, int port, const char *user,
                             char **out, struct cdc_err *err) CDC_MUST_CHECK;

#endif
