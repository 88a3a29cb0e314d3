# The session task's connector state machine against the EVSE's readings
# (services/sessions.py), with the stand-ins of unit_no_heap.py: one
# connector, a transaction running on it.
import asyncio
import time
from check import eq

from fakes import Keys
from unit_metering import KeptClock
from unit_no_heap import Evse, StopMeter, sessions, within


class HangingMeter(StopMeter):
    # The meter of unit_no_heap's charging(), whose read hangs (a silent
    # Modbus meter) while `release` is clear; `reading` says one began.
    def __init__(self):
        StopMeter.__init__(self)
        self.release = asyncio.Event()
        self.release.set()
        self.reading = asyncio.Event()

    async def poll(self):
        self.reading.set()
        await self.release.wait()


class Board(Evse):
    # The EVSE with a fault input; every relay closing is logged with the
    # pilot and the fault the hardware had then.
    def __init__(self):
        Evse.__init__(self)
        self.code = "NoError"
        self.closings = []

    def fault(self, n):
        return self.code

    def set_relay(self, n, closed):
        if closed:
            self.closings.append((self.state, self.code))
        Evse.set_relay(self, n, closed)


async def paused_during_a_slow_read(change):
    # A transaction charging, then paused by smart charging (below 6 A);
    # the meter hangs in the next pass, and meanwhile the EVSE changes
    # (change(evse)); then the limit rises again, from smart charging's
    # task, before the session loop has done its step.
    evse = Board()
    s = sessions(evse)
    meter = s._metering = HangingMeter()
    task = asyncio.create_task(s.run())
    await within(evse.moved, "the relay closes for the running transaction")
    s._idle.clear()
    s.set_limit(1, 0)
    eq(evse.relay, False, "open below 6 A")
    await within(s._idle, "the loop idle after its pass")
    meter.release.clear()
    meter.reading.clear()
    evse.changed.set()
    await within(meter.reading, "a pass reads the meter")
    change(evse)
    evse.changed.set()
    await asyncio.sleep_ms(20)  # the guard looks meanwhile
    s.set_limit(1, 32)
    closings = evse.closings[1:]
    meter.release.set()
    await asyncio.sleep_ms(20)
    task.cancel()
    return evse, closings


async def test_a_limit_that_rises_never_closes_the_relay_on_what_the_step_has_not_seen():
    # A fault (here a ground fault), or an EV that stopped asking, while the
    # meter read hangs: the loop's guard has seen it, its step not yet. A
    # limit rising then must not close the relay. (Before: _drive went by
    # the fault and pilot of the last step: it closed, until the guard
    # opened it again.)
    def fault(evse):
        evse.code = "GroundFailure"

    def stops_asking(evse):
        evse.state = "B"

    for change in (fault, stops_asking):
        evse, closings = await paused_during_a_slow_read(change)
        eq((closings, evse.relay), ([], False), "no relay closing, open")


# -- availability (model/connectors.py, ChangeAvailability) ------------------------


class State:
    def set(self, key, value):
        pass


def test_change_availability_to_the_state_in_force_during_a_transaction_is_accepted():
    # C16 5.2: a change to the availability a connector is already in is
    # Accepted, also while a transaction runs on it (only a change is
    # Scheduled). (Before: Operative to a charging connector was Scheduled.)
    from check import TempDir
    from uocpp.model import connectors as cn
    from uocpp.ops.change_availability import change

    with TempDir("avail") as d:
        c = cn.Connectors(2, d + "/connectors.json", State())
        c.set(1, busy=True, session=cn.CHARGING)
        eq(change(c, 1, True), cn.ACCEPTED, "Operative to the charging connector 1")
        eq(change(c, 0, True), cn.ACCEPTED, "Operative to the charge point")
        eq(change(c, 1, False), cn.SCHEDULED, "Inoperative to the charging connector 1")
        # Operative again before the transaction ends: it is Operative now, so
        # Accepted, and the Inoperative waiting for the end is called off.
        eq(change(c, 1, True), cn.ACCEPTED, "Operative again while charging")
        c.set(1, busy=False, session=cn.FINISHING)
        eq(c.status(1), cn.FINISHING, "operative after the transaction")


def test_an_inoperative_scheduled_during_a_transaction_outlives_a_power_cut():
    # Inoperative is Scheduled during a transaction; the power goes before
    # it ends. The next boot stops that transaction (PowerLoss), so the
    # change is due: the connector boots Unavailable ("Unavailable shall
    # persist a reboot", C16 5.2). (Before: only what was in force was on
    # flash, and the scheduled change was lost: Available after the boot.)
    from check import TempDir
    from uocpp.model import connectors as cn
    from uocpp.ops.change_availability import change

    with TempDir("avail") as d:
        path = d + "/connectors.json"
        c = cn.Connectors(2, path, State())
        c.set(1, busy=True, session=cn.CHARGING)
        eq(change(c, 1, False), cn.SCHEDULED, "Inoperative while charging")
        eq(c.status(1), cn.CHARGING, "still charging")
        after = cn.Connectors(2, path, State())  # the next boot
        eq((after.status(1), after.status(2)), (cn.UNAVAILABLE, cn.AVAILABLE), "after the power cut")


