/*
 * test_sigv4.c - SigV4 presigning and RDS IAM tokens against published vectors
 * (the team's shared/vectors/rds-iam-sigv4.md: botocore's generate_db_auth_token
 * test, a Java generator's session-token test, AWS's S3 query-string auth
 * example, AWS's signing-key derivation example), plus encoding and the error
 * paths: missing environment credentials, secrets kept out of messages, a
 * buffer too small.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "aws/rdsiam.h"
#include "aws/sigv4.h"
#include "core/buf.h"

/* Unix seconds for a UTC calendar time, written as in the vectors. */
static time_t
utc(int y, int mo, int d, int h, int mi, int s)
{
    struct tm tm = {0};

    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    return timegm(&tm);
}

static void
assert_encodes(const char *in, bool keep_slash, const char *want)
{
    struct cdc_buf b = CDC_BUF_INIT;

    cdc_buf_puts(&b, "");
    sigv4_uri_encode(&b, in, keep_slash);
    assert_true(cdc_buf_ok(&b));
    assert_string_equal(b.data, want);
    cdc_buf_free(&b);
}

static void
test_sigv4_uri_encode_keeps_unreserved_and_escapes_the_rest(void **state)
{
    (void) state;
    assert_encodes("AZaz09-._~", false, "AZaz09-._~");
    assert_encodes("a/b", false, "a%2Fb");
    assert_encodes("a b+c=d&e", false, "a%20b%2Bc%3Dd%26e");
    assert_encodes("*!'()%:@", false, "%2A%21%27%28%29%25%3A%40");
    /* UTF-8 bytes are escaped one by one, upper-case hex: é is C3 A9 */
    assert_encodes("caf\xc3\xa9", false, "caf%C3%A9");
    assert_encodes("\x01\x7f\xff", false, "%01%7F%FF");
    assert_encodes("", false, "");
}

static void
test_sigv4_uri_encode_path_variant_keeps_slash(void **state)
{
    (void) state;
    assert_encodes("/test.txt", true, "/test.txt");
    assert_encodes("/my dir/a+b", true, "/my%20dir/a%2Bb");
    assert_encodes("/", true, "/");
}

