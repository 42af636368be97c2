/*
 * jsconn.c - NATS connection options (authentication, TLS) and connecting;
 * see jsconn.h.
 *
 * libnats keeps a per-thread "last error" with more detail than the status
 * (the TLS verification failure, the file that could not be loaded); we put
 * it in our messages after masking any password or token in it.
 */
#include "sink/nats/jsconn.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sink/nats/nkey.h"

/* A URL for messages, with any user:password@ or token@ replaced by three asterisks. */
static void
safe_url(const char *url, char *out, size_t n)
{
    const char *at = strrchr(url, '@'), *scheme = strstr(url, "://");

    if (at == NULL) {
        snprintf(out, n, "%s", url);
        return;
    }
    if (scheme != NULL && scheme < at)
        snprintf(out, n, "%.*s***%s", (int) (scheme + 3 - url), url, at);
    else
        snprintf(out, n, "***%s", at);
}

void
jsconn_url_list(const struct jssink_opts *o, char *out, size_t n)
{
    size_t used = 0;

    out[0] = '\0';
    for (int i = 0; i < o->n_urls && used + 1 < n; i++) {
        char one[256];

        safe_url(o->urls[i], one, sizeof(one));
        used += (size_t) snprintf(out + used, n - used, "%s%s", i ? "," : "", one);
    }
}

static bool
is_set(const char *s)
{
    return s != NULL && s[0] != '\0';
}

bool
jsconn_wants_tls(const struct jssink_opts *o)
{
    if (is_set(o->tls_ca_file) || is_set(o->tls_cert_file))
        return true;
    for (int i = 0; i < o->n_urls; i++)
        if (strncmp(o->urls[i], "tls://", 6) == 0)
            return true;
    return false;
}

/* Mask every occurrence of secret in s, in place. */
static void
mask(char *s, const char *secret)
{
    char *hit;

    if (!is_set(secret))
        return;
    while ((hit = strstr(s, secret)) != NULL)
        memset(hit, '*', strlen(secret));
}

/* The status's text plus libnats' detail for this thread, secrets masked. */
static void
reason(const struct jssink_opts *o, natsStatus st, char *out, size_t n)
{
    natsStatus last = NATS_OK;
    const char *detail = nats_GetLastError(&last);

    if (is_set(detail) && strcmp(detail, natsStatus_GetText(st)) != 0)
        snprintf(out, n, "%s: %s", natsStatus_GetText(st), detail);
    else
        snprintf(out, n, "%s", natsStatus_GetText(st));
    mask(out, o->password);
    mask(out, o->token);
}

static natsStatus
set_auth(natsOptions *no, const struct jssink_opts *o, struct cdc_err *err, cdc_rc *rc)
{
    char pub[NKEY_PUBLIC_LEN + 1];

    if (is_set(o->username))
        return natsOptions_SetUserInfo(no, o->username, o->password ? o->password : "");
    if (is_set(o->token))
        return natsOptions_SetToken(no, o->token);
    if (is_set(o->nkey_seed_file)) {
        /* libnats signs the server's nonce with the seed at each connect; it wants the public
         * key up front, which we derive (and so check the file now, not at the first connect) */
        *rc = nkey_public_from_seed_file(o->nkey_seed_file, pub, err);
        if (*rc != CDC_OK)
            return NATS_INVALID_ARG;
        return natsOptions_SetNKeyFromSeed(no, pub, o->nkey_seed_file);
    }
    if (is_set(o->credentials_file)) {
        /* libnats reads the file only when connecting: say now, and clearly, if it cannot */
        FILE *f = fopen(o->credentials_file, "rb");

        if (f == NULL) {
            *rc =
                cdc_err_set(err, CDC_ERR_CONFIG, "could not read NATS credentials file \"%s\": %s",
                            o->credentials_file, strerror(errno));
            return NATS_INVALID_ARG;
        }
        fclose(f);
        return natsOptions_SetUserCredentialsFromFiles(no, o->credentials_file, NULL);
    }
    return NATS_OK;
}

static natsStatus
set_tls(natsOptions *no, const struct jssink_opts *o, const char **what)
{
    natsStatus st = NATS_OK;

    if (!jsconn_wants_tls(o))
        return NATS_OK;
    /* secure: the client refuses a server that does not offer TLS */
    *what = "TLS";
    st = natsOptions_SetSecure(no, true);
    if (st == NATS_OK && is_set(o->tls_ca_file)) {
        *what = o->tls_ca_file;
        st = natsOptions_LoadCATrustedCertificates(no, o->tls_ca_file);
    }
    if (st == NATS_OK && is_set(o->tls_cert_file)) {
        *what = o->tls_cert_file;
        st = natsOptions_LoadCertificatesChain(no, o->tls_cert_file, o->tls_key_file);
    }
    return st;
}

