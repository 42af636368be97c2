/*
 * test_nkey.c - NKey seeds and public keys. The reference pair is the one the
 * NATS documentation prints for `nk -gen user -pubout` (docs.nats.io, "NKeys"
 * under server authentication): seed SUACSSL3..., public key UDXU4RCS....
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sink/nats/nkey.h"

#define DOC_SEED   "SUACSSL3UAHUDXKFSNVUZRF5UHPMWZ6BFDTJ7M6USDXIEDNPPQYYYCU3VY"
#define DOC_PUBLIC "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4"

static void
test_nkey_public_key_of_the_documented_seed(void **state)
{
    char pub[NKEY_PUBLIC_LEN + 1];
    struct cdc_err err;

    (void) state;
    assert_int_equal(nkey_public_from_seed(DOC_SEED, pub, &err), CDC_OK);
    assert_string_equal(pub, DOC_PUBLIC);
}

static void
test_nkey_decode_then_encode_gives_the_seed_back(void **state)
{
    uint8_t raw[32], type = 0;
    char again[NKEY_SEED_LEN + 1];
    struct cdc_err err;

    (void) state;
    assert_int_equal(nkey_decode_seed(DOC_SEED, &type, raw, &err), CDC_OK);
    assert_int_equal(type, NKEY_USER);
    /* the documented seed's private bytes start 29 49 7b a0 (base32 "ACSSL3UA..." after "SU") */
    assert_int_equal(raw[0], 0x29);
    assert_int_equal(raw[1], 0x49);
    assert_true(nkey_encode(again, sizeof(again), true, type, raw));
    assert_string_equal(again, DOC_SEED);
    assert_false(nkey_encode(again, NKEY_SEED_LEN, true, type, raw)); /* no room for the NUL */
}

static void
test_nkey_crc16_is_xmodem(void **state)
{
    (void) state;
    /* the CRC-16/XMODEM check value of "123456789" is 0x31C3 */
    assert_int_equal(nkey_crc16((const uint8_t *) "123456789", 9), 0x31c3);
}

static void
test_nkey_rejects_bad_seeds_without_echoing_them(void **state)
{
    char bad[] = DOC_SEED, pub[NKEY_PUBLIC_LEN + 1];
    struct cdc_err err;

    (void) state;
    bad[10] = bad[10] == 'A' ? 'B' : 'A'; /* one character off: the checksum catches it */
    assert_int_equal(nkey_public_from_seed(bad, pub, &err), CDC_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "checksum"));
    assert_null(strstr(err.msg, "SUACSSL"));
    assert_int_equal(nkey_public_from_seed("SU1", pub, &err), CDC_ERR_CONFIG);
    assert_int_equal(nkey_public_from_seed(DOC_PUBLIC "AA", pub, &err), CDC_ERR_CONFIG);
}

static void
test_nkey_seed_file_may_hold_a_creds_block(void **state)
{
    char path[] = "/tmp/test_nkey.XXXXXX", pub[NKEY_PUBLIC_LEN + 1];
    int fd = mkstemp(path);
    FILE *f;
    struct cdc_err err;

    (void) state;
    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    fputs("-----BEGIN USER NKEY SEED-----\n" DOC_SEED "\n------END USER NKEY SEED------\n", f);
    fclose(f);
    assert_int_equal(nkey_public_from_seed_file(path, pub, &err), CDC_OK);
    assert_string_equal(pub, DOC_PUBLIC);
    f = fopen(path, "w");
    fputs("nothing here\n", f);
    fclose(f);
    assert_int_equal(nkey_public_from_seed_file(path, pub, &err), CDC_ERR_CONFIG);
    assert_non_null(strstr(err.msg, path));
    unlink(path);
    assert_int_equal(nkey_public_from_seed_file(path, pub, &err), CDC_ERR_CONFIG);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nkey_public_key_of_the_documented_seed),
        cmocka_unit_test(test_nkey_decode_then_encode_gives_the_seed_back),
        cmocka_unit_test(test_nkey_crc16_is_xmodem),
        cmocka_unit_test(test_nkey_rejects_bad_seeds_without_echoing_them),
        cmocka_unit_test(test_nkey_seed_file_may_hold_a_creds_block),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