def test_a_change_of_availability_that_does_not_reach_flash_is_rejected():
    # C16 4.9: "When a Charge Point or a Connector is set to status
    # Unavailable by a Change Availability command, the Unavailable status
    # MUST be persistent across reboots"; 7.3 AvailabilityStatus: Rejected,
    # "will not be executed". A connectors.json that cannot be written (a
    # full flash) cannot keep the change across a reboot: Rejected, and
    # nothing changed, so that the central system is told the truth (as
    # ClearCache answers in the same case). (Before: Accepted and Unavailable
    # in RAM, Available again after the next reboot.)
    import asyncio
    import json

    from check import TempDir
    from uocpp.model import connectors as cn
    from uocpp.ops import change_availability
    from uocpp.store import json_file

    class Reservations:
        changed = asyncio.Event()

    class Full:
        def dump(obj, f, separators=None):
            raise OSError(28)  # ENOSPC

    with TempDir("avail") as d:
        path = d + "/connectors.json"
        c = cn.Connectors(2, path, State())
        json_file.json = Full
        try:
            answer = change_availability.handle({"connectorId": 1, "type": "Inoperative"}, c, Reservations())
        finally:
            json_file.json = json
        after = cn.Connectors(2, path, State())  # the next boot
        eq((answer, c.status(1), after.status(1)), ({"status": "Rejected"}, cn.AVAILABLE, cn.AVAILABLE), "not done")
        eq(change_availability.handle({"connectorId": 1, "type": "Inoperative"}, c, Reservations()), {"status": "Accepted"}, "once flash takes it")
        eq(cn.Connectors(2, path, State()).status(1), cn.UNAVAILABLE, "on flash")


# -- the meter at a start (services/start_stop.py) ---------------------------------


class SilentMeter:
    # A bus meter that has not answered since the boot (unplugged, a wrong
    # address), then answers with its register.
    def __init__(self):
        self.wh = None

    def measurands(self):
        return ("Energy.Active.Import.Register",)

    async def read(self, n):
        if self.wh is None:
            raise OSError("no answer to read 0x0046+4 within 300 ms")
        return {"Energy.Active.Import.Register": float(self.wh)}


async def test_a_meter_never_read_since_the_boot_starts_no_transaction():
    # A card while the connector's meter has given no reading at all: its
    # register is not 0 Wh. Started with meterStart 0, the first reading
    # (the meter's whole history, 1.2 MWh) would be billed to this driver.
    from check import TempDir
    from fakes import Keys

    from unit_no_heap import Connectors, LockingEvse, Starts

    from uocpp.model.transactions import Transactions as Tx
    from uocpp.services.metering import Metering
    from uocpp.services.sessions import Sessions

    with TempDir("unread") as d:
        meter, outbox = SilentMeter(), Starts()
        tx = Tx(d + "/tx.json")
        metering = Metering(meter, 1, Keys(StopTxnSampledData=""), outbox, tx)
        s = Sessions(LockingEvse(), metering, Connectors(), tx, outbox, None, Keys(StopTxnSampledData="", StopTransactionOnEVSideDisconnect=False), 32, 10)
        await metering.poll()
        eq(metering.failed[1], True, "the meter did not answer")
        eq((s.start(1, "ALICE"), outbox.kept, tx.running_on(1)), (None, [], None), "no transaction, nothing stored")
        meter.wh = 1234567
        await metering.poll()
        eq(s.start(1, "ALICE"), 1, "started once the meter answers")
        eq(tx.get(1)["start"], 1234567, "meterStart: the register")


async def meter_failing(with_tx):
    # Sessions, its real Metering (waking the loop) and Connectors, and the
    # loop running; with_tx: a transaction started at 1000 Wh, charging.
    from check import TempDir
    from unit_no_heap import LockingEvse, Starts

    from uocpp.model import connectors as cn
    from uocpp.model.transactions import Transactions as Tx
    from uocpp.services.metering import Metering
    from uocpp.services.sessions import Sessions

    d = TempDir("meterfail").path
    meter, outbox, evse = SilentMeter(), Starts(), LockingEvse()
    meter.wh = 1000
    tx = Tx(d + "/tx.json")
    keys = Keys(
        StopTxnSampledData="",
        ClockAlignedDataInterval=0,
        StopTransactionOnEVSideDisconnect=False,
        UnlockConnectorOnEVSideDisconnect=False,
        ConnectionTimeOut=60,
    )
    metering = Metering(meter, 1, keys, outbox, tx, evse.changed)
    c = cn.Connectors(1, d + "/connectors.json", State())
    s = Sessions(evse, metering, c, tx, outbox, None, keys, 32, 10)
    await metering.poll()
    if not with_tx:
        evse.state = "A"
    task = asyncio.create_task(s.run())
    if with_tx:
        eq(s.start(1, "ALICE"), 1, "started at 1000 Wh")
    await asyncio.sleep_ms(20)
    eq(evse.relay, with_tx, "closed for the transaction")
    return meter, metering, evse, c, s, tx, outbox, task


