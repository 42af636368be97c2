/*
 * pgsrc.c - the libpq side of the PostgreSQL source: connecting, setting up
 * the publication and the logical slot, and running the COPY BOTH stream
 * (XLogData in, keepalives answered, standby status updates out), in the
 * manner of pg_recvlogical.c / receivelog.c.
 *
 * It does not decode pgoutput (pgoutput.c does), holds no change data beyond
 * one libpq buffer, and never decides on retries: it classifies each failure
 * as CDC_ERR_RETRY (transient) or CDC_ERR_FATAL (will repeat) and says why.
 * Every message built from libpq's or the server's text goes through
 * pgsrc_fail(), which removes the password from it.
 */
#include "source/pg/pgsrc.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "core/buf.h"
#include "core/clock.h"

/* Makes pgoutput's text output match what the JSON encoder expects. */
#define PGSRC_SESSION_OPTIONS                                                                      \
    "-c DateStyle=ISO -c TimeZone=UTC -c IntervalStyle=iso_8601 -c extra_float_digits=3 "          \
    "-c bytea_output=hex"

#define PGSRC_MASK            "********"
#define PGSRC_NAME_MAX        63   /* NAMEDATALEN - 1 */
#define PGSRC_STOP_DRAIN_MS   5000 /* how long pgsrc_stop() waits for the server's CopyDone */
#define PGSRC_PG_EPOCH_OFFSET 946684800LL /* 2000-01-01 - 1970-01-01, in seconds */
#define PGSRC_RECV_TIMEOUT_MS 60000 /* silence limit when the server's wal_sender_timeout is 0 */

struct pgsrc {
    PGconn *sql;  /* catalog queries */
    PGconn *repl; /* replication=database: IDENTIFY_SYSTEM, slot, the stream */
    char *host;   /* copies of the options we keep */
    char *user;
    char *password; /* secret: only for scrubbing messages and connecting; with password_fn,
                       the one of the last connection attempt */
    char *sslrootcert;
    pgsrc_password_fn password_fn;
    void *password_closure;
    char *dbname;
    char *slot;
    char *publication;
    char *appname;
    char **tables;
    int n_tables;
    bool manage_pub; /* see pgsrc_opts.manage_publication */
    bool pub_all;
    char **pub_schema, **pub_table; /* n_pub objects; pub_table[i] NULL: the whole schema */
    int n_pub;
    char port[8];
    int sslmode;
    bool create_slot;
    bool create_publication;
    int status_interval_ms;
    int connect_timeout_s;
    bool streaming_opt;     /* opts.streaming */
    bool streaming;         /* between a successful START_REPLICATION and the end of the copy */
    char *copybuf;          /* the last message from PQgetCopyData, freed on the next read */
    cdc_lsn received;       /* highest WAL end seen in XLogData or keepalives */
    cdc_lsn flushed;        /* highest position the pipeline made safe */
    int64_t last_status_ms; /* monotonic time of the last status update, 0: never */
    /* A silent partition leaves the socket open and quiet: as PG's walreceiver does with
       wal_receiver_timeout, after half the limit of silence ask for a keepalive, and after the
       whole limit count the connection as lost. The limit is the server's wal_sender_timeout. */
    int64_t recv_timeout_ms; /* the limit; 0: none */
    int64_t last_recv_ms;    /* monotonic time bytes last arrived on the stream */
    int64_t ping_ms;         /* when we asked for a reply in this silence, 0: not yet */
};

/* Microseconds since 2000-01-01 00:00 UTC, the replication protocol's clock. */
static int64_t
pgsrc_pg_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return ((int64_t) ts.tv_sec - PGSRC_PG_EPOCH_OFFSET) * 1000000 + ts.tv_nsec / 1000;
}

static uint64_t
pgsrc_get64(const char *p)
{
    const unsigned char *u = (const unsigned char *) p;
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v = (v << 8) | u[i];
    return v;
}

static void
pgsrc_put64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char) (v & 0xff);
        v >>= 8;
    }
}

void
pgsrc_scrub(char *msg, size_t cap, const char *secret)
{
    size_t slen, len, mlen = strlen(PGSRC_MASK), o = 0;
    char *out, *hit;

    if (msg == NULL || cap == 0 || secret == NULL || secret[0] == '\0')
        return;
    slen = strlen(secret);
    len = strnlen(msg, cap - 1);
    msg[len] = '\0';
    /* a message cut at the buffer's end may end in the start of the secret */
    if (len + 1 >= cap) {
        for (size_t k = slen - 1 < len ? slen - 1 : len; k > 0; k--) {
            if (memcmp(msg + len - k, secret, k) == 0) {
                msg[len -= k] = '\0';
                break;
            }
        }
    }
    if (strstr(msg, secret) == NULL)
        return;
    out = malloc(len / slen * mlen + len + 1);
    if (out == NULL) {
        /* no memory for the longer text: mask in place, keeping the length */
        while ((hit = strstr(msg, secret)) != NULL)
            memset(hit, '*', slen);
        return;
    }
    for (const char *p = msg; *p != '\0';) {
        if (strncmp(p, secret, slen) == 0) {
            memcpy(out + o, PGSRC_MASK, mlen);
            o += mlen;
            p += slen;
        } else {
            out[o++] = *p++;
        }
    }
    if (o > cap - 1)
        o = cap - 1;
    memcpy(msg, out, o);
    msg[o] = '\0';
    free(out);
}

/* One line: libpq messages end in (and may contain) newlines and tabs. */
static void
pgsrc_one_line(char *s)
{
    char *w = s;

    for (const char *r = s; *r != '\0'; r++) {
        bool space = *r == '\n' || *r == '\r' || *r == '\t' || *r == ' ';

        if (space && (w == s || w[-1] == ' '))
            continue;
        *w++ = space ? ' ' : *r;
    }
    while (w > s && w[-1] == ' ')
        w--;
    *w = '\0';
}

/* cdc_err_set with the password scrubbed from the result. */
static cdc_rc __attribute__((format(printf, 4, 5)))
pgsrc_fail(const char *password, struct cdc_err *err, cdc_rc code, const char *fmt, ...)
{
    char msg[CDC_ERR_MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    pgsrc_scrub(msg, sizeof(msg), password);
    pgsrc_one_line(msg);
    return cdc_err_set(err, code, "%s", msg);
}

/* Connection failures that retrying will not fix. Everything else is transient. */
static cdc_rc
pgsrc_classify_connect(const char *msg)
{
    static const char *const fatal[] = {
        "password authentication failed",
        "authentication failed",
        "no password supplied",
        "does not exist",
        "no pg_hba.conf entry",
        "permission denied",
        "must be superuser or replication role",
        "server does not support SSL",
        "certificate",
        "invalid connection option",
        "invalid sslmode value",
        NULL,
    };

    for (int i = 0; fatal[i] != NULL; i++)
        if (strstr(msg, fatal[i]) != NULL)
            return CDC_ERR_FATAL;
    return CDC_ERR_RETRY;
}

/* Whether a failed command may succeed if tried again (on a new connection). */
static cdc_rc
pgsrc_classify_result(PGconn *c, const PGresult *r)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;

    if (PQstatus(c) == CONNECTION_BAD || state == NULL)
        return CDC_ERR_RETRY;
    /* object in use (slot active), connection exception, operator intervention
     * (shutdown, crash restart), insufficient resources, rollback (deadlock) */
    if (strcmp(state, "55006") == 0 || strncmp(state, "08", 2) == 0 ||
        strncmp(state, "57", 2) == 0 || strncmp(state, "53", 2) == 0 ||
        strncmp(state, "40", 2) == 0)
        return CDC_ERR_RETRY;
    return CDC_ERR_FATAL;
}

