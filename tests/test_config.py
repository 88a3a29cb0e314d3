"""config.json validation and the identity setters, on the MicroPython unix port."""

import json

import pytest

from harness.firmware import EXIT_CONFIG, run_micropython


def run_bad(firmware, cfg=None, raw=None):
    fw = firmware(1, cfg, raw_config=raw)
    assert fw.wait_exit(10) == EXIT_CONFIG
    return fw.log


@pytest.mark.parametrize(
    "override,expected",
    [
        ({"chargePoint": {"chargePointVendor": None}}, "chargePoint.chargePointVendor: required, missing"),
        ({"chargePoint": {"chargePointModel": 42}}, "chargePoint.chargePointModel: must be a string, not int"),
        ({"chargePoint": {"chargePointVendor": "X" * 21}}, "chargePoint.chargePointVendor: is 21 characters long; OCPP allows at most 20"),
        ({"chargePoint": {"firmwareVersion": "Ü"}}, "chargePoint.firmwareVersion: must be printable ASCII"),
        ({"chargePoint": {"colour": "red"}}, "chargePoint.colour: unknown key"),
        ({"centralSystem": {"url": "http://example.org"}}, "centralSystem.url: must start with ws:// or wss://"),
        ({"ocpp": {"heartbeatInterval": "60"}}, "ocpp.heartbeatInterval: must be a number, not str"),
        ({"ocpp": {"heartbeatInterval": 0}}, "ocpp.heartbeatInterval: must be between 1 and 86400"),
        ({"log": {"level": "loud"}}, "log.level: must be one of debug, info, warning, error"),
        ({"reconnect": {"repeatTimes": 1.5}}, "reconnect.repeatTimes: must be an integer, not float"),
        ({"mystery": {}}, "mystery: unknown section"),
        ({"evse": {"cardReader": {"type": "mfrc522", "cs": 60}}}, "evse.cardReader: cs must be an integer between 0 and 48"),
        # A bad meter.address beside a meter.model: the cross-key rule (address + n - 1) must not run on it.
        ({"meter": {"model": "SDM630", "address": 0}}, "meter.address: must be between 1 and 247"),
    ],
)
def test_each_bad_key_is_named_with_its_rule(firmware, override, expected):
    log = run_bad(firmware, override)
    assert expected in log
    assert "Traceback" not in log
    assert "connecting" not in log  # the safe state opens no link


def test_every_problem_is_reported_at_once(firmware):
    log = run_bad(firmware, {"chargePoint": {"chargePointVendor": None, "imsi": 7, "meterType": "x" * 26}, "ocpp": {"bogus": 1}})
    assert "config.json has 4 problem(s)" in log
    for key in ["chargePointVendor: required", "imsi: must be a string", "meterType: is 26 characters", "ocpp.bogus: unknown key"]:
        assert key in log


def test_invalid_json_and_missing_file(firmware, tmp_path):
    assert "not valid JSON" in run_bad(firmware, raw='{"chargePoint": ')
    fw = firmware(1, env={"OCPP_CONFIG": str(tmp_path / "absent.json")})
    assert fw.wait_exit(10) == EXIT_CONFIG
    assert "cannot be read" in fw.log


def test_secrets_from_config_never_reach_the_log(cs, firmware):
    """SEC-03 (partly): the authorization key is masked in every log line, even at debug level."""
    key = "supersecretpassword1"
    fw = firmware(cs.port, {"centralSystem": {"authorizationKey": key}})
    cs.wait_received("BootNotification")
    fw.wait_log("registration Accepted")
    assert key not in fw.log
    auth = cs.connections[0][1].request.headers["Authorization"]
    assert auth.startswith("Basic ")


SETTERS = [
    ("set_charge_point_vendor", "chargePointVendor", 20),
    ("set_charge_point_model", "chargePointModel", 20),
    ("set_charge_point_serial_number", "chargePointSerialNumber", 25),
    ("set_charge_box_serial_number", "chargeBoxSerialNumber", 25),
    ("set_firmware_version", "firmwareVersion", 50),
    ("set_iccid", "iccid", 20),
    ("set_imsi", "imsi", 20),
    ("set_meter_type", "meterType", 25),
    ("set_meter_serial_number", "meterSerialNumber", 25),
]


def test_setters_enforce_bn02_limits_on_micropython():
    """BN-02, J-22: each of the nine setters accepts its maximum and refuses one more, naming field and limit."""
    code = "from uocpp.model import identity\nimport json\nout = {}\n"
    for fn, field, limit in SETTERS:
        code += (
            "identity.%s('a' * %d)\n"
            "try:\n    identity.%s('a' * %d)\n    out['%s'] = 'accepted'\n"
            "except identity.IdentityError as e:\n    out['%s'] = str(e)\n" % (fn, limit, fn, limit + 1, field, field)
        )
    code += "out['payload'] = identity.boot_notification_payload()\nprint(json.dumps(out))\n"
    res = run_micropython(code)
    assert res.returncode == 0, res.stderr + res.stdout
    out = json.loads(res.stdout)
    for _, field, limit in SETTERS:
        assert out[field] == "%s is %d characters long; OCPP allows at most %d" % (field, limit + 1, limit)
        assert out["payload"][field] == "a" * limit  # the refused value changed nothing


def test_setters_refuse_non_printable_and_non_strings_on_micropython():
    res = run_micropython(
        "from uocpp.model import identity\n"
        "for v in ('tab\\there', 'caf\\u00e9', 12, None, ''):\n"
        "    try:\n        identity.set_imsi(v)\n        print('accepted', repr(v))\n"
        "    except identity.IdentityError as e:\n        print(e)\n"
    )
    lines = res.stdout.splitlines()
    assert lines[0].startswith("imsi must be printable ASCII")
    assert lines[1].startswith("imsi must be printable ASCII")
    assert lines[2] == "imsi must be a string, not int"
    assert lines[3] == "imsi must be a string, not NoneType"
    assert lines[4] == "imsi must not be empty"


def test_config_json_left_as_its_tmp_by_a_cut_save_is_taken(cs, tmp_path):
    """The setup form saves config.json with json_file.write_json_atomic: on FAT, which cannot rename onto an
    existing file, replace() removes config.json and then renames config.json.tmp (whole, closed) to it. A power
    cut between the two leaves the .tmp alone; every other file's reader (read_json) takes it, so must the boot,
    not halt with "config.json: cannot be read" on a charger no one can reach any more."""
    from harness.firmware import FAST, Firmware, merge

    fw = Firmware(tmp_path / "fw", merge(FAST, {"centralSystem": {"url": "ws://127.0.0.1:%d/ocpp" % cs.port}}))
    fw.config_path.rename(fw.config_path.with_name("config.json.tmp"))
    fw.start()
    try:
        fw.wait_log("registration Accepted")
        assert fw.config_path.exists() and not fw.config_path.with_name("config.json.tmp").exists()
    finally:
        fw.stop()
