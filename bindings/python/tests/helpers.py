"""Shared helpers of the Python binding tests (standard library only)."""

import glob
import gzip
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PKG_ROOT = os.path.dirname(HERE)                     # bindings/python
REPO = os.path.dirname(os.path.dirname(PKG_ROOT))    # the repository

# NN_TEST_INSTALLED=1 (CTest's python_binding, run_installed.sh): test the
# package pip installed, with its bundled library; nothing from the checkout.
INSTALLED = os.environ.get("NN_TEST_INSTALLED") == "1"

if not INSTALLED:
    # Run by hand from the checkout: the source package, and the library of a
    # build folder of this checkout unless NN_LIBRARY_PATH names one.
    if PKG_ROOT not in sys.path:
        sys.path.insert(0, PKG_ROOT)
    if not os.environ.get("NN_LIBRARY_PATH"):
        for cand in ["build"] + sorted(os.path.basename(p) for p in glob.glob(os.path.join(REPO, "build*"))):
            lib = os.path.join(REPO, cand, "libnn.so.0")
            if os.path.exists(lib) and "asan" not in cand:
                os.environ["NN_LIBRARY_PATH"] = lib
                break

try:
    import numpy as np
except ImportError:
    np = None

import nn  # noqa: E402

# One CPU thread unless NN_TEST_THREADS says otherwise: results do not depend
# on the thread count (nn.h), and on a loaded machine (CI runners, shared
# cores) oneDNN's threads waiting on each other made the digits test 25x slower.
nn.set_num_threads(int(os.environ.get("NN_TEST_THREADS", "1")))

# The tests' own copy of the UCI digits (examples/data/digits.csv, gzipped), so
# they run wherever the package is installed.
DIGITS_CSV = os.path.join(HERE, "data", "digits.csv.gz")


def load_digits(seed=0, n_train=1437):
    """The UCI digits shipped with the tests: ((x_train, y_train), (x_test,
    y_test)) as lists, pixels scaled to [0, 1], shuffled with a seeded generator."""
    rows = []
    with gzip.open(DIGITS_CSV, "rt") as f:
        for line in f:
            v = [int(s) for s in line.split(",")]
            rows.append(([p / 16.0 for p in v[:64]], v[64]))
    random.Random(seed).shuffle(rows)
    tr, te = rows[:n_train], rows[n_train:]
    return ([r[0] for r in tr], [r[1] for r in tr]), ([r[0] for r in te], [r[1] for r in te])


def flat(x):
    """Nested lists -> flat list."""
    if isinstance(x, (list, tuple)):
        out = []
        for e in x:
            out.extend(flat(e))
        return out
    return [x]
