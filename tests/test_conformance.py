"""Metering, status and conformance defects of issue 22 (part B), each
driven end to end: the firmware on the unix port against the `ocpp` central
system (schema validation on) or the raw server."""

import time

from ocpp.v16 import call


def change(cs, key, value):
    return cs.call("CP001", call.ChangeConfiguration(key=key, value=value)).status


def energy(mv):
    return [int(s["value"]) for m in mv["meterValue"] for s in m["sampledValue"] if s["measurand"].startswith("Energy")]


def contexts(mv):
    return {s["context"] for m in mv["meterValue"] for s in m["sampledValue"]}


# -- 1. MeterValueSampleInterval changed during a transaction ------------------------
def test_sample_interval_set_during_a_transaction_started_with_0_takes_effect_at_once(charger, cs):
    """A session started while MeterValueSampleInterval was 0 samples as soon as it is set to 2."""
    ch = charger()
    ch.evse("meter 1 100", "power 1 36000", "plug 1", "card 1 ALICE", "charge 1")
    tx = ch.transaction_id()
    assert change(cs, "MeterValueSampleInterval", "2") == "Accepted"
    set_at = time.monotonic()
    mvs = ch.wait_call("MeterValues", count=2, timeout=8, where=lambda p: "Sample.Periodic" in contexts(p))
    assert time.monotonic() - set_at < 6.5  # two samples within 2 intervals (and a poll tick each)
    assert all(mv["transactionId"] == tx for mv in mvs)


def test_sample_interval_shortened_during_a_transaction_takes_effect_at_once(charger, cs):
    """3600 -> 2 during a transaction: the next sample comes within the new interval, not after the hour."""
    ch = charger()
    assert change(cs, "MeterValueSampleInterval", "3600") == "Accepted"
    ch.evse("meter 1 100", "power 1 36000", "plug 1", "card 1 ALICE", "charge 1")
    ch.transaction_id()
    ch.wait_status("Charging")
    assert change(cs, "MeterValueSampleInterval", "2") == "Accepted"
    set_at = time.monotonic()
    ch.wait_call("MeterValues", timeout=6, where=lambda p: "Sample.Periodic" in contexts(p))
    assert time.monotonic() - set_at < 3.5


# -- 2. triggered MeterValues during a transaction ------------------------------------
def test_triggered_meter_values_are_coalesced_during_a_transaction(charger, cs):
    """A flood of TriggerMessage(MeterValues) while one MeterValues waits for its reply leaves one triggered value
    waiting (not one stored per trigger), and the periodic samples go on."""
    ch = charger()
    assert change(cs, "MeterValueSampleInterval", "1") == "Accepted"
    ch.evse("meter 1 100", "power 1 36000", "plug 1", "card 1 ALICE", "charge 1")
    tx = ch.transaction_id()
    ch.wait_call("MeterValues", where=lambda p: "Sample.Periodic" in contexts(p))
    cs.ignore_actions.add("MeterValues")  # the next one hangs until its timeout
    n = len(ch.calls("MeterValues"))
    ch.wait_call("MeterValues", count=n + 1)
    for _ in range(10):
        assert cs.call("CP001", call.TriggerMessage(requested_message="MeterValues", connector_id=1)).status == "Accepted"
    cs.ignore_actions.discard("MeterValues")

    def periodic_after_trigger(frames):
        mvs = [f for f in frames if f.kind == 2 and f.action == "MeterValues"]
        first = next((i for i, f in enumerate(mvs) if "Trigger" in contexts(f.msg[3])), None)
        return first is not None and len([f for f in mvs[first:] if "Sample.Periodic" in contexts(f.msg[3])]) >= 2

    cs.wait_for(periodic_after_trigger, 15, "a triggered value, then 2 periodic samples")
    triggered = [f for f in ch.calls("MeterValues") if "Trigger" in contexts(f.msg[3])]
    assert 1 <= len({f.msg[1] for f in triggered}) <= 2, "%d triggered values sent for 10 triggers" % len(triggered)
    assert all(f.msg[3].get("transactionId") == tx for f in triggered)


