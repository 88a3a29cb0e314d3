# Reservations' door (C16 3.11): while no reservation exists, nothing of
# model/reservations.py is in the heap, and every question a session asks
# ("is connector n reserved?") is answered "no" from here. ReserveNow (or a
# reservation on flash at boot) loads it; once the last one is used,
# cancelled or expired, its task ends and the door drops it again.
import asyncio

from uocpp import clock
from uocpp.lazy import OnUse, held, serve


class Reservations(OnUse):
    # reserve(): the book's (OnUse loads it for that).
    def __init__(self, path, connectors):
        OnUse.__init__(self, self._load, ("uocpp.model.reservations",))
        self._path = path
        self._connectors = connectors
        self.changed = asyncio.Event()
        clock.on_set(self.changed.set)  # an expiry may have passed
        if held(path):  # one on flash ("{}" is the file with none)
            self.get()

    def _load(self):
        from uocpp.model.reservations import Reservations as Book

        book = Book(self._path, self._connectors, self.changed)
        self.changed.set()  # the task ends it at its expiry, and drops it once empty
        return book

    def on(self, n):
        return None if self.obj is None else self.obj.on(n)

    def used_by(self, n, id_tag, parent=None):
        return None if self.obj is None else self.obj.used_by(n, id_tag, parent)

    def refuses(self, n, id_tag, parent=None):
        return self.obj is not None and self.obj.refuses(n, id_tag, parent)

    def end(self, rid, why):
        return self.obj is not None and self.obj.end(rid, why)

    run = serve  # lazy.py: the part's task while it is made, dropped when it ends
