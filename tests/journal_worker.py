# Runs on MicroPython for tests/test_journal_kill.py, which SIGKILLs it:
#   micropython journal_worker.py <journal path> <max_bytes> <seed>
# Opens the journal (recovery), prints every live record ("record <seq>
# <crc32> ok|BAD", BAD if the body is not the one its nonce generates), then
# "ready", then appends, removes and compacts at random until killed. Each
# operation is printed before it starts ("appending <crc32> <length>", "removing
# <seq>", "compacting") and after it returned ("appended <seq> <crc32>",
# "removed <seq>", "compacted"), one write per line so a line is whole or
# absent.
import sys
import random
from binascii import crc32

from uocpp.store.journal import Journal, JournalFull


def say(line):
    sys.stdout.write(line + "\n")


def body_for(nonce):
    # 4..303 bytes: the nonce, then bytes of every value from an LCG on it.
    n = 4 + nonce % 300
    b = bytearray(n)
    b[0:4] = nonce.to_bytes(4, "big")
    x = nonce
    for i in range(4, n):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        b[i] = (x >> 16) & 0xFF
    return bytes(b)


class Worker(Journal):
    # Every compaction, explicit or by itself (inside append, remove, open).
    def compact(self, skip=0):
        say("compacting")
        super().compact(skip)
        say("compacted")


def main():
    path, max_bytes, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    random.seed(seed)
    say("opening")
    j = Worker(path, max_bytes)
    live = []
    for seq, body in j.records():
        ok = len(body) >= 4 and body == body_for(int.from_bytes(body[:4], "big"))
        say("record %d %d %s" % (seq, crc32(body), "ok" if ok else "BAD"))
        live.append(seq)
    say("ready %d" % len(j))
    while True:
        r = random.getrandbits(5)
        if live and (r < 8 or (len(live) > 12 and r < 16)):
            seq = live.pop(0)
        elif live and r < 11:
            seq = live.pop(random.getrandbits(8) % len(live))
        elif r == 31:
            j.compact()
            continue
        else:
            body = body_for(random.getrandbits(30))
            c = crc32(body)
            say("appending %d %d" % (c, len(body)))
            try:
                seq = j.append(body)
            except JournalFull:
                say("full")
                continue
            say("appended %d %d" % (seq, c))
            live.append(seq)
            continue
        say("removing %d" % seq)
        j.remove(seq)
        say("removed %d" % seq)


main()
