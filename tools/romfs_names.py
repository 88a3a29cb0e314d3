"""Put the names that importing the charger's modules interns into a ROMFS
image, so that they stay in flash (issue 24).

    python tools/romfs_names.py STAGE     # append them to STAGE/uocpp_loader.mpy (make romfs does)
    python tools/romfs_names.py --trace   # rewrite frozen/romfs_modules.txt from a traced boot
    python tools/romfs_names.py --firmware STAGE OUT.mpy MPY_CROSS [SCRIPT.py ...]   # for its firmware (make romfs)

Importing a module interns its dotted name ("uocpp.link.websocket") and the
path it was found at ("/rom/uocpp/link/websocket.mpy"), and a package keeps
its directory as a string (__path__, "/rom/uocpp/link"). The firmware never
spells these out, so on a ROMFS image, where every name a module's .mpy
holds is interned in place (the heap gets only its entry in the names'
table), they are copied into the heap: about 3 KB for the modules a boot
loads. Here they are appended to the table of names of uocpp_loader.mpy,
the first module every boot imports (main.py): its code does not refer to
them, but loading it interns them, in place, before any other module of
ours is imported.

Only the modules a boot loads (frozen/romfs_modules.txt: the unix port's
boot and the charging session's modules, which uocpp/main.py loads at
boot, then the ESP32 platform's and its drivers', traced on the ESP32 twin):
a name nothing else would intern still takes an entry, and the entries'
tables grow by doubling (the 1,261st name on a 32-bit board allocates a
table of 1,280, docs/memory.md). The unix port's two simulator modules cost
a board an entry each, the ESP32's eight the unix port. The test suite
checks the list against the two traced boots.

A firmware built for ROMFS can hold the names themselves (--firmware):
OUT.mpy is a module without code whose table lists every name of every
module in the image, and the names importing each one interns; frozen into
the firmware (manifest_romfs.py), they are all in flash, in the firmware's
own pool, and a module loaded from the image finds its names there and
adds no entry to the heap's pools. An image of a later library still runs
on that firmware: only the names it adds are interned in the heap.

The .mpy format (version 6): "M", version, flags, small-int bits; the count
of names and of constant objects (variable-length integers); the names,
each its length times two (plus one for a name the firmware has built in,
then no text) and its text with a NUL; then the objects and the code.
"""

import subprocess
import sys
from pathlib import Path

from frozen_names import ASYNCIO

REPO = Path(__file__).resolve().parent.parent
MODULES = REPO / "frozen" / "romfs_modules.txt"
PREFIX = "/rom/"  # where a board mounts its ROMFS partition
LOADER = "uocpp_loader"  # the first module every boot imports (main.py)
FIRST = LOADER + ".mpy"


def _uint(n):
    # MicroPython's variable-length unsigned integer: 7 bits a byte, most
    # significant first, the top bit set on every byte but the last.
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.insert(0, 0x80 | (n & 0x7F))
        n >>= 7
    return bytes(out)


def read_uint(data, at):
    n = 0
    while True:
        byte = data[at]
        at += 1
        n = n << 7 | byte & 0x7F
        if not byte & 0x80:
            return n, at


def name_table(data):
    # (the names' count, the objects' count, where the names' table starts
    # and ends in data, the names in it) of a .mpy file's contents.
    if data[:2] != b"M\x06" or data[2] & 0x40:
        raise ValueError("not a version 6 .mpy, or one with architecture flags")
    n_names, at = read_uint(data, 4)
    n_objs, start = read_uint(data, at)
    at, held = start, []
    for _ in range(n_names):
        n, at = read_uint(data, at)
        if not n & 1:  # a name the firmware has built in is only its index
            held.append(data[at : at + (n >> 1)].decode())
            at += (n >> 1) + 1
    return n_names, n_objs, start, at, held


def append_names(mpy, names):
    """Append `names` (those it does not hold yet) to the table of names of
    the .mpy file `mpy`; returns how many were added."""
    data = Path(mpy).read_bytes()
    try:
        n_names, n_objs, start, end, held = name_table(data)
    except ValueError as e:
        raise ValueError("%s: %s" % (mpy, e)) from None
    held = set(held)
    new = [s for s in dict.fromkeys(names) if s not in held]
    extra = b"".join(_uint(len(s.encode()) << 1) + s.encode() + b"\0" for s in new)
    Path(mpy).write_bytes(data[:4] + _uint(n_names + len(new)) + _uint(n_objs) + data[start:end] + extra + data[end:])
    return len(new)


