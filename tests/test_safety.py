"""Safety and liveness of the charging sessions (issue 22, part A): the loop
that owns the relays never waits on the network, an Authorize goes before the
durable backlog, a stop that cannot be recorded keeps the relay open, a flash
that refuses tx.json ends no task and sends no second stop, idTags compare
case-insensitively, and the conformance cases around parentIdTag, remote
starts and reservations. Firmware on the unix port against the `ocpp`
central system, the EVSE driven through the simulator's line protocol."""

import json
import re
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from ocpp.v16 import call

from central_system import CentralSystemThread
from harness.net import free_port
from harness.health import assert_alive

TWO = {"connectors": {"count": 2}}


def change(cs, key, value):
    assert cs.call("CP001", call.ChangeConfiguration(key=key, value=value)).status == "Accepted"


def in_background(ch, line):
    """Send one simulator command from a thread (its reply may wait); -> the thread, its reply in .reply."""

    def run():
        t.reply = ch.raw(line)

    t = threading.Thread(target=run, daemon=True)
    t.reply = None
    t.start()
    return t


def relay_opens_within(ch, n, seconds):
    """Poll the simulator's state until connector n's relay is open; -> the seconds it took (None: not in time)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        if ch.state(n)["relay"] is False:
            return time.monotonic() - t0
        time.sleep(0.01)
    return None


def charging(ch, n, tag):
    ch.evse("plug %d" % n, "card %d %s" % (n, tag), "charge %d" % n)
    ch.wait_call("StartTransaction", where=lambda p: p["connectorId"] == n and p["idTag"] == tag)
    ch.wait_status("Charging", n)
    deadline = time.monotonic() + 5
    while ch.state(n)["relay"] is not True and time.monotonic() < deadline:
        time.sleep(0.02)
    assert ch.state(n)["relay"] is True


def fill_the_journal_offline(ch):
    """Offline, short transactions on connector 2 until a StartTransaction or a StopTransaction no longer fits."""
    full = "cannot store the StartTransaction|its StopTransaction cannot be stored yet"
    for i in range(200):
        ch.evse("plug 2", "card 2 B")
        ch.fw.wait_log("connector 2: transaction local \\d+ started by B|" + full, count=i + 1)
        ch.evse("unplug 2")  # its stop may be the first message that does not fit
        if re.search(full, ch.fw.log):
            return
    raise AssertionError("the journal never filled")


# -- 1. a pending Authorize freezes nothing ------------------------------------


@pytest.mark.slow
def test_pending_authorize_does_not_delay_a_fault_on_another_connector(charger, cs):
    """Connector 2 charges; a card at connector 1 whose Authorize is never answered (MessageTimeout 30 s); a
    GroundFailure on connector 2 opens its relay at once and stops its transaction; its own card and an unplug
    are acted on too, all while the Authorize is still pending."""
    ch = charger(dict(TWO, ocpp={"messageTimeout": 30}))
    change(cs, "LocalPreAuthorize", "true")
    ch.evse("power 2 7000")
    charging(ch, 2, "BOB")
    cs.ignore_actions.add("Authorize")
    card = in_background(ch, "card 1 ALICE")
    ch.wait_call("Authorize", where=lambda p: p["idTag"] == "ALICE")
    t0 = time.monotonic()
    assert ch.raw("fault 2 GroundFailure") == "ok"
    took = relay_opens_within(ch, 2, 1.0)
    assert took is not None, "the relay of connector 2 stayed closed during a pending Authorize"
    assert time.monotonic() - t0 < 0.5  # the reply and the state round trip on a loaded machine; before: 10 s (no settle)
    assert ch.state(2)["offeredA"] == 0 and ch.state(2)["status"] == "Faulted"
    ch.fw.wait_log(r"transaction 1001 stopped \(Other\)", timeout=1)  # on flash; it goes once the Authorize is over
    # The other connector's hardware events and cards go on being acted on;
    # CAROL is in the cache (LocalPreAuthorize): no Authorize needed.
    ch.evse("clear 2", "unplug 2", "plug 2")
    assert ch.state(2)["status"] == "Preparing"
    ch.evse("card 2 BOB", "charge 2")
    ch.fw.wait_log("connector 2: transaction local 2 started by BOB", timeout=1)
    assert ch.state(2)["relay"] is True
    ch.evse("suspend 2")
    assert ch.state(2)["relay"] is False and ch.state(2)["status"] == "SuspendedEV"
    ch.evse("card 2 BOB")
    ch.fw.wait_log(r"transaction local 2 stopped \(Local\)", timeout=1)
    assert ch.state(2)["status"] == "Finishing"
    # Still no answer to ALICE's Authorize: the card was taken in, nothing started on connector 1.
    card.join(5)
    assert card.reply == "ok"
    assert [p for p in ch.payloads("StartTransaction") if p["idTag"] == "ALICE"] == []
    assert ch.state(1)["relay"] is False
    # The Authorize ends (no answer: the offline rules refuse an unknown card), then the stops go out.
    stops = ch.wait_call("StopTransaction", count=2, timeout=45)
    assert [s["reason"] for s in stops] == ["Other", "Local"]


def test_card_decision_rechecks_the_connector(charger, cs):
    """A card whose Authorize gets no answer is decided offline (AllowOfflineTxForUnknownId: Accepted), but the
    connector went Faulted meanwhile: the decision is checked against the connector as it is now, nothing starts."""
    ch = charger(dict(TWO, ocpp={"messageTimeout": 2}))
    change(cs, "AllowOfflineTxForUnknownId", "true")
    cs.ignore_actions.add("Authorize")
    ch.evse("plug 1", "card 1 ALICE")
    ch.wait_call("Authorize")
    ch.evse("fault 1 HighTemperature")
    ch.fw.wait_log("Authorize ALICE failed", timeout=10)
    ch.fw.wait_log("card ALICE at connector 1", timeout=5)
    assert ch.payloads("StartTransaction") == []
    assert ch.state(1)["relay"] is False and ch.state(1)["status"] == "Faulted"


# -- 2. an Authorize goes before the durable backlog ---------------------------


def test_authorize_goes_before_the_stored_backlog(charger, cs):
    """With MeterValues stored and the central system not answering them, a card's Authorize still goes out
    (after at most the one CALL in flight), not after the whole durable lane."""
    ch = charger(dict(TWO, ocpp={"messageTimeout": 2}))
    change(cs, "MeterValueSampleInterval", "1")
    charging(ch, 1, "ALICE")
    ch.wait_call("MeterValues")
    cs.ignore_actions.add("MeterValues")
    sent = len(ch.payloads("MeterValues"))
    ch.wait_call("MeterValues", count=sent + 2, timeout=15)  # unanswered: the backlog grows behind it
    t0 = time.monotonic()
    ch.evse("plug 2", "card 2 BOB")
    ch.wait_call("Authorize", where=lambda p: p["idTag"] == "BOB", timeout=6)
    assert time.monotonic() - t0 < 6
    cs.ignore_actions.discard("MeterValues")
    ch.wait_call("StartTransaction", where=lambda p: p["idTag"] == "BOB", timeout=15)


# -- 3. a stop that cannot be stored keeps the relay open ----------------------


def test_stop_that_cannot_be_stored_keeps_the_relay_open_and_is_retried(charger, cs):
    """Offline, the journal filled by short transactions on connector 2 until a StartTransaction no longer fits;
    then the card stops connector 1 (its StopTransaction does not fit either): the relay opens and stays open
    through further EVSE events, and once the central system is back the stop is recorded and sent."""
    long_tag = "ALICE0123456789ABCDE"
    ch = charger(dict(TWO, storage={"journalBytes": 4096, "maxTransactions": 1000}))
    change(cs, "AllowOfflineTxForUnknownId", "true")
    ch.evse("power 1 7000")
    charging(ch, 1, long_tag)
    tid = ch.transaction_id()
    port = cs.port
    cs.stop()
    ch.fw.wait_log("link: read ended|connect failed", timeout=10)
    fill_the_journal_offline(ch)
    ch.evse("card 1 %s" % long_tag)
    assert ch.state(1)["relay"] is False
    ch.fw.wait_log("transaction %s: its StopTransaction cannot be stored yet" % tid)
    ch.evse("power 1 7100", "suspend 1", "charge 1", "meter 1 99999")
    assert ch.state(1)["relay"] is False, "the relay closed again after a stop that could not be stored"
    assert ch.state(1)["offeredA"] == 0
    back = CentralSystemThread(port=port, boot_plan=[("Accepted", 60)]).start()
    try:
        stops = back.wait_for(
            lambda fs: [f.msg[3] for f in fs if f.kind == 2 and f.action == "StopTransaction" and f.msg[3].get("idTag") == long_tag],
            60,
            "the stop of connector 1",
        )
        assert stops[0]["reason"] == "Local"
        assert ch.state(1)["relay"] is False
    finally:
        back.stop()


def test_no_heap_for_card_handling_loses_the_card_not_the_session_task(charger, cs):
    """Invariant (a MemoryError degrades, it never ends a task) on a load on use (issue 24: card handling leaves
    the heap when a transaction starts): a card tapped to stop a transaction while card handling cannot be loaded
    is logged and not taken; the session task goes on: a fault still opens the relay at once, and once the heap is
    back the next tap stops the transaction."""
    ch = charger(fail_imports=("uocpp.services.cards",))
    charging(ch, 1, "ALICE")
    ch.fw.fail_now(True)
    ch.evse("card 1 ALICE")
    ch.fw.wait_log(r"card handling: MemoryError.*\(card \(1, 'ALICE'\) not taken\)")
    assert ch.state(1)["relay"] is True  # not stopped: the card was not taken
    ch.evse("fault 1 GroundFailure")
    assert ch.state(1)["relay"] is False
    ch.evse("clear 1")
    ch.fw.fail_now(False)
    ch.evse("card 1 ALICE")
    ch.wait_call("StopTransaction")
    assert not re.search(r"supervisor: .*(failed|restart)", ch.fw.log), ch.fw.log  # no task failed, none restarted


def test_no_heap_for_the_held_stop_retry_ends_no_task(charger, cs):
    """The held-stop retry (loaded while a stop that could not be stored keeps its relay open) cannot be loaded:
    the pass logs it and goes on, the relay stays open through EVSE events, and once the heap and the central
    system are back the stop is recorded and sent."""
    long_tag = "ALICE0123456789ABCDE"
    ch = charger(dict(TWO, storage={"journalBytes": 4096, "maxTransactions": 1000}), fail_imports=("uocpp.services.held_stops",))
    change(cs, "AllowOfflineTxForUnknownId", "true")
    charging(ch, 1, long_tag)
    port = cs.port
    cs.stop()
    ch.fw.wait_log("link: read ended|connect failed", timeout=10)
    fill_the_journal_offline(ch)
    ch.fw.fail_now(True)
    ch.evse("card 1 %s" % long_tag)
    assert ch.state(1)["relay"] is False
    ch.fw.wait_log("its StopTransaction cannot be stored yet")
    ch.fw.wait_log(r"held stops: MemoryError", timeout=15)
    ch.evse("suspend 1", "charge 1")
    assert ch.state(1)["relay"] is False, "the relay closed again after a stop that could not be stored"
    ch.fw.fail_now(False)
    back = CentralSystemThread(port=port, boot_plan=[("Accepted", 60)]).start()
    try:
        back.wait_for(lambda fs: [f for f in fs if f.kind == 2 and f.action == "StopTransaction" and f.msg[3].get("idTag") == long_tag], 60, "the stop")
    finally:
        back.stop()
    assert not re.search(r"supervisor: .*(failed|restart)", ch.fw.log), ch.fw.log


def test_no_heap_to_authorize_a_remote_start_is_said_in_one_line(charger, cs):
    """A RemoteStartTransaction accepted, whose Authorize (AuthorizeRemoteTxRequests) finds no heap for
    authorization (found by the scenario engine's heap faults): its work after the reply is a helper task, and
    the supervisor's handler says in one line that it found no heap (no traceback, a MemoryExhaustion event);
    once the heap is back the next one is authorized and starts."""
    ch = charger(fail_imports=("uocpp.model.auth_cache",))
    change(cs, "AuthorizeRemoteTxRequests", "true")
    ch.fw.fail_now(True)
    assert cs.call("CP001", call.RemoteStartTransaction(id_tag="REMOTE", connector_id=1)).status == "Accepted"
    ch.fw.wait_log(r"E supervisor: a helper task found no heap: its work is not done")
    ch.fw.wait_log(r"security: MemoryExhaustion \(a helper task\)")
    ch.fw.fail_now(False)
    ch.evse("plug 1")
    assert cs.call("CP001", call.RemoteStartTransaction(id_tag="REMOTE", connector_id=1)).status == "Accepted"
    assert ch.wait_call("Authorize")[0] == {"idTag": "REMOTE"}
    assert ch.wait_call("StartTransaction")[0]["idTag"] == "REMOTE"
    assert "Traceback" not in ch.fw.log, ch.fw.log


def test_no_heap_to_check_an_authorize_conf_never_decides_the_card_offline(charger, cs):
    """Invariant (a MemoryError degrades): the central system answers Authorize with Invalid, but its .conf
    cannot be checked (no heap to load confs/authorize.py). The charger is online, so the offline rules must
    not decide the card (AllowOfflineTxForUnknownId would accept an idTag the central system has just refused,
    C16 3.4 / KEY AllowOfflineTxForUnknownId applies only offline): the card is refused, no transaction."""
    ch = charger(fail_imports=("uocpp.confs.authorize",))
    change(cs, "AllowOfflineTxForUnknownId", "true")
    cs.id_tags["MALLORY"] = {"status": "Invalid"}
    ch.fw.fail_now(True)
    ch.evse("plug 1", "card 1 MALLORY")
    ch.wait_call("Authorize")
    ch.fw.wait_log(r"Authorize MALLORY")
    ch.fw.fail_now(False)
    # A later card, accepted, is this test's event: by then the first card's verdict is in the log.
    ch.evse("unplug 1", "plug 1", "card 1 ALICE")
    ch.wait_call("StartTransaction", where=lambda p: p["idTag"] == "ALICE")
    assert [p["idTag"] for p in ch.payloads("StartTransaction")] == ["ALICE"], ch.fw.log


# -- 4. tx.json that cannot be written ends no task ----------------------------


def test_tx_json_write_failure_ends_no_task(charger, cs):
    """tx.json cannot be rewritten (its temp file is a directory): the metering task goes on sampling, the session
    loop goes on acting (a fault opens the relay); once flash works again everything is delivered."""
    ch = charger()
    change(cs, "MeterValueSampleInterval", "1")
    ch.evse("power 1 7000")
    charging(ch, 1, "ALICE")
    ch.wait_call("MeterValues", count=1)
    (ch.fw.flash / "tx.json.tmp").mkdir()
    before = len(ch.payloads("MeterValues"))
    deadline = time.monotonic() + 8
    while len(ch.payloads("MeterValues")) < before + 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    ch.evse("fault 1 GroundFailure")
    assert ch.state(1)["relay"] is False
    (ch.fw.flash / "tx.json.tmp").rmdir()
    ch.wait_call("StopTransaction", timeout=15)
    assert len(ch.payloads("MeterValues")) >= before + 3, "sampling stopped when tx.json could not be written"
    assert_alive(ch.fw)


# -- 5. a full flash in the stop path: no dead outbox, no second stop ----------


def test_flash_refusing_tx_json_in_the_stop_path(charger, cs, firmware, tmp_path):
    """tx.json cannot be rewritten when a transaction stops: Authorize still goes out (the outbox lives), and after
    the flash works again and a SIGKILL, the next boot sends no second (PowerLoss) StopTransaction for it."""
    work = tmp_path / "fw"
    ch = charger(workdir=work)
    charging(ch, 1, "ALICE")
    ch.transaction_id()
    (ch.fw.flash / "tx.json.tmp").mkdir()
    ch.evse("card 1 ALICE", "unplug 1")
    ch.wait_status("Available")
    ch.evse("card 1 BOB")  # no EV: authorized, waiting for the plug
    ch.wait_call("Authorize", where=lambda p: p["idTag"] == "BOB", timeout=8)
    (ch.fw.flash / "tx.json.tmp").rmdir()
    ch.wait_call("StopTransaction", timeout=10)
    # A triggered Heartbeat goes after the durable lane: once it is here the stop's reply was taken in.
    assert cs.call("CP001", call.TriggerMessage(requested_message="Heartbeat")).status == "Accepted"
    ch.wait_call("Heartbeat")
    ch.fw.kill()
    port = free_port()
    again = firmware(cs.port, {"simulator": {"port": port}, "log": {"level": "info"}}, workdir=work)
    again.wait_log("registration Accepted")
    again.wait_log("simulator listening")
    assert cs.call("CP001", call.TriggerMessage(requested_message="Heartbeat")).status == "Accepted"
    ch.wait_call("Heartbeat", count=2)
    assert "PowerLoss" not in again.log
    assert len(ch.payloads("StopTransaction")) == 1


# -- 7. idTags are case-insensitive -------------------------------------------


def test_id_tags_compare_case_insensitively(charger, cs):
    """CiString20Type: the card `alice` stops the transaction `ALICE` started (no Authorize); the cache answers for
    a reservation for `CAROL` takes the card `carol`."""
    ch = charger(TWO)
    charging(ch, 1, "ALICE")
    ch.evse("card 1 alice")
    stop = ch.wait_call("StopTransaction")[0]
    assert stop["reason"] == "Local"
    assert [p["idTag"] for p in ch.payloads("Authorize")] == ["ALICE"]
    ch.evse("unplug 1")
    iso = (datetime.now(timezone.utc) + timedelta(seconds=600)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert cs.call("CP001", call.ReserveNow(connector_id=1, expiry_date=iso, id_tag="CAROL", reservation_id=5)).status == "Accepted"
    ch.wait_status("Reserved", 1)
    ch.evse("plug 1", "card 1 carol")
    start = ch.wait_call("StartTransaction", where=lambda p: p["connectorId"] == 1 and p["idTag"] == "carol")[0]
    assert start["reservationId"] == 5


def test_cache_is_case_insensitive(charger, cs):
    """With LocalPreAuthorize, `dave` is started from the cached Accepted of `DAVE` without an Authorize."""
    ch = charger()
    change(cs, "LocalPreAuthorize", "true")
    charging(ch, 1, "DAVE")
    ch.evse("card 1 DAVE", "unplug 1")
    ch.wait_call("StopTransaction")
    ch.evse("plug 1", "card 1 dave")
    ch.wait_call("StartTransaction", where=lambda p: p["idTag"] == "dave")
    assert [p["idTag"] for p in ch.payloads("Authorize")] == ["DAVE"]


# -- 8. conformance --------------------------------------------------------------


def test_parent_from_start_transaction_conf_lets_a_second_card_stop(charger, cs):
    """The parentIdTag from StartTransaction.conf (a remote start, no Authorize before it): a second card is
    checked with Authorize and stops the transaction when its parentIdTag matches."""
    cs.id_tags.update({"CARD1": {"status": "Accepted", "parentIdTag": "FLEET"}, "CARD2": {"status": "Accepted", "parentIdTag": "fleet"}})
    ch = charger()
    change(cs, "AuthorizeRemoteTxRequests", "false")
    ch.evse("plug 1", "charge 1")
    assert cs.call("CP001", call.RemoteStartTransaction(id_tag="CARD1", connector_id=1)).status == "Accepted"
    ch.transaction_id()
    ch.wait_status("Charging")  # sent after StartTransaction.conf was taken in
    ch.evse("card 1 CARD2")
    ch.wait_call("Authorize", where=lambda p: p["idTag"] == "CARD2")
    stop = ch.wait_call("StopTransaction")[0]
    assert stop["idTag"] == "CARD2" and stop["reason"] == "Local"


def test_remote_start_connector_zero_is_rejected(charger, cs):
    """RemoteStartTransaction with connectorId 0 is Rejected (1.6: connectorId SHALL be > 0); absent picks one."""
    ch = charger()
    ch.evse("plug 1")
    assert cs.call("CP001", call.RemoteStartTransaction(id_tag="ALICE", connector_id=0)).status == "Rejected"
    assert cs.call("CP001", call.RemoteStartTransaction(id_tag="ALICE")).status == "Accepted"
    ch.wait_call("StartTransaction")


def test_remote_start_while_pending_is_rejected(firmware):
    """RemoteStartTransaction while the registration is Pending is Rejected."""
    cs = CentralSystemThread(boot_plan=[("Pending", 60)]).start()
    try:
        fw = firmware(cs.port, {"simulator": {"port": free_port()}, "log": {"level": "info"}})
        fw.wait_log("registration Pending")
        cs.wait_for(lambda fs: "CP001" in cs.charge_points)
        assert cs.call("CP001", call.RemoteStartTransaction(id_tag="ALICE", connector_id=1)).status == "Rejected"
    finally:
        cs.stop()


def test_reserved_connector_goes_preparing_for_its_card(charger, cs):
    """A valid card on a reserved connector (card first): Preparing, then the transaction starts with the plug."""
    ch = charger()
    iso = (datetime.now(timezone.utc) + timedelta(seconds=600)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert cs.call("CP001", call.ReserveNow(connector_id=1, expiry_date=iso, id_tag="ALICE", reservation_id=3)).status == "Accepted"
    ch.wait_status("Reserved")
    ch.evse("card 1 ALICE")
    ch.wait_status("Preparing")
    ch.evse("plug 1", "charge 1")
    assert ch.wait_call("StartTransaction")[0]["reservationId"] == 3
    ch.wait_status("Charging")


def test_remote_start_for_a_reservation_with_a_parent(charger, cs):
    """A RemoteStart for another idTag on a reservation made with a parentIdTag is Accepted, checked with an
    Authorize (even with AuthorizeRemoteTxRequests false) and starts when the parent matches."""
    cs.id_tags.update({"KID": {"status": "Accepted", "parentIdTag": "FAMILY"}})
    ch = charger()
    change(cs, "AuthorizeRemoteTxRequests", "false")
    iso = (datetime.now(timezone.utc) + timedelta(seconds=600)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert cs.call("CP001", call.ReserveNow(connector_id=1, expiry_date=iso, id_tag="MUM", reservation_id=9, parent_id_tag="FAMILY")).status == "Accepted"
    ch.evse("plug 1")
    assert cs.call("CP001", call.RemoteStartTransaction(id_tag="KID", connector_id=1)).status == "Accepted"
    ch.wait_call("Authorize", where=lambda p: p["idTag"] == "KID")
    start = ch.wait_call("StartTransaction")[0]
    assert start["idTag"] == "KID" and start["reservationId"] == 9


# -- 6. a transaction stamped before the clock was set -------------------------


def test_offline_start_before_the_clock_is_set_gets_its_time_put_right(firmware, monkeypatch):
    """A transaction started and stopped offline before any BootNotification.conf (the clock not set yet: a board's
    RTC reads 2000-01-01; here the central system's clock runs a day ahead of the host's, so the firmware's own time
    is as wrong): once the clock is set, its StartTransaction and StopTransaction carry the central system's time of
    the moments they happened, not the unset clock's."""
    import central_system

    ahead = timedelta(days=1)
    monkeypatch.setattr(central_system, "utc_now", lambda: (datetime.now(timezone.utc) + ahead).isoformat(timespec="milliseconds").replace("+00:00", "Z"))
    port, sim = free_port(), free_port()
    fw = firmware(port, {"simulator": {"port": sim}, "log": {"level": "info"}}, env=None)
    fw.flash.mkdir(parents=True, exist_ok=True)
    (fw.flash / "auth_cache.json").write_text('[["ALICE", {"status": "Accepted"}]]')
    fw.wait_log("simulator listening")
    from harness.charger import Charger

    ch = Charger(None, fw, sim)
    ch.evse("plug 1", "card 1 ALICE")
    fw.wait_log("transaction local 1 started by ALICE")
    started = datetime.now(timezone.utc)
    ch.evse("card 1 ALICE")
    fw.wait_log(r"transaction local 1 stopped \(Local\)")
    time.sleep(2)  # not a wait for an event: the time between the stop and the clock being set is what is measured
    cs = CentralSystemThread(port=port, boot_plan=[("Accepted", 60)]).start()
    try:
        start = cs.wait_received("StartTransaction", timeout=15)[0].msg[3]
        stop = cs.wait_received("StopTransaction", timeout=15)[0].msg[3]
    finally:
        cs.stop()

    def at(text):
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)

    want = started + ahead
    assert abs((at(start["timestamp"]) - want).total_seconds()) <= 3, (start["timestamp"], want)
    assert abs((at(stop["timestamp"]) - want).total_seconds()) <= 3, (stop["timestamp"], want)


