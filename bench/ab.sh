#!/usr/bin/env bash
# One serving pass over data already imported, for back-to-back A/B runs of two binaries on a
# shared (noisy) machine: GET /_version (the ceiling), random GET by did and DRS object GET at
# c=64, /_version again, the listing walked in pages of 1,024, then weft's VmRSS/VmHWM.
#
#   bench/ab.sh BINARY LABEL          with WEFT_DATABASE_URL=postgres://…  or  DATA=<data dir>
#
# Knobs (environment): PORT=18390 DUR=8s (each wrk run) LISTSEC=30 (listing walk cap)
#   BENCH_WORK=/var/tmp/weft-bench RECORDS=1000000 SEED=20240601 (the manifest's dids.txt)
# Prints one line per measurement, prefixed with LABEL. The data must hold the bench manifest
# (`bench/run.sh` leaves it in $BENCH_WORK/data-sqlite, or KEEP_DB=1 for PostgreSQL).
set -euo pipefail

BIN=${1:?usage: bench/ab.sh BINARY LABEL}
LABEL=${2:?usage: bench/ab.sh BINARY LABEL}
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WORK=${BENCH_WORK:-/var/tmp/weft-bench}
PORT=${PORT:-18390}
U=http://127.0.0.1:$PORT
export BENCH_LUA_DIR=$BENCH_DIR/lua
export KEYS_FILE=$WORK/manifest-${RECORDS:-1000000}-${SEED:-20240601}/dids.txt
[ -f "$KEYS_FILE" ] || { echo "no $KEYS_FILE: run bench/run.sh first" >&2; exit 1; }

if [ -n "${WEFT_DATABASE_URL:-}" ]; then
  "$BIN" serve --listen "127.0.0.1:$PORT" >"/tmp/ab-$LABEL.log" 2>&1 &
else
  "$BIN" serve --listen "127.0.0.1:$PORT" --data-dir "${DATA:?DATA or WEFT_DATABASE_URL}" >"/tmp/ab-$LABEL.log" 2>&1 &
fi
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do curl -sf "$U/_version" >/dev/null && break; sleep 1; done

run() { # name, wrk script args, path
  wrk -t2 -c64 -d"${DUR:-8s}" --latency $2 "$U$3" |
    awk -v l="$LABEL $1" '/Requests\/sec/{r=$2} /^ +99%/{p=$2} END{printf "%s req/s=%s p99=%s\n", l, r, p}'
}
PATH_PREFIX=/index/index/ wrk -t2 -c64 -d5s -s "$BENCH_DIR/lua/random_get.lua" "$U" >/dev/null # warm-up
run version "" /_version
PATH_PREFIX=/index/index/ run did "-s $BENCH_DIR/lua/random_get.lua" ""
PATH_PREFIX=/ga4gh/drs/v1/objects/ run drs "-s $BENCH_DIR/lua/random_get.lua" ""
run version-again "" /_version
python3 "$BENCH_DIR/walk_list.py" --base "$U" --limit 1024 --max-seconds "${LISTSEC:-30}" |
  grep LIST_RESULT | sed "s/^/$LABEL /"
echo "$LABEL rss $(grep -E 'VmRSS|VmHWM' "/proc/$PID/status" | tr -s ' \t' ' ' | tr '\n' ' ')"
