# lazy.py and the doors built on it (issue 24): a part that is not in use
# is not in the heap. Asserted through sys.modules: a module that is not
# there costs nothing.
import sys

import asyncio
from check import TempDir, eq

from uocpp import clock, log
from uocpp.lazy import OnUse, held, unload
from uocpp.services.reservations import Reservations

log.set_level("error")
_BOOK = "uocpp.model.reservations"


class Connectors:
    def __init__(self):
        self.reserved = {}

    def valid(self, n):
        return 0 <= n <= 2

    def set(self, n, reserved=None, **kw):
        if reserved is not None:
            self.reserved[n] = reserved

    def operative(self, n):
        return True

    def status(self, n):
        # The reservations' task ends one on Faulted or Unavailable (5.13).
        return "Reserved" if self.reserved.get(n) else "Available"


def test_on_use_makes_on_first_read_and_drops():
    made = []

    def make():
        import uocpp.store.record

        made.append(1)
        return uocpp.store.record

    unload("uocpp.store.record")
    part = OnUse(make, ("uocpp.store.record",))
    eq((bool(part), "uocpp.store.record" in sys.modules), (False, False), "nothing made yet")
    eq(part.__name__, "uocpp.store.record", "the first read makes it")
    eq(part.__name__ and len(made), 1, "once")
    eq(bool(part), True)
    part.drop()
    eq((bool(part), "uocpp.store.record" in sys.modules), (False, False), "dropped with its module")


def test_held():
    with TempDir("held") as d:
        eq(held(d + "/none.json"), False, "no file")
        for text, want in (("{}", False), ("[]", False), ('{"1": {}}', True)):
            with open(d + "/f.json", "w") as f:
                f.write(text)
            eq(held(d + "/f.json"), want, text)


def test_no_reservation_loads_nothing():
    with TempDir("rsv") as d:
        unload(_BOOK)
        r = Reservations(d + "/reservations.json", Connectors())
        eq((bool(r), _BOOK in sys.modules), (False, False), "nothing at boot")
        # Asked as the charger asks: the door first (services/start_stop.py,
        # cards.py, sessions.py, ops/reserve_now.py, ops/remote_start_transaction.py),
        # and a CancelReservation.
        from uocpp.ops import cancel_reservation

        eq((r and r.on(1), r and r.used_by(1, "A"), r and r.refuses(1, "A")), (r, r, r), "asked, not loaded")
        eq(cancel_reservation.handle({"reservationId": 5}, r), {"status": "Rejected"}, "nothing to cancel")
        eq(_BOOK in sys.modules, False, "still nothing loaded")


async def test_a_reservation_loads_the_book_until_it_ends():
    with TempDir("rsv") as d:
        unload(_BOOK)
        c = Connectors()
        r = Reservations(d + "/reservations.json", c)
        task = asyncio.create_task(r.run())
        r.reserve(7, 1, "ALICE", None, int(clock.now()) + 3600)
        await asyncio.sleep_ms(10)
        eq((bool(r), _BOOK in sys.modules, c.reserved.get(1)), (True, True, True), "ReserveNow loads it")
        eq((r.on(1)[0], r.refuses(1, "BOB"), r.used_by(1, "alice")), (7, True, 7))
        # At the next boot, from flash.
        again = Reservations(d + "/reservations.json", Connectors())
        eq((bool(again), again.on(1)[0]), (True, 7), "a reservation on flash is loaded at boot")
        eq(r.end(7, "cancelled"), True)
        await asyncio.sleep_ms(10)
        eq((bool(r), _BOOK in sys.modules, c.reserved.get(1)), (False, False, False), "dropped once none is left")
        eq(bool(Reservations(d + "/reservations.json", Connectors())), False, "and not loaded at the next boot")
        task.cancel()


async def test_an_expired_reservation_drops_the_book():
    with TempDir("rsv") as d:
        r = Reservations(d + "/reservations.json", Connectors())
        task = asyncio.create_task(r.run())
        r.reserve(8, 2, "ALICE", None, int(clock.now()) + 1)
        await asyncio.sleep_ms(2100)
        eq((bool(r), _BOOK in sys.modules), (False, False), "expired, dropped")
        task.cancel()
