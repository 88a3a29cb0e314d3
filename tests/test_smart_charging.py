"""Smart charging (C16 3.13, 5.5, 5.7, 5.16): charging profiles from the `ocpp`
central system (schema validation on both ways), the limit the pilot offers
read from the EVSE simulator (`offeredA`)."""

import time
from datetime import datetime, timezone
from decimal import Decimal

from ocpp.v16 import call

from harness.wire import call_raw

MAX = 32  # connectors.maxCurrent (the default)


def iso(unix):
    return datetime.fromtimestamp(unix, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def unix(text):
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()


def profile(pid, purpose="TxDefaultProfile", level=0, periods=((0, 16),), kind="Relative", unit="A", **schedule):
    sch = {"chargingRateUnit": unit, "chargingSchedulePeriod": [{"startPeriod": s, "limit": float(v)} for s, v in periods]}
    sch.update(schedule)
    return {"chargingProfileId": pid, "stackLevel": level, "chargingProfilePurpose": purpose, "chargingProfileKind": kind, "chargingSchedule": sch}


def set_profile(cs, connector, prof):
    return cs.call("CP001", call.SetChargingProfile(connector_id=connector, cs_charging_profiles=prof)).status


def clear(cs, **criteria):
    return cs.call("CP001", call.ClearChargingProfile(**criteria)).status


def composite(cs, connector, duration, unit=None):
    kw = {"charging_rate_unit": unit} if unit else {}
    return cs.call("CP001", call.GetCompositeSchedule(connector_id=connector, duration=duration, **kw))


def periods_of(res):
    return [(p["start_period"], p["limit"]) for p in res.charging_schedule["charging_schedule_period"]]


def wait_offered(ch, amps, timeout=5):
    deadline = time.monotonic() + timeout
    while True:
        got = ch.state()["offeredA"]
        if got == amps or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def charging(ch):
    ch.evse("plug 1", "card 1 ALICE", "charge 1")
    ch.wait_call("StartTransaction")
    ch.transaction_id()


def test_keys_and_feature_profile(charger, cs):
    """SmartCharging in SupportedFeatureProfiles; its read-only keys."""
    charger()
    res = cs.call("CP001", call.GetConfiguration(key=[
        "SupportedFeatureProfiles", "ChargeProfileMaxStackLevel", "ChargingScheduleAllowedChargingRateUnit",
        "ChargingScheduleMaxPeriods", "MaxChargingProfilesInstalled",
    ]))
    values = {kv["key"]: (kv["value"], kv["readonly"]) for kv in res.configuration_key}
    assert "SmartCharging" in values["SupportedFeatureProfiles"][0].split(",")
    assert values["ChargeProfileMaxStackLevel"] == ("8", True)
    assert values["ChargingScheduleAllowedChargingRateUnit"] == ("Current,Power", True)
    assert values["ChargingScheduleMaxPeriods"] == ("24", True)
    assert values["MaxChargingProfilesInstalled"] == ("8", True)


def test_tx_default_profile_and_charge_point_max_cap(charger, cs):
    """A TxDefaultProfile of 16 A limits a transaction; a ChargePointMaxProfile of 10 A caps it; clearing the cap restores 16 A."""
    ch = charger()
    assert set_profile(cs, 0, profile(1)) == "Accepted"
    charging(ch)
    ch.wait_status("Charging")
    assert wait_offered(ch, 16) == 16
    assert set_profile(cs, 1, profile(2, "ChargePointMaxProfile", periods=((0, 10),))) == "Rejected"  # connector 0 only
    assert set_profile(cs, 0, profile(2, "ChargePointMaxProfile", periods=((0, 10),))) == "Accepted"
    assert wait_offered(ch, 10) == 10
    assert clear(cs, charging_profile_purpose="ChargePointMaxProfile") == "Accepted"
    assert wait_offered(ch, 16) == 16
    assert ch.state()["status"] == "Charging"


def test_tx_profile_needs_a_transaction_and_ends_with_it(charger, cs):
    """A TxProfile without a transaction is Rejected; with one it prevails over the TxDefaultProfile, and ends with the transaction."""
    ch = charger()
    assert set_profile(cs, 1, profile(5, "TxProfile", periods=((0, 12),))) == "Rejected"
    assert set_profile(cs, 0, profile(1)) == "Accepted"
    charging(ch)
    tx = ch.transaction_id()
    wrong = dict(profile(5, "TxProfile", periods=((0, 12),)), transactionId=tx + 1000)
    assert set_profile(cs, 1, wrong) == "Rejected"
    assert set_profile(cs, 1, dict(wrong, transactionId=tx)) == "Accepted"
    assert wait_offered(ch, 12) == 12
    ch.evse("unplug 1")
    ch.wait_call("StopTransaction")
    assert clear(cs, id=5) == "Unknown"  # gone with its transaction
    ch.evse("plug 1", "card 1 ALICE", "charge 1")
    ch.wait_call("StartTransaction", count=2)
    assert wait_offered(ch, 16) == 16


def test_clear_charging_profile_by_id_purpose_and_stack_level(charger, cs):
    """ClearChargingProfile: by id, by purpose, by stack level (all criteria must match); Unknown when none does."""
    charger()
    assert set_profile(cs, 0, profile(1, level=0)) == "Accepted"
    assert set_profile(cs, 1, profile(2, level=1)) == "Accepted"
    assert set_profile(cs, 1, profile(3, level=2)) == "Accepted"
    assert set_profile(cs, 0, profile(4, "ChargePointMaxProfile", level=2)) == "Accepted"
    assert clear(cs, id=99) == "Unknown"
    assert clear(cs, id=2) == "Accepted"
    assert clear(cs, id=2) == "Unknown"
    assert clear(cs, stack_level=2, charging_profile_purpose="TxProfile") == "Unknown"
    assert clear(cs, stack_level=2, connector_id=1) == "Accepted"  # profile 3, not 4 (connector 0)
    assert clear(cs, charging_profile_purpose="ChargePointMaxProfile") == "Accepted"
    assert clear(cs, connector_id=1) == "Unknown"
    assert clear(cs) == "Accepted"  # profile 1
    assert clear(cs) == "Unknown"


def test_replacement_and_limits(charger, cs):
    """Same id or same stack level and purpose replaces; stack level and period counts beyond the keys are Rejected."""
    charger()
    assert set_profile(cs, 0, profile(1, level=0, periods=((0, 16),))) == "Accepted"
    assert set_profile(cs, 0, profile(2, level=0, periods=((0, 12),))) == "Accepted"  # replaces 1
    assert clear(cs, id=1) == "Unknown"
    assert periods_of(composite(cs, 1, 60)) == [(0, 12)]
    assert set_profile(cs, 0, profile(3, level=9)) == "Rejected"
    assert set_profile(cs, 0, profile(3, periods=[(i * 60, 16) for i in range(25)])) == "Rejected"
    for pid in range(10, 17):
        assert set_profile(cs, 1, profile(pid, level=pid - 10 + 1)) == "Accepted"
    assert set_profile(cs, 0, profile(20, "ChargePointMaxProfile")) == "Rejected"  # a ninth profile


def test_get_composite_schedule_matches_computed_periods(charger, cs):
    """GetCompositeSchedule: an absolute TxDefaultProfile (16 A, 10 A after 10 min, ends after 20 min) under a 14 A cap from minute 15, in A and in W."""
    charger()
    # A second back: the charger keeps whole seconds from the central
    # system's currentTime (up to 1 s behind this host), and a schedule that
    # starts after the charger's now would open with the default limit.
    start = int(time.time()) - 1
    assert set_profile(cs, 0, profile(1, kind="Absolute", periods=((0, 16), (600, 10)), startSchedule=iso(start), duration=1200)) == "Accepted"
    assert set_profile(cs, 0, profile(2, "ChargePointMaxProfile", kind="Absolute", periods=((0, 14),), startSchedule=iso(start + 900))) == "Accepted"
    res = composite(cs, 1, 3600)
    assert res.status == "Accepted" and res.connector_id == 1
    t0 = unix(res.schedule_start)
    assert abs(t0 - time.time()) < 5
    assert res.charging_schedule["duration"] == 3600 and res.charging_schedule["charging_rate_unit"] == "A"
    want = [(0, 16), (start + 600 - t0, 10), (start + 1200 - t0, 14)]
    assert periods_of(res) == want
    watts = composite(cs, 1, 3600, "W")
    assert periods_of(watts) == [(s, v * 230 * 3) for s, v in want]
    assert periods_of(composite(cs, 0, 60)) == [(0, MAX)]  # connector 0: only the cap, not yet in force
    assert composite(cs, 5, 60).status == "Rejected"


def test_period_boundary_changes_the_pilot(charger, cs):
    """The limit changes at a period boundary, at most about 1 s late."""
    ch = charger()
    charging(ch)
    start = int(time.time()) + 1
    assert set_profile(cs, 0, profile(1, kind="Absolute", periods=((0, 16), (3, 8)), startSchedule=iso(start))) == "Accepted"
    assert wait_offered(ch, 16, timeout=3) == 16
    assert wait_offered(ch, 8, timeout=4) == 8
    assert time.time() - (start + 3) < 1.5


def test_profiles_survive_a_restart(charger, cs, firmware, tmp_path):
    """Profiles are on flash: killed and started again on the same flash, a 12 A default still limits the next transaction."""
    work = tmp_path / "fw"
    ch = charger(workdir=work)
    assert set_profile(cs, 0, profile(7, periods=((0, 12),))) == "Accepted"
    ch.fw.kill()
    again = firmware(cs.port, {"simulator": {"port": ch.port}, "log": {"level": "info"}}, workdir=work)
    again.wait_log("registration Accepted")
    again.wait_log("simulator listening")
    charging(ch)
    assert wait_offered(ch, 12) == 12
    assert periods_of(composite(cs, 1, 60)) == [(0, 12)]


def test_below_6_a_suspends_then_resumes(charger, cs):
    """A limit below 6 A pauses charging (SuspendedEVSE, nothing offered, relay open); back to Charging when it rises."""
    ch = charger()
    assert set_profile(cs, 0, profile(1)) == "Accepted"
    charging(ch)
    ch.wait_status("Charging")
    assert set_profile(cs, 0, profile(2, level=1, periods=((0, 4),))) == "Accepted"
    ch.wait_status("SuspendedEVSE")
    st = ch.state()
    assert st["offeredA"] == 0 and st["relay"] is False
    assert clear(cs, id=2) == "Accepted"
    ch.wait_call("StatusNotification", count=2, where=lambda p: p["status"] == "Charging")
    st = ch.state()
    assert st["offeredA"] == 16 and st["relay"] is True and st["status"] == "Charging"


def test_remote_start_with_a_tx_profile(charger, cs):
    """RemoteStartTransaction with a TxProfile: in force for that transaction only; any other purpose Rejected."""
    ch = charger()
    ch.evse("plug 1", "charge 1")
    bad = profile(1, "TxDefaultProfile")
    assert call_raw(cs, "RemoteStartTransaction", {"idTag": "FLEET", "connectorId": 1, "chargingProfile": bad}).msg[2] == {"status": "Rejected"}
    good = profile(1, "TxProfile", periods=((0, 10),))
    assert call_raw(cs, "RemoteStartTransaction", {"idTag": "FLEET", "connectorId": 1, "chargingProfile": good}).msg[2] == {"status": "Accepted"}
    ch.wait_status("Charging")
    assert wait_offered(ch, 10) == 10
    assert periods_of(composite(cs, 1, 60)) == [(0, 10)]
    ch.evse("unplug 1")
    ch.wait_call("StopTransaction")
    assert periods_of(composite(cs, 1, 60)) == [(0, MAX)]


def test_malformed_profiles_get_callerrors(charger, cs):
    """A wrong shape inside csChargingProfiles gets the 1.6 CALLERROR code; a bad date is Rejected."""
    charger()
    good = profile(1)
    cases = [
        (dict(good, stackLevel="0"), "TypeConstraintViolation"),
        ({k: v for k, v in good.items() if k != "chargingSchedule"}, "OccurenceConstraintViolation"),
        (dict(good, chargingProfilePurpose="Nope"), "PropertyConstraintViolation"),
        (dict(good, extra=1), "FormationViolation"),
        (dict(good, chargingSchedule={"chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": "16"}]}), "TypeConstraintViolation"),
    ]
    for prof, code in cases:
        reply = call_raw(cs, "SetChargingProfile", {"connectorId": 0, "csChargingProfiles": prof})
        assert reply.kind == 4 and reply.msg[2] == code, (prof, reply.msg)
    reply = call_raw(cs, "SetChargingProfile", {"connectorId": 0, "csChargingProfiles": dict(good, validFrom="yesterday")})
    assert reply.msg[2] == {"status": "Rejected"}


