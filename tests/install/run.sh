#!/usr/bin/env bash
# Install a libnn build tree into a temporary prefix, move the prefix (the
# installed files must be relocatable), then build and run tests/install/main.c
# against it twice: as a CMake project using find_package(nn) and nn::nn, and
# with a plain compiler using `pkg-config --cflags --libs nn`.
#
#   bash tests/install/run.sh <build-dir>
# Run by CTest as the test `install_consumer`.
set -euo pipefail

if [[ $# -ne 1 || ! -f "$1/CMakeCache.txt" ]]; then
  echo "usage: $0 <configured and built libnn build directory>" >&2
  exit 2
fi
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build="$(cd "$1" && pwd)"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/nn-install-test.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

cache_value() { sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt" | head -n 1; }

# A sanitizer build of libnn needs the same runtime in the consumer (ASan must
# come first in the link order), so build the consumer with the same flags.
sanitize="$(cache_value NN_SANITIZE)"
cflags=""
if [[ -n "$sanitize" ]]; then
  cflags="-fsanitize=$sanitize -fno-omit-frame-pointer"
fi
generator="$(cache_value CMAKE_GENERATOR)"
cc="${CC:-$(cache_value CMAKE_C_COMPILER)}"
cc="${cc:-cc}"

echo "== install $build into a temporary prefix"
cmake --install "$build" --prefix "$tmp/staging" >"$tmp/install.log" || {
  cat "$tmp/install.log"; exit 1; }
mv "$tmp/staging" "$tmp/prefix"     # relocated: nothing may point at staging/
prefix="$tmp/prefix"
find "$prefix" | sed "s|^$tmp/||" | sort

if grep -rIl "$tmp/staging" "$prefix" >/dev/null 2>&1; then
  echo "FAIL: installed files refer to the install prefix by absolute path:" >&2
  grep -rIl "$tmp/staging" "$prefix" >&2
  exit 1
fi

pcfile="$(find "$prefix" -name nn.pc -print -quit)"
libfile="$(find "$prefix" -name 'libnn.so' -print -quit)"
[[ -n "$pcfile" ]] || { echo "FAIL: nn.pc not installed" >&2; exit 1; }
[[ -n "$libfile" ]] || { echo "FAIL: libnn.so not installed" >&2; exit 1; }
[[ -f "$prefix/include/nn.h" ]] || { echo "FAIL: include/nn.h not installed" >&2; exit 1; }
libdir="$(dirname "$libfile")"
if ! readelf -d "$libfile" | grep -q 'SONAME.*\[libnn\.so\.0\]'; then
  echo "FAIL: libnn.so has no SONAME libnn.so.0" >&2
  readelf -d "$libfile" >&2
  exit 1
fi

# Clients link libnn only: oneDNN is libnn's private dependency.
check_needed() {
  if readelf -d "$1" | grep -E 'NEEDED.*(dnnl|gomp)' >&2; then
    echo "FAIL: $1 links libnn's private dependencies itself" >&2
    exit 1
  fi
  readelf -d "$1" | grep -q 'NEEDED.*\[libnn\.so\.0\]' || {
    echo "FAIL: $1 does not link libnn.so.0" >&2; exit 1; }
}

echo "== CMake: find_package(nn) + nn::nn"
gen_args=()
[[ -n "$generator" ]] && gen_args=(-G "$generator")
cmake -S "$here" -B "$tmp/consumer" "${gen_args[@]}" \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_C_COMPILER="$cc" -DCMAKE_C_FLAGS="$cflags" >"$tmp/configure.log" || {
  cat "$tmp/configure.log"; exit 1; }
grep -q "nn_DIR:PATH=$prefix/" "$tmp/consumer/CMakeCache.txt" || {
  echo "FAIL: find_package(nn) did not find the temporary prefix" >&2
  grep nn_DIR "$tmp/consumer/CMakeCache.txt" >&2; exit 1; }
cmake --build "$tmp/consumer"
check_needed "$tmp/consumer/consumer"
"$tmp/consumer/consumer"

echo "== pkg-config: cc main.c \$(pkg-config --cflags --libs nn)"
export PKG_CONFIG_PATH="$(dirname "$pcfile")"
pkg-config --exists --print-errors nn
echo "nn $(pkg-config --modversion nn): $(pkg-config --cflags --libs nn)"
# shellcheck disable=SC2046,SC2086
"$cc" -std=c99 -Wall -Wextra -Werror $cflags -o "$tmp/consumer-pc" "$here/main.c" \
  $(pkg-config --cflags --libs nn)
check_needed "$tmp/consumer-pc"
LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$tmp/consumer-pc"

echo "install_consumer: OK"
