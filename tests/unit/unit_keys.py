# model/keys.py: the rules of the OCPP configuration keys (CFG-06, CFG-07,
# KEY-01, J-22: names are case-insensitive) and the store's persistence.
from check import TempDir, eq

from uocpp import log
from uocpp.model import keys, keytable
from uocpp.model.keys import Keys

log.set_level("error")


def parse(name, text):
    return keytable.parse(keytable.find(name), text)


def test_integers_take_their_range():
    eq(parse("HeartbeatInterval", "300"), 300, "plain")
    eq(parse("HeartbeatInterval", " 42 "), 42, "spaces")
    eq(parse("HeartbeatInterval", "0"), None, "below the minimum")
    eq(parse("HeartbeatInterval", "86401"), None, "above the maximum")
    eq(parse("HeartbeatInterval", "1.5"), None, "not an integer")
    eq(parse("HeartbeatInterval", ""), None, "empty")
    eq(parse("WebSocketPingInterval", "-1"), None, "negative")


def test_booleans_and_lists():
    eq(parse("LocalPreAuthorize", "TRUE"), True, "case-insensitive true")
    eq(parse("LocalPreAuthorize", "no"), None, "not a boolean")
    eq(parse("MeterValuesSampledData", "Voltage, Energy.Active.Import.Register"), "Voltage,Energy.Active.Import.Register", "normalized list")
    eq(parse("MeterValuesSampledData", "Voltage,Bogus"), None, "unknown measurand")
    eq(parse("MeterValuesSampledData", ",".join(["Voltage"] * 9)), None, "more than the MaxLength")
    eq(parse("ConnectorPhaseRotation", "0.RST,1.Unknown"), "0.RST,1.Unknown", "rotations")
    eq(parse("ConnectorPhaseRotation", "x.RST"), None, "bad connector")


def test_authorization_key_rules():
    eq(keytable.auth_key_ok("0123456789abcdef"), True, "16 printable")
    eq(keytable.auth_key_ok("short"), False, "too short")
    eq(keytable.auth_key_ok("ab" * 16), True, "32 hex digits")
    eq(keytable.auth_key_ok("a b c d e f g h i j"), False, "spaces are not allowed")


def test_find_is_case_insensitive():
    eq(keys.name(keytable.find("heartbeatinterval")[keys.INDEX]), "HeartbeatInterval", "found")
    eq(keytable.find("NoSuchKey"), None, "unknown")


def test_change_persists_and_read_only_is_refused():
    with TempDir("keys") as d:
        store = Keys(d + "/keys.json", {"HeartbeatInterval": 60})
        eq(store.change("heartbeatinterval", "45"), keys.ACCEPTED, "accepted")
        eq(store.change("NumberOfConnectors", "3"), keytable.REJECTED, "read-only")
        eq(store.change("NoSuchKey", "1"), "NotSupported", "unknown")
        eq(store.change("ConnectorPhaseRotation", "0.RST"), "RebootRequired", "needs a reboot")
        again = Keys(d + "/keys.json", {"HeartbeatInterval": 60})
        eq(again.get("HeartbeatInterval"), 45, "stored value wins over the seed")


def test_use_is_in_force_but_not_stored():
    with TempDir("keys") as d:
        store = Keys(d + "/keys.json", {"HeartbeatInterval": 60})
        seen = []
        store.watch("HeartbeatInterval", seen.append)
        store.use("HeartbeatInterval", 10)
        eq(store.get("HeartbeatInterval"), 10, "in force")
        eq(seen, [10], "watcher told")
        eq(Keys(d + "/keys.json", {"HeartbeatInterval": 60}).get("HeartbeatInterval"), 60, "not stored")


def test_a_name_is_found_whole_and_exactly():
    # NAMES holds names that begin or end others (MeterValuesAlignedData,
    # ...MaxLength; HeartbeatInterval, ...Interval): only the whole name
    # gives its index, and each index gives its name back.
    for n in ("MeterValuesAlignedData", "MeterValuesAlignedDataMaxLength", "CpoName", "AuthorizationKey"):
        eq(keys.name(keys.index(n)), n, "found whole")
    for wrong in ("Interval", "heartbeatinterval", "HeartbeatInterval MessageTimeout", " CpoName", "CpoName ", "", " "):
        try:
            keys.index(wrong)
        except KeyError:
            pass
        else:
            raise AssertionError("found %r" % wrong)
    count = keys.NAMES.count(" ") - 1
    eq([keys.index(keys.name(i)) for i in range(count)], list(range(count)), "every index round-trips")
    eq(keytable.find("heartbeatINTERVAL")[keys.INDEX], keys.index("HeartbeatInterval"), "case-insensitive")
    eq(keytable.find("NoSuchKey"), None, "unknown")


def test_an_unknown_name_is_a_key_error():
    with TempDir("keys") as d:
        store = Keys(d + "/keys.json", {})
        try:
            store.get("NoSuchKey")
        except KeyError:
            pass
        else:
            raise AssertionError("no KeyError")
        eq(store.name("messagetimeout"), "MessageTimeout", "spelling")
        eq(store.name("NoSuchKey"), None, "unknown")


def test_a_change_waiting_for_a_reboot_sent_again_writes_nothing():
    # "A change that changes nothing writes nothing": a central system that
    # sends its configuration again (at every connection) re-sent the value
    # stored already, waiting for a reboot (ConnectorPhaseRotation), or one
    # stored but out of force (HeartbeatInterval, a BootNotification.conf's
    # interval in force): keys.json was rewritten with the same bytes each time.
    from uocpp.store import json_file

    with TempDir("keys") as d:
        store = Keys(d + "/keys.json", {"HeartbeatInterval": 60})
        eq(store.change("ConnectorPhaseRotation", "0.RST"), "RebootRequired", "needs a reboot")
        eq(store.change("HeartbeatInterval", "300"), keys.ACCEPTED, "stored")
        store.use("HeartbeatInterval", 10)  # a BootNotification.conf's interval
        before = json_file.written
        eq(store.change("ConnectorPhaseRotation", "0.RST"), "RebootRequired", "still waiting for the reboot")
        eq(store.change("HeartbeatInterval", "300"), keys.ACCEPTED, "in force again")
        eq(store.get("HeartbeatInterval"), 300, "the value in force")
        eq(json_file.written, before, "bytes written")
        again = Keys(d + "/keys.json", {"HeartbeatInterval": 60})
        eq((again.get("HeartbeatInterval"), again.get("ConnectorPhaseRotation")), (300, "0.RST"), "on flash")