# -- 3. offline clock-aligned values keep the latest ---------------------------------
def test_offline_clock_aligned_values_keep_the_latest(charger, cs):
    """Offline, the clock-aligned values of connector 0 (and of an idle connector) waiting for the link are the
    latest ones, not the first taken after the link went down."""
    from central_system import CentralSystemThread

    ch = charger()
    assert change(cs, "ClockAlignedDataInterval", "1") == "Accepted"
    ch.evse("meter 1 100")
    ch.wait_call("MeterValues", where=lambda p: p["connectorId"] == 0 and energy(p) == [100])
    port = cs.port
    cs.stop()
    ch.fw.wait_log("disconnected")
    ch.fw.wait_log("backing off", count=2)  # aligned values of 100 Wh are waiting by now
    ch.evse("meter 1 5000")
    ch.fw.wait_log("backing off", count=4)
    back = CentralSystemThread(port=port, boot_plan=[("Accepted", 60)]).start()
    try:
        mvs = back.wait_received("MeterValues", count=2, timeout=15)
        first = {f.msg[3]["connectorId"]: energy(f.msg[3]) for f in reversed(mvs)}
        assert first[0] == [5000] and first[1] == [5000]
    finally:
        back.stop()


# -- 4. status after a reconnect ---------------------------------------------------
def _reconnect_statuses(ch, cs, offline, unanswered=False):
    """Go offline (after a StatusNotification of connector 1 that stays unanswered, if asked), do `offline`, come
    back: -> [(connectorId, status)] the new central system hears once the firmware has settled."""
    from central_system import CentralSystemThread

    port = cs.port
    if unanswered:
        cs.ignore_actions.add("StatusNotification")
        ch.evse("suspend 1")
        ch.wait_status("SuspendedEV")
        if unanswered == "timeout":
            ch.fw.wait_log("StatusNotification failed")
    cs.stop()
    ch.fw.wait_log("disconnected")
    offline()
    back = CentralSystemThread(port=port, boot_plan=[("Accepted", 60)]).start()
    try:
        try:
            back.wait_for(lambda fs: [f for f in fs if f.kind == 2 and f.action == "StatusNotification" and f.msg[3]["connectorId"] == 1], 15, "a status")
        except TimeoutError:
            print(ch.fw.log[-3000:])
            raise
        # A Heartbeat triggered now goes out after every status queued before it.
        assert back.call("CP001", call.TriggerMessage(requested_message="Heartbeat")).status == "Accepted"
        back.wait_received("Heartbeat")
        return [(f.msg[3]["connectorId"], f.msg[3]["status"]) for f in back.received("StatusNotification")]
    finally:
        back.stop()


def test_after_a_reconnect_a_connector_that_reached_charging_offline_reports_charging(charger, cs):
    """Plugged in online, card and charge offline: after the reconnect connector 1 reports Charging, once; connector
    2, unchanged, is not reported again."""
    ch = charger({"connectors": {"count": 2}})
    assert change(cs, "AllowOfflineTxForUnknownId", "true") == "Accepted"
    ch.evse("plug 1", "plug 2")
    ch.wait_status("Preparing", n=1)
    ch.wait_status("Preparing", n=2)
    # Its reply is out before the Heartbeat triggered now is sent (one CALL in flight).
    assert cs.call("CP001", call.TriggerMessage(requested_message="Heartbeat")).status == "Accepted"
    ch.wait_call("Heartbeat")

    def offline():
        ch.evse("card 1 OFFLINE1", "charge 1")
        assert ch.state()["status"] == "Charging"

    statuses = _reconnect_statuses(ch, cs, offline)
    assert [s for c, s in statuses if c == 1] == ["Charging"]


def test_after_a_reconnect_a_status_lost_in_flight_is_not_sent_stale_or_twice(charger, cs):
    """SuspendedEV sent but unanswered when the link drops; Charging again while offline: after the reconnect the
    central system hears Charging once, and nothing stale."""
    ch = charger()
    ch.evse("plug 1", "card 1 ALICE", "charge 1")
    ch.wait_status("Charging")

    def offline():
        ch.evse("charge 1")
        assert ch.state()["status"] == "Charging"

    statuses = _reconnect_statuses(ch, cs, offline, unanswered=True)
    assert [s for c, s in statuses if c == 1] == ["Charging"]


def test_after_a_reconnect_a_status_that_timed_out_is_sent_again(charger, cs):
    """SuspendedEV sent but never answered (a half-open link); the link is replaced: the new central system hears
    connector 1's status, SuspendedEV, once."""
    ch = charger()
    ch.evse("plug 1", "card 1 ALICE", "charge 1")
    ch.wait_status("Charging")
    statuses = _reconnect_statuses(ch, cs, lambda: None, unanswered="timeout")
    assert [s for c, s in statuses if c == 1] == ["SuspendedEV"]


