#!/usr/bin/env bash
# What the databases alone take to store a bulk import's rows, with no weft code: a floor
# for `weft index import` on this machine.
#
#   bench/import_floor.sh sqlite|postgres|both
#
# Stages RECORDS bench-like records (as bench/gen_manifest.py makes them: a random v4 did, a
# time-ordered base id, an md5, two URLs, two ACEs, two authz resources) in a SQLite file,
# already in the order weft's import writes them (records by did, each side table by key).
# Then, timing every statement (user + sys CPU):
#   sqlite   — the `sqlite3` shell copies them from the staging file into a database made by
#              `weft migrate` (weft's own schema), with the indexes the import rebuilds
#              dropped first and built last, rollback journal, synchronous off, 64 MiB cache;
#              the staging reads are timed on their own so they can be taken off. Then the
#              same rows into a variant whose side tables are keyed by the record's integer
#              rowid instead of its did ("rowid-keyed").
#   postgres — `psql \copy` of the same rows (text files) into unindexed tables of a fresh
#              database in one transaction, then the primary keys and indexes weft's schema
#              has; wall time per statement and the whole machine's busy CPU.
# Knobs: RECORDS (1000000), FLOOR_WORK (/var/tmp/weft-bench-floor), WEFT_BIN, PG_URL_BASE,
# PG_DB (weft_floor_bench). Needs the `sqlite3` shell and `psql`.
set -euo pipefail

WHAT=${1:?usage: bench/import_floor.sh sqlite|postgres|both}
RECORDS=${RECORDS:-1000000}
FLOOR_WORK=${FLOOR_WORK:-/var/tmp/weft-bench-floor}
WEFT_BIN=${WEFT_BIN:-${CARGO_TARGET_DIR:-/var/tmp/weft-target}/release/weft}
PG_URL_BASE=${PG_URL_BASE:-postgres://postgres@127.0.0.1:5432}
PG_DB=${PG_DB:-weft_floor_bench}
mkdir -p "$FLOOR_WORK"
cd "$FLOOR_WORK"
STAGE=stage-$RECORDS.db

if [ ! -s "$STAGE" ]; then
  echo "staging $RECORDS records in $FLOOR_WORK/$STAGE" >&2
  rm -f "$STAGE.tmp"
  sqlite3 "$STAGE.tmp" >/dev/null <<EOF
PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -262144;
CREATE TABLE r0 AS WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < $RECORDS - 1)
  SELECT i, lower(hex(randomblob(16))) AS h, lower(hex(randomblob(16))) AS md5,
    abs(random()) % 17179869184 + 1 AS size, i % 16 AS p FROM c;
CREATE TABLE rec AS SELECT
    substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-4' || substr(h, 14, 3) || '-a' || substr(h, 18, 3)
      || '-' || substr(h, 21, 12) AS did,
    substr(h, 1, 8) AS rev, md5, size, p, 'file-' || i || '.bam' AS file_name
  FROM r0 ORDER BY 1;
CREATE TABLE full AS SELECT did,
    printf('0193%04x-%04x-7000-a000-%012x', rowid / 65536, rowid % 65536, rowid) AS baseid,
    rev, size, file_name, '2026-11-27T05:00:00.123456' AS created_date,
    '["s3://weft-bench/p' || p || '/' || did || '/' || file_name || '","gs://weft-bench-mirror/p'
      || p || '/' || did || '/' || file_name || '"]' AS urls,
    '["bench","p' || p || '"]' AS acl,
    '["/programs/bench/projects/p' || p || '","/programs/bench"]' AS authz,
    '{"md5":"' || md5 || '"}' AS hashes, rowid AS rid, p
  FROM rec ORDER BY rowid;
DROP TABLE r0; DROP TABLE rec;
CREATE TABLE hash AS SELECT substr(hashes, 9, 32) AS v, 'md5' AS t, did, rid FROM full ORDER BY 1;
CREATE TABLE url AS SELECT * FROM (
    SELECT 's3://weft-bench/p' || p || '/' || did || '/' || file_name AS v, did, rid FROM full
    UNION ALL SELECT 'gs://weft-bench-mirror/p' || p || '/' || did || '/' || file_name, did, rid FROM full)
  ORDER BY v, did;
CREATE TABLE ace AS SELECT * FROM (
    SELECT 'bench' AS v, did, rid FROM full UNION ALL SELECT 'p' || p, did, rid FROM full)
  ORDER BY v, did;
CREATE TABLE authz AS SELECT * FROM (
    SELECT '/programs/bench' AS v, did, rid FROM full
    UNION ALL SELECT '/programs/bench/projects/p' || p, did, rid FROM full)
  ORDER BY v, did;
VACUUM;
EOF
  mv "$STAGE.tmp" "$STAGE"
fi

RECORD_COLUMNS="did, baseid, rev, NULL, size, file_name, NULL, NULL, NULL, created_date, created_date, NULL, NULL, urls, '{}', acl, authz, hashes, '{}'"

