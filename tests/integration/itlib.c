/*
 * itlib.c - helpers shared by the integration tests; see itlib.h.
 */
#include "itlib.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/lsn.h"
#include "sink/nats/jssink.h"

#define IT_MAX_VARS 64

static char it_keys[IT_MAX_VARS][64];
static char it_vals[IT_MAX_VARS][512];
static int it_nvars = -1;

static void
it_load(void)
{
    const char *path = getenv("CDC_IT_ENV");
    char line[640];
    FILE *f;

    it_nvars = 0;
    if (path == NULL || (f = fopen(path, "r")) == NULL)
        return;
    while (fgets(line, sizeof(line), f) != NULL && it_nvars < IT_MAX_VARS) {
        char *eq = strchr(line, '=');
        char *val;
        size_t n;

        if (eq == NULL || line[0] == '#')
            continue;
        *eq = '\0';
        val = eq + 1;
        n = strcspn(val, "\r\n");
        val[n] = '\0';
        /* accept both KEY=value and export KEY='value' */
        if (strncmp(line, "export ", 7) == 0)
            memmove(line, line + 7, strlen(line + 7) + 1);
        if (val[0] == '\'' && n >= 2 && val[n - 1] == '\'') {
            val[n - 1] = '\0';
            val++;
        }
        snprintf(it_keys[it_nvars], sizeof(it_keys[0]), "%.63s", line);
        snprintf(it_vals[it_nvars], sizeof(it_vals[0]), "%.511s", val);
        it_nvars++;
    }
    fclose(f);
}

const char *
it_env(const char *key)
{
    const char *v;

    if (it_nvars < 0)
        it_load();
    for (int i = 0; i < it_nvars; i++)
        if (strcmp(it_keys[i], key) == 0)
            return it_vals[i];
    v = getenv(key);
    if (v == NULL) {
        fprintf(stderr, "integration test: %s is not set (is the servers fixture running?)\n", key);
        abort();
    }
    return v;
}

int64_t
it_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

PGconn *
it_pg_connect(const char *db)
{
    const char *keys[] = {"host", "port", "user", "dbname", NULL};
    const char *vals[] = {it_env("CDC_IT_PGHOST"), it_env("CDC_IT_PGPORT"), it_env("CDC_IT_PGUSER"),
                          db ? db : it_env("CDC_IT_PGDATABASE"), NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 0);

    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("could not connect to PostgreSQL: %s", PQerrorMessage(c));
    return c;
}

static PGresult *
it_exec(PGconn *c, const char *fmt, va_list ap)
{
    char *sql = NULL;
    PGresult *r;

    if (vasprintf(&sql, fmt, ap) < 0)
        fail_msg("out of memory");
    r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("SQL failed: %s\n%s", PQerrorMessage(c), sql);
    free(sql);
    return r;
}

void
it_sql(PGconn *c, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    PQclear(it_exec(c, fmt, ap));
    va_end(ap);
}

