# shellcheck shell=bash
# pgctl.sh - shell helpers (to be sourced) that start and stop throw-away
# PostgreSQL 15 and nats-server instances in a directory of our own, on a free
# loopback port. Used by the integration fixture
# (tests/integration/start_servers.sh, stop_servers.sh), the demo and the
# benchmark.
#
# Every function prints diagnostics on stderr only: a function that "prints"
# a value (a port, a pid) writes just that value on stdout, so
# `pid=$(cdc_start_pg "$dir/pg" "$port")` works. Started servers never keep
# the caller's stdout/stderr open (their output goes to log files) and ignore
# a Ctrl-C at the terminal: the script that started them stops them by pid.
#
# Works as root (PostgreSQL then runs as the postgres user through runuser;
# every directory above DIR must be traversable by postgres, e.g. chmod 755 of
# a mktemp -d directory) and as a normal user (everything runs as that user).
# Never touches Debian's "main" cluster or any process it did not start.
#
#   cdc_free_port [EXCLUDED_PORT...]  print a free loopback TCP port
#   cdc_init_pg DIR PORT          initdb into DIR/data, socket in DIR, config for logical replication
#   cdc_run_pg DIR                start an initialised DIR, wait until ready, print the postmaster pid
#   cdc_start_pg DIR PORT         cdc_init_pg + cdc_run_pg
#   cdc_stop_pg DIR [PID]         pg_ctl stop -m fast (as postgres), then SIGTERM/SIGKILL by pid
#   cdc_start_nats DIR PORT       nats-server -js, store and log in DIR, wait until it accepts, print pid
#   cdc_start_nats_conf DIR PORT CONF  nats-server -c CONF (TLS, auth, JetStream as CONF says), log in
#                                 DIR, on 127.0.0.1:PORT, wait until it accepts, print pid
#   cdc_start_redis DIR PORT      redis-server without persistence, log in DIR, wait for PING, print pid
#   cdc_redis_ping PORT           true when 127.0.0.1:PORT answers PING with PONG
#   cdc_stop_pid PID [SECONDS]    SIGTERM, wait up to SECONDS (default 10), then SIGKILL
#   cdc_wait_tcp PORT SECONDS     wait until 127.0.0.1:PORT accepts connections

CDC_PG_BINDIR=${CDC_PG_BINDIR:-/usr/lib/postgresql/15/bin}

# Run a command as the PostgreSQL owner: postgres when we are root, ourselves otherwise.
cdc_as_pg() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# True when PID names a live (not zombie) process.
cdc_pid_alive() {
  local pid=$1 stat state
  [ -r "/proc/$pid/stat" ] || return 1
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  # the state follows the last ')' (the command name may contain spaces or parens)
  state=${stat##*) }
  state=${state%% *}
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

cdc_port_is_free() {
  # a port is in use when something listens on it; a bind test proves it free
  perl -MSocket -e '
    socket(S, PF_INET, SOCK_STREAM, 0) or exit 2;
    bind(S, pack_sockaddr_in($ARGV[0], inet_aton("127.0.0.1"))) or exit 1;
    exit 0;' "$1" 2>/dev/null
}

cdc_free_port() {
  local port i x ok
  for ((i = 0; i < 50; i++)); do
    # bind port 0 and let the kernel choose; perl-base is on every Debian system
    port=$(perl -MSocket -e '
      socket(S, PF_INET, SOCK_STREAM, 0) or die "socket: $!\n";
      bind(S, pack_sockaddr_in(0, inet_aton("127.0.0.1"))) or die "bind: $!\n";
      my ($p) = unpack_sockaddr_in(getsockname(S));
      print "$p\n";' 2>/dev/null) ||
      port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null) ||
      port=$((20000 + RANDOM % 10000))
    ok=1
    for x in "$@"; do [ "$x" = "$port" ] && ok=0; done
    if [ "$ok" = 1 ] && ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  echo "cdc_free_port: could not find a free port" >&2
  return 1
}

cdc_wait_tcp() {
  local port=$1 limit=${2:-30} i
  for ((i = 0; i < limit * 10; i++)); do
    if timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  return 1
}

cdc_stop_pid() {
  local pid=${1:-} limit=${2:-10} i
  [[ "$pid" =~ ^[0-9]+$ ]] && [ "$pid" -gt 1 ] || return 0
  if cdc_pid_alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < limit * 10; i++)); do
      cdc_pid_alive "$pid" || break
      sleep 0.1
    done
    if cdc_pid_alive "$pid"; then
      echo "cdc_stop_pid: $pid still running after ${limit}s, sending SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
      for ((i = 0; i < 50; i++)); do
        cdc_pid_alive "$pid" || break
        sleep 0.1
      done
    fi
  fi
  # reap it if it was our child (harmless otherwise)
  wait "$pid" 2>/dev/null || true
  return 0
}

