/*
 * ckpt_kv.c - the NATS JetStream key-value checkpoint backend (libnats 3.4).
 *
 * URL: nats-kv://BUCKET/KEY[?replicas=N&history=H&timeout=MS]
 * BUCKET is [A-Za-z0-9_-]+, KEY a KV key ([A-Za-z0-9_=/.-], no empty dot
 * token). The servers and credentials are the daemon's (nats.urls,
 * nats.username, nats.password, given in struct ckpt_opts); the store has its
 * own connection, separate from the publisher's. replicas (1..5, default 1)
 * and history (1..64, default 1) apply when the bucket is created, which
 * happens at the first use if it does not exist (file storage). timeout is
 * the connect and request timeout (default: nats.request_timeout).
 *
 * A read is kvStore_Get. A write is a compare-and-set: kvStore_Create while
 * the key is absent, else kvStore_Update with the revision this store last
 * read or wrote, so two daemons on one key cannot both win. A write refused by
 * the server is looked into with a Get: the key holds one of our own writes
 * whose reply was lost (a write sent just before a timeout can still be
 * executed later, e.g. by a frozen server that wakes up, or from libnats's
 * reconnect buffer) -> we adopt its revision and write again; the key holds
 * someone else's value under another revision -> CDC_ERR_FATAL naming the
 * bucket and key ("another writer"); the key vanished -> it is written again.
 * Callers are expected to load before the first save.
 *
 * The connection is made at the first load or save, not at open; once made,
 * libnats reconnects by itself. While it is not connected, or a request
 * times out, the call fails at once with CDC_ERR_RETRY. Refused credentials
 * or permissions are CDC_ERR_FATAL. The password is never part of the
 * description or of a message: they name nats-kv://BUCKET/KEY only.
 */
#include "checkpoint/ckpt_store.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <nats/nats.h>

#define KV_PENDING_MAX  8  /* unanswered writes we still accept as "ours" */
#define KV_MAX_HISTORY  64 /* libnats's kvMaxHistory */
#define KV_MAX_REPLICAS 5

struct kv_pending {
    char *text;
    size_t len;
};

struct ckpt_kv {
    char bucket[128];
    char key[256];
    int replicas;       /* bucket creation */
    int history;        /* bucket creation */
    int64_t timeout_ms; /* connect and request timeout */
    char where[400];    /* "nats-kv://BUCKET/KEY" for messages */
    char **urls;        /* copies of the server URLs */
    int n_urls;
    char *user;     /* NULL: none */
    char *password; /* secret; wiped at close */
    char *name;     /* connection name, NULL: none */

    natsOptions *nopts;
    natsConnection *nc; /* NULL until the first successful connect */
    jsCtx *js;
    kvStore *kv; /* bound to the bucket, NULL until then */

    uint64_t last_rev; /* the revision last read or written; 0: the key was absent */
    struct kv_pending pending[KV_PENDING_MAX]; /* writes whose outcome is unknown */
    int npending;
};

/* ---- URL parsing ---- */

static bool
kv_is_bucket(const char *p, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* libnats's key rule: [A-Za-z0-9_=/.\-]+ without an empty token between dots. */
static bool
kv_is_key(const char *p, size_t n)
{
    if (n == 0 || p[0] == '.' || p[n - 1] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];

        if (c == '.' && p[i - 1] == '.')
            return false;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '=' || c == '/' || c == '.'))
            return false;
    }
    return true;
}

static cdc_rc
kv_parse_query(struct ckpt_kv *k, const char *q, struct cdc_err *err)
{
    while (*q) {
        size_t n = strcspn(q, "&");
        const char *eq = memchr(q, '=', n);
        size_t klen = eq ? (size_t) (eq - q) : n;
        const char *v = eq ? eq + 1 : q + n;
        size_t vlen = (size_t) (q + n - v);
        long val = 0;
        bool ok;

        if (klen == 8 && strncmp(q, "replicas", 8) == 0) {
            ok = ckpt_url_long(v, vlen, 1, KV_MAX_REPLICAS, &val);
            k->replicas = (int) val;
        } else if (klen == 7 && strncmp(q, "history", 7) == 0) {
            ok = ckpt_url_long(v, vlen, 1, KV_MAX_HISTORY, &val);
            k->history = (int) val;
        } else if (klen == 7 && strncmp(q, "timeout", 7) == 0) {
            ok = ckpt_url_long(v, vlen, 1, 3600000, &val);
            k->timeout_ms = val;
        } else {
            return cdc_err_set(err, CDC_ERR_CONFIG,
                               "nats-kv checkpoint URL: unknown parameter \"%.*s\" (known: "
                               "replicas, history, timeout)",
                               (int) klen, q);
        }
        if (!ok)
            return cdc_err_set(err, CDC_ERR_CONFIG,
                               "nats-kv checkpoint URL: invalid value for parameter \"%.*s\" "
                               "(replicas 1..%d, history 1..%d, timeout 1..3600000 ms)",
                               (int) klen, q, KV_MAX_REPLICAS, KV_MAX_HISTORY);
        q += n;
        if (*q == '&')
            q++;
    }
    return CDC_OK;
}