# -- 7. GetCompositeSchedule keeps numberPhases ---------------------------------------
def test_get_composite_schedule_keeps_number_phases(charger, cs):
    """A TxDefaultProfile whose periods say numberPhases 1, then 3: the composite schedule says the same."""
    charger()
    sch = {
        "chargingRateUnit": "A",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0, "numberPhases": 1}, {"startPeriod": 600, "limit": 16.0, "numberPhases": 3}],
    }
    prof = {"chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Relative", "chargingSchedule": sch}
    assert cs.call("CP001", call.SetChargingProfile(connector_id=1, cs_charging_profiles=prof)).status == "Accepted"
    res = cs.call("CP001", call.GetCompositeSchedule(connector_id=1, duration=1200))
    periods = res.charging_schedule["charging_schedule_period"]
    assert [(p["start_period"], p["limit"], p.get("number_phases")) for p in periods] == [(0, 16, 1), (600, 16, 3)]


# -- 6. SendLocalList entries that break the schema --------------------------------
def test_send_local_list_with_an_id_tag_over_20_characters_is_a_callerror(charger, cs):
    """An idTag (or parentIdTag) over 20 characters, or a property AuthorizationData lacks, is a CALLERROR as for every
    other CALL, not Failed; the list stays as it was."""
    from harness.wire import call_raw

    charger()
    ok = {"idTag": "ALICE", "idTagInfo": {"status": "Accepted"}}
    for kind in ("Full", "Differential"):
        cases = (
            ({"idTag": "T" * 21, "idTagInfo": {"status": "Accepted"}}, "PropertyConstraintViolation"),
            ({"idTag": "BOB", "idTagInfo": {"status": "Accepted", "parentIdTag": "P" * 21}}, "PropertyConstraintViolation"),
            ({"idTag": "BOB", "idTagInfo": {"status": "Maybe"}}, "PropertyConstraintViolation"),
            ({"idTag": "BOB", "idTagInfo": {"status": "Accepted", "expiryDate": "soon"}}, "PropertyConstraintViolation"),
            ({"idTag": "BOB", "colour": "red", "idTagInfo": {"status": "Accepted"}}, "FormationViolation"),
            ({"idTag": 7, "idTagInfo": {"status": "Accepted"}}, "TypeConstraintViolation"),
        )
        for bad, code in cases:
            reply = call_raw(cs, "SendLocalList", {"listVersion": 3, "updateType": kind, "localAuthorizationList": [ok, bad]})
            assert reply.kind == 4 and reply.msg[2] == code, (bad, reply.msg)
    assert cs.call("CP001", call.GetLocalListVersion()).list_version == 0


# -- 8. TriggerMessage(BootNotification) after Accepted ---------------------------------
def test_trigger_boot_notification_after_accepted_is_rejected_also_after_a_reconnect(charger, cs):
    """TM-08 (errata 3.35, 3.40): after Accepted a triggered BootNotification is Rejected; we keep rejecting it after a
    reconnect (allowed then, not asked for): the registration is Accepted once per boot."""
    from central_system import CentralSystemThread

    ch = charger()
    assert cs.call("CP001", call.TriggerMessage(requested_message="BootNotification")).status == "Rejected"
    port = cs.port
    cs.stop()
    ch.fw.wait_log("disconnected")
    back = CentralSystemThread(port=port, boot_plan=[("Accepted", 60)]).start()
    try:
        ch.fw.wait_log("connected \\(connection 2\\)")
        back.wait_for(lambda fs: "CP001" in back.charge_points, 5, "the reconnect")
        assert back.call("CP001", call.TriggerMessage(requested_message="BootNotification")).status == "Rejected"
        assert back.call("CP001", call.TriggerMessage(requested_message="Heartbeat")).status == "Accepted"
        back.wait_received("Heartbeat")
        assert back.received("BootNotification") == []
    finally:
        back.stop()


# -- 10. unauthenticated web requests and the flash log ---------------------------------
def test_a_flood_of_bad_logins_does_not_rewrite_the_flash_log(charger):
    """300 requests with a wrong or no password: the first wrong password is one WARNING line in the flash log ring, the
    rest are held back (counted, one line a minute), so the ring keeps what it had (the boot, the registration); a
    request without credentials (every browser's first) is never a line of its own (issue 26)."""
    from harness.net import free_port
    from harness.web_client import request

    port = free_port()
    ch = charger({"web": {"enabled": True, "port": port, "host": "127.0.0.1", "password": "status-secret-17"}, "log": {"flashBytes": 4096}})
    ch.fw.wait_log(r"status page on http://127\.0\.0\.1:%d/" % port)
    for i in range(300):
        assert request(port, path="/status.json", password=None if i % 2 else "nope")[0] == 401
    assert request(port, path="/status.json", password="status-secret-17")[0] == 200
    ring = "".join(p.read_text() for p in sorted((ch.fw.flash / "log").glob("*.txt")))
    refused = [line.split(" web: ")[1] for line in ring.splitlines() if " 401 " in line]
    assert refused == ["401 for GET /status.json: wrong password"], ring[-2000:]
    assert "registration Accepted" in ring


