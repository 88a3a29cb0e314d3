# Starting and stopping transactions (C16 4.9, 5.x), and the central
# system's answers to them: the half of Sessions (services/sessions.py, the
# session task and its safety pass) that acts on a connector's transaction.
# A mixin, not a part: one object, the methods split by purpose. The start
# itself is services/starting.py, loaded for it.
#   start: the transaction on flash (tx.json) before its StartTransaction is
#   stop: the relay open first, its StopTransaction on flash, then no
#         longer running; a stop that cannot be stored yet is held, its
#         relay open, and tried again (services/held_stops.py)
import time

from micropython import const

from uocpp import clock, log, unload
from uocpp.model import connectors as cn
from uocpp.model.transactions import same_tag

_ACCEPTED = "Accepted"
RETRY_MS = const(5000)  # a stop not yet on flash is tried again this often


class StartStop:
    # -- cards and remote requests --------------------------------------------------
    def can_start(self, n, id_tag=None):
        # id_tag: a connector reserved for another idTag cannot start it.
        # A reservation with a parentIdTag may take another idTag: decided
        # once Authorize brings its parent (authorized()).
        held = self._rsv.on(n) if self._rsv else None
        if held and not same_tag(id_tag, held[1]["tag"]) and not held[1]["parent"]:
            return False
        # Finishing may start again (C16 4.9 F2), as a card there does.
        # (_max_tx 0: a Reset is under way, app.py stop().)
        return self._max_tx and self._connectors.operative(n) and self._tx.running_on(n) is None and self._pending[n] is None

    # -- start and stop ----------------------------------------------------------------
    # A start runs once per session: its code (services/starting.py) is
    # loaded for the call and dropped after (no heap for it: no transaction,
    # as when the start itself finds none).
    def authorized(self, n, id_tag, parent=None):
        # An idTag may start at n: now if an EV is plugged in, else within
        # ConnectionTimeOut. -> False when the connector cannot take it now.
        from uocpp.services import starting

        try:
            return starting.authorized(self, n, id_tag, parent)
        finally:
            unload("uocpp.services.starting")

    def start(self, n, id_tag, parent=None):
        # -> the new transaction's local id, or None when none started.
        from uocpp.services import starting

        try:
            return starting.start(self, n, id_tag, parent)
        finally:
            unload("uocpp.services.starting")

    def stop(self, n, reason, id_tag=None):
        # The relay opens now, whatever happens to the record. The stop is
        # stored by the session loop's next pass, once a meter read begun
        # with the relay open is over (sessions.py run(); a meter that does
        # not answer in time: the last reading): every stop bills the
        # register as the relay left it (C16 6.48 meterStop), not as the
        # meter task read it up to a second before. -> True once on flash.
        # A stop that cannot be stored keeps the relay open and is tried
        # again (held_stops.py).
        local = self._tx.running_on(n)
        if local is None:
            return False
        self._open(n)
        if self._stopping[n] is None:
            # Billed with the meter as it is when stored (the relay is open
            # from now), stamped with the time of the stop, however long it
            # is held (a clock not set yet: put right as it reaches flash).
            self._stopping[n] = (reason, id_tag, None, clock.now_iso() if clock.synced else None)
            self._metering.end(n)
        if self._stopping[n][2] is None:
            self._again()  # its reading: the loop's next pass
            return False
        return self._finish_stop(n, local, True)

    def _finish_stop(self, n, local, first):
        reason, id_tag, wh, at = self._stopping[n]
        try:
            # The meter values too: one that finds no heap is held and tried
            # again like a full journal (else held with no retry due).
            # (wh None: its first try, False: tried; both bill the meter.)
            data = []
            if wh is None or wh is False:
                data = self._metering.transaction_data(n, self._begin.get(local))
                wh = self._metering.energy_wh(n)
            self._record_stop(local, wh, reason, id_tag, data, at)
        except Exception as e:
            # Not on flash (the journal full even without transactionData):
            # the relay stays open, the transaction stays in tx.json, and the
            # loop tries again every few seconds (and the next boot would).
            # The retry first: the line and the status below may find no heap.
            self._retry_at = time.ticks_add(time.ticks_ms(), RETRY_MS)
            if self._stopping[n][2] is None:
                self._stopping[n] = (reason, id_tag, False, at)  # tried: the retry's now
            if first:
                log.error("session", "transaction %s: its StopTransaction cannot be stored yet: %s", self._tx.label(local), e)
                self._connectors.set(n, session=cn.SUSPENDED_EVSE)
            return False
        self._stopping[n] = None
        self._begin.pop(local, None)
        self._finishing[n] = self.evse.pilot(n) != "A"
        self._connectors.set(n, busy=False, session=cn.FINISHING if self._finishing[n] else cn.AVAILABLE)
        self._hooks(n, None)  # a TxProfile ends with its transaction
        if reason not in ("EVDisconnected", "DeAuthorized"):
            # The driver takes the cable; DeAuthorized keeps it locked
            # until its owner presents the idTag (3.5.4, services/cards.py).
            self.evse.lock(n, False)
        self._again()
        return True

    def _hooks(self, n, tag):
        # The transaction's hooks (smart charging's): one that raises (no
        # heap, a stored profile the arithmetic chokes on) skips neither the
        # others nor what the session does next (the drive, the unlock).
        for fn in self._on_tx:
            try:
                fn(n, tag)
            except Exception as e:
                log.error("session", "connector %d: a transaction hook failed: %r", n, e)

    def _record_stop(self, local, wh, reason, id_tag, data, timestamp=None):
        t = self._tx.get(local)
        # Never before its start: a clock set back (the BootNotification's
        # currentTime a little behind ours) must not stop it earlier than it
        # began. Both are format_iso text, so they compare as times.
        payload = {"meterStop": max(wh, t["start"]), "timestamp": max(timestamp or clock.now_iso(), t["t"]), "reason": reason}
        if id_tag:
            payload["idTag"] = id_tag
        if data:
            # Its meter values neither (the end value taken now), nor after
            # the stop: a held stop's End sample is taken by the retry.
            for mv in data:
                mv["timestamp"] = max(min(mv["timestamp"], timestamp or mv["timestamp"]), t["t"])
            payload["transactionData"] = data
        if not clock.synced and timestamp is None:
            self._unset_stop[local] = self._clock_set()
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
        # No longer running before anything that may find no heap (the log
        # line's arguments): a stop held now would store a second one.
        self._tx.stopped(local)
        log.info("session", "transaction %s stopped (%s) at %d Wh", self._tx.label(local), reason, payload["meterStop"])

    def stop_all(self, reason):
        # Each connector on its own: one stop that raises (no heap for its
        # record) opens its relay and leaves the others' stops to go on.
        for n in range(1, self.evse.count + 1):
            self._safely(self.stop, n, reason)

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
        # Its parentIdTag: a card with the same one may stop the transaction.
        parent, t = info.get("parentIdTag"), self._tx.get(local)
        if isinstance(parent, str) and t is not None and t.get("p") != parent:
            t["p"] = parent
            self._tx.save()
        self._rest(payload["idTag"], info)
        status = info.get("status")
        if status == _ACCEPTED or not isinstance(status, str):
            return  # no status is no verdict (replies are checked at the door)
        n = payload["connectorId"]
        if self._tx.running_on(n) != local or self._stopping[n] is not None:
            return  # already over
        if self._keys.get("StopTransactionOnInvalidId"):
            log.info("session", "transaction %s: idTag %s, stopping", self._tx.label(local), info.get("status"))
            self.stop(n, "DeAuthorized")
            self._locked[n] = payload["idTag"]
        else:
            # Suspended and the loop woken before anything that may find no
            # heap (the line's arguments, the bound method): its guard opens
            # a suspended connector's relay.
            self._suspended[n] = True
            self._again()
            log.info("session", "transaction %s: idTag %s, suspended", self._tx.label(local), info.get("status"))
            self._safely(self._drive, n)

    def _start_dropped(self, local):
        # Given up (CALLERRORs or malformed replies, TransactionMessageAttempts
        # times): off the journal, so never re-sent at every boot. The
        # central system never took the transaction in and cannot bill it,
        # so it ends here rather than charge on unbilled; its
        # StopTransaction has no transactionId to carry and goes with it.
        self._unset_start.pop(local, None)
        self._done("s%d" % local)
        if self._tx.remote(local) is not None:
            return  # answered before (_start_prepare): not given up
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
            self._tx.fixed.pop(old, None)
        self._unfix = key

    def _put_right(self, payload, unset, local, key, running=None):
        # A timestamp taken before the clock was set, this boot (`unset`
        # holds it, moved with the clock: _clock_set): once the clock is set, the moment it stood
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
        at, tx = unset.get(local), self._tx
        if at is not None and clock.synced:
            del unset[local]
            fixed = tx.fixed[key] = clock.format_iso(at)
            if running is not None:
                running["t"] = fixed
            tx.save()
        fixed = tx.fixed.get(key)
        if fixed is not None:
            payload["timestamp"] = fixed
        return payload

    def _clock_set(self):
        # The clock set (and the app's look every hour, app.py run): the
        # times stamped before it was set move with it, by however much it
        # moved beyond ticks_ms since the last look (a board's ticks_diff
        # reads a week as negative: the start of a week offline came out
        # days in the future). -> the clock now.
        # In whole seconds: a board's float (24 bits) holds a Unix time to 2
        # minutes. A second either way is the two readings' rounding, no step.
        now, ms = clock.now(), time.ticks_ms()
        if self._seen is not None:
            jump = now - self._seen[0] - time.ticks_diff(ms, self._seen[1]) // 1000
            if not -1 <= jump <= 1:
                for unset in (self._unset_start, self._unset_stop):
                    for local in unset:
                        unset[local] += jump
        self._seen = (now, ms)
        return now

    def _start_prepare(self, payload, local):
        # Its transactionId on flash already: answered, and the power went
        # (or the removal failed) before it left the journal. Sent again, a
        # central system that does not de-duplicate by message id would open
        # a second transaction, and the first would never get its stop: it
        # leaves the journal unsent (_start_dropped knows it by its id).
        if self._tx.remote(local) is not None:
            return None
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
        self._stop_dropped(local)
        info = reply.get("idTagInfo")
        learnt = isinstance(info, dict) and payload.get("idTag")
        self._rest(payload["idTag"] if learnt else None, info)
