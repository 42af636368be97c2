/*
 * ckpt_crypt.c - encryption at rest of checkpoint records (AES-256-GCM,
 * OpenSSL EVP), and the parsing of encryption keys.
 *
 * A sealed record is one line of JSON (ckpt.h shows it): the algorithm, the
 * key id, and base64 of the IV, the ciphertext and the tag. The key id is
 * bound to the ciphertext as additional authenticated data, so an envelope
 * whose key id was edited does not authenticate either. Every seal draws a
 * fresh 12-byte IV from RAND_bytes: a (key, IV) pair is never reused in
 * practice (2^-96 per pair of writes).
 *
 * What this file does not do: it never logs, never prints a key or any part
 * of it (the key id is a truncated SHA-256, which reveals nothing usable), and
 * does not know where records are stored.
 */
#include "checkpoint/ckpt_store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#define CRYPT_ALG     "aes-256-gcm"
#define CRYPT_IV_LEN  12
#define CRYPT_TAG_LEN 16
#define CRYPT_AAD     "cdc-handler checkpoint " CRYPT_ALG " kid="
#define CRYPT_PREFIX  "{\"enc\":"

/* ---- keys ---- */

static bool
crypt_is_b64(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char) p[i];

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/'))
            return false;
    }
    return true;
}

/*
 * Decode standard base64 with padding into out; *outlen is the true length
 * (EVP_DecodeBlock counts the padding as zero bytes). False if malformed or
 * longer than cap.
 */
static bool
crypt_b64_decode(const char *p, size_t n, unsigned char *out, size_t cap, size_t *outlen)
{
    unsigned char tmp[CKPT_STORED_MAX];
    size_t pad = 0;
    int m;

    if (n == 0 || n % 4 != 0 || n / 4 * 3 > sizeof(tmp))
        return false;
    if (p[n - 1] == '=')
        pad++;
    if (p[n - 2] == '=')
        pad++;
    if (!crypt_is_b64(p, n - pad))
        return false;
    m = EVP_DecodeBlock(tmp, (const unsigned char *) p, (int) n);
    if (m < 0 || (size_t) m < pad || (size_t) m - pad > cap) {
        OPENSSL_cleanse(tmp, sizeof(tmp));
        return false;
    }
    *outlen = (size_t) m - pad;
    memcpy(out, tmp, *outlen);
    OPENSSL_cleanse(tmp, sizeof(tmp));
    return true;
}

cdc_rc
ckpt_key_parse(const char *text, size_t len, unsigned char key[CKPT_KEY_LEN], struct cdc_err *err)
{
    unsigned char tmp[CKPT_KEY_LEN + 3];
    size_t n = 0;

    while (len > 0 && (text[0] == ' ' || text[0] == '\t' || text[0] == '\r' || text[0] == '\n')) {
        text++;
        len--;
    }
    while (len > 0 && (text[len - 1] == ' ' || text[len - 1] == '\t' || text[len - 1] == '\r' ||
                       text[len - 1] == '\n'))
        len--;
    if (len == 2 * CKPT_KEY_LEN) {
        for (size_t i = 0; i < CKPT_KEY_LEN; i++) {
            int hi = ckpt_hexval(text[2 * i]), lo = ckpt_hexval(text[2 * i + 1]);

            if (hi < 0 || lo < 0) {
                OPENSSL_cleanse(key, CKPT_KEY_LEN);
                goto bad;
            }
            key[i] = (unsigned char) (hi * 16 + lo);
        }
        return CDC_OK;
    }
    if (crypt_b64_decode(text, len, tmp, sizeof(tmp), &n) && n == CKPT_KEY_LEN) {
        memcpy(key, tmp, CKPT_KEY_LEN);
        OPENSSL_cleanse(tmp, sizeof(tmp));
        return CDC_OK;
    }
    OPENSSL_cleanse(tmp, sizeof(tmp));
bad:
    return cdc_err_set(err, CDC_ERR_CONFIG,
                       "encryption key must be 64 hex digits or the base64 of 32 bytes (got %zu "
                       "characters%s)",
                       len, n > 0 ? ", base64 of a different length" : "");
}

