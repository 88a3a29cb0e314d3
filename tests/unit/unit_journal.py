# store/journal.py: the append-only journal on flash behind the outbox's
# durable lane ("Nothing lost": a record acknowledged as appended is there
# after any restart until it is removed). Order, sequence numbers, removal,
# recovery from torn/corrupt tails and leftover compaction files, compaction,
# JournalFull, the max_bytes bound, RAM per record, and power cuts at every
# flash write on LittleFS (the ESP32's file system).
import gc
import os
import random

from check import TempDir, eq, raises
from ramdisk import RamDisk

from uocpp import log
from uocpp.store import journal
from uocpp.store.journal import Journal, JournalFull
from uocpp.store.json_file import exists

HDR = 12


def read(path):
    with open(path, "rb") as f:
        return f.read()


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def size(path):
    return os.stat(path)[6]


def recs(j):
    return list(j.records())


def reopen(j, max_bytes=16384):
    j.close()
    return Journal(j.path, max_bytes)


class Warnings:
    # Collects uocpp.log.warning lines while active.
    def __enter__(self):
        self.lines = []
        self.saved = log.warning
        log.warning = lambda tag, msg, *args: self.lines.append(msg % args)
        return self

    def __exit__(self, *exc):
        log.warning = self.saved


def three(d):
    # Three records; returns the journal and the offset where the last one starts.
    j = Journal(d + "/j")
    j.append(b"alpha")
    j.append(b"bravo-bravo")
    start = size(d + "/j")
    j.append(b"charlie" * 5)
    return j, start


def test_empty_journal():
    with TempDir("journal") as d:
        j = Journal(d + "/j")
        eq((len(j), j.first(), recs(j), j.live_bytes), (0, None, [], 0), "new")
        eq(size(d + "/j"), HDR, "a new file holds only its start record")
        j.remove(1)
        j = reopen(j)
        eq((len(j), j.first(), recs(j)), (0, None, []), "reopened")
        eq(j.append(b"x"), 1, "first seq")
        j.close()


def test_append_first_remove_in_order():
    with TempDir("journal") as d:
        j = Journal(d + "/j")
        seqs = [j.append(b"m%d" % i) for i in range(5)]
        eq(seqs, [1, 2, 3, 4, 5], "seqs")
        eq(len(j), 5, "len")
        eq(j.first(), (1, b"m0"), "first")
        eq(recs(j), [(s, b"m%d" % i) for i, s in enumerate(seqs)], "records")
        eq(j.live_bytes, 5 * (HDR + 2), "live_bytes")
        j.remove(1)
        j.remove(2)
        eq(j.first(), (3, b"m2"), "first after removals")
        eq([s for s, _ in recs(j)], [3, 4, 5], "records after removals")
        eq(j.live_bytes, 3 * (HDR + 2), "live_bytes after removals")
        j.close()


def test_seqs_and_removals_survive_reopen():
    with TempDir("journal") as d:
        j = Journal(d + "/j")
        for i in range(4):
            j.append("r%d" % i)
        j.remove(1)
        j = reopen(j)
        eq(recs(j), [(2, b"r1"), (3, b"r2"), (4, b"r3")], "after reopen")
        eq(j.append("r4"), 5, "seq continues after reopen")
        j.remove(2)
        j = reopen(j)
        eq([s for s, _ in recs(j)], [3, 4, 5], "removal survived")
        eq(j.live_bytes, 3 * (HDR + 2), "live_bytes rebuilt")
        j.close()


def test_seq_continues_after_all_removed_and_compacted():
    with TempDir("journal") as d:
        j = Journal(d + "/j")
        for i in range(3):
            j.append("x")
        for s in (1, 2, 3):
            j.remove(s)
        j.compact()
        eq(size(d + "/j"), HDR, "compacted empty journal")
        j = reopen(j)
        eq(j.append("y"), 4, "seq after an empty compaction and a restart")
        j.close()


