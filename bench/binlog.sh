#!/usr/bin/env bash
# bench/binlog.sh BUILD: the MariaDB binlog path, one run, two rates side by side.
#   1. mariadb-binlog --read-from-remote-server -> /dev/null: the server's
#      dump of the same binlogs, framed and printed by the reference client
#      (rows left base64-encoded, not decoded): the transport limit;
#   2. cdc-handler end to end from the binlog position before the load to
#      the last PubAck (--max-events), with its CPU time and peak RSS.
# BENCH_ROWS rows (default 1M) in transactions of BENCH_PER_TXN (1000), the
# same columns as the PostgreSQL benchmark. With a second argument RESULTS, it
# appends "p5 ROWS read_rate cdc_rate us_per_row rss_mib bytes_per_event" to
# that file (bench/all.sh's table). A benchmark: it asserts nothing.
set -euo pipefail
BUILD=${1:-build}
RESULTS=${2:-}
ROWS=${BENCH_ROWS:-1000000}
PER_TXN=${BENCH_PER_TXN:-1000}
here=$(cd "$(dirname "$0")" && pwd)
BIN=$(readlink -f "$BUILD/cdc-handler")
JSPUB=$(readlink -f "$BUILD/bench/jspub")
# shellcheck source=scripts/myctl.sh
source "$here/../scripts/myctl.sh"

tmp=$(mktemp -d /tmp/cdc-bench-my.XXXXXX)
chmod 755 "$tmp"
cleanup() {
  [ -n "${my_pid:-}" ] && cdc_stop_mariadb "$my_pid"
  [ -n "${nats_pid:-}" ] && cdc_stop_pid "$nats_pid"
  rm -rf "$tmp"
}
trap cleanup EXIT

my_port=$(cdc_free_port)
nats_port=$(cdc_free_port "$my_port")
my_pid=$(cdc_start_mariadb "$tmp/my" "$my_port")
nats_pid=$(cdc_start_nats "$tmp/nats" "$nats_port")
nats_url=nats://127.0.0.1:$nats_port
sql() { cdc_mariadb "$tmp/my" "$@"; }

sql -e "CREATE DATABASE bench; CREATE TABLE bench.rows (id BIGINT PRIMARY KEY, name VARCHAR(40),
  email VARCHAR(60), amount DECIMAL(12,2), qty INT, active BOOL, created_at DATETIME(6),
  note VARCHAR(70))"

http_port=$(cdc_free_port "$my_port" "$nats_port")
dargs=(-X rds.engine=mariadb -X rds.endpoint=127.0.0.1 -X rds.port="$my_port"
  -X rds.username="$CDC_MY_REPL_USER" -X rds.password="$CDC_MY_REPL_PASSWORD"
  -X rds.database=bench -X rds.ssl_mode=disable -X nats.urls="$nats_url"
  -X nats.stream=BENCHMY -X nats.subject_prefix=benchmy -X server.port="$http_port"
  -X cdc.checkpoint_storage="file://$tmp/ckpt.json" -X cdc.checkpoint_interval=1s
  -X cdc.batch_size="${BENCH_BATCH:-4000}" -X monitoring.logging.level=warn)
# a first run records the position before the load (the first checkpoint), then stops
"$BIN" "${dargs[@]}" --exit-when-idle 500 2>"$tmp/cdc0.log" || { cat "$tmp/cdc0.log"; exit 1; }
first=$(sql -e "SHOW MASTER STATUS" | cut -f1)

echo "bench: loading $ROWS rows in transactions of $PER_TXN into MariaDB ..."
for ((t = 0; t < ROWS / PER_TXN; t++)); do
  a=$((t * PER_TXN + 1)) b=$(((t + 1) * PER_TXN))
  echo "INSERT INTO bench.rows SELECT seq, CONCAT('name ', seq), CONCAT('user', seq, '@example.com'),
    (seq % 100000) / 100.0, seq % 17, seq % 2 = 0, '2024-01-02 03:04:05' + INTERVAL seq SECOND,
    CONCAT(MD5(seq), MD5(seq + 1)) FROM seq_${a}_to_${b};"
done | sql bench
binlog_bytes=$(sql -e "SHOW BINARY LOGS" | awk -v f="$first" '$1 >= f { s += $2 } END { print s }')
echo "bench: binlog to read: $((binlog_bytes / 1048576)) MiB from $first"

now() { date +%s.%N; }

# 1. the transport limit
t0=$(now)
mariadb-binlog --no-defaults --read-from-remote-server --host=127.0.0.1 --port="$my_port" \
  --user=root --to-last-log "$first" >/dev/null
t1=$(now)
read_s=$(echo "$t1 - $t0" | bc -l)

# 2. cdc-handler end to end, to the last PubAck
t0=$(now)
/usr/bin/time -f "%e %U %S %M" -o "$tmp/time" ${BENCH_WRAP:-} \
  "$BIN" "${dargs[@]}" --max-events "$ROWS" 2>"$tmp/cdc.log" || {
  cat "$tmp/cdc.log"; exit 1; }
t1=$(now)
cdc_s=$(echo "$t1 - $t0" | bc -l)
read -r _ cdc_user cdc_sys cdc_rss_kb <"$tmp/time"
read -r cdc_msgs cdc_bytes < <("$JSPUB" --info "$nats_url" BENCHMY)

rate() { echo "$1 / $2" | bc -l | xargs printf '%.0f'; }
read_rate=$(rate "$ROWS" "$read_s")
cdc_rate=$(rate "$cdc_msgs" "$cdc_s")
echo
echo "== cdc-handler binlog benchmark: $ROWS rows ($PER_TXN per transaction), MariaDB $(sql -e 'SELECT VERSION()'), $(nproc) cores =="
printf '%-52s %12s %10s\n' "what" "rows/s" "seconds"
printf '%-52s %12s %10.2f\n' "mariadb-binlog remote read -> /dev/null (limit)" "$read_rate" "$read_s"
printf '%-52s %12s %10.2f\n' "cdc-handler binlog -> JetStream, to last PubAck" "$cdc_rate" "$cdc_s"
echo
printf 'events published and stored:     %s (avg %s B stored per message)\n' "$cdc_msgs" \
  "$((cdc_bytes / cdc_msgs))"
printf 'ratio to the transport limit:     %.2f\n' "$(echo "$cdc_rate / $read_rate" | bc -l)"
printf 'cdc-handler CPU:                  %s s user + %s s sys = %s us/row\n' "$cdc_user" "$cdc_sys" \
  "$(echo "($cdc_user + $cdc_sys) * 1000000 / $cdc_msgs" | bc -l | xargs printf '%.2f')"
printf 'cdc-handler peak RSS:             %s MiB\n' "$((cdc_rss_kb / 1024))"
[ -z "$RESULTS" ] || echo "p5 $ROWS $read_rate $cdc_rate $(echo "($cdc_user + $cdc_sys) * 1000000 / $cdc_msgs" |
  bc -l | xargs printf '%.2f') $((cdc_rss_kb / 1024)) $((cdc_bytes / cdc_msgs))" >>"$RESULTS"
