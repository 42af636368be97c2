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
 * `name`, a checkpoint file in the run's temp dir, checkpoints every 200 ms,
 * circuit breakers with a 2 s cool-down, plus `extra` arguments (NULL-terminated;
 * a key given again there wins). Its stderr goes to $CDC_IT_TMP/<name>.log. Returns the pid.
 */
pid_t it_daemon_start(const char *db, const char *name, const char *const *extra);
/* it_daemon_start() on the fixture's MariaDB (rds.engine=mariadb, its host, port, user and
 * password) instead of PostgreSQL. */
pid_t it_my_daemon_start(const char *db, const char *name, const char *const *extra);
/* Wait for the daemon to exit (up to timeout_ms; SIGKILL after); returns its exit status, or -1 if
 * killed. */
int it_daemon_wait(pid_t pid, int timeout_ms);
/* Wait (up to timeout_ms) until the daemon's log for `name` holds needle; fails the test otherwise.
 */
void it_wait_log(const char *name, const char *needle, int timeout_ms);
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
/* Run a bash script (printf-style fmt) with scripts/pgctl.sh and scripts/myctl.sh sourced and
 * `set -e`; its stdout, trailing blanks trimmed, into out[0..n) (out may be NULL). Returns the
 * exit status (as pclose() gives it). */
int it_sh(char *out, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
pid_t it_nats_start(const char *dir, int port); /* stopped at exit if still running */
/*
 * Start a redis-server of the test's own (no persistence, log in dir) on
 * 127.0.0.1:port with scripts/pgctl.sh's cdc_start_redis; returns its pid once
 * it answers PING. Stop it with it_pid_stop().
 */
pid_t it_redis_start(const char *dir, int port); /* stopped at exit if still running */
/* SIGTERM pid and wait (up to 10 s) until it is gone, then SIGKILL. For processes not our children.
 */
void it_pid_stop(pid_t pid);
/* GET http://127.0.0.1:port/path; the body, malloc'd, and *status (-1 and NULL if no answer). */
char *it_http_get(int port, const char *path, int *status);

/*
 * Stop the fixture's PostgreSQL with pg_ctl -m mode ("fast", "immediate": a crash) and start
 * it again on the same data directory and port; the new pid is recorded for stop_servers.sh.
 */
void it_pg_restart(const char *mode);

/* ---- MariaDB (the fixture's, see start_servers.sh) ---- */
#include <mysql.h>

/* Connect to the fixture's MariaDB as its admin (root, by socket), database db (NULL: none). Fails
 * the test on error. Close with mysql_close(). */
MYSQL *it_my_connect(const char *db);
/* Run SQL (printf-style) on c, draining any result; fails the test unless it succeeds. */
void it_my(MYSQL *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Run a query returning one value; returns a malloc'd string (NULL for SQL NULL or no row). */
char *it_my_value(MYSQL *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * The fault-injection proxy (tests/tools/faultproxy.c, $CDC_FAULTPROXY)
 * between the daemon and one server: point the daemon at p.port instead of
 * the server's port, then switch modes while it runs.
 */
struct it_proxy {
    pid_t pid;   /* our child */
    int port;    /* where clients connect (127.0.0.1) */
    int control; /* the control port */
};
/* Start a proxy to 127.0.0.1:target_port; its log goes to $CDC_IT_TMP/faultproxy-<port>.log. */
struct it_proxy it_proxy_start(int target_port);
/*
 * Send one control command: "pass", "cut", "refuse", "blackhole up|down|both",
 * "stall up|down|both", "delay MS". Fails the test unless the proxy answers ok.
 */
void it_proxy_mode(const struct it_proxy *p, const char *cmd);
/* The proxy's "status" line (mode, connections, bytes forwarded and dropped), malloc'd. */
char *it_proxy_status(const struct it_proxy *p);
/* SIGTERM the proxy and reap it (SIGKILL after 5 s). */
void it_proxy_stop(struct it_proxy *p);
/* The resident set size of pid in KiB (VmRSS), -1 if unknown. */
long it_rss_kb(pid_t pid);

/*
 * The oracle of the fault scenarios (as in it_crashloop.c): a load of
 * inserts, updates and deletes (5 to 35 per transaction) on three tables
 * (id int PRIMARY KEY, v int), each change recorded in commit order; then, on
 * the stream: every change exactly once, in order per key (the sequence of
 * events of each key equals the sequence of changes the load made to it,
 * operation and value), and the final state rebuilt from the stream equal to
 * the tables.
 */
#define IT_LOAD_TABLES 3
#define IT_LOAD_MAXID  200000 /* ids per table stay below this */

struct it_change {
    int table;
    int id;
    int ordinal; /* index among the changes of this key */
    char op;     /* 'I', 'U', 'D' */
    int v;       /* column v after the change (0 for a delete) */
};
struct it_changes {
    struct it_change *v;
    size_t n, cap;
};
struct it_load; /* opaque; runs on its own thread and connection */

/* Create the load's three tables in c's database. */
void it_load_create_tables(PGconn *c);
/*
 * Start the load on database db: it runs until max_changes (0: no limit) or
 * it_load_stop(), sleeping pause_us between transactions.
 */
struct it_load *it_load_start(const char *db, size_t max_changes, int pause_us);
/* Changes committed so far (any thread). */
/*
 * The same, surviving a restart of the server: each transaction also inserts its number into
 * it_load_txlog (created here; leave it out of the publication), so that after a COMMIT that
 * lost its connection the load reconnects (up to 120 s) and knows whether it committed.
 */
struct it_load *it_load_start_resilient(const char *db, size_t max_changes, int pause_us);
/* Times a resilient load reconnected. */
int it_load_reconnects(const struct it_load *l);
size_t it_load_count(const struct it_load *l);
/*
 * Stop the load (or wait for it to reach max_changes when wait is true), join
 * it, fail the test if it failed, move the changes it made into *made and
 * free l.
 */
void it_load_stop(struct it_load *l, bool wait, struct it_changes *made);
/*
 * Check the stream of `name` against made (reordered by key in place) and the
 * tables of c's database; prints the counts. Fails the test on any difference.
 */
void it_oracle_check(PGconn *c, const char *name, struct it_changes *made);
void it_changes_free(struct it_changes *cs);
/* The number of messages in the stream for `name` now (stream info, cheap); -1 if it cannot be
 * asked. */
long it_stream_msg_count(const char *name);
/* Delete the stream for `name` if it exists (a rerun against the same servers starts empty). */
void it_stream_delete(const char *name);
