#!/usr/bin/env bash
# Copies what the GPU machine lacks into .devlibs/ (ignored by git), so that
#   run(command="bash scripts/device-test.sh", carry=[".devlibs"])
# builds and tests libnn there in one call (see ../shared/GPU.md):
# oneDNN (headers, library, CMake config), CMocka (header, library, CMake
# config), and the Debian libraries they pull in (OpenCL ICD loader, libgomp).
# Only real files are copied (no symlinks, under the 64 MiB carry limit);
# scripts/device-test.sh recreates the SONAME links there.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/.devlibs"
ARCH_LIB=/usr/lib/x86_64-linux-gnu
rm -rf "$DEST"
mkdir -p "$DEST/usr/include" "$DEST/usr/lib/x86_64-linux-gnu/cmake"

copy_real() {  # copy_real <lib glob>: the real file behind each match, once
  local f r
  for f in $1; do
    [[ -e "$f" ]] || continue
    r="$(readlink -f "$f")"
    [[ -f "$DEST/usr/lib/x86_64-linux-gnu/$(basename "$r")" ]] || cp "$r" "$DEST/usr/lib/x86_64-linux-gnu/"
  done
}

# oneDNN
cp -r /usr/include/dnnl*.h /usr/include/dnnl*.hpp /usr/include/oneapi "$DEST/usr/include/"
cp -r "$ARCH_LIB/cmake/dnnl" "$DEST/usr/lib/x86_64-linux-gnu/cmake/"
copy_real "$ARCH_LIB/libdnnl.so*"
# CMocka
cp /usr/include/cmocka.h /usr/include/cmocka_pbc.h "$DEST/usr/include/"
cp -r "$ARCH_LIB/cmake/cmocka" "$DEST/usr/lib/x86_64-linux-gnu/cmake/"
copy_real "$ARCH_LIB/libcmocka.so*"
# What libdnnl / libnn load from Debian's lib folder: OpenCL ICD loader (+ headers for FindOpenCL), libgomp.
[[ -d /usr/include/CL ]] && cp -r /usr/include/CL "$DEST/usr/include/"
copy_real "$ARCH_LIB/libOpenCL.so*"
copy_real "$ARCH_LIB/libgomp.so*"

# Fallback C++ runtime: scripts/device-test.sh puts it on LD_LIBRARY_PATH only
# when the GPU machine's own libstdc++/libgcc_s lack a version libdnnl needs.
mkdir -p "$DEST/fallback"
cp "$(readlink -f "$ARCH_LIB/libstdc++.so.6")" "$DEST/fallback/libstdc++.so.6"
cp "$(readlink -f "$ARCH_LIB/libgcc_s.so.1")" "$DEST/fallback/libgcc_s.so.1"

du -sh "$DEST"
find "$DEST" -name '*.so*' -printf '%f %s\n'
