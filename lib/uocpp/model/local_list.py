# The local authorization list (C16 3.5, 5.15 SendLocalList, 5.9
# GetLocalListVersion) on flash, never loaded into RAM.
#
# File <flash>/local_list.bin: fixed-width 64-byte records.
#   record 0     header: b"ULL2 <version> <count>", NUL padded, "\n" last
#   records 1..  one entry each, sorted by idTag case-folded (IdToken is
#                CiString20Type: ASCII letters compare as lower case), no
#                two the same once folded (a ULL1 file, sorted by the bytes
#                as they are, is rewritten as ULL2 when it is opened):
#     [0:20]  idTag, UTF-8, NUL padded (at most 20 bytes)
#     [20]    status: A Accepted, B Blocked, E Expired, I Invalid, C ConcurrentTx
#     [21:41] parentIdTag, NUL padded (empty: none)
#     [41:53] expiryDate as Unix seconds in decimal, NUL padded (empty: none)
#     [63]    "\n"
# A lookup is a binary search by seek: one 64-byte buffer, whatever the
# length. Every update (Full or Differential) writes a complete new file to
# path.tmp (header first, with the final count), closes it, renames it over
# the old one: a power cut leaves the old list or the new one. A file whose
# size does not match its header's count is torn: at open a torn or missing
# list with a complete path.tmp beside it (FAT's remove-then-rename) takes
# that one, otherwise the torn file reads as an empty list.
import os
from micropython import const

from uocpp import clock, log
from uocpp.store import json_file

REC = const(64)
_TAGLEN = const(20)
_ST = const(20)
_PARENT = const(21)
_EXP = const(41)
_EXPLEN = const(12)
_MAGIC = b"ULL2"
_OLD_MAGIC = b"ULL1"
STATUSES = ("Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx")
_CODES = b"ABEIC"
_DELETE = const(0x2D)  # "-": a Differential entry without idTagInfo (RAM only)


class ListError(ValueError):
    # An entry that cannot be stored, or an update that does not fit: the
    # SendLocalList is answered Failed and nothing changes.
    pass


def _put(rec, at, text, width, what):
    if text is None:
        return
    if not isinstance(text, str):
        raise ListError("%s is not a string" % what)
    b = text.encode()
    if not b or len(b) > width or b"\x00" in b:
        raise ListError("%s is empty, longer than %d bytes or holds NUL" % (what, width))
    rec[at:at + len(b)] = b


def encode(entry, full):
    # One AuthorizationData object -> its 64-byte record (a deletion marker
    # for a Differential entry without idTagInfo). Raises ListError.
    if not isinstance(entry, dict):
        raise ListError("an entry is not an object")
    rec = bytearray(REC)
    rec[REC - 1] = 10
    _put(rec, 0, entry.get("idTag"), _TAGLEN, "idTag")
    if rec[0] == 0:
        raise ListError("an entry has no idTag")
    info = entry.get("idTagInfo")
    for key in entry:
        if key not in ("idTag", "idTagInfo"):
            raise ListError("unexpected property %s" % str(key)[:30])
    if info is None:
        if full:
            raise ListError("a Full update needs idTagInfo")
        rec[_ST] = _DELETE
        return bytes(rec)
    if not isinstance(info, dict):
        raise ListError("idTagInfo is not an object")
    for key in info:
        if key not in ("status", "parentIdTag", "expiryDate"):
            raise ListError("unexpected property %s" % str(key)[:30])
    try:
        rec[_ST] = _CODES[STATUSES.index(info.get("status"))]
    except ValueError:
        raise ListError("bad status")
    _put(rec, _PARENT, info.get("parentIdTag"), _TAGLEN, "parentIdTag")
    expiry = info.get("expiryDate")
    if expiry is not None:
        try:
            unix = clock.parse_iso(expiry)
        except ValueError:
            raise ListError("bad expiryDate")
        text = str(max(0, unix)).encode()
        rec[_EXP:_EXP + len(text)] = text
    return bytes(rec)


def _field(rec, at, width):
    end = at
    while end < at + width and rec[end]:
        end += 1
    return bytes(rec[at:end]).decode() if end > at else None


