"""Flash writes per record of the journal (lib/uocpp/store/journal.py).

    .venv/bin/python bench/journal.py [--body 200] [--max-bytes 16384] [--records 2000]

A steady queue: N records stay live; each new record is appended, then the
oldest is removed, as the outbox does while delivering. Per record (append +
removal + its share of compactions) it reports:

- the journal's own count (Journal.bytes_written): what the format costs;
- what LittleFS really programs and erases for it, on the ESP32's settings
  (4 KB blocks, VfsLfs2 defaults: prog/read size 32, cache 128), measured on
  a RAM block device on the MicroPython unix port that counts every write.

Prints one Markdown table; writes nothing outside a RAM disk.
"""

import argparse
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MICROPYTHON = str(Path(sys.executable).parent / "micropython")

# Runs on MicroPython; prints one "row ..." line per queue depth.
WORKER = """
import vfs
from uocpp.store.journal import Journal
from ramdisk import RamDisk

BODY, MAX, RECORDS, DEPTHS = %r, %r, %r, %r


class Counting(RamDisk):
    # Counts programmed bytes and erases (tests/unit/ramdisk.py).
    programmed = erased = 0

    def written(self, block, off, buf, erase):
        if erase:
            self.erased += 1
        else:
            self.programmed += len(buf)


class CountingJournal(Journal):
    compactions = 0
    compacted = 0

    def compact(self, skip=0):
        before = self.bytes_written
        super().compact(skip)
        self.compactions += 1
        self.compacted += self.bytes_written - before


disk = Counting(128)
vfs.VfsLfs2.mkfs(disk)
vfs.mount(vfs.VfsLfs2(disk), "/lfs")
body = b"m" * BODY
for n in DEPTHS:
    j = CountingJournal("/lfs/j%%d" %% n, MAX)
    for _ in range(n):
        j.append(body)
    for _ in range(RECORDS // 4):  # warm up: reach the steady compaction cycle
        j.append(body)
        j.remove(j.first()[0])
    w0, c0, k0, p0, e0 = j.bytes_written, j.compacted, j.compactions, disk.programmed, disk.erased
    for _ in range(RECORDS):
        j.append(body)
        j.remove(j.first()[0])
    print("row", n, j.bytes_written - w0, j.compacted - c0, j.compactions - k0, disk.programmed - p0, disk.erased - e0)
    j.close()
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--body", type=int, default=200, help="body bytes (200: a typical MeterValues message)")
    ap.add_argument("--max-bytes", type=int, default=16384)
    ap.add_argument("--records", type=int, default=2000, help="records measured per queue depth")
    args = ap.parse_args()
    rec = 12 + args.body
    cap = (args.max_bytes - 24) // rec  # most live records with room for one more
    depths = [0, 1, 10, cap // 2, cap * 3 // 4, cap - 1]
    code = WORKER % (args.body, args.max_bytes, args.records, depths)
    env = dict(os.environ, MICROPYPATH=".frozen:%s:%s" % (REPO / "lib", REPO / "tests" / "unit"))
    out = subprocess.run([MICROPYTHON, "-c", code], capture_output=True, text=True, env=env, timeout=300, check=True).stdout
    m = args.records
    print("Journal, %d-byte body (%d-byte record), max_bytes %d, %d records per row" % (args.body, rec, args.max_bytes, m))
    print()
    print("| live records | journal bytes/record | of which compaction | records per compaction | LittleFS programmed bytes/record | LittleFS block erases/record |")
    print("|---:|---:|---:|---:|---:|---:|")
    for line in out.splitlines():
        if not line.startswith("row "):
            continue
        n, written, compacted, compactions, programmed, erased = map(int, line.split()[1:])
        per = "%.0f" % (m / compactions) if compactions else "-"
        print("| %d | %.1f | %.1f | %s | %.0f | %.2f |" % (n, written / m, compacted / m, per, programmed / m, erased / m))


if __name__ == "__main__":
    main()
