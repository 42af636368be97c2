/*
 * it_security.c - TLS and authentication against real servers, with
 * certificates made by the test (sec_certs.sh, openssl) and servers of its
 * own (scripts/pgctl.sh helpers, stopped by pid at the end):
 * - a PostgreSQL 15 with a CA-signed certificate for "localhost" only:
 *   verify-full succeeds, a wrong CA fails, a wrong host name (127.0.0.1)
 *   fails, a server without TLS is refused under require (no plaintext
 *   fallback); the password callback (the IAM token hook) is called for
 *   every connection and its value is never shown;
 * - a MariaDB with the same certificate: verify-full and verify-ca succeed,
 *   a wrong CA fails, a wrong host name fails verify-full (verify-ca does not
 *   check it), verify-ca without a CA file checks against the system's store
 *   (and fails: the test CA is not in it), TLS 1.2 at least; restarted
 *   without TLS, require is refused (no plaintext fallback), disable connects;
 * - nats-server with TLS and verify (mutual TLS): the right client
 *   certificate connects, none or a wrong CA or a wrong host name fails;
 *   nats-server with user/password, NKey, token and operator/JWT (.creds)
 *   authentication: each connects, and a wrong credential gives a clear
 *   error without the secret in it. NKeys and JWTs are made here with
 *   OpenSSL's Ed25519 (no nsc/nk tool is packaged);
 * - the daemon, end to end over TLS with a password from a *_FILE variable
 *   and a NATS token, then with wrong credentials and with IAM auth: the
 *   distinctive secret values never appear in its logs, --dump-config,
 *   /metrics or the published events.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "itlib.h"
#include "sink/nats/jsconn.h"
#include "sink/nats/jssink.h"
#include "sink/nats/nkey.h"
#include "source/mysql/mysrc.h"
#include "source/pg/pgsrc.h"

#define PG_PW       "Pg-Sec-Xy72-ok"
#define PG_PW_WRONG "Pg-Wrong-Zz99"
#define NATS_PW     "Nats-Pw-Sec-41"
#define NATS_TOK    "Nats-Tok-Sec-77"
#define AWS_SECRET  "Aws-Secret-Sec-Qq55"
#define AWS_SESSION "Aws-Session-Sec-Ww66"

/* the replication account scripts/myctl.sh creates (its defaults) */
#define CDC_MY_REPL_USER_IT     "cdc"
#define CDC_MY_REPL_PASSWORD_IT "cdc_pw"

static char dir[512], certs[600], scripts[600];
static int pg_port, my_port, mtls_port, auth_port, tok_port, jwt_port;
static char pg_pid[32], my_pid[32], mtls_pid[32], auth_pid[32], tok_pid[32], jwt_pid[32];
static char nkey_seed_file[700], other_seed_file[700], creds_file[700], other_creds_file[700];

/* ---- helpers ------------------------------------------------------------------------------- */

/* it_sh(), failing the test when the script fails. */
#define sh(out, n, ...)                                                                            \
    do {                                                                                           \
        if (it_sh(out, n, __VA_ARGS__) != 0)                                                       \
            fail_msg("script failed at line %d", __LINE__);                                        \
    } while (0)

static void
write_file(const char *path, const char *s)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(s, f);
    fclose(f);
    chmod(path, 0600);
}

static void
b64url(char *out, const unsigned char *p, size_t n)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;

    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t) p[i] << 16 | (i + 1 < n ? (uint32_t) p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);

        out[o++] = a[(v >> 18) & 63];
        out[o++] = a[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = a[(v >> 6) & 63];
        if (i + 2 < n)
            out[o++] = a[v & 63];
    }
    out[o] = '\0';
}

/* An Ed25519 key pair as NKeys of `type`. */
struct kp {
    uint8_t raw[32];
    char seed[NKEY_SEED_LEN + 1];
    char pub[NKEY_PUBLIC_LEN + 1];
};

static void
kp_new(struct kp *k, uint8_t type)
{
    struct cdc_err err;

    assert_int_equal(RAND_bytes(k->raw, 32), 1);
    assert_true(nkey_encode(k->seed, sizeof(k->seed), true, type, k->raw));
    assert_int_equal(nkey_public_from_seed(k->seed, k->pub, &err), CDC_OK);
}

/* A NATS JWT with these claims ("iss" and "jti" added), signed by `by`. */
static char *
jwt_sign(const struct kp *by, const char *claims_tail)
{
    const char *hdr = "{\"typ\":\"JWT\",\"alg\":\"ed25519-nkey\"}";
    char claims[2048], jti[40], h64[128], c64[3000], s64[100], *out;
    unsigned char sig[64], rnd[20];
    size_t siglen = sizeof(sig), n;
    EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, by->raw, 32);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    char signing[3200];

    assert_int_equal(RAND_bytes(rnd, sizeof(rnd)), 1);
    b64url(jti, rnd, sizeof(rnd));
    snprintf(claims, sizeof(claims), "{\"jti\":\"%s\",\"iat\":%lld,\"iss\":\"%s\",%s}", jti,
             (long long) time(NULL), by->pub, claims_tail);
    b64url(h64, (const unsigned char *) hdr, strlen(hdr));
    b64url(c64, (const unsigned char *) claims, strlen(claims));
    snprintf(signing, sizeof(signing), "%s.%s", h64, c64);
    assert_int_equal(EVP_DigestSignInit(md, NULL, NULL, NULL, k), 1);
    assert_int_equal(
        EVP_DigestSign(md, sig, &siglen, (const unsigned char *) signing, strlen(signing)), 1);
    b64url(s64, sig, siglen);
    n = strlen(signing) + strlen(s64) + 2;
    out = malloc(n);
    snprintf(out, n, "%s.%s", signing, s64);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(k);
    return out;
}