# Print each timed statement's label and CPU (user + sys), then the shell's totals.
timed_sqlite() { # db script
  /usr/bin/time -f "TOTAL %U %S %e" sqlite3 "$1" <"$2" 2>&1 | awk '
    /^@/ { label = substr($0, 2); next }
    /^Run Time:/ { if (label != "") printf "  %-40s %6.2f + %5.2f s\n", label, $6, $8; label = ""; next }
    /^TOTAL/ { printf "  %-40s %6.2f + %5.2f s CPU, %.2f s wall\n", "whole script", $2, $3, $4 }'
}

floor_sqlite() {
  local db=weft.db script=weft.sql
  rm -f "$db" "$db"-*
  rm -rf data && mkdir data
  "$WEFT_BIN" migrate --data-dir data >/dev/null 2>&1
  cp data/weft.db "$db"
  cat >"$script" <<EOF
PRAGMA cache_size = -65536; PRAGMA journal_mode = DELETE; PRAGMA synchronous = OFF;
DROP INDEX index_record_size_idx; DROP INDEX index_record_file_name_idx;
ATTACH '$STAGE' AS s;
.timer on
.print @staging reads: records
SELECT sum(length(did) + length(baseid) + length(urls) + length(hashes) + length(acl) + length(authz) + length(file_name)) FROM s.full;
.print @staging reads: side rows
SELECT (SELECT sum(length(v) + length(did)) FROM s.hash) + (SELECT sum(length(v) + length(did)) FROM s.url) + (SELECT sum(length(v) + length(did)) FROM s.ace) + (SELECT sum(length(v) + length(did)) FROM s.authz);
BEGIN;
.print @records (did, baseid, updated kept)
INSERT INTO index_record SELECT $RECORD_COLUMNS FROM s.full ORDER BY rowid;
.print @hash rows
INSERT INTO index_record_hash SELECT v, t, did FROM s.hash ORDER BY rowid;
.print @URL rows
INSERT INTO index_record_url SELECT v, did FROM s.url ORDER BY rowid;
.print @ACE rows
INSERT INTO index_record_ace SELECT v, did FROM s.ace ORDER BY rowid;
.print @authz rows
INSERT INTO index_record_authz SELECT v, did FROM s.authz ORDER BY rowid;
.print @size index
CREATE INDEX index_record_size_idx ON index_record (size);
.print @file_name index
CREATE INDEX index_record_file_name_idx ON index_record (file_name);
.print @commit
COMMIT;
EOF
  echo "SQLite, weft's schema ($RECORDS records):"
  timed_sqlite "$db" "$script"
  echo "  file: $(du -m "$db" | cut -f1) MiB"

  db=rowid.db script=rowid.sql
  rm -f "$db"
  cat >"$script" <<EOF
PRAGMA cache_size = -65536; PRAGMA journal_mode = DELETE; PRAGMA synchronous = OFF;
CREATE TABLE r (did TEXT PRIMARY KEY NOT NULL, baseid TEXT NOT NULL, rev TEXT NOT NULL, form TEXT, size INTEGER, file_name TEXT, version TEXT, uploader TEXT, description TEXT, created_date TEXT NOT NULL, updated_date TEXT NOT NULL, content_created_date TEXT, content_updated_date TEXT, urls TEXT NOT NULL, urls_metadata TEXT NOT NULL, acl TEXT NOT NULL, authz TEXT NOT NULL, hashes TEXT NOT NULL, metadata TEXT NOT NULL);
CREATE TABLE h (v TEXT NOT NULL, t TEXT NOT NULL, rid INTEGER NOT NULL, PRIMARY KEY (v, t, rid)) WITHOUT ROWID;
CREATE TABLE u (v TEXT NOT NULL, rid INTEGER NOT NULL, PRIMARY KEY (v, rid)) WITHOUT ROWID;
CREATE TABLE a (v TEXT NOT NULL, rid INTEGER NOT NULL, PRIMARY KEY (v, rid)) WITHOUT ROWID;
CREATE TABLE z (v TEXT NOT NULL, rid INTEGER NOT NULL, PRIMARY KEY (v, rid)) WITHOUT ROWID;
ATTACH '$STAGE' AS s;
.timer on
BEGIN;
.print @records (did key only)
INSERT INTO r SELECT $RECORD_COLUMNS FROM s.full ORDER BY rowid;
.print @baseid index
CREATE INDEX r_baseid ON r (baseid, created_date);
.print @updated index
CREATE INDEX r_updated ON r (updated_date, did);
.print @size index
CREATE INDEX r_size ON r (size);
.print @file_name index
CREATE INDEX r_file_name ON r (file_name);
.print @hash rows (rowid-keyed)
INSERT INTO h SELECT v, t, rid FROM s.hash ORDER BY rowid;
.print @URL rows (rowid-keyed)
INSERT INTO u SELECT v, rid FROM s.url ORDER BY rowid;
.print @ACE rows (rowid-keyed)
INSERT INTO a SELECT v, rid FROM s.ace ORDER BY rowid;
.print @authz rows (rowid-keyed)
INSERT INTO z SELECT v, rid FROM s.authz ORDER BY rowid;
.print @commit
COMMIT;
EOF
  echo "SQLite, side tables keyed by rowid ($RECORDS records):"
  timed_sqlite "$db" "$script"
  echo "  file: $(du -m "$db" | cut -f1) MiB"
}

