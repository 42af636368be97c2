#!/usr/bin/env bash
# start_servers.sh ENVFILE - the integration-test fixture (ctest FIXTURES_SETUP
# "servers"): a throw-away PostgreSQL 15 (wal_level=logical), a nats-server
# with JetStream, a redis-server and a MariaDB (binlog in ROW format), all in
# one mktemp -d directory on free loopback ports.
# Writes KEY=VALUE lines to ENVFILE for tests/integration/itlib.c (it_env) and
# for stop_servers.sh, which stops exactly the pids written there.
#
# Keys: CDC_IT_TMP CDC_IT_PGHOST CDC_IT_PGPORT CDC_IT_PGUSER CDC_IT_PGDATABASE
# CDC_IT_PGDATA CDC_IT_PGSOCKET CDC_IT_PG_PID CDC_IT_PG_PWUSER CDC_IT_NATS_URL
# CDC_IT_NATS_PORT CDC_IT_NATS_PID CDC_IT_NATS_STORE CDC_IT_REDIS_URL
# CDC_IT_REDIS_PORT CDC_IT_REDIS_PID (redis-server without persistence)
# CDC_IT_MY_HOST CDC_IT_MY_PORT (MariaDB on TCP), CDC_IT_MY_USER
# CDC_IT_MY_PASSWORD (the replication account: REPLICATION SLAVE, BINLOG
# MONITOR, SELECT), CDC_IT_MY_ADMIN (root: password-less, by socket or from
# 127.0.0.1), CDC_IT_MY_SOCKET (the socket file), CDC_IT_MY_PID,
# CDC_IT_MY_DATA (datadir: binlog.000001, ...). The MariaDB has log_bin,
# binlog_format=ROW, binlog_row_image=FULL, binlog_row_metadata=FULL,
# server_id=1, gtid_strict_mode, utf8mb4, a database cdc_test, and TLS with a
# self-signed certificate (scripts/myctl.sh).
# CDC_IT_S3_ENDPOINT (http://127.0.0.1:PORT), CDC_IT_S3_PORT, CDC_IT_S3_PID,
# CDC_IT_S3_BUCKET (created at start), CDC_IT_S3_DIR (its data dir): s3rver;
# CDC_IT_NODE_PATH (node_modules with the NATS JavaScript client) and CDC_IT_OBJGET
# (tests/tools/objget.js, which reads an Object Store object with it)
# (scripts/s3ctl.sh; access key and secret S3RVER, path-style requests, no
# signature check, no conditional PUT).
#
# Authentication is trust for everyone except the role named by
# CDC_IT_PG_PWUSER (not created here), which must log in with a password
# (scram-sha-256), so tests can check what happens with a wrong password.
#
# On failure: prints the server logs, stops what it started, removes the temp
# dir and exits non-zero. Runs as root (PostgreSQL as postgres via runuser) or
# as a normal user. Never uses Debian's "main" cluster.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 ENVFILE" >&2
  exit 2
fi
envfile=$1
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/pgctl.sh
source "$here/../../scripts/pgctl.sh"
# shellcheck source=scripts/myctl.sh
source "$here/../../scripts/myctl.sh"
# shellcheck source=scripts/s3ctl.sh
source "$here/../../scripts/s3ctl.sh"

pwuser=cdc_it_pw
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cdc-it.XXXXXX")
# postgres (when we are root) must reach $tmp/pg; root must reach its socket
chmod 755 "$tmp"
pg_pid=""
nats_pid=""
redis_pid=""
my_pid=""
s3_pid=""
ok=0

on_exit() {
  if [ "$ok" != 1 ]; then
    echo "start_servers: failed; logs follow" >&2
    for f in "$tmp/pg/initdb.log" "$tmp/pg/postgres.log" "$tmp/nats/nats.log" "$tmp/redis/redis.log" \
      "$tmp/my/install.log" "$tmp/my/mariadbd.err" "$tmp/s3.log"; do
      if [ -s "$f" ]; then
        echo "----- $f" >&2
        tail -n 50 "$f" >&2
      fi
    done
    [ -n "$s3_pid" ] && cdc_stop_pid "$s3_pid" 5
    [ -n "$my_pid" ] && cdc_stop_mariadb "$my_pid"
    [ -n "$redis_pid" ] && cdc_stop_pid "$redis_pid" 5
    [ -n "$nats_pid" ] && cdc_stop_pid "$nats_pid" 5
    [ -n "$pg_pid" ] && cdc_stop_pg "$tmp/pg" "$pg_pid"
    rm -rf "$tmp"
    rm -f "$envfile"
  fi
}
trap on_exit EXIT

