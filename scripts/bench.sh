#!/usr/bin/env bash
# The CPU benchmark of the README's Performance section (issues 5 and 15).
#
#   bash scripts/bench.sh [--quick]
#
# 1. Builds a Release tree in build-bench/ (NN_BUILD_DIR to change it) and
#    installs libfann-dev with apt when it is missing (FANN column).
# 2. Makes (or reuses) a Python venv, build-bench/venv, with the PyPI wheels
#    of torch 2.x, onnx, onnxruntime and numpy (several GB: the torch wheel
#    pulls CUDA libraries). NN_BENCH_VENV=/path uses an existing venv instead.
#    When pip cannot reach PyPI the script says so and goes on without the
#    PyTorch and ONNX Runtime columns.
# 3. Runs tests/bench/bench_torch.py with the venv's python (PyTorch column),
#    then tests/bench/bench_cpu.c with 1 and 2 threads, which loads
#    libonnxruntime.so from the venv's onnxruntime wheel through its C API
#    (ONNX Runtime column) and prints two markdown tables: the figures of
#    libnn, PyTorch, ONNX Runtime, FANN, the dnnl_sgemm ceiling and the
#    measured FMA peak, then libnn's ratios, GFLOP/s and % of peak; then the
#    peak resident memory of 784-512-512-10 b128 training.
# Figures are medians of several repetitions in one run, with the load
# average printed before and after; they never fail: on a shared machine,
# compare columns of the same run only. The full run takes about 10 minutes
# on 2 cores; --quick (one repetition, fewer steps) under a minute.
set -euo pipefail
NN_BUILD_DIR="${NN_BUILD_DIR:-build-bench}"
NN_BUILD_TYPE=Release
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$NN_ROOT"
start=$SECONDS

quick=()
[[ "${1:-}" == "--quick" ]] && quick=(--quick)
echo "load average before: $(cat /proc/loadavg)"

if [[ ! -f /usr/include/floatfann.h ]]; then
  echo "+ installing libfann-dev (FANN columns)"
  if [[ $(id -u) -eq 0 ]]; then apt-get install -y libfann-dev || true
  else sudo apt-get install -y libfann-dev || true; fi
fi

NN_CMAKE_ARGS="${NN_CMAKE_ARGS:-} -DBUILD_TESTING=ON -DNN_FUZZ_TEST=OFF"
nn_configure >/dev/null
nn_build --target bench_cpu

# ---- the Python venv: PyTorch 2.x and ONNX Runtime from PyPI
venv="${NN_BENCH_VENV:-$NN_ROOT/$NN_BUILD_DIR/venv}"
py="$venv/bin/python"
if [[ -z "${NN_BENCH_VENV:-}" ]] && ! "$py" -c "import torch, onnx, onnxruntime, numpy" 2>/dev/null; then
  echo "+ python3 -m venv $venv && $venv/bin/pip install 'torch>=2,<3' onnx onnxruntime numpy"
  if ! { python3 -m venv "$venv" &&
         "$venv/bin/pip" install --disable-pip-version-check --quiet --timeout 30 --retries 2 \
           'torch>=2,<3' onnx onnxruntime numpy; }; then
    echo "(pip could not install torch/onnxruntime from PyPI (offline?): no PyTorch or ONNX Runtime column;"
    echo " NN_BENCH_VENV=/path/to/venv uses an existing venv that has them)"
  fi
fi

torch_out="$NN_ROOT/$NN_BUILD_DIR/bench_torch.txt"
rm -f "$torch_out"
extra=()
if "$py" -c "import torch, numpy" 2>/dev/null; then
  echo "+ $py tests/bench/bench_torch.py ${quick[*]} --threads 1,2"
  if "$py" tests/bench/bench_torch.py "${quick[@]}" --threads 1,2 >"$torch_out"; then
    extra+=(--torch "$torch_out")
  else
    echo "(bench_torch.py failed: no PyTorch column)"
  fi
else
  echo "(no torch in $venv: no PyTorch column)"
fi
ort_lib=""
for f in "$venv"/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.*; do
  [[ -f "$f" ]] && ort_lib="$f" && break
done
if [[ -n "$ort_lib" ]]; then
  extra+=(--ort "$ort_lib")
else
  echo "(no onnxruntime wheel in $venv: no ONNX Runtime column)"
fi

bench="$NN_ROOT/$NN_BUILD_DIR/tests/bench_cpu"
echo "+ $bench ${quick[*]} --threads 1,2 ${extra[*]}"
"$bench" "${quick[@]}" --threads 1,2 "${extra[@]}"
echo
echo "+ OMP_NUM_THREADS=2 $bench --rss"
OMP_NUM_THREADS=2 "$bench" --rss
echo
cpu_field() { grep -m1 "^$1[[:space:]]*:" /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'; }
echo "machine: $(nproc) cores, $(cpu_field 'model name') (family $(cpu_field 'cpu family')," \
  "model $(cpu_field model)), $(grep -o -m1 -w 'avx512f' /proc/cpuinfo || echo 'no AVX-512')"
echo "load average after: $(cat /proc/loadavg); bench.sh took $((SECONDS - start)) s"
