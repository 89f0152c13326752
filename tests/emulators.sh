# Object-store emulators for the cloud storage tests, on loopback: S3 (s3s-fs), Azure Blob
# (Azurite) and Google Cloud Storage (gcp-storage-emulator). Source it (test.sh does):
#
#   . tests/emulators.sh && start_emulators
#
# Installs each tool once into $WEFT_TOOLS_DIR (default /var/tmp/weft-tools, outside the
# clone; reused when present), starts it on a free port with its data in a temp dir,
# creates the bucket `weft-test`, and exports where the tests find it:
#
#   WEFT_TEST_S3_ENDPOINT     http://127.0.0.1:PORT   (bucket weft-test, keys below)
#   WEFT_TEST_S3_ACCESS_KEY, WEFT_TEST_S3_SECRET_KEY
#   WEFT_TEST_AZURE_ENDPOINT  http://127.0.0.1:PORT/devstoreaccount1 (container weft-test)
#   WEFT_TEST_GCS_ENDPOINT    http://127.0.0.1:PORT   (bucket weft-test)
#
# Any emulator that cannot be installed or does not answer stops the run (exit 1): with
# CI set, the tests would fail without them anyway. stop_emulators (an EXIT trap) ends
# only the processes started here, by their ids.

WEFT_TOOLS_DIR="${WEFT_TOOLS_DIR:-/var/tmp/weft-tools}"
S3S_VERSION=0.14.1            # 0.15+ needs rustc 1.96
AZURITE_SPEC="azurite@3.35.0 @azure/storage-blob@12.32.0"
GCS_EMULATOR_SPEC="gcp-storage-emulator==2026.7.19"
EMULATOR_PIDS=()
EMULATOR_DIR=""

emulator_die() { echo "FATAL: $*" >&2; exit 1; }

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_http URL NAME: until the URL answers at all (any status), at most 60 s.
wait_http() {
  for _ in $(seq 1 120); do
    curl -s -o /dev/null --max-time 1 "$1" && return 0
    sleep 0.5
  done
  emulator_die "$2 did not answer at $1 (log: $EMULATOR_DIR/$2.log)"
}

install_emulators() {
  mkdir -p "$WEFT_TOOLS_DIR"
  local s3s="$WEFT_TOOLS_DIR/s3s-fs-$S3S_VERSION/bin/s3s-fs"
  if [ ! -x "$s3s" ]; then
    echo "==> installing s3s-fs $S3S_VERSION into $WEFT_TOOLS_DIR"
    cargo install --locked "s3s-fs@$S3S_VERSION" --features binary \
      --root "$WEFT_TOOLS_DIR/s3s-fs-$S3S_VERSION" \
      --target-dir "$WEFT_TOOLS_DIR/cargo-target" >&2 ||
      emulator_die "cannot install s3s-fs (crates.io)"
  fi
  local azdir="$WEFT_TOOLS_DIR/azurite"
  if [ ! -x "$azdir/node_modules/.bin/azurite-blob" ] ||
     [ ! -d "$azdir/node_modules/@azure/storage-blob" ]; then
    echo "==> installing $AZURITE_SPEC into $azdir"
    # shellcheck disable=SC2086
    npm install --silent --prefix "$azdir" $AZURITE_SPEC >&2 ||
      emulator_die "cannot install Azurite (npm)"
  fi
  local venv="$WEFT_TOOLS_DIR/gcs-venv"
  if [ ! -x "$venv/bin/gcp-storage-emulator" ]; then
    echo "==> installing $GCS_EMULATOR_SPEC into $venv"
    python3 -m venv "$venv" && "$venv/bin/pip" install -q "$GCS_EMULATOR_SPEC" >&2 ||
      emulator_die "cannot install gcp-storage-emulator (PyPI)"
  fi
}

stop_emulators() {
  local pid
  for pid in "${EMULATOR_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${EMULATOR_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  EMULATOR_PIDS=()
  [ -n "$EMULATOR_DIR" ] && rm -rf "$EMULATOR_DIR"
  EMULATOR_DIR=""
}

start_emulators() {
  install_emulators
  EMULATOR_DIR=$(mktemp -d /tmp/weft-emulators.XXXXXX)
  trap stop_emulators EXIT

  # S3: s3s-fs serves directories under its root as buckets
  local port
  port=$(free_port)
  mkdir -p "$EMULATOR_DIR/s3/weft-test"
  export WEFT_TEST_S3_ACCESS_KEY=weft-test-access
  export WEFT_TEST_S3_SECRET_KEY=weft-test-secret-0123456789
  "$WEFT_TOOLS_DIR/s3s-fs-$S3S_VERSION/bin/s3s-fs" --host 127.0.0.1 --port "$port" \
    --access-key "$WEFT_TEST_S3_ACCESS_KEY" --secret-key "$WEFT_TEST_S3_SECRET_KEY" \
    "$EMULATOR_DIR/s3" >"$EMULATOR_DIR/s3s-fs.log" 2>&1 &
  EMULATOR_PIDS+=($!)
  export WEFT_TEST_S3_ENDPOINT="http://127.0.0.1:$port"
  wait_http "$WEFT_TEST_S3_ENDPOINT/" s3s-fs

  # Azure Blob: Azurite, with its well-known development account
  port=$(free_port)
  "$WEFT_TOOLS_DIR/azurite/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 \
    --blobPort "$port" --location "$EMULATOR_DIR/azurite" --skipApiVersionCheck --loose \
    >"$EMULATOR_DIR/azurite.log" 2>&1 &
  EMULATOR_PIDS+=($!)
  export WEFT_TEST_AZURE_ENDPOINT="http://127.0.0.1:$port/devstoreaccount1"
  wait_http "$WEFT_TEST_AZURE_ENDPOINT" azurite
  NODE_PATH="$WEFT_TOOLS_DIR/azurite/node_modules" node -e '
    const { BlobServiceClient } = require("@azure/storage-blob");
    const key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
    const conn = `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=${key};BlobEndpoint=${process.argv[1]};`;
    BlobServiceClient.fromConnectionString(conn).getContainerClient("weft-test")
      .createIfNotExists().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
  ' "$WEFT_TEST_AZURE_ENDPOINT" || emulator_die "cannot create the Azurite container"

  # GCS: gcp-storage-emulator (in memory), with the bucket made at start
  port=$(free_port)
  "$WEFT_TOOLS_DIR/gcs-venv/bin/gcp-storage-emulator" start --host 127.0.0.1 --port "$port" \
    --in-memory --default-bucket weft-test >"$EMULATOR_DIR/gcs.log" 2>&1 &
  EMULATOR_PIDS+=($!)
  export WEFT_TEST_GCS_ENDPOINT="http://127.0.0.1:$port"
  wait_http "$WEFT_TEST_GCS_ENDPOINT/storage/v1/b" gcs

  echo "==> emulators: S3 $WEFT_TEST_S3_ENDPOINT, Azure $WEFT_TEST_AZURE_ENDPOINT, GCS $WEFT_TEST_GCS_ENDPOINT"
}
