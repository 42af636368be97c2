# bench/servers.sh: sourced by the benchmark scripts (after scripts/pgctl.sh).
# bench_pg_nats DIR: start a PostgreSQL 15 and a nats-server (JetStream) on free
# loopback ports under DIR, and set pg_port, nats_port, http_port (a third
# free port), pg_pid, nats_pid, nats_url; psql_b runs psql against it. The
# caller's EXIT trap stops them by pid (cdc_stop_pg, cdc_stop_pid).
bench_pg_nats() {
  pg_port=$(cdc_free_port)
  nats_port=$(cdc_free_port "$pg_port")
  http_port=$(cdc_free_port "$pg_port" "$nats_port")
  pg_pid=$(cdc_start_pg "$1/pg" "$pg_port")
  nats_pid=$(cdc_start_nats "$1/nats" "$nats_port")
  nats_url=nats://127.0.0.1:$nats_port
}

psql_b() { psql -X -q -At -h 127.0.0.1 -p "$pg_port" -U postgres -v ON_ERROR_STOP=1 "$@"; }
