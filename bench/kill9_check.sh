#!/usr/bin/env bash
# Crash-safety check: every create the server acknowledged must survive kill -9.
#
#   bench/kill9_check.sh [sqlite|postgres]        (default: sqlite)
#
# 1. fresh data dir (and, for postgres, a fresh database), one index user
# 2. start `weft serve`, run the POST /index/index/ load with wrk (c=$CONC);
#    bench/lua/post_create.lua appends the did of every 200 response to
#    $WORK/acked-*.txt (line-buffered, written as soon as wrk reads the response)
# 3. after $LOAD_SECONDS: kill -9 the server, stop wrk
# 4. restart the server on the same data, GET every acknowledged did
#    (bench/verify_dids.py) and walk the listing to count all stored records
# Prints the counts; exit status 1 if any acknowledged did is missing.
#
# Knobs: LOAD_SECONDS=5 CONC=64 THREADS=2 PORT=18081 BENCH_WORK=/var/tmp/weft-bench
#        WEFT_BIN=$CARGO_TARGET_DIR/release/weft PG_URL_BASE=postgres://postgres@127.0.0.1:5432
#        PG_DB=weft_kill9 KEEP_DB=0
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BACKEND=${1:-sqlite}
LOAD_SECONDS=${LOAD_SECONDS:-5}
CONC=${CONC:-64}
THREADS=${THREADS:-2}
PORT=${PORT:-18081}
WORK=${BENCH_WORK:-/var/tmp/weft-bench}/kill9-$BACKEND
WEFT_BIN=${WEFT_BIN:-${CARGO_TARGET_DIR:-/var/tmp/weft-target}/release/weft}
PG_URL_BASE=${PG_URL_BASE:-postgres://postgres@127.0.0.1:5432}
PG_DB=${PG_DB:-weft_kill9}
KEEP_DB=${KEEP_DB:-0}
BASE=http://127.0.0.1:$PORT
export BENCH_LUA_DIR=$BENCH_DIR/lua
export RUST_LOG=${RUST_LOG:-warn}

log() { printf '[kill9 %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

case $BACKEND in
  sqlite) WEFT_ENV=(-u WEFT_DATABASE_URL) ;;
  postgres) WEFT_ENV=("WEFT_DATABASE_URL=$PG_URL_BASE/$PG_DB") ;;
  *) echo "usage: $0 [sqlite|postgres]" >&2; exit 2 ;;
esac
command -v wrk >/dev/null || die "wrk not found (apt-get update && apt-get install -y wrk)"
[ -x "$WEFT_BIN" ] || die "weft binary not found at $WEFT_BIN (build it, or set WEFT_BIN)"
if curl -s -o /dev/null "$BASE/" 2>/dev/null; then die "something already listens on port $PORT (set PORT)"; fi

SERVER_PID=
WRK_PID=
cleanup() {
  [ -n "$WRK_PID" ] && kill "$WRK_PID" 2>/dev/null || true
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

DATA=$WORK/data
ACKS=$WORK/acks
rm -rf "$WORK"
mkdir -p "$DATA" "$ACKS"
psql_admin() { psql -v ON_ERROR_STOP=1 -q -X -h 127.0.0.1 -U postgres -d postgres "$@"; }
if [ "$BACKEND" = postgres ]; then
  psql_admin -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)"
  psql_admin -c "CREATE DATABASE $PG_DB"
fi

echo kill9-pass | env "${WEFT_ENV[@]}" "$WEFT_BIN" index-user add kill9 --password-stdin --data-dir "$DATA" >"$WORK/user.log" 2>&1 ||
  { cat "$WORK/user.log" >&2; die "index-user add failed"; }

start_server() {
  env "${WEFT_ENV[@]}" "$WEFT_BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$DATA" >>"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  local i
  for i in $(seq 1 300); do
    curl -sf -o /dev/null "$BASE/_version" && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || die "server exited during start-up; see $WORK/server.log"
    sleep 0.2
  done
  die "server did not come up; see $WORK/server.log"
}

start_server
log "server pid $SERVER_PID ($BACKEND); POST load c=$CONC for ${LOAD_SECONDS}s, then kill -9"
AUTH="Basic $(printf 'kill9:kill9-pass' | base64 -w0)"
env ACK_DIR="$ACKS" BENCH_AUTH="$AUTH" RUN_TAG="$(($(date +%s) % 4294967296))" \
  wrk -t"$THREADS" -c"$CONC" -d"$((LOAD_SECONDS + 30))s" --timeout 10s -s "$BENCH_LUA_DIR/post_create.lua" "$BASE/index/index/" \
  >"$WORK/wrk.txt" 2>&1 &
WRK_PID=$!
sleep "$LOAD_SECONDS"
kill -0 "$WRK_PID" 2>/dev/null || { cat "$WORK/wrk.txt" >&2; die "wrk exited early"; }
kill -9 "$SERVER_PID"
{ wait "$SERVER_PID"; } 2>/dev/null || true
log "server killed with SIGKILL after ${LOAD_SECONDS}s of load"
SERVER_PID=
sleep 0.5
kill -INT "$WRK_PID" 2>/dev/null || true # wrk stops on SIGINT and prints its summary
wait "$WRK_PID" 2>/dev/null || true
WRK_PID=
RESPONSES=$(sed -n 's/^WRK_RESULT requests=\([0-9]*\).*/\1/p' "$WORK/wrk.txt")
STATUS_ERRS=$(sed -n 's/^WRK_RESULT.* err_status=\([0-9]*\).*/\1/p' "$WORK/wrk.txt")

start_server
log "server restarted (pid $SERVER_PID); verifying acknowledged dids"
set +e
VERIFY=$(python3 "$BENCH_DIR/verify_dids.py" --base "$BASE" "$ACKS"/acked-*.txt)
VERIFY_RC=$?
LIST=$(python3 "$BENCH_DIR/walk_list.py" --base "$BASE" --limit 1024 --max-seconds 600)
set -e
kv() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k { print $2 }'; }
ACKED=$(kv "$VERIFY" unique)
PRESENT=$(kv "$VERIFY" present)
MISSING=$(kv "$VERIFY" missing)
OTHER=$(kv "$VERIFY" other)
TOTAL=$(kv "$LIST" records)
kill "$SERVER_PID" 2>/dev/null || true
{ wait "$SERVER_PID"; } 2>/dev/null || true
SERVER_PID=
if [ "$BACKEND" = postgres ] && [ "$KEEP_DB" != 1 ]; then
  psql_admin -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" || true
fi

cat <<EOF
kill -9 crash-safety check ($BACKEND, c=$CONC, ${LOAD_SECONDS}s of POST load before SIGKILL)
  responses received by wrk:             ${RESPONSES:-?} (status >= 400: ${STATUS_ERRS:-?})
  acknowledged creates (200 + did):      ${ACKED:-?} (malformed acks: $(kv "$VERIFY" malformed))
  acknowledged and present after restart: ${PRESENT:-?}
  acknowledged but MISSING after restart: ${MISSING:-?}  (other answers: ${OTHER:-?})
  records in the store after restart:    ${TOTAL:-?} (listing complete=$(kv "$LIST" complete))
  stored but never acknowledged:         $(( ${TOTAL:-0} - ${PRESENT:-0} )) (in flight at the kill; allowed)
EOF
if [ "$VERIFY_RC" -ne 0 ] || [ "${ACKED:-0}" -eq 0 ]; then
  echo "RESULT: FAIL" $([ "${ACKED:-0}" -eq 0 ] && echo "(nothing was acknowledged)")
  exit 1
fi
echo "RESULT: PASS (all $ACKED acknowledged creates survived kill -9)"
