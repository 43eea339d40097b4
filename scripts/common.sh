# Shared by scripts/test.sh and scripts/demo.sh (sourced, not run).
# Configures and builds a libnn tree with CMake and Ninja.
#
# Environment (all optional):
#   NN_BUILD_DIR    build directory relative to the repository root (default build)
#   NN_BUILD_TYPE   CMAKE_BUILD_TYPE (default Release)
#   NN_CMAKE_ARGS   extra arguments for the configure step, e.g. -DNN_SANITIZE=address
#   NN_JOBS         parallel build/test jobs (default: all cores)

NN_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NN_BUILD_DIR="${NN_BUILD_DIR:-build}"
NN_BUILD_TYPE="${NN_BUILD_TYPE:-Release}"
NN_JOBS="${NN_JOBS:-$(nproc 2>/dev/null || echo 2)}"

nn_configure() {
  local args=(-S "$NN_ROOT" -B "$NN_ROOT/$NN_BUILD_DIR" -DCMAKE_BUILD_TYPE="$NN_BUILD_TYPE")
  # The generator of an existing tree cannot change; a new tree gets Ninja.
  if [[ ! -f "$NN_ROOT/$NN_BUILD_DIR/CMakeCache.txt" ]]; then
    args+=(-G Ninja)
  fi
  if [[ -n "${NN_CMAKE_ARGS:-}" ]]; then
    local extra
    read -r -a extra <<<"$NN_CMAKE_ARGS"
    args+=("${extra[@]}")
  fi
  echo "+ cmake ${args[*]}"
  cmake "${args[@]}"
}

nn_build() {
  echo "+ cmake --build $NN_BUILD_DIR -j $NN_JOBS $*"
  cmake --build "$NN_ROOT/$NN_BUILD_DIR" -j "$NN_JOBS" "$@"
}
