# shellcheck shell=bash
# A commons for the graph benchmarks (graphql.sh, explore.sh): a fresh data dir (or
# PostgreSQL database PG_DB) under WORK_ROOT/MODE on gdcdictionary 1.2.0, one user
# (USER_NAME) who administers programs and projects, creates and updates in /programs/BENCH
# and reads it through READ_SERVICE; then `weft serve` on PORT.
#
#   commons_up MODE READ_SERVICE      sets WORK, PID (the server) and TOKEN (the user's)
#
# Needs: WORK_ROOT, PG_URL_BASE, PG_DB, DICTS, USER_NAME, WEFT_BIN, PORT, BASE.
commons_up() {
  local mode=$1 read_service=$2
  WORK="$WORK_ROOT/$mode"
  rm -rf "$WORK"; mkdir -p "$WORK/data"
  export WEFT_DATA_DIR="$WORK/data"
  unset WEFT_DATABASE_URL
  if [ "$mode" = postgres ]; then
    psql "$PG_URL_BASE/postgres" -qc "DROP DATABASE IF EXISTS $PG_DB" >/dev/null
    psql "$PG_URL_BASE/postgres" -qc "CREATE DATABASE $PG_DB" >/dev/null
    export WEFT_DATABASE_URL="$PG_URL_BASE/$PG_DB"
  fi
  export WEFT_DICTIONARY__URL="$DICTS/gdcdictionary-1.2.0"
  cat >"$WORK/user.yaml" <<YAML
authz:
  resources:
  - name: programs
    subresources:
    - name: BENCH
  - name: services
    subresources:
    - name: sheepdog
      subresources:
      - name: submission
        subresources:
        - name: program
        - name: project
  roles:
  - id: submitter
    permissions:
    - {id: c, action: {service: sheepdog, method: create}}
    - {id: u, action: {service: sheepdog, method: update}}
    - {id: q, action: {service: $read_service, method: read}}
  - id: admin
    permissions:
    - {id: a, action: {service: sheepdog, method: '*'}}
  policies:
  - {id: submit, role_ids: [submitter], resource_paths: [/programs/BENCH]}
  - {id: administer, role_ids: [admin], resource_paths: [/services/sheepdog/submission/program, /services/sheepdog/submission/project]}
users:
  $USER_NAME:
    policies: [submit, administer]
YAML
  "$WEFT_BIN" usersync "$WORK/user.yaml" >/dev/null
  RUST_LOG=warn "$WEFT_BIN" serve --listen "127.0.0.1:$PORT" >"$WORK/serve.log" 2>&1 &
  PID=$!
  for _ in $(seq 1 600); do curl -sf -o /dev/null "$BASE/_version" && break; sleep 0.1; done
  TOKEN=$("$WEFT_BIN" token create --user "$USER_NAME" --base-url "$BASE" --expires-in 86400)
}
