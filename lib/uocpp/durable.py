# The outbox's durable lane: transaction messages on flash (store/journal.py)
# from before they are sent until they are answered, oldest first. Each
# record is [unique id, action, payload, tag]: the id is given when the
# message is stored, so every re-send (after a lost reply, after a reboot)
# is recognisably the same message; the tag ties it to its transaction.
# The journal's module is imported (~6 KB of heap) only once there is
# something to store, or the file holds messages from before a reboot.
import json
import os

from uocpp import log, rpc


class DurableLane:
    def __init__(self, journal, max_bytes=32768):
        # journal: a store.journal.Journal, or the path of its file.
        self._path = None
        self._bytes = max_bytes
        self._journal = journal
        self._counts = None  # action -> stored messages of it, once asked
        if isinstance(journal, str):
            self._path = journal
            self._journal = _open(journal, max_bytes) if _exists(journal) else None

    def store(self, action, payload, tag=None):
        # On flash when this returns (raises journal.JournalFull or OSError
        # when it cannot be). A full journal makes room by dropping the
        # oldest periodic MeterValues, never a StartTransaction or
        # StopTransaction.
        if self._journal is None:
            self._journal = _open(self._path, self._bytes)
        body = json.dumps([rpc.new_id(), action, payload, tag])
        while True:
            try:
                seq = self._journal.append(body)
                self._count(action, 1)
                return seq
            except Exception as e:
                if type(e).__name__ != "JournalFull" or not self._drop_oldest("MeterValues"):
                    log.error("outbox", "cannot store %s: %s", action, e)
                    raise

    def _drop_oldest(self, action):
        for seq, record in self._journal.records():
            if json.loads(record)[1] == action:
                log.warning("outbox", "journal full: dropped the oldest stored %s", action)
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
                    record = json.loads(body)
                    out.append((record[1], record[3]))
                except (ValueError, IndexError, MemoryError):
                    pass
        return out

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
                uid, action, payload, tag = json.loads(body)
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


def _open(path, max_bytes):
    from uocpp.store.journal import Journal

    return Journal(path, max_bytes)
