"""Security events (issue 25 item 1; OCPP 1.6 Security Whitepaper edition 3, Appendix 1): every event the charger
detects is a line in the security log on flash (lib/uocpp/security_log.py); the critical ones go out as
SecurityEventNotification to the `ocpp` central system (schema validation on), through the outbox's durable lane:
on flash while offline, delivered in order after the reconnection; the log survives SIGKILL."""

import json
import os
import random
import re
import signal
import subprocess
import time

from ocpp.v16 import call

from harness.firmware import MICROPYPATH, MICROPYTHON, REPO

KEY = "Sec0Events0Key0XyZ1"  # 19 printable characters (SEC-04)
ON = {"centralSystem": {"securityEvents": True}}
LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) (\w+) ?(.*)$")


def security_log(flash):
    """[(stamp, type, techInfo)] of the security log's lines, oldest first (N-1.txt .. 0.txt)."""
    files = sorted((flash / "security").glob("*.txt"), key=lambda p: -int(p.stem))
    out = []
    for p in files:
        for line in p.read_text().splitlines():
            m = LINE.match(line)
            assert m, line
            out.append(m.groups())
    return out


def kinds(flash):
    return [k for _, k, _ in security_log(flash)]


def until_logged(flash, kind, timeout=5.0):
    """The firmware prints an event's console line, then writes it to flash: poll the file."""
    deadline = time.monotonic() + timeout
    while kind not in kinds(flash):
        if time.monotonic() > deadline:
            raise TimeoutError("no %s in the security log within %.1f s: %s" % (kind, timeout, kinds(flash)))
        time.sleep(0.02)


def events(cs):
    """The SecurityEventNotifications received, each once: a re-send after a reply the firmware did not take in
    before it stopped has the same unique id."""
    seen, out = set(), []
    for f in cs.received("SecurityEventNotification"):
        if f.msg[1] not in seen:
            seen.add(f.msg[1])
            out.append(f.payload)
    return out


def wait_events(cs, count, timeout=10.0):
    cs.wait_for(lambda fs: len(events(cs)) >= count, timeout, "%d SecurityEventNotification" % count)
    return [e["type"] for e in events(cs)]


def registered(cs, firmware, config=None, **kw):
    fw = firmware(cs.port, config, **kw)
    fw.wait_log("registration Accepted")
    return fw


def test_startup_is_logged_and_sent_once_registered(cs, firmware):
    """StartupOfTheDevice (critical): a line in the security log and a SecurityEventNotification after BootNotification."""
    fw = registered(cs, firmware, ON)
    assert wait_events(cs, 1) == ["StartupOfTheDevice"]
    e = events(cs)[0]
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", e["techInfo"]) and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", e["timestamp"])
    actions = [f.action for f in cs.received() if f.action in ("BootNotification", "SecurityEventNotification")]
    assert actions[:2] == ["BootNotification", "SecurityEventNotification"]
    assert kinds(fw.flash) == ["StartupOfTheDevice"]
    fw.wait_log("security: StartupOfTheDevice")


def test_notifications_off_by_default_log_still_written(cs, firmware):
    """centralSystem.securityEvents off (default): no SecurityEventNotification, the security log is written all the same."""
    fw = registered(cs, firmware)
    cs.wait_received("StatusNotification", count=2)
    assert cs.call("CP001", call.TriggerMessage(requested_message="Heartbeat")).status == "Accepted"
    cs.wait_received("Heartbeat")
    assert events(cs) == []
    assert kinds(fw.flash) == ["StartupOfTheDevice"]


def test_offline_events_wait_on_flash_and_go_in_order_with_transactions(charger, cs):
    """Critical events while offline are stored in the durable lane: after the reconnection the tamper event, the
    transaction's messages and the next event arrive in the order they happened, each event once."""
    from central_system import CentralSystemThread

    ch = charger(dict(ON, reconnect={"waitMinimum": 0.2}))
    assert wait_events(cs, 1) == ["StartupOfTheDevice"]
    assert cs.call("CP001", call.ChangeConfiguration(key="AllowOfflineTxForUnknownId", value="true")).status == "Accepted"
    port = cs.port
    cs.stop()
    ch.fw.wait_log("disconnected")
    ch.evse("tamper lid opened")
    ch.evse("meter 1 1000", "plug 1", "card 1 OFFLINE1", "charge 1")
    ch.fw.wait_log("transaction local 1 started")
    ch.evse("unplug 1")
    ch.evse("tamper cable cut")  # the same type again, more than a second later: its own event
    assert [k for k in kinds(ch.fw.flash)] == ["StartupOfTheDevice", "TamperDetectionActivated", "TamperDetectionActivated"]
    back = CentralSystemThread(port=port, boot_plan=[("Accepted", 60)]).start()
    try:
        back.wait_received("SecurityEventNotification", count=2, timeout=20)
        calls = [f for f in back.received() if f.kind == 2 and f.action in ("SecurityEventNotification", "StartTransaction", "StopTransaction")]
        assert [f.action for f in calls] == ["SecurityEventNotification", "StartTransaction", "StopTransaction", "SecurityEventNotification"]
        assert [(f.payload["type"], f.payload["techInfo"]) for f in calls if f.action == "SecurityEventNotification"] == [
            ("TamperDetectionActivated", "lid opened"),
            ("TamperDetectionActivated", "cable cut"),
        ]
        stamps = [s for s, k, _ in security_log(ch.fw.flash) if k == "TamperDetectionActivated"]
        assert [f.payload["timestamp"] for f in calls if f.action == "SecurityEventNotification"] == stamps
    finally:
        back.stop()


