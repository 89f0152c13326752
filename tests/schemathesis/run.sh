#!/usr/bin/env bash
# Property-based API conformance: schemathesis generates requests from the OpenAPI document
# weft serves (/openapi.json) and checks every answer against it.
#
#   tests/schemathesis/run.sh [sqlite|postgres]
#
# Checks: not_a_server_error (no 5xx), status_code_conformance (every status is documented
# for its operation), response_schema_conformance (every JSON body matches its schema).
# Requests carry an admin's bearer token (the policy engine's bootstrap admin), so
# authenticated operations get past the credential checks.
#
# Builds nothing: the binary comes from $WEFT_BIN (default $CARGO_TARGET_DIR/release/weft).
# The venv lives in $WEFT_CLIENT_VENVS (default /var/tmp/weft-venvs), reused when its
# pinned spec matches. Bounded: WEFT_ST_MAX_EXAMPLES (default 10) examples per operation,
# a fixed seed (WEFT_ST_SEED, default 20240614), at most WEFT_ST_MAX_TIME seconds (default
# 240). Other knobs: WEFT_CLIENT_PYTHON, PG_HOST/PG_PORT/PG_USER, WEFT_ST_KEEP=1 keeps the
# temp dir (weft log, reports). WEFT_ST_HUB=1 turns the data hub on: one commons, this server
# itself, pulled every 5 s, with one discovery study seeded, so the aggregate routes answer
# with data (without it they answer 404, as aggregate MDS does when it is off).
set -uo pipefail

MODE=${1:-sqlite}
case "$MODE" in
  sqlite|postgres) ;;
  *) echo "usage: $0 [sqlite|postgres]" >&2; exit 2 ;;
esac

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WEFT_BIN=${WEFT_BIN:-${CARGO_TARGET_DIR:-/var/tmp/weft-target}/release/weft}
VENV_ROOT=${WEFT_CLIENT_VENVS:-/var/tmp/weft-venvs}
PG_HOST=${PG_HOST:-127.0.0.1}
PG_PORT=${PG_PORT:-5432}
PG_USER=${PG_USER:-postgres}
MAX_EXAMPLES=${WEFT_ST_MAX_EXAMPLES:-10}
SEED=${WEFT_ST_SEED:-20240614}
MAX_TIME=${WEFT_ST_MAX_TIME:-240}

ST_SPEC="schemathesis==4.32.5"
ST_VENV="$VENV_ROOT/schemathesis-4.32.5"

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'schemathesis/run.sh: %s\n' "$*" >&2; exit 1; }

find_python() {
  local c
  for c in "${WEFT_CLIENT_PYTHON:-}" "$HOME/.pyenv/versions/3.13.0/bin/python" python3.13 python3; do
    [ -n "$c" ] || continue
    if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
      command -v "$c"; return 0
    fi
  done
  return 1
}

PYTHON=$(find_python) || die "no Python >= 3.10 found (set WEFT_CLIENT_PYTHON)"
mkdir -p "$VENV_ROOT"
exec 9>"$VENV_ROOT/.lock"
flock 9
if ! { [ -x "$ST_VENV/bin/schemathesis" ] && [ "$(cat "$ST_VENV/.weft-spec" 2>/dev/null)" = "$ST_SPEC" ]; }; then
  log "creating venv $ST_VENV ($ST_SPEC)"
  rm -rf "$ST_VENV"
  "$PYTHON" -m venv "$ST_VENV" || die "venv"
  "$ST_VENV/bin/pip" install -q --disable-pip-version-check $ST_SPEC || die "pip install $ST_SPEC"
  echo "$ST_SPEC" > "$ST_VENV/.weft-spec"
fi
flock -u 9

[ -x "$WEFT_BIN" ] || die "weft binary not found at $WEFT_BIN (cargo build --release, or set WEFT_BIN)"

WORK=$(mktemp -d /tmp/weft-schemathesis.XXXXXX)
DATA="$WORK/data"
mkdir -p "$DATA"
WEFT_PID=""
PG_DB=""