def test_out_of_order_removal():
    with TempDir("journal") as d:
        j = Journal(d + "/j")
        for i in range(6):
            j.append("o%d" % i)
        j.remove(3)
        j.remove(5)
        eq([s for s, _ in recs(j)], [1, 2, 4, 6], "middle ones gone")
        eq(j.first(), (1, b"o0"), "head unchanged")
        j.remove(1)
        j.remove(2)
        eq(j.first(), (4, b"o3"), "head skips the removed 3")
        j = reopen(j)
        eq([s for s, _ in recs(j)], [4, 6], "after reopen")
        eq(len(j), 2, "len after reopen")
        j.remove(6)
        j.remove(4)
        eq((len(j), j.first(), j.live_bytes), (0, None, 0), "all removed")
        j = reopen(j)
        eq((len(j), recs(j)), (0, []), "all removed after reopen")
        j.close()


def test_removing_unknown_is_a_noop():
    with TempDir("journal") as d:
        j = Journal(d + "/j")
        j.append("a")
        j.append("b")
        j.remove(1)
        before = (size(d + "/j"), j.bytes_written)
        for s in (0, 1, 3, 99, -1):
            j.remove(s)
        eq((size(d + "/j"), j.bytes_written), before, "nothing written")
        eq(recs(j), [(2, b"b")], "records")
        j.close()


def test_torn_last_record_is_dropped_only_it():
    with TempDir("journal") as d:
        j, start = three(d)
        j.close()
        good = read(d + "/j")
        for cut in range(1, len(good) - start):  # every proper prefix of the last record
            write(d + "/t", good[:-cut])
            with Warnings() as w:
                t = Journal(d + "/t")
            eq(recs(t), [(1, b"alpha"), (2, b"bravo-bravo")], "cut %d" % cut)
            eq(len(w.lines), 1, "one warning, cut %d" % cut)
            eq(size(d + "/t"), start, "garbage gone, cut %d" % cut)
            eq(t.append(b"next"), 3, "next seq")
            t = reopen(t)
            eq([s for s, _ in recs(t)], [1, 2, 3], "append after recovery, cut %d" % cut)
            t.close()


class RefusingFlash:
    # Stands in for open() inside journal.py while active: refuses(path, mode)
    # -> an errno to raise (a full or read-only flash), or None to open.
    def __init__(self, refuses):
        self.refuses = refuses

    def __enter__(self):
        real = open

        def flash(path, mode="r"):
            errno = self.refuses(path, mode)
            if errno:
                raise OSError(errno)
            return real(path, mode)

        journal.open = flash
        return self

    def __exit__(self, *exc):
        del journal.open


def test_a_full_flash_at_open_keeps_the_journal_readable():
    # A torn tail wants a compaction at open; with the flash full (ENOSPC on
    # the temp file) the journal still opens, its records read, and the next
    # append compacts first once the flash takes writes again.
    with TempDir("journal") as d:
        j, start = three(d)
        j.close()
        write(d + "/t", read(d + "/j")[:-1])
        with RefusingFlash(lambda path, mode: 28 if path.endswith(".tmp") else None):
            with Warnings() as w:
                t = Journal(d + "/t")
        eq(recs(t), [(1, b"alpha"), (2, b"bravo-bravo")], "read despite the full flash")
        eq(len(w.lines), 2, "the torn tail and the compaction put off")
        eq(t.append(b"next"), 3, "appends once the flash takes writes")
        t = reopen(t)
        eq([s for s, _ in recs(t)], [1, 2, 3], "and it is all there after a restart")
        t.close()


def test_a_journal_opened_on_a_read_only_flash_writes_once_it_is_writable():
    # Opened read-only (the flash was read-only at boot): its records read,
    # and the first write once the flash is writable again goes through (the
    # read-only handle gave EBADF, and the outbox task failed on it).
    with TempDir("journal") as d:
        j, _start = three(d)
        j.close()
        read_only = [True]
        with RefusingFlash(lambda path, mode: 30 if read_only[0] and ("+" in mode or "w" in mode) else None):
            t = Journal(d + "/j")
            eq([s for s, _ in recs(t)], [1, 2, 3], "read on a read-only flash")
            read_only[0] = False
            t.remove(1)  # the first write once the flash takes writes (the soak's EBADF)
            eq(t.append(b"now"), 4, "and appends")
        t = reopen(t)
        eq([s for s, _ in recs(t)], [2, 3, 4], "all of it on flash")
        t.close()


