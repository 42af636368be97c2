#!/usr/bin/env bash
# bench/all.sh BUILD: `make bench`. Runs every part of the benchmark, each
# printing its own details, then ONE summary table (Markdown, for
# bench/README.md) of issue 9's targets:
#   pg        bench/run.sh: P1 throughput beside the decoding limit
#             (pg_recvlogical) and the broker limit (raw JetStream publish),
#             the ratios, P2 CPU per row, P4 peak RSS, on BENCH_ROWS 8-column rows;
#   sizes     bench/run.sh again for each of BENCH_SIZES (default "100 400
#             1600" bytes of row data), BENCH_SIZE_ROWS rows each (300000);
#   binlog    bench/binlog.sh: P5, MariaDB binlog -> JetStream beside the
#             transport limit;
#   latency   bench/latency.sh: P3 commit -> PubAck p50/p99/max at steady
#             rates (BENCH_LAT_RATES, default 5000 and 20000 rows/s) for the
#             8-column rows and each size, and P6 start-up (median, max);
#   callgrind bench/callgrind.sh: instructions per row of the decoders and the
#             JSON encoder.
# BENCH_PARTS (default "pg sizes binlog latency callgrind") picks the parts.
# Every part's own variables apply (see each script). A benchmark: it asserts
# nothing about speed, and it stops at the first part that fails.
set -euo pipefail
BUILD=${1:-build}
PARTS=${BENCH_PARTS:-pg sizes binlog latency callgrind}
SIZES=${BENCH_SIZES-100 400 1600}
here=$(cd "$(dirname "$0")" && pwd)
res=$(mktemp /tmp/cdc-bench-res.XXXXXX)
trap 'rm -f "$res"' EXIT
t_start=$SECONDS
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

has() { [[ " $PARTS " == *" $1 "* ]]; }
has pg && bash "$here/run.sh" "$BUILD" "$res"
if has sizes; then
  for s in $SIZES; do
    BENCH_ROW_SIZE=$s BENCH_ROWS=${BENCH_SIZE_ROWS:-300000} BENCH_PLOT=none \
      bash "$here/run.sh" "$BUILD" "$res"
  done
fi
has binlog && bash "$here/binlog.sh" "$BUILD" "$res"
has latency && BENCH_SIZES=$SIZES bash "$here/latency.sh" "$BUILD" "$res"
has callgrind && bash "$here/callgrind.sh" "$BUILD" "$res"

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
mem=$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
echo
echo "== cdc-handler benchmark summary, $(date -u +%Y-%m-%d), $(nproc) cores ($cpu), $mem, $((SECONDS - t_start)) s =="
echo "load average (1/5/15 min) at the start: $load_start; at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
awk '
  function n(x) { # thousands separators
    x = sprintf("%.0f", x)
    while (x ~ /[0-9][0-9][0-9][0-9]/)
      sub(/[0-9][0-9][0-9]([,]|$)/, ",&", x)
    sub(/^,/, "", x)
    gsub(/,,/, ",", x)
    return x
  }
  function sz(s) { return s == "row" ? "8-col rows" : "~" s " B rows" }
  function row(a, b, c) { printf "| %s | %s | %s |\n", a, b, c }
  BEGIN { print "| figure | measured | target |"; print "|---|---:|---|" }
  $1 == "p1" && $2 == "row" {
    w = sz($2) ", " n($3) " rows, " $9 " B/event"
    row("P1 " w ": pg_recvlogical -> /dev/null (decoding limit)", n($4) " rows/s", "")
    row("P1 " w ": raw JetStream publish, Msg-Id (broker limit)", n($5) " msgs/s", "")
    row("P1 " w ": **cdc-handler** end to end, to last PubAck", "**" n($6) " rows/s**", ">= 100,000")
    row("P1 " w ": ratio to decoding / broker limit", sprintf("%.2f / %.2f", $6 / $4, $6 / $5), "")
    row("P2 " w ": cdc-handler CPU (raw publisher alone)", sprintf("%.2f us/row (%.2f)", $7, $10), "<= 3 us/row")
    row("P4 " w ": cdc-handler peak RSS", $8 " MiB", "<= 32 MiB")
  }
  $1 == "p1" && $2 != "row" {
    w = sz($2) ", " n($3) " rows, " $9 " B/event"
    row("P1 " w ": decoding / broker limit", n($4) " / " n($5) " rows/s", "")
    row("P1 " w ": **cdc-handler** (ratios to the limits; CPU; RSS)",
        sprintf("**%s rows/s** (%.2f / %.2f; %.2f us/row; %s MiB)", n($6), $6 / $4, $6 / $5, $7, $8), "")
  }
  $1 == "p5" {
    w = "MariaDB binlog, " n($2) " rows, " $7 " B/event"
    row("P5 " w ": mariadb-binlog remote read (transport limit)", n($3) " rows/s", "")
    row("P5 " w ": **cdc-handler** to last PubAck (ratio)", sprintf("**%s rows/s** (%.2f)", n($4), $4 / $3), ">= 100,000")
    row("P5 " w ": CPU, peak RSS", sprintf("%.2f us/row, %s MiB", $5, $6), "")
  }
  $1 == "lat" {
    row("P3 commit -> PubAck, " sz($2) " (" $8 " B/event), " n($3) " rows/s, " $9 " per txn (got " n($4) "): p50 / p99 / max",
        sprintf("%s / %s / %s ms", $5, $6, $7), $2 == "row" && $3 == 5000 ? "p99 <= 10 ms" : "")
  }
  $1 == "startup" { row("P6 start-up, exec -> streaming (" $4 " starts): median / max", $2 " / " $3 " ms", "<= 200 ms") }
  $1 == "callgrind" {
    what = $2 == "pg" ? "pgoutput decode, 8-col Insert" : $2 == "binlog" ? "binlog row decode, 8-col image" : "JSON encode, 8-col UPDATE"
    row("callgrind: " what, n($3) " instructions/row", "")
  }
' "$res"
