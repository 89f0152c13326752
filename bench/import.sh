#!/usr/bin/env bash
# Time `weft index import` of the bench manifest on one backend, with the CPU split:
# weft's user+sys (from /usr/bin/time -v), and on PostgreSQL the CPU of the postgres
# processes working for the import (pg_cpu_s: its backends and their parallel index-build
# workers; pg_shared_cpu_s: checkpointer, WAL writer, background writer, which also serve
# other databases), polled while the import runs so that exiting processes are counted.
# Other sessions' backends on the same server are left out (they count as "other").
#
#   bench/import.sh sqlite|postgres
#
# Knobs: RECORDS (1000000), SEED (20240601), BENCH_WORK (/var/tmp/weft-bench-import),
# WEFT_BIN ($CARGO_TARGET_DIR/release/weft), PG_URL_BASE, PG_DB (weft_import_bench),
# PROFILE=1 records a perf profile of weft (cpu-clock) to $BENCH_WORK/perf-<backend>.data.
# Prints one `IMPORT …` line; the import's own output is in $BENCH_WORK/import-<backend>.log.
set -euo pipefail

BACKEND=${1:?usage: bench/import.sh sqlite|postgres}
HERE=$(cd "$(dirname "$0")" && pwd)
RECORDS=${RECORDS:-1000000}
SEED=${SEED:-20240601}
BENCH_WORK=${BENCH_WORK:-/var/tmp/weft-bench-import}
WEFT_BIN=${WEFT_BIN:-${CARGO_TARGET_DIR:-/var/tmp/weft-target}/release/weft}
PG_URL_BASE=${PG_URL_BASE:-postgres://postgres@127.0.0.1:5432}
PG_DB=${PG_DB:-weft_import_bench}
PROFILE=${PROFILE:-0}
HZ=$(getconf CLK_TCK)

MAN_DIR=$BENCH_WORK/manifest-$RECORDS-$SEED
mkdir -p "$BENCH_WORK"
if [ ! -s "$MAN_DIR/manifest.tsv" ]; then
  python3 "$HERE/gen_manifest.py" --records "$RECORDS" --seed "$SEED" --out-dir "$MAN_DIR"
fi

ENVS=()
ARGS=()
case $BACKEND in
  sqlite)
    DATA=$BENCH_WORK/data-sqlite
    rm -rf "$DATA"
    ARGS=(--data-dir "$DATA")
    ;;
  postgres)
    psql -X -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $PG_DB" \
      -c "CREATE DATABASE $PG_DB" >/dev/null
    ENVS=(WEFT_DATABASE_URL="$PG_URL_BASE/$PG_DB")
    # migrations first, so that their time is not counted
    env "${ENVS[@]}" "$WEFT_BIN" migrate >/dev/null 2>&1
    psql -X -q -h 127.0.0.1 -U postgres -d "$PG_DB" -c CHECKPOINT >/dev/null
    ;;
  *) echo "unknown backend $BACKEND" >&2; exit 2 ;;
esac

pg_ticks() { # "pid ticks kind" for the postgres processes working for $PG_DB (kind "own":
  # its backends and their parallel workers) or for every database ("shared": checkpointer,
  # WAL writer, background writer); other sessions' backends are left out
  ps -e -o pid=,args= | awk -v db="$PG_DB" '
    $2 ~ /^postgres:/ {
      args = $0; sub(/^ *[0-9]+ /, "", args)
      if (index(args, " " db " ")) own[$1] = 1
      else if (match(args, /parallel worker for PID [0-9]+/)) {
        w = substr(args, RSTART, RLENGTH); sub(/.* /, "", w); worker[$1] = w
      } else if (args ~ /checkpointer|walwriter|background writer/) shared[$1] = 1
    }
    END {
      for (p in own) print p, "own"
      for (p in worker) if (worker[p] in own) print p, "own"
      for (p in shared) print p, "shared"
    }' | while read -r p kind; do
    awk -v p="$p" -v k="$kind" '{ sub(/^.*\) /, ""); print p, $12 + $13, k }' "/proc/$p/stat" 2>/dev/null || true
  done
}
busy_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4; exit }' /proc/stat; }

SAMPLES=$BENCH_WORK/pg-samples-$BACKEND.txt
: >"$SAMPLES"
STOP=$BENCH_WORK/sampler-$BACKEND.stop
rm -f "$STOP"
( while [ ! -e "$STOP" ]; do echo R; pg_ticks; sleep 0.3; done; echo R; pg_ticks ) >"$SAMPLES" &
SAMPLER=$!

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
M0=$(busy_ticks)
T0=$(date +%s.%N)
WRAP=(/usr/bin/time -v -o "$BENCH_WORK/time-$BACKEND.txt")
if [ "$PROFILE" = 1 ]; then
  WRAP=(perf record -e cpu-clock -F 499 -g -o "$BENCH_WORK/perf-$BACKEND.data" -- "${WRAP[@]}")
fi
"${WRAP[@]}" env RUST_LOG="${RUST_LOG:-info,weft_store_sqlite=debug,weft_store_postgres=debug}" "${ENVS[@]}" "$WEFT_BIN" index import "${ARGS[@]}" \
  "$MAN_DIR/manifest.tsv" >"$BENCH_WORK/import-$BACKEND.log" 2>&1 || {
  touch "$STOP"; wait "$SAMPLER" || true
  tail -20 "$BENCH_WORK/import-$BACKEND.log" >&2; exit 1; }
T1=$(date +%s.%N)
M1=$(busy_ticks)
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
touch "$STOP"
wait "$SAMPLER" || true

# postgres CPU: per pid, the last reading less the first (pids first seen later count
# from zero: they started during the import)
pg_sum() {
  awk -v kind="$1" '$1 == "R" { r++; next }
    $3 != kind { next }
    !($1 in first) { first[$1] = $2; round[$1] = r }
    { last[$1] = $2 }
    END { for (p in last) s += last[p] - (round[p] == 1 ? first[p] : 0); print s + 0 }' "$SAMPLES"
}
PG_TICKS=$(pg_sum own)
PG_SHARED=$(pg_sum shared)
[ "$BACKEND" = postgres ] || { PG_TICKS=0; PG_SHARED=0; }
T=$BENCH_WORK/time-$BACKEND.txt
USER_S=$(awk -F': ' '/User time/ { print $2 }' "$T")
SYS_S=$(awk -F': ' '/System time/ { print $2 }' "$T")
RSS_KB=$(awk -F': ' '/Maximum resident/ { print $2 }' "$T")
awk -v t0="$T0" -v t1="$T1" -v n="$RECORDS" -v u="$USER_S" -v s="$SYS_S" -v pg="$PG_TICKS" -v pgs="$PG_SHARED" \
  -v m=$((M1 - M0)) -v hz="$HZ" -v rss="$RSS_KB" -v lb="$LOAD_BEFORE" -v la="$LOAD_AFTER" \
  -v be="$BACKEND" 'BEGIN {
    w = t1 - t0; own = pg / hz; sh = pgs / hz; other = m / hz - u - s - own - sh; if (other < 0) other = 0
    printf "IMPORT backend=%s records=%d wall_s=%.2f records_per_s=%.0f weft_user_s=%.2f weft_sys_s=%.2f pg_cpu_s=%.2f pg_shared_cpu_s=%.2f other_cpu_s=%.2f peak_rss_mib=%.0f load_before=\"%s\" load_after=\"%s\"\n",
      be, n, w, n / w, u, s, own, sh, other, rss / 1024, lb, la }'
grep -v '^$' "$BENCH_WORK/import-$BACKEND.log" | tail -40 >&2 || true
