# OCPP configuration keys (C16 section 9, CFG-*, KEY-*): each declared once
# with type, access, default, rule and whether a change needs a reboot.
# Values changed by the central system persist on flash (storage.py, atomic)
# and win over config.json seeds after a restart.
from micropython import const

from uocpp import log
from uocpp.store import json_file

INT = const(0)
BOOL = const(1)
CSL = const(2)
STR = const(3)

R = const(0)  # read-only
RW = const(1)
W = const(2)  # write-only: never reported (CFG-10)

# Status answers of ChangeConfiguration (CFG-06).
ACCEPTED = "Accepted"
REJECTED = "Rejected"
REBOOT_REQUIRED = "RebootRequired"
NOT_SUPPORTED = "NotSupported"

# The 1.6 measurands, in one string framed by commas: one object instead of
# 22. An item of a comma-separated list holds no comma, so ",item," matches
# exactly one whole entry (and the empty item none).
MEASURANDS = (
    ",Energy.Active.Export.Register,Energy.Active.Import.Register"
    ",Energy.Reactive.Export.Register,Energy.Reactive.Import.Register"
    ",Energy.Active.Export.Interval,Energy.Active.Import.Interval"
    ",Energy.Reactive.Export.Interval,Energy.Reactive.Import.Interval"
    ",Power.Active.Export,Power.Active.Import,Power.Offered"
    ",Power.Reactive.Export,Power.Reactive.Import,Power.Factor"
    ",Current.Import,Current.Export,Current.Offered,Voltage"
    ",Frequency,Temperature,SoC,RPM,"
)
_ROTATIONS = ("NotApplicable", "Unknown", "RST", "RTS", "SRT", "STR", "TRS", "TSR")
_CSL_MAX = const(8)
_DAY = const(86400)


# SendLocalListMaxLength is what fits in one frame (centralSystem.maxFrameSize,
# larger ones are closed with 1009 before they are read): an ordinary entry
# at its longest, 20-character ASCII idTag and parentIdTag, an expiryDate
# with milliseconds and offset, status ConcurrentTx, written with a space
# after each separator, takes 162 bytes; the CALL around the list (a
# 36-character id, listVersion 2147483647, Differential) 149. A larger
# frame limit would take a larger list, but also its parse: 100 entries
# parsed are 43 KB on the 64-bit unix port (beside the 15 KB frame), more
# than a plain ESP32 can spare.
_LIST_ENTRY = const(162)
_LIST_CALL = const(149)


