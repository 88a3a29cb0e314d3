# The long-lived loops and a heap that runs out (the invariants): a
# MemoryError skips what was being done, never the task. The session task
# guards the relays again from the EVSE alone and goes on; the meter's task
# loses that sample only; the heartbeat and status tasks try again after a
# pause; a log line that finds no heap is dropped, not raised into its
# caller. (The EVSE's sampling: unit_esp32_evse.py; the supervisor's
# watcher: tests/test_supervisor.py.)
import time

import asyncio
from check import eq
from fakes import Keys

from uocpp import log
from uocpp.services.heartbeat import Heartbeat
from uocpp.services.metering import ENERGY, Metering
from uocpp.services.sessions import Sessions
from uocpp.services.status import StatusNotifier

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


class Meter:
    failed = [0, 0]  # no read failed

    async def poll(self):
        pass

    async def read(self, n):
        return {ENERGY: 1500}


class Connectors:
    def __init__(self):
        self.statuses = []

    def set(self, n, session=None, error_code=None, busy=None, reserved=None):
        if session is not None:
            self.statuses.append(session)

    def operative(self, n):
        return True


class Transactions:
    # reading() (the latest reading on flash) raises MemoryError `starve`
    # times, as building a sample would with no heap.
    def __init__(self):
        self.starve = 0

    def running_on(self, n):
        return 7  # the local id of the transaction running on connector 1

    def flush(self):
        pass

    def get(self, local):
        return {"t": ""}  # started before any value

    def reading(self, local, wh, at):
        if self.starve:
            self.starve -= 1
            raise MemoryError("memory allocation failed, allocating 48 bytes")


class Outbox:
    # Sessions registers its durable lanes' hooks; store() keeps what the
    # meter stores and sets `stored`.
    gate = None

    def __init__(self):
        self.kept = []
        self.stored = asyncio.Event()

    def on_durable(self, action, **hooks):
        pass

    def store(self, action, payload, local):
        self.kept.append((action, payload["meterValue"][0]["sampledValue"][0]["value"], local))
        self.stored.set()


def sessions(evse):
    # The session task's part around evse: one connector, a transaction
    # running on it (Transactions), the relay left to the EVSE alone.
    return Sessions(evse, Meter(), Connectors(), Transactions(), Outbox(), None, Keys(StopTransactionOnEVSideDisconnect=False), 32, 10)


async def within(event, what):
    try:
        await asyncio.wait_for_ms(event.wait(), 2000)
    except asyncio.TimeoutError:
        raise AssertionError("not within 2 s: " + what)


async def charging_idle():
    # The session task with a transaction charging, its relay closed, and
    # waiting for the EVSE's next change.
    evse = Evse()
    s = sessions(evse)
    task = asyncio.create_task(s.run())
    await relay_moves(evse, "closes for the running transaction")
    await asyncio.sleep_ms(20)  # the task waits for the EVSE's next change
    return evse, s, task


async def relay_moves(evse, what):
    evse.moved.clear()
    await within(evse.moved, "the relay " + what)


async def test_a_pass_with_no_heap_is_skipped_and_the_relays_still_obey_the_evse():
    evse = Evse()
    s = sessions(evse)
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


async def test_a_pass_in_a_heap_with_no_room_at_all_still_opens_the_relay():
    # The real thing, not an injected MemoryError: the heap locked
    # (micropython.heap_lock: every allocation fails) while the EV stops
    # asking. The pass and its net may allocate nothing on the way to the
    # relay: a bound method made per call, a log line's arguments packed,
    # would raise again inside the net and end the task, relay closed.
    import micropython

    evse, s, task = await charging_idle()
    evse.state = "B"
    micropython.heap_lock()
    evse.changed.set()
    try:
        await asyncio.sleep_ms(30)  # only the session task runs meanwhile; a sleep allocates nothing
    finally:
        micropython.heap_unlock()
    eq((evse.relay, task.done()), (False, False), "the relay opened with no heap at all, the task lives")
    evse.state = "C"
    evse.changed.set()
    await relay_moves(evse, "closes again once the heap is back and the EV asks")
    task.cancel()


