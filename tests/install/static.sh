#!/usr/bin/env bash
# install_static: configure and build a static libnn (-DBUILD_SHARED_LIBS=OFF,
# no tests, examples or CUDA) in <build>/static-build from this source tree,
# then run tests/install/run.sh on it: install, relocate, and build and run
# main.c and examples/xor.c through find_package(nn) and pkg-config.
#
#   bash tests/install/static.sh <source-dir> <build-dir>
set -euo pipefail
src="$(cd "$1" && pwd)"
build="$(cd "$2" && pwd)"
sb="$build/static-build"
cache_value() { sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt" | head -n 1; }
gen="$(cache_value CMAKE_GENERATOR)"
cmake -S "$src" -B "$sb" ${gen:+-G "$gen"} -DCMAKE_BUILD_TYPE=Release \
  -DBUILD_SHARED_LIBS=OFF -DBUILD_TESTING=OFF -DNN_BUILD_EXAMPLES=OFF -DNN_CUDA=OFF >"$build/static-configure.log" || {
  cat "$build/static-configure.log"; exit 1; }
cmake --build "$sb" --target nn
[[ -f "$sb/libnn.a" ]] || { echo "FAIL: -DBUILD_SHARED_LIBS=OFF built no libnn.a" >&2; exit 1; }
bash "$src/tests/install/run.sh" "$sb"
