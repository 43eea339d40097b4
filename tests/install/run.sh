#!/usr/bin/env bash
# Install a libnn build tree into a temporary prefix, move the prefix (the
# installed files must be relocatable), then build and run tests/install/main.c
# and examples/xor.c against it: as a CMake project using find_package(nn) and
# nn::nn, and with a plain compiler using `pkg-config --cflags --libs nn`.
#
# Shared libnn (the usual build): the programs find libnn.so.0 in the
# non-system prefix by an rpath (CMake sets it; pkg-config users pass
# -Wl,-rpath), by LD_LIBRARY_PATH, and, checked too, not at all without
# either: the README's "Finding libnn at run time".
# Static libnn.a (-DBUILD_SHARED_LIBS=OFF): the programs carry libnn and
# need no libnn.so; find_package and pkg-config supply libnn's private
# dependencies (oneDNN, OpenMP, dl, pthread, libstdc++, libm).
#
#   bash tests/install/run.sh <build-dir>
# Run by CTest as `install_consumer` (shared) and `install_static`
# (tests/install/static.sh builds the static tree first).
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
[[ -n "$pcfile" ]] || { echo "FAIL: nn.pc not installed" >&2; exit 1; }
[[ -f "$prefix/include/nn.h" ]] || { echo "FAIL: include/nn.h not installed" >&2; exit 1; }
libfile="$(find "$prefix" -name 'libnn.so' -print -quit)"
static_lib="$(find "$prefix" -name 'libnn.a' -print -quit)"
if [[ -n "$libfile" ]]; then
  static=0
  libdir="$(dirname "$libfile")"
  if ! readelf -d "$libfile" | grep 'SONAME.*\[libnn\.so\.0\]' >/dev/null; then
    echo "FAIL: libnn.so has no SONAME libnn.so.0" >&2
    readelf -d "$libfile" >&2
    exit 1
  fi
elif [[ -n "$static_lib" ]]; then
  static=1
  libdir="$(dirname "$static_lib")"
  echo "== static libnn.a"
else
  echo "FAIL: neither libnn.so nor libnn.a installed" >&2; exit 1
fi

# Shared: clients link libnn only (oneDNN is libnn's private dependency).
# Static: clients carry libnn, so they need oneDNN and OpenMP themselves and
# never libnn.so.
check_needed() {
  if [[ $static -eq 0 ]]; then
    if readelf -d "$1" | grep -E 'NEEDED.*(dnnl|gomp)' >&2; then
      echo "FAIL: $1 links libnn's private dependencies itself" >&2
      exit 1
    fi
    readelf -d "$1" | grep 'NEEDED.*\[libnn\.so\.0\]' >/dev/null || {
      echo "FAIL: $1 does not link libnn.so.0" >&2; exit 1; }
  else
    if readelf -d "$1" | grep -E 'NEEDED.*libnn' >&2; then
      echo "FAIL: $1 needs a shared libnn although libnn is static" >&2; exit 1
    fi
    readelf -d "$1" | grep 'NEEDED.*dnnl' >/dev/null || {
      echo "FAIL: $1 does not link oneDNN (libnn.a's private dependency)" >&2; exit 1; }
    nm "$1" | grep -E ' [Tt] nn_version$' >/dev/null || {
      echo "FAIL: $1 does not contain libnn's code" >&2; exit 1; }
  fi
}

# Runs a program with a clean LD_LIBRARY_PATH (only what is given).
run_clean() {
  env -u LD_LIBRARY_PATH "$@"
}

echo "== CMake: find_package(nn) + nn::nn (main.c and examples/xor.c)"
gen_args=()
[[ -n "$generator" ]] && gen_args=(-G "$generator")
cmake -S "$here" -B "$tmp/consumer" "${gen_args[@]}" \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release \
  -DNN_EXAMPLES_DIR="$here/../../examples" \
  -DCMAKE_C_COMPILER="$cc" -DCMAKE_C_FLAGS="$cflags" >"$tmp/configure.log" || {
  cat "$tmp/configure.log"; exit 1; }
grep -q "nn_DIR:PATH=$prefix/" "$tmp/consumer/CMakeCache.txt" || {
  echo "FAIL: find_package(nn) did not find the temporary prefix" >&2
  grep nn_DIR "$tmp/consumer/CMakeCache.txt" >&2; exit 1; }
