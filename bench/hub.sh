#!/usr/bin/env bash
# The data hub benchmark of issue [4/4]: two commons with STUDIES/2 discovery studies each
# (default 200,000 in all, about 1 KB each, seeded through their MDS APIs with
# bench/mds_seed.py), a hub configured with both; then
#   1. `weft hub sync` of every study from the two commons (wall time, target < 60 s);
#   2. the hub serving: GET /_version (the ceiling) and the discovery search
#      GET /mds/aggregate/search?q=WORD&limit=20 with random words of the studies' text
#      (target p99 < 50 ms), with wrk on the same 2 cores.
#
#   bench/hub.sh            (SQLite everywhere)
#   SYNC_ONLY=1 bench/hub.sh  (step 1 only: the sync's time and peak RSS; no wrk needed)
#
# Knobs: STUDIES (200000), SYNC_ONLY (0), DURATION (10s), CONCURRENCY ("16 64"), THREADS (2),
# PORT (18100: hub; +1, +2 the commons), BENCH_WORK (/var/tmp/weft-bench), WEFT_BIN.
# Results: stdout; raw output in $BENCH_WORK/hub/.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/weft-target}
WEFT_BIN=${WEFT_BIN:-$CARGO_TARGET_DIR/release/weft}
STUDIES=${STUDIES:-200000}
DURATION=${DURATION:-10s}
CONCURRENCY=${CONCURRENCY:-16 64}
THREADS=${THREADS:-2}
PORT=${PORT:-18100}
WORK=${BENCH_WORK:-/var/tmp/weft-bench}/hub
export BENCH_LUA_DIR="$HERE/lua"
HUB="http://127.0.0.1:$PORT"
USER_NAME=bench-curator@bench.org
unset WEFT_DATABASE_URL WEFT_DATA_DIR

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'hub.sh: %s\n' "$*" >&2; exit 1; }
# shellcheck source=bench/wrk_lib.sh
. "$HERE/wrk_lib.sh"
SYNC_ONLY=${SYNC_ONLY:-0}
[ "$SYNC_ONLY" = 1 ] || command -v wrk >/dev/null || die "wrk not found"
[ -x "$WEFT_BIN" ] || die "no weft binary at $WEFT_BIN (cargo build --release)"
rm -rf "$WORK"
mkdir -p "$WORK"
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT

write_curator_yaml "$WORK/user.yaml" "$USER_NAME"

wait_up() { for _ in $(seq 1 600); do curl -sf -o /dev/null "$1/_version" && return 0; sleep 0.1; done; die "$1 did not start"; }

half=$((STUDIES / 2))
for i in 1 2; do
  port=$((PORT + i)); dir="$WORK/commons$i"; mkdir -p "$dir"
  "$WEFT_BIN" usersync "$WORK/user.yaml" --data-dir "$dir" >/dev/null
  RUST_LOG=warn "$WEFT_BIN" serve --listen "127.0.0.1:$port" --data-dir "$dir" >"$dir/serve.log" 2>&1 &
  PIDS+=($!)
  wait_up "http://127.0.0.1:$port"
  token=$("$WEFT_BIN" token create --user "$USER_NAME" --data-dir "$dir" --base-url "http://127.0.0.1:$port")
  log "seeding commons $i with $half studies"
  python3 "$HERE/mds_seed.py" "http://127.0.0.1:$port" "$token" "$half" "$dir" --prefix "dg.BEN$i" >&2
done

cat >"$WORK/hub.toml" <<TOML
[hub]
sync_interval_secs = 86400
request_timeout_secs = 600
[hub.gen3_commons."Commons 1"]
mds_url = "http://127.0.0.1:$((PORT + 1))"
commons_url = "127.0.0.1:$((PORT + 1))"
drs_prefixes = ["dg.BEN1"]
[hub.gen3_commons."Commons 2"]
mds_url = "http://127.0.0.1:$((PORT + 2))"
commons_url = "127.0.0.1:$((PORT + 2))"
drs_prefixes = ["dg.BEN2"]
TOML

log "weft hub sync of $STUDIES studies"
start=$(date +%s.%N)
/usr/bin/time -v "$WEFT_BIN" hub sync --config "$WORK/hub.toml" --data-dir "$WORK/hub" \
  >"$WORK/sync.txt" 2>"$WORK/sync.time"