async def test_a_meter_that_fails_during_a_transaction_suspends_it_until_it_answers():
    # A bus meter gone silent (it raises at once) during a transaction: after
    # 3 failed reads in a row no more energy (the relay opens, SuspendedEVSE,
    # errorCode PowerMeterFailure: a warning, not Faulted); the transaction
    # goes on. Back, it charges again (NoError); a stop while it is failed
    # bills the last good reading. (Before: it charged on, unbilled.)
    from unit_no_heap import relay_moves

    meter, metering, evse, c, s, tx, outbox, task = await meter_failing(True)
    try:
        meter.wh = None
        await metering.poll()
        await metering.poll()
        await asyncio.sleep_ms(20)
        eq((evse.relay, c.items[1].error_code), (True, "NoError"), "two failed reads: still charging")
        await metering.poll()
        await relay_moves(evse, "opens at the third failed read")
        await asyncio.sleep_ms(20)
        eq(
            (c.status(1), c.items[1].error_code, c.items[1].fault, tx.running_on(1)),
            ("SuspendedEVSE", "PowerMeterFailure", None, 1),
            "suspended, warned, running",
        )
        meter.wh = 1200
        await metering.poll()
        await relay_moves(evse, "closes once the meter answers")
        await asyncio.sleep_ms(20)
        eq((c.status(1), c.items[1].error_code), ("Charging", "NoError"), "charging again")
        meter.wh = None
        for _ in range(3):
            await metering.poll()
        await relay_moves(evse, "opens again")
        s.stop(1, "Local", "ALICE")
        await within(outbox.stopped, "the stop stored with a meter that raises")
        eq((tx.running_on(1), outbox.kept[-1]), (None, ("StopTransaction", 1)), "stopped")
    finally:
        task.cancel()


async def test_a_stop_with_a_failed_meter_bills_the_last_good_reading():
    class Kept:
        pass

    meter, metering, evse, c, s, tx, outbox, task = await meter_failing(True)
    store = outbox.store

    def keep(action, payload, local):
        Kept.payload = payload
        store(action, payload, local)

    outbox.store = keep
    try:
        meter.wh = 1300
        await metering.poll()
        meter.wh = None
        for _ in range(4):
            await metering.poll()
        s.stop(1, "Remote")
        await within(outbox.stopped, "the stop stored")
        eq(Kept.payload["meterStop"], 1300, "the last good reading")
    finally:
        task.cancel()


async def test_a_failed_meter_starts_no_transaction_and_is_reported_without_one():
    # No transaction: the status as it is, errorCode PowerMeterFailure,
    # cleared once the meter reads again. A start needs a real meterStart:
    # refused after one failed read already (the last reading is stale).
    meter, metering, evse, c, s, tx, outbox, task = await meter_failing(False)
    try:
        meter.wh = None
        await metering.poll()
        eq(s.start(1, "ALICE"), None, "no start on a stale reading")
        await metering.poll()
        await metering.poll()
        await asyncio.sleep_ms(20)
        eq((c.status(1), c.items[1].error_code, c.operative(1), s.can_start(1)), ("Available", "PowerMeterFailure", False, False), "warned, no start")
        meter.wh = 1500
        await metering.poll()
        await asyncio.sleep_ms(20)
        eq((c.status(1), c.items[1].error_code, tx.running_on(1)), ("Available", "NoError", None), "cleared")
        evse.state = "C"
        eq(s.start(1, "ALICE"), 1, "started once it answers")
        eq(tx.get(1)["start"], 1500, "meterStart: the register")
    finally:
        task.cancel()


async def test_a_card_accepted_during_one_failed_meter_read_starts_once_it_answers():
    # One failed read (a Modbus glitch, no PowerMeterFailure yet) when an
    # authorized card's EV is plugged in: the start is refused (no real
    # meterStart), but the authorization waited no more: it was dropped,
    # the connector left Preparing with nothing pending. It waits now, and
    # starts at the next good read.
    meter, metering, evse, c, s, tx, outbox, task = await meter_failing(False)
    try:
        evse.state = "B"
        meter.wh = None
        await metering.poll()  # one failed read
        eq(s.authorized(1, "ALICE"), True, "authorized")
        await asyncio.sleep_ms(20)
        eq((tx.running_on(1), s._pending[1] is not None), (None, True), "not started, still waiting")
        meter.wh = 1500
        await metering.poll()
        for _ in range(50):
            await asyncio.sleep_ms(10)
            if tx.running_on(1) is not None:
                break
        eq((tx.running_on(1), tx.get(1)["start"]), (1, 1500), "started at the good read")
    finally:
        task.cancel()


