# The declarations of the OCPP configuration keys (C16 section 9, CFG-*,
# KEY-*) and their rules, loaded on use (a Keys store at boot, a
# ChangeConfiguration, a GetConfiguration) and dropped after (model/keys.py
# unloads it): the idle charger holds only the values in force. The table is
# text, a line per key, so that frozen or in a ROMFS image it stays in flash
# and costs no heap; loaded from a .mpy file it is copied into the heap, in
# chunks of six lines (each ~150 B: a heap fragmented by a long session has
# room for those when it has no 2 KB block for the whole text, the first
# thing a GetConfiguration or ChangeConfiguration failed on near the heap's
# limit); a line becomes a declaration tuple only when read. Line i declares
# key i of keys.NAMES (its name in the line's comment):
#   type access default rule reboot
# type I integer, B boolean, C comma-separated list, S string; access R
# read-only, RW, W write-only (never reported, CFG-10); default "_" for the
# empty string; rule "_" none, "min:max" for an integer, "m8"/"r8" for a list
# of measurands/phase rotations of at most 8 items, "k" the AuthorizationKey
# rule; reboot 1 when a change needs one.
from uocpp.model import keys
from uocpp.model.keys import BOOL, CSL, INT, RW, STR, R, W

TABLE = (
    "S W _ k 0\n"  # AuthorizationKey
    "B RW false _ 0\n"  # AllowOfflineTxForUnknownId
    "B RW true _ 0\n"  # AuthorizationCacheEnabled
    "B RW true _ 0\n"  # AuthorizeRemoteTxRequests
    "I R 8 _ 0\n"  # ChargeProfileMaxStackLevel
    "C R Current,Power _ 0\n",  # ChargingScheduleAllowedChargingRateUnit
    "I R 24 _ 0\n"  # ChargingScheduleMaxPeriods
    "I RW 0 0:86400 0\n"  # ClockAlignedDataInterval
    "I RW 60 1:3600 0\n"  # ConnectionTimeOut
    "C RW 0.Unknown r8 1\n"  # ConnectorPhaseRotation
    "I R 8 _ 0\n"  # ConnectorPhaseRotationMaxLength
    "B R false _ 0\n",  # ConnectorSwitch3to1PhaseSupported
    "I R 50 _ 0\n"  # GetConfigurationMaxKeys
    "I RW 300 1:86400 0\n"  # HeartbeatInterval
    "B RW true _ 0\n"  # LocalAuthListEnabled
    "I R 1000 _ 0\n"  # LocalAuthListMaxLength
    "B RW true _ 0\n"  # LocalAuthorizeOffline
    "B RW false _ 0\n",  # LocalPreAuthorize
    "I R 8 _ 0\n"  # MaxChargingProfilesInstalled
    "I RW 30 1:600 0\n"  # MessageTimeout
    "C RW Energy.Active.Import.Register m8 0\n"  # MeterValuesAlignedData
    "I R 8 _ 0\n"  # MeterValuesAlignedDataMaxLength
    "C RW Energy.Active.Import.Register m8 0\n"  # MeterValuesSampledData
    "I R 8 _ 0\n",  # MeterValuesSampledDataMaxLength
    "I RW 0 0:86400 0\n"  # MeterValueSampleInterval
    "I R 1 _ 0\n"  # NumberOfConnectors
    "B R false _ 0\n"  # ReserveConnectorZeroSupported
    "I RW 3 0:10 0\n"  # ResetRetries
    "I RW 30 0:3600 0\n"  # RetryBackOffRandomRange
    "I RW 5 0:16 0\n",  # RetryBackOffRepeatTimes
    "I RW 5 1:3600 0\n"  # RetryBackOffWaitMinimum
    "I RW 0 0:3 0\n"  # SecurityProfile
    "I R 49 _ 0\n"  # SendLocalListMaxLength
    "B RW true _ 0\n"  # StopTransactionOnEVSideDisconnect
    "B RW true _ 0\n"  # StopTransactionOnInvalidId
    "C RW _ m8 0\n",  # StopTxnAlignedData
    "I R 8 _ 0\n"  # StopTxnAlignedDataMaxLength
    "C RW _ m8 0\n"  # StopTxnSampledData
    "I R 8 _ 0\n"  # StopTxnSampledDataMaxLength
    "C R Core,FirmwareManagement,LocalAuthListManagement,Reservation,RemoteTrigger,SmartCharging _ 0\n"  # SupportedFeatureProfiles
    "I RW 3 1:10 0\n"  # TransactionMessageAttempts
    "I RW 60 1:3600 0\n",  # TransactionMessageRetryInterval
    "B RW true _ 0\n"  # UnlockConnectorOnEVSideDisconnect
    "I RW 60 0:86400 0\n"  # WebSocketPingInterval
    "B R false _ 0\n"  # AdditionalRootCertificateCheck
    "I R 10000 _ 0\n"  # CertificateSignedMaxChainSize
    "I R 8 _ 0\n"  # CertificateStoreMaxLength
    "S RW _ _ 0\n",  # CpoName
)
# Notes on single keys:
# - ReserveConnectorZeroSupported false: ReserveNow for connector 0 is
#   Rejected (only a given connector is reserved).
# - SecurityProfile 0 none, 1 Basic auth, 2 TLS + Basic auth (SEC-01), 3 TLS
#   with a client certificate; a raise is further checked by
#   link/security.py (SEC-12).
# - ConnectorSwitch3to1PhaseSupported: true with energy.phaseSwitch
#   (energy/phases.py follows numberPhases); app.py seeds it.
# - The whitepaper's certificate keys (pki/, services/certificates.py) are
#   read-only as it has them; centralSystem.additionalRootCertificateCheck
#   seeds AdditionalRootCertificateCheck.
# - SendLocalListMaxLength 49 fits the default 8 KB frame; app.py seeds it
#   from centralSystem.maxFrameSize (keys.send_list_max).
# - SupportedFeatureProfiles: keys.PROFILES, less those config.json's
#   ocpp.featureProfiles leaves out (app.py seeds it).
# - ConnectorPhaseRotation needs a reboot: the meter is configured from it
#   at start-up.

