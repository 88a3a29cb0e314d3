# The outbox's durable lane: transaction messages on flash (store/journal.py)
# from before they are sent until they are answered, oldest first. Each
# record is [unique id, action, payload, tag]: the id is given when the
# message is stored, so every re-send (after a lost reply, after a reboot)
# is recognisably the same message; the tag ties it to its transaction.
# A record's text is compact (store/record.py). The journal's module is
# imported (~6 KB of heap) only once there is something to store, or the
# file holds messages from before a reboot.
#
# Flash wear when full: periodic MeterValues may fill at most _MV_SHARE of
# the journal; past it each new one drops the oldest. The rest stays free
# for StartTransaction and StopTransaction, and it is what lets the journal
# append without compacting itself for every message: a compaction copies
# at most the live part and frees at least the rest, so while full it runs
# once per (1 - share) of the journal appended, and writes about
# share / (1 - share) times the bytes appended (3x at 75%), whatever the
# journal's size (it used to compact, i.e. rewrite the whole journal, for
# every message). Crash safety is the journal's and unchanged: a drop is a
# removal record appended (or a compaction: temp file, then rename), each
# checked by its CRC, so a power cut during one loses at most that drop or
# the message being appended; and the compact text is only the body of a
# record, which the journal treats as opaque bytes.
import os

from micropython import const

from uocpp import log, rpc

_MV_SHARE = const(75)  # percent of the journal MeterValues may fill


class DurableLane:
    def __init__(self, journal, max_bytes=32768):
        # journal: a store.journal.Journal, or the path of its file.
        self._path = None
        self._bytes = max_bytes
        self._journal = journal
        self._counts = None  # action -> stored messages of it, once asked
        self._full = False  # dropping MeterValues for room (logged once)
        self.unreadable = None  # why the journal on flash cannot be read, while it cannot
        if isinstance(journal, str):
            self._path = journal
            self._journal = None
            # Or its temp file alone (FAT: a compaction killed between its
            # remove and rename), which the journal adopts when opened.
            if _exists(journal) or _exists(journal + ".tmp"):
                try:
                    self._journal = _open(journal, max_bytes)
                except Exception as e:
                    # A damaged file system must not stop the boot: the
                    # charger stays online; what the journal holds waits
                    # (store() tries to open it again and fails, so no new
                    # transaction starts unbilled), and nothing is decided
                    # from a journal nobody could read (App.run).
                    self.unreadable = repr(e)
                    log.error("outbox", "%s cannot be read (%s): no transaction until it can", journal, e)

    def store(self, action, payload, tag=None):
        # On flash when this returns (raises journal.JournalFull or OSError
        # when it cannot be). A full journal makes room by dropping the
        # oldest periodic MeterValues, never a StartTransaction or
        # StopTransaction; MeterValues make room once they fill _MV_SHARE
        # percent of it.
        if self._journal is None:
            self._journal = _open(self._path, self._bytes)
            self.unreadable = None
        body = _record().dumps([rpc.new_id(), action, payload, tag])
        roomy = action == "MeterValues" and not self._crowded(len(body))
        crowded = action == "MeterValues" and not roomy
        while True:
            try:
                if crowded and self._drop_oldest(action):
                    crowded = self._crowded(len(body))
                    continue
                seq = self._journal.append(body)
                self._count(action, 1)
                if roomy:
                    self._full = False  # room again: the next drop is news
                return seq
            except Exception as e:
                if type(e).__name__ != "JournalFull" or not self._drop_oldest("MeterValues"):
                    log.error("outbox", "cannot store %s: %s", action, e)
                    raise

    def _crowded(self, n):
        j = self._journal
        return 12 + n + j.live_bytes > j.max_bytes * _MV_SHARE // 100

    def _drop_oldest(self, action):
        for seq, record in self._journal.records():
            if _record().loads(record)[1] == action:
                if not self._full:
                    # Once until the journal has room again: a line for
                    # every message would wear the flash log instead.
                    log.warning("outbox", "journal full: dropping the oldest stored %s", action)
                    self._full = True
                self._journal.remove(seq)
                self._count(action, -1)
                return True
        return False

    def stored(self):
        # (action, tag) of every stored message, oldest first (read from flash).
        out = []
        if self._journal is not None:
            for _seq, body in self._journal.records():
                try:
                    record = _record().loads(body)
                    out.append((record[1], record[3]))
                except (ValueError, IndexError, MemoryError):
                    pass
        return out

    def last_reading(self, tag):
        # (Wh, timestamp) of the highest energy register in the MeterValues
        # stored for `tag`, or None. A PowerLoss stop never bills below a
        # sample on flash (one stored while tx.json could not be rewritten,
        # or one the central system already has).
        best = None
        if self._journal is not None:
            for _seq, body in self._journal.records():
                try:
                    record = _record().loads(body)
                    if record[1] != "MeterValues" or record[3] != tag:
                        continue
                    for mv in record[2]["meterValue"]:
                        for sv in mv["sampledValue"]:
                            if sv.get("measurand") == "Energy.Active.Import.Register" and "phase" not in sv:
                                wh = int(float(sv["value"]) * (1000 if sv.get("unit") == "kWh" else 1))
                                if best is None or wh > best[0]:
                                    best = (wh, mv["timestamp"])
                except (ValueError, IndexError, KeyError, TypeError, MemoryError):
                    pass
        return best

    def count(self, action):
        # Stored messages of `action`: read from flash once, then kept up to
        # date (a start asks it; scanning the journal each time would parse
        # every waiting message).
        if self._counts is None:
            self._counts = {}
            for a, _tag in self.stored():
                self._counts[a] = self._counts.get(a, 0) + 1
        return self._counts.get(action, 0)

    def _count(self, action, step):
        if self._counts is not None:
            self._counts[action] = self._counts.get(action, 0) + step

    def __len__(self):
        return len(self._journal) if self._journal is not None else 0

    def head(self):
        # (seq, uid, action, payload, tag) of the oldest stored message, or None.
        while self._journal is not None:
            head = self._journal.first()
            if head is None:
                return None
            seq, body = head
            try:
                uid, action, payload, tag = _record().loads(body)
                return seq, uid, action, payload, tag
            except (ValueError, TypeError):
                # A record that checked on flash but is not ours cannot be
                # sent; keeping it would block the lane for ever. (A
                # MemoryError is no verdict on the record: it goes up, and
                # the outbox reads it again later.)
                log.error("outbox", "dropping unreadable stored message %d", seq)
                self._journal.remove(seq)
        return None

    def remove(self, seq, action):
        self._journal.remove(seq)
        self._count(action, -1)


def _exists(path):
    try:
        return os.stat(path)[6] > 0
    except OSError:
        return False


def _record():
    from uocpp.store import record

    return record


def _open(path, max_bytes):
    from uocpp.store.journal import Journal

    return Journal(path, max_bytes)
