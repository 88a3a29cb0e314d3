"""GetLog, LogStatusNotification and ExtendedTriggerMessage (issue 25 item 6; OCPP 1.6 Security Whitepaper edition
3): the firmware on the unix port against the `ocpp` central system (schema validation on) and a real HTTP upload
server (harness/http_server.py). DiagnosticsLog is GetDiagnostics' file, SecurityLog the security log's lines."""

import re

import pytest
from ocpp.v16 import call

from harness.ftp_server import FtpServer
from harness.http_server import FileServer
from tests.test_security_events import kinds, until_logged

LINE = re.compile(rb"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) (\w+)")


@pytest.fixture
def server():
    srv = FileServer().start()
    yield srv
    srv.stop()


def get_log(cs, url, log_type="SecurityLog", request_id=7, **kw):
    log = {"remote_location": url}
    log.update({k: v for k, v in kw.items() if k in ("oldest_timestamp", "latest_timestamp")})
    extra = {k: v for k, v in kw.items() if k in ("retries", "retry_interval")}
    return cs.call("CP001", call.GetLog(log=log, log_type=log_type, request_id=request_id, **extra))


def log_statuses(cs):
    return [(f.payload["status"], f.payload.get("requestId")) for f in cs.received("LogStatusNotification")]


def wait_log_statuses(cs, count, timeout=10.0):
    cs.wait_received("LogStatusNotification", count=count, timeout=timeout)
    return log_statuses(cs)


def trigger(cs, what, **kw):
    return cs.call("CP001", call.ExtendedTriggerMessage(requested_message=what, **kw)).status


def test_security_log_upload_with_its_window(charger, cs, server):
    """SecurityLog: the security log's lines uploaded to remoteLocation + filename, Uploading then Uploaded with the
    requestId; oldestTimestamp/latestTimestamp keep only the lines stamped within them."""
    ch = charger()
    fw = ch.fw
    ch.evse("tamper early")
    cs.clock_shift = 7200  # the next Heartbeat.conf moves the clock two hours on: SettingSystemTime
    assert cs.call("CP001", call.TriggerMessage(requested_message="Heartbeat")).status == "Accepted"
    fw.wait_log("security: SettingSystemTime")
    ch.evse("tamper late")
    until_logged(fw.flash, "SettingSystemTime")
    assert kinds(fw.flash)[-3:] == ["TamperDetectionActivated", "SettingSystemTime", "TamperDetectionActivated"]

    res = get_log(cs, server.url(""), request_id=7)
    assert res.status == "Accepted" and re.fullmatch(r"CP001-SecurityLog-\d{8}T\d{6}Z\.txt", res.filename)
    body = server.wait_upload(res.filename)
    assert wait_log_statuses(cs, 2) == [("Uploading", 7), ("Uploaded", 7)]
    lines = body.splitlines()
    assert lines[0].startswith(b"# uOCPP security log of CP001")
    assert [LINE.match(line).group(2) for line in lines[1:]] == [
        b"StartupOfTheDevice",
        b"TamperDetectionActivated",
        b"SettingSystemTime",
        b"TamperDetectionActivated",
    ]
    assert lines[-1].endswith(b"late")

    # A window from an hour on: only the lines after the jump.
    later = LINE.match(lines[-1]).group(1).decode()
    stamp_jump = LINE.match(lines[3]).group(1).decode()
    res = get_log(cs, server.url("window.txt"), request_id=8, oldest_timestamp=stamp_jump, latest_timestamp=later)
    body = server.wait_upload("window.txt")
    assert wait_log_statuses(cs, 4)[2:] == [("Uploading", 8), ("Uploaded", 8)]
    assert [LINE.match(line).group(2) for line in body.splitlines()[1:]] == [b"SettingSystemTime", b"TamperDetectionActivated"]


def test_diagnostics_log_is_the_get_diagnostics_file(cs, firmware, server):
    """DiagnosticsLog: the GetDiagnostics file (snapshot and flash log), with LogStatusNotification, not
    DiagnosticsStatusNotification."""
    fw = firmware(cs.port, {"log": {"level": "info", "flashLevel": "info"}})
    fw.wait_log("registration Accepted")
    res = get_log(cs, server.url("diag.txt"), log_type="DiagnosticsLog", request_id=1)
    assert res.status == "Accepted" and res.filename.startswith("CP001-DiagnosticsLog-")
    body = server.wait_upload("diag.txt")
    text = body.decode()
    assert "## identity" in text and "## log" in text and "registration Accepted" in text
    assert wait_log_statuses(cs, 2) == [("Uploading", 1), ("Uploaded", 1)]
    assert cs.received("DiagnosticsStatusNotification") == []


