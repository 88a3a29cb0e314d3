# config.json: declared once here (section, key, type, default, rule), then
# loaded and checked in one pass. Every problem is collected, so a user sees
# all bad keys at once, each named with the rule it breaks.
import json
import os

from uocpp.config import evse
from uocpp.model import identity, keys, keytable

REQUIRED = object()

# Types. "num" takes int or float, so tests can use sub-second timings.
_STR = "string"
_INT = "integer"
_NUM = "number"
_BOOL = "boolean"
_LIST = "array"
_OBJECT = "object"


def _ws_url(value):
    if not (value.startswith("ws://") or value.startswith("wss://")):
        return "must start with ws:// or wss://"
    if len(value.split("/", 3)[2]) == 0:
        return "has no host"
    return None


def _cp_id(value):
    # The identity goes in the URL path (J-02), percent-encoded, and is the
    # Basic-auth username (SEC-03), which cannot contain ':'.
    if not value or len(value) > 48:
        return "must be 1 to 48 characters"
    for ch in value:
        if not 32 <= ord(ch) <= 126 or ch == ":":
            return "must be printable ASCII without ':'"
    return None


def _watchdog_timeout(value):
    if value != 0 and not 1 <= value <= 3600:
        return "must be 0 (off) or between 1 and 3600"
    return None


def _topic_prefix(value):
    # MQTT topic levels under which every charge point publishes.
    if "+" in value or "#" in value or value.startswith("/") or value.endswith("/") or len(value) > 64:
        return "must be at most 64 characters without +, # or a leading or trailing /"
    return None


def _wss_url(value):
    if value and not value.startswith("wss://"):
        return "must start with wss://"
    return _ws_url(value) if value else None


def _ap_password(value):
    # WPA2 takes 8 to 63 characters; "" = generated at each setup-mode boot.
    if value and not 8 <= len(value) <= 63:
        return "must be empty (generated) or 8 to 63 characters (WPA2)"
    return None


def _auth_key(value):
    # The AuthorizationKey rule (SEC-04, SEC-05); the message never shows the value.
    if value and not keytable.auth_key_ok(value):
        return "must be 16 to 20 printable ASCII characters or 32 to 40 hex digits"
    return None


def _profiles(value):
    # ocpp.featureProfiles: the 1.6 feature profiles that are on (keys.PROFILES).
    for p in value:
        if p not in keys.PROFILES:
            return "must list only %s" % ", ".join(keys.PROFILES)
    if "Core" not in value:
        return "must include Core (always on)"
    if len(set(value)) != len(value):
        return "must list each profile once"
    return None


def _security(cs):
    # Security profiles (SEC-01): 0 = ws://, 1 = ws:// + Basic auth,
    # 2 = wss:// + Basic auth. An absent securityProfile follows the rest:
    # a wss:// url -> 2, an authorizationKey -> 1, else 0.
    secure = cs["url"].startswith("wss://")
    profile = cs["securityProfile"]
    if profile is None:
        profile = cs["securityProfile"] = 2 if secure else 1 if cs["authorizationKey"] else 0
    out = []
    if secure and profile < 2:
        out.append("centralSystem.url: wss:// is security profile 2, not %d" % profile)
    if profile and not cs["authorizationKey"]:
        out.append("centralSystem.authorizationKey: required by security profile %d" % profile)
    if profile == 2 and not secure and not cs["secureUrl"]:
        out.append("centralSystem.secureUrl: required by security profile 2 (the wss:// url)")
    if profile == 2 and not cs["caFile"]:
        out.append("centralSystem.caFile: required by security profile 2 (CA certificate, DER)")
    if cs["caFile"]:
        try:
            os.stat(cs["caFile"])
        except OSError as e:
            out.append("centralSystem.caFile: cannot be read (%s)" % e)
    return out


