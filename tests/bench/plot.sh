#!/usr/bin/env bash
# plot.sh SRCDIR - bench/plot.sh, without servers: from a hand-written series
# of /metrics scrapes, the table has the acked rate per interval (summed over
# sources), commit -> ack p50/p99 from the bucket deltas of each interval
# (interpolated as Prometheus' histogram_quantile: the lowest bucket starts at
# 0, a rank in +Inf gives the highest finite bound, no events gives NaN), and
# the checkpoint lag and RSS gauges; publish -> ack p50/p99 likewise from its
# own histogram; comments and other series are ignored. Then the PNG is written (gnuplot) and is a PNG.
set -u
SRC=$1
PLOT=$SRC/bench/plot.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
check() { # name, condition result
  if [ "$2" = 0 ]; then pass=$((pass + 1)); echo "ok - $1"; else fail=$((fail + 1)); echo "not ok - $1"; fi
}

# hist LE_0.001 LE_0.01 LE_0.1 LE_INF: the cumulative buckets of the commit -> ack histogram
hist() {
  printf 'cdc_event_latency_seconds_bucket{source="a",le="%s"} %s\n' 0.001 "$1" 0.01 "$2" 0.1 "$3" +Inf "$4"
  printf 'cdc_event_latency_seconds_count{source="a"} %s\n' "$4"
}
# pub LE_0.01 LE_0.1 LE_INF: the publish -> ack histogram's (other bounds, other counts)
pub() {
  printf 'cdc_publish_latency_seconds_bucket{source="a",le="%s"} %s\n' 0.01 "$1" 0.1 "$2" +Inf "$3"
}
{
  echo "# start 1000.0"
  echo "# t 1000.5"
  echo '# HELP cdc_events_acked_total Events acknowledged by JetStream.'
  echo 'cdc_events_acked_total{source="a"} 0'
  hist 0 0 0 0
  pub 0 0 0
  echo 'cdc_checkpoint_lag_bytes{source="a"} 0'
  echo 'process_resident_memory_bytes 10485760'
  echo "# t 1001.5"
  echo 'cdc_events_acked_total{source="a"} 1000'
  echo 'cdc_events_total{source="a",table="rows",operation="insert"} 5000'
  hist 100 600 1000 1000
  pub 10 20 20
  echo 'cdc_checkpoint_lag_bytes{source="a"} 2097152'
  echo 'process_resident_memory_bytes 20971520'
  echo "# t 1003.5"
  echo 'cdc_events_acked_total{source="a"} 2000'
  echo 'cdc_events_acked_total{source="b"} 1000'
  hist 110 610 1010 2000
  pub 10 20 20
  echo 'cdc_checkpoint_lag_bytes{source="a"} 524288'
  echo 'process_resident_memory_bytes 20971520'
  echo "# t 1004.0"
  echo 'cdc_events_acked_total{source="a"} 2500'
  echo 'cdc_events_acked_total{source="b"} 1500'
  hist 1110 1610 2010 3000
  pub 10 20 24
  echo 'cdc_checkpoint_lag_bytes{source="a"} 0'
  echo 'process_resident_memory_bytes 31457280'
  echo "# t 1005.0"
  echo 'cdc_events_acked_total{source="a"} 2500'
  echo 'cdc_events_acked_total{source="b"} 1500'
  hist 1110 1610 2010 3000
  pub 10 20 24
  echo 'cdc_checkpoint_lag_bytes{source="a"} 0'
  echo 'process_resident_memory_bytes 31457280'
} >"$tmp/scrapes"

# Expected, by hand (t_s acked_per_s p50_ms p99_ms ckpt_lag_mib rss_mib pub_p50_ms pub_p99_ms):
# 1.5: 1000 acked in 1 s. Deltas 100/600/1000/1000: p50 rank 500 lies in (0.001, 0.01],
#      0.001 + 0.009 * (500-100)/(600-100) = 8.2 ms; p99 rank 990 in (0.01, 0.1]:
#      0.01 + 0.09 * (990-600)/(1000-600) = 97.75 ms. Lag 2 MiB, RSS 20 MiB.
#      Publish deltas 10/20/20: p50 rank 10 in (0, 0.01]: 10 ms; p99 rank 19.8 in (0.01, 0.1]:
#      0.01 + 0.09 * (19.8-10)/(20-10) = 98.2 ms.
# 3.5: 2000 acked (a+b) in 2 s. Deltas 10/10/10/1000: both ranks in +Inf -> 0.1 s. Lag 0.5 MiB.
#      No publish sampled: NaN.
# 4.0: 1000 acked in 0.5 s. Deltas 1000/1000/1000/1000: ranks 500 and 990 in (0, 0.001]:
#      0.5 ms and 0.99 ms. RSS 30 MiB. Publish deltas 0/0/4: +Inf -> 0.1 s.
# 5.0: nothing acked: rate 0, no quantiles.
cat >"$tmp/expected" <<'TABLE'
1.500 1000.0 8.200 97.750 2.000 20.000 10.000 98.200
3.500 1000.0 100.000 100.000 0.500 20.000 NaN NaN
4.000 2000.0 0.500 0.990 0.000 30.000 100.000 100.000
5.000 0.0 NaN NaN 0.000 30.000 NaN NaN
TABLE
bash "$PLOT" --table "$tmp/scrapes" >"$tmp/table" 2>"$tmp/err"
check "--table exits 0" $?
diff -u "$tmp/expected" "$tmp/table" | sed 's/^/  /'
check "table: rates, quantiles from bucket deltas, gauges" "$(cmp -s "$tmp/expected" "$tmp/table"; echo $?)"

# without "# start", time zero is the first scrape
grep -v '^# start' "$tmp/scrapes" >"$tmp/nostart"
check "time zero is the first scrape without '# start'" \
  "$([ "$(bash "$PLOT" --table "$tmp/nostart" | cut -d' ' -f1 | tr '\n' ' ')" = "1.000 3.000 3.500 4.500 " ]; echo $?)"

# one scrape: no interval, no rows; the PNG step refuses
sed '/^# t 1001.5/,$d' "$tmp/scrapes" >"$tmp/one"
check "one scrape gives no rows" "$([ -z "$(bash "$PLOT" --table "$tmp/one")" ]; echo $?)"

if command -v gnuplot >/dev/null; then
  bash "$PLOT" "$tmp/scrapes" "$tmp/out.png" 'test "plot"' >"$tmp/gp.out" 2>&1
  check "PNG written" $?
  sed 's/^/  /' "$tmp/gp.out"
  check "output is a PNG" "$([ "$(head -c 8 "$tmp/out.png" 2>/dev/null | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]; echo $?)"
  bash "$PLOT" "$tmp/one" "$tmp/none.png" >/dev/null 2>&1
  check "fewer than two scrapes: exit 1, no PNG" "$([ $? = 1 ] && [ ! -e "$tmp/none.png" ]; echo $?)"
else
  check "gnuplot installed (scripts/deps.sh)" 1
fi
for s in "$SRC/bench/run.sh" "$PLOT"; do
  bash -n "$s"
  check "bash -n ${s#"$SRC"/}" $?
done

echo "# $pass passed, $fail failed"
[ "$fail" = 0 ]
