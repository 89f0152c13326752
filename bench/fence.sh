#!/usr/bin/env bash
# The identity and data-access benchmark of issue [3/4]:
#
#   bench/fence.sh [sqlite|postgres]
#
#   1. in process (cargo bench -p weft-identity --bench tokens): RS256 verifications per
#      second for distinct tokens and for a token seen before, and signing;
#   2. over HTTP with wrk on the same cores: GET /_version (the ceiling) and
#      GET /user/data/download/{guid} with a user's token (token check, record lookup,
#      policy check, URL signing) over RECORDS random records, at each concurrency;
#   3. a 1 GiB local object downloaded through its signed URL with curl: MB/s, and the
#      server's RSS before, after and at its peak (flat memory: streamed, never buffered).
# Knobs: RECORDS (10000), DURATION (10s), CONCURRENCY ("16 64"), THREADS (2), PORT (18091),
# BIG_MIB (1024), BENCH_WORK (/var/tmp/weft-bench), WEFT_BIN, PG_URL_BASE, PG_DB.
set -euo pipefail

BACKEND=${1:-sqlite}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/weft-target}
WEFT_BIN=${WEFT_BIN:-$CARGO_TARGET_DIR/release/weft}
RECORDS=${RECORDS:-10000}
DURATION=${DURATION:-10s}
CONCURRENCY=${CONCURRENCY:-16 64}
THREADS=${THREADS:-2}
PORT=${PORT:-18091}
BIG_MIB=${BIG_MIB:-1024}
WORK=${BENCH_WORK:-/var/tmp/weft-bench}/fence
PG_URL_BASE=${PG_URL_BASE:-postgres://postgres@127.0.0.1:5432}
PG_DB=${PG_DB:-weft_bench_fence}
export BENCH_LUA_DIR="$HERE/lua"
BASE="http://127.0.0.1:$PORT"
USER_NAME=reader@bench.org

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'fence.sh: %s\n' "$*" >&2; exit 1; }
command -v wrk >/dev/null || die "wrk not found (apt-get install -y wrk)"
[ -x "$WEFT_BIN" ] || die "no weft binary at $WEFT_BIN (cargo build --release -p weft)"

mkdir -p "$WORK"
DATA="$WORK/data-$BACKEND"
rm -rf "$DATA"
mkdir -p "$DATA/files/bench"
export WEFT_DATA_DIR="$DATA"
unset WEFT_DATABASE_URL
if [ "$BACKEND" = postgres ]; then
  psql "$PG_URL_BASE/postgres" -qc "DROP DATABASE IF EXISTS $PG_DB" >/dev/null
  psql "$PG_URL_BASE/postgres" -qc "CREATE DATABASE $PG_DB" >/dev/null
  export WEFT_DATABASE_URL="$PG_URL_BASE/$PG_DB"
fi

log "1. in process: cargo bench -p weft-identity --bench tokens"
(cd "$ROOT" && cargo bench -q -p weft-identity --bench tokens) | tee "$WORK/tokens.txt"

log "2. seeding $RECORDS records of local objects and a $BIG_MIB MiB object"
python3 - "$WORK" "$RECORDS" <<'PY'
import sys, uuid, random
work, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(7)
with open(f"{work}/manifest.tsv", "w") as man, open(f"{work}/dids.txt", "w") as dids:
    man.write("guid\tmd5\tsize\tauthz\tacl\turl\tfile_name\n")
    for i in range(n):
        guid = str(uuid.UUID(int=rnd.getrandbits(128), version=4))
        md5 = "%032x" % rnd.getrandbits(128)
        man.write(f"{guid}\t{md5}\t12\t/programs/bench/projects/p{i % 10}\t\tfile:///bench/small-{i}.txt\tsmall-{i}.txt\n")
        dids.write(guid + "\n")
    big = "00000000-0000-4000-8000-00000000b16b"
    man.write(f"{big}\t{'0' * 32}\t0\t/programs/bench/projects/p0\t\tfile:///bench/big.bin\tbig.bin\n")
PY
"$WEFT_BIN" index import --quiet "$WORK/manifest.tsv" >/dev/null
head -c $((BIG_MIB * 1024 * 1024)) /dev/urandom >"$DATA/files/bench/big.bin"
cat >"$WORK/user.yaml" <<YAML
authz:
  resources:
    - name: programs
      subresources:
        - name: bench
  policies:
    - id: bench-reader
      role_ids: [storage-reader]
      resource_paths: [/programs/bench]
  roles:
    - id: storage-reader
      permissions:
        - id: read-storage
          action: {service: fence, method: read-storage}
