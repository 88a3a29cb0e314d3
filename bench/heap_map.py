"""What the live heap holds idle after boot, object by object (issue 24):
the runtime state beyond code and names, which the per-module breakdown
(bench/modules.py) only shows as one remainder.

The firmware boots on a 32-bit unix port (.mpy files, or a build with lib/
frozen in) under bench/heap_map_main.py, registers, and at its first heap
report prints the heap's block map (micropython.mem_info(1)), the words of
the heap and the addresses of what can be named. Here each allocated block
gets a kind (its type, from its first word; "raw" for the blocks that are
no object: dict tables, list items, bytecode, string data, a frame's state
is in its generator object) and an owner: first the modules (what importing
them made: their dict, functions, classes, module-level tables; traversal
stops at lists, instances, tasks and dicts of state), then the app's
parts two levels down, the supervised tasks and what module globals hold
(the log's ring, ...), each block going to the nearest of them (breadth
first over the pointers found in the blocks; a helper task such as the
link's keepalive goes to whichever task's queue neighbour reaches it
first). What nothing named reaches is the interpreter's own (the loaded
modules' table, interned-name pools made at run time, main.py's code).

    python bench/heap_map.py                       # 32-bit .mpy (MICROPYTHON32 or /work/mp32/micropython)
    python bench/heap_map.py --frozen PATH         # a 32-bit build with lib/ frozen in
    python bench/heap_map.py --frozen PATH --top 60 --detail app.outbox
    python bench/heap_map.py --frozen PATH --charging   # while a transaction runs
    python bench/heap_map.py --romfs               # the ROMFS image's build

Host-side only; nothing here goes to the device. A diagnostic: object
layouts are MicroPython's (a type pointer in an object's first word), and
the figures are of one boot.
"""

import argparse
import collections
import os
import re
import struct
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common, session, traffic  # noqa: E402
from harness.net import free_port  # noqa: E402

DEFAULT32 = os.environ.get("MICROPYTHON32", "/work/mp32/micropython")
_MAP_KINDS = {"T": "tuple", "L": "list", "D": "dict", "S": "str", "M": "module", "B": "function", "F": "float", "A": "bytearray"}
# Kinds the module pass does not go through: state, not what an import made.
_NOBODY = "(interpreter: nothing named reaches it)"
_STATE = ("list", "Task", "generator", "bound method", "bytearray")


