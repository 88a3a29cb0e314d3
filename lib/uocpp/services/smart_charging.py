# Smart charging's door (C16 3.13): what stays in the heap while no
# charging profile is installed. The working part (services/profile_limits.py
# with model/profiles.py and services/schedule.py, ~9 KB of heap as .mpy on
# a 32-bit port) is made on first use - a profile on flash at boot,
# SetChargingProfile, a RemoteStartTransaction's chargingProfile,
# GetCompositeSchedule - and dropped again once no profile is installed
# nor offered: the pilots then offer the hardware's maximum, which is what
# they offer with no profile anyway.
# The door keeps what must be known before any profile comes: each running
# transaction's start (a TxProfile or a Relative schedule counts from it)
# and the clock jumps that move it.
import asyncio
import time

from uocpp import clock
from uocpp.lazy import OnUse, held, serve


class SmartCharging(OnUse):
    # set_profile, tx_profile, offer, composite, apply, profiles, clear: the
    # working part's (OnUse forwards what the door does not have; a
    # ClearChargingProfile with nothing installed asks the door first,
    # ops/clear_charging_profile.py).
    def __init__(self, path, sessions, keys, count, max_amps, volts, phases, energy=None):
        OnUse.__init__(self, self._load, ("uocpp.services.profile_limits", "uocpp.services.schedule", "uocpp.model.profiles"))
        self.path = path
        self._sessions = sessions
        self._keys = keys
        self._count = count
        self._max = max_amps
        self._volts = volts
        self._phases = phases
        self.energy = energy  # energy/manager.py when config.json has it: the schedule is one limit of several
        self._tx_start = [None] * (count + 1)  # Unix s of each running transaction's start
        self._seen = (clock.now(), time.ticks_ms())  # for measuring clock jumps
        self.changed = asyncio.Event()
        sessions.on_transaction(self._transaction)
        clock.on_set(self._clock_set)
        if held(path):  # a profile on flash ("[]" is the file with none)
            self.get()  # in force from boot

    def _load(self):
        from uocpp.services.profile_limits import ProfileLimits

        part = ProfileLimits(self, self.path)
        self.changed.set()  # the task applies it, and drops it again when it holds nothing
        return part

    run = serve  # lazy.py: the part's task while it is made, dropped when it ends

    def _transaction(self, n, tag):
        # tag: the started transaction's idTag, None at its stop.
        self._tx_start[n] = None if tag is None else int(clock.now())
        if self.obj is not None:
            self.obj._transaction(n, tag)

    def _clock_set(self):
        # The wall clock jumped by however much it moved beyond the monotonic
        # time since we last looked: running transactions started that much
        # earlier or later on the new clock.
        # In whole seconds: a board's float (24 bits) holds a Unix time only
        # to 2 minutes, so every look made a jump of up to a minute either
        # way; a second either way is the two readings' rounding, no jump.
        then, ms = self._seen
        jump = int(clock.now() - then - time.ticks_diff(time.ticks_ms(), ms) // 1000)
        if not -1 <= jump <= 1:
            for n in range(1, self._count + 1):
                if self._tx_start[n] is not None:
                    self._tx_start[n] += jump
        self._seen = (clock.now(), time.ticks_ms())
        self.changed.set()