def test_held_back_web_warnings_are_counted_once_per_window():
    """The refused requests held back are logged as one line with their count at the end of each window while they
    go on; a quiet window ends it, and the next refusal is logged again."""
    from harness.firmware import run_micropython

    code = """
import asyncio
from uocpp.extras.web import server
q = server._Quiet("requests refused (401)")
q.quiet_ms = 1000
async def main():
    for i in range(5):
        q.warning("401 number %d", i)
    await asyncio.sleep_ms(1100)
    q.warning("401 number %d", 5)
    await asyncio.sleep_ms(2000)
    q.warning("401 number %d", 6)
    await asyncio.sleep_ms(10)
asyncio.run(main())
"""
    r = run_micropython(code)
    lines = [line.split(" web: ", 1)[1] for line in (r.stdout + r.stderr).splitlines() if " web: " in line]
    assert lines == [
        "401 number 0",
        "4 more requests refused (401) in the last 1 s",
        "1 more requests refused (401) in the last 1 s",
        "401 number 6",
    ], r.stdout + r.stderr


def test_requests_without_credentials_are_counted_only_when_they_are_a_scan():
    """Issue 26: a browser's first request has no credentials (a normal 401): none is logged on its own; the count is
    logged at the end of a window only when more came than a person's browser sends (normal=3 here)."""
    from harness.firmware import run_micropython

    code = """
import asyncio
from uocpp.extras.web import server
q = server._Quiet("requests without credentials refused (401)", 3)
q.quiet_ms = 1000
async def main():
    for i in range(3):
        q.warning("401 number %d", i)
    await asyncio.sleep_ms(2200)
    for i in range(5):
        q.warning("401 number %d", i)
    await asyncio.sleep_ms(2200)
asyncio.run(main())
"""
    r = run_micropython(code)
    lines = [line.split(" web: ", 1)[1] for line in (r.stdout + r.stderr).splitlines() if " web: " in line]
    assert lines == ["5 requests without credentials refused (401) in the last 1 s"], r.stdout + r.stderr


# -- 5. SendLocalListMaxLength and the frame limit ---------------------------------
def _list_entry(i):
    # An ordinary entry at its longest: 20-character tags, an expiryDate with milliseconds and offset.
    tag = "CARD%016d" % i
    return {"idTag": tag, "idTagInfo": {"status": "ConcurrentTx", "expiryDate": "2027-06-30T23:59:59.000+00:00", "parentIdTag": "FLEET%015d" % i}}


def _send_full_list_of_the_advertised_length(cs):
    most = int(next(k["value"] for k in cs.call("CP001", call.GetConfiguration(key=["SendLocalListMaxLength"])).configuration_key))
    entries = [_list_entry(i) for i in range(most)]
    status = cs.call("CP001", call.SendLocalList(list_version=2147483647, update_type="Full", local_authorization_list=entries)).status
    return most, status


def test_a_full_send_local_list_of_the_advertised_length_fits_the_default_frame(charger, cs):
    """SendLocalListMaxLength is what fits in one frame of centralSystem.maxFrameSize (8 KB): a Full list of that many
    entries at their longest is Accepted on the same link (it was 100, about 16 KB: closed with 1009, never answered)."""
    ch = charger()
    most, status = _send_full_list_of_the_advertised_length(cs)
    assert status == "Accepted" and most >= 40
    assert cs.call("CP001", call.GetLocalListVersion()).list_version == 2147483647
    assert len(cs.connections) == 1
    ch.fw.wait_log("Full update: version 2147483647, %d entries" % most)


def test_send_local_list_max_length_follows_the_frame_size(charger, cs):
    """maxFrameSize 16 KB: SendLocalListMaxLength about doubles, and a Full list of that many still fits."""
    ch = charger({"centralSystem": {"maxFrameSize": 16384}})
    most, status = _send_full_list_of_the_advertised_length(cs)
    assert status == "Accepted" and most >= 90
    assert len(cs.connections) == 1
    ch.fw.wait_log("Full update: version 2147483647, %d entries" % most)
