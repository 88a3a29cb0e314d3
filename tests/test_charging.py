"""Charging sessions on the unix port: the EVSE simulator drives pilot,
cards, faults and the meter; the `ocpp` central system (schema validation
on) sees the transactions.

@BOTH runs a test on the unix simulator and on the ESP32 twin (the same
line protocol through the ESP32 drivers and the hardware model): one test
per behaviour the EVSE drivers carry (a card session, suspend, remote start
and stop on two connectors, faults, the lock, sampled and triggered meter
values from the Modbus meter, a pilot limited by a profile, the protocol's
errors; the power cut has its own twin test in test_twin.py). The rest
exercise the core above the seam, the same on both, and stay on the
simulator, which is faster."""

import time
from datetime import datetime, timezone

import pytest
from ocpp.v16 import call

from tests.conftest import BOTH
from harness.wire import call_raw


def change(cs, key, value):
    return cs.call("CP001", call.ChangeConfiguration(key=key, value=value)).status


@BOTH
def test_plug_then_card_starts_and_unplug_stops(charger):
    """TX-01, TX-05: plug, card -> Authorize, StartTransaction with meterStart; unplug -> StopTransaction EVDisconnected."""
    ch = charger()
    ch.evse("meter 1 1500", "power 1 11000", "plug 1")
    ch.wait_status("Preparing")
    ch.evse("card 1 A11CE000", "charge 1")
    start = ch.wait_call("StartTransaction")[0]
    assert start["idTag"] == "A11CE000" and start["connectorId"] == 1 and start["meterStart"] == 1500
    assert ch.payloads("Authorize") == [{"idTag": "A11CE000"}]
    ch.wait_status("Charging")
    tx = ch.transaction_id()
    st = ch.state()
    assert st["relay"] is True and st["locked"] is True and st["offeredA"] == 32 and st["status"] == "Charging"
    assert st["transactionId"] == tx
    ch.evse("meter 1 4500", "unplug 1")
    stop = ch.wait_call("StopTransaction")[0]
    assert stop["reason"] == "EVDisconnected" and stop["meterStop"] >= 4500
    assert stop["transactionId"] == tx
    ch.wait_status("Available")
    assert ch.state()["relay"] is False


def test_card_then_plug_within_connection_timeout(charger, cs):
    """TX-02, KEY-03: card first, then the cable: the transaction starts when the EV is plugged in."""
    ch = charger()
    ch.evse("card 1 BOB")
    ch.wait_status("Preparing")
    assert ch.payloads("StartTransaction") == []
    ch.evse("plug 1")
    assert ch.wait_call("StartTransaction")[0]["idTag"] == "BOB"
    assert ch.state()["status"] == "SuspendedEV"  # plugged, not yet asking


def test_card_then_no_plug_times_out(charger, cs):
    """KEY-03: ConnectionTimeOut passes without a cable: back to Available, no transaction."""
    ch = charger()
    assert change(cs, "ConnectionTimeOut", "1") == "Accepted"
    ch.evse("card 1 BOB")
    ch.wait_status("Preparing")
    ch.wait_status("Available", timeout=5)
    ch.fw.wait_log("no EV within ConnectionTimeOut")
    ch.evse("plug 1")
    assert ch.payloads("StartTransaction") == []


def test_same_card_stops_and_other_card_does_not(charger, cs):
    """TX-05: only the idTag that started it (or one with its parentIdTag) stops a transaction."""
    ch = charger()
    ch.evse("plug 1", "card 1 ALICE", "charge 1")
    ch.wait_call("StartTransaction")
    ch.evse("card 1 MALLORY")
    assert ch.payloads("StopTransaction") == []
    assert ch.state()["status"] == "Charging"
    ch.evse("card 1 ALICE")
    stop = ch.wait_call("StopTransaction")[0]
    assert stop["reason"] == "Local" and stop["idTag"] == "ALICE"
    assert ch.state()["status"] == "Finishing"  # still plugged in
    ch.evse("unplug 1")
    ch.wait_status("Available")


def test_parent_id_tag_stops(charger, cs):
    """TX-05: a card with the same parentIdTag as the starter's stops the transaction (checked with Authorize)."""
    cs.id_tags.update({"CARD1": {"status": "Accepted", "parentIdTag": "FLEET"}, "CARD2": {"status": "Accepted", "parentIdTag": "FLEET"}})
    ch = charger()
    ch.evse("plug 1", "card 1 CARD1")
    ch.wait_call("StartTransaction")
    ch.evse("card 1 CARD2")
    assert ch.wait_call("StopTransaction")[0]["idTag"] == "CARD2"


def test_invalid_card_does_not_start(charger, cs):
    """AUTH: a Blocked or Invalid idTag starts nothing."""
    cs.id_tags["BLOCKED"] = {"status": "Blocked"}
    ch = charger()
    ch.evse("plug 1", "card 1 BLOCKED")
    assert ch.payloads("StartTransaction") == []
    assert ch.state()["status"] == "Preparing" and ch.state()["relay"] is False


