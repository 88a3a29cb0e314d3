"""StatusNotification, ChangeAvailability, TriggerMessage, Reset, payload validation, Rejected silence."""

import time

import pytest
from ocpp.v16 import call

from harness.firmware import EXIT_HARD_RESET
from harness.wire import call_raw, index_of, reply_from_cp, send_raw


def registered(cs, firmware, config=None, **kw):
    fw = firmware(cs.port, config, **kw)
    cs.wait_received("BootNotification")
    fw.wait_log("registration Accepted")
    return fw


def statuses(cs, since=0):
    return [(f.payload["connectorId"], f.payload["status"]) for f in cs.received("StatusNotification")[since:]]


def test_status_notifications_after_accepted(cs, firmware):
    """BN-15: after Accepted, a StatusNotification for connector 0 and for every connector, Available."""
    registered(cs, firmware, {"connectors": {"count": 2}})
    frames = cs.wait_received("StatusNotification", count=3)
    assert sorted(statuses(cs)) == [(0, "Available"), (1, "Available"), (2, "Available")]
    for f in frames:
        assert f.payload["errorCode"] == "NoError" and f.payload["timestamp"].endswith("Z")
    boot = cs.received("BootNotification")[0]
    assert all(f.t > boot.t for f in frames)


def test_change_availability_persists_across_reboot(cs, firmware, tmp_path):
    """RST-03, BO-07: Inoperative -> Unavailable now and after a restart; unknown connector Rejected."""
    work = tmp_path / "fw"
    fw = registered(cs, firmware, {"connectors": {"count": 2}}, workdir=work)
    cs.wait_received("StatusNotification", count=3)
    assert cs.call("CP001", call.ChangeAvailability(connector_id=2, type="Inoperative")).status == "Accepted"
    cs.wait_for(lambda fs: (2, "Unavailable") in statuses(cs), 5, "connector 2 Unavailable")
    assert cs.call("CP001", call.ChangeAvailability(connector_id=7, type="Inoperative")).status == "Rejected"
    fw.stop()
    n = len(cs.received("StatusNotification"))
    registered(cs, firmware, {"connectors": {"count": 2}}, workdir=work)
    cs.wait_received("StatusNotification", count=n + 3)
    assert sorted(statuses(cs, n)) == [(0, "Available"), (1, "Available"), (2, "Unavailable")]


def test_charge_point_inoperative_makes_every_connector_unavailable(cs, firmware):
    registered(cs, firmware, {"connectors": {"count": 2}})
    cs.wait_received("StatusNotification", count=3)
    assert cs.call("CP001", call.ChangeAvailability(connector_id=0, type="Inoperative")).status == "Accepted"
    cs.wait_received("StatusNotification", count=6)
    assert sorted(statuses(cs, 3)) == [(0, "Unavailable"), (1, "Unavailable"), (2, "Unavailable")]
    assert cs.call("CP001", call.ChangeAvailability(connector_id=0, type="Operative")).status == "Accepted"
    cs.wait_received("StatusNotification", count=9)


def test_trigger_boot_notification_while_pending_reply_first(cs, firmware):
    """TM-02, BN-08, BN-11, BN-12: while Pending, TriggerMessage(BootNotification) is answered, then the boot follows at once."""
    cs.boot_plan[:] = [("Pending", 60), ("Accepted", 60)]
    fw = firmware(cs.port)
    cs.wait_received("BootNotification")
    fw.wait_log("registration Pending")
    t0 = time.monotonic()
    reply = call_raw(cs, "TriggerMessage", {"requestedMessage": "BootNotification"})
    assert reply.msg[2] == {"status": "Accepted"}
    second = cs.wait_received("BootNotification", count=2, timeout=5)[1]
    assert index_of(cs, reply) < index_of(cs, second)
    assert second.t - t0 < 3  # not the 60 s interval
    fw.wait_log("registration Accepted")


def test_trigger_status_and_heartbeat_while_pending(cs, firmware):
    """BN-11, BN-12, TM-05, TM-11: triggered messages go out while Pending; nothing else does."""
    cs.boot_plan[:] = [("Pending", 60)]
    fw = firmware(cs.port, {"connectors": {"count": 1}})
    cs.wait_received("BootNotification")
    fw.wait_log("registration Pending")
    assert call_raw(cs, "TriggerMessage", {"requestedMessage": "Heartbeat"}).msg[2] == {"status": "Accepted"}
    cs.wait_received("Heartbeat")
    reply = call_raw(cs, "TriggerMessage", {"requestedMessage": "StatusNotification", "connectorId": 0})
    assert reply.msg[2] == {"status": "Accepted"}
    sn = cs.wait_received("StatusNotification")
    assert index_of(cs, reply) < index_of(cs, sn[0])
    assert statuses(cs) == [(0, "Available")]
    # Get/ChangeConfiguration are answered while Pending (BN-11).
    assert call_raw(cs, "GetConfiguration", {"key": ["HeartbeatInterval"]}).kind == 3
    actions = [f.action for f in cs.received() if f.kind == 2]
    assert actions == ["BootNotification", "Heartbeat", "StatusNotification"]