# section -> ((key, type, default, rule), ...); rule is None, (min, max) for
# numbers, a tuple of allowed strings, or a function returning a problem.
SCHEMA = {
    "centralSystem": (
        ("url", _STR, REQUIRED, _ws_url),
        ("chargePointId", _STR, REQUIRED, _cp_id),
        ("authorizationKey", _STR, "", _auth_key),
        ("securityProfile", _INT, None, (0, 2)),
        ("secureUrl", _STR, "", _wss_url),
        ("caFile", _STR, "", None),
        ("connectTimeout", _NUM, 10, (0.1, 300)),
        ("maxFrameSize", _INT, 8192, (512, 65536)),
        # issue 25: seeds the read-only AdditionalRootCertificateCheck key.
        ("additionalRootCertificateCheck", _BOOL, False, None),
        # issue 25: the critical security events go out as
        # SecurityEventNotification (security_log.py); off for a central
        # system without the 1.6 security extensions.
        ("securityEvents", _BOOL, False, None),
    ),
    "ocpp": (
        ("heartbeatInterval", _NUM, 300, (1, 86400)),
        ("messageTimeout", _NUM, 30, (0.1, 600)),
        ("bootRetryInterval", _NUM, 60, (1, 86400)),
        ("webSocketPingInterval", _NUM, 60, (0, 86400)),
        # Seeds MeterValueSampleInterval (s, 0 = no periodic samples in a
        # transaction), as heartbeatInterval seeds HeartbeatInterval.
        ("meterValueSampleInterval", _INT, 0, (0, 86400)),
        ("featureProfiles", _LIST, list(keys.PROFILES), _profiles),
    ),
    "reconnect": (
        ("waitMinimum", _NUM, 5, (0.05, 3600)),
        ("randomRange", _NUM, 30, (0, 3600)),
        ("repeatTimes", _INT, 5, (0, 16)),
    ),
    "wifi": (
        ("ssid", _STR, "", None),
        ("password", _STR, "", None),
        ("timeout", _NUM, 20, (1, 300)),
        ("stableTime", _NUM, 3, (0, 60)),
    ),
    # The cellular modem that reports ICCID and IMSI at boot (modem.py). On
    # an ESP32: UART id and pins; on the unix port: a serial device path.
    "modem": (
        ("enabled", _BOOL, False, None),
        ("uart", _INT, 2, (0, 2)),
        ("tx", _INT, 17, (0, 48)),
        ("rx", _INT, 16, (0, 48)),
        ("baud", _INT, 115200, (1200, 921600)),
        ("device", _STR, "", None),
        ("timeout", _NUM, 1, (0.05, 30)),
        ("retries", _INT, 2, (0, 5)),
        ("totalTimeout", _NUM, 6, (0.1, 60)),
    ),
    "watchdog": (("timeout", _NUM, 60, _watchdog_timeout),),
    # Sets the clock before TLS on a device (platform sync_clock); "" = no NTP.
    "ntp": (
        ("server", _STR, "pool.ntp.org", None),
        ("timeout", _NUM, 10, (1, 120)),
    ),
    "connectors": (
        ("count", _INT, 1, (1, 8)),
        # The current the pilot offers when nothing limits it (the cable, the
        # supply), in A.
        ("maxCurrent", _NUM, 32, (6, 80)),
        # Smart charging: limits in W become A per phase over this voltage
        # and this many phases (unless a period gives numberPhases).
        ("voltage", _NUM, 230, (100, 480)),
        ("phases", _INT, 3, (1, 3)),
    ),
    # The energy meters (device/meters.py): "" = the EVSE's own (the unix
    # simulator's); SDM120 or SDM630 on a UART (ESP32) or a serial device
    # path (unix port), connector n at Modbus address address + n - 1.
    "meter": (
        ("model", _STR, "", ("", "SDM120", "SDM630")),
        ("uart", _INT, 1, (0, 2)),
        ("tx", _INT, 4, (0, 48)),
        ("rx", _INT, 5, (0, 48)),
        ("baud", _INT, 9600, (1200, 115200)),
        ("device", _STR, "", None),
        ("address", _INT, 1, (1, 247)),
        ("timeout", _NUM, 0.3, (0.05, 5)),
    ),
    "evse": evse.declarations(_STR, _INT, _NUM, _BOOL, _LIST, _OBJECT),
    # Unix port only: the EVSE simulator's TCP port on 127.0.0.1 (0 = off).
    "simulator": (("port", _INT, 0, (0, 65535)),),
    "log": (
        ("level", _STR, "info", ("debug", "info", "warning", "error")),
        ("heapInterval", _NUM, 0, (0, 86400)),
        # The persistent log on flash (log_ring.py): lines at this
        # level and above, in flashFiles files sharing flashBytes.
        ("flashLevel", _STR, "info", ("debug", "info", "warning", "error", "off")),
        ("flashBytes", _INT, 32768, (1024, 262144)),
        ("flashFiles", _INT, 2, (2, 8)),
    ),
    # GetDiagnostics uploads (services/diagnostics.py): the CA for https://
    # ("" = centralSystem.caFile) and the bound on each network step.
    "diagnostics": (
        ("caFile", _STR, "", None),
        ("timeout", _NUM, 30, (0.1, 300)),
    ),
    "storage": (
        ("dir", _STR, "", None),
        # The outbox's journal on flash (transaction messages waiting for the
        # central system) and how many transactions may wait there.
        ("journalBytes", _INT, 32768, (4096, 1048576)),
        ("maxTransactions", _INT, 50, (1, 1000)),
    ),
    # UpdateFirmware (services/firmware_update.py): the CA for https://
    # downloads ("" = centralSystem.caFile), each network step's timeout,
    # retries and their interval when the request gives none, and how long a
    # new install may take to be Accepted before the charger returns to the
    # old one.
    "firmware": (
        ("caFile", _STR, "", None),
        ("timeout", _NUM, 30, (0.5, 600)),
        ("retries", _INT, 3, (0, 20)),
        ("retryInterval", _NUM, 60, (0, 86400)),
        ("confirmTimeout", _NUM, 300, (1, 86400)),
    ),
    # The optional MQTT status mirror (extras/mqtt_mirror.py).
    "mqtt": (
        ("enabled", _BOOL, False, None),
        ("host", _STR, "", None),
        # 1883 is MQTT's port; brokers usually take TLS on 8883.
        ("port", _INT, 1883, (1, 65535)),
        # TLS to the broker: the certificate must chain to caFile (one DER
        # CA on flash, as centralSystem.caFile) and name mqtt.host.
        ("tls", _BOOL, False, None),
        ("caFile", _STR, "", None),
        ("clientId", _STR, "", None),
        ("user", _STR, "", None),
        ("password", _STR, "", None),
        ("topicPrefix", _STR, "ocpp", _topic_prefix),
        ("keepalive", _INT, 60, (1, 65535)),
        ("timeout", _NUM, 5, (0.1, 60)),
        ("reconnectMinimum", _NUM, 2, (0.05, 3600)),
        ("reconnectRandomRange", _NUM, 3, (0, 3600)),
        ("reconnectRepeatTimes", _INT, 5, (0, 16)),
        # Home Assistant MQTT discovery (extras/ha_discovery.py).
        ("discovery", _BOOL, False, None),
        ("discoveryPrefix", _STR, "homeassistant", _topic_prefix),
    ),
    # The installer's local web page (extras/web/): the status page when
    # enabled, the setup form in setup mode (README, Setting up a charger on
    # site). Basic auth with password; setupButton: GPIO held low at boot = setup.
    "web": (
        ("enabled", _BOOL, False, None),
        ("port", _INT, 80, (1, 65535)),
        ("host", _STR, "0.0.0.0", None),
        ("password", _STR, "", None),
        ("setupMode", _BOOL, False, None),
        ("apPassword", _STR, "", _ap_password),
        ("setupButton", _INT, -1, (-1, 48)),
        # ESP32: an empty wifi.ssid means a fresh board (setup mode), unless
        # the board has another link (false here, or modem.enabled).
        ("setupWithoutWifi", _BOOL, True, None),
    ),
}

