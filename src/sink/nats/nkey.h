/*
 * nkey.h - NATS NKeys: the text form of Ed25519 keys that nats-server uses
 * for nkey and JWT authentication (base32 without padding of a prefix byte,
 * the 32-byte key and a CRC-16/XMODEM, little-endian).
 *
 * We need it for one thing: the daemon is given a user seed file
 * (nats.nkey_seed_file), and libnats' natsOptions_SetNKeyFromSeed() wants the
 * public key too, which is derived from the seed (OpenSSL's Ed25519). The
 * encoders are public so that tests can make keys of their own.
 *
 * Pure functions of their arguments, except nkey_public_from_seed_file(),
 * which reads a file. Nothing here logs; a seed never appears in a message.
 * Any thread.
 */
#ifndef CDC_SINK_NATS_NKEY_H
#define CDC_SINK_NATS_NKEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* Key type prefixes (the first base32 character: O, A, U). */
enum nkey_type { NKEY_OPERATOR = 14 << 3, NKEY_ACCOUNT = 0, NKEY_USER = 20 << 3 };

#define NKEY_PUBLIC_LEN 56 /* characters of an encoded public key */
#define NKEY_SEED_LEN   58 /* characters of an encoded seed */

/* CRC-16/XMODEM (poly 0x1021, init 0), the NKey checksum. */
uint16_t nkey_crc16(const uint8_t *p, size_t n);

/*
 * Encode a 32-byte key of `type` as a public key ("U...", seed false) or a
 * seed ("SU...", seed true) into out (NKEY_PUBLIC_LEN or NKEY_SEED_LEN + 1
 * bytes at least). Returns false if out is too small.
 */
bool nkey_encode(char *out, size_t cap, bool seed, uint8_t type, const uint8_t key[32]);

/*
 * Decode a seed: its type and the 32 private bytes. CDC_ERR_CONFIG when s is
 * not a well-formed seed (bad length, alphabet, prefix or checksum); the
 * message never contains s.
 */
cdc_rc nkey_decode_seed(const char *s, uint8_t *type, uint8_t raw[32],
                        struct cdc_err *err) CDC_MUST_CHECK;

/* The public key (NKEY_PUBLIC_LEN + 1 bytes) of the key pair of `seed`. */
cdc_rc nkey_public_from_seed(const char *seed, char out[NKEY_PUBLIC_LEN + 1],
                             struct cdc_err *err) CDC_MUST_CHECK;

/*
 * The same for the first seed found in file `path` (a line of 58 base32
 * characters starting with 'S', as nsc and nk write them; the rest of the
 * file is ignored). CDC_ERR_CONFIG names the file, never its content.
 */
cdc_rc nkey_public_from_seed_file(const char *path, char out[NKEY_PUBLIC_LEN + 1],
                                  struct cdc_err *err) CDC_MUST_CHECK;

#endif
