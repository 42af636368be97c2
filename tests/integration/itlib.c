/*
 * itlib.c - helpers shared by the integration tests; see itlib.h.
 */
#include "itlib.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
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
#include <nats/nats.h>

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
    for (int i = it_nvars - 1; i >= 0; i--) /* the last line of a key wins (it_pg_restart) */
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

/*
 * Processes a test started itself (it_daemon_start, it_nats_start,
 * it_redis_start) and has not stopped or reaped yet: stopped when the test
 * program exits, also after a failed assertion skipped the test's own
 * it_pid_stop() or it_daemon_wait().
 */
static pid_t it_own[32];

static void
it_own_stop_all(void)
{
    for (size_t i = 0; i < sizeof(it_own) / sizeof(it_own[0]); i++)
        if (it_own[i] > 0)
            it_pid_stop(it_own[i]);
}

static pid_t
it_own_add(pid_t pid)
{
    static bool registered;

    if (!registered)
        registered = atexit(it_own_stop_all) == 0;
    for (size_t i = 0; i < sizeof(it_own) / sizeof(it_own[0]); i++)
        if (it_own[i] == 0) {
            it_own[i] = pid;
            break;
        }
    return pid;
}

static void
it_own_forget(pid_t pid)
{
    for (size_t i = 0; i < sizeof(it_own) / sizeof(it_own[0]); i++)
        if (it_own[i] == pid)
            it_own[i] = 0;
}

pid_t
it_my_daemon_start(const char *db, const char *name, const char *const *extra)
{
    char x[5][300];
    const char *argv[64];
    int n = 0;

    snprintf(x[0], sizeof(x[0]), "rds.engine=mariadb");
    snprintf(x[1], sizeof(x[1]), "rds.endpoint=%s", it_env("CDC_IT_MY_HOST"));
    snprintf(x[2], sizeof(x[2]), "rds.port=%s", it_env("CDC_IT_MY_PORT"));
    snprintf(x[3], sizeof(x[3]), "rds.username=%s", it_env("CDC_IT_MY_USER"));
    snprintf(x[4], sizeof(x[4]), "rds.password=%s", it_env("CDC_IT_MY_PASSWORD"));
    for (int i = 0; i < 5; i++) {
        argv[n++] = "-X";
        argv[n++] = x[i];
    }
    for (int i = 0; extra != NULL && extra[i] != NULL && n < 63; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    return it_daemon_start(db, name, argv);
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
    /* tests restore a dependency and wait seconds, not the 30 s default, for the probe */
    X("cdc.circuit_breaker.cooldown=2s");
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
    it_own_add(pid);
    return pid;
}

int
it_daemon_wait(pid_t pid, int timeout_ms)
{
    int64_t deadline = it_now_ms() + timeout_ms;
    int status;

    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);

        if (r == pid) {
            it_own_forget(pid);
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        }
        if (it_now_ms() >= deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            it_own_forget(pid);
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

int
it_sh(char *out, size_t n, const char *fmt, ...)
{
    char cmd[9000], script[7000];
    va_list ap;
    FILE *p;
    size_t len;

    va_start(ap, fmt);
    vsnprintf(script, sizeof(script), fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof(cmd),
             "bash -c 'set -e; source \"$0/../../scripts/pgctl.sh\"; "
             "source \"$0/../../scripts/myctl.sh\"; %s' '%s'",
             script, it_env("CDC_TEST_DATA"));
    p = popen(cmd, "r");
    assert_non_null(p);
    if (out != NULL) {
        len = fread(out, 1, n - 1, p);
        out[len] = '\0';
        while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == ' '))
            out[--len] = '\0';
    } else {
        char sink[512];

        while (fread(sink, 1, sizeof(sink), p) > 0)
            ;
    }
    return pclose(p);
}

