/*
 * test_awscreds.c - AWS credentials: the environment (with *_FILE secrets),
 * the refusals made before any request (web identity without a role, token
 * file or secure STS endpoint, an insecure container URI, a token with a
 * line break, IMDS disabled), STS's AssumeRoleWithWebIdentity answer and
 * request body (aws/sts.h), the refresh margin, the
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
#include "aws/sts.h"
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
    const char *const web[] = {"AWS_WEB_IDENTITY_TOKEN_FILE=/nonexistent/token",
                               "AWS_ROLE_ARN=arn:aws:iam::123456789012:role/x", NULL};
    const char *const web_norole[] = {"AWS_WEB_IDENTITY_TOKEN_FILE=/nonexistent/token", NULL};
    /* plain http to STS anywhere but this machine: refused before the token is read */
    const char *const web_http[] = {"AWS_WEB_IDENTITY_TOKEN_FILE=/nonexistent/token",
                                    "AWS_ROLE_ARN=arn:aws:iam::123456789012:role/x",
                                    "AWS_ENDPOINT_URL_STS=http://sts.example.com/", NULL};
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
    assert_non_null(strstr(err.msg, "\"/nonexistent/token\" (AWS_WEB_IDENTITY_TOKEN_FILE)"));
    test_env = web_norole;
    assert_int_equal(awscreds_resolve(&c, test_getenv, &err), CDC_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "AWS_ROLE_ARN is not"));
    test_env = web_http;
    assert_int_equal(awscreds_resolve(&c, test_getenv, &err), CDC_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "AWS_ENDPOINT_URL_STS must be an https:// URL"));
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

/* The success answer as the STS API reference shows it for AssumeRoleWithWebIdentity. */
static void
test_sts_parses_the_documented_answer(void **state)
{
    static const char xml[] =
        "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
        "  <AssumeRoleWithWebIdentityResult>\n"
        "    <SubjectFromWebIdentityToken>amzn1.account.AF6RHO7KZU5XRVQJGXK6HB56KR2A"
        "</SubjectFromWebIdentityToken>\n"
        "    <Audience>client.5498841531868486423.1548@apps.example.com</Audience>\n"
        "    <AssumedRoleUser>\n"
        "      <Arn>arn:aws:sts::123456789012:assumed-role/FederatedWebIdentityRole/app1</Arn>\n"
        "      <AssumedRoleId>AROACLKWSDQRAOEXAMPLE:app1</AssumedRoleId>\n"
        "    </AssumedRoleUser>\n"
        "    <Credentials>\n"
        "      <SessionToken>AQoDYXdzEE0a8ANXXXXXXXXNO1ewxE5TijQyp+IEXAMPLE</SessionToken>\n"
        "      <SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY</SecretAccessKey>\n"
        "      <Expiration>2014-10-24T23:00:23Z</Expiration>\n"
        "      <AccessKeyId>ASgeIAIOSFODNN7EXAMPLE</AccessKeyId>\n"
        "    </Credentials>\n"
        "    <SourceIdentity>SourceIdentityValue</SourceIdentity>\n"
        "    <Provider>www.amazon.com</Provider>\n"
        "  </AssumeRoleWithWebIdentityResult>\n"
        "  <ResponseMetadata>\n"
        "    <RequestId>ad4156e9-bce1-11e2-82e6-6b6efEXAMPLE</RequestId>\n"
        "  </ResponseMetadata>\n"
        "</AssumeRoleWithWebIdentityResponse>";
    struct awscreds c = {0};
    struct cdc_err err;
    char code[64];

    (void) state;
    assert_int_equal(sts_parse(xml, &c, code, sizeof(code), &err), CDC_OK);
    assert_string_equal(c.access_key_id, "ASgeIAIOSFODNN7EXAMPLE");
    assert_string_equal(c.secret_access_key, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY");
    assert_string_equal(c.session_token, "AQoDYXdzEE0a8ANXXXXXXXXNO1ewxE5TijQyp+IEXAMPLE");
    assert_int_equal(c.expiration, 1414191623); /* date -u -d 2014-10-24T23:00:23Z +%s */
    assert_string_equal(c.source, "web identity");
    assert_string_equal(code, "");
    awscreds_free(&c);
}

static void
test_sts_errors_and_malformed_answers(void **state)
{
    static const char refused[] =
        "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender"
        "</Type><Code>AccessDenied</Code><Message>Not authorized to perform "
        "sts:AssumeRoleWithWebIdentity</Message></Error><RequestId>x</RequestId></ErrorResponse>";
    static const char idp[] = "<ErrorResponse><Error><Code>IDPCommunicationError</Code>"
                              "<Message>try again</Message></Error></ErrorResponse>";
    static const char no_token[] =
        "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>"
        "<SecretAccessKey>Sekr1t</SecretAccessKey><Expiration>2014-10-24T23:00:23Z</Expiration>"
        "<AccessKeyId>AKID</AccessKeyId></Credentials></AssumeRoleWithWebIdentityResult>"
        "</AssumeRoleWithWebIdentityResponse>";
    static const char bad_time[] =
        "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>"
        "<SessionToken>T</SessionToken><SecretAccessKey>Sekr1t</SecretAccessKey>"
        "<Expiration>tomorrow</Expiration><AccessKeyId>AKID</AccessKeyId></Credentials>"
        "</AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>";
    struct awscreds c = {0};
    struct cdc_err err;
    char code[64];

    (void) state;
    assert_int_equal(sts_parse(refused, &c, code, sizeof(code), &err), CDC_ERR_CONFIG);
    assert_string_equal(code, "AccessDenied");
    assert_string_equal(err.msg, "STS refused AssumeRoleWithWebIdentity: AccessDenied: Not "
                                 "authorized to perform sts:AssumeRoleWithWebIdentity");
    assert_int_equal(sts_parse(idp, &c, code, sizeof(code), &err), CDC_ERR_RETRY);
    assert_int_equal(sts_parse(no_token, &c, code, sizeof(code), &err), CDC_ERR_PROTO);
    assert_string_equal(err.msg, "STS credentials lack SessionToken");
    assert_int_equal(sts_parse(bad_time, &c, code, sizeof(code), &err), CDC_ERR_PROTO);
    assert_null(strstr(err.msg, "Sekr1t"));
    assert_int_equal(sts_parse("<html>hello</html>", &c, code, sizeof(code), &err), CDC_ERR_PROTO);
    assert_null(c.access_key_id);
}

/* RFC 3986 percent-encoding of everything but unreserved characters, written out by hand. */
static void
test_sts_request_body_is_percent_encoded(void **state)
{
    char *b = sts_web_identity_body("arn:aws:iam::1:role/a b", "s~1.x_y-z", "t+/=&%");

    (void) state;
    assert_string_equal(b, "Action=AssumeRoleWithWebIdentity&Version=2011-06-15"
                           "&RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fa%20b"
                           "&RoleSessionName=s~1.x_y-z&WebIdentityToken=t%2B%2F%3D%26%25");
    free(b);
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
        cmocka_unit_test(test_sts_parses_the_documented_answer),
        cmocka_unit_test(test_sts_errors_and_malformed_answers),
        cmocka_unit_test(test_sts_request_body_is_percent_encoded),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