static natsStatus
set_basics(natsOptions *no, const struct jssink_opts *o, bool reconnect)
{
    natsStatus st = natsOptions_SetServers(no, (const char **) o->urls, o->n_urls);

    if (st == NATS_OK && is_set(o->name))
        st = natsOptions_SetName(no, o->name);
    if (st == NATS_OK && o->request_timeout_ms > 0)
        st = natsOptions_SetTimeout(no, o->request_timeout_ms);
    if (!reconnect)
        return st;
    /*
     * Once connected, never give up: reconnect with jitter. Publishes made while
     * reconnecting are refused (NATS_INSUFFICIENT_BUFFER), not buffered: libnats would
     * send them on the new connection ahead of the lost ones we resend (jssink.c).
     */
    if (st == NATS_OK)
        st = natsOptions_SetMaxReconnect(no, -1);
    if (st == NATS_OK)
        st = natsOptions_SetReconnectBufSize(no, 0);
    if (st == NATS_OK)
        st = natsOptions_SetReconnectWait(no, 1000);
    if (st == NATS_OK)
        st = natsOptions_SetReconnectJitter(no, 500, 1000);
    return st;
}

/* Failures that retrying cannot fix: the server (or we) refused the other side. */
static cdc_rc
classify(natsStatus st, const char *why)
{
    if (st == NATS_NOT_PERMITTED || st == NATS_CONNECTION_AUTH_FAILED || st == NATS_SSL_ERROR ||
        st == NATS_SECURE_CONNECTION_REQUIRED)
        return CDC_ERR_FATAL;
    if (strstr(why, "Authorization") != NULL || strstr(why, "certificate") != NULL ||
        strstr(why, "handshake") != NULL)
        return CDC_ERR_FATAL;
    return CDC_ERR_RETRY;
}

cdc_rc
jsconn_open(natsConnection **nc, natsOptions **opts, const struct jssink_opts *o, bool reconnect,
            const struct jsconn_events *ev, struct cdc_err *err)
{
    char urls[1024], why[CDC_ERR_MSG_MAX / 2];
    const char *what = NULL;
    natsOptions *no = NULL;
    natsConnection *c = NULL;
    natsStatus st;
    cdc_rc rc = CDC_OK;

    if (o->n_urls <= 0)
        return cdc_err_set(err, CDC_ERR_CONFIG, "no NATS server URL");
    jsconn_url_list(o, urls, sizeof(urls));
    st = natsOptions_Create(&no);
    if (st == NATS_OK)
        st = set_basics(no, o, reconnect);
    if (st == NATS_OK)
        st = set_auth(no, o, err, &rc);
    if (rc != CDC_OK)
        goto fail;
    if (st == NATS_OK)
        st = set_tls(no, o, &what);
    if (st == NATS_OK && ev != NULL && ev->disconnected != NULL)
        st = natsOptions_SetDisconnectedCB(no, ev->disconnected, ev->closure);
    if (st == NATS_OK && ev != NULL && ev->reconnected != NULL)
        st = natsOptions_SetReconnectedCB(no, ev->reconnected, ev->closure);
    if (st == NATS_OK && ev != NULL && ev->closed != NULL)
        st = natsOptions_SetClosedCB(no, ev->closed, ev->closure);
    if (st != NATS_OK) {
        reason(o, st, why, sizeof(why));
        rc = cdc_err_set(err, CDC_ERR_CONFIG, "invalid NATS options for %s%s%s%s: %s", urls,
                         what ? " (" : "", what ? what : "", what ? ")" : "", why);
        goto fail;
    }
    st = natsConnection_Connect(&c, no);
    if (st != NATS_OK) {
        reason(o, st, why, sizeof(why));
        rc = cdc_err_set(err, classify(st, why), "could not connect to NATS at %s%s: %s", urls,
                         jsconn_wants_tls(o) ? " (TLS)" : "", why);
        goto fail;
    }
    *nc = c;
    *opts = no;
    return CDC_OK;
fail:
    natsOptions_Destroy(no);
    return rc;
}