class Heap:
    """The blocks of one dump: heads (first block, blocks, map letter), the
    words, and the names the firmware gave for addresses."""

    def __init__(self, text, word=4, block=16):
        self.block = block
        lay = text.split("GC memory layout; from ", 1)[1]
        self.pool = int(lay[:8], 16)
        cells = ""
        for off, row in re.findall(r"^([0-9a-f]{8}): (\S+)", lay, re.M):
            at = int(off, 16) // block
            cells += "." * (at - len(cells)) + row
        self.mem = {}
        for a, h in re.findall(r"^HEAPMAP MEM ([0-9a-f]+) ([0-9a-f]+)", text, re.M):
            a, data = int(a, 16), bytes.fromhex(h)
            for i in range(0, len(data), word):
                self.mem[a + i] = struct.unpack("<I", data[i : i + 4])[0]
        self.types, self.funcs, self.roots, self.modules, self.owned = {}, {}, [], [], []
        for tag, a, name in re.findall(r"^HEAPMAP (TYPE|FUNC|ROOT|MODULE|OWN) ([0-9a-f]+) (.+)$", text, re.M):
            a = int(a, 16)
            if tag == "TYPE":
                self.types.setdefault(a & 0x7FFFFFFF, name)
            elif tag == "FUNC":
                self.funcs.setdefault(a, name)
            elif tag == "ROOT":
                self.roots.append((a, name))
            elif tag == "OWN":
                self.owned.append((a, name))
            else:
                self.modules.append((a, "module " + name))
        self.heads, self.owner_of = [], {}
        for i, c in enumerate(cells):
            if c == "=" and self.heads and self.heads[-1][0] + self.heads[-1][1] == i:
                self.heads[-1][1] += 1
                self.owner_of[i] = len(self.heads) - 1
            elif c not in ".=":
                self.heads.append([i, 1, c])
                self.owner_of[i] = len(self.heads) - 1
        self.kinds = [self._kind(h) for h in range(len(self.heads))]
        self.edges = [self._pointers(h) for h in range(len(self.heads))]

    def size(self, h):
        return self.heads[h][1] * self.block

    def addr(self, h):
        return self.pool + self.heads[h][0] * self.block

    def head_at(self, a):
        if a < self.pool:
            return None
        return self.owner_of.get((a - self.pool) // self.block)

    def _kind(self, h):
        letter = self.heads[h][2]
        if letter in _MAP_KINDS:
            return _MAP_KINDS[letter]
        w = self.mem.get(self.addr(h))
        return "?" if w is None else self.types.get(w & 0x7FFFFFFF, "raw")

    def _pointers(self, h):
        out = []
        a = self.addr(h)
        for at in range(a, a + self.size(h), 4):
            t = self.head_at(self.mem.get(at, 0))
            if t is not None and t != h:
                out.append(t)
        return out

    def claim(self):
        """owner name per head (None: reached by nothing named)."""
        owner = [None] * len(self.heads)

        def bfs(roots, through, owned=()):
            # through(parent, child): does the owner go on into child?
            # owned: heads with an owner already whose state goes on from them.
            queue = collections.deque()
            for a, name in roots:
                h = self.head_at(a)
                if h is not None and owner[h] is None:
                    owner[h] = name
                    queue.append(h)
            queue.extend(owned)
            while queue:
                h = queue.popleft()
                for t in self.edges[h]:
                    if owner[t] is None and through(h, t):
                        owner[t] = owner[h]
                        queue.append(t)

        def imported(parent, child):
            # What an import makes: the module's dict, its functions,
            # classes and their dicts, constant tables; not the state its
            # globals hold (lists, dicts, instances, tasks).
            k, p = self.kinds[child], self.kinds[parent]
            if k == "dict":
                return p in ("module", "type")
            if p == "dict" and k == "raw":
                return owner[parent] is not None
            return k not in _STATE and "." not in k

        bfs(self.modules + self.owned, imported)
        # The shortest name first: app.keys, not app.outbox._keys.
        # Then the state: the app's parts and tasks, and what module
        # globals hold (the log's ring, ...), the nearest owner each.
        made = [h for h in range(len(owner)) if owner[h] is not None]
        bfs(sorted(self.roots, key=lambda r: r[1].count(".")), lambda parent, child: True, made)
        return owner


def dump(build, workdir, heapsize, charging=False):
    """The firmware's heap dump (its log) for `build`: idle after boot, or
    (charging) while a transaction runs, once its second MeterValues is in."""
    cs = common.start_cs()
    try:
        config = {"log": {"heapInterval": 0.2 if charging else 2}}
        if charging:
            port = free_port()
            config["simulator"] = {"port": port}
        fw = common.make_firmware(workdir, cs, build, "MAP", heapsize=heapsize, config=config)
        fw.env["OCPP_MAIN"] = build.main
        fw.argv = fw.argv[:-1] + [str(common.REPO / "bench" / "heap_map_main.py")]
        when = Path(workdir) / "dump-now"
        if charging:
            fw.env["HEAPMAP_WHEN"] = str(when)
        fw.start()
        try:
            traffic.registered(cs, fw, "MAP")
            if charging:
                from ocpp.v16 import call

                cs.call("MAP", call.ChangeConfiguration(key="MeterValueSampleInterval", value="1"), timeout=20)
                session.charging(cs, fw, "MAP", port)
                when.write_text("")
            fw.wait_log("HEAPMAP-END", 60)
            error = re.search(r"HEAPMAP-ERROR (.*)", fw.log)
            if error:
                raise RuntimeError(error.group(1))
            return fw.log
        except Exception:
            print(fw.log[-3000:], file=sys.stderr)
            raise
        finally:
            fw.stop()
    finally:
        cs.stop()


def report(heap, top, detail, image_bytes=0):
    owner = heap.claim()
    total = sum(heap.size(h) for h in range(len(heap.heads)))
    kinds = collections.Counter()
    by = collections.defaultdict(collections.Counter)
    for h in range(len(heap.heads)):
        kinds[heap.kinds[h]] += heap.size(h)
        by[owner[h] or _NOBODY][heap.kinds[h]] += heap.size(h)
    print("live heap in the map: %d B (%d blocks in use)" % (total, len(heap.heads)))
    if image_bytes:
        # The ROMFS build on the unix port: the image is one heap block
        # (bench/romfs_main.py), which a board maps from flash instead.
        image = max(heap.size(h) for h in range(len(heap.heads)))
        print("the ROMFS image's block (a board maps the image from flash): %d B; the charger's heap: %d B" % (image, total - image))
    print("\nby kind:")
    for k, n in kinds.most_common(top):
        print("%7d  %s" % (n, k))
    ranked = sorted(by.items(), key=lambda kv: -sum(kv[1].values()))
    for title, rows in (
        ("modules (what their import made, .mpy: their code too; and the state their globals hold)", [r for r in ranked if r[0].startswith("module ")]),
        ("runtime state (the app's parts, the tasks) and the interpreter's own", [r for r in ranked if not r[0].startswith("module ")]),
    ):
        print("\nby owner, %s: %d B" % (title, sum(sum(c.values()) for _, c in rows)))
        for o, c in rows[:top]:
            print("%7d  %-44s %s" % (sum(c.values()), o, ", ".join("%s %d" % kv for kv in c.most_common(4))))
    print("\ntask frames (generator objects; a frame's size is its function's locals and stack):")
    for h in range(len(heap.heads)):
        if heap.kinds[h] == "generator":
            fn = heap.funcs.get(heap.mem.get(heap.addr(h) + 8, 0), "?")
            print("%7d  %-50s %s" % (heap.size(h), fn, owner[h]))
    for d in detail or ():
        print("\nblocks of %s:" % d)
        for h in range(len(heap.heads)):
            if (owner[h] or _NOBODY) == d:
                raw = b"".join(struct.pack("<I", heap.mem.get(heap.addr(h) + i, 0)) for i in range(0, min(heap.size(h), 32), 4))
                print("%7d  %-24s %r" % (heap.size(h), heap.kinds[h], raw))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--micropython32", default=DEFAULT32, metavar="PATH", help="a 32-bit unix port (default %(default)s)")
    ap.add_argument("--frozen", metavar="PATH", help="a 32-bit unix port with this tree's lib/ frozen in (instead of .mpy files)")
    ap.add_argument("--romfs", action="store_true", help="the ROMFS image's build (its image block is module romfs_main's)")
    ap.add_argument(
        "--micropython32-romfs", metavar="PATH", help="with --romfs: the image runs on this port, the charger's names frozen in (manifest_romfs.py)"
    )
    ap.add_argument("--heapsize", type=int, default=256 * 1024, help="the firmware's -X heapsize (default %(default)s)")
    ap.add_argument("--top", type=int, default=40, help="rows per table (default %(default)s)")
    ap.add_argument("--detail", action="append", metavar="OWNER", help="also list the blocks of this owner (repeatable)")
    ap.add_argument("--save", metavar="FILE", help="also keep the firmware's dump in FILE")
    ap.add_argument("--charging", action="store_true", help="the heap while a transaction runs (after its second MeterValues), not idle")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="uocpp-heapmap-") as tmp:
        tmp = Path(tmp)
        if args.frozen:
            build = common.frozen_build(args.frozen, 4)
        else:
            build = common.mpy_build(tmp / "mpy", micropython=args.micropython32, word=4)
            if args.romfs:
                build = common.romfs_build(build, tmp / "rom", micropython=args.micropython32_romfs)
        text = dump(build, tmp / "fw", args.heapsize + build.heap_offset, args.charging)
    if args.save:
        Path(args.save).write_text(text)
    print("%s, %s:" % (build.label, "while a transaction runs" if args.charging else "idle after boot"))
    report(Heap(text), args.top, args.detail, build.heap_offset)
    return 0


if __name__ == "__main__":
    sys.exit(main())
