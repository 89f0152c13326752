#!/usr/bin/env bash
# Real-client compatibility harness: drives a running weft with the unmodified
# Gen3 Python SDK (gen3.index.Gen3Index), the GA4GH DRS compliance suite and
# the arborist client gen3authz (against /authz).
#
#   tests/clients/run.sh [sqlite|postgres]
#
# Builds nothing: the weft binary comes from $WEFT_BIN (default
# $CARGO_TARGET_DIR/release/weft, else /var/tmp/weft-target/release/weft).
# Client venvs live outside the repo in $WEFT_CLIENT_VENVS (default
# /var/tmp/weft-venvs) and are reused when their pinned spec matches.
# Prints "N passed, M failed" last (pytest tests + compliance-suite cases;
# strict xfails, i.e. known incompatibilities, are in neither count but listed
# in the line before); exits non-zero on any failure.
#
# Other knobs: WEFT_CLIENT_PYTHON (a Python >= 3.13), WEFT_CLIENTS_KEEP=1 keeps
# the temp dir (weft log, data dir, junit*.xml, DRS report), PG_HOST/PG_PORT/
# PG_USER for postgres mode (default 127.0.0.1 / 5432 / postgres, trust auth).
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

# Pinned, verified client versions.  Bump the spec string to rebuild a venv.
GEN3_SPEC="gen3==5.0.0 pytest==9.2.0"
GEN3_VENV="$VENV_ROOT/gen3-5.0.0"
# drs-compliance-suite 1.0.3 as published needs: Werkzeug<3 (its Flask 2.2.0
# breaks on Werkzeug 3), jsonschema (used, not declared; 4.17.x keeps the
# RefResolver API it calls), and a module `supported_drs_versions` that the
# wheel lacks (added below).  It hard-pins pytest 7.1.2 / requests 2.28.1, hence
# its own venv.
DRS_SPEC="drs-compliance-suite==1.0.3 Werkzeug==2.3.8 jsonschema==4.17.3"
DRS_VENV="$VENV_ROOT/drs-1.0.3"
# gen3authz (arborist client; httpx-based, Python >= 3.13).  requests only for
# conftest.py's exchange recorder.
GEN3AUTHZ_SPEC="gen3authz==3.1.2 pytest==9.2.0 requests==2.34.2"
GEN3AUTHZ_VENV="$VENV_ROOT/gen3authz-3.1.2"

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'run.sh: %s\n' "$*" >&2; echo "0 passed, 1 failed"; exit 1; }

find_python() {
  local c
  for c in "${WEFT_CLIENT_PYTHON:-}" "$HOME/.pyenv/versions/3.13.0/bin/python" python3.13; do
    [ -n "$c" ] || continue
    if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; sys.exit(sys.version_info < (3, 13))' 2>/dev/null; then
      command -v "$c"; return 0
    fi
  done
  return 1
}

# ensure_venv DIR SPEC [post-install-function]
ensure_venv() {
  local dir=$1 spec=$2 post=${3:-}
  if [ -x "$dir/bin/python" ] && [ "$(cat "$dir/.weft-spec" 2>/dev/null)" = "$spec" ] \
     && "$dir/bin/python" -c 'import sys' 2>/dev/null; then
    return 0
  fi
  log "creating venv $dir ($spec)"
  rm -rf "$dir"
  "$PYTHON" -m venv "$dir" || return 1
  # shellcheck disable=SC2086
  "$dir/bin/pip" install -q --disable-pip-version-check $spec || return 1
  if [ -n "$post" ]; then "$post" "$dir" || return 1; fi
  echo "$spec" > "$dir/.weft-spec"
}

