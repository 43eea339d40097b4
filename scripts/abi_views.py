#!/usr/bin/env python3
"""The two abixml views scripts/abi_check.sh hands to abidiff.

    abi_views.py RELEASE.abi NEW.abi RELEASE_OUT.abi NEW_OUT.abi STRUCT...

RELEASE_OUT: the release dump as programs linked against it see the new
library. 0.1.0 had no symbol versions; the library puts each 0.1.0 function
in version node nn_0.1 (src/api/exports.map), where such programs bind.
abidiff pairs functions by symbol and version, so compared as stored no 0.1.0
function would be paired with its successor and no type change would ever be
reported, only removals. Each release symbol therefore gets the nn_0.1
version the new library defines for its name (`name@@nn_0.1`, or
`name@nn_0.1` where nn_0.1 is not the default, as for nn_fit_options_init);
one without an nn_0.1 version stays unversioned and is reported as removed.

NEW_OUT: the new dump with each STRUCT (a struct versioned by its first
member, grown only at its end: nn.h's rule) cut back to the release's size:
its members beyond that size are dropped, so the release's members, their
types and offsets are compared exactly, and anything else done to the struct
(a member removed, moved, retyped) is still reported. (libabigail's
has_data_member_inserted_at = end suppression hides every other change to a
struct once something was appended, so it is not used.)
"""
import re
import sys

NODE = "nn_0.1"


def versioned_release(release, new):
    default = {}  # name -> "yes" / "no": new defines name@@nn_0.1 / name@nn_0.1
    for m in re.finditer(r"<elf-symbol name='([^']*)' version='([^']*)' is-default-version='(yes|no)'", new):
        if m.group(2) == NODE:
            default[m.group(1)] = m.group(3)

    def sym(m):
        name = m.group(1)
        if name not in default:
            return m.group(0)
        return "<elf-symbol name='%s' version='%s' is-default-version='%s' " % (name, NODE, default[name])

    def ref(m):
        name = m.group(1)
        if name not in default:
            return m.group(0)
        return "elf-symbol-id='%s%s%s'" % (name, "@@" if default[name] == "yes" else "@", NODE)

    release = re.sub(r"<elf-symbol name='([^'@]*)' (?!version=)", sym, release)
    return re.sub(r"elf-symbol-id='([^'@]*)'", ref, release)


def cut_struct(release, new, struct):
    head = re.compile(r"<class-decl name='%s' size-in-bits='(\d+)'" % re.escape(struct))
    old = head.search(release)
    if not old:
        sys.exit("abi_views.py: %s is not in the release dump" % struct)
    size = int(old.group(1))
    out, pos = [], 0
    for m in head.finditer(new):
        end = new.index("</class-decl>", m.end())
        body = new[m.start():end]
        body = head.sub("<class-decl name='%s' size-in-bits='%d'" % (struct, size), body, count=1)
        body = re.sub(r"\n *<data-member access='public' layout-offset-in-bits='(\d+)'>.*?</data-member>",
                      lambda d: d.group(0) if int(d.group(1)) < size else "", body, flags=re.S)
        out += [new[pos:m.start()], body]
        pos = end
    out.append(new[pos:])
    return "".join(out)


def main():
    release_in, new_in, release_out, new_out = sys.argv[1:5]
    release = open(release_in, encoding="utf-8").read()
    new = open(new_in, encoding="utf-8").read()
    with open(release_out, "w", encoding="utf-8") as f:
        f.write(versioned_release(release, new))
    for struct in sys.argv[5:]:
        new = cut_struct(release, new, struct)
    with open(new_out, "w", encoding="utf-8") as f:
        f.write(new)


if __name__ == "__main__":
    main()
