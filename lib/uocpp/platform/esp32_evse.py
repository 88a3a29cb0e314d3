# The ESP32 side of the EVSE seam: per connector the control pilot (PWM out,
# ADC in), the contactor relay, the socket lock and its feedback, and fault
# inputs. The unix simulator offers the same interface; the charging-session
# core drives either. The IEC 61851-1 arithmetic is below the driver's
# constants.
#
# Connectors are numbered as in OCPP, 1..count; count is the length of
# evse.pilotOut, and every per-connector pin list is in that order (-1: not
# fitted on that connector). `machine` is imported only here (and esp32.py);
# tests hand in a stand-in as hw. The calls below are the EVSE
# protocol of platform/seam.py.
#
# Pilot out: 1 kHz PWM through the board's +-12 V driver. 100 % (no current
# offered) is duty_u16(65535); MicroPython's ESP32 PWM caps the channel duty
# at 2**resolution - 1, so that leaves one timer tick (about 15 ns at 1 kHz)
# low per period, far shorter than a pilot driver can follow: a steady
# +12 V on the pilot. With pilotInvert (an inverting driver stage) it is
# duty 0, exactly steady.
#
# Pilot in: MicroPython cannot start the ADC at the PWM's high phase, so each
# sample is a burst of ADC reads spanning a little more than one PWM period
# (1.1 ms); the high phase is the largest reading (the smallest, when the
# calibration says the front-end inverts). At 10 % duty the high phase lasts
# 100 us; an ESP32 read takes 10-20 us, so reads closer together than the
# high phase (less 20 us) cannot step over it. A burst that something cut
# into (a task of higher priority, Wi-Fi's, a busy host) has a longer gap:
# its window starts again after the gap. A burst that finds no window
# without one within 5 ms counts only if it reads a higher pilot than the
# state in force (a vehicle unplugged: no missed high phase reads higher);
# else that state stands, so a missed high phase never reads as a lower
# state, E or F. Reads farther apart than that at 6 A are said at start
# (a warning naming the lowest current that reads); at boot, with no state
# in force, the first burst takes what it read after 5 ms. The reading
# becomes volts by the line through adcPlus12 and adcMinus12 (the
# readings at +12 V and -12 V, both measurable without a vehicle: duty 100 %
# and duty 0), then a state with hysteresis, debounced over `debounce`
# samples taken every pilotInterval (default 20 ms x 3: a state change counts
# within about 60 ms). The low phase is not checked (no diode check).
#
# fault(n): the code of the first active fault input (config order) that
# applies to connector n (its "connector" 0 = all), else ConnectorLockFailure
# while a lock meant locked has debounced feedback of unlocked, else from the pilot:
# E (0 V or out of range: CP shorted to PE, a missing vehicle diode side,
# a broken pilot) -> "EVCommunicationError", which OCPP 1.6 defines as a
# Mode 3 failure with the vehicle; F (a high phase at -12 V while we drive
# +12 V: our own pilot generator has failed) -> "InternalError".
#
# lock() blocks: it drives the actuator (a level, or a pulse of lockPulse on
# the lock or unlock pin) and then polls the feedback pin every 10 ms for up
# to lockTimeout from the start. The seam makes it a plain call; keep
# lockTimeout short (the default 1 s stalls the loop at most that long).
#
# take_card(): the oldest (connector, idTag) the card reader produced, or
# None; with no reader (no evse.cardReader), always None. The reader has the
# card-reader protocol (platform/seam.py): take_card(), and run(), its poll
# loop, which this EVSE's run() starts beside its sampling and which sets
# this EVSE's `changed` when a card is ready for the sessions.
#
# run(firmware): the same signature as the simulator's (platform/seam.py),
# because app.py starts every EVSE the same way. A board has no line
# protocol, so the firmware object is not used here.
import asyncio
import time

from micropython import const

from uocpp import log, unload

_WINDOW_US = const(1100)  # one ADC burst: a little more than one PWM period
_BURST_US = const(5000)  # the longest a burst tries for a window without a gap
_INPUT_POLL_MS = const(50)  # fault and lock-feedback inputs
_LOCK_POLL_MS = const(10)

