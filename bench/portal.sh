#!/usr/bin/env bash
# The portal at scale (issue [5/6]): on the explorer benchmark's commons (PROJECTS projects
# of CASES cases, each with a demographic and a diagnosis: 1,000,000 case documents at the
# defaults), each page's server time one request at a time (bench/portal.py), then facet
# clicks in headless Chromium timed to the redrawn page (bench/portal_redraw.mjs).
#
#   bench/portal.sh [sqlite|postgres|both]      (default sqlite)
#
# Knobs: CASES (250000 per project), PROJECTS (4), CHUNK (1000), CLICKS (40), REPEAT (50),
# PORT (18098), BENCH_WORK (/var/tmp/weft-bench), WEFT_BIN ($CARGO_TARGET_DIR/release/weft),
# PG_URL_BASE (postgres://postgres@127.0.0.1:5432). Needs /usr/bin/chromium and
# tests/portal/node_modules (tests/portal/run.sh installs both).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/weft-target}
WEFT_BIN=${WEFT_BIN:-$CARGO_TARGET_DIR/release/weft}
CASES=${CASES:-250000}
PROJECTS=${PROJECTS:-4}
CHUNK=${CHUNK:-1000}
CLICKS=${CLICKS:-40}
PORT=${PORT:-18098}
WORK_ROOT=${BENCH_WORK:-/var/tmp/weft-bench}/portal
PG_URL_BASE=${PG_URL_BASE:-postgres://postgres@127.0.0.1:5432}
PG_DB=weft_bench_portal
MODES=${1:-sqlite}
[ "$MODES" = both ] && MODES="sqlite postgres"
BASE="http://127.0.0.1:$PORT"
USER_NAME=bench-portal@bench.org
die() { echo "portal.sh: $*" >&2; exit 1; }
# shellcheck source=bench/commons_lib.sh
source "$HERE/commons_lib.sh"
DICTS=$("$ROOT/tests/dictionaries/fetch.sh")
[ -x "$WEFT_BIN" ] || die "no weft binary at $WEFT_BIN"
[ -d "$ROOT/tests/portal/node_modules/playwright-core" ] || (cd "$ROOT/tests/portal" && npm ci --silent)
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null || true' EXIT

for mode in $MODES; do
  export WEFT_EXPLORE__ETL_MAPPING="$HERE/explore-etlMapping.yaml"
  export WEFT_LOGIN__MOCK_USER="$USER_NAME"
  commons_up "$mode" "'*'"
  echo "## $mode: $PROJECTS projects of $CASES cases (git $(git -C "$ROOT" rev-parse --short HEAD), load $(cut -d' ' -f1-3 /proc/loadavg))"
  python3 "$HERE/portal.py" "$BASE" "$TOKEN" "$CASES" "$PROJECTS" "$CHUNK"
  node "$HERE/portal_redraw.mjs" "$BASE" "$CLICKS"
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
done
