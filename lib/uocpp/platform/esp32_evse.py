# The ESP32 side of the EVSE seam: per connector the control pilot (PWM out,
# ADC in), the contactor relay, the socket lock and its feedback, and fault
# inputs. The unix simulator offers the same interface; the charging-session
# core drives either. The IEC 61851-1 arithmetic is device/pilot.py.
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
# 100 us; an ESP32 read takes a few tens of us, so a burst catches it. The
# reading becomes volts by the line through adcPlus12 and adcMinus12 (the
# readings at +12 V and -12 V, both measurable without a vehicle: duty 100 %
# and duty 0), then a state with hysteresis, debounced over `debounce`
# samples taken every pilotInterval (default 20 ms x 3: a state change counts
# within about 60 ms). The low phase is not checked (no diode check).
#
# fault(n): the code of the first active fault input (config order) that
# applies to connector n (its "connector" 0 = all), else from the pilot:
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

from uocpp import log
from uocpp.device import pilot

_FREQ = const(1000)  # pilot PWM frequency, Hz
_WINDOW_US = const(1100)  # one ADC burst: a little more than one PWM period
_MIN_READS = const(20)  # and at least this many reads (an ESP32 ADC read takes about 10-20 us)
_INPUT_POLL_MS = const(50)  # fault and lock-feedback inputs
_LOCK_POLL_MS = const(10)

NO_ERROR = "NoError"
PILOT_ERRORS = {"E": "EVCommunicationError", "F": "InternalError"}


