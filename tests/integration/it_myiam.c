/*
 * it_myiam.c - RDS IAM authentication (rds.auth: iam) for MySQL/MariaDB,
 * end to end against a MariaDB of the test's own that checks the tokens the
 * way RDS would, and the rule that a token never leaves without TLS.
 *
 * RDS MySQL takes the IAM token as a cleartext password (client plugin
 * mysql_clear_password) over TLS. Here the same exchange reaches a
 * private MariaDB (scripts/myctl.sh, with a certificate signed by the test's
 * CA from sec_certs.sh) whose account is IDENTIFIED VIA pam (auth_pam, run
 * with pam_use_cleartext_plugin, so the client is asked for
 * mysql_clear_password exactly as RDS asks), and whose PAM service, written to
 * /etc/pam.d/ under a name unique to the run and removed at the end, runs a
 * checker script through pam_exec expose_authtok. The checker is bash and
 * openssl alone, not our C code: it recomputes the SigV4 presigned-URL
 * signature with the test's secret key and accepts only the token for
 * localhost:PORT, Action=connect, DBUser = the PAM user, X-Amz-Credential
 * = the test key / today / us-east-1 / rds-db, X-Amz-Expires=900,
 * X-Amz-SignedHeaders=host, X-Amz-Date within 5 minutes of now, and the right
 * signature, with no other parameter. It logs every token it sees (one per
 * line) so that the test can count connections and see a new token for each.
 * The checker itself is first checked on botocore's published
 * generate_db_auth_token vector.
 *
 * Needs root (the PAM service file, and the checker runs from auth_pam's
 * setuid helper); the tests that do are skipped with a message otherwise.
 * Two tests need no server: the refusal of iam without TLS, and a fake
 * server that offers no TLS and records every byte the client sends (none
 * may arrive; with TLS disabled and a plain password, the same fake server
 * receives the password, which shows it would have caught a token).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mysql.h>

#include "aws/awscreds.h"
#include "itlib.h"
#include "source/mysql/mysrc.h"

#define IAM_AK      "AKIDMYIAMTEST0000001"
#define IAM_SK      "MyIam-Secret-Test-Key-4f9e"
#define IAM_SK_BAD  "MyIam-Wrong-Secret-Key-77aa"
#define IAM_REGION  "us-east-1"
#define IAM_USER    "cdc_iam"
#define IAM_DB      "myiam"
#define PLAIN_PW    "Plain-Control-Pw-5521"
#define MYSQL_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static bool is_root;
static char dir[512], certs[600], scripts[600], chk[600], pam_service[96], pam_path[200];
static int my_port;
static char my_pid[32];

/* ---- helpers ------------------------------------------------------------------------------- */

#define sh(out, n, ...)                                                                            \
    do {                                                                                           \
        if (it_sh(out, n, __VA_ARGS__) != 0)                                                       \
            fail_msg("script failed at line %d", __LINE__);                                        \
    } while (0)

static void
write_file(const char *path, const char *s, mode_t mode)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(s, f);
    fclose(f);
    chmod(path, mode);
}

/* Lines in a file (0 when it does not exist). */
static int
count_lines(const char *path)
{
    char *s = it_slurp(path);
    int n = 0;

    if (s == NULL)
        return 0;
    for (const char *p = s; *p; p++)
        n += *p == '\n';
    free(s);
    return n;
}

