"""The LocalAuthListManagement profile (C16 3.5, 5.9, 5.15) on the unix port
against the `ocpp` central system (schema validation on), the EVSE driven
through the simulator: SendLocalList Full and Differential, versions, Failed
with nothing changed, authorization from the list offline and before the
cache, and SIGKILL during list writes."""

import os
import random
import signal
import subprocess
import time
from pathlib import Path

from ocpp.v16 import call

from harness.net import free_port
from harness.firmware import MICROPYTHON, REPO
from harness.wire import call_raw


def change(cs, key, value):
    return cs.call("CP001", call.ChangeConfiguration(key=key, value=value)).status


def send(cs, version, entries, kind="Full"):
    return cs.call("CP001", call.SendLocalList(list_version=version, update_type=kind, local_authorization_list=entries)).status


def version(cs):
    return cs.call("CP001", call.GetLocalListVersion()).list_version


def entry(tag, status="Accepted", **extra):
    info = {"status": status}
    info.update(extra)
    return {"idTag": tag, "idTagInfo": info}


def offline(ch, cs):
    cs.stop()
    ch.fw.wait_log("disconnected")


def test_full_and_differential_updates_and_versions(charger, cs):
    """LL-Full, LL-Differential: 0 for an empty list; Full sets the list and version; a Differential needs a higher version."""
    ch = charger()
    assert version(cs) == 0
    assert send(cs, 5, [entry("ALICE"), entry("BOB", "Blocked")]) == "Accepted"
    assert version(cs) == 5
    assert send(cs, 5, [entry("CAROL")], "Differential") == "VersionMismatch"
    assert send(cs, 4, [entry("CAROL")], "Differential") == "VersionMismatch"
    assert send(cs, 7, [entry("CAROL"), {"idTag": "BOB"}], "Differential") == "Accepted"
    assert version(cs) == 7
    assert send(cs, 2, [entry("DAVE")]) == "Accepted"  # a Full may go back in version
    assert version(cs) == 2
    assert send(cs, 3, []) == "Accepted"  # an empty Full: the list is empty
    assert version(cs) == 0
    ch.fw.wait_log("Full update: version 3, 0 entries")


def test_invalid_entry_fails_and_changes_nothing(charger, cs):
    """LL-Failed: an entry the list cannot hold, in the middle of a list, is Failed; the list and version stay (one that
    breaks the schema is a CALLERROR: test_conformance.py)."""
    ch = charger()
    assert send(cs, 1, [entry("ALICE"), entry("BOB")]) == "Accepted"
    bad = [entry("CAROL"), entry("ÅSA-ÅSA-ÅSA-ÅSA-ÅSA"), entry("ERIN")]  # 20 characters, 25 bytes: the list holds 20 bytes
    for kind in ("Full", "Differential"):
        reply = call_raw(cs, "SendLocalList", {"listVersion": 2, "updateType": kind, "localAuthorizationList": bad})
        assert reply.msg[2] == {"status": "Failed"}
    reply = call_raw(cs, "SendLocalList", {"listVersion": 2, "updateType": "Full", "localAuthorizationList": [entry("C"), entry("D"), entry("C")]})
    assert reply.msg[2] == {"status": "Failed"}  # an idTag twice
    reply = call_raw(cs, "SendLocalList", {"listVersion": 2, "updateType": "Full", "localAuthorizationList": [entry("C%d" % i) for i in range(101)]})
    assert reply.msg[2] == {"status": "Failed"}  # over SendLocalListMaxLength
    assert send(cs, 2, [entry("CAROL"), {"idTag": "DAVE"}]) == "Failed"  # a Full entry needs idTagInfo
    assert version(cs) == 1
    assert send(cs, 2, [entry("CAROL", "Blocked")], "Differential") == "Accepted"
    ch.fw.wait_log("Differential update: version 2, 3 entries")


def test_disabled_list_is_not_supported_and_not_used(charger, cs):
    """LocalAuthListEnabled false: SendLocalList NotSupported, GetLocalListVersion -1, the list not used."""
    ch = charger()
    assert send(cs, 1, [entry("ALICE", "Blocked")]) == "Accepted"
    assert change(cs, "LocalAuthListEnabled", "false") == "Accepted"
    assert send(cs, 2, [entry("BOB")]) == "NotSupported"
    assert version(cs) == -1
    ch.evse("plug 1", "card 1 ALICE")  # Blocked in the list, but the list is off: Authorize decides
    ch.wait_call("StartTransaction")
    assert change(cs, "LocalAuthListEnabled", "true") == "Accepted"
    assert version(cs) == 1


def test_offline_authorization_from_the_list(charger, cs):
    """LL-Offline (LocalAuthorizeOffline): offline, an Accepted entry starts; Blocked and expired Accepted entries do not;
    an idTag the list does not hold follows the cache and AllowOfflineTxForUnknownId."""
    ch = charger()
    assert send(cs, 1, [entry("GOOD", expiryDate="2099-01-01T00:00:00Z"), entry("BLOCKED", "Blocked"), entry("OLD", expiryDate="2020-01-01T00:00:00Z")]) == "Accepted"
    offline(ch, cs)
    ch.evse("plug 1", "card 1 BLOCKED")
    assert ch.state()["status"] == "Preparing"
    ch.evse("card 1 OLD")
    assert ch.state()["status"] == "Preparing"
    ch.evse("card 1 STRANGER")
    assert ch.state()["status"] == "Preparing"
    ch.evse("card 1 GOOD")
    assert ch.state()["status"] == "SuspendedEV"
    ch.fw.wait_log("transaction local 1 started by GOOD")
    assert "started by BLOCKED" not in ch.fw.log and "started by OLD" not in ch.fw.log


