/*
 * test_ckpt.c - the checkpoint record, the file store, encryption at rest
 * (AES-256-GCM, key parsing, key ids) and nats-kv:// URL parsing.
 *
 * Key ids and base64 texts below were computed apart from our code (Python's
 * hashlib and base64): key A is the bytes 0..31, key B the bytes 255..224.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint/ckpt.h"

static char dir[] = "/tmp/test_ckpt.XXXXXX";

static int
setup(void **state)
{
    (void) state;
    strcpy(dir, "/tmp/test_ckpt.XXXXXX");
    return mkdtemp(dir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
    char cmd[128];

    (void) state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static struct ckpt_record
sample(void)
{
    struct ckpt_record r;

    memset(&r, 0, sizeof(r));
    r.version = CKPT_VERSION;
    strcpy(r.source, "orders");
    strcpy(r.engine, "postgres");
    r.lsn = ((cdc_lsn) 0x16 << 32) | 0xB374D848;
    strcpy(r.slot, "cdc_handler");
    strcpy(r.system_id, "7312345678901234567");
    r.timeline = 1;
    strcpy(r.stream, "CDC");
    r.stream_seq = 42;
    r.time_us = 1700000000123456;
    return r;
}

static void
path_in_dir(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", dir, name);
}

static void
write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void
test_ckpt_file_round_trip(void **state)
{
    struct ckpt_record in = sample(), out;
    struct ckpt_store *s = NULL;
    struct cdc_err err;
    char path[256], url[300];
    bool found = true;

    (void) state;
    path_in_dir(path, sizeof(path), "ckpt.json");
    snprintf(url, sizeof(url), "file://%s", path);
    assert_int_equal(ckpt_open(&s, url, NULL, &err), CDC_OK);
    assert_int_equal(ckpt_load(s, &out, &found, &err), CDC_OK);
    assert_false(found);
    assert_int_equal(ckpt_save(s, &in, &err), CDC_OK);
    assert_int_equal(ckpt_load(s, &out, &found, &err), CDC_OK);
    assert_true(found);
    assert_int_equal(out.lsn, in.lsn);
    assert_string_equal(out.source, "orders");
    assert_string_equal(out.engine, "postgres");
    assert_string_equal(out.slot, "cdc_handler");
    assert_string_equal(out.system_id, "7312345678901234567");
    assert_int_equal(out.timeline, 1);
    assert_string_equal(out.stream, "CDC");
    assert_int_equal(out.stream_seq, 42);
    assert_int_equal(out.time_us, 1700000000123456);
    /* no temp file is left behind */
    strcat(path, ".tmp");
    assert_int_not_equal(access(path, F_OK), 0);
    ckpt_close(s);
}

static void
test_ckpt_record_is_readable_json_with_lsn_text(void **state)
{
    struct ckpt_record in = sample();
    char buf[CKPT_MAX_LEN];
    struct cdc_err err;

    (void) state;
    assert_int_equal(ckpt_encode(&in, buf, sizeof(buf), &err), CDC_OK);
    assert_non_null(strstr(buf, "\"lsn\":\"16/B374D848\""));
    assert_non_null(strstr(buf, "\"version\":1,"));
    assert_non_null(strstr(buf, ",\"sha256\":\""));
}

/* A binlog position round-trips, with a MySQL GTID set; a PostgreSQL record has no binlog members.
 */
