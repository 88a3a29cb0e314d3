# config.json: declared once here (section, key, type, default, rule), then
# loaded and checked in one pass. Every problem is collected, so a user sees
# all bad keys at once, each named with the rule it breaks.
#
# The declarations are data, one string with a line per key, read while
# checking (as model/keytable.py holds the OCPP keys): every identifier and
# every short string constant of a module is an interned name on a board,
# kept for ever even after loading.py unloads this module (docs/memory.md);
# a key or a rule cut out of the string at run time is a heap string that
# goes again. Frozen or in a ROMFS image the string stays in flash. So the
# code is a few functions, and spells out few keys.
import json
import os

from micropython import const

from uocpp.config import evse
from uocpp.model import identity, keys

# [section], then a line per key:  key type default rule
#   type     string, integer, number (int or float, so tests can use
#            sub-second timings), boolean, array, object
#   default  * required (none), None, _ the empty string or array, all the
#            feature profiles (keys.PROFILES), else the value itself
#   rule     _ none; min:max for numbers; a,b,c the allowed strings; a
#            number: one of _check()'s own checks (1 to 8) or evse.py's
#            validate() (9 up)
# The evse section is declared in evse.py, energy in energy.py (read only
# when config.json has that section).
_TABLE = const("""[centralSystem]
url string * 1
chargePointId string * 2
authorizationKey string _ 3
securityProfile integer None 0:2
secureUrl string _ 4
caFile string _ _
connectTimeout number 10 0.1:300
maxFrameSize integer 8192 512:65536
additionalRootCertificateCheck boolean false _
securityEvents boolean false _
[ocpp]
heartbeatInterval number 300 1:86400
messageTimeout number 30 0.1:600
bootRetryInterval number 60 1:86400
webSocketPingInterval number 60 0:86400
meterValueSampleInterval integer 0 0:86400
featureProfiles array all 6
[reconnect]
waitMinimum number 5 0.05:3600
randomRange number 30 0:3600
repeatTimes integer 5 0:16
[wifi]
ssid string _ _
password string _ _
timeout number 20 1:300
stableTime number 3 0:60
[modem]
enabled boolean false _
uart integer 2 0:2
tx integer 17 0:48
rx integer 16 0:48
baud integer 115200 1200:921600
device string _ _
timeout number 1 0.05:30
retries integer 2 0:5
totalTimeout number 6 0.1:60
[watchdog]
timeout number 60 5
[ntp]
server string pool.ntp.org _
timeout number 10 1:120
[connectors]
count integer 1 1:8
maxCurrent number 32 6:80
voltage number 230 100:480
phases integer 3 1:3
[meter]
model string _ ,SDM120,SDM630
uart integer 1 0:2
tx integer 4 0:48
rx integer 5 0:48
baud integer 9600 1200:115200
device string _ _
address integer 1 1:247
timeout number 0.3 0.05:5
[simulator]
port integer 0 0:65535
[log]
level string info debug,info,warning,error
heapInterval number 0 0:86400
flashLevel string info debug,info,warning,error,off
flashBytes integer 32768 1024:262144
flashFiles integer 2 2:8
[diagnostics]
caFile string _ _
timeout number 30 0.1:300
[storage]
dir string _ _
journalBytes integer 32768 4096:1048576
maxTransactions integer 50 1:1000
[firmware]
caFile string _ _
timeout number 30 0.5:600
retries integer 3 0:20
retryInterval number 60 0:86400
confirmTimeout number 300 1:86400
[mqtt]
enabled boolean false _
host string _ _
port integer 1883 1:65535
tls boolean false _
caFile string _ _
clientId string _ _
user string _ _
password string _ _
topicPrefix string ocpp 7
keepalive integer 60 1:65535
timeout number 5 0.1:60
reconnectMinimum number 2 0.05:3600
reconnectRandomRange number 3 0:3600
reconnectRepeatTimes integer 5 0:16
discovery boolean false _
discoveryPrefix string homeassistant 7
[web]
enabled boolean false _
port integer 80 1:65535
host string 0.0.0.0 _
password string _ _
setupMode boolean false _
apPassword string _ 8
setupButton integer -1 -1:48
setupWithoutWifi boolean true _
""")
# Notes on sections and keys:
# - centralSystem: additionalRootCertificateCheck seeds the read-only
#   AdditionalRootCertificateCheck key; securityEvents: the critical
#   security events go out as SecurityEventNotification (security_log.py),
#   off for a central system without the 1.6 security extensions (issue 25).
#   An absent securityProfile follows the rest (validate()).
# - ocpp: meterValueSampleInterval seeds MeterValueSampleInterval (s, 0 = no
#   periodic samples in a transaction), as heartbeatInterval seeds
#   HeartbeatInterval; featureProfiles: the 1.6 feature profiles that are on.
# - modem: the cellular modem that reports ICCID and IMSI at boot
#   (modem.py). On an ESP32: UART id and pins; on the unix port: a serial
#   device path.
# - ntp: sets the clock before TLS on a device (platform sync_clock); "" = no NTP.
# - connectors: maxCurrent is the current the pilot offers when nothing
#   limits it (the cable, the supply), in A. Smart charging: limits in W
#   become A per phase over voltage and phases (unless a period gives
#   numberPhases).
# - meter: the energy meters (device/sdm.py): "" = the EVSE's own (the
#   unix simulator's); SDM120 or SDM630 on a UART (ESP32) or a serial device
#   path (unix port), connector n at Modbus address address + n - 1.
# - simulator: unix port only, the EVSE simulator's TCP port on 127.0.0.1 (0 = off).
# - log: the persistent log on flash (log_ring.py) keeps lines at
#   flashLevel and above, in flashFiles files sharing flashBytes.
# - diagnostics: GetDiagnostics uploads (services/diagnostics.py), the CA
#   for https:// ("" = centralSystem.caFile) and the bound on each network step.
# - storage: the outbox's journal on flash (transaction messages waiting for
#   the central system) and how many transactions may wait there.
# - firmware: UpdateFirmware (services/firmware_update.py): the CA for
#   https:// downloads ("" = centralSystem.caFile), each network step's
#   timeout, retries and their interval when the request gives none, and how
#   long a new install may take to be Accepted before the charger returns to
#   the old one.
# - mqtt: the optional status mirror (extras/mqtt_mirror.py). 1883 is MQTT's
#   port; brokers usually take TLS on 8883. tls: the broker's certificate
#   must chain to caFile (one DER CA on flash, as centralSystem.caFile) and
#   name mqtt.host. discovery: Home Assistant MQTT discovery
#   (extras/ha_discovery.py).
# - web: the installer's local web page (extras/web/): the status page when
#   enabled, the setup form in setup mode (README, Setting up a charger on
#   site). Basic auth with password; setupButton: GPIO held low at boot =
#   setup. ESP32: an empty wifi.ssid means a fresh board (setup mode), unless
#   the board has another link (setupWithoutWifi false, or modem.enabled).