# -- safety before billing: a slow meter does not delay the relay ---------------


@pytest.mark.slow
def test_relay_opens_before_a_slow_meter_is_read(charger):
    """With a Modbus meter that went silent (every read waits out its timeout: 2 x 1 s), a GroundFailure opens the
    relay at once, also while the session loop is itself in the middle of a meter read; the meter is read for billing
    after that."""
    from harness.modbus_meter import Relay, SdmServer

    relay = Relay().start()
    server = SdmServer(relay.meter_path).start()
    try:
        server.set(V1=229.5, I1=31.75, P1=7286.0, FREQ=49.875, IMPORT_KWH=87.125)
        ch = charger({"meter": {"model": "SDM120", "device": relay.path, "timeout": 1.0}})
        charging(ch, 1, "ALICE")
        relay.present = set()  # nobody answers on the bus any more
        ch.fw.wait_log("meter read failed", timeout=10)
        fault = in_background(ch, "fault 1 GroundFailure")
        took = relay_opens_within(ch, 1, 6.0)
        assert took is not None and took < 0.5, "the relay opened only after %s s" % took
        fault.join(10)
        assert fault.reply == "ok"
        # Again while the session loop itself is in the middle of a meter read (woken by a command).
        relay.present = None  # the meter answers again while the next session starts
        ch.evse("clear 1", "unplug 1")
        charging(ch, 1, "ALICE")
        relay.present = set()
        ch.fw.wait_log("meter read failed", count=2, timeout=10)
        busy = in_background(ch, "power 1 7100")  # its reply waits for the loop's read (2 s)
        time.sleep(0.3)  # not a wait for an event: lands the fault inside that read
        fault = in_background(ch, "fault 1 GroundFailure")
        took = relay_opens_within(ch, 1, 6.0)
        assert took is not None and took < 0.5, "during the loop's read the relay opened only after %s s" % took
        busy.join(10)
        fault.join(10)
    finally:
        server.stop()
        relay.close()


