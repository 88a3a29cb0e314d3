"""The Reservation profile (C16 3.11, 5.3, 5.13) on the unix port against the
`ocpp` central system (schema validation on), the EVSE driven through the
simulator: ReserveNow and its answers, status Reserved, the right card (or
one with the reservation's parentIdTag) and the wrong one, expiry,
CancelReservation, and a reservation that survives a restart."""

from datetime import datetime, timedelta, timezone

from ocpp.v16 import call

from harness.charger import Charger
from harness.net import free_port


def iso(seconds):
    return (datetime.now(timezone.utc) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def reserve(cs, connector, tag, rid=1, seconds=600, parent=None):
    return cs.call("CP001", call.ReserveNow(connector_id=connector, expiry_date=iso(seconds), id_tag=tag, reservation_id=rid, parent_id_tag=parent)).status


def test_reserved_connector_takes_the_right_card_only(charger, cs):
    """RSV-Accepted: Reserved with a StatusNotification; another card is refused (no Authorize, no start); the reserved
    idTag starts and its StartTransaction carries the reservationId; the reservation is then used up."""
    ch = charger()
    assert reserve(cs, 1, "ALICE", rid=42) == "Accepted"
    ch.wait_status("Reserved")
    ch.evse("plug 1", "card 1 MALLORY")
    assert ch.state()["status"] == "Reserved"
    ch.fw.wait_log("connector 1 is reserved: card MALLORY refused")
    assert ch.payloads("Authorize") == []
    assert cs.call("CP001", call.RemoteStartTransaction(id_tag="MALLORY", connector_id=1)).status == "Rejected"
    ch.evse("card 1 ALICE", "charge 1")
    start = ch.wait_call("StartTransaction")[0]
    assert start["idTag"] == "ALICE" and start["reservationId"] == 42
    ch.wait_status("Charging")
    ch.fw.wait_log("reservation 42 on connector 1 used by transaction local 1")
    assert cs.call("CP001", call.CancelReservation(reservation_id=42)).status == "Rejected"  # used up
    ch.evse("unplug 1")
    ch.wait_call("StopTransaction")
    ch.wait_status("Available")


def test_the_holder_plugged_in_first_goes_through_preparing(charger, cs):
    """C16 4.9 transition table: Reserved goes to Available, Preparing (G2: the reserved idTag presented),
    Unavailable or Faulted only. The holder plugs in (still Reserved), then presents the card: Preparing, then the
    transaction. (Before: Reserved, then SuspendedEV at once, a transition the table does not have.)"""
    ch = charger()
    assert reserve(cs, 1, "ALICE", rid=42) == "Accepted"
    ch.wait_status("Reserved")
    ch.evse("plug 1")
    assert ch.state()["status"] == "Reserved"
    ch.evse("card 1 ALICE")
    assert ch.wait_call("StartTransaction")[0]["reservationId"] == 42
    ch.wait_status("SuspendedEV")
    seen = [p["status"] for p in ch.payloads("StatusNotification") if p["connectorId"] == 1]
    assert seen[seen.index("Reserved") :] == ["Reserved", "Preparing", "SuspendedEV"]


def test_parent_id_tag_may_use_the_reservation(charger, cs):
    """RSV-Parent: a card whose parentIdTag (from Authorize) is the reservation's parentIdTag starts; another is refused."""
    cs.id_tags.update({"CARD2": {"status": "Accepted", "parentIdTag": "FLEET"}, "OTHER": {"status": "Accepted", "parentIdTag": "ELSE"}})
    ch = charger()
    assert reserve(cs, 1, "CARD1", rid=7, parent="FLEET") == "Accepted"
    ch.wait_status("Reserved")
    ch.evse("plug 1", "card 1 OTHER")
    ch.fw.wait_log("connector 1 is reserved: card OTHER refused")
    ch.evse("card 1 CARD2")
    start = ch.wait_call("StartTransaction")[0]
    assert start["idTag"] == "CARD2" and start["reservationId"] == 7


def test_reservation_expires(charger, cs):
    """RSV-Expiry: at its expiryDate the connector is Available again (StatusNotification) and any card may start."""
    ch = charger()
    assert reserve(cs, 1, "ALICE", seconds=2) == "Accepted"
    ch.wait_status("Reserved")
    ch.wait_status("Available", timeout=6)
    ch.fw.wait_log("reservation 1 on connector 1 expired")
    ch.evse("plug 1", "card 1 BOB")
    start = ch.wait_call("StartTransaction")[0]
    assert start["idTag"] == "BOB" and "reservationId" not in start


def test_cancel_reservation(charger, cs):
    """RSV-Cancel: Accepted for a reservation that exists (Available again), Rejected for one that does not."""
    ch = charger()
    assert reserve(cs, 1, "ALICE", rid=3) == "Accepted"
    ch.wait_status("Reserved")
    assert cs.call("CP001", call.CancelReservation(reservation_id=4)).status == "Rejected"
    assert cs.call("CP001", call.CancelReservation(reservation_id=3)).status == "Accepted"
    ch.wait_status("Available")
    assert cs.call("CP001", call.CancelReservation(reservation_id=3)).status == "Rejected"


def test_reserve_answers_occupied_faulted_unavailable_rejected(charger, cs):
    """RSV-Status: Occupied (a transaction, an EV plugged in, another reservation), Faulted, Unavailable, Rejected
    (connector 0 with ReserveConnectorZeroSupported false, no such connector, an expiryDate past); the same
    reservationId replaces its reservation."""
    ch = charger({"connectors": {"count": 2}})
    keys = {k["key"]: k["value"] for k in cs.call("CP001", call.GetConfiguration(key=["ReserveConnectorZeroSupported", "SupportedFeatureProfiles"])).configuration_key}
    assert keys["ReserveConnectorZeroSupported"] == "false"
    assert {"LocalAuthListManagement", "Reservation"} <= set(keys["SupportedFeatureProfiles"].split(","))
    assert reserve(cs, 0, "ALICE") == "Rejected"
    assert reserve(cs, 3, "ALICE") == "Rejected"
    assert reserve(cs, 1, "ALICE", seconds=-60) == "Rejected"
    ch.evse("plug 1")
    assert reserve(cs, 1, "ALICE") == "Occupied"  # an EV is plugged in
    ch.evse("card 1 BOB")
    ch.wait_call("StartTransaction")
    assert reserve(cs, 1, "ALICE") == "Occupied"  # a transaction
    ch.evse("fault 2 GroundFailure")
    assert reserve(cs, 2, "ALICE") == "Faulted"
    ch.evse("clear 2")
    assert cs.call("CP001", call.ChangeAvailability(connector_id=2, type="Inoperative")).status == "Accepted"
    assert reserve(cs, 2, "ALICE") == "Unavailable"
    assert cs.call("CP001", call.ChangeAvailability(connector_id=2, type="Operative")).status == "Accepted"
    assert reserve(cs, 2, "ALICE", rid=5) == "Accepted"
    ch.wait_status("Reserved", n=2)
    assert reserve(cs, 2, "CAROL", rid=6) == "Occupied"  # another reservation
    assert reserve(cs, 2, "CAROL", rid=5) == "Accepted"  # the same id: replaced
    ch.fw.wait_log("connector 2 reserved for CAROL")
    assert cs.call("CP001", call.RemoteStartTransaction(id_tag="ALICE", connector_id=2)).status == "Rejected"


def test_reservation_survives_a_restart(charger, cs, firmware, tmp_path):
    """RSV-Persist: a reservation is on flash: after a restart the connector reports Reserved again and the
    reserved idTag's StartTransaction carries its reservationId."""
    work = tmp_path / "fw"
    ch = charger(workdir=work)
    assert reserve(cs, 1, "ALICE", rid=11) == "Accepted"
    ch.wait_status("Reserved")
    ch.fw.kill()
    before = len(ch.payloads("StatusNotification"))
    port = free_port()  # the old simulator port may still be held by the kernel
    again = firmware(cs.port, {"simulator": {"port": port}, "log": {"level": "info"}}, workdir=work)
    again.wait_log("simulator listening")
    ch = Charger(cs, again, port)
    ch.wait_call("StatusNotification", count=before + 2)  # connectors 0 and 1 after the boot
    after = [p for p in ch.payloads("StatusNotification")[before:] if p["connectorId"] == 1]
    assert after[0]["status"] == "Reserved"
    ch.evse("plug 1", "card 1 BOB")
    again.wait_log("connector 1 is reserved: card BOB refused")
    ch.evse("card 1 ALICE")
    start = ch.wait_call("StartTransaction")[0]
    assert start["idTag"] == "ALICE" and start["reservationId"] == 11


def test_remote_start_without_a_connector_takes_one_not_reserved_for_someone_else(charger, cs):
    """RSV-Remote: a RemoteStartTransaction without connectorId is Accepted on a free connector that may start it:
    a connector reserved for another idTag (with a parentIdTag, so not refused outright) is taken only when no other
    is free, else its reservation refuses the start once Authorize answers and the Accepted start never happens."""
    cs.id_tags["ALICE"] = {"status": "Accepted", "parentIdTag": "HOME"}
    ch = charger({"connectors": {"count": 2}})
    assert reserve(cs, 1, "CARD1", rid=9, parent="FLEET") == "Accepted"
    ch.wait_status("Reserved")
    assert cs.call("CP001", call.RemoteStartTransaction(id_tag="ALICE")).status == "Accepted"
    ch.evse("plug 2")
    start = ch.wait_call("StartTransaction")[0]
    assert (start["connectorId"], start["idTag"]) == (2, "ALICE") and "reservationId" not in start
    assert ch.state(1)["status"] == "Reserved"


def test_a_fault_or_unavailability_ends_the_reservation(charger, cs):
    """RSV-End: 5.13: "A reservation SHALL be terminated on the Charge Point when ... (3) when the Charge Point or
    connector are set to Faulted or Unavailable": once the fault clears, or the connector is Operative again, it is
    Available, not Reserved; the reservation is gone (CancelReservation Rejected) and another idTag may start."""
    ch = charger({"connectors": {"count": 2}})
    assert reserve(cs, 1, "ALICE", rid=1) == "Accepted"
    assert reserve(cs, 2, "ALICE", rid=2) == "Accepted"
    ch.wait_status("Reserved")
    ch.wait_status("Reserved", n=2)
    ch.evse("fault 1 GroundFailure")
    ch.wait_status("Faulted")
    ch.fw.wait_log("reservation 1 on connector 1 ended")
    ch.evse("clear 1")
    assert ch.state()["status"] == "Available"
    assert cs.call("CP001", call.ChangeAvailability(connector_id=2, type="Inoperative")).status == "Accepted"
    ch.wait_status("Unavailable", n=2)
    ch.fw.wait_log("reservation 2 on connector 2 ended")
    available = [p for p in ch.payloads("StatusNotification") if p["connectorId"] == 2 and p["status"] == "Available"]
    assert cs.call("CP001", call.ChangeAvailability(connector_id=2, type="Operative")).status == "Accepted"
    ch.wait_call("StatusNotification", count=len(available) + 1, where=lambda p: p["connectorId"] == 2 and p["status"] == "Available")
    assert ch.state(2)["status"] == "Available"
    assert cs.call("CP001", call.CancelReservation(reservation_id=1)).status == "Rejected"
    assert cs.call("CP001", call.CancelReservation(reservation_id=2)).status == "Rejected"
    ch.evse("plug 1", "card 1 BOB")
    start = ch.wait_call("StartTransaction")[0]
    assert start["idTag"] == "BOB" and "reservationId" not in start


def test_a_lock_failure_at_the_holders_start_ends_the_reservation(charger, cs):
    """RSV-End: the connector lock fails as the reserved idTag starts: the connector is Faulted
    (ConnectorLockFailure), which ends the reservation (5.13 (3)); once the cable is out it is Available."""
    ch = charger()
    assert reserve(cs, 1, "ALICE", rid=8) == "Accepted"
    ch.wait_status("Reserved")
    ch.evse("lock 1 fail", "plug 1", "card 1 ALICE")
    ch.wait_status("Faulted")
    ch.fw.wait_log("reservation 8 on connector 1 ended")
    ch.evse("unplug 1")
    assert ch.state()["status"] == "Available"
    assert cs.call("CP001", call.CancelReservation(reservation_id=8)).status == "Rejected"


def test_a_failed_start_of_the_holder_leaves_the_connector_reserved(charger, cs):
    """RSV-Status: the holder's card first (Preparing, waiting for the EV), then the EV, and the start fails (here:
    maxTransactions reached): the reservation is still in force (5.13: only a started transaction, its expiryDate, a
    fault or Unavailable end it), so the connector reads Reserved, never Available while it refuses other cards."""
    ch = charger({"connectors": {"count": 2}, "storage": {"maxTransactions": 1}})
    ch.evse("plug 1", "card 1 BOB")
    ch.wait_call("StartTransaction")
    assert reserve(cs, 2, "ALICE", rid=4) == "Accepted"
    ch.wait_status("Reserved", n=2)
    ch.evse("card 2 ALICE")
    ch.wait_status("Preparing", n=2)
    ch.evse("plug 2")
    ch.fw.wait_log("connector 2: 1 transactions wait for the central system: no new one")
    ch.evse("unplug 2")
    assert ch.state(2)["status"] == "Reserved"
    ch.evse("plug 2", "card 2 MALLORY")
    ch.fw.wait_log("connector 2 is reserved: card MALLORY refused")
    assert cs.call("CP001", call.CancelReservation(reservation_id=4)).status == "Accepted"
