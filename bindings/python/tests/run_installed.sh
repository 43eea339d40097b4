#!/usr/bin/env bash
# The Python binding's tests, run the way a user gets the package:
#
#   1. a venv under the build folder (<build>/python-venv, made once, from
#      /usr/bin/python3), with NumPy from PyPI;
#   2. `pip wheel ./bindings/python` (scikit-build-core builds libnn with CMake
#      into <build>/python-wheel-build, kept between runs, so a second run
#      only rebuilds what changed) and a check that the wheel bundles
#      nn/libnn.so.0 next to nn/__init__.py;
#   3. `pip install` of that wheel into the venv;
#   4. the unittest suite of bindings/python/tests from a folder outside the
#      repository, with no NN_LIBRARY_PATH and no PYTHONPATH: `import nn` must
#      find the installed package and its bundled library. The suite runs
#      again without NumPy (tests/test_environment.py does that in a child).
#
#   bash bindings/python/tests/run_installed.sh <build-dir>     (CTest: python_binding)
#
# NN_PY_CUDA=ON builds libnn_cuda.so into the package too (default OFF: nvcc
# would double the CI time; the rule that bundles it is the same install()).
set -euo pipefail

if [[ $# -ne 1 || ! -f "$1/CMakeCache.txt" ]]; then
  echo "usage: $0 <configured libnn build directory>" >&2
  exit 2
fi
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
pkg="$(dirname "$here")"
build="$(cd "$1" && pwd)"
python="${NN_PYTHON:-/usr/bin/python3}"
venv="$build/python-venv"
dist="$build/python-dist"
unset NN_LIBRARY_PATH PYTHONPATH

if [[ ! -x "$venv/bin/python" ]]; then
  echo "== venv $venv"
  "$python" -m venv "$venv"
fi
vpy="$venv/bin/python"
export PIP_DISABLE_PIP_VERSION_CHECK=1
if ! "$vpy" -c "import numpy" 2>/dev/null; then
  echo "== pip install numpy"
  "$vpy" -m pip install -q numpy
fi

echo "== pip wheel $pkg"
rm -rf "$dist"
"$vpy" -m pip wheel -q --no-deps -w "$dist" "$pkg" \
  --config-settings=build-dir="$build/python-wheel-build" \
  --config-settings=cmake.define.NN_CUDA="${NN_PY_CUDA:-OFF}"
wheel="$(ls "$dist"/nn-*.whl)"
echo "$wheel"
"$vpy" - "$wheel" <<'PY'
import sys, zipfile
names = set(zipfile.ZipFile(sys.argv[1]).namelist())
for need in ("nn/__init__.py", "nn/_capi.py", "nn/libnn.so.0"):
    if need not in names:
        sys.exit("FAIL: the wheel lacks %s (it has %s)" % (need, sorted(names)))
extra = sorted(n for n in names if n.endswith((".h", ".pc", ".cmake")) or "/lib/" in n)
if extra:
    sys.exit("FAIL: the wheel carries C SDK files: %s" % extra)
print("wheel bundles:", ", ".join(sorted(n for n in names if ".so" in n)))
PY

echo "== pip install the wheel"
"$vpy" -m pip install -q --force-reinstall --no-deps "$wheel"

echo "== unittest from outside the repository"
work="$(mktemp -d "${TMPDIR:-/tmp}/nn-pytest.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cd "$work"
NN_TEST_INSTALLED=1 "$vpy" -m unittest discover -s "$here" -t "$here" -v 2>&1
