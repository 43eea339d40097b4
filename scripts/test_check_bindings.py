#!/usr/bin/env python3
"""Tests scripts/check_bindings.py itself (CTest: bindings_checker_fails).

Copies include/nn.h and the three bindings' source folders into a temporary
root, checks that the untouched copy passes, then breaks one thing at a time
(a wrong argument count, a wrong C type, a wrong return type, a wrong enum
value, a missing function, a wrong declaration in a NEW file of a binding)
and checks that the checker fails naming exactly that problem.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CHECKER = os.path.join(HERE, "check_bindings.py")
COPY = ["include", "bindings/python/nn", "bindings/rust/src", "bindings/julia/NN/src"]

# (what, file, regex to replace, replacement or None to append, expected line)
CASES = [
    ("python: argument count", "bindings/python/nn/_capi.py",
     r'"nn_tensor_zeros": \(_st, \[_en, _i, _pi64, nn_device, _ph\]\)',
     '"nn_tensor_zeros": (_st, [_en, _i, _pi64, _ph])',
     "nn_tensor_zeros: 4 arguments here, 5 in nn.h"),
    ("python: argument type", "bindings/python/nn/_capi.py",
     r'"nn_tensor_full": \(_st, \[_en, _i, _pi64, _d, nn_device, _ph\]\)',
     '"nn_tensor_full": (_st, [_en, _i, _pi64, ctypes.c_float, nn_device, _ph])',
     "nn_tensor_full: argument 4 is f32 here, f64 in nn.h"),
    ("python: return type", "bindings/python/nn/_capi.py",
     r'"nn_tensor_numel": \(ctypes.c_int64, \[_h\]\)',
     '"nn_tensor_numel": (ctypes.c_int32, [_h])',
     "nn_tensor_numel: returns i32 here, i64 in nn.h"),
    ("python: enum value", "bindings/python/nn/_capi.py",
     r"    bce = 3\n", "    bce = 4\n",
     "enum nn_loss: NN_LOSS_BCE is 4 in Loss.bce, 3 in nn.h"),
    ("python: a wrong declaration in a new file", "bindings/python/nn/zz_extra.py", None,
     'import ctypes\nEXTRA = {"nn_matmul": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_double, '
     'ctypes.POINTER(ctypes.c_void_p)])}\n',
     "nn_matmul: argument 2 is f64 here, ptr:struct:nn_tensor in nn.h"),
    ("python: missing function", "bindings/python/nn/_capi.py",
     r'    "nn_lstsq": \(_st, \[_h, _h, _ph\]\),\n', "",
     "nn_lstsq: no ctypes declaration"),
    ("rust: return type", "bindings/rust/src/sys.rs",
     r"pub fn nn_tensor_numel\(([^)]*)\) -> i64;", r"pub fn nn_tensor_numel(\1) -> i32;",
     "nn_tensor_numel: returns i32 here, i64 in nn.h"),
    ("rust: argument count", "bindings/rust/src/sys.rs",
     r"pub fn nn_matmul\(a: \*const nn_tensor, ", "pub fn nn_matmul(",
     "nn_matmul: 2 arguments here, 3 in nn.h"),
    ("rust: enum value", "bindings/rust/src/sys.rs",
     r"NN_ERR_IO: nn_status = 6;", "NN_ERR_IO: nn_status = 7;",
     "enum nn_status: NN_ERR_IO is 7 in const NN_ERR_IO, 6 in nn.h"),
    ("rust: pointer depth", "bindings/rust/src/sys.rs",
     r"pub fn nn_tensor_clone\(t: \*const nn_tensor, out: \*mut \*mut nn_tensor\)",
     "pub fn nn_tensor_clone(t: *const nn_tensor, out: *mut nn_tensor)",
     "nn_tensor_clone: argument 2 is ptr:struct:nn_tensor here, ptr:ptr:struct:nn_tensor in nn.h"),
    ("julia: argument type", "bindings/julia/NN/src/NN.jl",
     r"\(Cint, Cint, Ptr\{Int64\}, Cdouble, Device, Ptr\{Ptr\{Cvoid\}\}\)",
     "(Cint, Cint, Ptr{Int64}, Cint, Device, Ptr{Ptr{Cvoid}})",
     "nn_tensor_full: argument 4 is i32 here, f64 in nn.h"),
    ("julia: enum symbol order", "bindings/julia/NN/src/NN.jl",
     r"const LOSSES = \(:mse, :sse,", "const LOSSES = (:sse, :mse,",
     "enum nn_loss: NN_LOSS_MSE is 1 in the symbol table of nn_loss, 0 in nn.h"),
    ("julia: a wrong ccall in a new file", "bindings/julia/NN/src/zz_extra.jl", None,
     "f(t) = ccall(_f(:nn_tensor_ndim), Cint, (Ptr{Cvoid}, Cint), t, 0)\n",
     "nn_tensor_ndim: 2 arguments here, 1 in nn.h"),
]


def run(root):
    p = subprocess.run([sys.executable, CHECKER, "--root", root], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, universal_newlines=True)
    return p.returncode, p.stdout


def main():
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        clean = os.path.join(tmp, "clean")
        for d in COPY:
            shutil.copytree(os.path.join(REPO, d), os.path.join(clean, d))
        rc, out = run(clean)
        if rc != 0:
            print("FAIL: the untouched copy does not pass:\n" + out)
            return 1
        print("ok    untouched copy passes")
        for i, (what, path, pattern, repl, expect) in enumerate(CASES):
            root = os.path.join(tmp, "case%d" % i)
            shutil.copytree(clean, root)
            f = os.path.join(root, path)
            if pattern is None:
                with open(f, "w", encoding="utf-8") as fh:
                    fh.write(repl)
            else:
                with open(f, encoding="utf-8") as fh:
                    text = fh.read()
                new, n = re.subn(pattern, repl, text, count=1)
                if n != 1:
                    print("FAIL  %s: pattern not found in %s (update this test)" % (what, path))
                    failures += 1
                    continue
                with open(f, "w", encoding="utf-8") as fh:
                    fh.write(new)
            rc, out = run(root)
            if rc == 1 and expect in out:
                print("ok    %s: %s" % (what, expect))
            else:
                failures += 1
                print("FAIL  %s: exit %d, expected a line with %r:\n%s" % (what, rc, expect, out))
    print("%d passed, %d failed" % (len(CASES) + 1 - failures, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
