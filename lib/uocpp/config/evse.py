# config.json's "evse" section: the ESP32 EVSE hardware (platform/
# esp32_evse.py), pin lists per connector. Empty pilotOut = no EVSE pins
# (the unix port, a bare board). Checked with the rest of config.json by
# settings.py (the table's format is there; rules 9 to 11 are validate() here)
# and unloaded with it after boot. Keys and rules are data here too: a key
# spelled out in code would be an interned name for ever (settings.py).
TABLE = """[evse]
pilotOut array _ 9
pilotIn array _ 9
pilotInvert boolean false _
adcPlus12 integer 57600 0:65535
adcMinus12 integer 5000 0:65535
pilotInterval number 0.02 0.005:1
debounce integer 3 1:20
hysteresis number 0.25 0:1
relay array _ 9
relayActive integer 1 0:1
lockMode string level level,pulse
lockPin array _ 9
phasePin array _ 9
unlockPin array _ 9
lockActive integer 1 0:1
lockPulse number 0.3 0.01:5
lockFeedback array _ 9
lockFeedbackActive integer 1 0:1
lockTimeout number 1 0.05:10
faults array _ 10
tamperPin integer -1 -1:48
tamperActive integer 0 0:1
cardReader object None 11
"""
# Notes: one GPIO per connector in each list, connector 1 first; -1 = not
# fitted on that one. phasePin: energy.phaseSwitch, the GPIO of each
# connector's phase contactor (energized = 3 phases). faults: [{"pin":
# GPIO, "code": ChargePointErrorCode, "active": 0|1, "connector": 0..8},
# ...]. tamperPin: an optional tamper input (an enclosure switch), -1 none:
# its activation is the security event TamperDetectionActivated (issue 25).


def validate(index, value, fill=False):
    # The table's rules 9 (a GPIO list), 10 (faults), 11 (cardReader): -> the
    # problem, naming the key inside the value, or None. fill (rule 11, once
    # every key passed): fills the reader's defaults into value instead.
    if index == 9:
        for pin in value:
            if type(pin) is not int or not -1 <= pin <= 48:
                return "must list GPIO numbers (0 to 48, or -1 for none)"
        return None
    if index == 10:
        names = "pin code active connector".split()
        for f in value:
            if not isinstance(f, dict):
                return "each entry must be an object with pin and code"
            for key in f:
                if key not in names:
                    return "unknown key %s in an entry (known: pin, code, active, connector)" % key
            pin, active, connector = f.get(names[0]), f.get(names[2], 0), f.get(names[3], 0)
            if type(pin) is not int or not 0 <= pin <= 48:
                return "pin must be a GPIO number (0 to 48)"
            # The ChargePointErrorCodes a fault input may raise (all but NoError).
            codes = """ConnectorLockFailure EVCommunicationError GroundFailure HighTemperature InternalError
                LocalListConflict OtherError OverCurrentFailure OverVoltage PowerMeterFailure
                PowerSwitchFailure ReaderFailure ResetFailure UnderVoltage WeakSignal"""
            if f.get(names[1]) not in codes.split():
                return "code must be a ChargePointErrorCode other than NoError"
            if type(active) is not int or active not in (0, 1):
                return "active must be 0 or 1 (the level that means the fault)"
            if type(connector) is not int or not 0 <= connector <= 8:
                return "connector must be 0 (all) to 8"
        return None
    # evse.cardReader: the RFID reader (device/card_reader.py), absent =
    # none. A line per key: key default rule (min:max for an integer, else
    # the allowed strings); * = required. The pins default to the common
    # VSPI wiring of an RC522 module (SDA/CS 5, SCK 18, MOSI 23, MISO 19,
    # RST 22); sck to rst (lines 3 to 7) are GPIOs that must differ. spi: the
    # ESP32's SPI bus, 1 = HSPI, 2 = VSPI; rst -1: NRSTPD tied high on the
    # module, soft reset only; baudrate: the chip takes up to 10 Mbit/s, 1 MHz
    # suits a cable to a front panel; debounce: ms a card must be away before
    # it counts again. (A local constant: a global would be a name.)
    lines = [
        line.split()
        for line in """type * mfrc522
            spi 2 1:2
            sck 18 0:48
            mosi 23 0:48
            miso 19 0:48
            cs 5 0:48
            rst 22 -1:48
            baudrate 1000000 100000:10000000
            connector 1 1:8
            debounce 1000 100:60000""".split("\n")
    ]
    if fill:
        for key, default, _ in lines:
            if default != "*":
                value.setdefault(key, int(default))
        return None
    # The first problem (the defaults are filled in a copy by check(): the
    # setup form writes the document back as given).
    for key in value:
        if key not in [f[0] for f in lines]:
            return "unknown key %s (known: %s)" % (key, ", ".join(f[0] for f in lines))
    used = []
    for n, (key, default, text) in enumerate(lines):
        if key not in value:
            if default == "*":
                return "%s is required" % key
            got = int(default)
        else:
            got = value[key]
            if ":" not in text:
                if got not in text.split(","):
                    return "%s must be one of %s" % (key, ", ".join(text.split(",")))
            else:
                low, high = [int(x) for x in text.split(":")]
                if type(got) is not int or not low <= got <= high:
                    return "%s must be an integer between %d and %d" % (key, low, high)
        if 2 <= n <= 6 and got >= 0:
            if got in used:
                return "GPIO %d is used twice (sck, mosi, miso, cs, rst must differ)" % got
            used.append(got)
    return None


