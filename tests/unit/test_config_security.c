/*
 * test_config_security.c - the security keys of the configuration: secrets
 * from *_FILE variables, the warning for a world-readable file that holds
 * secrets, the checks on rds.auth, NATS authentication and TLS files, and
 * the masking of nats.token.
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

#include "config/config.h"

static const char *const *test_env;

static const char *
test_getenv(const char *name)
{
    size_t n = strlen(name);

    for (const char *const *e = test_env; e != NULL && *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return *e + n + 1;
    return NULL;
}

/* A temp file holding s (mode 0600 from mkstemp); path is a "/tmp/...XXXXXX" template. */
static void
write_tmp(char *path, const char *s)
{
    int fd = mkstemp(path);
    FILE *f;

    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    fputs(s, f);
    fclose(f);
}

static void
rewrite(const char *path, const char *s)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(s, f);
    fclose(f);
}

struct run {
    struct cdc_config cfg;
    cdc_rc load_rc, check_rc;
    char *out; /* everything cfg_load, cfg_warn_exposed and cfg_check wrote */
};

static void
run(struct run *r, const char *path, const char *const *env, const char *const *ov, int n)
{
    size_t len;
    FILE *f = open_memstream(&r->out, &len);
    struct cdc_err err;

    test_env = env;
    cfg_init(&r->cfg);
    r->load_rc = cfg_load(&r->cfg, path, ov, n, test_getenv, f, &err);
    (void) cfg_warn_exposed(&r->cfg, f);
    r->check_rc = cfg_check(&r->cfg, f, &err);
    fclose(f);
}

static void
done(struct run *r)
{
    cfg_free(&r->cfg);
    free(r->out);
}

#define BASE "rds.endpoint=db", "rds.username=u", "rds.database=d"

static void
test_secrets_come_from_file_variables(void **state)
{
    char pw[] = "/tmp/test_cfgsec.XXXXXX", tok[] = "/tmp/test_cfgsec.XXXXXX";
    char e1[80], e2[80];
    const char *env[] = {e1, e2, NULL};
    const char *ov[] = {BASE};
    struct run r;

    (void) state;
    write_tmp(pw, "Rds-From-File-1\n");
    write_tmp(tok, "Nats-Tok-File-2\r\n");
    snprintf(e1, sizeof(e1), "AWS_RDS_PASSWORD_FILE=%s", pw);
    snprintf(e2, sizeof(e2), "NATS_TOKEN_FILE=%s", tok);
    run(&r, NULL, env, ov, 3);
    assert_string_equal(r.out, "");
    assert_int_equal(r.load_rc, CDC_OK);
    assert_string_equal(r.cfg.rds.password, "Rds-From-File-1");
    assert_string_equal(r.cfg.nats.token, "Nats-Tok-File-2");
    assert_int_equal(r.cfg.origin[cfg_key_find("nats.token")].src, CFG_SRC_ENV);
    done(&r);
    unlink(pw);
    unlink(tok);
}

static void
test_file_variable_problems_name_the_variable_never_the_secret(void **state)
{
    char pw[] = "/tmp/test_cfgsec.XXXXXX", e1[80];
    const char *both[] = {"NATS_PASSWORD=Direct-Pw-3", e1, NULL};
    const char *gone[] = {"NATS_TOKEN_FILE=/nonexistent/token", NULL};
    const char *ov[] = {BASE, "nats.username=n"};
    struct run r;

    (void) state;
    write_tmp(pw, "File-Pw-4\n");
    snprintf(e1, sizeof(e1), "NATS_PASSWORD_FILE=%s", pw);
    run(&r, NULL, both, ov, 4);
    assert_int_equal(r.load_rc, CDC_ERR_CONFIG);
    assert_non_null(strstr(r.out, "<env>: NATS_PASSWORD_FILE: NATS_PASSWORD is set too"));
    assert_null(strstr(r.out, "Direct-Pw-3"));
    assert_null(strstr(r.out, "File-Pw-4"));
    done(&r);
    run(&r, NULL, gone, ov, 4);
    assert_int_equal(r.load_rc, CDC_ERR_CONFIG);
    assert_non_null(
        strstr(r.out, "<env>: NATS_TOKEN_FILE: could not open \"/nonexistent/token\": "));
    done(&r);
    unlink(pw);
}

static void
test_world_readable_file_with_secrets_gets_a_warning(void **state)
{
    char path[] = "/tmp/test_cfgsec.XXXXXX", expect[512];
    const char *env[] = {"NATS_PASSWORD=from-env", NULL};
    struct run r;

    (void) state;
    write_tmp(path, "rds:\n  endpoint: db\n  username: u\n  database: d\n"
                    "  password: Literal-Pw-5\n"
                    "nats:\n  urls: [nats://a:Url-Pw-6@n1:4222]\n");
    chmod(path, 0644);
    run(&r, path, NULL, NULL, 0);
    snprintf(expect, sizeof(expect),
             "%s: warning: holds secrets (rds.password, nats.urls) and is readable by others "
             "(mode 0644): chmod 600 it, or pass the secrets through the environment or *_FILE "
             "variables\n",
             path);
    assert_string_equal(r.out, expect);
    assert_int_equal(r.load_rc, CDC_OK); /* a warning, not a problem */
    assert_int_equal(r.check_rc, CDC_OK);
    done(&r);
    chmod(path, 0640);
    run(&r, path, env, NULL, 0);
    assert_non_null(strstr(r.out, "readable by its group (mode 0640)"));
    done(&r);
    chmod(path, 0600);
    run(&r, path, NULL, NULL, 0);
    assert_string_equal(r.out, "");
    done(&r);
    /* secrets only through ${VAR}: nothing to warn about, whatever the mode */
    rewrite(path, "rds:\n  endpoint: db\n  username: u\n  database: d\n"
                  "  password: ${RDS_PW}\nnats:\n  urls: [\"${NATS_URL}\"]\n");
    chmod(path, 0644);
    {
        const char *env2[] = {"RDS_PW=Interp-Pw-7", "NATS_URL=nats://x:Url-Pw-8@h:4222", NULL};

        run(&r, path, env2, NULL, 0);
    }
    assert_string_equal(r.out, "");
    done(&r);
    unlink(path);
}

