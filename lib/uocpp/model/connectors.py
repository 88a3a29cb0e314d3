# Connectors and their OCPP status (C16 4.9, 5.2). Connector 0 is the charge
# point itself. Availability (Operative/Inoperative) persists across reboots
# (RST-03). The charging session sets each connector's session status
# (Available, Preparing, Charging, SuspendedEV, SuspendedEVSE, Finishing);
# a fault wins over everything, then Unavailable (when no transaction runs
# on it: an availability change waits for the end of the transaction,
# Scheduled), then Reserved (model/reservations.py) over Available and
# Preparing. ChangeAvailability's logic is ops/change_availability.py's,
# loaded for the operation.
import asyncio

from uocpp import log
from uocpp.model import state as st
from uocpp.store import json_file

AVAILABLE = "Available"
PREPARING = "Preparing"
CHARGING = "Charging"
SUSPENDED_EV = "SuspendedEV"
SUSPENDED_EVSE = "SuspendedEVSE"
FINISHING = "Finishing"
RESERVED = "Reserved"
UNAVAILABLE = "Unavailable"
FAULTED = "Faulted"
NO_ERROR = "NoError"
# A meter that fails (services/metering.py _FAILS reads in a row): a warning
# with the status as it is (no energy, none it cannot bill), not Faulted;
# not operative (no start: meterStart must be a real reading).
METER_FAILURE = "PowerMeterFailure"

ACCEPTED = "Accepted"
REJECTED = "Rejected"
SCHEDULED = "Scheduled"


class Connector:
    def __init__(self, cid):
        self.id = cid
        self.operative = True
        self.busy = False  # a transaction runs on it
        self.scheduled = None  # availability to apply once no longer busy
        self.error_code = NO_ERROR
        self.fault = None  # the last fault (errorCode) not yet told the central system (services/status.py)
        self.session = AVAILABLE  # what the charging session says
        self.reserved = False


class Connectors:
    def __init__(self, count, path, state):
        self.count = count
        self._path = path
        self.state = state
        # Set on every status change; the status notifier is its one waiter.
        self.changed = asyncio.Event()
        self.items = items = []
        for i in range(count + 1):
            items.append(Connector(i))
        saved = json_file.read_json(path, {})
        inoperative = saved.get("inoperative") if isinstance(saved, dict) else None
        for cid in inoperative if isinstance(inoperative, list) else ():  # another shape: all operative
            if self.valid(cid):
                self.items[cid].operative = False
        self._saved = saved = []  # what the file says
        for c in self.items:
            if not c.operative:
                saved.append(c.id)
        self.publish()

    def valid(self, cid):
        return type(cid) is int and 0 <= cid <= self.count

    def status(self, cid):
        c = self.items[cid]
        if c.error_code != NO_ERROR and c.error_code != METER_FAILURE:
            return FAULTED
        if c.busy:
            return c.session
        # A connector is unavailable when it, or the whole charge point, is
        # set Inoperative.
        if not c.operative or not self.items[0].operative:
            return UNAVAILABLE
        if c.reserved and c.session in (AVAILABLE, PREPARING):
            return RESERVED
        return c.session if cid else AVAILABLE

    def operative(self, cid):
        # May a new transaction start here?
        return self.items[cid].operative and self.items[0].operative and self.items[cid].error_code == NO_ERROR

    def set(self, cid, session=None, error_code=None, busy=None, reserved=None):
        # The charging session reports; a change of status is published.
        c = self.items[cid]
        before = self.status(cid)
        if error_code is not None and error_code != c.error_code:
            # A new errorCode is news too, the status Faulted before and
            # after (4.9). (No tuple: the session loop calls this every pass,
            # and an allocation that fails there opens the relay.)
            before = None
            if error_code != NO_ERROR and error_code != METER_FAILURE:
                c.fault = error_code  # told even if it clears before its message goes out
        if reserved is not None:
            c.reserved = reserved
        if session is not None:
            c.session = session
        if error_code is not None:
            c.error_code = error_code
        if busy is not None:
            c.busy = busy
            if not busy and c.scheduled is not None:
                # ChangeAvailability's change waiting for the end of the
                # transaction (ops/change_availability.py).
                c.operative, c.scheduled = c.scheduled, None
                self.save()
        if self.status(cid) != before:
            self.publish()

    def publish(self):
        # Status of every connector into the shared state; the status service
        # and mirrors pick up what changed.
        for c in self.items:
            self.state.set(st.CONNECTOR % c.id, self.status(c.id))
        self.changed.set()

    def save(self):  # also ops/change_availability.py's
        # -> False when the flash refused the write (full).
        # Only a change is written: a ChangeAvailability to the state in
        # force (a central system re-sending it) leaves the flash alone.
        # A flash that refuses the write raises nowhere: a ChangeAvailability
        # is Rejected and undone, a scheduled change applied at a
        # transaction's end is already on flash (below).
        # A change scheduled for a transaction's end is written as in force:
        # a power cut ends that transaction (PowerLoss at the next boot), and
        # the change with it.
        inoperative = []
        for c in self.items:
            if not (c.operative if c.scheduled is None else c.scheduled):
                inoperative.append(c.id)
        if inoperative != self._saved:
            try:
                json_file.write_json_atomic(self._path, {"inoperative": inoperative})
            except OSError as e:
                log.error("connectors", "connectors.json not written (%s)", e)
                return False
            self._saved = inoperative
        return True