async def test_a_limit_below_6_a_that_finds_no_heap_still_opens_the_relay():
    # Smart charging lowers the offer below 6 A while no heap is left: the
    # call cannot even make its bound method to drive the connector. The
    # relay must open all the same (never closed below 6 A): the session
    # loop looks again and its guard, which allocates nothing, opens it.
    # (Before: set_limit raised, the loop was not woken and its guard did
    # not look at the limit: closed at 0 A until the next EVSE change.)
    import micropython

    evse, s, task = await charging_idle()
    micropython.heap_lock()
    try:
        try:
            s.set_limit(1, 0)
        except MemoryError:
            pass  # the caller's (smart charging's) to bear
        await asyncio.sleep_ms(30)  # only the session task runs meanwhile
    finally:
        micropython.heap_unlock()
    eq((evse.relay, task.done()), (False, False), "the relay opened below 6 A with no heap, the task lives")
    await asyncio.sleep_ms(30)  # passes with the heap back: it stays open
    eq(evse.relay, False, "still open at 0 A")
    task.cancel()


async def test_a_stop_on_a_board_with_no_heap_left_still_opens_the_relay():
    # On a board the offer is kept as a float (Esp32Evse.set_offered), which
    # a heap with no room left cannot make: MemoryError. A stop (here a
    # RemoteStopTransaction's) takes the offer away and opens the relay: the
    # relay must open even when taking the offer away raises. (Before: the
    # offer raised first and the relay stayed closed.)
    import micropython

    import unit_esp32_evse as board_test
    from uocpp.platform.esp32_evse import Esp32Evse

    log.set_level("off")  # (that module sets its own level)
    board = board_test.Board()
    board.pilot[34] = 6  # an EV plugged in and asking (C)
    evse = Esp32Evse(board_test.config(), board)
    s = sessions(evse)
    task = asyncio.create_task(s.run())
    await within(s._idle, "the first pass")
    eq(evse.relay(1), True, "closed for the running transaction")
    micropython.heap_lock()
    try:
        try:
            s.stop(1, "Remote")
        except MemoryError:
            pass
    finally:
        micropython.heap_unlock()
    # The relay's GPIO (the stand-in's log of writes needs heap, a real pin does not).
    eq(board.levels[26], 0, "the relay opened with no heap for the offer")
    task.cancel()


async def test_a_meter_read_whose_failure_finds_no_heap_to_be_logged_does_not_hold_the_loop():
    # The meter read runs as its own task beside the loop's guard; a read
    # that fails is logged, and a log line with arguments packs a tuple: no
    # heap for it raises MemoryError out of that task. The loop must still
    # learn that the read is over, or it waits for it for ever, guarding
    # the relays but never stepping a connector again (no stop, no start, no
    # status). (Before: it never came back from the read.)
    from uocpp.services import sessions as module

    class Failing(Meter):
        async def poll(self):
            raise OSError("no answer on the bus")

    def no_heap(*args):
        raise MemoryError("memory allocation failed, allocating 16 bytes")

    evse = Evse()
    s = sessions(evse)
    s._metering = Failing()
    real = module.log.error
    module.log.error = no_heap
    try:
        task = asyncio.create_task(s.run())
        await asyncio.sleep_ms(50)  # the first pass: its read fails unlogged
    finally:
        module.log.error = real
    s._idle.clear()
    evse.changed.set()
    await within(s._idle, "the loop steps and idles again after the failed read")
    eq(task.done(), False, "the task lives")
    task.cancel()


async def test_a_card_decision_whose_handling_fails_before_it_begins_does_not_hold_the_loop():
    # The loop takes a decision off before card handling runs: one whose
    # handling fails (no heap for its frame: _safely catches it) must not
    # stay first in line, or the loop that takes the decisions in would
    # spin on it, holding the event loop (relays included). (Left in line,
    # this test times out.)
    from uocpp.services import cards

    real, calls = cards.decide, []

    def fails(s, n, id_tag, local, info):
        calls.append(id_tag)
        raise MemoryError("memory allocation failed, allocating 32 bytes")

    cards.decide = fails
    try:
        evse = Evse()
        s = sessions(evse)
        s._decided.append((1, "ALICE", None, {"status": "Accepted"}))
        task = asyncio.create_task(s.run())
        await within(s._idle, "the loop idle after the decision")
        eq((calls, s._decided, task.done()), (["ALICE"], [], False), "tried once, taken off, the task lives")
        task.cancel()
    finally:
        cards.decide = real


