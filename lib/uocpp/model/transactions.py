# Transactions known to the charge point, on flash (<flash>/tx.json, atomic
# rewrite) from the moment one starts until the central system has answered
# its StopTransaction. Each has a local id (ours, never reused) and, once
# StartTransaction.conf came, the central system's transactionId.
#
# Together with the outbox's journal this decides what a power cut left:
#   stop recorded here  -> its StopTransaction is in the journal, or the
#                          power went before it was appended: append it
#   running, no remote id and no StartTransaction left in the journal
#                       -> its StartTransaction never went to flash: it
#                          never started (nothing is sent)
#   running otherwise   -> stopped now with reason PowerLoss and the last
#                          meter reading that was stored
# The record of a transaction is dropped only after the reply to its
# StopTransaction, and before that reply leaves the journal.
from uocpp import log
from uocpp.store import json_file


class Transactions:
    def __init__(self, path):
        self._path = path
        saved = json_file.read_json(path, {})
        if not isinstance(saved, dict) or not isinstance(saved.get("tx"), dict):
            saved = {"next": 1, "tx": {}}
        self._next = saved.get("next", 1)
        # str(local id) -> {"c": connector, "tag": idTag, "start": Wh,
        # "t": start time, "wh": last stored reading, "remote": id or None,
        # "stop": StopTransaction payload once stopped}
        self.tx = saved["tx"]

    def _save(self):
        json_file.write_json_atomic(self._path, {"next": self._next, "tx": self.tx})

    def begin(self, connector, id_tag, meter_wh, timestamp):
        # -> the new local id; on flash when this returns.
        local = self._next
        self._next += 1
        self.tx[str(local)] = {"c": connector, "tag": id_tag, "start": meter_wh, "t": timestamp, "wh": meter_wh, "remote": None, "stop": None}
        self._save()
        return local

    def get(self, local):
        return self.tx.get(str(local))

    def running_on(self, connector):
        # The local id of the transaction running on a connector, or None.
        for local, t in self.tx.items():
            if t["c"] == connector and t["stop"] is None:
                return int(local)
        return None

    def reading(self, local, wh):
        # The latest meter reading of a running transaction (PowerLoss stops with it).
        t = self.tx.get(str(local))
        if t is not None and t["stop"] is None:
            t["wh"] = wh
            self._save()

    def started(self, local, remote):
        t = self.tx.get(str(local))
        if t is not None:
            t["remote"] = remote
            self._save()

    def stopped(self, local, stop_payload):
        t = self.tx.get(str(local))
        if t is not None:
            t["stop"] = stop_payload
            self._save()

    def forget(self, local):
        # Its StopTransaction was answered (or could not be delivered).
        if self.tx.pop(str(local), None) is not None:
            self._save()

    def remote(self, local):
        t = self.tx.get(str(local))
        return t["remote"] if t is not None else None

    def count(self):
        return len(self.tx)

    def local_of(self, remote):
        for local, t in self.tx.items():
            if t["remote"] == remote and t["stop"] is None:
                return int(local)
        return None

    def dump(self):
        log.debug("tx", "%r", self.tx)
