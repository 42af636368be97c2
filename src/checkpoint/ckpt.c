/*
 * ckpt.c - choosing a checkpoint backend by URL, and the load/save logic
 * shared by all backends (encoding, digest verification).
 */
#include "checkpoint/ckpt_store.h"

#include <stdlib.h>
#include <string.h>

cdc_rc
ckpt_open(struct ckpt_store **out, const char *url, struct cdc_err *err)
{
    struct ckpt_store *s;
    const char *colon;
    cdc_rc rc;

    if (url == NULL || url[0] == '\0')
        return cdc_err_set(err, CDC_ERR_CONFIG, "checkpoint storage is empty");
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
    colon = strstr(url, "://");
    if (strncmp(url, "file://", 7) == 0) {
        rc = ckpt_file_open(s, url + 7, err);
    } else if (strncmp(url, "redis://", 8) == 0) {
        rc = ckpt_redis_open(s, url, err);
    } else if (colon == NULL) {
        rc = ckpt_file_open(s, url, err);
    } else {
        rc = cdc_err_set(err, CDC_ERR_CONFIG,
                         "checkpoint storage scheme \"%.*s\" is not supported by this build "
                         "(supported: file://PATH, a plain path, redis://)",
                         (int) (colon - url), url);
    }
    if (rc != CDC_OK) {
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
    char buf[CKPT_MAX_LEN];
    size_t len = 0;
    cdc_rc rc;

    *found = false;
    rc = s->ops->read(s, buf, sizeof(buf), &len, err);
    if (rc != CDC_OK)
        return rc;
    if (len == 0)
        return CDC_OK;
    rc = ckpt_decode(buf, len, rec, err);
    if (rc != CDC_OK)
        return cdc_err_prefix(err, "%s", s->desc);
    *found = true;
    return CDC_OK;
}

cdc_rc
ckpt_save(struct ckpt_store *s, const struct ckpt_record *rec, struct cdc_err *err)
{
    char buf[CKPT_MAX_LEN];
    cdc_rc rc;

    rc = ckpt_encode(rec, buf, sizeof(buf), err);
    if (rc != CDC_OK)
        return rc;
    return s->ops->write(s, buf, strlen(buf), err);
}
