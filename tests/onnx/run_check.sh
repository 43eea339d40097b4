#!/usr/bin/env bash
# Runs tests/onnx/check_onnx.py against a libnn build:
#
#   bash tests/onnx/run_check.sh LIBNN_SO [VENV_DIR]
#
# numpy, onnx and onnxruntime come from VENV_DIR (default: onnx-venv next to
# LIBNN_SO), made with python3 -m venv and pip-installed on first use. Set
# NN_ONNX_PYTHON to a python that already has them to skip the venv. Exit
# status: the check's; 77 (CTest: skipped) when the packages are missing and
# PyPI cannot be reached.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LIB="${1:?usage: run_check.sh LIBNN_SO [VENV_DIR]}"
VENV="${2:-$(dirname "$LIB")/onnx-venv}"
PKGS=(numpy onnx onnxruntime)

have_pkgs() { "$1" -c 'import numpy, onnx, onnxruntime' >/dev/null 2>&1; }

PY="${NN_ONNX_PYTHON:-}"
if [[ -z "$PY" ]]; then
  PY="$VENV/bin/python"
  if ! [[ -x "$PY" ]] || ! have_pkgs "$PY"; then
    python3 -m venv "$VENV"
    echo "run_check.sh: installing ${PKGS[*]} into $VENV"
    if ! "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PKGS[@]}"; then
      if ! "$VENV/bin/python" -c 'import urllib.request; urllib.request.urlopen("https://pypi.org/simple/pip/", timeout=15)' \
          >/dev/null 2>&1; then
        echo "run_check.sh: PyPI is unreachable and ${PKGS[*]} are not installed: skipping the ONNX runtime check" >&2
        exit 77
      fi
      echo "run_check.sh: pip install ${PKGS[*]} failed although PyPI is reachable" >&2
      exit 1
    fi
  fi
fi
export NN_LIBRARY_PATH="$LIB"
export PYTHONPATH="$ROOT/bindings/python${PYTHONPATH:+:$PYTHONPATH}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
exec "$PY" "$ROOT/tests/onnx/check_onnx.py"
