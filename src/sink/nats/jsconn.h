/*
 * jsconn.h - opening a NATS connection with the daemon's authentication and
 * TLS settings: the one place where natsConnection_Connect is called for the
 * publisher (jssink.c) and the stream reader (jsread.c).
 *
 * Authentication: user and password, a token, a user NKey seed file (the
 * public key is derived from the seed), or a .creds file (JWT and seed); at
 * most one. TLS: a CA bundle, a client certificate and key (mutual TLS).
 * TLS is required (never a plaintext fallback) as soon as a CA file or a
 * client certificate is given or a URL starts with tls://. libnats (3.4,
 * OpenSSL 1.1+ API) refuses anything below TLS 1.2, verifies the server
 * certificate against the CA file (or the system's roots) and checks the
 * host name of the URL against it (NATS_FORCE_HOST_VERIFICATION, the
 * build default): server verification is never switched off here.
 *
 * Error messages name the servers (credentials in URLs masked) and libnats'
 * reason; a password or token never appears in them. Owner thread.
 */
#ifndef CDC_SINK_NATS_JSCONN_H
#define CDC_SINK_NATS_JSCONN_H

#include <stdbool.h>

#include <nats/nats.h>

#include "core/err.h"
#include "sink/nats/jssink.h"

/* Connection state callbacks (libnats threads), for jsconn_open(); any may be NULL. */
struct jsconn_events {
    natsConnectionHandler disconnected; /* the connection dropped; libnats reconnects */
    natsConnectionHandler reconnected;  /* it is back */
    natsConnectionHandler closed;       /* closed for good: the last callback libnats makes */
    void *closure;
};

/*
 * Build the options for o (urls, name, request_timeout_ms, authentication,
 * TLS) and connect. reconnect: once connected, reconnect forever with jitter
 * (the publisher); otherwise the library's defaults. ev (may be NULL): state
 * callbacks. On success *nc is the
 * connection and *opts its options (destroy both, connection first); on
 * failure neither is written and nothing is left open.
 * CDC_ERR_CONFIG for options libnats refuses (unreadable CA, certificate,
 * key, seed or creds file: the message names the file), CDC_ERR_FATAL when
 * the server refuses us (authorization violation, TLS handshake or
 * certificate verification failure, TLS required by one side only),
 * CDC_ERR_RETRY when no server can be reached.
 */
cdc_rc jsconn_open(natsConnection **nc, natsOptions **opts, const struct jssink_opts *o,
                   bool reconnect, const struct jsconn_events *ev,
                   struct cdc_err *err) CDC_MUST_CHECK;

/* Whether TLS is required by o (CA file, client certificate, or a tls:// URL). */
bool jsconn_wants_tls(const struct jssink_opts *o);

/* "url1,url2" with credentials masked, for messages. */
void jsconn_url_list(const struct jssink_opts *o, char *out, size_t n);

#endif
