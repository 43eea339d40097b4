#!/usr/bin/env python3
"""Checks that the Python, Rust and Julia bindings keep up with include/nn.h.

Parses the name of every function declared with NN_API in include/nn.h and
looks for each name, as a whole word, in:

  python  bindings/python/nn/*.py        (the ctypes declarations)
  rust    bindings/rust/src/sys.rs        (the extern "C" block)
  julia   bindings/julia/NN/src/*.jl      (the ccall wrappers: NN.jl and the files it includes)

A binding whose files are missing lacks every function. Exit status 0 when
every binding names every function, 1 otherwise (listing what is missing),
2 when the header cannot be read or declares no function.

Usage: check_bindings.py [--root DIR]   (default: the repository of this script)
"""

import argparse
import glob
import os
import re
import sys

BINDINGS = (
    ("python", ["bindings/python/nn/*.py"]),
    ("rust", ["bindings/rust/src/sys.rs"]),
    ("julia", ["bindings/julia/NN/src/*.jl"]),
)


def strip_c_comments(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def header_functions(header_text):
    """Names of the functions declared `NN_API <type> name(` in the header, in order."""
    code = strip_c_comments(header_text)
    # Skip the macro block that defines NN_API itself.
    code = re.sub(r"^\s*#.*?(?<!\\)$", " ", code, flags=re.M)
    names = []
    for m in re.finditer(r"\bNN_API\b([^;{}()]*?)\b(nn_[A-Za-z0-9_]+)\s*\(", code):
        if m.group(2) not in names:
            names.append(m.group(2))
    return names


def binding_text(root, patterns):
    files = []
    for pat in patterns:
        files.extend(sorted(glob.glob(os.path.join(root, pat))))
    text = []
    for f in files:
        with open(f, encoding="utf-8", errors="replace") as fh:
            text.append(fh.read())
    return files, "\n".join(text)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    args = ap.parse_args(argv)
    header = os.path.join(args.root, "include", "nn.h")
    try:
        with open(header, encoding="utf-8") as fh:
            funcs = header_functions(fh.read())
    except OSError as e:
        print("check_bindings: cannot read %s: %s" % (header, e), file=sys.stderr)
        return 2
    if not funcs:
        print("check_bindings: no NN_API function found in %s" % header, file=sys.stderr)
        return 2
    failed = False
    for name, patterns in BINDINGS:
        files, text = binding_text(args.root, patterns)
        words = set(re.findall(r"\bnn_[A-Za-z0-9_]+\b", text))
        missing = [f for f in funcs if f not in words]
        where = ", ".join(os.path.relpath(f, args.root) for f in files) or "no file (%s)" % ", ".join(patterns)
        if missing:
            failed = True
            print("%-6s MISSING %d of %d functions (%s):" % (name, len(missing), len(funcs), where))
            for f in missing:
                print("         %s" % f)
        else:
            print("%-6s ok: all %d functions (%s)" % (name, len(funcs), where))
    if failed:
        print("check_bindings: bindings are not in step with include/nn.h")
        return 1
    print("check_bindings: every binding declares every nn.h function")
    return 0


if __name__ == "__main__":
    sys.exit(main())
