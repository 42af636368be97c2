/*
 * ckpt.c - choosing a checkpoint backend by URL, and the load/save logic
 * shared by all backends (encoding, digest verification, encryption).
 */
#include "checkpoint/ckpt_store.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

void
ckpt_opts_init(struct ckpt_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->nats_timeout_ms = 5000;
}

cdc_rc
ckpt_open(struct ckpt_store **out, const char *url, const struct ckpt_opts *opts,
          struct cdc_err *err)
{
    struct ckpt_opts defaults;
    struct ckpt_store *s;
    const char *colon;
    cdc_rc rc;

    if (opts == NULL) {
        ckpt_opts_init(&defaults);
        opts = &defaults;
    }
    if (url == NULL || url[0] == '\0')
        return cdc_err_set(err, CDC_ERR_CONFIG, "checkpoint storage is empty");
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
    if (opts->key != NULL) {
        s->has_key = true;
        memcpy(s->key, opts->key, CKPT_KEY_LEN);
        ckpt_key_id(s->key, s->kid);
    }
    colon = strstr(url, "://");
    if (strncmp(url, "file://", 7) == 0) {
        rc = ckpt_file_open(s, url + 7, err);
    } else if (strncmp(url, "redis://", 8) == 0) {
        rc = ckpt_redis_open(s, url, err);
    } else if (strncmp(url, "nats-kv://", 10) == 0) {
        rc = ckpt_kv_open(s, url, opts, err);
    } else if (strncmp(url, "s3://", 5) == 0) {
        rc = ckpt_s3_open(s, url, err);
    } else if (colon == NULL) {
        rc = ckpt_file_open(s, url, err);
    } else {
        rc = cdc_err_set(err, CDC_ERR_CONFIG,
                         "checkpoint storage scheme \"%.*s\" is not supported by this build "
                         "(supported: file://PATH, a plain path, redis://, nats-kv://, s3://)",
                         (int) (colon - url), url);
    }
    if (rc != CDC_OK) {
        OPENSSL_cleanse(s->key, sizeof(s->key));
        free(s);
        return rc;
    }
    *out = s;
    return CDC_OK;
}

void
ckpt_close(struct ckpt_store *s)
{
    if (s == NULL)
        return;
    s->ops->close(s);
    OPENSSL_cleanse(s->key, sizeof(s->key));
    free(s);
}

const char *
ckpt_describe(const struct ckpt_store *s)
{
    return s->desc;
}

cdc_rc
ckpt_load(struct ckpt_store *s, struct ckpt_record *rec, bool *found, struct cdc_err *err)
{
    char buf[CKPT_STORED_MAX], plain[CKPT_MAX_LEN];
    size_t len = 0;
    cdc_rc rc;

    *found = false;
    rc = s->ops->read(s, buf, sizeof(buf), &len, err);
    if (rc != CDC_OK)
        return rc;
    if (len == 0)
        return CDC_OK;
    /* a plain record is accepted even with a key: the store predates encryption */
    if (ckpt_is_sealed(buf, len)) {
        rc = ckpt_unseal(s, buf, plain, sizeof(plain), &len, err);
        if (rc == CDC_OK)
            rc = ckpt_decode(plain, len, rec, err);
        OPENSSL_cleanse(plain, sizeof(plain));
    } else {
        rc = ckpt_decode(buf, len, rec, err);
    }
    if (rc != CDC_OK)
        return cdc_err_prefix(err, "%s", s->desc);
    *found = true;
    return CDC_OK;
}

cdc_rc
ckpt_save(struct ckpt_store *s, const struct ckpt_record *rec, struct cdc_err *err)
{
    char buf[CKPT_MAX_LEN], sealed[CKPT_STORED_MAX];
    cdc_rc rc;

    rc = ckpt_encode(rec, buf, sizeof(buf), err);
    if (rc != CDC_OK)
        return rc;
    if (!s->has_key)
        return s->ops->write(s, buf, strlen(buf), err);
    rc = ckpt_seal(s, buf, strlen(buf), sealed, sizeof(sealed), err);
    if (rc != CDC_OK)
        return rc;
    return s->ops->write(s, sealed, strlen(sealed), err);
}