async def test_a_sample_with_no_heap_is_lost_and_the_next_one_is_stored():
    tx, outbox = Transactions(), Outbox()
    metering = Metering(Meter(), 1, Keys(MeterValueSampleInterval=1, MeterValuesSampledData=ENERGY, ClockAlignedDataInterval=0), outbox, tx)
    metering.begin(1)
    tx.starve = 1  # the first sample finds no heap
    task = asyncio.create_task(metering.run())
    try:
        await asyncio.wait_for_ms(outbox.stored.wait(), 5000)
    except asyncio.TimeoutError:
        raise AssertionError("no sample stored within 5 s (the first one found no heap)")
    eq((tx.starve, outbox.kept), (0, [("MeterValues", "1500", 7)]), "the next sample is stored")
    eq(task.done(), False, "the meter's task still runs")
    task.cancel()


def test_a_log_line_with_no_heap_is_dropped_not_raised():
    mask = log.mask

    def starving(text):
        raise MemoryError("memory allocation failed, allocating 96 bytes")

    log.mask = starving
    try:
        log.error("test", "a line that finds no heap: %s", "dropped")
    finally:
        log.mask = mask


class Registered:
    def __init__(self):
        self.accepted = asyncio.Event()
        self.accepted.set()


class Starving:
    # An outbox whose first `starve` submissions find no heap; `taken` is set
    # by the first one that goes through.
    def __init__(self, starve):
        self.starve = starve
        self.taken = asyncio.Event()
        self.msgs = []
        self.last_call_ms = 0  # as the rpc: our last CALL long ago

    def _take(self, msg):
        if self.starve:
            self.starve -= 1
            raise MemoryError("memory allocation failed, allocating 80 bytes")
        self.msgs.append(msg)
        self.taken.set()
        return msg

    def submit(self, msg):
        return self._take(msg)

    async def request(self, msg):
        self._take(msg)
        self.last_call_ms = time.ticks_ms()
        return {"currentTime": "2026-12-07T10:00:00Z"}


async def test_a_heartbeat_with_no_heap_is_tried_again():
    outbox = Starving(1)
    hb = Heartbeat(outbox, outbox, Keys(HeartbeatInterval=60), Registered(), None)
    task = asyncio.create_task(hb.run())
    await within(outbox.taken, "the Heartbeat after the one with no heap")
    eq((outbox.starve, [m.action for m in outbox.msgs], task.done()), (0, ["Heartbeat"], False), "tried again, the task alive")
    task.cancel()


class LinkUp:
    def __init__(self):
        self.up = asyncio.Event()
        self.up.set()
        self.connections = 1


class Connector:
    def __init__(self, cid):
        self.id = cid
        self.error_code = "NoError"
        self.fault = None


class Statuses:
    def __init__(self):
        self.items = [Connector(0), Connector(1)]
        self.count = 1
        self.changed = asyncio.Event()

    def status(self, cid):
        return "Available"


async def test_a_status_notification_with_no_heap_is_posted_at_the_next_look():
    outbox = Starving(1)
    link = LinkUp()
    notifier = StatusNotifier(outbox, Statuses(), Registered(), link)
    task = asyncio.create_task(notifier.run())
    await within(outbox.taken, "a StatusNotification after the one with no heap")
    while len(outbox.msgs) < 2 and not task.done():
        outbox.taken.clear()
        await within(outbox.taken, "the other connector's StatusNotification")
    eq(sorted(m.key for m in outbox.msgs), ["st:0", "st:1"], "both connectors', the one with no heap too")
    eq(task.done(), False, "the task alive")
    task.cancel()