def test_upload_failures_retries_and_refusals(cs, firmware, server):
    """retries/retryInterval as GetDiagnostics; 403 every time -> PermissionDenied; 500 -> UploadFailure; a scheme
    this charger cannot upload to -> Rejected and NotSupportedOperation; no URI at all -> Rejected."""
    fw = firmware(cs.port)
    fw.wait_log("registration Accepted")
    server.plan["denied.txt"] = [403] * 5
    assert get_log(cs, server.url("denied.txt"), request_id=2, retries=2, retry_interval=0).status == "Accepted"
    assert wait_log_statuses(cs, 2) == [("Uploading", 2), ("PermissionDenied", 2)]
    assert [r[0] for r in server.requests if r[1] == "/denied.txt"] == ["PUT", "PUT"]
    server.plan["broken.txt"] = [500] * 5
    assert get_log(cs, server.url("broken.txt"), request_id=3, retries=3, retry_interval=0).status == "Accepted"
    assert wait_log_statuses(cs, 4)[2:] == [("Uploading", 3), ("UploadFailure", 3)]
    assert [r[0] for r in server.requests if r[1] == "/broken.txt"] == ["PUT"] * 3
    assert get_log(cs, "sftp://127.0.0.1/logs/", request_id=4).status == "Rejected"
    assert wait_log_statuses(cs, 5)[4] == ("NotSupportedOperation", 4)
    assert get_log(cs, "nowhere", request_id=5).status == "Rejected"
    assert trigger(cs, "LogStatusNotification") == "Accepted"
    assert wait_log_statuses(cs, 6)[5] == ("Idle", None)  # nothing sent for the request without a URI


def test_wrong_ftp_credentials_are_permission_denied(cs, firmware, tmp_path):
    """Whitepaper UploadLogStatusEnumType: PermissionDenied, "the Charge Point was not allowed to upload the log file
    (e.g. wrong credentials)". FTP's refusal of the credentials is its 530 Not logged in (RFC 959), as HTTP's is 401
    or 403."""
    srv = FtpServer(tmp_path / "root").start()
    try:
        fw = firmware(cs.port)
        fw.wait_log("registration Accepted")
        url = srv.url("denied.txt", password="wrong")
        assert get_log(cs, url, request_id=2, retries=1, retry_interval=0).status == "Accepted"
        assert wait_log_statuses(cs, 2) == [("Uploading", 2), ("PermissionDenied", 2)]
        fw.wait_log("PASS: 530")
    finally:
        srv.stop()


def test_a_new_getlog_cancels_the_running_one_and_the_trigger_reports_it(cs, firmware, server):
    """A GetLog while an upload runs: AcceptedCanceled, the new one replaces it. ExtendedTriggerMessage
    LogStatusNotification: Uploading with the running request's id, Idle when none runs."""
    fw = firmware(cs.port)
    fw.wait_log("registration Accepted")
    assert trigger(cs, "LogStatusNotification") == "Accepted"
    assert wait_log_statuses(cs, 1) == [("Idle", None)]
    server.plan["slow.txt"] = ["stall"]
    assert get_log(cs, server.url("slow.txt"), request_id=10).status == "Accepted"
    server.wait_requests(1)
    assert trigger(cs, "LogStatusNotification") == "Accepted"
    assert wait_log_statuses(cs, 3)[1:] == [("Uploading", 10), ("Uploading", 10)]
    res = get_log(cs, server.url("next.txt"), request_id=11)
    assert res.status == "AcceptedCanceled"
    server.wait_upload("next.txt")
    assert wait_log_statuses(cs, 5)[3:] == [("Uploading", 11), ("Uploaded", 11)]
    assert "slow.txt" not in server.uploads
    assert trigger(cs, "LogStatusNotification") == "Accepted"
    assert wait_log_statuses(cs, 6)[5] == ("Idle", None)


def test_extended_trigger_message_for_every_message_it_lists(cs, firmware):
    """ExtendedTriggerMessage: Heartbeat, StatusNotification and MeterValues as TriggerMessage does them,
    FirmwareStatusNotification as SignedFirmwareStatusNotification; BootNotification Rejected once Accepted (TM-08); a connector that does not exist
    Rejected; SignChargePointCertificate Accepted, and without CpoName no exchange starts (the log says so); a bad request is a
    CALLERROR."""
    fw = firmware(cs.port)
    fw.wait_log("registration Accepted")
    cs.wait_received("StatusNotification", count=2)
    assert trigger(cs, "Heartbeat") == "Accepted"
    cs.wait_received("Heartbeat")
    assert trigger(cs, "StatusNotification", connector_id=1) == "Accepted"
    cs.wait_received("StatusNotification", count=3)
    assert cs.received("StatusNotification")[-1].payload["connectorId"] == 1
    assert trigger(cs, "MeterValues", connector_id=1) == "Accepted"
    cs.wait_received("MeterValues")
    assert trigger(cs, "FirmwareStatusNotification") == "Accepted"
    # Whitepaper 5.5/5.19: SignedFirmwareStatusNotification, Idle without requestId when no update runs.
    assert cs.wait_received("SignedFirmwareStatusNotification")[0].payload == {"status": "Idle"}
    assert trigger(cs, "BootNotification") == "Rejected"
    assert trigger(cs, "StatusNotification", connector_id=5) == "Rejected"
    assert trigger(cs, "SignChargePointCertificate") == "Accepted"
    fw.wait_log("no SignCertificate: CpoName is not set")
    assert cs.received("SignCertificate") == []
    assert len(cs.received("BootNotification")) == 1
    _cp, ws = cs.connections[-1]
    cs.run(ws.send('[2, "etm-bad", "ExtendedTriggerMessage", {"requestedMessage": "DiagnosticsStatusNotification"}]'))
    reply = cs.wait_for(lambda fs: next((f for f in fs if f.kind == 4 and f.msg[1] == "etm-bad"), None), 5, "the CALLERROR")
    assert reply.msg[2] == "PropertyConstraintViolation"