def test_flipped_byte_in_last_record_is_dropped_only_it():
    with TempDir("journal") as d:
        j, start = three(d)
        j.close()
        good = read(d + "/j")
        for i in range(start, len(good)):
            bad = bytearray(good)
            bad[i] ^= 0x5A
            write(d + "/t", bad)
            with Warnings() as w:
                t = Journal(d + "/t")
            eq(recs(t), [(1, b"alpha"), (2, b"bravo-bravo")], "flip at %d" % i)
            eq(len(w.lines), 1, "warned, flip at %d" % i)
            t.close()


def test_torn_removal_record_leaves_the_record_live():
    with TempDir("journal") as d:
        j = Journal(d + "/j")
        j.append("keep")
        j.append("removed?")
        j.remove(2)
        j.close()
        good = read(d + "/j")
        for cut in range(1, HDR + 1):
            write(d + "/t", good[:-cut])
            with Warnings():
                t = Journal(d + "/t")
            eq(recs(t), [(1, b"keep"), (2, b"removed?")], "cut %d" % cut)
            t.close()


def test_garbage_after_the_last_good_record():
    with TempDir("journal") as d:
        j = Journal(d + "/j")
        j.append("one")
        j.append("two")
        j.close()
        good = read(d + "/j")
        stale = good[HDR : 2 * HDR + 3]  # a whole, valid copy of record 1: its seq is not new
        fake = b"\xa5D\x03\x00\x09\x00\x00\x00\x00\x00\x00\x00abc"  # a header, wrong CRC
        for junk in (b"\x00" * 40, b"\xff" * 3, bytes(range(256)), fake, stale, b"\xa5"):
            write(d + "/t", good + junk)
            with Warnings() as w:
                t = Journal(d + "/t")
            eq(recs(t), [(1, b"one"), (2, b"two")], "junk %r" % junk[:8])
            eq(len(w.lines), 1, "warned")
            eq(size(d + "/t"), len(good), "junk dropped")
            t.append("three")
            t = reopen(t)
            eq([b for _, b in recs(t)], [b"one", b"two", b"three"], "appended after junk")
            t.close()


def test_corrupt_start_loses_everything_after_it():
    # Recovery stops at the first record that does not check.
    with TempDir("journal") as d:
        j = Journal(d + "/j")
        j.append("a")
        j.close()
        bad = bytearray(read(d + "/j"))
        bad[0] = 0
        write(d + "/j", bad)
        with Warnings() as w:
            j = Journal(d + "/j")
        eq((recs(j), len(w.lines)), ([], 1), "dropped, warned")
        j.close()


def test_compaction_keeps_order_and_seqs_and_shrinks():
    with TempDir("journal") as d:
        j = Journal(d + "/j")
        for i in range(10):
            j.append("c%d" % i)
        for s in (1, 2, 5, 8):
            j.remove(s)
        want = recs(j)
        big = size(d + "/j")
        written = j.bytes_written
        j.compact()
        eq(recs(j), want, "records")
        eq(size(d + "/j"), HDR + j.live_bytes, "only live records left")
        eq(size(d + "/j") < big, True, "shrank")
        eq(j.bytes_written - written, HDR + j.live_bytes, "compaction's bytes counted")
        eq(exists(d + "/j.tmp"), False, "no temp file")
        eq(j.append("c10"), 11, "seq after compaction")
        j.remove(6)
        j = reopen(j)
        eq([s for s, _ in recs(j)], [3, 4, 7, 9, 10, 11], "after reopen")
        j.close()


def test_compaction_runs_by_itself_and_the_file_stays_within_max_bytes():
    with TempDir("journal") as d:
        j = Journal(d + "/j", 300)
        for i in range(200):
            j.append(b"%03d-padding" % i)
            if len(j) > 5:
                j.remove(j.first()[0])
            eq(size(d + "/j") <= 300, True, "file size at %d" % i)
        eq([s for s, _ in recs(j)], [196, 197, 198, 199, 200], "live")
        j = reopen(j, 300)
        eq([b for _, b in recs(j)][-1], b"199-padding", "after reopen")
        j.close()