void
it_pg_restart(const char *mode)
{
    const char *data = it_env("CDC_IT_PGDATA");
    char cmd[3000], out[64] = "";
    size_t n;
    FILE *p;

    /* pg_ctl stop as the owner, the same data dir and port again; the new pid goes into the
       env file, whose last line for a key is the one stop_servers.sh reads */
    snprintf(cmd, sizeof(cmd),
             "bash -c 'source \"$0/../../scripts/pgctl.sh\" && "
             "cdc_as_pg \"$CDC_PG_BINDIR/pg_ctl\" stop -s -m \"$1\" -w -t 60 -D \"$2\" >&2 && "
             "cdc_run_pg \"$(dirname \"$2\")\"' '%s' '%s' '%s'",
             it_env("CDC_TEST_DATA"), mode, data);
    p = popen(cmd, "r");
    assert_non_null(p);
    n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    if (pclose(p) != 0 || atoi(out) <= 0)
        fail_msg("restarting PostgreSQL (-m %s) failed (output: %s)", mode, out);
    p = fopen(getenv("CDC_IT_ENV"), "a");
    assert_non_null(p);
    fprintf(p, "CDC_IT_PG_PID=%d\n", atoi(out));
    fclose(p);
    it_nvars = -1; /* read again */
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
    return it_own_add(pid);
}

pid_t
it_redis_start(const char *dir, int port)
{
    char ports[16], *out;
    pid_t pid;

    snprintf(ports, sizeof(ports), "%d", port);
    out = it_script_output("pgctl.sh", "cdc_start_redis", dir, ports);
    pid = (pid_t) atoi(out);
    free(out);
    assert_true(pid > 0);
    return it_own_add(pid);
}

void
it_pid_stop(pid_t pid)
{
    char st;

    it_own_forget(pid);

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

/* ---- the fault-injection proxy ---- */

struct it_proxy
it_proxy_start(int target_port)
{
    struct it_proxy p = {0};
    char target[16], line[256] = "", logpath[600];
    struct pollfd pfd;
    size_t len = 0;
    int fds[2];

    snprintf(target, sizeof(target), "%d", target_port);
    assert_int_equal(pipe(fds), 0);
    p.pid = fork();
    if (p.pid < 0)
        fail_msg("fork: %s", strerror(errno));
    if (p.pid == 0) {
        int fd;

        /* a test that fails before it_proxy_stop() must not leave the proxy behind */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        snprintf(logpath, sizeof(logpath), "%s/faultproxy-%d.log", it_env("CDC_IT_TMP"),
                 target_port);
        fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(fds[1], STDOUT_FILENO);
        if (fd >= 0)
            dup2(fd, STDERR_FILENO);
        close(fds[0]);
        execl(it_env("CDC_FAULTPROXY"), "cdc-faultproxy", target, (char *) NULL);
        _exit(127);
    }
    close(fds[1]);
    pfd = (struct pollfd){.fd = fds[0], .events = POLLIN};
    /* one line: "cdc-faultproxy listen=PORT control=PORT target=PORT" */
    while (strchr(line, '\n') == NULL && len < sizeof(line) - 1 && poll(&pfd, 1, 5000) > 0) {
        ssize_t n = read(fds[0], line + len, sizeof(line) - 1 - len);

        if (n <= 0)
            break;
        len += (size_t) n;
        line[len] = '\0';
    }
    close(fds[0]);
    if (sscanf(line, "cdc-faultproxy listen=%d control=%d", &p.port, &p.control) != 2)
        fail_msg("the fault proxy did not start (it said \"%s\")", line);
    return p;
}

/* Send one command line to the proxy's control port; its answer, malloc'd. */
static char *
it_proxy_cmd(const struct it_proxy *p, const char *cmd)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {5, 0};
    char req[256], resp[512] = "";
    size_t len = 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ssize_t n;

    assert_true(fd >= 0);
    a.sin_port = htons((uint16_t) p->control);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *) &a, sizeof(a)) != 0)
        fail_msg("could not reach the fault proxy's control port %d: %s", p->control,
                 strerror(errno));
    n = snprintf(req, sizeof(req), "%s\n", cmd);
    assert_int_equal(write(fd, req, (size_t) n), n);
    while (strchr(resp, '\n') == NULL && len < sizeof(resp) - 1 &&
           (n = read(fd, resp + len, sizeof(resp) - 1 - len)) > 0) {
        len += (size_t) n;
        resp[len] = '\0';
    }
    close(fd);
    resp[strcspn(resp, "\n")] = '\0';
    return strdup(resp);
}

void
it_proxy_mode(const struct it_proxy *p, const char *cmd)
{
    char *r = it_proxy_cmd(p, cmd);

    if (strncmp(r, "ok", 2) != 0)
        fail_msg("fault proxy command \"%s\": %s", cmd, r);
    free(r);
}

