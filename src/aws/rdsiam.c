/*
 * rdsiam.c - RDS IAM auth tokens on top of sigv4_presign() (see rdsiam.h).
 *
 * The token is built in a heap buffer, copied to the caller's, and the heap
 * copy is wiped: it is a bearer credential for its 15 minutes.
 */
#include "aws/rdsiam.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "core/buf.h"

/* Copy b into out[outlen] or explain why it does not fit. */
static cdc_rc
rdsiam_copy_out(char *out, size_t outlen, const struct cdc_buf *b, struct cdc_err *err)
{
    if (b->len + 1 > outlen)
        return cdc_err_set(err, CDC_ERR_FATAL,
                           "could not build RDS IAM token: it needs %zu bytes, the buffer has %zu",
                           b->len + 1, outlen);
    memcpy(out, b->data, b->len + 1);
    return CDC_OK;
}

static cdc_rc
rdsiam_check(const char *host, int port, const char *user, const char *region, struct cdc_err *err)
{
    const char *missing = NULL;

    if (host == NULL || *host == '\0')
        missing = "host";
    else if (user == NULL || *user == '\0')
        missing = "user";
    else if (region == NULL || *region == '\0')
        missing = "region";
    if (missing != NULL)
        return cdc_err_set(err, CDC_ERR_CONFIG, "could not build RDS IAM token: %s is missing",
                           missing);
    if (port < 1 || port > 65535)
        return cdc_err_set(err, CDC_ERR_CONFIG,
                           "could not build RDS IAM token: port %d is not within 1..65535", port);
    return CDC_OK;
}

cdc_rc
rdsiam_token(char *out, size_t outlen, const char *host, int port, const char *user,
             const char *region, const struct aws_creds *c, time_t now, struct cdc_err *err)
{
    struct cdc_buf endpoint = CDC_BUF_INIT, tok = CDC_BUF_INIT;
    const struct sigv4_param params[] = {{"Action", "connect"}, {"DBUser", user}};
    struct sigv4_request req;
    cdc_rc rc;

    if (outlen > 0)
        out[0] = '\0';
    if ((rc = rdsiam_check(host, port, user, region, err)) != CDC_OK)
        return rc;
    cdc_buf_printf(&endpoint, "%s:%d", host, port);
    cdc_buf_printf(&tok, "%s/?", endpoint.data != NULL ? endpoint.data : "");
    if (!cdc_buf_ok(&endpoint) || !cdc_buf_ok(&tok)) {
        rc = cdc_err_set(err, CDC_ERR_NOMEM, "out of memory building RDS IAM token");
        goto fail;
    }
    req = (struct sigv4_request){
        .method = "GET",
        .host = endpoint.data,
        .path = "/",
        .params = params,
        .nparams = sizeof(params) / sizeof(params[0]),
        .service = RDSIAM_SERVICE,
        .region = region,
        .creds = c,
        .when = now,
        .expires = RDSIAM_EXPIRES,
        .payload_hash = SIGV4_EMPTY_SHA256,
    };
    if ((rc = sigv4_presign(&req, &tok, NULL, err)) != CDC_OK) {
        cdc_err_prefix(err, "could not build RDS IAM token");
        goto fail;
    }
    rc = rdsiam_copy_out(out, outlen, &tok, err);
fail:
    if (tok.data != NULL)
        OPENSSL_cleanse(tok.data, tok.cap);
    cdc_buf_free(&endpoint);
    cdc_buf_free(&tok);
    return rc;
}
