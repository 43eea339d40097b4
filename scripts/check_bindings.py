#!/usr/bin/env python3
"""Checks that the Python, Rust and Julia bindings keep up with include/nn.h.

For every function declared with NN_API in include/nn.h, each binding must
declare it with the same number of arguments and compatible C types (the
return type too), and every enum value of the header must be there with the
same number. Every file of each binding is scanned, so declarations may live
in any module:

  python  bindings/python/nn/**/*.py   ctypes: dict entries
                                        "nn_x": (restype, [argtypes]), calls
                                        f("nn_x", restype, [argtypes]) and
                                        <lib>.nn_x.argtypes / .restype
                                        assignments; enum values as IntEnum
                                        members (the C name less the enum's
                                        common prefix, any case) or module
                                        constants named as in C
  rust    bindings/rust/src/**/*.rs     `fn nn_x(a: T, ...) -> R;` in extern
                                        blocks; `pub const NN_X: T = v;`
  julia   bindings/julia/NN/src/**/*.jl `ccall(_f(:nn_x), R, (T, ...), ...)`
                                        (every call site); `const NN_X = Cint(v)`

Types are compared by ABI: integer width and signedness, float width, bool,
size_t, by-value structs, function pointers, and pointers with their pointee
(a binding's untyped pointer, c_void_p / *mut c_void / Ptr{Cvoid}, stands for
any pointer; a C enum is an int). Julia's own structs match any C struct.

Exit status 0 when every binding is in step, 1 otherwise (listing each
problem), 2 when the header cannot be read or declares no function.

Usage: check_bindings.py [--root DIR]   (default: the repository of this script)
"""

import argparse
import ast
import glob
import os
import re
import sys

BINDINGS = (
    ("python", "bindings/python/nn", ".py"),
    ("rust", "bindings/rust/src", ".rs"),
    ("julia", "bindings/julia/NN/src", ".jl"),
)

# --------------------------------------------------------------------------
# Canonical types: "i32", "u64", "f64", "bool", "size", "char", "void",
# "fnptr", "struct:NAME" ("struct:*" matches any struct), "ptr:<pointee>".
# --------------------------------------------------------------------------

C_SCALARS = {
    "void": "void", "bool": "bool", "_Bool": "bool", "char": "char",
    "int": "i32", "unsigned": "u32", "unsigned int": "u32", "signed": "i32",
    "short": "i16", "unsigned short": "u16", "long long": "i64", "unsigned long long": "u64",
    "long": "i64", "unsigned long": "u64",
    "int8_t": "i8", "uint8_t": "u8", "int16_t": "i16", "uint16_t": "u16",
    "int32_t": "i32", "uint32_t": "u32", "int64_t": "i64", "uint64_t": "u64",
    "size_t": "size", "float": "f32", "double": "f64",
}


def compatible(c, b):
    """True when a binding's canonical type b can stand for the C type c."""
    if c == b:
        return True
    if c.startswith("ptr:") and b.startswith("ptr:"):
        pc, pb = c[4:], b[4:]
        if pb == "void" or pc == "void":
            return True
        if {pc, pb} <= {"char", "i8", "u8"}:
            return True
        return compatible(pc, pb)
    if c.startswith("struct:") and b == "struct:*":
        return True
    if c == "char" and b in ("i8", "u8"):
        return True
    return False


