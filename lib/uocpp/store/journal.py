# An append-only journal on flash: the durable queue of messages that must
# survive a power cut (transaction messages), delivered in order.
#
# Record (12-byte header, then the body), little-endian:
#   magic 0xA5 | kind | body length (u16) | seq (u32) | CRC32(header[0:8] + body)
# kinds: "S" start (first record of every file; seq = last seq used so far,
# so numbering survives a compaction that leaves nothing live), "D" data
# (seq = its own number, strictly increasing), "R" removal (seq = the data
# record it removes). S and R have no body. A removal is an append, never a
# rewrite, so every operation only ever writes at the end of the file.
#
# Recovery scans from the start and stops at the first record that does not
# check (short, bad magic or kind, bad CRC, seq out of order): that record
# and everything after it are torn, logged and dropped by compacting the good
# part into a fresh file, so no append ever lands after garbage (there is no
# truncate on the unix port or on LittleFS).
#
# Compaction writes the live records to path.tmp, flushes, closes, renames it
# over path. A kill before the rename leaves the old file complete (the
# leftover .tmp is deleted at the next open); after it, the new one. The file
# never grows past max_bytes: when the next record would not fit, compaction
# runs first; a removal that does not fit is done by compacting without it.
#
# RAM: offsets and counts only, whatever the number of live records, plus
# at most _GONE_MAX runs of consecutive seqs removed out of order (compaction
# empties them). Runs, not single seqs: a full outbox drops the oldest
# MeterValues behind a StartTransaction that stays, one after the other,
# and that must not force a compaction (a rewrite of the whole journal)
# every _GONE_MAX removals.
import os
import struct
from micropython import const

from uocpp import log
from uocpp.store.json_file import exists as _exists, replace

_HDR = const(12)
_MAGIC = const(0xA5)
_S = const(0x53)
_D = const(0x44)
_R = const(0x52)
_GONE_MAX = const(32)
_CHUNK = const(128)
_FMT = const("<BBHI")
_CRC_FMT = const("<I")  # the header's CRC-32, after its first 8 bytes


def crc32_py(data, crc=0):
    # Bitwise CRC-32 (zlib's), for builds without binascii.crc32.
    crc ^= 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0xEDB88320 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


try:
    from binascii import crc32 as _crc
except ImportError:
    _crc = crc32_py


class JournalFull(Exception):
    pass