def test_removal_when_full_is_done_by_compaction():
    with TempDir("journal") as d:
        j = Journal(d + "/j", 100)
        j.append(b"x" * 10)  # 12 S + 22
        j.append(b"y" * 10)  # 56
        j.remove(1)  # 68
        j.append(b"z" * 9)  # 89: no room for a removal record now
        j.remove(3)
        eq(size(d + "/j"), HDR + 22, "compacted without record 3")
        j = reopen(j, 100)
        eq(recs(j), [(2, b"y" * 10)], "after reopen")
        j.close()


def test_journal_full_leaves_the_journal_unchanged():
    with TempDir("journal") as d:
        j = Journal(d + "/j", 200)
        for i in range(20):
            try:
                j.append(b"%02d-0123456789" % i)
            except JournalFull:
                break
        j.remove(j.first()[0])
        j.append(b"%02d-0123456789" % 99)
        before = (read(d + "/j"), recs(j), len(j), j.live_bytes, j.bytes_written)
        raises(JournalFull, j.append, b"%02d-0123456789" % 100)
        raises(JournalFull, j.append, b"y" * 300)
        eq((read(d + "/j"), recs(j), len(j), j.live_bytes, j.bytes_written), before, "unchanged")
        j.remove(j.first()[0])
        j.append(b"fits again")
        j.close()


def test_records_while_removing_and_compacting():
    with TempDir("journal") as d:
        j = Journal(d + "/j", 400)
        for i in range(8):
            j.append(b"w%d" % i)
        got = []
        gen = j._gen
        for seq, body in j.records():
            got.append(seq)
            j.remove(seq)
            if len(got) < 12:
                j.append(b"n" * 30)  # forces compactions on the way
        eq(j._gen > gen, True, "compacted during the loop")
        eq(got, list(range(1, 20)), "every record once, in order")
        eq(len(j), 0, "all removed")
        j.close()


def test_leftover_temp_from_a_compaction_is_ignored():
    with TempDir("journal") as d:
        other = Journal(d + "/o")
        other.append("from another journal")
        other.close()
        j = Journal(d + "/j")
        j.append("old")
        j.close()
        for tmp in (read(d + "/o"), read(d + "/o")[:-3], b"\xa5"):
            write(d + "/j.tmp", tmp)  # killed before (or while) renaming
            j = Journal(d + "/j")
            eq(recs(j), [(1, b"old")], "old file rules")
            eq(exists(d + "/j.tmp"), False, "temp file removed")
            j.close()


def test_lone_temp_file_is_adopted():
    # FAT fallback: killed between removing the journal and renaming tmp.
    with TempDir("journal") as d:
        j = Journal(d + "/j")
        j.append("kept")
        j.close()
        os.rename(d + "/j", d + "/j.tmp")
        j = Journal(d + "/j")
        eq((recs(j), exists(d + "/j.tmp")), ([(1, b"kept")], False), "adopted")
        j.close()


def test_tx_json_left_as_its_lone_temp_file_is_read():
    # FAT: write_json_atomic killed between removing tx.json and renaming
    # its temp file over it. What the temp file holds is tx.json (the old
    # one is gone): read as missing, every running transaction and every
    # transactionId a waiting StopTransaction needs would be lost, and
    # local ids would be given again.
    from uocpp.model.transactions import Transactions

    with TempDir("tx") as d:
        tx = Transactions(d + "/tx.json")
        local = tx.begin(1, "ALICE", 100, "2026-12-02T00:00:00Z")
        tx.started(local, 42)
        os.rename(d + "/tx.json", d + "/tx.json.tmp")
        tx = Transactions(d + "/tx.json")
        eq((tx.running_on(1), tx.remote(local)), (local, 42), "the running transaction and its transactionId")
        eq(tx.begin(2, "BOB", 0, "2026-12-02T00:00:01Z"), local + 1, "a new local id")


class FailingWrites:
    # The journal's file, whose writes fail after `left` more succeed
    # (flash full half way through a record).
    def __init__(self, f, left):
        self.f, self.left = f, left

    def write(self, data):
        if not self.left:
            raise OSError(28)
        self.left -= 1
        return self.f.write(data)

    def __getattr__(self, name):
        return getattr(self.f, name)


