#!/usr/bin/env bash
# Instructions per request of weft's read paths, counted by valgrind's callgrind: a
# measure that other processes on the machine do not disturb (wall-clock throughput on
# the shared 2 cores does). See bench/README.md.
#
#   bench/instr.sh [sqlite|postgres]          (default: sqlite)
#
# Knobs (environment): N=2000 (requests per workload) LIST_PAGES=40 WARM=300 PORT=18181
#   RECORDS=1000000 SEED=20240601 BENCH_WORK=/var/tmp/weft-bench HASH_LIMIT=10
#   WEFT_BIN=$CARGO_TARGET_DIR/release/weft  PG_URL_BASE=postgres://postgres@127.0.0.1:5432
#   PG_DB=weft_bench  OUT=  (file to append the result lines to)
#   WORKLOADS="version did hash drs list"
#
# Uses the data the last `bench/run.sh` left in $BENCH_WORK (data-sqlite, or the
# PostgreSQL database when run with KEEP_DB=1); seeds it with `weft index import` when
# missing. For each workload: warm up with WARM requests, zero the counters, send N
# requests (one keep-alive client, keys in a fixed seeded order), dump, and report the
# server's instructions per request (per page for the listing). On PostgreSQL only weft's
# own instructions are counted, not the PostgreSQL backends'.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MODE=${1:-sqlite}
N=${N:-2000}
LIST_PAGES=${LIST_PAGES:-40}
WARM=${WARM:-300}
PORT=${PORT:-18181}
RECORDS=${RECORDS:-1000000}
SEED=${SEED:-20240601}
HASH_LIMIT=${HASH_LIMIT:-10}
WORK=${BENCH_WORK:-/var/tmp/weft-bench}
WEFT_BIN=${WEFT_BIN:-${CARGO_TARGET_DIR:-/var/tmp/weft-target}/release/weft}
PG_URL_BASE=${PG_URL_BASE:-postgres://postgres@127.0.0.1:5432}
PG_DB=${PG_DB:-weft_bench}
WORKLOADS=${WORKLOADS:-version did hash drs list}
OUT=${OUT:-}
BASE=http://127.0.0.1:$PORT
MAN_DIR=$WORK/manifest-$RECORDS-$SEED
DATA=$WORK/data-$MODE
export RUST_LOG=${RUST_LOG:-warn}

log() { printf '[instr %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
command -v valgrind >/dev/null || die "valgrind not found (apt-get install -y valgrind)"
[ -x "$WEFT_BIN" ] || die "weft binary not found at $WEFT_BIN"
[ -s "$MAN_DIR/dids.txt" ] || python3 "$BENCH_DIR/gen_manifest.py" --records "$RECORDS" --seed "$SEED" --out-dir "$MAN_DIR"

ENVS=(-u WEFT_DATABASE_URL)
[ "$MODE" = postgres ] && ENVS=("WEFT_DATABASE_URL=$PG_URL_BASE/$PG_DB")
if [ "$MODE" = sqlite ] && [ ! -d "$DATA" ]; then
  log "seeding $DATA"
  mkdir -p "$DATA"
  env "${ENVS[@]}" "$WEFT_BIN" index import "$MAN_DIR/manifest.tsv" --data-dir "$DATA" >/dev/null
fi

CG=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$CG"; }
trap cleanup EXIT
env "${ENVS[@]}" valgrind --tool=callgrind --callgrind-out-file="$CG/cg.%p" \
  "$WEFT_BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$DATA" >"$CG/server.log" 2>&1 &
PID=$!
for _ in $(seq 1 600); do
  curl -sf -o /dev/null "$BASE/_version" && break
  kill -0 "$PID" 2>/dev/null || { cat "$CG/server.log" >&2; die "server exited"; }
  sleep 0.5
done

# client ARGS...: the request mix of one workload
client() {
  local n=$1 w=$2
  case $w in
    did) python3 "$BENCH_DIR/instr_client.py" --base "$BASE" -n "$n" --keys "$MAN_DIR/dids.txt" --prefix /index/index/ ;;
    hash) python3 "$BENCH_DIR/instr_client.py" --base "$BASE" -n "$n" --keys "$MAN_DIR/md5s.txt" --prefix "/index/index/?hash=md5:" --suffix "&limit=$HASH_LIMIT" ;;
    drs) python3 "$BENCH_DIR/instr_client.py" --base "$BASE" -n "$n" --keys "$MAN_DIR/dids.txt" --prefix /ga4gh/drs/v1/objects/ ;;
    version) python3 "$BENCH_DIR/instr_client.py" --base "$BASE" -n "$n" --fixed /_version ;;
    list) python3 "$BENCH_DIR/instr_client.py" --base "$BASE" -n "$n" --list --limit 1024 ;;
  esac
}
total_ir() { # the "summary:" of the newest dump
  local f
  f=$(ls -t "$CG"/cg.* | head -1)
  awk '/^(summary|totals):/ { print $2; exit }' "$f"
}

REV=$(git -C "$BENCH_DIR/.." rev-parse --short HEAD 2>/dev/null || echo none)
for w in $WORKLOADS; do
  n=$N
  [ "$w" = list ] && n=$LIST_PAGES
  client "$WARM" "$w" >/dev/null 2>&1 || true
  callgrind_control -z "$PID" >/dev/null
  client "$n" "$w" || die "workload $w failed"
  callgrind_control -d "$PID" >/dev/null
  sleep 0.5
  ir=$(total_ir)
  per=$(awk -v a="$ir" -v n="$n" 'BEGIN { printf "%.0f", a / n }')
  line="INSTR backend=$MODE workload=$w requests=$n ir_total=$ir ir_per_request=$per git=$REV"
  echo "$line"
  [ -n "$OUT" ] && echo "$line" >>"$OUT"
done