cdc_init_pg() {
  local dir=$1 port=$2 bin=$CDC_PG_BINDIR
  if [ ! -x "$bin/initdb" ]; then
    echo "cdc_init_pg: $bin/initdb not found (install postgresql-15: scripts/deps.sh)" >&2
    return 1
  fi
  mkdir -p "$dir" || return 1
  chmod 755 "$dir" || return 1
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres:postgres "$dir" || return 1
    if ! runuser -u postgres -- test -w "$dir"; then
      echo "cdc_init_pg: $dir is not reachable by the postgres user (chmod 755 its parents)" >&2
      return 1
    fi
  fi
  if ! cdc_as_pg "$bin/initdb" -A trust --no-sync -U postgres -E UTF8 --locale=C \
    -D "$dir/data" >"$dir/initdb.log" 2>&1; then
    echo "cdc_init_pg: initdb failed:" >&2
    cat "$dir/initdb.log" >&2
    return 1
  fi
  cat >>"$dir/data/postgresql.conf" <<EOF

# cdc-handler test instance (scripts/pgctl.sh)
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
wal_level = logical
max_wal_senders = 32
max_replication_slots = 64
fsync = off
full_page_writes = off
EOF
  # TLS with a throw-away self-signed certificate, so that the design's `ssl_mode: require`
  # works unchanged against the test server (plain connections are still accepted)
  if command -v openssl >/dev/null 2>&1 &&
    openssl req -new -x509 -days 7 -nodes -subj /CN=localhost -newkey rsa:2048 \
      -keyout "$dir/data/server.key" -out "$dir/data/server.crt" >/dev/null 2>&1; then
    chmod 600 "$dir/data/server.key"
    [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$dir/data/server.key" "$dir/data/server.crt"
    echo "ssl = on" >>"$dir/data/postgresql.conf"
  fi
}

cdc_run_pg() {
  local dir=$1 bin=$CDC_PG_BINDIR port pid i
  port=$(sed -n 's/^port = \([0-9]*\)$/\1/p' "$dir/data/postgresql.conf" | tail -n 1)
  # pg_ctl sends the postmaster's output to the log, so nothing holds our stdout
  # (pg_ctl also puts the postmaster in its own session: a terminal's Ctrl-C does not reach it)
  if ! cdc_as_pg "$bin/pg_ctl" start -w -t 60 -s -D "$dir/data" -l "$dir/postgres.log" </dev/null >&2; then
    echo "cdc_run_pg: could not start PostgreSQL in $dir/data:" >&2
    cat "$dir/postgres.log" >&2 2>/dev/null
    return 1
  fi
  pid=$(head -n 1 "$dir/data/postmaster.pid" 2>/dev/null)
  for ((i = 0; i < 300; i++)); do
    "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres && break
    sleep 0.1
  done
  if ! "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres; then
    echo "cdc_run_pg: PostgreSQL on 127.0.0.1:$port not ready after 30s:" >&2
    cat "$dir/postgres.log" >&2 2>/dev/null
    cdc_stop_pg "$dir" "$pid"
    return 1
  fi
  echo "$pid"
}

cdc_start_pg() {
  cdc_init_pg "$1" "$2" && cdc_run_pg "$1"
}

cdc_stop_pg() {
  local dir=$1 pid=${2:-} cur=""
  [ -r "$dir/data/postmaster.pid" ] && cur=$(head -n 1 "$dir/data/postmaster.pid" 2>/dev/null)
  [ -n "$pid" ] || pid=$cur
  # pg_ctl signals the pid in postmaster.pid: use it only when that is our server
  if [ -n "$pid" ] && [ "$cur" = "$pid" ] && cdc_pid_alive "$pid"; then
    cdc_as_pg "$CDC_PG_BINDIR/pg_ctl" stop -s -m fast -w -t 30 -D "$dir/data" >&2 || true
  fi
  cdc_stop_pid "$pid" 10
}

cdc_start_nats() {
  cdc_run_nats "$1" "$2" -js -sd "$1"
}

cdc_start_nats_conf() {
  cdc_run_nats "$1" "$2" -c "$3"
}

# cdc_run_nats DIR PORT ARGS...: nats-server ARGS on 127.0.0.1:PORT, log in DIR/nats.log
cdc_run_nats() {
  local dir=$1 port=$2 pid i
  shift 2
  if ! command -v nats-server >/dev/null 2>&1; then
    echo "cdc_start_nats: nats-server not found (install it: scripts/deps.sh)" >&2
    return 1
  fi
  mkdir -p "$dir" || return 1
  # a background job of a non-interactive shell ignores SIGINT: Ctrl-C reaches only the script
  nats-server "$@" -a 127.0.0.1 -p "$port" </dev/null >"$dir/nats.log" 2>&1 &
  pid=$!
  for ((i = 0; i < 300; i++)); do
    cdc_pid_alive "$pid" || break
    if grep -q 'Server is ready' "$dir/nats.log" 2>/dev/null && cdc_wait_tcp "$port" 1; then
      echo "$pid"
      return 0
    fi
    sleep 0.1
  done
  echo "cdc_start_nats: nats-server on 127.0.0.1:$port did not become ready:" >&2
  cat "$dir/nats.log" >&2 2>/dev/null
  cdc_stop_pid "$pid" 5
  return 1
}

# redis-cli may not be installed: speak RESP over bash's /dev/tcp
cdc_redis_ping() {
  # shellcheck disable=SC2016 # $1 and $line belong to the inner bash
  timeout 2 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf "PING\r\n" >&3
    IFS= read -r -t 1 line <&3 || exit 1
    [[ "$line" == +PONG* ]]' cdc_redis_ping "$1" 2>/dev/null
}

cdc_start_redis() {
  local dir=$1 port=$2 pid i
  if ! command -v redis-server >/dev/null 2>&1; then
    echo "cdc_start_redis: redis-server not found (install it: scripts/deps.sh)" >&2
    return 1
  fi
  mkdir -p "$dir" || return 1
  # a background job of a non-interactive shell ignores SIGINT: Ctrl-C reaches only the script
  redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save "" --appendonly no \
    --daemonize no </dev/null >"$dir/redis.log" 2>&1 &
  pid=$!
  for ((i = 0; i < 300; i++)); do
    cdc_pid_alive "$pid" || break
    if cdc_redis_ping "$port"; then
      echo "$pid"
      return 0
    fi
    sleep 0.1
  done
  echo "cdc_start_redis: redis-server on 127.0.0.1:$port did not answer PING:" >&2
  cat "$dir/redis.log" >&2 2>/dev/null
  cdc_stop_pid "$pid" 5
  return 1
}
