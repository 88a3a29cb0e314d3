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
import asyncio
import time

from micropython import const

from uocpp import clock, log, sleep
from uocpp.model import connectors as cn
from uocpp.model.auth_cache import same_tag

_ACCEPTED = "Accepted"
_RETRY_MS = const(5000)  # a stop not yet on flash is tried again this often
_SETTLE_CARD_MS = const(300)  # settled() waits this long at most for a card's decision


class Sessions:
    def __init__(self, evse, metering, connectors, transactions, outbox_, authorizer, keys, max_amps, max_transactions, reservations=None):
        # max_amps: what the pilot offers when nothing limits it;
        # max_transactions: how many may wait on flash for their
        # StopTransaction to be answered (a long offline spell) before no
        # new one may start.
        self.evse = evse
        self._metering = metering
        self._connectors = connectors
        self._tx = transactions
        self._outbox = outbox_
        self._auth = authorizer
        self._keys = keys
        self._rsv = reservations  # model/reservations.py: who may start at a reserved connector
        n = evse.count + 1
        self._pilot = [None] * n
        self._fault = ["NoError"] * n
        self._pending = [None] * n  # (idTag, deadline ms) authorized before the plug
        self._finishing = [False] * n
        self._suspended = [False] * n  # held by the EVSE (an idTag found invalid later)
        self._lock_failed = [False] * n  # Faulted (ConnectorLockFailure) until the cable is out
        self._closed = [False] * n  # the relay as last set
        self._stopping = [None] * n  # (reason, idTag, Wh, time) of a stop not on flash yet: relay held open
        self._retry_at = None  # ticks when the stops not on flash are tried again
        self._asking = 0  # cards being authorized beside the loop (services/cards.py)
        self._decided = []  # (n, idTag, local id or None, idTagInfo) handed back by those
        self._begin = {}  # local id -> the Transaction.Begin meter value
        # local id -> ticks_ms of its start / its stop, stamped before the
        # clock was set (a board's RTC reads 2000-01-01 until the first
        # BootNotification.conf): the time is put right when it is sent.
        self._unset_start = {}
        self._unset_stop = {}
        # The fix key (tx.json) of the last Start/StopTransaction answered or
        # given up: dropped only once another one is (_done).
        self._unfix = None
        self._idle = asyncio.Event()
        self._max_amps = max_amps
        self._max_tx = max_transactions
        self.limit_amps = [max_amps] * n
        self._on_tx = []  # fn(n, started) at a transaction's start and stop
        outbox_.on_durable("StartTransaction", prepare=self._start_prepare, answered=self._start_answered, dropped=self._start_dropped)
        outbox_.on_durable("StopTransaction", prepare=self._stop_prepare, answered=self._stop_answered, dropped=self._stop_dropped)
        outbox_.on_durable("MeterValues", prepare=self._with_remote)
        outbox_.gate = transactions.flush

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
        # Only cards taken in meanwhile count: a fault during another card's
        # slow Authorize is answered at once.
        before = self._asking
        self._idle.clear()
        self.evse.changed.set()
        await self._idle.wait()
        waited = 0
        while self._asking > before and waited < _SETTLE_CARD_MS:
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
            self._safely(self._drive, n)

    def _again(self):
        # Something changed that the session task must look at.
        self.evse.changed.set()

    def _relay(self, n, closed):
        self._closed[n] = closed
        self.evse.set_relay(n, closed)

    def _open(self, n):
        self.evse.set_offered(n, 0)
        self._relay(n, False)

    # -- power loss: what the last run left on flash (model/transactions.py) --
    def recover(self, stored):
        # stored: (action, tag) of the messages in the journal.
        starts = [tag for action, tag in stored if action == "StartTransaction"]
        stops = [tag for action, tag in stored if action == "StopTransaction"]
        tx = self._tx
        for key, t in list(tx.running.items()):
            local = int(key)
            if local in stops:
                tx.stopped(local)  # the power went right after its StopTransaction was stored
            elif t["remote"] is None and local not in starts:
                log.warning("session", "transaction %s never reached flash: forgotten", tx.label(local))
                tx.running.pop(key)
            else:
                log.warning("session", "transaction %s on connector %d was running at power loss: stopped", tx.label(local), t["c"])
                # meterStop: the meter's register now (a real meter keeps it
                # through the outage, and the relay has been open since), or
                # the last reading on flash if that is higher or the meter
                # cannot be read (with MeterValueSampleInterval 0 that is
                # meterStart). The time is the last one on flash.
                c = t["c"]
                wh = t["wh"] if self._metering.failed[c] else max(t["wh"], self._metering.energy_wh(c))
                at = t.get("wt") or t["t"]
                # Never below a sample on flash: one stored while tx.json
                # could not take its reading (a full flash) still goes out
                # before this stop.
                sampled = self._outbox.last_reading(local)
                if sampled is not None and sampled[0] > t["wh"]:
                    wh = max(wh, sampled[0])
                    at = max(at, sampled[1])
                try:
                    self._record_stop(local, wh, "PowerLoss", None, [], at)
                except Exception as e:
                    # Not on flash (a full journal or flash): it stays in
                    # tx.json, held as this PowerLoss stop (reading and time
                    # as the power cut left them, never a stop of the
                    # connector's state after the boot), and the loop tries
                    # again every few seconds; never a boot that fails for it.
                    log.error("session", "transaction %s: its PowerLoss stop cannot be stored yet: %s", tx.label(local), e)
                    self._stopping[c] = ("PowerLoss", None, wh, at)
                    self._retry_at = time.ticks_add(time.ticks_ms(), _RETRY_MS)
                    continue
                stops.append(local)
        tx.tidy(stops, starts)

    # -- the session task ----------------------------------------------------------
    async def run(self):
        evse = self.evse
        count = evse.count
        while True:
            evse.changed.clear()
            # Safety first, from the EVSE alone: a fault, an unplugged cable
            # or an EV that stopped asking opens the relay before anything
            # else (the meter read below may take a while on a Modbus bus).
            for n in range(1, count + 1):
                self._safely(self._guard, n)
            # Fresh readings: a start or a stop bills with the meter as it is now.
            await self._read_meter()
            for n in range(1, count + 1):
                self._safely(self._step, n)
            self._retry_stops()
            card = evse.take_card()
            if card is not None or self._decided:
                # Card handling (services/cards.py) is loaded with the first card.
                from uocpp.services import cards

                while self._decided:
                    self._safely(cards.decide, *self._decided.pop(0), s=self)
                while card is not None:
                    self._safely(cards.take, *card, s=self)
                    card = evse.take_card()
            if not evse.changed.is_set():
                self._idle.set()
                deadline = self._next_deadline()
                if deadline is None:
                    await evse.changed.wait()
                else:
                    await sleep.until(evse.changed, deadline)

    async def _read_meter(self):
        # The meter read (seconds on a silent Modbus meter) beside a guard:
        # an EVSE change meanwhile still opens what must open at once; the
        # step after the read acts on it in full.
        evse, done = self.evse, []

        async def read():
            try:
                await self._metering.poll()
            except Exception as e:  # a meter failing bills with the last reading
                log.error("session", "meter poll failed: %s", e)
            done.append(1)
            evse.changed.set()

        asyncio.create_task(read())
        while True:
            await evse.changed.wait()
            evse.changed.clear()
            if done:
                return
            for n in range(1, evse.count + 1):
                self._safely(self._guard, n)

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
        if self._closed[n] and (evse.fault(n) != cn.NO_ERROR or evse.pilot(n) not in ("C", "D") or self._stopping[n] is not None):
            self._relay(n, False)

    def _next_deadline(self):
        now, soonest = time.ticks_ms(), None
        for p in self._pending:
            if p is not None:
                left = max(0, time.ticks_diff(p[1], now))
                soonest = left if soonest is None else min(soonest, left)
        if self._retry_at is not None:
            left = max(0, time.ticks_diff(self._retry_at, now))
            soonest = left if soonest is None else min(soonest, left)
        return soonest

    def _step(self, n):
        evse, c = self.evse, self._connectors
        fault = evse.fault(n)
        if fault != self._fault[n]:
            self._fault[n] = fault
            c.set(n, error_code=fault)
            if fault == cn.NO_ERROR:
                log.info("session", "connector %d: fault cleared", n)
            else:
                log.warning("session", "connector %d: fault %s: relay open", n, fault)
            if fault != cn.NO_ERROR and self._tx.running_on(n) is not None:
                self.stop(n, "Other")
        pilot = evse.pilot(n)
        self._pilot[n] = pilot
        pending = self._pending[n]
        if pending is not None and time.ticks_diff(time.ticks_ms(), pending[1]) >= 0:
            log.info("session", "connector %d: no EV within ConnectionTimeOut", n)
            pending = self._pending[n] = None
            if self._rsv and self._rsv.on(n):
                c.set(n, reserved=True)  # its holder did not come: Reserved again
        local = self._tx.running_on(n)
        if local is not None:
            if self._stopping[n] is not None:
                self._open(n)  # stopped, its StopTransaction not on flash yet
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
                c.set(n, error_code=fault)
            c.set(n, session=cn.PREPARING if pending else cn.AVAILABLE)
        elif self._finishing[n]:
            c.set(n, session=cn.FINISHING)
        elif pending is not None and c.operative(n):
            self._pending[n] = None
            self.start(n, pending[0], pending[2] if len(pending) > 2 else None)
        else:
            c.set(n, session=cn.PREPARING)

    def _drive(self, n):
        # Relay and pilot of a running transaction, and its status.
        evse, pilot = self.evse, self._pilot[n]
        if self._suspended[n] or self._fault[n] != cn.NO_ERROR or self._stopping[n] is not None:
            self._open(n)
            status = cn.SUSPENDED_EVSE
        else:
            evse.set_offered(n, self.limit_amps[n])
            asking = pilot in ("C", "D")
            self._relay(n, asking and self.limit_amps[n] >= 6)
            status = cn.CHARGING if asking and self.limit_amps[n] >= 6 else cn.SUSPENDED_EVSE if asking else cn.SUSPENDED_EV
        self._connectors.set(n, session=status)

    # -- cards and remote requests --------------------------------------------------
    def _free(self, n, id_tag, parent):
        # May id_tag (with this parentIdTag) start at n now?
        if self._rsv and self._rsv.refuses(n, id_tag, parent):
            log.info("session", "connector %d is reserved: card %s refused", n, id_tag)
            return False
        if self._tx.running_on(n) is not None or not self._connectors.operative(n):
            log.info("session", "connector %d can no longer start %s", n, id_tag)
            return False
        return True

    def authorized(self, n, id_tag, parent=None):
        # An idTag may start at n: now if an EV is plugged in, else within
        # ConnectionTimeOut. -> False when the connector cannot take it now.
        if not self._free(n, id_tag, parent):
            return False
        if self.evse.pilot(n) != "A" and not self._finishing[n]:
            self.start(n, id_tag, parent)
        else:
            self._finishing[n] = False
            deadline = time.ticks_add(time.ticks_ms(), self._keys.get("ConnectionTimeOut") * 1000)
            self._pending[n] = (id_tag, deadline, parent)
            if self._rsv and self._rsv.on(n):
                # Its holder is here: Preparing, no longer Reserved (the
                # reservation ends when the transaction starts).
                self._connectors.set(n, reserved=False)
            self._connectors.set(n, session=cn.PREPARING)
        self._again()
        return True

    def can_start(self, n, id_tag=None):
        # id_tag: a connector reserved for another idTag cannot start it.
        # A reservation with a parentIdTag may take another idTag: decided
        # once Authorize brings its parent (authorized()).
        held = self._rsv.on(n) if self._rsv else None
        if held and not same_tag(id_tag, held[1]["tag"]) and not held[1]["parent"]:
            return False
        return self._connectors.operative(n) and self._tx.running_on(n) is None and self._pending[n] is None and not self._finishing[n]

    def first_free(self, id_tag=None):
        # For a remote start without a connector: one with an EV plugged in
        # (waiting in Preparing) before an empty one.
        free = [n for n in range(1, self.evse.count + 1) if self.can_start(n, id_tag)]
        for n in free:
            if self.evse.pilot(n) != "A":
                return n
        return free[0] if free else None

    # -- start and stop ----------------------------------------------------------------
    def start(self, n, id_tag, parent=None):
        evse = self.evse
        waiting = self._tx.count() + self._outbox.stored_count("StartTransaction")
        if waiting >= self._max_tx:
            log.error("session", "connector %d: %d transactions wait for the central system: no new one", n, waiting)
            return None
        if self._stopping[n] is not None:
            return None  # the last one's StopTransaction is not on flash yet
        if not evse.lock(n, True):
            log.error("session", "connector %d: the lock failed, no transaction", n)
            self._lock_failed[n] = True
            self._connectors.set(n, error_code="ConnectorLockFailure")
            return None
        wh = self._metering.energy_wh(n)
        ts = clock.now_iso()
        # The transaction is on flash before its StartTransaction is.
        rid = self._rsv.used_by(n, id_tag, parent) if self._rsv else None
        payload = {"connectorId": n, "idTag": id_tag, "meterStart": wh, "timestamp": ts}
        if rid is not None:
            payload["reservationId"] = rid
        local = None
        try:
            local = self._tx.begin(n, id_tag, wh, ts, parent)
            self._outbox.store("StartTransaction", payload, local)
        except Exception as e:  # flash full or failing: no transaction rather than an unbilled one
            log.error("session", "connector %d: cannot store the StartTransaction (%s): no transaction", n, e)
            if local is not None:
                self._tx.abandon(local)
            evse.lock(n, False)
            return None
        if rid is not None:
            self._rsv.end(rid, "used by transaction local %d" % local)
        if not clock.synced:
            self._unset_start[local] = time.ticks_ms()
        log.info("session", "connector %d: transaction %s started by %s at %d Wh", n, self._tx.label(local), id_tag, wh)
        self._suspended[n] = False
        self._connectors.set(n, busy=True)
        begin = self._metering.meter_value(n, self._keys.get("StopTxnSampledData"), "Transaction.Begin")
        self._begin[local] = begin if begin["sampledValue"] else None
        self._metering.begin(n)
        for fn in self._on_tx:
            fn(n, True)
        self._drive(n)
        return local

    def stop(self, n, reason, id_tag=None):
        # The relay opens now, whatever happens to the record; a stop that
        # cannot be stored keeps it open and is tried again (_retry_stops).
        local = self._tx.running_on(n)
        if local is None:
            return False
        self._open(n)
        if self._stopping[n] is None:
            self._stopping[n] = (reason, id_tag, None, None)  # billed with the meter as it is when stored
            self._metering.end(n)
        return self._finish_stop(n, local, True)

    def _finish_stop(self, n, local, first):
        reason, id_tag, wh, at = self._stopping[n]
        data = []
        if wh is None:
            data = self._metering.transaction_data(n, self._begin.get(local))
            wh = self._metering.energy_wh(n)
        try:
            self._record_stop(local, wh, reason, id_tag, data, at)
        except Exception as e:
            # Not on flash (the journal full even without transactionData):
            # the relay stays open, the transaction stays in tx.json, and the
            # loop tries again every few seconds (and the next boot would).
            if first:
                log.error("session", "transaction %s: its StopTransaction cannot be stored yet: %s", self._tx.label(local), e)
                self._connectors.set(n, session=cn.SUSPENDED_EVSE)
            self._retry_at = time.ticks_add(time.ticks_ms(), _RETRY_MS)
            return False
        self._stopping[n] = None
        self._begin.pop(local, None)
        self._finishing[n] = self.evse.pilot(n) != "A"
        self._connectors.set(n, busy=False, session=cn.FINISHING if self._finishing[n] else cn.AVAILABLE)
        for fn in self._on_tx:
            fn(n, False)  # a TxProfile ends with its transaction
        if reason != "EVDisconnected":
            self.evse.lock(n, False)  # the driver takes the cable
        self._again()
        return True

    def _retry_stops(self):
        at = self._retry_at
        if at is None or time.ticks_diff(time.ticks_ms(), at) < 0:
            return
        self._retry_at = None
        for n in range(1, self.evse.count + 1):
            local = self._tx.running_on(n)
            if self._stopping[n] is not None and local is not None:
                try:
                    self._finish_stop(n, local, False)
                except Exception as e:
                    log.error("session", "connector %d: stop retry: %r", n, e)
                    self._retry_at = time.ticks_add(time.ticks_ms(), _RETRY_MS)

    def _record_stop(self, local, wh, reason, id_tag, data, timestamp=None):
        t = self._tx.get(local)
        # Never before its start: a clock set back (the BootNotification's
        # currentTime a little behind ours) must not stop it earlier than it
        # began. Both are format_iso text, so they compare as times.
        payload = {"meterStop": max(wh, t["start"]), "timestamp": max(timestamp or clock.now_iso(), t["t"]), "reason": reason}
        if id_tag:
            payload["idTag"] = id_tag
        if data:
            payload["transactionData"] = data
        if not clock.synced and timestamp is None:
            self._unset_stop[local] = time.ticks_ms()
        # Its StopTransaction on flash first, then no longer running (the
        # order the recovery above relies on).
        try:
            self._outbox.store("StopTransaction", payload, local)
        except Exception:
            if "transactionData" not in payload:
                raise
            # A full journal (nothing left to drop but Starts and Stops): the
            # StopTransaction without its optional transactionData rather
            # than none; meterStop is what bills.
            del payload["transactionData"]
            log.warning("session", "transaction %s: journal full, StopTransaction stored without its transactionData", self._tx.label(local))
            self._outbox.store("StopTransaction", payload, local)
        log.info("session", "transaction %s stopped (%s) at %d Wh", self._tx.label(local), reason, payload["meterStop"])
        self._tx.stopped(local)

    def stop_all(self, reason):
        for n in range(1, self.evse.count + 1):
            self.stop(n, reason)

    # -- the central system's answers ---------------------------------------------------
    def _start_answered(self, payload, reply, local):
        self._unset_start.pop(local, None)
        self._done("s%d" % local)
        self._tx.started(local, reply.get("transactionId"))
        # The one line that ties our number to the central system's: every
        # later line names the transaction by the central system's id.
        log.info("session", "transaction local %d is %s at the central system", local, self._tx.label(local))
        info = reply.get("idTagInfo")
        if not isinstance(info, dict):
            info = {}
        self._auth.learn(payload["idTag"], info)
        parent = info.get("parentIdTag")
        if isinstance(parent, str):
            self._tx.set_parent(local, parent)
        status = info.get("status")
        if status == _ACCEPTED or not isinstance(status, str):
            return  # no status is no verdict (replies are checked at the door)
        n = payload["connectorId"]
        if self._tx.running_on(n) != local or self._stopping[n] is not None:
            return  # already over
        if self._keys.get("StopTransactionOnInvalidId"):
            log.info("session", "transaction %s: idTag %s, stopping", self._tx.label(local), info.get("status"))
            self.stop(n, "DeAuthorized")
        else:
            log.info("session", "transaction %s: idTag %s, suspended", self._tx.label(local), info.get("status"))
            self._suspended[n] = True
            self._safely(self._drive, n)

    def _start_dropped(self, local):
        # Given up (CALLERRORs or malformed replies, TransactionMessageAttempts
        # times): off the journal, so never re-sent at every boot. The
        # central system never took the transaction in and cannot bill it,
        # so it ends here rather than charge on unbilled; its
        # StopTransaction has no transactionId to carry and goes with it.
        self._unset_start.pop(local, None)
        self._done("s%d" % local)
        log.error("session", "StartTransaction of transaction local %d could not be delivered", local)
        for n in range(1, self.evse.count + 1):
            if self._tx.running_on(n) == local:
                log.warning("session", "transaction local %d was never accepted by the central system: stopping it", local)
                self.stop(n, "Other")

    def _stop_dropped(self, local):
        self._unset_stop.pop(local, None)
        self._done("e%d" % local)
        self._tx.forget(local)

    def _done(self, key):
        # A Start/StopTransaction answered or given up: its record leaves the
        # journal after this hook, and a power cut in between sends it again
        # at the next boot, under the same id, so its fix stays on flash. The
        # one before it has left the journal by now (oldest first): its fix
        # goes (written with the next change). Boot drops the rest (tidy).
        old = self._unfix
        if old is not None and old != key:
            self._tx.unfix_time(old)
        self._unfix = key

    def _put_right(self, payload, unset, local, key, running=None):
        # A timestamp taken before the clock was set, this boot (`unset`
        # holds its ticks_ms): once the clock is set, the moment it stood
        # for, worked out once and kept in tx.json before the message goes
        # with it, so that a re-send (a lost reply, a reboot) is the same
        # message under the same id. Across a reboot before the clock was
        # set the uptime is gone, and the stored time goes as it is.
        # running: a StartTransaction's transaction, still running: its
        # start time ("t", what a stop is never stamped before, and a
        # PowerLoss stop's time when no reading was stored) becomes the
        # corrected one in the same write, earlier or later than the unset
        # clock's: flash never says it started at another time than the
        # central system was told.
        at = unset.get(local)
        if at is not None and clock.synced:
            del unset[local]
            fixed = clock.format_iso(clock.now() - time.ticks_diff(time.ticks_ms(), at) // 1000)
            if running is not None:
                running["t"] = fixed
            self._tx.fix_time(key, fixed)
        fixed = self._tx.fixed_time(key)
        if fixed is not None:
            payload["timestamp"] = fixed
        return payload

    def _start_prepare(self, payload, local):
        return self._put_right(payload, self._unset_start, local, "s%d" % local, self._tx.get(local))

    def _stop_prepare(self, payload, local):
        payload = self._with_remote(payload, local)
        if payload is not None:
            payload = self._put_right(payload, self._unset_stop, local, "e%d" % local)
        return payload

    def _with_remote(self, payload, local):
        # The central system's transactionId, known once StartTransaction.conf came.
        remote = self._tx.remote(local)
        if remote is None:
            return None
        payload["transactionId"] = remote
        return payload

    def _stop_answered(self, payload, reply, local):
        self._unset_stop.pop(local, None)
        self._done("e%d" % local)
        info = reply.get("idTagInfo")
        if isinstance(info, dict) and payload.get("idTag"):
            self._auth.learn(payload["idTag"], info)
        self._tx.forget(local)
