#!/usr/bin/env python3
"""Static check of the one cancel rule in the bindings (CTest: cancel_rule_in_step).

The rule (include/nn.h, group fit): a callback that stops training is not an
error in a binding: its fit returns normally with the last report marked
cancelled. Python and Rust test it by running; Julia cannot run here, so this
script reads bindings/julia/NN/src/*.jl and checks that

  - the public EpochReport has a `cancelled::Bool` field;
  - fit! turns NN_ERR_CANCELLED into `return EpochReport(..., true)` before
    any `_check(st)` (which would throw), and does not make it depend on
    anything else (no `&&` in that test);

and, for Python and Rust, that the code the tests exercise still says so
(Python: fit marks `cancelled = True` on ERR_CANCELLED; Rust: fit_impl returns
Ok with `cancelled = true` on NN_ERR_CANCELLED). Exit 0 when all hold, 1 otherwise.
"""

import glob
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read_all(pattern):
    text = ""
    for f in sorted(glob.glob(os.path.join(ROOT, pattern), recursive=True)):
        with open(f, encoding="utf-8") as fh:
            text += fh.read() + "\n"
    return text


def julia(problems):
    jl = re.sub(r"#[^\n]*", "", read_all("bindings/julia/NN/src/**/*.jl"))
    m = re.search(r"\bstruct\s+EpochReport\b(.*?)\bend\b", jl, re.S)
    if not m or not re.search(r"\bcancelled::Bool\b", m.group(1)):
        problems.append("julia: struct EpochReport has no cancelled::Bool field")
    m = re.search(r"\bfunction\s+fit!\s*\((.*?)\n\bend\b", jl, re.S)
    if not m:
        problems.append("julia: no function fit!")
        return
    body = m.group(1)
    c = re.search(r"if\s+st\s*==\s*NN_ERR_CANCELLED\s*\n\s*return\s+EpochReport\([^)]*,\s*true\)", body)
    if not c:
        problems.append("julia: fit! does not return EpochReport(..., true) on NN_ERR_CANCELLED "
                        "(unconditionally)")
        return
    chk = body.find("_check(st)")
    if chk != -1 and chk < c.start():
        problems.append("julia: fit! calls _check(st) before handling NN_ERR_CANCELLED")


def python(problems):
    py = read_all("bindings/python/nn/**/*.py")
    if not re.search(r"if status == _capi\.Status\.ERR_CANCELLED:\s*\n(?:.*\n){0,3}?\s*history\[-1\]\.cancelled = True\s*\n\s*return history", py):
        problems.append("python: Model.fit does not return the history marked cancelled on ERR_CANCELLED")


def rust(problems):
    rs = read_all("bindings/rust/src/**/*.rs")
    if not re.search(r"if st == sys::NN_ERR_CANCELLED \{[^}]*r\.cancelled = true;[^}]*return Ok\(r\);", rs, re.S):
        problems.append("rust: fit_impl does not return Ok with cancelled = true on NN_ERR_CANCELLED")


def main():
    problems = []
    julia(problems)
    python(problems)
    rust(problems)
    for p in problems:
        print("FAIL " + p)
    if problems:
        return 1
    print("cancel rule: python, rust and julia return normally with the report marked cancelled")
    return 0


if __name__ == "__main__":
    sys.exit(main())