def check(values, count):
    # The rules across keys, once every key passed: once pins are given
    # (pilotOut not empty), every per-connector list has one entry per
    # connector, and the calibration can be used. Fills in the card reader's
    # defaults. -> [problem, ...]
    out = []
    # The keys as the table spells them (spelled out, each would be a name).
    names = "pilotOut lockPin unlockPin lockMode adcPlus12 adcMinus12 faults cardReader".split()
    pilot, lock, unlock, mode, plus, minus, faults, reader = [values[k] for k in names]
    if reader is not None:
        values[names[7]] = reader = dict(reader)
        validate(11, reader, True)
        if reader["connector"] > count:
            out.append("evse.cardReader: connector %d does not exist (connectors.count is %d)" % (reader["connector"], count))
    if not pilot:
        try:
            import esp32  # noqa: F401 (the ESP32 port: platform/esp32_evse.py refuses no pins at every start)

            out.append("evse.pilotOut: required on an ESP32 board (one GPIO per connector): it has no EVSE without its pins")
        except ImportError:
            pass
        return out
    for key in "pilotOut pilotIn relay".split():
        if len(values[key]) != count or -1 in values[key]:
            out.append("evse.%s: needs one GPIO per connector (connectors.count is %d)" % (key, count))
    for key in "lockPin unlockPin lockFeedback phasePin".split():
        if values[key] and len(values[key]) != count:
            out.append("evse.%s: must be empty or have one entry per connector (%d; -1 = none)" % (key, count))
    if mode != "level":  # pulse
        for i, pin in enumerate(lock):
            if pin >= 0 and (i >= len(unlock) or unlock[i] < 0):
                out.append("evse.unlockPin: lockMode pulse needs one for connector %d" % (i + 1))
    if abs(plus - minus) < 1000:
        out.append("evse.adcPlus12, evse.adcMinus12: must differ by at least 1000 (calibrate them)")
    # A GPIO an output drives has no other use: a lock pin that is the
    # relay's too would close the contactor whenever the socket locks.
    # (The keys cut from a text: spelled out, each would be a name for ever.)
    keys = "pilotOut relay lockPin unlockPin phasePin pilotIn lockFeedback tamperPin pin".split()
    outs = []
    for key in keys[:5]:
        outs.extend(values[key])
    pins = outs + [values[keys[7]]] + [f[keys[8]] for f in faults]
    for key in keys[5:7]:
        pins.extend(values[key])
    if reader is not None:
        pins += [reader[k] for k in "sck mosi miso cs rst".split()]
    for pin in sorted(set(outs)):
        if pin >= 0 and pins.count(pin) > 1:
            out.append("evse: GPIO %d drives an output and has another use too (each output needs a GPIO of its own)" % pin)
    for f in faults:
        if f.get("connector", 0) > count:
            out.append("evse.faults: connector %d does not exist (connectors.count is %d)" % (f["connector"], count))
    return out
