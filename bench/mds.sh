#!/usr/bin/env bash
# The metadata service benchmark of issue [4/4]: N GUIDs (default 1,000,000) with about 1 KB
# of metadata each, seeded through the API (batches of 1,000 to /mds-admin/metadata), then
# with wrk on the same 2 cores:
#   GET /_version (the ceiling), GET /mds/metadata/{guid} (random GUIDs), and a nested-field
#   equality query returning 100 records with their data
#   (/mds/metadata?gen3_discovery.project.code=P…&limit=100&data=true, random codes, on an
#   indexed path).
#
#   bench/mds.sh [sqlite|postgres]
#
# Knobs: RECORDS (1000000), DURATION (10s), CONCURRENCY ("16 64"), THREADS (2), PORT (18095),
# BENCH_WORK (/var/tmp/weft-bench), WEFT_BIN, PG_URL_BASE/PG_DB (postgres://postgres@
# 127.0.0.1:5432, weft_bench_mds), KEEP=1 (reuse the seeded data of a previous run).
# Results: stdout; raw output in $BENCH_WORK/mds-<backend>/.
set -euo pipefail

BACKEND=${1:-sqlite}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/weft-target}
WEFT_BIN=${WEFT_BIN:-$CARGO_TARGET_DIR/release/weft}
RECORDS=${RECORDS:-1000000}
DURATION=${DURATION:-10s}
CONCURRENCY=${CONCURRENCY:-16 64}
THREADS=${THREADS:-2}
PORT=${PORT:-18095}
WORK=${BENCH_WORK:-/var/tmp/weft-bench}/mds-$BACKEND
PG_URL_BASE=${PG_URL_BASE:-postgres://postgres@127.0.0.1:5432}
PG_DB=${PG_DB:-weft_bench_mds}
KEEP=${KEEP:-0}
export BENCH_LUA_DIR="$HERE/lua"
BASE="http://127.0.0.1:$PORT"
USER_NAME=bench-curator@bench.org
INDEXED=gen3_discovery.project.code

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'mds.sh: %s\n' "$*" >&2; exit 1; }
# shellcheck source=bench/wrk_lib.sh
. "$HERE/wrk_lib.sh"
command -v wrk >/dev/null || die "wrk not found"
[ -x "$WEFT_BIN" ] || die "no weft binary at $WEFT_BIN (cargo build --release)"

mkdir -p "$WORK"
DATA="$WORK/data"
export WEFT_DATA_DIR="$DATA"
unset WEFT_DATABASE_URL
if [ "$KEEP" != 1 ]; then
  rm -rf "$DATA"
  if [ "$BACKEND" = postgres ]; then
    psql "$PG_URL_BASE/postgres" -qc "DROP DATABASE IF EXISTS $PG_DB" >/dev/null
    psql "$PG_URL_BASE/postgres" -qc "CREATE DATABASE $PG_DB" >/dev/null
  fi
fi
mkdir -p "$DATA"
[ "$BACKEND" = postgres ] && export WEFT_DATABASE_URL="$PG_URL_BASE/$PG_DB"

write_curator_yaml "$WORK/user.yaml" "$USER_NAME"
"$WEFT_BIN" usersync "$WORK/user.yaml" >/dev/null

RUST_LOG=warn "$WEFT_BIN" serve --listen "127.0.0.1:$PORT" >"$WORK/serve.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do curl -sf -o /dev/null "$BASE/_version" && break; sleep 0.1; done
curl -sf -o /dev/null "$BASE/_version" || die "weft did not start; see $WORK/serve.log"
TOKEN=$("$WEFT_BIN" token create --user "$USER_NAME" --base-url "$BASE" --expires-in 86400)

SEED_LINE="(kept from an earlier run)"
INDEX_SECS="(kept)"
if [ "$KEEP" != 1 ]; then
  log "seeding $RECORDS records"
  SEED_LINE=$(python3 "$HERE/mds_seed.py" "$BASE" "$TOKEN" "$RECORDS" "$WORK")
  log "$SEED_LINE"
  start=$(date +%s.%N)
  curl -sf -X POST -H "Authorization: bearer $TOKEN" "$BASE/mds-admin/metadata_index/$INDEXED" >/dev/null \
    || die "creating the index on $INDEXED failed"
  end=$(date +%s.%N)
  INDEX_SECS=$(python3 -c "print(f'{$end - $start:.1f} s')")
  log "index on $INDEXED: $INDEX_SECS"
fi
RSS_SEEDED=$(awk '/VmRSS/{printf "%.0f MiB", $2/1024}' /proc/$PID/status)

# Sanity: a query returns 100 records with their data.
sample=$(head -1 "$WORK/codes.txt")
n=$(curl -sf "$BASE/mds/metadata?$INDEXED=$sample&limit=100&data=true" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
[ "$n" = 100 ] || die "the query for $sample returned $n records, not 100"


echo
echo "## weft metadata service benchmark ($BACKEND, $(date -u +%Y-%m-%dT%H:%MZ), git $(git -C "$ROOT" rev-parse --short HEAD), load $(cut -d' ' -f1-3 /proc/loadavg))"
echo
echo "$RECORDS records of about 1 KB; seeding: $SEED_LINE; index on $INDEXED: $INDEX_SECS; server RSS after seeding: $RSS_SEEDED"
echo
echo "| workload | c | req/s | p50 ms | p99 ms | share of /_version | non-2xx |"
echo "|---|---|---|---|---|---|---|"
for c in $CONCURRENCY; do
  read -r v_rps v_p50 v_p99 v_err < <(run_wrk version "$c" static.lua "$BASE/_version")
  read -r g_rps g_p50 g_p99 g_err < <(run_wrk get "$c" random_get.lua "$BASE" \
    KEYS_FILE="$WORK/guids.txt" PATH_PREFIX=/mds/metadata/)
  read -r q_rps q_p50 q_p99 q_err < <(run_wrk query "$c" random_get.lua "$BASE" \
    KEYS_FILE="$WORK/codes.txt" PATH_PREFIX="/mds/metadata?$INDEXED=" PATH_SUFFIX="&limit=100&data=true")
  echo "| GET /_version | $c | ${v_rps%.*} | $(ms "$v_p50") | $(ms "$v_p99") | 100% | $v_err |"
  echo "| GET /mds/metadata/{guid} | $c | ${g_rps%.*} | $(ms "$g_p50") | $(ms "$g_p99") | $(pct "$g_rps" "$v_rps") | $g_err |"
  echo "| query, 100 records with data | $c | ${q_rps%.*} | $(ms "$q_p50") | $(ms "$q_p99") | $(pct "$q_rps" "$v_rps") | $q_err |"
done
q1=$(run_wrk query1 1 random_get.lua "$BASE" KEYS_FILE="$WORK/codes.txt" \
  PATH_PREFIX="/mds/metadata?$INDEXED=" PATH_SUFFIX="&limit=100&data=true")
echo
echo "Query of 100 records with data, one client: p50 $(ms "$(cut -f2 <<<"$q1")") ms, p99 $(ms "$(cut -f3 <<<"$q1")") ms"
echo "Server RSS after the runs: $(awk '/VmRSS/{printf "%.0f MiB", $2/1024}' /proc/$PID/status), peak $(awk '/VmHWM/{printf "%.0f MiB", $2/1024}' /proc/$PID/status)"