@pytest.mark.parametrize(
    "payload,status,sent",
    [
        ({"requestedMessage": "StatusNotification"}, "Accepted", [(0, "Available"), (1, "Available"), (2, "Available")]),
        ({"requestedMessage": "StatusNotification", "connectorId": 2}, "Accepted", [(2, "Available")]),
        ({"requestedMessage": "StatusNotification", "connectorId": 3}, "Rejected", []),  # TM-10
        ({"requestedMessage": "MeterValues", "connectorId": 3}, "Rejected", []),  # TM-10: no such connector
        ({"requestedMessage": "DiagnosticsStatusNotification"}, "Accepted", []),  # then Idle (test_diagnostics.py)
        ({"requestedMessage": "BootNotification"}, "Rejected", []),  # TM-08: after Accepted
    ],
)
def test_trigger_message_after_accepted(cs, firmware, payload, status, sent):
    """TM-01, TM-03, TM-05, TM-08, TM-10."""
    registered(cs, firmware, {"connectors": {"count": 2}})
    cs.wait_received("StatusNotification", count=3)
    res = cs.call("CP001", call.TriggerMessage(requested_message=payload["requestedMessage"], connector_id=payload.get("connectorId")))
    assert res.status == status
    if sent:
        cs.wait_received("StatusNotification", count=3 + len(sent))
    # A triggered Heartbeat as a sentinel: calls leave in order (one in flight),
    # so anything wrongly triggered before it would be on the wire by then.
    cs.call("CP001", call.TriggerMessage(requested_message="Heartbeat"))
    cs.wait_received("Heartbeat")
    assert sorted(statuses(cs, 3)) == sorted(sent)
    assert len(cs.received("BootNotification")) == 1


def test_triggered_heartbeat_follows_its_reply(cs, firmware):
    """TM-02, HB-01."""
    registered(cs, firmware)
    reply = call_raw(cs, "TriggerMessage", {"requestedMessage": "Heartbeat", "connectorId": 5})  # TM-05: ignored
    assert reply.msg[2] == {"status": "Accepted"}
    beat = cs.wait_received("Heartbeat")[0]
    assert index_of(cs, reply) < index_of(cs, beat)


def test_soft_reset_reboots_the_application(cs, firmware):
    """RST-01, RST-03, BN-01, J-15: Soft -> Accepted on the wire, then a new BootNotification and StatusNotifications."""
    fw = registered(cs, firmware)
    cs.wait_received("StatusNotification", count=2)
    reply = call_raw(cs, "Reset", {"type": "Soft"})
    assert reply.msg[2] == {"status": "Accepted"}
    cs.wait_received("BootNotification", count=2, timeout=10)
    cs.wait_received("StatusNotification", count=4, timeout=10)
    fw.wait_log("soft reset: restarting the application")
    assert fw.proc.poll() is None
    ids = [f.msg[1] for f in cs.received() if f.kind == 2]
    assert len(ids) == len(set(ids))  # J-15: no id reused across the soft reset


def test_hard_reset_exits_for_the_supervisor(cs, firmware):
    """RST-01: Hard -> Accepted on the wire, then the unix port exits with status 75."""
    fw = registered(cs, firmware)
    reply = call_raw(cs, "Reset", {"type": "Hard"})
    assert reply.msg[2] == {"status": "Accepted"}
    assert fw.wait_exit(10) == EXIT_HARD_RESET


