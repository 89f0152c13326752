#!/usr/bin/env bash
# weft's metadata service side by side with another one (Gen3's own metadata-service, given by
# URL) on the same records: a nested-field equality query on a path *without* an index,
#   GET {prefix}/metadata?gen3_discovery.project.name=Project%20N&data=true&limit=100
# (random N; each value matches 100 records spread over the whole GUID range, so every query
# scans the whole table), under wrk at each concurrency, against weft on each backend and then
# against the peer, in one run; prints req/s, p50, p99 and weft's rate over the peer's.
#
#   PEER_URL=http://127.0.0.1:18200 PEER_BASIC=bench:bench bench/mds_vs.sh
#
# Both are seeded with the same RECORDS records of bench/mds_seed.py (about 1 KB each) through
# their APIs: weft at /mds-admin/metadata with a curator's token; the peer with the same batch
# body at PEER_WRITE_PATH (Gen3's metadata-service: POST /metadata at its root) with HTTP
# basic auth PEER_BASIC (a login in its ADMIN_LOGINS). The peer is seeded only when its query
# finds nothing yet (PEER_RESEED=1 forces it; its database must be empty then). See
# bench/README.md for how the peer was set up. Without PEER_URL only weft is measured.
#
# Knobs: RECORDS (100000), BACKENDS ("sqlite postgres"), DURATION (15s), CONCURRENCY
# ("16 64"), THREADS (2), PORT (18096), BENCH_WORK (/var/tmp/weft-bench), WEFT_BIN,
# PG_URL_BASE/PG_DB (postgres://postgres@127.0.0.1:5432, weft_bench_mds_vs), PEER_URL,
# PEER_PREFIX (the peer's path before /metadata: ""), PEER_WRITE_PATH (/metadata),
# PEER_BASIC, PEER_RESEED, KEEP=1 (reuse weft's seeded data of a previous run).
# Results: stdout; raw wrk output in $BENCH_WORK/mds-vs/.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/weft-target}
WEFT_BIN=${WEFT_BIN:-$CARGO_TARGET_DIR/release/weft}
RECORDS=${RECORDS:-100000}
BACKENDS=${BACKENDS:-sqlite postgres}
DURATION=${DURATION:-15s}
CONCURRENCY=${CONCURRENCY:-16 64}
THREADS=${THREADS:-2}
PORT=${PORT:-18096}
ROOT_WORK=${BENCH_WORK:-/var/tmp/weft-bench}/mds-vs
PG_URL_BASE=${PG_URL_BASE:-postgres://postgres@127.0.0.1:5432}
PG_DB=${PG_DB:-weft_bench_mds_vs}
PEER_URL=${PEER_URL:-}
PEER_PREFIX=${PEER_PREFIX:-}
PEER_WRITE_PATH=${PEER_WRITE_PATH:-/metadata}
PEER_BASIC=${PEER_BASIC:-}
PEER_RESEED=${PEER_RESEED:-0}
KEEP=${KEEP:-0}
export BENCH_LUA_DIR="$HERE/lua"
BASE="http://127.0.0.1:$PORT"
USER_NAME=bench-curator@bench.org
FIELD=gen3_discovery.project.name
QUERY_SUFFIX="&data=true&limit=100"

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'mds_vs.sh: %s\n' "$*" >&2; exit 1; }
# shellcheck source=bench/wrk_lib.sh
. "$HERE/wrk_lib.sh"
command -v wrk >/dev/null || die "wrk not found"
[ -x "$WEFT_BIN" ] || die "no weft binary at $WEFT_BIN (cargo build --release)"
mkdir -p "$ROOT_WORK"

