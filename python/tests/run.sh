#!/usr/bin/env bash
# The Python suite, as the README's test command runs it: a virtual environment filled
# with pip (maturin, pytest, mypy), the package installed with `pip install ./python`
# (a dev-profile build, so it reuses cargo's debug artifacts), and pytest.
#
# Environment:
#   OCICOMPOSE_PY_VENV   where the venv lives (default: python/.venv, reused across runs)
#   OCICOMPOSE_PY_RELEASE=1  build the wheel in release mode, as a user's install does
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)

log() { printf '\n--- python: %s\n' "$*" >&2; }

PYTHON=${PYTHON:-python3}
VENV=${OCICOMPOSE_PY_VENV:-$ROOT/python/.venv}

# The CLI, for the tests that compare digests with it.
log "cargo build -p ocicompose-cli"
cargo build -q -p ocicompose-cli
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
export OCICOMPOSE_CLI="$TARGET_DIR/debug/ocicompose"

if [ ! -x "$VENV/bin/python" ]; then
  log "python3 -m venv $VENV"
  "$PYTHON" -m venv "$VENV"
fi
# The maturin build backend runs the `maturin` binary from PATH.
export PATH="$VENV/bin:$PATH"
log "pip install maturin pytest mypy"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade "maturin>=1.9,<2" "pytest>=7" "mypy>=1.8"

# An editable `maturin develop` would leave an extension in py_src; a stale one there
# must not shadow the installed package.
rm -f "$ROOT"/python/py_src/ocicompose/_ocicompose*.so
log "pip install ./python"
if [ "${OCICOMPOSE_PY_RELEASE:-0}" = 1 ]; then
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-build-isolation --force-reinstall --no-deps ./python
else
  MATURIN_PEP517_ARGS="--profile dev" \
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-build-isolation --force-reinstall --no-deps ./python
fi

log "pytest"
cd "$ROOT/python"
# -p no:cacheprovider: no .pytest_cache in the checkout.
status=0
"$VENV/bin/python" -m pytest -p no:cacheprovider -q tests "$@" || status=$?
if [ "$status" = 5 ]; then
  echo "python: pytest collected no tests; that is a failure" >&2
  exit 1
fi
exit "$status"
