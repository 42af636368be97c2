/*
 * test_awscreds.c - AWS credentials: the environment (with *_FILE secrets),
 * the refusals made before any request (web identity, an insecure container
 * URI, a token with a line break, IMDS disabled), the refresh margin, the
 * container / instance-metadata JSON documents (the members AWS documents for
 * the EC2 IMDS "security-credentials/ROLE" answer and the ECS task-role
 * endpoint), and the password callback pgsrc calls before each connection.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aws/awscreds.h"
#include "aws/rdsiam.h"

static const char *const *test_env;

static const char *
test_getenv(const char *name)
{
    size_t n = strlen(name);

    for (const char *const *e = test_env; *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return *e + n + 1;
    return NULL;
}

/* A temp file holding s; the caller unlinks path. */
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
test_awscreds_from_environment(void **state)
{
    const char *const env[] = {"AWS_ACCESS_KEY_ID=AKIDEXAMPLE",
                               "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                               "AWS_SESSION_TOKEN=sess-tok", NULL};
    struct awscreds c;
    struct cdc_err err;

    (void) state;
    test_env = env;
    assert_int_equal(awscreds_resolve(&c, test_getenv, &err), CDC_OK);
    assert_string_equal(c.access_key_id, "AKIDEXAMPLE");
    assert_string_equal(c.secret_access_key, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
    assert_string_equal(c.session_token, "sess-tok");
    assert_int_equal(c.expiration, 0);
    awscreds_free(&c);
    assert_null(c.access_key_id);
}

static void
test_awscreds_secrets_from_files_lose_one_trailing_newline(void **state)
{
    char key[] = "/tmp/test_awscreds.XXXXXX", tok[] = "/tmp/test_awscreds.XXXXXX";
    char e1[64], e2[64];
    const char *env[] = {"AWS_ACCESS_KEY_ID=AKIDEXAMPLE", e1, e2, NULL};
    struct awscreds c;
    struct cdc_err err;

    (void) state;
    write_tmp(key, "from-a-file\n");
    write_tmp(tok, "tok-file\r\n");
    snprintf(e1, sizeof(e1), "AWS_SECRET_ACCESS_KEY_FILE=%s", key);
    snprintf(e2, sizeof(e2), "AWS_SESSION_TOKEN_FILE=%s", tok);
    test_env = env;
    assert_int_equal(awscreds_resolve(&c, test_getenv, &err), CDC_OK);
    assert_string_equal(c.secret_access_key, "from-a-file");
    assert_string_equal(c.session_token, "tok-file");
    awscreds_free(&c);
    unlink(key);
    unlink(tok);
    /* the file is gone: the message names the variable and the path */
    assert_int_equal(awscreds_resolve(&c, test_getenv, &err), CDC_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "AWS_SECRET_ACCESS_KEY_FILE"));
    assert_non_null(strstr(err.msg, key));
}

static void
test_awscreds_refuses_ambiguous_or_missing_sources(void **state)
{
    const char *const both[] = {"AWS_ACCESS_KEY_ID=A", "AWS_SECRET_ACCESS_KEY=Sekr1t-x",
                                "AWS_SECRET_ACCESS_KEY_FILE=/nonexistent", NULL};
    const char *const half[] = {"AWS_ACCESS_KEY_ID=A", NULL};
    const char *const web[] = {"AWS_WEB_IDENTITY_TOKEN_FILE=/var/run/token",
                               "AWS_ROLE_ARN=arn:aws:iam::123456789012:role/x", NULL};
    /* plain http to a host that is neither loopback nor the ECS/EKS address: refused, no request */
    const char *const ecs[] = {"AWS_CONTAINER_CREDENTIALS_FULL_URI=http://example.com/creds", NULL};
    /* a token that would inject a header line: refused before any request */
    const char *const crlf[] = {"AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:9/creds",
                                "AWS_CONTAINER_AUTHORIZATION_TOKEN=Tok3n\r\nX-Evil: 1", NULL};
    const char *const none[] = {"AWS_EC2_METADATA_DISABLED=true", NULL};
    struct awscreds c;
    struct cdc_err err;

    (void) state;
    test_env = both;
    assert_int_equal(awscreds_resolve(&c, test_getenv, &err), CDC_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "set only one"));
    assert_null(strstr(err.msg, "Sekr1t"));
    test_env = half;
    assert_int_equal(awscreds_resolve(&c, test_getenv, &err), CDC_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "AWS_SECRET_ACCESS_KEY"));
    test_env = web;
    assert_int_equal(awscreds_resolve(&c, test_getenv, &err), CDC_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "AssumeRoleWithWebIdentity"));
    test_env = ecs;
    assert_int_equal(awscreds_resolve(&c, test_getenv, &err), CDC_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "AWS_CONTAINER_CREDENTIALS_FULL_URI must be https"));
    assert_non_null(strstr(err.msg, "example.com"));
    test_env = crlf;
    assert_int_equal(awscreds_resolve(&c, test_getenv, &err), CDC_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "line break"));
    assert_null(strstr(err.msg, "Tok3n"));
    test_env = none;
    assert_int_equal(awscreds_resolve(&c, test_getenv, &err), CDC_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "no AWS credentials"));
    assert_non_null(strstr(err.msg, "AWS_EC2_METADATA_DISABLED"));
}