@pytest.mark.parametrize(
    "action,payload,code",
    [
        ("ChangeConfiguration", {"key": "HeartbeatInterval"}, "OccurenceConstraintViolation"),
        ("ChangeConfiguration", {"key": "HeartbeatInterval", "value": 30}, "TypeConstraintViolation"),
        ("ChangeConfiguration", {"key": "K" * 51, "value": "1"}, "PropertyConstraintViolation"),
        ("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "30", "extra": 1}, "FormationViolation"),
        ("GetConfiguration", {"key": "HeartbeatInterval"}, "TypeConstraintViolation"),
        ("GetConfiguration", {"key": [1]}, "TypeConstraintViolation"),
        ("Reset", {"type": "Medium"}, "PropertyConstraintViolation"),
        ("Reset", {}, "OccurenceConstraintViolation"),
        ("ChangeAvailability", {"connectorId": "1", "type": "Operative"}, "TypeConstraintViolation"),
        ("TriggerMessage", {"requestedMessage": "StartTransaction"}, "PropertyConstraintViolation"),  # TM-09
        ("TriggerMessage", {"requestedMessage": "Heartbeat", "connectorId": 1.5}, "TypeConstraintViolation"),
        ("RemoteStartTransaction", {"idTag": "x" * 21}, "PropertyConstraintViolation"),
        ("RemoteStartTransaction", {"idTag": "x", "chargingProfile": 7}, "TypeConstraintViolation"),
        ("UpdateFirmware", {"location": "http://example.com/fw"}, "OccurenceConstraintViolation"),  # FW-01: retrieveDate
        ("UpdateFirmware", {"location": "http://example.com/fw", "retrieveDate": "2026-01-01T00:00:00Z", "retries": "3"}, "TypeConstraintViolation"),
        ("NoSuchAction", {}, "NotImplemented"),
    ],
)
def test_invalid_payloads_get_the_1_6_error_code(cs, firmware, action, payload, code):
    """ERR-01, ERR-02, ERR-03, ERR-05, J-20: checked before any effect; codes spelled as 1.6 spells them."""
    fw = registered(cs, firmware, {"ocpp": {"heartbeatInterval": 60}})
    reply = call_raw(cs, action, payload)
    assert reply.kind == 4 and reply.msg[2] == code and reply.msg[4] == {}
    values = call_raw(cs, "GetConfiguration", {"key": ["HeartbeatInterval"]}).msg[2]["configurationKey"]
    assert values[0]["value"] == "60"  # nothing changed
    assert fw.proc.poll() is None


def test_rejected_charge_point_answers_nothing(cs, firmware):
    """BN-10: while Rejected, central-system CALLs get no answer at all."""
    cs.boot_plan[:] = [("Rejected", 60)]
    fw = firmware(cs.port)
    cs.wait_received("BootNotification")
    fw.wait_log("registration Rejected")
    uid = send_raw(cs, [2, "r-1", "GetConfiguration", {}])
    fw.wait_log("not answering r-1 while Rejected")
    with pytest.raises(TimeoutError):
        reply_from_cp(cs, uid, timeout=1)


def test_triggers_work_after_a_soft_reset_that_cut_them_short(cs, firmware):
    """TM-02, TM-04, RST-01: triggered Heartbeats still waiting when a Soft reset stops the
    application must not leave the restarted one refusing to send triggered Heartbeats."""
    fw = registered(cs, firmware, {"ocpp": {"heartbeatInterval": 60, "messageTimeout": 5}})
    cs.cs.ignore_actions.add("Heartbeat")  # the triggered Heartbeats wait for a reply that never comes
    for _ in range(3):
        assert call_raw(cs, "TriggerMessage", {"requestedMessage": "Heartbeat"}).msg[2] == {"status": "Accepted"}
    cs.wait_received("Heartbeat")
    assert call_raw(cs, "Reset", {"type": "Soft"}).msg[2] == {"status": "Accepted"}
    cs.wait_received("BootNotification", count=2, timeout=10)
    fw.wait_log("registration Accepted", count=2)
    cs.cs.ignore_actions.discard("Heartbeat")
    n = len(cs.received("Heartbeat"))
    assert call_raw(cs, "TriggerMessage", {"requestedMessage": "Heartbeat"}).msg[2] == {"status": "Accepted"}
    cs.wait_received("Heartbeat", count=n + 1, timeout=3)  # not the 60 s heartbeat


def test_a_csr_exchange_cut_short_by_a_soft_reset_does_not_block_the_next(cs, firmware):
    """RST-01, security whitepaper A02 (ExtendedTriggerMessage SignChargePointCertificate): a SignCertificate still
    waiting for its reply when a Soft reset stops the application must not leave the restarted one saying "under
    way already" to every later request (the old exchange's task never runs again)."""
    fw = registered(cs, firmware, {"ocpp": {"messageTimeout": 30}})
    assert call_raw(cs, "ChangeConfiguration", {"key": "CpoName", "value": "Test CPO"}).msg[2] == {"status": "Accepted"}
    cs.cs.ignore_actions.add("SignCertificate")  # the exchange waits for a reply that never comes
    ask = {"requestedMessage": "SignChargePointCertificate"}
    assert call_raw(cs, "ExtendedTriggerMessage", ask).msg[2] == {"status": "Accepted"}
    cs.wait_received("SignCertificate", timeout=30)
    assert call_raw(cs, "Reset", {"type": "Soft"}).msg[2] == {"status": "Accepted"}
    fw.wait_log("registration Accepted", count=2)
    cs.cs.ignore_actions.discard("SignCertificate")
    assert call_raw(cs, "ExtendedTriggerMessage", ask).msg[2] == {"status": "Accepted"}
    cs.wait_received("SignCertificate", count=2, timeout=30)
    assert "under way already" not in fw.log