def test_a_limit_in_watts(charger, cs):
    """A TxDefaultProfile in W: W / (230 V x 3) A per phase on the pilot; the composite in A rounds to 0.1. A period's
    numberPhases 1 on a three-phase charger that cannot switch phases (no energy.phaseSwitch) does not make the limit
    three times the power: 2300 W is still spread over its three phases (3.3 A, below 6 A: paused), and the composite
    in W says 2300 W. With phase switching the same period gives 10 A on one phase (test_energy.py)."""
    ch = charger()
    assert set_profile(cs, 0, profile(1, unit="W", periods=((0, 7000),))) == "Accepted"
    charging(ch)
    assert abs(wait_offered(ch, 7000 / 690) - 7000 / 690) < 0.01
    assert periods_of(composite(cs, 1, 60)) == [(0, Decimal("10.1"))]  # the ocpp package reads limits as Decimal
    one = profile(2, level=1, unit="W")
    one["chargingSchedule"]["chargingSchedulePeriod"] = [{"startPeriod": 0, "limit": 2300.0, "numberPhases": 1}]
    assert set_profile(cs, 0, one) == "Accepted"
    assert wait_offered(ch, 0) == 0
    ch.wait_status("SuspendedEVSE")
    assert periods_of(composite(cs, 1, 60, "W")) == [(0, Decimal("2300"))]