/* url without "nats-kv://": BUCKET/KEY[?query] */
static cdc_rc
kv_parse_url(struct ckpt_kv *k, const char *url, struct cdc_err *err)
{
    size_t blen = strcspn(url, "/?"), klen;
    const char *key;

    if (!kv_is_bucket(url, blen) || blen >= sizeof(k->bucket))
        return cdc_err_set(err, CDC_ERR_CONFIG,
                           "nats-kv checkpoint URL: bucket \"%.*s\" must be 1 to %zu characters "
                           "among A-Z, a-z, 0-9, _ and - (expected nats-kv://BUCKET/KEY)",
                           (int) (blen > 64 ? 64 : blen), url, sizeof(k->bucket) - 1);
    memcpy(k->bucket, url, blen);
    k->bucket[blen] = '\0';
    if (url[blen] != '/')
        return cdc_err_set(err, CDC_ERR_CONFIG,
                           "nats-kv checkpoint URL: no key (expected nats-kv://BUCKET/KEY)");
    key = url + blen + 1;
    klen = strcspn(key, "?");
    if (!kv_is_key(key, klen) || klen >= sizeof(k->key))
        return cdc_err_set(err, CDC_ERR_CONFIG,
                           "nats-kv checkpoint URL: key \"%.*s\" must be 1 to %zu characters "
                           "among A-Z, a-z, 0-9, _ - = / and . (no empty token between dots)",
                           (int) (klen > 64 ? 64 : klen), key, sizeof(k->key) - 1);
    memcpy(k->key, key, klen);
    k->key[klen] = '\0';
    return kv_parse_query(k, key[klen] == '?' ? key + klen + 1 : key + klen, err);
}

/* ---- connection ---- */

static void
kv_disconnect(struct ckpt_kv *k)
{
    kvStore_Destroy(k->kv);
    k->kv = NULL;
    jsCtx_Destroy(k->js);
    k->js = NULL;
    if (k->nc != NULL) {
        natsConnection_Close(k->nc);
        natsConnection_Destroy(k->nc);
        k->nc = NULL;
    }
}

/* A failure that retrying cannot fix? */
static bool
kv_is_fatal(natsStatus st)
{
    return st == NATS_NOT_PERMITTED || st == NATS_CONNECTION_AUTH_FAILED ||
           st == NATS_INVALID_ARG || st == NATS_INVALID_SUBJECT;
}

/*
 * err for a failed libnats call: the status text, plus the server's own words
 * for a JetStream API error (NATS_ERR). Never a URL: libnats's connect errors
 * are not quoted, so no credential can slip in.
 */
static cdc_rc
kv_failed(struct ckpt_kv *k, natsStatus st, const char *what, struct cdc_err *err)
{
    const char *detail = st == NATS_ERR ? nats_GetLastError(NULL) : NULL;
    cdc_rc code = kv_is_fatal(st) ? CDC_ERR_FATAL : CDC_ERR_RETRY;

    if (st == NATS_TIMEOUT)
        return cdc_err_set(err, code, "nats-kv checkpoint store %s: %s: no answer within %lld ms",
                           k->where, what, (long long) k->timeout_ms);
    return cdc_err_set(err, code, "nats-kv checkpoint store %s: %s: %s%s%.200s%s", k->where, what,
                       natsStatus_GetText(st), detail ? " (" : "", detail ? detail : "",
                       st == NATS_NO_RESPONDERS ? ": is JetStream enabled on the server?"
                       : detail                 ? ")"
                                                : "");
}

