#!/usr/bin/env bash
# capture_binlog.sh - regenerate tests/data/binlog/workload.bin: real binlog
# events from a throw-away MariaDB, for the row decoder's tests.
#
# Starts MariaDB in a mktemp -d directory on a free loopback port with the
# settings of the test fixture (scripts/myctl.sh: log_bin, binlog_format=ROW,
# binlog_row_image=FULL, binlog_row_metadata=FULL, utf8mb4, CRC32 checksums),
# runs the workload below (tests/data/binlog/README.md explains it, statement by
# statement), rotates the binlog, and copies every event of the binlog files
# the workload wrote, in order, from the first file's magic on:
#
#   per event: [4-byte little-endian length N][N bytes: the 19-byte v4 header + body]
#
# The trailing CRC32 of each event is verified and removed, so each record is
# exactly what mysrc_read() hands the decoder (its data/len). The header's
# event length field still counts the 4 checksum bytes (N + 4). Unlike a dump,
# the files also hold the ANNOTATE_ROWS events (type 160: the SQL text of the
# row events that follow), handy for reading the capture.
#
# Usage: scripts/capture_binlog.sh [OUTPUT]   (default tests/data/binlog/workload.bin)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../tests/data/binlog/workload.bin}
# shellcheck source=scripts/myctl.sh
. "$here/myctl.sh"

tmp=$(mktemp -d)
chmod 755 "$tmp"
pid=""
cleanup() {
  [ -n "$pid" ] && cdc_stop_mariadb "$pid"
  rm -rf "$tmp"
}
trap cleanup EXIT

port=$(cdc_free_port)
pid=$(cdc_start_mariadb "$tmp/my" "$port")

sql() {
  cdc_mariadb "$tmp/my" "$@"
}

# the workload starts in a binlog file of its own
sql -e "FLUSH BINARY LOGS"
first=$(sql -e "SHOW MASTER STATUS" | cut -f1)

sql cdc_test <<'SQL'
SET time_zone = '+00:00';

CREATE TABLE t_int (
  id INT PRIMARY KEY,
  ti TINYINT, tu TINYINT UNSIGNED, si SMALLINT, su SMALLINT UNSIGNED,
  mi MEDIUMINT, mu MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED,
  bi BIGINT, bu BIGINT UNSIGNED
);
INSERT INTO t_int VALUES
  (1, -128, 255, -32768, 65535, -8388608, 16777215, -2147483648, 4294967295,
   -9223372036854775808, 18446744073709551615),
  (2, 127, 0, 32767, 0, 8388607, 0, 2147483647, 0, 9223372036854775807, 0),
  (3, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1),
  (4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);

CREATE TABLE t_num (
  id INT PRIMARY KEY,
  f FLOAT, d DOUBLE, d1 DECIMAL(10,2), d2 DECIMAL(30,10), d3 DECIMAL(5,0), d4 DECIMAL(4,4)
);
INSERT INTO t_num VALUES
  (1, 1.5, -2.25, 12345678.90, -12345678901234567890.0123456789, 99999, 0.9999),
  (2, -0.0, 1e300, -0.01, 0.0000000001, -1, -0.0001),
  (3, 3.4e38, 2.2250738585072014e-308, 0, 0, 0, 0),
  (4, NULL, NULL, NULL, NULL, NULL, NULL);