static void
test_awscreds_expiring_means_within_five_minutes_of_expiration(void **state)
{
    const char *const env[] = {"AWS_ACCESS_KEY_ID=AKIDNEW", "AWS_SECRET_ACCESS_KEY=new-secret",
                               NULL};
    struct awscreds c = {0};
    struct cdc_err err;
    const time_t now = 1700000000;

    (void) state;
    assert_true(awscreds_expiring(&c, now)); /* never resolved */
    c.access_key_id = strdup("AKIDOLD");
    c.secret_access_key = strdup("old-secret");
    assert_false(awscreds_expiring(&c, now)); /* expiration 0: environment keys */
    c.expiration = now + 301;
    assert_false(awscreds_expiring(&c, now));
    c.expiration = now + 300;
    assert_true(awscreds_expiring(&c, now));
    c.expiration = now + 60;
    assert_true(awscreds_expiring(&c, now));

    /* refresh: nothing to do while fresh; resolved anew once expiring */
    test_env = env;
    c.expiration = now + 3600;
    assert_int_equal(awscreds_refresh(&c, test_getenv, now, &err), CDC_OK);
    assert_string_equal(c.access_key_id, "AKIDOLD");
    c.expiration = now + 60;
    assert_int_equal(awscreds_refresh(&c, test_getenv, now, &err), CDC_OK);
    assert_string_equal(c.access_key_id, "AKIDNEW");
    assert_string_equal(c.secret_access_key, "new-secret");
    assert_int_equal(c.expiration, 0);
    awscreds_free(&c);
}

static void
test_awscreds_parses_the_instance_metadata_document(void **state)
{
    /* the shape of the EC2 user guide's IMDS example (values are the documented examples) */
    const char *doc = "{\n"
                      "  \"Code\" : \"Success\",\n"
                      "  \"LastUpdated\" : \"2012-04-26T16:39:16Z\",\n"
                      "  \"Type\" : \"AWS-HMAC\",\n"
                      "  \"AccessKeyId\" : \"ASIAIOSFODNN7EXAMPLE\",\n"
                      "  \"SecretAccessKey\" : \"wJalrXUtnFEMI\\/K7MDENG\\/bPxRfiCYEXAMPLEKEY\",\n"
                      "  \"Token\" : \"token\",\n"
                      "  \"Expiration\" : \"2017-05-17T15:09:54Z\"\n"
                      "}\n";
    struct awscreds c;
    struct cdc_err err;

    (void) state;
    assert_int_equal(awscreds_parse_json(&c, doc, &err), CDC_OK);
    assert_string_equal(c.access_key_id, "ASIAIOSFODNN7EXAMPLE");
    assert_string_equal(c.secret_access_key, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
    assert_string_equal(c.session_token, "token");
    /* 2017-05-17T15:09:54Z: 17303 days after 1970-01-01, + 15:09:54 */
    assert_int_equal(c.expiration, 17303LL * 86400 + 15 * 3600 + 9 * 60 + 54);
    awscreds_free(&c);
}

static void
test_awscreds_parses_the_container_endpoint_document(void **state)
{
    /* the ECS task-role answer: no Code, a RoleArn, members in another order */
    const char *doc =
        "{\"AccessKeyId\":\"ASIAEXAMPLE2\",\"Expiration\":\"2024-02-29T23:59:59Z\","
        "\"RoleArn\":\"arn:aws:iam::123456789012:role/cdc\","
        "\"SecretAccessKey\":\"s\\u0065cret\",\"Token\":\"IQoJb3JpZ2luX2VjEXAMPLE==\"}";
    struct awscreds c;
    struct cdc_err err;

    (void) state;
    assert_int_equal(awscreds_parse_json(&c, doc, &err), CDC_OK);
    assert_string_equal(c.access_key_id, "ASIAEXAMPLE2");
    assert_string_equal(c.secret_access_key, "secret");
    assert_string_equal(c.session_token, "IQoJb3JpZ2luX2VjEXAMPLE==");
    /* 2024-02-29: 19782 days after 1970-01-01 */
    assert_int_equal(c.expiration, 19782LL * 86400 + 23 * 3600 + 59 * 60 + 59);
    awscreds_free(&c);
}

static void
test_awscreds_rejects_bad_documents_without_echoing_secrets(void **state)
{
    static const char *const bad[] = {
        "",
        "[]",
        "{\"AccessKeyId\":\"A\"}",
        "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"Sec-9z\"",
        "{\"Code\":\"AssumeRoleUnauthorizedAccess\",\"AccessKeyId\":\"A\",\"SecretAccessKey\":"
        "\"Sec-9z\"}",
        "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"Sec-9z\",\"Expiration\":\"soon\"}",
        "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"Sec-9z\"} trailing",
        "{\"AccessKeyId\":\"A\" \"SecretAccessKey\":\"Sec-9z\"}",
    };
    struct awscreds c;
    struct cdc_err err;

    (void) state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(awscreds_parse_json(&c, bad[i], &err), CDC_ERR_PROTO);
        assert_null(strstr(err.msg, "Sec-9z"));
    }
}

