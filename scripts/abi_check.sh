#!/usr/bin/env bash
# Compares a built libnn.so with the ABI of the last release (abi/).
#
#   bash scripts/abi_check.sh [path/to/libnn.so]     (default: build-asan/libnn.so)
#   bash scripts/abi_check.sh --dump path/to/libnn.so OUT.abi   (make a release dump)
#
# The library must carry debug information (RelWithDebInfo or Debug) so that
# abidiff can compare types, not only symbol names. Fails when a function,
# variable or public type of the release was removed or changed; functions
# added since do not fail it (--no-added-syms). Changes made on purpose,
# compatible by the rules of nn.h (a struct grown at its end under a version
# field), are listed in abi/libnn.abignore with their reasons.
# Installs abigail-tools (abidiff, abidw) when missing.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
NN_DEPS_EXTRA="abigail-tools" bash scripts/deps.sh >/dev/null

if [[ "${1:-}" == "--dump" ]]; then
  abidw --suppressions abi/public-types.supp --no-corpus-path --out-file "$3" "$2"
  echo "abi_check.sh: wrote $3"
  exit 0
fi

LIB="${1:-build-asan/libnn.so}"
BASE="abi/libnn-0.1.0.abi"
if ! readelf -S "$LIB" | grep -q '\.debug_info'; then
  echo "abi_check.sh: $LIB has no debug information (build it RelWithDebInfo)" >&2
  exit 2
fi
set +e
abidiff --no-added-syms --suppressions abi/public-types.supp \
  --suppressions abi/libnn.abignore "$BASE" "$LIB"
rc=$?
set -e
# abidiff's status is a bit set: 1 error, 2 usage, 4 ABI change, 8 incompatible change.
if [[ $rc -ne 0 ]]; then
  echo "abi_check.sh: $LIB breaks the ABI of $BASE (abidiff exit $rc; see above)" >&2
  exit 1
fi
echo "abi_check.sh: $LIB keeps the ABI of $BASE (additions only)"
