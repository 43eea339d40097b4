#!/usr/bin/env bash
# Runs on the GPU machine (see ../shared/GPU.md), after scripts/device-bundle.sh here:
#   run(command="bash scripts/device-test.sh", carry=[".devlibs"])
# Configures a fresh build for sm_90 against .devlibs, builds it with every
# core, runs the whole test suite (test_cuda runs the CPU/GPU parity cases
# when a GPU is visible), then the GPU benchmarks (tests/bench/bench_gpu.c
# against tests/bench/bench_torch_gpu.py on the same GPU), each under a time
# cap, and writes to $OUT/ (or ./device-out without $OUT), 5 files:
#   device-test.log  everything (versions, build, ctest, test_cuda, benches)
#   ctest.log        the ctest run (CPU and _cuda variants of every program)
#   test_cuda.log    test_cuda in full
#   bench-gpu.txt    the benchmark table (markdown)
#   torch-gpu.txt    PyTorch's raw figures
# Exit status: 0 all passed; 1 a test failed, or a GPU is visible but libnn
# sees none; 2 no .devlibs; 3 configure failed; 4 build failed.
# Without a GPU (a dry run) it builds, runs the tests (CUDA cases skipped)
# and says that CUDA is unavailable. NN_DEVICE_BUILD overrides the build dir.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${OUT:-$ROOT/device-out}"
mkdir -p "$OUT"
DEV="$ROOT/.devlibs/usr"
LIBDIR="$DEV/lib/x86_64-linux-gnu"
BUILD="${NN_DEVICE_BUILD:-$ROOT/build-device}"
LOG="$OUT/device-test.log"
JOBS="$(nproc)"
T0=$(date +%s)
exec > >(tee "$LOG") 2>&1
stamp() { echo "== [+$(( $(date +%s) - T0 ))s] $*"; }
# cap N: N seconds, or what is left of the whole run's budget (NN_DEVICE_BUDGET,
# default 560 s: inside the device tool's 600 s limit, so $OUT always comes back).
BUDGET="${NN_DEVICE_BUDGET:-560}"
cap() { local left=$(( BUDGET - ($(date +%s) - T0) )); (( left < 5 )) && left=5; (( $1 < left )) && echo "$1" || echo "$left"; }

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
ORIG_LD_LIBRARY_PATH="${LD_LIBRARY_PATH:-}"
export LD_LIBRARY_PATH="$LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# This machine's C++ runtime too old for the bundled (Debian 12) libdnnl? Use the bundled one.
if ldd "$LIBDIR"/libdnnl.so.* 2>&1 | grep -q "not found"; then
  echo "libdnnl misses something with the system runtime:"; ldd "$LIBDIR"/libdnnl.so.* 2>&1 | grep "not found"
  [[ -d "$ROOT/.devlibs/fallback" ]] && export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$ROOT/.devlibs/fallback" \
    && echo "using .devlibs/fallback (libstdc++, libgcc_s)"
  ldd "$LIBDIR"/libdnnl.so.* 2>&1 | grep "not found" || true
fi

stamp "$(date -u +%FT%TZ) commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader || echo "nvidia-smi: no GPU"
GPU_SEEN=0
nvidia-smi -L 2>/dev/null | grep -q "^GPU" && GPU_SEEN=1
nvidia-smi 2>/dev/null | grep -o "CUDA Version: [0-9.]*" || true
nvcc --version | tail -1
echo "$(ldd --version | head -1); $(nproc) cores; cmake $(cmake --version | head -1 | cut -d' ' -f3)"

rm -rf "$BUILD"
stamp configure
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CUDA_ARCHITECTURES=90 -DNN_FUZZ_TEST=OFF -DNN_BUILD_EXAMPLES=ON \
  -DCMAKE_PREFIX_PATH="$DEV" \
  -Ddnnl_DIR="$LIBDIR/cmake/dnnl" -Dcmocka_DIR="$LIBDIR/cmake/cmocka" \
  -DOpenCL_INCLUDE_DIR="$DEV/include" -DOpenCL_LIBRARY="$LIBDIR/libOpenCL.so" || exit 3
