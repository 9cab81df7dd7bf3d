#!/usr/bin/env bash
# Create (or update) the project's virtualenv with the pinned stack; idempotent.
#   tools/misc/setup_env.sh [VENV_DIR]      (default .venv)
# Order matters: torch first and pinned (a free choice pulls a multi-GB CUDA torch 2.14), the
# locked set with --no-deps, then mmpose with --no-deps (its chumpy dependency cannot import
# on Python 3.11), then this package in editable mode. Installs Debian's libgl1/libglib2.0-0
# only if OpenCV cannot load without them.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VENV=${1:-$ROOT/.venv}
PYTHON_BIN=${PYTHON_BIN:-python3}
cd "$ROOT"

if ! "$PYTHON_BIN" -c 'import sys; assert sys.version_info >= (3, 9)' 2>/dev/null; then
    echo "setup_env: need Python >= 3.9 as \$PYTHON_BIN (found: $($PYTHON_BIN --version 2>&1))" >&2
    exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
    echo "setup_env: creating virtualenv $VENV"
    "$PYTHON_BIN" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip install --disable-pip-version-check -q)
echo "setup_env: installing torch (requirements/torch.txt)"
"${PIP[@]}" -r requirements/torch.txt
echo "setup_env: installing the locked stack (requirements/lock.txt)"
"${PIP[@]}" --no-deps -r requirements/lock.txt
"${PIP[@]}" --no-deps -r requirements/nodeps.txt
"${PIP[@]}" --no-deps --no-build-isolation -e .
# the optional hand detector: in this (development/CI) environment so its tests run;
# SETUP_DETECT=0 skips it (the rest of the package never imports it)
if [ "${SETUP_DETECT:-1}" != 0 ]; then
    echo "setup_env: installing the optional hand detector (requirements/detect.txt)"
    "${PIP[@]}" --no-deps -r requirements/detect.txt
fi

if ! "$VENV/bin/python" -c 'import cv2' 2>/dev/null; then
    echo "setup_env: OpenCV cannot load; installing Debian's libgl1 libglib2.0-0"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq libgl1 libglib2.0-0 >/dev/null
fi
"$VENV/bin/python" -c 'import mmhandmim, mmpose.models, mmpretrain.models' \
    || { echo "setup_env: the installed environment does not import; see above" >&2; exit 1; }
echo "setup_env: ready ($VENV)"