# -- a damaged file system does not stop the boot -------------------------------


def test_an_unreadable_journal_stops_no_boot_and_starts_nothing_unbilled(charger, cs, tmp_path):
    """The journal on flash cannot be read (a directory where the file should be, as a damaged file system
    leaves): the charger still boots, registers and answers; no transaction starts (it could not be stored);
    tx.json's running transaction is not decided from a journal nobody could read."""
    work = tmp_path / "fw"
    (work / "flash" / "outbox.journal").mkdir(parents=True)
    (work / "flash" / "outbox.journal" / "x").write_text("x")
    tx = '{"next":8,"run":{"7":{"c":1,"tag":"ALICE","start":100,"t":"2026-12-06T10:00:00Z","wh":150,"remote":70,"p":null}},"remote":{}}'
    (work / "flash" / "tx.json").write_text(tx)
    ch = charger(TWO, workdir=work)
    ch.fw.wait_log("outbox.journal cannot be read")
    ch.fw.wait_log("transactions on flash not recovered")
    assert cs.call("CP001", call.GetConfiguration(key=["HeartbeatInterval"])).configuration_key
    ch.evse("plug 2", "card 2 BOB")
    ch.fw.wait_log("connector 2: cannot store the StartTransaction")
    assert ch.state(2)["relay"] is False and ch.state(2)["transactionId"] is None
    assert ch.state(1)["relay"] is False and ch.state(1)["transactionId"] == 70  # the one on flash, left as it is
    assert ch.payloads("StartTransaction") == [] and ch.payloads("StopTransaction") == []
    assert json.loads((work / "flash" / "tx.json").read_text())["run"] == json.loads(tx)["run"]  # BOB's never started
    assert_alive(ch.fw)