static natsStatus
kv_make_options(struct ckpt_kv *k)
{
    natsStatus st = natsOptions_Create(&k->nopts);

    if (st == NATS_OK)
        st = natsOptions_SetServers(k->nopts, (const char **) k->urls, k->n_urls);
    if (st == NATS_OK && k->user != NULL)
        st = natsOptions_SetUserInfo(k->nopts, k->user, k->password ? k->password : "");
    if (st == NATS_OK && k->name != NULL)
        st = natsOptions_SetName(k->nopts, k->name);
    if (st == NATS_OK)
        st = natsOptions_SetTimeout(k->nopts, k->timeout_ms);
    /* once connected, libnats reconnects for ever: the store recovers by itself */
    if (st == NATS_OK)
        st = natsOptions_SetMaxReconnect(k->nopts, -1);
    if (st == NATS_OK)
        st = natsOptions_SetReconnectWait(k->nopts, 500);
    if (st == NATS_OK)
        st = natsOptions_SetReconnectJitter(k->nopts, 250, 500);
    return st;
}

/* Bind to the bucket, creating it when it does not exist. */
static cdc_rc
kv_bind(struct ckpt_kv *k, struct cdc_err *err)
{
    natsStatus st = js_KeyValue(&k->kv, k->js, k->bucket);

    if (st == NATS_NOT_FOUND) {
        kvConfig kc;

        kvConfig_Init(&kc);
        kc.Bucket = k->bucket;
        kc.Description = "cdc-handler checkpoints";
        kc.History = (uint8_t) k->history;
        kc.Replicas = k->replicas;
        kc.StorageType = js_FileStorage;
        st = js_CreateKeyValue(&k->kv, k->js, &kc);
        if (st != NATS_OK) {
            k->kv = NULL;
            /* an API error here is a configuration the server refuses (replicas, limits) */
            return st == NATS_ERR ? cdc_err_set(err, CDC_ERR_FATAL,
                                                "nats-kv checkpoint store %s: could not create "
                                                "bucket \"%s\": %.200s",
                                                k->where, k->bucket, nats_GetLastError(NULL))
                                  : kv_failed(k, st, "could not create the bucket", err);
        }
        return CDC_OK;
    }
    if (st != NATS_OK) {
        k->kv = NULL;
        return kv_failed(k, st, "could not look up the bucket", err);
    }
    return CDC_OK;
}

/* Connected and bound, or CDC_ERR_RETRY/FATAL. Fails fast while libnats is reconnecting. */
static cdc_rc
kv_ready(struct ckpt_kv *k, struct cdc_err *err)
{
    natsStatus st;

    if (k->nc != NULL && natsConnection_Status(k->nc) == NATS_CONN_STATUS_CLOSED)
        kv_disconnect(k);
    if (k->nc == NULL) {
        if (k->nopts == NULL) {
            st = kv_make_options(k);
            if (st != NATS_OK)
                return cdc_err_set(err, CDC_ERR_CONFIG,
                                   "nats-kv checkpoint store %s: invalid NATS options: %s",
                                   k->where, natsStatus_GetText(st));
        }
        st = natsConnection_Connect(&k->nc, k->nopts);
        if (st != NATS_OK) {
            k->nc = NULL;
            return kv_failed(k, st, "could not connect to NATS", err);
        }
    }
    if (natsConnection_Status(k->nc) != NATS_CONN_STATUS_CONNECTED)
        return cdc_err_set(err, CDC_ERR_RETRY,
                           "nats-kv checkpoint store %s: not connected to NATS (reconnecting)",
                           k->where);
    if (k->js == NULL) {
        jsOptions jo;

        jsOptions_Init(&jo);
        jo.Wait = k->timeout_ms;
        st = natsConnection_JetStream(&k->js, k->nc, &jo);
        if (st != NATS_OK) {
            k->js = NULL;
            return kv_failed(k, st, "could not get a JetStream context", err);
        }
    }
    return k->kv != NULL ? CDC_OK : kv_bind(k, err);
}

/* "No responders": the bucket's stream is gone or not ready; bind again next time. */
static void
kv_forget_bucket(struct ckpt_kv *k, natsStatus st)
{
    if (st == NATS_NO_RESPONDERS || st == NATS_NOT_FOUND) {
        kvStore_Destroy(k->kv);
        k->kv = NULL;
    }
}

/* ---- pending writes ---- */

static void
kv_clear_pending(struct ckpt_kv *k)
{
    for (int i = 0; i < k->npending; i++)
        free(k->pending[i].text);
    k->npending = 0;
}

static void
kv_add_pending(struct ckpt_kv *k, const char *text, size_t len)
{
    char *copy = malloc(len);

    if (copy == NULL)
        return; /* at worst a lost reply later looks like another writer: fatal, never wrong */
    memcpy(copy, text, len);
    if (k->npending == KV_PENDING_MAX) {
        free(k->pending[0].text);
        memmove(k->pending, k->pending + 1, sizeof(k->pending[0]) * (KV_PENDING_MAX - 1));
        k->npending--;
    }
    k->pending[k->npending].text = copy;
    k->pending[k->npending].len = len;
    k->npending++;
}