static void
test_ckpt_binlog_position_round_trips(void **state)
{
    struct ckpt_record in = sample(), out;
    char buf[CKPT_MAX_LEN];
    struct cdc_err err;

    (void) state;
    assert_int_equal(ckpt_encode(&in, buf, sizeof(buf), &err), CDC_OK);
    assert_null(strstr(buf, "binlog_file"));

    snprintf(in.engine, sizeof(in.engine), "mysql");
    snprintf(in.binlog_file, sizeof(in.binlog_file), "mysql-bin-changelog.000123");
    in.binlog_pos = 4294967295u; /* the largest offset a binlog file can have */
    snprintf(in.gtid_set, sizeof(in.gtid_set),
             "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:7-9,"
             "4e11fa47-71ca-11e1-9e33-c80aa9429562:1-77");
    assert_int_equal(ckpt_encode(&in, buf, sizeof(buf), &err), CDC_OK);
    assert_non_null(strstr(buf, ",\"binlog_file\":\"mysql-bin-changelog.000123\","
                                "\"binlog_pos\":4294967295,\"gtid_set\":\"3e11fa47-"));
    assert_int_equal(ckpt_decode(buf, strlen(buf), &out, &err), CDC_OK);
    assert_string_equal(out.binlog_file, in.binlog_file);
    assert_int_equal(out.binlog_pos, in.binlog_pos);
    assert_string_equal(out.gtid_set, in.gtid_set);
    assert_string_equal(out.engine, "mysql");
}

static void
test_ckpt_corrupt_record_is_fatal(void **state)
{
    struct ckpt_record in = sample(), out;
    char buf[CKPT_MAX_LEN], *p;
    struct cdc_err err;

    (void) state;
    assert_int_equal(ckpt_encode(&in, buf, sizeof(buf), &err), CDC_OK);
    /* one changed digit of the position */
    p = strstr(buf, "B374D848");
    p[0] = 'C';
    assert_int_equal(ckpt_decode(buf, strlen(buf), &out, &err), CDC_ERR_FATAL);
    assert_non_null(strstr(err.msg, "corrupt"));
}

static void
test_ckpt_truncated_or_empty_file_is_fatal(void **state)
{
    struct ckpt_record in = sample(), out;
    struct ckpt_store *s = NULL;
    char buf[CKPT_MAX_LEN], path[256];
    struct cdc_err err;
    bool found;

    (void) state;
    path_in_dir(path, sizeof(path), "torn.json");
    assert_int_equal(ckpt_encode(&in, buf, sizeof(buf), &err), CDC_OK);
    buf[strlen(buf) / 2] = '\0';
    write_file(path, buf);
    assert_int_equal(ckpt_open(&s, path, NULL, &err), CDC_OK);
    assert_int_equal(ckpt_load(s, &out, &found, &err), CDC_ERR_FATAL);
    assert_non_null(strstr(err.msg, path));
    write_file(path, "");
    assert_int_equal(ckpt_load(s, &out, &found, &err), CDC_ERR_FATAL);
    ckpt_close(s);
}

static void
test_ckpt_leftover_temp_file_does_not_affect_the_record(void **state)
{
    struct ckpt_record in = sample(), out;
    struct ckpt_store *s = NULL;
    char path[256], tmp[300];
    struct cdc_err err;
    bool found;

    (void) state;
    path_in_dir(path, sizeof(path), "ckpt.json");
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    assert_int_equal(ckpt_open(&s, path, NULL, &err), CDC_OK);
    assert_int_equal(ckpt_save(s, &in, &err), CDC_OK);
    /* a crash in the middle of the next save leaves a partial temp file */
    write_file(tmp, "{\"version\":1,\"sou");
    assert_int_equal(ckpt_load(s, &out, &found, &err), CDC_OK);
    assert_true(found);
    assert_int_equal(out.lsn, in.lsn);
    /* and the next save replaces it */
    in.lsn += 100;
    assert_int_equal(ckpt_save(s, &in, &err), CDC_OK);
    assert_int_equal(ckpt_load(s, &out, &found, &err), CDC_OK);
    assert_int_equal(out.lsn, in.lsn);
    ckpt_close(s);
}

static void
test_ckpt_unwritable_directory_is_an_io_error(void **state)
{
    struct ckpt_record in = sample();
    struct ckpt_store *s = NULL;
    struct cdc_err err;
    char path[256];

    (void) state;
    path_in_dir(path, sizeof(path), "missing-dir/ckpt.json");
    assert_int_equal(ckpt_open(&s, path, NULL, &err), CDC_OK);
    assert_int_equal(ckpt_save(s, &in, &err), CDC_ERR_IO);
    assert_non_null(strstr(err.msg, "missing-dir/ckpt.json.tmp"));
    ckpt_close(s);
}

