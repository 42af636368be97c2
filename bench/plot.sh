#!/usr/bin/env bash
# plot.sh - turn the /metrics scrapes bench/run.sh takes during a run into a
# table and a PNG (gnuplot): events acked per second, commit -> ack latency
# p50 and p99 (and publish -> ack), checkpoint lag and RSS over time.
#
#   bench/plot.sh --table SCRAPES           print the table on stdout
#   bench/plot.sh SCRAPES OUT.png [TITLE]   write the PNG (needs gnuplot)
#
# SCRAPES holds, for each scrape, a line "# t EPOCH_SECONDS" (when it was
# taken) followed by the exposition lines without comments; an optional first
# line "# start EPOCH_SECONDS" is time zero (the daemon's start), otherwise the
# first scrape is. Series are summed over their labels (the bench has one
# source). One table row per interval between two scrapes, at the later one:
#
#   t_s  acked_per_s  p50_ms  p99_ms  ckpt_lag_mib  rss_mib  pub_p50_ms  pub_p99_ms
#
# acked_per_s is the delta of cdc_events_acked_total over the interval. The
# quantiles come from the deltas of the cdc_event_latency_seconds (commit ->
# ack) and cdc_publish_latency_seconds (publish -> ack) buckets over the
# interval (the events acked in it), interpolated linearly within the
# bucket the way Prometheus' histogram_quantile() does: the lowest bucket
# starts at 0, and a rank that falls in the +Inf bucket gives the highest
# finite bound (the PNG draws that bound: a point on it means "at least").
# An interval with no acked events has NaN quantiles (gnuplot leaves a gap). The two gauges are their values at the later scrape.
set -euo pipefail

table() {
  awk '
    function bound(le) { return le == "+Inf" ? 1e308 : le + 0 }
    # the keys of h (bucket bounds) into les[1..n], ascending, +Inf last; returns n
    function sort_bounds(h, les,   n, i, j, k, tmp) {
      n = 0
      for (k in h)
        les[++n] = k
      for (i = 2; i <= n; i++) {
        tmp = les[i]
        for (j = i - 1; j >= 1 && bound(les[j]) > bound(tmp); j--)
          les[j + 1] = les[j]
        les[j + 1] = tmp
      }
      return n
    }
    # histogram_quantile(q) over the bucket deltas h - ph (cumulative), in ms, or NaN
    function quantile(q, h, ph,   les, d, n, i, count, rank, lo, below) {
      n = sort_bounds(h, les)
      for (i = 1; i <= n; i++)
        d[i] = h[les[i]] - ph[les[i]]
      count = n > 0 && les[n] == "+Inf" ? d[n] : 0
      if (count <= 0)
        return "NaN"
      rank = q * count
      for (i = 1; i <= n && d[i] < rank; i++)
        ;
      if (i > n || les[i] == "+Inf")
        return sprintf("%.3f", (n >= 2 ? bound(les[n - 1]) : 0) * 1000)
      lo = i == 1 ? 0 : bound(les[i - 1])
      below = i == 1 ? 0 : d[i - 1]
      return sprintf("%.3f", (lo + (bound(les[i]) - lo) * (rank - below) / (d[i] - below)) * 1000)
    }
    function flush(   k, dt, rate) {
      if (!have)
        return
      if (prev_t != "") {
        dt = t - prev_t
        rate = dt > 0 ? (acked - prev_acked) / dt : 0
        printf "%.3f %.1f %s %s %.3f %.3f %s %s\n", t - start, rate, quantile(0.5, ev, prev_ev),
               quantile(0.99, ev, prev_ev), lag / 1048576, rss / 1048576, quantile(0.5, pub, prev_pub),
               quantile(0.99, pub, prev_pub)
      }
      prev_t = t
      prev_acked = acked
      delete prev_ev
      delete prev_pub
      for (k in ev)
        prev_ev[k] = ev[k]
      for (k in pub)
        prev_pub[k] = pub[k]
      delete ev
      delete pub
      acked = lag = rss = 0
      have = 0
    }
    $1 == "#" && $2 == "start" { start = $3; have_start = 1; next }
    $1 == "#" && $2 == "t" {
      flush()
      t = $3
      if (!have_start) { start = t; have_start = 1 }
      have = 1
      next
    }
    /^#/ || NF < 2 { next }
    {
      name = $1
      sub(/\{.*/, "", name)
      value = $NF
      if (name == "cdc_events_acked_total")
        acked += value
      else if (name == "cdc_checkpoint_lag_bytes")
        lag += value
      else if (name == "process_resident_memory_bytes")
        rss += value
      else if (name == "cdc_event_latency_seconds_bucket" && match($1, /le="[^"]*"/))
        ev[substr($1, RSTART + 4, RLENGTH - 5)] += value
      else if (name == "cdc_publish_latency_seconds_bucket" && match($1, /le="[^"]*"/))
        pub[substr($1, RSTART + 4, RLENGTH - 5)] += value
    }
    END { flush() }
  ' "$1"
}

if [ "${1:-}" = "--table" ]; then
  table "$2"
  exit 0
fi

scrapes=$1
out=$2
title=${3:-cdc-handler bench}
command -v gnuplot >/dev/null || { echo "plot.sh: gnuplot not installed (scripts/deps.sh)" >&2; exit 1; }
data=$(mktemp)
trap 'rm -f "$data"' EXIT
table "$scrapes" >"$data"
[ -s "$data" ] || { echo "plot.sh: fewer than two scrapes in $scrapes, nothing to plot" >&2; exit 1; }
title=${title//\"/\'}
# the highest finite bound of the commit -> ack histogram, in ms
top=$(sed -n 's/^cdc_event_latency_seconds_bucket{.*le="\([0-9.eE+-]*\)".*/\1/p' "$scrapes" |
  sort -g | tail -1)
top_ms=$(awk -v s="${top:-0}" 'BEGIN { printf "%g", s * 1000 }')
topline=
[ "$top_ms" = 0 ] || topline=", $top_ms with lines lc \"gray\" dt 3 title \"top bucket: >= $top_ms ms\""

gnuplot <<GNUPLOT
set terminal pngcairo noenhanced size 1200,800 font "sans,10"
set output "$out"
set datafile missing "NaN"
set grid
set key below
set xlabel "seconds since start"
set multiplot layout 2,2 title "$title"
set title "throughput"
set ylabel "events acked / s"
set yrange [0:*]
plot "$data" using 1:2 with linespoints pt 7 ps 0.5 lw 2 title "acked/s"
set title "latency (from bucket deltas per interval; log scale)"
set key below horizontal maxrows 2
set ylabel "ms"
set logscale y
set yrange [*:*]
plot "$data" using 1:3 with linespoints pt 7 ps 0.5 lw 2 title "commit->ack p50", \
     "$data" using 1:4 with linespoints pt 7 ps 0.5 lw 2 title "commit->ack p99", \
     "$data" using 1:7 with linespoints pt 6 ps 0.5 lw 1 dt 2 title "publish->ack p50", \
     "$data" using 1:8 with linespoints pt 6 ps 0.5 lw 1 dt 2 title "publish->ack p99" $topline
unset logscale y
set key below
set title "checkpoint lag"
set ylabel "MiB"
set yrange [0:*]
plot "$data" using 1:5 with linespoints pt 7 ps 0.5 lw 2 title "cdc_checkpoint_lag_bytes"
set title "resident memory"
set ylabel "MiB"
plot "$data" using 1:6 with linespoints pt 7 ps 0.5 lw 2 title "RSS"
unset multiplot
GNUPLOT