async def test_a_reservation_outlives_a_failed_meter():
    # PowerMeterFailure is no fault: a reservation there stands (5.13 ends
    # one on Faulted or Unavailable); its holder starts once the meter
    # answers. (Before: ended as for a fault, at the reservations' next look.)
    from check import TempDir

    from uocpp import clock
    from uocpp.model import connectors as cn
    from uocpp.model.reservations import Reservations

    with TempDir("rsv") as d:
        c = cn.Connectors(1, d + "/connectors.json", State())
        r = Reservations(d + "/reservations.json", c)
        eq(r.reserve(5, 1, "ALICE", None, int(clock.now()) + 3600), True, "reserved")
        c.set(1, error_code=cn.METER_FAILURE)
        task = asyncio.create_task(r.run())
        await asyncio.sleep_ms(20)
        eq((r.on(1) is not None, c.status(1), c.items[1].fault), (True, cn.RESERVED, None), "still reserved, warned")
        c.set(1, error_code="GroundFailure")
        r.changed.set()
        await asyncio.sleep_ms(20)
        eq((r.on(1), c.status(1)), (None, cn.FAULTED), "a fault ends it")
        task.cancel()


def full_for_stops():
    # The outbox stand-in whose flash refuses the next `full` StopTransactions
    # (OSError 28): a stop held, stored by a retry; it keeps every payload.
    from unit_no_heap import Starts

    class FullForStops(Starts):
        def __init__(self):
            Starts.__init__(self)
            self.full = 0
            self.payloads = []

        def store(self, action, payload, local):
            if action == "StopTransaction" and self.full:
                self.full -= 1
                raise OSError(28, "ENOSPC")
            self.payloads.append(payload)
            Starts.store(self, action, payload, local)

    return FullForStops()


def test_a_held_stop_is_stamped_when_it_was_decided_not_when_it_reached_flash():
    # C16 6.49 StopTransaction.req timestamp: "the date and time on which
    # the transaction is stopped". A stop whose StopTransaction cannot be
    # stored at once (a full flash) opens the relay then and is stored by a
    # retry (services/held_stops.py) a minute later here: it is stamped
    # with the stop, or a time-based tariff bills the minute the flash was
    # full. (Before: stamped with the retry's time.)
    from check import TempDir

    from unit_no_heap import StopMeter, charging

    from uocpp import clock

    with KeptClock():
        clock.set_unix(1767269700)  # 2026-01-01T12:15:00Z
        with TempDir("heldtime") as d:
            outbox = full_for_stops()
            s, tx = charging(d, StopMeter(), outbox)
            outbox.full = 1
            eq(s.stop(1, "Local", "ALICE"), False, "decided: stored after the loop's meter read")
            eq(s.evse.relay, False, "the relay open at once")
            s._step(1, True)  # the loop's pass after its meter read: held, not on flash
            eq(tx.running_on(1), 1, "held")
            clock.set_unix(1767269760)  # a minute later
            s._finish_stop(1, 1, False)  # the retry (held_stops.retry)
            eq([p["timestamp"] for p in outbox.payloads if "meterStop" in p], ["2026-01-01T12:15:00Z"], "the stop's time")


def test_a_held_stops_transaction_end_sample_is_stamped_with_the_stop_not_the_retry():
    # C16 6.49 StopTransaction.req: transactionData's Transaction.End
    # sample is the meter at the stop. A stop held (a full flash) and
    # stored by a retry a minute later: the StopTransaction says 12:15:00
    # (the test above), its End sample must not say 12:16:00 (before: the
    # retry's time, a sample after the transaction was over).
    from check import TempDir

    from unit_no_heap import Connectors, LockingEvse, Meter

    from uocpp import clock
    from uocpp.model.transactions import Transactions as Tx
    from uocpp.services.metering import ENERGY, Metering
    from uocpp.services.sessions import Sessions

    with KeptClock():
        clock.set_unix(1767269700)  # 2026-01-01T12:15:00Z
        with TempDir("heldend") as d:
            outbox = full_for_stops()
            tx = Tx(d + "/tx.json")
            keys = Keys(StopTxnSampledData=ENERGY, ClockAlignedDataInterval=0, StopTransactionOnEVSideDisconnect=False)
            metering = Metering(Meter(), 1, keys, outbox, tx)
            metering.readings[1] = {ENERGY: 1500}
            s = Sessions(LockingEvse(), metering, Connectors(), tx, outbox, None, keys, 32, 10)
            eq(s.start(1, "ALICE"), 1, "started")
            outbox.full = 2  # with its transactionData, then without
            s.stop(1, "Local", "ALICE")
            s._step(1, True)  # the loop's pass after its meter read: held, not on flash
            eq(tx.running_on(1), 1, "held")
            clock.set_unix(1767269760)  # a minute later
            s._finish_stop(1, 1, False)  # the retry (held_stops.retry)
            stop = [p for p in outbox.payloads if "meterStop" in p][0]
            ends = [mv["timestamp"] for mv in stop["transactionData"] if mv["sampledValue"][0].get("context") == "Transaction.End"]
            eq(ends, ["2026-01-01T12:15:00Z"], "the End sample: the stop's time")


