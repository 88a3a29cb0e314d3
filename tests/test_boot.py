"""BootNotification outcomes, heartbeat cadence and identity, end to end.

Firmware on the MicroPython unix port; central system from the `ocpp`
package with schema validation on; real WebSockets on 127.0.0.1.
"""

import json

import pytest

# Timer checks carry tolerances: the firmware's own timers are exact, the
# slack covers scheduling on a loaded CI machine.
EARLY = 0.05
LATE = 1.5


def replies_to(cs, frame):
    """The central system's answer to a CALL frame from the charge point."""
    return cs.wait_for(lambda fs: next((f for f in fs if f.direction == "out" and f.msg[1] == frame.msg[1]), None), 5, "reply")


def calls_in(cs):
    return [f for f in cs.received() if f.kind == 2]


def test_accepted_sets_heartbeat_interval_and_cadence(cs, firmware):
    """BN-01, BN-05, HB-01, HB-02, HB-06: Accepted(interval=1) -> a Heartbeat every second."""
    cs.boot_plan[:] = [("Accepted", 1)]
    fw = firmware(cs.port, {"ocpp": {"heartbeatInterval": 60}})
    boots = cs.wait_received("BootNotification")
    beats = cs.wait_received("Heartbeat", count=4, timeout=15)
    assert len(boots) == 1
    assert [f.payload for f in beats] == [{}] * 4
    accepted_at = replies_to(cs, boots[0]).t
    first_gap = beats[0].t - accepted_at
    gaps = [b.t - a.t for a, b in zip(beats, beats[1:])]
    assert 1 - EARLY <= first_gap <= 1 + LATE
    for gap in gaps:
        assert 1 - EARLY <= gap <= 1 + LATE, gaps
    fw.wait_log(r"registration Accepted, interval 1 s")


def test_pending_then_accepted_waits_interval_and_sends_nothing_else(cs, firmware):
    """BN-06, BN-12: Pending(interval=1) -> only the next BootNotification, after >= 1 s."""
    cs.boot_plan[:] = [("Pending", 1), ("Pending", 1), ("Accepted", 60)]
    fw = firmware(cs.port)
    boots = cs.wait_received("BootNotification", count=3, timeout=10)
    fw.wait_log("registration Accepted")
    for earlier, later in zip(boots, boots[1:]):
        gap = later.t - replies_to(cs, earlier).t
        assert 1 - EARLY <= gap <= 1 + LATE
    calls = calls_in(cs)
    assert [f.action for f in calls[:3]] == ["BootNotification"] * 3


def test_rejected_then_accepted_stays_silent_for_interval(cs, firmware):
    """BN-09: Rejected(interval=2) -> no message at all until 2 s have passed."""
    cs.boot_plan[:] = [("Rejected", 2), ("Accepted", 60)]
    fw = firmware(cs.port, {"ocpp": {"webSocketPingInterval": 0}})
    boots = cs.wait_received("BootNotification", count=2, timeout=10)
    fw.wait_log("registration Accepted")
    rejected_at = replies_to(cs, boots[0]).t
    assert boots[1].t - rejected_at >= 2 - EARLY
    between = [f for f in cs.received() if rejected_at < f.t < boots[1].t]
    assert between == []


def test_interval_zero_falls_back_to_configured_wait(cs, firmware):
    """BN-07: Pending with interval 0 -> bootRetryInterval, never a flood."""
    cs.boot_plan[:] = [("Pending", 0), ("Accepted", 60)]
    firmware(cs.port, {"ocpp": {"bootRetryInterval": 1.5}})
    boots = cs.wait_received("BootNotification", count=2, timeout=10)
    gap = boots[1].t - replies_to(cs, boots[0]).t
    assert 1.5 - EARLY <= gap <= 1.5 + LATE


def test_accepted_with_interval_zero_keeps_configured_heartbeat(cs, firmware):
    """BN-16 (gap 5): Accepted with interval 0 keeps heartbeatInterval from config.json."""
    cs.boot_plan[:] = [("Accepted", 0)]
    firmware(cs.port, {"ocpp": {"heartbeatInterval": 1}})
    beats = cs.wait_received("Heartbeat", count=2, timeout=10)
    assert 1 - EARLY <= beats[1].t - beats[0].t <= 1 + LATE


def test_callerror_reply_retries_with_backoff(cs, firmware):
    """BN-04: a CALLERROR answer -> retry after the back-off; nothing else is sent meanwhile."""
    cs.boot_plan[:] = [("error", 0), ("Accepted", 60)]
    fw = firmware(cs.port, {"reconnect": {"waitMinimum": 0.5, "randomRange": 0}})
    boots = cs.wait_received("BootNotification", count=2, timeout=10)
    first_reply = replies_to(cs, boots[0])
    assert first_reply.msg[0] == 4 and first_reply.msg[2] == "InternalError"
    assert boots[1].t - first_reply.t >= 0.5 - EARLY
    fw.wait_log("RESPONSE_FAILED: next BootNotification in 0.5 s")
    fw.wait_log("registration Accepted")
    assert [f.action for f in calls_in(cs)][:2] == ["BootNotification"] * 2


