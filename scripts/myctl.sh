# shellcheck shell=bash
# myctl.sh - shell helpers (to be sourced) that start and stop a throw-away
# MariaDB server in a directory of our own, on a free loopback port, set up
# for binlog change data capture. Used by the integration fixture
# (tests/integration/start_servers.sh, stop_servers.sh) and
# scripts/capture_binlog.sh. Sources scripts/pgctl.sh for cdc_free_port,
# cdc_pid_alive, cdc_wait_tcp and cdc_stop_pid.
#
# The server reads no option file (--no-defaults: Debian's /etc/mysql is never
# used), listens on 127.0.0.1:PORT and on DIR/mysqld.sock only, and writes
# its data, binlogs, pid file and error log under DIR:
#   log_bin (DIR/data/binlog.*), binlog_format=ROW, binlog_row_image=FULL,
#   binlog_row_metadata=FULL, server_id=1, gtid_strict_mode=ON,
#   character-set-server=utf8mb4, durability off (sync_binlog=0,
#   innodb_flush_log_at_trx_commit=0, no doublewrite): a test server only.
# TLS is on with a self-signed certificate (DIR/server.crt) when openssl is
# installed; plain connections are accepted too.
#
# Accounts: root@localhost without a password, by socket only (the admin);
# the replication user CDC_MY_REPL_USER@'%' (default cdc, password
# CDC_MY_REPL_PASSWORD, default cdc_pw) with REPLICATION SLAVE,
# BINLOG MONITOR (what REPLICATION CLIENT is called since 10.5) and SELECT on
# *.*; and a database cdc_test.
#
# As root, mariadbd runs as the mysql user (DIR is chowned to it; every
# directory above DIR must be traversable by mysql, e.g. chmod 755 of a
# mktemp -d directory); as anyone else, as that user. Functions print
# diagnostics on stderr only; a function that prints a value (a pid) writes
# just that on stdout. The server's output goes to DIR/mariadbd.err, and it
# ignores a terminal's Ctrl-C: whoever started it stops it by pid.
#
#   cdc_init_mariadb DIR          mariadb-install-db into DIR/data
#   cdc_run_mariadb DIR PORT      start mariadbd on an initialised DIR, wait until it
#                                 accepts connections, print its pid; CDC_MY_EXTRA_OPTS, if
#                                 set, holds more server options (split on spaces)
#   cdc_setup_mariadb DIR         create the replication user and cdc_test (idempotent)
#   cdc_start_mariadb DIR PORT    the three above
#   cdc_mariadb DIR [ARGS...]     the mariadb client as root over DIR's socket
#   cdc_stop_mariadb PID          SIGTERM (a clean shutdown), SIGKILL after 20 s

_cdc_myctl_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/pgctl.sh
. "$_cdc_myctl_here/pgctl.sh"

CDC_MY_REPL_USER=${CDC_MY_REPL_USER:-cdc}
CDC_MY_REPL_PASSWORD=${CDC_MY_REPL_PASSWORD:-cdc_pw}

# --user for the server and install-db: mysql when we are root, nobody else otherwise.
_cdc_my_user_opt() {
  if [ "$(id -u)" -eq 0 ]; then
    echo "--user=mysql"
  else
    echo "--user=$(id -un)"
  fi
}

cdc_init_mariadb() {
  local dir=$1
  if ! command -v mariadb-install-db >/dev/null 2>&1 || [ ! -x /usr/sbin/mariadbd ]; then
    echo "cdc_init_mariadb: mariadb-server not installed (run scripts/deps.sh)" >&2
    return 1
  fi
  mkdir -p "$dir/data" "$dir/tmp" || return 1
  chmod 755 "$dir" || return 1
  if [ "$(id -u)" -eq 0 ]; then
    chown -R mysql:mysql "$dir" || return 1
    if ! runuser -u mysql -- test -w "$dir"; then
      echo "cdc_init_mariadb: $dir is not reachable by the mysql user (chmod 755 its parents)" >&2
      return 1
    fi
  fi
  # TLS with a throw-away self-signed certificate, so that `ssl_mode: require` works unchanged
  # against the test server (plain connections are still accepted)
  if command -v openssl >/dev/null 2>&1 &&
    openssl req -new -x509 -days 7 -nodes -subj /CN=localhost -newkey rsa:2048 \
      -keyout "$dir/server.key" -out "$dir/server.crt" >/dev/null 2>&1; then
    chmod 600 "$dir/server.key"
    [ "$(id -u)" -eq 0 ] && chown mysql:mysql "$dir/server.key" "$dir/server.crt"
  fi
  # --no-defaults must come first; root gets a password-less account reachable by socket
  if ! mariadb-install-db --no-defaults "$(_cdc_my_user_opt)" --datadir="$dir/data" \
    --auth-root-authentication-method=normal --skip-test-db --skip-name-resolve \
    >"$dir/install.log" 2>&1 </dev/null; then
    echo "cdc_init_mariadb: mariadb-install-db failed:" >&2
    cat "$dir/install.log" >&2
    return 1
  fi
}

