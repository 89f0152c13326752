#!/usr/bin/env bash
# The explorer at scale (issue [4/6]): PROJECTS projects of CASES cases each, with a
# demographic and a diagnosis per case (3,000,000 entities, 1,000,000 case documents of 21
# facet fields at the defaults, gdcdictionary 1.2.0 and bench/explore-etlMapping.yaml)
# submitted through the sheepdog API while the explorer follows; then guppy's typical
# requests one at a time (bench/explore.py), with wrk the aggregation's throughput at
# CONCURRENCY as a share of GET /_version's in the same run, and a full rebuild of every
# document (`weft explore rebuild`).
#
#   bench/explore.sh [sqlite|postgres|both]      (default sqlite)
#
# Knobs: CASES (250000 per project), PROJECTS (4), CHUNK (1000), CONCURRENCY (16),
# DURATION (15s), PORT (18099), BENCH_WORK (/var/tmp/weft-bench), WEFT_BIN
# ($CARGO_TARGET_DIR/release/weft), PG_URL_BASE (postgres://postgres@127.0.0.1:5432).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/weft-target}
WEFT_BIN=${WEFT_BIN:-$CARGO_TARGET_DIR/release/weft}
CASES=${CASES:-250000}
PROJECTS=${PROJECTS:-4}
CHUNK=${CHUNK:-1000}
CONCURRENCY=${CONCURRENCY:-16}
DURATION=${DURATION:-15s}
THREADS=2
PORT=${PORT:-18099}
WORK_ROOT=${BENCH_WORK:-/var/tmp/weft-bench}/explore
PG_URL_BASE=${PG_URL_BASE:-postgres://postgres@127.0.0.1:5432}
PG_DB=weft_bench_explore
MODES=${1:-sqlite}
[ "$MODES" = both ] && MODES="sqlite postgres"
BASE="http://127.0.0.1:$PORT"
USER_NAME=bench-explorer@bench.org
export BENCH_LUA_DIR="$HERE/lua"
die() { echo "explore.sh: $*" >&2; exit 1; }
# shellcheck source=bench/wrk_lib.sh
source "$HERE/wrk_lib.sh"
# shellcheck source=bench/commons_lib.sh
source "$HERE/commons_lib.sh"
DICTS=$("$ROOT/tests/dictionaries/fetch.sh")
[ -x "$WEFT_BIN" ] || die "no weft binary at $WEFT_BIN"
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null || true' EXIT

for mode in $MODES; do
  export WEFT_EXPLORE__ETL_MAPPING="$HERE/explore-etlMapping.yaml"
  commons_up "$mode" guppy
  echo "## $mode: $PROJECTS projects of $CASES cases (git $(git -C "$ROOT" rev-parse --short HEAD), load $(cut -d' ' -f1-3 /proc/loadavg))"
  WEFT_PID=$PID AGG_BODY_FILE="$WORK/agg.json" python3 "$HERE/explore.py" "$BASE" "$TOKEN" "$CASES" "$PROJECTS" "$CHUNK"
  if command -v wrk >/dev/null; then
    IFS=$'\t' read -r v_rps _ v_p99 _ < <(run_wrk version "$CONCURRENCY" static.lua "$BASE/_version")
    IFS=$'\t' read -r g_rps _ g_p99 g_err < <(GQL_BODY_FILE="$WORK/agg.json" GQL_TOKEN="$TOKEN" \
      run_wrk aggregation "$CONCURRENCY" graphql.lua "$BASE/guppy/graphql")
    echo "c=$CONCURRENCY: aggregation $g_rps req/s (p99 $(ms "$g_p99") ms, non-2xx $g_err), GET /_version $v_rps req/s: $(pct "$g_rps" "$v_rps")"
  else
    echo "wrk not installed: no throughput run (apt-get install wrk)"
  fi
  echo "server RSS: peak $(awk '/VmHWM/{printf "%.0f MiB", $2/1024}' /proc/$PID/status)"
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
  echo "full rebuild (weft explore rebuild):"
  /usr/bin/time -f "  peak RSS %M KiB" "$WEFT_BIN" explore rebuild --quiet
done
