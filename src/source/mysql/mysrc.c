/*
 * mysrc.c - the Connector/C side of the MySQL and MariaDB source: the SQL
 * connection, the preflight, and the binlog dump through Connector/C's
 * replication API (mariadb_rpl_init / _optionsv / _open / _fetch), in the
 * manner of a replica's IO thread.
 *
 * Framing and CRC32 verification are the connector's; it parses every event
 * body too, but we only take the raw bytes from it (raw_data) and read the
 * header ourselves, plus ROTATE's target and the GTID of GTID events, so that
 * positions are exact. The row decoder (rowdec.c) never sees a connector
 * structure. mariadb_rpl_extract_rows is never called: it mis-decodes many
 * column types.
 *
 * Connector/C 3.3 notes that shape this file:
 *  - mariadb_rpl_fetch() frees the event it was given when it fails, so our
 *    pointer to it is dropped at once;
 *  - its own errors (malformed event, checksum mismatch) are not reported
 *    (rpl_set_error() returns before recording them), so a failure with no
 *    server or network error is reported as CDC_ERR_PROTO;
 *  - it parses ROTATE as if a checksum always followed, so we always ask the
 *    server for the checksums its binlogs have (@master_binlog_checksum =
 *    @@global.binlog_checksum), which is also what a MariaDB server needs to
 *    accept the dump when binlog_checksum is CRC32;
 *  - it has no COM_BINLOG_DUMP_GTID: MySQL dumps start from file and position;
 *  - with MYSQL_OPT_SSL_ENFORCE but without the host name check it goes on in
 *    plaintext when the server offers no TLS, and the authentication plugin
 *    the server asks for then sends the password: mysql_clear_password (RDS
 *    IAM, PAM) and dialog send it as it is. MYSQL_ENABLE_CLEARTEXT_PLUGIN
 *    is accepted and ignored (the cleartext plugin is always available). So
 *    every TLS connection starts with our own client plugin (MYSQL_DEFAULT_AUTH,
 *    mysrc_tls_guard()): it runs after the server's greeting and before the
 *    client's first packet, refuses a server that does not offer TLS, and
 *    otherwise answers empty, which Connector/C sends after the TLS
 *    handshake; the server then asks for the account's own plugin, on the
 *    encrypted connection. No credential, not even the user name, goes out
 *    in plaintext.
 */
#include "source/mysql/mysrc.h"

#include "core/buf.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <mysql.h>
#include <mysql/plugin_auth.h>
#include <errmsg.h>
#include <mysqld_error.h>
#include <mariadb_rpl.h>

#define MYSRC_HEADER_LEN     19   /* v4 event header: ts, type, server_id, len, next_pos, flags */
#define MYSRC_ARTIFICIAL_F   0x20 /* LOG_EVENT_ARTIFICIAL_F */
#define MYSRC_EV_ROTATE      4
#define MYSRC_EV_FDE         15
#define MYSRC_EV_HEARTBEAT   27
#define MYSRC_EV_MYSQL_GTID  33
#define MYSRC_EV_MARIA_GTID  162
#define MYSRC_MARIA_CAP_GTID 4 /* MARIA_SLAVE_CAPABILITY_GTID: send GTID events as such */
#define MYSRC_GTID_SET_MAX   4096
#define MYSRC_GUARD_PLUGIN   "cdc_handler_tls_first" /* our client auth plugin (see above) */

/*
 * An authentication client plugin, as mysql/client_plugin.h declares it
 * (struct st_mysql_client_plugin_AUTHENTICATION, interface 0x0100). That header
 * cannot be included from Debian 12's libmariadb-dev: it includes ma_compress.h,
 * which the package does not ship. mysql.h has the common header.
 */
#define MYSRC_PLUGIN_TYPE_AUTH  2      /* MYSQL_CLIENT_AUTHENTICATION_PLUGIN */
#define MYSRC_PLUGIN_AUTH_IFACE 0x0100 /* MYSQL_CLIENT_AUTHENTICATION_PLUGIN_INTERFACE_VERSION */
struct mysrc_auth_plugin {
    MYSQL_CLIENT_PLUGIN_HEADER
    int (*authenticate_user)(MYSQL_PLUGIN_VIO *vio, MYSQL *mysql);
};

struct mysrc {
    MYSQL *sql;            /* queries: preflight, identity, positions */
    MYSQL *repl;           /* the dump, between mysrc_start_*() and mysrc_stop() */
    MARIADB_RPL *rpl;      /* the connector's replication handle on repl */
    MARIADB_RPL_EVENT *ev; /* the last event fetched, reused by the next fetch */
    char *host;            /* copies of the options we keep */
    char *socket;
    char *user;
    char *password; /* secret: only for connecting */
    mysrc_password_fn password_fn;
    void *password_closure;
    char *ssl_ca;
    int port;
    int sslmode;
    uint32_t server_id;
    int connect_timeout_s;
    int read_timeout_s;
    int write_timeout_s;
    int heartbeat_ms;
    bool streaming; /* the dump was requested and has not failed or stopped */
    bool known;     /* server[] has been read */
    struct mysrc_server server;
    size_t checksum_len;  /* 4 when events carry a CRC32, else 0 */
    struct mysrc_pos pos; /* what follows the last event read */
    char start[320];      /* the requested start, for messages: "file:pos" or "GTID ..." */
};

static pthread_once_t mysrc_lib_once = PTHREAD_ONCE_INIT;
static bool mysrc_guard_ok; /* MYSRC_GUARD_PLUGIN is registered (set once, under mysrc_lib_once) */

/* Set by mysrc_tls_guard() when it refuses: for this thread's current connection attempt. */
static _Thread_local bool mysrc_guard_refused;

/*
 * The first authentication step of every TLS connection. Connector/C calls it
 * after reading the greeting and before writing anything; its first packet is
 * sent inside the client's handshake answer, after the TLS handshake when the
 * server offers TLS (we always set MYSQL_OPT_SSL_ENFORCE with it), in
 * plaintext otherwise. So: no TLS offered, nothing is sent; else an empty
 * answer naming this plugin, which no server knows: the server replies with
 * an auth switch to the account's plugin, and that one runs over TLS.
 */
static int
mysrc_tls_guard(MYSQL_PLUGIN_VIO *vio, MYSQL *mysql)
{
    unsigned long caps = 0;

    if (mariadb_get_infov(mysql, MARIADB_CONNECTION_SERVER_CAPABILITIES, &caps) != 0 ||
        (caps & CLIENT_SSL) == 0) {
        mysrc_guard_refused = true;
        return CR_ERROR;
    }
    return vio->write_packet(vio, (const unsigned char *) "", 0) != 0 ? CR_ERROR : CR_OK;
}

static struct mysrc_auth_plugin mysrc_guard_plugin = {
    MYSRC_PLUGIN_TYPE_AUTH,
    MYSRC_PLUGIN_AUTH_IFACE,
    MYSRC_GUARD_PLUGIN,
    "cdc-handler",
    "sends nothing until the connection is encrypted",
    {1, 0, 0},
    "cdc-handler",
    NULL,
    NULL,
    NULL,
    NULL,
    mysrc_tls_guard,
};

/* mysql_init() initialises the library on first use, which is not thread-safe: do it once. */
static void
mysrc_lib_init(void)
{
    MYSQL *m;

    (void) mysql_library_init(0, NULL, NULL);
    m = mysql_init(NULL);
    if (m == NULL)
        return;
    /* the plugin list is the library's; registering returns the plugin already known by this
       name if there is one, which would not be ours */
    mysrc_guard_ok =
        mysql_client_register_plugin(m, (struct st_mysql_client_plugin *) &mysrc_guard_plugin) ==
        (struct st_mysql_client_plugin *) &mysrc_guard_plugin;
    mysql_close(m);
}