stamp "build (-j $JOBS)"
timeout "$(cap 420)" cmake --build "$BUILD" -j "$JOBS" || exit 4
ls -la "$BUILD"/libnn_cuda.so* "$BUILD"/tests/bench_gpu 2>&1 | sed 's/^/  /'

status=0
stamp "ctest -j $JOBS (every device-generic test twice: CPU, then <name>_cuda on cuda:0; test_cuda)"
timeout "$(cap 240)" ctest --test-dir "$BUILD" --output-on-failure -j "$JOBS" -LE bench 2>&1 \
  | tee "$OUT/ctest.log"
[[ ${PIPESTATUS[0]} -ne 0 ]] && status=1
# The CUDA runs of the device-generic programs: passed / skipped / failed.
cuda_pass=$(grep -cE "Test +#[0-9]+: test_[a-z_]+_cuda [.]+ +Passed" "$OUT/ctest.log")
cuda_skip=$(grep -cE "Test +#[0-9]+: test_[a-z_]+_cuda [.]+[*]+Skipped" "$OUT/ctest.log")
cuda_fail=$(grep -E "Test +#[0-9]+: test_[a-z_]+_cuda " "$OUT/ctest.log" | grep -cvE "Passed|Skipped")
echo "device-generic programs on CUDA: $cuda_pass passed, $cuda_skip skipped, $cuda_fail failed"
if [[ $GPU_SEEN -eq 1 && $cuda_skip -gt 0 ]]; then
  echo "!! nvidia-smi lists a GPU but $cuda_skip device-generic programs skipped CUDA: FAILED"
  status=1
fi
stamp "test_cuda in full"
# NN_CUDA_DEBUG=1: the log also says why any CUDA graph capture or cuBLASLt
# plan fell back (the graph/eager bit-identity cases pass either way).
NN_CUDA_DEBUG=1 timeout "$(cap 150)" "$BUILD/tests/test_cuda" > "$OUT/test_cuda.log" 2>&1
rc=$?
cat "$OUT/test_cuda.log"
[[ $rc -ne 0 ]] && status=1
echo "CUDA graph captures dropped in test_cuda: $(grep -c "CUDA graph recording .* dropped" "$OUT/test_cuda.log")"
if grep -q "skipped: no CUDA device" "$OUT/test_cuda.log"; then
  if [[ $GPU_SEEN -eq 1 ]]; then
    echo "!! nvidia-smi lists a GPU but libnn sees no CUDA device (see the reason above): FAILED"
    status=1
  else
    echo "(no GPU on this machine: the CUDA cases were skipped; a dry run)"
  fi
fi

# GPU benchmarks: PyTorch first (its figures file), then libnn + cuBLAS.
if [[ -x "$BUILD/tests/bench_gpu" ]]; then
  PY=""
  for p in python3 /usr/bin/python3 python; do
    if LD_LIBRARY_PATH="$ORIG_LD_LIBRARY_PATH" "$p" -c "import torch" 2>/dev/null; then PY="$p"; break; fi
  done
  TORCH_ARGS=()
  if [[ -n "$PY" ]]; then
    stamp "PyTorch on the GPU: $PY tests/bench/bench_torch_gpu.py"
    LD_LIBRARY_PATH="$ORIG_LD_LIBRARY_PATH" timeout "$(cap 150)" "$PY" "$ROOT/tests/bench/bench_torch_gpu.py" \
      > "$OUT/torch-gpu.txt" || echo "(bench_torch_gpu.py failed or timed out: partial figures)"
    cat "$OUT/torch-gpu.txt"
    TORCH_ARGS=(--torch "$OUT/torch-gpu.txt")
  else
    echo "(no python with torch: no PyTorch column)"
  fi
  stamp "libnn on the GPU: bench_gpu ${TORCH_ARGS[*]}"
  timeout "$(cap 180)" "$BUILD/tests/bench_gpu" "${TORCH_ARGS[@]}" > "$OUT/bench-gpu.txt" \
    || echo "(bench_gpu failed or timed out: rc $?)"
  cat "$OUT/bench-gpu.txt"
else
  echo "== bench_gpu not built (no CUDA backend in this build)"
fi
stamp "exit status $status"
exit $status
