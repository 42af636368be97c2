#!/usr/bin/env bash
# make bench: one run on one WAL, three rates side by side.
#   1. pg_recvlogical (pgoutput -> /dev/null): the decoding limit of the walsender;
#   2. cdc-handler end to end, counted to the last PubAck (it exits after the
#      final commit with --stop-at-lsn, having flushed every ack);
#   3. raw async JetStream publishing (bench/jspub) of as many messages of the
#      same average size as cdc-handler's events: the broker limit.
# Prints rows/s, the ratios, cdc-handler's CPU seconds per 1M rows and peak RSS.
# During 2. it scrapes the daemon's /metrics every second, and bench/plot.sh
# then draws acked/s, commit -> ack p50/p99, checkpoint lag and RSS over the run
# into BENCH_PLOT (default docs/bench.png; gnuplot).
# BENCH_ROW_SIZE=N loads a table (id bigint, v text) whose v holds N - 20
# bytes instead of the 8-column rows (the row sizes of bench/all.sh); the
# plot is skipped with BENCH_PLOT=none. With a second argument RESULTS, it
# appends "p1 SIZE ROWS recv_rate pub_rate cdc_rate us_per_row rss_mib
# bytes_per_event pub_us_per_msg" to that file (bench/all.sh's table).
# A benchmark, not a test: it asserts nothing about speed.
set -euo pipefail
BUILD=${1:-build}
RESULTS=${2:-}
SIZE=${BENCH_ROW_SIZE:-}
ROWS=${BENCH_ROWS:-1000000}
PER_TXN=${BENCH_PER_TXN:-1000}
here=$(cd "$(dirname "$0")" && pwd)
BIN=$(readlink -f "$BUILD/cdc-handler")
JSPUB=$(readlink -f "$BUILD/bench/jspub")
# shellcheck source=scripts/pgctl.sh
source "$here/../scripts/pgctl.sh"
# shellcheck source=bench/servers.sh
source "$here/servers.sh"
PGBIN=${CDC_PG_BINDIR:-/usr/lib/postgresql/15/bin}

tmp=$(mktemp -d /tmp/cdc-bench.XXXXXX)
chmod 755 "$tmp"
cleanup() {
  [ -n "${scrape_pid:-}" ] && kill "$scrape_pid" 2>/dev/null
  [ -n "${pg_pid:-}" ] && cdc_stop_pg "$tmp/pg" "$pg_pid"
  [ -n "${nats_pid:-}" ] && cdc_stop_pid "$nats_pid"
  rm -rf "$tmp"
}
trap cleanup EXIT

bench_pg_nats "$tmp"

psql_b -d postgres -c "CREATE DATABASE bench"
cols="name text, email text, amount numeric(12,2), qty int, active bool, created_at timestamptz, note text"
[ -z "$SIZE" ] || cols="v text"
psql_b -d bench <<SQL
CREATE TABLE rows (id bigint PRIMARY KEY, $cols);
CREATE PUBLICATION bench FOR TABLE rows;
SELECT 'x' FROM pg_create_logical_replication_slot('recv', 'pgoutput');
SELECT 'x' FROM pg_create_logical_replication_slot('cdc', 'pgoutput');
SQL

echo "bench: loading $ROWS rows${SIZE:+ of ~$SIZE B} in transactions of $PER_TXN ..."
vals="'name ' || g, 'user' || g || '@example.com', (g % 100000) / 100.0, g % 17,
         g % 2 = 0, '2024-01-02 03:04:05+00'::timestamptz + g * interval '1 second',
         md5(g::text) || md5((g + 1)::text)"
[ -z "$SIZE" ] || vals="left(repeat(md5(g::text), ($SIZE + 31) / 32), $SIZE - 20)"
psql_b -d bench -c "DO \$\$ BEGIN FOR t IN 0..$((ROWS / PER_TXN - 1)) LOOP
  INSERT INTO rows SELECT g, $vals
    FROM generate_series(t * $PER_TXN + 1, (t + 1) * $PER_TXN) g;
  COMMIT; END LOOP; END \$\$"
end_lsn=$(psql_b -d bench -c "SELECT pg_current_wal_lsn()")
wal_bytes=$(psql_b -d bench -c "SELECT pg_wal_lsn_diff('$end_lsn', confirmed_flush_lsn) FROM pg_replication_slots WHERE slot_name = 'cdc'")
echo "bench: WAL to decode: $((wal_bytes / 1048576)) MiB, up to $end_lsn"

now() { date +%s.%N; }

# 1. the decoding limit
t0=$(now)
"$PGBIN/pg_recvlogical" -h 127.0.0.1 -p "$pg_port" -U postgres -d bench --slot recv --start \
  -o proto_version=1 -o publication_names=bench --endpos="$end_lsn" --no-loop -f /dev/null
t1=$(now)
recv_s=$(echo "$t1 - $t0" | bc -l)