class Esp32Evse:
    def __init__(self, cfg, hw=None, reader=None):
        # reader: a card reader made by the caller (tests), else the one
        # evse.cardReader describes, if any (device/card_reader.py, imported
        # only then).
        if hw is None:
            import machine as hw
        Pin = hw.Pin
        outs = cfg["pilotOut"]
        n = self.count = len(outs)
        if not n:
            raise ValueError("evse.pilotOut lists no pin: no connector to drive")

        def pins(key, required):
            got = cfg[key]
            if not got and not required:
                return [None] * n
            if len(got) != n or (required and -1 in got):
                raise ValueError("evse.%s: needs one GPIO per connector (%d)" % (key, n))
            return [p if p >= 0 else None for p in got]

        self.changed = asyncio.Event()
        if reader is None and cfg.get("cardReader"):
            from uocpp.device.card_reader import from_config

            reader = from_config(cfg["cardReader"], hw, self.changed)
        self._reader = reader
        self._n = cfg["debounce"]
        self._hysteresis = cfg["hysteresis"]
        self._interval_ms = max(1, int(cfg["pilotInterval"] * 1000))
        self._invert = cfg["pilotInvert"]
        self._plus = cfg["adcPlus12"]
        self._minus = cfg["adcMinus12"]
        if self._plus == self._minus:
            raise ValueError("evse.adcPlus12 and adcMinus12 are equal: calibrate them")
        self._rising = self._plus > self._minus

        # Pilot out at 100 % from the start: no current offered.
        steady = self._level(pilot.FULL)
        self._pwm = [hw.PWM(Pin(p, Pin.OUT, value=1 if steady else 0), freq=_FREQ, duty_u16=steady) for p in pins("pilotOut", True)]
        self._amps = [0.0] * n
        self._adc = []
        for p in pins("pilotIn", True):
            adc = hw.ADC(Pin(p))
            adc.atten(hw.ADC.ATTN_11DB)  # about 0.15..2.45 V is the linear part
            self._adc.append(adc)

        # Contactors open, locks released.
        self._relay_on = cfg["relayActive"]
        self._relay_pins = [Pin(p, Pin.OUT, value=1 - self._relay_on) for p in pins("relay", True)]
        self._relay = [False] * n
        self._pulse = cfg["lockMode"] == "pulse"
        self._lock_on = cfg["lockActive"]
        self._pulse_ms = int(cfg["lockPulse"] * 1000)
        self._lock_timeout_ms = int(cfg["lockTimeout"] * 1000)

        def outputs(key):
            return [None if p is None else Pin(p, Pin.OUT, value=1 - self._lock_on) for p in pins(key, False)]

        self._lock_pins = outputs("lockPin")
        # The phase contactor (L2, L3; energy.phaseSwitch): energized = 3
        # phases. Off at boot (1 phase, contactor open) until energy/phases.py sets it.
        self._phase_pins = [None if p is None else Pin(p, Pin.OUT, value=0) for p in (pins("phasePin", False) if cfg.get("phasePin") else [None] * n)]
        self._phases = [1 if p is not None else 3 for p in self._phase_pins]
        self._unlock_pins = outputs("unlockPin")
        if self._pulse:
            for i in range(n):
                if self._lock_pins[i] is not None and self._unlock_pins[i] is None:
                    raise ValueError("evse.unlockPin: lockMode pulse needs one for connector %d" % (i + 1))
        self._fb_on = cfg["lockFeedbackActive"]
        self._fb_pins = [None if p is None else Pin(p, Pin.IN) for p in pins("lockFeedback", False)]
        self._want = [False] * n
        self._fb = [None if fb is None else pilot.Debouncer(self._n, fb.value() == self._fb_on) for fb in self._fb_pins]

        # (pin, GPIO, active level, code, connector or 0 for all, debouncer)
        self._faults = []
        for f in cfg["faults"]:
            pin = Pin(f["pin"], Pin.IN)
            active = f.get("active", 0)
            self._faults.append((pin, f["pin"], active, f["code"], f.get("connector", 0), pilot.Debouncer(self._n, pin.value() == active)))

        # issue 25: the optional tamper input (GPIO, active level, debouncer);
        # active at start is an event too (opened while the power was off).
        t = cfg.get("tamperPin", -1)
        self._tamper = None
        if t >= 0:
            pin = Pin(t, Pin.IN)
            active = cfg.get("tamperActive", 0)
            self._tamper = (pin, t, active, pilot.Debouncer(self._n, pin.value() == active))
            if self._tamper[3].value:
                _tampered(t)

        # The states in force from one burst each: no change event for them.
        self._pilot = [pilot.Debouncer(self._n, self._classify(i, None)) for i in range(n)]
        log.info("evse", "ESP32: %d connector(s), pilot out GPIO %s, in GPIO %s: %s", n, outs, cfg["pilotIn"], "".join(d.value for d in self._pilot))

    # -- the seam ------------------------------------------------------------------
    def pilot(self, n):
        return self._pilot[self._index(n)].value

    def fault(self, n):
        i = self._index(n)
        for _, _, _, code, connector, seen in self._faults:
            if seen.value and (connector == 0 or connector == n):
                return code
        return PILOT_ERRORS.get(self._pilot[i].value, NO_ERROR)

    def set_offered(self, n, amps):
        i = self._index(n)
        self._pwm[i].duty_u16(self._level(pilot.duty_u16(amps)))
        self._amps[i] = float(pilot.offered(amps))

    def offered(self, n):
        return self._amps[self._index(n)]

    def set_relay(self, n, closed):
        i = self._index(n)
        closed = bool(closed)
        self._relay_pins[i].value(self._relay_on if closed else 1 - self._relay_on)
        self._relay[i] = closed

    def relay(self, n):
        return self._relay[self._index(n)]

    def set_phases(self, n, phases):
        i = self._index(n)
        pin = self._phase_pins[i]
        if pin is not None and not self._relay[i]:  # never under load
            pin.value(1 if phases == 3 else 0)
            self._phases[i] = phases

    def phases(self, n):
        return self._phases[self._index(n)]

    def lock(self, n, locked):
        i = self._index(n)
        locked = bool(locked)
        self._want[i] = locked
        pin = self._lock_pins[i]
        if pin is None:
            return True  # no actuator on this connector (a tethered cable)
        start = time.ticks_ms()
        on = self._lock_on
        if self._pulse:
            drive = pin if locked else self._unlock_pins[i]
            drive.value(on)
            time.sleep_ms(self._pulse_ms)
            drive.value(1 - on)
        else:
            pin.value(on if locked else 1 - on)
        fb = self._fb_pins[i]
        if fb is None:
            return True  # nothing to ask: assume it moved
        while (fb.value() == self._fb_on) != locked:
            if time.ticks_diff(time.ticks_ms(), start) >= self._lock_timeout_ms:
                log.warning("evse", "connector %d: lock did not reach %s within %d ms", n, "locked" if locked else "unlocked", self._lock_timeout_ms)
                return False
            time.sleep_ms(_LOCK_POLL_MS)
        return True

    def locked(self, n):
        i = self._index(n)
        fb = self._fb_pins[i]
        if fb is None:
            return self._want[i]
        return fb.value() == self._fb_on

    def take_card(self):
        reader = self._reader
        return None if reader is None else reader.take_card()

    async def run(self, firmware):
        # The sampling task: pilots every pilotInterval, the other inputs every
        # 50 ms; `changed` is set when any debounced input changed. The card
        # reader's poll loop runs beside it, and ends with it (a stopped app).
        reader = self._reader
        cards = asyncio.create_task(reader.run()) if reader is not None else None
        every = max(1, _INPUT_POLL_MS // self._interval_ms)
        tick = 0
        try:
            while True:
                changed = self._sample_pilots()
                tick += 1
                if tick >= every:
                    tick = 0
                    changed = self._poll_inputs() or changed
                if changed:
                    self.changed.set()
                await asyncio.sleep_ms(self._interval_ms)
        finally:
            if cards is not None:
                cards.cancel()

    # -- inside ----------------------------------------------------------------------
    def _index(self, n):
        if type(n) is not int or not 1 <= n <= self.count:
            raise ValueError("connector %r: this EVSE has 1 to %d" % (n, self.count))
        return n - 1

    def _level(self, u16):
        return pilot.FULL - u16 if self._invert else u16

    def _burst(self, i):
        # The pilot's high phase: the extreme of ADC reads over one PWM period.
        read = self._adc[i].read_u16
        ticks_us = time.ticks_us
        diff = time.ticks_diff
        # At least _MIN_READS reads as well: a burst the scheduler (Wi-Fi's
        # task, a busy host) cut into may otherwise see only the low phase.
        start = ticks_us()
        best = read()
        n = 1
        if self._rising:
            while n < _MIN_READS or diff(ticks_us(), start) < _WINDOW_US:
                v = read()
                n += 1
                if v > best:
                    best = v
        else:
            while n < _MIN_READS or diff(ticks_us(), start) < _WINDOW_US:
                v = read()
                n += 1
                if v < best:
                    best = v
        return best

    def _classify(self, i, current):
        return pilot.state(pilot.volts(self._burst(i), self._plus, self._minus), current, self._hysteresis)

    def _sample_pilots(self):
        changed = False
        for i in range(self.count):
            seen = self._pilot[i]
            before = seen.value
            if seen.feed(self._classify(i, before)):
                log.info("evse", "connector %d: pilot %s -> %s", i + 1, before, seen.value)
                changed = True
        return changed

    def _poll_inputs(self):
        changed = False
        for pin, gpio, active, code, connector, seen in self._faults:
            if seen.feed(pin.value() == active):
                log.warning("evse", "fault input GPIO %d (%s, connector %d): %s", gpio, code, connector, "active" if seen.value else "cleared")
                changed = True
        for i in range(self.count):
            fb = self._fb_pins[i]
            if fb is not None and self._fb[i].feed(fb.value() == self._fb_on):
                changed = True
        t = self._tamper
        if t is not None and t[3].feed(t[0].value() == t[2]) and t[3].value:
            _tampered(t[1])
        return changed


def _tampered(gpio):
    from uocpp import security_event

    security_event.report("TamperDetectionActivated", "tamper input GPIO %d" % gpio)