def send_list_max(frame_bytes):
    return max(1, (frame_bytes - _LIST_CALL) // _LIST_ENTRY)


def _measurand(item):
    return "," + item + "," in MEASURANDS


def _rotation(item):
    conn, _, rot = item.partition(".")
    return conn.isdigit() and rot in _ROTATIONS


def _hex(text):
    for ch in text:
        if ch not in "0123456789abcdefABCDEF":
            return False
    return True


def auth_key_ok(text):
    # SEC-04/SEC-05/SEC-11: 16..20 bytes, written as 32..40 hex digits or as
    # 16..20 printable characters.
    n = len(text)
    if 32 <= n <= 40 and n % 2 == 0 and _hex(text):
        return True
    if 16 <= n <= 20:
        for ch in text:
            if not 33 <= ord(ch) <= 126:
                return False
        return True
    return False


# Each declaration: (name, type, access, default, rule, needs reboot), read
# through these indices. rule: INT (min, max); CSL (allowed items or a check
# function, max items); STR a check function; BOOL None.
NAME = const(0)
TYPE = const(1)
ACCESS = const(2)
DEFAULT = const(3)
RULE = const(4)
REBOOT = const(5)

DECLARATIONS = (
    ("AuthorizationKey", STR, W, "", auth_key_ok, False),
    ("AllowOfflineTxForUnknownId", BOOL, RW, False, None, False),
    ("AuthorizationCacheEnabled", BOOL, RW, True, None, False),
    ("AuthorizeRemoteTxRequests", BOOL, RW, True, None, False),
    # Smart charging (services/smart_charging.py, model/profiles.py).
    ("ChargeProfileMaxStackLevel", INT, R, 8, None, False),
    ("ChargingScheduleAllowedChargingRateUnit", CSL, R, "Current,Power", None, False),
    ("ChargingScheduleMaxPeriods", INT, R, 24, None, False),
    ("ClockAlignedDataInterval", INT, RW, 0, (0, _DAY), False),
    ("ConnectionTimeOut", INT, RW, 60, (1, 3600), False),
    # The meter is configured from the phase rotation at start-up.
    ("ConnectorPhaseRotation", CSL, RW, "0.Unknown", (_rotation, _CSL_MAX), True),
    ("ConnectorPhaseRotationMaxLength", INT, R, _CSL_MAX, None, False),
    # True with energy.phaseSwitch (energy/phases.py: numberPhases is followed).
    ("ConnectorSwitch3to1PhaseSupported", BOOL, R, False, None, False),
    ("GetConfigurationMaxKeys", INT, R, 50, None, False),
    ("HeartbeatInterval", INT, RW, 300, (1, _DAY), False),
    ("LocalAuthListEnabled", BOOL, RW, True, None, False),
    ("LocalAuthListMaxLength", INT, R, 1000, None, False),
    ("LocalAuthorizeOffline", BOOL, RW, True, None, False),
    ("LocalPreAuthorize", BOOL, RW, False, None, False),
    ("MaxChargingProfilesInstalled", INT, R, 8, None, False),
    ("MessageTimeout", INT, RW, 30, (1, 600), False),
    ("MeterValuesAlignedData", CSL, RW, "Energy.Active.Import.Register", (_measurand, _CSL_MAX), False),
    ("MeterValuesAlignedDataMaxLength", INT, R, _CSL_MAX, None, False),
    ("MeterValuesSampledData", CSL, RW, "Energy.Active.Import.Register", (_measurand, _CSL_MAX), False),
    ("MeterValuesSampledDataMaxLength", INT, R, _CSL_MAX, None, False),
    ("MeterValueSampleInterval", INT, RW, 0, (0, _DAY), False),
    ("NumberOfConnectors", INT, R, 1, None, False),
    # ReserveNow for connector 0 is Rejected (only a given connector is reserved).
    ("ReserveConnectorZeroSupported", BOOL, R, False, None, False),
    ("ResetRetries", INT, RW, 3, (0, 10), False),
    ("RetryBackOffRandomRange", INT, RW, 30, (0, 3600), False),
    ("RetryBackOffRepeatTimes", INT, RW, 5, (0, 16), False),
    ("RetryBackOffWaitMinimum", INT, RW, 5, (1, 3600), False),
    # 0 none, 1 Basic auth, 2 TLS + Basic auth (SEC-01), 3 TLS with a client
    # certificate; raising it is further checked by link/security_change.py (SEC-12).
    ("SecurityProfile", INT, RW, 0, (0, 3), False),
    # 49 for the default 8 KB frame; app.py seeds it from maxFrameSize (send_list_max).
    ("SendLocalListMaxLength", INT, R, 49, None, False),
    ("StopTransactionOnEVSideDisconnect", BOOL, RW, True, None, False),
    ("StopTransactionOnInvalidId", BOOL, RW, True, None, False),
    ("StopTxnAlignedData", CSL, RW, "", (_measurand, _CSL_MAX), False),
    ("StopTxnAlignedDataMaxLength", INT, R, _CSL_MAX, None, False),
    ("StopTxnSampledData", CSL, RW, "", (_measurand, _CSL_MAX), False),
    ("StopTxnSampledDataMaxLength", INT, R, _CSL_MAX, None, False),
    # Only what works: Core (with transactions, metering, authorization
    # cache), LocalAuthListManagement, Reservation, RemoteTrigger and SmartCharging.
    ("SupportedFeatureProfiles", CSL, R, "Core,FirmwareManagement,LocalAuthListManagement,Reservation,RemoteTrigger,SmartCharging", None, False),
    ("TransactionMessageAttempts", INT, RW, 3, (1, 10), False),
    ("TransactionMessageRetryInterval", INT, RW, 60, (1, 3600), False),
    ("UnlockConnectorOnEVSideDisconnect", BOOL, RW, True, None, False),
    ("WebSocketPingInterval", INT, RW, 60, (0, _DAY), False),
    # issue 25: certificates (pki/, services/certificates.py). Read-only as
    # the whitepaper has them; config.json's centralSystem section seeds
    # AdditionalRootCertificateCheck.
    ("AdditionalRootCertificateCheck", BOOL, R, False, None, False),
    ("CertificateSignedMaxChainSize", INT, R, 10000, None, False),
    ("CertificateStoreMaxLength", INT, R, 8, None, False),
    ("CpoName", STR, RW, "", None, False),
    # end issue 25: certificates
)


def find(name):
    # Case-insensitive lookup (keys are CiString, J-22); None when unknown.
    low = name.lower()
    for d in DECLARATIONS:
        if d[NAME].lower() == low:
            return d
    return None


def parse(decl, text):
    # Text from ChangeConfiguration -> value, or None when the rule refuses it.
    kind, rule = decl[TYPE], decl[RULE]
    if kind == INT:
        t = text.strip()
        if not t or not (t.isdigit() or (t[0] == "-" and t[1:].isdigit())):
            return None
        value = int(t)
        if rule and not rule[0] <= value <= rule[1]:
            return None
        return value
    if kind == BOOL:
        low = text.lower()
        return True if low == "true" else False if low == "false" else None
    if kind == CSL:
        items = [i.strip() for i in text.split(",")] if text.strip() else []
        if rule:
            allowed, most = rule
            if len(items) > most:
                return None
            for item in items:
                if not (allowed(item) if callable(allowed) else item in allowed):
                    return None
        return ",".join(items)
    if rule and not rule(text):
        return None
    return text


def as_text(value):
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float) and value == int(value):
        value = int(value)
    return str(value)


