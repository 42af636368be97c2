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

/* The largest stored text a backend must read: an encrypted record (base64) and its envelope. */
#define CKPT_STORED_MAX 8192

struct ckpt_store {
    const struct ckpt_ops *ops;
    char desc[512];                  /* for logs, no credentials */
    void *impl;                      /* the backend's state */
    bool has_key;                    /* records are encrypted with key */
    unsigned char key[CKPT_KEY_LEN]; /* secret: wiped by ckpt_close() */
    char kid[17];                    /* ckpt_key_id(key), "" without a key */
};

cdc_rc ckpt_file_open(struct ckpt_store *s, const char *path, struct cdc_err *err);
/* url: the whole "redis://..." URL (ckpt_redis.c documents its form) */
cdc_rc ckpt_redis_open(struct ckpt_store *s, const char *url, struct cdc_err *err);
/* url: the whole "nats-kv://..." URL (ckpt_kv.c documents its form); servers from o */
cdc_rc ckpt_kv_open(struct ckpt_store *s, const char *url, const struct ckpt_opts *o,
                    struct cdc_err *err);
/* url: the whole "s3://..." URL (ckpt_s3.c documents its form); credentials from the environment */
cdc_rc ckpt_s3_open(struct ckpt_store *s, const char *url, struct cdc_err *err);

/* ckpt_crypt.c: does text start like a sealed (encrypted) record? */
bool ckpt_is_sealed(const char *text, size_t len);
/* Seal plain (len bytes) with s's key into out (NUL-terminated). CDC_ERR_IO if OpenSSL fails. */
cdc_rc ckpt_seal(const struct ckpt_store *s, const char *plain, size_t len, char *out, size_t cap,
                 struct cdc_err *err);
/*
 * Open a sealed record (NUL-terminated text) into plain (cap bytes, NUL-terminated, *plen
 * without the NUL). No key, another key id, a malformed envelope or a failed
 * authentication: CDC_ERR_FATAL.
 */
cdc_rc ckpt_unseal(const struct ckpt_store *s, const char *text, char *plain, size_t cap,
                   size_t *plen, struct cdc_err *err);

/* ckpt_url.c: hex digit value, or -1. */
int ckpt_hexval(char ch);
/* Percent-decode p[0..n) into out (cap bytes, NUL-terminated); false if malformed, too long or
 * decoding to a NUL byte. */
bool ckpt_url_decode(const char *p, size_t n, char *out, size_t cap);
/* The decimal integer p[0..n) within [min, max]; false otherwise. */
bool ckpt_url_long(const char *p, size_t n, long min, long max, long *out);

#endif
