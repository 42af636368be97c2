#!/usr/bin/env bash
# cli.sh BIN - the daemon's command line, without servers: bad configuration
# gives one "file:line: key: problem" line per problem and exit status 2;
# --dump-config masks secrets; usage errors exit 2.
set -u
BIN=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
check() { # name, condition result
  if [ "$2" = 0 ]; then pass=$((pass + 1)); echo "ok - $1"; else fail=$((fail + 1)); echo "not ok - $1"; fi
}

cat >"$tmp/bad.yaml" <<'YAML'
server:
  port: 99999
rds:
  endpoint: db.example.com
  username: u
  database: d
  ssl_mode: sometimes
nats:
  urls: [nats://127.0.0.1:4222]
cdc:
  batch_size: lots
  checkpont_interval: 5s
YAML
out=$(env -i PATH="$PATH" "$BIN" --config "$tmp/bad.yaml" --check-config 2>&1)
code=$?
check "bad config exits 2" "$([ $code = 2 ]; echo $?)"
check "port problem names file and line" "$(grep -q "^$tmp/bad.yaml:2: server.port: " <<<"$out"; echo $?)"
check "ssl_mode problem names file and line" "$(grep -q "^$tmp/bad.yaml:7: rds.ssl_mode: " <<<"$out"; echo $?)"
check "batch_size problem names file and line" "$(grep -q "^$tmp/bad.yaml:11: cdc.batch_size: " <<<"$out"; echo $?)"
check "unknown key names file and line" "$(grep -q "^$tmp/bad.yaml:12: cdc.checkpont_interval: " <<<"$out"; echo $?)"
check "one line per problem (4)" "$([ "$(grep -c "^$tmp/bad.yaml:" <<<"$out")" = 4 ]; echo $?)"

cat >"$tmp/good.yaml" <<'YAML'
rds:
  endpoint: db.example.com
  username: replicator
  password: ${AWS_RDS_PASSWORD}
  database: orders
nats:
  urls: [nats://natsuser:Nats-Pw-42@127.0.0.1:4222]
YAML
out=$(env -i PATH="$PATH" AWS_RDS_PASSWORD=Rds-Pw-17 "$BIN" --config "$tmp/good.yaml" --dump-config 2>&1)
code=$?
check "dump-config exits 0" "$([ $code = 0 ]; echo $?)"
check "dump-config masks rds.password" "$(! grep -q "Rds-Pw-17" <<<"$out"; echo $?)"
check "dump-config masks URL credentials" "$(! grep -q "Nats-Pw-42" <<<"$out"; echo $?)"
check "dump-config shows the endpoint" "$(grep -q "db.example.com" <<<"$out"; echo $?)"

# the checkpoint encryption key: never shown, whether it is valid or not
key=4b6579546861744d7573744e6576657241707065617230313233343536373839
out=$(env -i PATH="$PATH" CHECKPOINT_ENCRYPTION_KEY=$key "$BIN" --config "$tmp/good.yaml" --dump-config 2>&1)
code=$?
check "dump-config with a checkpoint key exits 0" "$([ $code = 0 ]; echo $?)"
check "dump-config masks the checkpoint key" "$(! grep -q "$key" <<<"$out" && grep -q 'checkpoint_encryption_key: "\*\*\*\*\*\*\*\*"' <<<"$out"; echo $?)"
printf '%s\n' "$key" >"$tmp/ckpt.key"
out=$(env -i PATH="$PATH" AWS_RDS_PASSWORD=x CHECKPOINT_ENCRYPTION_KEY_FILE="$tmp/ckpt.key" "$BIN" --config "$tmp/good.yaml" --check-config 2>&1)
code=$?
check "a key file is accepted" "$([ $code = 0 ] && ! grep -q "$key" <<<"$out"; echo $?)"
cat >"$tmp/badkey.yaml" <<'YAML'
rds:
  endpoint: db.example.com
  username: u
  database: d
cdc:
  checkpoint_encryption_key: Not-A-Key-9f3c
YAML
out=$(env -i PATH="$PATH" "$BIN" --config "$tmp/badkey.yaml" --check-config 2>&1)
code=$?
check "a malformed checkpoint key exits 2" "$([ $code = 2 ]; echo $?)"
check "the key problem names file and line" "$(grep -q "^$tmp/badkey.yaml:6: cdc.checkpoint_encryption_key: " <<<"$out"; echo $?)"
check "the malformed key is not echoed" "$(! grep -q "Not-A-Key-9f3c" <<<"$out"; echo $?)"
out=$(env -i PATH="$PATH" CHECKPOINT_ENCRYPTION_KEY="${key}00" "$BIN" --config "$tmp/good.yaml" --dump-config 2>&1)
check "dump-config masks a malformed checkpoint key too" "$(! grep -q "$key" <<<"$out"; echo $?)"

out=$(env -i PATH="$PATH" "$BIN" --config "$tmp/missing.yaml" 2>&1)
check "missing config file exits 2 and names it" "$([ $? = 2 ] && grep -q "missing.yaml" <<<"$out"; echo $?)"
env -i PATH="$PATH" "$BIN" --no-such-flag >/dev/null 2>&1
check "unknown flag exits 2" "$([ $? = 2 ]; echo $?)"
env -i PATH="$PATH" "$BIN" --stop-at-lsn nonsense >/dev/null 2>&1
check "bad --stop-at-lsn exits 2" "$([ $? = 2 ]; echo $?)"

# IAM login with MariaDB: accepted over TLS; without TLS a config error (the token would go in cleartext)
printf 'rds:\n  endpoint: h\n  username: u\n  database: d\n  engine: mariadb\n  auth: iam\n  region: us-east-1\n' >"$tmp/iam.yaml"
out=$(env -i PATH="$PATH" "$BIN" --config "$tmp/iam.yaml" --check-config 2>&1)
check "iam with mariadb over TLS passes --check-config" "$([ $? = 0 ]; echo $?)"
printf '  ssl_mode: disable\n' >>"$tmp/iam.yaml"
out=$(env -i PATH="$PATH" "$BIN" --config "$tmp/iam.yaml" --check-config 2>&1)
code=$?
check "iam with mariadb without TLS exits 2 naming rds.auth" "$([ $code = 2 ] && grep -q "iam.yaml:6: rds.auth: iam needs TLS" <<<"$out"; echo $?)"

# sensitive fields: a bad rule and a hash without its key, at their lines; the key never shown
printf 'rds:\n  endpoint: h\n  username: u\n  database: d\ncdc:\n  sensitive_fields:\n    - {column: ssn, action: scramble}\n    - email: hash\n    - name: truncate\n' >"$tmp/redact.yaml"
out=$(env -i PATH="$PATH" "$BIN" --config "$tmp/redact.yaml" --check-config 2>&1)
code=$?
check "bad redaction rules exit 2" "$([ $code = 2 ]; echo $?)"
check "unknown action at its line" "$(grep -q "^$tmp/redact.yaml:7: cdc.sensitive_fields: item 1: unknown action \"scramble\"" <<<"$out"; echo $?)"
check "hash without a key at its line" "$(grep -q "^$tmp/redact.yaml:8: cdc.sensitive_fields: item 2: hash needs a key: " <<<"$out"; echo $?)"
check "truncate without N at its line" "$(grep -q "^$tmp/redact.yaml:9: cdc.sensitive_fields: item 3: truncate needs a length: truncate:N" <<<"$out"; echo $?)"
out=$(env -i PATH="$PATH" SENSITIVE_HASH_KEY=Cli-Hash-Key-0123456789 SENSITIVE_HASH_KEY_ID=k1 "$BIN" --config "$tmp/redact.yaml" --dump-config 2>&1)
check "--dump-config masks the hash key" "$(grep -q '^  sensitive_hash_key: "\*\*\*\*\*\*\*\*"$' <<<"$out" && ! grep -q "Cli-Hash-Key" <<<"$out"; echo $?)"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
