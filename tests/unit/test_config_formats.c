/*
 * test_config_formats.c - the configuration of event formats and routing:
 * cdc.format, cdc.cloudevents, cdc.metadata (the one mapping-valued key) and
 * nats.subject_template, loaded from a file, overridden with -X, dumped and
 * loaded back, and every problem reported as "file:line: key: problem".
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

#include "config/config.h"

#define DATA(name) CDC_TEST_DATA "/config/" name

static const char *const *test_env;

static const char *
test_getenv(const char *name)
{
    size_t n = strlen(name);

    for (int i = 0; test_env && test_env[i]; i++)
        if (strncmp(test_env[i], name, n) == 0 && test_env[i][n] == '=')
            return test_env[i] + n + 1;
    return NULL;
}

static const char *const no_env[] = {NULL};

struct loaded {
    struct cdc_config cfg;
    cdc_rc rc;
    char *out;
};

static void
load(struct loaded *l, const char *path, const char *const *env, const char *const *ov, int n)
{
    struct cdc_err err;
    size_t len;
    FILE *f = open_memstream(&l->out, &len);

    assert_non_null(f);
    test_env = env;
    cfg_init(&l->cfg);
    l->rc = cfg_load(&l->cfg, path, ov, n, test_getenv, f, &err);
    fclose(f);
}

static char *
check(const struct cdc_config *cfg, cdc_rc *rc)
{
    struct cdc_err err;
    char *out;
    size_t len;
    FILE *f = open_memstream(&out, &len);

    assert_non_null(f);
    *rc = cfg_check(cfg, f, &err);
    fclose(f);
    return out;
}

static void
unload(struct loaded *l)
{
    cfg_free(&l->cfg);
    free(l->out);
}

static void
test_defaults_are_native_without_cloudevents_or_labels(void **state)
{
    struct cdc_config c;

    (void) state;
    cfg_init(&c);
    assert_int_equal(c.cdc.format, CFG_FORMAT_NATIVE);
    assert_false(c.cdc.cloudevents);
    assert_int_equal(c.cdc.metadata.n, 0);
    assert_string_equal(c.nats.subject_template, "{prefix}.{database}.{schema}.{table}");
    cfg_free(&c);
}

static void
test_formats_file_is_loaded_with_its_lines(void **state)
{
    const char *const env[] = {"REGION=us-east-2", NULL};
    const struct cfg_strmap *m;
    struct loaded l;
    cdc_rc rc;
    char *out;

    (void) state;
    load(&l, DATA("formats.yaml"), env, NULL, 0);
    assert_string_equal(l.out, "");
    assert_int_equal(l.rc, CDC_OK);
    assert_int_equal(l.cfg.cdc.format, CFG_FORMAT_DEBEZIUM);
    assert_true(l.cfg.cdc.cloudevents);
    assert_string_equal(l.cfg.nats.subject_template,
                        "{prefix}.{database}.{table}.{op}.p{pk_hash:8}");
    m = &l.cfg.cdc.metadata;
    assert_int_equal(m->n, 3);
    assert_string_equal(m->keys[0], "team");
    assert_string_equal(m->values[0], "payments");
    assert_string_equal(m->keys[1], "region");
    assert_string_equal(m->values[1], "us-east-2"); /* values are interpolated */
    assert_string_equal(m->keys[2], "cost center");
    assert_string_equal(m->values[2], "42");
    assert_int_equal(m->lines[0], 13);
    assert_int_equal(m->lines[2], 15);
    assert_int_equal(l.cfg.origin[cfg_key_find("cdc.metadata")].line, 12);
    out = check(&l.cfg, &rc);
    assert_string_equal(out, "");
    assert_int_equal(rc, CDC_OK);
    free(out);
    unload(&l);
}

static void
test_overrides_set_a_whole_map_or_one_entry(void **state)
{
    const char *const ov[] = {"cdc.metadata=a=1, b = x=y", "cdc.metadata.c=3", "cdc.metadata.a=9",
                              "cdc.format=debezium", "cdc.cloudevents=on"};
    const struct cfg_strmap *m;
    struct loaded l;

    (void) state;
    load(&l, NULL, no_env, ov, 5);
    assert_string_equal(l.out, "");
    m = &l.cfg.cdc.metadata;
    assert_int_equal(m->n, 3);
    assert_string_equal(m->keys[0], "a");
    assert_string_equal(m->values[0], "9");
    assert_string_equal(m->keys[1], "b ");
    assert_string_equal(m->values[1], " x=y");
    assert_string_equal(m->keys[2], "c");
    assert_string_equal(m->values[2], "3");
    assert_int_equal(l.cfg.cdc.format, CFG_FORMAT_DEBEZIUM);
    assert_true(l.cfg.cdc.cloudevents);
    unload(&l);
}