# A type's index: its place in this string, divided by 8.
_STR = const(0)  # "string  integer number  boolean array   object"
_INT = const(1)
_BOOL = const(3)
_LIST = const(4)
_OBJECT = const(5)


class ConfigError(ValueError):
    # One message for the log: "<file>: <what is wrong>" for a file that
    # cannot be read or is no JSON, else "<file> has N problem(s):" and one
    # line per problem, in the order of the file.
    pass


def validate(doc):
    # -> (settings, identity values, problems). settings maps section ->
    # {key: value} with every default filled in.
    if not isinstance(doc, dict):
        return None, None, ["the top level must be a JSON object"]
    problems = []
    out = {}
    _read(_TABLE, doc, out, problems)
    _read(evse.TABLE, doc, out, problems)
    known = sorted(list(out) + ["chargePoint", "energy"])
    problems[:0] = ["%s: unknown section (known: %s)" % (name, ", ".join(known)) for name in doc if name not in known]
    # The rules across keys. A key with a bad value is not in out.
    m = out["mqtt"]
    if m.get("enabled") and not m.get("host", 1):
        problems.append("mqtt.host: required when mqtt.enabled is true")
    if m.get("tls") and not m.get("caFile", 1):
        problems.append("mqtt.caFile: required when mqtt.tls is true (the broker's CA certificate in DER)")
    elif m.get("tls") and m.get("caFile"):
        try:
            os.stat(m["caFile"])
        except OSError as e:
            problems.append("mqtt.caFile: cannot be read (%s)" % e)
    if m.get("discovery") and not m.get("discoveryPrefix", 1):
        problems.append("mqtt.discoveryPrefix: must not be empty when mqtt.discovery is true")
    # MQTT 3.1.1 1.5.3: no U+0000 in a UTF-8 string (the broker closes
    # every session); 3.1.2.9: a password only with a user name (else not sent).
    for key in "clientId discoveryPrefix topicPrefix user".split():
        if 0 in m.get(key, "").encode():
            problems.append("mqtt.%s: must not contain U+0000 (MQTT 3.1.1 1.5.3)" % key)
    if m.get("password") and not m.get(key, 1):  # key: the loop's last, user (no new interned name)
        problems.append("mqtt.password: requires mqtt.user (MQTT 3.1.1 3.1.2.9: no password without a user name)")
    if out["web"].get("enabled") and not out["web"].get("password"):
        problems.append("web.password: required when web.enabled is true")
    # IEEE 802.11: an SSID of at most 32 bytes ("" = none yet: setup mode);
    # a WPA2 passphrase of 8 to 63 printable ASCII characters, or the PSK as
    # 64 hex digits; "" = an open network. The ESP32's driver cuts a longer
    # SSID (never joins) and refuses such a password (every attempt fails).
    w = out["wifi"]
    if len(w.get("ssid", "").encode()) > 32:
        problems.append("wifi.ssid: must be at most 32 bytes (UTF-8)")
    w = w.get("password", "").encode()
    if w and not (8 <= len(w) <= 63 and 32 <= min(w) and max(w) <= 126 or len(w) == 64 and not w.strip(b"0123456789abcdefABCDEF")):
        problems.append("wifi.password: must be empty (an open network), 8 to 63 printable ASCII characters or 64 hex digits (WPA2)")
    if not [p for p in problems if p.startswith("centralSystem")]:
        # Security profiles (SEC-01): 0 = ws://, 1 = ws:// + Basic auth,
        # 2 = wss:// + Basic auth. An absent securityProfile follows the
        # rest: a wss:// url -> 2, an authorizationKey -> 1, else 0.
        cs = out["centralSystem"]
        secure = cs["url"].startswith("wss://")
        profile = cs["securityProfile"]
        if profile is None:
            profile = cs["securityProfile"] = 2 if secure else 1 if cs["authorizationKey"] else 0
        if secure and profile < 2:
            problems.append("centralSystem.url: wss:// is security profile 2, not %d" % profile)
        if profile and not cs["authorizationKey"]:
            problems.append("centralSystem.authorizationKey: required by security profile %d" % profile)
        if profile == 2 and not secure and not cs["secureUrl"]:
            problems.append("centralSystem.secureUrl: required by security profile 2 (the wss:// url)")
        if profile == 2 and not cs["caFile"]:
            problems.append("centralSystem.caFile: required by security profile 2 (CA certificate, DER)")
        if cs["caFile"]:
            try:
                os.stat(cs["caFile"])
            except OSError as e:
                problems.append("centralSystem.caFile: cannot be read (%s)" % e)
    if "energy" in doc:
        # energy/: declared in config/energy.py, loaded only when the section
        # is there; a bad value leaves its default; kept only when enabled.
        from uocpp.config import energy

        _read(energy.TABLE, doc, out, problems, True)
        problems.extend(energy.check(out["energy"], out))
        if not out["energy"]["enabled"]:
            del out["energy"]
    if not [p for p in problems if p.startswith(("evse", "connectors"))]:
        problems.extend(evse.check(out["evse"], out["connectors"]["count"]))
    # Connector n's meter answers at address + n - 1 (device/sdm.py): past
    # 247 the meter could not be made, and every start would fail.
    # The keys cut from a text: spelled out, each would be a name for ever.
    model, address = [out["meter"].get(k) for k in "model address".split()]
    count = out["connectors"].get("count", 1)
    if model == "":
        try:
            import esp32  # noqa: F401 (the ESP32 port, as platform/__init__.py tells)

            # "" is the EVSE's own meter: the unix simulator has one, a board none (platform/esp32.py meter()).
            problems.append("meter.model: required on an ESP32 board (SDM120 or SDM630): it has no meter of its own")
        except ImportError:
            pass
    # A soft reset reads the modem again (config/loading.py) with the
    # watchdog running and unfed: it must cover that read, a quarter of
    # itself since the last feed, and a second for the rest of the restart.
    # (The keys cut from a text: spelled out, each would be a name.)
    sect, wait = out["modem"], out["watchdog"].get("timeout")
    on, total = [sect.get(k) for k in "enabled totalTimeout".split()]
    if on and wait and total and wait < (total + 1) * 4 / 3:
        problems.append(
            "watchdog.timeout: %s s does not cover a soft reset, which reads the modem again while it runs (modem.totalTimeout %s s): at least %.1f s"
            % (wait, total, (total + 1) * 4 / 3)
        )
    if model and address and address + count - 1 > 247:  # a bad address is not in out (its own problem)
        problems.append(
            "meter.address: connector %d's meter would be at Modbus address %d (address + n - 1 must be at most 247)" % (count, address + count - 1)
        )
    # The longest reply (device/sdm.py: 49 bytes from an SDM630, 33 from an
    # SDM120, 10 bits a byte) must fit in the request's timeout, for the
    # connectors' meters and the grid meter (on its own bus or on theirs):
    # 1200 baud with the default 0.3 s reads nothing ever (no transaction
    # starts unmetered; the grid meter is lost from boot).
    meters = [["meter.timeout", model] + [out["meter"].get(k) for k in "baud timeout".split()]]
    sect = out.get("energy")
    if sect:
        fitted, g_model, g_baud, g_wait, g_bus = [sect[k] for k in "grid gridModel gridBaud gridTimeout gridBus".split()]
        if fitted:
            meters.append(["energy.gridTimeout", g_model, meters[0][2] if g_bus == "meter" else g_baud, g_wait])
    for key, m_model, baud, wait in meters:
        if m_model and baud and wait:
            least = (490 if int(m_model[3:]) == 630 else 330) / baud + 0.05  # (the number: "SDM630" would be a name)
            if wait < least:
                problems.append("%s: %s s is shorter than an %s's reply takes at %d baud: at least %.2f s" % (key, wait, m_model, baud, least))
    # chargePoint: the identity, checked by the seed setters' own rules (identity.py).
    given = doc.get("chargePoint", {})
    ident = {}
    if not isinstance(given, dict):
        problems.append("chargePoint: must be a JSON object")
        given = {}
    for field, maxlen, required in identity.FIELDS:
        if field not in given:
            if required:
                problems.append("chargePoint.%s: required, missing" % field)
            continue
        problem = identity.check(field, maxlen, given[field])
        if problem:
            problems.append("chargePoint.%s: %s" % (field, problem))
        else:
            ident[field] = given[field]
    for key in given:
        if key not in identity.SETTERS:
            problems.append("chargePoint.%s: unknown key" % key)
    return out, ident, problems