# Heap and interned names (docs/memory.md): every attribute, argument and
# short str constant of a loaded module is a name for ever, so the state is
# two lists indexed by constants rather than one attribute each, and the
# config keys are read through space-separated strings (not names).
# Per connector, self._c[i] (esp32_evse_setup.py builds it in this order):
_PWM = const(0)  # pilot out
_ADC = const(1)  # pilot in
_AMPS = const(2)  # offered current
_RELAY_PIN = const(3)
_RELAY = const(4)  # closed?
_LOCK_PIN = const(5)  # None: no actuator (a tethered cable)
_UNLOCK_PIN = const(6)  # pulse mode's second coil
_FB_PIN = const(7)  # lock feedback input, or None
_FB = const(8)  # its debouncer
_WANT = const(9)  # the lock state asked for
_PHASE_PIN = const(10)  # the L2/L3 contactor, or None
_PHASES = const(11)
_PILOT = const(12)  # the pilot state's debouncer
_GAP = const(13)  # the longest gap between a burst's reads, us: the high phase less 20
# The settings, self._k, in the order esp32_evse_setup.py lists them:
_HYSTERESIS = const(0)
_INVERT = const(1)
_PLUS = const(2)
_MINUS = const(3)
_RELAY_ON = const(4)
_LOCK_ON = const(5)
_FB_ON = const(6)
_RISING = const(7)  # adcPlus12 > adcMinus12
_PULSE = const(8)  # lockMode "pulse"
_PULSE_MS = const(9)
_LOCK_TIMEOUT_MS = const(10)
_INTERVAL_MS = const(11)  # pilotInterval


# -- the control pilot ------------------------------------------------------------
# The IEC 61851-1 control pilot, pure: offered current <-> PWM duty cycle,
# pilot voltage -> state A..F, and a debouncer. No hardware here (the unit
# tests reach every branch); in this module, its one user, rather than one
# of its own: each module interns its path and dotted name for ever.
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


# -- the driver --------------------------------------------------------------------
def _gap(u16):
    # The longest gap allowed between a burst's reads at this duty_u16: its
    # high phase, in us of the 1,000 us period, less 20 us.
    return u16 // 66 - 20


