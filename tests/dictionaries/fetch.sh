#!/usr/bin/env bash
# Two real Gen3 data dictionaries for the tests, fetched from PyPI (never committed):
# gdcdictionary 1.2.0 and gen3dictionary 3.0.0, each as the directory of YAML it ships
# (DEST/<name>/) and as the JSON dump a commons publishes, made by Gen3's own dictionaryutils
# (DEST/<name>.json). Prints DEST; export it as WEFT_TEST_DICTIONARIES.
#
#   tests/dictionaries/fetch.sh [DEST]      (default $WEFT_TEST_DICTIONARIES or /var/tmp/weft-dictionaries)
set -euo pipefail
DEST=${1:-${WEFT_TEST_DICTIONARIES:-/var/tmp/weft-dictionaries}}
STAMP="$DEST/.ready-gdcdictionary-1.2.0-gen3dictionary-3.0.0-dictionaryutils-3.5.1"
if [ -f "$STAMP" ]; then echo "$DEST"; exit 0; fi
PYTHON=${PYTHON:-python3}
mkdir -p "$DEST"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
log() { printf '== %s\n' "$*" >&2; }

log "downloading the dictionaries into $DEST"
"$PYTHON" -m pip download -q --disable-pip-version-check --no-deps --no-binary :all: \
  -d "$WORK" gdcdictionary==1.2.0 >&2
# gen3dictionary 3.0.0 declares Python >= 3.13; only its files are used here.
"$PYTHON" -m pip download -q --disable-pip-version-check --no-deps --only-binary :all: \
  --python-version 3.13 -d "$WORK" gen3dictionary==3.0.0 >&2
mkdir -p "$WORK/gdc" "$WORK/g3"
tar xzf "$WORK"/gdcdictionary-1.2.0.tar.gz -C "$WORK/gdc"
"$PYTHON" -m zipfile -e "$WORK"/gen3dictionary-3.0.0-py3-none-any.whl "$WORK/g3"
rm -rf "$DEST/gdcdictionary-1.2.0" "$DEST/gen3dictionary-3.0.0"
cp -r "$WORK"/gdc/gdcdictionary-1.2.0/gdcdictionary/schemas "$DEST/gdcdictionary-1.2.0"
cp -r "$WORK"/g3/gdcdictionary/schemas "$DEST/gen3dictionary-3.0.0"

if [ ! -x "$DEST/venv/bin/python" ]; then
  log "installing dictionaryutils 3.5.1 in $DEST/venv"
  "$PYTHON" -m venv "$DEST/venv"
  "$DEST/venv/bin/pip" install -q --disable-pip-version-check dictionaryutils==3.5.1 >&2
fi
for name in gdcdictionary-1.2.0 gen3dictionary-3.0.0; do
  "$DEST/venv/bin/python" - "$DEST/$name" "$DEST/$name.json" <<'PY'
import json, sys
from dictionaryutils import dump_schemas_from_dir
with open(sys.argv[2], "w") as f:
    json.dump(dump_schemas_from_dir(sys.argv[1]), f)
PY
done
touch "$STAMP"
echo "$DEST"