async def both_notified():
    # The status notifier running, both connectors' StatusNotifications
    # posted: (outbox, link, its task, connector 1's message).
    outbox, link = Starving(0), LinkUp()
    task = asyncio.create_task(StatusNotifier(outbox, Statuses(), Registered(), link).run())
    while len(outbox.msgs) < 2:
        outbox.taken.clear()
        await within(outbox.taken, "both connectors' StatusNotifications")
    first = [m for m in outbox.msgs if m.key == "st:1"][0]
    outbox.taken.clear()
    return outbox, link, task, first


async def test_a_status_notification_that_found_no_heap_to_be_sent_goes_again_on_the_same_connection():
    # The outbox gives up a message it found no heap to send, and keeps the
    # connection (outbox.py): the status notifier posts it again at its next
    # look, not only once a new connection is up (as after a CALLERROR).
    from uocpp import errors

    outbox, link, task, first = await both_notified()
    first.build()  # as the outbox does before the CALL
    first._finish(None, errors.NoHeap("out of memory"))  # as the outbox gives it up
    await within(outbox.taken, "connector 1's StatusNotification again, same connection")
    eq((outbox.msgs[-1].key, link.connections), ("st:1", 1), "posted again on connection 1")
    task.cancel()


async def test_a_held_stop_whose_retry_finds_no_heap_does_not_spin_the_loop():
    # A stop held (not on flash yet) is retried by code loaded only then
    # (services/held_stops.py). When that load finds no heap, the retry is
    # put off at its own pace: left due, the pass's deadline would be now
    # and the session loop would run pass after pass (the 5-minute soak,
    # seed 512: 2,000 passes and log lines a second).
    import builtins

    real = builtins.__import__

    def starved(name, globals=None, locals=None, fromlist=(), level=0):
        if name == "uocpp.services" and fromlist and "held_stops" in fromlist:
            raise MemoryError("memory allocation failed (no heap for held_stops)")
        return real(name, globals, locals, fromlist, level)

    evse = Evse()
    evse.state = "B"  # no EV asking: nothing else for the loop to do
    s = sessions(evse)
    s._retry_at = time.ticks_ms()  # a held stop, due now
    builtins.__import__ = starved
    try:
        task = asyncio.create_task(s.run())
        await asyncio.sleep_ms(300)
        passes = evse.cards_asked
    finally:
        builtins.__import__ = real
    eq((passes < 10, task.done()), (True, False), "%d passes in 300 ms, the task alive" % passes)
    eq(time.ticks_diff(s._retry_at, time.ticks_ms()) > 1000, True, "the retry put off")
    task.cancel()


# -- a transaction's start and stop with no heap half way -----------------------


class Starts(Outbox):
    # The durable lane as Sessions and the meter use it: each stored message
    # kept as (action, tag); `stopped` is set by a StopTransaction.
    def __init__(self):
        super().__init__()
        self.stopped = asyncio.Event()

    def store(self, action, payload, local):
        self.kept.append((action, local))
        if action == "StopTransaction":
            self.stopped.set()

    def stored_count(self, action):
        return 0

    def submit(self, msg):
        return msg  # a value that is not the transaction's (volatile)


class LockingEvse(Evse):
    def lock(self, n, locked):
        return True


class StopMeter:
    # Metering's side of a start and a stop: transaction_data() (the
    # StopTransaction's meter values, built as the stop is decided) finds
    # no heap `starve` times.
    def __init__(self):
        self.starve = 0
        self.failed = [0, 0, 0]  # no read failed (connectors 1 and 2)
        self.readings = [{}, {ENERGY: 1500}, {ENERGY: 1500}]

    async def poll(self):
        pass

    def energy_wh(self, n):
        return 1500

    def meter_value(self, n, measurands, context):
        return {"timestamp": "2026-12-02T00:00:00Z", "sampledValue": []}

    def begin(self, n):
        pass

    def end(self, n):
        pass

    def transaction_data(self, n, begin):
        if self.starve:
            self.starve -= 1
            raise MemoryError("memory allocation failed, allocating 112 bytes")
        return []


