#!/usr/bin/env bash
# Build libnn and run the demo (the README's demo command).
#
#   bash scripts/demo.sh
#
# Installs missing Debian packages (scripts/deps.sh), configures a Release
# build in build/ with Ninja, builds the demo and runs it. The demo is
# examples/digits.c: a 64-64-10 network trained on the UCI handwritten digits
# bundled in examples/data/ (a few seconds), then its test accuracy and
# confusion matrix. NN_DEMO picks another example (e.g. NN_DEMO=tensors).
# Works from any directory.
# NN_BUILD_DIR, NN_BUILD_TYPE, NN_CMAKE_ARGS, NN_JOBS: see scripts/common.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$NN_ROOT"

demo="${NN_DEMO:-digits}"

bash scripts/deps.sh
nn_configure
nn_build --target "$demo"
echo "+ $NN_BUILD_DIR/examples/$demo"
echo
"$NN_ROOT/$NN_BUILD_DIR/examples/$demo"