cdc_rc
ckpt_key_read_file(const char *path, unsigned char key[CKPT_KEY_LEN], struct cdc_err *err)
{
    char buf[1025];
    ssize_t n;
    cdc_rc rc;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cdc_err_set(err, CDC_ERR_CONFIG, "could not open encryption key file \"%s\": %s",
                           path, strerror(errno));
    n = read(fd, buf, sizeof(buf));
    if (n < 0) {
        int e = errno;

        close(fd);
        return cdc_err_set(err, CDC_ERR_CONFIG, "could not read encryption key file \"%s\": %s",
                           path, strerror(e));
    }
    close(fd);
    if ((size_t) n == sizeof(buf))
        rc = cdc_err_set(err, CDC_ERR_CONFIG, "larger than 1 KiB, not a key");
    else
        rc = ckpt_key_parse(buf, (size_t) n, key, err);
    OPENSSL_cleanse(buf, sizeof(buf));
    if (rc != CDC_OK)
        return cdc_err_prefix(err, "encryption key file \"%s\"", path);
    return CDC_OK;
}

void
ckpt_key_id(const unsigned char key[CKPT_KEY_LEN], char kid[17])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    EVP_Digest(key, CKPT_KEY_LEN, md, &mdlen, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 8; i++)
        snprintf(kid + 2 * i, 3, "%02x", md[i]);
}

/* ---- sealing ---- */

bool
ckpt_is_sealed(const char *text, size_t len)
{
    return len >= sizeof(CRYPT_PREFIX) - 1 &&
           memcmp(text, CRYPT_PREFIX, sizeof(CRYPT_PREFIX) - 1) == 0;
}

static void
crypt_b64(const unsigned char *p, size_t n, char *out)
{
    EVP_EncodeBlock((unsigned char *) out, p, (int) n);
}

/* AES-256-GCM over in, with the key id as AAD; decrypt when enc is false. */
static bool
crypt_gcm(const struct ckpt_store *s, bool enc, const unsigned char iv[CRYPT_IV_LEN],
          const unsigned char *in, size_t len, unsigned char *out, unsigned char tag[CRYPT_TAG_LEN])
{
    char aad[sizeof(CRYPT_AAD) + 16];
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n = 0, fin = 0;
    bool ok;

    snprintf(aad, sizeof(aad), "%s%s", CRYPT_AAD, s->kid);
    ok = c != NULL && EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL, enc ? 1 : 0) == 1 &&
         EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, CRYPT_IV_LEN, NULL) == 1 &&
         EVP_CipherInit_ex(c, NULL, NULL, s->key, iv, -1) == 1 &&
         EVP_CipherUpdate(c, NULL, &n, (const unsigned char *) aad, (int) strlen(aad)) == 1 &&
         EVP_CipherUpdate(c, out, &n, in, (int) len) == 1;
    if (ok && !enc)
        ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, CRYPT_TAG_LEN, tag) == 1;
    if (ok)
        ok = EVP_CipherFinal_ex(c, out + n, &fin) == 1; /* decrypting: checks the tag */
    if (ok && enc)
        ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, CRYPT_TAG_LEN, tag) == 1;
    EVP_CIPHER_CTX_free(c);
    return ok;
}

cdc_rc
ckpt_seal(const struct ckpt_store *s, const char *plain, size_t len, char *out, size_t cap,
          struct cdc_err *err)
{
    unsigned char iv[CRYPT_IV_LEN], tag[CRYPT_TAG_LEN], ct[CKPT_MAX_LEN];
    char iv64[4 * ((CRYPT_IV_LEN + 2) / 3) + 1], tag64[4 * ((CRYPT_TAG_LEN + 2) / 3) + 1];
    char ct64[4 * ((CKPT_MAX_LEN + 2) / 3) + 1];
    int n;