def charging(d, metering, outbox):
    # Sessions with a real tx.json in d and a transaction started on connector 1.
    from uocpp.model.transactions import Transactions as Tx

    tx = Tx(d + "/tx.json")
    s = Sessions(LockingEvse(), metering, Connectors(), tx, outbox, None, Keys(StopTxnSampledData=ENERGY, StopTransactionOnEVSideDisconnect=False), 32, 10)
    local = s.start(1, "ALICE")
    eq((local, outbox.kept), (1, [("StartTransaction", 1)]), "started")
    return s, tx


async def test_a_stop_whose_meter_values_find_no_heap_is_stored_later():
    # A card stops the transaction; building its transactionData finds no
    # heap. The relay opens and the stop is held, and a held stop is tried
    # again (services/held_stops.py): its StopTransaction reaches flash
    # without another card, a reboot or a RemoteStopTransaction.
    from check import TempDir

    with TempDir("stop") as d:
        meter, outbox = StopMeter(), Starts()
        s, tx = charging(d, meter, outbox)
        meter.starve = 1
        s._safely(s.stop, 1, "Local", "ALICE")  # as card handling is called
        eq((s.evse.relay, outbox.kept[1:]), (False, []), "the relay open, nothing stored yet")
        task = asyncio.create_task(s.run())
        try:
            await asyncio.wait_for_ms(outbox.stopped.wait(), 8000)
        except asyncio.TimeoutError:
            raise AssertionError("the StopTransaction was never stored (the stop held with no retry)")
        finally:
            task.cancel()
        eq((outbox.kept[1:], tx.running_on(1)), ([("StopTransaction", 1)], None), "stored once, the transaction over")


def test_a_start_whose_begin_value_finds_no_heap_is_still_metered():
    # The StartTransaction is on flash: the transaction runs. Building its
    # Transaction.Begin value then finds no heap (a session's peak): the
    # meter must still take the transaction's values, or none is stored for
    # the whole session and tx.json never learns a reading (a PowerLoss stop
    # with the meter unreadable would bill meterStart).
    from check import TempDir

    with TempDir("start") as d:
        from uocpp.model.transactions import Transactions as Tx

        outbox = Starts()
        tx = Tx(d + "/tx.json")
        metering = Metering(Meter(), 1, Keys(), outbox, tx)
        metering.readings[1] = {ENERGY: 1500}
        real = metering.meter_value

        def starved(n, measurands, context):
            metering.meter_value = real
            raise MemoryError("memory allocation failed, allocating 96 bytes")

        metering.meter_value = starved
        s = Sessions(LockingEvse(), metering, Connectors(), tx, outbox, None, Keys(StopTxnSampledData=ENERGY), 32, 10)
        s._safely(s.start, 1, "ALICE")  # as card handling is called
        eq((outbox.kept, tx.running_on(1)), ([("StartTransaction", 1)], 1), "started: on flash")
        metering.readings[1] = {ENERGY: 1700}
        metering.send(1, ENERGY, "Sample.Periodic")
        eq(outbox.kept[1:], [("MeterValues", 1)], "the transaction's sample stored")
        eq(tx.get(1)["wh"], 1700, "tx.json holds the latest reading")


def test_a_stop_with_no_heap_after_it_is_stored_is_not_stored_twice():
    # Its StopTransaction is on flash; the log line after it finds no heap
    # for its arguments. The transaction must be over all the same: a held
    # stop's retry would store a second StopTransaction for it, sent to the
    # central system after the first was answered (a stop counted twice).
    from check import TempDir

    from uocpp.services import start_stop

    with TempDir("stop2") as d:
        meter, outbox = StopMeter(), Starts()
        s, tx = charging(d, meter, outbox)
        real = start_stop.log.info

        def starved(tag, msg, *args):
            if "stopped" in msg:
                start_stop.log.info = real
                raise MemoryError("memory allocation failed, allocating 32 bytes")  # its arguments' tuple
            real(tag, msg, *args)

        start_stop.log.info = starved
        try:
            s._safely(s.stop, 1, "Local", "ALICE")
            s._safely(s._step, 1, True)  # the loop's pass after its meter read
        finally:
            start_stop.log.info = real
        from uocpp.services import held_stops

        held_stops.retry(s)  # as the session loop does once a held stop's retry is due
        eq((outbox.kept[1:], tx.running_on(1)), ([("StopTransaction", 1)], None), "one StopTransaction, the transaction over")