def deauthorized(charger, cs):
    # A remote start without an Authorize (AuthorizeRemoteTxRequests false) of an idTag the StartTransaction.conf
    # finds Invalid: stopped DeAuthorized (StopTransactionOnInvalidId true, the default). -> the charger.
    cs.id_tags["LATE"] = {"status": "Invalid"}
    ch = charger()
    assert change(cs, "AuthorizeRemoteTxRequests", "false") == "Accepted"
    ch.evse("plug 1", "charge 1")
    assert cs.call("CP001", call.RemoteStartTransaction(id_tag="LATE", connector_id=1)).status == "Accepted"
    assert ch.wait_call("StopTransaction")[0]["reason"] == "DeAuthorized"
    return ch


def test_start_conf_not_accepted_stops_or_suspends(charger, cs):
    """KEY-StopTransactionOnInvalidId: true -> StopTransaction DeAuthorized; false -> SuspendedEVSE, relay open."""
    ch = deauthorized(charger, cs)
    ch.evse("unplug 1", "plug 1", "charge 1")
    assert change(cs, "StopTransactionOnInvalidId", "false") == "Accepted"
    assert cs.call("CP001", call.RemoteStartTransaction(id_tag="LATE", connector_id=1)).status == "Accepted"
    ch.wait_call("StartTransaction", count=2)
    ch.wait_status("SuspendedEVSE")
    st = ch.state()
    assert st["relay"] is False and st["offeredA"] == 0 and st["transactionId"] is not None
    assert len(ch.payloads("StopTransaction")) == 1


def test_a_deauthorized_stop_keeps_the_cable_locked_until_its_owner_comes(charger, cs):
    """KEY-StopTransactionOnInvalidId: C16 3.5.4: stopped DeAuthorized, "If the Charge Point has the possibility to lock
    the Charging Cable, it SHOULD keep the Charging Cable locked until the owner presents his identifier": not
    unlocked by the stop, nor when the EV leaves, nor by another card; the owner's card unlocks it."""
    ch = deauthorized(charger, cs)
    assert ch.state()["locked"] is True
    ch.evse("unplug 1", "card 1 SOMEONE")
    ch.wait_call("Authorize")
    assert ch.state()["locked"] is True
    ch.evse("card 1 late")  # CiString20Type: case-insensitive
    ch.fw.wait_log("card late, the cable is unlocked")
    assert ch.state()["locked"] is False
    assert [p["idTag"] for p in ch.payloads("Authorize")] == ["SOMEONE"]


@BOTH
def test_suspend_and_resume(charger):
    """Status SuspendedEV while the EV stops asking, Charging again when it asks."""
    ch = charger()
    ch.evse("plug 1", "card 1 A11CE000", "charge 1")
    ch.wait_status("Charging")
    ch.evse("suspend 1")
    assert ch.state()["status"] == "SuspendedEV" and ch.state()["relay"] is False
    ch.wait_status("SuspendedEV")
    ch.evse("charge 1")
    assert ch.state()["status"] == "Charging" and ch.state()["relay"] is True


@BOTH
def test_remote_start_and_stop(charger, cs):
    """TX-RemoteStart/Stop: no connectorId picks a free connector, one with an EV first (0 is Rejected: 1.6 says it
    SHALL be > 0); unknown transactionId Rejected."""
    ch = charger({"connectors": {"count": 2}})
    ch.evse("plug 2")
    assert cs.call("CP001", call.RemoteStartTransaction(id_tag="REMOTE", connector_id=0)).status == "Rejected"
    assert cs.call("CP001", call.RemoteStartTransaction(id_tag="REMOTE")).status == "Accepted"
    start = ch.wait_call("StartTransaction")[0]
    assert start["connectorId"] == 2  # the one with an EV plugged in
    tx = ch.transaction_id()
    assert cs.call("CP001", call.RemoteStopTransaction(transaction_id=tx + 1000)).status == "Rejected"
    assert cs.call("CP001", call.RemoteStopTransaction(transaction_id=tx)).status == "Accepted"
    assert ch.wait_call("StopTransaction")[0]["reason"] == "Remote"


def test_a_remote_stop_bills_the_energy_up_to_the_relay_opening(charger, cs):
    """TX-05, C16 5.12: a RemoteStopTransaction stops with the register as the relay leaves it (at least what it was
    when the central system asked; the meter stays there after the stop), not as the meter task read it up to a
    second before: at 360 kW that second is 100 Wh no session is billed for (the next one starts from the register)."""
    ch = charger()
    ch.evse("meter 1 1000", "power 1 360000", "plug 1", "card 1 A11CE000", "charge 1")
    tx = ch.transaction_id()
    ch.wait_status("Charging")
    asked = ch.state()["energyWh"]  # the register as the central system asks: the stop comes after it
    assert cs.call("CP001", call.RemoteStopTransaction(transaction_id=tx)).status == "Accepted"
    stop = ch.wait_call("StopTransaction")[0]
    assert not ch.state()["relay"]
    register = ch.state()["energyWh"]  # no current since the relay opened
    assert int(asked) <= stop["meterStop"] <= register, (asked, stop["meterStop"], register)


