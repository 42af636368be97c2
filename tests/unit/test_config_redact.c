/*
 * test_config_redact.c - the configuration of sensitive fields: the YAML
 * mapping forms of cdc.sensitive_fields and their string form, the hash key
 * (environment, *_FILE, never echoed nor dumped) and its id, and the problems
 * reported as "file:line: key: problem". Expected lines are counted by hand in
 * the YAML written here.
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

#define KEY "cfg-test-key-0123456789"

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
    char *out;   /* what cfg_load() wrote */
    char *check; /* what cfg_check() wrote */
    cdc_rc check_rc;
    char *path;
};

static char *
write_temp(const char *text)
{
    char *path = strdup("/tmp/test_config_redact_XXXXXX.yaml");
    int fd = mkstemps(path, 5);
    FILE *f;

    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

/* The required keys, then `tail` (the cdc section and what follows), loaded and checked. */
static void
load(struct loaded *l, const char *tail, const char *const *env, const char *const *ov, int n)
{
    char yaml[2048];
    struct cdc_err err;
    size_t len;
    FILE *f;

    snprintf(yaml, sizeof(yaml), "rds:\n  endpoint: db\n  username: u\n  database: d\n%s", tail);
    l->path = write_temp(yaml);
    f = open_memstream(&l->out, &len);
    assert_non_null(f);
    test_env = env;
    cfg_init(&l->cfg);
    l->rc = cfg_load(&l->cfg, l->path, ov, n, test_getenv, f, &err);
    fclose(f);
    f = open_memstream(&l->check, &len);
    assert_non_null(f);
    l->check_rc = cfg_check(&l->cfg, f, &err);
    fclose(f);
}

static void
unload(struct loaded *l)
{
    unlink(l->path);
    free(l->path);
    free(l->out);
    free(l->check);
    cfg_free(&l->cfg);
}

/* got == tmpl with every "{F}" replaced by path */
static void
assert_output(const char *got, const char *path, const char *tmpl)
{
    char want[4096] = "";
    const char *p;

    while ((p = strstr(tmpl, "{F}")) != NULL) {
        strncat(want, tmpl, (size_t) (p - tmpl));
        strcat(want, path);
        tmpl = p + 3;
    }
    strcat(want, tmpl);
    assert_string_equal(got, want);
}

static char *
dump(const struct cdc_config *cfg)
{
    char *out;
    size_t len;
    FILE *f = open_memstream(&out, &len);

    assert_non_null(f);
    cfg_dump(cfg, f);
    fclose(f);
    return out;
}

static void
test_cfg_sensitive_fields_yaml_forms(void **state)
{
    const char *const want[] = {"password",     "email=hash", "ssn=mask",        "name=truncate:4",
                                "pub.t.x=drop", "card",       "pub.notes=detect"};
    const int lines[] = {7, 8, 9, 10, 11, 13, 14};
    struct loaded l;

    (void) state;
    load(&l,
         "cdc:\n"                                    /* 5 */
         "  sensitive_fields:\n"                     /* 6 */
         "    - password\n"                          /* 7 */
         "    - {column: email, action: hash}\n"     /* 8 */
         "    - ssn: mask\n"                         /* 9 */
         "    - name: truncate:4\n"                  /* 10 */
         "    - column: pub.t.x\n"                   /* 11 */
         "      action: drop\n"                      /* 12 */
         "    - {column: card}\n"                    /* 13 */
         "    - {table: pub.notes, detect: true}\n"  /* 14 */
         "    - {table: pub.other, detect: false}\n" /* 15: no item */
         "  sensitive_hash_key_id: \"2024-06\"\n",   /* 16 */
         (const char *const[]){"SENSITIVE_HASH_KEY=" KEY, NULL}, NULL, 0);
    assert_string_equal(l.out, "");
    assert_int_equal(l.rc, CDC_OK);
    assert_string_equal(l.check, "");
    assert_int_equal(l.cfg.cdc.sensitive_fields.n, 7);
    for (int i = 0; i < 7; i++) {
        assert_string_equal(l.cfg.cdc.sensitive_fields.items[i], want[i]);
        assert_int_equal(l.cfg.cdc.sensitive_fields.lines[i], lines[i]);
    }
    assert_string_equal(l.cfg.cdc.sensitive_hash_key, KEY);
    assert_string_equal(l.cfg.cdc.sensitive_hash_key_id, "2024-06");
    unload(&l);
}

static void
test_cfg_sensitive_fields_string_form_from_overrides(void **state)
{
    const char *ov[] = {"cdc.sensitive_fields=password, ssn=mask,email=hash ,n=truncate:3",
                        "cdc.sensitive_hash_key=" KEY, "cdc.sensitive_hash_key_id=k1"};
    struct loaded l;

    (void) state;
    load(&l, "", no_env, ov, 3);
    assert_int_equal(l.rc, CDC_OK);
    assert_string_equal(l.check, "");
    assert_int_equal(l.cfg.cdc.sensitive_fields.n, 4);
    assert_string_equal(l.cfg.cdc.sensitive_fields.items[1], "ssn=mask");
    assert_string_equal(l.cfg.cdc.sensitive_fields.items[2], "email=hash");
    assert_string_equal(l.cfg.cdc.sensitive_fields.items[3], "n=truncate:3");
    unload(&l);
}

static void
test_cfg_sensitive_fields_bad_mappings_at_their_lines(void **state)
{
    struct loaded l;

    (void) state;
    load(&l,
         "cdc:\n"                                            /* 5 */
         "  sensitive_fields:\n"                             /* 6 */
         "    - {column: a, colour: red}\n"                  /* 7 */
         "    - {action: mask}\n"                            /* 8 */
         "    - {table: s.t}\n"                              /* 9 */
         "    - {column: x, detect: true}\n"                 /* 10 */
         "    - {table: s.t, detect: maybe}\n"               /* 11 */
         "    - {column: [a, b], action: mask}\n"            /* 12 */
         "    - {table: s.t, detect: true, action: mask}\n", /* 13 */
         no_env, NULL, 0);
    assert_int_equal(l.rc, CDC_ERR_CONFIG);
    assert_output(l.out, l.path,
                  "{F}:7: cdc.sensitive_fields: unknown key \"colour\" in a rule (expected column "
                  "and action, or table and detect)\n"
                  "{F}:8: cdc.sensitive_fields: a rule names either a column or a table\n"
                  "{F}:9: cdc.sensitive_fields: a table rule is {table: schema.table, detect: "
                  "true}\n"
                  "{F}:10: cdc.sensitive_fields: detect applies to a table, not a column\n"
                  "{F}:11: cdc.sensitive_fields: detect must be true or false\n"
                  "{F}:12: cdc.sensitive_fields: a rule's keys and values must be scalars\n"
                  "{F}:13: cdc.sensitive_fields: a table rule is {table: schema.table, detect: "
                  "true}\n");
    unload(&l);
}

static void
test_cfg_sensitive_fields_bad_rules_at_their_lines(void **state)
{
    struct loaded l;

    (void) state;
    load(&l,
         "cdc:\n"                                  /* 5 */
         "  sensitive_fields:\n"                   /* 6 */
         "    - ok_column\n"                       /* 7 */
         "    - {column: ssn, action: scramble}\n" /* 8 */
         "    - name: truncate\n"                  /* 9 */
         "    - users.email: mask\n"               /* 10 */
         "    - {column: email, action: hash}\n"   /* 11 */
         "    - note: detect\n"                    /* 12 */
         "    - \"\"\n"                            /* 13 */
         "    - x: truncate:0\n",                  /* 14 */
         no_env, NULL, 0);
    assert_string_equal(l.out, "");
    assert_int_equal(l.check_rc, CDC_ERR_CONFIG);
    assert_output(l.check, l.path,
                  "{F}:8: cdc.sensitive_fields: item 2: unknown action \"scramble\" (expected "
                  "drop, mask, hash, truncate:N or detect)\n"
                  "{F}:9: cdc.sensitive_fields: item 3: truncate needs a length: truncate:N\n"
                  "{F}:10: cdc.sensitive_fields: item 4: \"users.email\": write a plain column "
                  "name or schema.table.column\n"
                  "{F}:12: cdc.sensitive_fields: item 6: detect applies to a table: write "
                  "schema.table=detect, got \"note\"\n"
                  "{F}:13: cdc.sensitive_fields: item 7 is empty\n"
                  "{F}:14: cdc.sensitive_fields: item 8: truncate:N needs N between 1 and "
                  "1000000, got \"0\"\n"
                  "{F}:11: cdc.sensitive_fields: item 5: hash needs a key: set "
                  "cdc.sensitive_hash_key (or SENSITIVE_HASH_KEY, SENSITIVE_HASH_KEY_FILE)\n"
                  "{F}:11: cdc.sensitive_fields: item 5: hash needs a key id: set "
                  "cdc.sensitive_hash_key_id (or SENSITIVE_HASH_KEY_ID)\n");
    unload(&l);
}

static void
test_cfg_hash_key_problems_never_echo_the_key(void **state)
{
    struct loaded l;

    (void) state;
    load(&l,
         "cdc:\n"                                     /* 5 */
         "  sensitive_fields: [\"email=hash\"]\n"     /* 6 */
         "  sensitive_hash_key: \"Short-Key-Text\"\n" /* 7 */
         "  sensitive_hash_key_id: \"k:1\"\n",        /* 8 */
         no_env, NULL, 0);
    assert_int_equal(l.rc, CDC_OK);
    assert_int_equal(l.check_rc, CDC_ERR_CONFIG);
    assert_output(l.check, l.path,
                  "{F}:7: cdc.sensitive_hash_key: must be at least 16 bytes\n"
                  "{F}:8: cdc.sensitive_hash_key_id: must be 1 to 32 characters among A-Z, a-z, "
                  "0-9, _, . and -, got \"k:1\"\n");
    assert_null(strstr(l.check, "Short-Key"));
    unload(&l);
    /* the same from the environment */
    load(&l, "cdc:\n  sensitive_fields: [\"email=hash\"]\n",
         (const char *const[]){"SENSITIVE_HASH_KEY=Short-Key-Text", "SENSITIVE_HASH_KEY_ID=k1",
                               NULL},
         NULL, 0);
    assert_string_equal(l.check, "<env>: SENSITIVE_HASH_KEY: must be at least 16 bytes\n");
    unload(&l);
}

static void
test_cfg_hash_key_from_a_file_is_masked_in_the_dump(void **state)
{
    char *kpath = write_temp(KEY "\n"), env_file[256], *out, *again;
    struct loaded l, b;

    (void) state;
    snprintf(env_file, sizeof(env_file), "SENSITIVE_HASH_KEY_FILE=%s", kpath);
    load(&l,
         "cdc:\n"
         "  sensitive_fields:\n"
         "    - {column: email, action: hash}\n"
         "    - {table: s.t, detect: true}\n",
         (const char *const[]){env_file, "SENSITIVE_HASH_KEY_ID=k7", NULL}, NULL, 0);
    assert_int_equal(l.rc, CDC_OK);
    assert_string_equal(l.check, "");
    /* one trailing newline removed */
    assert_string_equal(l.cfg.cdc.sensitive_hash_key, KEY);
    out = dump(&l.cfg);
    assert_null(strstr(out, KEY));
    assert_non_null(strstr(out, "  sensitive_fields:\n"
                                "    - \"email=hash\"\n"
                                "    - \"s.t=detect\"\n"
                                "  sensitive_hash_key: \"********\"\n"
                                "  sensitive_hash_key_id: \"k7\"\n"));
    /* the dump loads back to the same rules */
    b.path = write_temp(out);
    {
        struct cdc_err err;
        size_t len;
        FILE *f = open_memstream(&b.out, &len);

        test_env = no_env;
        cfg_init(&b.cfg);
        b.rc = cfg_load(&b.cfg, b.path, NULL, 0, test_getenv, f, &err);
        fclose(f);
    }
    assert_int_equal(b.rc, CDC_OK);
    again = dump(&b.cfg);
    assert_string_equal(out, again);
    free(again);
    free(out);
    unlink(b.path);
    free(b.path);
    free(b.out);
    cfg_free(&b.cfg);
    unload(&l);
    /* both the variable and its _FILE: a problem, the value never shown */
    snprintf(env_file, sizeof(env_file), "SENSITIVE_HASH_KEY_FILE=%s", kpath);
    load(&l, "", (const char *const[]){env_file, "SENSITIVE_HASH_KEY=" KEY, NULL}, NULL, 0);
    assert_int_equal(l.rc, CDC_ERR_CONFIG);
    assert_string_equal(l.out, "<env>: SENSITIVE_HASH_KEY_FILE: SENSITIVE_HASH_KEY is set too: "
                               "set only one of them\n");
    unload(&l);
    unlink(kpath);
    free(kpath);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cfg_sensitive_fields_yaml_forms),
        cmocka_unit_test(test_cfg_sensitive_fields_string_form_from_overrides),
        cmocka_unit_test(test_cfg_sensitive_fields_bad_mappings_at_their_lines),
        cmocka_unit_test(test_cfg_sensitive_fields_bad_rules_at_their_lines),
        cmocka_unit_test(test_cfg_hash_key_problems_never_echo_the_key),
        cmocka_unit_test(test_cfg_hash_key_from_a_file_is_masked_in_the_dump),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