def test_a_power_loss_stop_never_bills_below_a_sample_on_flash(charger, cs, firmware, tmp_path):
    """tx.json cannot take the readings (a full flash) while samples still reach the journal; then a power cut:
    the next boot's PowerLoss stop bills at least the last sample on flash, which goes out before it (the 30-minute
    soak found a stop 25 kWh below a sample the central system already had)."""
    from harness.ledger import read_journal

    work = tmp_path / "fw"
    ch = charger(workdir=work)
    change(cs, "MeterValueSampleInterval", "1")
    ch.evse("power 1 36000")  # 10 Wh a second
    charging(ch, 1, "ALICE")
    ch.transaction_id()
    ch.wait_call("MeterValues", count=1)
    (ch.fw.flash / "tx.json.tmp").mkdir()  # from now on tx.json keeps its last reading
    ch.fw.wait_log("tx.json not written")
    deadline = time.monotonic() + 10
    while len([r for r in read_journal(ch.fw.flash / "outbox.journal") if r[2] == "MeterValues"]) < 3:
        assert time.monotonic() < deadline, "no samples reached the journal"
        time.sleep(0.1)
    ch.fw.kill()  # a power cut
    (ch.fw.flash / "tx.json.tmp").rmdir()
    fw = firmware(cs.port, raw_config=ch.fw.config_path.read_text(), workdir=work)
    fw.wait_log("was running at power loss: stopped")
    stop = ch.wait_call("StopTransaction", where=lambda p: p["reason"] == "PowerLoss", timeout=15)[0]
    energies = [
        int(sv["value"])
        for p in ch.payloads("MeterValues")
        for mv in p["meterValue"]
        for sv in mv["sampledValue"]
        if sv.get("measurand", "Energy.Active.Import.Register") == "Energy.Active.Import.Register"
    ]
    assert energies and stop["meterStop"] >= max(energies), (stop, max(energies))