static void
test_sigv4_sha256_hex_of_known_inputs(void **state)
{
    char hex[SIGV4_HEX_SIZE];

    (void) state;
    assert_int_equal(sigv4_sha256_hex("", 0, hex, NULL), CDC_OK);
    assert_string_equal(hex, SIGV4_EMPTY_SHA256);
    assert_int_equal(sigv4_sha256_hex("abc", 3, hex, NULL), CDC_OK);
    /* FIPS 180-2 appendix B.1 */
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

/* AWS "Examples of how to derive a signing key for Signature Version 4". */
static void
test_sigv4_signing_key_matches_aws_example(void **state)
{
    unsigned char key[SIGV4_KEY_LEN];
    char hex[SIGV4_HEX_SIZE];

    (void) state;
    assert_int_equal(sigv4_signing_key(key, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215",
                                       "us-east-1", "iam", NULL),
                     CDC_OK);
    for (size_t i = 0; i < sizeof(key); i++)
        snprintf(hex + 2 * i, 3, "%02x", key[i]);
    assert_string_equal(hex, "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
}

static void
test_sigv4_format_time(void **state)
{
    char amz[SIGV4_AMZDATE_SIZE], date[SIGV4_DATE_SIZE];

    (void) state;
    assert_int_equal(sigv4_format_time(utc(2016, 11, 7, 17, 39, 33), amz, date, NULL), CDC_OK);
    assert_string_equal(amz, "20161107T173933Z");
    assert_string_equal(date, "20161107");
    assert_int_equal(sigv4_format_time(0, amz, NULL, NULL), CDC_OK);
    assert_string_equal(amz, "19700101T000000Z");
}

/* Vector D's canonical request, as printed in the S3 documentation. */
static const char vector_d_canonical[] =
    "GET\n"
    "/test.txt\n"
    "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1"
    "%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders="
    "host\n"
    "host:examplebucket.s3.amazonaws.com\n"
    "\n"
    "host\n"
    "UNSIGNED-PAYLOAD";

static const char vector_d_query[] =
    "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1"
    "%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders="
    "host";

static void
test_sigv4_canonical_request_and_string_to_sign_for_vector_d(void **state)
{
    struct cdc_buf cr = CDC_BUF_INIT, sts = CDC_BUF_INIT;
    char hex[SIGV4_HEX_SIZE];

    (void) state;
    assert_int_equal(sigv4_canonical_request(&cr, "GET", "/test.txt", vector_d_query,
                                             "host:examplebucket.s3.amazonaws.com\n", "host",
                                             "UNSIGNED-PAYLOAD", NULL),
                     CDC_OK);
    assert_string_equal(cr.data, vector_d_canonical);
    assert_int_equal(sigv4_sha256_hex(cr.data, cr.len, hex, NULL), CDC_OK);
    assert_string_equal(hex, "3bfa292879f6447bbcda7001decf97f4a54dc650c8942174ae0a9121cf58ad04");
    assert_int_equal(sigv4_string_to_sign(&sts, "20130524T000000Z",
                                          "20130524/us-east-1/s3/aws4_request", hex, NULL),
                     CDC_OK);
    assert_string_equal(sts.data,
                        "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
                        "3bfa292879f6447bbcda7001decf97f4a54dc650c8942174ae0a9121cf58ad04");
    cdc_buf_free(&cr);
    cdc_buf_free(&sts);
}

static void
test_sigv4_presign_reproduces_vector_d(void **state)
{
    const struct aws_creds c = {"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                                NULL};
    const struct sigv4_request req = {
        .method = "GET",
        .host = "examplebucket.s3.amazonaws.com",
        .path = "/test.txt",
        .service = "s3",
        .region = "us-east-1",
        .creds = &c,
        .when = utc(2013, 5, 24, 0, 0, 0),
        .expires = 86400,
        .payload_hash = "UNSIGNED-PAYLOAD",
    };
    struct cdc_buf q = CDC_BUF_INIT;
    struct sigv4_result res;
    struct cdc_err err = {0};

    (void) state;
    assert_int_equal(sigv4_presign(&req, &q, &res, &err), CDC_OK);
    assert_string_equal(res.canonical_request_hash,
                        "3bfa292879f6447bbcda7001decf97f4a54dc650c8942174ae0a9121cf58ad04");
    assert_string_equal(res.signature,
                        "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
    assert_string_equal(q.data, "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="
                                "AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&"
                                "X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&"
                                "X-Amz-SignedHeaders=host&X-Amz-Signature="
                                "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
    cdc_buf_free(&q);
}

static void
test_sigv4_presign_rejects_a_parameter_given_twice(void **state)
{
    const struct aws_creds c = {"akid", "skid", NULL};
    const struct sigv4_param p[] = {{"X-Amz-Date", "20000101T000000Z"}};
    const struct sigv4_request req = {
        .method = "GET",
        .host = "h",
        .path = "/",
        .params = p,
        .nparams = 1,
        .service = "s3",
        .region = "us-east-1",
        .creds = &c,
        .when = 0,
        .expires = 60,
        .payload_hash = SIGV4_EMPTY_SHA256,
    };
    struct cdc_buf q = CDC_BUF_INIT;
    struct cdc_err err = {0};

    (void) state;
    assert_int_equal(sigv4_presign(&req, &q, NULL, &err), CDC_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "\"X-Amz-Date\" given twice"));
    cdc_buf_free(&q);
}

static const char vector_a_token[] =
    "prod-instance.us-east-1.rds.amazonaws.com:3306/?Action=connect&DBUser=someusername&"
    "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=akid%2F20161107%2Fus-east-1%2Frds-db%"
    "2Faws4_request&X-Amz-Date=20161107T173933Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&"
    "X-Amz-Signature=d1138cdbc0ca63eec012ec0fc6c2267e03642168f5884a7795320d4c18374c61";

static void
test_rdsiam_token_reproduces_vector_a(void **state)
{
    const struct aws_creds c = {"akid", "skid", NULL};
    char tok[1024];
    struct cdc_err err = {0};

    (void) state;
    assert_int_equal(rdsiam_token(tok, sizeof(tok), "prod-instance.us-east-1.rds.amazonaws.com",
                                  3306, "someusername", "us-east-1", &c,
                                  utc(2016, 11, 7, 17, 39, 33), &err),
                     CDC_OK);
    assert_string_equal(tok, vector_a_token);
}

static void
test_rdsiam_token_with_session_token_reproduces_vector_c(void **state)
{
    const struct aws_creds c = {"IAMKEYINSTANCE", "asdfqwertypolly", "mytoken"};
    char tok[1024];
    struct cdc_err err = {0};

    (void) state;
    assert_int_equal(rdsiam_token(tok, sizeof(tok), "dbhost.xyz.eu-west-1.amazonaws.com", 3306,
                                  "iam_user", "eu-west-1", &c, utc(2018, 9, 19, 16, 2, 42), &err),
                     CDC_OK);
    /* the token is signed: it sits in the sorted query, before SignedHeaders */
    assert_string_equal(
        tok, "dbhost.xyz.eu-west-1.amazonaws.com:3306/?Action=connect&DBUser=iam_user&"
             "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=IAMKEYINSTANCE%2F20180919%2F"
             "eu-west-1%2Frds-db%2Faws4_request&X-Amz-Date=20180919T160242Z&X-Amz-Expires=900&"
             "X-Amz-Security-Token=mytoken&X-Amz-SignedHeaders=host&X-Amz-Signature="
             "8966604a85aa991ef9bed5135aa8565e0e22ae375d2b85892a16e1a642ae0bd1");
}

static void
test_rdsiam_token_encodes_user_and_session_token(void **state)
{
    const struct aws_creds c = {"akid", "skid", "ab/c+d="};
    char tok[1024];
    struct cdc_err err = {0};

    (void) state;
    assert_int_equal(rdsiam_token(tok, sizeof(tok), "h", 5432, "us er@x", "us-east-1", &c,
                                  utc(2016, 11, 7, 17, 39, 33), &err),
                     CDC_OK);
    assert_non_null(strstr(tok, "&DBUser=us%20er%40x&"));
    assert_non_null(strstr(tok, "&X-Amz-Security-Token=ab%2Fc%2Bd%3D&"));
    assert_true(strncmp(tok, "h:5432/?Action=connect&", 23) == 0);
}

static void
test_rdsiam_token_differs_when_time_changes(void **state)
{
    const struct aws_creds c = {"akid", "skid", NULL};
    char t1[1024], t2[1024];
    time_t now = utc(2016, 11, 7, 17, 39, 33);

    (void) state;
    assert_int_equal(rdsiam_token(t1, sizeof(t1), "h", 5432, "u", "us-east-1", &c, now, NULL),
                     CDC_OK);
    assert_int_equal(rdsiam_token(t2, sizeof(t2), "h", 5432, "u", "us-east-1", &c, now + 1, NULL),
                     CDC_OK);
    assert_string_not_equal(t1, t2);
    assert_non_null(strstr(t2, "X-Amz-Date=20161107T173934Z"));
    /* and the signature itself changes, not only the date */
    assert_string_not_equal(strstr(t1, "X-Amz-Signature="), strstr(t2, "X-Amz-Signature="));
}

static void
test_rdsiam_token_buffer_too_small_is_an_error(void **state)
{
    const struct aws_creds c = {"akid", "skid", NULL};
    char tok[sizeof(vector_a_token)];
    struct cdc_err err = {0};
    time_t now = utc(2016, 11, 7, 17, 39, 33);
    const char *host = "prod-instance.us-east-1.rds.amazonaws.com";

    (void) state;
    /* exactly big enough works; one byte less fails and leaves "" */
    assert_int_equal(
        rdsiam_token(tok, sizeof(tok), host, 3306, "someusername", "us-east-1", &c, now, &err),
        CDC_OK);
    assert_string_equal(tok, vector_a_token);
    assert_int_equal(
        rdsiam_token(tok, sizeof(tok) - 1, host, 3306, "someusername", "us-east-1", &c, now, &err),
        CDC_ERR_FATAL);
    assert_string_equal(tok, "");
    assert_non_null(strstr(err.msg, "needs"));
    assert_int_equal(rdsiam_token(tok, 0, host, 3306, "someusername", "us-east-1", &c, now, &err),
                     CDC_ERR_FATAL);
}

static void
test_rdsiam_token_rejects_missing_inputs_without_leaking_the_secret(void **state)
{
    const char *secret = "SuperSecretKeyValue123";
    const struct aws_creds no_akid = {"", secret, "SessionTok456"};
    const struct aws_creds good = {"akid", secret, "SessionTok456"};
    char tok[1024];
    struct cdc_err err = {0};

    (void) state;
    assert_int_equal(rdsiam_token(tok, sizeof(tok), "h", 5432, "u", "r", &no_akid, 0, &err),
                     CDC_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "access key id"));
    assert_null(strstr(err.msg, secret));
    assert_null(strstr(err.msg, "SessionTok456"));

    assert_int_equal(rdsiam_token(tok, sizeof(tok), "h", 0, "u", "r", &good, 0, &err),
                     CDC_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "port 0"));
    assert_int_equal(rdsiam_token(tok, sizeof(tok), "h", 5432, "", "r", &good, 0, &err),
                     CDC_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "user"));
    assert_int_equal(rdsiam_token(tok, sizeof(tok), "h", 5432, "u", NULL, &good, 0, &err),
                     CDC_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "region"));
    assert_int_equal(rdsiam_token(tok, 8, "h", 5432, "u", "r", &good, 0, &err), CDC_ERR_FATAL);
    assert_null(strstr(err.msg, secret));
    assert_null(strstr(err.msg, "SessionTok456"));
}