static uint32_t
mysrc_u32(const uint8_t *p)
{
    return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static uint64_t
mysrc_u64(const uint8_t *p)
{
    return (uint64_t) mysrc_u32(p) | (uint64_t) mysrc_u32(p + 4) << 32;
}

void
mysrc_opts_init(struct mysrc_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->port = 3306;
    o->sslmode = MYSRC_SSL_REQUIRE;
    o->server_id = MYSRC_DEFAULT_SERVER_ID;
    o->connect_timeout_s = 10;
    o->read_timeout_s = 30;
    o->write_timeout_s = 30;
    o->heartbeat_ms = 1000;
}

static cdc_rc
mysrc_check_opts(const struct mysrc_opts *o, struct cdc_err *err)
{
    if (o->port < 1 || o->port > 65535)
        return cdc_err_set(err, CDC_ERR_CONFIG, "invalid port %d", o->port);
    if (o->sslmode < MYSRC_SSL_DISABLE || o->sslmode > MYSRC_SSL_VERIFY_FULL)
        return cdc_err_set(err, CDC_ERR_CONFIG, "invalid sslmode %d", o->sslmode);
    if (o->server_id == 0)
        return cdc_err_set(err, CDC_ERR_CONFIG,
                           "invalid server_id 0: a replica needs 1 to 4294967295 (rds.server_id)");
    if (o->connect_timeout_s <= 0 || o->write_timeout_s <= 0)
        return cdc_err_set(err, CDC_ERR_CONFIG, "invalid connect or write timeout");
    if (o->heartbeat_ms <= 0 || (int64_t) o->read_timeout_s * 1000 <= o->heartbeat_ms)
        return cdc_err_set(err, CDC_ERR_CONFIG,
                           "invalid heartbeat %d ms: it must be positive and shorter than the "
                           "read timeout (%d s)",
                           o->heartbeat_ms, o->read_timeout_s);
    if (o->user == NULL || o->user[0] == '\0')
        return cdc_err_set(err, CDC_ERR_CONFIG, "no user name for MySQL");
    if (o->password_fn != NULL && o->sslmode == MYSRC_SSL_DISABLE)
        return cdc_err_set(err, CDC_ERR_CONFIG,
                           "a password callback (rds.auth: iam) needs TLS: its token would be sent "
                           "in cleartext; set rds.ssl_mode to verify-full (or require, verify-ca)");
    return CDC_OK;
}

static char *
mysrc_dup(const char *s, bool *oom)
{
    char *d;

    if (s == NULL || s[0] == '\0')
        return NULL;
    d = strdup(s);
    if (d == NULL)
        *oom = true;
    return d;
}

static const char *
mysrc_where(const struct mysrc *src, char *buf, size_t cap)
{
    if (src->socket != NULL)
        snprintf(buf, cap, "%s", src->socket);
    else
        snprintf(buf, cap, "%s:%d", src->host ? src->host : "localhost", src->port);
    return buf;
}

/* Client errors that mean the connection is gone, or the server is going away. */
static bool
mysrc_is_transient(unsigned e)
{
    switch (e) {
    case CR_CONNECTION_ERROR:
    case CR_CONN_HOST_ERROR:
    case CR_UNKNOWN_HOST:
    case CR_SERVER_GONE_ERROR:
    case CR_SERVER_LOST:
    case CR_SERVER_LOST_EXTENDED:
    case ER_SERVER_SHUTDOWN:
    case ER_CON_COUNT_ERROR:
    case ER_TOO_MANY_USER_CONNECTIONS:
    case ER_NET_READ_INTERRUPTED:
    case ER_NET_READ_ERROR:
    case ER_NET_ERROR_ON_WRITE:
    case ER_LOCK_WAIT_TIMEOUT:
    case ER_LOCK_DEADLOCK:
        return true;
    default:
        return false;
    }
}

/* Refusals at connect time: retrying will not help. Everything else is transient. */
static cdc_rc
mysrc_classify_connect(unsigned e)
{
    if (mysrc_is_transient(e) || e == 0 || (e >= 2000 && e < 3000 && e != CR_SSL_CONNECTION_ERROR))
        return CDC_ERR_RETRY;
    return CDC_ERR_FATAL;
}

/* Mask every copy of secret in msg (same length, in place). */
static void
mysrc_scrub(char *msg, const char *secret)
{
    size_t n;
    char *hit;

    if (secret == NULL || secret[0] == '\0')
        return;
    n = strlen(secret);
    while ((hit = strstr(msg, secret)) != NULL)
        memset(hit, '*', n);
}

/* Wipe and free a password we were given. */
static void
mysrc_wipe(char **pw)
{
    if (*pw != NULL) {
        explicit_bzero(*pw, strlen(*pw));
        free(*pw);
        *pw = NULL;
    }
}

/* TLS options on c, for every ssl mode but disable. */
static void
mysrc_set_tls(const struct mysrc *src, MYSQL *c)
{
    my_bool yes = 1, hostcheck = src->sslmode == MYSRC_SSL_VERIFY_FULL;

    /*
     * Connector/C 3.3 checks the chain whenever a CA file or path is set, and the host name
     * (plus the chain, against the system's store when no CA is set) with
     * VERIFY_SERVER_CERT. So verify-ca is a CA without the host check; without a CA file it
     * gets the system's CA directory, or nothing would be checked.
     */
    mysql_optionsv(c, MYSQL_OPT_SSL_ENFORCE, &yes);
    mysql_optionsv(c, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &hostcheck);
    mysql_optionsv(c, MARIADB_OPT_TLS_VERSION, "TLSv1.2,TLSv1.3");
    if (src->ssl_ca != NULL)
        mysql_optionsv(c, MYSQL_OPT_SSL_CA, src->ssl_ca);
    else if (src->sslmode == MYSRC_SSL_VERIFY_CA)
        mysql_optionsv(c, MYSQL_OPT_SSL_CAPATH, MYSRC_SYSTEM_CAPATH);
    /* nothing leaves before the TLS handshake, whatever plugin the server names (see the top) */
    mysql_optionsv(c, MYSQL_DEFAULT_AUTH, MYSRC_GUARD_PLUGIN);
    /* a no-op in Connector/C, which always has it; says what RDS IAM needs (libmysqlclient) */
    mysql_optionsv(c, MYSQL_ENABLE_CLEARTEXT_PLUGIN, &yes);
}

/* The error of a failed mysql_real_connect(), without the password in it. */
static cdc_rc
mysrc_connect_failed(const struct mysrc *src, MYSQL *c, const char *pw, struct cdc_err *err)
{
    char where[300], msg[1024];

    mysrc_where(src, where, sizeof(where));
    if (mysrc_guard_refused)
        return cdc_err_set(err, CDC_ERR_FATAL,
                           "could not connect to MySQL at %s: TLS/SSL error: the server does not "
                           "support TLS, and rds.ssl_mode asks for it: refusing a plaintext "
                           "connection before sending any credential (enable TLS on the server, "
                           "or set rds.ssl_mode: disable)",
                           where);
    snprintf(msg, sizeof(msg), "could not connect to MySQL at %s: %s%s", where, mysql_error(c),
             src->password_fn != NULL && mysql_errno(c) == ER_ACCESS_DENIED_ERROR
                 ? " (a fresh IAM token was sent over TLS and refused: check that the account is "
                   "IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS', that the IAM policy allows "
                   "rds-db:connect for this user, and the AWS credentials and rds.region)"
                 : "");
    mysrc_scrub(msg, pw);
    return cdc_err_set(err, mysrc_classify_connect(mysql_errno(c)), "%s", msg);
}

/*
 * Open a connection (the SQL one or a dump): a fresh password from password_fn
 * when there is one, TLS as sslmode says, and never a plaintext connection when
 * TLS was asked for.
 */
static cdc_rc
mysrc_connect(struct mysrc *src, MYSQL **out, struct cdc_err *err)
{
    unsigned int ct = (unsigned) src->connect_timeout_s, rt = (unsigned) src->read_timeout_s;
    unsigned int wt = (unsigned) src->write_timeout_s, proto;
    my_bool no = 0;
    char where[300], *fresh = NULL;
    const char *pw = src->password;
    MYSQL *c = NULL;
    cdc_rc rc;

    pthread_once(&mysrc_lib_once, mysrc_lib_init);
    if (src->sslmode != MYSRC_SSL_DISABLE && !mysrc_guard_ok)
        return cdc_err_set(err, CDC_ERR_FATAL,
                           "could not connect to MySQL: could not register the client plugin "
                           "\"%s\" that keeps credentials off a connection without TLS",
                           MYSRC_GUARD_PLUGIN);
    if (src->password_fn != NULL) {
        /* a new one for every connection: an IAM token expires 15 minutes after signing */
        rc = src->password_fn(src->password_closure, src->host, src->port, src->user, &fresh, err);
        if (rc != CDC_OK)
            return cdc_err_prefix(err, "could not connect to MySQL at %s",
                                  mysrc_where(src, where, sizeof(where)));
        if (fresh == NULL)
            return cdc_err_set(err, CDC_ERR_FATAL, "could not connect to MySQL at %s: no password",
                               mysrc_where(src, where, sizeof(where)));
        pw = fresh;
    }
    c = mysql_init(NULL);
    if (c == NULL) {
        rc = cdc_err_set(err, CDC_ERR_NOMEM, "could not connect to MySQL: out of memory");
        goto done;
    }
    mysql_optionsv(c, MYSQL_OPT_CONNECT_TIMEOUT, &ct);
    mysql_optionsv(c, MYSQL_OPT_READ_TIMEOUT, &rt);
    mysql_optionsv(c, MYSQL_OPT_WRITE_TIMEOUT, &wt);
    mysql_optionsv(c, MYSQL_OPT_RECONNECT, &no);
    mysql_optionsv(c, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    /* a socket when one is named; else TCP, even to "localhost" (which Connector/C would
       take as the default socket, ignoring the port) */
    proto = src->socket != NULL ? MYSQL_PROTOCOL_SOCKET : MYSQL_PROTOCOL_TCP;
    mysql_optionsv(c, MYSQL_OPT_PROTOCOL, &proto);
    if (src->sslmode != MYSRC_SSL_DISABLE)
        mysrc_set_tls(src, c);
    mysrc_guard_refused = false;
    if (mysql_real_connect(c, src->host, src->user, pw ? pw : "", NULL, (unsigned) src->port,
                           src->socket, CLIENT_MULTI_RESULTS) == NULL) {
        rc = mysrc_connect_failed(src, c, pw, err);
        goto done;
    }
    /*
     * Connector/C 3.3 enforces TLS only together with the host name check: with
     * SSL_ENFORCE alone it goes on in plaintext when the server offers no TLS. The guard
     * plugin stops that before any credential is sent; this check is the last line, for a
     * server that skipped the plugin step (no CLIENT_PLUGIN_AUTH, before MySQL 5.5).
     */
    if (src->sslmode != MYSRC_SSL_DISABLE && mysql_get_ssl_cipher(c) == NULL) {
        rc = cdc_err_set(err, CDC_ERR_FATAL,
                         "could not connect to MySQL at %s: TLS/SSL error: the server does not "
                         "support TLS, and rds.ssl_mode asks for it: refusing a plaintext "
                         "connection (enable TLS on the server, or set rds.ssl_mode: disable)",
                         mysrc_where(src, where, sizeof(where)));
        goto done;
    }
    *out = c;
    c = NULL;
    rc = CDC_OK;
done:
    if (c != NULL)
        mysql_close(c);
    mysrc_wipe(&fresh);
    return rc;
}

void
mysrc_destroy(struct mysrc *src)
{
    if (src == NULL)
        return;
    (void) mysrc_stop(src, NULL);
    if (src->sql != NULL)
        mysql_close(src->sql);
    free(src->host);
    free(src->socket);
    free(src->user);
    mysrc_wipe(&src->password);
    free(src->ssl_ca);
    free(src);
}

cdc_rc
mysrc_create(struct mysrc **out, const struct mysrc_opts *opts, struct cdc_err *err)
{
    struct mysrc *src;
    bool oom = false;
    cdc_rc rc;

    rc = mysrc_check_opts(opts, err);
    if (rc != CDC_OK)
        return rc;
    src = calloc(1, sizeof(*src));
    if (src == NULL)
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory creating the MySQL source");
    src->host = mysrc_dup(opts->host, &oom);
    src->socket = mysrc_dup(opts->socket, &oom);
    src->user = mysrc_dup(opts->user, &oom);
    src->password = mysrc_dup(opts->password, &oom);
    src->password_fn = opts->password_fn;
    src->password_closure = opts->password_closure;
    src->ssl_ca = mysrc_dup(opts->ssl_ca, &oom);
    src->port = opts->port;
    src->sslmode = opts->sslmode;
    src->server_id = opts->server_id;
    src->connect_timeout_s = opts->connect_timeout_s;
    src->read_timeout_s = opts->read_timeout_s;
    src->write_timeout_s = opts->write_timeout_s;
    src->heartbeat_ms = opts->heartbeat_ms;
    if (oom) {
        rc = cdc_err_set(err, CDC_ERR_NOMEM, "out of memory copying source options");
        goto fail;
    }
    rc = mysrc_connect(src, &src->sql, err);
    if (rc != CDC_OK)
        goto fail;
    *out = src;
    return CDC_OK;
fail:
    mysrc_destroy(src);
    return rc;
}

/* A failed statement: lost connections are transient, the rest will repeat. */
static cdc_rc
mysrc_query_failed(MYSQL *c, const char *what, struct cdc_err *err)
{
    unsigned e = mysql_errno(c);

    return cdc_err_set(err, mysrc_is_transient(e) ? CDC_ERR_RETRY : CDC_ERR_FATAL,
                       "could not %s: %s (error %u)", what, mysql_error(c), e);
}

/*
 * Run sql; its result set, if any, is returned in *res (NULL: freed). Every
 * further result (a CALL returns a status after its rows) is drained.
 */
static cdc_rc
mysrc_query(MYSQL *c, const char *what, const char *sql, MYSQL_RES **res, struct cdc_err *err)
{
    MYSQL_RES *r;
    int more;

    if (res != NULL)
        *res = NULL;
    if (mysql_query(c, sql) != 0)
        return mysrc_query_failed(c, what, err);
    r = mysql_store_result(c);
    if (r == NULL && mysql_field_count(c) != 0)
        return mysrc_query_failed(c, what, err);
    while ((more = mysql_next_result(c)) == 0)
        mysql_free_result(mysql_store_result(c));
    if (more > 0) {
        mysql_free_result(r);
        return mysrc_query_failed(c, what, err);
    }
    if (res != NULL)
        *res = r;
    else
        mysql_free_result(r);
    return CDC_OK;
}

/* The first column of the first row into buf ("" and *is_null for NULL or no row). */
static cdc_rc
mysrc_value(MYSQL *c, const char *what, const char *sql, char *buf, size_t cap, bool *is_null,
            struct cdc_err *err)
{
    MYSQL_RES *r;
    MYSQL_ROW row;
    cdc_rc rc;

    rc = mysrc_query(c, what, sql, &r, err);
    if (rc != CDC_OK)
        return rc;
    buf[0] = '\0';
    row = r != NULL ? mysql_fetch_row(r) : NULL;
    if (is_null != NULL)
        *is_null = row == NULL || row[0] == NULL;
    if (row != NULL && row[0] != NULL)
        snprintf(buf, cap, "%s", row[0]);
    mysql_free_result(r);
    return CDC_OK;
}

static cdc_rc
mysrc_read_server(struct mysrc *src, struct cdc_err *err)
{
    struct mysrc_server *s = &src->server;
    char buf[64];
    MYSQL_RES *r;
    MYSQL_ROW row;
    cdc_rc rc;

    memset(s, 0, sizeof(*s));
    rc = mysrc_query(src->sql, "read the server identity",
                     "SELECT @@version, @@server_id, @@binlog_checksum", &r, err);
    if (rc != CDC_OK)
        return rc;
    row = r != NULL ? mysql_fetch_row(r) : NULL;
    if (row == NULL || row[0] == NULL || row[1] == NULL) {
        mysql_free_result(r);
        return cdc_err_set(err, CDC_ERR_PROTO, "could not read the server identity: no row");
    }
    snprintf(s->version, sizeof(s->version), "%s", row[0]);
    s->server_id = (uint32_t) strtoul(row[1], NULL, 10);
    snprintf(s->binlog_checksum, sizeof(s->binlog_checksum), "%s", row[2] ? row[2] : "NONE");
    mysql_free_result(r);
    s->is_mariadb = strstr(s->version, "MariaDB") != NULL;
    if (s->is_mariadb) {
        s->gtid_mode = true;
    } else {
        rc = mysrc_value(src->sql, "read @@server_uuid", "SELECT @@server_uuid", s->server_uuid,
                         sizeof(s->server_uuid), NULL, err);
        if (rc == CDC_OK)
            rc = mysrc_value(src->sql, "read @@gtid_mode", "SELECT @@gtid_mode", buf, sizeof(buf),
                             NULL, err);
        if (rc != CDC_OK)
            return rc;
        s->gtid_mode = strcmp(buf, "ON") == 0;
    }
    src->known = true;
    return CDC_OK;
}

cdc_rc
mysrc_server_info(struct mysrc *src, struct mysrc_server *out, struct cdc_err *err)
{
    cdc_rc rc = mysrc_read_server(src, err);

    if (rc == CDC_OK)
        *out = src->server;
    return rc;
}

/* ---- preflight ------------------------------------------------------------------------ */

static void __attribute__((format(printf, 4, 5)))
mysrc_finding(struct mysrc_preflight *pf, enum mysrc_severity sev, const char *what,
              const char *fmt, ...)
{
    struct mysrc_check *c;
    va_list ap;

    if (pf->n >= MYSRC_CHECKS_MAX)
        return;
    c = &pf->v[pf->n++];
    c->severity = sev;
    snprintf(c->what, sizeof(c->what), "%s", what);
    va_start(ap, fmt);
    vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
    va_end(ap);
}

/* The variables the preflight reads, by name. */
struct mysrc_vars {
    char log_bin[8];
    char format[16];
    char row_image[16];
    char row_metadata[16]; /* "" when the server has no such variable */
    int64_t expire_s; /* binlog_expire_logs_seconds, or expire_logs_days in seconds; 0: never */
};

static cdc_rc
mysrc_read_vars(struct mysrc *src, struct mysrc_vars *v, struct cdc_err *err)
{
    MYSQL_RES *r;
    MYSQL_ROW row;
    int64_t days = 0, secs = 0;
    cdc_rc rc;

    memset(v, 0, sizeof(*v));
    rc = mysrc_query(src->sql, "read the binlog settings",
                     "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('log_bin', 'binlog_format', "
                     "'binlog_row_image', 'binlog_row_metadata', 'binlog_expire_logs_seconds', "
                     "'expire_logs_days')",
                     &r, err);
    if (rc != CDC_OK)
        return rc;
    while (r != NULL && (row = mysql_fetch_row(r)) != NULL) {
        const char *name = row[0], *val = row[1] ? row[1] : "";

        if (name == NULL)
            continue;
        if (strcmp(name, "log_bin") == 0)
            snprintf(v->log_bin, sizeof(v->log_bin), "%s", val);
        else if (strcmp(name, "binlog_format") == 0)
            snprintf(v->format, sizeof(v->format), "%s", val);
        else if (strcmp(name, "binlog_row_image") == 0)
            snprintf(v->row_image, sizeof(v->row_image), "%s", val);
        else if (strcmp(name, "binlog_row_metadata") == 0)
            snprintf(v->row_metadata, sizeof(v->row_metadata), "%s", val);
        else if (strcmp(name, "binlog_expire_logs_seconds") == 0)
            secs = strtoll(val, NULL, 10);
        else if (strcmp(name, "expire_logs_days") == 0)
            days = (int64_t) (strtod(val, NULL) * 86400.0);
    }
    mysql_free_result(r);
    v->expire_s = secs > 0 ? secs : days;
    return CDC_OK;
}

static void
mysrc_check_vars(const struct mysrc_vars *v, struct mysrc_preflight *pf)
{
    if (strcmp(v->log_bin, "ON") != 0)
        mysrc_finding(pf, MYSRC_SEV_ERROR, "log_bin",
                      "binary logging is off (log_bin=%s): turn it on (RDS: set the backup "
                      "retention period above 0, which enables binlogs; elsewhere: log_bin)",
                      v->log_bin[0] ? v->log_bin : "?");
    if (strcmp(v->format, "ROW") != 0)
        mysrc_finding(pf, MYSRC_SEV_ERROR, "binlog_format",
                      "binlog_format is %s, not ROW: row changes are not logged; set "
                      "binlog_format=ROW in the DB parameter group (or SET GLOBAL "
                      "binlog_format='ROW' and reconnect the writers)",
                      v->format[0] ? v->format : "?");
    if (strcmp(v->row_image, "FULL") != 0)
        mysrc_finding(pf, MYSRC_SEV_WARN, "binlog_row_image",
                      "binlog_row_image is %s, not FULL: events will lack the values of "
                      "unchanged columns (listed in metadata.unchanged_columns); set "
                      "binlog_row_image=FULL for complete before and after images",
                      v->row_image[0] ? v->row_image : "?");
    if (v->row_metadata[0] == '\0')
        mysrc_finding(pf, MYSRC_SEV_INFO, "binlog_row_metadata",
                      "the server has no binlog_row_metadata (MySQL < 8.0.1, MariaDB < 10.5): "
                      "column names come from information_schema, which a concurrent DDL can "
                      "make wrong; upgrade for exact names");
    else if (strcmp(v->row_metadata, "FULL") != 0)
        mysrc_finding(pf, MYSRC_SEV_WARN, "binlog_row_metadata",
                      "binlog_row_metadata is %s: column names come from information_schema, "
                      "which a concurrent DDL can make wrong; set binlog_row_metadata=FULL",
                      v->row_metadata);
}

/* Whether the privilege list of one GRANT line names priv (or ALL PRIVILEGES). */
static bool
mysrc_grant_has(const char *privs, size_t n, const char *priv)
{
    size_t pl = strlen(priv);

    for (const char *p = privs; p < privs + n;) {
        const char *comma = memchr(p, ',', (size_t) (privs + n - p));
        size_t len = comma ? (size_t) (comma - p) : (size_t) (privs + n - p);

        while (len > 0 && *p == ' ')
            p++, len--;
        while (len > 0 && p[len - 1] == ' ')
            len--;
        if ((len == pl && strncasecmp(p, priv, pl) == 0) ||
            (len == 14 && strncasecmp(p, "ALL PRIVILEGES", 14) == 0))
            return true;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    return false;
}

static cdc_rc
mysrc_check_grants(struct mysrc *src, struct mysrc_preflight *pf, struct cdc_err *err)
{
    bool slave = false, client = false, select = false, roles = false;
    enum mysrc_severity sev;
    MYSQL_RES *r;
    MYSQL_ROW row;
    cdc_rc rc;

    rc = mysrc_query(src->sql, "read the grants", "SHOW GRANTS FOR CURRENT_USER()", &r, err);
    if (rc != CDC_OK)
        return rc;
    while (r != NULL && (row = mysql_fetch_row(r)) != NULL) {
        const char *g = row[0], *on;
        size_t n;

        if (g == NULL || strncasecmp(g, "GRANT ", 6) != 0)
            continue;
        on = strstr(g, " ON ");
        if (on == NULL) {
            roles = true; /* GRANT `role` TO `user` */
            continue;
        }
        n = (size_t) (on - g - 6);
        if (strncmp(on, " ON *.* ", 8) == 0) {
            slave = slave || mysrc_grant_has(g + 6, n, "REPLICATION SLAVE") ||
                    mysrc_grant_has(g + 6, n, "REPLICATION REPLICA");
            client = client || mysrc_grant_has(g + 6, n, "REPLICATION CLIENT") ||
                     mysrc_grant_has(g + 6, n, "BINLOG MONITOR");
        }
        select = select || mysrc_grant_has(g + 6, n, "SELECT");
    }
    mysql_free_result(r);
    /* a role may hold what is missing: then it is only a warning */
    sev = roles ? MYSRC_SEV_WARN : MYSRC_SEV_ERROR;
    if (!slave)
        mysrc_finding(pf, sev, "grants",
                      "the account lacks REPLICATION SLAVE%s: GRANT REPLICATION SLAVE ON *.* TO "
                      "the CDC user",
                      roles ? " (unless a role grants it)" : "");
    if (!client)
        mysrc_finding(pf, MYSRC_SEV_WARN, "grants",
                      "the account lacks REPLICATION CLIENT (BINLOG MONITOR on MariaDB): the "
                      "current binlog position cannot be read; GRANT REPLICATION CLIENT ON *.* "
                      "TO the CDC user");
    if (!select)
        mysrc_finding(pf, MYSRC_SEV_WARN, "grants",
                      "the account has no SELECT privilege: column names cannot be read from "
                      "information_schema; GRANT SELECT ON the captured databases");
    return CDC_OK;
}

/* RDS: CALL mysql.rds_show_configuration; error 1305 means it is not RDS. */
static cdc_rc
mysrc_check_rds(struct mysrc *src, int64_t downtime_s, struct mysrc_preflight *pf,
                struct cdc_err *err)
{
    MYSQL_RES *r = NULL;
    MYSQL_ROW row;
    bool found = false, null = true;
    int64_t hours = -1;
    cdc_rc rc;

    rc = mysrc_query(src->sql, "call mysql.rds_show_configuration",
                     "CALL mysql.rds_show_configuration", &r, err);
    if (rc != CDC_OK) {
        unsigned e = mysql_errno(src->sql);

        char basedir[256];

        if (rc == CDC_ERR_RETRY)
            return rc;
        cdc_err_clear(err);
        if (e == ER_SP_DOES_NOT_EXIST || e == ER_BAD_DB_ERROR)
            return CDC_OK;
        /* without EXECUTE the server says "denied" whether or not the procedure exists:
         * RDS installs its servers under /rdsdbbin */
        rc = mysrc_value(src->sql, "read @@basedir", "SELECT @@basedir", basedir, sizeof(basedir),
                         NULL, err);
        if (rc != CDC_OK)
            return rc;
        if (strncmp(basedir, "/rdsdbbin/", 10) != 0)
            return CDC_OK;
        pf->is_rds = true;
        mysrc_finding(pf, MYSRC_SEV_WARN, "retention",
                      "could not read the RDS binlog retention (error %u): GRANT EXECUTE ON "
                      "PROCEDURE mysql.rds_show_configuration to the CDC user",
                      e);
        return CDC_OK;
    }
    pf->is_rds = true;
    while (r != NULL && (row = mysql_fetch_row(r)) != NULL) {
        if (row[0] != NULL && strcmp(row[0], "binlog retention hours") == 0) {
            found = true;
            null = row[1] == NULL || strcmp(row[1], "NULL") == 0;
            if (!null)
                hours = strtoll(row[1], NULL, 10);
        }
    }
    mysql_free_result(r);
    pf->retention_hours = hours;
    if (!found || null)
        mysrc_finding(pf, MYSRC_SEV_WARN, "retention",
                      "RDS binlog retention hours is NULL: RDS purges binlogs soon after they "
                      "are written, so a short stop loses the position; CALL "
                      "mysql.rds_set_configuration('binlog retention hours', %lld)",
                      (long long) (downtime_s > 0 ? (downtime_s + 3599) / 3600 : 24));
    else if (downtime_s > 0 && hours * 3600 < downtime_s)
        mysrc_finding(pf, MYSRC_SEV_WARN, "retention",
                      "RDS binlog retention hours is %lld, shorter than the tolerable downtime "
                      "of %llds: a stop that long loses the position; CALL "
                      "mysql.rds_set_configuration('binlog retention hours', %lld)",
                      (long long) hours, (long long) downtime_s,
                      (long long) ((downtime_s + 3599) / 3600));
    return CDC_OK;
}

cdc_rc
mysrc_preflight(struct mysrc *src, int64_t tolerable_downtime_s, struct mysrc_preflight *out,
                struct cdc_err *err)
{
    struct mysrc_vars v;
    cdc_rc rc;

    memset(out, 0, sizeof(*out));
    out->retention_hours = -1;
    rc = mysrc_read_vars(src, &v, err);
    if (rc != CDC_OK)
        return rc;
    mysrc_check_vars(&v, out);
    rc = mysrc_check_grants(src, out, err);
    if (rc != CDC_OK)
        return rc;
    rc = mysrc_check_rds(src, tolerable_downtime_s, out, err);
    if (rc != CDC_OK)
        return rc;
    if (!out->is_rds && tolerable_downtime_s > 0 && v.expire_s > 0 &&
        v.expire_s < tolerable_downtime_s)
        mysrc_finding(out, MYSRC_SEV_WARN, "retention",
                      "binlogs expire after %llds, less than the tolerable downtime of %llds: "
                      "a stop that long loses the position; raise binlog_expire_logs_seconds",
                      (long long) v.expire_s, (long long) tolerable_downtime_s);
    return CDC_OK;
}

/* ---- positions ------------------------------------------------------------------------ */

cdc_rc
mysrc_current_position(struct mysrc *src, struct mysrc_pos *pos, char **gtid_set,
                       struct cdc_err *err)
{
    char *gtid = NULL;
    MYSQL_RES *r = NULL;
    MYSQL_ROW row;
    cdc_rc rc;

    if (!src->known && (rc = mysrc_read_server(src, err)) != CDC_OK)
        return rc;
    rc = mysrc_query(src->sql, "read the binlog position", "SHOW MASTER STATUS", &r, err);
    /* MySQL 8.4 removed SHOW MASTER STATUS */
    if (rc == CDC_ERR_FATAL && mysql_errno(src->sql) == ER_PARSE_ERROR)
        rc = mysrc_query(src->sql, "read the binlog position", "SHOW BINARY LOG STATUS", &r, err);
    if (rc != CDC_OK)
        return rc;
    row = r != NULL ? mysql_fetch_row(r) : NULL;
    if (row == NULL || row[0] == NULL || row[1] == NULL || strlen(row[0]) >= sizeof(pos->file)) {
        mysql_free_result(r);
        return cdc_err_set(err, CDC_ERR_FATAL,
                           "could not read the binlog position: SHOW MASTER STATUS is empty "
                           "(binary logging is off: turn log_bin on)");
    }
    snprintf(pos->file, sizeof(pos->file), "%s", row[0]);
    pos->pos = strtoull(row[1], NULL, 10);
    mysql_free_result(r);
    if (gtid_set == NULL)
        return CDC_OK;
    gtid = malloc(MYSRC_GTID_SET_MAX);
    if (gtid == NULL)
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory reading the GTID position");
    rc = mysrc_value(src->sql, "read the GTID position",
                     src->server.is_mariadb ? "SELECT @@global.gtid_binlog_pos"
                                            : "SELECT @@global.gtid_executed",
                     gtid, MYSRC_GTID_SET_MAX, NULL, err);
    if (rc != CDC_OK) {
        free(gtid);
        return rc;
    }
    *gtid_set = gtid;
    return CDC_OK;
}

const struct mysrc_pos *
mysrc_position(const struct mysrc *src)
{
    return &src->pos;
}

/* ---- the dump ------------------------------------------------------------------------- */

cdc_rc
mysrc_stop(struct mysrc *src, struct cdc_err *err)
{
    (void) err;
    if (src->ev != NULL)
        mariadb_free_rpl_event(src->ev);
    src->ev = NULL;
    if (src->rpl != NULL)
        mariadb_rpl_close(src->rpl);
    src->rpl = NULL;
    if (src->repl != NULL)
        mysql_close(src->repl);
    src->repl = NULL;
    src->streaming = false;
    return CDC_OK;
}

/* Digits, '-' and ',' only: a MariaDB GTID position, safe inside quotes. */
static bool
mysrc_is_gtid_list(const char *s)
{
    return s != NULL && s[0] != '\0' && strlen(s) < MYSRC_GTID_SET_MAX &&
           strspn(s, "0123456789-,") == strlen(s);
}

/* The session variables a replica sets before asking for the dump. */
static cdc_rc
mysrc_session(struct mysrc *src, const char *gtid_set, struct cdc_err *err)
{
    char sql[MYSRC_GTID_SET_MAX + 64], alg[16];
    cdc_rc rc;

    /* the checksums the binlogs have; Connector/C 3.3 needs them (see the file comment) */
    rc = mysrc_query(src->repl, "set @master_binlog_checksum",
                     "SET @master_binlog_checksum = @@global.binlog_checksum", NULL, err);
    if (rc != CDC_OK)
        return rc;
    snprintf(sql, sizeof(sql), "SET @master_heartbeat_period = %" PRIu64,
             (uint64_t) src->heartbeat_ms * 1000000u);
    rc = mysrc_query(src->repl, "set @master_heartbeat_period", sql, NULL, err);
    if (rc == CDC_OK && src->server.is_mariadb) {
        /* without it, MariaDB rewrites GTID events into BEGIN queries for old replicas */
        snprintf(sql, sizeof(sql), "SET @mariadb_slave_capability = %d", MYSRC_MARIA_CAP_GTID);
        rc = mysrc_query(src->repl, "set @mariadb_slave_capability", sql, NULL, err);
    }
    if (rc == CDC_OK && gtid_set != NULL) {
        snprintf(sql, sizeof(sql), "SET @slave_connect_state = '%s'", gtid_set);
        rc = mysrc_query(src->repl, "set @slave_connect_state", sql, NULL, err);
        if (rc == CDC_OK)
            rc = mysrc_query(src->repl, "set @slave_gtid_strict_mode",
                             "SET @slave_gtid_strict_mode = 1", NULL, err);
        if (rc == CDC_OK)
            rc = mysrc_query(src->repl, "set @slave_gtid_ignore_duplicates",
                             "SET @slave_gtid_ignore_duplicates = 0", NULL, err);
    }
    if (rc == CDC_OK)
        rc = mysrc_value(src->repl, "read @master_binlog_checksum",
                         "SELECT @master_binlog_checksum", alg, sizeof(alg), NULL, err);
    if (rc != CDC_OK)
        return rc;
    src->checksum_len = strcasecmp(alg, "CRC32") == 0 ? 4 : 0;
    return CDC_OK;
}

static cdc_rc
mysrc_open_dump(struct mysrc *src, const char *file, uint64_t pos, const char *gtid_set,
                struct cdc_err *err)
{
    cdc_rc rc;

    (void) mysrc_stop(src, NULL);
    if (!src->known && (rc = mysrc_read_server(src, err)) != CDC_OK)
        return rc;
    rc = mysrc_connect(src, &src->repl, err);
    if (rc != CDC_OK)
        return rc;
    rc = mysrc_session(src, gtid_set, err);
    if (rc != CDC_OK)
        goto fail;
    src->rpl = mariadb_rpl_init(src->repl);
    if (src->rpl == NULL) {
        rc = cdc_err_set(err, CDC_ERR_NOMEM, "could not start the binlog dump: %s",
                         mysql_error(src->repl));
        goto fail;
    }
    if (mariadb_rpl_optionsv(src->rpl, MARIADB_RPL_FILENAME, file, strlen(file)) != 0 ||
        mariadb_rpl_optionsv(src->rpl, MARIADB_RPL_START, (unsigned long) pos) != 0 ||
        mariadb_rpl_optionsv(src->rpl, MARIADB_RPL_SERVER_ID, (unsigned int) src->server_id) != 0 ||
        mariadb_rpl_optionsv(src->rpl, MARIADB_RPL_FLAGS, 0u) != 0 ||
        mariadb_rpl_optionsv(src->rpl, MARIADB_RPL_VERIFY_CHECKSUM, (uint32_t) 1) != 0) {
        rc = cdc_err_set(err, CDC_ERR_NOMEM, "could not set the binlog dump options");
        goto fail;
    }
    if (mariadb_rpl_open(src->rpl) != 0) {
        rc = cdc_err_set(err,
                         mysrc_is_transient(mysql_errno(src->repl)) ? CDC_ERR_RETRY : CDC_ERR_FATAL,
                         "could not start the binlog dump from %s: %s (error %u)", src->start,
                         mysql_error(src->repl), mysql_errno(src->repl));
        goto fail;
    }
    snprintf(src->pos.file, sizeof(src->pos.file), "%s", file);
    src->pos.pos = pos;
    src->streaming = true;
    return CDC_OK;
fail:
    (void) mysrc_stop(src, NULL);
    return rc;
}

cdc_rc
mysrc_start_file(struct mysrc *src, const char *file, uint64_t pos, struct cdc_err *err)
{
    if (file == NULL || file[0] == '\0' || strlen(file) >= MYSRC_FILE_MAX || pos < 4 ||
        pos > UINT32_MAX)
        return cdc_err_set(err, CDC_ERR_CONFIG, "invalid binlog start position \"%s\":%" PRIu64,
                           file ? file : "", pos);
    snprintf(src->start, sizeof(src->start), "binlog position %s:%" PRIu64, file, pos);
    return mysrc_open_dump(src, file, pos, NULL, err);
}

cdc_rc
mysrc_start_gtid(struct mysrc *src, const char *gtid_set, struct cdc_err *err)
{
    cdc_rc rc;

    if (!src->known && (rc = mysrc_read_server(src, err)) != CDC_OK)
        return rc;
    if (!src->server.is_mariadb)
        return cdc_err_set(err, CDC_ERR_CONFIG,
                           "cannot resume MySQL from GTID set \"%.100s\": Connector/C has no "
                           "COM_BINLOG_DUMP_GTID; resume from a binlog file and position",
                           gtid_set ? gtid_set : "");
    if (!mysrc_is_gtid_list(gtid_set))
        return cdc_err_set(err, CDC_ERR_CONFIG,
                           "invalid MariaDB GTID position \"%.100s\": expected "
                           "domain-server-seq[,...]",
                           gtid_set ? gtid_set : "");
    snprintf(src->start, sizeof(src->start), "GTID position %.120s", gtid_set);
    /* the server ignores file and position when @slave_connect_state is set */
    return mysrc_open_dump(src, "", 4, gtid_set, err);
}

/* Why the dump stopped, from the connection's error; the dump is over either way. */
static cdc_rc
mysrc_dump_error(struct mysrc *src, struct cdc_err *err)
{
    unsigned e = mysql_errno(src->repl);
    const char *m = mysql_error(src->repl);
    char at[MYSRC_FILE_MAX + 32];
    cdc_rc rc;

    if (src->pos.file[0] != '\0')
        snprintf(at, sizeof(at), "%s:%" PRIu64, src->pos.file, src->pos.pos);
    else
        snprintf(at, sizeof(at), "the start");
    if (e == 0)
        rc = cdc_err_set(err, CDC_ERR_PROTO,
                         "binlog dump ended after %s without an error: the connector rejected "
                         "the next event (malformed, or a CRC32 mismatch) or the server closed "
                         "the stream",
                         at);
    else if (e == ER_SLAVE_SAME_ID ||
             (e == ER_MASTER_FATAL_ERROR_READING_BINLOG && strstr(m, "same server_uuid") != NULL))
        /* the server ends the older dump when a replica with the same id connects (MariaDB
         * with 4052, MySQL with 1236): the newer one wins, which also lets a restarted daemon
         * replace its own dump from before a crash; the older one must not fight back */
        rc = cdc_err_set(err, CDC_ERR_FATAL,
                         "another replica connected with our server_id %" PRIu32
                         " and the server dropped us (%s): give each reader its own "
                         "rds.server_id",
                         src->server_id, m);
    else if (e == ER_MASTER_FATAL_ERROR_READING_BINLOG)
        rc = cdc_err_set(err, CDC_ERR_LOST,
                         "the server cannot send the binlog from %s (read up to %s): %s (error "
                         "1236). If the binlogs were purged, the changes in between are lost: "
                         "keep binlogs longer (RDS: CALL mysql.rds_set_configuration('binlog "
                         "retention hours', N)) and restart from a new snapshot without the "
                         "checkpoint",
                         src->start, at, m);
    else if (e == ER_CONNECTION_KILLED)
        rc = cdc_err_set(err, CDC_ERR_RETRY, "the server killed our binlog dump at %s: %s", at, m);
    else if (e == ER_ACCESS_DENIED_ERROR || e == ER_SPECIFIC_ACCESS_DENIED_ERROR ||
             e == ER_DBACCESS_DENIED_ERROR)
        rc = cdc_err_set(err, CDC_ERR_FATAL,
                         "the server refused the binlog dump from %s: %s (error %u): GRANT "
                         "REPLICATION SLAVE ON *.* to the CDC user",
                         src->start, m, e);
    else if (mysrc_is_transient(e) || (e >= 2000 && e < 3000))
        rc = cdc_err_set(err, CDC_ERR_RETRY, "lost the binlog dump at %s: %s (error %u)", at, m, e);
    else
        rc = cdc_err_set(err, CDC_ERR_FATAL, "binlog dump failed at %s: %s (error %u)", at, m, e);
    (void) mysrc_stop(src, NULL);
    return rc;
}

/* ROTATE: the next file starts at the 8-byte position, its name is the rest. */
static cdc_rc
mysrc_rotate(struct mysrc *src, const uint8_t *p, size_t len, struct cdc_err *err)
{
    size_t n;

    if (len < MYSRC_HEADER_LEN + 8 + 1)
        return cdc_err_set(err, CDC_ERR_PROTO, "ROTATE event of %zu bytes after %s:%" PRIu64, len,
                           src->pos.file, src->pos.pos);
    n = len - MYSRC_HEADER_LEN - 8;
    if (n >= sizeof(src->pos.file) || memchr(p + MYSRC_HEADER_LEN + 8, '\0', n) != NULL)
        return cdc_err_set(err, CDC_ERR_PROTO, "ROTATE event with an invalid file name");
    memcpy(src->pos.file, p + MYSRC_HEADER_LEN + 8, n);
    src->pos.file[n] = '\0';
    src->pos.pos = mysrc_u64(p + MYSRC_HEADER_LEN);
    return CDC_OK;
}

/* The GTID of a MariaDB GTID_EVENT (seq u64, domain u32) or a MySQL GTID_LOG_EVENT. */
static cdc_rc
mysrc_gtid(const uint8_t *p, size_t len, struct mysrc_event *out, struct cdc_err *err)
{
    const uint8_t *b = p + MYSRC_HEADER_LEN;

    memset(&out->gtid, 0, sizeof(out->gtid));
    if (out->type == MYSRC_EV_MARIA_GTID) {
        if (len < MYSRC_HEADER_LEN + 12)
            return cdc_err_set(err, CDC_ERR_PROTO, "GTID event of %zu bytes", len);
        out->gtid.seq = mysrc_u64(b);
        out->gtid.domain_id = mysrc_u32(b + 8);
        out->gtid.server_id = out->server_id;
    } else {
        if (len < MYSRC_HEADER_LEN + 25)
            return cdc_err_set(err, CDC_ERR_PROTO, "GTID event of %zu bytes", len);
        out->gtid.is_mysql = true;
        memcpy(out->gtid.uuid, b + 1, 16);
        out->gtid.seq = mysrc_u64(b + 17);
    }
    out->has_gtid = true;
    return CDC_OK;
}

cdc_rc
mysrc_read(struct mysrc *src, struct mysrc_event *out, struct cdc_err *err)
{
    MARIADB_RPL_EVENT *ev;
    const uint8_t *p;
    size_t n;
    cdc_rc rc = CDC_OK;

    memset(out, 0, sizeof(*out));
    if (!src->streaming)
        return cdc_err_set(err, CDC_ERR_CLOSED, "the binlog dump is not running");
    ev = mariadb_rpl_fetch(src->rpl, src->ev);
    if (ev == NULL) {
        src->ev = NULL; /* the connector freed it */
        return mysrc_dump_error(src, err);
    }
    src->ev = ev;
    p = ev->raw_data + ev->raw_data_ofs;
    n = ev->raw_data_size - ev->raw_data_ofs;
    if (ev->raw_data_ofs > ev->raw_data_size || n < MYSRC_HEADER_LEN + src->checksum_len)
        return cdc_err_set(err, CDC_ERR_PROTO, "binlog event of %zu bytes after %s:%" PRIu64, n,
                           src->pos.file, src->pos.pos);
    out->data = p;
    out->len = n - src->checksum_len;
    out->timestamp = mysrc_u32(p);
    out->type = p[4];
    out->server_id = mysrc_u32(p + 5);
    out->next_pos = mysrc_u32(p + 13);
    out->flags = (uint16_t) (p[17] | p[18] << 8);
    out->kind = out->type == MYSRC_EV_HEARTBEAT ? MYSRC_HEARTBEAT : MYSRC_EVENT;
    if (out->type == MYSRC_EV_ROTATE)
        rc = mysrc_rotate(src, p, out->len, err);
    else if (out->kind == MYSRC_EVENT && out->next_pos != 0)
        src->pos.pos = out->next_pos;
    if (rc == CDC_OK && (out->type == MYSRC_EV_MARIA_GTID || out->type == MYSRC_EV_MYSQL_GTID))
        rc = mysrc_gtid(p, out->len, out, err);
    out->file = src->pos.file;
    out->pos = src->pos.pos;
    return rc;
}

/* ---- GTID helpers --------------------------------------------------------------------- */

const char *
mysrc_gtid_format(const struct mysrc_gtid *g, char *buf, size_t cap)
{
    const uint8_t *u = g->uuid;

    if (!g->is_mysql) {
        snprintf(buf, cap, "%" PRIu32 "-%" PRIu32 "-%" PRIu64, g->domain_id, g->server_id, g->seq);
        return buf;
    }
    snprintf(buf, cap,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x:%" PRIu64, u[0],
             u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
             u[14], u[15], g->seq);
    return buf;
}

/* Parse "d-s-n" at s (up to a ',' or the end); returns the end, or NULL. */
static const char *
mysrc_parse_gtid(const char *s, struct mysrc_gtid *g)
{
    unsigned long long v[3];
    char *end;

    for (int i = 0; i < 3; i++) {
        if (*s < '0' || *s > '9')
            return NULL;
        v[i] = strtoull(s, &end, 10);
        if (i < 2 && (*end != '-' || v[i] > UINT32_MAX))
            return NULL;
        s = i < 2 ? end + 1 : end;
    }
    if (*s != '\0' && *s != ',')
        return NULL;
    memset(g, 0, sizeof(*g));
    g->domain_id = (uint32_t) v[0];
    g->server_id = (uint32_t) v[1];
    g->seq = v[2];
    return s;
}

cdc_rc
mysrc_gtid_set_update(char *set, size_t cap, const struct mysrc_gtid *gtid, struct cdc_err *err)
{
    char out[MYSRC_GTID_SET_MAX], one[80];
    const char *s = set;
    bool placed = false;
    size_t o = 0;
    struct mysrc_gtid g;

    if (gtid->is_mysql)
        return cdc_err_set(err, CDC_ERR_CONFIG, "a MySQL GTID is not a MariaDB GTID position");
    out[0] = '\0';
    while (*s != '\0') {
        const char *end = mysrc_parse_gtid(s, &g);

        if (end == NULL)
            return cdc_err_set(err, CDC_ERR_CONFIG, "invalid MariaDB GTID position \"%.100s\"",
                               set);
        if (!placed && g.domain_id >= gtid->domain_id) {
            mysrc_gtid_format(gtid, one, sizeof(one));
            o += (size_t) snprintf(out + o, sizeof(out) - o, "%s%s", o ? "," : "", one);
            placed = true;
        }
        if (g.domain_id != gtid->domain_id) {
            mysrc_gtid_format(&g, one, sizeof(one));
            o += (size_t) snprintf(out + o, sizeof(out) - o, "%s%s", o ? "," : "", one);
        }
        if (o >= sizeof(out))
            return cdc_err_set(err, CDC_ERR_CONFIG, "GTID position too long");
        s = *end == ',' ? end + 1 : end;
    }
    if (!placed) {
        mysrc_gtid_format(gtid, one, sizeof(one));
        o += (size_t) snprintf(out + o, sizeof(out) - o, "%s%s", o ? "," : "", one);
    }
    if (o >= sizeof(out) || o + 1 > cap)
        return cdc_err_set(err, CDC_ERR_CONFIG, "GTID position does not fit in %zu bytes", cap);
    memcpy(set, out, o + 1);
    return CDC_OK;
}

/* ---- table columns from information_schema ---- */

/* Append s to b as a quoted SQL string literal (escaped by the server's rules). */
static bool
mysrc_put_literal(MYSQL *c, struct cdc_buf *b, const char *s)
{
    size_t len = strlen(s);
    char *esc = malloc(2 * len + 1);

    if (esc == NULL)
        return false;
    mysql_real_escape_string(c, esc, s, (unsigned long) len);
    cdc_buf_putc(b, '\'');
    cdc_buf_puts(b, esc);
    cdc_buf_putc(b, '\'');
    free(esc);
    return cdc_buf_ok(b);
}

/* Columns named in MariaDB's json_valid(`col`) checks of db.table get is_json. */
static cdc_rc
mysrc_json_checks(struct mysrc *src, const char *db, const char *table, struct mysrc_colinfo *v,
                  uint32_t n, struct cdc_err *err)
{
    struct cdc_buf q = CDC_BUF_INIT;
    MYSQL_RES *r = NULL;
    MYSQL_ROW row;
    cdc_rc rc;

    cdc_buf_puts(&q, "SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS "
                     "WHERE CONSTRAINT_SCHEMA = ");
    if (!mysrc_put_literal(src->sql, &q, db))
        goto nomem;
    cdc_buf_puts(&q, " AND TABLE_NAME = ");
    if (!mysrc_put_literal(src->sql, &q, table))
        goto nomem;
    rc = mysrc_query(src->sql, "read the table's check constraints", q.data, &r, err);
    cdc_buf_free(&q);
    if (rc != CDC_OK)
        return rc;
    while (r != NULL && (row = mysql_fetch_row(r)) != NULL) {
        const char *clause = row[0] ? row[0] : "";

        if (strncmp(clause, "json_valid(`", 12) != 0)
            continue;
        for (uint32_t i = 0; i < n; i++) {
            size_t len = strlen(v[i].name);

            if (strncmp(clause + 12, v[i].name, len) == 0 && strcmp(clause + 12 + len, "`)") == 0)
                v[i].is_json = true;
        }
    }
    mysql_free_result(r);
    return CDC_OK;
nomem:
    cdc_buf_free(&q);
    return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
}

cdc_rc
mysrc_table_columns(struct mysrc *src, const char *db, const char *table,
                    struct mysrc_colinfo **out, uint32_t *n_out, struct cdc_err *err)
{
    struct cdc_buf q = CDC_BUF_INIT;
    struct mysrc_colinfo *v = NULL;
    MYSQL_RES *r = NULL;
    MYSQL_ROW row;
    uint32_t n = 0;
    cdc_rc rc;

    *out = NULL;
    *n_out = 0;
    cdc_buf_puts(&q, "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, COLUMN_KEY "
                     "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ");
    if (!mysrc_put_literal(src->sql, &q, db))
        goto nomem;
    cdc_buf_puts(&q, " AND TABLE_NAME = ");
    if (!mysrc_put_literal(src->sql, &q, table))
        goto nomem;
    cdc_buf_puts(&q, " ORDER BY ORDINAL_POSITION");
    rc = mysrc_query(src->sql, "read the table's columns", q.data, &r, err);
    cdc_buf_free(&q);
    if (rc != CDC_OK)
        return rc;
    v = calloc(r != NULL && mysql_num_rows(r) > 0 ? mysql_num_rows(r) : 1, sizeof(*v));
    if (v == NULL) {
        mysql_free_result(r);
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
    }
    while (r != NULL && (row = mysql_fetch_row(r)) != NULL) {
        struct mysrc_colinfo *c = &v[n++];

        snprintf(c->name, sizeof(c->name), "%s", row[0] ? row[0] : "");
        snprintf(c->data_type, sizeof(c->data_type), "%s", row[1] ? row[1] : "");
        c->is_unsigned = row[2] != NULL && strstr(row[2], "unsigned") != NULL;
        c->is_key = row[3] != NULL && strcmp(row[3], "PRI") == 0;
    }
    mysql_free_result(r);
    if (src->server.is_mariadb) {
        rc = mysrc_json_checks(src, db, table, v, n, err);
        if (rc != CDC_OK) {
            free(v);
            return rc;
        }
    }
    *out = v;
    *n_out = n;
    return CDC_OK;
nomem:
    cdc_buf_free(&q);
    return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
}
