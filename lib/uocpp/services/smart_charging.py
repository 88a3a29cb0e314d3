# Smart charging (C16 3.13, 5.7, 5.16, 5.11): the charging profiles in force
# (model/profiles.py) -> the current each connector's pilot may offer
# (sessions.set_limit), worked out by services/schedule.py:
#   - at once when a profile is set or cleared, and when a transaction starts
#     (before the pilot offers anything) or stops (its TxProfiles end);
#   - at each period boundary: the task sleeps until the next one (a few ms
#     after it, at most 1 s late on a port whose clock counts whole seconds);
#   - when the clock is set (clock.on_set): a jump may cross a boundary.
# Relative schedules count from the transaction's start, measured on the
# monotonic clock, so that setting the wall clock does not move them.
import asyncio
import time

from uocpp import clock, log, sleep
from uocpp.model import profiles as pm
from uocpp.services import schedule

_MAX_SLEEP_MS = 3600000


class SmartCharging:
    def __init__(self, profiles, sessions, keys, count, max_amps, volts, phases, energy=None):
        self.profiles = profiles
        self._sessions = sessions
        self._keys = keys
        self._count = count
        self._max = max_amps
        self._volts = volts
        self._phases = phases
        self.energy = energy  # energy/manager.py when config.json has it: the schedule is one limit of several
        self._tx_start = [None] * (count + 1)  # Unix s of each running transaction's start
        self._offer = {}  # connector -> (entry, deadline): a RemoteStartTransaction's TxProfile
        self._seen = (clock.now(), time.ticks_ms())  # for measuring clock jumps
        self.changed = asyncio.Event()
        sessions.on_transaction(self._transaction)
        clock.on_set(self._clock_set)

    # -- what the operations call ------------------------------------------------
    def set_profile(self, n, profile):
        # SetChargingProfile -> its status; raises the OcppError of a CALLERROR.
        try:
            e = pm.entry(n, profile, clock.now())
        except pm.Refused as err:
            log.info("smart", "profile refused: %s", err)
            return "Rejected"
        purpose = e["purpose"]
        if n > self._count or (purpose == schedule.CP_MAX and n != 0):
            return "Rejected"
        if purpose == schedule.TX:
            if not n or self._tx_start[n] is None:
                return "Rejected"  # a TxProfile needs a running transaction
            if e["tx"] is not None and e["tx"] != self._sessions.transaction_id(n):
                return "Rejected"
        status = self.profiles.install(e)
        if status == "Accepted":
            self.apply()
        return status

    def clear(self, pid, n, purpose, level):
        gone = self.profiles.clear(pid, n, purpose, level)
        if gone:
            self.apply()
        return "Accepted" if gone else "Unknown"

    def tx_profile(self, n, profile):
        # A RemoteStartTransaction's chargingProfile -> its entry, or None
        # when refused (not a TxProfile, too many periods, ...); raises the
        # OcppError of a CALLERROR for a wrong shape.
        try:
            e = pm.entry(n, profile, clock.now())
        except pm.Refused:
            return None
        k = self._keys
        if e["purpose"] != schedule.TX or e["level"] > k.get("ChargeProfileMaxStackLevel") or len(e["periods"]) > k.get("ChargingScheduleMaxPeriods"):
            return None
        return e

    def offer(self, n, e):
        # Installs the entry when a transaction starts on connector n within
        # ConnectionTimeOut (and the time to authorize).
        k = self._keys
        self._offer[n] = (e, clock.now() + k.get("ConnectionTimeOut") + 2 * k.get("MessageTimeout"))

    def composite(self, n, duration, unit):
        # GetCompositeSchedule -> (start Unix s, periods) or None (no such connector).
        if not 0 <= n <= self._count:
            return None
        t0 = int(clock.now())
        most = self._max * (self._count if n == 0 else 1)
        start = self._tx_start[n] if n else None
        return t0, schedule.composite(self.profiles.items, t0, duration, n, start, self._volts, self._phases, most, self._share(), unit)

    # -- applying the limit --------------------------------------------------------
    def _share(self):
        return max(1, sum(1 for s in self._tx_start if s is not None))

    def apply(self):
        now, items, share = clock.now(), self.profiles.items, self._share()
        self._seen = (now, time.ticks_ms())
        for n in range(1, self._count + 1):
            if self.energy is not None:  # energy: the schedule's limit with its numberPhases
                self.energy.ocpp(n, schedule.limit_phases_at(items, now, n, self._tx_start[n], self._volts, self._phases, share))
                continue
            amps = schedule.limit_at(items, now, n, self._tx_start[n], self._volts, self._phases, share)
            self._sessions.set_limit(n, amps)
        self.changed.set()

    def _next(self):
        now, best = clock.now(), None
        for n in range(1, self._count + 1):
            t = schedule.next_boundary(self.profiles.items, now, n, self._tx_start[n])
            if t is not None and (best is None or t < best):
                best = t
        return best

    async def run(self):
        while True:
            self.changed.clear()
            try:
                self.apply()
                nxt = self._next()
            except Exception as e:  # a stored profile the arithmetic chokes on: keep the last limit
                log.error("smart", "cannot apply the charging profiles: %s", e)
                nxt = None
            self.changed.clear()
            ms = _MAX_SLEEP_MS if nxt is None else min(_MAX_SLEEP_MS, max(0, int((nxt - clock.now()) * 1000)) + 20)
            await sleep.until(self.changed, ms)

    def _transaction(self, n, started):
        if started:
            self._tx_start[n] = int(clock.now())
            offer = self._offer.pop(n, None)
            if offer is not None and clock.now() <= offer[1]:
                if self.profiles.install(offer[0]) != "Accepted":
                    log.warning("smart", "connector %d: the remote start's TxProfile could not be installed", n)
        else:
            self._tx_start[n] = None
            self._offer.pop(n, None)
            self.profiles.end_transaction(n)
        self.apply()

    def _clock_set(self):
        # The wall clock jumped by however much it moved beyond the monotonic
        # time since we last looked: running transactions started that much
        # earlier or later on the new clock.
        then, ms = self._seen
        jump = clock.now() - (then + time.ticks_diff(time.ticks_ms(), ms) / 1000)
        jump = int(round(jump))
        if jump:
            for n in range(1, self._count + 1):
                if self._tx_start[n] is not None:
                    self._tx_start[n] += jump
        self._seen = (clock.now(), time.ticks_ms())
        self.changed.set()
