#!/usr/bin/env bash
# Builds the libFuzzer target for nn_model_load_buffer (the library's sources
# compiled into it with -fsanitize=fuzzer,address,undefined, using Debian's
# clang and libclang-rt-dev) and fuzzes it for a bounded time.
#
#   bash tests/fuzz/run.sh [SECONDS] [BUILD_DIR] [extra libFuzzer flags...]
#
# SECONDS defaults to 60, BUILD_DIR to build-fuzz/ at the repository root.
# Seeds: tests/fuzz/corpus/ (read only); what the run finds goes to
# BUILD_DIR/corpus/, crash reproducers to BUILD_DIR/artifacts/. Exits
# non-zero on any crash, sanitizer report, leak, an input that takes more
# than 1 s (-timeout=1: the loader is linear in its input, nn.h) or an
# allocation above -malloc_limit_mb (256 MiB; the inputs are <= 1 MiB),
# and 77 (skip) when clang cannot build a fuzzer.
# Environment: NN_FUZZ_CXX (the clang++ to use), NN_FUZZ_JOBS (parallel
# compiles), NN_FUZZ_TARGET (with or without the fuzz_ prefix):
# fuzz_load_buffer (the default: nn_model_load_buffer, seeds corpus/,
# safetensors.dict), fuzz_import_onnx (nn_model_import_onnx, corpus_onnx/,
# onnx.dict) or fuzz_npy (the .npy parser of nn_tensor_load_npy,
# corpus_npy/, npy.dict); what a run finds goes to BUILD_DIR/corpus[_name]/.
# To keep what a long run found: add -merge=1 ... see tests/fuzz/README.md.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SECS="${1:-60}"
TARGET="${NN_FUZZ_TARGET:-fuzz_load_buffer}"
[[ "$TARGET" == fuzz_* ]] || TARGET="fuzz_$TARGET"
case "$TARGET" in
  fuzz_load_buffer) SEEDS="$ROOT/tests/fuzz/corpus"; DICT="$ROOT/tests/fuzz/safetensors.dict"; WHAT=nn_model_load_buffer ;;
  fuzz_import_onnx) SEEDS="$ROOT/tests/fuzz/corpus_onnx"; DICT="$ROOT/tests/fuzz/onnx.dict"; WHAT=nn_model_import_onnx ;;
  fuzz_npy) SEEDS="$ROOT/tests/fuzz/corpus_npy"; DICT="$ROOT/tests/fuzz/npy.dict"; WHAT=nn_tensor_load_npy ;;
  *) echo "run.sh: unknown NN_FUZZ_TARGET '$TARGET' (fuzz_load_buffer, fuzz_import_onnx or fuzz_npy)" >&2; exit 2 ;;
esac
BUILD="${2:-$ROOT/build-fuzz}"
shift $(( $# > 2 ? 2 : $# ))
mkdir -p "$BUILD"
BUILD="$(cd "$BUILD" && pwd)"

CXX="${NN_FUZZ_CXX:-}"
if [[ -z "$CXX" ]]; then
  for c in clang++-14 clang++; do
    if command -v "$c" >/dev/null 2>&1; then CXX="$c"; break; fi
  done
fi
if [[ -z "$CXX" ]]; then
  echo "run.sh: no clang++ found: skipping" >&2
  exit 77
fi
LAUNCHER=""
if command -v ccache >/dev/null 2>&1; then LAUNCHER="ccache "; fi

SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
# The CUDA build id header CMake generates (no CUDA module is built here).
mkdir -p "$BUILD/generated"
echo '#define NN_CUDA_BUILD_ID "fuzz-build"' >"$BUILD/generated/nn_cuda_build_id.h.new"
cmp -s "$BUILD/generated/nn_cuda_build_id.h.new" "$BUILD/generated/nn_cuda_build_id.h" ||
  mv "$BUILD/generated/nn_cuda_build_id.h.new" "$BUILD/generated/nn_cuda_build_id.h"
rm -f "$BUILD/generated/nn_cuda_build_id.h.new"
CFLAGS="-std=c++17 -O1 -g $SAN -fsanitize=fuzzer-no-link -fopenmp -DNN_BUILDING_LIBRARY -I$ROOT/include -I$ROOT/src -I$BUILD/generated"
LDFLAGS="$SAN -fsanitize=fuzzer -fopenmp"
LIBS="-ldnnl -lpthread -lm"

# Probe: can this clang link a libFuzzer program at all?
if ! echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char *, unsigned long) { return 0; }' |
    "$CXX" -x c++ - -fsanitize=fuzzer,address,undefined -o "$BUILD/probe" >/dev/null 2>&1; then
  echo "run.sh: $CXX cannot link -fsanitize=fuzzer (install libclang-rt-dev): skipping" >&2
  exit 77
fi

# A small ninja file (the library's own CMake build uses the project's compiler).
SOURCES=$(cd "$ROOT" && ls src/api/*.cpp src/nn/*.cpp src/core/*.cpp src/io/*.cpp src/backend/*.cpp \
  src/backend/cpu/*.cpp | sort)
{
  echo "cxx = $LAUNCHER$CXX"
  echo "rule cc"
  echo "  command = \$cxx $CFLAGS -MMD -MF \$out.d -c \$in -o \$out"
  echo "  depfile = \$out.d"
  echo "  deps = gcc"
  echo "  description = CXX \$in"
  echo "rule link"
  echo "  command = $CXX \$in -o \$out $LDFLAGS $LIBS"
  echo "  description = LINK \$out"
  objs=""
  for s in $SOURCES; do
    o="obj/${s//\//_}.o"
    echo "build $o: cc $ROOT/$s"
    objs="$objs $o"
  done
  for t in fuzz_load_buffer fuzz_import_onnx fuzz_npy; do
    echo "build obj/$t.o: cc $ROOT/tests/fuzz/$t.cc"
    echo "build $t: link$objs obj/$t.o"
  done
} >"$BUILD/build.ninja.new"
if ! cmp -s "$BUILD/build.ninja.new" "$BUILD/build.ninja" 2>/dev/null; then
  mv "$BUILD/build.ninja.new" "$BUILD/build.ninja"
else
  rm -f "$BUILD/build.ninja.new"
fi
if command -v ninja >/dev/null 2>&1; then
  ninja -C "$BUILD" ${NN_FUZZ_JOBS:+-j "$NN_FUZZ_JOBS"} "$TARGET"
else
  echo "run.sh: ninja is needed to build the fuzzer" >&2
  exit 1
fi

CORPUS="$BUILD/corpus"
[[ "$TARGET" == fuzz_load_buffer ]] || CORPUS="$BUILD/corpus_${TARGET#fuzz_}"
mkdir -p "$CORPUS" "$BUILD/artifacts"
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=0:allocator_may_return_null=0:${NN_FUZZ_ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export OMP_NUM_THREADS=1
echo "run.sh: fuzzing $WHAT for $SECS s"
set +e
"$BUILD/$TARGET" \
  -max_total_time="$SECS" -timeout=1 -rss_limit_mb=2048 -malloc_limit_mb=256 -max_len=1048576 \
  -dict="$DICT" -print_final_stats=1 \
  -artifact_prefix="$BUILD/artifacts/${TARGET#fuzz_}-" "$@" \
  "$CORPUS" "$SEEDS"
rc=$?
set -e
if [[ $rc -ne 0 ]]; then
  echo "run.sh: the fuzzer failed (exit $rc); reproducers in $BUILD/artifacts/" >&2
  ls -l "$BUILD/artifacts/" >&2 || true
  exit 1
fi
echo "run.sh: no crash in $SECS s"
