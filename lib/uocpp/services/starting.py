# Starting a transaction (C16 4.9, 5.x): an idTag authorized at a
# connector (a card's decision, services/cards.py, or a remote start,
# ops/remote_start_transaction.py), and the start itself, the transaction
# on flash (tx.json) before its StartTransaction is. It runs once per
# session, at its start: loaded for the call by its doors (Sessions.start,
# Sessions.authorized in services/start_stop.py) and unloaded after, so
# neither an idle charger nor a charging session holds it.
# s: the Sessions.
import time

from uocpp import clock, log
from uocpp.model import connectors as cn


def authorized(s, n, id_tag, parent=None):
    # An idTag may start at n: now if an EV is plugged in, else within
    # ConnectionTimeOut. -> False when the connector cannot take it now.
    if s._rsv and s._rsv.refuses(n, id_tag, parent):
        log.info("session", "connector %d is reserved: card %s refused", n, id_tag)
        return False
    if s._tx.running_on(n) is not None or not s._connectors.operative(n):
        log.info("session", "connector %d can no longer start %s", n, id_tag)
        return False
    # Finishing or Reserved: Preparing first, started at the next pass
    # (C16 4.9: F2, G2; neither goes to Charging or SuspendedEV).
    # A last meter read that failed: waiting too (no real meterStart yet).
    if s.evse.pilot(n) != "A" and not s._finishing[n] and not (s._rsv and s._rsv.on(n)) and not s._metering.failed[n]:
        start(s, n, id_tag, parent)
    else:
        s._finishing[n] = False
        deadline = time.ticks_add(time.ticks_ms(), s._keys.get("ConnectionTimeOut") * 1000)
        s._pending[n] = (id_tag, deadline, parent)
        if s._rsv and s._rsv.on(n):
            # Its holder is here: Preparing, no longer Reserved (the
            # reservation ends when the transaction starts).
            s._connectors.set(n, reserved=False)
        s._connectors.set(n, session=cn.PREPARING)
    s._again()
    return True


def start(s, n, id_tag, parent=None):
    evse = s.evse
    waiting = s._tx.count() + s._outbox.stored_count("StartTransaction")
    if waiting >= s._max_tx:
        log.error("session", "connector %d: %d transactions wait for the central system: no new one", n, waiting)
        return None
    if s._stopping[n] is not None:
        return None  # the last one's StopTransaction is not on flash yet
    if not s._metering.readings[n] or s._metering.failed[n]:
        # Not read once since the boot (a silent bus meter): its register
        # is not 0 Wh, and a meterStart of 0 would bill the meter's whole
        # history with its first reading. Nor with a last read that failed:
        # meterStart is a real reading, not one that may be stale.
        log.error("session", "connector %d: no meter reading: no transaction", n)
        return None
    if evse.lock(n, True) is False:  # None: no lock to move (a tethered cable)
        # Released again: left driven to lock, an actuator stalls under
        # current, and one that frees itself locks a cable of no transaction.
        evse.lock(n, False)
        log.error("session", "connector %d: the lock failed, no transaction", n)
        s._lock_failed[n] = True
        s._connectors.set(n, error_code="ConnectorLockFailure")
        if s._rsv:
            s._rsv.changed.set()  # Faulted ends its reservation (5.13)
        return None
    s._locked[n] = None  # the lock is this transaction's now
    wh = s._metering.energy_wh(n)
    ts = clock.now_iso()
    # The transaction is on flash before its StartTransaction is.
    rid = s._rsv.used_by(n, id_tag, parent) if s._rsv else None
    payload = {"connectorId": n, "idTag": id_tag, "meterStart": wh, "timestamp": ts}
    if rid is not None:
        payload["reservationId"] = rid
    # Authorization leaves the heap before the journal comes in for the
    # StartTransaction (a session's peak): its answer loads it again.
    s._rest()
    local = None
    try:
        local = s._tx.begin(n, id_tag, wh, ts, parent)
        s._outbox.store("StartTransaction", payload, local)
    except Exception as e:  # flash full or failing: no transaction rather than an unbilled one
        log.error("session", "connector %d: cannot store the StartTransaction (%s): no transaction", n, e)
        if local is not None and s._tx.running.pop(str(local), None) is not None:
            # It never started (a boot would forget it too, from the journal).
            s._tx.save()
        evse.lock(n, False)
        return None
    # Running (on flash): metered from now, before anything that may
    # find no heap (a value, a log line) leaves it unmetered for good.
    s._metering.begin(n)
    if rid is not None:
        s._rsv.end(rid, "used by transaction local %d" % local)
    if not clock.synced:
        s._unset_start[local] = s._clock_set()
    log.info("session", "connector %d: transaction %s started by %s at %d Wh", n, s._tx.label(local), id_tag, wh)
    s._suspended[n] = False
    s._connectors.set(n, busy=True)
    begin = s._metering.meter_value(n, s._keys.get("StopTxnSampledData"), "Transaction.Begin")
    s._begin[local] = begin if begin["sampledValue"] else None
    s._hooks(n, id_tag)
    s._drive(n)
    return local