def test_a_transaction_hook_that_raises_neither_leaves_the_cable_locked_nor_the_start_undriven():
    # The hooks at a transaction's start and stop (smart charging's: a
    # TxProfile in or out, the limits applied again) are not the session's
    # own: one that raises (a stored profile the arithmetic chokes on, no
    # heap) must not skip what follows them. (Before: a stop on flash left
    # the cable locked; a start was left undriven, its relay open.)
    from check import TempDir

    from unit_no_heap import Starts, StopMeter, charging

    with TempDir("hooks") as d:
        s, tx = charging(d, StopMeter(), Starts())
        locks = []
        s.evse.lock = lambda n, locked: locks.append(locked) or True

        def broken(n, tag):
            raise ValueError("a hook that fails")

        s.on_transaction(broken)
        s.stop(1, "Local", "ALICE")
        s._step(1, True)  # the loop's pass after its meter read
        eq(tx.running_on(1), None, "the stop is on flash")
        eq(locks, [False], "and the cable is unlocked")
        s.evse.state = "C"
        eq(s.start(1, "BOB"), 2, "a start with the broken hook")
        eq(s.evse.relay, True, "is driven: the relay closes for the EV asking")


# -- the status notifier (services/status.py) --------------------------------------


async def test_a_status_notification_whose_payload_found_no_heap_is_posted_again_and_ends_no_task():
    # The outbox makes the payload as the message goes out (build()); a
    # build that finds no heap fails the message with NoHeap before it ever
    # said which connection it went out on (outbox.py _send). The notifier
    # posts it again at its next look. (Before: its look read the message's
    # connection first: AttributeError, the status task failed, and five
    # failures in ten minutes reboot the charger.)
    from uocpp import errors

    from unit_no_heap import both_notified, within

    outbox, link, task, first = await both_notified()
    first._finish(None, errors.NoHeap("out of memory"))  # its build() found no heap
    await within(outbox.taken, "connector 1's StatusNotification again")
    eq((outbox.msgs[-1].key, task.done()), ("st:1", False), "posted again, the task alive")
    task.cancel()


class Later:
    # The time module as status.py reads it, moved on by `ahead` ms;
    # `looked` is set at each reading of the time.
    def __init__(self):
        self.ahead = 0
        self.looked = asyncio.Event()

    def ticks_ms(self):
        self.looked.set()
        return time.ticks_add(time.ticks_ms(), self.ahead)

    def ticks_add(self, t, ms):
        return time.ticks_add(t, ms)

    def ticks_diff(self, a, b):
        return time.ticks_diff(a, b)


async def test_a_status_notification_refused_or_unanswered_goes_again_on_the_same_connection():
    # C16 4.9: the Charge Point SHALL inform the Central System about a
    # status change. A StatusNotification answered with a CALLERROR (a
    # central system busy: InternalError), or with no reply while the link
    # stays up (its probe answered), was sent again only on a new
    # connection: on a link that stays up for days the central system kept
    # the old status (a Faulted connector shown Available) until the next
    # change. Now again a minute after it went out, on the same connection;
    # not at once, so that a central system that keeps refusing it is not
    # flooded (one a minute per connector).
    from uocpp import errors
    from uocpp.services import status as sn

    from unit_no_heap import both_notified, within

    for failure in (errors.CallErrorReceived("InternalError", "try later"), errors.CallTimeout("no reply")):
        later = sn.time = Later()
        try:
            outbox, link, task, first = await both_notified()
            first.build()  # as the outbox does before the CALL
            first._finish(None, failure)
            later.ahead = 60000
            await within(outbox.taken, "connector 1's StatusNotification again")
            eq((outbox.msgs[-1].key, link.connections), ("st:1", 1), "%r: again on connection 1" % failure)
            again = outbox.msgs[-1]
            again.build()
            again._finish(None, failure)
            later.looked.clear()
            await within(later.looked, "the notifier looks again")
            later.looked.clear()
            await within(later.looked, "and again")
            eq(len(outbox.msgs), 3, "%r: not at once" % failure)
            task.cancel()
        finally:
            sn.time = time


async def test_a_fault_that_clears_before_its_status_notification_goes_out_is_still_reported():
    # C16 4.9: the Charge Point SHALL send a StatusNotification "to inform
    # the Central System about a status change or an error within the
    # Charge Point". The message of a connector is queued once and reads the
    # status when it goes out (only the latest is sent: the queue stays
    # bounded); a fault that opened the relay and stopped a transaction
    # (reason Other, 1.6 has none for a fault), then cleared while its
    # message waited behind the StopTransaction (a slow link) or offline,
    # was never reported: the central system heard Finishing or Available
    # only. Now the last fault not yet told goes first (one per connector,
    # still bounded), then the status of now.
    from check import TempDir
    from uocpp.model import connectors as cn
    from uocpp.services.status import StatusNotifier

    from unit_no_heap import LinkUp, Registered, Starving, within

    def answer(m):
        payload = m.build()  # as the outbox does when it goes out
        m.answered({})
        m._finish({}, None)
        return (payload["status"], payload["errorCode"])

    with TempDir("faultgone") as d:
        c = cn.Connectors(1, d + "/connectors.json", State())
        outbox = Starving(0)
        task = asyncio.create_task(StatusNotifier(outbox, c, Registered(), LinkUp()).run())
        while len(outbox.msgs) < 2:
            outbox.taken.clear()
            await within(outbox.taken, "the StatusNotifications after Accepted")
        eq([answer(m) for m in outbox.msgs], [(cn.AVAILABLE, cn.NO_ERROR)] * 2, "told: Available")
        outbox.taken.clear()
        c.set(1, error_code="GroundFailure")
        await within(outbox.taken, "connector 1's StatusNotification")
        c.set(1, error_code=cn.NO_ERROR)  # cleared while the message waits
        waiting = outbox.msgs[-1]
        outbox.taken.clear()
        eq(answer(waiting), (cn.FAULTED, "GroundFailure"), "the fault goes out")
        await within(outbox.taken, "connector 1's StatusNotification again")
        eq(answer(outbox.msgs[-1]), (cn.AVAILABLE, cn.NO_ERROR), "then the status of now")
        task.cancel()