def test_a_scheduled_availability_change_on_a_full_flash_ends_no_task(charger, cs):
    """ChangeAvailability Inoperative is Scheduled during a transaction and applied when it ends; connectors.json
    cannot be written then (a full flash): the connector goes Unavailable all the same and no task fails (the 30-minute
    soak found the session loop's task restarted for it). A scheduled change is on flash when it is answered (one
    that cannot be written is Rejected: unit_sessions), so its end needs no write."""
    ch = charger()
    charging(ch, 1, "ALICE")
    assert cs.call("CP001", call.ChangeAvailability(connector_id=1, type="Inoperative")).status == "Scheduled"
    (ch.fw.flash / "connectors.json.tmp").mkdir()
    ch.evse("unplug 1")
    ch.wait_call("StopTransaction")
    ch.wait_status("Unavailable")
    assert " E supervisor:" not in ch.fw.log
    assert_alive(ch.fw)


def test_a_start_answered_while_tx_json_is_refused_is_not_lost_at_a_power_cut(charger, cs, firmware, tmp_path):
    """A StartTransaction stored offline is answered while tx.json refuses its rewrite (a full flash), so its
    transactionId is in RAM only; then a power cut. The StartTransaction stays on flash until the id is (before, it
    left the journal at once: the next boot forgot the transaction and dropped its stop, and the central system's
    transaction was never stopped; the 30-minute soak found three)."""
    work = tmp_path / "fw"
    ch = charger(workdir=work)
    change(cs, "AllowOfflineTxForUnknownId", "true")
    port = cs.port
    cs.stop()
    ch.fw.wait_log("link: read ended|connect failed|disconnected", timeout=10)
    ch.evse("plug 1", "card 1 OFFLINE", "charge 1")
    ch.fw.wait_log("transaction local 1 started by OFFLINE")
    (ch.fw.flash / "tx.json.tmp").mkdir()
    back = CentralSystemThread(port=port, boot_plan=[("Accepted", 60)]).start()
    try:
        start = back.wait_for(lambda fs: [f for f in fs if f.kind == 3 and "transactionId" in f.msg[2]], 15, "a StartTransaction answered")[0]
        tid = start.msg[2]["transactionId"]
        ch.fw.wait_log("tx.json not written")
        # The outbox sends one CALL at a time: once a triggered Heartbeat is out, the answer has been handled.
        assert back.call("CP001", call.TriggerMessage(requested_message="Heartbeat")).status == "Accepted"
        back.wait_received("Heartbeat")
        ch.fw.kill()  # a power cut while the id is in RAM only
        (ch.fw.flash / "tx.json.tmp").rmdir()
        fw = firmware(back.port, raw_config=ch.fw.config_path.read_text(), workdir=work)
        fw.wait_log("was running at power loss: stopped")
        stops = back.wait_for(
            lambda fs: [f.msg[3] for f in fs if f.kind == 2 and f.action == "StopTransaction" and f.msg[3].get("transactionId") is not None],
            15,
            "its StopTransaction",
        )
        starts = [f for f in back.received("StartTransaction") if f.kind == 2]
        given = {f2.msg[2]["transactionId"] for f2 in back.frames if f2.kind == 3 and "transactionId" in f2.msg[2]}
        assert tid in given and stops[0]["transactionId"] in given and stops[0]["reason"] == "PowerLoss"
        assert len({f.msg[1] for f in starts}) == 1  # the same message again, never a new one
    finally:
        back.stop()