def decode(rec):
    # A record -> (idTag, idTagInfo as 1.6 spells it).
    info = {"status": STATUSES[_CODES.index(rec[_ST])]}
    parent = _field(rec, _PARENT, _TAGLEN)
    if parent:
        info["parentIdTag"] = parent
    exp = _field(rec, _EXP, _EXPLEN)
    if exp:
        info["expiryDate"] = clock.format_iso(int(exp))
    return _field(rec, 0, _TAGLEN), info


def _fold(b):
    # ASCII letters to lower case: the order and identity of idTags.
    return bytes(c + 32 if 65 <= c <= 90 else c for c in b)


def _key(id_tag):
    k = bytearray(_TAGLEN)
    b = id_tag.encode()[:_TAGLEN + 1]
    if len(b) > _TAGLEN:
        return None  # cannot be in the list
    k[0:len(b)] = b
    return _fold(k)


def _cmp(rec, key):
    # The record's idTag, folded, against a folded key, without allocating:
    # -1, 0 or 1.
    for i in range(_TAGLEN):
        a, b = rec[i], key[i]
        if 65 <= a <= 90:
            a += 32
        if a != b:
            return -1 if a < b else 1
    return 0


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


class LocalList:
    def __init__(self, path, max_length):
        # max_length() -> LocalAuthListMaxLength.
        self.path = path
        self._tmp = path + ".tmp"
        self._max = max_length
        self._buf = bytearray(REC)
        self.version = 0
        self.count = 0
        head = self._header(path)
        if head is None:
            head = self._header(self._tmp)
            if head is not None:
                log.warning("locallist", "taking the complete %s", self._tmp)
                _remove(path)
                os.rename(self._tmp, path)
        _remove(self._tmp)
        if head is not None:
            self.version, self.count, old = head
            if old:
                self._migrate()

    def _migrate(self):
        # A ULL1 list (sorted by bytes, case-sensitive): rewritten sorted
        # case-folded; of idTags equal once folded the first stays.
        log.info("locallist", "rewriting the list case-insensitively (%d entries)", self.count)
        items, seen = [], set()
        for tag, info in self.entries():
            k = _fold(tag.encode())
            if k not in seen:
                seen.add(k)
                items.append({"idTag": tag, "idTagInfo": info})
        try:
            self.replace(self.version, items, True)
        except (ListError, OSError) as e:
            log.error("locallist", "cannot rewrite the list: %s", e)

    def _header(self, path):
        # (version, count) of a complete list file, else None.
        try:
            size = os.stat(path)[6]
            with open(path, "rb") as f:
                n = f.readinto(self._buf)
        except OSError:
            return None
        buf = self._buf
        try:
            if n != REC or buf[0:4] not in (_MAGIC, _OLD_MAGIC) or buf[REC - 1] != 10:
                raise ValueError
            old = buf[0:4] == _OLD_MAGIC
            parts = bytes(buf[5:REC - 1]).rstrip(b"\x00").split()
            version, count = int(parts[0]), int(parts[1])
            if size != (count + 1) * REC:
                raise ValueError
        except (ValueError, IndexError):
            log.warning("locallist", "%s is torn or corrupt", path)
            return None
        return version, count, old

    def reported_version(self):
        # GetLocalListVersion: 0 is an empty list.
        return self.version if self.count else 0

    # -- lookup --------------------------------------------------------------------
    def _find(self, f, key):
        # Binary search: (index, found) with index the insertion point.
        lo, hi, buf = 0, self.count, self._buf
        while lo < hi:
            mid = (lo + hi) // 2
            f.seek((mid + 1) * REC)
            f.readinto(buf)
            c = _cmp(buf, key)
            if c == 0:
                return mid, True
            if c < 0:
                lo = mid + 1
            else:
                hi = mid
        return lo, False

    def get(self, id_tag):
        # The stored idTagInfo, or None.
        key = _key(id_tag) if isinstance(id_tag, str) else None
        if key is None or not self.count:
            return None
        try:
            with open(self.path, "rb") as f:
                _, found = self._find(f, key)
            return decode(self._buf)[1] if found else None
        except OSError:
            return None
        except ValueError:
            # A record garbled on flash: not listed (the card is asked for).
            log.warning("locallist", "a corrupt record for %s", id_tag)
            return None

    def lookup(self, id_tag):
        # For authorization: an Accepted entry past its expiryDate reads Expired.
        info = self.get(id_tag)
        if info and info["status"] == "Accepted" and "expiryDate" in info:
            if clock.parse_iso(info["expiryDate"]) <= clock.now():
                info["status"] = "Expired"
        return info

    def entries(self):
        # Every (idTag, idTagInfo), in order, one record in RAM at a time.
        if not self.count:
            return
        with open(self.path, "rb") as f:
            f.seek(REC)
            for _ in range(self.count):
                f.readinto(self._buf)
                yield decode(self._buf)

    # -- updates (SendLocalList) -------------------------------------------------
    def replace(self, version, items, any_length=False):
        # Full: items (AuthorizationData objects) become the list. ListError:
        # nothing changed.
        records = self._records(items, True)
        if len(records) > self._max() and not any_length:
            raise ListError("%d entries, more than LocalAuthListMaxLength" % len(records))
        if version == self.version and len(records) == self.count:
            # A central system that sends its whole list again (at every
            # boot): the list on flash already (a ULL2 file, record for
            # record) is not written again.
            try:
                with open(self.path, "rb") as f:
                    same = f.readinto(self._buf) == REC and self._buf[0:4] == _MAGIC
                    for rec in records:
                        same = same and f.readinto(self._buf) == REC and self._buf == rec
                if same:
                    return
            except OSError:
                pass
        f = self._begin(version, len(records))
        try:
            try:
                for rec in records:
                    f.write(rec)
            finally:
                f.close()
        except BaseException:
            _remove(self._tmp)  # a full flash: its room back (tx.json needs it)
            raise
        self._commit(version, len(records))

    def update(self, version, items):
        # Differential: entries with idTagInfo are added or replace, those
        # without are removed (unknown ones: nothing to remove).
        records = self._records(items, False)
        count = self.count
        if self.count:
            with open(self.path, "rb") as f:
                for rec in records:
                    found = self._find(f, _fold(rec[0:_TAGLEN]))[1]
                    count += (-1 if found else 0) if rec[_ST] == _DELETE else (0 if found else 1)
        else:
            count = sum(1 for rec in records if rec[_ST] != _DELETE)
        if count > self._max():
            raise ListError("%d entries, more than LocalAuthListMaxLength" % count)
        out = self._begin(version, count)
        try:
            try:
                old = open(self.path, "rb") if self.count else None
                try:
                    self._merge(old, records, out)
                finally:
                    if old:
                        old.close()
            finally:
                out.close()
        except BaseException:
            _remove(self._tmp)  # as in replace()
            raise
        self._commit(version, count)

    def _merge(self, old, records, out):
        buf, i, n = self._buf, 0, len(records)
        keys = [_fold(r[0:_TAGLEN]) for r in records]
        if old is not None:
            old.seek(REC)
            for _ in range(self.count):
                old.readinto(buf)
                tag = _fold(buf[0:_TAGLEN])
                while i < n and keys[i] < tag:
                    if records[i][_ST] != _DELETE:
                        out.write(records[i])
                    i += 1
                if i < n and keys[i] == tag:
                    if records[i][_ST] != _DELETE:
                        out.write(records[i])
                    i += 1
                else:
                    out.write(buf)
        while i < n:
            if records[i][_ST] != _DELETE:
                out.write(records[i])
            i += 1

    def _records(self, items, full):
        if not isinstance(items, list):
            raise ListError("localAuthorizationList is not an array")
        records = sorted((encode(e, full) for e in items), key=lambda r: _fold(r[0:_TAGLEN]))
        for i in range(1, len(records)):
            if _fold(records[i][0:_TAGLEN]) == _fold(records[i - 1][0:_TAGLEN]):
                raise ListError("idTag %s twice" % _field(records[i], 0, _TAGLEN))
        return records

    def _begin(self, version, count):
        head = bytearray(REC)
        text = ("ULL2 %d %d" % (version, count)).encode()
        if len(text) >= REC:
            # A listVersion of some 60 digits (1.6 sets no bound): a longer
            # header would misalign every record after it.
            raise ListError("listVersion %d" % version)
        head[0:len(text)] = text
        head[REC - 1] = 10
        f = open(self._tmp, "wb")
        f.write(head)
        return f

    def _commit(self, version, count):
        json_file.replace(self._tmp, self.path)  # (a lone .tmp: the open recovers it)
        self.version, self.count = version, count