/* A fake environment: name=value pairs, NULL-terminated. */
static const char *const *fake_env;

static const char *
fake_getenv(const char *name)
{
    size_t n = strlen(name);

    for (const char *const *e = fake_env; *e != NULL; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return *e + n + 1;
    return NULL;
}

static void
test_aws_creds_from_env_reads_all_three(void **state)
{
    static const char *const env[] = {"AWS_ACCESS_KEY_ID=AKID1", "AWS_SECRET_ACCESS_KEY=sek",
                                      "AWS_SESSION_TOKEN=tok", NULL};
    struct aws_creds c;

    (void) state;
    fake_env = env;
    assert_int_equal(aws_creds_from_env(&c, fake_getenv, NULL), CDC_OK);
    assert_string_equal(c.access_key_id, "AKID1");
    assert_string_equal(c.secret_access_key, "sek");
    assert_string_equal(c.session_token, "tok");
}

static void
test_aws_creds_from_env_session_token_is_optional(void **state)
{
    static const char *const env[] = {"AWS_ACCESS_KEY_ID=AKID1", "AWS_SECRET_ACCESS_KEY=sek",
                                      "AWS_SESSION_TOKEN=", NULL};
    struct aws_creds c;

    (void) state;
    fake_env = env;
    assert_int_equal(aws_creds_from_env(&c, fake_getenv, NULL), CDC_OK);
    assert_null(c.session_token);
}

static void
test_aws_creds_from_env_names_the_missing_variable_not_the_secret(void **state)
{
    static const char *const no_secret[] = {"AWS_ACCESS_KEY_ID=AKID1", NULL};
    static const char *const no_akid[] = {"AWS_SECRET_ACCESS_KEY=TopSecretXYZ",
                                          "AWS_SESSION_TOKEN=TokenXYZ", NULL};
    struct aws_creds c = {"untouched", NULL, NULL};
    struct cdc_err err = {0};

    (void) state;
    fake_env = no_secret;
    assert_int_equal(aws_creds_from_env(&c, fake_getenv, &err), CDC_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "AWS_SECRET_ACCESS_KEY"));
    assert_string_equal(c.access_key_id, "untouched");

    fake_env = no_akid;
    assert_int_equal(aws_creds_from_env(&c, fake_getenv, &err), CDC_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "AWS_ACCESS_KEY_ID"));
    assert_null(strstr(err.msg, "TopSecretXYZ"));
    assert_null(strstr(err.msg, "TokenXYZ"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigv4_uri_encode_keeps_unreserved_and_escapes_the_rest),
        cmocka_unit_test(test_sigv4_uri_encode_path_variant_keeps_slash),
        cmocka_unit_test(test_sigv4_sha256_hex_of_known_inputs),
        cmocka_unit_test(test_sigv4_signing_key_matches_aws_example),
        cmocka_unit_test(test_sigv4_format_time),
        cmocka_unit_test(test_sigv4_canonical_request_and_string_to_sign_for_vector_d),
        cmocka_unit_test(test_sigv4_presign_reproduces_vector_d),
        cmocka_unit_test(test_sigv4_presign_rejects_a_parameter_given_twice),
        cmocka_unit_test(test_rdsiam_token_reproduces_vector_a),
        cmocka_unit_test(test_rdsiam_token_with_session_token_reproduces_vector_c),
        cmocka_unit_test(test_rdsiam_token_encodes_user_and_session_token),
        cmocka_unit_test(test_rdsiam_token_differs_when_time_changes),
        cmocka_unit_test(test_rdsiam_token_buffer_too_small_is_an_error),
        cmocka_unit_test(test_rdsiam_token_rejects_missing_inputs_without_leaking_the_secret),
        cmocka_unit_test(test_aws_creds_from_env_reads_all_three),
        cmocka_unit_test(test_aws_creds_from_env_session_token_is_optional),
        cmocka_unit_test(test_aws_creds_from_env_names_the_missing_variable_not_the_secret),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