def _read(text, doc, out, errors, fill=False):
    # Checks doc's sections that text declares (_TABLE's format) into
    # out[section], each key's value or its default, and appends each
    # problem to errors; a bad value is left out (fill: its default goes in).
    start = 0
    while start < len(text):
        head = text.find("\n", start)
        end = text.find("\n[", head)
        if end < 0:
            end = len(text)
        section = text[start + 1 : head - 1]
        given = doc.get(section, {})
        if not isinstance(given, dict):
            errors.append("%s: must be a JSON object" % section)
            given = {}
        values = out[section] = {}
        known = []
        for line in text[head + 1 : end].split("\n"):
            if not line:
                continue
            key, kind, default, rule = line.split()
            known.append(key)
            index = "string  integer number  boolean array   object".find(kind) // 8
            if key in given:
                problem = _check(index, kind, given[key], rule)
                if not problem:
                    values[key] = given[key]
                    continue
                errors.append("%s: %s" % (section + "." + key, problem))
                if not fill:
                    continue
            elif default == "*":
                errors.append("%s.%s: required, missing" % (section, key))
                continue
            if default == "None":
                values[key] = None
            elif index == _STR:
                values[key] = "" if default == "_" else default
            elif index == _LIST:
                values[key] = list(keys.PROFILES) if default == "all" else ()
            elif index == _BOOL:
                values[key] = default == "true"
            else:
                values[key] = float(default) if "." in default else int(default)
        for key in given:
            if key not in known:
                errors.append("%s.%s: unknown key" % (section, key))
        start = end + 1


