# Charging sessions (C16 3.1, 4.9, 5.x): the connector state machine driven
# by the EVSE seam (pilot, faults, cards) and the central system; starting
# and stopping transactions, each message on flash before it is sent.
#   plug, then card  |  card, then plug within ConnectionTimeOut
#   stop: same card (or one with the same parentIdTag), RemoteStopTransaction,
#   EV unplugged (StopTransactionOnEVSideDisconnect), Reset, Unavailable, a
#   fault, UnlockConnector, power loss (at the next boot)
# Safety: the session loop (run) owns the relays and never awaits the
# network. It opens a relay from the EVSE's readings alone before it reads
# the meter; a card that needs the central system is authorized by a task
# beside it (_authorize, with a deadline) whose decision the loop takes back
# and checks against the connector as it is then. A stop opens the relay
# first and keeps it open until its StopTransaction is on flash (retried);
# an exception while a connector is handled opens that relay and ends
# nothing.
# A meter that failed 3 reads in a row (metering.py) suspends its
# connector (relay open, SuspendedEVSE, errorCode PowerMeterFailure) until
# it answers again; the transaction goes on.
# Split by purpose: here the session task and its safety pass; starting,
# stopping and the answers in services/start_stop.py (a mixin); what runs
# rarely loads only then: services/power_loss.py (what the last run left on
# flash, at boot), services/held_stops.py (a stop not on flash yet),
# services/cards.py (the first card).
import asyncio
import time

from micropython import const

from uocpp import clock, log, sleep
from uocpp.lazy import unload
from uocpp.model import connectors as cn
from uocpp.services.start_stop import RETRY_MS, StartStop

_SETTLE_CARD_MS = const(300)  # settled() waits this long at most for a card's decision
_SHORT_MS = const(50)  # the pause after a pass that found no heap
_STOP_READ_MS = const(2000)  # a stop waits so long at most for the meter read after its relay opened
_FAILS = const(3)  # failed meter reads in a row that stop the energy (metering.py's _FAILS)