def strip_c_comments(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def split_top(text, sep=","):
    """Splits on sep outside (), [], {}, <>."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch in "([{<":
            depth += 1
        elif ch in ")]}>":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        parts.append("".join(cur))
    return [p.strip() for p in parts]


def matching(text, i, open_ch="(", close_ch=")"):
    """Index just past the bracket that closes the one at text[i]."""
    depth = 0
    for j in range(i, len(text)):
        if text[j] == open_ch:
            depth += 1
        elif text[j] == close_ch:
            depth -= 1
            if depth == 0:
                return j + 1
    return len(text)


# --------------------------------------------------------------------------
# The header
# --------------------------------------------------------------------------

class Header:
    def __init__(self, text):
        code = strip_c_comments(text)
        self.enums = {}        # enum type -> [(NAME, value)]
        self.kinds = {}        # typedef name -> canonical type when used by value
        for m in re.finditer(r"typedef\s+enum\s+(\w*)\s*\{(.*?)\}\s*(\w+)\s*;", code, re.S):
            name = m.group(3)
            values, nxt = [], 0
            for item in split_top(m.group(2)):
                if not item:
                    continue
                k, _, v = item.partition("=")
                k = k.strip()
                val = int(eval(v.strip(), {}, dict(values))) if v.strip() else nxt  # noqa: S307
                values.append((k, val))
                nxt = val + 1
            self.enums[name] = values
            self.kinds[name] = "i32"
        for m in re.finditer(r"typedef\s+struct\s+(\w+)\s*(\{.*?\})?\s*(\w+)\s*;", code, re.S):
            self.kinds[m.group(3)] = "struct:" + m.group(3)
        for m in re.finditer(r"typedef\s+[^;()]*\(\s*\*\s*(\w+)\s*\)\s*\([^;]*\)\s*;", code):
            self.kinds[m.group(1)] = "fnptr"
        body = re.sub(r"^\s*#.*?(?<!\\)$", " ", code, flags=re.M)
        self.functions = {}    # name -> (ret, [params])
        self.order = []
        for m in re.finditer(r"\bNN_API\b([^;{}()]*?)\b(nn_[A-Za-z0-9_]+)\s*\(", body):
            name = m.group(2)
            end = matching(body, m.end() - 1)
            params = body[m.end():end - 1]
            ret = self.ctype(m.group(1))
            args = [] if params.strip() in ("", "void") else [self.ctype(p, True) for p in split_top(params)]
            if name not in self.functions:
                self.order.append(name)
            self.functions[name] = (ret, args)

    def ctype(self, decl, has_name=False):
        decl = re.sub(r"\b(const|volatile|restrict|struct|enum|NN_API)\b", " ", decl)
        arrays = decl.count("[")
        decl = re.sub(r"\[[^\]]*\]", "", decl)
        stars = decl.count("*")
        words = re.findall(r"[A-Za-z_]\w*", decl)
        if has_name and len(words) > 1:
            words = words[:-1]                      # drop the parameter's name
        base = " ".join(words)
        t = C_SCALARS.get(base) or self.kinds.get(base) or ("struct:" + base)
        for _ in range(stars + arrays):
            t = "ptr:" + t
        return t


# --------------------------------------------------------------------------
# Python (ctypes), read with ast
# --------------------------------------------------------------------------

PY_CTYPES = {
    "c_int": "i32", "c_uint": "u32", "c_int8": "i8", "c_uint8": "u8", "c_byte": "i8",
    "c_ubyte": "u8", "c_int16": "i16", "c_uint16": "u16", "c_short": "i16", "c_ushort": "u16",
    "c_int32": "i32", "c_uint32": "u32", "c_int64": "i64", "c_uint64": "u64",
    "c_longlong": "i64", "c_ulonglong": "u64", "c_long": "i64", "c_ulong": "u64",
    "c_size_t": "size", "c_ssize_t": "i64", "c_float": "f32", "c_double": "f64",
    "c_bool": "bool", "c_char": "char", "c_char_p": "ptr:char", "c_wchar_p": "ptr:wchar",
    "c_void_p": "ptr:void",
}


class PythonBinding:
    def __init__(self, files):
        self.names = {}        # module-level name -> ast expr (all files)
        self.classes = {}      # class name -> "struct" | "fnptr" | {member: value}
        self.decls = []        # (function, restype expr | None, [arg exprs] | None, file)
        self.consts = {}       # NN_X -> value
        self.text = ""
        trees = []
        for f in files:
            with open(f, encoding="utf-8") as fh:
                src = fh.read()
            self.text += src + "\n"
            try:
                trees.append((f, ast.parse(src, f)))
            except SyntaxError as e:
                self.decls.append(("<syntax>", None, None, "%s: %s" % (f, e)))
        for f, tree in trees:
            for node in tree.body:
                if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                    self.names[node.targets[0].id] = node.value
                elif isinstance(node, ast.ClassDef):
                    self._class(node)
        for f, tree in trees:
            for node in ast.walk(tree):
                if isinstance(node, ast.Dict):
                    for k, v in zip(node.keys, node.values):
                        if (isinstance(k, ast.Constant) and isinstance(k.value, str)
                                and k.value.startswith("nn_") and isinstance(v, ast.Tuple)
                                and len(v.elts) == 2 and isinstance(v.elts[1], (ast.List, ast.Tuple))):
                            self.decls.append((k.value, v.elts[0], list(v.elts[1].elts), f))
                elif (isinstance(node, ast.Call) and len(node.args) == 3
                      and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
                      and node.args[0].value.startswith("nn_")
                      and isinstance(node.args[2], (ast.List, ast.Tuple))):
                    # a helper call: declare("nn_x", restype, [argtypes])
                    self.decls.append((node.args[0].value, node.args[1], list(node.args[2].elts), f))
                elif isinstance(node, ast.Assign) and len(node.targets) == 1:
                    t = node.targets[0]
                    if (isinstance(t, ast.Attribute) and t.attr in ("argtypes", "restype")
                            and isinstance(t.value, ast.Attribute) and t.value.attr.startswith("nn_")):
                        if t.attr == "argtypes" and isinstance(node.value, (ast.List, ast.Tuple)):
                            self.decls.append((t.value.attr, None, list(node.value.elts), f))
                        elif t.attr == "restype":
                            self.decls.append((t.value.attr, node.value, None, f))
                    if (isinstance(t, ast.Subscript) and isinstance(t.slice, ast.Constant)
                            and isinstance(t.slice.value, str) and t.slice.value.startswith("nn_")
                            and isinstance(node.value, ast.Tuple) and len(node.value.elts) == 2):
                        self.decls.append((t.slice.value, node.value.elts[0], list(node.value.elts[1].elts), f))
        for name, expr in self.names.items():
            if re.match(r"NN_[A-Z0-9_]+$", name):
                v = self.value(expr)
                if v is not None:
                    self.consts[name] = v

    def _class(self, node):
        bases = [ast.unparse(b) for b in node.bases]
        if any(b.endswith("Structure") or b.endswith("Union") for b in bases):
            self.classes[node.name] = "struct"
            return
        if any(b.endswith("IntEnum") or b.endswith("IntFlag") for b in bases):
            members = {}
            for st in node.body:
                if (isinstance(st, ast.Assign) and len(st.targets) == 1
                        and isinstance(st.targets[0], ast.Name)):
                    v = self.value(st.value)
                    if v is not None:
                        members[st.targets[0].id] = v
            self.classes[node.name] = members

    def value(self, expr):
        try:
            if isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name):
                cls = self.classes.get(expr.value.id)
                if isinstance(cls, dict):
                    return cls.get(expr.attr)
                return None
            v = ast.literal_eval(expr)
            return v if isinstance(v, int) and not isinstance(v, bool) else None
        except (ValueError, TypeError, SyntaxError):
            return None

    def canon(self, expr, depth=0):
        if depth > 20:
            return "?"
        if expr is None or (isinstance(expr, ast.Constant) and expr.value is None):
            return "void"
        if isinstance(expr, ast.Name):
            if expr.id in PY_CTYPES:
                return PY_CTYPES[expr.id]
            if expr.id in self.classes:
                k = self.classes[expr.id]
                return "struct:" + expr.id if k == "struct" else "?"
            if expr.id in self.names:
                v = self.names[expr.id]
                if isinstance(v, ast.Call) and ast.unparse(v.func).endswith("CFUNCTYPE"):
                    return "fnptr"
                return self.canon(v, depth + 1)
            return "?" + expr.id
        if isinstance(expr, ast.Attribute):
            if expr.attr in PY_CTYPES:
                return PY_CTYPES[expr.attr]
            if expr.attr in self.classes or expr.attr in self.names:   # _capi.nn_device, _capi._h
                return self.canon(ast.Name(id=expr.attr), depth + 1)
            return "?" + ast.unparse(expr)
        if isinstance(expr, ast.Call):
            fn = ast.unparse(expr.func)
            if fn.endswith("POINTER") and len(expr.args) == 1:
                return "ptr:" + self.canon(expr.args[0], depth + 1)
            if fn.endswith("CFUNCTYPE"):
                return "fnptr"
        return "?" + ast.unparse(expr)


# --------------------------------------------------------------------------
# Rust (sys.rs and any other file)
# --------------------------------------------------------------------------

RUST_PRIM = {
    "i8": "i8", "u8": "u8", "i16": "i16", "u16": "u16", "i32": "i32", "u32": "u32",
    "i64": "i64", "u64": "u64", "isize": "i64", "usize": "size", "f32": "f32", "f64": "f64",
    "bool": "bool", "c_int": "i32", "c_uint": "u32", "c_char": "char", "c_schar": "i8",
    "c_uchar": "u8", "c_short": "i16", "c_ushort": "u16", "c_long": "i64", "c_ulong": "u64",
    "c_longlong": "i64", "c_ulonglong": "u64", "c_float": "f32", "c_double": "f64",
    "c_void": "void", "size_t": "size", "()": "void",
}


class RustBinding:
    def __init__(self, files):
        self.text = ""
        for f in files:
            with open(f, encoding="utf-8") as fh:
                self.text += re.sub(r"//[^\n]*", " ", fh.read()) + "\n"
        self.aliases = {m.group(1): m.group(2).strip()
                        for m in re.finditer(r"\btype\s+(\w+)\s*=\s*([^;]+);", self.text)}
        self.structs = set(re.findall(r"\bstruct\s+(\w+)", self.text))
        self.consts = {}
        for m in re.finditer(r"\bconst\s+(NN_\w+)\s*:\s*[\w:]+\s*=\s*(-?\s*\d+)\s*;", self.text):
            self.consts[m.group(1)] = int(m.group(2).replace(" ", ""))
        self.decls = []
        for m in re.finditer(r"\bfn\s+(nn_\w+)\s*\(", self.text):
            end = matching(self.text, m.end() - 1)
            params = self.text[m.end():end - 1]
            rest = self.text[end:end + 400]
            rm = re.match(r"\s*(->\s*([^;{]+))?\s*;", rest)
            if not rm:
                continue          # a Rust function with a body, not a declaration
            args = [p.split(":", 1)[1].strip() for p in split_top(params) if ":" in p]
            self.decls.append((m.group(1), (rm.group(2) or "()").strip(), args))

    def canon(self, t, depth=0):
        t = t.strip()
        if depth > 20:
            return "?"
        for prefix in ("*mut ", "*const ", "&mut ", "&"):
            if t.startswith(prefix):
                return "ptr:" + self.canon(t[len(prefix):], depth + 1)
        if t.startswith("Option<") and "fn(" in t.replace(" ", ""):
            return "fnptr"
        if re.match(r"(unsafe\s+)?(extern\s+\"C\"\s+)?fn\s*\(", t):
            return "fnptr"
        last = t.split("::")[-1]
        if last in RUST_PRIM:
            return RUST_PRIM[last]
        if last in self.aliases:
            return self.canon(self.aliases[last], depth + 1)
        if last in self.structs:
            return "struct:" + last
        return "?" + t


# --------------------------------------------------------------------------
# Julia
# --------------------------------------------------------------------------

JULIA_PRIM = {
    "Cint": "i32", "Cuint": "u32", "Clong": "i64", "Culong": "u64", "Clonglong": "i64",
    "Culonglong": "u64", "Cshort": "i16", "Cushort": "u16", "Cchar": "char", "Cuchar": "u8",
    "Csize_t": "size", "Cssize_t": "i64", "Cfloat": "f32", "Cdouble": "f64", "Cvoid": "void",
    "Nothing": "void", "Bool": "bool", "Int8": "i8", "UInt8": "u8", "Int16": "i16",
    "UInt16": "u16", "Int32": "i32", "UInt32": "u32", "Int64": "i64", "UInt64": "u64",
    "Int": "i64", "UInt": "u64", "Float32": "f32", "Float64": "f64",
    "Cstring": "ptr:char", "Ptr{UInt8}": "ptr:u8",
}


class JuliaBinding:
    def __init__(self, files):
        self.text = ""
        self.tables = {}       # C enum -> symbols in C order, from `const T = (:a, :b)  # nn_enum`
        for f in files:
            with open(f, encoding="utf-8") as fh:
                src = fh.read()
            for m in re.finditer(r"^const\s+\w+\s*=\s*\(([^)]*)\)\s*#\s*(nn_\w+)", src, re.M):
                self.tables[m.group(2)] = [x.strip().lstrip(":") for x in m.group(1).split(",") if x.strip()]
            self.text += re.sub(r"#[^\n]*", " ", src) + "\n"
        self.structs = set(re.findall(r"\bstruct\s+(\w+)", self.text))
        self.aliases = {m.group(1): m.group(2).strip()
                        for m in re.finditer(r"^const\s+(\w+)\s*=\s*(Ptr\{[^}\n]*\}|Cint|Cvoid|Csize_t)\s*$",
                                             self.text, re.M)}
        self.consts = {}
        for m in re.finditer(r"^\s*const\s+(NN_\w+)\s*=\s*(?:\w+\()?\s*(-?\d+)\s*\)?\s*$", self.text, re.M):
            self.consts[m.group(1)] = int(m.group(2))
        self.decls = []
        for m in re.finditer(r"\bccall\s*\(", self.text):
            end = matching(self.text, m.end() - 1)
            parts = split_top(self.text[m.end():end - 1])
            if len(parts) < 3:
                continue
            sym = re.search(r":(nn_\w+)", parts[0])
            if not sym:
                continue
            argt = parts[2].strip()
            if not (argt.startswith("(") and argt.endswith(")")):
                self.decls.append((sym.group(1), parts[1], None))
                continue
            args = [a for a in split_top(argt[1:-1]) if a]
            self.decls.append((sym.group(1), parts[1], args))

    def canon(self, t, depth=0):
        t = t.strip()
        if depth > 20:
            return "?"
        if t in JULIA_PRIM:
            return JULIA_PRIM[t]
        m = re.match(r"(Ptr|Ref)\{(.*)\}$", t)
        if m:
            return "ptr:" + self.canon(m.group(2), depth + 1)
        if t in self.aliases:
            return self.canon(self.aliases[t], depth + 1)
        if t in self.structs or t == "Any":
            return "struct:*"
        return "?" + t


# --------------------------------------------------------------------------
# Checking
# --------------------------------------------------------------------------

def binding_files(root, folder, ext):
    return sorted(glob.glob(os.path.join(root, folder, "**", "*" + ext), recursive=True))


def common_prefix(names):
    if len(names) == 1:
        n = names[0]
        return n[:n.rfind("_") + 1]
    p = os.path.commonprefix(names)
    return p[:p.rfind("_") + 1]


def check_enums(header, lookup):
    """lookup(enum type, C name, name less the enum's prefix) -> [(where, value)]:
    every place the binding states that value; none means missing."""
    problems = []
    for ename, values in header.enums.items():
        prefix = common_prefix([k for k, _ in values])
        for k, v in values:
            found = lookup(ename, k, k[len(prefix):])
            if not found:
                problems.append("enum %s: %s (= %d) missing" % (ename, k, v))
            for where, got in found:
                if got != v:
                    problems.append("enum %s: %s is %s in %s, %d in nn.h" % (ename, k, got, where, v))
    return problems


def check_signature(name, c_sig, ret, args, where):
    c_ret, c_args = c_sig
    problems = []
    if args is not None and len(args) != len(c_args):
        problems.append("%s: %d arguments here, %d in nn.h (%s)" % (name, len(args), len(c_args), where))
        return problems
    if ret is not None and not compatible(c_ret, ret):
        problems.append("%s: returns %s here, %s in nn.h (%s)" % (name, ret, c_ret, where))
    for i, (c, b) in enumerate(zip(c_args, args or [])):
        if not compatible(c, b):
            problems.append("%s: argument %d is %s here, %s in nn.h (%s)" % (name, i + 1, b, c, where))
    return problems


def check_python(header, files, root):
    b = PythonBinding(files)
    problems = []
    declared = {}
    for name, res, args, f in b.decls:
        if name == "<syntax>":
            problems.append("syntax error: %s" % f)
            continue
        declared.setdefault(name, []).append(f)
        if name not in header.functions:
            problems.append("%s: declared in %s but not in nn.h" % (name, os.path.relpath(f, root)))
            continue
        problems += check_signature(name, header.functions[name],
                                    None if res is None else b.canon(res),
                                    None if args is None else [b.canon(a) for a in args],
                                    os.path.relpath(f, root))
    for name in header.order:
        if name not in declared:
            problems.append("%s: no ctypes declaration (argtypes/restype)" % name)

    # The IntEnum class of each C enum: the one whose member names cover most
    # of the enum's names (less its common prefix), at least half of them.
    chosen = {}
    for ename, values in header.enums.items():
        prefix = common_prefix([k for k, _ in values])
        shorts = {k[len(prefix):].lower() for k, _ in values}
        best, score = None, 0
        for cname, members in b.classes.items():
            if isinstance(members, dict):
                n = len(shorts & {m.lower() for m in members})
                if n > score:
                    best, score = cname, n
        if best is not None and score * 2 >= len(shorts):
            chosen[ename] = best

    def lookup(ename, cname, short):
        found = []
        if cname in b.consts:
            found.append(("constant " + cname, b.consts[cname]))
        cls = chosen.get(ename)
        if cls is not None:
            for mname, v in b.classes[cls].items():
                if mname.lower() == short.lower():
                    found.append(("%s.%s" % (cls, mname), v))
        return found

    return problems + check_enums(header, lookup)


def check_rust(header, files, root):
    b = RustBinding(files)
    problems = []
    declared = set()
    for name, ret, args in b.decls:
        declared.add(name)
        if name not in header.functions:
            problems.append("%s: declared but not in nn.h" % name)
            continue
        problems += check_signature(name, header.functions[name], b.canon(ret),
                                    [b.canon(a) for a in args], "extern block")
    for name in header.order:
        if name not in declared:
            problems.append("%s: not declared in an extern \"C\" block" % name)
    return problems + check_enums(header, lambda e, k, s: [("const " + k, b.consts[k])] if k in b.consts else [])


def check_julia(header, files, root):
    b = JuliaBinding(files)
    problems = []
    declared = set()
    for name, ret, args in b.decls:
        declared.add(name)
        if name not in header.functions:
            problems.append("%s: ccall of a function not in nn.h" % name)
            continue
        problems += check_signature(name, header.functions[name], b.canon(ret),
                                    None if args is None else [b.canon(a) for a in args], "ccall")
    for name in header.order:
        if name not in declared:
            problems.append("%s: no ccall" % name)

    def lookup(ename, cname, short):
        found = [("const " + cname, b.consts[cname])] if cname in b.consts else []
        table = b.tables.get(ename)
        if table is not None:
            sym = short.lower()
            found.append(("the symbol table of %s" % ename, table.index(sym) if sym in table else "absent"))
        return found

    return problems + check_enums(header, lookup)


CHECKS = {"python": check_python, "rust": check_rust, "julia": check_julia}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    args = ap.parse_args(argv)
    path = os.path.join(args.root, "include", "nn.h")
    try:
        with open(path, encoding="utf-8") as fh:
            header = Header(fh.read())
    except OSError as e:
        print("check_bindings: cannot read %s: %s" % (path, e), file=sys.stderr)
        return 2
    if not header.functions:
        print("check_bindings: no NN_API function found in %s" % path, file=sys.stderr)
        return 2
    nvalues = sum(len(v) for v in header.enums.values())
    failed = False
    for name, folder, ext in BINDINGS:
        files = binding_files(args.root, folder, ext)
        if not files:
            problems = ["no %s file under %s" % (ext, folder)]
        else:
            problems = CHECKS[name](header, files, args.root)
        if problems:
            failed = True
            print("%-6s %d problem(s) (%d files under %s):" % (name, len(problems), len(files), folder))
            for p in problems:
                print("         %s" % p)
        else:
            print("%-6s ok: %d functions (arguments and types), %d enum values (%d files under %s)"
                  % (name, len(header.functions), nvalues, len(files), folder))
    if failed:
        print("check_bindings: bindings are not in step with include/nn.h")
        return 1
    print("check_bindings: every binding declares every nn.h function and enum value as nn.h does")
    return 0


if __name__ == "__main__":
    sys.exit(main())