char *
it_sql_value(PGconn *c, const char *fmt, ...)
{
    va_list ap;
    PGresult *r;
    char *v = NULL;

    va_start(ap, fmt);
    r = it_exec(c, fmt, ap);
    va_end(ap);
    if (PQntuples(r) != 1 || PQnfields(r) < 1)
        fail_msg("expected one row, got %d", PQntuples(r));
    if (!PQgetisnull(r, 0, 0))
        v = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

PGconn *
it_fresh_db(const char *name)
{
    PGconn *c = it_pg_connect(NULL);
    char *slots;

    /* a slot of a previous run pins the database: drop it first */
    slots =
        it_sql_value(c,
                     "SELECT count(pg_drop_replication_slot(slot_name)) FROM pg_replication_slots "
                     "WHERE database = '%s'",
                     name);
    free(slots);
    it_sql(c, "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
    it_sql(c, "CREATE DATABASE %s", name);
    PQfinish(c);
    return it_pg_connect(name);
}

static char it_paths[4][512];

const char *
it_daemon_log(const char *name)
{
    snprintf(it_paths[0], sizeof(it_paths[0]), "%s/%s.log", it_env("CDC_IT_TMP"), name);
    return it_paths[0];
}

const char *
it_stream_name(const char *name)
{
    size_t i;

    for (i = 0; name[i] && i < sizeof(it_paths[1]) - 1; i++)
        it_paths[1][i] = (char) toupper((unsigned char) name[i]);
    it_paths[1][i] = '\0';
    return it_paths[1];
}

pid_t
it_daemon_start(const char *db, const char *name, const char *const *extra)
{
    char ckpt[512], x[16][600];
    const char *argv[64];
    int argc = 0, nx = 0;
    pid_t pid;

    snprintf(ckpt, sizeof(ckpt), "%s/%s.ckpt.json", it_env("CDC_IT_TMP"), name);
#define X(...)                                                                                     \
    (snprintf(x[nx], sizeof(x[nx]), __VA_ARGS__), argv[argc++] = "-X", argv[argc++] = x[nx++])
    argv[argc++] = it_env("CDC_BIN");
    X("rds.endpoint=%s", it_env("CDC_IT_PGHOST"));
    X("rds.port=%s", it_env("CDC_IT_PGPORT"));
    X("rds.username=%s", it_env("CDC_IT_PGUSER"));
    X("rds.database=%s", db);
    X("rds.ssl_mode=disable");
    X("nats.urls=%s", it_env("CDC_IT_NATS_URL"));
    X("nats.stream=%s", it_stream_name(name));
    X("nats.subject_prefix=%s", name);
    X("cdc.slot_name=%s", name);
    X("cdc.publication=%s", name);
    X("cdc.checkpoint_storage=file://%s", ckpt);
    X("cdc.checkpoint_interval=200ms");
    X("monitoring.logging.level=debug");
#undef X
    for (int i = 0; extra && extra[i]; i++)
        argv[argc++] = extra[i];
    argv[argc] = NULL;
    pid = fork();
    if (pid < 0)
        fail_msg("fork: %s", strerror(errno));
    if (pid == 0) {
        int fd = open(it_daemon_log(name), O_WRONLY | O_CREAT | O_APPEND, 0644);

        if (fd >= 0) {
            dup2(fd, STDERR_FILENO);
            dup2(fd, STDOUT_FILENO);
        }
        execv(argv[0], (char *const *) argv);
        _exit(127);
    }
    return pid;
}

int
it_daemon_wait(pid_t pid, int timeout_ms)
{
    int64_t deadline = it_now_ms() + timeout_ms;
    int status;

    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);

        if (r == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        if (it_now_ms() >= deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        usleep(20000);
    }
}

static void
collect(void *c, const char *subject, const char *data, int len, const char *msg_id, uint64_t seq)
{
    struct it_msgs *m = c;
    struct it_msg *v = m->v;

    /* capacity doubles at each power of two */
    if (m->n == 0 || (m->n & (m->n - 1)) == 0) {
        v = realloc(m->v, sizeof(*v) * (size_t) (m->n ? 2 * m->n : 1));
        if (v == NULL)
            fail_msg("out of memory");
        m->v = v;
    }
    v[m->n].subject = strdup(subject);
    v[m->n].data = strndup(data, (size_t) len);
    v[m->n].msg_id = msg_id ? strdup(msg_id) : NULL;
    v[m->n].seq = seq;
    m->n++;
}

void
it_read_stream(const char *name, struct it_msgs *out)
{
    struct cdc_err err;

    out->v = NULL;
    out->n = 0;
    if (jssink_read_stream(it_env("CDC_IT_NATS_URL"), it_stream_name(name), NULL, collect, out,
                           10000, &err) != CDC_OK)
        fail_msg("could not read stream %s: %s", it_stream_name(name), err.msg);
}

void
it_msgs_free(struct it_msgs *m)
{
    for (int i = 0; i < m->n; i++) {
        free(m->v[i].subject);
        free(m->v[i].data);
        free(m->v[i].msg_id);
    }
    free(m->v);
    m->v = NULL;
    m->n = 0;
}

int
it_wait_stream_count(const char *name, int n, int timeout_ms)
{
    int64_t deadline = it_now_ms() + timeout_ms;
    struct it_msgs m;
    int got;

    for (;;) {
        it_read_stream(name, &m);
        got = m.n;
        it_msgs_free(&m);
        if (got >= n || it_now_ms() >= deadline)
            return got;
        usleep(100000);
    }
}

/* Skip one JSON value starting at p; returns the position after it. */
static const char *
skip_value(const char *p)
{
    int depth = 0;
    bool in_str = false;

    for (; *p; p++) {
        if (in_str) {
            if (*p == '\\' && p[1])
                p++;
            else if (*p == '"')
                in_str = false;
            if (!in_str && depth == 0)
                return p + 1;
            continue;
        }
        if (*p == '"')
            in_str = true;
        else if (*p == '{' || *p == '[')
            depth++;
        else if (*p == '}' || *p == ']') {
            if (depth == 0)
                return p;
            if (--depth == 0)
                return p + 1;
        } else if (*p == ',' && depth == 0)
            return p;
    }
    return p;
}

char *
it_json_member(const char *json, const char *key)
{
    const char *p = json;
    size_t klen = strlen(key);

    if (*p != '{')
        return NULL;
    p++;
    while (*p && *p != '}') {
        const char *k = p, *v, *end;

        if (*k != '"')
            return NULL;
        end = skip_value(k);
        v = end + 1; /* past ':' */
        p = skip_value(v);
        if ((size_t) (end - k) == klen + 2 && strncmp(k + 1, key, klen) == 0)
            return strndup(v, (size_t) (p - v));
        if (*p == ',')
            p++;
    }
    return NULL;
}

void
it_wait_slot_active(PGconn *c, const char *slot)
{
    for (int i = 0; i < 300; i++) {
        char *n = it_sql_value(c,
                               "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '%s' "
                               "AND active",
                               slot);
        bool ok = strcmp(n, "1") == 0;

        free(n);
        if (ok)
            return;
        usleep(100000);
    }
    fail_msg("slot %s never became active", slot);
}

uint64_t
it_slot_confirmed(PGconn *c, const char *slot)
{
    char *v = it_sql_value(c,
                           "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE "
                           "slot_name = '%s'",
                           slot);
    cdc_lsn l = 0;

    if (v == NULL || !cdc_lsn_parse(v, &l))
        fail_msg("slot %s has no confirmed_flush_lsn (%s)", slot, v ? v : "NULL");
    free(v);
    return l;
}

char *
it_slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *s;
    long n;

    if (f == NULL)
        return strdup("");
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    s = calloc(1, (size_t) n + 1);
    if (s != NULL && fread(s, 1, (size_t) n, f) != (size_t) n)
        s[0] = '\0';
    fclose(f);
    return s;
}

void
it_freeze(pid_t pid)
{
    char path[64];

    snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
    if (kill(pid, SIGSTOP) != 0)
        fail_msg("could not stop pid %d: %s", (int) pid, strerror(errno));
    for (int i = 0; i < 500; i++) {
        char stat[512] = "", *state;
        FILE *f = fopen(path, "r"); /* /proc files have no size: read, do not seek */
        bool stopped;

        if (f != NULL) {
            if (fgets(stat, sizeof(stat), f) == NULL)
                stat[0] = '\0';
            fclose(f);
        }
        state = strrchr(stat, ')');
        stopped = state != NULL && (state[2] == 'T' || state[2] == 't');
        if (stopped)
            return;
        usleep(10000);
    }
    fail_msg("pid %d did not stop", (int) pid);
}

int
it_free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *) &a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *) &a, &len), 0);
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* The process state letter from /proc/PID/stat, or 0 when there is no such process. */
static char
it_proc_state(pid_t pid)
{
    char path[64], stat[512] = "", *p;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
    f = fopen(path, "r");
    if (f == NULL)
        return 0;
    if (fgets(stat, sizeof(stat), f) == NULL)
        stat[0] = '\0';
    fclose(f);
    p = strrchr(stat, ')');
    return p != NULL && p[1] == ' ' ? p[2] : 0;
}

