#!/usr/bin/env bash
# Reproducible weft (indexd) benchmark.  See bench/README.md.
#
#   bench/run.sh [sqlite|postgres|both]        (default: sqlite)
#
# Knobs (environment): RECORDS=1000000 DURATION=10s THREADS=2 CONCURRENCY="16 64"
#   WARMUP=3s PORT=18080 SEED=20240601 HASH_LIMIT=10 LIST_MAX_SECONDS=300
#   BENCH_WORK=/var/tmp/weft-bench  WEFT_BIN=$CARGO_TARGET_DIR/release/weft
#   PG_URL_BASE=postgres://postgres@127.0.0.1:5432  PG_DB=weft_bench  KEEP_DB=0
#   RESULTS_DIR=bench/results  QUIET_CORES=0.3 QUIET_WAIT=300 BENCH_NICE=-10
#   RETRIES=2 RETRY_OTHER_CORES=0.35
#
# Prints a Markdown table per backend on stdout and writes it to
# $RESULTS_DIR/<date>-<backend>.md (suffix -r<RECORDS> when RECORDS != 1000000).
# Progress goes to stderr; raw wrk output and server logs stay in $BENCH_WORK/logs.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$BENCH_DIR")
MODE=${1:-sqlite}
RECORDS=${RECORDS:-1000000}
DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
CONCURRENCY=${CONCURRENCY:-16 64}
WARMUP=${WARMUP:-3s}
PORT=${PORT:-18080}
SEED=${SEED:-20240601}
HASH_LIMIT=${HASH_LIMIT:-10}
LIST_MAX_SECONDS=${LIST_MAX_SECONDS:-300}
WORK=${BENCH_WORK:-/var/tmp/weft-bench}
WEFT_BIN=${WEFT_BIN:-${CARGO_TARGET_DIR:-/var/tmp/weft-target}/release/weft}
PG_URL_BASE=${PG_URL_BASE:-postgres://postgres@127.0.0.1:5432}
PG_DB=${PG_DB:-weft_bench}
KEEP_DB=${KEEP_DB:-0}
RESULTS_DIR=${RESULTS_DIR:-$BENCH_DIR/results}
QUIET_CORES=${QUIET_CORES:-0.3}
QUIET_WAIT=${QUIET_WAIT:-300}
RETRIES=${RETRIES:-2}
RETRY_OTHER_CORES=${RETRY_OTHER_CORES:-0.35}
# weft, its import and wrk run at this niceness, so that a build elsewhere on the
# machine disturbs them less (negative values need root; 0 disables).
BENCH_NICE=${BENCH_NICE:--10}
NICE=(nice -n "$BENCH_NICE")
[ "$BENCH_NICE" = 0 ] && NICE=()
BENCH_USER=bench
BENCH_PASS=bench-pass
BASE=http://127.0.0.1:$PORT
export BENCH_LUA_DIR=$BENCH_DIR/lua
export RUST_LOG=${RUST_LOG:-warn}

case $MODE in
  sqlite | postgres) BACKENDS=$MODE ;;
  both) BACKENDS="sqlite postgres" ;;
  *) echo "usage: $0 [sqlite|postgres|both]" >&2; exit 2 ;;
esac

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

command -v wrk >/dev/null || die "wrk not found (apt-get update && apt-get install -y wrk)"
command -v python3 >/dev/null || die "python3 not found"
command -v curl >/dev/null || die "curl not found"
[ -x "$WEFT_BIN" ] || die "weft binary not found at $WEFT_BIN (build it, or set WEFT_BIN)"
if curl -s -o /dev/null "$BASE/" 2>/dev/null; then die "something already listens on port $PORT (set PORT)"; fi

mkdir -p "$WORK/logs" "$RESULTS_DIR"
LOGS=$WORK/logs
SERVER_PID=
SAMPLER_PID=
BACKEND=
DATA=
WEFT_ENV=()
METRICS_TOKEN=bench-metrics-token-$$