@pytest.mark.parametrize("how", ("UnlockCommand", "Local", "DeAuthorized", "Remote"))
def test_every_stop_bills_the_register_as_the_relay_left_it(charger, cs, how):
    """TX-05, C16 6.48 (StopTransaction.req meterStop: "the energy meter value in Wh for the connector at end of the
    transaction"): whatever stops it (an UnlockConnector, the same card, a StartTransaction.conf that finds the idTag
    Invalid, a RemoteStopTransaction), meterStop is the register as the relay left it, read after it opened, not as the meter task read it up
    to a second before (at 3.6 MW a millisecond is 1 Wh: before, up to 1,000 Wh no session was billed for, since the
    next one starts from the register)."""
    ch = charger()
    ch.evse("meter 1 1000", "power 1 3600000", "plug 1", "charge 1")
    if how == "DeAuthorized":
        cs.id_tags["LATE"] = {"status": "Invalid"}
        assert change(cs, "AuthorizeRemoteTxRequests", "false") == "Accepted"
        assert cs.call("CP001", call.RemoteStartTransaction(id_tag="LATE", connector_id=1)).status == "Accepted"
    else:
        ch.evse("card 1 A11CE000")
        ch.wait_status("Charging")
        if how == "Local":
            ch.evse("card 1 A11CE000")
        elif how == "Remote":
            assert cs.call("CP001", call.RemoteStopTransaction(transaction_id=ch.transaction_id())).status == "Accepted"
        else:
            assert cs.call("CP001", call.UnlockConnector(connector_id=1)).status == "Unlocked"
    stop = ch.wait_call("StopTransaction")[0]
    assert stop["reason"] == how
    assert not ch.state()["relay"]
    register = ch.state()["energyWh"]  # no current since the relay opened
    assert register - 1 <= stop["meterStop"] <= register, (stop["meterStop"], register)


@BOTH
def test_remote_start_rejected_when_the_connector_cannot(charger, cs):
    """A faulted connector, or one with a transaction, cannot start remotely."""
    ch = charger()
    ch.evse("fault 1 GroundFailure")
    assert cs.call("CP001", call.RemoteStartTransaction(id_tag="X", connector_id=1)).status == "Rejected"
    assert cs.call("CP001", call.RemoteStartTransaction(id_tag="X", connector_id=5)).status == "Rejected"


def test_authorize_remote_tx_requests_both_ways(charger, cs):
    """KEY-AuthorizeRemoteTxRequests: true -> Authorize before the start; false -> straight to StartTransaction."""
    ch = charger()
    ch.evse("plug 1")
    assert cs.call("CP001", call.RemoteStartTransaction(id_tag="R1", connector_id=1)).status == "Accepted"
    ch.wait_call("StartTransaction")
    assert ch.payloads("Authorize") == [{"idTag": "R1"}]
    ch.evse("unplug 1")
    ch.wait_call("StopTransaction")
    assert change(cs, "AuthorizeRemoteTxRequests", "false") == "Accepted"
    ch.evse("plug 1")
    assert cs.call("CP001", call.RemoteStartTransaction(id_tag="R2", connector_id=1)).status == "Accepted"
    ch.wait_call("StartTransaction", count=2)
    assert ch.payloads("Authorize") == [{"idTag": "R1"}]


@BOTH
def test_unlock_connector(charger, cs):
    """UnlockConnector: Unlocked, UnlockFailed, NotSupported; a transaction is stopped first (UnlockCommand)."""
    ch = charger()
    ch.evse("plug 1", "card 1 A11CE000")
    ch.wait_call("StartTransaction")
    assert cs.call("CP001", call.UnlockConnector(connector_id=1)).status == "Unlocked"
    assert ch.wait_call("StopTransaction")[0]["reason"] == "UnlockCommand"
    assert ch.state()["locked"] is False
    ch.evse("unplug 1", "lock 1 fail", "plug 1", "card 1 A11CE000")
    assert ch.wait_status("Faulted")[0]["errorCode"] == "ConnectorLockFailure"
    assert len(ch.payloads("StartTransaction")) == 1  # the lock failed: no start
    ch.evse("lock 1 ok", "unplug 1")  # the fault lasts until the cable is out
    ch.wait_status("Available")
    ch.evse("plug 1", "card 1 A11CE000")
    ch.wait_call("StartTransaction", count=2)
    ch.evse("lock 1 fail")
    assert cs.call("CP001", call.UnlockConnector(connector_id=1)).status == "UnlockFailed"
    assert cs.call("CP001", call.UnlockConnector(connector_id=9)).status == "NotSupported"


@BOTH
def test_fault_during_charging_stops(charger):
    """A fault that forbids charging: relay open, StopTransaction, Faulted with its errorCode."""
    ch = charger()
    ch.evse("plug 1", "card 1 A11CE000", "charge 1")
    ch.wait_status("Charging")
    ch.evse("fault 1 GroundFailure")
    assert ch.wait_call("StopTransaction")[0]["reason"] == "Other"
    faulted = ch.wait_status("Faulted")[0]
    assert faulted["errorCode"] == "GroundFailure"
    assert ch.state()["relay"] is False
    ch.evse("clear 1")
    ch.wait_status("Finishing")


def test_a_new_fault_while_faulted_is_reported_with_its_error_code(charger):
    """C16 4.9: a StatusNotification informs the central system of "a status change or an error": a second fault
    while Faulted (another errorCode, the status still Faulted) is sent with its errorCode. (Before: only a change of
    status was sent, and the central system kept the first errorCode.)"""
    ch = charger()
    ch.evse("fault 1 GroundFailure")
    assert ch.wait_status("Faulted")[0]["errorCode"] == "GroundFailure"
    ch.evse("fault 1 OverCurrentFailure")
    ch.wait_call("StatusNotification", where=lambda p: p["connectorId"] == 1 and p["errorCode"] == "OverCurrentFailure")
    ch.evse("clear 1")
    ch.wait_status("Available")


