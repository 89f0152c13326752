#!/usr/bin/env bash
# Browser tests of weft's web portal: Playwright (npm playwright-core, no browser download)
# drives headless Debian Chromium (/usr/bin/chromium) against three weft servers, and axe-core
# checks accessibility. The tests are node:test files (tests/portal/*.test.mjs).
#
#   tests/portal/run.sh [TEST_FILE...]          (default: every tests/portal/*.test.mjs)
#
# Starts, each on a free loopback port with its own temp data dir (embedded SQLite):
#   commons A  gdcdictionary 1.2.0, the development login (login.mock_user), GUIDs dg.PTLA/...;
#              the mock user may read and write everything under /programs and upload files
#              (usersync of a generated user.yaml); seeded with program prog1, project proj1
#              (prog1-proj1), an experiment, 40 cases with demographics (gender, race,
#              ethnicity vary), two FASTQ files uploaded to local storage through fence's
#              upload flow and submitted as submitted_unaligned_reads, and 2 discovery studies;
#              workspaces (when the binary has [workspace]): a kind "stand-in" running
#              tests/portal/fake_notebook.py (answers like JupyterLab at /lw-workspace/proxy/)
#              and a "failing stand-in" that exits at once, a default pay model, checks every
#              second, and a real "JupyterLab" kind when $WEFT_TEST_JUPYTER names an
#              environment (tests/workspace/setup.sh); the mock user has jupyterhub access
#              on /workspace;
#   commons B  the same dictionary, GUIDs dg.PTLB/...; the mock user may only read; program
#              progb, project projb, 5 cases, 1 discovery study with other tags;
#   hub        [hub] pulling A and B every 2 s (and the development login); the run waits
#              until /mds/aggregate/metadata and the discovery search serve all 3 studies.
# Each gets [portal] name "Commons A" / "Commons B" / "Hub" when the binary has a portal.
# Seeding goes over HTTP (tests/portal/seed.py, Python 3 stdlib) with a bootstrap admin's
# token (authz.admin_users). seed.py writes the seed JSON (fields: tests/portal/README.md);
# the tests find it through WEFT_PORTAL_SEED. All servers are stopped on exit; their logs are
# printed when anything fails. Exits non-zero on any failure.
#
# Builds nothing: the weft binary comes from $WEFT_BIN (default
# $CARGO_TARGET_DIR/release/weft, else /var/tmp/weft-target/release/weft). Installs Chromium
# with apt-get when /usr/bin/chromium is missing, and runs `npm ci` when node_modules is
# missing or was not made from the current package-lock.json. Needs Node >= 20, python3, curl.
#
# Knobs: WEFT_PORTAL_KEEP=1 keeps the temp dir (logs, data dirs, seed.json, TSVs);
# WEFT_PORTAL_SCREENSHOTS=DIR where screenshot() writes (default docs/portal in the repo);
# WEFT_PORTAL_ETL_MAPPING=FILE the explorer's tube mapping on A and B (default
# tests/explore/gdc-etlMapping.yaml; empty: the mapping derived from the dictionary);
# WEFT_PORTAL_NODE_ARGS extra arguments for `node --test` (word-split, e.g.
# "--test-name-pattern=login"); WEFT_PORTAL_SEED_ONLY=1 seeds, prints the seed path and waits
# (servers up) until interrupted, for writing tests by hand.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
WEFT_BIN=${WEFT_BIN:-${CARGO_TARGET_DIR:-/var/tmp/weft-target}/release/weft}
CHROMIUM=/usr/bin/chromium
SCREENSHOTS=${WEFT_PORTAL_SCREENSHOTS:-$REPO/docs/portal}
ETL_MAPPING=${WEFT_PORTAL_ETL_MAPPING-$REPO/tests/explore/gdc-etlMapping.yaml}
MOCK_USER="portal-user@example.org"
ADMIN="portal-admin@example.org"

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'portal/run.sh: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- tools
if [ ! -x "$CHROMIUM" ]; then
  log "no $CHROMIUM: installing Debian's chromium"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo -n"
  $SUDO apt-get install -y chromium >&2 || { $SUDO apt-get update >&2 && $SUDO apt-get install -y chromium >&2; } \
    || die "could not install chromium with apt-get (install it: apt-get install -y chromium)"
  [ -x "$CHROMIUM" ] || die "apt-get installed chromium, but $CHROMIUM is still missing"