static void
test_ckpt_unknown_scheme_is_a_config_error(void **state)
{
    struct ckpt_store *s = NULL;
    struct cdc_err err;

    (void) state;
    assert_int_equal(ckpt_open(&s, "ftp://host/x", NULL, &err), CDC_ERR_CONFIG);
    assert_null(s);
    assert_non_null(strstr(err.msg, "\"ftp\""));
    assert_int_equal(ckpt_open(&s, "", NULL, &err), CDC_ERR_CONFIG);
}

static void
test_ckpt_names_with_quotes_are_refused(void **state)
{
    struct ckpt_record in = sample();
    char buf[CKPT_MAX_LEN];
    struct cdc_err err;

    (void) state;
    strcpy(in.source, "bad\"name");
    assert_int_equal(ckpt_encode(&in, buf, sizeof(buf), &err), CDC_ERR_CONFIG);
}


/* ---- encryption at rest ---- */

#define KEY_A_HEX "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define KEY_A_B64 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define KEY_A_KID "630dcd2966c43366" /* sha256(key A)[0..8) */
#define KEY_B_HEX "fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0efeeedecebeae9e8e7e6e5e4e3e2e1e0"
#define KEY_B_KID "1865c00831e73f7e"

static unsigned char key_a[CKPT_KEY_LEN], key_b[CKPT_KEY_LEN];

static int
setup_keys(void **state)
{
    for (int i = 0; i < CKPT_KEY_LEN; i++) {
        key_a[i] = (unsigned char) i;
        key_b[i] = (unsigned char) (255 - i);
    }
    return setup(state);
}

/* A file store in dir, encrypting with key (NULL: none). */
static struct ckpt_store *
open_file(const char *name, const unsigned char *key)
{
    struct ckpt_store *s = NULL;
    struct ckpt_opts o;
    struct cdc_err err;
    char path[256];

    path_in_dir(path, sizeof(path), name);
    ckpt_opts_init(&o);
    o.key = key;
    if (ckpt_open(&s, path, &o, &err) != CDC_OK)
        fail_msg("ckpt_open(%s): %s", path, err.msg);
    return s;
}

static char *
read_back(const char *name)
{
    static char text[8192];
    char path[256];
    FILE *f;
    size_t n;

    path_in_dir(path, sizeof(path), name);
    f = fopen(path, "r");
    assert_non_null(f);
    n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    return text;
}

/* The base64 text of member m of the envelope, copied into out. */
static void
envelope_member(const char *text, const char *m, char *out, size_t cap)
{
    char pat[32];
    const char *p, *q;

    snprintf(pat, sizeof(pat), "\"%s\":\"", m);
    p = strstr(text, pat);
    assert_non_null(p);
    p += strlen(pat);
    q = strchr(p, '"');
    assert_non_null(q);
    assert_true((size_t) (q - p) < cap);
    memcpy(out, p, (size_t) (q - p));
    out[q - p] = '\0';
}