end=$(date +%s.%N)
SYNC_SECS=$(python3 -c "print(f'{$end - $start:.1f}')")
SYNC_RSS=$(awk -F': ' '/Maximum resident/{printf "%.0f MiB", $2/1024}' "$WORK/sync.time")
log "sync: $SYNC_SECS s ($(tr '\n' ';' <"$WORK/sync.txt"))"
if [ "$SYNC_ONLY" = 1 ]; then
  echo "$STUDIES studies from two commons (git $(git -C "$ROOT" rev-parse --short HEAD), load $(cut -d' ' -f1-3 /proc/loadavg)): \`weft hub sync\` $SYNC_SECS s, peak RSS $SYNC_RSS"
  exit 0
fi

start=$(date +%s.%N)
RUST_LOG=warn "$WEFT_BIN" serve --config "$WORK/hub.toml" --data-dir "$WORK/hub" --listen "127.0.0.1:$PORT" \
  >"$WORK/hub-serve.log" 2>&1 &
HUB_PID=$!
PIDS+=($HUB_PID)
wait_up "$HUB"
# The hub indexes its stored studies at start: wait until the search sees all of them.
for _ in $(seq 1 1200); do
  n=$(curl -sf "$HUB/mds/aggregate/search?limit=0" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])' 2>/dev/null || echo 0)
  [ "$n" = "$STUDIES" ] && break
  sleep 0.5
done
[ "$n" = "$STUDIES" ] || die "the hub's search holds $n studies, not $STUDIES"
end=$(date +%s.%N)
INDEX_SECS=$(python3 -c "print(f'{$end - $start:.1f}')")

# Query words from the seeder's vocabulary, padded with '+' (a space) to a fixed width.
python3 - "$WORK/words.txt" <<'PY'
import sys
words = ("genome cohort sequencing imaging clinical biospecimen longitudinal pediatric "
         "cancer cardiac variant expression consortium harmonized controlled open tissue "
         "serum methylation proteomic survey").split()
with open(sys.argv[1], "w") as f:
    for w in words:
        f.write(w.ljust(14, "+") + "\n")
PY


echo
echo "## weft data hub benchmark (SQLite, $(date -u +%Y-%m-%dT%H:%MZ), git $(git -C "$ROOT" rev-parse --short HEAD), load $(cut -d' ' -f1-3 /proc/loadavg))"
echo
echo "$STUDIES studies of about 1 KB from two commons. \`weft hub sync\`: **$SYNC_SECS s** (peak RSS $SYNC_RSS); hub start until its search held every study: $INDEX_SECS s."
echo
echo "| workload | c | req/s | p50 ms | p99 ms | share of /_version | non-2xx |"
echo "|---|---|---|---|---|---|---|"
for c in $CONCURRENCY; do
  read -r v_rps v_p50 v_p99 v_err < <(run_wrk version "$c" static.lua "$HUB/_version")
  read -r s_rps s_p50 s_p99 s_err < <(run_wrk search "$c" random_get.lua "$HUB" \
    KEYS_FILE="$WORK/words.txt" PATH_PREFIX="/mds/aggregate/search?q=" PATH_SUFFIX="&limit=20")
  echo "| GET /_version | $c | ${v_rps%.*} | $(ms "$v_p50") | $(ms "$v_p99") | 100% | $v_err |"
  echo "| search one word, 20 hits + facets | $c | ${s_rps%.*} | $(ms "$s_p50") | $(ms "$s_p99") | $(pct "$s_rps" "$v_rps") | $s_err |"
done
s1=$(run_wrk search1 1 random_get.lua "$HUB" KEYS_FILE="$WORK/words.txt" \
  PATH_PREFIX="/mds/aggregate/search?q=" PATH_SUFFIX="&limit=20")
echo
echo "Search, one client: p50 $(ms "$(cut -f2 <<<"$s1")") ms, p99 $(ms "$(cut -f3 <<<"$s1")") ms"
echo "Hub RSS after the runs: $(awk '/VmRSS/{printf "%.0f MiB", $2/1024}' /proc/$HUB_PID/status), peak $(awk '/VmHWM/{printf "%.0f MiB", $2/1024}' /proc/$HUB_PID/status)"