/* Run a helper function of scripts/SCRIPT (sourced from `script`) with args; its stdout, malloc'd.
 */
static char *
it_script_output(const char *script, const char *func, const char *a1, const char *a2)
{
    char cmd[2048], *out = malloc(256);
    size_t n;
    FILE *p;

    assert_non_null(out);
    snprintf(cmd, sizeof(cmd),
             "bash -c 'source \"$0/../../scripts/%s\" && %s \"$1\" \"$2\"' '%s' '%s' '%s'", script,
             func, it_env("CDC_TEST_DATA"), a1, a2);
    p = popen(cmd, "r");
    assert_non_null(p);
    n = fread(out, 1, 255, p);
    out[n] = '\0';
    if (pclose(p) != 0)
        fail_msg("%s %s %s failed (output: %s)", func, a1, a2, out);
    return out;
}

pid_t
it_nats_start(const char *dir, int port)
{
    char ports[16], *out;
    pid_t pid;

    snprintf(ports, sizeof(ports), "%d", port);
    out = it_script_output("pgctl.sh", "cdc_start_nats", dir, ports);
    pid = (pid_t) atoi(out);
    free(out);
    assert_true(pid > 0);
    return pid;
}

void
it_pid_stop(pid_t pid)
{
    char st;

    kill(pid, SIGTERM);
    for (int i = 0; i < 1000; i++) {
        st = it_proc_state(pid);
        if (st == 0 || st == 'Z' || st == 'X')
            return;
        usleep(10000);
    }
    kill(pid, SIGKILL);
}