static void
test_bad_formats_and_maps_are_reported_at_their_lines(void **state)
{
    struct loaded l;
    cdc_rc rc;
    char *out;

    (void) state;
    load(&l, DATA("formats_bad.yaml"), no_env, NULL, 0);
    assert_int_equal(l.rc, CDC_ERR_CONFIG);
    assert_string_equal(
        l.out,
        DATA("formats_bad.yaml") ":8: cdc.format: must be one of native, "
                                 "debezium, got \"avro\"\n" DATA(
                                     "formats_bad.yaml") ":11: cdc.metadata: names and values "
                                                         "must be scalars, got a mapping\n" DATA(
                                                             "formats_bad.yaml") ":13: "
                                                                                 "cdc.metadata: "
                                                                                 "duplicate name "
                                                                                 "\"team\" (first "
                                                                                 "at line 10)\n");
    out = check(&l.cfg, &rc);
    assert_int_equal(rc, CDC_ERR_CONFIG);
    assert_string_equal(out, DATA("formats_bad.yaml") ":6: nats.subject_template: unknown token "
                                                      "\"{tabel}\" (known: {prefix}, "
                                                      "{database}, {schema}, {table}, {op}, "
                                                      "{pk_hash:N})\n");
    free(out);
    unload(&l);
}

static void
test_out_of_range_partitions_and_uncovered_templates_are_reported(void **state)
{
    const char *const ov[] = {"nats.subject_template=events.{database}.{table}"};
    struct loaded l;
    cdc_rc rc;
    char *out;

    (void) state;
    load(&l, DATA("formats_uncovered.yaml"), no_env, NULL, 0);
    assert_string_equal(l.out, DATA("formats_uncovered.yaml") ":9: cdc.metadata: expected a "
                                                              "mapping, got a list\n");
    out = check(&l.cfg, &rc);
    assert_int_equal(rc, CDC_ERR_CONFIG);
    assert_string_equal(out, DATA("formats_uncovered.yaml") ":7: nats.subject_template: "
                                                            "{pk_hash:N}: N must be between 1 "
                                                            "and 1024, got 2000\n");
    free(out);
    unload(&l);

    load(&l, DATA("formats_uncovered.yaml"), no_env, ov, 1);
    out = check(&l.cfg, &rc);
    assert_int_equal(rc, CDC_ERR_CONFIG);
    assert_string_equal(out, "<override>: nats.subject_template: is not covered by the stream's "
                             "subjects \"cdc.>\" (the stream is created with them): start it "
                             "with \"{prefix}.\" and at least one more level\n");
    free(out);
    unload(&l);
}

static void
test_a_bad_map_override_is_reported(void **state)
{
    const char *const ov[] = {"cdc.metadata=team"};
    struct loaded l;

    (void) state;
    load(&l, NULL, no_env, ov, 1);
    assert_int_equal(l.rc, CDC_ERR_CONFIG);
    assert_string_equal(l.out, "<override>: cdc.metadata: expected a mapping, or name=value pairs "
                               "separated by commas\n");
    unload(&l);
}

static void
test_dump_prints_the_map_and_loads_back(void **state)
{
    char path[] = "/tmp/test_config_formats_XXXXXX";
    struct loaded a, b;
    char *first, *second;
    size_t len;
    FILE *f;
    int fd;

    (void) state;
    load(&a, DATA("formats.yaml"), no_env, NULL, 0);
    assert_int_equal(a.rc, CDC_OK);
    f = open_memstream(&first, &len);
    cfg_dump(&a.cfg, f);
    fclose(f);
    assert_non_null(strstr(first, "  subject_template: \"{prefix}.{database}.{table}.{op}."
                                  "p{pk_hash:8}\"\n"));
    assert_non_null(strstr(first, "  format: debezium\n  cloudevents: true\n  metadata:\n"
                                  "    \"team\": \"payments\"\n"
                                  "    \"region\": \"eu-west-1\"\n"
                                  "    \"cost center\": \"42\"\n"));
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, first, len), (ssize_t) len);
    close(fd);
    load(&b, path, no_env, NULL, 0);
    assert_string_equal(b.out, "");
    f = open_memstream(&second, &len);
    cfg_dump(&b.cfg, f);
    fclose(f);
    assert_string_equal(first, second);
    unlink(path);
    free(first);
    free(second);
    unload(&a);
    unload(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_are_native_without_cloudevents_or_labels),
        cmocka_unit_test(test_formats_file_is_loaded_with_its_lines),
        cmocka_unit_test(test_overrides_set_a_whole_map_or_one_entry),
        cmocka_unit_test(test_bad_formats_and_maps_are_reported_at_their_lines),
        cmocka_unit_test(test_out_of_range_partitions_and_uncovered_templates_are_reported),
        cmocka_unit_test(test_a_bad_map_override_is_reported),
        cmocka_unit_test(test_dump_prints_the_map_and_loads_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
