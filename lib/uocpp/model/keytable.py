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
from micropython import const

from uocpp import log
from uocpp.model import keys
from uocpp.model.keys import ACCESS, INDEX, RW, R, W
from uocpp.store import json_file

_INT = const(0)
_BOOL = const(1)
_CSL = const(2)
_STR = const(3)
_KINDS = const("IBCS")  # a kind's letter in the table, at its index: _INT, _BOOL, _CSL, _STR

# A declaration's fields besides keys.INDEX and keys.ACCESS.
_DEFAULT = const(3)
_REBOOT = const(5)

# ChangeConfiguration's answers besides keys.ACCEPTED (CFG-06).
REJECTED = "Rejected"
_REBOOT_REQUIRED = const("RebootRequired")
_NOT_SUPPORTED = const("NotSupported")

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
#   from centralSystem.maxFrameSize (startup.py).
# - SupportedFeatureProfiles: keys.PROFILES, less those config.json's
#   ocpp.featureProfiles leaves out (app.py seeds it).
# - ConnectorPhaseRotation needs a reboot: the meter is configured from it
#   at start-up.

# The 1.6 measurands, in one string framed by commas: ",item," matches
# exactly one whole entry (an item of a list holds no comma).
_MEASURANDS = const(
    ",Energy.Active.Export.Register,Energy.Active.Import.Register"
    ",Energy.Reactive.Export.Register,Energy.Reactive.Import.Register"
    ",Energy.Active.Export.Interval,Energy.Active.Import.Interval"
    ",Energy.Reactive.Export.Interval,Energy.Reactive.Import.Interval"
    ",Power.Active.Export,Power.Active.Import,Power.Offered"
    ",Power.Reactive.Export,Power.Reactive.Import,Power.Factor"
    ",Current.Import,Current.Export,Current.Offered,Voltage"
    ",Frequency,Temperature,SoC,RPM,"
)
_CHANGED_FMT = const("%s changed")  # a const(): a short literal would be an interned name for ever (docs/memory.md)
_ROTATIONS = const(",NotApplicable,Unknown,RST,RTS,SRT,STR,TRS,TSR,")


def _measurand(item):
    return "," + item + "," in _MEASURANDS


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
    # through keys.INDEX, keys.ACCESS and the indices above.
    kind, access, default, rule, reboot = line.split(" ")
    kind = _KINDS.index(kind)
    if default == "_":
        default = ""
    if kind == _INT:
        default = int(default)
    elif kind == _BOOL:
        default = default == "true"
    if rule == "_":
        rule = None
    elif rule == "k":
        rule = auth_key_ok
    elif kind == _CSL:
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
    # Case-insensitive lookup (keys are CiString, J-22): the key spelled
    # exactly so, else the first whose name differs only in case; None when
    # unknown.
    try:
        want = keys.index(name)
    except KeyError:
        want = None
        low = name.lower()
    for i, chunk, at, end in _lines():
        if i == want or (want is None and keys.name(i).lower() == low):
            return _decl(i, chunk[at:end])
    return None


def parse(decl, text):
    # Text from ChangeConfiguration -> value, or None when the rule refuses it.
    kind, rule = decl[1], decl[4]
    if kind == _INT:
        t = text.strip()
        if not t or not (t.isdigit() or (t[0] == "-" and t[1:].isdigit())):
            return None
        value = int(t)
        if rule and not rule[0] <= value <= rule[1]:
            return None
        return value
    if kind == _BOOL:
        low = text.lower()
        return True if low == "true" else False if low == "false" else None
    if kind == _CSL:
        items = [i.strip() for i in text.split(",")] if text.strip() else []
        if rule:
            allowed, most = rule
            if len(items) > most:
                return None
            for item in items:
                if not allowed(item):
                    return None
        return ",".join(items)
    if kind == _STR and rule and not rule(text):
        return None
    return text


def load(store, seeds):
    # The values in force at boot (Keys()): the declared defaults,
    # config.json's seeds over them, the changes stored on flash over those.
    values = store._values
    for d in declarations():
        values[d[INDEX]] = d[_DEFAULT]
    for name, value in (seeds or {}).items():
        values[keys.index(name)] = value
    path = store._path
    changed = json_file.read_json(path, {})
    if not isinstance(changed, dict):
        log.warning("keys", "%s holds no object: using defaults", path)
        changed = {}
    for name, value in list(changed.items()):
        d = find(name)
        if d is None or d[ACCESS] == R or not isinstance(value, str) or parse(d, value) is None:
            log.warning("keys", "ignoring stored value of %s", name)
            del changed[name]
            continue
        values[d[INDEX]] = parse(d, value)
    store._changed = changed


def change(store, key, text, guarded):
    # Keys.change(), ChangeConfiguration (CFG-06, CFG-07): the status. On
    # success the value is stored and, unless it needs a reboot, becomes the
    # current value; the caller then calls store.apply().
    d = find(key)
    if d is None:
        return _NOT_SUPPORTED
    if d[ACCESS] == R:
        return REJECTED
    value = parse(d, text)
    i = d[INDEX]
    canonical = keys.name(i)
    allows = store._guards.get(canonical) if guarded else None
    if value is None or (allows and not allows(value)):
        return REJECTED
    stored = store._changed
    before = stored.get(canonical)
    text = keys.as_text(value)
    if text == keys.as_text(store._values[i]) and (before == text or (before is None and i not in store._volatile)):
        # The value in force, and no other one waiting for a reboot: a
        # change that changes nothing writes nothing and logs nothing
        # (a central system that re-sends its configuration would
        # otherwise rewrite keys.json each time). A value in force
        # from use() is not stored: the same value set by the central
        # system is.
        return keys.ACCEPTED
    stored[canonical] = text
    try:
        if before != text:  # on flash already (waiting for a reboot, or out of force): no write
            json_file.write_json_atomic(store._path, stored)
    except OSError as e:
        log.error("keys", "cannot store %s: %s", canonical, e)
        if before is None:
            del stored[canonical]
        else:
            stored[canonical] = before
        return REJECTED
    if d[_REBOOT]:
        return _REBOOT_REQUIRED
    store._values[i] = value
    log.info("keys", _CHANGED_FMT, canonical)
    return keys.ACCEPTED
