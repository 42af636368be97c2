#!/usr/bin/env bash
# make demo: a throw-away PostgreSQL 15 and nats-server on free loopback ports,
# a sample schema with a live workload, cdc-handler streaming it, and the
# events read back from JetStream as they arrive. Ctrl-C stops everything
# this script started (by pid) and removes its temp directory.
set -euo pipefail
BIN=${1:-build/cdc-handler}
BIN=$(readlink -f "$BIN")
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/pgctl.sh
source "$here/pgctl.sh"

tmp=$(mktemp -d /tmp/cdc-demo.XXXXXX)
chmod 755 "$tmp"
pids=()
cleanup() {
  trap - INT TERM EXIT
  echo
  echo "demo: stopping"
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do cdc_stop_pid "${pids[$i]}"; done
  [ -n "${pg_pid:-}" ] && cdc_stop_pg "$tmp/pg" "$pg_pid"
  [ -n "${nats_pid:-}" ] && cdc_stop_pid "$nats_pid"
  rm -rf "$tmp"
}
trap 'cleanup; exit 0' INT TERM
trap cleanup EXIT

pg_port=$(cdc_free_port)
nats_port=$(cdc_free_port "$pg_port")
echo "demo: starting PostgreSQL 15 on 127.0.0.1:$pg_port and nats-server -js on 127.0.0.1:$nats_port in $tmp"
pg_pid=$(cdc_start_pg "$tmp/pg" "$pg_port")
nats_pid=$(cdc_start_nats "$tmp/nats" "$nats_port")

psql_demo() { psql -X -q -h 127.0.0.1 -p "$pg_port" -U postgres -d shop -v ON_ERROR_STOP=1 "$@"; }
psql -X -q -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -c "CREATE DATABASE shop"
psql_demo <<'SQL'
CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, email text, created_at timestamptz DEFAULT now());
CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int REFERENCES customers, amount numeric(10,2),
                     status text, items jsonb, placed_at timestamptz DEFAULT now());
SQL

# The design's environment variables, pointed at the local servers.
export AWS_RDS_ENDPOINT=127.0.0.1 AWS_RDS_PORT=$pg_port AWS_RDS_USERNAME=postgres AWS_RDS_PASSWORD=
export AWS_RDS_DATABASE=shop AWS_RDS_REGION=local NATS_URL=nats://127.0.0.1:$nats_port
export CHECKPOINT_STORAGE=file://$tmp/checkpoint.json CHECKPOINT_INTERVAL=1s LOG_LEVEL=info
cfg=$(readlink -f "$here/../configs/config.yaml")
"$BIN" --config "$cfg" -X rds.ssl_mode=disable 2> "$tmp/cdc-handler.log" &
pids+=($!)
echo "demo: cdc-handler running (log: $tmp/cdc-handler.log)"

# A live workload: a new customer now and then, orders, status changes, a cancellation.
(
  i=0
  while true; do
    i=$((i + 1))
    psql_demo -c "INSERT INTO customers (name, email) VALUES ('customer $i', 'c$i@example.com')" \
      -c "INSERT INTO orders (customer_id, amount, status, items) VALUES ((SELECT max(id) FROM customers), $((RANDOM % 500)).99, 'new', '{\"sku\": \"A-$i\", \"qty\": $((RANDOM % 5 + 1))}')" \
      -c "UPDATE orders SET status = 'paid' WHERE id = (SELECT max(id) FROM orders)" >/dev/null 2>&1 || exit 0
    if ((i % 3 == 0)); then psql_demo -c "DELETE FROM orders WHERE id = (SELECT min(id) FROM orders)" >/dev/null 2>&1 || exit 0; fi
    sleep 1
  done
) &
pids+=($!)

echo "demo: events from JetStream stream CDC as they arrive (Ctrl-C to stop)"
echo
"$BIN" tail --config "$cfg" --from-start -X rds.ssl_mode=disable &
pids+=($!)
wait "${pids[-1]}"