cmake --build "$tmp/consumer"
check_needed "$tmp/consumer/consumer"
check_needed "$tmp/consumer/xor"
# CMake puts the prefix's lib folder in the build rpath: no LD_LIBRARY_PATH.
run_clean "$tmp/consumer/consumer"
run_clean "$tmp/consumer/xor" | tail -n 1

echo "== pkg-config: cc main.c \$(pkg-config --cflags --libs nn)"
export PKG_CONFIG_PATH="$(dirname "$pcfile")"
pkg-config --exists --print-errors nn
echo "nn $(pkg-config --modversion nn): $(pkg-config --cflags --libs nn)"
# shellcheck disable=SC2046,SC2086
"$cc" -std=c99 -Wall -Wextra -Werror $cflags -o "$tmp/consumer-pc" "$here/main.c" \
  $(pkg-config --cflags --libs nn)
check_needed "$tmp/consumer-pc"
if [[ $static -eq 0 ]]; then
  # Without an rpath, LD_LIBRARY_PATH or ldconfig the loader cannot find libnn.
  if out="$(run_clean "$tmp/consumer-pc" 2>&1)"; then
    echo "FAIL: a program linked against a non-system prefix started without rpath or LD_LIBRARY_PATH" >&2
    exit 1
  fi
  grep -q "libnn.so.0: cannot open shared object file" <<<"$out" || {
    echo "FAIL: unexpected failure: $out" >&2; exit 1; }
  echo "without rpath or LD_LIBRARY_PATH: $out"
  echo "-- LD_LIBRARY_PATH=$libdir"
  LD_LIBRARY_PATH="$libdir" "$tmp/consumer-pc"
  echo "-- rpath: cc ... \$(pkg-config --libs nn) -Wl,-rpath,\$(pkg-config --variable=libdir nn)"
  # shellcheck disable=SC2046,SC2086
  "$cc" -std=c99 -Wall -Wextra -Werror $cflags -o "$tmp/xor-pc" "$here/../../examples/xor.c" \
    $(pkg-config --cflags --libs nn) -Wl,-rpath,"$(pkg-config --variable=libdir nn)"
  check_needed "$tmp/xor-pc"
  run_clean "$tmp/xor-pc" | tail -n 1
else
  run_clean "$tmp/consumer-pc"
  # shellcheck disable=SC2046,SC2086
  "$cc" -std=c99 -Wall -Wextra -Werror $cflags -o "$tmp/xor-pc" "$here/../../examples/xor.c" \
    $(pkg-config --cflags --libs nn)
  check_needed "$tmp/xor-pc"
  run_clean "$tmp/xor-pc" | tail -n 1
fi

# The Rust crate links through pkg-config when NN_LIB_DIR is unset (build.rs),
# with the prefix's lib folder in the rpath: run one of its test programs
# with no NN_LIB_DIR and no LD_LIBRARY_PATH. NN_TEST_CARGO names cargo (CTest
# passes it when cargo was found).
if [[ -n "${NN_TEST_CARGO:-}" ]]; then
  echo "== Rust: build.rs through pkg-config"
  env -u NN_LIB_DIR -u LD_LIBRARY_PATH PATH="$(dirname "$NN_TEST_CARGO"):$PATH" \
    CARGO_TARGET_DIR="$build/rust-target-pkgconfig" \
    "$NN_TEST_CARGO" test --offline -q --manifest-path "$here/../../bindings/rust/Cargo.toml" \
    --test errors_and_tensors 2>&1 | tail -n 3
  [[ ${PIPESTATUS[0]} -eq 0 ]] || { echo "FAIL: the Rust crate did not build or run through pkg-config" >&2; exit 1; }
  bin="$(ls -t "$build"/rust-target-pkgconfig/debug/deps/errors_and_tensors-* | grep -v '\.d$' | head -n 1)"
  if [[ $static -eq 0 ]]; then
    readelf -d "$bin" | grep "R.*PATH.*$libdir" >/dev/null || {
      echo "FAIL: build.rs put no rpath to $libdir" >&2; readelf -d "$bin" >&2; exit 1; }
  fi
  check_needed "$bin"
fi

echo "install_consumer: OK"