static bool
pgsrc_has_sqlstate(const PGresult *r, const char *state)
{
    const char *s = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;

    return s != NULL && strcmp(s, state) == 0;
}

static const char *
pgsrc_result_message(PGconn *c, const PGresult *r)
{
    const char *m = r ? PQresultErrorMessage(r) : "";

    return m[0] != '\0' ? m : PQerrorMessage(c);
}

/*
 * Run a command; success is a result of status `want`, returned in *out (or
 * cleared when out is NULL). On failure, the error result is returned in
 * *failed if that is not NULL (the caller inspects its SQLSTATE and clears it).
 */
static cdc_rc
pgsrc_exec(struct pgsrc *src, PGconn *c, const char *what, const char *cmd, int nparams,
           const char *const *params, ExecStatusType want, PGresult **out, PGresult **failed,
           struct cdc_err *err)
{
    PGresult *r;
    cdc_rc code;

    if (nparams > 0)
        r = PQexecParams(c, cmd, nparams, NULL, params, NULL, NULL, 0);
    else
        r = PQexec(c, cmd);
    if (r != NULL && PQresultStatus(r) == want) {
        if (out != NULL)
            *out = r;
        else
            PQclear(r);
        return CDC_OK;
    }
    if (r == NULL && PQstatus(c) != CONNECTION_BAD)
        return cdc_err_set(err, CDC_ERR_NOMEM, "could not %s: out of memory", what);
    code = pgsrc_classify_result(c, r);
    pgsrc_fail(src->password, err, code, "could not %s: %s", what, pgsrc_result_message(c, r));
    if (failed != NULL)
        *failed = r;
    else
        PQclear(r);
    return code;
}

static const char *
pgsrc_sslmode_name(int m)
{
    switch (m) {
    case PGSRC_SSL_DISABLE:
        return "disable";
    case PGSRC_SSL_REQUIRE:
        return "require";
    case PGSRC_SSL_VERIFY_CA:
        return "verify-ca";
    case PGSRC_SSL_VERIFY_FULL:
        return "verify-full";
    default:
        return NULL;
    }
}

static const char *
pgsrc_host_name(const struct pgsrc *src)
{
    return src->host != NULL && src->host[0] != '\0' ? src->host : "(default host)";
}

/* Add a connection keyword unless its value is NULL or empty (libpq's default then). */
static void
pgsrc_kv(const char **keys, const char **vals, int *n, const char *k, const char *v)
{
    if (v != NULL && v[0] != '\0') {
        keys[*n] = k;
        vals[(*n)++] = v;
    }
}

/* Replace src->password with password_fn's value for the next connection attempt. */
static cdc_rc
pgsrc_fresh_password(struct pgsrc *src, struct cdc_err *err)
{
    char *pw = NULL;
    cdc_rc rc;

    rc = src->password_fn(src->password_closure, src->host, atoi(src->port), src->user, &pw, err);
    if (rc != CDC_OK)
        return rc;
    if (pw == NULL)
        return cdc_err_set(err, CDC_ERR_FATAL, "no password for %s:%s", pgsrc_host_name(src),
                           src->port);
    if (src->password != NULL) {
        explicit_bzero(src->password, strlen(src->password));
        free(src->password);
    }
    src->password = pw;
    return CDC_OK;
}

static cdc_rc
pgsrc_connect_one(struct pgsrc *src, bool replication, PGconn **out, struct cdc_err *err)
{
    const char *keys[20], *vals[20];
    char timeout[16];
    int n = 0;
    PGconn *c;
    cdc_rc code;

    if (src->password_fn != NULL && (code = pgsrc_fresh_password(src, err)) != CDC_OK)
        return code;
    snprintf(timeout, sizeof(timeout), "%d", src->connect_timeout_s);
    pgsrc_kv(keys, vals, &n, "host", src->host);
    pgsrc_kv(keys, vals, &n, "port", src->port);
    pgsrc_kv(keys, vals, &n, "user", src->user);
    pgsrc_kv(keys, vals, &n, "password", src->password);
    pgsrc_kv(keys, vals, &n, "dbname", src->dbname);
    /* never "prefer" or "allow": TLS asked for is TLS or no connection */
    pgsrc_kv(keys, vals, &n, "sslmode", pgsrc_sslmode_name(src->sslmode));
    if (src->sslmode != PGSRC_SSL_DISABLE) {
        pgsrc_kv(keys, vals, &n, "ssl_min_protocol_version", "TLSv1.2");
        pgsrc_kv(keys, vals, &n, "sslrootcert", src->sslrootcert);
    }
    pgsrc_kv(keys, vals, &n, "application_name", src->appname);
    pgsrc_kv(keys, vals, &n, "options", PGSRC_SESSION_OPTIONS);
    pgsrc_kv(keys, vals, &n, "connect_timeout", timeout);
    if (replication)
        pgsrc_kv(keys, vals, &n, "replication", "database");
    keys[n] = vals[n] = NULL;

    /* expand_dbname = 0: a database name is only ever a name, never a conninfo string */
    c = PQconnectdbParams(keys, vals, 0);
    if (c == NULL)
        return cdc_err_set(err, CDC_ERR_NOMEM, "could not connect to PostgreSQL: out of memory");
    if (PQstatus(c) != CONNECTION_OK) {
        code = pgsrc_classify_connect(PQerrorMessage(c));
        pgsrc_fail(src->password, err, code, "could not connect to PostgreSQL at %s:%s%s: %s",
                   pgsrc_host_name(src), src->port, replication ? " for replication" : "",
                   PQerrorMessage(c));
        PQfinish(c);
        return code;
    }
    if (PQserverVersion(c) < 100000) {
        code = pgsrc_fail(src->password, err, CDC_ERR_FATAL,
                          "PostgreSQL at %s:%s is version %d: pgoutput needs 10 or later",
                          pgsrc_host_name(src), src->port, PQserverVersion(c));
        PQfinish(c);
        return code;
    }
    *out = c;
    return CDC_OK;
}

void
pgsrc_opts_init(struct pgsrc_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->port = 5432;
    o->sslmode = PGSRC_SSL_REQUIRE;
    o->slot = "cdc_handler";
    o->publication = "cdc_handler";
    o->create_slot = true;
    o->create_publication = true;
    o->status_interval_ms = 10000;
    o->application_name = "cdc-handler";
    o->connect_timeout_s = 10;
    o->streaming = true;
}