async def test_an_ev_asking_for_ventilation_gets_no_energy():
    # Pilot state D: the EV asks for charge with ventilation (IEC 61851-1,
    # SAE J1772), which only an EVSE with ventilation may give; this
    # charger has none. The relay opens (also one closed in C before) and
    # the transaction is the EVSE's pause, SuspendedEVSE. (Before: D
    # closed the relay as C does.)
    from unit_no_heap import charging_idle, relay_moves

    evse, s, task = await charging_idle()
    eq(evse.relay, True, "closed in C")
    evse.state = "D"
    evse.changed.set()
    await relay_moves(evse, "opens in D")
    await asyncio.sleep_ms(20)  # the step after the guard sets the status
    eq((evse.relay, s._connectors.statuses[-1]), (False, "SuspendedEVSE"), "open, the EVSE's pause")
    task.cancel()


async def test_a_stop_never_waits_long_for_a_meter_that_does_not_answer():
    # A stop is stored once a meter read begun with its relay open is over
    # (services/start_stop.py stop(): the register as the relay left it).
    # A meter that never answers (a bus gone silent mid-read) must not hold
    # the StopTransaction: after a bounded wait it bills the last reading,
    # and the relay is open all along.
    import asyncio

    from check import TempDir

    from unit_no_heap import Starts, StopMeter, charging

    class Silent(StopMeter):
        async def poll(self):
            await asyncio.Event().wait()  # never answers

    class Kept(Starts):
        def store(self, action, payload, local):
            if action == "StopTransaction":
                self.payload = payload
            Starts.store(self, action, payload, local)

    with TempDir("silent") as d:
        outbox = Kept()
        s, tx = charging(d, Silent(), outbox)
        task = asyncio.create_task(s.run())
        try:
            await asyncio.sleep_ms(20)  # the loop in its first read, which never ends
            s.stop(1, "Remote")  # as RemoteStopTransaction does, beside the loop
            eq(s.evse.relay, False, "the relay open at once")
            try:
                await asyncio.wait_for_ms(outbox.stopped.wait(), 8000)
            except asyncio.TimeoutError:
                raise AssertionError("the StopTransaction waited for a meter that does not answer")
        finally:
            task.cancel()
        eq((tx.running_on(1), outbox.payload["meterStop"], outbox.payload["reason"]), (None, 1500, "Remote"), "stored with the last reading")


def test_meter_values_of_a_transaction_are_never_stamped_before_its_start():
    # A Heartbeat.conf sets the clock an hour back while a transaction runs
    # (the board's RTC ran fast). Its StopTransaction is stamped with its
    # start at the earliest (start_stop.py); its meter values must be too,
    # the periodic ones and those of its transactionData (C16 6.49: the
    # transaction's values lie between its start and its stop; a central
    # system bills and orders them by time).
    from check import TempDir
    from fakes import Keys

    from unit_no_heap import Connectors, LockingEvse, Meter

    from uocpp import clock
    from uocpp.model.transactions import Transactions as Tx
    from uocpp.services.metering import ENERGY, Metering
    from uocpp.services.sessions import Sessions

    class Kept:
        def __init__(self):
            self.payloads = []

        def on_durable(self, action, **hooks):
            pass

        def store(self, action, payload, local):
            self.payloads.append((action, payload))

        def stored_count(self, action):
            return 0

    with KeptClock():
        clock.set_unix(1796126400)  # 2026-12-01T12:00:00Z
        with TempDir("setback") as d:
            outbox, tx = Kept(), Tx(d + "/tx.json")
            keys = Keys(StopTxnSampledData=ENERGY, StopTxnAlignedData="", ClockAlignedDataInterval=0, StopTransactionOnEVSideDisconnect=False)
            metering = Metering(Meter(), 1, keys, outbox, tx)
            metering.readings[1] = {ENERGY: 1500}
            s = Sessions(LockingEvse(), metering, Connectors(), tx, outbox, None, keys, 32, 10)
            eq(s.start(1, "ALICE"), 1, "started")
            clock.set_unix(1796126400 - 3600 + 60)  # a minute on, the clock set an hour back
            metering.send(1, ENERGY, "Sample.Periodic")
            s.stop(1, "Local", "ALICE")
            s._step(1, True)  # the loop's pass after its meter read stores the stop
            start = outbox.payloads[0][1]["timestamp"]
            stamps = [p["meterValue"][0]["timestamp"] for a, p in outbox.payloads if a == "MeterValues"]
            stamps += [mv["timestamp"] for a, p in outbox.payloads if a == "StopTransaction" for mv in p["transactionData"]]
            eq(len(stamps), 3, "a periodic value, the begin and end values")
            eq([t for t in stamps if t < start], [], "no value before the start %s" % start)