static void
test_ckpt_encrypted_round_trip_hides_the_record(void **state)
{
    struct ckpt_record in = sample(), out;
    struct ckpt_store *s;
    struct cdc_err err;
    char iv1[64], iv2[64], ct[2048], *text;
    bool found = false;

    (void) state;
    s = open_file("enc.json", key_a);
    assert_int_equal(ckpt_save(s, &in, &err), CDC_OK);
    text = read_back("enc.json");
    /* versioned, self-describing, and nothing of the record in clear */
    assert_memory_equal(text, "{\"enc\":\"aes-256-gcm\",\"kid\":\"" KEY_A_KID "\",\"iv\":\"", 48);
    assert_null(strstr(text, "orders"));
    assert_null(strstr(text, "B374D848"));
    assert_null(strstr(text, "sha256"));
    envelope_member(text, "iv", iv1, sizeof(iv1));
    assert_int_equal(strlen(iv1), 16); /* 12 bytes */
    envelope_member(text, "tag", ct, sizeof(ct));
    assert_int_equal(strlen(ct), 24); /* 16 bytes */
    assert_int_equal(ckpt_load(s, &out, &found, &err), CDC_OK);
    assert_true(found);
    assert_int_equal(out.lsn, in.lsn);
    assert_string_equal(out.source, "orders");
    assert_int_equal(out.stream_seq, 42);
    /* the same record saved again: a fresh IV, so another ciphertext */
    envelope_member(text, "ct", ct, sizeof(ct));
    assert_int_equal(ckpt_save(s, &in, &err), CDC_OK);
    text = read_back("enc.json");
    envelope_member(text, "iv", iv2, sizeof(iv2));
    assert_string_not_equal(iv1, iv2);
    assert_null(strstr(text, ct));
    ckpt_close(s);
    /* another store with the same key, given in base64, reads it */
    {
        unsigned char k[CKPT_KEY_LEN];

        assert_int_equal(ckpt_key_parse(KEY_A_B64, strlen(KEY_A_B64), k, &err), CDC_OK);
        s = open_file("enc.json", k);
    }
    assert_int_equal(ckpt_load(s, &out, &found, &err), CDC_OK);
    assert_int_equal(out.time_us, in.time_us);
    ckpt_close(s);
}

/* Replace the first character of member m's value with another base64 character. */
static void
tamper(const char *name, const char *m)
{
    char path[256], pat[32], *text = read_back(name), *p;

    snprintf(pat, sizeof(pat), "\"%s\":\"", m);
    p = strstr(text, pat);
    assert_non_null(p);
    p += strlen(pat);
    *p = *p == 'A' ? 'B' : 'A';
    path_in_dir(path, sizeof(path), name);
    write_file(path, text);
}

static void
test_ckpt_encrypted_tampered_record_is_fatal(void **state)
{
    static const char *const members[] = {"ct", "tag", "iv"};
    struct ckpt_record in = sample(), out;
    struct ckpt_store *s;
    struct cdc_err err;
    bool found = true;

    (void) state;
    s = open_file("tamper.json", key_a);
    for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
        assert_int_equal(ckpt_save(s, &in, &err), CDC_OK);
        tamper("tamper.json", members[i]);
        assert_int_equal(ckpt_load(s, &out, &found, &err), CDC_ERR_FATAL);
        assert_false(found);
        assert_non_null(strstr(err.msg, "authentication failed"));
        assert_non_null(strstr(err.msg, "tamper.json"));
    }
    /* an edited key id names the two ids */
    assert_int_equal(ckpt_save(s, &in, &err), CDC_OK);
    tamper("tamper.json", "kid");
    assert_int_equal(ckpt_load(s, &out, &found, &err), CDC_ERR_FATAL);
    assert_non_null(strstr(err.msg, "configured key is " KEY_A_KID));
    /* a truncated envelope */
    {
        char path[256], *text;

        assert_int_equal(ckpt_save(s, &in, &err), CDC_OK);
        text = read_back("tamper.json");
        text[strlen(text) / 2] = '\0';
        path_in_dir(path, sizeof(path), "tamper.json");
        write_file(path, text);
        assert_int_equal(ckpt_load(s, &out, &found, &err), CDC_ERR_FATAL);
        assert_non_null(strstr(err.msg, "corrupt"));
    }
    ckpt_close(s);
}

static void
test_ckpt_encrypted_with_another_key_or_none_is_fatal(void **state)
{
    struct ckpt_record in = sample(), out;
    struct ckpt_store *s;
    struct cdc_err err;
    bool found = true;

    (void) state;
    s = open_file("keys.json", key_a);
    assert_int_equal(ckpt_save(s, &in, &err), CDC_OK);
    ckpt_close(s);
    s = open_file("keys.json", key_b);
    assert_int_equal(ckpt_load(s, &out, &found, &err), CDC_ERR_FATAL);
    assert_false(found);
    print_message("wrong key: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "checkpoint was written with key id " KEY_A_KID
                                    ", configured key is " KEY_B_KID));
    ckpt_close(s);
    s = open_file("keys.json", NULL);
    assert_int_equal(ckpt_load(s, &out, &found, &err), CDC_ERR_FATAL);
    print_message("no key: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "encrypted (key id " KEY_A_KID ")"));
    assert_non_null(strstr(err.msg, "cdc.checkpoint_encryption_key"));
    ckpt_close(s);
}

