#!/usr/bin/env bash
# The whole test suite: every Rust test on SQLite, the same tests on PostgreSQL, then the
# real Gen3 clients (gen3 SDK, GA4GH DRS compliance suite) against a running weft, then the
# portal in headless Chromium, then schemathesis.
#
#   WEFT_TEST_DATABASE_URL   admin URL of the PostgreSQL leg
#                            (default postgres://postgres@127.0.0.1:5432/postgres)
#   WEFT_SKIP_CLIENTS=1      skip the Python client leg (it needs PyPI on first run)
#   WEFT_SKIP_SCHEMATHESIS=1 skip the schemathesis leg (it needs PyPI on first run)
#   WEFT_SKIP_PORTAL=1       skip the browser leg (it needs Debian's chromium and npm on first run)
#   WEFT_SKIP_EMULATORS=1    do not start the S3/Azure/GCS emulators (their tests then skip,
#                            or fail when CI is set)
#   WEFT_TOOLS_DIR           where the emulators are installed (default /var/tmp/weft-tools)
#   WEFT_TEST_DICTIONARIES   where tests/dictionaries/fetch.sh keeps the real dictionaries
#                            (default /var/tmp/weft-dictionaries)
#   WEFT_TEST_JUPYTER        where tests/workspace/setup.sh keeps the JupyterLab environment
#                            of the workspace tests (default /var/tmp/weft-jupyter)
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/weft-target}"
PG_URL="${WEFT_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

if [ "${WEFT_SKIP_EMULATORS:-0}" != "1" ]; then
  echo "==> object-store emulators (S3, Azure Blob, GCS) on loopback"
  # shellcheck source=tests/emulators.sh
  . tests/emulators.sh
  start_emulators
fi

echo "==> the real data dictionaries (gdcdictionary, gen3dictionary) from PyPI"
WEFT_TEST_DICTIONARIES="$(tests/dictionaries/fetch.sh)"
export WEFT_TEST_DICTIONARIES

echo "==> JupyterLab and the Gen3 SDK for the workspace tests (PyPI, Debian's python3)"
WEFT_TEST_JUPYTER="$(tests/workspace/setup.sh)"
export WEFT_TEST_JUPYTER

echo "==> tests on SQLite"
# weft-store-postgres holds only PostgreSQL tests: they run in the PostgreSQL leg (with CI
# set and no database they fail rather than skip).
env -u WEFT_TEST_DATABASE_URL cargo test --workspace --locked --exclude weft-store-postgres

echo "==> PostgreSQL at 127.0.0.1:5432"
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  fi
fi
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "FATAL: PostgreSQL is not reachable at 127.0.0.1:5432; the PostgreSQL leg cannot run" >&2
  exit 1
fi

echo "==> tests on PostgreSQL"
WEFT_TEST_DATABASE_URL="$PG_URL" cargo test --workspace --locked

if [ "${WEFT_SKIP_CLIENTS:-0}" != "1" ] && [ -x tests/clients/run.sh ]; then
  echo "==> real Gen3 clients against a running weft"
  cargo build --release --locked -p weft
  WEFT_BIN="$CARGO_TARGET_DIR/release/weft" tests/clients/run.sh sqlite
  WEFT_BIN="$CARGO_TARGET_DIR/release/weft" tests/clients/run.sh postgres
fi

if [ "${WEFT_SKIP_PORTAL:-0}" != "1" ]; then
  echo "==> the portal in headless Chromium (Playwright, axe-core): two commons and a hub"
  cargo build --release --locked -p weft
  # Screenshots go to a temp dir here; tests/portal/run.sh alone refreshes docs/portal/.
  shots="$(mktemp -d)"
  WEFT_BIN="$CARGO_TARGET_DIR/release/weft" WEFT_PORTAL_SCREENSHOTS="$shots" tests/portal/run.sh
  rm -rf "$shots"
fi

if [ "${WEFT_SKIP_SCHEMATHESIS:-0}" != "1" ]; then
  echo "==> schemathesis against the served OpenAPI document (every operation, both backends)"
  cargo build --release --locked -p weft
  WEFT_ST_HUB=1 WEFT_BIN="$CARGO_TARGET_DIR/release/weft" tests/schemathesis/run.sh sqlite
  WEFT_ST_HUB=1 WEFT_BIN="$CARGO_TARGET_DIR/release/weft" tests/schemathesis/run.sh postgres
fi