def test_failed_write_leaves_no_garbage_in_the_way():
    with TempDir("journal") as d:
        j = Journal(d + "/j")
        j.append(b"before")
        j._f = FailingWrites(j._f, 1)  # the header goes out, the body fails
        raises(OSError, j.append, b"lost body")
        eq(size(d + "/j") > HDR + HDR + 6, True, "a torn header on flash")
        eq(recs(j), [(1, b"before")], "not counted")
        eq(j.append(b"after"), 2, "next append")  # compacts first
        j = reopen(j)
        eq(recs(j), [(1, b"before"), (2, b"after")], "after reopen")
        j.close()


def test_str_bytes_and_every_byte_value():
    with TempDir("journal") as d:
        j = Journal(d + "/j")
        every = bytes(range(256))
        j.append("Zähler ✓")
        j.append(b"plain")
        j.append(bytearray(b"ba"))
        j.append(every)
        j.append(b"")
        j.append("")
        want = [(1, "Zähler ✓".encode()), (2, b"plain"), (3, b"ba"), (4, every), (5, b""), (6, b"")]
        eq(recs(j), want, "bodies")
        j = reopen(j)
        eq(recs(j), want, "bodies after reopen")
        j.compact()
        j = reopen(j)
        eq(recs(j), want, "bodies after compaction")
        eq(j.first(), (1, "Zähler ✓".encode()), "first")
        j.close()


def test_random_operations_against_a_model():
    random.seed(12)
    with TempDir("journal") as d:
        j = Journal(d + "/j", 700)
        model = []
        for step in range(600):
            r = random.getrandbits(4)
            if r < 8:
                body = bytes(random.getrandbits(8) for _ in range(random.getrandbits(6)))
                try:
                    model.append((j.append(body), body))
                except JournalFull:
                    eq(2 * HDR + j.live_bytes + len(body) > 700, True, "full only when full")
            elif r < 12 and model:
                j.remove(model.pop(0)[0])
            elif r < 15 and model:
                j.remove(model.pop(random.getrandbits(8) % len(model))[0])
            elif r == 15:
                j = reopen(j, 700)
            eq(size(d + "/j") <= 700, True, "bound at %d" % step)
            eq(len(j._gone) <= 33, True, "out-of-order set bounded")
            if step % 50 == 0:
                eq(recs(j), model, "step %d" % step)
        eq(recs(j), model, "end")
        eq(j.live_bytes, sum(HDR + len(b) for _, b in model), "live_bytes")
        j.close()


def test_bytes_written_per_operation():
    with TempDir("journal") as d:
        j = Journal(d + "/j")
        eq(j.bytes_written, HDR, "creation")
        j.append(b"m" * 200)
        eq(j.bytes_written, HDR + HDR + 200, "append")
        j.remove(1)
        eq(j.bytes_written, HDR + HDR + 200 + HDR, "removal")
        j.close()


def test_ram_does_not_grow_with_live_records():
    # 1,000 queued records must cost at most 2 KB of heap.
    with TempDir("journal") as d:
        j = Journal(d + "/j", 65535)
        gc.collect()
        before = gc.mem_alloc()
        for i in range(1000):
            j.append(b"%08d" % i)
        for s in range(500, 530):
            j.remove(s)  # out of order: the one per-record cost, bounded
        gc.collect()
        grown = gc.mem_alloc() - before
        eq(len(j), 970, "live")
        eq(grown <= 2048, True, "heap grew %d bytes" % grown)
        j.close()


def test_crc_fallback_matches_binascii():
    import binascii

    for data in (b"", b"a", bytes(range(256)), b"123456789"):
        eq(journal.crc32_py(data), binascii.crc32(data), "crc %r" % data[:4])
    eq(journal.crc32_py(b"6789", journal.crc32_py(b"12345")), binascii.crc32(b"123456789"), "incremental")


class RecordingDisk(RamDisk):
    # Logs every erase and program into `log` while it is a list, so that
    # any prefix of them can be replayed: the flash as a power cut at that
    # moment left it.
    log = None

    def written(self, block, off, buf, erase):
        if self.log is not None:
            self.log.append((block, off, ERASED if erase else bytes(buf)))


ERASED = b"\xff" * 4096


