#!/usr/bin/env bash
# deps.sh - install on Debian 12 what the build and the tests need, and only
# what is missing. Each package is checked with dpkg-query first, so a second
# run does nothing and returns at once (no apt-get update, no network).
#
# As root: apt-get update (only when something is missing), then
# apt-get install -y --no-install-recommends. As any other user: print the
# exact command to run and exit 1.
#
# Debian's postgresql-common creates and starts a "main" cluster on 5432 when
# postgresql-15 is installed. We never use it: the tests and the demo start
# their own servers in temp dirs on free ports. To keep that port (and 4222,
# 6379, 3306) free, services are not started during installation (a temporary
# policy-rc.d), and a fresh postgresql-common is told not to create the
# cluster at all.
#
# Usage: scripts/deps.sh [--check]   (--check: only report what is missing)
set -euo pipefail

# The toolchain, libraries and servers everything needs today.
CDC_DEPS_BASE=(
  build-essential cmake ninja-build pkg-config clang-format cppcheck valgrind
  libpq-dev libnats-dev libyaml-dev libcmocka-dev libssl-dev
  postgresql-15 postgresql-client-15 nats-server
)

# ---- EXTRA PACKAGES: add what your module needs here (one list, no other edits needed) ----
# Candidates: libmariadb-dev libmicrohttpd-dev libhiredis-dev libcurl4-openssl-dev redis-server mariadb-server
CDC_DEPS_EXTRA=(
  bc time # bench/run.sh: rates and the daemon's CPU time and peak RSS
  gnuplot-nox # bench/run.sh: docs/bench.png, throughput, latency, lag and RSS over the run
  libmicrohttpd-dev # src/http: /health, /ready, /metrics
  prometheus        # promtool: test_metrics checks the exposition with `promtool check metrics`
  jq # tests/deploy/deploy.sh: checks deploy/grafana/cdc-handler.json
  libhiredis-dev redis-server # checkpoint/ckpt_redis.c and its tests
  openssl # scripts/pgctl.sh: a self-signed certificate so the test PostgreSQL speaks TLS
  libmariadb-dev # src/source/mysql: Connector/C and its replication API (mariadb_rpl_*)
  mariadb-server mariadb-client # scripts/myctl.sh: the test MariaDB (started in a temp dir, never on 3306)
  libcurl4-openssl-dev # checkpoint/ckpt_s3.c (libcurl and its AWS SigV4 signing)
  nodejs # scripts/s3ctl.sh: npm installs s3rver (the test S3) into .tools/
)
# ---- end of EXTRA PACKAGES ----

cdc_deps_is_installed() {
  [ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null || true)" = "ii " ]
}

missing=()
for p in "${CDC_DEPS_BASE[@]}" "${CDC_DEPS_EXTRA[@]}"; do
  cdc_deps_is_installed "$p" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "deps: missing packages: ${missing[*]}" >&2
if [ "${1:-}" = "--check" ]; then
  exit 1
fi

apt_opts=(-y --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
if [ "$(id -u)" -ne 0 ]; then
  echo "deps: not root; run this as root, then re-run:" >&2
  echo "  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install ${apt_opts[*]} ${missing[*]}" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive

# No service may start while we install (the "main" PostgreSQL cluster,
# nats-server on 4222, redis on 6379, mariadb on 3306). Only remove the
# policy file if we created it.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\n# written by cdc-handler scripts/deps.sh during installation\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  created_policy=1
fi
cleanup() {
  if [ "$created_policy" = 1 ]; then rm -f "$policy"; fi
}
trap cleanup EXIT

apt-get update

# Install postgresql-common on its own first so that its createcluster.conf
# exists and can be told not to create the "main" cluster before
# postgresql-15 is configured (as the official postgres Docker image does).
if printf '%s\n' "${missing[@]}" | grep -qx 'postgresql-15'; then
  if ! cdc_deps_is_installed postgresql-common; then
    apt-get install "${apt_opts[@]}" postgresql-common
  fi
  conf=/etc/postgresql-common/createcluster.conf
  if [ -f "$conf" ]; then
    sed -ri 's/^#?[[:space:]]*create_main_cluster[[:space:]]*=.*$/create_main_cluster = false/' "$conf"
    grep -q '^create_main_cluster = false' "$conf" || echo 'create_main_cluster = false' >>"$conf"
  fi
fi

apt-get install "${apt_opts[@]}" "${missing[@]}"

still=()
for p in "${missing[@]}"; do
  cdc_deps_is_installed "$p" || still+=("$p")
done
if [ ${#still[@]} -ne 0 ]; then
  echo "deps: still missing after install: ${still[*]}" >&2
  exit 1
fi
echo "deps: installed ${missing[*]}" >&2
