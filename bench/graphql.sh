#!/usr/bin/env bash
# GraphQL over a simulated commons (issue [3/6]): PROJECTS projects of CASES cases each plus
# 1.5 samples and 1.5 aliquots per case (1,000,000 entities at the defaults, gdcdictionary
# 1.2.0) submitted through the sheepdog API; then the latency of peregrine's typical queries
# one at a time (bench/graphql.py), and, with wrk, the throughput of the page query at
# CONCURRENCY as a share of GET /_version's in the same run.
#
#   bench/graphql.sh [sqlite|postgres|both]      (default both)
#
# Knobs: CASES (62500 per project), PROJECTS (4), CHUNK (1000), CONCURRENCY (64),
# DURATION (15s), PORT (18098), BENCH_WORK (/var/tmp/weft-bench), WEFT_BIN
# ($CARGO_TARGET_DIR/release/weft), PG_URL_BASE (postgres://postgres@127.0.0.1:5432).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/weft-target}
WEFT_BIN=${WEFT_BIN:-$CARGO_TARGET_DIR/release/weft}
CASES=${CASES:-62500}
PROJECTS=${PROJECTS:-4}
CHUNK=${CHUNK:-1000}
CONCURRENCY=${CONCURRENCY:-64}
DURATION=${DURATION:-15s}
THREADS=2
PORT=${PORT:-18098}
WORK_ROOT=${BENCH_WORK:-/var/tmp/weft-bench}/graphql
PG_URL_BASE=${PG_URL_BASE:-postgres://postgres@127.0.0.1:5432}
PG_DB=weft_bench_graphql
MODES=${1:-both}
[ "$MODES" = both ] && MODES="sqlite postgres"
BASE="http://127.0.0.1:$PORT"
USER_NAME=bench-reader@bench.org
export BENCH_LUA_DIR="$HERE/lua"
die() { echo "graphql.sh: $*" >&2; exit 1; }
# shellcheck source=bench/wrk_lib.sh
source "$HERE/wrk_lib.sh"
# shellcheck source=bench/commons_lib.sh
source "$HERE/commons_lib.sh"
DICTS=$("$ROOT/tests/dictionaries/fetch.sh")
[ -x "$WEFT_BIN" ] || die "no weft binary at $WEFT_BIN"
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null || true' EXIT

for mode in $MODES; do
  commons_up "$mode" peregrine
  echo "## $mode: $PROJECTS projects of $CASES cases (git $(git -C "$ROOT" rev-parse --short HEAD), load $(cut -d' ' -f1-3 /proc/loadavg))"
  GQL_BODY_FILE="$WORK/page.json" python3 "$HERE/graphql.py" "$BASE" "$TOKEN" "$CASES" "$PROJECTS" "$CHUNK"
  if command -v wrk >/dev/null; then
    IFS=$'\t' read -r v_rps _ v_p99 _ < <(run_wrk version "$CONCURRENCY" static.lua "$BASE/_version")
    IFS=$'\t' read -r g_rps _ g_p99 g_err < <(GQL_BODY_FILE="$WORK/page.json" GQL_TOKEN="$TOKEN" \
      run_wrk page "$CONCURRENCY" graphql.lua "$BASE/api/v0/submission/graphql")
    echo "c=$CONCURRENCY: page query $g_rps req/s (p99 $(ms "$g_p99") ms, non-2xx $g_err), GET /_version $v_rps req/s: $(pct "$g_rps" "$v_rps")"
  else
    echo "wrk not installed: no throughput run (apt-get install wrk)"
  fi
  echo "server RSS: peak $(awk '/VmHWM/{printf "%.0f MiB", $2/1024}' /proc/$PID/status)"
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
done