static void
write_creds(const char *path, const char *jwt, const char *seed)
{
    char buf[4096];

    snprintf(buf, sizeof(buf),
             "-----BEGIN NATS USER JWT-----\n%s\n------END NATS USER JWT------\n\n"
             "-----BEGIN USER NKEY SEED-----\n%s\n------END USER NKEY SEED------\n",
             jwt, seed);
    write_file(path, buf);
}

static char *
user_jwt(const struct kp *acc, const struct kp *usr)
{
    char tail[512];

    snprintf(tail, sizeof(tail),
             "\"name\":\"cdc\",\"sub\":\"%s\",\"nats\":{\"pub\":{},\"sub\":{},\"subs\":-1,"
             "\"data\":-1,\"payload\":-1,\"type\":\"user\",\"version\":2}",
             usr->pub);
    return jwt_sign(acc, tail);
}

/* Operator mode: operator -> account -> user; writes the server config and two .creds files. */
static void
make_jwt_server_conf(const char *conf)
{
    struct kp op, acc, usr, stranger_acc, stranger;
    char tail[1024], buf[8192];
    char *opjwt, *accjwt, *ujwt, *sjwt;

    kp_new(&op, NKEY_OPERATOR);
    kp_new(&acc, NKEY_ACCOUNT);
    kp_new(&usr, NKEY_USER);
    kp_new(&stranger_acc, NKEY_ACCOUNT);
    kp_new(&stranger, NKEY_USER);
    snprintf(tail, sizeof(tail),
             "\"name\":\"op\",\"sub\":\"%s\",\"nats\":{\"type\":\"operator\",\"version\":2}",
             op.pub);
    opjwt = jwt_sign(&op, tail);
    snprintf(tail, sizeof(tail),
             "\"name\":\"acc\",\"sub\":\"%s\",\"nats\":{\"limits\":{\"subs\":-1,\"data\":-1,"
             "\"payload\":-1,\"imports\":-1,\"exports\":-1,\"wildcards\":true,\"conn\":-1,"
             "\"leaf\":-1},\"default_permissions\":{\"pub\":{},\"sub\":{}},\"type\":\"account\","
             "\"version\":2}",
             acc.pub);
    accjwt = jwt_sign(&op, tail);
    ujwt = user_jwt(&acc, &usr);
    sjwt = user_jwt(&stranger_acc, &stranger); /* signed by an account the server does not know */
    snprintf(creds_file, sizeof(creds_file), "%s/user.creds", dir);
    snprintf(other_creds_file, sizeof(other_creds_file), "%s/stranger.creds", dir);
    write_creds(creds_file, ujwt, usr.seed);
    write_creds(other_creds_file, sjwt, stranger.seed);
    snprintf(buf, sizeof(buf), "%s/op.jwt", dir);
    write_file(buf, opjwt);
    snprintf(buf, sizeof(buf),
             "operator: \"%s/op.jwt\"\nresolver: MEMORY\nresolver_preload: {\n  %s: \"%s\"\n}\n",
             dir, acc.pub, accjwt);
    write_file(conf, buf);
    free(opjwt);
    free(accjwt);
    free(ujwt);
    free(sjwt);
}

static int
start_nats(const char *name, const char *conf_text, char *pid, size_t pidn)
{
    char conf[700], sub[700];
    int port = it_free_port();

    snprintf(sub, sizeof(sub), "%s/%s", dir, name);
    mkdir(sub, 0755);
    snprintf(conf, sizeof(conf), "%s/%s.conf", dir, name);
    if (conf_text != NULL)
        write_file(conf, conf_text);
    sh(pid, pidn, "cdc_start_nats_conf \"%s\" %d \"%s\"", sub, port, conf);
    return port;
}

