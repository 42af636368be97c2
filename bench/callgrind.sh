#!/usr/bin/env bash
# bench/callgrind.sh BUILD [RESULTS]: instructions per row of the decoders and
# the encoder, counted by callgrind (deterministic: the same build gives the
# same counts, whatever else runs on the machine), to track from commit to
# commit:
#   pgoutput decode   bench/decbench pg      (pgd_feed of an 8-column Insert)
#   binlog decode     bench/decbench binlog  (rowdec_decode + fixup of one image)
#   JSON encode       bench/encbench, case 0 (env_encode of an 8-column UPDATE,
#                     before and after images, no sensitive-field rules)
# Each runs twice under valgrind --tool=callgrind, with N1 and N2 rows; the
# instructions per row are (Ir(N2) - Ir(N1)) / (N2 - N1), so start-up and
# set-up cancel out. BENCH_CG_N1 (default 20000), BENCH_CG_N2 (100000).
# Prints a table; with RESULTS, appends "callgrind KEY IR_PER_ROW" lines
# (KEY: pg, binlog, encode).
set -euo pipefail
BUILD=${1:-build}
RESULTS=${2:-}
N1=${BENCH_CG_N1:-20000}
N2=${BENCH_CG_N2:-100000}
command -v valgrind >/dev/null || { echo "callgrind: valgrind is not installed (scripts/deps.sh)" >&2; exit 1; }
tmp=$(mktemp -d /tmp/cdc-bench-cg.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# total instructions (Ir) of one run: "COMMAND with N in place of @"
ir() {
  local n=$1
  shift
  valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.out" "${@/@/$n}" >/dev/null 2>"$tmp/cg.err" ||
    { cat "$tmp/cg.err" >&2; exit 1; }
  sed -n 's/^==[0-9]*== Collected : \([0-9]*\)$/\1/p' "$tmp/cg.err"
}

echo
echo "== instructions per row (callgrind, $N2 - $N1 rows) =="
printf '%-36s %12s\n' what Ir/row
while IFS='|' read -r key name cmd; do
  read -ra argv <<<"$cmd"
  a=$(ir "$N1" "${argv[@]}")
  b=$(ir "$N2" "${argv[@]}")
  per=$(awk -v a="$a" -v b="$b" -v n1="$N1" -v n2="$N2" 'BEGIN { printf "%.0f", (b - a) / (n2 - n1) }')
  printf '%-36s %12s\n' "$name" "$per"
  [ -z "$RESULTS" ] || echo "callgrind $key $per" >>"$RESULTS"
done <<EOF
pg|pgoutput decode (8 columns)|$BUILD/bench/decbench pg @
binlog|binlog row decode (8 columns)|$BUILD/bench/decbench binlog @
encode|JSON encode, UPDATE (8 columns)|$BUILD/bench/encbench @ 0
EOF
