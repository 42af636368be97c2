/*
 * jsobj.c - put one object into a NATS Object Store bucket; see jsobj.h.
 */
#include "sink/nats/jsobj.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

void
jsobj_b64url(const unsigned char *in, size_t n, char *out)
{
    int len = EVP_EncodeBlock((unsigned char *) out, in, (int) n);

    for (int i = 0; i < len; i++) {
        if (out[i] == '+')
            out[i] = '-';
        else if (out[i] == '/')
            out[i] = '_';
    }
    out[len] = '\0';
}

/* name as the inside of a JSON string: '"' and '\\' escaped (names are printable ASCII). */
static void
json_inner(const char *name, char *out, size_t cap)
{
    size_t o = 0;

    for (; *name != '\0' && o + 3 < cap; name++) {
        if (*name == '"' || *name == '\\')
            out[o++] = '\\';
        out[o++] = *name;
    }
    out[o] = '\0';
}

/* A new 22-character token from [0-9A-Za-z], like a NATS nuid. */
static cdc_rc
new_nuid(char out[32], struct cdc_err *err)
{
    static const char abc[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    unsigned char r[22];

    if (RAND_bytes(r, sizeof(r)) != 1)
        return cdc_err_set(err, CDC_ERR_IO, "no random bytes for an object id");
    for (size_t i = 0; i < sizeof(r); i++)
        out[i] = abc[r[i] % 62];
    out[sizeof(r)] = '\0';
    return CDC_OK;
}

static cdc_rc
js_fail(natsStatus st, jsErrCode jerr, const char *what, const char *bucket, struct cdc_err *err)
{
    const char *why = nats_GetLastError(NULL);

    /* libnats prefixes its text with "(file.c:line): ": not for users */
    if (why != NULL && why[0] == '(' && strstr(why, "): ") != NULL)
        why = strstr(why, "): ") + 3;
    return cdc_err_set(err,
                       st == NATS_TIMEOUT || st == NATS_NO_RESPONDERS ? CDC_ERR_RETRY : CDC_ERR_IO,
                       "object store \"%s\": %s: %s (error %d)", bucket, what,
                       why != NULL && why[0] != '\0' ? why : natsStatus_GetText(st), (int) jerr);
}

/* The bucket's stream, created when missing. */
static cdc_rc
ensure_bucket(jsCtx *js, const char *bucket, int replicas, const char *stream, struct cdc_err *err)
{
    char chunks[192], meta[192];
    const char *subjects[2] = {chunks, meta};
    jsStreamInfo *si = NULL;
    jsStreamConfig sc;
    jsErrCode jerr = 0;
    natsStatus st;

    st = js_GetStreamInfo(&si, js, stream, NULL, &jerr);
    if (st == NATS_OK) {
        jsStreamInfo_Destroy(si);
        return CDC_OK;
    }
    if (st != NATS_NOT_FOUND && jerr != JSStreamNotFoundErr)
        return js_fail(st, jerr, "looking up its stream", bucket, err);
    snprintf(chunks, sizeof(chunks), "$O.%s.C.>", bucket);
    snprintf(meta, sizeof(meta), "$O.%s.M.>", bucket);
    jsStreamConfig_Init(&sc);
    sc.Name = stream;
    sc.Subjects = subjects;
    sc.SubjectsLen = 2;
    sc.Storage = js_FileStorage;
    sc.Replicas = replicas > 0 ? replicas : 1;
    sc.Discard = js_DiscardNew;
    sc.AllowRollup = true;
    sc.AllowDirect = true;
    jerr = 0;
    st = js_AddStream(NULL, js, &sc, NULL, &jerr);
    if (st != NATS_OK && jerr != JSStreamNameExistErr)
        return js_fail(st, jerr, "creating its stream", bucket, err);
    return CDC_OK;
}

/* Publish one message and wait for its ack. */
static cdc_rc
put_msg(jsCtx *js, natsMsg *m, int64_t timeout_ms, const char *what, const char *bucket,
        struct cdc_err *err)
{
    jsPubOptions po;
    jsPubAck *pa = NULL;
    jsErrCode jerr = 0;
    natsStatus st;

    jsPubOptions_Init(&po);
    po.MaxWait = timeout_ms;
    st = js_PublishMsg(&pa, js, m, &po, &jerr);
    jsPubAck_Destroy(pa);
    if (st != NATS_OK)
        return js_fail(st, jerr, what, bucket, err);
    return CDC_OK;
}

/* Does the object's current metadata name this digest? (a replay of the same put) */
static bool
same_object(jsCtx *js, const char *stream, const char *meta_subj, const char *digest)
{
    natsMsg *m = NULL;
    jsErrCode jerr = 0;
    char want[96];
    bool same = false;

    if (js_GetLastMsg(&m, js, stream, meta_subj, NULL, &jerr) != NATS_OK)
        return false;
    snprintf(want, sizeof(want), "\"digest\":\"%s\"", digest);
    if (natsMsg_GetDataLength(m) > 0) {
        char *data = strndup(natsMsg_GetData(m), (size_t) natsMsg_GetDataLength(m));

        same =
            data != NULL && strstr(data, want) != NULL && strstr(data, "\"deleted\":true") == NULL;
        free(data);
    }
    natsMsg_Destroy(m);
    return same;
}

cdc_rc
jsobj_put(jsCtx *js, const char *bucket, int replicas, const char *name, const void *data,
          size_t len, int64_t timeout_ms, struct jsobj_ref *out, struct cdc_err *err)
{
    char stream[160], chunk_subj[224], meta_subj[512], ename[400], mtime[40], info[1400];
    char jname[520];
    unsigned char sha[SHA256_DIGEST_LENGTH];
    const unsigned char *p = data;
    natsMsg *m = NULL;
    struct tm tm;
    time_t now;
    natsStatus st;
    cdc_rc rc;
    int n;

    if (strlen(name) > 256 || strlen(bucket) > 64)
        return cdc_err_set(err, CDC_ERR_CONFIG, "object name or bucket too long");
    snprintf(stream, sizeof(stream), "OBJ_%s", bucket);
    rc = ensure_bucket(js, bucket, replicas, stream, err);
    if (rc != CDC_OK)
        return rc;
    memset(out, 0, sizeof(*out));
    SHA256(p, len, sha);
    memcpy(out->digest, "SHA-256=", 8);
    jsobj_b64url(sha, sizeof(sha), out->digest + 8);
    out->size = len;
    out->chunks = (uint32_t) ((len + JSOBJ_CHUNK - 1) / JSOBJ_CHUNK);
    jsobj_b64url((const unsigned char *) name, strlen(name), ename);
    snprintf(meta_subj, sizeof(meta_subj), "$O.%s.M.%s", bucket, ename);
    if (same_object(js, stream, meta_subj, out->digest))
        return CDC_OK; /* stored by an earlier run: its chunks are there */
    rc = new_nuid(out->nuid, err);
    if (rc != CDC_OK)
        return rc;
    snprintf(chunk_subj, sizeof(chunk_subj), "$O.%s.C.%s", bucket, out->nuid);
    for (size_t off = 0; off < len; off += JSOBJ_CHUNK) {
        size_t cl = len - off < JSOBJ_CHUNK ? len - off : JSOBJ_CHUNK;

        st = natsMsg_Create(&m, chunk_subj, NULL, (const char *) p + off, (int) cl);
        if (st != NATS_OK)
            return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
        rc = put_msg(js, m, timeout_ms, "storing a chunk", bucket, err);
        natsMsg_Destroy(m);
        if (rc != CDC_OK)
            return rc;
    }
    now = time(NULL);
    gmtime_r(&now, &tm);
    strftime(mtime, sizeof(mtime), "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_inner(name, jname, sizeof(jname));
    n = snprintf(
        info, sizeof(info),
        "{\"name\":\"%s\",\"bucket\":\"%s\",\"nuid\":\"%s\",\"size\":%llu,\"mtime\":\"%s\","
        "\"chunks\":%u,\"digest\":\"%s\",\"options\":{\"max_chunk_size\":%d}}",
        jname, bucket, out->nuid, (unsigned long long) len, mtime, out->chunks, out->digest,
        JSOBJ_CHUNK);
    if (n < 0 || (size_t) n >= sizeof(info))
        return cdc_err_set(err, CDC_ERR_CONFIG, "object metadata too long");
    st = natsMsg_Create(&m, meta_subj, NULL, info, n);
    if (st == NATS_OK)
        st = natsMsgHeader_Set(m, "Nats-Rollup", "sub");
    if (st != NATS_OK) {
        natsMsg_Destroy(m);
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
    }
    rc = put_msg(js, m, timeout_ms, "storing its metadata", bucket, err);
    natsMsg_Destroy(m);
    return rc;
}
