/*
 * ckpt_store.h - what every checkpoint backend provides (private to checkpoint/).
 */
#ifndef CDC_CHECKPOINT_CKPT_STORE_H
#define CDC_CHECKPOINT_CKPT_STORE_H

#include "checkpoint/ckpt.h"

struct ckpt_ops {
    /* read the stored text into buf (NUL-terminated); *len = 0 when none is stored */
    cdc_rc (*read)(struct ckpt_store *s, char *buf, size_t cap, size_t *len, struct cdc_err *err);
    /* store text durably */
    cdc_rc (*write)(struct ckpt_store *s, const char *text, size_t len, struct cdc_err *err);
    void (*close)(struct ckpt_store *s);
};

struct ckpt_store {
    const struct ckpt_ops *ops;
    char desc[512]; /* for logs, no credentials */
    void *impl;     /* the backend's state */
};

cdc_rc ckpt_file_open(struct ckpt_store *s, const char *path, struct cdc_err *err);
/* url: the whole "redis://..." URL (ckpt_redis.c documents its form) */
cdc_rc ckpt_redis_open(struct ckpt_store *s, const char *url, struct cdc_err *err);

#endif
