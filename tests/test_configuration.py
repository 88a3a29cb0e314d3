"""GetConfiguration / ChangeConfiguration and the persisted key store (CFG-*, KEY-*)."""

import ast
import json
import random
import re
import signal
import time
from pathlib import Path

import pytest
from ocpp.v16 import call

from harness.wire import call_raw

# The spec digest's section 6.1: required Core keys and whether they are read-only.
REQUIRED_CORE = {
    "AuthorizeRemoteTxRequests": None,  # R or RW allowed
    "ClockAlignedDataInterval": False,
    "ConnectionTimeOut": False,
    "ConnectorPhaseRotation": False,
    "GetConfigurationMaxKeys": True,
    "HeartbeatInterval": False,
    "LocalAuthorizeOffline": False,
    "LocalPreAuthorize": False,
    "MeterValuesAlignedData": False,
    "MeterValuesSampledData": False,
    "MeterValueSampleInterval": False,
    "NumberOfConnectors": True,
    "ResetRetries": False,
    "StopTransactionOnInvalidId": False,
    "StopTxnAlignedData": False,
    "StopTxnSampledData": False,
    "SupportedFeatureProfiles": True,
    "TransactionMessageAttempts": False,
    "TransactionMessageRetryInterval": False,
    "UnlockConnectorOnEVSideDisconnect": None,
}


def test_each_declaration_is_of_the_key_its_comment_names():
    """model/keytable.py's line i declares key i, the i-th name of model/keys.py's NAMES (one text the
    store searches for a name's index, in flash when frozen or in a ROMFS image): each line's comment names that
    key, so the two lists cannot drift apart unseen, and every name is there once, framed by spaces."""
    lib = Path(__file__).resolve().parent.parent / "lib" / "uocpp" / "model"
    source = (lib / "keytable.py").read_text()
    table = next(n.value for n in ast.parse(source).body if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "TABLE")
    lines = "".join(ast.literal_eval(table)).splitlines()
    commented = re.findall(r'^    "[^"]*\\n",?  # (\w+)$', source, re.M)
    keys = ast.parse((lib / "keys.py").read_text()).body
    text = next(ast.literal_eval(n.value) for n in keys if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "NAMES")
    count = next(n.value.args[0].value for n in keys if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "_COUNT")
    names = text.split(" ")[1:-1]
    assert text == " " + " ".join(names) + " " and all(n.isidentifier() for n in names)
    assert len(lines) == len(commented) == len(names) == count, (len(lines), len(commented), len(names), count)
    assert list(names) == commented
    assert len(set(n.lower() for n in names)) == len(names)


def registered(cs, firmware, config=None, **kw):
    fw = firmware(cs.port, config, **kw)
    cs.wait_received("BootNotification")
    fw.wait_log("registration Accepted")
    return fw


def get_config(cs, keys=None):
    res = cs.call("CP001", call.GetConfiguration(key=keys) if keys is not None else call.GetConfiguration())
    values = {kv["key"]: kv for kv in res.configuration_key or []}
    return values, res.unknown_key or []


def test_heartbeat_interval_reads_the_value_in_force(cs, firmware):
    """BN-05, HB-01: after a BootNotification.conf sets the interval, HeartbeatInterval shows it, not config.json's."""
    cs.boot_plan[:] = [("Accepted", 45)]
    registered(cs, firmware, {"ocpp": {"heartbeatInterval": 77}})
    values, _ = get_config(cs, ["HeartbeatInterval"])
    assert values["HeartbeatInterval"]["value"] == "45"


def change(cs, key, value):
    return cs.call("CP001", call.ChangeConfiguration(key=key, value=value)).status


def test_all_keys_with_readonly_flags(cs, firmware):
    """CFG-01, CFG-03, CFG-09, CFG-11 (TC_019): every required Core key, readonly as the spec says."""
    registered(cs, firmware, {"connectors": {"count": 2}})
    values, unknown = get_config(cs)
    assert unknown == []
    for key, readonly in REQUIRED_CORE.items():
        assert key in values, key
        if readonly is not None:
            assert values[key]["readonly"] is readonly, key
        assert isinstance(values[key]["value"], str)
    assert values["NumberOfConnectors"]["value"] == "2"
    assert "Core" in values["SupportedFeatureProfiles"]["value"].split(",")
    for key in ("WebSocketPingInterval", "MessageTimeout", "RetryBackOffWaitMinimum", "RetryBackOffRandomRange", "RetryBackOffRepeatTimes"):
        assert values[key]["readonly"] is False
    assert "AuthorizationKey" not in values  # CFG-10: write-only, never listed