def test_a_fault_that_came_and_went_offline_is_reported_after_the_reconnect(charger, cs):
    """C16 4.9: a StatusNotification informs the central system of "a status change or an error within the Charge
    Point". A fault that stopped a transaction (reason Other: 1.6 has no reason for a fault) and cleared while the
    charger was offline: after the reconnect the central system hears Faulted with its errorCode, then the status of
    now. (Before: only the status of now was sent, and the fault was never reported.)"""
    from central_system import CentralSystemThread

    ch = charger({"reconnect": {"waitMinimum": 0.2}})
    ch.evse("plug 1", "card 1 ALICE", "charge 1")
    ch.wait_status("Charging")
    port = cs.port
    cs.stop()
    ch.fw.wait_log("disconnected")
    ch.evse("fault 1 GroundFailure")
    ch.fw.wait_log("transaction .* stopped \\(Other\\)")
    ch.evse("clear 1")
    assert ch.state()["status"] == "Finishing"
    back = CentralSystemThread(port=port, boot_plan=[("Accepted", 60)]).start()
    try:

        def connector_1(frames):
            seen = [(f.msg[3]["status"], f.msg[3]["errorCode"]) for f in frames if f.kind == 2 and f.action == "StatusNotification" and f.msg[3]["connectorId"] == 1]
            return seen if seen[-1:] == [("Finishing", "NoError")] else None

        assert back.wait_for(connector_1, 15, "connector 1 Finishing") == [("Faulted", "GroundFailure"), ("Finishing", "NoError")]
        assert back.wait_received("StopTransaction")[0].payload["reason"] == "Other"
    finally:
        back.stop()


def test_a_paused_evse_reads_suspended_evse_whatever_the_ev_does(charger, cs):
    """C16 7.7 ChargePointStatus: SuspendedEVSE "the EVSE is not offering energy to the EV, e.g. due to a smart
    charging restriction"; SuspendedEV "the EVSE is offering energy but the EV is not taking any". A limit below 6 A
    offers nothing; the EV then stops asking (pilot B, as IEC 61851-1 has it do without a PWM): still SuspendedEVSE.
    (Before: SuspendedEV, as if the EV paused.) Offered again: SuspendedEV until it asks, then Charging."""
    from tests.test_smart_charging import clear, profile, set_profile

    ch = charger()
    ch.evse("plug 1", "card 1 ALICE", "charge 1")
    ch.wait_status("Charging")
    assert set_profile(cs, 0, profile(1, periods=((0, 0),))) == "Accepted"
    ch.wait_status("SuspendedEVSE")
    ch.evse("suspend 1")
    st = ch.state()
    assert (st["status"], st["offeredA"], st["relay"]) == ("SuspendedEVSE", 0, False)
    assert clear(cs, id=1) == "Accepted"
    ch.wait_status("SuspendedEV")
    ch.evse("charge 1")
    ch.wait_call("StatusNotification", count=2, where=lambda p: p["status"] == "Charging")


def test_change_availability_during_a_transaction_is_scheduled(charger, cs):
    """CA-Scheduled: Inoperative during a transaction is Scheduled, applied when it ends."""
    ch = charger()
    ch.evse("plug 1", "card 1 ALICE", "charge 1")
    ch.wait_status("Charging")
    assert cs.call("CP001", call.ChangeAvailability(connector_id=1, type="Inoperative")).status == "Scheduled"
    assert ch.state()["status"] == "Charging"
    ch.evse("unplug 1")
    ch.wait_call("StopTransaction")
    ch.wait_status("Unavailable")
    ch.evse("plug 1", "card 1 ALICE")
    assert len(ch.payloads("StartTransaction")) == 1


def finishing(charger):
    # A transaction charged and stopped by its card, the cable still in: Finishing. -> the charger.
    ch = charger()
    ch.evse("plug 1", "card 1 ALICE", "charge 1")
    ch.wait_status("Charging")
    ch.evse("card 1 ALICE")
    ch.wait_call("StopTransaction")
    ch.wait_status("Finishing")
    return ch

def test_a_remote_start_in_finishing_starts_as_a_card_does(charger, cs):
    """C16 4.9, transition F2 (Finishing -> Preparing: the user starts again, the cable still in) and C16 5.11: a
    RemoteStartTransaction is the central system's way to present an idTag. A card in Finishing starts a new
    transaction; a remote start there must too (an app-only site has no other way to start again). (Before:
    Rejected until the cable was pulled out and plugged in again.)"""
    ch = finishing(charger)
    assert cs.call("CP001", call.RemoteStartTransaction(id_tag="BOB", connector_id=1)).status == "Accepted"
    assert ch.wait_call("StartTransaction", count=2)[1]["idTag"] == "BOB"


