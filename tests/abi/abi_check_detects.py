#!/usr/bin/env python3
"""Proves that scripts/abi_check.sh fails on real ABI breaks (CTest
abi_check_detects_breaks, in trees built with debug information).

    abi_check_detects.py ROOT LIB

Dumps LIB (the libnn.so just built) with abidw, checks that the dump as it is
passes scripts/abi_check.sh, then plants one break at a time in a copy of the
dump and checks that abi_check.sh fails on it and names what broke:

  - a member of a public struct changes type (nn_epoch_report.loss: double to float);
  - a member of the versioned nn_fit_options changes type (epochs: int to
    double), which the "grown at its end" suppression must not hide;
  - a parameter changes type (nn_set_num_threads(int) to (double));
  - an enumerator changes value (NN_ERR_SHAPE: 2 to 42);
  - a 0.1.0 function disappears (nn_tensor_free).

The breaks are edits of the abixml dump, the representation abidiff compares,
so the test needs no second build of the library.
"""
import os
import re
import subprocess
import sys
import tempfile


def type_id(dump, name):
    m = re.search(r"<type-decl name='%s' size-in-bits='\d+' id='([^']+)'/>" % re.escape(name), dump)
    if not m:
        sys.exit("no base type %r in the dump" % name)
    return m.group(1)


def member_retyped(struct, member, to):
    def plant(dump):
        start = dump.index("<class-decl name='%s'" % struct)
        end = dump.index("</class-decl>", start)
        body = dump[start:end]
        new, n = re.subn(r"(<var-decl name='%s' type-id=')[^']+'" % member, r"\g<1>%s'" % type_id(dump, to), body)
        assert n == 1, (struct, member)
        return dump[:start] + new + dump[end:]
    return plant


def param_retyped(function, to):
    def plant(dump):
        start = dump.index("<function-decl name='%s'" % function)
        end = dump.index("</function-decl>", start)
        body = dump[start:end]
        new, n = re.subn(r"(<parameter type-id=')[^']+'", r"\g<1>%s'" % type_id(dump, to), body, count=1)
        assert n == 1, function
        return dump[:start] + new + dump[end:]
    return plant


def enumerator_revalued(name, value):
    def plant(dump):
        new, n = re.subn(r"(<enumerator name='%s' value=')[^']+'" % name, r"\g<1>%s'" % value, dump)
        assert n >= 1, name
        return new
    return plant


def function_removed(function):
    def plant(dump):
        new, n = re.subn(r"\n *<elf-symbol name='%s' [^\n]*/>" % function, "", dump)
        assert n == 1, function
        new, n = re.subn(r"\n *<function-decl name='%s' .*?</function-decl>" % function, "", new, flags=re.S)
        assert n >= 1, function
        return new
    return plant


PLANTS = [
    ("struct member type", member_retyped("nn_epoch_report", "loss", "float"), "type of 'double loss' changed"),
    ("versioned struct member type", member_retyped("nn_fit_options", "epochs", "double"),
     "type of 'int epochs' changed"),
    ("parameter type", param_retyped("nn_set_num_threads", "double"), "nn_set_num_threads"),
    ("enumerator value", enumerator_revalued("NN_ERR_SHAPE", "42"), "NN_ERR_SHAPE"),
    ("function removed", function_removed("nn_tensor_free"), "nn_tensor_free"),
]


def check(root, dump_path):
    r = subprocess.run(["bash", os.path.join(root, "scripts", "abi_check.sh"), dump_path], cwd=root,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return r.returncode, r.stdout


def main():
    root, lib = sys.argv[1], sys.argv[2]
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        base = os.path.join(tmp, "built.abi")
        subprocess.run(["abidw", "--no-corpus-path", "--out-file", base, lib], check=True)
        dump = open(base, encoding="utf-8").read()
        rc, out = check(root, base)
        if rc != 0:
            print(out)
            print("FAIL: the library as built does not pass abi_check.sh")
            return 1
        print("ok: the library as built passes")
        for what, plant, expect in PLANTS:
            path = os.path.join(tmp, "planted.abi")
            with open(path, "w", encoding="utf-8") as f:
                f.write(plant(dump))
            rc, out = check(root, path)
            if rc == 1 and expect in out:
                print("ok: %s fails the check" % what)
            else:
                failures += 1
                print(out)
                print("FAIL: %s: abi_check.sh exit %d, expected 1 and a report naming %r" % (what, rc, expect))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