# Identity keys are checked by the seed setters' own rules (identity.py).
IDENTITY_SECTION = "chargePoint"
_SECRET_KEYS = ("authorizationKey", "password", "apPassword")


class ConfigError(ValueError):
    # One message for the log: "<file>: <what is wrong>" for a file that
    # cannot be read or is no JSON, else "<file> has N problem(s):" and one
    # line per problem, in the order of the file.
    def __init__(self, problems, path="config.json", whole_file=False):
        if whole_file:
            text = "%s: %s" % (path, problems[0])
        else:
            text = "%s has %d problem(s):\n  " % (path, len(problems)) + "\n  ".join(problems)
        super().__init__(text)
        self.problems = problems
        self.path = path


def _type_ok(kind, value):
    if kind == _LIST:
        return isinstance(value, list)
    if kind == _OBJECT:
        return isinstance(value, dict)
    if kind == _STR:
        return isinstance(value, str)
    if isinstance(value, bool):
        return kind == _BOOL
    if kind == _INT:
        return isinstance(value, int)
    if kind == _NUM:
        return isinstance(value, (int, float))
    return False


def _check(kind, value, rule):
    if not _type_ok(kind, value):
        return "must be %s %s, not %s" % ("an" if kind in (_INT, _LIST, _OBJECT) else "a", kind, type(value).__name__)
    if rule is None:
        return None
    if callable(rule):
        return rule(value)
    if kind == _STR:
        if value not in rule:
            return "must be one of %s" % ", ".join(rule)
    elif not rule[0] <= value <= rule[1]:
        return "must be between %s and %s" % rule
    return None