drs_glue() {
  # install glue, not project code: the module the 1.0.3 wheel imports but lacks
  local sp
  sp=$("$1/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') || return 1
  printf 'SUPPORTED_DRS_VERSIONS = ["1.2.0"]\n' > "$sp/supported_drs_versions.py"
  (cd "$(mktemp -d)" && "$1/bin/drs-compliance-suite" --help >/dev/null) || return 1
}

# ---------------------------------------------------------------- venvs
PYTHON=$(find_python) || die "no Python >= 3.13 found (set WEFT_CLIENT_PYTHON)"
mkdir -p "$VENV_ROOT"
exec 9>"$VENV_ROOT/.lock"
flock 9
ensure_venv "$GEN3_VENV" "$GEN3_SPEC" || die "could not prepare $GEN3_VENV"
ensure_venv "$DRS_VENV" "$DRS_SPEC" drs_glue || die "could not prepare $DRS_VENV"
ensure_venv "$GEN3AUTHZ_VENV" "$GEN3AUTHZ_SPEC" || die "could not prepare $GEN3AUTHZ_VENV"
flock -u 9

[ -x "$WEFT_BIN" ] || die "weft binary not found at $WEFT_BIN (build it with cargo build --release, or set WEFT_BIN)"

# ---------------------------------------------------------------- weft
WORK=$(mktemp -d /tmp/weft-clients.XXXXXX)
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
      || echo "run.sh: could not drop database $PG_DB" >&2
  fi
  if [ "${WEFT_CLIENTS_KEEP:-0}" = 1 ]; then
    echo "run.sh: kept $WORK" >&2
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$MODE" = postgres ]; then
  PG_DB="weft_clients_$(date +%s)_$$"
  psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -v ON_ERROR_STOP=1 -qAt \
    -c "CREATE DATABASE \"$PG_DB\"" || { PG_DB=""; die "could not create database via psql"; }
  export WEFT_DATABASE_URL="postgres://$PG_USER@$PG_HOST:$PG_PORT/$PG_DB"
  log "postgres database $PG_DB"
else
  unset WEFT_DATABASE_URL
fi

# The policy engine's bootstrap admin (the gen3authz tests administer /authz
# with its token).  A list cannot be given through WEFT_* variables (they are
# scalars), hence a config file.
AUTHZ_ADMIN="clients-authz-admin"
printf '[authz]\nadmin_users = ["%s"]\n' "$AUTHZ_ADMIN" > "$WORK/weft.toml"
# Graph submission runs on a real dictionary (gdcdictionary 1.2.0, fetched from PyPI).
DICTIONARIES=$("$HERE/../dictionaries/fetch.sh") || die "could not fetch the test dictionaries"
printf '[dictionary]\nurl = "%s"\n' "$DICTIONARIES/gdcdictionary-1.2.0" >> "$WORK/weft.toml"
# The explorer (guppy's API) on tube's mapping for that dictionary.
printf '[explore]\netl_mapping = "%s"\n' "$HERE/../explore/gdc-etlMapping.yaml" >> "$WORK/weft.toml"

PORT=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
log "starting $WEFT_BIN on $BASE ($MODE, data dir $DATA)"
"$WEFT_BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$DATA" --base-url "$BASE" \
  --config "$WORK/weft.toml" >"$WORK/weft.log" 2>&1 &
WEFT_PID=$!

weft_log_tail() { echo "---- weft log (last ${1:-40} lines) ----" >&2; tail -n "${1:-40}" "$WORK/weft.log" >&2; echo "----" >&2; }

up=0
for _ in $(seq 300); do
  if ! kill -0 "$WEFT_PID" 2>/dev/null; then weft_log_tail; die "weft exited during startup"; fi
  if [ "$(curl -s -m 2 "$BASE/index/_status" 2>/dev/null)" = "Healthy" ]; then up=1; break; fi
  sleep 0.2
done
[ "$up" = 1 ] || { weft_log_tail; die "weft did not answer Healthy on /index/_status within 60 s"; }

export WEFT_URL="$BASE"
export WEFT_INDEX_USER="clients-harness"
export WEFT_INDEX_PASSWORD="pw-$(date +%s%N)"
printf '%s\n' "$WEFT_INDEX_PASSWORD" | "$WEFT_BIN" index-user add "$WEFT_INDEX_USER" --password-stdin --data-dir "$DATA" \
  >"$WORK/index-user.log" 2>&1 || { cat "$WORK/index-user.log" >&2; die "weft index-user add failed"; }

export WEFT_AUTHZ_ADMIN_TOKEN
WEFT_AUTHZ_ADMIN_TOKEN=$("$WEFT_BIN" token create --user "$AUTHZ_ADMIN" --data-dir "$DATA" --base-url "$BASE" \
  --config "$WORK/weft.toml" 2>"$WORK/token.log") || { cat "$WORK/token.log" >&2; die "weft token create failed"; }
# for the gen3authz tests to mint tokens of other users
export WEFT_BIN
export WEFT_CLIENTS_DATA_DIR="$DATA"

# junit_counts FILE -> "passed failed xfailed" (skips other than expected
# failures count as neither; a missing or broken file is one failure)
junit_counts() {
  "$PYTHON" - "$1" <<'EOF'
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except Exception:
    print(0, 1, 0); sys.exit()
suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
t = sum(int(s.get("tests", 0)) for s in suites)
f = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
sk = sum(int(s.get("skipped", 0)) for s in suites)
xf = sum(1 for s in suites for k in s.iter("skipped") if k.get("type") == "pytest.xfail")
print(t - f - sk, f, xf)
EOF
}

# ---------------------------------------------------------------- gen3 SDK tests
export PYTHONDONTWRITEBYTECODE=1
log "gen3 SDK tests (pytest, $GEN3_VENV)"
(cd "$HERE" && GEN3SDK_MAX_RETRIES=1 "$GEN3_VENV/bin/python" -m pytest -p no:cacheprovider \
   -v -rfE --tb=short --junitxml "$WORK/junit.xml" test_gen3_index.py test_gen3_auth.py test_gen3_file.py test_gen3_metadata.py test_gen3_submission.py test_gen3_query.py)
PYTEST_RC=$?

read -r PY_PASSED PY_FAILED PY_XFAILED < <(junit_counts "$WORK/junit.xml")
if [ "$PYTEST_RC" -ne 0 ] && [ "$PY_FAILED" -eq 0 ]; then PY_FAILED=1; fi

# ---------------------------------------------------------------- DRS compliance suite
log "GA4GH DRS compliance suite ($DRS_VENV)"
KEEP_ARGS=()
[ "${WEFT_CLIENTS_KEEP:-0}" = 1 ] && KEEP_ARGS=(--keep "$WORK/drs-report.json")
(cd "$HERE" && "$GEN3_VENV/bin/python" drs_compliance.py \
   --suite "$DRS_VENV/bin/drs-compliance-suite" --counts-file "$WORK/drs.counts" "${KEEP_ARGS[@]}")
DRS_RC=$?
DRS_PASSED=0; DRS_FAILED=1
[ -s "$WORK/drs.counts" ] && read -r DRS_PASSED DRS_FAILED < "$WORK/drs.counts"
if [ "$DRS_RC" -ne 0 ] && [ "$DRS_FAILED" -eq 0 ]; then DRS_FAILED=1; fi

# ---------------------------------------------------------------- gen3authz (arborist API)
# Known incompatibilities are strict xfails in test_gen3authz.py: reported
# apart, not counted as passed, and an unexpected pass fails the run.
log "gen3authz tests (pytest, $GEN3AUTHZ_VENV)"
(cd "$HERE" && "$GEN3AUTHZ_VENV/bin/python" -m pytest -p no:cacheprovider \
   -v -rfEx --tb=short --junitxml "$WORK/junit-gen3authz.xml" test_gen3authz.py)
AUTHZ_RC=$?
read -r AUTHZ_PASSED AUTHZ_FAILED AUTHZ_XFAILED < <(junit_counts "$WORK/junit-gen3authz.xml")
if [ "$AUTHZ_RC" -ne 0 ] && [ "$AUTHZ_FAILED" -eq 0 ]; then AUTHZ_FAILED=1; fi

# ---------------------------------------------------------------- summary
if ! kill -0 "$WEFT_PID" 2>/dev/null; then
  weft_log_tail 80; echo "run.sh: weft died during the tests" >&2; DRS_FAILED=$((DRS_FAILED + 1))
elif grep -qi 'panic' "$WORK/weft.log"; then
  grep -i -A5 'panic' "$WORK/weft.log" | head -40 >&2
fi

PASSED=$((PY_PASSED + DRS_PASSED + AUTHZ_PASSED))
FAILED=$((PY_FAILED + DRS_FAILED + AUTHZ_FAILED))
echo "client harness ($MODE): gen3 SDK $PY_PASSED passed / $PY_FAILED failed; DRS compliance cases $DRS_PASSED passed / $DRS_FAILED failed; gen3authz $AUTHZ_PASSED passed / $AUTHZ_FAILED failed / $AUTHZ_XFAILED known incompatibilities (xfail)" >&2
if [ "$FAILED" -ne 0 ]; then weft_log_tail 30; fi
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