class Esp32Evse:
    def __init__(self, cfg, hw=None, reader=None):
        # reader: a card reader made by the caller (tests), else the one
        # evse.cardReader describes, if any (device/card_reader.py, imported
        # only then). The set-up runs once, at boot: its code is a module of
        # its own that leaves the heap once it has run (docs/memory.md).
        if hw is None:
            import machine as hw
        self.changed = asyncio.Event()
        from uocpp.platform import esp32_evse_setup

        try:
            self.count = esp32_evse_setup.setup(self, cfg, hw, reader)
        finally:
            unload("uocpp.platform.esp32_evse_setup")

    # -- the seam ------------------------------------------------------------------
    def pilot(self, n):
        return self._index(n)[_PILOT].value

    def fault(self, n):
        c = self._index(n)
        for f in self._faults:
            if f[3] and f[5].value and (f[4] == 0 or f[4] == n):
                return f[3]
        # A lock meant to be locked whose feedback says it is not (the bolt
        # forced back, an actuator failing during a charge): the plug may come
        # out under load.
        fb = c[_FB]
        if fb is not None and c[_WANT] and c[_LOCK_PIN] is not None and not fb.value:
            return "ConnectorLockFailure"
        # From the pilot: E (0 V or out of range) and F (a high phase at
        # -12 V: our own pilot generator failed), see the top.
        level = c[_PILOT].value
        return "EVCommunicationError" if level == "E" else "InternalError" if level == "F" else "NoError"

    def set_offered(self, n, amps):
        c = self._index(n)
        u16 = duty_u16(amps)
        c[_PWM].duty_u16(FULL - u16 if self._k[_INVERT] else u16)
        c[_GAP] = _gap(u16)  # once here: no float per sample; before the float, which may find no heap
        c[_AMPS] = float(offered(amps))

    def offered(self, n):
        return self._index(n)[_AMPS]

    def set_relay(self, n, closed):
        c = self._index(n)
        closed = bool(closed)
        on = self._k[_RELAY_ON]
        c[_RELAY_PIN].value(on if closed else 1 - on)
        c[_RELAY] = closed

    def relay(self, n):
        return self._index(n)[_RELAY]

    def set_phases(self, n, phases):
        c = self._index(n)
        pin = c[_PHASE_PIN]
        if pin is not None and not c[_RELAY]:  # never under load
            pin.value(1 if phases == 3 else 0)
            c[_PHASES] = phases

    def phases(self, n):
        return self._index(n)[_PHASES]

    def lock(self, n, locked):
        c = self._index(n)
        k = self._k
        locked = bool(locked)
        c[_WANT] = locked
        pin = c[_LOCK_PIN]
        if pin is None:
            return None  # no lock on this connector (a tethered cable): UnlockConnector NotSupported
        start = time.ticks_ms()
        on = k[_LOCK_ON]
        if k[_PULSE]:
            drive = pin if locked else c[_UNLOCK_PIN]
            drive.value(on)
            time.sleep_ms(k[_PULSE_MS])
            drive.value(1 - on)
        else:
            pin.value(on if locked else 1 - on)
        fb = c[_FB_PIN]
        if fb is None:
            return True  # nothing to ask: assume it moved
        while (fb.value() == k[_FB_ON]) != locked:
            if time.ticks_diff(time.ticks_ms(), start) >= k[_LOCK_TIMEOUT_MS]:
                log.warning("evse", "connector %d: lock did not reach %s within %d ms", n, "locked" if locked else "unlocked", k[_LOCK_TIMEOUT_MS])
                return False
            time.sleep_ms(_LOCK_POLL_MS)
        c[_FB].value = locked  # the debounced feedback agrees from now (fault())
        return True

    def locked(self, n):
        c = self._index(n)
        fb = c[_FB_PIN]
        if fb is None:
            return c[_WANT]
        return fb.value() == self._k[_FB_ON]

    def take_card(self):
        reader = self._reader
        return None if reader is None else reader.take_card()

    async def run(self, firmware):
        # The sampling task: pilots every pilotInterval, the other inputs every
        # 50 ms; `changed` is set when any debounced input changed. The card
        # reader's poll loop runs beside it, and ends with it (a stopped app).
        reader = self._reader
        cards = asyncio.create_task(reader.run()) if reader is not None else None
        ms = self._k[_INTERVAL_MS]
        every = max(1, _INPUT_POLL_MS // ms)
        tick = 0
        try:
            while True:
                # A MemoryError (a reading that found no heap) skips that
                # sample, never the sampling, and never the fault inputs'
                # reading: each has its own net, the session task is woken
                # to look again, and the next sample comes on time.
                tick += 1
                try:
                    changed = self._sample_pilots()
                except MemoryError:
                    changed = True
                if tick >= every:
                    tick = 0
                    try:
                        changed = self._poll_inputs() or changed
                    except MemoryError:
                        changed = True
                if changed:
                    self.changed.set()
                await asyncio.sleep_ms(ms)
        finally:
            if cards is not None:
                cards.cancel()

    # -- inside ----------------------------------------------------------------------
    def _index(self, n):
        # Connector n's state list; a bad n is the caller's bug.
        if type(n) is not int or not 1 <= n <= self.count:
            raise ValueError("connector %r: this EVSE has 1 to %d" % (n, self.count))
        return self._c[n - 1]

    def _classify(self, i, current):
        # The pilot's high phase: the extreme of ADC reads over one PWM period
        # with no gap longer than the high phase less 20 us (see the top), as
        # a state with hysteresis around `current`. No such window within
        # _BURST_US: only a higher state than `current` counts (at boot, with
        # no state yet, what it read; a missed high phase reads lower, E or
        # F at worst, which holds the connector).
        k = self._k
        c = self._c[i]
        read = c[_ADC].read_u16
        ticks_us = time.ticks_us
        diff = time.ticks_diff
        gap = c[_GAP]
        sign = 1 if k[_RISING] else -1  # through an inverting front end: the smallest
        first = start = last = ticks_us()
        best = sign * read()
        clean = True
        while diff(last, start) < _WINDOW_US:
            v = sign * read()
            now = ticks_us()
            if v > best:
                best = v
            if diff(now, last) > gap:
                if diff(now, first) > _BURST_US:
                    clean = False
                    break
                start = now
            last = now
        seen = state(volts(sign * best, k[_PLUS], k[_MINUS]), current, k[_HYSTERESIS])
        return seen if clean or current is None or seen < current else current

    def _sample_pilots(self):
        changed = False
        for i in range(len(self._c)):  # (no enumerate object: a sample allocates nothing of its own)
            seen = self._c[i][_PILOT]
            before = seen.value
            try:
                got = self._classify(i, before)
            except OSError:
                # An ADC read that fails (ESP_ERR_TIMEOUT: an ADC2 GPIO once
                # Wi-Fi runs): the pilot is not known, which is our own fault
                # (F: InternalError, the relay opens), never the state before
                # held while nobody reads the vehicle.
                got = "F"
            if seen.feed(got):
                log.info("evse", "connector %d: pilot %s -> %s", i + 1, before, seen.value)
                changed = True
        return changed

    def _poll_inputs(self):
        changed = False
        for pin, gpio, active, code, connector, seen in self._faults:
            if not seen.feed(pin.value() == active):
                continue
            if code is None:  # the tamper input: an event when it opens
                if seen.value:
                    self._tampered(gpio)
                continue
            log.warning("evse", "fault input GPIO %d (%s, connector %d): %s", gpio, code, connector, "active" if seen.value else "no longer active")
            changed = True
        on = self._k[_FB_ON]
        for c in self._c:
            fb = c[_FB_PIN]
            if fb is not None and c[_FB].feed(fb.value() == on):
                changed = True
        return changed

    def _tampered(self, gpio):
        from uocpp import security_event

        security_event.report("TamperDetectionActivated", "tamper input GPIO %d" % gpio)