class StarvedRemote:
    # tx.json's transactionIds of stopped transactions, whose next entry
    # finds no heap once (a dict's table grows as it takes an entry).
    def __init__(self):
        self.d = {}
        self.starve = 1

    def __setitem__(self, key, value):
        if self.starve:
            self.starve -= 1
            raise MemoryError("memory allocation failed, allocating 64 bytes")
        self.d[key] = value

    def get(self, key, default=None):
        return self.d.get(key, default)

    def pop(self, key, default=None):
        return self.d.pop(key, default)

    def __iter__(self):
        return iter(self.d)


def test_a_stop_that_finds_no_heap_as_it_leaves_tx_json_keeps_its_transaction_id():
    # Its StopTransaction is on flash; taking the transaction off the running
    # ones finds no heap for its transactionId's entry. It must not be taken
    # off without it: the StopTransaction would then be dropped unsent (no
    # transactionId), and the held stop's retry would never find it, its
    # connector held for good.
    from check import TempDir

    from uocpp.services import held_stops

    with TempDir("stop3") as d:
        outbox = Starts()
        s, tx = charging(d, StopMeter(), outbox)
        tx.started(1, 42)
        tx._remote = StarvedRemote()
        s._safely(s.stop, 1, "Local", "ALICE")
        s._safely(s._step, 1, True)  # the loop's pass after its meter read
        eq((tx.running_on(1), tx.remote(1)), (1, 42), "still running whole, its transactionId kept")
        held_stops.retry(s)  # as the session loop does once a held stop's retry is due
        eq((tx.running_on(1), tx.remote(1), s._stopping[1]), (None, 42, None), "stopped, its transactionId there for its StopTransaction")


def test_a_held_stop_is_tried_again_even_when_its_log_line_finds_no_heap():
    # The journal cannot take the StopTransaction (a full flash), and the
    # error line saying so finds no heap either: the retry is due all the
    # same, else the stop stays held (relay open, no StopTransaction) until
    # another stop request or a reboot.
    from check import TempDir

    from uocpp.services import start_stop

    class FullJournal(Starts):
        def store(self, action, payload, local):
            if action == "StopTransaction":
                raise OSError(28)  # ENOSPC
            Starts.store(self, action, payload, local)

    with TempDir("stop4") as d:
        s, tx = charging(d, StopMeter(), FullJournal())
        real = start_stop.log.error

        def starved(tag, msg, *args):
            start_stop.log.error = real  # this line only
            raise MemoryError("memory allocation failed, allocating 32 bytes")

        start_stop.log.error = starved
        try:
            s._safely(s.stop, 1, "Local", "ALICE")
            s._safely(s._step, 1, True)  # the loop's pass after its meter read
        finally:
            start_stop.log.error = real
        eq((tx.running_on(1), s._stopping[1] is not None, s._retry_at is not None), (1, True, True), "held, its retry due")


def test_a_stop_whose_offer_finds_no_heap_is_still_stored():
    # On a board the offer is a float (Esp32Evse.set_offered): with no heap
    # for it, taking the offer away raises. The relay opens all the same
    # (_open), and the stop must not be lost with it: held before the offer
    # is touched, its StopTransaction is stored (a RemoteStopTransaction
    # answered Accepted, a card tapped to stop, must stop the billing).
    from check import TempDir

    with TempDir("stop5") as d:
        outbox = Starts()
        s, tx = charging(d, StopMeter(), outbox)
        evse = s.evse
        evse.set_relay(1, True)

        def starved(n, amps):
            evse.set_offered = lambda n, a: None  # this once (the fake's own does nothing)
            raise MemoryError("memory allocation failed, allocating 16 bytes")

        evse.set_offered = starved
        s._safely(s.stop, 1, "Remote")
        s._safely(s._step, 1, True)  # the loop's pass after its meter read
        eq((outbox.kept[1:], tx.running_on(1), evse.relay), ([("StopTransaction", 1)], None, False), "stored, over, the relay open")


