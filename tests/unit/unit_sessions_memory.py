# The session task and a heap that runs out (issue 24, the invariants): a
# MemoryError anywhere in the loop's pass skips that pass, never the task;
# the relays are guarded again from the EVSE alone and the loop goes on.
import asyncio
from check import eq
from fakes import Keys

from uocpp import log
from uocpp.services.sessions import Sessions

log.set_level("off")


class Evse:
    # One connector; a running transaction's EV asks for power (pilot C).
    # take_card() raises MemoryError `starve` times, as an allocation in the
    # pass would; every relay change sets `moved`.
    count = 1

    def __init__(self):
        self.changed = asyncio.Event()
        self.moved = asyncio.Event()
        self.relay = False
        self.state = "C"
        self.starve = 0
        self.fed = asyncio.Event()  # set by the last take_card() that starves
        self.cards_asked = 0

    def fault(self, n):
        return "NoError"

    def pilot(self, n):
        return self.state

    def set_offered(self, n, amps):
        pass

    def set_relay(self, n, closed):
        if closed != self.relay:
            self.relay = closed
            self.moved.set()

    def lock(self, n, locked):
        pass

    def take_card(self):
        self.cards_asked += 1
        if self.starve:
            self.starve -= 1
            if not self.starve:
                self.fed.set()
            raise MemoryError("memory allocation failed, allocating 64 bytes")
        return None


class Metering:
    async def poll(self):
        pass


class Connectors:
    def __init__(self):
        self.statuses = []

    def set(self, n, session=None, error_code=None, busy=None, reserved=None):
        if session is not None:
            self.statuses.append(session)

    def operative(self, n):
        return True


class Transactions:
    def running_on(self, n):
        return 7  # the local id of the transaction running on connector 1

    def flush(self):
        pass


class Outbox:
    # Sessions registers its durable lanes' hooks; nothing is sent here.
    gate = None

    def on_durable(self, action, **hooks):
        pass


async def within(event, what):
    try:
        await asyncio.wait_for_ms(event.wait(), 2000)
    except asyncio.TimeoutError:
        raise AssertionError("not within 2 s: " + what)


async def relay_moves(evse, what):
    evse.moved.clear()
    await within(evse.moved, "the relay " + what)


async def test_a_pass_with_no_heap_is_skipped_and_the_relays_still_obey_the_evse():
    evse = Evse()
    keys = Keys(StopTransactionOnEVSideDisconnect=False)
    s = Sessions(evse, Metering(), Connectors(), Transactions(), Outbox(), None, keys, 32, 10)
    task = asyncio.create_task(s.run())
    await relay_moves(evse, "closes for the running transaction")
    eq(evse.relay, True, "closed while the EV asks")
    # Three passes in a row find no heap where the card is read.
    asked = evse.cards_asked
    evse.starve = 3
    evse.changed.set()
    await within(evse.fed, "three passes with no heap came")
    eq(task.done(), False, "the task still runs after the passes with no heap")
    # The EV stops asking: the relay opens as if nothing had happened.
    evse.state = "B"
    evse.changed.set()
    await relay_moves(evse, "opens when the EV stops asking")
    eq(evse.relay, False, "open")
    eq(evse.cards_asked > asked + 3, True, "the card reader is read again after the streak")
    eq(task.done(), False, "still running")
    task.cancel()
