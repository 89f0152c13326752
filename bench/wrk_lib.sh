# Shared by bench/mds.sh and bench/hub.sh (sourced): one wrk run and its summary line, and
# the policy file that lets the benchmark's curator write metadata.
# Needs WORK, THREADS, DURATION, BENCH_LUA_DIR and a `die` function from the caller.

# run_wrk LABEL CONC SCRIPT URL [VAR=VALUE ...]: prints rps, p50 us, p99 us, non-2xx (tabs);
# wrk's whole output stays in $WORK/wrk-LABEL-cCONC.txt.
run_wrk() {
  local label=$1 conc=$2 script=$3 url=$4; shift 4
  local out="$WORK/wrk-$label-c$conc.txt"
  local t=$THREADS; [ "$conc" -lt "$t" ] && t=$conc
  env "$@" wrk -t"$t" -c"$conc" -d"$DURATION" --timeout 30s --latency \
    -s "$BENCH_LUA_DIR/$script" "$url" >"$out" 2>&1 || { cat "$out" >&2; die "wrk failed"; }
  local line; line=$(grep WRK_RESULT "$out")
  printf '%s\t%s\t%s\t%s\n' \
    "$(sed -E 's/.* rps=([0-9.]+).*/\1/' <<<"$line")" \
    "$(sed -E 's/.* p50_us=([0-9]+).*/\1/' <<<"$line")" \
    "$(sed -E 's/.* p99_us=([0-9]+).*/\1/' <<<"$line")" \
    "$(sed -E 's/.* err_status=([0-9]+).*/\1/' <<<"$line")"
}

# Microseconds as milliseconds; a ratio as a percentage.
ms() { python3 -c "print(f'{$1/1000:.2f}')"; }
pct() { python3 -c "print(f'{100*$1/$2:.0f}%')"; }

# write_curator_yaml FILE USER: a user.yaml giving USER `mds_gateway` `access` on /mds_gateway.
write_curator_yaml() {
  cat >"$1" <<YAML
authz:
  resources:
  - name: mds_gateway
  roles:
  - id: mds_admin
    permissions:
    - id: mds_access
      action: {service: mds_gateway, method: access}
  policies:
  - id: metadata_admin
    role_ids: [mds_admin]
    resource_paths: [/mds_gateway]
users:
  $2:
    policies: [metadata_admin]
YAML
}