static bool
kv_is_pending(const struct ckpt_kv *k, const void *v, int vlen)
{
    for (int i = 0; i < k->npending; i++)
        if ((size_t) vlen == k->pending[i].len && memcmp(v, k->pending[i].text, (size_t) vlen) == 0)
            return true;
    return false;
}

/* ---- the ops ---- */

static cdc_rc
kv_read(struct ckpt_store *s, char *buf, size_t cap, size_t *len, struct cdc_err *err)
{
    struct ckpt_kv *k = s->impl;
    kvEntry *e = NULL;
    natsStatus st;
    int vlen;
    cdc_rc rc;

    *len = 0;
    rc = kv_ready(k, err);
    if (rc != CDC_OK)
        return rc;
    st = kvStore_Get(&e, k->kv, k->key);
    if (st == NATS_NOT_FOUND) {
        k->last_rev = 0;
        kv_clear_pending(k);
        return CDC_OK;
    }
    if (st != NATS_OK) {
        kv_forget_bucket(k, st);
        return kv_failed(k, st, "could not read the checkpoint", err);
    }
    vlen = kvEntry_ValueLen(e);
    if (vlen < 0 || (size_t) vlen >= cap) {
        kvEntry_Destroy(e);
        return cdc_err_set(err, CDC_ERR_FATAL,
                           "nats-kv checkpoint store %s: the key does not hold a checkpoint (%d "
                           "bytes)",
                           k->where, vlen);
    }
    memcpy(buf, kvEntry_Value(e), (size_t) vlen);
    buf[vlen] = '\0';
    /* an empty value is a corrupt record, not a missing one */
    *len = vlen == 0 ? 1 : (size_t) vlen;
    k->last_rev = kvEntry_Revision(e);
    kvEntry_Destroy(e);
    kv_clear_pending(k);
    return CDC_OK;
}

enum kv_verdict { KV_PENDING, KV_UNCHANGED, KV_GONE, KV_FOREIGN, KV_UNKNOWN };

/*
 * After a refused write: what does the key hold? *rev: its revision; KV_UNKNOWN:
 * it could not be read, *rc and err say why.
 */
static enum kv_verdict
kv_inspect(struct ckpt_kv *k, uint64_t *rev, cdc_rc *rc, struct cdc_err *err)
{
    enum kv_verdict v;
    kvEntry *e = NULL;
    natsStatus st = kvStore_Get(&e, k->kv, k->key);

    if (st == NATS_NOT_FOUND)
        return KV_GONE;
    if (st != NATS_OK) {
        kv_forget_bucket(k, st);
        *rc = kv_failed(k, st, "could not read the key back after a refused write", err);
        return KV_UNKNOWN;
    }
    *rev = kvEntry_Revision(e);
    if (kv_is_pending(k, kvEntry_Value(e), kvEntry_ValueLen(e)))
        v = KV_PENDING;
    else if (*rev == k->last_rev)
        v = KV_UNCHANGED;
    else
        v = KV_FOREIGN;
    kvEntry_Destroy(e);
    return v;
}

/* One compare-and-set; *again: a lost write of ours was found and adopted, write once more. */
static cdc_rc
kv_write_once(struct ckpt_kv *k, const char *text, size_t len, bool *again, struct cdc_err *err)
{
    cdc_rc rc = CDC_ERR_RETRY;
    uint64_t rev = 0;
    natsStatus st;

    *again = false;
    if (k->last_rev == 0)
        st = kvStore_Create(&rev, k->kv, k->key, text, (int) len);
    else
        st = kvStore_Update(&rev, k->kv, k->key, text, (int) len, k->last_rev);
    if (st == NATS_OK) {
        k->last_rev = rev;
        kv_clear_pending(k);
        return CDC_OK;
    }
    if (st != NATS_ERR) {
        /* no answer: sent or not, the server may still execute it, so it is ours if seen later */
        kv_add_pending(k, text, len);
        kv_forget_bucket(k, st);
        return kv_failed(k, st, "could not write the checkpoint", err);
    }
    /* a JetStream answer, this write was refused (most likely "wrong last sequence") */
    switch (kv_inspect(k, &rev, &rc, err)) {
    case KV_PENDING:
        /* an earlier write whose reply we never got landed: it is ours, go on from there */
        k->last_rev = rev;
        kv_clear_pending(k);
        *again = true;
        return CDC_OK;
    case KV_GONE:
        /* deleted or purged behind our back: write it again, as a new key */
        *again = k->last_rev != 0;
        k->last_rev = 0;
        return *again ? CDC_OK : kv_failed(k, st, "could not write the checkpoint", err);
    case KV_UNCHANGED:
        return kv_failed(k, st, "could not write the checkpoint", err);
    case KV_FOREIGN:
        return cdc_err_set(err, CDC_ERR_FATAL,
                           "nats-kv checkpoint store %s: checkpoint key was changed by another "
                           "writer (revision %llu, ours was %llu): is a second cdc-handler using "
                           "the same bucket and key?",
                           k->where, (unsigned long long) rev, (unsigned long long) k->last_rev);
    case KV_UNKNOWN:
        break;
    }
    return rc;
}