class Sessions(StartStop):
    def __init__(self, evse, metering, connectors, transactions, outbox, authorizer, keys, max_amps, max_transactions, reservations=None):
        # max_amps: what the pilot offers when nothing limits it;
        # max_transactions: how many may wait on flash for their
        # StopTransaction to be answered (a long offline spell) before no
        # new one may start.
        self.evse = evse
        self._metering = metering
        self._connectors = connectors
        self._tx = transactions
        self._outbox = outbox
        self._auth = authorizer
        self._keys = keys
        self._rsv = reservations  # model/reservations.py: who may start at a reserved connector
        n = evse.count + 1
        self._fault = ["NoError"] * n
        self._pending = [None] * n  # (idTag, deadline ms) authorized before the plug
        self._finishing = [False] * n
        self._suspended = [False] * n  # held by the EVSE (an idTag found invalid later)
        self._lock_failed = [False] * n  # Faulted (ConnectorLockFailure) until the cable is out
        self._warned = [False] * n  # PowerMeterFailure told the connectors (under a fault or a lock failure)
        self._locked = [None] * n  # the idTag a DeAuthorized stop keeps the cable locked for (3.5.4)
        self._closed = [False] * n  # the relay as last set
        self._stopping = [None] * n  # (reason, idTag, Wh, time) of a stop not on flash yet: relay held open
        self._retry_at = None  # ticks when the stops not on flash are tried again
        self._asking = 0  # cards being authorized beside the loop (services/cards.py _authorize)
        self._decided = []  # (n, idTag, local id or None, idTagInfo) handed back by those
        self._begin = {}  # local id -> the Transaction.Begin meter value
        # local id -> the time of its start / its stop, stamped before the
        # clock was set (a board's RTC reads 2000-01-01 until the first
        # BootNotification.conf), moved with every setting of the clock
        # (_clock_set): the time is put right when it is sent.
        self._unset_start = {}
        self._unset_stop = {}
        self._seen = None  # (clock, ticks_ms) where the clock ran at the last look (_clock_set)
        clock.on_set(self._clock_set)
        # The fix key (tx.json) of the last Start/StopTransaction answered or
        # given up: dropped only once another one is (_done).
        self._unfix = None
        self._idle = asyncio.Event()
        self._max_amps = max_amps
        self._max_tx = max_transactions
        self.limit_amps = [max_amps] * n
        self._on_tx = []  # fn(n, idTag) at a transaction's start, fn(n, None) at its stop
        outbox.on_durable("StartTransaction", prepare=self._start_prepare, answered=self._start_answered, dropped=self._start_dropped)
        outbox.on_durable("StopTransaction", prepare=self._stop_prepare, answered=self._stop_answered, dropped=self._stop_dropped)
        outbox.on_durable("MeterValues", prepare=self._with_remote)
        outbox.gate = transactions.flush

    # -- what the simulator and the state mirror read ---------------------------
    def status(self, n):
        return self._connectors.status(n)

    def transaction_id(self, n):
        local = self._tx.running_on(n)
        return None if local is None else self._tx.remote(local)

    async def settled(self):
        # Returns once every change so far has been acted on. A card's
        # decision mostly comes at once (cache, offline rules, a quick
        # answer): it is waited for a little, never for a slow central
        # system (then the card was taken in, and is decided later).
        # Only cards taken in meanwhile count (and the decisions handed back,
        # until the loop takes them in): a fault during another card's slow
        # Authorize is answered at once.
        before = self._asking
        self._idle.clear()
        self.evse.changed.set()
        await self._idle.wait()
        waited = 0
        while (self._asking > before or self._decided) and waited < _SETTLE_CARD_MS:
            await asyncio.sleep_ms(10)
            waited += 10

    def on_transaction(self, fn):
        # fn(n, True) when a transaction starts on connector n (before the
        # pilot offers anything), fn(n, False) once it stopped.
        self._on_tx.append(fn)

    def set_limit(self, n, amps):
        # The current the pilot may offer on connector n (smart charging);
        # None: the hardware's maximum. Below 6 A a transaction pauses
        # (SuspendedEVSE, pilot 100 %) and resumes when it rises again.
        amps = self._max_amps if amps is None else min(amps, self._max_amps)
        if amps == self.limit_amps[n]:
            return
        self.limit_amps[n] = amps
        if self._tx.running_on(n) is not None:
            # The loop looks too: this call may find no heap to drive it
            # (then the loop's guard opens the relay below 6 A).
            self._again()
            self._safely(self._drive, n)

    def _again(self):
        # Something changed that the session task must look at.
        self.evse.changed.set()

    def _relay(self, n, closed):
        self._closed[n] = closed
        self.evse.set_relay(n, closed)

    def _open(self, n):
        # The relay opens whatever the offer does. Taking the offer away may
        # find no heap (a board keeps it as a float): the offer stays until
        # the next _open (each pass while a stop is held or suspended) or the
        # next drive, with no current behind it, and the caller's work (a
        # stop to store) goes on.
        try:
            self.evse.set_offered(n, 0)
        except MemoryError:
            pass
        finally:
            self._relay(n, False)

    # -- the session task ----------------------------------------------------------
    async def run(self):
        evse = self.evse
        count = evse.count
        # Bound once: passing self._guard would make a bound method each
        # time, which a heap with no room left cannot.
        guard = self._guard
        short = False  # in a streak of passes with no heap: logged once
        while True:
            # A MemoryError anywhere in a pass (a task, a reading, a card, a
            # log line) skips the rest of that pass, never the task: the
            # relays are guarded again from the EVSE alone, and the next
            # pass comes after a short pause (no allocation: sleep_ms).
            try:
                evse.changed.clear()
                # Safety first, from the EVSE alone: a fault, an unplugged cable
                # or an EV that stopped asking opens the relay before anything
                # else (the meter read below may take a while on a Modbus bus).
                for n in range(1, count + 1):
                    self._safely(guard, n)
                # Fresh readings: a start or a stop bills with the meter as it is now.
                # The stops decided before this read began (their relays
                # open) are stored after it: the register as the relay left it.
                # (Bits by connector, a small int: no allocation in a pass.)
                fresh = 0
                for n in range(1, count + 1):
                    if self._stopping[n] is not None and self._stopping[n][2] is None:
                        fresh |= 1 << n
                await self._read_meter()
                for n in range(1, count + 1):
                    self._safely(self._step, n, fresh >> n & 1)
                # The loads on use below may find no heap (held stops come with
                # a full flash or heap): a MemoryError skips only that step.
                # Their locals are let go at once: this frame lives as long as
                # the task, and would keep a module that was unloaded in the heap.
                if self._retry_at is not None and time.ticks_diff(time.ticks_ms(), self._retry_at) >= 0:
                    # A stop held (not on flash yet): its retry loads only then.
                    try:
                        from uocpp.services import held_stops

                        held_stops.retry(self)
                    except MemoryError as e:
                        # Not loaded: again at the retry's pace (the pass's
                        # deadline is the retry's: left due, it would be now,
                        # and the loop would spin on it).
                        self._retry_at = time.ticks_add(time.ticks_ms(), RETRY_MS)
                        log.error("session", "held stops: %r; again later", e)
                    held_stops = None
                    if self._retry_at is None:
                        unload("uocpp.services.held_stops")
                card = evse.take_card()
                if card is not None or self._decided:
                    # Card handling (services/cards.py) is loaded with the first
                    # card, and leaves with authorization (_rest).
                    try:
                        from uocpp.services import cards
                    except MemoryError as e:
                        # Decisions wait for the next pass; the card is lost (a
                        # tap again is read again).
                        log.error("session", "card handling: %r (card %s not taken)", e, card)
                        card = None
                    else:
                        while self._decided:
                            # Taken off before it is handled: one whose
                            # handling fails (no heap for its call) is lost
                            # as an unread card is (a tap again is read
                            # again), and this loop cannot spin on it.
                            d = self._decided.pop(0)
                            self._safely(cards.decide, *d, s=self)
                            d = None
                        while card is not None:
                            self._safely(cards.take, *card, s=self)
                            card = evse.take_card()
                    cards = None
                if not evse.changed.is_set():
                    self._idle.set()
                    # Until the next change, or the soonest ConnectionTimeOut
                    # or held-stop retry due.
                    now = time.ticks_ms()
                    soonest = None if self._retry_at is None else max(0, time.ticks_diff(self._retry_at, now))
                    for p in self._pending:
                        if p is not None:
                            left = max(0, time.ticks_diff(p[1], now))
                            soonest = left if soonest is None else min(soonest, left)
                    if soonest is None:
                        await evse.changed.wait()
                    else:
                        await sleep.until(evse.changed, soonest)
                short = False
            except MemoryError:
                # Nothing here allocates: the guard called as it is (no
                # _safely, no arguments packed), a log line without
                # arguments (one with them packs a tuple), a sleep.
                cards = held_stops = d = None  # the frame keeps no module unloaded since, nor a decision
                for n in range(1, count + 1):
                    try:
                        guard(n)
                    except Exception:
                        self._relay(n, False)  # not even the guard could look: open
                evse.changed.set()
                if not short:
                    log.error("session", "no heap for a pass: relays guarded, again shortly")
                short = True
                await asyncio.sleep_ms(_SHORT_MS)

    def _rest(self, id_tag=None, info=None):
        # A transaction starting (before its StartTransaction is stored), or
        # a Start- or StopTransaction answered, whose idTagInfo (info, for
        # id_tag) goes to the cache first: with no card being decided and no
        # Authorize awaiting its answer, card handling and authorization
        # (with the cache's entries, up to 64) leave the heap until the next
        # card or idTagInfo, also while transactions run; an answer loads
        # them again (docs/memory-session.md). The cache is a help, not a
        # record: no heap to load it loses that idTagInfo, nothing else.
        auth = self._auth
        if id_tag is not None:
            try:
                auth.learn(id_tag, info)
            except MemoryError as e:
                log.warning("auth", "idTagInfo of %s not cached: %r", id_tag, e)
        if self._asking or self._decided or any(self._pending) or (auth and auth.obj.busy):
            return
        if auth:
            auth.drop()
        unload("uocpp.services.cards")

    async def _read_meter(self):
        # The meter read (seconds on a silent Modbus meter) beside a guard:
        # an EVSE change meanwhile still opens what must open at once; the
        # step after the read acts on it in full.
        evse, done = self.evse, [0]

        async def read():
            # However it ends (a failure with no heap to log it raises out of
            # here), the loop learns the read is over (no allocation: done[0]),
            # else it would wait for it for ever, only guarding.
            try:
                await self._metering.poll()
            except Exception as e:  # a meter failing bills with the last reading
                log.error("session", "meter poll failed: %s", e)
            finally:
                done[0] = 1
                evse.changed.set()

        # A stop waiting for a reading (decided before this read or during
        # it) waits _STOP_READ_MS at most: a meter that does not answer
        # bills it with the last reading.
        stop_by = None
        asyncio.create_task(read())
        while True:
            if stop_by is None:
                for s in self._stopping:
                    if s is not None and s[2] is None:
                        stop_by = time.ticks_add(time.ticks_ms(), _STOP_READ_MS)
            if stop_by is None:
                await evse.changed.wait()
            elif not await sleep.until(evse.changed, time.ticks_diff(stop_by, time.ticks_ms())):
                log.warning("session", "no meter reading in time: the stop bills the last one")
                return
            evse.changed.clear()
            if done[0]:
                return
            for n in range(1, evse.count + 1):
                self._safely(self._guard, n)
                if evse.fault(n) != self._fault[n] or evse.pilot(n) == "A":
                    # A fault, an unplugged EV, taken in now (reported, its
                    # transaction stopped): one gone again before the read
                    # ends (plugged in again) would leave the step nothing
                    # to see.
                    self._safely(self._step, n, None)

    def _safely(self, fn, n, *args, s=None):
        # One connector's handling; whatever it raises (bad data, a flash
        # error) opens that connector's relay and ends nothing.
        try:
            if s is None:
                fn(n, *args)
            else:
                fn(s, n, *args)
        except Exception as e:
            log.error("session", "connector %d: %r; relay opened", n, e)
            try:
                self._open(n)
            except Exception:
                pass

    def _guard(self, n):
        evse = self.evse
        # Below 6 A nothing may flow either, nor while suspended (a lower
        # limit, an idTag found invalid, whose drive found no heap). Only C
        # asks: D asks for ventilation, which this charger has none of.
        # Nor from a meter that failed _FAILS reads in a row: energy it cannot bill.
        if self._closed[n] and (
            evse.fault(n) != cn.NO_ERROR
            or evse.pilot(n) != "C"
            or self._stopping[n] is not None
            or self.limit_amps[n] < 6
            or self._suspended[n]
            or self._metering.failed[n] >= _FAILS
        ):
            self._relay(n, False)

    def _step(self, n, first=False):
        # first: a stop of n decided before this pass's meter read began
        # waits for that read (start_stop.py stop()): stored now.
        evse, c = self.evse, self._connectors
        fault = evse.fault(n)
        # A failed meter (PowerMeterFailure) is told when no fault and no
        # lock failure is: they win, and it is told again once they clear.
        warn = self._metering.failed[n] >= _FAILS
        if fault != self._fault[n]:
            self._fault[n] = fault
            c.set(n, error_code=cn.METER_FAILURE if warn and fault == cn.NO_ERROR else fault)
            if fault == cn.NO_ERROR:
                log.info("session", "connector %d: fault cleared", n)
            else:
                log.warning("session", "connector %d: fault %s: relay open", n, fault)
            if fault != cn.NO_ERROR and self._tx.running_on(n) is not None:
                self.stop(n, "Other")
            if fault != cn.NO_ERROR and self._rsv:
                self._rsv.changed.set()  # a fault ends its reservation (5.13)
        if warn != self._warned[n]:
            self._warned[n] = warn
            if fault == cn.NO_ERROR and not self._lock_failed[n]:
                c.set(n, error_code=cn.METER_FAILURE if warn else cn.NO_ERROR)
        pilot = evse.pilot(n)
        pending = self._pending[n]
        if pending is not None and time.ticks_diff(time.ticks_ms(), pending[1]) >= 0:
            log.info("session", "connector %d: no EV within ConnectionTimeOut", n)
            pending = self._pending[n] = None
            if self._rsv and self._rsv.on(n):
                c.set(n, reserved=True)  # its holder did not come: Reserved again
        if self._finishing[n] and c.items[n].session != cn.FINISHING:
            self._finishing[n] = False  # Unavailable ended it (model/connectors.py change_availability)
        local = self._tx.running_on(n)
        if local is not None:
            if self._stopping[n] is not None:
                self._open(n)  # stopped, its StopTransaction not on flash yet
                if self._stopping[n][2] is None:
                    if first:
                        self._finish_stop(n, local, True)
                    elif first is not None:
                        self._again()  # decided during the read (which took its wake-up): the next pass
                return
            if pilot == "A" and self._keys.get("StopTransactionOnEVSideDisconnect"):
                self.stop(n, "EVDisconnected")
                if self._keys.get("UnlockConnectorOnEVSideDisconnect"):
                    evse.lock(n, False)
            else:
                self._drive(n)
            return
        if pilot == "A":
            self._finishing[n] = False
            if self._lock_failed[n]:
                self._lock_failed[n] = False
                c.set(n, error_code=cn.METER_FAILURE if warn and fault == cn.NO_ERROR else fault)
            c.set(n, session=cn.PREPARING if pending else cn.AVAILABLE)
        elif first is None:
            return  # during the meter read (_read_meter): the rest after it
        elif self._finishing[n]:
            c.set(n, session=cn.FINISHING)
        elif pending is not None and c.operative(n) and not self._metering.failed[n]:
            # (A last meter read that failed keeps it waiting, Preparing,
            # until one answers or ConnectionTimeOut: metering wakes the loop.)
            self._pending[n] = None
            if self.start(n, pending[0], pending[2] if len(pending) > 2 else None) is None and self._rsv and self._rsv.on(n):
                c.set(n, reserved=True)  # not started: its holder's reservation stands (Reserved again)
        else:
            c.set(n, session=cn.PREPARING)

    def _drive(self, n):
        # Relay and pilot of a running transaction, and its status.
        # The EVSE as it is now, not as the last step saw it: a limit or a
        # remote start may come while the loop has not stepped since (a meter
        # read that hangs), and must not close onto a fault or an EV that
        # stopped asking meanwhile.
        evse = self.evse
        pilot = evse.pilot(n)
        # A failed meter too (PowerMeterFailure): no energy it cannot bill;
        # the transaction goes on, and charges again once the meter answers.
        if (
            self._suspended[n]
            or self._fault[n] != cn.NO_ERROR
            or evse.fault(n) != cn.NO_ERROR
            or self._stopping[n] is not None
            or self._metering.failed[n] >= _FAILS
        ):
            self._open(n)
            status = cn.SUSPENDED_EVSE
        else:
            evse.set_offered(n, self.limit_amps[n])
            # D: the EV asks with ventilation, which this charger cannot give:
            # no energy (IEC 61851-1, SAE J1772: only an EVSE with ventilation
            # energizes in D), the EVSE's pause. (("D",): a tuple's text is
            # no interned name, the names budget.)
            asking = pilot == "C"
            self._relay(n, asking and self.limit_amps[n] >= 6)
            # Nothing offered (below 6 A) is the EVSE's pause, whatever the EV
            # does (with no PWM it stops asking): SuspendedEVSE (C16 7.7).
            status = cn.SUSPENDED_EVSE if self.limit_amps[n] < 6 or pilot in ("D",) else cn.CHARGING if asking else cn.SUSPENDED_EV
        self._connectors.set(n, session=status)