def test_listed_unknown_and_case_insensitive_keys(cs, firmware):
    """CFG-02, J-22: listed keys only, CiString matching, unknown names in unknownKey."""
    cs.boot_plan[:] = [("Accepted", 0)]  # interval 0 keeps the configured heartbeat (BN-16)
    registered(cs, firmware, {"ocpp": {"heartbeatInterval": 77}})
    values, unknown = get_config(cs, ["heartbeatinterval", "NoSuchKey", "NUMBEROFCONNECTORS"])
    assert set(values) == {"HeartbeatInterval", "NumberOfConnectors"}
    assert values["HeartbeatInterval"]["value"] == "77"
    assert unknown == ["NoSuchKey"]


def test_replies_are_json_text_the_schema_accepts(cs, firmware):
    """CFG-01, CFG-02, J-07: the reply is written as JSON text piece by piece (ops/get_configuration.py):
    the frame as sent is one valid JSON value, with a value that needs escaping round-tripped exactly,
    and the ocpp package (schema validation on) accepts both a full and a named + unknown reply."""
    fw = registered(cs, firmware)
    odd = 'a "quoted" \\ back/slash, tab\t, \u00e9t\u00e9 \u20ac'
    assert change(cs, "CpoName", odd) == "Accepted"
    values, unknown = get_config(cs)  # schema-validated by the ocpp package
    assert values["CpoName"] == {"key": "CpoName", "readonly": False, "value": odd} and unknown == []
    values, unknown = get_config(cs, ["cponame", "NoSuchKey", "AuthorizationKey", 'Other"Key'])
    assert values == {"CpoName": {"key": "CpoName", "readonly": False, "value": odd}, "AuthorizationKey": {"key": "AuthorizationKey", "readonly": False}}
    assert unknown == ["NoSuchKey", 'Other"Key']
    full = call_raw(cs, "GetConfiguration", {})
    listed = call_raw(cs, "GetConfiguration", {"key": ["HeartbeatInterval", "Nope"]})
    for frame in (full, listed):
        assert frame.kind == 3 and json.loads(frame.raw) == frame.msg  # the raw text, byte for byte, is one JSON value
        assert set(frame.msg[2]) <= {"configurationKey", "unknownKey"}
    entries = full.msg[2]["configurationKey"]
    assert len({kv["key"] for kv in entries}) == len(entries) > 40 and "AuthorizationKey" not in [kv["key"] for kv in entries]
    assert all(set(kv) == {"key", "readonly", "value"} and isinstance(kv["readonly"], bool) and isinstance(kv["value"], str) for kv in entries)
    assert listed.msg[2]["unknownKey"] == ["Nope"] and [kv["key"] for kv in listed.msg[2]["configurationKey"]] == ["HeartbeatInterval"]
    assert fw.proc.poll() is None


def test_authorization_key_is_write_only(cs, firmware):
    """CFG-10, SEC-04: asked by name it is known but carries no value; a change is never logged."""
    fw = registered(cs, firmware, {"centralSystem": {"authorizationKey": "0123456789abcdef"}})
    values, unknown = get_config(cs, ["AuthorizationKey"])
    assert values["AuthorizationKey"] == {"key": "AuthorizationKey", "readonly": False} and unknown == []
    new_key = "fedcba9876543210fedcba9876543210"
    assert change(cs, "AuthorizationKey", new_key) == "Accepted"
    fw.wait_log(r"dropping the connection: new AuthorizationKey")
    cs.wait_for(lambda fs: len(cs.connections) >= 2, 10, "reconnect with the new key")
    assert "0123456789abcdef" not in fw.log and new_key not in fw.log
    assert change(cs, "AuthorizationKey", "short") == "Rejected"  # SEC-11


