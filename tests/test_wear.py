"""Flash wear: a change that changes nothing writes nothing (issue 24, item 3).

A central system that re-sends its configuration or availability must not
rewrite files on flash (nor fill the flash log) each time: the files'
inode, mtime and size stay as they were, and no log line says anything
changed."""

import os

from ocpp.v16 import call


def registered(cs, firmware, config=None):
    fw = firmware(cs.port, config)
    cs.wait_received("BootNotification")
    fw.wait_log("registration Accepted")
    return fw


def stamp(path):
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def change(cs, key, value):
    return cs.call("CP001", call.ChangeConfiguration(key=key, value=value)).status


def flash_log(fw):
    ring = fw.flash / "log" / "0.txt"
    return ring.read_text() if ring.exists() else ""


def test_unchanged_change_configuration_writes_nothing_and_logs_nothing(cs, firmware):
    fw = registered(cs, firmware)
    keys_json = fw.flash / "keys.json"
    # The value in force from the defaults: nothing is stored for it.
    assert change(cs, "MeterValueSampleInterval", "0") == "Accepted"
    assert stamp(keys_json) is None
    # A real change is stored and logged once ...
    assert change(cs, "MeterValueSampleInterval", "30") == "Accepted"
    fw.wait_log(r"keys: MeterValueSampleInterval changed")
    before, lines, ring = stamp(keys_json), len(fw.lines), flash_log(fw)
    assert before is not None
    # ... and the same value again, spelled alike or not, changes nothing.
    for value in ("30", "30", "030", "30"):
        assert change(cs, "meterValueSampleInterval", value) == "Accepted"
    got = cs.call("CP001", call.GetConfiguration(key=["MeterValueSampleInterval"]))
    assert got.configuration_key[0]["value"] == "30"
    assert stamp(keys_json) == before
    assert not (fw.flash / "keys.json.tmp").exists()
    assert [line for _, line in fw.lines[lines:] if "keys:" in line] == []
    assert flash_log(fw).count("MeterValueSampleInterval changed") == ring.count("MeterValueSampleInterval changed") == 1
    # A guard still refuses what it refused (SecurityProfile at the current one).
    assert change(cs, "SecurityProfile", "0") == "Rejected"
    # A value waiting for a reboot is not the value in force: storing the
    # one in force again is a change.
    assert change(cs, "ConnectorPhaseRotation", "0.RST") == "RebootRequired"
    assert change(cs, "ConnectorPhaseRotation", "0.Unknown") == "RebootRequired"
    assert keys_json.read_text().count("0.Unknown") == 1


def test_change_availability_to_the_state_in_force_writes_nothing(cs, firmware):
    fw = registered(cs, firmware)
    path = fw.flash / "connectors.json"
    assert cs.call("CP001", call.ChangeAvailability(connector_id=1, type="Operative")).status == "Accepted"
    assert stamp(path) is None  # operative already: nothing to store
    assert cs.call("CP001", call.ChangeAvailability(connector_id=1, type="Inoperative")).status == "Accepted"
    before = stamp(path)
    assert before is not None
    for _ in range(3):
        assert cs.call("CP001", call.ChangeAvailability(connector_id=1, type="Inoperative")).status == "Accepted"
    assert stamp(path) == before
    assert cs.call("CP001", call.ChangeAvailability(connector_id=1, type="Operative")).status == "Accepted"
    assert stamp(path) != before
