# The solar-surplus rule, pure: the surplus the grid meter shows (in A per
# phase for the connector) -> the solar source's limit, with start and stop
# delays so that a passing cloud does not toggle the contactor:
#   fast       no solar limit (None)
#   solar      charge only from surplus: start once it has stayed at 6 A or
#              more for startDelay; while it runs, follow it, and hold 6 A
#              when it dips (a grid import, for at most stopDelay); stop (0:
#              the transaction pauses, SuspendedEVSE) once it has stayed
#              under 6 A for stopDelay
#   min+solar  6 A at least, more as the surplus allows
# OpenEVSE's solar divert behaves the same way (a minimum charge time and a
# delay before it stops); SmartEVSE's "Solar" and "Smart" modes are ours
# "solar" and "min+solar".
# With phase switching, phases() asks for 1 phase when the surplus no longer
# carries 6 A on three but does on one, and for 3 when it carries 6 A on
# three, each after the same delays.
import time

from uocpp.energy.limits import MIN_AMPS


class Solar:
    def __init__(self, start_ms, stop_ms):
        self.start_ms = start_ms
        self.stop_ms = stop_ms
        self.on = False
        self._since = None  # ms since the surplus crossed the threshold the other way
        self._phase_since = None

    def _held(self, cond, now, delay_ms):
        # True once cond has held for delay_ms (the clock restarts when it fails).
        if not cond:
            self._since = None
            return False
        if self._since is None:
            self._since = now
        return time.ticks_diff(now, self._since) >= delay_ms

    def step(self, mode, amps, now):
        # amps: the surplus in A per phase for this connector -> the limit.
        if mode == "fast":
            self.on, self._since = False, None
            return None
        if mode == "min+solar":
            self.on, self._since = True, None
            return max(MIN_AMPS, amps)
        if self.on:
            if self._held(amps < MIN_AMPS, now, self.stop_ms):
                self.on, self._since = False, None
                return 0
            return max(MIN_AMPS, amps)
        if self._held(amps >= MIN_AMPS, now, self.start_ms):
            self.on, self._since = True, None
            return amps
        return 0

    def wait_ms(self, now):
        # ms until a pending start or stop decides, or None.
        if self._since is None:
            return None
        return max(0, (self.stop_ms if self.on else self.start_ms) - time.ticks_diff(now, self._since))

    def phases(self, mode, surplus_w, volts, phases, now):
        # -> the phase count the surplus asks for (phases when no change).
        if mode == "fast":
            self._phase_since = None
            return phases
        three = surplus_w / (3 * volts) >= MIN_AMPS
        one = surplus_w / volts >= MIN_AMPS
        want = 3 if three else 1 if one or mode == "min+solar" else phases
        if want == phases:
            self._phase_since = None
            return phases
        if self._phase_since is None:
            self._phase_since = now
        if time.ticks_diff(now, self._phase_since) >= (self.start_ms if want == 3 else self.stop_ms):
            self._phase_since = None
            return want
        return phases