@pytest.mark.parametrize(
    "key,value,status",
    [
        ("HeartbeatInterval", "abc", "Rejected"),  # KEY-01: non-numeric
        ("HeartbeatInterval", "0", "Rejected"),  # out of range
        ("WebSocketPingInterval", "-1", "Rejected"),  # KEY-02: negative
        ("LocalPreAuthorize", "yes", "Rejected"),  # not a boolean
        ("MeterValuesSampledData", "Energy.Active.Import.Register,Bogus", "Rejected"),  # unknown measurand
        ("NumberOfConnectors", "3", "Rejected"),  # CFG-07: known read-only key
        ("GetConfigurationMaxKeys", "100", "Rejected"),
        ("Testing", "1", "NotSupported"),  # CFG-11 (TC_040_1)
        ("ConnectorPhaseRotation", "0.RST,1.RST", "RebootRequired"),  # CFG-06
        ("MeterValueSampleInterval", "60", "Accepted"),  # CFG-11 (TC_021)
        ("meterValuesSampledData", "Energy.Active.Import.Register,Voltage", "Accepted"),
        ("WebSocketPingInterval", "0", "Accepted"),  # KEY-02: 0 turns pings off
    ],
)
def test_change_configuration_status_rules(cs, firmware, key, value, status):
    """CFG-05, CFG-06, CFG-07, KEY-01, KEY-02: the status follows the rules; refused values change nothing."""
    registered(cs, firmware)
    before, _ = get_config(cs, [key])
    assert change(cs, key, value) == status
    after, unknown = get_config(cs, [key])
    if status == "Accepted":
        canonical = next(iter(after))
        assert after[canonical]["value"] == value
    elif status == "NotSupported":
        assert unknown == [key]
    else:
        assert after == before  # Rejected and RebootRequired leave the running value alone


def test_new_heartbeat_interval_takes_effect_at_once(cs, firmware):
    """KEY-01, HB-02: HeartbeatInterval 60 -> 1 reschedules the next Heartbeat."""
    registered(cs, firmware, {"ocpp": {"heartbeatInterval": 60}})
    cs.boot_plan[:] = [("Accepted", 0)]
    t0 = time.monotonic()
    assert change(cs, "HeartbeatInterval", "1") == "Accepted"
    beats = cs.wait_received("Heartbeat", count=3, timeout=10)
    assert beats[0].t - t0 < 2.5
    assert 0.95 <= beats[2].t - beats[1].t <= 2.5


def test_ping_interval_key_drives_websocket_pings(cs, firmware):
    """KEY-02, J-23: WebSocketPingInterval 1 -> a ping about every second, answered, link stays; 0 stops them."""
    fw = registered(cs, firmware, {"ocpp": {"webSocketPingInterval": 0, "messageTimeout": 0.5}})
    assert change(cs, "WebSocketPingInterval", "1") == "Accepted"
    fw.wait_log(r"link: ping sent", count=4, timeout=8)
    # The firmware's own uptime stamps: the harness's read times add pipe jitter.
    # In whole milliseconds, as the stamps are: 1.000 - 0.000 in floats can be 0.9999999999999998.
    times = [round(float(line.split()[0]) * 1000) for _, line in fw.lines if "link: ping sent" in line]
    gaps = [b - a for a, b in zip(times[1:], times[2:])]  # the first ping comes at once (re-timing)
    assert all(1000 <= g <= 2000 for g in gaps), gaps  # interval + the pong wait of 0.5 s, in ms
    assert change(cs, "WebSocketPingInterval", "0") == "Accepted"
    n = len([1 for _, line in fw.lines if "link: ping sent" in line])
    fw.wait_log(r"keys: WebSocketPingInterval changed", count=2)
    time.sleep(3)  # a check that nothing happens needs a window; 3 intervals of the old setting
    assert len([1 for _, line in fw.lines if "link: ping sent" in line]) <= n + 1
    assert len(cs.connections) == 1


def test_values_persist_across_restart(cs, firmware, tmp_path):
    """CFG-06: an accepted value survives a restart (it is on flash) and wins over config.json."""
    cs.boot_plan[:] = [("Accepted", 0)]  # interval 0: the BootNotification.conf leaves HeartbeatInterval alone
    work = tmp_path / "fw"
    fw = registered(cs, firmware, {"ocpp": {"heartbeatInterval": 60}}, workdir=work)
    assert change(cs, "HeartbeatInterval", "45") == "Accepted"
    assert change(cs, "MeterValuesSampledData", "Voltage") == "Accepted"
    fw.stop()
    registered(cs, firmware, {"ocpp": {"heartbeatInterval": 60}}, workdir=work)
    cs.wait_for(lambda fs: len(cs.connections) >= 2, 10, "second connection")
    values, _ = get_config(cs, ["HeartbeatInterval", "MeterValuesSampledData"])
    assert values["HeartbeatInterval"]["value"] == "45"
    assert values["MeterValuesSampledData"]["value"] == "Voltage"