CREATE TABLE t_time (
  id INT PRIMARY KEY,
  dt DATE, t0 TIME, t1 TIME(1), t3 TIME(3), t6 TIME(6),
  dtm DATETIME, dtm6 DATETIME(6), ts TIMESTAMP NULL, ts6 TIMESTAMP(6) NULL, y YEAR
);
INSERT INTO t_time VALUES
  (1, '2024-01-02', '12:34:56', '12:34:56.7', '-12:34:56.789', '838:59:59.000000',
   '2024-01-02 03:04:05', '2024-01-02 03:04:05.123456', '2024-01-02 03:04:05',
   '2024-01-02 03:04:05.654321', 2024),
  (2, '1000-01-01', '-838:59:59', '-00:00:00.5', '00:00:00.001', '-00:00:01.000001',
   '1000-01-01 00:00:00', '9999-12-31 23:59:59.999999', '1970-01-01 00:00:01',
   '2038-01-19 03:14:07.999999', 1901),
  (3, '9999-12-31', '00:00:00', '00:00:00.0', '00:00:00.000', '00:00:00.000000',
   '2000-02-29 12:00:00', '2000-02-29 12:00:00.000001', NULL, NULL, 2155),
  (4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
-- zero dates need a relaxed sql_mode
SET SESSION sql_mode = '';
INSERT INTO t_time VALUES
  (5, '0000-00-00', '00:00:00', NULL, NULL, NULL, '0000-00-00 00:00:00',
   '0000-00-00 00:00:00.000000', '0000-00-00 00:00:00', '0000-00-00 00:00:00.000000', 0),
  (6, '2024-00-15', NULL, NULL, NULL, NULL, '2024-02-00 10:00:00', NULL, NULL, NULL, NULL);
SET SESSION sql_mode = DEFAULT;

CREATE TABLE t_str (
  id INT PRIMARY KEY,
  c CHAR(10), vc VARCHAR(300), c_l1 CHAR(10) CHARACTER SET latin1,
  vc_l1 VARCHAR(20) CHARACTER SET latin1, c_big CHAR(100),
  b BINARY(4), vb VARBINARY(300), tb TINYBLOB, bl BLOB, mb MEDIUMBLOB, lb LONGBLOB,
  tt TINYTEXT, tx TEXT, lt LONGTEXT CHARACTER SET latin1
);
INSERT INTO t_str VALUES
  (1, 'abc', 'héllo wörld ✓ 😀', 'café', 'Ünïcödé', 'x',
   0x01020300, 0x00FF10, 0xDEADBEEF, 0x00, 0x0102, X'',
   'tiny', 'text ✓', 'latin1 é'),
  (2, '', '', '', '', '', 0x00000000, X'', X'', X'', X'', X'', '', '', ''),
  (3, 'trailing  ', REPEAT('v', 300), 'ÿ', 'a', REPEAT('é', 100),
   NULL, REPEAT(0xAB, 300), NULL, REPEAT(0xCD, 1000), NULL, NULL, NULL, REPEAT('t', 1000), NULL),
  (4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);

CREATE TABLE t_misc (
  id INT PRIMARY KEY,
  e ENUM('red', 'green', 'blue'), s SET('a', 'b', 'c', 'd'),
  b1 BIT(1), b10 BIT(10), b64 BIT(64),
  j JSON, g GEOMETRY, p POINT, u UUID, ip INET6
);
INSERT INTO t_misc VALUES
  (1, 'green', 'a,c', b'1', b'1010101010', b'1000000000000000000000000000000000000000000000000000000000000001',
   '{"a": 1, "b": [true, null, "x"]}', ST_GeomFromText('POINT(1 2)'), ST_GeomFromText('POINT(-1.5 2.5)'),
   '123e4567-e89b-12d3-a456-426614174000', '2001:db8::1'),
  (2, 'blue', '', b'0', b'0', b'0', '[]', ST_GeomFromText('LINESTRING(0 0, 1 1, 2 0)'), NULL,
   '00000000-0000-0000-0000-000000000000', '::ffff:192.0.2.1'),
  (3, NULL, 'a,b,c,d', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
SET SESSION sql_mode = '';
INSERT INTO t_misc (id, e) VALUES (4, '');
SET SESSION sql_mode = DEFAULT;

-- updates and deletes with FULL images: before and after
UPDATE t_int SET i = i + 1, bu = 42 WHERE id IN (1, 3);
UPDATE t_str SET vc = 'changed', bl = NULL WHERE id = 1;
UPDATE t_misc SET e = 'red', s = 'd', j = '{"k": "v"}' WHERE id = 2;
DELETE FROM t_num WHERE id = 2;
DELETE FROM t_time WHERE id IN (3, 4);

-- a multi-statement transaction over two tables
BEGIN;
INSERT INTO t_int (id, i) VALUES (10, 10), (11, 11);
UPDATE t_num SET d1 = 1.01 WHERE id = 1;
DELETE FROM t_int WHERE id = 11;
COMMIT;

-- partial images: this session logs only the primary key and the changed columns
SET SESSION binlog_row_image = 'MINIMAL';
UPDATE t_str SET tx = 'minimal' WHERE id = 3;
DELETE FROM t_misc WHERE id = 4;
INSERT INTO t_int (id, ti) VALUES (20, 7);
SET SESSION binlog_row_image = 'NOBLOB';
UPDATE t_str SET c = 'noblob' WHERE id = 1;
SET SESSION binlog_row_image = DEFAULT;

-- DDL, then rows with the new layout
ALTER TABLE t_int ADD COLUMN note VARCHAR(20) AFTER ti, DROP COLUMN mu;
INSERT INTO t_int (id, note) VALUES (30, 'after ddl');
SQL

sql -e "FLUSH BINARY LOGS"
last=$(sql -e "SHOW MASTER STATUS" | cut -f1)
files=()
while read -r f _; do
  if [[ "$f" > "$first" || "$f" == "$first" ]] && [[ "$f" < "$last" ]]; then
    files+=("$tmp/my/data/$f")
  fi
done < <(sql -e "SHOW BINARY LOGS")

mkdir -p "$(dirname "$out")"
python3 - "$out" "${files[@]}" <<'PY'
import struct, sys, zlib

out, files = sys.argv[1], sys.argv[2:]
n = 0
with open(out + ".tmp", "wb") as w:
    for path in files:
        data = open(path, "rb").read()
        if data[:4] != b"\xfebin":
            sys.exit(f"{path}: not a binlog file")
        off = 4
        while off < len(data):
            length = struct.unpack_from("<I", data, off + 9)[0]
            ev = data[off:off + length]
            if len(ev) != length or length < 23:
                sys.exit(f"{path}: truncated event at {off}")
            body, crc = ev[:-4], struct.unpack_from("<I", ev, length - 4)[0]
            if zlib.crc32(body) != crc:
                sys.exit(f"{path}: CRC32 mismatch at {off}")
            w.write(struct.pack("<I", len(body)) + body)
            off += length
            n += 1
import os
os.replace(out + ".tmp", out)
print(f"capture_binlog: {n} events from {len(files)} file(s) into {out}", file=sys.stderr)
PY