static void
start_pg(void)
{
    char pgdir[600];

    snprintf(pgdir, sizeof(pgdir), "%s/pg", dir);
    pg_port = it_free_port();
    /* our CA-signed certificate instead of pgctl.sh's self-signed one; sec_user needs a
     * password (scram), over TLS only; everyone else is trusted as in the fixture */
    sh(pg_pid, sizeof(pg_pid),
       "cdc_init_pg \"%s\" %d >&2; d=\"%s/data\"; cp \"%s/server.crt\" \"%s/server.key\" \"$d/\"; "
       "if [ $(id -u) -eq 0 ]; then chown postgres:postgres \"$d/server.crt\" \"$d/server.key\"; "
       "fi; "
       "chmod 600 \"$d/server.key\"; grep -q \"^ssl = on\" \"$d/postgresql.conf\" || echo \"ssl = "
       "on\" "
       ">>\"$d/postgresql.conf\"; { echo \"hostssl all sec_user 127.0.0.1/32 scram-sha-256\"; "
       "echo \"hostssl replication sec_user 127.0.0.1/32 scram-sha-256\"; cat \"$d/pg_hba.conf\"; "
       "} "
       ">\"$d/hba.new\"; cat \"$d/hba.new\" >\"$d/pg_hba.conf\"; cdc_run_pg \"%s\"",
       pgdir, pg_port, pgdir, certs, certs, pgdir);
    sh(NULL, 0,
       "\"$CDC_PG_BINDIR/psql\" -X -q -v ON_ERROR_STOP=1 -h \"%s\" -p %d -U postgres -d postgres "
       "-c \"CREATE ROLE sec_user LOGIN SUPERUSER PASSWORD '\"'\"'%s'\"'\"'\" -c \"CREATE DATABASE "
       "sec\" "
       ">&2",
       pgdir, pg_port, PG_PW);
}

/*
 * A MariaDB of our own (scripts/myctl.sh) with the CA-signed certificate instead of myctl's
 * self-signed one; tls: with TLS, else without (the certificate files removed).
 */
static void
run_my(bool tls)
{
    sh(my_pid, sizeof(my_pid), "d=\"%s/my\"; %s cdc_run_mariadb \"$d\" %d", dir,
       tls ? "" : "rm -f \"$d/server.crt\" \"$d/server.key\";", my_port);
}

static void
start_my(void)
{
    my_port = it_free_port();
    sh(NULL, 0,
       "d=\"%s/my\"; cdc_init_mariadb \"$d\" >&2; cp \"%s/server.crt\" \"%s/server.key\" \"$d/\"; "
       "chmod 600 \"$d/server.key\"; if [ $(id -u) -eq 0 ]; then chown mysql:mysql "
       "\"$d/server.crt\" \"$d/server.key\"; fi",
       dir, certs, certs);
    run_my(true);
    sh(NULL, 0, "cdc_setup_mariadb \"%s/my\" >&2", dir);
}

static int
setup(void **state)
{
    const char *data = getenv("CDC_TEST_DATA");
    char conf[2048];
    struct kp nk, other;

    (void) state;
    assert_non_null(data);
    snprintf(scripts, sizeof(scripts), "%s/../../scripts", data);
    snprintf(dir, sizeof(dir), "%s/sec", it_env("CDC_IT_TMP"));
    mkdir(dir, 0755);
    chmod(dir, 0755);
    snprintf(certs, sizeof(certs), "%s/certs", dir);
    sh(NULL, 0, "bash \"%s/../tests/integration/sec_certs.sh\" \"%s\"", scripts, certs);
    start_pg();
    start_my();

    snprintf(conf, sizeof(conf),
             "tls {\n  cert_file: \"%s/server.crt\"\n  key_file: \"%s/server.key\"\n"
             "  ca_file: \"%s/ca.crt\"\n  verify: true\n}\n",
             certs, certs, certs);
    mtls_port = start_nats("mtls", conf, mtls_pid, sizeof(mtls_pid));

    kp_new(&nk, NKEY_USER);
    kp_new(&other, NKEY_USER);
    snprintf(nkey_seed_file, sizeof(nkey_seed_file), "%s/user.nk", dir);
    snprintf(other_seed_file, sizeof(other_seed_file), "%s/other.nk", dir);
    write_file(nkey_seed_file, nk.seed);
    write_file(other_seed_file, other.seed);
    snprintf(conf, sizeof(conf),
             "authorization {\n  users: [\n    {user: \"sec_u\", password: \"%s\"}\n"
             "    {nkey: \"%s\"}\n  ]\n}\n",
             NATS_PW, nk.pub);
    auth_port = start_nats("auth", conf, auth_pid, sizeof(auth_pid));

    snprintf(conf, sizeof(conf),
             "authorization {\n  token: \"%s\"\n}\ntls {\n  cert_file: \"%s/server.crt\"\n"
             "  key_file: \"%s/server.key\"\n}\njetstream {\n  store_dir: \"%s/tok\"\n}\n",
             NATS_TOK, certs, certs, dir);
    tok_port = start_nats("tok", conf, tok_pid, sizeof(tok_pid));

    snprintf(conf, sizeof(conf), "%s/jwt.conf", dir);
    make_jwt_server_conf(conf);
    jwt_port = start_nats("jwt", NULL, jwt_pid, sizeof(jwt_pid));
    return 0;
}

static int
teardown(void **state)
{
    (void) state;
    sh(NULL, 0,
       "cdc_stop_pid %s 5; cdc_stop_pid %s 5; cdc_stop_pid %s 5; cdc_stop_pid %s 5; "
       "cdc_stop_pg \"%s/pg\" %s; cdc_stop_mariadb %s",
       mtls_pid, auth_pid, tok_pid, jwt_pid, dir, pg_pid, my_pid);
    return 0;
}

