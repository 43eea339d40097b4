#!/usr/bin/env bash
# Compares a built libnn.so with the ABI of the last release (tests/abi/).
#
#   bash scripts/abi_check.sh [LIB]     LIB: libnn.so, or an abidw dump of it
#                                       (*.abi); default build-asan/libnn.so
#   bash scripts/abi_check.sh --dump path/to/libnn.so OUT.abi.gz   (make a release dump)
#
# The library must carry debug information (RelWithDebInfo or Debug) so that
# abidiff can compare types, not only symbol names. Fails when a function,
# variable or public type of the release was removed or changed; functions
# added since do not fail it (--no-added-syms). The one kind of change made on
# purpose, compatible by the rules of nn.h (a struct grown at its end under a
# version field), is allowed through VERSIONED below.
#
# scripts/abi_views.py prepares what abidiff compares: the release's symbols
# given the version node where old programs bind (nn_0.1), and the VERSIONED
# structs cut back to their release size, so that their release members are
# compared exactly. tests/abi/abi_check_detects.py (CTest
# abi_check_detects_breaks) plants breaks in a dump of the built library and
# checks that each one fails this script.
# Installs abigail-tools (abidiff, abidw) when missing.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
NN_DEPS_EXTRA="abigail-tools" bash scripts/deps.sh >/dev/null

if [[ "${1:-}" == "--dump" ]]; then
  abidw --no-corpus-path --out-file "${3%.gz}" "$2"
  gzip -9f "${3%.gz}"
  echo "abi_check.sh: wrote ${3%.gz}.gz"
  exit 0
fi

LIB="${1:-build-asan/libnn.so}"
BASE_GZ="tests/abi/libnn-0.1.0.abi.gz"
# Structs that grow at their end under a version field (nn.h): a program
# built against the release passes the release's size and version, and the
# library reads and writes only those bytes (tests/abi/fit_v1_client.c).
VERSIONED=(nn_fit_options)

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
if [[ "$LIB" == *.abi ]]; then
  NEW="$LIB"
else
  if ! readelf -S "$LIB" | grep -c '\.debug_info' >/dev/null; then
    echo "abi_check.sh: $LIB has no debug information (build it RelWithDebInfo)" >&2
    exit 2
  fi
  NEW="$TMP/new.abi"
  abidw --no-corpus-path --out-file "$NEW" "$LIB"
fi
gzip -dc "$BASE_GZ" >"$TMP/release.abi"
python3 scripts/abi_views.py "$TMP/release.abi" "$NEW" "$TMP/release-view.abi" "$TMP/new-view.abi" "${VERSIONED[@]}"
set +e
abidiff --no-added-syms --suppressions tests/abi/public-types.supp "$TMP/release-view.abi" "$TMP/new-view.abi"
rc=$?
set -e
# abidiff's status is a bit set: 1 error, 2 usage, 4 ABI change, 8 incompatible change.
if [[ $rc -ne 0 ]]; then
  echo "abi_check.sh: $LIB breaks the ABI of $BASE_GZ (abidiff exit $rc; see above)" >&2
  exit 1
fi
echo "abi_check.sh: $LIB keeps the ABI of $BASE_GZ (additions only)"