class Keys:
    def __init__(self, path, seeds=None):
        # seeds: {name: value} from config.json; persisted changes win.
        self._path = path
        self._values = {}
        self._watch = {}
        self._guards = {}
        for d in DECLARATIONS:
            self._values[d[NAME]] = d[DEFAULT]
        for name, value in (seeds or {}).items():
            self._values[name] = value
        self._changed = json_file.read_json(path, {})
        if not isinstance(self._changed, dict):
            log.warning("keys", "%s holds no object: using defaults", path)
            self._changed = {}
        for name, value in list(self._changed.items()):
            d = find(name)
            if d is None or d[ACCESS] == R or not isinstance(value, str) or parse(d, value) is None:
                log.warning("keys", "ignoring stored value of %s", name)
                del self._changed[name]
                continue
            self._values[d[NAME]] = parse(d, value)

    def get(self, name):
        return self._values[name]

    def text(self, name):
        return as_text(self._values[name])

    def use(self, name, value):
        # A value in force until the next boot, not stored: what a
        # BootNotification.conf sets (its heartbeat interval, BN-05).
        self._values[name] = value
        self.apply(name)

    def watch(self, name, apply):
        # apply(value) runs when a change of `name` takes effect (apply()).
        self._watch[name] = apply

    def guard(self, name, allows):
        # allows(value) -> False refuses a change that the declared rule
        # permits but the state of other keys does not (SEC-12).
        self._guards[name] = allows

    def apply(self, name):
        # Separate from change() so that the operation can answer first and
        # act afterwards (a new AuthorizationKey reconnects the link).
        fn = self._watch.get(name)
        if fn:
            fn(self._values[name])

    def change(self, name, text, guarded=True):
        # ChangeConfiguration (CFG-06, CFG-07): the status. On success the
        # value is stored and, unless it needs a reboot, becomes the current
        # value; the caller then calls apply(). The firmware's own changes
        # (a security profile fall-back) pass guarded=False.
        d = find(name)
        if d is None:
            return NOT_SUPPORTED
        if d[ACCESS] == R:
            return REJECTED
        value = parse(d, text)
        canonical = d[NAME]
        allows = self._guards.get(canonical) if guarded else None
        if value is None or (allows and not allows(value)):
            return REJECTED
        before = self._changed.get(canonical)
        text = as_text(value)
        if text == as_text(self._values[canonical]) and before in (None, text):
            # The value in force, and no other one waiting for a reboot: a
            # change that changes nothing writes nothing and logs nothing
            # (a central system that re-sends its configuration would
            # otherwise rewrite keys.json each time).
            return ACCEPTED
        self._changed[canonical] = text
        try:
            json_file.write_json_atomic(self._path, self._changed)
        except OSError as e:
            log.error("keys", "cannot store %s: %s", canonical, e)
            if before is None:
                del self._changed[canonical]
            else:
                self._changed[canonical] = before
            return REJECTED
        if d[REBOOT]:
            return REBOOT_REQUIRED
        self._values[canonical] = value
        log.info("keys", "%s changed", canonical)
        return ACCEPTED
