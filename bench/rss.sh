#!/usr/bin/env bash
# Server memory through a fixed sequence of loads on the SQLite store (see bench/README.md).
#
#   bench/rss.sh [ENV=VALUE ...]       (the arguments are passed to the server's environment)
#
# Knobs (environment): BENCH_WORK=/var/tmp/weft-bench RECORDS=1000000 SEED=20240601
#   WEFT_BIN=$CARGO_TARGET_DIR/release/weft PORT=18185 SECONDS_PER_LOAD=5 LIST_PAGES=300
#
# Copies $BENCH_WORK/data-sqlite (left by `bench/run.sh sqlite`) to a scratch directory,
# adds the bench index user, starts `weft serve` on it and runs, one after another: random
# GET by did at c=64, GET by hash at c=64, the listing walked for LIST_PAGES pages of 1,024,
# POST create at c=16, then at c=64. Prints VmRSS and the peak VmHWM after each.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WORK=${BENCH_WORK:-/var/tmp/weft-bench}
RECORDS=${RECORDS:-1000000}
SEED=${SEED:-20240601}
WEFT_BIN=${WEFT_BIN:-${CARGO_TARGET_DIR:-/var/tmp/weft-target}/release/weft}
PORT=${PORT:-18185}
SECS=${SECONDS_PER_LOAD:-5}
LIST_PAGES=${LIST_PAGES:-300}
MAN_DIR=$WORK/manifest-$RECORDS-$SEED
BASE=http://127.0.0.1:$PORT
export BENCH_LUA_DIR=$BENCH_DIR/lua RUST_LOG=${RUST_LOG:-warn}

[ -d "$WORK/data-sqlite" ] || { echo "no $WORK/data-sqlite: run bench/run.sh sqlite first" >&2; exit 1; }
DATA=$(mktemp -d "$WORK/rss.XXXXXX")
P=
cleanup() { [ -n "$P" ] && kill "$P" 2>/dev/null; rm -rf "$DATA"; }
trap cleanup EXIT
cp -r "$WORK/data-sqlite/." "$DATA/"
echo bench-pass | "$WEFT_BIN" index-user add bench --password-stdin --data-dir "$DATA" >/dev/null
env "$@" "$WEFT_BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$DATA" >"$DATA/server.log" 2>&1 &
P=$!
for _ in $(seq 1 150); do curl -sf -o /dev/null "$BASE/_version" && break; sleep 0.2; done
rss() { echo "RSS after=$1 VmRSS_kB=$(awk '/^VmRSS/ { print $2 }' /proc/$P/status) VmHWM_kB=$(awk '/^VmHWM/ { print $2 }' /proc/$P/status)"; }
get() { env "$@" wrk -t2 -c64 -d"${SECS}s" -s "$BENCH_LUA_DIR/random_get.lua" "$BASE/" >/dev/null; }
rss start
get KEYS_FILE="$MAN_DIR/dids.txt" PATH_PREFIX=/index/index/
rss get-did-c64
get KEYS_FILE="$MAN_DIR/md5s.txt" PATH_PREFIX="/index/index/?hash=md5:" PATH_SUFFIX="&limit=10"
rss get-hash-c64
python3 "$BENCH_DIR/instr_client.py" --base "$BASE" -n "$LIST_PAGES" --list
rss "list-$LIST_PAGES-pages"
AUTH="Basic $(printf bench:bench-pass | base64 -w0)"
for c in 16 64; do
  BENCH_AUTH="$AUTH" wrk -t2 -c$c -d"${SECS}s" -s "$BENCH_LUA_DIR/post_create.lua" "$BASE/index/index/" >/dev/null
  rss "post-c$c"
done