def test_a_reset_stops_every_connector_even_when_one_stop_fails():
    # Reset stops every transaction; one stop that raises (no heap for its
    # record) must not leave the next connector's transaction running.
    from check import TempDir

    from uocpp.model.transactions import Transactions as Tx

    class Two(LockingEvse):
        count = 2

    class EndFails(StopMeter):
        def end(self, n):
            if n == 1:
                raise MemoryError("memory allocation failed, allocating 16 bytes")

    with TempDir("stop6") as d:
        outbox = Starts()
        tx = Tx(d + "/tx.json")
        s = Sessions(Two(), EndFails(), Connectors(), tx, outbox, None, Keys(StopTxnSampledData=ENERGY, StopTransactionOnEVSideDisconnect=False), 32, 10)
        eq((s.start(1, "ALICE"), s.start(2, "BOB")), (1, 2), "two transactions")
        s.stop_all("HardReset")
        s._safely(s._step, 2, True)  # the loop's pass after its meter read
        eq((tx.running_on(2), ("StopTransaction", 2) in outbox.kept), (None, True), "the second connector's stopped and stored")


class Cache:
    # Authorization as _rest() sees it: nothing being decided.
    class obj:
        busy = False

    def learn(self, id_tag, info):
        pass

    def drop(self):
        pass


def test_an_invalid_start_whose_log_line_finds_no_heap_still_opens_the_relay():
    # StartTransaction.conf says the idTag is Invalid (StopTransactionOnInvalidId
    # false): the transaction is suspended, its relay opened. A MemoryError
    # for the log line's arguments must not leave it charging: suspended
    # first, and the session loop's guard opens a suspended connector.
    from check import TempDir

    from uocpp.services import start_stop

    with TempDir("invalid") as d:
        s, tx = charging(d, StopMeter(), Starts())
        s._keys.values["StopTransactionOnInvalidId"] = False
        s._auth = Cache()
        s._relay(1, True)
        real = start_stop.log.info

        def starved(tag, msg, *args):
            if "suspended" in msg:
                start_stop.log.info = real
                raise MemoryError("memory allocation failed, allocating 32 bytes")
            real(tag, msg, *args)

        start_stop.log.info = starved
        try:
            try:
                s._start_answered({"idTag": "ALICE", "connectorId": 1}, {"transactionId": 7, "idTagInfo": {"status": "Invalid"}}, 1)
            except MemoryError:
                pass  # the outbox's hook wrapper takes it
        finally:
            start_stop.log.info = real
        s._guard(1)  # as the session loop's next look does
        eq((s._suspended[1], s.evse.relay), (True, False), "suspended, the relay open")


def test_a_held_stop_is_stamped_with_the_time_of_its_stop():
    # The journal cannot take the StopTransaction (a full flash) for an
    # hour; then it can. The StopTransaction's timestamp is the time of the
    # stop (1.6 section 6.49: "the date and time on which the transaction is
    # stopped"), as its meterStop is the reading then: stamped when it
    # reached flash, the bill ran an hour too long.
    from check import TempDir

    from uocpp import clock
    from uocpp.services import held_stops

    class LateJournal(Starts):
        full = True

        def store(self, action, payload, local):
            if action == "StopTransaction":
                if self.full:
                    raise OSError(28)  # ENOSPC
                self.stamp = payload["timestamp"]
            Starts.store(self, action, payload, local)

    with TempDir("stop6") as d:
        outbox = LateJournal()
        clock.set_unix(1796083200)  # 2026-12-01T00:00:00Z
        s, tx = charging(d, StopMeter(), outbox)
        s._safely(s.stop, 1, "Local", "ALICE")
        s._safely(s._step, 1, True)  # the loop's pass after its meter read
        eq(tx.running_on(1), 1, "held")
        stopped = clock.now_iso()
        clock.set_unix(clock.now() + 3600)  # an hour on
        outbox.full = False
        held_stops.retry(s)  # as the session loop does once a held stop's retry is due
        eq((tx.running_on(1), outbox.stamp), (None, stopped), "stored, stamped with the stop's time")
