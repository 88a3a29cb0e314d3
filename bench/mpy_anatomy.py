"""What a .mpy file puts in the heap when a board imports it from its
filesystem (issue 24: "where the heap goes: bytecode, names, objects").

Read from the compiled file itself (.mpy version 6, bytecode only: the
format is MicroPython's docs/reference/mpyfiles.rst), each figure in the
heap blocks the loader allocates for it (`word` bytes a word, GC blocks of
four words):

- bytecode: one block run per function (its bytecode, argument names and
  line numbers), and the function's table of nested functions;
- string constants: each long string (11 characters or more; shorter ones
  are interned names) and each bytes constant is an object and a copy of its
  text (the loader hands out an interned name instead when one of the same
  text exists already, so this is an upper bound);
- tables: the module's table of the names and of the constant objects its
  code refers to, one block.

What importing the module measures beyond these (bench/modules.py) is the
rest: each function's code object and function object, classes, the dicts
of the module and of its classes, and the objects its top level makes.

    python bench/mpy_anatomy.py DIR [--word 4]   # every .mpy under DIR, largest first

Host-side only; nothing here goes to the device.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
from romfs_names import name_table, read_uint  # noqa: E402 - the .mpy header and table of names

_STR, _BYTES, _INT, _FLOAT, _COMPLEX, _TUPLE = 5, 6, 7, 8, 9, 10  # py/persistentcode.h


class NativeCode(ValueError):
    pass


def _blocks(nbytes, word):
    block = 4 * word
    return (nbytes + block - 1) // block * block


def read(data, word=4):
    """{functions, bytecode, strings, string_heap, names, tables} of one
    .mpy file's contents; the *_heap, bytecode and tables figures are heap
    bytes for a `word`-byte port."""
    n_names, n_objs, _, at, _ = name_table(data)
    out = {"functions": 0, "bytecode": 0, "strings": 0, "string_heap": 0, "names": n_names}

    def obj(at):
        kind = data[at]
        at += 1
        if kind == _TUPLE:
            n, at = read_uint(data, at)
            for _ in range(n):
                at = obj(at)
        elif kind in (_STR, _BYTES):
            n, at = read_uint(data, at)
            at += n + 1
            if n:
                out["strings"] += 1
                out["string_heap"] += _blocks(4 * word, word) + _blocks(n + 1, word)
        elif kind in (_INT, _FLOAT, _COMPLEX):
            n, at = read_uint(data, at)
            at += n
        return at

    def code(at):
        kind_len, at = read_uint(data, at)
        if kind_len & 3:
            raise NativeCode("native code: only bytecode is read")
        at += kind_len >> 3
        out["functions"] += 1
        out["bytecode"] += _blocks(kind_len >> 3, word)
        if kind_len & 4:
            n, at = read_uint(data, at)
            out["bytecode"] += _blocks(word * n, word)
            for _ in range(n):
                at = code(at)
        return at

    for _ in range(n_objs):
        at = obj(at)
    at = code(at)
    if at != len(data):
        raise ValueError("%d bytes left after the module's code" % (len(data) - at))
    out["functions"] -= 1  # the module's top level is no function of its own
    out["tables"] = _blocks((2 * n_names + word - 1) // word * word + word * n_objs, word)
    return out


def of_tree(root, word=4):
    """{dotted module name: read()} of every .mpy file under root (a
    package's __init__.mpy under the package's name); None for a module
    with native code (link/mask_native.py), which this does not read."""
    root = Path(root)
    got = {}
    for p in sorted(root.rglob("*.mpy")):
        parts = list(p.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        try:
            got[".".join(parts)] = read(p.read_bytes(), word)
        except NativeCode:
            got[".".join(parts)] = None
    return got


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", help="a tree of .mpy files (bench/common.py compile_lib's)")
    ap.add_argument("--word", type=int, default=4, help="bytes in a word of the port (default %(default)s: 32-bit)")
    args = ap.parse_args(argv)
    got = of_tree(args.dir, args.word)
    print("%8s %6s %8s %8s %6s %8s  module" % ("bytecode", "funcs", "strings", "in heap", "names", "tables"))
    for m, a in sorted(((m, a) for m, a in got.items() if a), key=lambda kv: -kv[1]["bytecode"]):
        print("%8d %6d %8d %8d %6d %8d  %s" % (a["bytecode"], a["functions"], a["strings"], a["string_heap"], a["names"], a["tables"], m))
    return 0


if __name__ == "__main__":
    sys.exit(main())