static void
test_awscreds_rds_password_is_a_fresh_token_for_that_endpoint(void **state)
{
    char *tok = NULL, again[2048], date[32];
    const char *d;
    struct tm tm;
    struct cdc_err err;
    const struct aws_creds c = {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                "sess-tok"};
    const char *prefix = "db.example.internal:6543/?Action=connect&DBUser=repl&"
                         "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F";

    (void) state;
    setenv("AWS_ACCESS_KEY_ID", c.access_key_id, 1);
    setenv("AWS_SECRET_ACCESS_KEY", c.secret_access_key, 1);
    setenv("AWS_SESSION_TOKEN", c.session_token, 1);
    assert_int_equal(awscreds_rds_password((void *) "eu-west-1", "db.example.internal", 6543,
                                           "repl", &tok, &err),
                     CDC_OK);
    assert_true(strncmp(tok, prefix, strlen(prefix)) == 0);
    assert_non_null(strstr(tok, "%2Feu-west-1%2Frds-db%2Faws4_request&X-Amz-Date="));
    assert_non_null(strstr(tok, "&X-Amz-Expires=900&X-Amz-Security-Token=sess-tok&"));
    /* signed at the time it names: recomputing it for that instant gives the same string */
    d = strstr(tok, "X-Amz-Date=");
    assert_non_null(d);
    snprintf(date, sizeof(date), "%.16s", d + 11);
    memset(&tm, 0, sizeof(tm));
    assert_non_null(strptime(date, "%Y%m%dT%H%M%SZ", &tm));
    assert_int_equal(rdsiam_token(again, sizeof(again), "db.example.internal", 6543, "repl",
                                  "eu-west-1", &c, timegm(&tm), &err),
                     CDC_OK);
    assert_string_equal(tok, again);
    free(tok);
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_SESSION_TOKEN");
    tok = NULL;
    assert_int_equal(awscreds_rds_password((void *) "eu-west-1", "h", 5432, "u", &tok, &err),
                     CDC_ERR_CONFIG);
    assert_null(tok);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_awscreds_from_environment),
        cmocka_unit_test(test_awscreds_secrets_from_files_lose_one_trailing_newline),
        cmocka_unit_test(test_awscreds_refuses_ambiguous_or_missing_sources),
        cmocka_unit_test(test_awscreds_expiring_means_within_five_minutes_of_expiration),
        cmocka_unit_test(test_awscreds_parses_the_instance_metadata_document),
        cmocka_unit_test(test_awscreds_parses_the_container_endpoint_document),
        cmocka_unit_test(test_awscreds_rejects_bad_documents_without_echoing_secrets),
        cmocka_unit_test(test_awscreds_rds_password_is_a_fresh_token_for_that_endpoint),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
