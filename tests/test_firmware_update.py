"""UpdateFirmware end to end on the unix port: the firmware downloads an application bundle made by
tools/make_update.py from a real HTTP(S) server on 127.0.0.1 (harness/http_server.py), checks it,
installs it into the inactive slot, reboots (exit 75, restarted here as a supervisor would), and
keeps it only once its BootNotification is Accepted. Observed from outside: the frames, the HTTP
requests, the exit codes, the log.

FW-01 UpdateFirmware answered at once; FW-02 FirmwareStatusNotification for each step; FW-03 waits
for retrieveDate and the running transactions; FW-04 retries/retryInterval; FW-05 integrity before
the switch; FW-06 rollback when the new version is not Accepted; FW-07 a power cut at any point
leaves a bootable firmware and the outcome is reported; FW-08 TriggerMessage
FirmwareStatusNotification; FW-09 firmwareVersion of the installed update.
"""

import datetime
import json
import re
import sys

import pytest
from ocpp.v16 import call

from harness.firmware import EXIT_HARD_RESET, REPO
from harness.http_server import FileServer, server_tls
from harness.pki import make_pki
from harness.wire import call_raw

sys.path.insert(0, str(REPO / "tools"))

import make_update  # noqa: E402

NEW = "9.9.9-fw"
OLD = re.search(r'__version__ = "([^"]+)"', (REPO / "lib/uocpp/__init__.py").read_text()).group(1)
CONFIRM = {"firmware": {"confirmTimeout": 15, "retryInterval": 0}}


