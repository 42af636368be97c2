/*
 * schemareg.c - the schema registry's NATS KV bucket; see schemareg.h.
 */
#include "sink/nats/schemareg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nats/nats.h>

#include "sink/nats/jsconn.h"

struct schemareg {
    struct jssink_opts conn; /* strings borrowed from the configuration, which outlives us */
    char bucket[128];
    natsConnection *nc; /* NULL until the first successful connect */
    natsOptions *nopts;
    jsCtx *js;
    kvStore *kv; /* NULL until bound */
};

cdc_rc
schemareg_create(struct schemareg **out, const struct jssink_opts *conn, const char *bucket,
                 struct cdc_err *err)
{
    struct schemareg *r = calloc(1, sizeof(*r));

    if (r == NULL)
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory creating the schema registry");
    r->conn = *conn;
    r->conn.on_ack = NULL;
    r->conn.on_latency = NULL;
    r->conn.on_conn = NULL;
    snprintf(r->bucket, sizeof(r->bucket), "%s", bucket != NULL ? bucket : SCHEMAREG_BUCKET);
    *out = r;
    return CDC_OK;
}

static void
schemareg_disconnect(struct schemareg *r)
{
    kvStore_Destroy(r->kv);
    r->kv = NULL;
    jsCtx_Destroy(r->js);
    r->js = NULL;
    if (r->nc != NULL) {
        natsConnection_Close(r->nc);
        natsConnection_Destroy(r->nc);
        r->nc = NULL;
    }
    natsOptions_Destroy(r->nopts);
    r->nopts = NULL;
}

void
schemareg_destroy(struct schemareg *r)
{
    if (r == NULL)
        return;
    schemareg_disconnect(r);
    free(r);
}

static cdc_rc
schemareg_failed(struct schemareg *r, natsStatus st, const char *what, struct cdc_err *err)
{
    const char *detail = st == NATS_ERR ? nats_GetLastError(NULL) : NULL;
    bool fatal = st == NATS_NOT_PERMITTED || st == NATS_CONNECTION_AUTH_FAILED ||
                 st == NATS_INVALID_ARG || st == NATS_INVALID_SUBJECT;

    return cdc_err_set(err, fatal ? CDC_ERR_FATAL : CDC_ERR_RETRY,
                       "schema registry (NATS KV bucket \"%s\"): %s: %s%s%.200s%s", r->bucket, what,
                       natsStatus_GetText(st), detail ? " (" : "", detail ? detail : "",
                       detail ? ")" : "");
}

static cdc_rc
schemareg_bind(struct schemareg *r, struct cdc_err *err)
{
    natsStatus st = js_KeyValue(&r->kv, r->js, r->bucket);

    if (st == NATS_NOT_FOUND) {
        kvConfig kc;

        kvConfig_Init(&kc);
        kc.Bucket = r->bucket;
        kc.Description = "cdc-handler schema registry: JSON Schemas of captured tables";
        kc.History = 5;
        kc.StorageType = js_FileStorage;
        st = js_CreateKeyValue(&r->kv, r->js, &kc);
    }
    if (st != NATS_OK) {
        r->kv = NULL;
        return schemareg_failed(r, st, "could not open or create the bucket", err);
    }
    return CDC_OK;
}

/* Connected and bound, or CDC_ERR_RETRY/FATAL. */
static cdc_rc
schemareg_ready(struct schemareg *r, struct cdc_err *err)
{
    natsStatus st;
    cdc_rc rc;

    if (r->nc != NULL && natsConnection_Status(r->nc) == NATS_CONN_STATUS_CLOSED)
        schemareg_disconnect(r);
    if (r->nc == NULL) {
        rc = jsconn_open(&r->nc, &r->nopts, &r->conn, true, NULL, err);
        if (rc != CDC_OK) {
            r->nc = NULL;
            r->nopts = NULL;
            return cdc_err_prefix(err, "schema registry");
        }
    }
    if (natsConnection_Status(r->nc) != NATS_CONN_STATUS_CONNECTED)
        return cdc_err_set(err, CDC_ERR_RETRY, "schema registry: not connected to NATS");
    if (r->js == NULL) {
        jsOptions jo;

        jsOptions_Init(&jo);
        jo.Wait = r->conn.request_timeout_ms > 0 ? r->conn.request_timeout_ms : 10000;
        st = natsConnection_JetStream(&r->js, r->nc, &jo);
        if (st != NATS_OK) {
            r->js = NULL;
            return schemareg_failed(r, st, "could not get a JetStream context", err);
        }
    }
    return r->kv != NULL ? CDC_OK : schemareg_bind(r, err);
}

cdc_rc
schemareg_get(struct schemareg *r, const char *key, struct cdc_buf *val, bool *found,
              struct cdc_err *err)
{
    kvEntry *e = NULL;
    natsStatus st;
    cdc_rc rc;

    *found = false;
    rc = schemareg_ready(r, err);
    if (rc != CDC_OK)
        return rc;
    st = kvStore_Get(&e, r->kv, key);
    if (st == NATS_NOT_FOUND)
        return CDC_OK;
    if (st != NATS_OK) {
        char what[300];

        snprintf(what, sizeof(what), "could not read key \"%s\"", key);
        return schemareg_failed(r, st, what, err);
    }
    if (kvEntry_ValueLen(e) > 0)
        cdc_buf_append(val, kvEntry_Value(e), (size_t) kvEntry_ValueLen(e));
    kvEntry_Destroy(e);
    if (!cdc_buf_ok(val))
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory reading the schema registry");
    *found = true;
    return CDC_OK;
}

cdc_rc
schemareg_put(struct schemareg *r, const char *key, const char *data, size_t len,
              struct cdc_err *err)
{
    natsStatus st;
    cdc_rc rc = schemareg_ready(r, err);

    if (rc != CDC_OK)
        return rc;
    st = kvStore_Put(NULL, r->kv, key, data, (int) len);
    if (st != NATS_OK) {
        char what[300];

        snprintf(what, sizeof(what), "could not write key \"%s\"", key);
        return schemareg_failed(r, st, what, err);
    }
    return CDC_OK;
}
