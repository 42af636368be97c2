/*
 * rdsiam.h - RDS IAM database authentication tokens.
 *
 * An RDS IAM token is a SigV4 presigned "GET /?Action=connect&DBUser=<user>"
 * for service rds-db, signed for the host header "<endpoint>:<port>", and
 * written without a scheme: "<endpoint>:<port>/?<query>&X-Amz-Signature=<hex>".
 * The client sends it as the password (PostgreSQL and MySQL both require TLS
 * for it). A token is valid for 15 minutes from its signing time.
 *
 * This module only computes the string: it does not read the clock, the
 * environment or any credential source, and does not connect anywhere.
 */
#ifndef CDC_AWS_RDSIAM_H
#define CDC_AWS_RDSIAM_H

#include <stddef.h>
#include <time.h>

#include "aws/sigv4.h"
#include "core/err.h"

#define RDSIAM_SERVICE "rds-db"
#define RDSIAM_EXPIRES 900 /* seconds; the value RDS and the AWS SDKs use */

/*
 * Write the IAM auth token for user at host:port in region, signed with c at
 * time now, into out (NUL-terminated). The token is a credential: the caller
 * should not log it, and wipe out when done.
 *
 * Returns CDC_OK; CDC_ERR_CONFIG for a missing host, user, region or
 * credential, or a port outside 1..65535 (the message names the field, never
 * a secret); CDC_ERR_FATAL when the token does not fit in outlen bytes (the
 * message says how many it needs); CDC_ERR_NOMEM. On failure out is "" when
 * outlen > 0. Any thread may call this.
 */
cdc_rc rdsiam_token(char *out, size_t outlen, const char *host, int port, const char *user,
                    const char *region, const struct aws_creds *c, time_t now,
                    struct cdc_err *err) CDC_MUST_CHECK;

#endif