# The 1.6 measurands, in one string framed by commas: ",item," matches
# exactly one whole entry (an item of a list holds no comma).
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
_ROTATIONS = ",NotApplicable,Unknown,RST,RTS,SRT,STR,TRS,TSR,"


def _measurand(item):
    return "," + item + "," in MEASURANDS


def _rotation(item):
    conn, _, rot = item.partition(".")
    return conn.isdigit() and "," not in rot and "," + rot + "," in _ROTATIONS


def auth_key_ok(text):
    # SEC-04/SEC-05/SEC-11: 16..20 bytes, written as 32..40 hex digits or as
    # 16..20 printable characters.
    n = len(text)
    if 32 <= n <= 40 and n % 2 == 0:
        for ch in text:
            if ch not in "0123456789abcdefABCDEF":
                break
        else:
            return True
    if 16 <= n <= 20:
        for ch in text:
            if not 33 <= ord(ch) <= 126:
                return False
        return True
    return False


def _decl(i, line):
    # Line i of TABLE -> (index, type, access, default, rule, reboot), read
    # through keys.INDEX ... keys.REBOOT.
    kind, access, default, rule, reboot = line.split(" ")
    kind = "IBCS".index(kind)  # INT, BOOL, CSL, STR
    if default == "_":
        default = ""
    if kind == INT:
        default = int(default)
    elif kind == BOOL:
        default = default == "true"
    if rule == "_":
        rule = None
    elif rule == "k":
        rule = auth_key_ok
    elif kind == CSL:
        rule = (_measurand if rule[0] == "m" else _rotation, int(rule[1:]))
    else:
        lo, hi = rule.split(":")
        rule = (int(lo), int(hi))
    return (i, kind, R if access == "R" else RW if access == "RW" else W, default, rule, reboot == "1")


def _lines():
    # (i, chunk, start, end) of each line of TABLE, by index: reading the
    # table makes no garbage (a GetConfiguration's reply is built while the
    # table is read; scraps between its parts would leave the heap too
    # fragmented for the reply on a small heap).
    i = 0
    for chunk in TABLE:
        at, n = 0, len(chunk)
        while at < n:
            end = chunk.find("\n", at)
            yield i, chunk, at, end
            i += 1
            at = end + 1


def declarations():
    # Every declaration, in the table's order.
    for i, chunk, at, end in _lines():
        yield _decl(i, chunk[at:end])


def listing():
    # (index, access) of every key in the table's order (GetConfiguration's),
    # without making the declarations.
    for i, chunk, at, _ in _lines():
        access = RW if chunk.startswith("RW ", at + 2) else W if chunk.startswith("W ", at + 2) else R
        yield i, access


def find(name):
    # Case-insensitive lookup (keys are CiString, J-22); None when unknown.
    want = keys.find(name)
    if want >= 0:
        for i, chunk, at, end in _lines():
            if i == want:
                return _decl(i, chunk[at:end])
    return None


def parse(decl, text):
    # Text from ChangeConfiguration -> value, or None when the rule refuses it.
    kind, rule = decl[1], decl[4]
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
                if not allowed(item):
                    return None
        return ",".join(items)
    if kind == STR and rule and not rule(text):
        return None
    return text