static void
test_ckpt_plain_record_is_accepted_when_a_key_is_configured(void **state)
{
    struct ckpt_record in = sample(), out;
    struct ckpt_store *s;
    struct cdc_err err;
    bool found = false;

    (void) state;
    s = open_file("migrate.json", NULL);
    assert_int_equal(ckpt_save(s, &in, &err), CDC_OK);
    ckpt_close(s);
    s = open_file("migrate.json", key_a);
    assert_int_equal(ckpt_load(s, &out, &found, &err), CDC_OK);
    assert_true(found);
    assert_int_equal(out.lsn, in.lsn);
    /* and the next save is encrypted */
    in.lsn += 8;
    assert_int_equal(ckpt_save(s, &in, &err), CDC_OK);
    assert_non_null(strstr(read_back("migrate.json"), "\"kid\":\"" KEY_A_KID "\""));
    assert_int_equal(ckpt_load(s, &out, &found, &err), CDC_OK);
    assert_int_equal(out.lsn, in.lsn);
    ckpt_close(s);
}

static void
test_ckpt_key_parse_accepts_hex_and_base64(void **state)
{
    static const char *const good[] = {
        KEY_A_HEX,        "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
        KEY_A_B64,        "  " KEY_A_HEX "\n",
        KEY_A_B64 "\r\n",
    };
    unsigned char k[CKPT_KEY_LEN];
    struct cdc_err err;
    char kid[17];

    (void) state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        memset(k, 0xAA, sizeof(k));
        if (ckpt_key_parse(good[i], strlen(good[i]), k, &err) != CDC_OK)
            fail_msg("\"%s\": %s", good[i], err.msg);
        assert_memory_equal(k, key_a, CKPT_KEY_LEN);
    }
    ckpt_key_id(key_a, kid);
    assert_string_equal(kid, KEY_A_KID);
    ckpt_key_id(key_b, kid);
    assert_string_equal(kid, KEY_B_KID);
}

static void
test_ckpt_key_parse_refuses_anything_else_without_echoing_it(void **state)
{
    static const char *const bad[] = {
        "",
        "secret",
        /* 63 and 65 hex digits */
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1",
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f0",
        /* 64 characters, one not hex */
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1g",
        /* base64 of 31 and of 33 bytes */
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==",
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g",
        /* base64 without its padding, and with a character outside the alphabet */
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh*=",
        "0001020304050607 08090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
    };
    unsigned char k[CKPT_KEY_LEN];
    struct cdc_err err;

    (void) state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (ckpt_key_parse(bad[i], strlen(bad[i]), k, &err) != CDC_ERR_CONFIG)
            fail_msg("\"%s\" was accepted as a key", bad[i]);
        assert_non_null(strstr(err.msg, "64 hex digits or the base64 of 32 bytes"));
        if (bad[i][0] != '\0')
            assert_null(strstr(err.msg, bad[i]));
    }
}

static void
test_ckpt_key_file_is_read_and_its_problems_name_the_path(void **state)
{
    unsigned char k[CKPT_KEY_LEN];
    struct cdc_err err;
    char path[256];

    (void) state;
    path_in_dir(path, sizeof(path), "key");
    write_file(path, KEY_A_B64 "\n");
    assert_int_equal(ckpt_key_read_file(path, k, &err), CDC_OK);
    assert_memory_equal(k, key_a, CKPT_KEY_LEN);
    write_file(path, "not-the-key-Zq9\n");
    assert_int_equal(ckpt_key_read_file(path, k, &err), CDC_ERR_CONFIG);
    assert_non_null(strstr(err.msg, path));
    assert_null(strstr(err.msg, "not-the-key-Zq9"));
    path_in_dir(path, sizeof(path), "no-such-key");
    assert_int_equal(ckpt_key_read_file(path, k, &err), CDC_ERR_CONFIG);
    assert_non_null(strstr(err.msg, path));
}