cdc_mariadb() {
  local dir=$1
  shift
  mariadb --no-defaults --protocol=socket -S "$dir/mysqld.sock" -u root --default-character-set=utf8mb4 \
    --batch --skip-column-names "$@"
}

cdc_run_mariadb() {
  local dir=$1 port=$2 pid i
  local tls=() extra=()
  read -r -a extra <<<"${CDC_MY_EXTRA_OPTS:-}"
  rm -f "$dir/mysqld.sock" "$dir/mariadbd.pid"
  [ -f "$dir/server.crt" ] && tls=(--ssl-cert="$dir/server.crt" --ssl-key="$dir/server.key")
  # a background job of a non-interactive shell ignores SIGINT: Ctrl-C reaches only the script
  /usr/sbin/mariadbd --no-defaults "$(_cdc_my_user_opt)" \
    --datadir="$dir/data" --tmpdir="$dir/tmp" --socket="$dir/mysqld.sock" \
    --pid-file="$dir/mariadbd.pid" --log-error="$dir/mariadbd.err" \
    --bind-address=127.0.0.1 --port="$port" --skip-name-resolve \
    --server-id=1 --log-bin=binlog --binlog-format=ROW --binlog-row-image=FULL \
    --binlog-row-metadata=FULL --gtid-strict-mode=ON \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci \
    --sync-binlog=0 --innodb-flush-log-at-trx-commit=0 --innodb-doublewrite=0 \
    --innodb-buffer-pool-size=64M --innodb-log-file-size=64M \
    --max-connections=100 --skip-performance-schema "${tls[@]}" "${extra[@]}" \
    </dev/null >>"$dir/mariadbd.out" 2>&1 &
  pid=$!
  for ((i = 0; i < 300; i++)); do
    cdc_pid_alive "$pid" || break
    if [ -S "$dir/mysqld.sock" ] && cdc_mariadb "$dir" -e 'SELECT 1' >/dev/null 2>&1; then
      echo "$pid"
      return 0
    fi
    sleep 0.1
  done
  echo "cdc_run_mariadb: mariadbd on 127.0.0.1:$port did not become ready:" >&2
  tail -n 30 "$dir/mariadbd.err" >&2 2>/dev/null
  cat "$dir/mariadbd.out" >&2 2>/dev/null
  cdc_stop_pid "$pid" 5
  return 1
}

cdc_setup_mariadb() {
  local dir=$1
  cdc_mariadb "$dir" <<SQL
CREATE USER IF NOT EXISTS '$CDC_MY_REPL_USER'@'%' IDENTIFIED BY '$CDC_MY_REPL_PASSWORD';
GRANT REPLICATION SLAVE, BINLOG MONITOR, SELECT ON *.* TO '$CDC_MY_REPL_USER'@'%';
CREATE DATABASE IF NOT EXISTS cdc_test;
SQL
}

cdc_start_mariadb() {
  local dir=$1 port=$2 pid
  cdc_init_mariadb "$dir" || return 1
  pid=$(cdc_run_mariadb "$dir" "$port") || return 1
  if ! cdc_setup_mariadb "$dir"; then
    echo "cdc_start_mariadb: could not create the replication user and database" >&2
    cdc_stop_mariadb "$pid"
    return 1
  fi
  echo "$pid"
}

cdc_stop_mariadb() {
  # SIGTERM is mariadbd's normal shutdown; it can take a few seconds (InnoDB)
  cdc_stop_pid "${1:-}" 20
}