cleanup() {
  if [ -n "${SERVER_PID:-}" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    sleep 1
    kill -9 "$SERVER_PID" 2>/dev/null || true
  fi
  [ -n "${SAMPLER_PID:-}" ] && kill "$SAMPLER_PID" 2>/dev/null
  rm -f "$WORK/weft-under-test.$$"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- helpers
# Runs weft with the current backend's database environment.
weft() { env "${WEFT_ENV[@]}" "$WEFT_BIN" "$@"; }
set_backend_env() {
  if [ "$BACKEND" = postgres ]; then
    WEFT_ENV=("WEFT_DATABASE_URL=$PG_URL_BASE/$PG_DB")
  else
    WEFT_ENV=(-u WEFT_DATABASE_URL)
  fi
  # /metrics is served on the public port only to this token (metrics.token)
  WEFT_ENV+=("WEFT_METRICS__TOKEN=$METRICS_TOKEN")
}

psql_admin() { PGOPTIONS='-c client_min_messages=warning' psql -v ON_ERROR_STOP=1 -q -X -h 127.0.0.1 -U postgres -d postgres "$@"; }

start_server() {
  local logf=$LOGS/$BACKEND-server.log
  # env execs weft, so $! is the server's own pid (for RSS / CPU readings).
  "${NICE[@]}" env "${WEFT_ENV[@]}" "$WEFT_BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$DATA" >>"$logf" 2>&1 &
  SERVER_PID=$!
  local i
  for i in $(seq 1 300); do
    if curl -sf -o /dev/null "$BASE/_version"; then
      log "server up (pid $SERVER_PID) after ~$((i / 5))s"
      return 0
    fi
    kill -0 "$SERVER_PID" 2>/dev/null || die "server exited during start-up; see $logf"
    sleep 0.2
  done
  die "server did not answer /_version within 60s; see $logf"
}

stop_server() {
  [ -n "$SERVER_PID" ] || return 0
  kill "$SERVER_PID" 2>/dev/null || true
  local i
  for i in $(seq 1 50); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    log "server did not stop on SIGTERM within 10s; SIGKILL"
    kill -9 "$SERVER_PID" 2>/dev/null || true
  fi
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
}

proc_field() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
# ---- CPU accounting. The machine is shared (2 cores): besides weft and wrk, a build or
# test run of someone else would distort the numbers, so every row reports where the CPU
# went: weft (server), the PostgreSQL backends serving $PG_DB (db), and everything else
# except the load generator (other). wait_quiet delays a run while "other" is high.
HZ=$(getconf CLK_TCK)
# utime+stime of a process in clock ticks (0 if it is gone)
proc_cpu_ticks() {
  [ -n "${1:-}" ] || { echo 0; return; }
  awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0
}
# user+nice+system of the whole machine (irq, softirq and steal left out: the loopback
# network work they hold is not charged to any process)
machine_busy_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4; exit }' /proc/stat; }
# PostgreSQL backends come and go (pool turnover, the import's connections exit with it)
# and take their CPU counters along, so while a measurement runs db_sampler OUT STOPFILE
# polls the backends serving $PG_DB: an "R" line per round, then "pid ticks" lines.
db_sampler() {
  local p
  while :; do
    echo R
    for p in $(pgrep -f "^postgres: .* $PG_DB " 2>/dev/null); do
      echo "$p $(proc_cpu_ticks "$p")"
    done
    [ -e "$2" ] && break
    sleep 0.3
  done >"$1"
}
# CPU ticks the sampled backends used: backends seen in the first round count from
# their first reading, later ones from their start.
db_sampled_ticks() {
  awk '$1 == "R" { r++; next }
       !($1 in first) { first[$1] = $2; round[$1] = r }
       { if ($2 > max[$1]) max[$1] = $2 }
       END { for (p in max) s += max[p] - (round[p] == 1 ? first[p] : 0); print s + 0 }' "$1"
}

# cpu_mark [PID]: remember the CPU counters now
cpu_mark() {
  MARK_PID=${1-$SERVER_PID}
  MARK_T=$(date +%s.%N)
  MARK_M=$(machine_busy_ticks)
  MARK_S=$(proc_cpu_ticks "$MARK_PID")
  SAMPLER_PID=
  if [ "$BACKEND" = postgres ]; then
    rm -f "$WORK/db-sample.stop"
    db_sampler "$WORK/db-sample.txt" "$WORK/db-sample.stop" &
    SAMPLER_PID=$!
  fi
}
# cpu_since CLIENT_CPU_SECS: sets SRV_CORES DB_CORES OTHER_CORES (average cores since
# cpu_mark); CLIENT_CPU_SECS (the load generator's CPU time) is left out of OTHER_CORES.
cpu_since() {
  local m s d=0 t
  t=$(date +%s.%N)
  m=$(machine_busy_ticks)
  s=$(proc_cpu_ticks "$MARK_PID")
  if [ -n "$SAMPLER_PID" ]; then
    touch "$WORK/db-sample.stop"
    wait "$SAMPLER_PID" 2>/dev/null || true
    SAMPLER_PID=
    d=$(db_sampled_ticks "$WORK/db-sample.txt")
  fi
  read -r SRV_CORES DB_CORES OTHER_CORES < <(awk -v m=$((m - MARK_M)) -v s=$((s - MARK_S)) -v d="$d" \
    -v c="$1" -v t="$(awk -v a="$MARK_T" -v b="$t" 'BEGIN { print b - a }')" -v hz="$HZ" \
    'BEGIN { if (d < 0) d = 0; if (s < 0) s = 0; o = m / hz - s / hz - d / hz - c; if (o < 0) o = 0;
             printf "%.2f %.2f %.2f\n", s / hz / t, d / hz / t, o / t }')
}
# CPU seconds (user+sys) of the children, from a file written by bash's `times`
children_cpu() { awk 'NR == 2 { n = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); n += a[1] * 60 + a[2] } printf "%.3f", n }' "$1"; }
wait_quiet() {
  [ "$QUIET_WAIT" = 0 ] && return 0
  local start=$SECONDS warned=
  while :; do
    cpu_mark
    sleep 1
    cpu_since 0
    awk -v o="$OTHER_CORES" -v q="$QUIET_CORES" 'BEGIN { exit !(o <= q) }' && return 0
    if [ -z "$warned" ]; then
      log "other processes use $OTHER_CORES cores; waiting up to ${QUIET_WAIT}s for the machine to quiet down"
      warned=1
    fi
    if ((SECONDS - start >= QUIET_WAIT)); then
      log "!! machine still busy after ${QUIET_WAIT}s; measuring anyway (see the other-CPU column)"
      return 0
    fi
  done
}

# Appends one line to $ROWS:
# backend kind workload conc requests secs rps ok_per_s p50_us p99_us rss_kb errors srv_cores note db_cores other_cores
row_line() { local IFS=$'\t'; echo "$*"; }
row() { row_line "$@" >>"$ROWS"; }

kv() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k { print $2 }'; }

# run_wrk KIND LABEL CONC LUA URLPATH [VAR=VALUE ...]   (VARs are exported to wrk's Lua)
# A run during which other processes used more than RETRY_OTHER_CORES is repeated (up to
# RETRIES times); the least disturbed attempt is kept.
run_wrk() {
  local attempt best_row= best_other=
  for attempt in $(seq 0 "$RETRIES"); do
    wrk_once "$attempt" "$@"
    if [ -z "$best_row" ] || awk -v a="$OTHER_CORES" -v b="$best_other" 'BEGIN { exit !(a < b) }'; then
      best_row=$LAST_ROW
      best_other=$OTHER_CORES
    fi
    awk -v o="$OTHER_CORES" -v q="$RETRY_OTHER_CORES" 'BEGIN { exit !(o > q) }' || break
    [ "$attempt" -lt "$RETRIES" ] && log "  other processes used $OTHER_CORES cores during that run; repeating it"
  done
  printf '%s\n' "$best_row" >>"$ROWS"
}

wrk_once() {
  local attempt=$1 kind=$2 label=$3 conc=$4 lua=$5 path=$6
  shift 6
  local t=$THREADS
  [ "$conc" -lt "$t" ] && t=$conc
  local out=$LOGS/$BACKEND-$(tr -c 'A-Za-z0-9\n' _ <<<"$label")-c$conc-$attempt.txt
  wait_quiet
  cpu_mark
  (
    "${NICE[@]}" env "$@" wrk -t"$t" -c"$conc" -d"$DURATION" --timeout 30s --latency -s "$BENCH_LUA_DIR/$lua" "$BASE$path" >"$out" 2>&1
    times >"$out.times"
  ) || { cat "$out" >&2; die "wrk failed ($label c=$conc)"; }
  cpu_since "$(children_cpu "$out.times")"
  kill -0 "$SERVER_PID" 2>/dev/null || die "server died during $label c=$conc; see $LOGS/$BACKEND-server.log"
  local res
  res=$(grep '^WRK_RESULT' "$out") || { cat "$out" >&2; die "no WRK_RESULT in $out"; }
  local req dur rps p50 p99 errs status_errs secs ok_per_s rss
  req=$(kv "$res" requests)
  dur=$(kv "$res" duration_us)
  rps=$(kv "$res" rps)
  p50=$(kv "$res" p50_us)
  p99=$(kv "$res" p99_us)
  status_errs=$(kv "$res" err_status)
  errs=$(($(kv "$res" err_connect) + $(kv "$res" err_read) + $(kv "$res" err_write) + status_errs + $(kv "$res" err_timeout)))
  secs=$(awk -v d="$dur" 'BEGIN { printf "%.3f", d / 1e6 }')
  ok_per_s=$(awk -v r="$req" -v e="$status_errs" -v s="$secs" 'BEGIN { printf "%.1f", (r - e) / s }')
  rss=$(proc_field "$SERVER_PID" VmRSS)
  LAST_ROW=$(row_line "$BACKEND" "$kind" "$label" "$conc" "$req" "$secs" "$rps" "$ok_per_s" "$p50" "$p99" "$rss" "$errs" "$SRV_CORES" "" "$DB_CORES" "$OTHER_CORES")
  log "$(printf '%-14s c=%-3s %10s req/s  p50 %6.2fms  p99 %7.2fms  errors %s  CPU server %s db %s other %s  RSS %s MiB' \
    "$label" "$conc" "$rps" "$(awk -v x="$p50" 'BEGIN{print x/1000}')" "$(awk -v x="$p99" 'BEGIN{print x/1000}')" \
    "$errs" "$SRV_CORES" "$DB_CORES" "$OTHER_CORES" "$((rss / 1024))")"
  if [ "$errs" -gt 0 ]; then
    log "  !! $label c=$conc had $errs errors (status>=400: $status_errs); see $out"
  fi
}

check() { # check DESCRIPTION URLPATH EXPECT_SUBSTRING [CURL_ARGS...]
  local body code
  body=$(curl -s -w '\n%{http_code}' "${@:4}" "$BASE$2") || true
  code=${body##*$'\n'}
  body=${body%$'\n'*}
  if [ "$code" = 200 ] && grep -qF -- "$3" <<<"$body"; then
    log "sanity ok: $1"
  else
    log "SANITY FAILED: $1: GET $2 -> HTTP $code: ${body:0:300}"
    SANITY_FAILED="${SANITY_FAILED:+$SANITY_FAILED; }$1 (HTTP $code)"
  fi
}

# ---------------------------------------------------------------- data set
MAN_DIR=$WORK/manifest-$RECORDS-$SEED
if [ ! -s "$MAN_DIR/dids.txt" ] || [ ! -s "$MAN_DIR/manifest.tsv" ]; then
  log "generating $RECORDS-record manifest in $MAN_DIR"
  python3 "$BENCH_DIR/gen_manifest.py" --records "$RECORDS" --seed "$SEED" --out-dir "$MAN_DIR"
fi
FIRST_DID=$(head -1 "$MAN_DIR/dids.txt")
FIRST_MD5=$(head -1 "$MAN_DIR/md5s.txt")

DATE=$(date +%F)
SUFFIX=
[ "$RECORDS" = 1000000 ] || SUFFIX=-r$RECORDS
CMDLINE="RECORDS=$RECORDS DURATION=$DURATION THREADS=$THREADS CONCURRENCY=\"$CONCURRENCY\" BENCH_NICE=$BENCH_NICE bench/run.sh $MODE"
GIT_REV=$(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo none)
GIT_DIRTY=$(git -C "$REPO_DIR" status --porcelain -- crates Cargo.toml Cargo.lock 2>/dev/null | head -1)
[ -n "$GIT_DIRTY" ] && GIT_REV="$GIT_REV (+uncommitted changes in crates/)"
BIN_MTIME=$(date -r "$WEFT_BIN" '+%F %T')
# Run a private copy: a rebuild during the benchmark must not change the binary under test.
cp "$WEFT_BIN" "$WORK/weft-under-test.$$"
BIN_LABEL="$WEFT_BIN (built $BIN_MTIME, sha256 $(sha256sum "$WORK/weft-under-test.$$" | cut -c1-12))"
WEFT_BIN=$WORK/weft-under-test.$$

run_backend() {
  BACKEND=$1
  set_backend_env
  DATA=$WORK/data-$BACKEND
  ROWS=$WORK/rows-$BACKEND.tsv
  SANITY_FAILED=
  : >"$ROWS"
  : >"$LOGS/$BACKEND-server.log"
  rm -rf "$DATA"
  mkdir -p "$DATA"
  log "=== backend $BACKEND: $RECORDS records, $DURATION per run, wrk threads $THREADS, concurrency $CONCURRENCY"

  if [ "$BACKEND" = postgres ]; then
    command -v psql >/dev/null || die "psql not found"
    psql_admin -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)"
    psql_admin -c "CREATE DATABASE $PG_DB"
  fi

  echo "$BENCH_PASS" | weft index-user add "$BENCH_USER" --password-stdin --data-dir "$DATA" >"$LOGS/$BACKEND-user.log" 2>&1 ||
    { cat "$LOGS/$BACKEND-user.log" >&2; die "index-user add failed"; }

  log "importing $MAN_DIR/manifest.tsv"
  local t0 t1 secs rate import_rss=0 import_cpu timewrap=()
  [ -x /usr/bin/time ] && timewrap=(/usr/bin/time -f 'IMPORT_MAXRSS_KB=%M' -o "$LOGS/$BACKEND-import.time")
  sync
  wait_quiet
  cpu_mark ""
  t0=$(date +%s.%N)
  (
    "${NICE[@]}" "${timewrap[@]}" env "${WEFT_ENV[@]}" "$WEFT_BIN" index import "$MAN_DIR/manifest.tsv" --data-dir "$DATA" >"$LOGS/$BACKEND-import.log" 2>&1
    times >"$LOGS/$BACKEND-import.times"
  ) || { tail -20 "$LOGS/$BACKEND-import.log" >&2; die "import failed"; }
  t1=$(date +%s.%N)
  import_cpu=$(children_cpu "$LOGS/$BACKEND-import.times")
  cpu_since "$import_cpu"
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
  rate=$(awk -v n="$RECORDS" -v s="$secs" 'BEGIN { printf "%.1f", n / s }')
  [ -s "$LOGS/$BACKEND-import.time" ] && import_rss=$(sed -n 's/^IMPORT_MAXRSS_KB=//p' "$LOGS/$BACKEND-import.time")
  SRV_CORES=$(awk -v c="$import_cpu" -v s="$secs" 'BEGIN { printf "%.2f", c / s }')
  row "$BACKEND" import "import (weft index import)" 1 "$RECORDS" "$secs" "$rate" "$rate" "" "" "$import_rss" 0 "$SRV_CORES" "peak RSS of the import process" "$DB_CORES" "$OTHER_CORES"
  log "import: $RECORDS records in ${secs}s = $rate records/s (peak RSS $((import_rss / 1024)) MiB; CPU import $SRV_CORES db $DB_CORES other $OTHER_CORES)"
  if [ "$BACKEND" = sqlite ]; then
    log "sqlite data dir after import: $(du -sh "$DATA" | cut -f1)"
  else
    log "postgres db size after import: $(psql -X -A -t -h 127.0.0.1 -U postgres -d "$PG_DB" -c "select pg_size_pretty(pg_database_size('$PG_DB'))")"
  fi

  start_server
  VERSION_BODY=$(curl -s "$BASE/_version" | head -c 300)
  check "GET by did" "/index/index/$FIRST_DID" "$FIRST_DID"
  check "GET by hash" "/index/index/?hash=md5:$FIRST_MD5&limit=$HASH_LIMIT" "$FIRST_DID"
  check "DRS object" "/ga4gh/drs/v1/objects/$FIRST_DID" "$FIRST_DID"
  check "listing" "/index/index/?limit=2" "did"
  check "metrics" "/metrics" "#" -H "authorization: bearer $METRICS_TOKEN"

  log "warm-up: random GET by did, c=16, $WARMUP"
  env BENCH_LUA_DIR="$BENCH_LUA_DIR" KEYS_FILE="$MAN_DIR/dids.txt" PATH_PREFIX=/index/index/ \
    "${NICE[@]}" wrk -t"$THREADS" -c16 -d"$WARMUP" --timeout 30s -s "$BENCH_LUA_DIR/random_get.lua" "$BASE/" >"$LOGS/$BACKEND-warmup.txt" 2>&1 || true

  local c
  for c in $CONCURRENCY; do
    run_wrk version "GET /_version" "$c" static.lua /_version
    run_wrk read "GET by did" "$c" random_get.lua / KEYS_FILE="$MAN_DIR/dids.txt" PATH_PREFIX=/index/index/
    run_wrk read "GET by hash" "$c" random_get.lua / KEYS_FILE="$MAN_DIR/md5s.txt" PATH_PREFIX="/index/index/?hash=md5:" PATH_SUFFIX="&limit=$HASH_LIMIT"
    run_wrk read "DRS object" "$c" random_get.lua / KEYS_FILE="$MAN_DIR/dids.txt" PATH_PREFIX=/ga4gh/drs/v1/objects/
  done

  # Listing is one sequential client, so its ceiling is /_version at c=1.
  run_wrk version "GET /_version" 1 static.lua /_version
  log "listing: walking pages of 1024 (max ${LIST_MAX_SECONDS}s)"
  local lres lsecs
  wait_quiet
  cpu_mark
  lres=$("${NICE[@]}" python3 "$BENCH_DIR/walk_list.py" --base "$BASE" --limit 1024 --max-seconds "$LIST_MAX_SECONDS" --expect "$RECORDS" 2>>"$LOGS/$BACKEND-list.err" | grep '^LIST_RESULT') ||
    { cat "$LOGS/$BACKEND-list.err" >&2; log "!! listing walk failed"; lres=${lres:-LIST_RESULT records=0 pages=0 seconds=1 records_per_s=0 pages_per_s=0 complete=0 client_cpu_s=0 errors=1}; }
  cpu_since "$(kv "$lres" client_cpu_s)"
  lsecs=$(kv "$lres" seconds)
  row "$BACKEND" list "listing, pages of 1024" 1 "$(kv "$lres" pages)" "$lsecs" "$(kv "$lres" pages_per_s)" "$(kv "$lres" records_per_s)" "" "" \
    "$(proc_field "$SERVER_PID" VmRSS)" "$(kv "$lres" errors)" "$SRV_CORES" \
    "$(kv "$lres" records) records walked, complete=$(kv "$lres" complete), client CPU $(kv "$lres" client_cpu_s)s" "$DB_CORES" "$OTHER_CORES"
  log "listing: $lres; CPU server $SRV_CORES db $DB_CORES other $OTHER_CORES"

  local auth
  auth="Basic $(printf '%s:%s' "$BENCH_USER" "$BENCH_PASS" | base64 -w0)"
  for c in $CONCURRENCY; do
    run_wrk write "POST create" "$c" post_create.lua /index/index/ BENCH_AUTH="$auth"
  done

  curl -s -H "authorization: bearer $METRICS_TOKEN" "$BASE/metrics" >"$LOGS/$BACKEND-metrics.txt" || true
  local hwm
  hwm=$(proc_field "$SERVER_PID" VmHWM)
  stop_server
  if [ "$BACKEND" = postgres ] && [ "$KEEP_DB" != 1 ]; then
    psql_admin -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" || true
  fi

  local out=$RESULTS_DIR/$DATE-$BACKEND$SUFFIX.md
  python3 "$BENCH_DIR/render_results.py" "$ROWS" \
    --backend "$BACKEND" --records "$RECORDS" --duration "$DURATION" --threads "$THREADS" \
    --command "$CMDLINE" --git-rev "$GIT_REV" --bin "$BIN_LABEL" --version-body "$VERSION_BODY" \
    --peak-rss-kb "$hwm" --sanity "${SANITY_FAILED:-ok}" >"$out"
  cat "$out"
  log "wrote $out"
}

for b in $BACKENDS; do
  run_backend "$b"
done
