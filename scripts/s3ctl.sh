#!/usr/bin/env bash
# s3ctl.sh - start a throw-away S3 server (s3rver from npm) for the tests.
# Source it (after scripts/pgctl.sh, whose cdc_free_port, cdc_stop_pid,
# cdc_pid_alive and cdc_wait_tcp it uses); nothing runs when it is sourced.
#
# s3rver speaks the S3 REST API with path-style requests, accepts the access
# key S3RVER (secret S3RVER) and any other key is refused (InvalidAccessKeyId),
# but it does not verify SigV4 signatures. Version 3.7.1 ignores If-Match and
# If-None-Match on PUT (only GET honours If-None-Match), so conditional writes
# cannot be tested against it.
#
#   cdc_s3rver_bin                    print the s3rver entry point, installing
#                                     s3rver@3.7.1 into <repo>/.tools with npm when missing
#   cdc_start_s3rver DIR PORT BUCKET  s3rver on 127.0.0.1:PORT, data in DIR, BUCKET created,
#                                     log in DIR.log; wait until it accepts, print the pid
# Stop it with cdc_stop_pid PID.

CDC_S3RVER_VERSION=3.7.1

cdc_s3rver_bin() {
  local repo tools bin
  repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  tools="$repo/.tools"
  bin="$tools/node_modules/s3rver/bin/s3rver.js"
  if [ ! -f "$bin" ]; then
    if ! command -v npm >/dev/null 2>&1; then
      echo "cdc_s3rver_bin: npm not found (install nodejs: scripts/deps.sh)" >&2
      return 1
    fi
    mkdir -p "$tools" || return 1
    npm install --prefix "$tools" --no-audit --no-fund --loglevel=error \
      "s3rver@$CDC_S3RVER_VERSION" >&2 || {
      echo "cdc_s3rver_bin: npm install s3rver@$CDC_S3RVER_VERSION failed" >&2
      return 1
    }
  fi
  echo "$bin"
}

cdc_start_s3rver() {
  local dir=$1 port=$2 bucket=$3 bin pid
  bin=$(cdc_s3rver_bin) || return 1
  mkdir -p "$dir" || return 1
  # a background job of a non-interactive shell ignores SIGINT: Ctrl-C reaches only the script
  node "$bin" --directory "$dir" --address 127.0.0.1 --port "$port" --silent \
    --configure-bucket "$bucket" </dev/null >>"$dir.log" 2>&1 &
  pid=$!
  if cdc_wait_tcp "$port" 30 && cdc_pid_alive "$pid"; then
    echo "$pid"
    return 0
  fi
  echo "cdc_start_s3rver: s3rver on 127.0.0.1:$port did not start:" >&2
  cat "$dir.log" >&2 2>/dev/null
  cdc_stop_pid "$pid" 5
  return 1
}

# cdc_natsjs_modules: print the node_modules directory holding the official NATS
# JavaScript client (npm "nats", pinned), installing it into <repo>/.tools when missing.
# The tests read Object Store buckets back with it (tests/tools/objget.js), a reader
# that is not ours.
CDC_NATSJS_VERSION=2.29.3

cdc_natsjs_modules() {
  local repo tools
  repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  tools="$repo/.tools"
  if [ ! -f "$tools/node_modules/nats/package.json" ]; then
    mkdir -p "$tools" || return 1
    npm install --prefix "$tools" --no-audit --no-fund --loglevel=error \
      "nats@$CDC_NATSJS_VERSION" >&2 || {
      echo "cdc_natsjs_modules: npm install nats@$CDC_NATSJS_VERSION failed" >&2
      return 1
    }
  fi
  echo "$tools/node_modules"
}