def test_power_cut_at_every_littlefs_write():
    # Operations on a journal on LittleFS, every flash write logged; then for
    # each write (and for half of them with the next write torn half way),
    # the flash as it stood is mounted and the journal opened: everything
    # acknowledged is there and nothing else but the operation in flight.
    import vfs

    random.seed(7)
    gc.collect()
    disk = RecordingDisk(16)
    vfs.VfsLfs2.mkfs(disk)
    img, cut = RecordingDisk(16, disk.data), RecordingDisk(16)  # before the log fragments the heap
    vfs.mount(vfs.VfsLfs2(disk), "/jlfs")
    events = disk.log = []
    try:
        j = Journal("/jlfs/j", 1024)
        events.append(("ack", "open", 0))
        live = []
        for _ in range(150):
            r = random.getrandbits(3)
            if live and r < 3:
                seq = live.pop(0 if r < 2 else random.getrandbits(8) % len(live))
                events.append(("op", "remove", seq))
                j.remove(seq)
                events.append(("ack", "remove", seq))
            elif r == 7:
                events.append(("op", "compact", 0))
                j.compact()
                events.append(("ack", "compact", 0))
            else:
                body = bytes(random.getrandbits(8) for _ in range(random.getrandbits(7)))
                events.append(("op", "append", body))
                try:
                    seq = j.append(body)
                except JournalFull:
                    events.append(("ack", "full", 0))
                    continue
                live.append(seq)
                events.append(("ack", "append", (seq, body)))
        j.close()
    finally:
        disk.log = None
        vfs.umount("/jlfs")
    writes = sum(1 for e in events if isinstance(e[0], int))
    model, inflight, cuts, top = None, ("open", 0), 0, 0
    for i, e in enumerate(events):
        if e[0] == "op":
            inflight = e[1:]
            continue
        if e[0] == "ack":
            if e[1] == "open":
                model = []
            elif e[1] == "append":
                model.append(e[2])
                top = e[2][0]
            elif e[1] == "remove":
                model = [m for m in model if m[0] != e[2]]
            inflight = None
            continue
        img.apply(*e)
        nxt = events[i + 1] if i + 1 < len(events) else None
        for torn in (False, True):
            cut.data[:] = img.data
            if torn:
                if nxt is None or not isinstance(nxt[0], int) or random.getrandbits(1):
                    continue
                cut.apply(nxt[0], nxt[1], nxt[2][: len(nxt[2]) // 2])
            vfs.mount(vfs.VfsLfs2(cut), "/jcut")
            try:
                with Warnings():
                    t = Journal("/jcut/j", 1024)
                got = recs(t)
                t.close()
            finally:
                vfs.umount("/jcut")
            want = model or []
            allowed = [want]
            seqs = [s for s, _ in got]
            eq(seqs, sorted(set(seqs)), "seqs increase")
            if inflight and inflight[0] == "append" and got and got[-1][1] == inflight[1] and got[-1][0] > top:
                allowed.append(want + [got[-1]])
            elif inflight and inflight[0] == "remove":
                allowed.append([m for m in want if m[0] != inflight[1]])
            eq(got in allowed, True, "cut after write %d of %d (torn %s), in flight %r: %r" % (i, writes, torn, inflight, got))
            cuts += 1
    eq(cuts > writes, True, "cuts")


def test_a_removal_whose_compaction_the_flash_refuses_is_still_a_removal():
    # Every _GONE_MAX (32) removals out of order the journal compacts after
    # the removal record is written. A full flash refusing that compaction
    # raised out of remove() although the record was gone: the outbox then
    # kept counting it stored (one transaction fewer could start each time).
    # The removal stands; the next write compacts first.
    with TempDir("journal") as d:
        j = Journal(d + "/j", 64 * 1024)
        for i in range(70):
            j.append(b"r%d" % i)
        real = j.compact

        def refused(skip=0):
            raise OSError(28)

        j.compact = refused
        for seq in range(1, 70, 2):  # out of order: each leaves a gap
            j.remove(seq)  # raises nowhere
            if j._torn:
                break
        eq(j._torn, True, "a compaction was due and refused")
        eq(seq in [s for s, _ in recs(j)], False, "the record of the refused compaction's removal is gone")
        j.compact = real
        eq(j.append(b"after") > 0, True, "the next write compacts first")
        j = reopen(j, 64 * 1024)
        eq(seq in [s for s, _ in recs(j)], False, "gone after a reopen too")
        j.close()