# The query values, URL-encoded: each matches the 100 records n with n % (RECORDS/100) = N.
NAMES="$ROOT_WORK/names.txt"
# wrk's key list wants keys of one length: the values with as many digits as the largest.
python3 -c "
n = max(1, $RECORDS // 100)
lo = 10 ** (len(str(n - 1)) - 1) if n > 10 else 0
for g in range(lo, n):
    print('Project%%20%d' % g)" >"$NAMES"
SAMPLE=$(sed -n 7p "$NAMES")

# count_and_guids URL: the number of records a query returned and their GUIDs' digest.
count_and_guids() {
  curl -sf "$1" | python3 -c '
import hashlib, json, sys
d = json.load(sys.stdin)
print(len(d), hashlib.sha256("\n".join(sorted(d)).encode()).hexdigest()[:12])'
}

# measure LABEL URL_PREFIX: a wrk run per concurrency; rows "LABEL c rps p50 p99 non2xx".
measure() {
  local label=$1 prefix=$2 c
  for c in $CONCURRENCY; do
    read -r rps p50 p99 err < <(run_wrk "$label" "$c" random_get.lua "$prefix" \
      KEYS_FILE="$NAMES" PATH_PREFIX="/metadata?$FIELD=" PATH_SUFFIX="$QUERY_SUFFIX")
    printf '%s %s %s %s %s %s\n' "$label" "$c" "$rps" "$p50" "$p99" "$err" >>"$ROOT_WORK/rows.txt"
  done
}

: >"$ROOT_WORK/rows.txt"
CHECKS=()
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null || true' EXIT

for backend in $BACKENDS; do
  WORK="$ROOT_WORK/weft-$backend"
  mkdir -p "$WORK"
  DATA="$WORK/data"
  export WEFT_DATA_DIR="$DATA"
  unset WEFT_DATABASE_URL
  if [ "$KEEP" != 1 ]; then
    rm -rf "$DATA"
    if [ "$backend" = postgres ]; then
      psql "$PG_URL_BASE/postgres" -qc "DROP DATABASE IF EXISTS $PG_DB" >/dev/null
      psql "$PG_URL_BASE/postgres" -qc "CREATE DATABASE $PG_DB" >/dev/null
    fi
  fi
  mkdir -p "$DATA"
  [ "$backend" = postgres ] && export WEFT_DATABASE_URL="$PG_URL_BASE/$PG_DB"
  write_curator_yaml "$WORK/user.yaml" "$USER_NAME"
  "$WEFT_BIN" usersync "$WORK/user.yaml" >/dev/null
  RUST_LOG=warn "$WEFT_BIN" serve --listen "127.0.0.1:$PORT" >"$WORK/serve.log" 2>&1 &
  PID=$!
  for _ in $(seq 1 600); do curl -sf -o /dev/null "$BASE/_version" && break; sleep 0.1; done
  curl -sf -o /dev/null "$BASE/_version" || die "weft did not start; see $WORK/serve.log"
  if [ "$KEEP" != 1 ]; then
    TOKEN=$("$WEFT_BIN" token create --user "$USER_NAME" --base-url "$BASE" --expires-in 86400)
    log "seeding weft ($backend) with $RECORDS records"
    log "$(python3 "$HERE/mds_seed.py" "$BASE" "$TOKEN" "$RECORDS" "$WORK")"
  fi
  CHECKS+=("weft $backend: $(count_and_guids "$BASE/mds/metadata?$FIELD=$SAMPLE$QUERY_SUFFIX")")
  log "measuring weft ($backend)"
  measure "weft-$backend" "$BASE/mds"
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
done

if [ -n "$PEER_URL" ]; then
  WORK="$ROOT_WORK/peer"
  mkdir -p "$WORK"
  PEER="$PEER_URL$PEER_PREFIX"
  curl -sf -o /dev/null "$PEER/metadata?limit=1" || die "no metadata service at $PEER"
  have=$(count_and_guids "$PEER/metadata?$FIELD=$SAMPLE$QUERY_SUFFIX" | cut -d' ' -f1)
  if [ "$PEER_RESEED" = 1 ] || [ "$have" = 0 ]; then
    [ -n "$PEER_BASIC" ] || die "PEER_BASIC (USER:PASS of the peer's ADMIN_LOGINS) is needed to seed it"
    log "seeding the peer with $RECORDS records"
    log "$(python3 "$HERE/mds_seed.py" "$PEER" - "$RECORDS" "$WORK" \
      --path "$PEER_WRITE_PATH" --basic "$PEER_BASIC")"
  fi
  CHECKS+=("peer: $(count_and_guids "$PEER/metadata?$FIELD=$SAMPLE$QUERY_SUFFIX")")
  WORK="$ROOT_WORK/peer"
  log "measuring the peer"
  measure peer "$PEER"
fi

echo
echo "## MDS unindexed nested-field query: weft vs ${PEER_URL:-(no peer)} ($(date -u +%Y-%m-%dT%H:%MZ), git $(git -C "$ROOT" rev-parse --short HEAD), load $(cut -d' ' -f1-3 /proc/loadavg))"
echo
echo "$RECORDS records of about 1 KB (bench/mds_seed.py); query \`/metadata?$FIELD=Project%20N$QUERY_SUFFIX\` (no index on the path); wrk $DURATION per row"
echo
echo "Same answer for \`$SAMPLE\` (records, digest of the sorted GUIDs): ${CHECKS[*]}"
echo
echo "| server | c | req/s | p50 ms | p99 ms | non-2xx | × peer |"
echo "|---|---|---|---|---|---|---|"
while read -r label c rps p50 p99 err; do
  ratio=-
  peer_rps=$(awk -v c="$c" '$1 == "peer" && $2 == c { print $3 }' "$ROOT_WORK/rows.txt")
  [ -n "$peer_rps" ] && [ "$label" != peer ] && ratio=$(python3 -c "print(f'{$rps/$peer_rps:.1f}x')")
  echo "| $label | $c | $(printf %.1f "$rps") | $(ms "$p50") | $(ms "$p99") | $err | $ratio |"
done <"$ROOT_WORK/rows.txt"