/* ---- PostgreSQL ------------------------------------------------------------------------------ */

static void
pg_opts(struct pgsrc_opts *o, const char *host, int sslmode, const char *ca)
{
    static char cafile[700];

    pgsrc_opts_init(o);
    snprintf(cafile, sizeof(cafile), "%s/%s", certs, ca);
    o->host = host;
    o->port = pg_port;
    o->user = "postgres";
    o->dbname = "sec";
    o->sslmode = sslmode;
    o->sslrootcert = cafile;
    o->create_slot = false;
    o->create_publication = false;
}

static void
test_pg_verify_full_with_the_right_ca_connects(void **state)
{
    struct pgsrc_opts o;
    struct pgsrc *src = NULL;
    struct cdc_err err;

    (void) state;
    pg_opts(&o, "localhost", PGSRC_SSL_VERIFY_FULL, "ca.crt");
    if (pgsrc_create(&src, &o, &err) != CDC_OK)
        fail_msg("verify-full: %s", err.msg);
    pgsrc_destroy(src);
}

static void
test_pg_wrong_ca_fails_naming_the_server(void **state)
{
    struct pgsrc_opts o;
    struct pgsrc *src = NULL;
    struct cdc_err err;
    char where[64];

    (void) state;
    pg_opts(&o, "localhost", PGSRC_SSL_VERIFY_CA, "other_ca.crt");
    assert_int_equal(pgsrc_create(&src, &o, &err), CDC_ERR_FATAL);
    snprintf(where, sizeof(where), "localhost:%d", pg_port);
    assert_non_null(strstr(err.msg, where));
    assert_non_null(strstr(err.msg, "certificate verify failed"));
}

static void
test_pg_wrong_host_name_fails_with_verify_full(void **state)
{
    struct pgsrc_opts o;
    struct pgsrc *src = NULL;
    struct cdc_err err;
    char where[64];

    (void) state;
    pg_opts(&o, "127.0.0.1", PGSRC_SSL_VERIFY_FULL, "ca.crt");
    assert_int_equal(pgsrc_create(&src, &o, &err), CDC_ERR_FATAL);
    snprintf(where, sizeof(where), "127.0.0.1:%d", pg_port);
    assert_non_null(strstr(err.msg, where));
    assert_non_null(strstr(err.msg, "does not match host name"));
    /* the same server and CA, verify-ca (no host name check): fine */
    o.sslmode = PGSRC_SSL_VERIFY_CA;
    if (pgsrc_create(&src, &o, &err) != CDC_OK)
        fail_msg("verify-ca: %s", err.msg);
    pgsrc_destroy(src);
}

struct pwcall {
    int calls;
    const char *give;
};

static cdc_rc
test_password(void *closure, const char *host, int port, const char *user, char **out,
              struct cdc_err *err)
{
    struct pwcall *c = closure;

    (void) err;
    assert_string_equal(host, "localhost");
    assert_int_equal(port, pg_port);
    assert_string_equal(user, "sec_user");
    c->calls++;
    *out = strdup(c->give);
    return CDC_OK;
}

static void
test_pg_password_callback_runs_for_every_connection(void **state)
{
    struct pgsrc_opts o;
    struct pgsrc *src = NULL;
    struct cdc_err err;
    struct pwcall pc = {0, PG_PW};

    (void) state;
    pg_opts(&o, "localhost", PGSRC_SSL_VERIFY_FULL, "ca.crt");
    o.user = "sec_user";
    o.password = "not-this-one";
    o.password_fn = test_password;
    o.password_closure = &pc;
    if (pgsrc_create(&src, &o, &err) != CDC_OK)
        fail_msg("callback password: %s", err.msg);
    pgsrc_destroy(src);
    assert_int_equal(pc.calls, 2); /* the SQL and the replication connection */
    pc.give = PG_PW_WRONG;
    assert_int_equal(pgsrc_create(&src, &o, &err), CDC_ERR_FATAL);
    assert_non_null(strstr(err.msg, "password authentication failed"));
    assert_null(strstr(err.msg, PG_PW_WRONG));
    assert_int_equal(pc.calls, 3);
}

static void
test_pg_require_refuses_a_server_without_tls(void **state)
{
    struct pgsrc_opts o;
    struct pgsrc *src = NULL;
    struct cdc_err err;
    char where[64];

    (void) state;
    sh(NULL, 0,
       "p=\"$CDC_PG_BINDIR/psql\"; $p -X -q -h \"%s/pg\" -p %d -U postgres -d postgres -c \"ALTER "
       "SYSTEM SET ssl = off\" -c \"SELECT pg_reload_conf()\" >/dev/null; sleep 1",
       dir, pg_port);
    pg_opts(&o, "localhost", PGSRC_SSL_REQUIRE, "ca.crt");
    o.sslrootcert = NULL;
    assert_int_equal(pgsrc_create(&src, &o, &err), CDC_ERR_FATAL);
    snprintf(where, sizeof(where), "localhost:%d", pg_port);
    assert_non_null(strstr(err.msg, where));
    assert_non_null(strstr(err.msg, "server does not support SSL"));
    sh(NULL, 0,
       "p=\"$CDC_PG_BINDIR/psql\"; $p -X -q -h \"%s/pg\" -p %d -U postgres -d postgres -c \"ALTER "
       "SYSTEM RESET ssl\" -c \"SELECT pg_reload_conf()\" >/dev/null; sleep 1",
       dir, pg_port);
}