fi
command -v node >/dev/null || die "node not found (Node >= 20 is needed)"
node -e 'process.exit(Number(process.versions.node.split(".")[0]) < 20 ? 1 : 0)' || die "Node >= 20 is needed, not $(node --version)"
command -v python3 >/dev/null || die "python3 not found"

# node_modules: `npm ci` when missing or not made from the current package-lock.json
LOCK_SUM=$(sha256sum "$HERE/package-lock.json" | cut -d' ' -f1)
if [ "$(cat "$HERE/node_modules/.weft-lock-sha256" 2>/dev/null)" != "$LOCK_SUM" ] \
   || [ ! -f "$HERE/node_modules/playwright-core/package.json" ] \
   || [ ! -f "$HERE/node_modules/axe-core/axe.min.js" ]; then
  log "npm ci in $HERE"
  (cd "$HERE" && npm ci --no-audit --no-fund >&2) || die "npm ci failed"
  echo "$LOCK_SUM" > "$HERE/node_modules/.weft-lock-sha256"
fi

[ -x "$WEFT_BIN" ] || die "weft binary not found at $WEFT_BIN (build it with cargo build --release, or set WEFT_BIN)"
DICTIONARIES=$("$REPO/tests/dictionaries/fetch.sh") || die "could not fetch the test dictionaries"
DICTIONARY="$DICTIONARIES/gdcdictionary-1.2.0"
[ -d "$DICTIONARY" ] && [ -f "$DICTIONARY.json" ] || die "no $DICTIONARY (or its .json dump)"
if [ -n "$ETL_MAPPING" ]; then [ -f "$ETL_MAPPING" ] || die "no explorer mapping $ETL_MAPPING"; fi