def test_a_remote_start_tx_profile_is_not_given_to_another_transaction(charger, cs):
    """RemoteStartTransaction's chargingProfile is for the transaction it requested (C16 5.11, RemoteStartTransaction.req
    chargingProfile: "to be used by the Charge Point for the requested transaction"): another idTag's transaction that
    starts on that connector instead (a card while the remote start waits for the EV) does not get it."""
    ch = charger()
    good = profile(1, "TxProfile", periods=((0, 10),))
    assert call_raw(cs, "RemoteStartTransaction", {"idTag": "FLEET", "connectorId": 1, "chargingProfile": good}).msg[2] == {"status": "Accepted"}
    ch.wait_status("Preparing")
    ch.evse("card 1 ALICE")
    ch.wait_call("Authorize", where=lambda p: p["idTag"] == "ALICE")
    ch.evse("plug 1", "charge 1")
    assert ch.wait_call("StartTransaction")[0]["idTag"] == "ALICE"
    ch.wait_status("Charging")
    assert wait_offered(ch, MAX) == MAX
    assert periods_of(composite(cs, 1, 60)) == [(0, MAX)]


def test_a_remote_start_tx_profile_with_no_room_left_is_rejected(charger, cs):
    """RemoteStartTransaction's TxProfile SHALL be used for the transaction (C16 5.11, 6.33 chargingProfile): with
    MaxChargingProfilesInstalled profiles already installed it could not be, so the remote start is Rejected rather than
    Accepted and its transaction left without its limit."""
    ch = charger()
    for level in range(8):
        assert set_profile(cs, 0, profile(10 + level, level=level, periods=((0, 16),))) == "Accepted"
    ch.evse("plug 1", "charge 1")
    tx = profile(1, "TxProfile", periods=((0, 10),))
    reply = call_raw(cs, "RemoteStartTransaction", {"idTag": "FLEET", "connectorId": 1, "chargingProfile": tx}).msg[2]
    assert reply == {"status": "Rejected"}  # was Accepted, and the transaction charged at the default's 16 A
    assert clear(cs, id=10) == "Accepted"
    reply = call_raw(cs, "RemoteStartTransaction", {"idTag": "FLEET", "connectorId": 1, "chargingProfile": tx}).msg[2]
    assert reply == {"status": "Accepted"}
    ch.wait_status("Charging")
    assert wait_offered(ch, 10) == 10