def test_finishing_then_unavailable_then_operative_is_not_finishing_again(charger, cs):
    """C16 4.9 transition table: Finishing -> Unavailable is F8, but Unavailable has no transition to Finishing
    (H1 Available, H2 Preparing, ...): set Operative again with the cable still in, the connector is Preparing (H2),
    ready for a card. (Before: Finishing again, a transition the table does not have.)"""
    ch = finishing(charger)
    assert cs.call("CP001", call.ChangeAvailability(connector_id=1, type="Inoperative")).status == "Accepted"
    ch.wait_status("Unavailable")
    assert cs.call("CP001", call.ChangeAvailability(connector_id=1, type="Operative")).status == "Accepted"
    assert ch.state()["status"] == "Preparing"

    def since_finishing(frames):
        seen = [f.msg[3]["status"] for f in frames if f.kind == 2 and f.action == "StatusNotification" and f.msg[3]["connectorId"] == 1]
        return seen[seen.index("Finishing") :] if seen[-1:] == ["Preparing"] else None

    assert cs.wait_for(since_finishing, 10, "Preparing again") == ["Finishing", "Unavailable", "Preparing"]
    ch.evse("card 1 BOB")
    assert ch.wait_call("StartTransaction", count=2)[1]["idTag"] == "BOB"


def test_a_remote_start_without_a_connector_takes_one_back_from_unavailable_with_the_cable_in(charger, cs):
    """C16 5.11: a RemoteStartTransaction without connectorId may take a free connector. Finishing, then
    Inoperative, then Operative: the connector is Preparing (4.9 H2), no longer the last driver's Finishing, and a
    remote start without a connector takes it, as one naming it does. (Before: Rejected until the EVSE changed, the
    session's finishing mark left over from before the Unavailable.)"""
    ch = charger()
    ch.evse("plug 1", "card 1 ALICE", "charge 1")
    ch.wait_status("Charging")
    ch.evse("card 1 ALICE")
    ch.wait_status("Finishing")
    assert cs.call("CP001", call.RemoteStartTransaction(id_tag="BOB")).status == "Rejected"  # the last driver's EV
    assert cs.call("CP001", call.ChangeAvailability(connector_id=1, type="Inoperative")).status == "Accepted"
    ch.wait_status("Unavailable")
    assert cs.call("CP001", call.ChangeAvailability(connector_id=1, type="Operative")).status == "Accepted"
    assert ch.state()["status"] == "Preparing"
    assert cs.call("CP001", call.RemoteStartTransaction(id_tag="BOB")).status == "Accepted"
    assert ch.wait_call("StartTransaction", count=2)[1]["idTag"] == "BOB"


@BOTH
def test_sampled_meter_values_and_transaction_data(charger, cs):
    """MV: Sample.Periodic every MeterValueSampleInterval with the transactionId; StopTransaction carries Transaction.Begin/End."""
    ch = charger()
    assert change(cs, "MeterValueSampleInterval", "1") == "Accepted"
    assert change(cs, "MeterValuesSampledData", "Energy.Active.Import.Register,Power.Active.Import") == "Accepted"
    assert change(cs, "StopTxnSampledData", "Energy.Active.Import.Register") == "Accepted"
    ch.evse("meter 1 100", "power 1 36000", "plug 1", "card 1 A11CE000", "charge 1")
    tx = ch.transaction_id()
    mvs = ch.wait_call("MeterValues", count=2, timeout=6)
    for mv in mvs:
        assert mv["transactionId"] == tx
        sv = mv["meterValue"][0]["sampledValue"]
        assert {s["context"] for s in sv} == {"Sample.Periodic"}
        assert {s["measurand"] for s in sv} == {"Energy.Active.Import.Register", "Power.Active.Import"}
    energies = [int(s["value"]) for mv in mvs for s in mv["meterValue"][0]["sampledValue"] if s["measurand"].startswith("Energy")]
    assert energies == sorted(energies) and energies[-1] > 100  # 36 kW adds 10 Wh a second
    ch.evse("unplug 1")
    stop = ch.wait_call("StopTransaction")[0]
    contexts = [s["context"] for mv in stop["transactionData"] for s in mv["sampledValue"]]
    assert contexts == ["Transaction.Begin", "Transaction.End"]


def test_clock_aligned_meter_values(charger, cs):
    """MV: Sample.Clock every ClockAlignedDataInterval for connector 0 and each connector, also outside transactions."""
    ch = charger()
    assert change(cs, "ClockAlignedDataInterval", "1") == "Accepted"
    ch.wait_call("MeterValues", count=4, timeout=6)
    mvs = ch.payloads("MeterValues")
    assert {mv["connectorId"] for mv in mvs} == {0, 1}
    assert {s["context"] for mv in mvs for s in mv["meterValue"][0]["sampledValue"]} == {"Sample.Clock"}
    assert all("transactionId" not in mv for mv in mvs)


@BOTH
def test_trigger_meter_values(charger, cs):
    """TM-03: TriggerMessage(MeterValues) is Accepted and sends a Trigger sample."""
    ch = charger()
    assert cs.call("CP001", call.TriggerMessage(requested_message="MeterValues", connector_id=1)).status == "Accepted"
    mv = ch.wait_call("MeterValues")[0]
    assert mv["connectorId"] == 1 and mv["meterValue"][0]["sampledValue"][0]["context"] == "Trigger"