char *
it_proxy_status(const struct it_proxy *p)
{
    return it_proxy_cmd(p, "status");
}

void
it_proxy_stop(struct it_proxy *p)
{
    if (p->pid <= 0)
        return;
    kill(p->pid, SIGTERM);
    if (it_daemon_wait(p->pid, 5000) != 0)
        fprintf(stderr, "the fault proxy %d did not exit cleanly\n", (int) p->pid);
    p->pid = 0;
}

long
it_rss_kb(pid_t pid)
{
    char path[64], line[256];
    long kb = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

/* ---- the oracle of the fault scenarios ---- */

static const char *const it_tables[IT_LOAD_TABLES] = {"accounts", "orders", "audit_log"};

struct it_load {
    PGconn *c;
    char db[128];
    bool resilient; /* survive a server restart (it_load_start_resilient) */
    long txn;       /* transactions attempted */
    int reconnects;
    pthread_t th;
    size_t max_changes; /* 0: until stopped */
    int pause_us;
    atomic_bool stop;
    _Atomic size_t committed;
    struct it_changes made; /* in commit order; the load thread's until joined */
    int *live;              /* [table][IT_LOAD_MAXID]: ids that exist */
    char error[512];
};

static void
it_changes_add(struct it_changes *cs, int table, int id, char op, int v)
{
    if (cs->n == cs->cap) {
        cs->cap = cs->cap ? cs->cap * 2 : 4096;
        cs->v = realloc(cs->v, cs->cap * sizeof(*cs->v));
        if (cs->v == NULL)
            abort(); /* any thread: cannot fail_msg here */
    }
    cs->v[cs->n++] = (struct it_change){table, id, 0, op, v};
}

void
it_changes_free(struct it_changes *cs)
{
    free(cs->v);
    memset(cs, 0, sizeof(*cs));
}

void
it_load_create_tables(PGconn *c)
{
    for (int t = 0; t < IT_LOAD_TABLES; t++)
        it_sql(c, "CREATE TABLE %s (id int PRIMARY KEY, v int NOT NULL)", it_tables[t]);
}

static uint64_t
it_rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Append one random change of table t to sql; record it in l->made. */
static size_t
it_load_one(struct it_load *l, char *sql, int t, uint64_t *seed, int *nlive, int *next_id,
            int *value)
{
    int *live = l->live + (size_t) t * IT_LOAD_MAXID, roll = (int) (it_rnd(seed) % 100), at, id;

    if (nlive[t] < 50 || roll < 45) {
        id = next_id[t]++;
        live[nlive[t]++] = id;
        it_changes_add(&l->made, t, id, 'I', ++*value);
        return (size_t) sprintf(sql, "INSERT INTO %s VALUES (%d, %d);", it_tables[t], id, *value);
    }
    if (roll < 85) {
        id = live[it_rnd(seed) % (uint64_t) nlive[t]];
        it_changes_add(&l->made, t, id, 'U', ++*value);
        return (size_t) sprintf(sql, "UPDATE %s SET v = %d WHERE id = %d;", it_tables[t], *value,
                                id);
    }
    at = (int) (it_rnd(seed) % (uint64_t) nlive[t]);
    id = live[at];
    live[at] = live[--nlive[t]];
    it_changes_add(&l->made, t, id, 'D', 0);
    return (size_t) sprintf(sql, "DELETE FROM %s WHERE id = %d;", it_tables[t], id);
}

/*
 * The server went away in the middle of a COMMIT: reconnect (up to 120 s) and ask the
 * transaction log whether transaction l->txn committed. 1 yes, 0 no, -1 could not tell.
 */
static int
it_load_reconnect(struct it_load *l)
{
    char conninfo[512], q[128];
    int64_t deadline = it_now_ms() + 120000;
    PGresult *r;
    int yes;

    snprintf(conninfo, sizeof(conninfo), "host=%s port=%s user=%s dbname=%s connect_timeout=5",
             it_env("CDC_IT_PGHOST"), it_env("CDC_IT_PGPORT"), it_env("CDC_IT_PGUSER"), l->db);
    for (;;) {
        PQfinish(l->c);
        l->c = PQconnectdb(conninfo);
        if (PQstatus(l->c) == CONNECTION_OK)
            break;
        if (it_now_ms() >= deadline) {
            snprintf(l->error, sizeof(l->error), "load: could not reconnect: %s",
                     PQerrorMessage(l->c));
            return -1;
        }
        usleep(200000);
    }
    l->reconnects++;
    snprintf(q, sizeof(q), "SELECT count(*) FROM it_load_txlog WHERE n = %ld", l->txn);
    r = PQexec(l->c, q);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(l->error, sizeof(l->error), "load: %s", PQerrorMessage(l->c));
        PQclear(r);
        return -1;
    }
    yes = atoi(PQgetvalue(r, 0, 0)) > 0;
    PQclear(r);
    return yes;
}

