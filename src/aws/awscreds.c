/*
 * awscreds.c - AWS credentials from the environment (and *_FILE secrets),
 * the container/instance-metadata JSON document, and the RDS IAM password
 * callback; see awscreds.h.
 */
#include "aws/awscreds.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/rdsiam.h"
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
        return cdc_err_set(err, CDC_ERR_CONFIG,
                           "AWS_WEB_IDENTITY_TOKEN_FILE is set, but exchanging a web identity "
                           "token for credentials (STS AssumeRoleWithWebIdentity, HTTPS) is not "
                           "supported by this build: set AWS_ACCESS_KEY_ID, "
                           "AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN");
    if (is_set(getenv_fn("AWS_CONTAINER_CREDENTIALS_FULL_URI")) ||
        is_set(getenv_fn("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")))
        return cdc_err_set(err, CDC_ERR_CONFIG,
                           "the container credentials endpoint is configured, but fetching from "
                           "it is not supported by this build: set AWS_ACCESS_KEY_ID, "
                           "AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN");
    return cdc_err_set(err, CDC_ERR_CONFIG,
                       "no AWS credentials: set AWS_ACCESS_KEY_ID and "
                       "AWS_SECRET_ACCESS_KEY (or AWS_SECRET_ACCESS_KEY_FILE), and "
                       "AWS_SESSION_TOKEN for temporary credentials");
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