def iso(when=None):
    when = when or datetime.datetime.now(datetime.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def statuses(cs):
    return [f.payload["status"] for f in cs.received("FirmwareStatusNotification")]


def wait_status(cs, status, timeout=15):
    return cs.wait_for(lambda fs: status in statuses(cs), timeout, "FirmwareStatusNotification " + status)


def boot_versions(cs):
    return [f.payload.get("firmwareVersion") for f in cs.received("BootNotification")]


def registered(cs, firmware, config=None, **kw):
    fw = firmware(cs.port, config, **kw)
    fw.wait_log("registration Accepted")
    return fw


def update(cs, url, when=None, **kw):
    reply = cs.call("CP001", call.UpdateFirmware(location=url, retrieve_date=iso(when), **kw))
    assert reply is not None  # FW-01: the empty UpdateFirmware.conf


def rebooted(cs, firmware, fw, timeout=20):
    """The firmware exits for a hard reset; start it again on the same flash and config, as a supervisor does."""
    assert fw.wait_exit(timeout) == EXIT_HARD_RESET
    return again(cs, firmware, fw)


def again(cs, firmware, fw):
    return firmware(cs.port, raw_config=fw.config_path.read_text(), workdir=fw.workdir)


def test_good_update_rolls_forward_with_the_new_version(cs, firmware, files, bundle):
    """FW-01, FW-02, FW-05, FW-08, FW-09: a real bundle from tools/make_update.py, over HTTP: Downloading, Downloaded,
    Installing, reboot into it, BootNotification with the new firmwareVersion, Installed; Idle on a trigger."""
    files.files["fw.bin"] = bundle
    fw = registered(cs, firmware, CONFIRM)
    assert boot_versions(cs) == [OLD]
    assert cs.call("CP001", call.TriggerMessage(requested_message="FirmwareStatusNotification")).status == "Accepted"
    wait_status(cs, "Idle")
    update(cs, files.url("fw.bin"))
    fw = rebooted(cs, firmware, fw)
    wait_status(cs, "Installed")
    assert statuses(cs) == ["Idle", "Downloading", "Downloaded", "Installing", "Installed"]
    assert boot_versions(cs) == [OLD, NEW]
    fw.wait_log("confirmed: Accepted on its trial boot")
    fw.wait_log(r"security: FirmwareUpdated \(to %s\)" % NEW)  # issue 25: in the security log too
    fw.wait_log(r"loader: trying %s \(slot a\)" % NEW)
    # FW-08: nothing under way now.
    assert cs.call("CP001", call.TriggerMessage(requested_message="FirmwareStatusNotification")).status == "Accepted"
    cs.wait_for(lambda fs: statuses(cs).count("Idle") == 2, 10, "a second Idle")
    # It stays: the next boot runs the confirmed slot without a trial.
    fw.stop()
    fw = again(cs, firmware, fw)
    fw.wait_log("registration Accepted")
    assert boot_versions(cs) == [OLD, NEW, NEW]
    assert "loader: trying" not in fw.log
    state = json.loads((fw.flash / "app" / "state.json").read_text())
    assert state["slot"] == "a" and state["version"] == NEW and state["trial"] is None and state["outcome"] is None


def test_update_over_https_with_the_ca_on_flash(cs, firmware, bundle, tmp_path):
    """FW-01, SEC-07: https:// with firmware.caFile (DER); retries after a 404 and a 500 within `retries`."""
    (tmp_path / "pki").mkdir()
    pki = make_pki(tmp_path / "pki")
    srv = FileServer(tls=server_tls(pki)).start()
    try:
        srv.files["fw.bin"] = bundle
        srv.plan["fw.bin"] = [404, 500]
        cfg = {"firmware": {"caFile": str(pki.ca_der), "confirmTimeout": 15}}
        fw = registered(cs, firmware, cfg)
        update(cs, srv.url("fw.bin"), retries=2, retry_interval=0)
        fw = rebooted(cs, firmware, fw)
        wait_status(cs, "Installed")
        assert statuses(cs) == ["Downloading"] * 3 + ["Downloaded", "Installing", "Installed"]
        assert [r[1] for r in srv.requests] == ["/fw.bin"] * 3
        assert boot_versions(cs)[-1] == NEW
    finally:
        srv.stop()


@pytest.mark.parametrize("damage", ["truncate", "corrupt"])
def test_damaged_download_never_switches(cs, firmware, files, bundle, damage):
    """FW-05: a truncated or corrupted file is caught by its length and SHA-256 before anything switches:
    DownloadFailed once the retries are spent, no reboot, the old version stays."""
    files.files["fw.bin"] = bundle
    files.plan["fw.bin"] = [damage, damage]
    fw = registered(cs, firmware, CONFIRM)
    update(cs, files.url("fw.bin"), retries=1, retry_interval=0)
    wait_status(cs, "DownloadFailed")
    assert statuses(cs) == ["Downloading", "Downloading", "DownloadFailed"]
    assert not (fw.flash / "app" / "staging.bin").exists()
    fw.wait_log("cut short" if damage == "truncate" else "SHA-256 mismatch")
    assert fw.proc.poll() is None
    assert not (fw.flash / "app" / "a").exists()
    # The old firmware keeps running and answers.
    assert cs.call("CP001", call.TriggerMessage(requested_message="FirmwareStatusNotification")).status == "Accepted"
    wait_status(cs, "Idle")


def test_future_retrieve_date_waits(cs, firmware, files, bundle):
    """FW-03: no request to the server before retrieveDate. FW-01: a location that is not http(s) or ftp(s) or a
    retrieveDate that is no date-time is refused. FirmwareManagement in SupportedFeatureProfiles."""
    files.files["fw.bin"] = bundle
    fw = registered(cs, firmware, CONFIRM)
    profiles = cs.call("CP001", call.GetConfiguration(key=["SupportedFeatureProfiles"])).configuration_key[0]["value"]
    assert "FirmwareManagement" in profiles.split(",")
    for bad in ({"location": "sftp://127.0.0.1/fw.bin", "retrieveDate": iso()}, {"location": files.url("fw.bin"), "retrieveDate": "soon"}):
        reply = call_raw(cs, "UpdateFirmware", bad)
        assert reply.kind == 4 and reply.msg[2] == "PropertyConstraintViolation", reply
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    update(cs, files.url("old.bin"), when=now + datetime.timedelta(hours=1))
    fw.wait_log(r"download in 3\d\d\d s")
    when = now + datetime.timedelta(seconds=3)
    update(cs, files.url("fw.bin"), when=when)  # replaces the first request
    fw.wait_log(r"download in \d+ s", count=2)
    assert files.requests == []
    files.wait_requests(1, timeout=10)
    assert datetime.datetime.now(datetime.timezone.utc) >= when - datetime.timedelta(milliseconds=100)
    rebooted(cs, firmware, fw)
    wait_status(cs, "Installed")
    assert [r[1] for r in files.requests] == ["/fw.bin"]


def test_power_cut_during_download_restarts_it(cs, firmware, files, bundle):
    """FW-07: SIGKILL while the server stalls the download; after the restart the request is still on flash,
    the download starts again and the update completes."""
    files.files["fw.bin"] = bundle
    files.plan["fw.bin"] = ["stall"]
    fw = registered(cs, firmware, CONFIRM)
    update(cs, files.url("fw.bin"))
    files.wait_requests(1)
    fw.kill()
    fw = again(cs, firmware, fw)
    fw.wait_log("registration Accepted")
    files.wait_requests(2)
    fw = rebooted(cs, firmware, fw)
    wait_status(cs, "Installed")
    assert boot_versions(cs)[-1] == NEW


@pytest.mark.parametrize("moment", ["unpacking into slot a", "files in slot a; switching"])
def test_power_cut_during_the_switch_leaves_a_bootable_firmware(cs, firmware, files, bundle, moment):
    """FW-07: SIGKILL while the bundle is unpacked, or at the switch itself: the next boot runs the old firmware
    (killed before the switch: it downloads and installs again) or the new one on trial; either way it registers
    and the update ends Installed with the new version."""
    files.files["fw.bin"] = bundle
    fw = registered(cs, firmware, CONFIRM)
    update(cs, files.url("fw.bin"))
    fw.wait_log(moment)
    fw.kill()
    fw = again(cs, firmware, fw)
    fw.wait_log("registration Accepted")
    if "loader: trying" not in fw.log:
        fw = rebooted(cs, firmware, fw)
    wait_status(cs, "Installed")
    assert boot_versions(cs)[-1] == NEW


def test_power_cut_on_the_trial_boot_rolls_back(cs, firmware, files, bundle):
    """FW-06, FW-07: the new version is killed on its trial boot before it was Accepted: the next boot returns to
    the old version, which reports InstallationFailed."""
    files.files["fw.bin"] = bundle
    cs.boot_plan = [("Accepted", 60), ("Pending", 60), ("Accepted", 60)]
    fw = registered(cs, firmware, CONFIRM)
    update(cs, files.url("fw.bin"))
    fw = rebooted(cs, firmware, fw)
    fw.wait_log("registration Pending")
    fw.kill()
    fw = again(cs, firmware, fw)
    fw.wait_log("was never confirmed: back to the built-in application")
    wait_status(cs, "InstallationFailed")
    assert boot_versions(cs) == [OLD, NEW, OLD]
    assert not (fw.flash / "app" / "staging.bin").exists()
    fw.wait_log("status InstallationFailed")
    assert not (fw.flash / "app" / "a").exists()  # the failed bundle's flash is given back


def test_new_version_never_accepted_rolls_back(cs, firmware, files, bundle):
    """FW-06: the new version's BootNotification stays Pending past firmware.confirmTimeout: it reboots into the
    old version, which is Accepted and reports InstallationFailed."""
    files.files["fw.bin"] = bundle
    cs.boot_plan = [("Accepted", 60), ("Pending", 60), ("Accepted", 60)]
    cfg = {"firmware": {"confirmTimeout": 1.5}}
    fw = registered(cs, firmware, cfg)
    update(cs, files.url("fw.bin"))
    fw = rebooted(cs, firmware, fw)
    fw.wait_log("not Accepted within")
    fw = rebooted(cs, firmware, fw)
    wait_status(cs, "InstallationFailed")
    assert boot_versions(cs) == [OLD, NEW, OLD]
    assert statuses(cs) == ["Downloading", "Downloaded", "Installing", "InstallationFailed"]


def broken(bundle, module="uocpp/app.mpy"):
    """The bundle with one module replaced by bytes no MicroPython can load; header recomputed."""
    payload, out = bundle.split(b"\n", 1)[1], []
    while payload != b"E\n":
        line, payload = payload.split(b"\n", 1)
        size, name = int(line.split()[1]), line.split()[2].decode()
        data, payload = payload[:size], payload[size:]
        data = b"not bytecode" if name == module else data
        out.append(b"F %d %s\n" % (len(data), name.encode()) + data)
    body = b"".join(out) + b"E\n"
    return make_update.header("bundle", NEW, body) + body


def test_new_version_that_crashes_rolls_back(cs, firmware, files, bundle):
    """FW-06: a bundle whose application cannot even be imported: the trial boot crashes and reboots, the loader
    returns to the old version, which reports InstallationFailed."""
    files.files["fw.bin"] = broken(bundle)
    fw = registered(cs, firmware, CONFIRM)
    update(cs, files.url("fw.bin"))
    fw = rebooted(cs, firmware, fw)
    fw.wait_log("the new version crashed on its trial boot")
    fw = rebooted(cs, firmware, fw)
    fw.wait_log("was never confirmed: back to the built-in application")
    wait_status(cs, "InstallationFailed")
    assert boot_versions(cs) == [OLD, OLD]
    assert statuses(cs) == ["Downloading", "Downloaded", "Installing", "InstallationFailed"]


def test_update_waits_for_the_transaction(charger, cs, firmware, files, bundle):
    """FW-03: UpdateFirmware during a transaction: no download until it stops, then Downloading ... Installed."""
    files.files["fw.bin"] = bundle
    ch = charger(CONFIRM)
    ch.evse("plug 1", "card 1 ALICE", "charge 1")
    ch.wait_call("StartTransaction")
    update(cs, files.url("fw.bin"))
    ch.fw.wait_log("waiting for the running transaction")
    assert files.requests == [] and statuses(cs) == []
    ch.evse("unplug 1")
    ch.wait_call("StopTransaction")
    files.wait_requests(1)
    fw = rebooted(cs, firmware, ch.fw)
    wait_status(cs, "Installed")
    assert boot_versions(cs)[-1] == NEW
    assert fw.proc.poll() is None


def test_a_trial_boot_the_flash_cannot_record_runs_the_old_version(cs, firmware, files, bundle):
    """The loader counts a trial boot on flash before it runs the trial (a crash on it then rolls back). When that
    write fails (a full flash; here state.json.tmp cannot be made), the charger still boots, on the confirmed
    version: an unrecorded trial could not be rolled back, and an exception there ended main.py at boot."""
    files.files["fw.bin"] = bundle
    fw = registered(cs, firmware, CONFIRM)
    update(cs, files.url("fw.bin"))
    assert fw.wait_exit(20) == EXIT_HARD_RESET  # the switch is on flash: {"trial": ...}
    blocker = fw.flash / "app" / "state.json.tmp"
    blocker.mkdir()  # as a flash with no room: the loader's write fails with an OSError
    fw = again(cs, firmware, fw)
    fw.wait_log("loader: cannot record the boot")
    fw.wait_log("registration Accepted")
    assert boot_versions(cs)[-1] == OLD
    assert fw.proc.poll() is None
    fw.stop()
    blocker.rmdir()  # room again: the trial goes ahead as usual
    fw = again(cs, firmware, fw)
    fw.wait_log(r"loader: trying %s \(slot a\)" % NEW)
    wait_status(cs, "Installed")
    assert boot_versions(cs)[-1] == NEW


@pytest.mark.parametrize("moment", ["the switch", "the confirmation"])
def test_state_left_as_tmp_by_a_power_cut_is_the_state(cs, firmware, files, bundle, moment):
    """FW-07: FAT cannot rename onto a file, so state.json is written as state.json.tmp, the old one removed, the
    new one renamed (store/json_file.py replace()). A power cut between the remove and the rename leaves the new
    state as state.json.tmp alone: the loader must take it, as every other reader of flash does. Else the switch
    is lost (the built-in application boots and the update never ends: no Installed, no InstallationFailed), or
    a confirmed update silently gives way to the built-in application."""
    files.files["fw.bin"] = bundle
    fw = registered(cs, firmware, CONFIRM)
    update(cs, files.url("fw.bin"))
    app = fw.flash / "app"
    if moment == "the confirmation":
        fw = rebooted(cs, firmware, fw)
        wait_status(cs, "Installed")
        fw.wait_log("confirmed: Accepted on its trial boot")
        fw.stop()
    else:
        assert fw.wait_exit(20) == EXIT_HARD_RESET  # the switch is on flash: {"trial": ...}
    (app / "state.json").rename(app / "state.json.tmp")  # as a power cut between the remove and the rename
    fw = again(cs, firmware, fw)
    fw.wait_log("registration Accepted")
    if moment == "the switch":
        fw.wait_log(r"loader: trying %s \(slot a\)" % NEW)
        wait_status(cs, "Installed")
    assert boot_versions(cs)[-1] == NEW


def test_a_soft_reset_keeps_an_accepted_update(cs, firmware, files, bundle):
    """FW-01, FW-03, FW-07, RST-01: an UpdateFirmware accepted is on flash and survives any reboot before its switch;
    a Soft reset (the application restarted in-process) is one: the new application takes the request up
    again, downloads at retrieveDate and installs it, as after a power cut."""
    files.files["fw.bin"] = bundle
    fw = registered(cs, firmware, CONFIRM)
    when = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) + datetime.timedelta(seconds=4)
    update(cs, files.url("fw.bin"), when=when)
    fw.wait_log(r"download in \d+ s")
    assert call_raw(cs, "Reset", {"type": "Soft"}).msg[2] == {"status": "Accepted"}
    fw.wait_log("soft reset: restarting the application")
    fw.wait_log("registration Accepted", count=2)
    files.wait_requests(1, timeout=15)
    rebooted(cs, firmware, fw)
    wait_status(cs, "Installed")
    assert boot_versions(cs)[-1] == NEW


def test_a_soft_reset_during_the_download_downloads_again(cs, firmware, files, bundle):
    """FW-07, RST-01: a Soft reset while the download runs: the new application starts it again and installs it."""
    files.files["fw.bin"] = bundle
    files.plan["fw.bin"] = ["stall"]
    fw = registered(cs, firmware, CONFIRM)
    update(cs, files.url("fw.bin"))
    files.wait_requests(1)
    assert call_raw(cs, "Reset", {"type": "Soft"}).msg[2] == {"status": "Accepted"}
    fw.wait_log("soft reset: restarting the application")
    files.wait_requests(2, timeout=20)
    fw = rebooted(cs, firmware, fw)
    wait_status(cs, "Installed")
    assert boot_versions(cs)[-1] == NEW