if [ "$#" -gt 0 ]; then TESTS=("$@"); else TESTS=("$HERE"/*.test.mjs); fi
for i in "${!TESTS[@]}"; do
  [ -f "${TESTS[$i]}" ] || die "no test file ${TESTS[$i]}"
  TESTS[$i]=$(realpath "${TESTS[$i]}")   # node runs in $HERE
done

# ---------------------------------------------------------------- servers
WORK=$(mktemp -d /tmp/weft-portal.XXXXXX)
# Traverse-only for others: running as root, weft runs each workspace as a uid of its own,
# which must reach its home under A's data dir and the stand-in notebook's script.
chmod 711 "$WORK"
NAMES=(a b hub)
declare -A PID PORT URL
FAILED=0

stop_servers() {
  local n p
  for n in "${NAMES[@]}"; do
    p=${PID[$n]:-}
    [ -n "$p" ] && kill "$p" 2>/dev/null
  done
  for n in "${NAMES[@]}"; do
    p=${PID[$n]:-}
    [ -n "$p" ] || continue
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null
    wait "$p" 2>/dev/null
    PID[$n]=""
  done
}
server_logs() {
  local n
  for n in "${NAMES[@]}"; do
    [ -f "$WORK/$n/weft.log" ] || continue
    echo "---- weft log of $n (${URL[$n]:-}; last ${1:-60} lines) ----" >&2
    tail -n "${1:-60}" "$WORK/$n/weft.log" >&2
  done
  echo "----" >&2
}
# The stand-in notebooks A's weft started and left running (a test that failed before it
# terminated its workspace): the processes whose environment names A's workspaces directory.
stop_workspaces() {
  local dir f pid
  dir=$(realpath "$WORK/a/data/workspaces" 2>/dev/null) || return 0
  for f in /proc/[0-9]*/environ; do
    pid=${f#/proc/}; pid=${pid%/environ}
    if { tr '\0' '\n' < "$f"; } 2>/dev/null | grep -xF "WEFT_WORKSPACE_DIR=$dir" >/dev/null; then
      kill -9 "$pid" 2>/dev/null
    fi
  done
}
cleanup() {
  local rc=$?
  stop_servers
  stop_workspaces
  if [ "$rc" -ne 0 ] || [ "$FAILED" -ne 0 ]; then server_logs 60; fi
  if [ "${WEFT_PORTAL_KEEP:-0}" = 1 ]; then echo "portal/run.sh: kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

read -r PORT[a] PORT[b] PORT[hub] < <(python3 -c '
import socket
ss = [socket.socket() for _ in range(3)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])')
for n in "${NAMES[@]}"; do URL[$n]="http://127.0.0.1:${PORT[$n]}"; mkdir -p "$WORK/$n/data"; done

# user.yaml (fence's format) applied at every start (`usersync`): the bootstrap admin may also
# write discovery metadata and administer programs, projects and their data; the mock user
# gets USER_POLICIES.
user_yaml() { # FILE MOCK_USER_POLICIES
  cat > "$1" <<EOF
authz:
  anonymous_policies: []
  all_users_policies: []
  resources:
  - name: mds_gateway
  - name: data_file
  - name: workspace
  - name: programs
  - name: services
    subresources:
    - name: sheepdog
      subresources:
      - name: submission
        subresources: [{name: program}, {name: project}]
  roles:
  - id: mds_admin
    permissions: [{id: mds_access, action: {service: mds_gateway, method: access}}]
  - id: admin
    permissions: [{id: everything, action: {service: '*', method: '*'}}]
  - id: reader
    permissions: [{id: reader, action: {service: '*', method: read}}]
  - id: storage_reader
    permissions: [{id: storage_reader, action: {service: '*', method: read-storage}}]
  - id: creator
    permissions: [{id: creator, action: {service: '*', method: create}}]
  - id: updater
    permissions: [{id: updater, action: {service: '*', method: update}}]
  - id: deleter
    permissions: [{id: deleter, action: {service: '*', method: delete}}]
  - id: uploader
    permissions: [{id: uploader, action: {service: '*', method: upload}}]
  - id: storage_writer
    permissions: [{id: storage_writer, action: {service: '*', method: write-storage}}]
  - id: file_uploader
    permissions: [{id: file_upload, action: {service: fence, method: file_upload}}]
  - id: workspace_user
    permissions: [{id: workspace_access, action: {service: jupyterhub, method: access}}]
  policies:
  - {id: mds_admin, role_ids: [mds_admin], resource_paths: [/mds_gateway]}
  - {id: programs_admin, role_ids: [admin], resource_paths: [/programs, /services/sheepdog]}
  - id: programs_read
    role_ids: [reader, storage_reader]
    resource_paths: [/programs]
  - id: programs_read_write
    role_ids: [reader, storage_reader, creator, updater, deleter, uploader, storage_writer]
    resource_paths: [/programs]
  - {id: data_upload, role_ids: [file_uploader], resource_paths: [/data_file]}
  - {id: workspace, role_ids: [workspace_user], resource_paths: [/workspace]}
users:
  $ADMIN:
    policies: [mds_admin, programs_admin, data_upload]
  $MOCK_USER:
    policies: [$2]
EOF
}

# The portal's own section, when this binary has one (an older binary refuses the key).
HAS_PORTAL=0
# (grep without -q: an early exit would fail the pipeline through SIGPIPE and pipefail)
"$WEFT_BIN" config default 2>/dev/null | grep '^\[portal\]' >/dev/null && HAS_PORTAL=1
# Workspaces likewise ([workspace] in `weft config default`).
HAS_WORKSPACE=0
"$WEFT_BIN" config default 2>/dev/null | grep '^\[workspace\]' >/dev/null && HAS_WORKSPACE=1
declare -A TITLE=([a]="Commons A" [b]="Commons B" [hub]="Hub")
common_toml() { # NAME -> the keys every server shares
  printf 'usersync = "%s"\n\n[authz]\nadmin_users = ["%s"]\n\n[login]\nmock_user = "%s"\n\n' \
    "$WORK/$1/user.yaml" "$ADMIN" "$MOCK_USER"
  if [ "$HAS_PORTAL" = 1 ]; then
    printf '[portal]\nname = "%s"\ndescription = "%s of the portal browser tests."\n\n' "${TITLE[$1]}" "${TITLE[$1]}"
  fi
}
commons_toml() { # NAME GUID_PREFIX
  common_toml "$1"
  printf '[index]\nguid_prefix = "%s"\n\n[dictionary]\nurl = "%s"\n\n' "$2" "$DICTIONARY"
  if [ -n "$ETL_MAPPING" ]; then printf '[explore]\netl_mapping = "%s"\n\n' "$ETL_MAPPING"; fi
}

# A's workspaces: the stand-in notebook, copied where a workspace's own uid can read it.
workspace_toml() {
  install -m 644 "$HERE/fake_notebook.py" "$WORK/fake_notebook.py"
  printf '[workspace]\ncheck_interval_secs = 1\nlaunch_timeout_secs = 30\n'
  # a real JupyterLab too, when the workspace tests' environment is there (jupyterlab.test.mjs)
  if [ -x "${WEFT_TEST_JUPYTER:-/nonexistent}/bin/jupyter" ]; then
    printf 'python_env = "%s"\n' "$WEFT_TEST_JUPYTER"
  fi
  printf '\n'
  printf '[workspace.default_pay_model]\nworkspace_type = "Trial Workspace"\nsoft_limit = 80.0\nhard_limit = 100.0\n\n'
  printf '[[workspace.kinds]]\nname = "stand-in"\ncommand = ["/usr/bin/python3", "%s", "{port}"]\n' "$WORK/fake_notebook.py"
  printf 'cpu_limit = "0.5"\nmemory_limit = "512Mi"\nidle_limit_secs = 3600\n\n'
  printf '[[workspace.kinds]]\nname = "failing stand-in"\n'
  printf 'command = ["/usr/bin/python3", "-c", "import sys; sys.exit(\x27the stand-in notebook failed on purpose\x27)"]\n\n'
  if [ -x "${WEFT_TEST_JUPYTER:-/nonexistent}/bin/jupyter" ]; then
    printf '[[workspace.kinds]]\nname = "JupyterLab"\n\n'
  fi
}

A_POLICIES="programs_read_write, data_upload"
[ "$HAS_WORKSPACE" = 1 ] && A_POLICIES="$A_POLICIES, workspace"
user_yaml "$WORK/a/user.yaml" "$A_POLICIES"
user_yaml "$WORK/b/user.yaml" "programs_read"
user_yaml "$WORK/hub/user.yaml" "programs_read"
{
  commons_toml a "dg.PTLA/"
  if [ "$HAS_WORKSPACE" = 1 ]; then workspace_toml; fi
} > "$WORK/a/weft.toml"
commons_toml b "dg.PTLB/" > "$WORK/b/weft.toml"
{
  common_toml hub
  printf '[hub]\nsync_interval_secs = 2\nretry_min_secs = 1\nrequest_timeout_secs = 10\n\n'
  printf '[hub.gen3_commons."Commons A"]\nmds_url = "%s"\ncommons_url = "127.0.0.1:%s"\ndrs_prefixes = ["dg.PTLA"]\n\n' "${URL[a]}" "${PORT[a]}"
  printf '[hub.gen3_commons."Commons B"]\nmds_url = "%s"\ncommons_url = "127.0.0.1:%s"\ndrs_prefixes = ["dg.PTLB"]\n' "${URL[b]}" "${PORT[b]}"
} > "$WORK/hub/weft.toml"

unset WEFT_DATABASE_URL
for n in "${NAMES[@]}"; do
  log "starting $n on ${URL[$n]} (data dir $WORK/$n/data)"
  "$WEFT_BIN" serve --listen "127.0.0.1:${PORT[$n]}" --data-dir "$WORK/$n/data" --base-url "${URL[$n]}" \
    --config "$WORK/$n/weft.toml" >"$WORK/$n/weft.log" 2>&1 &
  PID[$n]=$!
done
for n in "${NAMES[@]}"; do
  up=0
  for _ in $(seq 300); do
    kill -0 "${PID[$n]}" 2>/dev/null || die "weft $n exited during startup"
    if [ "$(curl -s -m 2 "${URL[$n]}/index/_status" 2>/dev/null)" = "Healthy" ]; then up=1; break; fi
    sleep 0.1
  done
  [ "$up" = 1 ] || die "weft $n did not answer Healthy on /index/_status within 30 s"
done
log "servers up: a ${URL[a]}, b ${URL[b]}, hub ${URL[hub]}"

declare -A TOKEN
for n in "${NAMES[@]}"; do
  TOKEN[$n]=$("$WEFT_BIN" token create --user "$ADMIN" --data-dir "$WORK/$n/data" --base-url "${URL[$n]}" \
    --config "$WORK/$n/weft.toml" 2>"$WORK/$n/token.log") || { cat "$WORK/$n/token.log" >&2; die "weft token create ($n) failed"; }
done

# ---------------------------------------------------------------- seed
python3 - "$WORK/plan.json" <<EOF || die "could not write the seeding plan"
import json, sys
server = lambda n, name, url, token: {"name": name, "url": url, "admin_token": token,
                                       "login": True, "data_dir": "$WORK/%s/data" % n}
json.dump({
    "a": server("a", "${TITLE[a]}", "${URL[a]}", "${TOKEN[a]}"),
    "b": server("b", "${TITLE[b]}", "${URL[b]}", "${TOKEN[b]}"),
    "hub": server("hub", "${TITLE[hub]}", "${URL[hub]}", "${TOKEN[hub]}"),
    "portal": bool($HAS_PORTAL),
    "workspace": bool($HAS_WORKSPACE),
    "mock_user": "$MOCK_USER", "admin_user": "$ADMIN",
    "dictionary": "$DICTIONARY", "dictionary_json": "$DICTIONARY.json",
    "etl_mapping": "$ETL_MAPPING", "screenshots": "$SCREENSHOTS", "work_dir": "$WORK",
    "hub_timeout": 60,
}, open(sys.argv[1], "w"), indent=2)
EOF
SEED="$WORK/seed.json"
SEED_START=$(date +%s)
python3 "$HERE/seed.py" "$WORK/plan.json" "$SEED" || { FAILED=1; die "seeding failed"; }
log "seeded in $(( $(date +%s) - SEED_START ))s: $SEED"

if [ "${WEFT_PORTAL_SEED_ONLY:-0}" = 1 ]; then
  echo "WEFT_PORTAL_SEED=$SEED"
  log "servers stay up until interrupted (Ctrl-C)"
  while :; do sleep 1; done
fi

# ---------------------------------------------------------------- tests
log "node --test: ${TESTS[*]#$REPO/}"
# shellcheck disable=SC2086
(cd "$HERE" && WEFT_PORTAL_SEED="$SEED" WEFT_PORTAL_SCREENSHOTS="$SCREENSHOTS" \
  node --test --test-reporter=spec --test-timeout=120000 ${WEFT_PORTAL_NODE_ARGS:-} "${TESTS[@]}")
RC=$?

for n in "${NAMES[@]}"; do
  if ! kill -0 "${PID[$n]}" 2>/dev/null; then
    echo "portal/run.sh: weft $n died during the tests" >&2; RC=1
  elif grep -qi 'panicked' "$WORK/$n/weft.log"; then
    grep -i -A5 'panicked' "$WORK/$n/weft.log" | head -40 >&2
    echo "portal/run.sh: weft $n panicked during the tests" >&2; RC=1
  fi
done
if [ "$RC" -ne 0 ]; then FAILED=1; die "browser tests failed"; fi
log "browser tests passed"
