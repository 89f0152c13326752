#!/usr/bin/env bash
# Graph submission at scale (issue [2/6]): a project of CASES cases plus 1.5 samples and 1.5
# aliquots per case (gdcdictionary 1.2.0), submitted through the sheepdog API as TSV in
# chunks of CHUNK rows, exported as TSV, and deleted, on each backend; server RSS sampled
# during the export (bench/submission.py does the work).
#
#   bench/submission.sh [sqlite|postgres|both]      (default both)
#
# Knobs: CASES (100000), CHUNK (1000), PORT (18097), BENCH_WORK (/var/tmp/weft-bench),
# WEFT_BIN ($CARGO_TARGET_DIR/release/weft), PG_URL_BASE (postgres://postgres@127.0.0.1:5432),
# WEFT_TEST_DICTIONARIES (where tests/dictionaries/fetch.sh keeps the dictionaries).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/weft-target}
WEFT_BIN=${WEFT_BIN:-$CARGO_TARGET_DIR/release/weft}
CASES=${CASES:-100000}
CHUNK=${CHUNK:-1000}
PORT=${PORT:-18097}
WORK_ROOT=${BENCH_WORK:-/var/tmp/weft-bench}/submission
PG_URL_BASE=${PG_URL_BASE:-postgres://postgres@127.0.0.1:5432}
PG_DB=weft_bench_submission
MODES=${1:-both}
[ "$MODES" = both ] && MODES="sqlite postgres"
BASE="http://127.0.0.1:$PORT"
USER_NAME=bench-submitter@bench.org
DICTS=$("$ROOT/tests/dictionaries/fetch.sh")
[ -x "$WEFT_BIN" ] || { echo "no weft binary at $WEFT_BIN" >&2; exit 1; }
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null || true' EXIT

for mode in $MODES; do
  WORK="$WORK_ROOT/$mode"
  rm -rf "$WORK"; mkdir -p "$WORK/data"
  export WEFT_DATA_DIR="$WORK/data"
  unset WEFT_DATABASE_URL
  if [ "$mode" = postgres ]; then
    psql "$PG_URL_BASE/postgres" -qc "DROP DATABASE IF EXISTS $PG_DB" >/dev/null
    psql "$PG_URL_BASE/postgres" -qc "CREATE DATABASE $PG_DB" >/dev/null
    export WEFT_DATABASE_URL="$PG_URL_BASE/$PG_DB"
  fi
  export WEFT_DICTIONARY__URL="$DICTS/gdcdictionary-1.2.0"
  cat >"$WORK/user.yaml" <<YAML
authz:
  resources:
  - name: programs
    subresources:
    - name: BENCH
      subresources:
      - name: projects
        subresources:
        - name: P1
  - name: services
    subresources:
    - name: sheepdog
      subresources:
      - name: submission
        subresources:
        - name: program
        - name: project
  roles:
  - id: submitter
    permissions:
    - {id: c, action: {service: sheepdog, method: create}}
    - {id: r, action: {service: sheepdog, method: read}}
    - {id: u, action: {service: sheepdog, method: update}}
    - {id: d, action: {service: sheepdog, method: delete}}
  - id: admin
    permissions:
    - {id: a, action: {service: sheepdog, method: '*'}}
  policies:
  - {id: submit, role_ids: [submitter], resource_paths: [/programs/BENCH/projects/P1]}
  - {id: administer, role_ids: [admin], resource_paths: [/services/sheepdog/submission/program, /services/sheepdog/submission/project]}
users:
  $USER_NAME:
    policies: [submit, administer]
YAML
  "$WEFT_BIN" usersync "$WORK/user.yaml" >/dev/null
  RUST_LOG=warn "$WEFT_BIN" serve --listen "127.0.0.1:$PORT" >"$WORK/serve.log" 2>&1 &
  PID=$!
  for _ in $(seq 1 600); do curl -sf -o /dev/null "$BASE/_version" && break; sleep 0.1; done
  TOKEN=$("$WEFT_BIN" token create --user "$USER_NAME" --base-url "$BASE" --expires-in 86400)
  echo "## $mode: $CASES cases, $((CASES * 3 / 2)) samples, $((CASES * 3 / 2)) aliquots (git $(git -C "$ROOT" rev-parse --short HEAD), load $(cut -d' ' -f1-3 /proc/loadavg))"
  # RSS every 0.2 s while the script runs.
  ( while kill -0 "$PID" 2>/dev/null; do awk '/VmRSS/{print $2}' /proc/$PID/status; sleep 0.2; done ) >"$WORK/rss.txt" 2>/dev/null &
  SAMPLER=$!
  python3 "$HERE/submission.py" "$BASE" "$TOKEN" "$CASES" "$CHUNK"
  echo "server RSS: peak $(awk '/VmHWM/{printf "%.0f MiB", $2/1024}' /proc/$PID/status), now $(awk '/VmRSS/{printf "%.0f MiB", $2/1024}' /proc/$PID/status)"
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
  kill "$SAMPLER" 2>/dev/null || true
done