/* Slot names are [a-z0-9_]{1,63} (ReplicationSlotValidateName): no quoting needed. */
static bool
pgsrc_is_valid_slot_name(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if (n == 0 || n > PGSRC_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return true;
}

static cdc_rc
pgsrc_check_opts(const struct pgsrc_opts *o, struct cdc_err *err)
{
    if (!pgsrc_is_valid_slot_name(o->slot))
        return cdc_err_set(err, CDC_ERR_CONFIG,
                           "invalid replication slot name \"%s\": use 1 to 63 of a-z, 0-9 and _",
                           o->slot ? o->slot : "");
    if (o->publication == NULL || o->publication[0] == '\0' ||
        strlen(o->publication) > PGSRC_NAME_MAX)
        return cdc_err_set(err, CDC_ERR_CONFIG, "invalid publication name \"%s\"",
                           o->publication ? o->publication : "");
    if (o->port < 1 || o->port > 65535)
        return cdc_err_set(err, CDC_ERR_CONFIG, "invalid port %d", o->port);
    if (pgsrc_sslmode_name(o->sslmode) == NULL)
        return cdc_err_set(err, CDC_ERR_CONFIG, "invalid sslmode %d", o->sslmode);
    if (o->status_interval_ms <= 0)
        return cdc_err_set(err, CDC_ERR_CONFIG, "invalid status interval %d ms",
                           o->status_interval_ms);
    if (o->n_tables < 0 || (o->n_tables > 0 && o->tables == NULL))
        return cdc_err_set(err, CDC_ERR_CONFIG, "invalid table list");
    if (o->n_pub_objects < 0 || (o->n_pub_objects > 0 && o->pub_objects == NULL))
        return cdc_err_set(err, CDC_ERR_CONFIG, "invalid publication object list");
    for (int i = 0; i < o->n_pub_objects; i++)
        if (o->pub_objects[i].schema == NULL)
            return cdc_err_set(err, CDC_ERR_CONFIG, "publication object %d has no schema", i);
    return CDC_OK;
}

static char *
pgsrc_dup(const char *s, bool *oom)
{
    char *d;

    if (s == NULL)
        return NULL;
    d = strdup(s);
    if (d == NULL)
        *oom = true;
    return d;
}

static cdc_rc
pgsrc_copy_opts(struct pgsrc *src, const struct pgsrc_opts *o, struct cdc_err *err)
{
    bool oom = false;

    src->host = pgsrc_dup(o->host, &oom);
    src->user = pgsrc_dup(o->user, &oom);
    src->password = pgsrc_dup(o->password, &oom);
    src->dbname = pgsrc_dup(o->dbname, &oom);
    src->slot = pgsrc_dup(o->slot, &oom);
    src->publication = pgsrc_dup(o->publication, &oom);
    src->appname = pgsrc_dup(o->application_name, &oom);
    src->sslrootcert = pgsrc_dup(o->sslrootcert, &oom);
    src->password_fn = o->password_fn;
    src->password_closure = o->password_closure;
    if (o->n_tables > 0) {
        src->tables = calloc((size_t) o->n_tables, sizeof(char *));
        oom = oom || src->tables == NULL;
        for (int i = 0; src->tables != NULL && i < o->n_tables; i++, src->n_tables++)
            src->tables[i] = pgsrc_dup(o->tables[i] ? o->tables[i] : "", &oom);
    }
    src->manage_pub = o->manage_publication;
    src->pub_all = o->pub_all_tables;
    if (o->manage_publication && o->n_pub_objects > 0) {
        src->pub_schema = calloc((size_t) o->n_pub_objects, sizeof(char *));
        src->pub_table = calloc((size_t) o->n_pub_objects, sizeof(char *));
        oom = oom || src->pub_schema == NULL || src->pub_table == NULL;
        for (int i = 0; !oom && i < o->n_pub_objects; i++, src->n_pub++) {
            src->pub_schema[i] = pgsrc_dup(o->pub_objects[i].schema, &oom);
            src->pub_table[i] = pgsrc_dup(o->pub_objects[i].table, &oom);
        }
    }
    snprintf(src->port, sizeof(src->port), "%d", o->port);
    src->sslmode = o->sslmode;
    src->create_slot = o->create_slot;
    src->create_publication = o->create_publication;
    src->status_interval_ms = o->status_interval_ms;
    src->connect_timeout_s = o->connect_timeout_s;
    src->streaming_opt = o->streaming;
    if (oom)
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory copying source options");
    return CDC_OK;
}

cdc_rc
pgsrc_create(struct pgsrc **out, const struct pgsrc_opts *opts, struct cdc_err *err)
{
    struct pgsrc *src;
    cdc_rc rc;

    rc = pgsrc_check_opts(opts, err);
    if (rc != CDC_OK)
        return rc;
    src = calloc(1, sizeof(*src));
    if (src == NULL)
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory creating the PostgreSQL source");
    rc = pgsrc_copy_opts(src, opts, err);
    if (rc != CDC_OK)
        goto fail;
    rc = pgsrc_connect_one(src, false, &src->sql, err);
    if (rc != CDC_OK)
        goto fail;
    rc = pgsrc_connect_one(src, true, &src->repl, err);
    if (rc != CDC_OK)
        goto fail;
    *out = src;
    return CDC_OK;
fail:
    pgsrc_destroy(src);
    return rc;
}

cdc_rc
pgsrc_exec_script(const struct pgsrc_opts *opts, const char *what, const char *sql,
                  char sqlstate[6], struct cdc_err *err)
{
    PGresult *failed = NULL;
    struct pgsrc *src;
    cdc_rc rc;

    sqlstate[0] = '\0';
    rc = pgsrc_check_opts(opts, err);
    if (rc != CDC_OK)
        return rc;
    src = calloc(1, sizeof(*src));
    if (src == NULL)
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
    rc = pgsrc_copy_opts(src, opts, err);
    if (rc == CDC_OK)
        rc = pgsrc_connect_one(src, false, &src->sql, err);
    if (rc == CDC_OK)
        rc = pgsrc_exec(src, src->sql, what, sql, 0, NULL, PGRES_COMMAND_OK, NULL, &failed, err);
    if (failed != NULL) {
        const char *st = PQresultErrorField(failed, PG_DIAG_SQLSTATE);

        snprintf(sqlstate, 6, "%s", st != NULL ? st : "");
        PQclear(failed);
    }
    pgsrc_destroy(src);
    return rc;
}

static cdc_rc
pgsrc_identify(struct pgsrc *src, struct pgsrc_slot_info *out, struct cdc_err *err)
{
    PGresult *r = NULL;
    const char *sysid;
    cdc_rc rc;

    rc = pgsrc_exec(src, src->repl, "identify the system", "IDENTIFY_SYSTEM", 0, NULL,
                    PGRES_TUPLES_OK, &r, NULL, err);
    if (rc != CDC_OK)
        return rc;
    if (PQntuples(r) != 1 || PQnfields(r) < 3) {
        rc = cdc_err_set(err, CDC_ERR_PROTO, "IDENTIFY_SYSTEM returned %d rows and %d fields",
                         PQntuples(r), PQnfields(r));
        goto done;
    }
    sysid = PQgetvalue(r, 0, 0);
    if (strlen(sysid) == 0 || strlen(sysid) >= sizeof(out->system_id) ||
        strspn(sysid, "0123456789") != strlen(sysid) ||
        !cdc_lsn_parse(PQgetvalue(r, 0, 2), &out->xlogpos)) {
        rc = cdc_err_set(err, CDC_ERR_PROTO, "IDENTIFY_SYSTEM returned an unexpected row");
        goto done;
    }
    snprintf(out->system_id, sizeof(out->system_id), "%s", sysid);
    out->timeline = (uint32_t) strtoul(PQgetvalue(r, 0, 1), NULL, 10);
done:
    PQclear(r);
    return rc;
}

/* Append one publication object: "schema.table", "table", "schema.*" (PG 15+). */
static cdc_rc
pgsrc_append_pub_object(struct pgsrc *src, struct cdc_buf *b, const char *name, struct cdc_err *err)
{
    const char *dot = strchr(name, '.');
    char *schema = NULL, *table = NULL;
    cdc_rc rc = CDC_OK;

    if (strchr(dot ? dot + 1 : name, '*') != NULL && !(dot != NULL && strcmp(dot + 1, "*") == 0))
        return cdc_err_set(err, CDC_ERR_CONFIG,
                           "cannot create publication \"%s\" for table pattern \"%s\": list "
                           "tables, use \"schema.*\", or create the publication yourself",
                           src->publication, name);
    if (dot != NULL) {
        schema = PQescapeIdentifier(src->sql, name, (size_t) (dot - name));
        if (strcmp(dot + 1, "*") != 0)
            table = PQescapeIdentifier(src->sql, dot + 1, strlen(dot + 1));
    } else {
        table = PQescapeIdentifier(src->sql, name, strlen(name));
    }
    if ((dot != NULL && schema == NULL) || (table == NULL && (dot == NULL || dot[1] != '*'))) {
        rc = pgsrc_fail(src->password, err, CDC_ERR_CONFIG, "invalid table name \"%s\": %s", name,
                        PQerrorMessage(src->sql));
        goto done;
    }
    if (table == NULL)
        cdc_buf_printf(b, "TABLES IN SCHEMA %s", schema);
    else if (schema != NULL)
        cdc_buf_printf(b, "TABLE %s.%s", schema, table);
    else
        cdc_buf_printf(b, "TABLE %s", table);
done:
    PQfreemem(schema);
    PQfreemem(table);
    return rc;
}

static bool
pgsrc_is_all_tables(const struct pgsrc *src)
{
    if (src->n_tables == 0)
        return true;
    for (int i = 0; i < src->n_tables; i++)
        if (strcmp(src->tables[i], "*") == 0 || strcmp(src->tables[i], "*.*") == 0)
            return true;
    return false;
}

static cdc_rc
pgsrc_create_publication_sql(struct pgsrc *src, struct cdc_buf *b, struct cdc_err *err)
{
    char *pub = PQescapeIdentifier(src->sql, src->publication, strlen(src->publication));
    cdc_rc rc = CDC_OK;

    if (pub == NULL)
        return pgsrc_fail(src->password, err, CDC_ERR_CONFIG, "invalid publication name: %s",
                          PQerrorMessage(src->sql));
    cdc_buf_printf(b, "CREATE PUBLICATION %s FOR ", pub);
    PQfreemem(pub);
    if (pgsrc_is_all_tables(src)) {
        cdc_buf_puts(b, "ALL TABLES");
    } else {
        for (int i = 0; i < src->n_tables && rc == CDC_OK; i++) {
            if (i > 0)
                cdc_buf_puts(b, ", ");
            rc = pgsrc_append_pub_object(src, b, src->tables[i], err);
        }
    }
    if (rc == CDC_OK && !cdc_buf_ok(b))
        rc = cdc_err_set(err, CDC_ERR_NOMEM, "out of memory building CREATE PUBLICATION");
    return rc;
}

#define PGSRC_PUB_MARK "cdc-handler" /* the comment of a publication the daemon manages */

/* Append `name` quoted as an identifier. */
static cdc_rc
pgsrc_append_ident(struct pgsrc *src, struct cdc_buf *b, const char *name, struct cdc_err *err)
{
    char *q = PQescapeIdentifier(src->sql, name, strlen(name));

    if (q == NULL)
        return pgsrc_fail(src->password, err, CDC_ERR_CONFIG, "invalid name \"%s\": %s", name,
                          PQerrorMessage(src->sql));
    cdc_buf_puts(b, q);
    PQfreemem(q);
    return CDC_OK;
}

/* The FOR clause of a managed publication ("" for an empty one). */
static cdc_rc
pgsrc_managed_clause(struct pgsrc *src, struct cdc_buf *b, struct cdc_err *err)
{
    cdc_rc rc = CDC_OK;

    if (src->pub_all) {
        cdc_buf_puts(b, "FOR ALL TABLES");
        return CDC_OK;
    }
    for (int i = 0; i < src->n_pub && rc == CDC_OK; i++) {
        cdc_buf_puts(b, i == 0 ? "FOR " : ", ");
        if (src->pub_table[i] == NULL) {
            cdc_buf_puts(b, "TABLES IN SCHEMA ");
            rc = pgsrc_append_ident(src, b, src->pub_schema[i], err);
        } else {
            cdc_buf_puts(b, "TABLE ");
            rc = pgsrc_append_ident(src, b, src->pub_schema[i], err);
            cdc_buf_puts(b, ".");
            if (rc == CDC_OK)
                rc = pgsrc_append_ident(src, b, src->pub_table[i], err);
        }
    }
    return rc;
}

/*
 * (Re)create the managed publication in one transaction: DROP (when `drop`),
 * CREATE with `clause`, COMMENT with the mark and the clause. One transaction,
 * so that every WAL position sees a publication of that name (pgoutput looks
 * it up as of each decoded transaction).
 */
static cdc_rc
pgsrc_create_managed(struct pgsrc *src, const char *clause, bool drop, PGresult **failed,
                     struct cdc_err *err)
{
    struct cdc_buf sql = CDC_BUF_INIT, note = CDC_BUF_INIT;
    char *pub = PQescapeIdentifier(src->sql, src->publication, strlen(src->publication));
    char *lit = NULL;
    cdc_rc rc;

    cdc_buf_printf(&note, PGSRC_PUB_MARK ": %s", clause);
    if (pub != NULL && cdc_buf_ok(&note))
        lit = PQescapeLiteral(src->sql, note.data, note.len);
    if (pub == NULL || lit == NULL) {
        rc = pgsrc_fail(src->password, err, CDC_ERR_CONFIG, "invalid publication name: %s",
                        PQerrorMessage(src->sql));
        goto done;
    }
    /* a multi-statement simple query runs as one implicit transaction */
    if (drop)
        cdc_buf_printf(&sql, "DROP PUBLICATION %s; ", pub);
    cdc_buf_printf(&sql, "CREATE PUBLICATION %s %s; COMMENT ON PUBLICATION %s IS %s", pub, clause,
                   pub, lit);
    if (!cdc_buf_ok(&sql)) {
        rc = cdc_err_set(err, CDC_ERR_NOMEM, "out of memory building CREATE PUBLICATION");
        goto done;
    }
    rc = pgsrc_exec(src, src->sql, drop ? "recreate the publication" : "create the publication",
                    sql.data, 0, NULL, PGRES_COMMAND_OK, NULL, failed, err);
done:
    PQfreemem(pub);
    PQfreemem(lit);
    cdc_buf_free(&sql);
    cdc_buf_free(&note);
    return rc;
}

/*
 * manage_publication: create the publication when missing; when it exists
 * with a comment that starts with the mark, recreate it if the comment
 * differs from the one we would write; otherwise it was made by hand and is
 * used as it is.
 */
static cdc_rc
pgsrc_ensure_managed(struct pgsrc *src, struct pgsrc_slot_info *out, struct cdc_err *err)
{
    const char *params[] = {src->publication};
    struct cdc_buf clause = CDC_BUF_INIT, want = CDC_BUF_INIT;
    PGresult *r = NULL, *failed = NULL;
    const char *have;
    cdc_rc rc;

    rc = pgsrc_exec(src, src->sql, "look up the publication",
                    "SELECT coalesce(pg_catalog.obj_description(oid, 'pg_publication'), '') "
                    "FROM pg_catalog.pg_publication WHERE pubname = $1",
                    1, params, PGRES_TUPLES_OK, &r, NULL, err);
    if (rc == CDC_OK)
        rc = pgsrc_managed_clause(src, &clause, err);
    if (rc != CDC_OK)
        goto done;
    cdc_buf_printf(&want, PGSRC_PUB_MARK ": %s", clause.data ? clause.data : "");
    if (!cdc_buf_ok(&clause) || !cdc_buf_ok(&want)) {
        rc = cdc_err_set(err, CDC_ERR_NOMEM, "out of memory");
        goto done;
    }
    have = PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : NULL;
    if (have != NULL && strncmp(have, PGSRC_PUB_MARK, strlen(PGSRC_PUB_MARK)) != 0)
        goto done; /* made by hand */
    if (have != NULL && strcmp(have, want.data) == 0) {
        out->publication_managed = true;
        goto done;
    }
    if (have == NULL && !src->create_publication) {
        rc = cdc_err_set(err, CDC_ERR_FATAL,
                         "publication \"%s\" does not exist and creating it is not enabled",
                         src->publication);
        goto done;
    }
    if (have != NULL && !src->create_publication)
        goto done; /* may not touch it: filtered in the daemon */
    rc = pgsrc_create_managed(src, clause.data ? clause.data : "", have != NULL, &failed, err);
    if (rc == CDC_OK) {
        out->publication_managed = true;
        out->publication_created = have == NULL;
        out->publication_changed = have != NULL;
    } else if (have == NULL && pgsrc_has_sqlstate(failed, "42710")) {
        cdc_err_clear(err); /* created by someone else in the meantime: use theirs */
        rc = CDC_OK;
    }
done:
    PQclear(failed);
    PQclear(r);
    cdc_buf_free(&clause);
    cdc_buf_free(&want);
    return rc;
}

static cdc_rc
pgsrc_ensure_publication(struct pgsrc *src, bool *created, struct cdc_err *err)
{
    const char *params[] = {src->publication};
    struct cdc_buf sql = CDC_BUF_INIT;
    PGresult *r = NULL, *failed = NULL;
    cdc_rc rc;

    *created = false;
    rc = pgsrc_exec(src, src->sql, "look up the publication",
                    "SELECT 1 FROM pg_catalog.pg_publication WHERE pubname = $1", 1, params,
                    PGRES_TUPLES_OK, &r, NULL, err);
    if (rc != CDC_OK)
        return rc;
    if (PQntuples(r) > 0)
        goto done;
    if (!src->create_publication) {
        rc = cdc_err_set(err, CDC_ERR_FATAL,
                         "publication \"%s\" does not exist and creating it is not enabled",
                         src->publication);
        goto done;
    }
    rc = pgsrc_create_publication_sql(src, &sql, err);
    if (rc == CDC_OK)
        rc = pgsrc_exec(src, src->sql, "create the publication", sql.data, 0, NULL,
                        PGRES_COMMAND_OK, NULL, &failed, err);
    if (rc == CDC_OK) {
        *created = true;
    } else if (pgsrc_has_sqlstate(failed, "42710")) {
        /* created by someone else in the meantime: use theirs */
        cdc_err_clear(err);
        rc = CDC_OK;
    }
done:
    PQclear(failed);
    PQclear(r);
    cdc_buf_free(&sql);
    return rc;
}

static bool
pgsrc_lsn_field(const PGresult *r, int col, cdc_lsn *out)
{
    if (PQgetisnull(r, 0, col)) {
        *out = CDC_LSN_INVALID;
        return true;
    }
    return cdc_lsn_parse(PQgetvalue(r, 0, col), out);
}

/* Check the slot row: columns as selected in pgsrc_query_slot(). */
static cdc_rc
pgsrc_check_slot_row(struct pgsrc *src, const PGresult *r, struct pgsrc_slot_info *out,
                     struct cdc_err *err)
{
    const char *plugin = PQgetvalue(r, 0, 0);

    if (strcmp(PQgetvalue(r, 0, 1), "logical") != 0 || strcmp(plugin, "pgoutput") != 0)
        return cdc_err_set(err, CDC_ERR_FATAL,
                           "replication slot \"%s\" exists but is not a logical pgoutput slot "
                           "(type %s, plugin \"%s\")",
                           src->slot, PQgetvalue(r, 0, 1), plugin);
    if (strcmp(PQgetvalue(r, 0, 2), "t") != 0)
        return cdc_err_set(err, CDC_ERR_FATAL,
                           "replication slot \"%s\" belongs to another database", src->slot);
    {
        static const char *const st[] = {"reserved", "extended", "unreserved", "lost"};

        out->wal_status = -1;
        for (int i = 0; i < 4; i++)
            if (strcmp(PQgetvalue(r, 0, 7), st[i]) == 0)
                out->wal_status = i;
        out->retained_bytes = PQgetisnull(r, 0, 8) ? -1 : strtoll(PQgetvalue(r, 0, 8), NULL, 10);
        out->safe_wal_bytes = PQgetisnull(r, 0, 9) ? -1 : strtoll(PQgetvalue(r, 0, 9), NULL, 10);
    }
    if (out->wal_status == 3)
        return cdc_err_set(
            err, CDC_ERR_LOST,
            "replication slot \"%s\" was invalidated (wal_status lost): the WAL it "
            "needs was removed (max_slot_wal_keep_size); the changes since are gone "
            "from this source. To recover: drop the slot (SELECT "
            "pg_drop_replication_slot('%s')), restart with --accept-slot-position to "
            "stream from now, and re-snapshot the tables you need",
            src->slot, src->slot);
    out->active = strcmp(PQgetvalue(r, 0, 3), "t") == 0;
    out->active_pid = PQgetisnull(r, 0, 4) ? 0 : atoi(PQgetvalue(r, 0, 4));
    if (!pgsrc_lsn_field(r, 5, &out->confirmed_flush) || !pgsrc_lsn_field(r, 6, &out->restart_lsn))
        return cdc_err_set(err, CDC_ERR_PROTO, "unexpected LSN for replication slot \"%s\"",
                           src->slot);
    if (out->active && out->active_pid != PQbackendPID(src->repl))
        return cdc_err_set(err, CDC_ERR_RETRY,
                           "replication slot \"%s\" is active for PID %d: another consumer is "
                           "streaming from it",
                           src->slot, out->active_pid);
    return CDC_OK;
}

/* Read the slot; *exists false (and CDC_OK) when there is none. */
static cdc_rc
pgsrc_query_slot(struct pgsrc *src, struct pgsrc_slot_info *out, bool *exists, struct cdc_err *err)
{
    const char *params[] = {src->slot};
    PGresult *r = NULL;
    cdc_rc rc;

    rc = pgsrc_exec(src, src->sql, "look up the replication slot",
                    "SELECT plugin, slot_type, database = current_database(), active, active_pid, "
                    "confirmed_flush_lsn, restart_lsn, wal_status, "
                    "pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), restart_lsn), "
                    "safe_wal_size "
                    "FROM pg_catalog.pg_replication_slots WHERE slot_name = $1",
                    1, params, PGRES_TUPLES_OK, &r, NULL, err);
    if (rc != CDC_OK)
        return rc;
    *exists = PQntuples(r) > 0;
    if (*exists)
        rc = pgsrc_check_slot_row(src, r, out, err);
    PQclear(r);
    return rc;
}

cdc_rc
pgsrc_slot_info(struct pgsrc *src, struct pgsrc_slot_info *out, struct cdc_err *err)
{
    bool exists = false;
    cdc_rc rc = pgsrc_query_slot(src, out, &exists, err);

    if (rc == CDC_OK && !exists)
        rc = cdc_err_set(err, CDC_ERR_FATAL, "replication slot \"%s\" does not exist", src->slot);
    return rc;
}

static cdc_rc
pgsrc_ensure_slot(struct pgsrc *src, struct pgsrc_slot_info *out, struct cdc_err *err)
{
    char cmd[160];
    PGresult *failed = NULL;
    bool exists = false;
    cdc_rc rc;

    out->slot_created = out->slot_missing = false;
    rc = pgsrc_query_slot(src, out, &exists, err);
    if (rc != CDC_OK || exists)
        return rc;
    out->slot_missing = !src->create_slot;
    if (!src->create_slot)
        return cdc_err_set(err, CDC_ERR_FATAL,
                           "replication slot \"%s\" does not exist and creating it is not enabled",
                           src->slot);
    /* the name was validated as [a-z0-9_]+: nothing to quote. NOEXPORT_SNAPSHOT
     * is accepted by PostgreSQL 10 to 17 (15 also has "(SNAPSHOT 'nothing')"). */
    snprintf(cmd, sizeof(cmd), "CREATE_REPLICATION_SLOT %s LOGICAL pgoutput NOEXPORT_SNAPSHOT",
             src->slot);
    rc = pgsrc_exec(src, src->repl, "create the replication slot", cmd, 0, NULL, PGRES_TUPLES_OK,
                    NULL, &failed, err);
    if (rc == CDC_OK) {
        out->slot_created = true;
    } else if (pgsrc_has_sqlstate(failed, "42710")) {
        cdc_err_clear(err); /* created concurrently: read theirs below */
        rc = CDC_OK;
    }
    PQclear(failed);
    if (rc == CDC_OK)
        rc = pgsrc_slot_info(src, out, err);
    return rc;
}

cdc_rc
pgsrc_prepare(struct pgsrc *src, struct pgsrc_slot_info *out, struct cdc_err *err)
{
    cdc_rc rc;

    memset(out, 0, sizeof(*out));
    rc = pgsrc_identify(src, out, err);
    if (rc != CDC_OK)
        return rc;
    /* publication first: pgoutput looks it up as of each decoded transaction,
     * so it must exist before the slot's first position */
    if (src->manage_pub)
        rc = pgsrc_ensure_managed(src, out, err);
    else
        rc = pgsrc_ensure_publication(src, &out->publication_created, err);
    if (rc != CDC_OK)
        return rc;
    return pgsrc_ensure_slot(src, out, err);
}

/*
 * publication_names is a string literal holding a list of identifiers:
 * quote the name as an identifier, then as a literal. The replication
 * command scanner knows only '...' with '' doubled (no E'' strings).
 */
static cdc_rc
pgsrc_start_command(struct pgsrc *src, cdc_lsn start_lsn, struct cdc_buf *b, struct cdc_err *err)
{
    char *ident = PQescapeIdentifier(src->repl, src->publication, strlen(src->publication));
    /* proto 2 streams transactions larger than logical_decoding_work_mem before they commit */
    bool stream = src->streaming_opt && PQserverVersion(src->repl) >= 140000;

    if (ident == NULL)
        return pgsrc_fail(src->password, err, CDC_ERR_CONFIG, "invalid publication name: %s",
                          PQerrorMessage(src->repl));

    cdc_buf_printf(b,
                   "START_REPLICATION SLOT %s LOGICAL " CDC_LSN_FMT
                   " (proto_version '%d', publication_names '",
                   src->slot, CDC_LSN_ARGS(start_lsn), stream ? 2 : 1);
    for (const char *p = ident; *p != '\0'; p++) {
        if (*p == '\'')
            cdc_buf_putc(b, '\'');
        cdc_buf_putc(b, *p);
    }
    cdc_buf_putc(b, '\'');
    /* logical decoding messages (setup-ddl's DDL events), an option of pgoutput 14+ */
    if (PQserverVersion(src->repl) >= 140000)
        cdc_buf_puts(b, ", messages 'true'");
    if (stream)
        cdc_buf_puts(b, ", streaming 'on'");
    cdc_buf_putc(b, ')');
    PQfreemem(ident);
    if (!cdc_buf_ok(b))
        return cdc_err_set(err, CDC_ERR_NOMEM, "out of memory building START_REPLICATION");
    return CDC_OK;
}

/* Bytes arrived on the stream: the silence is over. */
static void
pgsrc_heard(struct pgsrc *src)
{
    src->last_recv_ms = cdc_now_ms();
    src->ping_ms = 0;
}

/* The receive timeout: the server's wal_sender_timeout, or PGSRC_RECV_TIMEOUT_MS when that is 0
 * or cannot be read. */
static int64_t
pgsrc_sender_timeout(struct pgsrc *src)
{
    struct cdc_err ignored;
    PGresult *r = NULL;
    int64_t ms = 0;

    if (src->sql != NULL &&
        pgsrc_exec(src, src->sql, "read wal_sender_timeout",
                   "SELECT setting FROM pg_catalog.pg_settings WHERE name = 'wal_sender_timeout'",
                   0, NULL, PGRES_TUPLES_OK, &r, NULL, &ignored) == CDC_OK &&
        PQntuples(r) == 1)
        ms = strtoll(PQgetvalue(r, 0, 0), NULL, 10); /* its unit is ms */
    PQclear(r);
    return ms > 0 ? ms : PGSRC_RECV_TIMEOUT_MS;
}

cdc_rc
pgsrc_heartbeat(struct pgsrc *src, cdc_lsn *lsn, struct cdc_err *err)
{
    PGresult *r = NULL;
    cdc_lsn at = 0;
    cdc_rc rc;

    if (src->sql == NULL)
        return cdc_err_set(err, CDC_ERR_RETRY, "no SQL connection for the heartbeat");
    rc = pgsrc_exec(src, src->sql, "write a heartbeat",
                    "SELECT pg_catalog.pg_logical_emit_message(true, 'cdc_handler.heartbeat', "
                    "pg_catalog.now()::text)",
                    0, NULL, PGRES_TUPLES_OK, &r, NULL, err);
    /* the LSN is for the heartbeat topic only: an odd answer is not worth a failure */
    if (rc == CDC_OK && PQntuples(r) == 1 && PQnfields(r) == 1 && !pgsrc_lsn_field(r, 0, &at))
        at = 0;
    PQclear(r);
    if (rc == CDC_OK && lsn != NULL)
        *lsn = at;
    return rc;
}

cdc_rc
pgsrc_start(struct pgsrc *src, cdc_lsn start_lsn, struct cdc_err *err)
{
    struct cdc_buf cmd = CDC_BUF_INIT;
    cdc_rc rc;

    if (src->repl == NULL || src->streaming)
        return cdc_err_set(err, CDC_ERR_PROTO, "cannot start replication: %s",
                           src->repl == NULL ? "connection closed" : "already streaming");
    src->recv_timeout_ms = pgsrc_sender_timeout(src);
    rc = pgsrc_start_command(src, start_lsn, &cmd, err);
    if (rc == CDC_OK)
        rc = pgsrc_exec(src, src->repl, "start replication", cmd.data, 0, NULL, PGRES_COPY_BOTH,
                        NULL, NULL, err);
    cdc_buf_free(&cmd);
    if (rc != CDC_OK)
        return rc;
    src->streaming = true;
    src->last_status_ms = 0; /* report our flush position with the first read */
    pgsrc_heard(src);
    return CDC_OK;
}

void
pgsrc_set_flushed(struct pgsrc *src, cdc_lsn lsn)
{
    if (lsn > src->flushed)
        src->flushed = lsn;
}

cdc_lsn
pgsrc_flushed(const struct pgsrc *src)
{
    return src->flushed;
}

cdc_lsn
pgsrc_received(const struct pgsrc *src)
{
    return src->received;
}

static cdc_rc
pgsrc_lost(struct pgsrc *src, const char *what, struct cdc_err *err)
{
    src->streaming = false;
    return pgsrc_fail(src->password, err, CDC_ERR_RETRY,
                      "lost the replication connection to %s:%s while %s: %s", pgsrc_host_name(src),
                      src->port, what, PQerrorMessage(src->repl));
}

/* Send a standby status update now; reply: ask the server to answer with a keepalive. */
static cdc_rc
pgsrc_status_msg(struct pgsrc *src, bool reply, struct cdc_err *err)
{
    unsigned char m[34];

    m[0] = 'r';
    /* write is informational; flush (and apply) move confirmed_flush_lsn */
    pgsrc_put64(m + 1, src->received > src->flushed ? src->received : src->flushed);
    pgsrc_put64(m + 9, src->flushed);
    pgsrc_put64(m + 17, src->flushed);
    pgsrc_put64(m + 25, (uint64_t) pgsrc_pg_now_us());
    m[33] = reply ? 1 : 0;
    if (PQputCopyData(src->repl, (const char *) m, (int) sizeof(m)) <= 0 || PQflush(src->repl) != 0)
        return pgsrc_lost(src, "sending a status update", err);
    src->last_status_ms = cdc_now_ms();
    return CDC_OK;
}

cdc_rc
pgsrc_send_status(struct pgsrc *src, bool force, struct cdc_err *err)
{
    int64_t now = cdc_now_ms();

    if (!src->streaming || src->repl == NULL)
        return CDC_OK;
    if (!force && src->last_status_ms != 0 && now - src->last_status_ms < src->status_interval_ms)
        return CDC_OK;
    return pgsrc_status_msg(src, false, err);
}

/*
 * The receive timeout (see struct pgsrc): ping after half of it in silence;
 * once nothing_arrived says a wait found the socket quiet, the connection is
 * lost if the silence reached the limit and the ping had half of it to be
 * answered (so a caller that did not read for a while is not misjudged).
 */
static cdc_rc
pgsrc_check_silence(struct pgsrc *src, bool nothing_arrived, struct cdc_err *err)
{
    int64_t now = cdc_now_ms(), half = src->recv_timeout_ms / 2;

    if (src->recv_timeout_ms <= 0 || now - src->last_recv_ms < half)
        return CDC_OK;
    if (src->ping_ms == 0) {
        src->ping_ms = now;
        return pgsrc_status_msg(src, true, err);
    }
    if (!nothing_arrived || now - src->ping_ms < half ||
        now - src->last_recv_ms < src->recv_timeout_ms)
        return CDC_OK;
    src->streaming = false;
    return cdc_err_set(err, CDC_ERR_RETRY,
                       "lost the replication connection to %s:%s: nothing received for %lld ms "
                       "(the server's wal_sender_timeout is %lld ms)",
                       pgsrc_host_name(src), src->port, (long long) (now - src->last_recv_ms),
                       (long long) src->recv_timeout_ms);
}

/* The server ended the copy (CopyDone or an error): collect the outcome. */
static cdc_rc
pgsrc_end_of_copy(struct pgsrc *src, struct cdc_err *err)
{
    PGresult *r = PQgetResult(src->repl);
    cdc_rc rc;

    if (r != NULL && PQresultStatus(r) == PGRES_COPY_IN) {
        /* CopyDone from the server: answer with ours to get the final result */
        PQclear(r);
        if (PQputCopyEnd(src->repl, NULL) <= 0 || PQflush(src->repl) != 0)
            return pgsrc_lost(src, "ending the copy", err);
        r = PQgetResult(src->repl);
    }
    src->streaming = false;
    if (r != NULL && PQresultStatus(r) == PGRES_COMMAND_OK)
        rc = cdc_err_set(err, CDC_ERR_CLOSED, "the server ended the replication stream");
    else
        rc = pgsrc_fail(src->password, err, pgsrc_classify_result(src->repl, r),
                        "the server ended the replication stream with an error: %s",
                        pgsrc_result_message(src->repl, r));
    PQclear(r);
    while ((r = PQgetResult(src->repl)) != NULL)
        PQclear(r);
    return rc;
}

static cdc_rc
pgsrc_parse(struct pgsrc *src, const char *buf, int n, struct pgsrc_msg *out, struct cdc_err *err)
{
    switch (buf[0]) {
    case 'w': /* XLogData: walStart, walEnd, sendTime, payload */
        if (n < 25)
            return cdc_err_set(err, CDC_ERR_PROTO, "XLogData message of %d bytes is too short", n);
        out->kind = PGSRC_DATA;
        out->wal_start = pgsrc_get64(buf + 1);
        out->wal_end = pgsrc_get64(buf + 9);
        out->send_time_us = (int64_t) pgsrc_get64(buf + 17);
        out->data = (const uint8_t *) buf + 25;
        out->len = (size_t) n - 25;
        if (out->wal_end > src->received)
            src->received = out->wal_end;
        return CDC_OK;
    case 'k': /* keepalive: walEnd, sendTime, replyRequested */
        if (n < 18)
            return cdc_err_set(err, CDC_ERR_PROTO, "keepalive message of %d bytes is too short", n);
        out->kind = PGSRC_KEEPALIVE;
        out->wal_end = pgsrc_get64(buf + 1);
        out->send_time_us = (int64_t) pgsrc_get64(buf + 9);
        if (out->wal_end > src->received)
            src->received = out->wal_end;
        /* answer at once, otherwise wal_sender_timeout ends the connection */
        return buf[17] ? pgsrc_send_status(src, true, err) : CDC_OK;
    default:
        return cdc_err_set(err, CDC_ERR_PROTO,
                           "unexpected message type 0x%02x in the replication stream",
                           (unsigned char) buf[0]);
    }
}

/*
 * Wait for the socket until the deadline (-1: none) or the next status
 * update is due, then read what arrived. *interrupted on EINTR.
 */
static cdc_rc
pgsrc_wait(struct pgsrc *src, int64_t deadline, bool *interrupted, struct cdc_err *err)
{
    int64_t now = cdc_now_ms();
    int64_t wait = src->last_status_ms + src->status_interval_ms - now;
    struct pollfd pfd;
    int n;

    if (wait < 0)
        wait = 0;
    if (deadline >= 0 && deadline - now < wait)
        wait = deadline - now > 0 ? deadline - now : 0;
    if (src->recv_timeout_ms > 0 && wait > src->recv_timeout_ms / 4)
        wait = src->recv_timeout_ms / 4; /* come back in time to ping or give up */
    pfd.fd = PQsocket(src->repl);
    pfd.events = POLLIN;
    pfd.revents = 0;
    if (pfd.fd < 0)
        return pgsrc_lost(src, "waiting for data", err);
    n = poll(&pfd, 1, (int) wait);
    if (n < 0 && errno == EINTR) {
        *interrupted = true;
        return CDC_OK;
    }
    if (n < 0)
        return cdc_err_set(err, CDC_ERR_IO, "could not poll the replication connection: %s",
                           strerror(errno));
    if (n == 0)
        return pgsrc_check_silence(src, true, err);
    if (PQconsumeInput(src->repl) == 0)
        return pgsrc_lost(src, "reading", err);
    pgsrc_heard(src);
    return CDC_OK;
}

cdc_rc
pgsrc_read(struct pgsrc *src, int timeout_ms, struct pgsrc_msg *out, struct cdc_err *err)
{
    int64_t deadline = timeout_ms < 0 ? -1 : cdc_now_ms() + timeout_ms;
    bool waited = false, interrupted = false;
    char *buf = NULL;
    cdc_rc rc;
    int n;

    memset(out, 0, sizeof(*out));
    out->kind = PGSRC_NONE;
    if (src->copybuf != NULL) {
        PQfreemem(src->copybuf);
        src->copybuf = NULL;
    }
    if (!src->streaming || src->repl == NULL)
        return cdc_err_set(err, CDC_ERR_PROTO, "cannot read: not streaming");
    for (;;) {
        rc = pgsrc_send_status(src, false, err);
        if (rc != CDC_OK)
            return rc;
        n = PQgetCopyData(src->repl, &buf, 1);
        if (n > 0)
            break;
        if (n == -1)
            return pgsrc_end_of_copy(src, err);
        if (n < -1)
            return pgsrc_lost(src, "reading", err);
        if (waited && (deadline >= 0 && cdc_now_ms() >= deadline))
            return CDC_OK;
        rc = pgsrc_check_silence(src, false, err); /* the ping, when due */
        if (rc != CDC_OK)
            return rc;
        rc = pgsrc_wait(src, deadline, &interrupted, err);
        if (rc != CDC_OK || interrupted)
            return rc;
        waited = true;
    }
    src->copybuf = buf;
    return pgsrc_parse(src, buf, n, out, err);
}

/* Wait (at most until deadline) for input and read it. */
static cdc_rc
pgsrc_wait_input(struct pgsrc *src, int64_t deadline, struct cdc_err *err)
{
    int64_t left = deadline - cdc_now_ms();
    struct pollfd pfd = {.fd = PQsocket(src->repl), .events = POLLIN};

    if (left <= 0)
        return cdc_err_set(err, CDC_ERR_TIMEOUT,
                           "the server did not end the replication stream within %d ms",
                           PGSRC_STOP_DRAIN_MS);
    if (pfd.fd < 0)
        return pgsrc_lost(src, "ending the stream", err);
    if (poll(&pfd, 1, left < 100 ? (int) left : 100) > 0 && PQconsumeInput(src->repl) == 0)
        return pgsrc_lost(src, "ending the stream", err);
    return CDC_OK;
}

/* After our CopyDone: discard data until the server's CopyDone, then collect the results. */
static cdc_rc
pgsrc_drain(struct pgsrc *src, struct cdc_err *err)
{
    int64_t deadline = cdc_now_ms() + PGSRC_STOP_DRAIN_MS;
    PGresult *r;
    cdc_rc rc;

    for (;;) {
        char *buf = NULL;
        int n = PQgetCopyData(src->repl, &buf, 1);

        if (n > 0) {
            PQfreemem(buf);
            continue;
        }
        if (n == -1)
            break;
        if (n < -1)
            return pgsrc_lost(src, "ending the stream", err);
        rc = pgsrc_wait_input(src, deadline, err);
        if (rc != CDC_OK)
            return rc;
    }
    for (;;) {
        while (PQisBusy(src->repl)) {
            rc = pgsrc_wait_input(src, deadline, err);
            if (rc != CDC_OK)
                return rc;
        }
        r = PQgetResult(src->repl);
        if (r == NULL)
            return CDC_OK;
        PQclear(r);
    }
}

cdc_rc
pgsrc_stop(struct pgsrc *src, struct cdc_err *err)
{
    cdc_rc rc = CDC_OK;

    if (src == NULL)
        return CDC_OK;
    if (src->copybuf != NULL) {
        PQfreemem(src->copybuf);
        src->copybuf = NULL;
    }
    if (src->streaming && src->repl != NULL) {
        rc = pgsrc_send_status(src, true, err);
        if (rc == CDC_OK && (PQputCopyEnd(src->repl, NULL) <= 0 || PQflush(src->repl) != 0))
            rc = pgsrc_lost(src, "ending the stream", err);
        if (rc == CDC_OK)
            rc = pgsrc_drain(src, err);
        src->streaming = false;
    }
    PQfinish(src->repl);
    PQfinish(src->sql);
    src->repl = src->sql = NULL;
    return rc;
}

void
pgsrc_destroy(struct pgsrc *src)
{
    if (src == NULL)
        return;
    if (src->copybuf != NULL)
        PQfreemem(src->copybuf);
    PQfinish(src->repl);
    PQfinish(src->sql);
    free(src->host);
    free(src->user);
    if (src->password != NULL) {
        /* do not leave the secret in freed memory */
        volatile char *p = src->password;

        while (*p != '\0')
            *p++ = '\0';
        free(src->password);
    }
    free(src->dbname);
    free(src->slot);
    free(src->publication);
    free(src->appname);
    free(src->sslrootcert);
    for (int i = 0; i < src->n_tables; i++)
        free(src->tables[i]);
    free(src->tables);
    for (int i = 0; i < src->n_pub; i++) {
        free(src->pub_schema[i]);
        free(src->pub_table[i]);
    }
    free(src->pub_schema);
    free(src->pub_table);
    free(src);
}