def test_a_start_stamped_before_the_clock_was_set_is_put_right_after_a_week_offline():
    # A board whose RTC lost its time (2000-01-01) starts a transaction
    # offline (LocalAuthorizeOffline); the central system is reached, and
    # the clock set, a week later. The StartTransaction's time is put right
    # then, to the moment the transaction began (C16 6.45 timestamp).
    # A board's ticks_ms reads a week as negative (30 bits): the time put
    # right must not be days in the future (then its stop, put right the
    # same way, came out before its start). The app looks at the clock's
    # listeners every hour (app.py run), as this test does.
    from check import TempDir

    from unit_no_heap import StopMeter, Starts, charging
    from unit_watchdog import Ticks30

    from uocpp import clock
    from uocpp.services import start_stop

    unset = 946684800  # 2000-01-01T00:00:00Z
    with KeptClock():
        with TempDir("unset") as d, Ticks30(start_stop) as ticks:
            clock.follow_rtc(unset)
            clock.synced = False
            outbox = Starts()
            s, tx = charging(d, StopMeter(), outbox)
            for hour in range(1, 7 * 24 + 1):  # a week of hourly looks, the clock still unset
                ticks.now = hour * 3600000
                clock.follow_rtc(unset + hour * 3600)
            clock.set_unix(1796126400)  # 2026-12-01T12:00:00Z: BootNotification.conf
            payload = s._start_prepare({"timestamp": tx.get(1)["t"]}, 1)
            eq(payload["timestamp"], clock.format_iso(1796126400 - 7 * 86400), "the moment it began")


async def test_a_start_answered_before_a_kill_that_kept_it_in_the_journal_is_not_sent_again():
    # StartTransaction.conf is taken in (its transactionId on flash, in
    # tx.json); the power goes before the message leaves the journal. The
    # next boot must not send that StartTransaction again: a central system
    # that does not de-duplicate by message id opens a second transaction
    # that never gets a StopTransaction. It is taken as answered, not as
    # given up (that would stop the transaction "Other"): the boot's
    # PowerLoss stop goes alone, with the transactionId on flash.
    from check import TempDir

    from unit_no_heap import Connectors, LockingEvse, StopMeter
    from unit_outbox import make

    from uocpp.model.transactions import Transactions as Tx
    from uocpp.services import power_loss
    from uocpp.services.sessions import Sessions

    keys = Keys(StopTxnSampledData="", StopTransactionOnEVSideDisconnect=False, TransactionMessageAttempts=3, TransactionMessageRetryInterval=1)

    class Auth:  # the authorizer the answers' idTagInfo goes to
        busy = False

        def learn(self, id_tag, info):
            pass

        def drop(self):
            pass

    auth = Auth()
    auth.obj = auth
    with TempDir("answered") as d:
        import fakes

        journal = fakes.Journal()
        box, link, reg = make(journal=journal)
        tx = Tx(d + "/tx.json")
        s = Sessions(LockingEvse(), StopMeter(), Connectors(), tx, box, auth, keys, 32, 10)
        eq(s.start(1, "ALICE"), 1, "started")
        tx.started(1, 42)  # StartTransaction.conf on flash; killed before the journal's removal
        # The next boot, on the same flash.
        box, link, reg = make(journal=journal)
        tx = Tx(d + "/tx.json")
        s = Sessions(LockingEvse(), StopMeter(), Connectors(), tx, box, auth, keys, 32, 10)
        power_loss.recover(s, box.stored())
        task = asyncio.create_task(box.run())
        t0 = time.ticks_ms()
        while len(journal) and time.ticks_diff(time.ticks_ms(), t0) < 2000:
            await asyncio.sleep_ms(10)
        task.cancel()
        eq([(a, p.get("transactionId"), p.get("reason")) for _u, a, p in link.sent], [("StopTransaction", 42, "PowerLoss")], "the stop alone")
        eq(len(journal), 0, "nothing left")


async def blipped_during_a_meter_read(change, back, keys=None):
    # A transaction charging; the meter read of a pass hangs (a Modbus
    # read takes up to seconds) and meanwhile the EVSE changes (change(evse))
    # and changes back (back(evse)) before the read ends. -> (the relay
    # closings since the change, the relay, the StopTransaction's reason,
    # the transaction running then, the errorCodes the connector was set to).
    from check import TempDir

    from unit_no_heap import Connectors, Starts, charging

    class Codes(Connectors):
        def __init__(self):
            Connectors.__init__(self)
            self.codes = []

        def set(self, n, session=None, error_code=None, busy=None, reserved=None):
            if error_code is not None:
                self.codes.append(error_code)
            Connectors.set(self, n, session, error_code, busy, reserved)

    class Kept(Starts):
        payload = {}

        def store(self, action, payload, local):
            if action == "StopTransaction":
                self.payload = payload
            Starts.store(self, action, payload, local)

    with TempDir("blip") as d:
        outbox, meter = Kept(), HangingMeter()
        s, tx = charging(d, meter, outbox)
        if keys is not None:
            s._keys = keys
        evse = s.evse = Board()
        c = s._connectors = Codes()
        task = asyncio.create_task(s.run())
        try:
            await within(evse.moved, "the relay closes for the running transaction")
            s._idle.clear()
            evse.changed.set()
            await within(s._idle, "the loop idle after its pass")
            meter.release.clear()
            meter.reading.clear()
            evse.changed.set()
            await within(meter.reading, "a pass reads the meter")
            evse.moved.clear()
            change(evse)
            evse.changed.set()
            await within(evse.moved, "the guard opens the relay")
            back(evse)  # gone again before the read ends
            evse.changed.set()
            closed = len(evse.closings)
            meter.release.set()
            try:
                await asyncio.wait_for_ms(outbox.stopped.wait(), 3000)
            except asyncio.TimeoutError:
                pass
            s._idle.clear()
            evse.changed.set()
            await within(s._idle, "the loop idle after its pass")
        finally:
            task.cancel()
        return evse.closings[closed:], evse.relay, outbox.payload.get("reason"), tx.running_on(1), c.codes


