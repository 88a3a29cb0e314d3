# Reservations' door (C16 3.11): while no reservation exists, nothing of
# model/reservations.py is in the heap, and every question a session asks
# ("is connector n reserved?") is answered "no" by the door being false.
# ReserveNow (or a reservation on flash at boot) loads it; once the last one
# is used, cancelled or expired, its task ends and the door drops it again.
import asyncio

from uocpp import clock
from uocpp.lazy import OnUse, held, serve


class Reservations(OnUse):
    # reserve(), on(), used_by(), refuses(), end(): the book's. The door is
    # false while no book is made, and every caller asks that first
    # (`self._rsv and self._rsv.on(n)`): a question asked of the door
    # itself would load the book (OnUse) to answer "no".
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

    run = serve  # lazy.py: the part's task while it is made, dropped when it ends
