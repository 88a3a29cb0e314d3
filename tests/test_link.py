"""Connecting, reconnecting and back-off (BO-01, BO-02, J-05, J-24), end to end."""

import re

from central_system import CentralSystemThread
from harness.net import free_port


def backoff_waits(fw):
    return [float(m) for m in re.findall(r"backing off ([0-9.]+) s", fw.log)]


def test_central_system_down_at_start_backs_off_then_registers(firmware):
    """BO-01, BO-02: refused connections back off with growing waits; once the CS is up, boot."""
    port = free_port()
    fw = firmware(port, {"reconnect": {"waitMinimum": 0.2, "randomRange": 0, "repeatTimes": 2}})
    fw.wait_log(r"backing off", count=4, timeout=10)
    waits = backoff_waits(fw)
    assert waits[:4] == [0.2, 0.4, 0.8, 0.8]  # doubles, capped after repeatTimes doublings
    cs = CentralSystemThread(port=port, boot_plan=[("Accepted", 60)]).start()
    try:
        cs.wait_received("BootNotification", timeout=10)
        fw.wait_log("registration Accepted")
    finally:
        cs.stop()


def test_random_part_spreads_the_waits(firmware):
    """BO-02: with randomRange > 0 the waits are minimum * 2^k plus a fresh random part."""
    fw = firmware(free_port(), {"reconnect": {"waitMinimum": 0.1, "randomRange": 0.5, "repeatTimes": 1}})
    fw.wait_log(r"backing off", count=6, timeout=15)
    waits = backoff_waits(fw)[:6]
    bases = [0.1, 0.2, 0.2, 0.2, 0.2, 0.2]
    extras = [w - b for w, b in zip(waits, bases)]
    assert all(-0.051 <= e <= 0.551 for e in extras), waits
    assert len(set(extras)) > 1, waits  # drawn afresh, not one fixed offset


def test_reconnect_after_accepted_sends_no_second_boot_notification(cs, firmware):
    """J-24, BO-06: the link drops after Accepted -> reconnect, heartbeats resume, no new BootNotification."""
    cs.boot_plan[:] = [("Accepted", 1)]
    fw = firmware(cs.port)
    cs.wait_received("Heartbeat")
    first = cs.connections[0][1]
    cs.run(first.close())
    cs.wait_for(lambda fs: len(cs.connections) >= 2, 10, "a second connection")
    n = len(cs.received("Heartbeat"))
    cs.wait_received("Heartbeat", count=n + 2, timeout=10)
    assert len(cs.received("BootNotification")) == 1
    fw.wait_log(r"connected \(connection 2\)")


def test_handshake_refused_with_404_backs_off(cs, firmware):
    """J-05: an HTTP 404 answer to the upgrade -> back-off, then retry."""
    cs.cs.http_status = 404
    fw = firmware(cs.port, {"reconnect": {"waitMinimum": 0.2, "randomRange": 0}})
    fw.wait_log(r"HTTP 404.*backing off 0\.2", timeout=10)
    fw.wait_log(r"HTTP 404.*backing off 0\.4", timeout=10)
    cs.cs.http_status = None
    cs.wait_received("BootNotification", timeout=10)


def test_url_carries_percent_encoded_identity(cs, firmware):
    """J-02: the charge point id is percent-encoded in the URL path."""
    firmware(cs.port, {"centralSystem": {"chargePointId": "RDAM 123"}})
    boot = cs.wait_received("BootNotification")[0]
    assert boot.cp_id == "RDAM 123"
    assert cs.connections[0][1].request.path == "/ocpp/RDAM%20123"