async def test_a_fault_that_comes_and_goes_during_a_meter_read_still_stops_the_transaction():
    # A fault (a ground fault, a short trip of the RCD input) while the
    # pass's meter read runs, cleared before the read ends: the loop's guard
    # saw it and opened the relay, but the step after the read compared only
    # the fault of now with the last one it saw: the fault was never
    # reported (C16 4.9: a StatusNotification for an error), the
    # transaction not stopped (a fault seen by the step stops it, reason
    # Other), and the relay closed again onto the EV as if nothing had
    # happened.
    def fault(evse):
        evse.code = "GroundFailure"

    def cleared(evse):
        evse.code = "NoError"

    closings, relay, reason, running, codes = await blipped_during_a_meter_read(fault, cleared)
    eq((closings, relay), ([], False), "the relay never closed again")
    eq((reason, running), ("Other", None), "stopped, reason Other")
    eq("GroundFailure" in codes, True, "the fault reported")


async def test_an_ev_unplugged_and_plugged_in_again_during_a_meter_read_stops_the_transaction():
    # StopTransactionOnEVSideDisconnect true (C16 9.1, the configuration
    # key: the transaction stops when the cable is unplugged from the EV;
    # reason EVDisconnected, 7.46): an unplug while
    # the pass's meter read runs, the cable plugged in again (the same or
    # another EV) before the read ends. The guard opened the relay; the
    # step after the read saw the EV plugged in and asking, and closed the
    # relay again on the transaction that should have ended (whoever
    # plugged in charged on its idTag's bill).
    def unplugged(evse):
        evse.state = "A"

    def plugged(evse):
        evse.state = "C"

    keys = Keys(StopTxnSampledData="", StopTransactionOnEVSideDisconnect=True, UnlockConnectorOnEVSideDisconnect=True)
    closings, relay, reason, running, codes = await blipped_during_a_meter_read(unplugged, plugged, keys)
    eq((closings, relay), ([], False), "the relay never closed again")
    eq((reason, running), ("EVDisconnected", None), "stopped, reason EVDisconnected")


async def test_an_ev_that_leaves_finishing_and_another_that_comes_during_a_meter_read_is_not_the_last_drivers():
    # C16 4.9: Finishing lasts until the cable is out (F1: Available), a
    # new EV then Preparing (A2). The last driver's EV unplugged and another
    # plugged in while the pass's meter read runs: the step after the read
    # saw an EV plugged in, and kept Finishing (the last driver's EV, for
    # which a remote start without connectorId never picks the connector).
    from check import TempDir

    from unit_no_heap import Starts, charging

    from uocpp.model import connectors as cn

    class Looked(Board):
        # `unplugged` is set once the firmware has read the pilot as A.
        def __init__(self):
            Board.__init__(self)
            self.unplugged = asyncio.Event()

        def pilot(self, n):
            if self.state == "A":
                self.unplugged.set()
            return self.state

    with TempDir("finishing") as d:
        outbox, meter = Starts(), HangingMeter()
        s, tx = charging(d, meter, outbox)
        c = s._connectors = cn.Connectors(1, d + "/connectors.json", State())
        c.set(1, busy=True)
        evse = s.evse = Looked()
        evse.state = "B"
        task = asyncio.create_task(s.run())
        try:
            s.stop(1, "Local", "ALICE")
            await within(outbox.stopped, "the transaction stopped")
            s._idle.clear()
            evse.changed.set()
            await within(s._idle, "the loop idle after its pass")
            eq(c.status(1), cn.FINISHING, "Finishing, the EV still plugged in")
            meter.release.clear()
            meter.reading.clear()
            evse.changed.set()
            await within(meter.reading, "a pass reads the meter")
            evse.state = "A"
            evse.changed.set()
            await within(evse.unplugged, "the read's loop looks at the EVSE")
            evse.state = "B"  # another EV
            evse.changed.set()
            meter.release.set()
            s._idle.clear()
            await within(s._idle, "the loop idle after its pass")
        finally:
            task.cancel()
        eq(c.status(1), cn.PREPARING, "the new EV: Preparing")