def held_names(mpy):
    """The names in the table of the .mpy file `mpy` (not those the
    firmware has built in: a table holds only their index)."""
    return name_table(Path(mpy).read_bytes())[4]


def firmware(directory, out, mpy_cross, scripts=()):
    """Write `out`, a .mpy module without code whose names are every name of
    the .mpy files of a ROMFS staging directory and the names importing
    each of them interns, and those of `scripts` (boot.py, main.py: they
    stay on the board's filesystem, compiled there); returns how many."""
    directory, out = Path(directory), Path(out)
    files = sorted(directory.rglob("*.mpy"))
    wanted = [n for f in files for n in held_names(f)]
    for script in scripts:
        compiled = out.with_name(Path(script).stem + ".names.mpy")
        subprocess.run([mpy_cross, "-s", Path(script).name, "-o", str(compiled), str(script)], check=True)
        wanted += held_names(compiled)
        compiled.unlink()
    modules = []
    for f in files:
        parts = list(f.relative_to(directory).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        if parts:
            modules.append(".".join(parts))
    pkgs = {".".join(f.relative_to(directory).parent.parts) for f in files if f.name == "__init__.mpy"}
    wanted += names(modules, pkgs)
    # A submodule is also its package's attribute, by its last part
    # ("durable"); asyncio's are imported by name too.
    wanted += [m.rpartition(".")[2] for m in modules if "." in m] + list(ASYNCIO)
    empty = out.with_suffix(".py")
    empty.write_text("# The names of a ROMFS image (tools/romfs_names.py --firmware).\n")
    try:
        subprocess.run([mpy_cross, "-s", out.stem + ".py", "-o", str(out), str(empty)], check=True)
    finally:
        empty.unlink()
    return append_names(out, wanted)


def names(modules, packages, prefix=PREFIX):
    """The names importing `modules` from an image mounted at `prefix` interns;
    `packages`: those of them that are packages."""
    out = []
    for m in modules:
        path = prefix + m.replace(".", "/")
        if "." in m:
            out.append(m)
        if m in packages:
            out += [path + "/__init__.mpy", path]
        else:
            out.append(path + ".mpy")
    return out


def packages(lib=REPO / "lib"):
    return {".".join(p.relative_to(lib).parent.parts) for p in lib.rglob("__init__.py")}


def listed():
    return [line for line in MODULES.read_text().splitlines() if line and not line.startswith("#")]


def stage(directory):
    """Append the listed modules' names to uocpp_loader.mpy in a ROMFS staging directory."""
    return append_names(Path(directory) / FIRST, names(listed(), packages()))


def traced(tmp):
    """The library's modules a boot of the unix port loads, in load order
    (a .mpy build, booted under bench/import_trace.py), then those the ESP32
    code path loads beside them (its platform and drivers: the ESP32 twin's
    boot, with pilot, Modbus meter, card reader and Wi-Fi)."""
    sys.path.insert(0, str(REPO))
    from bench import common, modules

    cs = common.start_cs()
    try:
        build = common.mpy_build(Path(tmp) / "mpy")
        order, _ = modules.trace(cs, build, Path(tmp) / "fw")
        esp32, _ = modules.trace(cs, build, Path(tmp) / "twin", twin=True)
    finally:
        cs.stop()
    order += [m for m in esp32 if m not in order]
    # The library's (not asyncio, whose names are the firmware's), but not
    # the loader, imported before its names are.
    lib = REPO / "lib"
    ours = {p.stem for p in lib.glob("*.py")} | {p.name for p in lib.iterdir() if p.is_dir()}
    return [m for m in order if m.split(".")[0] in ours and m != LOADER]


_HEAD = "# Generated by tools/romfs_names.py --trace; do not edit. The modules a boot\n# loads (the unix port's, then the ESP32 twin's), whose names a ROMFS image\n# keeps in flash.\n"


def text(mods):
    return _HEAD + "\n".join(mods) + "\n"


def main(argv):
    if argv == ["--trace"]:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            MODULES.write_text(text(traced(tmp)))
        return 0
    if len(argv) >= 4 and argv[0] == "--firmware":
        print("romfs: %d names into %s, for the firmware (manifest_romfs.py)" % (firmware(argv[1], argv[2], argv[3], argv[4:]), argv[2]))
        return 0
    if len(argv) != 1:
        print(__doc__.split("\n\n")[1])
        return 2
    print("romfs: %d names of %d modules into %s" % (stage(argv[0]), len(listed()), FIRST))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