def test_reset_is_logged_sent_and_followed_by_startup(cs, firmware):
    """ResetOrReboot (critical) when a Reset is carried out, StartupOfTheDevice at the next boot: both sent, in order."""
    fw = registered(cs, firmware, ON)
    wait_events(cs, 1)
    assert cs.call("CP001", call.Reset(type="Hard")).status == "Accepted"
    assert fw.wait_exit(15) == 75
    again = registered(cs, firmware, ON, workdir=fw.workdir)
    assert wait_events(cs, 3) == ["StartupOfTheDevice", "ResetOrReboot", "StartupOfTheDevice"]
    assert events(cs)[1]["techInfo"] == "hard"
    assert kinds(again.flash) == ["StartupOfTheDevice", "ResetOrReboot", "StartupOfTheDevice"]


def test_clock_set_far_from_its_time_is_setting_system_time(cs, firmware):
    """SettingSystemTime (critical): a BootNotification.conf whose currentTime is an hour off moves the clock: logged,
    sent with the jump; the Heartbeats' small corrections are no event."""
    cs.clock_shift = 3600
    fw = registered(cs, firmware, ON)
    types = wait_events(cs, 2)
    assert sorted(types) == ["SettingSystemTime", "StartupOfTheDevice"]
    moved = [e for e in events(cs) if e["type"] == "SettingSystemTime"][0]
    assert re.fullmatch(r"359\d|360\d", moved["techInfo"]), moved
    assert cs.call("CP001", call.TriggerMessage(requested_message="Heartbeat")).status == "Accepted"
    cs.wait_received("Heartbeat")
    assert cs.call("CP001", call.TriggerMessage(requested_message="Heartbeat")).status == "Accepted"
    cs.wait_received("Heartbeat", count=2)
    assert kinds(fw.flash).count("SettingSystemTime") == 1 and len(events(cs)) == 2


def test_non_critical_events_are_logged_not_sent(cs, firmware):
    """InvalidMessages (a malformed CALL answered FormationViolation), ReconfigurationOfSecurityParameters (a new
    AuthorizationKey), FailedToAuthenticateAtCentralSystem (401 at the handshake): in the security log, never sent."""
    cs.passwords["CP001"] = KEY
    fw = registered(cs, firmware, {"centralSystem": {"securityEvents": True, "authorizationKey": KEY, "securityProfile": 1}})
    wait_events(cs, 1)
    new_key = "0123456789abcdef0123456789abcdef"
    assert cs.call("CP001", call.ChangeConfiguration(key="AuthorizationKey", value=new_key)).status == "Accepted"
    fw.wait_log(r"security: ReconfigurationOfSecurityParameters \(AuthorizationKey\)")
    # The central system does not know the new key yet: 401, then it learns it.
    fw.wait_log(r"security: FailedToAuthenticateAtCentralSystem \(handshake failed: HTTP 401")
    cs.passwords["CP001"] = bytes.fromhex(new_key)
    cs.wait_for(lambda fs: len([u for u in cs.upgrades if u[2] == 101]) >= 2, 15, "the reconnection with the new key")
    cs.wait_for(lambda fs: len(cs.connections) >= 2, 5, "the second connection")
    cs.call("CP001", call.GetConfiguration(key=["HeartbeatInterval"]))  # the new link answers
    _cp, ws = cs.connections[-1]
    cs.run(ws.send('[2, "bad-1", "Reset"]'))  # 3 elements: FormationViolation
    fw.wait_log(r"security: InvalidMessages \(a CALL has 4 elements, this one 3\)")
    until_logged(fw.flash, "InvalidMessages")
    got = kinds(fw.flash)
    for k in ("InvalidMessages", "ReconfigurationOfSecurityParameters", "FailedToAuthenticateAtCentralSystem"):
        assert k in got
    assert [e["type"] for e in events(cs)] == ["StartupOfTheDevice"]
    assert new_key not in fw.log and KEY not in fw.log
    assert new_key not in "".join(t for _, _, t in security_log(fw.flash))


