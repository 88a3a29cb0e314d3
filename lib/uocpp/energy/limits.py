# The minimum rule, pure: each source's limit (A per phase, None = does not
# limit) -> the offer and the source that decides it. Kept apart from the
# manager so that the rule is tested on its own (tests/unit/unit_energy.py).
import time

from micropython import const

# The sources, in the order a tie is named in (the first one wins).
SOURCES = ("hardware", "ocpp", "local", "load", "solar", "switch")
HARDWARE = const(0)
OCPP = const(1)
LOCAL = const(2)
LOAD = const(3)
SOLAR = const(4)
SWITCH = const(5)  # 0 while the phases are switched, else None

MIN_AMPS = 6  # IEC 61851-1: the least a pilot may offer
MODES = ("fast", "solar", "min+solar")  # the charging modes (solar.py); config/energy.py checks the same


def effective(limits):
    # -> (amps, index of the deciding source); the hardware is never None.
    best, who = limits[HARDWARE], HARDWARE
    for i in range(1, len(limits)):
        v = limits[i]
        if v is not None and v < best:
            best, who = v, i
    return best, who


def floor_tenth(amps):
    # A computed limit, down to 0.1 A (never up: a limit is a ceiling); the
    # pilot's resolution is about that, and a jittering reading does not
    # change the offer at every sample.
    return int(amps * 10) / 10 if amps > 0 else 0


class Pause:
    # Pause and resume with hysteresis: paused at once when the offer falls
    # below 6 A; resumed only once it has stayed at 6 A + hysteresis for
    # delay_ms (SmartEVSE and OpenEVSE resume the same way: a threshold above
    # the stop, held for a while).
    def __init__(self, hysteresis, delay_ms):
        self.hysteresis = hysteresis
        self.delay_ms = delay_ms
        self.paused = False
        self.since = None  # ms when the offer first stood high enough while paused

    def step(self, amps, now, who=LOCAL):
        # -> True while paused. now: a ticks_ms value (compared by ticks_diff).
        # who: the deciding source. A fixed ceiling (the hardware's, the
        # central system's schedule) of 6 A would never reach 6 A +
        # hysteresis, and the pause would never end: 6 A resumes there.
        if amps < MIN_AMPS:
            self.paused, self.since = True, None
        elif self.paused:
            if amps < MIN_AMPS + (self.hysteresis if who >= LOCAL else 0):
                self.since = None
            elif self.since is None:
                self.since = now
            if self.since is not None and time.ticks_diff(now, self.since) >= self.delay_ms:
                self.paused, self.since = False, None
        return self.paused

    def resume_in(self, now):
        # ms until step() may resume, or None when nothing is pending.
        if not self.paused or self.since is None:
            return None
        return max(0, self.delay_ms - time.ticks_diff(now, self.since))

    def release(self):
        # A pause of our own making (a phase switch) ends without the delay.
        self.paused, self.since = False, None