def _check(index, kind, value, text):
    # The problem with a value of a declared type (index, kind) and rule
    # (text, as the table writes it), or None.
    if isinstance(value, bool) and index != _BOOL or not isinstance(value, (str, int, (int, float), bool, list, dict)[index]):
        return ("must be an %s, not %s" if index in (_INT, _LIST, _OBJECT) else "must be a %s, not %s") % (kind, type(value).__name__)
    if text == "_":
        return None
    if ":" in text:
        low, high = [float(n) if "." in n else int(n) for n in text.split(":")]
        return None if low <= value <= high else "must be between %s and %s" % (low, high)
    if not text.isdigit():
        text = text.split(",")
        return None if value in text else "must be one of %s" % ", ".join(text)
    # The checks a range or a list of strings cannot say, by their number
    # in the table.
    index = int(text)
    if index > 8:
        return evse.validate(index, value)
    if index == 4:
        # centralSystem.secureUrl: empty, or a wss:// url.
        if not value:
            return None
        if not value.startswith("wss://"):
            return "must start with wss://"
    if index in (1, 4):
        # centralSystem.url
        if value.partition("://")[0] not in ("ws", "wss") or "://" not in value:
            return "must start with ws:// or wss://"
        if not value.split("/", 3)[2].rsplit(":", 1)[0]:
            return "has no host"
        # The port as the link reads it (link/handshake.py): one it cannot
        # read would fail every connection attempt of a charger that booted.
        from uocpp.link.handshake import parse_url

        try:
            port = parse_url(value)[2]
        except ValueError:
            port = 0
        if not 0 < port < 65536:
            return "has a port that is not 1 to 65535"
    elif index == 2:
        # centralSystem.chargePointId: in the URL path (J-02), percent-encoded,
        # and the Basic-auth username (SEC-03), which cannot contain ':'.
        if not value or len(value) > 48:
            return "must be 1 to 48 characters"
        for c in value.encode():  # bytes, not characters: no interned names
            if not 32 <= c <= 126 or c == 58:
                return "must be printable ASCII without ':'"
    elif index == 3:
        # centralSystem.authorizationKey (SEC-04, SEC-05); the message never shows the value.
        from uocpp.model import keytable

        if value and not keytable.auth_key_ok(value):
            return "must be 16 to 20 printable ASCII characters or 32 to 40 hex digits"
    elif index == 5:
        # watchdog.timeout
        if value != 0 and not 1 <= value <= 3600:
            return "must be 0 (off) or between 1 and 3600"
    elif index == 6:
        # ocpp.featureProfiles (keys.PROFILES; the first is Core).
        for p in value:
            if p not in keys.PROFILES:
                return "must list only %s" % ", ".join(keys.PROFILES)
        if keys.PROFILES[0] not in value:
            return "must include Core (always on)"
        if len(set(value)) != len(value):
            return "must list each profile once"
    elif index == 7:
        # mqtt.topicPrefix, discoveryPrefix: MQTT topic levels under which
        # every charge point publishes (43 +, 35 #).
        data = value.encode()
        if 43 in data or 35 in data or value.startswith("/") or value.endswith("/") or len(value) > 64:
            return "must be at most 64 characters without +, # or a leading or trailing /"
    elif index == 8:
        # web.apPassword: WPA2 takes 8 to 63 printable ASCII characters (IEEE 802.11i, as
        # wifi.password); "" = generated at each setup-mode boot.
        data = value.encode()
        if data and not (8 <= len(data) <= 63 and 32 <= min(data) and max(data) <= 126):
            return "must be empty (generated) or 8 to 63 printable ASCII characters (WPA2)"
    return None