def test_untrusted_certificate_is_invalid_central_system_certificate(firmware, tmp_path):
    """InvalidCentralSystemCertificate: a wss:// server whose certificate is from another CA: in the security log."""
    from central_system import CentralSystemThread

    from harness.pki import make_pki, server_context

    (tmp_path / "pki").mkdir()
    pki = make_pki(tmp_path / "pki")
    tls = CentralSystemThread(boot_plan=[("Accepted", 60)], ssl=server_context(pki.server)).start()
    try:
        cfg = {"centralSystem": {"url": "wss://127.0.0.1:%d/ocpp" % tls.port, "authorizationKey": KEY, "caFile": str(pki.other_ca_der)}}
        fw = firmware(tls.port, cfg)
        fw.wait_log(r"security: InvalidCentralSystemCertificate \(.*not correctly signed by the trusted CA")
        until_logged(fw.flash, "InvalidCentralSystemCertificate")
    finally:
        tls.stop()


def test_a_cleared_security_log_is_security_log_was_cleared(cs, firmware):
    """SecurityLogWasCleared (critical): the log's files deleted behind the firmware's back (its marker left) -> the
    next boot logs and sends it, before StartupOfTheDevice."""
    fw = registered(cs, firmware, ON)
    wait_events(cs, 1)
    fw.stop()
    for p in (fw.flash / "security").glob("*.txt"):
        p.unlink()
    again = registered(cs, firmware, ON, workdir=fw.workdir)
    assert wait_events(cs, 3)[1:] == ["SecurityLogWasCleared", "StartupOfTheDevice"]
    assert kinds(again.flash) == ["SecurityLogWasCleared", "StartupOfTheDevice"]


def test_notification_refused_by_the_central_system_is_dropped_after_the_attempts(cs, firmware, tmp_path):
    """A CALLERROR to SecurityEventNotification is a failed attempt of the durable lane (TransactionMessageAttempts):
    dropped after them, the lane goes on; the line in the security log stays."""
    cs.error_actions = {"SecurityEventNotification"}
    # The key is on flash before the boot: StartupOfTheDevice is sent right after registration, so a
    # ChangeConfiguration afterwards could arrive after its first attempt already failed (retried in 60 s).
    flash = tmp_path / "cp" / "flash"
    flash.mkdir(parents=True)
    (flash / "keys.json").write_text(json.dumps({"TransactionMessageAttempts": "1"}))
    fw = registered(cs, firmware, ON, workdir=tmp_path / "cp")
    fw.wait_log(r"SecurityEventNotification \S+ dropped after 1 attempts", timeout=15)
    assert kinds(fw.flash) == ["StartupOfTheDevice"]


def test_security_log_survives_sigkill_at_any_moment(tmp_path):
    """Power-cut safety: a worker records events as fast as it can and is SIGKILLed at random moments, the ring turning
    many times. After each kill every acknowledged event still in the ring's span is there, once, in order, whole;
    what the worker wrote after its last acknowledgement we read (the kill's moment) may be there or not, whole or
    the last one cut short; nothing else is."""
    worker = REPO / "tests" / "seclog_worker.py"
    directory = tmp_path / "security"
    rng = random.Random(2025)
    env = dict(os.environ, MICROPYPATH=MICROPYPATH)
    n, acked, torn, tails = 0, [], 0, []
    for _kill in range(20):
        proc = subprocess.Popen([MICROPYTHON, str(worker), str(directory), str(n)], stdout=subprocess.PIPE, text=True, env=env)
        target = n + rng.randrange(20, 400)
        for line in proc.stdout:
            word, num = line.split()
            if word == "ack":
                acked.append(int(num))
            if int(num) >= target:
                break
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
        # Anything after the last acknowledgement read may or may not be on flash: numbers up to the next start.
        last = acked[-1] if acked and acked[-1] >= n else n - 1
        n = last + 10000
        tails.append((last, n))
        files = sorted(directory.glob("*.txt"), key=lambda p: -int(p.stem))
        lines = [line for p in files for line in p.read_text().splitlines()]
        found = []
        for line in lines:
            m = re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ TamperDetectionActivated n=(\d+)$", line)
            if m:
                found.append(int(m.group(1)))
            else:
                torn += 1  # only ever the one in flight at a kill, cut short
        assert found == sorted(set(found)), "out of order or twice"
        done = set(acked)
        kept = [a for a in acked if a >= found[0]]
        assert [f for f in found if f in done] == kept
        assert all(any(lo < f < hi for lo, hi in tails) for f in found if f not in done)
        assert len(kept) >= 150  # the ring keeps 12..16 KB: its span is at least this many
    assert torn <= 20 and len(acked) > 1500
