/*
 * sts.h - the AWS STS AssumeRoleWithWebIdentity exchange, without the I/O:
 * the request's form body and the parsing of STS's XML answer. awscreds.c
 * sends the request (EKS IRSA: AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN).
 *
 * The request is the Query API's POST with a form body (Action, Version
 * 2011-06-15, RoleArn, RoleSessionName, WebIdentityToken); it is not signed:
 * the token is the proof. The answer is
 *   <AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult>...
 *     <Credentials><AccessKeyId/><SecretAccessKey/><SessionToken/>
 *     <Expiration>2014-10-24T23:00:23Z</Expiration></Credentials>...
 * or <ErrorResponse><Error><Type/><Code/><Message/></Error></ErrorResponse>.
 * Pure: no I/O. Nothing here puts a token or a secret in a message.
 */
#ifndef CDC_AWS_STS_H
#define CDC_AWS_STS_H

#include <stddef.h>

#include "aws/awscreds.h"
#include "core/err.h"

/* The url-encoded form body of the request, malloc'd (free and wipe it: it holds the token). */
char *sts_web_identity_body(const char *role_arn, const char *session_name, const char *token);

/*
 * Parse an STS answer. A success fills *out (source "web identity"); CDC_OK.
 * An ErrorResponse: its Code into code (cap bytes) and CDC_ERR_CONFIG with
 * "Code: Message" (STS messages name no secret), except the codes a retry can
 * fix (IDPCommunicationError, ExpiredTokenException: the token file is
 * rotated, Throttling): CDC_ERR_RETRY. Anything else: CDC_ERR_PROTO.
 */
cdc_rc sts_parse(const char *xml, struct awscreds *out, char *code, size_t cap,
                 struct cdc_err *err) CDC_MUST_CHECK;

#endif