/* ---- nats-kv:// URLs (no server needed: nothing connects before the first load) ---- */

static void
test_ckpt_kv_urls_are_parsed_and_described_without_credentials(void **state)
{
    static const char *const bad[] = {
        "nats-kv://",
        "nats-kv://bucket",
        "nats-kv://bucket/",
        "nats-kv://bu.cket/key",
        "nats-kv://bucket/.key",
        "nats-kv://bucket/a..b",
        "nats-kv://bucket/key*",
        "nats-kv://bucket/key?history=0",
        "nats-kv://bucket/key?history=65",
        "nats-kv://bucket/key?replicas=6",
        "nats-kv://bucket/key?timeout=0",
        "nats-kv://bucket/key?bogus=1",
    };
    static const char *const urls[] = {"nats://ckptuser:Kv-Pw-77@127.0.0.1:1"};
    struct ckpt_store *s = NULL;
    struct ckpt_opts o;
    struct cdc_err err;

    (void) state;
    ckpt_opts_init(&o);
    o.nats_urls = urls;
    o.n_nats_urls = 1;
    o.nats_username = "ckptuser";
    o.nats_password = "Kv-Pw-77";
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (ckpt_open(&s, bad[i], &o, &err) != CDC_ERR_CONFIG)
            fail_msg("%s: expected a config error", bad[i]);
        assert_null(s);
        assert_null(strstr(err.msg, "Kv-Pw-77"));
    }
    assert_int_equal(
        ckpt_open(&s, "nats-kv://CDC_ckpt/orders.main?replicas=1&history=5&timeout=250", &o, &err),
        CDC_OK);
    assert_string_equal(ckpt_describe(s), "nats-kv://CDC_ckpt/orders.main");
    ckpt_close(s);
    s = NULL;
    /* without NATS servers there is nothing to connect to */
    o.n_nats_urls = 0;
    assert_int_equal(ckpt_open(&s, "nats-kv://b/k", &o, &err), CDC_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "nats.urls"));
    assert_null(s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ckpt_file_round_trip, setup, teardown),
        cmocka_unit_test(test_ckpt_record_is_readable_json_with_lsn_text),
        cmocka_unit_test(test_ckpt_binlog_position_round_trips),
        cmocka_unit_test(test_ckpt_corrupt_record_is_fatal),
        cmocka_unit_test_setup_teardown(test_ckpt_truncated_or_empty_file_is_fatal, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ckpt_leftover_temp_file_does_not_affect_the_record,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_ckpt_unwritable_directory_is_an_io_error, setup,
                                        teardown),
        cmocka_unit_test(test_ckpt_unknown_scheme_is_a_config_error),
        cmocka_unit_test(test_ckpt_names_with_quotes_are_refused),
        cmocka_unit_test_setup_teardown(test_ckpt_encrypted_round_trip_hides_the_record, setup_keys,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ckpt_encrypted_tampered_record_is_fatal, setup_keys,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ckpt_encrypted_with_another_key_or_none_is_fatal,
                                        setup_keys, teardown),
        cmocka_unit_test_setup_teardown(test_ckpt_plain_record_is_accepted_when_a_key_is_configured,
                                        setup_keys, teardown),
        cmocka_unit_test_setup_teardown(test_ckpt_key_parse_accepts_hex_and_base64, setup_keys,
                                        teardown),
        cmocka_unit_test(test_ckpt_key_parse_refuses_anything_else_without_echoing_it),
        cmocka_unit_test_setup_teardown(test_ckpt_key_file_is_read_and_its_problems_name_the_path,
                                        setup_keys, teardown),
        cmocka_unit_test(test_ckpt_kv_urls_are_parsed_and_described_without_credentials),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