static cdc_rc
kv_write(struct ckpt_store *s, const char *text, size_t len, struct cdc_err *err)
{
    struct ckpt_kv *k = s->impl;
    bool again = true;
    cdc_rc rc;

    if (len > INT_MAX)
        return cdc_err_set(err, CDC_ERR_CONFIG, "checkpoint record too long");
    rc = kv_ready(k, err);
    /* at most: adopt a lost write, then find the key gone, then write */
    for (int i = 0; rc == CDC_OK && again && i < 3; i++) {
        rc = kv_write_once(k, text, len, &again, err);
        if (rc == CDC_OK && again && k->kv == NULL)
            rc = kv_ready(k, err);
    }
    if (rc == CDC_OK && again)
        rc = cdc_err_set(err, CDC_ERR_RETRY,
                         "nats-kv checkpoint store %s: the key kept changing under us", k->where);
    return rc;
}

static void
kv_free(struct ckpt_kv *k)
{
    kv_disconnect(k);
    natsOptions_Destroy(k->nopts);
    kv_clear_pending(k);
    for (int i = 0; i < k->n_urls; i++)
        free(k->urls[i]);
    free(k->urls);
    free(k->user);
    if (k->password != NULL) {
        OPENSSL_cleanse(k->password, strlen(k->password));
        free(k->password);
    }
    free(k->name);
    free(k);
}

static void
kv_close(struct ckpt_store *s)
{
    kv_free(s->impl);
}

static const struct ckpt_ops kv_ops = {kv_read, kv_write, kv_close};

static bool
kv_copy_opts(struct ckpt_kv *k, const struct ckpt_opts *o)
{
    k->urls = calloc((size_t) o->n_nats_urls, sizeof(char *));
    if (k->urls == NULL)
        return false;
    for (int i = 0; i < o->n_nats_urls; i++) {
        k->urls[i] = strdup(o->nats_urls[i]);
        if (k->urls[i] == NULL)
            return false;
        k->n_urls++;
    }
    if (o->nats_username != NULL && (k->user = strdup(o->nats_username)) == NULL)
        return false;
    if (o->nats_password != NULL && (k->password = strdup(o->nats_password)) == NULL)
        return false;
    if (o->nats_name != NULL && (k->name = strdup(o->nats_name)) == NULL)
        return false;
    return true;
}

cdc_rc
ckpt_kv_open(struct ckpt_store *s, const char *url, const struct ckpt_opts *o, struct cdc_err *err)
{
    struct ckpt_kv *k;
    cdc_rc rc;

    if (strncmp(url, "nats-kv://", 10) != 0)
        return cdc_err_set(err, CDC_ERR_CONFIG, "not a nats-kv:// URL");
    k = calloc(1, sizeof(*k));
    if (k == NULL)
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
    k->replicas = 1;
    k->history = 1;
    k->timeout_ms = o->nats_timeout_ms > 0 ? o->nats_timeout_ms : 5000;
    rc = kv_parse_url(k, url + 10, err);
    if (rc == CDC_OK && o->n_nats_urls <= 0)
        rc = cdc_err_set(err, CDC_ERR_CONFIG,
                         "nats-kv checkpoint store needs the NATS servers (nats.urls)");
    if (rc == CDC_OK && !kv_copy_opts(k, o))
        rc = cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
    if (rc != CDC_OK) {
        kv_free(k);
        return rc;
    }
    snprintf(k->where, sizeof(k->where), "nats-kv://%s/%s", k->bucket, k->key);
    s->ops = &kv_ops;
    s->impl = k;
    snprintf(s->desc, sizeof(s->desc), "%s", k->where);
    return CDC_OK;
}
