#!/usr/bin/env bash
# capture_pgoutput.sh - regenerate tests/data/pgoutput/workload.bin: real
# pgoutput (protocol version 1) messages from a throw-away PostgreSQL 15.
#
# Starts PostgreSQL in a mktemp -d directory on a free loopback port (with the
# helpers of scripts/pgctl.sh), creates a publication and a pgoutput slot,
# runs the workload below, reads the slot with
#   SELECT lsn, data FROM pg_logical_slot_peek_binary_changes('s', NULL, NULL,
#       'proto_version', '1', 'publication_names', 'p')
# and writes each row as [8-byte big-endian LSN][4-byte big-endian length][data].
# tests/unit/test_pgdecode.c asserts the values this SQL writes: change both together.
#
# Usage: scripts/capture_pgoutput.sh [OUTPUT]   (default tests/data/pgoutput/workload.bin)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../tests/data/pgoutput/workload.bin}
# shellcheck source=scripts/pgctl.sh
. "$here/pgctl.sh"

tmp=$(mktemp -d)
chmod 755 "$tmp"
pid=""
cleanup() {
  [ -n "$pid" ] && cdc_stop_pg "$tmp/pg" "$pid"
  rm -rf "$tmp"
}
trap cleanup EXIT

port=$(cdc_free_port)
pid=$(cdc_start_pg "$tmp/pg" "$port")

psql_() {
  "$CDC_PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d postgres "$@"
}

psql_ >/dev/null <<'SQL'
CREATE TABLE t_full (id int PRIMARY KEY, name text, amount numeric(10,2), flag bool,
                     ts timestamptz, tags int[], doc jsonb);
ALTER TABLE t_full REPLICA IDENTITY FULL;
CREATE TABLE t_def (id int PRIMARY KEY, note text, big text);
CREATE TABLE t_tf (id int PRIMARY KEY, note text, big text);
ALTER TABLE t_tf REPLICA IDENTITY FULL;
-- big values are stored out of line, uncompressed: updates that do not touch them send 'u'
ALTER TABLE t_def ALTER COLUMN big SET STORAGE EXTERNAL;
ALTER TABLE t_tf ALTER COLUMN big SET STORAGE EXTERNAL;
CREATE PUBLICATION p FOR TABLE t_full, t_def, t_tf;
SELECT 'slot' FROM pg_create_logical_replication_slot('s', 'pgoutput');
SQL

# Workload: one statement per transaction unless noted.
psql_ >/dev/null <<'SQL'
SET TimeZone = 'UTC';
INSERT INTO t_full VALUES (1, 'alice', 12.50, true, '2024-01-02 03:04:05.123456+00', '{1,2,NULL}', '{"a": 1}');
INSERT INTO t_full VALUES (2, '', NULL, false, NULL, NULL, NULL);
UPDATE t_full SET name = 'bob', amount = 7 WHERE id = 1;
DELETE FROM t_full WHERE id = 2;
-- a TOASTed value left untouched by an update: default identity (no old tuple) ...
INSERT INTO t_def VALUES (10, 'n1', repeat('x', 2100));
UPDATE t_def SET note = 'n2' WHERE id = 10;
DELETE FROM t_def WHERE id = 10;
-- ... and REPLICA IDENTITY FULL (the old tuple carries it)
INSERT INTO t_tf VALUES (30, 'm1', repeat('y', 2100));
UPDATE t_tf SET note = 'm2' WHERE id = 30;
BEGIN;
INSERT INTO t_def VALUES (20, 'a', 'small');
INSERT INTO t_def VALUES (21, NULL, NULL);
COMMIT;
TRUNCATE t_full, t_def;
SQL

psql_ -At -F ' ' -c "SELECT lsn, encode(data, 'hex') FROM pg_logical_slot_peek_binary_changes('s', NULL, NULL, 'proto_version', '1', 'publication_names', 'p')" |
  python3 -c '
import struct, sys
out = open(sys.argv[1], "wb")
for line in sys.stdin:
    lsn, data = line.split()
    hi, lo = lsn.split("/")
    b = bytes.fromhex(data)
    out.write(struct.pack(">QI", (int(hi, 16) << 32) | int(lo, 16), len(b)) + b)
' "$out"
echo "wrote $out ($(stat -c %s "$out") bytes)" >&2
