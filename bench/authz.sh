#!/usr/bin/env bash
# The policy engine benchmark of issue [2/4], on the policy set it names: 100,000 resources,
# 10,000 users, 1,000 roles, 1,000 policies (plus one user holding all 1,000 policies).
#
#   bench/authz.sh [sqlite|postgres]
#
# Measures, in this order:
#   1. in process (cargo bench -p weft-authz --bench authz): decisions/s on one thread,
#      auth/mapping of the 1,000-policy user, usersync parse+apply in memory; it also writes
#      the policy set as a user.yaml;
#   2. `weft usersync` of that user.yaml into a fresh database (wall time, the whole CLI);
#   3. over HTTP with wrk (same 2 cores): GET /_version (the ceiling), POST /authz/auth/request
#      with user tokens in the body (half allowed, half denied), and GET /authz/auth/mapping of
#      the 1,000-policy user.
# Knobs: DURATION (10s), CONCURRENCY ("16 64"), THREADS (2), PORT (18090), BENCH_WORK
# (/var/tmp/weft-bench), WEFT_BIN, PG_URL_BASE/PG_DB (postgres://postgres@127.0.0.1:5432,
# weft_bench_authz). Results: stdout; raw output in $BENCH_WORK/authz/.
set -euo pipefail

BACKEND=${1:-sqlite}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/weft-target}
WEFT_BIN=${WEFT_BIN:-$CARGO_TARGET_DIR/release/weft}
DURATION=${DURATION:-10s}
CONCURRENCY=${CONCURRENCY:-16 64}
THREADS=${THREADS:-2}
PORT=${PORT:-18090}
WORK=${BENCH_WORK:-/var/tmp/weft-bench}/authz
PG_URL_BASE=${PG_URL_BASE:-postgres://postgres@127.0.0.1:5432}
PG_DB=${PG_DB:-weft_bench_authz}
export BENCH_LUA_DIR="$HERE/lua"
BASE="http://127.0.0.1:$PORT"
ADMIN=bench-admin@bench.org

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'authz.sh: %s\n' "$*" >&2; exit 1; }
command -v wrk >/dev/null || die "wrk not found"
[ -x "$WEFT_BIN" ] || die "no weft binary at $WEFT_BIN (cargo build --release)"

mkdir -p "$WORK"
DATA="$WORK/data-$BACKEND"
rm -rf "$DATA"
mkdir -p "$DATA"
export WEFT_DATA_DIR="$DATA"
unset WEFT_DATABASE_URL
if [ "$BACKEND" = postgres ]; then
  psql "$PG_URL_BASE/postgres" -qc "DROP DATABASE IF EXISTS $PG_DB" >/dev/null
  psql "$PG_URL_BASE/postgres" -qc "CREATE DATABASE $PG_DB" >/dev/null
  export WEFT_DATABASE_URL="$PG_URL_BASE/$PG_DB"
fi

log "1. in-process numbers (cargo bench -p weft-authz --bench authz)"
(cd "$ROOT" && cargo bench -q -p weft-authz --bench authz -- --write "$WORK/user.yaml") \
  | tee "$WORK/inprocess.txt"

log "2. weft usersync into a fresh $BACKEND database"
start=$(date +%s.%N)
"$WEFT_BIN" usersync "$WORK/user.yaml" >"$WORK/usersync.txt"
end=$(date +%s.%N)
SYNC_SECS=$(python3 -c "print(f'{$end - $start:.2f}')")
log "usersync: $SYNC_SECS s ($(tail -1 "$WORK/usersync.txt"))"

log "3. serving"
WEFT_AUTHZ__ADMIN_USERS="[\"$ADMIN\"]" RUST_LOG=warn "$WEFT_BIN" serve --listen "127.0.0.1:$PORT" \
  >"$WORK/serve.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do curl -sf -o /dev/null "$BASE/_version" && break; sleep 0.1; done
curl -sf -o /dev/null "$BASE/_version" || die "weft did not start; see $WORK/serve.log"

token() { "$WEFT_BIN" token create --user "$1" --base-url "$BASE"; }
# Request bodies: 20 users, each with their token; half the requests on a resource the
# user's mapping allows (with an allowed action), half on a random project.
: >"$WORK/bodies.jsonl"
for i in $(seq 0 19); do
  user="user$((i * 499))@bench.org"
  tok=$(token "$user")
  curl -sf -H "Authorization: bearer $tok" "$BASE/authz/auth/mapping" >"$WORK/mapping-$i.json"
  python3 - "$WORK/mapping-$i.json" "$tok" >>"$WORK/bodies.jsonl" <<'PY'
