#!/usr/bin/env bash
# Workspace launches (issue [6/6]): how long `POST /lw-workspace/launch` takes to a notebook
# that answers (status Running, then the proxy's /lw-workspace/proxy/api/status 200), and a
# terminate to no process left, on the local backend with a real JupyterLab. Gen3's own
# launch test allows 10 minutes (../shared/reference/gen3-what-to-beat.md).
#
#   bench/workspace.sh            (ROUNDS launches, one user after another)
#
# Knobs: ROUNDS (10), PORT (18099), BENCH_WORK (/var/tmp/weft-bench), WEFT_BIN
# ($CARGO_TARGET_DIR/release/weft), WEFT_TEST_JUPYTER (tests/workspace/setup.sh's
# environment, made when missing).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/weft-target}
WEFT_BIN=${WEFT_BIN:-$CARGO_TARGET_DIR/release/weft}
ROUNDS=${ROUNDS:-10}
PORT=${PORT:-18099}
WORK=${BENCH_WORK:-/var/tmp/weft-bench}/workspace
JUPYTER=$(WEFT_TEST_JUPYTER=${WEFT_TEST_JUPYTER:-/var/tmp/weft-jupyter} "$ROOT/tests/workspace/setup.sh")
[ -x "$WEFT_BIN" ] || { echo "workspace.sh: no weft binary at $WEFT_BIN" >&2; exit 1; }

rm -rf "$WORK" && mkdir -p "$WORK/data"
cat > "$WORK/user.yaml" <<YAML
authz:
  anonymous_policies: []
  all_users_policies: [workspace]
  resources: [{name: workspace}]
  roles: [{id: ws, permissions: [{id: ws, action: {service: jupyterhub, method: access}}]}]
  policies: [{id: workspace, role_ids: [ws], resource_paths: [/workspace]}]
YAML
cat > "$WORK/weft.toml" <<TOML
usersync = "$WORK/user.yaml"
[workspace]
python_env = "$JUPYTER"
check_interval_secs = 5
TOML
"$WEFT_BIN" serve --config "$WORK/weft.toml" --data-dir "$WORK/data" \
  --listen "127.0.0.1:$PORT" > "$WORK/serve.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/_status" >/dev/null && break; sleep 0.1; done
TOKEN=$("$WEFT_BIN" token create --user bench@example.org --config "$WORK/weft.toml" \
  --data-dir "$WORK/data" --base-url "http://127.0.0.1:$PORT")

BASE="http://127.0.0.1:$PORT" TOKEN="$TOKEN" ROUNDS="$ROUNDS" DIR="$WORK/data/workspaces" python3 - <<'PY'
import json, os, statistics, time, urllib.request

base, token, rounds = os.environ["BASE"], os.environ["TOKEN"], int(os.environ["ROUNDS"])
wsdir = os.path.realpath(os.environ["DIR"])

def call(method, path):
    req = urllib.request.Request(base + path, method=method,
                                 headers={"Authorization": "bearer " + token})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()

def processes():
    n = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            env = open(f"/proc/{pid}/environ", "rb").read()
        except OSError:
            continue
        if f"WEFT_WORKSPACE_DIR={wsdir}".encode() in env.split(b"\0"):
            n += 1
    return n

kind = json.loads(call("GET", "/lw-workspace/options")[1])[0]["id"]
running, answering, stopped = [], [], []
for _ in range(rounds):
    t0 = time.perf_counter()
    status, body = call("POST", f"/lw-workspace/launch?id={kind}")
    assert status == 200, body
    while json.loads(call("GET", "/lw-workspace/status")[1])["status"] != "Running":
        time.sleep(0.02)
    running.append(time.perf_counter() - t0)
    while call("GET", "/lw-workspace/proxy/api/status")[0] != 200:
        time.sleep(0.02)
    answering.append(time.perf_counter() - t0)
    t1 = time.perf_counter()
    assert call("POST", "/lw-workspace/terminate")[0] == 200
    while processes():
        time.sleep(0.02)
    stopped.append(time.perf_counter() - t1)

def show(name, xs):
    xs = sorted(xs)
    print(f"{name:<34} p50 {statistics.median(xs):6.2f} s   max {xs[-1]:6.2f} s   (n={len(xs)})")

show("launch -> status Running", running)
show("launch -> notebook answers (proxy)", answering)
show("terminate -> no process left", stopped)
PY