def test_a_change_to_the_boot_intervals_value_is_stored_too(cs, firmware, tmp_path):
    """CFG-06, BN-05: a BootNotification.conf's interval is in force but not stored; a ChangeConfiguration of
    HeartbeatInterval to that same value is the central system's setting and survives a restart (before: Accepted
    as "the value in force already", nothing stored, and the next boot, whose BootNotification.conf gives interval 0,
    ran on config.json's 60)."""
    cs.boot_plan[:] = [("Accepted", 45), ("Accepted", 0)]
    work = tmp_path / "fw"
    fw = registered(cs, firmware, {"ocpp": {"heartbeatInterval": 60}}, workdir=work)
    assert change(cs, "HeartbeatInterval", "45") == "Accepted"
    fw.stop()
    registered(cs, firmware, {"ocpp": {"heartbeatInterval": 60}}, workdir=work)
    cs.wait_for(lambda fs: len(cs.connections) >= 2, 10, "second connection")
    values, _ = get_config(cs, ["HeartbeatInterval"])
    assert values["HeartbeatInterval"]["value"] == "45"


def test_corrupt_store_gives_defaults_and_a_warning(cs, firmware, tmp_path):
    """A corrupt keys.json: defaults and a logged warning, never a crash."""
    work = tmp_path / "fw"
    (work / "flash").mkdir(parents=True)
    (work / "flash" / "keys.json").write_text('{"HeartbeatInterval": "4')
    fw = registered(cs, firmware, {"ocpp": {"heartbeatInterval": 60}}, workdir=work)
    fw.wait_log(r"keys.json is corrupt")
    values, _ = get_config(cs, ["HeartbeatInterval"])
    assert values["HeartbeatInterval"]["value"] == "60"


def test_kill_during_writes_always_leaves_a_valid_store(cs, firmware, tmp_path):
    """Atomic writes: SIGKILL at random moments while ChangeConfiguration writes; every restart loads a valid state."""
    work = tmp_path / "fw"
    rng = random.Random(1234)
    written = set()
    for round_no in range(8):
        fw = registered(cs, firmware, {"ocpp": {"heartbeatInterval": 60}}, workdir=work)
        if round_no:
            values, _ = get_config(cs, ["MeterValueSampleInterval"])
            assert values["MeterValueSampleInterval"]["value"] in written | {"0"}
            assert "corrupt" not in fw.log and "ignoring stored" not in fw.log
        uid_base = 1000 * round_no
        ws = cs.connections[-1][1]
        for i in range(40):  # pipelined writes, killed somewhere in the middle
            value = str(uid_base + i)
            written.add(value)
            cs.run(ws.send(json.dumps([2, "w%d" % (uid_base + i), "ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": value}])))
        time.sleep(rng.uniform(0.0, 0.05))  # the kill moment is the point of the test
        fw.proc.send_signal(signal.SIGKILL)
        fw.proc.wait(5)
    fw = registered(cs, firmware, workdir=work)
    values, _ = get_config(cs, ["MeterValueSampleInterval"])
    assert values["MeterValueSampleInterval"]["value"] in written


def test_too_many_keys_requested_gets_documented_callerror(cs, firmware):
    """CFG-04: more keys than GetConfigurationMaxKeys -> CALLERROR OccurenceConstraintViolation."""
    registered(cs, firmware)
    values, _ = get_config(cs, ["GetConfigurationMaxKeys"])
    most = int(values["GetConfigurationMaxKeys"]["value"])
    ok = call_raw(cs, "GetConfiguration", {"key": ["HeartbeatInterval"] * most})
    assert ok.kind == 3
    err = call_raw(cs, "GetConfiguration", {"key": ["HeartbeatInterval"] * (most + 1)})
    assert err.kind == 4 and err.msg[2] == "OccurenceConstraintViolation"