/*
 * After a COMMIT lost with the connection: reconnect; if the transaction did not commit, run
 * it again (the same statements, so the load's idea of the tables stays right), until it has.
 * false with l->error set if that cannot be done.
 */
static bool
it_load_retry(struct it_load *l, const char *sql)
{
    for (;;) {
        int committed = it_load_reconnect(l);
        PGresult *r;
        bool ok;

        if (committed != 0)
            return committed > 0;
        r = PQexec(l->c, sql);
        ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok)
            snprintf(l->error, sizeof(l->error), "load: %s", PQerrorMessage(l->c));
        PQclear(r);
        if (ok)
            return true;
        if (PQstatus(l->c) != CONNECTION_BAD)
            return false;
    }
}

static void *
it_load_run(void *arg)
{
    struct it_load *l = arg;
    int nlive[IT_LOAD_TABLES] = {0}, next_id[IT_LOAD_TABLES] = {1, 1, 1}, value = 0;
    uint64_t seed = 0x9E3779B97F4A7C15ULL;
    char *sql = malloc(1 << 16);

    while (sql != NULL && !atomic_load(&l->stop) &&
           (l->max_changes == 0 || l->made.n < l->max_changes)) {
        size_t len = 0, first = l->made.n;
        int k = 5 + (int) (it_rnd(&seed) % 31);
        PGresult *r;

        len += (size_t) sprintf(sql + len, "BEGIN;");
        /* ids stay below IT_LOAD_MAXID: the load ends a little before */
        if (next_id[0] + k >= IT_LOAD_MAXID || next_id[1] + k >= IT_LOAD_MAXID ||
            next_id[2] + k >= IT_LOAD_MAXID)
            break;
        for (int i = 0; i < k; i++)
            len += it_load_one(l, sql + len, (int) (it_rnd(&seed) % IT_LOAD_TABLES), &seed, nlive,
                               next_id, &value);
        l->txn++;
        if (l->resilient)
            len += (size_t) sprintf(sql + len, "INSERT INTO it_load_txlog VALUES (%ld);", l->txn);
        sprintf(sql + len, "COMMIT;");
        r = PQexec(l->c, sql);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            bool gone = PQstatus(l->c) == CONNECTION_BAD;

            snprintf(l->error, sizeof(l->error), "load: %s", PQerrorMessage(l->c));
            PQclear(r);
            if (l->resilient && gone && it_load_retry(l, sql)) {
                l->error[0] = '\0';
                atomic_store(&l->committed, l->made.n);
                continue;
            }
            l->made.n = first;
            break;
        }
        PQclear(r);
        atomic_store(&l->committed, l->made.n);
        if (l->pause_us > 0)
            usleep((useconds_t) l->pause_us);
    }
    free(sql);
    return NULL;
}

static struct it_load *
it_load_begin(const char *db, size_t max_changes, int pause_us, bool resilient)
{
    struct it_load *l = calloc(1, sizeof(*l));

    assert_non_null(l);
    snprintf(l->db, sizeof(l->db), "%s", db);
    l->resilient = resilient;
    l->live = calloc((size_t) IT_LOAD_TABLES * IT_LOAD_MAXID, sizeof(int));
    assert_non_null(l->live);
    l->c = it_pg_connect(db);
    l->max_changes = max_changes;
    l->pause_us = pause_us;
    atomic_init(&l->stop, false);
    atomic_init(&l->committed, 0);
    assert_int_equal(pthread_create(&l->th, NULL, it_load_run, l), 0);
    return l;
}

struct it_load *
it_load_start(const char *db, size_t max_changes, int pause_us)
{
    return it_load_begin(db, max_changes, pause_us, false);
}

