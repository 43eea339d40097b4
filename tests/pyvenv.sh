#!/usr/bin/env bash
# Runs a Python script in a venv under the build folder, pip-installing the
# named PyPI packages there first when they are missing.
#
#   bash tests/pyvenv.sh VENV_DIR PACKAGE... -- SCRIPT [ARGS...]
#
# The venv is made with /usr/bin/python3 -m venv on first use and kept (the
# next run only checks the imports). Exit 77 (CTest: skipped) when no venv
# can be made or pip cannot install a package (no network and no wheel).
set -euo pipefail
VENV="$1"; shift
PKGS=()
while [[ $# -gt 0 && "$1" != "--" ]]; do PKGS+=("$1"); shift; done
[[ "${1:-}" == "--" ]] && shift
PY=/usr/bin/python3
if [[ ! -x "$VENV/bin/python" ]]; then
  if ! "$PY" -m venv "$VENV" >/dev/null 2>&1; then
    echo "pyvenv.sh: cannot create a venv at $VENV (python3-venv missing?): skipping" >&2
    exit 77
  fi
fi
for p in "${PKGS[@]}"; do
  mod="$p"
  [[ "$p" == "scikit-learn" ]] && mod=sklearn
  if ! "$VENV/bin/python" -c "import $mod" >/dev/null 2>&1; then
    echo "pyvenv.sh: pip install $p into $VENV"
    if ! "$VENV/bin/python" -m pip install -q "$p"; then
      echo "pyvenv.sh: cannot pip-install $p: skipping" >&2
      exit 77
    fi
  fi
done
exec "$VENV/bin/python" "$@"
