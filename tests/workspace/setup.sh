#!/usr/bin/env bash
# The JupyterLab environment of the workspace tests: a venv made with Debian's Python (so a
# workspace's own uid can run it: pyenv's Pythons live under /root), with pinned JupyterLab
# and Gen3 SDK, at $WEFT_TEST_JUPYTER (default /var/tmp/weft-jupyter). Rebuilt only when the
# pins change. Prints the environment's path.
set -euo pipefail
ENV=${WEFT_TEST_JUPYTER:-/var/tmp/weft-jupyter}
SPEC="jupyterlab==4.6.6 gen3==4.28.5"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)
if [ "$(cat "$ENV/.weft-spec" 2>/dev/null)" != "$SPEC" ]; then
  rm -rf "$ENV"
  "$PY" -m venv "$ENV" >&2
  # shellcheck disable=SC2086
  "$ENV/bin/pip" install --quiet --disable-pip-version-check $SPEC >&2
  chmod -R a+rX "$ENV"
  echo "$SPEC" > "$ENV/.weft-spec"
fi
echo "$ENV"