def test_offline_session_is_replayed_in_order_with_the_remote_id(charger, cs):
    """Offline: a session starts and stops without the central system (AllowOfflineTxForUnknownId, LocalAuthorizeOffline);
    after the reconnect Start, MeterValues and Stop go out in order, the Stop and MeterValues with the transactionId the Start got."""
    from central_system import CentralSystemThread

    ch = charger({"reconnect": {"waitMinimum": 0.2}})
    assert change(cs, "AllowOfflineTxForUnknownId", "true") == "Accepted"
    assert change(cs, "MeterValueSampleInterval", "1") == "Accepted"
    port = cs.port
    cs.stop()
    ch.fw.wait_log("disconnected")
    ch.evse("meter 1 2000", "power 1 36000", "plug 1", "card 1 OFFLINE1", "charge 1")
    assert ch.state()["status"] == "Charging"
    ch.fw.wait_log("transaction local 1 started")
    ch.fw.wait_log("backing off", count=2)
    ch.evse("unplug 1")
    assert ch.state()["status"] == "Available"
    back = CentralSystemThread(port=port, boot_plan=[("Accepted", 60)]).start()
    try:
        back.wait_for(lambda fs: [f for f in fs if f.kind == 2 and f.action == "StopTransaction"], 15, "the StopTransaction")
        calls = [f for f in back.received() if f.kind == 2]
        actions = [f.action for f in calls if f.action in ("StartTransaction", "MeterValues", "StopTransaction")]
        assert actions[0] == "StartTransaction" and actions[-1] == "StopTransaction"
        assert set(actions[1:-1]) <= {"MeterValues"}
        assert not any(f.action == "BootNotification" for f in calls)  # a reconnect, not a reboot (J-24)
        start_reply = back.wait_for(
            lambda fs: next((f for f in fs if f.kind == 3 and f.msg[1] == calls[[f.action for f in calls].index("StartTransaction")].msg[1]), None),
            5,
            "the reply",
        )
        remote = start_reply.msg[2]["transactionId"]
        stop = [f.msg[3] for f in calls if f.action == "StopTransaction"][0]
        assert stop["transactionId"] == remote and stop["meterStop"] >= 2000
        assert all(f.msg[3]["transactionId"] == remote for f in calls if f.action == "MeterValues")
    finally:
        back.stop()


def test_callerror_retries_then_drops(charger, cs):
    """TransactionMessageAttempts / RetryInterval: a StopTransaction answered with CALLERROR is retried, then dropped and logged."""
    ch = charger()
    assert change(cs, "TransactionMessageAttempts", "2") == "Accepted"
    assert change(cs, "TransactionMessageRetryInterval", "1") == "Accepted"
    ch.evse("plug 1", "card 1 ALICE")
    ch.wait_call("StartTransaction")
    cs.error_actions.add("StopTransaction")
    ch.evse("unplug 1")
    ch.wait_call("StopTransaction", count=2, timeout=6)
    ch.fw.wait_log("StopTransaction .* dropped after 2 attempts")
    stops = ch.calls("StopTransaction")
    assert stops[1].t - stops[0].t >= 0.9
    assert len({f.msg[1] for f in stops}) == 1


def test_power_loss_stops_with_the_last_stored_reading(charger, cs, firmware, tmp_path):
    """TX-PowerLoss: killed during a transaction, the next boot stops it with reason PowerLoss and the last stored meter reading."""
    work = tmp_path / "fw"
    ch = charger(workdir=work)
    assert change(cs, "MeterValueSampleInterval", "1") == "Accepted"
    ch.evse("meter 1 5000", "power 1 36000", "plug 1", "card 1 A11CE000", "charge 1")
    ch.wait_call("StartTransaction")
    mvs = ch.wait_call("MeterValues", count=2, timeout=6)
    ch.fw.kill()
    killed = datetime.now(timezone.utc).replace(microsecond=0)
    last = max(int(s["value"]) for mv in mvs for s in mv["meterValue"][0]["sampledValue"] if s["measurand"].startswith("Energy"))
    time.sleep(2)  # an outage: the stop must not bill it
    again = firmware(cs.port, {"simulator": {"port": ch.port}}, workdir=work, twin=ch.twin)
    stop = ch.wait_call("StopTransaction", timeout=10)[0]
    assert stop["reason"] == "PowerLoss" and stop["meterStop"] >= last
    # Timestamped when its last reading was stored, not at the next boot.
    assert datetime.fromisoformat(stop["timestamp"].replace("Z", "+00:00")) <= killed
    assert stop["transactionId"] == ch.payloads("MeterValues")[0]["transactionId"]
    again.wait_log("was running at power loss")


def test_data_transfer_unknown_vendor(charger, cs):
    """DataTransfer from the central system: an unknown vendorId gets UnknownVendorId."""
    charger()
    reply = call_raw(cs, "DataTransfer", {"vendorId": "com.example", "messageId": "x", "data": "y"})
    assert reply.msg[2] == {"status": "UnknownVendorId"}


@BOTH
def test_simulator_protocol_errors(charger):
    """The simulator answers every line: bad commands get `error <reason>`, and the charger carries on."""
    ch = charger()
    assert ch.raw("bogus 1").startswith("error unknown command")
    assert ch.raw("plug 9").startswith("error no connector 9")
    assert ch.raw("card 1").startswith("error card takes 1 argument")
    assert ch.raw("fault 1 Nonsense").startswith("error unknown ChargePointErrorCode")
    assert ch.raw("charge 1").startswith("error connector 1: no EV plugged in")
    assert ch.raw("state").startswith("ok {")