floor_postgres() {
  sqlite3 -separator $'\t' "$STAGE" "SELECT did, baseid, rev, '\N', size, file_name, '\N', '\N', '\N', created_date, created_date, '\N', '\N', urls, '{}', acl, authz, hashes, '{}' FROM full ORDER BY rowid" >pg-record.tsv
  sqlite3 -separator $'\t' "$STAGE" "SELECT v, t, did FROM hash ORDER BY rowid" >pg-hash.tsv
  for t in url ace authz; do
    sqlite3 -separator $'\t' "$STAGE" "SELECT v, did FROM $t ORDER BY rowid" >"pg-$t.tsv"
  done
  local c='TEXT COLLATE "C"'
  cat >pg.sql <<EOF
\\timing on
BEGIN;
CREATE TABLE index_record (did $c NOT NULL, baseid $c NOT NULL, rev $c NOT NULL, form $c, size BIGINT, file_name $c, version $c, uploader $c, description $c, created_date $c NOT NULL, updated_date $c NOT NULL, content_created_date $c, content_updated_date $c, urls TEXT NOT NULL, urls_metadata TEXT NOT NULL, acl TEXT NOT NULL, authz TEXT NOT NULL, hashes TEXT NOT NULL, metadata TEXT NOT NULL);
CREATE TABLE index_record_hash (hash_value $c NOT NULL, hash_type $c NOT NULL, did $c NOT NULL);
CREATE TABLE index_record_url (url $c NOT NULL, did $c NOT NULL);
CREATE TABLE index_record_ace (ace $c NOT NULL, did $c NOT NULL);
CREATE TABLE index_record_authz (resource $c NOT NULL, did $c NOT NULL);
\\copy index_record FROM 'pg-record.tsv'
\\copy index_record_hash FROM 'pg-hash.tsv'
\\copy index_record_url FROM 'pg-url.tsv'
\\copy index_record_ace FROM 'pg-ace.tsv'
\\copy index_record_authz FROM 'pg-authz.tsv'
ALTER TABLE index_record ADD PRIMARY KEY (did);
CREATE INDEX index_record_baseid_idx ON index_record (baseid, created_date);
CREATE INDEX index_record_updated_idx ON index_record (updated_date, did);
CREATE INDEX index_record_size_idx ON index_record (size);
CREATE INDEX index_record_file_name_idx ON index_record (file_name);
ALTER TABLE index_record_hash ADD PRIMARY KEY (hash_value, hash_type, did);
ALTER TABLE index_record_url ADD PRIMARY KEY (url, did);
ALTER TABLE index_record_ace ADD PRIMARY KEY (ace, did);
ALTER TABLE index_record_authz ADD PRIMARY KEY (resource, did);
COMMIT;
EOF
  psql -X -q -d "$PG_URL_BASE/postgres" -c "DROP DATABASE IF EXISTS $PG_DB" -c "CREATE DATABASE $PG_DB"
  psql -X -q -d "$PG_URL_BASE/$PG_DB" -c CHECKPOINT
  local b0 b1 t0 t1
  b0=$(awk '$1 == "cpu" { print $2 + $3 + $4; exit }' /proc/stat)
  t0=$(date +%s.%N)
  echo "PostgreSQL ($RECORDS records; wall ms per statement: CREATE x5, COPY record/hash/URL/ACE/authz, keys and indexes, COMMIT):"
  psql -X -q -d "$PG_URL_BASE/$PG_DB" -f pg.sql 2>&1 | awk '/^Time:/ { printf " %s", $2 } END { print "" }'
  b1=$(awk '$1 == "cpu" { print $2 + $3 + $4; exit }' /proc/stat)
  t1=$(date +%s.%N)
  awk -v t0="$t0" -v t1="$t1" -v b0="$b0" -v b1="$b1" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { printf "  whole script %.2f s wall, machine busy CPU %.2f s (psql included)\n", t1 - t0, (b1 - b0) / hz }'
  psql -X -q -d "$PG_URL_BASE/postgres" -c "DROP DATABASE IF EXISTS $PG_DB"
}

case $WHAT in
  sqlite) floor_sqlite ;;
  postgres) floor_postgres ;;
  both) floor_sqlite; floor_postgres ;;
  *) echo "unknown: $WHAT" >&2; exit 2 ;;
esac