struct it_load *
it_load_start_resilient(const char *db, size_t max_changes, int pause_us)
{
    PGconn *c = it_pg_connect(db);

    it_sql(c, "CREATE TABLE IF NOT EXISTS it_load_txlog (n bigint PRIMARY KEY)");
    PQfinish(c);
    return it_load_begin(db, max_changes, pause_us, true);
}

int
it_load_reconnects(const struct it_load *l)
{
    return l->reconnects;
}

size_t
it_load_count(const struct it_load *l)
{
    return atomic_load(&((struct it_load *) l)->committed);
}

void
it_load_stop(struct it_load *l, bool wait, struct it_changes *made)
{
    char error[sizeof(l->error)];

    if (!wait)
        atomic_store(&l->stop, true);
    pthread_join(l->th, NULL);
    PQfinish(l->c);
    free(l->live);
    *made = l->made;
    memcpy(error, l->error, sizeof(error));
    free(l);
    if (error[0] != '\0')
        fail_msg("%s", error);
}

static int
it_table_index(const char *quoted)
{
    for (int t = 0; t < IT_LOAD_TABLES; t++)
        if (strlen(quoted) == strlen(it_tables[t]) + 2 &&
            strncmp(quoted + 1, it_tables[t], strlen(it_tables[t])) == 0)
            return t;
    fail_msg("event for an unexpected table %s", quoted);
    return -1;
}

static int
it_member_int(const char *json, const char *key)
{
    char *m = it_json_member(json, key);
    int v;

    if (m == NULL)
        fail_msg("no \"%s\" in %s", key, json);
    v = atoi(m);
    free(m);
    return v;
}

/* The changes the stream of `name` holds, in stream order; *n_msgs: how many messages it holds. */
static void
it_stream_changes(const char *name, struct it_changes *seen, size_t *n_msgs)
{
    struct it_msgs ms;

    it_read_stream(name, &ms);
    *n_msgs = (size_t) ms.n;
    for (int i = 0; i < ms.n; i++) {
        const char *d = ms.v[i].data;
        char *table = it_json_member(d, "table"), *op = it_json_member(d, "operation");
        char *after = it_json_member(d, "after"), *before = it_json_member(d, "before");

        if (table == NULL || op == NULL)
            fail_msg("not a change event: %s", d);
        if (strcmp(op, "\"DELETE\"") == 0) {
            assert_non_null(before);
            it_changes_add(seen, it_table_index(table), it_member_int(before, "id"), 'D', 0);
        } else {
            assert_non_null(after);
            it_changes_add(seen, it_table_index(table), it_member_int(after, "id"),
                           strcmp(op, "\"INSERT\"") == 0 ? 'I' : 'U', it_member_int(after, "v"));
        }
        free(table);
        free(op);
        free(after);
        free(before);
    }
    it_msgs_free(&ms);
}

static int
it_change_cmp(const void *a, const void *b)
{
    const struct it_change *x = a, *y = b;

    if (x->table != y->table)
        return x->table - y->table;
    if (x->id != y->id)
        return x->id - y->id;
    return x->ordinal - y->ordinal;
}

/* Number each key's changes in order, then sort by (table, id, ordinal). */
static void
it_order_by_key(struct it_changes *cs)
{
    int *counts = calloc((size_t) IT_LOAD_TABLES * IT_LOAD_MAXID, sizeof(int));

    assert_non_null(counts);
    for (size_t i = 0; i < cs->n; i++)
        cs->v[i].ordinal = counts[cs->v[i].table * IT_LOAD_MAXID + cs->v[i].id]++;
    free(counts);
    qsort(cs->v, cs->n, sizeof(*cs->v), it_change_cmp);
}