/* The n-th line (0-based) of path into out. */
static void
nth_line(const char *path, int n, char *out, size_t cap)
{
    char *s = it_slurp(path), *p, *e;

    assert_non_null(s);
    p = s;
    for (int i = 0; i < n && p != NULL; i++) {
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
    assert_non_null(p);
    e = strchr(p, '\n');
    snprintf(out, cap, "%.*s", e != NULL ? (int) (e - p) : (int) strlen(p), p);
    free(s);
}

static void
tokens_path(char *out, size_t cap)
{
    snprintf(out, cap, "%s/tokens.log", chk);
}

/*
 * The checker (see the file header), for tokens of host:port signed with ak/sk in region;
 * now_cmd prints the "current" time in seconds (date +%s, or a fixed date for the vector).
 */
static void
write_checker(const char *path, const char *ak, const char *sk, const char *region,
              const char *hostport, const char *now_cmd, const char *logdir)
{
    char s[6000];

    snprintf(
        s, sizeof(s),
        "#!/bin/bash\n"
        "# RDS IAM token checker for pam_exec expose_authtok (a test tool of it_myiam.c)\n"
        "set -u\n"
        "AK='%s'; SK='%s'; REGION='%s'; HOSTPORT='%s'; LOG='%s'\n"
        "IFS= read -r -d '' tok || true\n"
        "tok=${tok%%$'\\n'}\n"
        "fail() { echo \"refused ${PAM_USER:-?}: $*\" >>\"$LOG/checker.err\"; exit 1; }\n"
        "echo \"$tok\" >>\"$LOG/tokens.log\"\n"
        "user=${PAM_USER:-}\n"
        "[ -n \"$user\" ] || fail 'no PAM_USER'\n"
        "case $tok in \"$HOSTPORT/?\"*) ;; *) fail 'not for this host:port' ;; esac\n"
        "q=${tok#\"$HOSTPORT/?\"}\n"
        "amzdate=$(tr '&' '\\n' <<<\"$q\" | sed -n 's/^X-Amz-Date=//p')\n"
        "[[ $amzdate =~ ^[0-9]{8}T[0-9]{6}Z$ ]] || fail 'X-Amz-Date'\n"
        "t=$(date -u -d \"${amzdate:0:4}-${amzdate:4:2}-${amzdate:6:2}T${amzdate:9:2}:"
        "${amzdate:11:2}:${amzdate:13:2}Z\" +%%s) || fail 'X-Amz-Date'\n"
        "now=$(%s)\n"
        "(( t <= now + 300 && t >= now - 300 )) || fail \"X-Amz-Date $amzdate is not now\"\n"
        "day=${amzdate:0:8}\n"
        "cq=\"Action=connect&DBUser=$user&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="
        "$AK%%2F$day%%2F$REGION%%2Frds-db%%2Faws4_request&X-Amz-Date=$amzdate&X-Amz-Expires=900&"
        "X-Amz-SignedHeaders=host\"\n"
        "creq=$(printf 'GET\\n/\\n%%s\\nhost:%%s\\n\\nhost\\n%%s' \"$cq\" "
        "\"$HOSTPORT\" " MYSQL_EMPTY ")\n"
        "h=$(printf '%%s' \"$creq\" | openssl dgst -sha256 -r | cut -d' ' -f1)\n"
        "sts=$(printf 'AWS4-HMAC-SHA256\\n%%s\\n%%s\\n%%s' \"$amzdate\" "
        "\"$day/$REGION/rds-db/aws4_request\" \"$h\")\n"
        "hm() { printf '%%s' \"$2\" | openssl dgst -sha256 -mac HMAC -macopt \"$1\" -r | cut "
        "-d' ' -f1; }\n"
        "k=$(hm \"key:AWS4$SK\" \"$day\"); k=$(hm \"hexkey:$k\" \"$REGION\")\n"
        "k=$(hm \"hexkey:$k\" rds-db); k=$(hm \"hexkey:$k\" aws4_request)\n"
        "sig=$(hm \"hexkey:$k\" \"$sts\")\n"
        "want=$(tr '&' '\\n' <<<\"$cq&X-Amz-Signature=$sig\" | LC_ALL=C sort)\n"
        "got=$(tr '&' '\\n' <<<\"$q\" | LC_ALL=C sort)\n"
        "[ \"$want\" = \"$got\" ] || fail 'parameters or signature differ'\n"
        "exit 0\n",
        ak, sk, region, hostport, logdir, now_cmd);
    write_file(path, s, 0755);
}

/*
 * Remove the PAM service file and stop the server, once: from the group teardown, and from
 * atexit should the set-up fail half-way (cmocka then skips the teardown).
 */
static void
cleanup(void)
{
    if (pam_path[0] != '\0')
        unlink(pam_path);
    pam_path[0] = '\0';
    if (my_pid[0] != '\0')
        (void) it_sh(NULL, 0, "cdc_stop_mariadb %s", my_pid);
    my_pid[0] = '\0';
}

/* ---- set-up -------------------------------------------------------------------------------- */

static int
setup(void **state)
{
    const char *data = getenv("CDC_TEST_DATA");
    char path[700], hostport[64], pam[900];

    (void) state;
    assert_non_null(data);
    snprintf(scripts, sizeof(scripts), "%s/../../scripts", data);
    snprintf(dir, sizeof(dir), "%s/myiam", it_env("CDC_IT_TMP"));
    mkdir(dir, 0755);
    chmod(dir, 0755);
    snprintf(chk, sizeof(chk), "%s/chk", dir);
    mkdir(chk, 0755);
    is_root = geteuid() == 0;
    if (!is_root)
        return 0;
    snprintf(certs, sizeof(certs), "%s/certs", dir);
    sh(NULL, 0, "bash \"%s/../tests/integration/sec_certs.sh\" \"%s\" >&2", scripts, certs);

    /* auth_pam asks for mysql_clear_password only with pam_use_cleartext_plugin, a read-only
       variable: on the command line, for the INSTALL SONAME below */
    atexit(cleanup);
    my_port = it_free_port();
    sh(NULL, 0,
       "d=\"%s/my\"; cdc_init_mariadb \"$d\" >&2; cp \"%s/server.crt\" \"%s/server.key\" \"$d/\"; "
       "chmod 600 \"$d/server.key\"; chown mysql:mysql \"$d/server.crt\" \"$d/server.key\"",
       dir, certs, certs);
    sh(my_pid, sizeof(my_pid),
       "CDC_MY_EXTRA_OPTS=--loose-pam-use-cleartext-plugin=ON cdc_run_mariadb \"%s/my\" %d", dir,
       my_port);

    /* the checker runs as mysql (bash drops the setuid helper's root): it must write its logs */
    snprintf(path, sizeof(path), "%s/checker.sh", chk);
    snprintf(hostport, sizeof(hostport), "localhost:%d", my_port);
    write_checker(path, IAM_AK, IAM_SK, IAM_REGION, hostport, "date -u +%s", chk);
    sh(NULL, 0, "chown -R mysql \"%s\"", chk);
    snprintf(pam_service, sizeof(pam_service), "cdc-it-myiam-%ld-%ld", (long) getpid(),
             (long) time(NULL));
    snprintf(pam_path, sizeof(pam_path), "/etc/pam.d/%s", pam_service);
    snprintf(pam, sizeof(pam),
             "auth required pam_exec.so expose_authtok quiet %s\naccount required pam_permit.so\n",
             path);
    write_file(pam_path, pam, 0644);

    sh(NULL, 0,
       "cdc_mariadb \"%s/my\" -e \"INSTALL SONAME \\\"auth_pam\\\"; CREATE USER %s@\\\"%%\\\" "
       "IDENTIFIED VIA pam USING \\\"%s\\\" REQUIRE SSL; GRANT REPLICATION SLAVE, BINLOG "
       "MONITOR, SELECT ON *.* TO %s@\\\"%%\\\"; CREATE DATABASE %s; CREATE TABLE %s.t (id INT "
       "PRIMARY KEY, v TEXT)\" >&2",
       dir, IAM_USER, pam_service, IAM_USER, IAM_DB, IAM_DB);
    return 0;
}

static int
teardown(void **state)
{
    (void) state;
    cleanup();
    return 0;
}

#define NEED_ROOT()                                                                                \
    do {                                                                                           \
        if (!is_root) {                                                                            \
            print_message("skipped: needs root (writes /etc/pam.d/, runs auth_pam's helper)\n");   \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

/* ---- the password callback, counted -------------------------------------------------------- */

static int n_calls;
static char last_token[2048];

/* awscreds_rds_password, counting its calls and keeping the last token (to look for it in
 * messages). */
static cdc_rc
counting_password(void *closure, const char *host, int port, const char *user, char **out,
                  struct cdc_err *err)
{
    cdc_rc rc = awscreds_rds_password(closure, host, port, user, out, err);

    n_calls++;
    if (rc == CDC_OK)
        snprintf(last_token, sizeof(last_token), "%s", *out);
    return rc;
}

static void
iam_opts(struct mysrc_opts *o)
{
    static char ca[700];

    mysrc_opts_init(o);
    snprintf(ca, sizeof(ca), "%s/ca.crt", certs);
    o->host = "localhost";
    o->port = my_port;
    o->user = IAM_USER;
    o->sslmode = MYSRC_SSL_VERIFY_FULL;
    o->ssl_ca = ca;
    o->password_fn = counting_password;
    o->password_closure = (void *) IAM_REGION;
    o->connect_timeout_s = 5;
}

static void
set_keys(const char *secret)
{
    setenv("AWS_ACCESS_KEY_ID", IAM_AK, 1);
    setenv("AWS_SECRET_ACCESS_KEY", secret, 1);
    unsetenv("AWS_SESSION_TOKEN");
    unsetenv("AWS_WEB_IDENTITY_TOKEN_FILE");
    unsetenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
}

/* ---- tests --------------------------------------------------------------------------------- */

/* The checker recomputes botocore's generate_db_auth_token test vector, and refuses it altered. */
static void
test_myiam_checker_accepts_the_published_vector(void **state)
{
    static const char tok[] =
        "prod-instance.us-east-1.rds.amazonaws.com:3306/?Action=connect&DBUser=someusername&"
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=akid%2F20161107%2Fus-east-1%2Frds-db%"
        "2Faws4_request&X-Amz-Date=20161107T173933Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&"
        "X-Amz-Signature=d1138cdbc0ca63eec012ec0fc6c2267e03642168f5884a7795320d4c18374c61";
    char vdir[700], path[800];

    (void) state;
    snprintf(vdir, sizeof(vdir), "%s/vector", dir);
    mkdir(vdir, 0755);
    snprintf(path, sizeof(path), "%s/checker.sh", vdir);
    write_checker(path, "akid", "skid", "us-east-1",
                  "prod-instance.us-east-1.rds.amazonaws.com:3306",
                  "date -u -d 2016-11-07T17:40:00Z +%s", vdir);
    assert_int_equal(
        it_sh(NULL, 0, "printf \"%%s\\0\" \"%s\" | PAM_USER=someusername bash %s", tok, path), 0);
    /* one hex digit of the signature changed; then another user; then an expiry of 3600 */
    assert_int_not_equal(it_sh(NULL, 0,
                               "t=\"%s\"; printf \"%%s\\0\" \"${t/d1138c/d1138d}\" | "
                               "PAM_USER=someusername bash %s",
                               tok, path),
                         0);
    assert_int_not_equal(
        it_sh(NULL, 0, "printf \"%%s\\0\" \"%s\" | PAM_USER=other bash %s", tok, path), 0);
    assert_int_not_equal(it_sh(NULL, 0,
                               "t=\"%s\"; printf \"%%s\\0\" \"${t/Expires=900/Expires=3600}\" | "
                               "PAM_USER=someusername bash %s",
                               tok, path),
                         0);
}

/* A callback that would send a token in cleartext is refused without TLS. */
static void
test_myiam_password_callback_needs_tls(void **state)
{
    struct mysrc_opts o;
    struct mysrc *s = NULL;
    struct cdc_err err = {0};

    (void) state;
    mysrc_opts_init(&o);
    o.host = "localhost";
    o.user = IAM_USER;
    o.sslmode = MYSRC_SSL_DISABLE;
    o.password_fn = counting_password;
    o.password_closure = (void *) IAM_REGION;
    n_calls = 0;
    assert_int_equal(mysrc_create(&s, &o, &err), CDC_ERR_CONFIG);
    assert_null(s);
    assert_non_null(strstr(err.msg, "needs TLS"));
    assert_int_equal(n_calls, 0);
}

/* Every connection gets a token of its own, which the server-side checker accepts. */
static void
test_myiam_new_token_for_every_connection(void **state)
{
    struct mysrc_opts o;
    struct mysrc *s = NULL;
    struct mysrc_pos pos;
    struct mysrc_event ev;
    struct cdc_err err = {0};
    char tp[700], t[3][1024], errp[700];

    (void) state;
    NEED_ROOT();
    tokens_path(tp, sizeof(tp));
    snprintf(errp, sizeof(errp), "%s/checker.err", chk);
    unlink(tp);
    set_keys(IAM_SK);
    iam_opts(&o);
    n_calls = 0;

    /* the SQL connection */
    if (mysrc_create(&s, &o, &err) != CDC_OK)
        fail_msg("IAM connection: %s", err.msg);
    assert_int_equal(n_calls, 1);
    assert_int_equal(count_lines(tp), 1);
    assert_int_equal(mysrc_current_position(s, &pos, NULL, &err), CDC_OK);

    /* the dump connection, a second later: a token of its own */
    sleep(1);
    if (mysrc_start_file(s, pos.file, pos.pos, &err) != CDC_OK)
        fail_msg("dump: %s", err.msg);
    if (mysrc_read(s, &ev, &err) != CDC_OK)
        fail_msg("dump read: %s", err.msg);
    assert_int_equal(n_calls, 2);
    assert_int_equal(count_lines(tp), 2);

    /* a reconnect of the dump: another one */
    sleep(1);
    assert_int_equal(mysrc_stop(s, &err), CDC_OK);
    if (mysrc_start_file(s, pos.file, pos.pos, &err) != CDC_OK)
        fail_msg("dump again: %s", err.msg);
    if (mysrc_read(s, &ev, &err) != CDC_OK)
        fail_msg("dump read again: %s", err.msg);
    mysrc_destroy(s);
    assert_int_equal(n_calls, 3);
    assert_int_equal(count_lines(tp), 3);
    for (int i = 0; i < 3; i++) {
        nth_line(tp, i, t[i], sizeof(t[i]));
        print_message("token %d: %.60s...\n", i, t[i]);
    }
    assert_string_not_equal(t[0], t[1]);
    assert_string_not_equal(t[1], t[2]);
    assert_string_not_equal(t[0], t[2]);
    assert_string_equal(t[2], last_token);
    /* the checker refused none of them */
    assert_int_equal(count_lines(errp), 0);
}

/* A wrong secret key: the server (the checker) refuses; the message names the server and holds
 * neither the secret nor the token. */
static void
test_myiam_wrong_secret_is_refused_clearly(void **state)
{
    struct mysrc_opts o;
    struct mysrc *s = NULL;
    struct cdc_err err = {0};
    char tp[700], errp[700], *log;

    (void) state;
    NEED_ROOT();
    tokens_path(tp, sizeof(tp));
    snprintf(errp, sizeof(errp), "%s/checker.err", chk);
    unlink(tp);
    unlink(errp);
    set_keys(IAM_SK_BAD);
    iam_opts(&o);
    n_calls = 0;
    assert_int_equal(mysrc_create(&s, &o, &err), CDC_ERR_FATAL);
    assert_null(s);
    print_message("wrong secret: %s\n", err.msg);
    assert_int_equal(n_calls, 1);
    assert_non_null(strstr(err.msg, "Access denied for user"));
    assert_non_null(strstr(err.msg, "IAM token was sent over TLS and refused"));
    assert_non_null(strstr(err.msg, "localhost:"));
    assert_null(strstr(err.msg, IAM_SK_BAD));
    assert_null(strstr(err.msg, "X-Amz"));
    assert_null(strstr(err.msg, last_token));
    /* the token did reach the checker, which refused its signature */
    assert_int_equal(count_lines(tp), 1);
    log = it_slurp(errp);
    assert_non_null(log);
    assert_non_null(strstr(log, "signature differ"));
    free(log);
    set_keys(IAM_SK);
}

/* ---- a server without TLS: a fake one that records what it receives ------------------------ */

struct fake {
    int lfd, port;
    pthread_t th;
    unsigned char got[4096];
    size_t n_got;
};

/* A protocol 10 greeting without CLIENT_SSL that names mysql_clear_password as its plugin. */
static size_t
fake_greeting(unsigned char *b)
{
    static const char plugin[] = "mysql_clear_password";
    /* LONG_PASSWORD, PROTOCOL_41, TRANSACTIONS, SECURE_CONNECTION | PLUGIN_AUTH; no SSL (0x800) */
    const uint32_t caps = 0x1u | 0x200u | 0x2000u | 0x8000u | 0x80000u;
    size_t n = 4;

    b[n++] = 10;
    memcpy(b + n, "5.7.44-fake", 12);
    n += 12;
    memset(b + n, 1, 4); /* connection id */
    n += 4;
    memcpy(b + n, "abcdefgh", 8); /* scramble, first part */
    n += 8;
    b[n++] = 0;
    b[n++] = caps & 0xff;
    b[n++] = (caps >> 8) & 0xff;
    b[n++] = 33; /* utf8 */
    b[n++] = 2;  /* SERVER_STATUS_AUTOCOMMIT */
    b[n++] = 0;
    b[n++] = (caps >> 16) & 0xff;
    b[n++] = (caps >> 24) & 0xff;
    b[n++] = 21; /* scramble length */
    memset(b + n, 0, 10);
    n += 10;
    memcpy(b + n, "ijklmnopqrst", 13); /* second part, with its NUL */
    n += 13;
    memcpy(b + n, plugin, sizeof(plugin));
    n += sizeof(plugin);
    b[0] = (unsigned char) ((n - 4) & 0xff);
    b[1] = (unsigned char) ((n - 4) >> 8);
    b[2] = 0;
    b[3] = 0; /* sequence id */
    return n;
}

/* One connection: greet, then keep every byte received until EOF or 3 s of silence. */
static void *
fake_run(void *arg)
{
    struct fake *f = arg;
    unsigned char g[128];
    size_t gl = fake_greeting(g);
    int fd = accept(f->lfd, NULL, NULL);

    if (fd < 0)
        return NULL;
    if (write(fd, g, gl) == (ssize_t) gl) {
        struct pollfd p = {.fd = fd, .events = POLLIN};

        while (poll(&p, 1, 3000) == 1) {
            ssize_t r = read(fd, f->got + f->n_got, sizeof(f->got) - f->n_got);

            if (r <= 0)
                break;
            f->n_got += (size_t) r;
            if (f->n_got == sizeof(f->got))
                break;
        }
    }
    close(fd);
    return NULL;
}

static void
fake_start(struct fake *f)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t al = sizeof(a);
    int one = 1;

    memset(f, 0, sizeof(*f));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    f->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(f->lfd >= 0);
    setsockopt(f->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    assert_int_equal(bind(f->lfd, (struct sockaddr *) &a, sizeof(a)), 0);
    assert_int_equal(listen(f->lfd, 1), 0);
    assert_int_equal(getsockname(f->lfd, (struct sockaddr *) &a, &al), 0);
    f->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&f->th, NULL, fake_run, f), 0);
}

static void
fake_stop(struct fake *f)
{
    pthread_join(f->th, NULL);
    close(f->lfd);
}

static bool
has_bytes(const struct fake *f, const char *s)
{
    return memmem(f->got, f->n_got, s, strlen(s)) != NULL;
}

/*
 * A server that offers no TLS and asks for mysql_clear_password: with a token (and TLS asked
 * for) the client sends nothing at all, not even the user name, and says why. With TLS disabled
 * and a plain password the same server receives the password: it would have seen a token.
 */
static void
test_myiam_token_never_sent_without_tls(void **state)
{
    struct mysrc_opts o;
    struct mysrc *s = NULL;
    struct cdc_err err = {0};
    struct fake f;

    (void) state;
    set_keys(IAM_SK);
    fake_start(&f);
    mysrc_opts_init(&o);
    o.host = "127.0.0.1";
    o.port = f.port;
    o.user = IAM_USER;
    o.sslmode = MYSRC_SSL_REQUIRE;
    o.password_fn = counting_password;
    o.password_closure = (void *) IAM_REGION;
    o.connect_timeout_s = 5;
    n_calls = 0;
    assert_int_equal(mysrc_create(&s, &o, &err), CDC_ERR_FATAL);
    fake_stop(&f);
    print_message("no TLS offered: %s (the fake server received %zu bytes)\n", err.msg, f.n_got);
    assert_non_null(strstr(err.msg, "refusing a plaintext connection before sending any"));
    assert_int_equal(n_calls, 1); /* a token was made ... */
    assert_int_equal(f.n_got, 0); /* ... and never sent */

    /* the control: TLS disabled, a plain password, same server */
    fake_start(&f);
    mysrc_opts_init(&o);
    o.host = "127.0.0.1";
    o.port = f.port;
    o.user = IAM_USER;
    o.password = PLAIN_PW;
    o.sslmode = MYSRC_SSL_DISABLE;
    o.connect_timeout_s = 2;
    o.read_timeout_s = 2;
    o.heartbeat_ms = 500;
    assert_int_not_equal(mysrc_create(&s, &o, &err), CDC_OK);
    fake_stop(&f);
    assert_true(has_bytes(&f, IAM_USER));
    assert_true(has_bytes(&f, PLAIN_PW));
    assert_null(strstr(err.msg, PLAIN_PW));
}

/* The daemon with rds.auth: iam streams from the server, and a restart signs new tokens. */
static void
test_myiam_daemon_streams_with_iam(void **state)
{
    static char x[10][700];
    const char *argv[32];
    char tp[700], t[2][1024], *log;
    int n = 0, before;
    pid_t pid;

    (void) state;
    NEED_ROOT();
    tokens_path(tp, sizeof(tp));
    set_keys(IAM_SK);
    snprintf(x[0], sizeof(x[0]), "rds.engine=mariadb");
    snprintf(x[1], sizeof(x[1]), "rds.endpoint=localhost");
    snprintf(x[2], sizeof(x[2]), "rds.port=%d", my_port);
    snprintf(x[3], sizeof(x[3]), "rds.username=%s", IAM_USER);
    snprintf(x[4], sizeof(x[4]), "rds.auth=iam");
    snprintf(x[5], sizeof(x[5]), "rds.region=%s", IAM_REGION);
    snprintf(x[6], sizeof(x[6]), "rds.ssl_mode=verify-full");
    snprintf(x[7], sizeof(x[7]), "rds.ssl_root_cert=%s/ca.crt", certs);
    for (int i = 0; i < 8; i++) {
        argv[n++] = "-X";
        argv[n++] = x[i];
    }
    argv[n] = NULL;

    it_stream_delete("myiam");
    for (int round = 0; round < 2; round++) {
        unlink(it_daemon_log("myiam"));
        before = count_lines(tp);
        pid = it_daemon_start(IAM_DB, "myiam", argv);
        it_wait_log("myiam", "streaming from", 30000);
        /* a row written now is published: the dump connection is authenticated too */
        sh(NULL, 0, "cdc_mariadb \"%s/my\" -e \"INSERT INTO %s.t VALUES (%d, \\\"iam\\\")\"", dir,
           IAM_DB, round + 1);
        if (it_wait_stream_count("myiam", round + 1, 30000) < round + 1)
            fail_msg("round %d: the row was not published", round);
        kill(pid, SIGTERM);
        assert_int_equal(it_daemon_wait(pid, 30000), 0);
        /* the SQL connection and the dump connection, each with its token */
        assert_true(count_lines(tp) >= before + 2);
        nth_line(tp, before, t[round], sizeof(t[round]));
        log = it_slurp(it_daemon_log("myiam"));
        assert_non_null(log);
        assert_null(strstr(log, IAM_SK));
        assert_null(strstr(log, "X-Amz-Signature"));
        free(log);
        sleep(1);
    }
    assert_string_not_equal(t[0], t[1]);

    /* a wrong secret key: the daemon stops with the server's refusal, and no secret */
    set_keys(IAM_SK_BAD);
    unlink(it_daemon_log("myiam"));
    pid = it_daemon_start(IAM_DB, "myiam", argv);
    assert_int_not_equal(it_daemon_wait(pid, 60000), 0);
    log = it_slurp(it_daemon_log("myiam"));
    assert_non_null(log);
    print_message("daemon, wrong secret: %.300s\n",
                  strstr(log, "Access denied") ? strstr(log, "Access denied") : log);
    assert_non_null(strstr(log, "Access denied for user"));
    assert_null(strstr(log, IAM_SK_BAD));
    assert_null(strstr(log, "X-Amz-Signature"));
    free(log);
    set_keys(IAM_SK);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_myiam_checker_accepts_the_published_vector),
        cmocka_unit_test(test_myiam_password_callback_needs_tls),
        cmocka_unit_test(test_myiam_token_never_sent_without_tls),
        cmocka_unit_test(test_myiam_new_token_for_every_connection),
        cmocka_unit_test(test_myiam_wrong_secret_is_refused_clearly),
        cmocka_unit_test(test_myiam_daemon_streams_with_iam),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, setup, teardown);
}