def test_soft_reset_stops_the_transaction_first(charger, cs):
    """RST, TX: a Reset stops a running transaction (reason SoftReset) and its StopTransaction goes out."""
    ch = charger()
    ch.evse("plug 1", "card 1 ALICE", "charge 1")
    ch.wait_status("Charging")
    assert cs.call("CP001", call.Reset(type="Soft")).status == "Accepted"
    stop = ch.wait_call("StopTransaction")[0]
    assert stop["reason"] == "SoftReset"
    ch.fw.wait_log("soft reset: restarting the application")


def test_a_reset_bills_the_energy_up_to_the_relay_opening(charger, cs):
    """RST, TX-05: the StopTransaction of a Reset (SoftReset) bills the register as the relay leaves it, not as the
    meter task read it up to a second before (at 360 kW, 100 Wh no session is billed for). The simulated meter
    keeps its register through the restart (whole Wh, written as the relay opened)."""
    ch = charger()
    ch.evse("meter 1 1000", "power 1 360000", "plug 1", "card 1 A11CE000", "charge 1")
    ch.wait_status("Charging")
    asked = ch.state()["energyWh"]  # the register as the central system asks: the stop comes after it
    assert cs.call("CP001", call.Reset(type="Soft")).status == "Accepted"
    stop = ch.wait_call("StopTransaction")[0]
    assert stop["reason"] == "SoftReset"
    ch.fw.wait_log("registration Accepted", count=2)
    register = ch.state()["energyWh"]  # the restarted simulator's: the register when the relay opened
    assert not ch.state()["relay"]
    assert int(asked) <= stop["meterStop"] <= register, (asked, stop["meterStop"], register)


@BOTH
def test_remote_start_with_a_tx_profile_limits_the_pilot(charger, cs):
    """RemoteStartTransaction with a TxProfile in A: the pilot offers its limit until the transaction ends."""
    ch = charger()
    ch.evse("plug 1", "charge 1")
    profile = {
        "chargingProfileId": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10.0}]},
    }
    reply = call_raw(cs, "RemoteStartTransaction", {"idTag": "FLEET", "connectorId": 1, "chargingProfile": profile})
    assert reply.msg[2] == {"status": "Accepted"}
    ch.wait_status("Charging")
    assert ch.state()["offeredA"] == 10
    ch.evse("unplug 1")
    ch.wait_call("StopTransaction")
    ch.evse("plug 1", "card 1 A11CE000", "charge 1")
    ch.wait_call("StartTransaction", count=2)
    assert ch.state()["offeredA"] == 32  # the profile ended with its transaction


def test_authorization_cache_offline_clear_and_expiry(charger, cs):
    """AUTH: an idTag the central system accepted starts offline from the cache (LocalAuthorizeOffline);
    after ClearCache it does not; an expired entry does not either."""
    from central_system import CentralSystemThread

    cs.id_tags["OLD"] = {"status": "Accepted", "expiryDate": "2020-01-01T00:00:00Z"}
    ch = charger()
    assert change(cs, "ConnectionTimeOut", "1") == "Accepted"
    ch.evse("card 1 ALICE", "card 1 OLD")  # both answered by Authorize: now in the cache
    ch.wait_call("Authorize", count=2)
    ch.fw.wait_log("no EV within ConnectionTimeOut")  # no EV came: nothing pending
    port = cs.port
    cs.stop()
    ch.fw.wait_log("disconnected")
    ch.evse("plug 1", "card 1 OLD")
    assert ch.state()["status"] == "Preparing"  # expired
    ch.evse("card 1 ALICE")
    assert ch.state()["status"] == "SuspendedEV"  # a transaction runs, offline
    ch.evse("card 1 ALICE", "unplug 1")
    back = CentralSystemThread(port=port, boot_plan=[("Accepted", 60)]).start()
    try:
        stop = back.wait_for(lambda fs: next((f for f in fs if f.kind == 2 and f.action == "StopTransaction"), None), 15, "the offline session")
        # Its reply (with ALICE's idTagInfo, which refills the cache) goes out before the ClearCache.
        back.wait_for(lambda fs: any(f.kind == 3 and f.msg[1] == stop.msg[1] for f in fs), 5, "the StopTransaction's reply")
        assert back.call("CP001", call.ClearCache()).status == "Accepted"
        back.stop()
        ch.fw.wait_log("disconnected", count=2)
        ch.evse("plug 1", "card 1 ALICE")
        assert ch.state()["status"] == "Preparing"  # not in the cache any more, and unknown ids are not allowed offline
    finally:
        back.stop()


def test_the_idtaginfo_of_start_and_stop_answers_reaches_the_cache(charger, cs):
    """AUTH / issue 24: authorization (its code and the cache's entries) and card handling leave the heap when a
    transaction starts, and come back for each answer and card: the StartTransaction's and the StopTransaction's
    idTagInfo still reach the cache on flash, and a card during the transaction still stops it."""
    import json

    def cached(want):
        # The cache file is written (atomically) as an answer is taken in, and nothing logs it: polled.
        until = time.monotonic() + 10
        while json.loads(cache.read_text()) != want and time.monotonic() < until:
            time.sleep(0.02)
        return json.loads(cache.read_text())

    ch = charger()
    cache = ch.fw.flash / "auth_cache.json"
    assert change(cs, "LocalPreAuthorize", "true") == "Accepted"
    ch.evse("card 1 ALICE")  # Authorize: now cached, as the central system answers it
    ch.wait_call("Authorize")
    assert cached([["ALICE", {"status": "Accepted"}]]) == [["ALICE", {"status": "Accepted"}]]
    # Only the StartTransaction's answer can bring this: the cached Accepted starts without an Authorize.
    cs.id_tags["ALICE"] = {"status": "Accepted", "parentIdTag": "FLEET"}
    ch.evse("plug 1")
    ch.wait_call("StartTransaction")
    want = [["ALICE", {"status": "Accepted", "parentIdTag": "FLEET"}]]
    assert cached(want) == want
    cs.id_tags["ALICE"] = {"status": "Blocked"}
    ch.evse("card 1 ALICE")  # the same idTag: card handling comes back and stops it, no Authorize needed
    ch.wait_call("StopTransaction")
    assert cached([["ALICE", {"status": "Blocked"}]]) == [["ALICE", {"status": "Blocked"}]]
    assert len(ch.payloads("Authorize")) == 1


