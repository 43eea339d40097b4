#!/usr/bin/env bash
# Runs on the GPU machine (see ../shared/GPU.md), after scripts/device-bundle.sh here:
#   run(command="bash scripts/device-test.sh", carry=[".devlibs"])
# Configures a fresh build for sm_90 against .devlibs, builds it with every
# core, runs the whole test suite (test_cuda runs the CPU/GPU parity cases
# when a GPU is visible), then the GPU benchmarks if any are built (ctest
# label "bench"), and writes logs to $OUT/ (or ./device-out without $OUT).
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${OUT:-$ROOT/device-out}"
mkdir -p "$OUT"
DEV="$ROOT/.devlibs/usr"
LIBDIR="$DEV/lib/x86_64-linux-gnu"
BUILD="$ROOT/build-device"
LOG="$OUT/device-test.log"
exec > >(tee "$LOG") 2>&1

if [[ ! -d "$LIBDIR" ]]; then
  echo "no .devlibs: run scripts/device-bundle.sh first and carry .devlibs" >&2
  exit 2
fi
# SONAME and linker-name links for the bundled real files.
for f in "$LIBDIR"/*.so.*; do
  base="$(basename "$f")"
  soname="$(readelf -d "$f" 2>/dev/null | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')"
  [[ -n "$soname" && "$soname" != "$base" ]] && ln -sf "$base" "$LIBDIR/$soname"
  ln -sf "$base" "$LIBDIR/${base%%.so*}.so"
done
export LD_LIBRARY_PATH="$LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

echo "== $(date -u +%FT%TZ) commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
nvcc --version | tail -1

rm -rf "$BUILD"
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CUDA_ARCHITECTURES=90 -DNN_FUZZ_TEST=OFF \
  -DCMAKE_PREFIX_PATH="$DEV" \
  -Ddnnl_DIR="$LIBDIR/cmake/dnnl" -Dcmocka_DIR="$LIBDIR/cmake/cmocka" \
  -DOpenCL_INCLUDE_DIR="$DEV/include" -DOpenCL_LIBRARY="$LIBDIR/libOpenCL.so" || exit 3
cmake --build "$BUILD" -j "$(nproc)" || exit 4

status=0
ctest --test-dir "$BUILD" --output-on-failure -j 4 -LE bench || status=1
echo "== test_cuda in full"
"$BUILD/tests/test_cuda" || status=1
if ctest --test-dir "$BUILD" -N -L bench | grep -q "Test #"; then
  echo "== GPU benchmarks"
  ctest --test-dir "$BUILD" -L bench -V || true
else
  echo "== no GPU benchmarks registered (ctest label bench)"
fi
echo "== exit status $status"
exit $status