pg_port=$(cdc_free_port)
cdc_init_pg "$tmp/pg" "$pg_port"
# password rule for one role, ahead of initdb's trust lines
hba="$tmp/pg/data/pg_hba.conf"
{
  echo "host all $pwuser 127.0.0.1/32 scram-sha-256"
  echo "host replication $pwuser 127.0.0.1/32 scram-sha-256"
  cat "$hba"
} >"$hba.new"
cat "$hba.new" >"$hba"
rm -f "$hba.new"
pg_pid=$(cdc_run_pg "$tmp/pg")

nats_port=$(cdc_free_port "$pg_port")
nats_pid=$(cdc_start_nats "$tmp/nats" "$nats_port")

redis_port=$(cdc_free_port "$pg_port" "$nats_port")
redis_pid=$(cdc_start_redis "$tmp/redis" "$redis_port")

my_port=$(cdc_free_port "$pg_port" "$nats_port" "$redis_port")
my_pid=$(cdc_start_mariadb "$tmp/my" "$my_port")

s3_bucket=cdc-it
s3_port=$(cdc_free_port "$pg_port" "$nats_port" "$redis_port" "$my_port")
s3_pid=$(cdc_start_s3rver "$tmp/s3" "$s3_port" "$s3_bucket")

"$CDC_PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres \
  -c "CREATE DATABASE cdc_test"

node_path=$(cdc_natsjs_modules)
cat >"$envfile.tmp" <<ENV
CDC_IT_TMP=$tmp
CDC_IT_PGHOST=127.0.0.1
CDC_IT_PGPORT=$pg_port
CDC_IT_PGUSER=postgres
CDC_IT_PGDATABASE=cdc_test
CDC_IT_PGDATA=$tmp/pg/data
CDC_IT_PGSOCKET=$tmp/pg
CDC_IT_PG_PID=$pg_pid
CDC_IT_PG_PWUSER=$pwuser
CDC_IT_NATS_URL=nats://127.0.0.1:$nats_port
CDC_IT_NATS_PORT=$nats_port
CDC_IT_NATS_PID=$nats_pid
CDC_IT_NATS_STORE=$tmp/nats
CDC_IT_REDIS_URL=redis://127.0.0.1:$redis_port
CDC_IT_REDIS_PORT=$redis_port
CDC_IT_REDIS_PID=$redis_pid
CDC_IT_MY_HOST=127.0.0.1
CDC_IT_MY_PORT=$my_port
CDC_IT_MY_USER=$CDC_MY_REPL_USER
CDC_IT_MY_PASSWORD=$CDC_MY_REPL_PASSWORD
CDC_IT_MY_ADMIN=root
CDC_IT_MY_SOCKET=$tmp/my/mysqld.sock
CDC_IT_MY_PID=$my_pid
CDC_IT_MY_DATA=$tmp/my/data
CDC_IT_S3_ENDPOINT=http://127.0.0.1:$s3_port
CDC_IT_S3_PORT=$s3_port
CDC_IT_S3_PID=$s3_pid
CDC_IT_S3_BUCKET=$s3_bucket
CDC_IT_S3_DIR=$tmp/s3
CDC_IT_NODE_PATH=$node_path
CDC_IT_OBJGET=$here/../tools/objget.js
ENV
mv "$envfile.tmp" "$envfile"
ok=1
echo "start_servers: PostgreSQL 15 on 127.0.0.1:$pg_port (pid $pg_pid), nats-server on 127.0.0.1:$nats_port (pid $nats_pid), redis-server on 127.0.0.1:$redis_port (pid $redis_pid), MariaDB on 127.0.0.1:$my_port (pid $my_pid), s3rver on 127.0.0.1:$s3_port (pid $s3_pid), in $tmp"