def test_no_reply_times_out_and_retries(cs, firmware):
    """J-17, J-19: no reply within messageTimeout -> retry; the late reply never confuses it."""
    cs.boot_plan[:] = [("drop", 0), ("Accepted", 60)]
    fw = firmware(cs.port, {"ocpp": {"messageTimeout": 1}, "reconnect": {"waitMinimum": 0.3}})
    boots = cs.wait_received("BootNotification", count=2, timeout=10)
    assert boots[1].t - boots[0].t >= 1 + 0.3 - EARLY
    assert boots[0].msg[1] != boots[1].msg[1]  # J-15: a fresh id
    fw.wait_log("no reply within 1000 ms")
    fw.wait_log("registration Accepted")


def test_identity_from_config_arrives_in_boot_notification(cs, firmware):
    """BN-02: all nine fields from config.json arrive as given (and pass the CS's schema)."""
    identity = {
        "chargePointVendor": "V" * 20,
        "chargePointModel": "M" * 20,
        "chargePointSerialNumber": "S" * 25,
        "chargeBoxSerialNumber": "B" * 25,
        "firmwareVersion": "F" * 50,
        "iccid": "8931440400000000001",
        "imsi": "310150123456789",
        "meterType": "T" * 25,
        "meterSerialNumber": "N" * 25,
    }
    firmware(cs.port, {"chargePoint": identity})
    boot = cs.wait_received("BootNotification")[0]
    assert boot.payload == identity
    assert replies_to(cs, boot).msg[0] == 3  # schema-valid: a CALLRESULT, not a CALLERROR


def test_ids_are_unique_and_at_most_36_chars(cs, firmware):
    """J-14, J-15: every CALL id differs and fits 36 characters."""
    cs.boot_plan[:] = [("Pending", 1), ("Accepted", 1)]
    firmware(cs.port)
    cs.wait_received("Heartbeat", count=2, timeout=10)
    ids = [f.msg[1] for f in calls_in(cs)]
    assert len(ids) == len(set(ids))
    assert all(isinstance(i, str) and 0 < len(i) <= 36 for i in ids)


def test_unknown_and_unsupported_actions_get_callerror(cs, firmware):
    """ERR-01, J-12: unknown action -> NotImplemented; a 1.6 action we lack (Heartbeat: ours to send, not to
    answer) -> NotSupported."""
    fw = firmware(cs.port)
    cs.wait_received("BootNotification")
    fw.wait_log("registration Accepted")
    ws = cs.connections[-1][1]
    cs.run(ws.send(json.dumps([2, "u-1", "FlyToTheMoon", {}])))
    cs.run(ws.send(json.dumps([2, "u-2", "Heartbeat", {}])))
    err1 = cs.wait_for(lambda fs: next((f for f in fs if f.direction == "in" and f.msg[1] == "u-1"), None), 5)
    err2 = cs.wait_for(lambda fs: next((f for f in fs if f.direction == "in" and f.msg[1] == "u-2"), None), 5)
    assert err1.msg[0] == 4 and err1.msg[2] == "NotImplemented" and isinstance(err1.msg[3], str) and err1.msg[4] == {}
    assert err2.msg[0] == 4 and err2.msg[2] == "NotSupported" and len(err2.msg) == 5


@pytest.mark.parametrize(
    "frame,answer",
    [
        ('[2,"a-1","Heartbeat"]', "FormationViolation"),  # J-10: 3 elements
        ('[2,"a-2","TriggerMessage",[]]', "FormationViolation"),  # payload not an object
        ('[2,"%s","Heartbeat",{}]' % ("x" * 37), "FormationViolation"),  # J-14: id too long
    ],
)
def test_malformed_call_gets_callerror_and_link_stays_up(cs, firmware, frame, answer):
    """ERR-03, ERR-04: a CALL that is no proper message -> CALLERROR; the connection survives."""
    fw = firmware(cs.port, {"ocpp": {"heartbeatInterval": 1}})
    cs.boot_plan[:] = [("Accepted", 1)]
    cs.wait_received("BootNotification")
    uid = json.loads(frame)[1]
    ws = cs.connections[-1][1]
    cs.run(ws.send(frame))
    err = cs.wait_for(lambda fs: next((f for f in fs if f.direction == "in" and f.kind == 4 and f.msg[1] == uid), None), 5)
    assert err.msg[2] == answer
    n = len(cs.received("Heartbeat"))
    cs.wait_received("Heartbeat", count=n + 1, timeout=5)
    assert len(cs.connections) == 1
    assert "Traceback" not in fw.log


def test_unreadable_frames_are_ignored_without_harm(cs, firmware):
    """J-09, ERR-06: non-JSON, unknown message type and stray CALLRESULTs are ignored; heartbeats go on."""
    cs.boot_plan[:] = [("Accepted", 1)]
    fw = firmware(cs.port)
    cs.wait_received("BootNotification")
    ws = cs.connections[-1][1]
    for junk in ["not json", "[5,\"x\",{}]", "[3,\"no-such-id\",{}]", "{}", "[]", "[2, 17, \"Heartbeat\", {}]"]:
        cs.run(ws.send(junk))
    n = len(cs.received("Heartbeat"))
    cs.wait_received("Heartbeat", count=n + 2, timeout=5)
    assert [f for f in cs.received() if f.kind == 4] == []
    assert len(cs.connections) == 1
    assert "Traceback" not in fw.log


# The registration gate itself (BN-04, BN-09, BN-12) is pinned directly on
# the outbox: tests/unit/unit_outbox.py, test_registration_gate.
