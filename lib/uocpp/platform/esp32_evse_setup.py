# The ESP32 EVSE's set-up (platform/esp32_evse.py): config.json's evse
# section -> the driver's pins, settings and per-connector state, the pilot
# states in force, and the check of how fast this board's ADC reads. It runs
# once, at boot: Esp32Evse's constructor imports this module, calls setup()
# and unloads it, so its code is not in the heap of a running charger.
# The layouts it fills are esp32_evse.py's (self._k, self._c).
from micropython import const

from uocpp.platform import esp32_evse  # its time and log: what the tests stand in for

_FREQ = const(1000)  # pilot PWM frequency, Hz
_ADC = const(1)  # esp32_evse.py's _ADC
_PILOT = const(12)  # esp32_evse.py's _PILOT


def setup(evse, cfg, hw, reader):
    # hw: the machine module (or the tests' stand-in). Returns the number
    # of connectors.
    log = esp32_evse.log
    gap = esp32_evse._gap
    Pin = hw.Pin
    IN = Pin.IN
    OUT = Pin.OUT
    # The per-connector GPIO lists; the first three are required (one
    # GPIO each, no -1).
    keys = "pilotOut pilotIn relay lockPin unlockPin lockFeedback phasePin".split()
    n = len(cfg[keys[0]])
    if not n:
        raise ValueError("evse.pilotOut lists no pin: no connector to drive")
    gpios = []
    for j, key in enumerate(keys):
        got = cfg.get(key) or []
        if not got and j > 2:
            got = [-1] * n
        if len(got) != n or (j < 3 and -1 in got):
            raise ValueError("evse.%s: needs one GPIO per connector (%d)" % (key, n))
        gpios.append(got)
    # The optional keys (cardReader, tamperPin, tamperActive) read as None.
    debounce, hysteresis, invert, plus, minus, relay_on, lock_on, fb_on, lock_mode, lock_pulse, lock_timeout, interval, card, tamper, tamper_active, faults = (
        cfg.get(key)
        for key in "debounce hysteresis pilotInvert adcPlus12 adcMinus12 relayActive lockActive lockFeedbackActive lockMode lockPulse lockTimeout pilotInterval cardReader tamperPin tamperActive faults".split()
    )
    if plus == minus:
        raise ValueError("evse.adcPlus12 and adcMinus12 are equal: calibrate them")
    pulse = lock_mode != "level"  # config/evse.py allows level or pulse
    evse._k = [
        hysteresis,
        invert,
        plus,
        minus,
        relay_on,
        lock_on,
        fb_on,
        plus > minus,
        pulse,
        int(lock_pulse * 1000),
        int(lock_timeout * 1000),
        max(1, int(interval * 1000)),
    ]

    if reader is None and card:
        reader = from_config(card, hw, evse.changed)
    evse._reader = reader

    lock_off = 1 - lock_on
    # Pilot out at 100 % from the start: no current offered. Contactors
    # open, locks released, the phase contactor off (1 phase) until
    # energy/phases.py sets it.
    steady = 0 if invert else esp32_evse.FULL
    evse._c = cs = []
    for i in range(n):
        out, adc_pin, relay, lock, unlock, fb, phase = (g[i] for g in gpios)
        adc = hw.ADC(Pin(adc_pin))
        adc.atten(hw.ADC.ATTN_11DB)  # about 0.15..2.45 V is the linear part
        if pulse and lock >= 0 and unlock < 0:
            raise ValueError("evse.unlockPin: lockMode pulse needs one for connector %d" % (i + 1))
        fb = Pin(fb, IN) if fb >= 0 else None
        cs.append(
            [
                hw.PWM(Pin(out, OUT, value=1 if steady else 0), freq=_FREQ, duty_u16=steady),
                adc,
                0.0,
                Pin(relay, OUT, value=1 - relay_on),
                False,
                Pin(lock, OUT, value=lock_off) if lock >= 0 else None,
                Pin(unlock, OUT, value=lock_off) if unlock >= 0 else None,
                fb,
                None if fb is None else esp32_evse.Debouncer(debounce, fb.value() == fb_on),
                False,
                Pin(phase, OUT, value=0) if phase >= 0 else None,
                1 if phase >= 0 else 3,
                None,
                gap(esp32_evse.FULL),
            ]
        )

    # The inputs, (pin, GPIO, active level, code, connector or 0 for
    # all, debouncer): the fault inputs, then (issue 25) the optional
    # tamper input, code None; active at start is an event too (opened
    # while the power was off).
    evse._faults = inputs = []
    for f in faults + ([{"pin": tamper, "active": tamper_active or 0, "code": None}] if tamper is not None and tamper >= 0 else []):
        pin = Pin(f["pin"], IN)
        active = f.get("active", 0)
        inputs.append((pin, f["pin"], active, f["code"], f.get("connector", 0), esp32_evse.Debouncer(debounce, pin.value() == active)))
        if f["code"] is None and inputs[-1][5].value:
            evse._tampered(f["pin"])

    # The states in force from one burst each: no change event for them.
    for i, c in enumerate(cs):
        c[_PILOT] = esp32_evse.Debouncer(debounce, evse._classify(i, None))
    log.info("evse", "ESP32: %d connector(s), pilot out GPIO %s, in GPIO %s: %s", n, gpios[0], gpios[1], "".join(c[_PILOT].value for c in cs))
    # How far apart this board's burst reads fall (the closest of 16, as
    # the burst loop reads): a burst at a current whose high phase less
    # 20 us is shorter never finds a clean window, and then only a higher
    # pilot counts: a vehicle's B to C, E and F would not be seen there.
    # Said once at start, with the lowest current that reads; 10-20 us on
    # an ESP32, so it never shows unless something slows every read.
    time = esp32_evse.time
    read, ticks_us, diff = cs[0][_ADC].read_u16, time.ticks_us, time.ticks_diff
    last = ticks_us()
    apart = 1000
    for _ in range(16):
        read()
        now = ticks_us()
        apart = min(apart, diff(now, last))
        last = now
    if apart > gap(esp32_evse.duty_u16(6)):
        amps = 6
        while amps <= 80 and gap(esp32_evse.duty_u16(amps)) < apart:
            amps += 1
        log.warning(
            "evse",
            "pilot: ADC reads are %d us apart, too far for a burst below %s: there a vehicle's B to C, E and F are not seen",
            apart,
            "%d A" % amps if amps <= 80 else "any current",
        )
    return n


def from_config(cfg, hw, changed=None):
    # The card reader evse.cardReader describes (config/evse.py checked it),
    # on the board's machine module (device/card_reader.py: the reader task
    # and its MFRC522 driver).
    from uocpp.device.card_reader import CardReader, Mfrc522

    Pin = hw.Pin
    spi = hw.SPI(cfg["spi"], baudrate=cfg["baudrate"], polarity=0, phase=0, sck=Pin(cfg["sck"]), mosi=Pin(cfg["mosi"]), miso=Pin(cfg["miso"]))
    rst = cfg["rst"]
    chip = Mfrc522(spi, Pin(cfg["cs"], Pin.OUT, value=1), Pin(rst, Pin.OUT, value=1) if rst >= 0 else None)
    return CardReader(chip, cfg["connector"], cfg["debounce"], changed)
