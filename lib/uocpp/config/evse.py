# config.json's "evse" section: the ESP32 EVSE hardware (platform/
# esp32_evse.py), pin lists per connector. Empty pilotOut = no EVSE pins
# (the unix port, a bare board). Checked with the rest of config.json by
# settings.py and unloaded with it after boot.
_ERROR_CODES = (
    "ConnectorLockFailure", "EVCommunicationError", "GroundFailure", "HighTemperature", "InternalError",
    "LocalListConflict", "OtherError", "OverCurrentFailure", "OverVoltage", "PowerMeterFailure",
    "PowerSwitchFailure", "ReaderFailure", "ResetFailure", "UnderVoltage", "WeakSignal",
)


def _gpios(value):
    # One GPIO per connector, connector 1 first; -1 = not fitted on that one.
    for pin in value:
        if type(pin) is not int or not -1 <= pin <= 48:
            return "must list GPIO numbers (0 to 48, or -1 for none)"
    return None


def _faults(value):
    # [{"pin": GPIO, "code": ChargePointErrorCode, "active": 0|1, "connector": 0..8}, ...]
    for f in value:
        if not isinstance(f, dict):
            return "each entry must be an object with pin and code"
        for key in f:
            if key not in ("pin", "code", "active", "connector"):
                return "unknown key %s in an entry (known: pin, code, active, connector)" % key
        pin, active, connector = f.get("pin"), f.get("active", 0), f.get("connector", 0)
        if type(pin) is not int or not 0 <= pin <= 48:
            return "pin must be a GPIO number (0 to 48)"
        if f.get("code") not in _ERROR_CODES:
            return "code must be a ChargePointErrorCode other than NoError"
        if type(active) is not int or active not in (0, 1):
            return "active must be 0 or 1 (the level that means the fault)"
        if type(connector) is not int or not 0 <= connector <= 8:
            return "connector must be 0 (all) to 8"
    return None


# evse.cardReader: the RFID reader (device/card_reader.py), absent = none.
# key -> (default, rule): a (min, max) for integers or a tuple of strings;
# REQUIRED has no default. The pins default to the common VSPI wiring of
# an RC522 module (SDA/CS 5, SCK 18, MOSI 23, MISO 19, RST 22).
_REQUIRED = None
_READER = (
    ("type", _REQUIRED, ("mfrc522",)),
    ("spi", 2, (1, 2)),  # the ESP32's SPI bus: 1 = HSPI, 2 = VSPI
    ("sck", 18, (0, 48)),
    ("mosi", 23, (0, 48)),
    ("miso", 19, (0, 48)),
    ("cs", 5, (0, 48)),
    ("rst", 22, (-1, 48)),  # -1: NRSTPD tied high on the module, soft reset only
    ("baudrate", 1000000, (100000, 10000000)),  # the chip takes up to 10 Mbit/s; 1 MHz suits a cable to a front panel
    ("connector", 1, (1, 8)),
    ("debounce", 1000, (100, 60000)),  # ms a card must be away before it counts again
)
_PINS = ("sck", "mosi", "miso", "cs", "rst")


def _card_reader(value):
    # Checks evse.cardReader (the defaults are filled in a copy by check():
    # the setup form writes the document back as given); the first problem,
    # naming the key inside it.
    for key in value:
        if key not in [k for k, _, _ in _READER]:
            return "unknown key %s (known: %s)" % (key, ", ".join(k for k, _, _ in _READER))
    used = []
    for key, default, rule in _READER:
        if key not in value:
            if default is _REQUIRED:
                return "%s is required" % key
            got = default
        else:
            got = value[key]
            if type(rule[0]) is str:
                if got not in rule:
                    return "%s must be one of %s" % (key, ", ".join(rule))
            elif type(got) is not int or not rule[0] <= got <= rule[1]:
                return "%s must be an integer between %d and %d" % (key, rule[0], rule[1])
        if key in _PINS and got >= 0:
            if got in used:
                return "GPIO %d is used twice (sck, mosi, miso, cs, rst must differ)" % got
            used.append(got)
    return None


def declarations(STR, INT, NUM, BOOL, LIST, OBJECT):
    return (
        ("pilotOut", LIST, (), _gpios),
        ("pilotIn", LIST, (), _gpios),
        ("pilotInvert", BOOL, False, None),
        ("adcPlus12", INT, 57600, (0, 65535)),
        ("adcMinus12", INT, 5000, (0, 65535)),
        ("pilotInterval", NUM, 0.02, (0.005, 1)),
        ("debounce", INT, 3, (1, 20)),
        ("hysteresis", NUM, 0.25, (0, 1)),
        ("relay", LIST, (), _gpios),
        ("relayActive", INT, 1, (0, 1)),
        ("lockMode", STR, "level", ("level", "pulse")),
        ("lockPin", LIST, (), _gpios),
        # energy.phaseSwitch: the GPIO of each connector's phase contactor (energized = 3 phases).
        ("phasePin", LIST, (), _gpios),
        ("unlockPin", LIST, (), _gpios),
        ("lockActive", INT, 1, (0, 1)),
        ("lockPulse", NUM, 0.3, (0.01, 5)),
        ("lockFeedback", LIST, (), _gpios),
        ("lockFeedbackActive", INT, 1, (0, 1)),
        ("lockTimeout", NUM, 1, (0.05, 10)),
        ("faults", LIST, (), _faults),
        # issue 25: an optional tamper input (an enclosure switch), -1 none:
        # its activation is the security event TamperDetectionActivated.
        ("tamperPin", INT, -1, (-1, 48)),
        ("tamperActive", INT, 0, (0, 1)),
        ("cardReader", OBJECT, None, _card_reader),
    )


def check(ev, count):
    # Once pins are given (pilotOut not empty), every per-connector list has
    # one entry per connector, and the calibration can be used.
    out = []
    reader = ev["cardReader"]
    if reader is not None:
        ev["cardReader"] = reader = dict(reader)
        for key, default, _ in _READER:
            reader.setdefault(key, default)
    if reader is not None and reader["connector"] > count:
        out.append("evse.cardReader: connector %d does not exist (connectors.count is %d)" % (reader["connector"], count))
    if not ev["pilotOut"]:
        return out
    for key in ("pilotOut", "pilotIn", "relay"):
        if len(ev[key]) != count or -1 in ev[key]:
            out.append("evse.%s: needs one GPIO per connector (connectors.count is %d)" % (key, count))
    for key in ("lockPin", "unlockPin", "lockFeedback"):
        if ev[key] and len(ev[key]) != count:
            out.append("evse.%s: must be empty or have one entry per connector (%d; -1 = none)" % (key, count))
    if ev["lockMode"] == "pulse":
        unlock = ev["unlockPin"]
        for i, pin in enumerate(ev["lockPin"]):
            if pin >= 0 and (i >= len(unlock) or unlock[i] < 0):
                out.append("evse.unlockPin: lockMode pulse needs one for connector %d" % (i + 1))
    if abs(ev["adcPlus12"] - ev["adcMinus12"]) < 1000:
        out.append("evse.adcPlus12, evse.adcMinus12: must differ by at least 1000 (calibrate them)")
    for f in ev["faults"]:
        if f.get("connector", 0) > count:
            out.append("evse.faults: connector %d does not exist (connectors.count is %d)" % (f["connector"], count))
    return out
