#!/usr/bin/env bash
# The CPU benchmark of the README's Performance section (issue 5).
#
#   bash scripts/bench.sh [--quick]
#
# Builds a Release tree in build-bench/ (NN_BUILD_DIR to change it), installs
# libfann-dev with apt when it is missing (FANN columns), runs the PyTorch
# script tests/bench/bench_torch.py when /usr/bin/python3 has torch (Debian
# python3-torch), then tests/bench/bench_cpu.c with 1 and 2 threads, which
# prints one table: libnn, FANN, PyTorch and the dnnl_sgemm ceiling side by
# side, with ratios; then the peak resident memory of 784-512-512-10 b128
# training. Figures are medians of several repetitions in one run; they never
# fail: on a shared machine, compare columns of the same run only.
set -euo pipefail
NN_BUILD_DIR="${NN_BUILD_DIR:-build-bench}"
NN_BUILD_TYPE=Release
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$NN_ROOT"

quick=()
[[ "${1:-}" == "--quick" ]] && quick=(--quick)

if [[ ! -f /usr/include/floatfann.h ]]; then
  echo "+ installing libfann-dev (FANN columns)"
  if [[ $(id -u) -eq 0 ]]; then apt-get install -y libfann-dev || true
  else sudo apt-get install -y libfann-dev || true; fi
fi

NN_CMAKE_ARGS="${NN_CMAKE_ARGS:-} -DBUILD_TESTING=ON -DNN_FUZZ_TEST=OFF"
nn_configure >/dev/null
nn_build --target bench_cpu

torch_out="$NN_ROOT/$NN_BUILD_DIR/bench_torch.txt"
rm -f "$torch_out"
torch_args=()
if /usr/bin/python3 -c "import torch" 2>/dev/null; then
  echo "+ /usr/bin/python3 tests/bench/bench_torch.py ${quick[*]}"
  /usr/bin/python3 tests/bench/bench_torch.py "${quick[@]}" --threads 1,2 >"$torch_out"
  torch_args=(--torch "$torch_out")
else
  echo "(no torch in /usr/bin/python3: no PyTorch column)"
fi

bench="$NN_ROOT/$NN_BUILD_DIR/tests/bench_cpu"
echo "+ $bench ${quick[*]} --threads 1,2 ${torch_args[*]}"
"$bench" "${quick[@]}" --threads 1,2 "${torch_args[@]}"
echo
OMP_NUM_THREADS=2 "$bench" --rss
echo
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'); load: $(cut -d' ' -f1-3 /proc/loadavg)"