cleanup() {
  if [ -n "$WEFT_PID" ] && kill -0 "$WEFT_PID" 2>/dev/null; then
    kill "$WEFT_PID" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$WEFT_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$WEFT_PID" 2>/dev/null
    wait "$WEFT_PID" 2>/dev/null
  fi
  if [ -n "$PG_DB" ]; then
    psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -qAt \
      -c "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >/dev/null 2>&1 \
      || echo "schemathesis/run.sh: could not drop database $PG_DB" >&2
  fi
  if [ "${WEFT_ST_KEEP:-0}" = 1 ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$MODE" = postgres ]; then
  PG_DB="weft_st_$(date +%s)_$$"
  psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -v ON_ERROR_STOP=1 -qAt \
    -c "CREATE DATABASE \"$PG_DB\"" || { PG_DB=""; die "could not create database via psql"; }
  export WEFT_DATABASE_URL="postgres://$PG_USER@$PG_HOST:$PG_PORT/$PG_DB"
else
  unset WEFT_DATABASE_URL
fi

ADMIN="schemathesis-admin"
printf '[authz]\nadmin_users = ["%s"]\n' "$ADMIN" > "$WORK/weft.toml"

# Graph submission on a real dictionary (gdcdictionary 1.2.0, fetched from PyPI); the admin
# may administer programs and projects and do everything in every project.
DICTIONARIES=$("$HERE/../dictionaries/fetch.sh") || die "could not fetch the test dictionaries"
printf '[dictionary]\nurl = "%s"\n' "$DICTIONARIES/gdcdictionary-1.2.0" >> "$WORK/weft.toml"
SHEEPDOG_YAML="authz:
  resources: [{name: mds_gateway}, {name: programs}, {name: services, subresources: [{name: sheepdog}]}]
  roles:
  - {id: mds, permissions: [{id: mds, action: {service: mds_gateway, method: access}}]}
  - {id: sheepdog, permissions: [{id: sheepdog, action: {service: sheepdog, method: '*'}}]}
  policies:
  - {id: mds, role_ids: [mds], resource_paths: [/mds_gateway]}
  - {id: sheepdog, role_ids: [sheepdog], resource_paths: [/programs, /services/sheepdog]}
users:
  $ADMIN: {policies: [mds, sheepdog]}
"
printf '%s' "$SHEEPDOG_YAML" > "$WORK/user.yaml"
"$WEFT_BIN" usersync "$WORK/user.yaml" --data-dir "$DATA" --config "$WORK/weft.toml" >"$WORK/usersync.log" 2>&1 \
  || { cat "$WORK/usersync.log" >&2; die "weft usersync failed"; }

PORT=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
if [ "${WEFT_ST_HUB:-0}" = 1 ]; then
  printf '[hub]\nsync_interval_secs = 5\nretry_min_secs = 1\n[hub.gen3_commons.self]\nmds_url = "%s"\ncommons_url = "127.0.0.1"\ndrs_prefixes = ["dg.ST00"]\n' \
    "$BASE" >> "$WORK/weft.toml"
  # the admin may write the study the hub pulls (the user.yaml above gives mds_gateway access)
fi
log "starting $WEFT_BIN on $BASE ($MODE)"
"$WEFT_BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$DATA" --base-url "$BASE" \
  --config "$WORK/weft.toml" >"$WORK/weft.log" 2>&1 &
WEFT_PID=$!

up=0
for _ in $(seq 300); do
  kill -0 "$WEFT_PID" 2>/dev/null || { tail -n 40 "$WORK/weft.log" >&2; die "weft exited during startup"; }
  if [ "$(curl -s -m 2 "$BASE/index/_status" 2>/dev/null)" = "Healthy" ]; then up=1; break; fi
  sleep 0.2
done
[ "$up" = 1 ] || { tail -n 40 "$WORK/weft.log" >&2; die "weft did not become healthy within 60 s"; }

TOKEN=$("$WEFT_BIN" token create --user "$ADMIN" --data-dir "$DATA" --base-url "$BASE" \
  --config "$WORK/weft.toml" 2>"$WORK/token.log") || { cat "$WORK/token.log" >&2; die "weft token create failed"; }

if [ "${WEFT_ST_HUB:-0}" = 1 ]; then
  curl -sf -o /dev/null -X POST -H "Authorization: Bearer $TOKEN" "$BASE/mds/metadata/st-study-1" \
    -d '{"_guid_type": "discovery_metadata", "gen3_discovery": {"study_name": "seeded", "tags": [{"category": "Program", "name": "ST"}]}}' \
    || die "could not seed the hub's study"
fi

# A program and a project, so the submission routes have something to work on.
curl -sf -o /dev/null -X POST -H "Authorization: Bearer $TOKEN" "$BASE/api/v0/submission/" \
  -d '{"type": "program", "name": "ST", "dbgap_accession_number": "phs-st"}' || die "could not create a program"
curl -sf -o /dev/null -X PUT -H "Authorization: Bearer $TOKEN" "$BASE/api/v0/submission/ST" \
  -d '{"type": "project", "code": "st", "name": "st", "dbgap_accession_number": "phs-st-1"}' || die "could not create a project"

log "schemathesis ($MODE): $MAX_EXAMPLES examples per operation, seed $SEED, at most ${MAX_TIME}s"
# Every documented operation is fuzzed (WEFT_ST_ARGS, word-split, narrows it, e.g.
# WEFT_ST_ARGS="--include-path-regex ^/authz"). The browser flows answer with redirects to other sites and HTML; they are documented but
# not fuzzed (the integration suite drives them with a real cookie-keeping client).
"$ST_VENV/bin/schemathesis" run "$BASE/openapi.json" \
  --checks not_a_server_error,status_code_conformance,response_schema_conformance \
  --max-examples "$MAX_EXAMPLES" --seed "$SEED" --max-time "$MAX_TIME" \
  --no-shrink --max-redirects 0 --request-timeout 10 \
  --workers 2 --suppress-health-check all --warnings off \
  --exclude-path-regex "^/user/(login|logout|oauth2/authorize)" \
  ${WEFT_ST_ARGS:-} \
  -H "Authorization: Bearer $TOKEN" \
  --report junit --report-dir "$WORK/reports" --no-color
RC=$?

if ! kill -0 "$WEFT_PID" 2>/dev/null; then
  tail -n 80 "$WORK/weft.log" >&2; die "weft died during the run"
fi
if grep -qi 'panic' "$WORK/weft.log"; then
  grep -i -A5 'panic' "$WORK/weft.log" | head -40 >&2; die "weft panicked during the run"
fi
[ "$RC" -eq 0 ] || { tail -n 30 "$WORK/weft.log" >&2; die "schemathesis found failures ($MODE)"; }
log "schemathesis ($MODE): clean"
