#!/usr/bin/env bash
# stop_servers.sh ENVFILE - the fixture's cleanup (ctest FIXTURES_CLEANUP
# "servers"): stops ONLY the pids that start_servers.sh saved in ENVFILE
# (PostgreSQL with pg_ctl stop -m fast as its owner, then SIGTERM, then
# SIGKILL after a time limit; the others, MariaDB and s3rver included, by SIGTERM then
# SIGKILL), removes the temp dir and ENVFILE. A missing
# ENVFILE is not an error (nothing was started).
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 ENVFILE" >&2
  exit 2
fi
envfile=$1
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/pgctl.sh
source "$here/../../scripts/pgctl.sh"

if [ ! -f "$envfile" ]; then
  echo "stop_servers: $envfile not found; nothing to stop" >&2
  exit 0
fi

# read the values without sourcing the file as code
cdc_it_get() {
  sed -n "s/^\(export \)\{0,1\}$1='\{0,1\}\([^']*\)'\{0,1\}\$/\2/p" "$envfile" | tail -n 1
}
tmp=$(cdc_it_get CDC_IT_TMP)
pgdata=$(cdc_it_get CDC_IT_PGDATA)
pg_pid=$(cdc_it_get CDC_IT_PG_PID)
nats_pid=$(cdc_it_get CDC_IT_NATS_PID)
redis_pid=$(cdc_it_get CDC_IT_REDIS_PID)
my_pid=$(cdc_it_get CDC_IT_MY_PID)
s3_pid=$(cdc_it_get CDC_IT_S3_PID)

if [ -n "$s3_pid" ]; then
  cdc_stop_pid "$s3_pid" 5
fi
if [ -n "$my_pid" ]; then
  # a clean MariaDB shutdown (InnoDB) can take a few seconds
  cdc_stop_pid "$my_pid" 20
fi
if [ -n "$redis_pid" ]; then
  cdc_stop_pid "$redis_pid" 10
fi
if [ -n "$nats_pid" ]; then
  cdc_stop_pid "$nats_pid" 10
fi
if [ -n "$pg_pid" ] && [ -n "$pgdata" ]; then
  cdc_stop_pg "$(dirname "$pgdata")" "$pg_pid"
fi

rc=0
for pid in $pg_pid $nats_pid $redis_pid $my_pid $s3_pid; do
  if cdc_pid_alive "$pid"; then
    echo "stop_servers: pid $pid is still running" >&2
    rc=1
  fi
done
# remove only a directory that looks like ours
case "$tmp" in
*/cdc-it.*) [ -d "$tmp" ] && rm -rf "$tmp" ;;
*) [ -n "$tmp" ] && echo "stop_servers: not removing unexpected CDC_IT_TMP=$tmp" >&2 ;;
esac
rm -f "$envfile"
exit $rc