def test_a_power_loss_stop_that_cannot_be_stored_at_boot_is_held_as_such(charger, cs, firmware, tmp_path):
    """A power cut while the journal is full: at the next boot the PowerLoss stop does not fit, so it is held (relay
    open) and stored once there is room, as the PowerLoss stop it is (the reading and time the cut left), never as a
    stop of what the connector shows after the boot (the 30-minute soak saw EVDisconnected stops, one billed 1.7 MWh
    above the last reading on flash)."""
    work = tmp_path / "fw"
    ch = charger(dict(TWO, storage={"journalBytes": 4096, "maxTransactions": 1000}), workdir=work)
    change(cs, "AllowOfflineTxForUnknownId", "true")
    ch.evse("power 1 7000")
    charging(ch, 1, "ALICE")
    tid = ch.transaction_id()
    port = cs.port
    cs.stop()
    ch.fw.wait_log("link: read ended|connect failed|disconnected", timeout=10)
    fill_the_journal_offline(ch)
    ch.fw.kill()  # a power cut with the journal full
    fw = firmware(port, raw_config=ch.fw.config_path.read_text(), workdir=work)
    fw.wait_log("transaction %s: its PowerLoss stop cannot be stored yet" % tid)
    back = CentralSystemThread(port=port, boot_plan=[("Accepted", 60)])
    back._next_tx = 5000  # the ids it gives out cannot be taken for ALICE's
    back.start()
    try:
        stop = back.wait_for(
            lambda fs: [f.msg[3] for f in fs if f.kind == 2 and f.action == "StopTransaction" and f.msg[3].get("transactionId") == tid], 60, "ALICE's stop"
        )[0]
        assert stop["reason"] == "PowerLoss", stop
    finally:
        back.stop()