import json, random, sys
mapping = json.load(open(sys.argv[1]))
tok = sys.argv[2]
paths = sorted(mapping)
rnd = random.Random(sys.argv[1])
for _ in range(100):
    if paths and rnd.random() < 0.5:
        p = rnd.choice(paths)
        a = rnd.choice(mapping[p])
        svc = "svc0" if a["service"] == "*" else a["service"]
        meth = "read" if a["method"] == "*" else a["method"]
        res = p + ("/files/f%d" % rnd.randrange(1000) if rnd.random() < 0.5 else "")
    else:
        res = "/programs/p%d/projects/q%d" % (rnd.randrange(100), rnd.randrange(1000))
        svc, meth = "svc%d" % rnd.randrange(10), "read"
    print(json.dumps({"user": {"token": tok},
                      "requests": [{"resource": res, "action": {"service": svc, "method": meth}}]}))
PY
done
HEAVY=$(token heavy@bench.org)

# run_wrk LABEL CONC PATH [VAR=VALUE ...]
run_wrk() {
  local label=$1 conc=$2 path=$3; shift 3
  local out="$WORK/wrk-$(echo "$label" | tr ' /' '__')-c$conc.txt"
  local t=$THREADS; [ "$conc" -lt "$t" ] && t=$conc
  env "$@" wrk -t"$t" -c"$conc" -d"$DURATION" --timeout 30s --latency \
    -s "$BENCH_LUA_DIR/post_bodies.lua" "$BASE$path" >"$out" 2>&1 || { cat "$out" >&2; die "wrk failed"; }
  local line; line=$(grep WRK_RESULT "$out")
  local rps p50 p99
  rps=$(sed -E 's/.* rps=([0-9.]+).*/\1/' <<<"$line")
  p50=$(sed -E 's/.* p50_us=([0-9]+).*/\1/' <<<"$line")
  p99=$(sed -E 's/.* p99_us=([0-9]+).*/\1/' <<<"$line")
  printf '%s\t%s\t%s\t%s\n' "$rps" "$p50" "$p99" "$(grep -E 'Non-2xx' "$out" | tr -s ' ' || true)"
}

echo
echo "## weft policy engine benchmark ($BACKEND, $(date -u +%Y-%m-%dT%H:%MZ), git $(git -C "$ROOT" rev-parse --short HEAD))"
echo
sed -n '1,20p' "$WORK/inprocess.txt"
echo "weft usersync of the 10,000-user user.yaml into a fresh database: $SYNC_SECS s"
echo
echo "| workload | c | req/s | p50 ms | p99 ms | share of /_version |"
echo "|---|---|---|---|---|---|"
for c in $CONCURRENCY; do
  read -r v_rps v_p50 v_p99 _ < <(run_wrk "version" "$c" /_version BENCH_METHOD=GET)
  read -r a_rps a_p50 a_p99 a_err < <(run_wrk "auth request" "$c" /authz/auth/request BODIES_FILE="$WORK/bodies.jsonl")
  read -r m_rps m_p50 m_p99 m_err < <(run_wrk "mapping heavy" "$c" /authz/auth/mapping BENCH_METHOD=GET BENCH_AUTH="bearer $HEAVY")
  ms() { python3 -c "print(f'{$1/1000:.2f}')"; }
  pct() { python3 -c "print(f'{100*$1/$2:.0f}%')"; }
  echo "| GET /_version | $c | ${v_rps%.*} | $(ms "$v_p50") | $(ms "$v_p99") | 100% |"
  echo "| POST /authz/auth/request | $c | ${a_rps%.*} | $(ms "$a_p50") | $(ms "$a_p99") | $(pct "$a_rps" "$v_rps") | $a_err"
  echo "| GET /authz/auth/mapping (1,000 policies) | $c | ${m_rps%.*} | $(ms "$m_p50") | $(ms "$m_p99") | $(pct "$m_rps" "$v_rps") | $m_err"
done
m1=$(run_wrk "mapping heavy single" 1 /authz/auth/mapping BENCH_METHOD=GET BENCH_AUTH="bearer $HEAVY")
echo
echo "GET /authz/auth/mapping of the 1,000-policy user, one client: p50 $(python3 -c "print(f'{$(cut -f2 <<<"$m1")/1000:.2f}')") ms, p99 $(python3 -c "print(f'{$(cut -f3 <<<"$m1")/1000:.2f}')") ms"
echo "server RSS after the runs: $(awk '/VmRSS/{print $2/1024 " MiB"}' /proc/$PID/status), peak $(awk '/VmHWM/{print $2/1024 " MiB"}' /proc/$PID/status)"
