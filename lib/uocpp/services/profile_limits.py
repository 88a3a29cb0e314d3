# Smart charging's working part (C16 3.13, 5.7, 5.16, 5.11), loaded only
# while a charging profile is installed or asked about (the door,
# services/smart_charging.py, makes it and drops it): the charging profiles
# in force (model/profiles.py) -> the current each connector's pilot may
# offer (sessions.set_limit), worked out by services/schedule.py:
#   - at once when a profile is set or cleared, and when a transaction starts
#     (before the pilot offers anything) or stops (its TxProfiles end);
#   - at each period boundary: run() sleeps until the next one (a few ms
#     after it, at most 1 s late on a port whose clock counts whole seconds);
#   - when the clock is set (the door's changed event): a jump may cross a
#     boundary.
# Relative schedules count from the transaction's start, which the door
# keeps (measured on the monotonic clock, so that setting the wall clock
# does not move them).
import time

from uocpp import clock, log, sleep
from uocpp.model import profiles as pm
from uocpp.model.transactions import same_tag
from uocpp.services import schedule

_MAX_SLEEP_MS = 3600000


class ProfileLimits:
    def __init__(self, door, path):
        # door: services/smart_charging.py's SmartCharging (the settings,
        # each running transaction's start, the changed event).
        self.profiles = pm.Profiles(path, door._keys)
        self._door = door
        self._sessions = door._sessions
        self._keys = door._keys
        self._count = door._count
        self._tx_start = door._tx_start  # Unix s of each running transaction's start (the door's list)
        self._offer = {}  # connector -> (entry, deadline): a RemoteStartTransaction's TxProfile
        self.changed = door.changed

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
        # when refused (not a TxProfile, too many periods, no room left for
        # it, ...); raises the OcppError of a CALLERROR for a wrong shape.
        try:
            e = pm.entry(n, profile, clock.now())
        except pm.Refused:
            return None
        if e["purpose"] != schedule.TX or self.profiles.room(e) is None:
            return None
        return e

    def offer(self, n, e, tag):
        # Installs the entry when a transaction for idTag `tag` (the remote
        # start's, not another one's) starts on connector n within
        # ConnectionTimeOut (and the time to authorize).
        # A duration: its deadline on ticks_ms, so that a clock set meanwhile
        # (a Heartbeat.conf) neither expires it early nor keeps it for the next one.
        k = self._keys
        self._offer[n] = (e, time.ticks_add(time.ticks_ms(), 1000 * (k.get("ConnectionTimeOut") + 2 * k.get("MessageTimeout"))), tag)

    def composite(self, n, duration, unit):
        # GetCompositeSchedule -> (start Unix s, periods) or None (no such connector).
        if not 0 <= n <= self._count:
            return None
        t0 = int(clock.now())
        d = self._door
        most = d._max * (self._count if n == 0 else 1)
        start = self._tx_start[n] if n else None
        return t0, schedule.composite(self.profiles.items, t0, duration, n, start, d._volts, d._phases, most, self._share(), unit, switching=self._switching())

    # -- applying the limit --------------------------------------------------------
    def _share(self):
        return max(1, sum(1 for s in self._tx_start if s is not None))

    def _switching(self):
        # Whether the charger follows a period's numberPhases (energy.phaseSwitch):
        # else a limit in W is spread over its own phases.
        e = self._door.energy
        return e is not None and e.switcher is not None

    def apply(self):
        now, items, share, d = clock.now(), self.profiles.items, self._share(), self._door
        d._seen = (now, time.ticks_ms())  # clock jumps are measured from here on
        switching = self._switching()
        for n in range(1, self._count + 1):
            if d.energy is not None:  # energy: the schedule's limit with its numberPhases
                d.energy.ocpp(n, schedule.limit_phases_at(items, now, n, self._tx_start[n], d._volts, d._phases, share, switching))
                continue
            amps = schedule.limit_at(items, now, n, self._tx_start[n], d._volts, d._phases, share)
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
        # Returns once no profile is installed nor offered: the limits are
        # the hardware's again, and the door drops this part.
        while True:
            self.changed.clear()
            try:
                self.apply()
                nxt = self._next()
            except Exception as e:  # a stored profile the arithmetic chokes on: keep the last limit
                log.error("smart", "cannot apply the charging profiles: %s", e)
                nxt = None
            self.changed.clear()
            offers = self._offer
            for n in list(offers):
                left = time.ticks_diff(offers[n][1], time.ticks_ms()) // 1000  # (whole s: a board's float holds a Unix time to 2 min)
                if left < 0:
                    del offers[n]  # its remote start never came
                elif nxt is None or clock.now() + left < nxt:
                    nxt = clock.now() + left
            if not self.profiles.items and not offers:
                return
            ms = _MAX_SLEEP_MS if nxt is None else min(_MAX_SLEEP_MS, max(0, int((nxt - clock.now()) * 1000)) + 20)
            await sleep.until(self.changed, ms)

    def _transaction(self, n, tag):
        # The door set _tx_start[n] already. tag: the started transaction's
        # idTag, None at its stop.
        if tag is not None:
            offer = self._offer.pop(n, None)
            # Another idTag's transaction does not get the remote start's profile.
            if offer is not None and time.ticks_diff(offer[1], time.ticks_ms()) >= 0 and same_tag(tag, offer[2]):
                if self.profiles.install(offer[0]) != "Accepted":
                    log.warning("smart", "connector %d: the remote start's TxProfile could not be installed", n)
        else:
            self._offer.pop(n, None)
            self.profiles.end_transaction(n)
        self.apply()