char *
it_http_get(int port, const char *path, int *status)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {5, 0};
    char req[512], *resp = NULL, *body;
    size_t len = 0, cap = 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ssize_t n;

    assert_true(fd >= 0);
    a.sin_port = htons((uint16_t) port);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    *status = -1;
    if (connect(fd, (struct sockaddr *) &a, sizeof(a)) != 0) {
        close(fd);
        return NULL;
    }
    n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
    assert_int_equal(write(fd, req, (size_t) n), n);
    for (;;) {
        if (cap - len < 4096) {
            cap = cap ? cap * 2 : 65536;
            resp = realloc(resp, cap);
            assert_non_null(resp);
        }
        n = read(fd, resp + len, cap - len - 1);
        if (n <= 0)
            break;
        len += (size_t) n;
    }
    close(fd);
    if (resp == NULL)
        return NULL;
    resp[len] = '\0';
    if (sscanf(resp, "HTTP/1.%*d %d", status) != 1)
        *status = -1;
    body = strstr(resp, "\r\n\r\n");
    body = strdup(body ? body + 4 : "");
    free(resp);
    return body;
}

/* ---- MariaDB ---- */

MYSQL *
it_my_connect(const char *db)
{
    MYSQL *c = mysql_init(NULL);
    unsigned int proto = MYSQL_PROTOCOL_SOCKET;

    assert_non_null(c);
    mysql_optionsv(c, MYSQL_OPT_PROTOCOL, &proto);
    mysql_optionsv(c, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    if (mysql_real_connect(c, NULL, it_env("CDC_IT_MY_ADMIN"), "", db, 0,
                           it_env("CDC_IT_MY_SOCKET"), CLIENT_MULTI_RESULTS) == NULL)
        fail_msg("could not connect to MariaDB at %s: %s", it_env("CDC_IT_MY_SOCKET"),
                 mysql_error(c));
    return c;
}

static char *
it_my_run(MYSQL *c, const char *fmt, va_list ap)
{
    char sql[8192], *v = NULL;
    MYSQL_RES *r;
    MYSQL_ROW row;

    vsnprintf(sql, sizeof(sql), fmt, ap);
    if (mysql_query(c, sql) != 0)
        fail_msg("MariaDB: %s: %s", sql, mysql_error(c));
    do {
        r = mysql_store_result(c);
        if (r != NULL) {
            row = mysql_fetch_row(r);
            if (v == NULL && row != NULL && row[0] != NULL)
                v = strdup(row[0]);
            mysql_free_result(r);
        } else if (mysql_field_count(c) != 0) {
            fail_msg("MariaDB: %s: %s", sql, mysql_error(c));
        }
    } while (mysql_next_result(c) == 0);
    if (mysql_errno(c) != 0)
        fail_msg("MariaDB: %s: %s", sql, mysql_error(c));
    return v;
}

void
it_my(MYSQL *c, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    free(it_my_run(c, fmt, ap));
    va_end(ap);
}

char *
it_my_value(MYSQL *c, const char *fmt, ...)
{
    va_list ap;
    char *v;

    va_start(ap, fmt);
    v = it_my_run(c, fmt, ap);
    va_end(ap);
    return v;
}