# /metrics every BENCH_SCRAPE_S seconds, as "# t EPOCH" and the exposition without comments
# (bash's /dev/tcp: no HTTP client needed). Until the daemon listens, the connect fails silently.
# It stops between two scrapes once $tmp/scrape.stop exists, so the last sample is whole.
scrape_metrics() {
  local ts body
  while [ ! -e "$tmp/scrape.stop" ]; do
    ts=${EPOCHREALTIME/,/.}
    if body=$({ printf 'GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3 && timeout 2 cat <&3; } \
      2>/dev/null 3<>"/dev/tcp/127.0.0.1/$http_port") && [[ "$body" == "HTTP/1."?" 200"* ]]; then
      printf '# t %s\n' "$ts"
      tr -d '\r' <<<"$body" | awk 'body && !/^#/; /^$/ { body = 1 }'
    fi
    sleep "${BENCH_SCRAPE_S:-1}"
  done
}

# 2. cdc-handler end to end, to the last PubAck
export AWS_RDS_ENDPOINT=127.0.0.1 AWS_RDS_PORT=$pg_port AWS_RDS_USERNAME=postgres AWS_RDS_DATABASE=bench
t0=$(now)
echo "# start $t0" >"$tmp/scrape"
scrape_metrics >>"$tmp/scrape" &
scrape_pid=$!
/usr/bin/time -f "%e %U %S %M" -o "$tmp/time" ${BENCH_WRAP:-} "$BIN" -X rds.ssl_mode=disable -X nats.urls="$nats_url" \
  -X server.port="$http_port" -X monitoring.prometheus.port="$http_port" \
  -X cdc.slot_name=cdc -X cdc.publication=bench -X nats.stream=BENCH -X nats.subject_prefix=bench \
  -X cdc.checkpoint_storage="file://$tmp/ckpt.json" -X cdc.checkpoint_interval=1s \
  -X cdc.batch_size="${BENCH_BATCH:-4000}" -X monitoring.logging.level=warn --stop-at-lsn "$end_lsn" 2> "$tmp/cdc.log" || {
  cat "$tmp/cdc.log"; exit 1; }
t1=$(now)
touch "$tmp/scrape.stop"
wait "$scrape_pid" || true
scrape_pid=
cdc_s=$(echo "$t1 - $t0" | bc -l)
read -r _ cdc_user cdc_sys cdc_rss_kb < "$tmp/time"
read -r cdc_msgs cdc_bytes < <("$JSPUB" --info "$nats_url" BENCH)
avg=$((cdc_bytes / cdc_msgs))

# 3. the broker limit, same count and size (stored size includes subject and headers: subtract ~100 B)
size=$((avg > 200 ? avg - 100 : avg))
/usr/bin/time -f "%U %S" -o "$tmp/time.pub" "$JSPUB" "$nats_url" RAW raw.bench "$cdc_msgs" "$size" \
  "${BENCH_BATCH:-4000}" > "$tmp/pub.out"
read -r pub_n pub_s _ pub_failed < "$tmp/pub.out"
read -r pub_user pub_sys < "$tmp/time.pub"

rate() { echo "$1 / $2" | bc -l | xargs printf '%.0f'; }
recv_rate=$(rate "$ROWS" "$recv_s")
cdc_rate=$(rate "$cdc_msgs" "$cdc_s")
pub_rate=$(rate "$pub_n" "$pub_s")
cpu_per_m=$(echo "($cdc_user + $cdc_sys) * 1000000 / $cdc_msgs" | bc -l | xargs printf '%.2f')
us_per_row=$(echo "($cdc_user + $cdc_sys) * 1000000 / $cdc_msgs" | bc -l | xargs printf '%.2f')

echo
echo "== cdc-handler benchmark: $ROWS rows${SIZE:+ of ~$SIZE B} ($PER_TXN per transaction), $(nproc) cores, $(date -u +%Y-%m-%d) =="
printf '%-44s %12s %10s\n' "what" "rows/s" "seconds"
printf '%-44s %12s %10.2f\n' "pg_recvlogical pgoutput -> /dev/null (limit)" "$recv_rate" "$recv_s"
printf '%-44s %12s %10.2f\n' "jspub raw async publish, Msg-Id (limit)" "$pub_rate" "$pub_s"
printf '%-44s %12s %10.2f\n' "cdc-handler end to end, to last PubAck" "$cdc_rate" "$cdc_s"
echo
printf 'events published and stored:     %s (avg %s B stored per message)\n' "$cdc_msgs" "$avg"
printf 'ratio to decoding limit:          %.2f\n' "$(echo "$cdc_rate / $recv_rate" | bc -l)"
printf 'ratio to broker limit:            %.2f\n' "$(echo "$cdc_rate / $pub_rate" | bc -l)"
printf 'cdc-handler CPU:                  %s s user + %s s sys = %s CPU-s per 1M rows (%s us/row)\n' \
  "$cdc_user" "$cdc_sys" "$cpu_per_m" "$us_per_row"
printf 'raw publisher CPU (libnats alone): %s s user + %s s sys = %s us/message\n' "$pub_user" "$pub_sys" \
  "$(echo "($pub_user + $pub_sys) * 1000000 / $pub_n" | bc -l | xargs printf '%.2f')"
printf 'cdc-handler peak RSS:             %s MiB\n' "$((cdc_rss_kb / 1024))"
[ "$pub_failed" = 0 ] || echo "warning: $pub_failed raw publishes failed"
[ -z "$RESULTS" ] || echo "p1 ${SIZE:-row} $ROWS $recv_rate $pub_rate $cdc_rate $us_per_row \
$((cdc_rss_kb / 1024)) $avg $(echo "($pub_user + $pub_sys) * 1000000 / $pub_n" | bc -l | xargs printf '%.2f')" >>"$RESULTS"

plot=${BENCH_PLOT:-$here/../docs/bench.png}
if [ "$plot" = none ]; then
  :
elif command -v gnuplot >/dev/null; then
  bash "$here/plot.sh" "$tmp/scrape" "$plot" \
    "cdc-handler bench: $ROWS rows ($PER_TXN per transaction), $(nproc) cores, $(date -u +%Y-%m-%d)" &&
    echo "plot (acked/s, commit->ack p50/p99, checkpoint lag, RSS over the run): $(readlink -f "$plot")" ||
    echo "plot: not drawn (see above)"
else
  echo "plot: skipped, gnuplot is not installed (scripts/deps.sh)"
fi