def test_local_pre_authorize_starts_without_waiting(charger, cs):
    """LocalPreAuthorize: online, a cached Accepted idTag starts at once, with no Authorize.req."""
    ch = charger()
    assert change(cs, "LocalPreAuthorize", "true") == "Accepted"
    ch.evse("card 1 ALICE")  # Authorize: now cached
    ch.wait_call("Authorize")
    ch.wait_status("Preparing")
    ch.evse("plug 1")
    ch.wait_call("StartTransaction")
    ch.evse("unplug 1", "plug 1", "card 1 ALICE")
    ch.wait_call("StartTransaction", count=2)
    assert len(ch.payloads("Authorize")) == 1


def test_soft_reset_whose_link_drops_before_the_stop_is_answered_restarts_whole(charger, cs):
    """RST-01, RST-03: a Soft reset during a transaction waits for its StopTransaction to go; the link
    dropping meanwhile ends that wait. The old app's tasks must still be cancelled (their finally run:
    the EVSE simulator's port closed) before the new app starts, or the new app cannot listen on it and
    the charger halts instead of restarting."""
    ch = charger()
    ch.evse("plug 1", "card 1 ALICE", "charge 1")
    ch.wait_status("Charging")
    cs.ignore_actions.add("StopTransaction")  # no reply: the reset waits for it while the link is up
    assert cs.call("CP001", call.Reset(type="Soft")).status == "Accepted"
    assert ch.wait_call("StopTransaction")[0]["reason"] == "SoftReset"
    cs.run(cs.connections[-1][1].close())
    ch.fw.wait_log("soft reset: restarting the application")
    cs.ignore_actions.discard("StopTransaction")
    ch.fw.wait_log("registration Accepted", count=2)
    ch.fw.wait_log("simulator listening", count=2)
    assert ch.fw.proc.poll() is None
    # The StopTransaction kept on flash goes again with the new app (same id), and is answered.
    stops = ch.wait_call("StopTransaction", count=2)
    assert stops[1]["transactionId"] == stops[0]["transactionId"]


def test_no_transaction_starts_between_an_accepted_reset_and_the_restart(charger, cs):
    """RST, C16 5.14: once a Reset is Accepted the charge point stops its transactions and resets; while it waits
    for their StopTransaction to leave (MessageTimeout), a RemoteStartTransaction or a card must not start a new
    one (which the restart would only end again, PowerLoss)."""
    ch = charger({"connectors": {"count": 2}})
    ch.evse("plug 1", "card 1 ALICE", "charge 1", "plug 2")
    ch.wait_status("Charging")
    cs.ignore_actions.add("StopTransaction")  # no reply: the reset waits for it while the link is up
    assert cs.call("CP001", call.Reset(type="Soft")).status == "Accepted"
    assert ch.wait_call("StopTransaction")[0]["reason"] == "SoftReset"
    assert cs.call("CP001", call.RemoteStartTransaction(id_tag="BOB", connector_id=2)).status == "Rejected"
    ch.evse("card 2 ALICE")
    cs.run(cs.connections[-1][1].close())
    ch.fw.wait_log("soft reset: restarting the application")
    cs.ignore_actions.discard("StopTransaction")
    ch.fw.wait_log("registration Accepted", count=2)
    ch.wait_call("StopTransaction", count=2)
    assert len(ch.payloads("StartTransaction")) == 1


def test_two_remote_starts_without_a_connector_take_two_connectors(charger, cs):
    """C16 5.11: a RemoteStartTransaction without connectorId: the charge point selects the connector. Two of them
    back to back (AuthorizeRemoteTxRequests true: each start waits for its Authorize after the reply), two EVs
    plugged in and waiting: both were Accepted for the same connector (the first's idTag not yet waiting there when
    the second was answered), and the second never started, its EV left waiting at the other connector."""
    import asyncio

    ch = charger({"connectors": {"count": 2}})
    ch.evse("plug 1", "plug 2")
    ch.wait_status("Preparing", n=2)

    async def both():
        first = cs.cs.call("CP001", call.RemoteStartTransaction(id_tag="ANNA"))
        second = cs.cs.call("CP001", call.RemoteStartTransaction(id_tag="BERT"))
        return await asyncio.gather(first, second)

    assert [r.status for r in cs.run(both())] == ["Accepted", "Accepted"]
    starts = ch.wait_call("StartTransaction", count=2)
    assert sorted((s["idTag"], s["connectorId"]) for s in starts) in ([("ANNA", 1), ("BERT", 2)], [("ANNA", 2), ("BERT", 1)])
