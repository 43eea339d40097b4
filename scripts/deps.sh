#!/usr/bin/env bash
# Install what a fresh Debian 12 machine lacks to build and test libnn.
#
# Only packages that are missing are installed (checked with dpkg-query), so a
# second run does nothing and needs no network. `apt-get update` runs only when
# something has to be installed.
#
#   bash scripts/deps.sh            install what is missing
#   NN_DEPS_EXTRA="clang" bash scripts/deps.sh   also install these packages
set -euo pipefail

# What the build, the tests and the examples need.
#   cmake, ninja-build, g++, pkg-config  the build (pkg-config also for tests/install)
#   libdnnl-dev         oneDNN, the CPU backend
#   ocl-icd-opencl-dev  Debian's oneDNN is built with the OpenCL GPU runtime, so its
#                       CMake config (find_package(dnnl)) requires OpenCL headers and
#                       libOpenCL.so; without them configuring fails.
#   libcmocka-dev       the C test framework
#   python3             test helpers
#   python3-venv        the venv in which CTest's python_binding pip-installs the
#                       Python package (pip then fetches scikit-build-core and
#                       NumPy from PyPI)
#   binutils            nm/readelf for the exported-symbols test (usually with g++)
#   clang, libclang-rt-14-dev  the bounded libFuzzer run of the model loader
#                       (tests/fuzz; libFuzzer and clang's sanitizer runtimes are
#                       in libclang-rt-14-dev, which clang only recommends)
#   libopenmpi-dev, openmpi-bin  the MPI module libnn_mpi.so (process groups,
#                       data-parallel fit) and mpirun for its tests and examples
#   python3-mpi4py      the Python binding's test of an mpi4py communicator
packages=(
  cmake
  ninja-build
  g++
  pkg-config
  libdnnl-dev
  ocl-icd-opencl-dev
  libcmocka-dev
  python3
  python3-venv
  binutils
  clang
  libclang-rt-14-dev
  libopenmpi-dev
  openmpi-bin
  python3-mpi4py
)
if [[ -n "${NN_DEPS_EXTRA:-}" ]]; then
  read -r -a extra <<<"${NN_DEPS_EXTRA}"
  packages+=("${extra[@]}")
fi

missing=()
for p in "${packages[@]}"; do
  status="$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)"
  if [[ "$status" != "installed" ]]; then
    missing+=("$p")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "deps.sh: all build dependencies are installed"
  exit 0
fi

echo "deps.sh: installing ${missing[*]}"
if [[ "$(id -u)" -eq 0 ]]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "deps.sh: need root (or sudo) to install: ${missing[*]}" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -q --no-install-recommends "${missing[@]}"