static void
test_iam_needs_tls_and_a_region(void **state)
{
    const char *ov[] = {BASE, "rds.auth=iam", "rds.ssl_mode=disable"};
    const char *ok[] = {BASE, "rds.auth=iam", "rds.ssl_mode=verify-full", "rds.region=us-east-1"};
    struct run r;

    (void) state;
    run(&r, NULL, NULL, ov, 5);
    assert_int_equal(r.check_rc, CDC_ERR_CONFIG);
    assert_non_null(strstr(r.out, "<override>: rds.auth: iam needs TLS"));
    assert_non_null(strstr(r.out, "<override>: rds.auth: iam needs rds.region"));
    done(&r);
    run(&r, NULL, NULL, ok, 6);
    assert_string_equal(r.out, "");
    assert_int_equal(r.check_rc, CDC_OK);
    assert_int_equal(r.cfg.rds.auth, CFG_AUTH_IAM);
    done(&r);
}

/* MySQL and MariaDB take IAM tokens too (mysql_clear_password over TLS), with the same rules. */
static void
test_iam_for_mysql_and_mariadb(void **state)
{
    static const char *const engines[] = {"rds.engine=mysql", "rds.engine=mariadb"};

    (void) state;
    for (int i = 0; i < 2; i++) {
        const char *ok[] = {BASE, engines[i], "rds.auth=iam", "rds.region=eu-west-1"};
        const char *plain[] = {BASE, engines[i], "rds.auth=iam", "rds.region=eu-west-1",
                               "rds.ssl_mode=disable"};
        struct run r;

        run(&r, NULL, NULL, ok, 6);
        assert_string_equal(r.out, "");
        assert_int_equal(r.check_rc, CDC_OK);
        assert_int_equal(r.cfg.rds.auth, CFG_AUTH_IAM);
        done(&r);
        run(&r, NULL, NULL, plain, 7);
        assert_int_equal(r.check_rc, CDC_ERR_CONFIG);
        assert_non_null(strstr(r.out, "<override>: rds.auth: iam needs TLS"));
        done(&r);
    }
}

static void
test_one_nats_auth_method_and_tls_files_that_exist(void **state)
{
    char ca[] = "/tmp/test_cfgsec.XXXXXX", line[256];
    const char *ov[] = {BASE,
                        "nats.username=n",
                        "nats.token=Tok-9",
                        "nats.credentials_file=/nonexistent/x.creds",
                        "nats.tls.ca_file=",
                        "nats.tls.cert_file=/nonexistent/c.pem"};
    const char *good[] = {BASE, "nats.token=Tok-9",
                          "nats.tls.ca_file=", "nats.tls.cert_file=", "nats.tls.key_file="};
    struct run r;

    (void) state;
    write_tmp(ca, "not really a CA\n");
    snprintf(line, sizeof(line), "nats.tls.ca_file=%s", ca);
    ov[6] = line;
    run(&r, NULL, NULL, ov, 8);
    assert_int_equal(r.check_rc, CDC_ERR_CONFIG);
    assert_non_null(strstr(r.out, "<override>: nats.token: cannot be combined with nats.username"));
    assert_non_null(
        strstr(r.out, "<override>: nats.credentials_file: cannot be combined with nats.username"));
    assert_non_null(strstr(r.out, "<override>: nats.credentials_file: could not read "
                                  "\"/nonexistent/x.creds\": No such file or directory"));
    assert_non_null(strstr(r.out, "<override>: nats.tls.cert_file: nats.tls.cert_file and "
                                  "nats.tls.key_file go together"));
    assert_null(strstr(r.out, "Tok-9"));
    assert_null(strstr(r.out, "nats.tls.ca_file")); /* readable: no problem */
    done(&r);
    good[4] = line;
    run(&r, NULL, NULL, good, 7);
    assert_string_equal(r.out, "");
    done(&r);
    unlink(ca);
}

static void
test_dump_masks_the_nats_token(void **state)
{
    const char *ov[] = {BASE, "nats.token=Tok-Dump-10", "rds.ssl_root_cert=/etc/rds-ca.pem"};
    struct run r;
    char *out = NULL;
    size_t len;
    FILE *f;

    (void) state;
    run(&r, NULL, NULL, ov, 5);
    f = open_memstream(&out, &len);
    cfg_dump(&r.cfg, f);
    fclose(f);
    assert_null(strstr(out, "Tok-Dump-10"));
    assert_non_null(strstr(out, "  token: \"********\"\n"));
    assert_non_null(strstr(out, "  ssl_root_cert: \"/etc/rds-ca.pem\"\n"));
    free(out);
    done(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_secrets_come_from_file_variables),
        cmocka_unit_test(test_file_variable_problems_name_the_variable_never_the_secret),
        cmocka_unit_test(test_world_readable_file_with_secrets_gets_a_warning),
        cmocka_unit_test(test_iam_needs_tls_and_a_region),
        cmocka_unit_test(test_iam_for_mysql_and_mariadb),
        cmocka_unit_test(test_one_nats_auth_method_and_tls_files_that_exist),
        cmocka_unit_test(test_dump_masks_the_nats_token),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