def test_list_wins_over_the_cache_and_listed_tags_are_not_cached(charger, cs):
    """LL-Priority: the list's entry decides over the cache's; an idTag in the list is not added to the cache;
    LocalPreAuthorize starts a listed Accepted idTag online without Authorize."""
    ch = charger()
    assert change(cs, "ConnectionTimeOut", "1") == "Accepted"
    ch.evse("card 1 ALICE")  # Authorize: Accepted, now cached
    ch.wait_call("Authorize")
    ch.fw.wait_log("no EV within ConnectionTimeOut")
    assert send(cs, 1, [entry("ALICE", "Blocked"), entry("BOB")]) == "Accepted"
    ch.evse("card 1 BOB")  # online: Authorize, Accepted; BOB is listed, so not cached
    ch.wait_call("Authorize", count=2)
    ch.fw.wait_log("no EV within ConnectionTimeOut", count=2)
    assert change(cs, "LocalPreAuthorize", "true") == "Accepted"
    assert change(cs, "ConnectionTimeOut", "60") == "Accepted"
    ch.evse("plug 1", "card 1 BOB")  # listed Accepted: no Authorize
    ch.wait_call("StartTransaction")
    assert len(ch.payloads("Authorize")) == 2
    ch.evse("unplug 1")
    stop = ch.wait_call("StopTransaction")
    assert stop
    assert send(cs, 2, [{"idTag": "BOB"}], "Differential") == "Accepted"
    offline(ch, cs)
    ch.evse("plug 1", "card 1 ALICE")  # cached Accepted, listed Blocked: the list wins
    assert ch.state()["status"] == "Preparing"
    ch.evse("card 1 BOB")  # out of the list now, and never cached
    assert ch.state()["status"] == "Preparing"
    assert "transaction local 2 started" not in ch.fw.log


def test_a_conflict_with_the_list_is_reported_on_connector_0(charger, cs):
    """LL-Conflict: C16 3.5.2: "Conflicts between the local authorization list and the validity reported in, for
    instance, a StartTransaction.conf message might occur. When this happens the Charge Point SHALL inform the Central
    System by sending a StatusNotification with ConnectorId set to 0, and ErrorCode set to 'LocalListConflict'."
    Connector 0 keeps its status (not Faulted) and the next connector-0 StatusNotification says NoError again."""
    ch = charger()
    assert change(cs, "LocalPreAuthorize", "true") == "Accepted"
    assert send(cs, 1, [entry("ALICE")]) == "Accepted"
    cs.id_tags["ALICE"] = {"status": "Blocked"}
    ch.evse("plug 1", "card 1 ALICE")  # listed Accepted: starts at once; the StartTransaction.conf says Blocked
    ch.wait_call("StopTransaction")  # StopTransactionOnInvalidId: DeAuthorized
    conflict = ch.wait_call("StatusNotification", where=lambda p: p["connectorId"] == 0 and p["errorCode"] != "NoError")
    assert [(p["errorCode"], p["status"]) for p in conflict] == [("LocalListConflict", "Available")]
    assert cs.call("CP001", call.TriggerMessage(requested_message="StatusNotification", connector_id=0)).status == "Accepted"
    after = ch.wait_call("StatusNotification", count=2, where=lambda p: p["connectorId"] == 0 and p["errorCode"] == "NoError")
    assert after[-1]["status"] == "Available"
    assert len(ch.payloads("Authorize")) == 0


def test_list_survives_a_restart(charger, cs, firmware, tmp_path):
    """The list is on flash: after a restart its version and entries are in force."""
    work = tmp_path / "fw"
    ch = charger(workdir=work)
    assert send(cs, 9, [entry("ALICE", "Blocked")]) == "Accepted"
    ch.fw.kill()
    again = firmware(cs.port, {"simulator": {"port": free_port()}, "log": {"level": "info"}}, workdir=work)
    again.wait_log("registration Accepted")
    assert version(cs) == 9


WORKER = Path(__file__).resolve().parent / "local_list_worker.py"


def test_sigkill_during_list_writes_leaves_old_or_new(tmp_path):
    """LL-Atomic: a MicroPython worker writes Full and Differential updates of up to 1,000 entries and is SIGKILLed
    at random moments; each time the list found afterwards is complete and is the last one written or the one in flight."""
    path = tmp_path / "local_list.bin"
    env = dict(os.environ, MICROPYPATH=".frozen:" + str(REPO / "lib"))
    rnd = random.Random(1506)
    allowed, mid_write, kills = {0}, 0, 30
    for k in range(kills):
        proc = subprocess.Popen([MICROPYTHON, str(WORKER), str(path), str(k)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        first = proc.stdout.readline().split()
        assert first and first[0] == "state" and first[3] == "ok", first
        v = int(first[1])
        assert v in allowed, (k, v, allowed)
        time.sleep(rnd.uniform(0.05, 0.5))
        proc.send_signal(signal.SIGKILL)
        out = proc.stdout.read().split("\n")
        proc.wait()
        written = [int(line.split()[1]) for line in out if line.startswith("written ")]
        writing = [int(line.split()[1]) for line in out if line.startswith("writing ")]
        last = written[-1] if written else v
        allowed = {last} | ({writing[-1]} if writing and writing[-1] > last else set())
        mid_write += len(allowed) == 2
    proc = subprocess.Popen([MICROPYTHON, str(WORKER), str(path), "99"], stdout=subprocess.PIPE, text=True, env=env)
    first = proc.stdout.readline().split()
    proc.kill()
    proc.wait()
    assert first[3] == "ok" and int(first[1]) in allowed, (first, allowed)
    assert mid_write >= kills // 2, "only %d kills landed during a write" % mid_write