/* ---- MariaDB --------------------------------------------------------------------------------- */

/* Connect (the SQL connection mysrc_create makes) with sslmode and CA file ca (NULL: none). */
static cdc_rc
my_try(const char *host, int sslmode, const char *ca, struct cdc_err *err)
{
    static char cafile[700];
    struct mysrc_opts o;
    struct mysrc *s = NULL;
    cdc_rc rc;

    mysrc_opts_init(&o);
    snprintf(cafile, sizeof(cafile), "%s/%s", certs, ca != NULL ? ca : "");
    o.host = host;
    o.port = my_port;
    o.user = CDC_MY_REPL_USER_IT;
    o.password = CDC_MY_REPL_PASSWORD_IT;
    o.sslmode = sslmode;
    o.ssl_ca = ca != NULL ? cafile : NULL;
    o.server_id = 4242;
    o.connect_timeout_s = 5;
    rc = mysrc_create(&s, &o, err);
    mysrc_destroy(s);
    return rc;
}

static void
test_mariadb_tls_verify_modes(void **state)
{
    struct cdc_err err;
    char where[64];

    (void) state;
    if (my_try("localhost", MYSRC_SSL_VERIFY_FULL, "ca.crt", &err) != CDC_OK)
        fail_msg("verify-full: %s", err.msg);
    if (my_try("127.0.0.1", MYSRC_SSL_VERIFY_CA, "ca.crt", &err) != CDC_OK)
        fail_msg("verify-ca, another host name: %s", err.msg);
    if (my_try("127.0.0.1", MYSRC_SSL_REQUIRE, NULL, &err) != CDC_OK)
        fail_msg("require: %s", err.msg);

    /* a wrong host name under verify-full */
    assert_int_equal(my_try("127.0.0.1", MYSRC_SSL_VERIFY_FULL, "ca.crt", &err), CDC_ERR_FATAL);
    print_message("wrong host: %s\n", err.msg);
    snprintf(where, sizeof(where), "127.0.0.1:%d", my_port);
    assert_non_null(strstr(err.msg, where));
    assert_non_null(strstr(err.msg, "TLS/SSL error"));
    /* a wrong CA */
    assert_int_equal(my_try("localhost", MYSRC_SSL_VERIFY_CA, "other_ca.crt", &err), CDC_ERR_FATAL);
    print_message("wrong CA: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "TLS/SSL error"));
    /* verify-ca without a CA file: the system's store, which does not hold the test CA */
    assert_int_equal(my_try("localhost", MYSRC_SSL_VERIFY_CA, NULL, &err), CDC_ERR_FATAL);
    print_message("system store: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "TLS/SSL error"));
    assert_null(strstr(err.msg, CDC_MY_REPL_PASSWORD_IT));
}

/* The server loses TLS: require refuses it (no plaintext fallback); disable connects. */
static void
test_mariadb_require_refuses_a_server_without_tls(void **state)
{
    struct cdc_err err;

    (void) state;
    sh(NULL, 0, "cdc_stop_mariadb %s", my_pid);
    run_my(false);
    assert_int_equal(my_try("localhost", MYSRC_SSL_REQUIRE, NULL, &err), CDC_ERR_FATAL);
    print_message("plaintext server: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "refusing a plaintext connection"));
    if (my_try("localhost", MYSRC_SSL_DISABLE, NULL, &err) != CDC_OK)
        fail_msg("disable: %s", err.msg);
}

/* ---- NATS ------------------------------------------------------------------------------------ */

static cdc_rc
nats_try(const char *url, struct jssink_opts *o, struct cdc_err *err)
{
    natsConnection *nc = NULL;
    natsOptions *no = NULL;
    cdc_rc rc;

    o->urls = &url;
    o->n_urls = 1;
    o->request_timeout_ms = 3000;
    rc = jsconn_open(&nc, &no, o, false, NULL, err);
    if (rc == CDC_OK) {
        natsConnection_Destroy(nc);
        natsOptions_Destroy(no);
    }
    return rc;
}

static void
test_nats_mutual_tls(void **state)
{
    char url[64], ip_url[64], ca[700], other[700], cert[700], key[700];
    struct jssink_opts o;
    struct cdc_err err;

    (void) state;
    snprintf(url, sizeof(url), "tls://localhost:%d", mtls_port);
    snprintf(ip_url, sizeof(ip_url), "tls://127.0.0.1:%d", mtls_port);
    snprintf(ca, sizeof(ca), "%s/ca.crt", certs);
    snprintf(other, sizeof(other), "%s/other_ca.crt", certs);
    snprintf(cert, sizeof(cert), "%s/client.crt", certs);
    snprintf(key, sizeof(key), "%s/client.key", certs);

    jssink_opts_init(&o);
    o.tls_ca_file = ca;
    o.tls_cert_file = cert;
    o.tls_key_file = key;
    if (nats_try(url, &o, &err) != CDC_OK)
        fail_msg("mTLS with the right certificate: %s", err.msg);

    /* no client certificate: the server ends the handshake */
    jssink_opts_init(&o);
    o.tls_ca_file = ca;
    assert_int_not_equal(nats_try(url, &o, &err), CDC_OK);
    assert_non_null(strstr(err.msg, "could not connect to NATS at tls://localhost:"));
    assert_non_null(strstr(err.msg, "(TLS)"));

    /* a CA that did not sign the server */
    jssink_opts_init(&o);
    o.tls_ca_file = other;
    o.tls_cert_file = cert;
    o.tls_key_file = key;
    assert_int_equal(nats_try(url, &o, &err), CDC_ERR_FATAL);
    assert_non_null(strstr(err.msg, "certificate"));

    /* the certificate is for localhost, not 127.0.0.1: host name verification */
    o.tls_ca_file = ca;
    assert_int_equal(nats_try(ip_url, &o, &err), CDC_ERR_FATAL);
    assert_non_null(strstr(err.msg, "127.0.0.1"));

    /* a client that does not ask for TLS is refused by the server, and one that asks for it
     * never falls back to plaintext with a server that lacks it */
    jssink_opts_init(&o);
    snprintf(url, sizeof(url), "nats://localhost:%d", mtls_port);
    assert_int_not_equal(nats_try(url, &o, &err), CDC_OK);
    jssink_opts_init(&o);
    o.tls_ca_file = ca;
    snprintf(url, sizeof(url), "nats://127.0.0.1:%d", auth_port);
    assert_int_not_equal(nats_try(url, &o, &err), CDC_OK);
    assert_non_null(strstr(err.msg, "(TLS)"));
}

static void
test_nats_user_password_and_nkey(void **state)
{
    char url[64];
    struct jssink_opts o;
    struct cdc_err err;

    (void) state;
    snprintf(url, sizeof(url), "nats://127.0.0.1:%d", auth_port);
    jssink_opts_init(&o);
    o.username = "sec_u";
    o.password = NATS_PW;
    if (nats_try(url, &o, &err) != CDC_OK)
        fail_msg("user/password: %s", err.msg);
    o.password = "Nats-Pw-Wrong-42";
    assert_int_equal(nats_try(url, &o, &err), CDC_ERR_FATAL);
    assert_non_null(strstr(err.msg, "Authorization Violation"));
    assert_null(strstr(err.msg, "Nats-Pw-Wrong-42"));

    jssink_opts_init(&o);
    o.nkey_seed_file = nkey_seed_file;
    if (nats_try(url, &o, &err) != CDC_OK)
        fail_msg("nkey: %s", err.msg);
    o.nkey_seed_file = other_seed_file;
    assert_int_equal(nats_try(url, &o, &err), CDC_ERR_FATAL);
    assert_non_null(strstr(err.msg, "Authorization Violation"));

    jssink_opts_init(&o); /* no credentials at all */
    assert_int_equal(nats_try(url, &o, &err), CDC_ERR_FATAL);
}

static void
test_nats_token(void **state)
{
    char url[64], ca[700];
    struct jssink_opts o;
    struct cdc_err err;

    (void) state;
    snprintf(url, sizeof(url), "tls://localhost:%d", tok_port);
    snprintf(ca, sizeof(ca), "%s/ca.crt", certs);
    jssink_opts_init(&o);
    o.tls_ca_file = ca;
    o.token = NATS_TOK;
    if (nats_try(url, &o, &err) != CDC_OK)
        fail_msg("token: %s", err.msg);
    o.token = "Nats-Tok-Wrong-78";
    assert_int_equal(nats_try(url, &o, &err), CDC_ERR_FATAL);
    assert_non_null(strstr(err.msg, "Authorization Violation"));
    assert_null(strstr(err.msg, "Nats-Tok-Wrong-78"));
}

static void
test_nats_creds_file(void **state)
{
    char url[64];
    struct jssink_opts o;
    struct cdc_err err;

    (void) state;
    snprintf(url, sizeof(url), "nats://127.0.0.1:%d", jwt_port);
    jssink_opts_init(&o);
    o.credentials_file = creds_file;
    if (nats_try(url, &o, &err) != CDC_OK)
        fail_msg("creds: %s", err.msg);
    o.credentials_file = other_creds_file;
    assert_int_equal(nats_try(url, &o, &err), CDC_ERR_FATAL);
    assert_non_null(strstr(err.msg, "Authorization Violation"));
    o.credentials_file = "/nonexistent/x.creds";
    assert_int_equal(nats_try(url, &o, &err), CDC_ERR_CONFIG);
    assert_non_null(strstr(err.msg, "/nonexistent/x.creds"));
}

/* ---- the daemon: a secret scan --------------------------------------------------------------- */

static const char *const secrets[] = {PG_PW,      PG_PW_WRONG, NATS_TOK,          "Nats-Tok-Bad-79",
                                      AWS_SECRET, AWS_SESSION, "X-Amz-Signature", "Action=connect"};

static void
assert_no_secret(const char *what, const char *text)
{
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
        if (strstr(text, secrets[i]) != NULL)
            fail_msg("%s contains the secret \"%s\"", what, secrets[i]);
}

/* GET path from 127.0.0.1:port; malloc'd response ("" on failure). */
static char *
http_get(int port, const char *path)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t) port)};
    char req[256], *buf = calloc(1, 1 << 20);
    size_t len = 0;
    ssize_t n;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *) &a, sizeof(a)) != 0) {
        if (fd >= 0)
            close(fd);
        return buf;
    }
    snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
    if (write(fd, req, strlen(req)) < 0)
        fail_msg("write: %s", strerror(errno));
    while (len + 1 < (1 << 20) && (n = read(fd, buf + len, (1 << 20) - 1 - len)) > 0)
        len += (size_t) n;
    close(fd);
    return buf;
}

