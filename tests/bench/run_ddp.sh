#!/usr/bin/env bash
# The data-parallel benchmark (tests/bench/bench_ddp.c): 2 ranks x 1 thread
# over MPI, then 1 process x 2 threads, same global batch (1024).
#   bash tests/bench/run_ddp.sh [build-dir] [steps]     (about a minute on 2 cores)
set -euo pipefail
build="${1:-build}"
steps="${2:-4}"
flags=()
if mpirun --version 2>/dev/null | grep -q "Open MPI"; then flags=(--allow-run-as-root --oversubscribe); fi
mpirun "${flags[@]}" -x OMP_NUM_THREADS=1 -np 2 "$build/tests/bench_ddp" "$steps"
mpirun "${flags[@]}" -x OMP_NUM_THREADS=1 --mca btl tcp,self -np 2 "$build/tests/bench_ddp" "$steps" | sed 's/^/[tcp] /'
OMP_NUM_THREADS=2 "$build/tests/bench_ddp" "$steps"