/* The final state per the stream (ordered by key) equals the tables' rows. */
static void
it_check_final_state(PGconn *c, const struct it_changes *seen)
{
    int *state = malloc((size_t) IT_LOAD_TABLES * IT_LOAD_MAXID * sizeof(int)); /* -1: absent */
    int rows = 0;

    assert_non_null(state);
    for (size_t i = 0; i < (size_t) IT_LOAD_TABLES * IT_LOAD_MAXID; i++)
        state[i] = -1;
    for (size_t i = 0; i < seen->n; i++)
        state[seen->v[i].table * IT_LOAD_MAXID + seen->v[i].id] =
            seen->v[i].op == 'D' ? -1 : seen->v[i].v;
    for (int t = 0; t < IT_LOAD_TABLES; t++) {
        PGresult *r = PQexec(c, t == 0   ? "SELECT id, v FROM accounts"
                                : t == 1 ? "SELECT id, v FROM orders"
                                         : "SELECT id, v FROM audit_log");
        int in_stream = 0;

        assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
        for (int i = 0; i < PQntuples(r); i++) {
            int id = atoi(PQgetvalue(r, i, 0)), v = atoi(PQgetvalue(r, i, 1));

            if (state[t * IT_LOAD_MAXID + id] != v)
                fail_msg("%s id %d: the table has v=%d, the stream says %d", it_tables[t], id, v,
                         state[t * IT_LOAD_MAXID + id]);
        }
        for (int id = 0; id < IT_LOAD_MAXID; id++)
            in_stream += state[t * IT_LOAD_MAXID + id] >= 0;
        /* and no row the stream says exists is missing from the table */
        assert_int_equal(in_stream, PQntuples(r));
        rows += PQntuples(r);
        PQclear(r);
    }
    print_message("oracle: final state of %d rows in 3 tables equals the state rebuilt from the "
                  "stream\n",
                  rows);
    free(state);
}

void
it_oracle_check(PGconn *c, const char *name, struct it_changes *made)
{
    struct it_changes seen = {0};
    size_t mismatch = 0, n_msgs = 0;

    it_stream_changes(name, &seen, &n_msgs);
    print_message("oracle: the stream holds %zu events for %zu changes made\n", n_msgs, made->n);
    it_order_by_key(made);
    it_order_by_key(&seen);
    for (size_t i = 0; i < made->n && i < seen.n; i++) {
        const struct it_change *a = &made->v[i], *b = &seen.v[i];

        if (a->table != b->table || a->id != b->id || a->ordinal != b->ordinal || a->op != b->op ||
            a->v != b->v) {
            if (mismatch++ < 5)
                print_message("oracle: difference at %zu: made %s id %d #%d %c v=%d, stream %s "
                              "id %d #%d %c v=%d\n",
                              i, it_tables[a->table], a->id, a->ordinal, a->op, a->v,
                              it_tables[b->table], b->id, b->ordinal, b->op, b->v);
        }
    }
    if (mismatch > 0 || seen.n != made->n)
        fail_msg("oracle: %zu per-key differences; %zu events in the stream for %zu changes",
                 mismatch, seen.n, made->n);
    print_message("oracle: every change exactly once, in order per key\n");
    it_check_final_state(c, &seen);
    it_changes_free(&seen);
}

long
it_stream_msg_count(const char *name)
{
    natsConnection *nc = NULL;
    jsStreamInfo *si = NULL;
    jsCtx *js = NULL;
    jsErrCode jerr = 0;
    long n = -1;

    if (natsConnection_ConnectTo(&nc, it_env("CDC_IT_NATS_URL")) == NATS_OK &&
        natsConnection_JetStream(&js, nc, NULL) == NATS_OK &&
        js_GetStreamInfo(&si, js, it_stream_name(name), NULL, &jerr) == NATS_OK)
        n = (long) si->State.Msgs;
    jsStreamInfo_Destroy(si);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return n;
}

void
it_stream_delete(const char *name)
{
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    jsErrCode jerr = 0;
    natsStatus st;

    st = natsConnection_ConnectTo(&nc, it_env("CDC_IT_NATS_URL"));
    if (st == NATS_OK)
        st = natsConnection_JetStream(&js, nc, NULL);
    if (st == NATS_OK)
        st = js_DeleteStream(js, it_stream_name(name), NULL, &jerr);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    if (st != NATS_OK && jerr != JSStreamNotFoundErr)
        fail_msg("could not delete stream %s: %s (error %d)", it_stream_name(name),
                 natsStatus_GetText(st), (int) jerr);
}

void
it_wait_log(const char *name, const char *needle, int timeout_ms)
{
    int64_t deadline = it_now_ms() + timeout_ms;

    for (;;) {
        char *log = it_slurp(it_daemon_log(name));
        bool ok = strstr(log, needle) != NULL;

        if (ok || it_now_ms() >= deadline) {
            if (!ok)
                fail_msg("\"%s\" never appeared in the daemon's log:\n%s", needle, log);
            free(log);
            return;
        }
        free(log);
        usleep(100000);
    }
}