struct collected {
    int n;
    char *all;
    size_t len;
};

static void
collect(void *c, const char *subject, const char *data, int len, const char *msg_id, uint64_t seq)
{
    struct collected *col = c;

    (void) subject;
    (void) msg_id;
    (void) seq;
    col->all = realloc(col->all, col->len + (size_t) len + 2);
    memcpy(col->all + col->len, data, (size_t) len);
    col->len += (size_t) len;
    col->all[col->len++] = '\n';
    col->all[col->len] = '\0';
    col->n++;
}

static void
run_failing(const char *name, const char *const *extra, const char *what)
{
    pid_t pid = it_daemon_start("sec", name, extra);
    char *log;

    (void) it_daemon_wait(pid, 20000);
    log = it_slurp(it_daemon_log(name));
    assert_no_secret(what, log);
    free(log);
}

static void
test_daemon_secret_scan(void **state)
{
    char pwfile[700], ca[700], url[64], host[16], port[16], metrics_port[16], e[8][800];
    const char *stream = it_stream_name("secscan");
    struct jssink_opts o;
    struct collected col = {0};
    struct cdc_err err;
    char *log, *metrics = NULL, *dump;
    int mport = it_free_port(), status;
    pid_t pid;
    FILE *p;
    PGconn *c;

    (void) state;
    snprintf(pwfile, sizeof(pwfile), "%s/pg.password", dir);
    write_file(pwfile, PG_PW "\n");
    snprintf(ca, sizeof(ca), "%s/ca.crt", certs);
    snprintf(url, sizeof(url), "tls://localhost:%d", tok_port);
    snprintf(host, sizeof(host), "localhost");
    snprintf(port, sizeof(port), "%d", pg_port);
    snprintf(metrics_port, sizeof(metrics_port), "%d", mport);
    setenv("AWS_RDS_PASSWORD_FILE", pwfile, 1);
    setenv("NATS_TOKEN", NATS_TOK, 1);
    snprintf(e[0], sizeof(e[0]), "rds.endpoint=%s", host);
    snprintf(e[1], sizeof(e[1]), "rds.port=%s", port);
    snprintf(e[2], sizeof(e[2]), "rds.ssl_mode=verify-full");
    snprintf(e[3], sizeof(e[3]), "rds.ssl_root_cert=%s", ca);
    snprintf(e[4], sizeof(e[4]), "nats.urls=%s", url);
    snprintf(e[5], sizeof(e[5]), "nats.tls.ca_file=%s", ca);
    snprintf(e[6], sizeof(e[6]), "server.port=%s", metrics_port);
    snprintf(e[7], sizeof(e[7]), "monitoring.prometheus.port=%s", metrics_port);
    {
        const char *extra[] = {
            "-X", e[0], "-X", e[1], "-X", e[2], "-X", "rds.username=sec_user", "-X",   e[3], "-X",
            e[4], "-X", e[5], "-X", e[6], "-X", e[7], "--exit-when-idle",      "3000", NULL};

        /* a good run over TLS, with a password from a file and a NATS token */
        {
            char conninfo[256];

            snprintf(conninfo, sizeof(conninfo),
                     "host=127.0.0.1 port=%d dbname=sec user=postgres sslmode=disable", pg_port);
            c = PQconnectdb(conninfo);
            assert_int_equal(PQstatus(c), CONNECTION_OK);
            PQclear(PQexec(c, "CREATE TABLE IF NOT EXISTS t (id int PRIMARY KEY, v text)"));
        }
        pid = it_daemon_start("sec", "secscan", extra);
        for (int i = 0; i < 100; i++) {
            char *r = http_get(mport, "/ready");

            bool ready = strstr(r, " 200 ") != NULL;
            free(r);
            if (ready)
                break;
            usleep(100000);
        }
        PQclear(PQexec(c, "INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')"));
        jssink_opts_init(&o);
        {
            const char *u = url;

            o.urls = &u;
            o.n_urls = 1;
            o.token = NATS_TOK;
            o.tls_ca_file = ca;
            for (int i = 0; i < 100 && col.n < 3; i++) {
                free(col.all);
                memset(&col, 0, sizeof(col));
                if (jssink_read_stream_with(&o, stream, NULL, collect, &col, 5000, &err) !=
                    CDC_OK) {
                    col.n = 0;
                }
                if (col.n < 3)
                    usleep(100000);
            }
        }
        metrics = http_get(mport, "/metrics");
        status = it_daemon_wait(pid, 30000);
        PQfinish(c);
        log = it_slurp(it_daemon_log("secscan"));
        if (col.n != 3 || status != 0)
            fail_msg("good run: %d events, exit %d; log:\n%s", col.n, status, log);
        assert_non_null(strstr(metrics, "cdc_"));
        assert_no_secret("the daemon's log (good run)", log);
        assert_no_secret("/metrics", metrics);
        assert_no_secret("the published events", col.all);
        free(log);
        free(metrics);
        free(col.all);

        /* --dump-config with every secret set */
        {
            char cmd[4096];
            size_t n;

            snprintf(cmd, sizeof(cmd),
                     "AWS_SECRET_ACCESS_KEY=%s AWS_SESSION_TOKEN=%s '%s' -X rds.endpoint=h -X "
                     "rds.username=u -X rds.database=d -X nats.urls=nats://u:%s@h:4222 "
                     "-X nats.token=%s --dump-config 2>&1",
                     AWS_SECRET, AWS_SESSION, it_env("CDC_BIN"), PG_PW_WRONG, NATS_TOK);
            p = popen(cmd, "r");
            dump = calloc(1, 65536);
            n = fread(dump, 1, 65535, p);
            dump[n] = '\0';
            pclose(p);
            assert_non_null(strstr(dump, "token: \"********\""));
            assert_non_null(strstr(dump, "password: \"********\""));
            assert_no_secret("--dump-config", dump);
            free(dump);
        }
    }
    {
        /* wrong NATS token, wrong PostgreSQL password, then IAM (the token is refused by
         * PostgreSQL, which cannot verify it: the run fails after sending it) */
        const char *bad_tok[] = {
            "-X", e[0], "-X", e[1], "-X", e[2], "-X", "rds.username=sec_user",
            "-X", e[3], "-X", e[4], "-X", e[5], "-X", "nats.token=Nats-Tok-Bad-79",
            NULL};
        const char *bad_pw[] = {
            "-X", e[0], "-X", e[1], "-X", e[2], "-X", "rds.username=sec_user",
            "-X", e[3], "-X", e[4], "-X", e[5], "-X", "rds.password=" PG_PW_WRONG,
            NULL};
        const char *iam[] = {
            "-X", e[0], "-X", e[1], "-X", e[2],           "-X", "rds.username=sec_user", "-X", e[3],
            "-X", e[4], "-X", e[5], "-X", "rds.auth=iam", "-X", "rds.region=eu-west-1",  NULL};

        unsetenv("NATS_TOKEN");
        run_failing("secbadtok", bad_tok, "the daemon's log (wrong NATS token)");
        setenv("NATS_TOKEN", NATS_TOK, 1);
        unsetenv("AWS_RDS_PASSWORD_FILE");
        run_failing("secbadpw", bad_pw, "the daemon's log (wrong PostgreSQL password)");
        setenv("AWS_ACCESS_KEY_ID", "AKIDSECSCAN", 1);
        setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET, 1);
        setenv("AWS_SESSION_TOKEN", AWS_SESSION, 1);
        run_failing("seciam", iam, "the daemon's log (IAM)");
        log = it_slurp(it_daemon_log("seciam"));
        /* the token was sent and refused: PostgreSQL checked a password, not an empty one */
        assert_non_null(strstr(log, "password authentication failed for user"));
        free(log);
        unsetenv("AWS_ACCESS_KEY_ID");
        unsetenv("AWS_SECRET_ACCESS_KEY");
        unsetenv("AWS_SESSION_TOKEN");
        unsetenv("NATS_TOKEN");
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pg_verify_full_with_the_right_ca_connects),
        cmocka_unit_test(test_pg_wrong_ca_fails_naming_the_server),
        cmocka_unit_test(test_pg_wrong_host_name_fails_with_verify_full),
        cmocka_unit_test(test_pg_password_callback_runs_for_every_connection),
        cmocka_unit_test(test_nats_mutual_tls),
        cmocka_unit_test(test_nats_user_password_and_nkey),
        cmocka_unit_test(test_nats_token),
        cmocka_unit_test(test_nats_creds_file),
        cmocka_unit_test(test_daemon_secret_scan),
        cmocka_unit_test(test_pg_require_refuses_a_server_without_tls),
        cmocka_unit_test(test_mariadb_tls_verify_modes),
        cmocka_unit_test(test_mariadb_require_refuses_a_server_without_tls),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
