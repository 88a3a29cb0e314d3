# The IEC 61851-1 control pilot, pure: offered current <-> PWM duty cycle,
# pilot voltage -> state A..F, and a debouncer. No hardware here: the ESP32
# driver (platform/esp32_evse.py) and the unix simulator both use it.
#
# Sources, in our own words: IEC 61851-1 Annex A (the pilot function; its
# tables are not numbered here, as we could not check the numbering of the
# edition in force). The EVSE's duty cycle for an offered current: 6..51 A
# -> A / 0.6 %, 51..80 A -> A / 2.5 + 64 %; 100 % (a steady +12 V) = no
# charging allowed; 5 % = digital communication required (never produced
# here). How a vehicle reads it back (the standard's vehicle-side table, as
# the Fluke FEV300 tester manual tabulates it): below 8 % no current,
# 8..10 % 6 A, 10..85 % duty x 0.6, 85..96 % (duty - 64) x 2.5, 96..97 %
# 80 A, above 97 % no current. The system states by the positive pilot
# level: A 12 V, B 9 V, C 6 V, D 3 V, E 0 V, F -12 V, each +-1 V once
# settled (as the Siemens TM ECC and Phoenix Contact EV Charge Control
# manuals restate the standard's table).
#
# Between 51 and 52.5 A the two formulas meet badly: A / 2.5 + 64 is below
# 85 %, which a vehicle reads with x 0.6, so it draws 50.6..51 A. That is
# the standard's own table (on the safe side); offered() still reports the
# current asked for.
#
# Integer arithmetic on purpose: the ESP32 port has single-precision floats
# and small ints up to 2**30; every product below stays under that.
from micropython import const

_MIN_AMPS = const(6)
_MAX_AMPS = const(80)
FULL = const(65535)  # duty_u16 of 100 %: steady +12 V, no current offered


def offered(amps):
    # The current a request ends up signalling: 0 below 6 A (or None, NaN,
    # negative), at most 80 A.
    if amps is None or not amps >= _MIN_AMPS:
        return 0
    return min(amps, _MAX_AMPS)


def duty_u16(amps):
    # Offered current -> ESP32 PWM duty_u16 (0..65535), rounded down so the
    # vehicle is never told more than the charger offers.
    amps = offered(amps)
    if not amps:
        return FULL
    # Whole centiamperes, rounded down (never signal more than was asked);
    # the small allowance keeps 16.1 A from becoming 16.09 A in single precision.
    ca = int(amps * 100 + 0.01)
    if ca <= 5100:
        return ca * 13107 // 1200  # (A / 0.6) % of 65535
    return (ca + 16000) * 13107 // 5000  # (A / 2.5 + 64) % of 65535


def volts(raw, raw_plus12, raw_minus12):
    # An ADC reading -> pilot volts, by the straight line through the two
    # calibration readings (at +12 V and at -12 V; either may be the larger).
    return (raw - raw_minus12) * 24 / (raw_plus12 - raw_minus12) - 12


def state(v, current=None, hysteresis=0.0):
    # Pilot volts (high phase) -> "A".."F". With the state in force and a
    # hysteresis, a level that strayed less than that past an edge keeps it.
    # Positive pilot level -> state, from the top: the band edges are midway
    # between nominal levels (A 10.5 V, B 7.5, C 4.5, D 1.5: 10.5 - 3 i), 0.5 V
    # outside the standard's +-1 V; E from -1.5 V. Between E and F (-10.5 ..
    # -1.5 V) no state is defined: it reads as E, an error.
    h = hysteresis
    if current and h:
        i = ord(current[0]) - 65  # "A".."D" -> 0..3 (no "ABCD": a str that short is an interned name)
        if 0 <= i < 4:
            if 10.5 - 3 * i - h < v <= (99.0 if i == 0 else 13.5 - 3 * i) + h:
                return current
        elif current == "E":
            if -1.5 - h <= v <= 1.5 + h:
                return current
        elif current == "F" and v < -10.5 + h:
            return current
    for i in range(4):
        if v > 10.5 - 3 * i:
            return chr(65 + i)
    if v >= -1.5:
        return "E"
    return "F" if v < -10.5 else "E"  # below -10.5 V: F; else invalid -> E


class Debouncer:
    # The value in force ends once n samples in a row are not it; anything
    # shorter is a glitch. Samples that differ among themselves too (a pilot
    # flickering between B, E and F) must still end a C, or the contactor
    # would stay closed. The new value is the one seen most often among
    # those n (the newest of equals): a flicker ends at its newest level, a
    # single glitch at a clean change (B B E) does not become the value.
    # feed() returns True when the value in force changed. Allocates nothing
    # (it runs in the sampling loop).
    def __init__(self, n, value=None):
        self.n = n
        self.value = value
        self._run = [None] * n  # the samples since the value was last seen
        self._seen = 0

    def feed(self, sample):
        if sample == self.value:
            self._seen = 0
            return False
        run = self._run
        run[self._seen] = sample
        self._seen += 1
        if self._seen < self.n:
            return False
        best = most = 0
        for s in run:
            k = 0
            for t in run:
                k += t == s
            if k >= most:
                best, most = s, k
        self.value = best
        self._seen = 0
        return True
