/*
 * sts.c - the AssumeRoleWithWebIdentity request body and answer; see sts.h.
 */
#include "aws/sts.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"

/* RFC 3986 unreserved characters stay, everything else is %XX. */
static void
put_encoded(struct cdc_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";

    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char) *s;

        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            cdc_buf_putc(b, (char) c);
        } else {
            cdc_buf_putc(b, '%');
            cdc_buf_putc(b, hex[c >> 4]);
            cdc_buf_putc(b, hex[c & 15]);
        }
    }
}

char *
sts_web_identity_body(const char *role_arn, const char *session_name, const char *token)
{
    struct cdc_buf b = CDC_BUF_INIT;

    cdc_buf_puts(&b, "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=");
    put_encoded(&b, role_arn);
    cdc_buf_puts(&b, "&RoleSessionName=");
    put_encoded(&b, session_name);
    cdc_buf_puts(&b, "&WebIdentityToken=");
    put_encoded(&b, token);
    if (!cdc_buf_ok(&b)) {
        cdc_buf_free(&b);
        return NULL;
    }
    return b.data; /* NUL-terminated; the caller owns it */
}

/* The text of the first <name>…</name> in [p, end), entities decoded, malloc'd; NULL if none. */
static char *
element(const char *p, const char *end, const char *name)
{
    char open[64], close[64];
    const char *s, *e;
    size_t o = 0;
    char *out;

    snprintf(open, sizeof(open), "<%s>", name);
    snprintf(close, sizeof(close), "</%s>", name);
    s = strstr(p, open);
    if (s == NULL || s >= end)
        return NULL;
    s += strlen(open);
    e = strstr(s, close);
    if (e == NULL || e > end)
        return NULL;
    out = malloc((size_t) (e - s) + 1);
    if (out == NULL)
        return NULL;
    while (s < e) {
        static const struct {
            const char *ent;
            char c;
        } ents[] = {
            {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
        bool done = false;

        for (size_t i = 0; *s == '&' && i < sizeof(ents) / sizeof(ents[0]); i++) {
            size_t n = strlen(ents[i].ent);

            if ((size_t) (e - s) >= n && strncmp(s, ents[i].ent, n) == 0) {
                out[o++] = ents[i].c;
                s += n;
                done = true;
                break;
            }
        }
        if (!done)
            out[o++] = *s++;
    }
    out[o] = '\0';
    return out;
}

static void
wipe_free(char *s)
{
    if (s != NULL) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

/* "2014-10-24T23:00:23Z" (fractions of a second allowed) -> time_t */
static bool
parse_time(const char *s, time_t *out)
{
    struct tm tm;
    const char *rest;

    memset(&tm, 0, sizeof(tm));
    rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (rest == NULL)
        return false;
    if (*rest == '.')
        while (*++rest >= '0' && *rest <= '9')
            ;
    if (strcmp(rest, "Z") != 0)
        return false;
    *out = timegm(&tm);
    return true;
}

static cdc_rc
parse_error(const char *xml, char *code, size_t cap, struct cdc_err *err)
{
    const char *end = xml + strlen(xml);
    char *c = element(xml, end, "Code"), *m = element(xml, end, "Message");
    bool retry;
    cdc_rc rc;

    snprintf(code, cap, "%s", c != NULL ? c : "");
    retry = c != NULL && (strcmp(c, "IDPCommunicationError") == 0 ||
                          strcmp(c, "ExpiredTokenException") == 0 || strcmp(c, "Throttling") == 0);
    rc = cdc_err_set(err,
                     c == NULL ? CDC_ERR_PROTO
                     : retry   ? CDC_ERR_RETRY
                               : CDC_ERR_CONFIG,
                     "STS refused AssumeRoleWithWebIdentity: %.64s: %.300s",
                     c != NULL ? c : "(no code)", m != NULL ? m : "(no message)");
    free(c);
    free(m);
    return rc;
}

cdc_rc
sts_parse(const char *xml, struct awscreds *out, char *code, size_t cap, struct cdc_err *err)
{
    const char *cs, *ce;
    struct awscreds c = {0};
    char *exp = NULL;
    cdc_rc rc = CDC_OK;

    if (cap > 0)
        code[0] = '\0';
    if (xml == NULL)
        return cdc_err_set(err, CDC_ERR_PROTO, "STS answered nothing");
    if (strstr(xml, "<ErrorResponse") != NULL)
        return parse_error(xml, code, cap, err);
    cs = strstr(xml, "<AssumeRoleWithWebIdentityResult>");
    cs = cs != NULL ? strstr(cs, "<Credentials>") : NULL;
    ce = cs != NULL ? strstr(cs, "</Credentials>") : NULL;
    if (ce == NULL)
        return cdc_err_set(err, CDC_ERR_PROTO,
                           "STS answer holds no AssumeRoleWithWebIdentityResult/Credentials");
    c.access_key_id = element(cs, ce, "AccessKeyId");
    c.secret_access_key = element(cs, ce, "SecretAccessKey");
    c.session_token = element(cs, ce, "SessionToken");
    exp = element(cs, ce, "Expiration");
    if (c.access_key_id == NULL || c.secret_access_key == NULL || c.session_token == NULL ||
        exp == NULL)
        rc = cdc_err_set(err, CDC_ERR_PROTO, "STS credentials lack %s",
                         c.access_key_id == NULL       ? "AccessKeyId"
                         : c.secret_access_key == NULL ? "SecretAccessKey"
                         : c.session_token == NULL     ? "SessionToken"
                                                       : "Expiration");
    else if (!parse_time(exp, &c.expiration))
        rc = cdc_err_set(err, CDC_ERR_PROTO, "STS credentials: bad Expiration");
    free(exp);
    if (rc != CDC_OK) {
        wipe_free(c.access_key_id);
        wipe_free(c.secret_access_key);
        wipe_free(c.session_token);
        return rc;
    }
    c.source = "web identity";
    *out = c;
    return CDC_OK;
}
