# Transactions on flash (<flash>/tx.json, atomic rewrite). Only what RAM
# must hold stays here: the running transactions (at most one a connector)
# and, for stopped ones whose StopTransaction still waits in the outbox's
# journal, the central system's transactionId once StartTransaction.conf
# brought it. Everything else of a stopped transaction is in the journal,
# so a thousand transactions queued offline cost no heap.
#
# Each has a local id (ours, never reused) and, once StartTransaction.conf
# came, the central system's transactionId ("remote"). What a power cut
# left is decided at boot (services/power_loss.py), with the journal's
# (action, tag) list:
#   running, its StopTransaction in the journal -> stopped before the power
#                          went: only the record here was left
#   running, no remote id, no StartTransaction in the journal
#                       -> its StartTransaction never reached flash: it
#                          never started (nothing is sent)
#   running otherwise   -> stopped now with reason PowerLoss and the last
#                          meter reading stored
# A rewrite that fails (a full or failing flash) raises nowhere but in
# begin(): RAM is ahead and `dirty` says so; flush() tries again. The outbox
# holds the durable lane while tx.json is behind (its gate): a message
# answered while flash still said otherwise would be lost (a Start's id) or
# sent twice (a Stop, as PowerLoss at the next boot).
from uocpp import log
from uocpp.store import json_file


def same_tag(a, b):
    # IdToken is CiString20Type: compared case-insensitively everywhere (the
    # card `alice` is the idTag `ALICE`: cache, local list, reservations,
    # transactions, parentIdTag).
    return isinstance(a, str) and isinstance(b, str) and (a == b or a.lower() == b.lower())


def _entries(obj, name):
    # obj[name] (tx.json's object) without the entries of another shape
    # than this firmware writes (a bit flipped, a file of another version
    # or edited by hand): one such entry must not stop every boot (the
    # session loop, the power-loss recovery and the status page read them
    # all). The keys are local ids ("s" or "e" and a local id in "fix").
    out = {}
    got = obj.get(name)
    for key, t in got.items() if isinstance(got, dict) else ():
        try:
            local = key[1:] if name == "fix" else key
            if str(int(local)) == local and int(local) > 0:
                if name == "fix":
                    ok = isinstance(t, str)
                elif name == "remote":
                    ok = type(t) is int
                else:
                    ok = (
                        type(t["c"]) is int and t["c"] > 0 and isinstance(t["tag"], str) and type(t["start"]) is int
                        and type(t["wh"]) is int and isinstance(t["t"], str) and isinstance(t.get("wt", ""), str)
                        and (t["remote"] is None or type(t["remote"]) is int)
                    )  # fmt: skip
                if ok:
                    out[key] = t
                    continue
        except (TypeError, ValueError, KeyError):
            pass
        log.warning("tx", "tx.json: %s %s dropped: not of this firmware's shape", name, str(key)[:12])
    return out


class Transactions:
    def __init__(self, path):
        self._path = path
        saved = json_file.read_json(path, {})
        if not isinstance(saved, dict):
            saved = {}
        # str(local) -> {"c": connector, "tag": idTag, "start": Wh, "t": start
        # time, "wh": last stored reading, "remote": id or None}
        self.running = _entries(saved, "run")
        # str(local) -> remote id, for stopped ones not yet answered
        self._remote = _entries(saved, "remote")
        # "s<local>" / "e<local>" -> the time of a StartTransaction /
        # StopTransaction stamped before the clock was set, put right once it
        # was (sessions.py): on flash before the message goes with it, so
        # that every send of it, this boot or the next, carries the same time
        # under the same CALL id. Dropped once the message has left the
        # journal (start_stop.py _done, and tidy at boot: power_loss.py; both
        # write it with save()).
        self.fixed = _entries(saved, "fix")
        # A local id is never given twice: above every one this file names,
        # whatever its "next" says (power_loss.py also lifts it above those
        # the journal names).
        nxt = saved.get("next")
        self._next = max([nxt if type(nxt) is int else 1] + [int(k) + 1 for k in self.running] + [int(k) + 1 for k in self._remote])
        self.dirty = False

    def save(self, strict=False):
        # Never raises but in begin() (strict): the session loop and the
        # outbox go on with RAM ahead.
        saved = {"next": self._next, "run": self.running, "remote": self._remote}
        if self.fixed:
            saved["fix"] = self.fixed
        try:
            json_file.write_json_atomic(self._path, saved)
        except Exception as e:
            if strict:
                raise
            if not self.dirty:
                log.error("tx", "tx.json not written (%s): kept in RAM, tried again", e)
            self.dirty = True
            return
        if self.dirty:
            log.info("tx", "tx.json written again")
        self.dirty = False

    def flush(self):
        # -> True when tx.json holds what RAM holds (the outbox's gate).
        if self.dirty:
            self.save()
        return not self.dirty

    def begin(self, connector, id_tag, meter_wh, timestamp, parent=None):
        # -> the new local id; on flash when this returns (raises if it cannot
        # be: no transaction rather than one a power cut would lose).
        local = self._next
        self.running[str(local)] = {"c": connector, "tag": id_tag, "start": meter_wh, "t": timestamp, "wh": meter_wh, "remote": None, "p": parent}
        self._next += 1
        try:
            self.save(True)
        except Exception:
            self.running.pop(str(local))
            self._next -= 1
            raise
        return local

    def get(self, local):
        return self.running.get(str(local))

    def running_on(self, connector, key="c"):
        # The local id of the transaction running on a connector (or, key
        # "remote", with this central-system id), or None.
        for local, t in self.running.items():
            if t[key] == connector:
                return int(local)
        return None

    def reading(self, local, wh, timestamp):
        # The latest meter reading of a running transaction and when it was
        # taken: a PowerLoss stop bills with both (not with the time of the
        # next boot, which would bill the outage).
        # The same reading at the same second (triggered MeterValues, as
        # often as the central system asks) writes nothing.
        t = self.running.get(str(local))
        if t is not None and (t["wh"] != wh or t.get("wt") != timestamp):
            t["wh"] = wh
            t["wt"] = timestamp
            self.save()

    def started(self, local, remote):
        # StartTransaction.conf: the central system's id.
        key = str(local)
        t = self.running.get(key)
        if t is not None:
            t["remote"] = remote
        else:
            self._remote[key] = remote
        self.save()

    def stopped(self, local):
        # Its StopTransaction is in the journal now: no longer running. What
        # may find no heap (the key, the transactionId's entry) comes before
        # any change: a MemoryError leaves it running whole, never taken off
        # without its transactionId (the stop then dropped unsent, and its
        # connector held by a stop no retry finds).
        key = str(local)
        t = self.running.get(key)
        if t is not None:
            if t["remote"] is not None:
                self._remote[key] = t["remote"]
            del self.running[key]
            self.save()

    def forget(self, local):
        # Its StopTransaction was answered (or given up).
        if self._remote.pop(str(local), None) is not None:
            self.save()

    def remote(self, local):
        key = str(local)
        t = self.running.get(key)
        return t["remote"] if t is not None else self._remote.get(key)

    def label(self, local):
        # How log lines name a transaction: the central system's id once
        # StartTransaction.conf brought it (what the central system, the
        # status page and the bill say), "local N" until then.
        remote = self.remote(local)
        return "local %d" % local if remote is None else str(remote)

    def count(self):
        return len(self.running) + len(self._remote)