def load(path):
    # -> (settings, identity values). Raises ConfigError naming the file and
    # every problem; never a bare traceback.
    from uocpp.config import loading  # its strict JSON reader
    from uocpp.store import json_file

    if not json_file.exists(path) and json_file.exists(path + ".tmp"):
        # FAT: the setup form's save cut between its remove and its rename
        # (json_file.replace) leaves the new file, whole, as path.tmp alone.
        try:
            os.rename(path + ".tmp", path)
        except OSError:
            pass  # read-only: said below, as for any config.json that cannot be read
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        raise ConfigError("%s: cannot be read (%s)" % (path, e))
    except UnicodeError:
        raise ConfigError("%s: is not UTF-8 text" % path)
    if not text.strip():
        raise ConfigError("%s: is empty (it must hold a JSON object; config.json in the repository is an example)" % path)
    # MicroPython's json gives no position and lets a missing comma or colon
    # through: the strict reader checks the text first and says where.
    where = loading.index(text)
    if isinstance(where, str):
        raise ConfigError("%s: not valid JSON: %s" % (path, where))
    try:
        doc = json.loads(text)
    except (ValueError, MemoryError) as e:
        raise ConfigError("%s: not valid JSON (%s)" % (path, e))
    del text
    settings, ident, problems = validate(doc)
    if problems:
        # Each problem starts "section.key: " or "section: "; it sorts by
        # where that key (else its section) stands in the file. A key that
        # is missing sorts at its section; a missing section at the end.
        def key(item):
            name = item[1].split(": ", 1)[0]
            at = where.get(name)
            if at is None:
                at = where.get(name.split(".", 1)[0], 1 << 30)
            return (at, item[0])

        # MicroPython's sort is not stable: the index breaks ties.
        problems = [p for _, p in sorted(enumerate(problems), key=key)]
        raise ConfigError("%s has %d problem(s):\n  " % (path, len(problems)) + "\n  ".join(problems))
    return settings, ident


def secrets(settings):
    # Values that must never reach a log line.
    out = []
    for section in settings.values():
        for key in "authorizationKey password apPassword".split():
            if section.get(key):
                out.append(section[key])
    return out