class Journal:
    def __init__(self, path, max_bytes=16384):
        self.path = path
        self.max_bytes = max_bytes
        self.bytes_written = 0
        self._tmp = path + ".tmp"
        self._hb = bytearray(_HDR)
        self._buf = bytearray(_CHUNK)
        self._gen = 0  # bumped by each compaction: offsets held by records() go stale
        self._torn = False  # a write failed half way: compact before the next one
        self._ro = False  # opened read-only (a read-only flash at boot): reopened to write
        self._f = None
        self._clear(0)
        if _exists(path):
            # A compaction that did not reach its rename: the old file rules.
            if _exists(self._tmp):
                os.remove(self._tmp)
        elif _exists(self._tmp):
            # Killed between remove and rename (FAT fallback): tmp is complete.
            os.rename(self._tmp, path)
        try:
            self._f = open(path, "r+b")
        except OSError:
            if not _exists(path):
                self.compact()  # a new journal: a file holding just its S record
                return
            # A read-only flash: what is stored is still read (and sent);
            # writes fail while it lasts, as any write to it does.
            self._f = open(path, "rb")
            self._ro = True
        size = self._f.seek(0, 2)
        self._scan(size)
        if self._end < size:
            log.warning("journal", "%s: dropped %d bytes from offset %d (torn or corrupt record)", path, size - self._end, self._end)
        if self._end < size or len(self._gone) > _GONE_MAX:
            # A flash that is full or read-only now must not stop the boot:
            # what was read stays readable, and the next append compacts first.
            try:
                self.compact()
            except OSError as e:
                log.warning("journal", "%s: not compacted now (%s); before the next write", self.path, e)
                self._torn = True

    def _clear(self, last):
        self._last = last  # highest seq ever used
        self._head = self._end = 0  # offset of the oldest live record; end of the good part
        self._head_seq = last + 1  # seq at _head; last + 1 when nothing is live
        self._count = 0
        self.live_bytes = 0
        self._gone = []  # [first, last] runs of live-range seqs removed out of order, ascending

    def __len__(self):
        return self._count

    # -- reading -------------------------------------------------------------

    def _hdr(self, pos):
        # (kind, body length, seq) of the header at pos, left in self._hb.
        self._f.seek(pos)
        if self._f.readinto(self._hb) != _HDR:
            return None
        magic, kind, n, seq = struct.unpack_from(_FMT, self._hb, 0)
        return (kind, n, seq) if magic == _MAGIC else None

    def _chunks(self, n):
        # The next n bytes of the file, in one reused buffer.
        mv = memoryview(self._buf)
        while n:
            k = self._f.readinto(mv[: min(n, _CHUNK)])
            if not k:
                raise OSError(5)
            yield mv[:k]
            n -= k

    def _body(self, pos, n):
        self._f.seek(pos + _HDR)
        b = self._f.read(n)
        if len(b) != n:
            raise OSError(5)
        return b

    def _check(self, pos, size):
        # The header at pos if its record is whole and its CRC holds.
        h = self._hdr(pos)
        if h is None or h[0] not in (_S, _D, _R) or (h[0] != _D and h[1]) or pos + _HDR + h[1] > size:
            return None
        want = struct.unpack_from(_CRC_FMT, self._hb, 8)[0]
        crc = _crc(memoryview(self._hb)[:8])
        for c in self._chunks(h[1]):
            crc = _crc(c, crc)
        return h if crc == want else None

    def _scan(self, size):
        # Replays the file through the same bookkeeping as append/remove.
        # Data seqs increase; those a compaction copied are at most the S
        # record's seq, a record appended after a removal is above them all.
        pos = prev = 0
        while True:
            h = self._check(pos, size)
            if h is None:
                return
            kind, n, seq = h
            if kind == _S:
                if pos:
                    return
                self._clear(seq)
            elif kind == _D:
                if seq <= prev:
                    return
                prev = seq
                self._added(pos, n, seq)
            elif seq > self._last:
                return  # removes a record never appended
            else:
                prev = self._last
            pos += _HDR + n
            self._end = pos
            if kind == _R:
                n = self._locate(seq)
                if n is not None:
                    self._drop(seq, n)

    def _live(self, kind, seq):
        return kind == _D and seq >= self._head_seq and not self._is_gone(seq)

    def _locate(self, seq):
        # Body length of live record seq, or None. Walks the headers from the
        # head: only out-of-order removals go past the first.
        if not self._count or seq < self._head_seq or seq > self._last or self._is_gone(seq):
            return None
        pos = self._head
        while pos < self._end:
            kind, n, s = self._hdr(pos)
            if kind == _D and s >= seq:
                return n if s == seq else None
            pos += _HDR + n

    def first(self):
        if not self._count:
            return None
        kind, n, seq = self._hdr(self._head)
        return seq, self._body(self._head, n)

    def records(self):
        # Reads each record when it is reached. Appends, removals and
        # compactions may happen between steps: seqs already given are skipped.
        gen, pos, after = self._gen, self._head, 0
        while True:
            if gen != self._gen or pos < self._head:
                gen, pos = self._gen, self._head
            if pos >= self._end:
                return
            kind, n, seq = self._hdr(pos)
            if seq > after and self._live(kind, seq):
                after = seq
                yield seq, self._body(pos, n)
            pos += _HDR + n

    # -- writing -------------------------------------------------------------

    def _pack(self, kind, seq, body):
        hb = self._hb
        struct.pack_into(_FMT, hb, 0, _MAGIC, kind, len(body), seq)
        struct.pack_into(_CRC_FMT, hb, 8, _crc(body, _crc(memoryview(hb)[:8])))
        return hb

    def _put(self, kind, seq, body):
        if self._ro:
            # Writable again? (raises while the flash is still read-only)
            f = open(self.path, "r+b")
            self._f.close()
            self._f, self._ro = f, False
        f, n = self._f, len(body)
        f.seek(self._end)
        self._torn = True
        if f.write(self._pack(kind, seq, body)) != _HDR or (n and f.write(body) != n):
            raise OSError(28)
        f.flush()  # LittleFS commits here
        self._torn = False
        pos = self._end
        self._end += _HDR + n
        self.bytes_written += _HDR + n
        global written
        written += _HDR + n
        return pos

    def _added(self, pos, n, seq):
        if not self._count:
            self._head, self._head_seq = pos, seq
        self._count += 1
        self.live_bytes += _HDR + n
        if seq > self._last:
            self._last = seq

    def _drop(self, seq, n):
        self._count -= 1
        self.live_bytes -= _HDR + n
        if not self._count:
            self._head, self._head_seq, self._gone = self._end, self._last + 1, []
        elif seq != self._head_seq:
            # seq joins the run it extends (joining two runs it closes the
            # gap between), else starts its own, in order.
            runs = self._gone
            for i, r in enumerate(runs):
                if r[1] + 1 == seq:
                    r[1] = seq
                    if i + 1 < len(runs) and runs[i + 1][0] == seq + 1:
                        r[1] = runs.pop(i + 1)[1]
                    return
                if seq + 1 == r[0]:
                    r[0] = seq
                    return
                if seq < r[0]:
                    runs.insert(i, [seq, seq])
                    return
            runs.append([seq, seq])
        else:
            # Walk to the next live record; out-of-order removals it passes
            # are behind the head now and leave the set.
            pos = self._head
            while True:
                kind, n, s = self._hdr(pos)
                if kind == _D and s > seq:
                    if not self._is_gone(s):
                        self._head, self._head_seq = pos, s
                        return
                    # The head walked past s: the lowest removed seq of all.
                    for i, r in enumerate(self._gone):
                        if r[0] <= s <= r[1]:
                            if r[0] == r[1]:
                                self._gone.pop(i)
                            elif s == r[0]:
                                r[0] += 1
                            elif s == r[1]:
                                r[1] -= 1
                            else:
                                self._gone.insert(i + 1, [s + 1, r[1]])
                                r[1] = s - 1
                            break
                pos += _HDR + n

    def _is_gone(self, seq):
        for r in self._gone:
            if r[0] <= seq <= r[1]:
                return True
        return False

    def append(self, body):
        if isinstance(body, str):
            body = body.encode()
        n = len(body)
        if n > 0xFFFF:
            raise ValueError("journal record over 64 KB")
        if 2 * _HDR + self.live_bytes + n > self.max_bytes:
            raise JournalFull()
        if self._torn or self._end + _HDR + n > self.max_bytes:
            self.compact()
        seq = self._last + 1
        self._added(self._put(_D, seq, body), n, seq)
        return seq

    def remove(self, seq):
        n = self._locate(seq)
        if n is None:
            return
        if self._torn or self._end + _HDR > self.max_bytes:
            self.compact(seq)  # no room for a removal record: leave the record out
            return
        self._put(_R, seq, b"")
        self._drop(seq, n)
        if len(self._gone) > _GONE_MAX:
            # Housekeeping after the removal, which is on flash: a flash
            # that refuses it (full) must not say the record stayed (the
            # outbox would count it stored for ever); the next write
            # compacts first, as after an open that could not.
            try:
                self.compact()
            except OSError as e:
                log.warning("journal", "%s: not compacted now (%s); before the next write", self.path, e)
                self._torn = True

    def compact(self, skip=0):
        # The S record and the live records but skip go to tmp, which is
        # renamed over the journal; the new file is then read back like at
        # start-up. Nothing in RAM changes before the rename.
        src, out = self._f, open(self._tmp, "wb")
        try:
            out.write(self._pack(_S, self._last, b""))
            pos = self._head
            while self._count and pos < self._end:
                kind, n, seq = self._hdr(pos)
                if seq != skip and self._live(kind, seq):
                    out.write(self._hb)
                    for c in self._chunks(n):
                        out.write(c)
                pos += _HDR + n
            out.flush()
            size = out.tell()
        except BaseException:
            out.close()
            os.remove(self._tmp)
            raise
        out.close()
        if src:
            src.close()
        try:
            # (FAT: remove, then rename; __init__ adopts a lone tmp left by a kill between.)
            replace(self._tmp, self.path)
        finally:
            self._f = open(self.path, "r+b")  # the new file, or the old one if the rename failed
        self.bytes_written += size
        global written
        written += size
        self._clear(0)
        self._scan(size)
        self._torn = False
        self._gen += 1

    def close(self):
        if self._f:
            self._f.close()
            self._f = None


# Bytes every journal wrote since boot (the heap report shows them).
written = 0
