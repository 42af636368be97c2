/*
 * itlib.h - helpers shared by the integration tests.
 *
 * The servers fixture (start_servers.sh) writes KEY=VALUE lines to the file
 * named by $CDC_IT_ENV. Keys: CDC_IT_TMP (temp dir of the run),
 * CDC_IT_PGHOST (127.0.0.1), CDC_IT_PGSOCKET (socket directory), CDC_IT_PGPORT, CDC_IT_PGUSER,
 * CDC_IT_PGDATABASE, CDC_IT_NATS_URL, CDC_IT_NATS_PORT, CDC_IT_PG_PID,
 * CDC_IT_NATS_PID, CDC_IT_PGDATA, CDC_IT_NATS_STORE, CDC_IT_REDIS_URL, CDC_IT_REDIS_PORT,
 * CDC_IT_REDIS_PID, and for MariaDB CDC_IT_MY_HOST, CDC_IT_MY_PORT, CDC_IT_MY_USER,
 * CDC_IT_MY_PASSWORD, CDC_IT_MY_ADMIN, CDC_IT_MY_SOCKET, CDC_IT_MY_PID, CDC_IT_MY_DATA.
 */
#ifndef CDC_IT_ITLIB_H
#define CDC_IT_ITLIB_H

/* Value of KEY from the fixture's env file (or the process environment). Never NULL: aborts the
 * test if missing. */
const char *it_env(const char *key);

#endif

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <libpq-fe.h>

/* Connect to database `db` of the fixture's PostgreSQL (NULL: CDC_IT_PGDATABASE). Fails the test on
 * error. */
PGconn *it_pg_connect(const char *db);
/* Run SQL (printf-style); fails the test unless it succeeds. */
void it_sql(PGconn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Run a query returning one value; returns a malloc'd string (NULL for SQL NULL). */
char *it_sql_value(PGconn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drop (if present) and create database `name`, returning a connection to it. */
PGconn *it_fresh_db(const char *name);

/*
 * Start the daemon ($CDC_BIN) against the fixture's servers for database `db`,
 * with slot/publication `name`, stream `name` (upper-cased) and subject prefix
 * `name`, a checkpoint file in the run's temp dir, plus `extra` arguments
 * (NULL-terminated). Its stderr goes to $CDC_IT_TMP/<name>.log. Returns the pid.
 */
pid_t it_daemon_start(const char *db, const char *name, const char *const *extra);
/* Wait for the daemon to exit (up to timeout_ms; SIGKILL after); returns its exit status, or -1 if
 * killed. */
int it_daemon_wait(pid_t pid, int timeout_ms);
/* Path of the daemon's log for `name`. */
const char *it_daemon_log(const char *name);
/* The stream name used for `name`. */
const char *it_stream_name(const char *name);

/* One message read back from a stream. */
struct it_msg {
    char *subject;
    char *data;
    char *msg_id;
    uint64_t seq;
};
struct it_msgs {
    struct it_msg *v;
    int n;
};
/* Read every message currently in the stream for `name`. */
void it_read_stream(const char *name, struct it_msgs *out);
void it_msgs_free(struct it_msgs *m);

/* The text of member `key` of the top-level JSON object `json` (object, array, string with quotes,
 * number...), malloc'd; NULL if absent. */
char *it_json_member(const char *json, const char *key);
/* Wait (polling) until the stream for `name` holds at least n messages, up to timeout_ms. Returns
 * the count. */
int it_wait_stream_count(const char *name, int n, int timeout_ms);
/* Wait (up to 30 s) until a walsender streams from `slot`; fails the test otherwise. */
void it_wait_slot_active(PGconn *c, const char *slot);
/* The slot's confirmed_flush_lsn, as a number. */
uint64_t it_slot_confirmed(PGconn *c, const char *slot);
/* A whole file as a malloc'd string ("" if it cannot be read). */
char *it_slurp(const char *path);
/*
 * SIGSTOP pid and wait (up to 5 s) until the kernel reports it stopped, so that
 * nothing sent afterwards can still be processed by it. Fails the test otherwise.
 */
void it_freeze(pid_t pid);
/* A loopback TCP port that was free a moment ago (bind port 0, read it, close). */
int it_free_port(void);
/* Monotonic milliseconds. */
int64_t it_now_ms(void);
/*
 * Start a nats-server of the test's own (JetStream, store and log in dir) on
 * 127.0.0.1:port with scripts/pgctl.sh's cdc_start_nats; returns its pid once
 * it accepts connections. Stop it with it_pid_stop().
 */
pid_t it_nats_start(const char *dir, int port);
/* SIGTERM pid and wait (up to 10 s) until it is gone, then SIGKILL. For processes not our children.
 */
void it_pid_stop(pid_t pid);
/* GET http://127.0.0.1:port/path; the body, malloc'd, and *status (-1 and NULL if no answer). */
char *it_http_get(int port, const char *path, int *status);

/* ---- MariaDB (the fixture's, see start_servers.sh) ---- */
#include <mysql.h>

/* Connect to the fixture's MariaDB as its admin (root, by socket), database db (NULL: none). Fails
 * the test on error. Close with mysql_close(). */
MYSQL *it_my_connect(const char *db);
/* Run SQL (printf-style) on c, draining any result; fails the test unless it succeeds. */
void it_my(MYSQL *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Run a query returning one value; returns a malloc'd string (NULL for SQL NULL or no row). */
char *it_my_value(MYSQL *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