def validate(doc):
    # Returns (settings, identity_values, problems). settings maps section ->
    # {key: value} with every default filled in.
    problems = []
    if not isinstance(doc, dict):
        return None, None, ["the top level must be a JSON object"]
    for name in doc:
        if name not in SCHEMA and name not in (IDENTITY_SECTION, "energy"):
            problems.append("%s: unknown section (known: %s)" % (name, ", ".join(sorted(list(SCHEMA) + [IDENTITY_SECTION, "energy"]))))
    out = {}
    for section, decls in SCHEMA.items():
        given = doc.get(section, {})
        if not isinstance(given, dict):
            problems.append("%s: must be a JSON object" % section)
            given = {}
        values = {}
        known = []
        for key, kind, default, rule in decls:
            known.append(key)
            if key not in given:
                if default is REQUIRED:
                    problems.append("%s.%s: required, missing" % (section, key))
                else:
                    values[key] = default
                continue
            problem = _check(kind, given[key], rule)
            if problem:
                problems.append("%s.%s: %s" % (section, key, problem))
            else:
                values[key] = given[key]
        for key in given:
            if key not in known:
                problems.append("%s.%s: unknown key" % (section, key))
        out[section] = values
    if out["mqtt"].get("enabled") and not out["mqtt"]["host"]:
        problems.append("mqtt.host: required when mqtt.enabled is true")
    if out["mqtt"].get("tls") and not out["mqtt"]["caFile"]:
        problems.append("mqtt.caFile: required when mqtt.tls is true (the broker's CA certificate in DER)")
    elif out["mqtt"].get("tls"):
        try:
            os.stat(out["mqtt"]["caFile"])
        except OSError as e:
            problems.append("mqtt.caFile: cannot be read (%s)" % e)
    if out["mqtt"].get("discovery") and not out["mqtt"]["discoveryPrefix"]:
        problems.append("mqtt.discoveryPrefix: must not be empty when mqtt.discovery is true")
    if out["web"].get("enabled") and not out["web"].get("password"):
        problems.append("web.password: required when web.enabled is true")
    if not [p for p in problems if p.startswith("centralSystem")]:
        problems.extend(_security(out["centralSystem"]))
    if "energy" in doc:  # energy/: declared in config/energy.py, loaded only when the section is there
        _energy(doc["energy"], out, problems)
    if not [p for p in problems if p.startswith(("evse", "connectors"))]:
        problems.extend(evse.check(out["evse"], out["connectors"]["count"]))
    ident = doc.get(IDENTITY_SECTION, {})
    ident_ok = {}
    if not isinstance(ident, dict):
        problems.append("%s: must be a JSON object" % IDENTITY_SECTION)
        ident = {}
    for field, maxlen, required in identity.FIELDS:
        if field not in ident:
            if required:
                problems.append("%s.%s: required, missing" % (IDENTITY_SECTION, field))
            continue
        problem = identity.check(field, maxlen, ident[field])
        if problem:
            problems.append("%s.%s: %s" % (IDENTITY_SECTION, field, problem))
        else:
            ident_ok[field] = ident[field]
    for key in ident:
        if key not in identity.SETTERS:
            problems.append("%s.%s: unknown key" % (IDENTITY_SECTION, key))
    return out, ident_ok, problems


def _energy(given, out, problems):
    # The energy section, with the others' rules; out["energy"] only when enabled.
    from uocpp.config import energy

    values = {}
    decls = energy.declarations(_STR, _INT, _NUM, _BOOL)
    if not isinstance(given, dict):
        problems.append("energy: must be a JSON object")
        given = {}
    for key, kind, default, rule in decls:
        problem = _check(kind, given[key], rule) if key in given else None
        if problem:
            problems.append("energy.%s: %s" % (key, problem))
        values[key] = given[key] if key in given and not problem else default
    for key in given:
        if key not in [d[0] for d in decls]:
            problems.append("energy.%s: unknown key" % key)
    problems.extend(energy.check(values, out))
    if values["enabled"]:
        out["energy"] = values


def load(path):
    # Raises ConfigError naming the file and every problem; never a bare traceback.
    from uocpp.config import jsontext

    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        raise ConfigError(["cannot be read (%s)" % e], path, True)
    except UnicodeError:
        raise ConfigError(["is not UTF-8 text"], path, True)
    if not text.strip():
        raise ConfigError(["is empty (it must hold a JSON object; config.json in the repository is an example)"], path, True)
    # MicroPython's json gives no position and lets a missing comma or colon
    # through: the strict reader checks the text first and says where.
    try:
        where = jsontext.scan(text)
        doc = json.loads(text)
    except jsontext.JsonError as e:
        raise ConfigError(["not valid JSON: %s" % e], path, True)
    except (ValueError, MemoryError) as e:
        raise ConfigError(["not valid JSON (%s)" % e], path, True)
    settings, ident, problems = validate(doc)
    if problems:
        raise ConfigError(in_file_order(problems, where, len(text)), path)
    return settings, ident


def in_file_order(problems, where, end):
    # Each problem starts "section.key: " or "section: "; it sorts by where
    # that key (else its section) stands in the file. A key that is missing
    # sorts at its section; a missing section at the end.
    def offset(item):
        name = item[1].split(": ", 1)[0]
        at = where.get(name)
        if at is None:
            at = where.get(name.split(".", 1)[0], end)
        return (at, item[0])

    # MicroPython's sort is not stable: the index breaks ties.
    return [p for _, p in sorted(enumerate(problems), key=offset)]


def secrets(settings):
    # Values that must never reach a log line.
    out = []
    for section in settings.values():
        for key in _SECRET_KEYS:
            if section.get(key):
                out.append(section[key])
    return out
