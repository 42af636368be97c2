/*
 * nkey.c - NKey encoding, seed decoding and public key derivation; see
 * nkey.h. Ed25519 comes from OpenSSL (EVP_PKEY_ED25519): we only do the
 * base32/CRC framing. Private bytes are wiped before returning.
 */
#include "sink/nats/nkey.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#define NKEY_PREFIX_SEED (18 << 3) /* 'S' */
#define NKEY_B32         "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

uint16_t
nkey_crc16(const uint8_t *p, size_t n)
{
    uint16_t crc = 0;

    for (size_t i = 0; i < n; i++) {
        crc ^= (uint16_t) (p[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000) ? (uint16_t) ((crc << 1) ^ 0x1021) : (uint16_t) (crc << 1);
    }
    return crc;
}

/* RFC 4648 base32 without padding; out must hold (n * 8 + 4) / 5 + 1 bytes. */
static void
nkey_b32_encode(char *out, const uint8_t *p, size_t n)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8) | p[i];
        bits += 8;
        while (bits >= 5) {
            out[o++] = NKEY_B32[(acc >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    if (bits > 0)
        out[o++] = NKEY_B32[(acc << (5 - bits)) & 31];
    out[o] = '\0';
}

/* Decode exactly n bytes from s (strlen(s) characters); false on a bad character or length. */
static bool
nkey_b32_decode(uint8_t *out, size_t n, const char *s)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;

    for (; *s; s++) {
        const char *c = strchr(NKEY_B32, *s);

        if (c == NULL || *s == '\0')
            return false;
        acc = (acc << 5) | (uint32_t) (c - NKEY_B32);
        bits += 5;
        if (bits >= 8) {
            if (o == n)
                return false;
            out[o++] = (uint8_t) (acc >> (bits - 8));
            bits -= 8;
        }
    }
    return o == n;
}

bool
nkey_encode(char *out, size_t cap, bool seed, uint8_t type, const uint8_t key[32])
{
    uint8_t raw[36];
    size_t n = 0;
    uint16_t crc;

    if (cap < (seed ? NKEY_SEED_LEN : NKEY_PUBLIC_LEN) + 1u)
        return false;
    if (seed) {
        raw[n++] = (uint8_t) (NKEY_PREFIX_SEED | (type >> 5));
        raw[n++] = (uint8_t) ((type & 31) << 3);
    } else {
        raw[n++] = type;
    }
    memcpy(raw + n, key, 32);
    n += 32;
    crc = nkey_crc16(raw, n);
    raw[n++] = (uint8_t) (crc & 0xff);
    raw[n++] = (uint8_t) (crc >> 8);
    nkey_b32_encode(out, raw, n);
    explicit_bzero(raw, sizeof(raw));
    return true;
}

cdc_rc
nkey_decode_seed(const char *s, uint8_t *type, uint8_t raw[32], struct cdc_err *err)
{
    uint8_t b[36];
    cdc_rc rc = CDC_OK;

    if (s == NULL || strlen(s) != NKEY_SEED_LEN || !nkey_b32_decode(b, sizeof(b), s))
        rc = cdc_err_set(err, CDC_ERR_CONFIG, "not an NKey seed (58 base32 characters)");
    else if (nkey_crc16(b, 34) != (uint16_t) (b[34] | (b[35] << 8)))
        rc = cdc_err_set(err, CDC_ERR_CONFIG, "NKey seed checksum mismatch");
    else if ((b[0] & 0xf8) != NKEY_PREFIX_SEED)
        rc = cdc_err_set(err, CDC_ERR_CONFIG, "not an NKey seed (it does not start with S)");
    if (rc == CDC_OK) {
        *type = (uint8_t) (((b[0] & 7) << 5) | ((b[1] & 0xf8) >> 3));
        memcpy(raw, b + 2, 32);
    }
    explicit_bzero(b, sizeof(b));
    return rc;
}

cdc_rc
nkey_public_from_seed(const char *seed, char out[NKEY_PUBLIC_LEN + 1], struct cdc_err *err)
{
    uint8_t raw[32], pub[32], type = 0;
    size_t publen = sizeof(pub);
    EVP_PKEY *k = NULL;
    cdc_rc rc;

    rc = nkey_decode_seed(seed, &type, raw, err);
    if (rc != CDC_OK)
        return rc;
    k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, raw, sizeof(raw));
    explicit_bzero(raw, sizeof(raw));
    if (k == NULL || EVP_PKEY_get_raw_public_key(k, pub, &publen) != 1 || publen != 32)
        rc = cdc_err_set(err, CDC_ERR_FATAL, "could not derive the NKey public key");
    else
        (void) nkey_encode(out, NKEY_PUBLIC_LEN + 1, false, type, pub);
    EVP_PKEY_free(k);
    return rc;
}

/* The first run of 58 base32 characters that starts with 'S' in buf, or NULL. */
static char *
nkey_find_seed(char *buf)
{
    for (char *p = buf; *p; p++) {
        size_t n = strspn(p, NKEY_B32);

        if (n == NKEY_SEED_LEN && *p == 'S' && (p == buf || strchr(NKEY_B32, p[-1]) == NULL)) {
            p[n] = '\0';
            return p;
        }
        if (n > 0)
            p += n - 1;
    }
    return NULL;
}

cdc_rc
nkey_public_from_seed_file(const char *path, char out[NKEY_PUBLIC_LEN + 1], struct cdc_err *err)
{
    char buf[4096];
    size_t n;
    char *seed;
    FILE *f = fopen(path, "rb");
    cdc_rc rc;

    if (f == NULL)
        return cdc_err_set(err, CDC_ERR_CONFIG, "could not open NKey seed file \"%s\": %s", path,
                           strerror(errno));
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    seed = nkey_find_seed(buf);
    if (seed == NULL)
        rc = cdc_err_set(err, CDC_ERR_CONFIG, "NKey seed file \"%s\" holds no seed", path);
    else if ((rc = nkey_public_from_seed(seed, out, err)) != CDC_OK)
        cdc_err_prefix(err, "NKey seed file \"%s\"", path);
    explicit_bzero(buf, sizeof(buf));
    return rc;
}
