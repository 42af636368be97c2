/*
 * test_ckpt.c - the checkpoint record and the file store.
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
    assert_int_equal(ckpt_open(&s, url, &err), CDC_OK);
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
    assert_int_equal(ckpt_open(&s, path, &err), CDC_OK);
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
    assert_int_equal(ckpt_open(&s, path, &err), CDC_OK);
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
    assert_int_equal(ckpt_open(&s, path, &err), CDC_OK);
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
    assert_int_equal(ckpt_open(&s, "ftp://host/x", &err), CDC_ERR_CONFIG);
    assert_null(s);
    assert_non_null(strstr(err.msg, "\"ftp\""));
    assert_int_equal(ckpt_open(&s, "", &err), CDC_ERR_CONFIG);
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

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ckpt_file_round_trip, setup, teardown),
        cmocka_unit_test(test_ckpt_record_is_readable_json_with_lsn_text),
        cmocka_unit_test(test_ckpt_corrupt_record_is_fatal),
        cmocka_unit_test_setup_teardown(test_ckpt_truncated_or_empty_file_is_fatal, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ckpt_leftover_temp_file_does_not_affect_the_record,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_ckpt_unwritable_directory_is_an_io_error, setup,
                                        teardown),
        cmocka_unit_test(test_ckpt_unknown_scheme_is_a_config_error),
        cmocka_unit_test(test_ckpt_names_with_quotes_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