    if (len > sizeof(ct))
        return cdc_err_set(err, CDC_ERR_CONFIG, "checkpoint record too long to encrypt");
    if (RAND_bytes(iv, sizeof(iv)) != 1)
        return cdc_err_set(err, CDC_ERR_IO, "could not draw a random IV for the checkpoint");
    if (!crypt_gcm(s, true, iv, (const unsigned char *) plain, len, ct, tag))
        return cdc_err_set(err, CDC_ERR_IO, "could not encrypt the checkpoint (AES-256-GCM)");
    crypt_b64(iv, sizeof(iv), iv64);
    crypt_b64(tag, sizeof(tag), tag64);
    crypt_b64(ct, len, ct64);
    OPENSSL_cleanse(ct, sizeof(ct));
    n = snprintf(out, cap,
                 CRYPT_PREFIX "\"" CRYPT_ALG "\",\"kid\":\"%s\",\"iv\":\"%s\",\"ct\":\"%s\","
                              "\"tag\":\"%s\"}\n",
                 s->kid, iv64, ct64, tag64);
    if (n < 0 || (size_t) n >= cap)
        return cdc_err_set(err, CDC_ERR_CONFIG, "encrypted checkpoint record too long");
    return CDC_OK;
}

/* The string member "key" of the flat envelope: [*v, *v + *n). */
static bool
crypt_member(const char *text, const char *key, const char **v, size_t *n)
{
    char pat[32];
    const char *p, *q;

    snprintf(pat, sizeof(pat), "\"%s\":\"", key);
    p = strstr(text, pat);
    if (p == NULL)
        return false;
    p += strlen(pat);
    q = strchr(p, '"');
    if (q == NULL)
        return false;
    *v = p;
    *n = (size_t) (q - p);
    return true;
}

cdc_rc
ckpt_unseal(const struct ckpt_store *s, const char *text, char *plain, size_t cap, size_t *plen,
            struct cdc_err *err)
{
    unsigned char iv[CRYPT_IV_LEN], tag[CRYPT_TAG_LEN], ct[CKPT_MAX_LEN];
    const char *alg, *kid, *iv64, *ct64, *tag64;
    size_t alen, klen, ivlen, ctlen, taglen, n;

    if (!crypt_member(text, "enc", &alg, &alen) || !crypt_member(text, "kid", &kid, &klen) ||
        !crypt_member(text, "iv", &iv64, &ivlen) || !crypt_member(text, "ct", &ct64, &ctlen) ||
        !crypt_member(text, "tag", &tag64, &taglen))
        return cdc_err_set(err, CDC_ERR_FATAL,
                           "encrypted checkpoint record is corrupt: a member is missing");
    if (alen != strlen(CRYPT_ALG) || memcmp(alg, CRYPT_ALG, alen) != 0)
        return cdc_err_set(err, CDC_ERR_FATAL,
                           "checkpoint record is encrypted with \"%.*s\", which this version "
                           "does not support (only " CRYPT_ALG ")",
                           (int) (alen > 32 ? 32 : alen), alg);
    if (!s->has_key)
        return cdc_err_set(err, CDC_ERR_FATAL,
                           "checkpoint record is encrypted (key id %.*s) but no encryption key "
                           "is configured: set cdc.checkpoint_encryption_key or "
                           "cdc.checkpoint_encryption_key_file",
                           (int) (klen > 16 ? 16 : klen), kid);
    if (klen != 16 || memcmp(kid, s->kid, 16) != 0)
        return cdc_err_set(err, CDC_ERR_FATAL,
                           "checkpoint was written with key id %.*s, configured key is %s: "
                           "configure the key it was written with",
                           (int) (klen > 16 ? 16 : klen), kid, s->kid);
    if (!crypt_b64_decode(iv64, ivlen, iv, sizeof(iv), &n) || n != sizeof(iv) ||
        !crypt_b64_decode(tag64, taglen, tag, sizeof(tag), &n) || n != sizeof(tag) ||
        !crypt_b64_decode(ct64, ctlen, ct, sizeof(ct), &n) || n >= cap)
        return cdc_err_set(err, CDC_ERR_FATAL,
                           "encrypted checkpoint record is corrupt: bad base64 or length");
    if (!crypt_gcm(s, false, iv, ct, n, (unsigned char *) plain, tag)) {
        OPENSSL_cleanse(plain, cap);
        return cdc_err_set(err, CDC_ERR_FATAL,
                           "encrypted checkpoint record is corrupt: AES-256-GCM authentication "
                           "failed (key id %s)",
                           s->kid);
    }
    plain[n] = '\0';
    *plen = n;
    return CDC_OK;
}