users:
  $USER_NAME:
    policies: [bench-reader]
YAML
"$WEFT_BIN" usersync "$WORK/user.yaml" >/dev/null

log "3. serving"
RUST_LOG=warn "$WEFT_BIN" serve --listen "127.0.0.1:$PORT" >"$WORK/serve.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do curl -sf -o /dev/null "$BASE/_version" && break; sleep 0.1; done
curl -sf -o /dev/null "$BASE/_version" || die "weft did not start; see $WORK/serve.log"
TOKEN=$("$WEFT_BIN" token create --user "$USER_NAME" --base-url "$BASE")
first=$(head -1 "$WORK/dids.txt")
curl -sf -H "Authorization: bearer $TOKEN" "$BASE/user/data/download/$first" | grep -q '"url"' \
  || die "download URL request failed"

# run_wrk LABEL CONC SCRIPT PATH [VAR=VALUE ...]: prints rps p50_us p99_us non2xx
run_wrk() {
  local label=$1 conc=$2 script=$3 path=$4; shift 4
  local out; out="$WORK/wrk-$label-c$conc.txt"
  local t=$THREADS; [ "$conc" -lt "$t" ] && t=$conc
  env "$@" wrk -t"$t" -c"$conc" -d"$DURATION" --timeout 30s --latency \
    -s "$BENCH_LUA_DIR/$script" "$BASE$path" >"$out" 2>&1 || { cat "$out" >&2; die "wrk failed"; }
  local line; line=$(grep WRK_RESULT "$out")
  printf '%s %s %s %s\n' "$(sed -E 's/.* rps=([0-9.]+).*/\1/' <<<"$line")" \
    "$(sed -E 's/.* p50_us=([0-9]+).*/\1/' <<<"$line")" \
    "$(sed -E 's/.* p99_us=([0-9]+).*/\1/' <<<"$line")" \
    "$(sed -E 's/.* err_status=([0-9]+).*/\1/' <<<"$line")"
}
ms() { python3 -c "print(f'{$1/1000:.2f}')"; }
pct() { python3 -c "print(f'{100*$1/$2:.0f}%')"; }

echo
echo "## weft identity and data-access benchmark ($BACKEND, $(date -u +%Y-%m-%dT%H:%MZ), git $(git -C "$ROOT" rev-parse --short HEAD), load $(cut -d' ' -f1-3 /proc/loadavg))"
echo
sed -n '1,10p' "$WORK/tokens.txt"
echo
echo "| workload | c | req/s | p50 ms | p99 ms | share of /_version | non-2xx |"
echo "|---|---|---|---|---|---|---|"
for c in $CONCURRENCY; do
  read -r v_rps v_p50 v_p99 v_err < <(run_wrk version "$c" static.lua /_version)
  read -r d_rps d_p50 d_p99 d_err < <(run_wrk download "$c" random_get.lua / \
    KEYS_FILE="$WORK/dids.txt" PATH_PREFIX=/user/data/download/ BENCH_AUTH="bearer $TOKEN")
  echo "| GET /_version | $c | ${v_rps%.*} | $(ms "$v_p50") | $(ms "$v_p99") | 100% | $v_err |"
  echo "| GET /user/data/download/{guid} | $c | ${d_rps%.*} | $(ms "$d_p50") | $(ms "$d_p99") | $(pct "$d_rps" "$v_rps") | $d_err |"
done

rss() { awk "/$1/{printf \"%.0f\", \$2/1024}" "/proc/$PID/status"; }
URL=$(curl -sf -H "Authorization: bearer $TOKEN" \
  "$BASE/user/data/download/00000000-0000-4000-8000-00000000b16b" | python3 -c 'import json,sys; print(json.load(sys.stdin)["url"])')
before=$(rss VmRSS)
speed=$(curl -sf -o /dev/null -w '%{speed_download} %{size_download}' "$URL")
after=$(rss VmRSS)
read -r bps bytes <<<"$speed"
[ "$bytes" = $((BIG_MIB * 1024 * 1024)) ] || die "downloaded $bytes bytes, expected $((BIG_MIB * 1024 * 1024))"
echo
echo "Local download of a $BIG_MIB MiB object through its signed URL (curl, one stream): $(python3 -c "print(f'{$bps/1e6:.0f}')") MB/s; server RSS $before MiB before, $after MiB after, peak (VmHWM) $(rss VmHWM) MiB"
