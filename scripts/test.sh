#!/usr/bin/env bash
# Build libnn and run its whole test suite (the README's test command).
#
#   bash scripts/test.sh [ctest arguments...]
#
# Installs missing Debian packages (scripts/deps.sh), configures a Release
# build in build/ with Ninja, builds it with every core and runs ctest.
# Safe to run again: it only rebuilds what changed. Works from any directory.
# NN_BUILD_DIR, NN_BUILD_TYPE, NN_CMAKE_ARGS, NN_JOBS: see scripts/common.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$NN_ROOT"

bash scripts/deps.sh
nn_configure
nn_build
echo "+ ctest --test-dir $NN_BUILD_DIR --output-on-failure -j $NN_JOBS $*"
ctest --test-dir "$NN_ROOT/$NN_BUILD_DIR" --output-on-failure -j "$NN_JOBS" "$@"
