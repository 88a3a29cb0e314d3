# Reservations (C16 3.11, 5.13 ReserveNow, 5.3 CancelReservation): at most
# one per connector, on flash (<flash>/reservations.json, atomic) so that
# they survive a reboot. A reserved connector reads Reserved (connectors.py)
# until its expiryDate (then Available again) or until a transaction of the
# reserved idTag, or of one with its parentIdTag, starts there (sessions.py:
# its StartTransaction carries the reservationId). ReserveConnectorZeroSupported
# is false: only a given connector is reserved.
# Loaded only while a reservation exists (services/reservations.py is the
# door that makes it and drops it).
import asyncio

from uocpp import clock, log, sleep
from uocpp.model import connectors as cn
from uocpp.model.transactions import same_tag
from uocpp.store import json_file


class Reservations:
    def __init__(self, path, connectors, changed=None):
        # changed: the door's event (a reservation made or ended, the clock set).
        self._path = path
        self._connectors = connectors
        self.changed = changed or asyncio.Event()
        saved = json_file.read_json(path, {})
        # str(reservationId) -> {"c": connector, "tag": idTag, "parent": parentIdTag or None, "exp": Unix seconds}
        self._items = {}
        if isinstance(saved, dict):
            for rid, r in saved.items():
                # A reservationId is an integer (on() gives it as one);
                # parentIdTag a string or none.
                try:
                    p = r.get("parent")
                    if (
                        str(int(rid)) == rid
                        and connectors.valid(r["c"])
                        and r["c"]
                        and isinstance(r["tag"], str)
                        and type(r["exp"]) is int
                        and (p is None or isinstance(p, str))
                    ):
                        r["parent"] = p
                        self._items[rid] = r
                        connectors.set(r["c"], reserved=True)
                except (TypeError, KeyError, ValueError, AttributeError):
                    pass

    def on(self, n):
        # (reservationId, reservation) on connector n, or None.
        for rid, r in self._items.items():
            if r["c"] == n:
                return int(rid), r
        return None

    def used_by(self, n, id_tag, parent=None):
        # The reservationId on n that id_tag (with this parentIdTag) may use, or None.
        found = self.on(n)
        if found is not None and (same_tag(id_tag, found[1]["tag"]) or same_tag(parent, found[1]["parent"])):
            return found[0]
        return None

    def refuses(self, n, id_tag, parent=None):
        # Is n reserved for someone else?
        return self.on(n) is not None and self.used_by(n, id_tag, parent) is None

    def reserve(self, rid, n, id_tag, parent, expiry):
        # A reservation with the same id replaces the old one (5.13).
        # -> False, nothing changed, when the flash refused it (a reboot
        # would forget it: ReserveNow Rejected).
        old = self._items.pop(str(rid), None)
        self._items[str(rid)] = {"c": n, "tag": id_tag, "parent": parent, "exp": expiry}
        if not self._save():
            self._items.pop(str(rid))
            if old is not None:
                self._items[str(rid)] = old
            return False
        if old is not None and old["c"] != n:
            self._connectors.set(old["c"], reserved=False)
        self._connectors.set(n, reserved=True)
        log.info("reserve", "connector %d reserved for %s until %s (reservation %d)", n, id_tag, clock.format_iso(expiry), rid)
        self.changed.set()
        return True

    def end(self, rid, why):
        r = self._items.pop(str(rid), None)
        if r is None:
            return False
        if not self._save() and why == "cancelled":
            # Still on flash (full): a reboot would bring it back, so it
            # stays (CancelReservation Rejected). Used, expired or ended by
            # a fault, it is over whatever the flash says.
            self._items[str(rid)] = r
            return False
        self._connectors.set(r["c"], reserved=False)
        log.info("reserve", "reservation %d on connector %d %s", rid, r["c"], why)
        self.changed.set()
        return True

    def _save(self):
        # -> False when the flash refused the write.
        try:
            json_file.write_json_atomic(self._path, self._items)
            return True
        except OSError as e:
            log.error("reserve", "cannot store the reservations: %s", e)
            return False

    async def run(self):
        # Ends each reservation at its expiryDate, or once its connector is
        # Faulted or Unavailable: sleeps until the soonest, or until a change
        # (a reservation made or ended, the clock set by BootNotification, a
        # fault, ChangeAvailability). Returns once none is left (the door
        # drops it).
        while True:
            self.changed.clear()
            now, soonest = clock.now(), None
            for rid, r in list(self._items.items()):
                left = r["exp"] - now
                if left <= 0:
                    self.end(int(rid), "expired")
                elif self._connectors.status(r["c"]) in (cn.FAULTED, cn.UNAVAILABLE):
                    # Faulted or Unavailable ends it (5.13): Available, not
                    # Reserved, once the connector is back. A failed meter
                    # (PowerMeterFailure, no fault) does not: no start until
                    # it answers, then its holder's.
                    self.end(int(rid), "ended (%s)" % self._connectors.status(r["c"]))
                elif soonest is None or left < soonest:
                    soonest = left
            if soonest is None:
                return
            else:
                # At most an hour at a time: ticks wrap after about 12 days.
                await sleep.until(self.changed, int(min(soonest, 3600) * 1000) + 1)
