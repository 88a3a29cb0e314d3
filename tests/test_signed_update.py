"""Signed firmware updates (issue 25 item 3): SignedUpdateFirmware and SignedFirmwareStatusNotification, and
plain UpdateFirmware once a ManufacturerRootCertificate is installed.

A real bundle (tools/make_update.py) on a real HTTP server; certificates and signatures made by openssl:
an RSA manufacturer root, an EC intermediate and an EC signing certificate; a root nobody installed, an
expired signing certificate, a certificate whose key did not sign. Statuses are read at the `ocpp`
central system (schema validation on).
"""

import base64
import datetime
import subprocess
import sys
import time

import pytest
from ocpp.v16 import call

from harness.firmware import EXIT_HARD_RESET, REPO
from harness.wire import call_raw
from harness.pki import make_cert
from tests.test_firmware_update import CONFIRM, NEW, OLD, again, boot_versions, iso, registered, rebooted, statuses, update, wait_status

sys.path.insert(0, str(REPO / "tools"))

import make_update  # noqa: E402

CP = "CP001"
MF_ROOT = "ManufacturerRootCertificate"


@pytest.fixture(scope="module")
def signers(tmp_path_factory):
    d = tmp_path_factory.mktemp("signers")
    s = {"dir": d}
    s["root"] = make_cert(d, "mf-root", rsa=True)
    s["int"] = make_cert(d, "mf-int", s["root"])
    s["leaf"] = make_cert(d, "fw-signer", s["int"], ca=False)
    s["stranger_root"] = make_cert(d, "stranger-root")
    s["stranger"] = make_cert(d, "stranger-signer", s["stranger_root"], ca=False)
    s["expired"] = make_cert(d, "expired-signer", s["int"], ca=False, days=-1)
    s["other_key"] = make_cert(d, "other-key", s["int"], ca=False)
    return s


def openssl_sign(key, data):
    return subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(key)], input=data, capture_output=True, check=True).stdout


def signed_update(cs, url, signer, sig, request_id=7, retrieve=None, install=None, **kw):
    # A minute ago: due at once, whatever the second the two clocks are in.
    past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=1)
    fw = {"location": url, "retrieveDateTime": iso(retrieve or past), "signingCertificate": signer, "signature": base64.b64encode(sig).decode()}
    if install:
        fw["installDateTime"] = iso(install)
    return cs.call(CP, call.SignedUpdateFirmware(request_id=request_id, firmware=fw, **kw)).status


def signed_statuses(cs):
    return [f.payload["status"] for f in cs.received("SignedFirmwareStatusNotification")]


def wait_signed(cs, status, timeout=20):
    return cs.wait_for(lambda fs: status in signed_statuses(cs), timeout, "SignedFirmwareStatusNotification " + status)


def with_root(cs, firmware, signers, config=None):
    fw = registered(cs, firmware, config or CONFIRM)
    assert cs.call(CP, call.InstallCertificate(certificate_type=MF_ROOT, certificate=signers["root"].pem)).status == "Accepted"
    return fw


def test_signed_update_is_verified_then_installed(cs, firmware, files, signers, bundle):
    """L01: the whole file's signature checked with a certificate chained (leaf, intermediate) to the installed
    RSA root; every step reported with its requestId; the new version boots and is kept."""
    files.files["fw.bin"] = bundle
    fw = with_root(cs, firmware, signers)
    chain = signers["leaf"].pem + signers["int"].pem
    assert signed_update(cs, files.url("fw.bin"), chain, openssl_sign(signers["leaf"].key, bundle), request_id=42) == "Accepted"
    fw = rebooted(cs, firmware, fw)
    wait_signed(cs, "Installed")
    assert signed_statuses(cs) == ["Downloading", "Downloaded", "SignatureVerified", "Installing", "InstallRebooting", "Installed"]
    assert {f.payload["requestId"] for f in cs.received("SignedFirmwareStatusNotification")} == {42}
    assert statuses(cs) == []  # no plain FirmwareStatusNotification for a signed update
    assert boot_versions(cs) == [OLD, NEW]


def test_scheduled_download_and_install_are_reported(cs, firmware, files, signers, bundle):
    """L01: a retrieveDateTime ahead is DownloadScheduled, an installDateTime ahead InstallScheduled; nothing is
    fetched before its time, nothing installed before its time."""
    files.files["fw.bin"] = bundle
    fw = with_root(cs, firmware, signers)
    now, t0 = datetime.datetime.now(datetime.timezone.utc), time.monotonic()
    retrieve, install = now + datetime.timedelta(seconds=4), now + datetime.timedelta(seconds=8)
    chain = signers["leaf"].pem + signers["int"].pem
    assert signed_update(cs, files.url("fw.bin"), chain, openssl_sign(signers["leaf"].key, bundle), retrieve=retrieve, install=install) == "Accepted"
    wait_signed(cs, "DownloadScheduled")
    assert files.requests == []
    fw = rebooted(cs, firmware, fw, timeout=30)
    wait_signed(cs, "Installed")
    got = signed_statuses(cs)
    assert got == ["DownloadScheduled", "Downloading", "Downloaded", "SignatureVerified", "InstallScheduled", "Installing", "InstallRebooting", "Installed"]
    # Frame times are monotonic: seconds after the request, against the dates (1 s: ISO dates have no fraction).
    at = {f.payload["status"]: f.t - t0 for f in cs.received("SignedFirmwareStatusNotification")}
    assert at["Downloading"] >= (retrieve - now).total_seconds() - 1
    assert at["Installing"] >= (install - now).total_seconds() - 1


@pytest.mark.parametrize("case", ["no root installed", "stranger", "expired", "missing intermediate", "not pem"])
def test_signing_certificate_that_does_not_chain_is_refused_at_once(cs, firmware, files, signers, bundle, case):
    """L01: InvalidCertificate in the reply and an InvalidFirmwareSigningCertificate security event; nothing downloaded."""
    files.files["fw.bin"] = bundle
    fw = registered(cs, firmware, CONFIRM) if case == "no root installed" else with_root(cs, firmware, signers)
    signer = {
        "no root installed": signers["leaf"].pem + signers["int"].pem,
        "stranger": signers["stranger"].pem,
        "expired": signers["expired"].pem + signers["int"].pem,
        "missing intermediate": signers["leaf"].pem,
        "not pem": "a certificate",
    }[case]
    assert signed_update(cs, files.url("fw.bin"), signer, b"sig") == "InvalidCertificate"
    fw.wait_log("InvalidFirmwareSigningCertificate")
    assert files.requests == []


@pytest.mark.parametrize("case", ["tampered", "other key"])
def test_a_signature_that_does_not_verify_never_switches(cs, firmware, files, signers, bundle, case):
    """L01: a file changed after signing (with a header that matches the change) or signed by another key:
    InvalidSignature after Downloaded, the InvalidFirmwareSignature event, no reboot, the old version answers."""
    payload = bundle.split(b"\n", 1)[1]
    tampered = bytearray(payload)
    tampered[len(tampered) // 2] ^= 1
    tampered = make_update.header("bundle", NEW, bytes(tampered)) + bytes(tampered)
    served = tampered if case == "tampered" else bundle
    key = signers["leaf"].key if case == "tampered" else signers["other_key"].key
    files.files["fw.bin"] = served
    fw = with_root(cs, firmware, signers)
    assert signed_update(cs, files.url("fw.bin"), signers["leaf"].pem + signers["int"].pem, openssl_sign(key, bundle)) == "Accepted"
    wait_signed(cs, "InvalidSignature")
    assert signed_statuses(cs) == ["Downloading", "Downloaded", "InvalidSignature"]
    fw.wait_log("InvalidFirmwareSignature")
    assert fw.proc.poll() is None
    assert not (fw.flash / "app" / "a").exists()
    assert cs.call(CP, call.TriggerMessage(requested_message="FirmwareStatusNotification")).status == "Accepted"


def test_a_truncated_signed_download_fails_its_retries(cs, firmware, files, signers, bundle):
    """L01: cut short by the server: DownloadFailed once the retries are spent, never a signature check."""
    files.files["fw.bin"] = bundle
    files.plan["fw.bin"] = ["truncate", "truncate"]
    fw = with_root(cs, firmware, signers)
    chain = signers["leaf"].pem + signers["int"].pem
    assert signed_update(cs, files.url("fw.bin"), chain, openssl_sign(signers["leaf"].key, bundle), retries=1, retry_interval=0) == "Accepted"
    wait_signed(cs, "DownloadFailed")
    assert signed_statuses(cs) == ["Downloading", "Downloading", "DownloadFailed"]
    fw.wait_log("cut short")
    assert "signature verified" not in fw.log


def test_plain_update_needs_a_signed_file_once_a_manufacturer_root_is_installed(cs, firmware, files, signers, bundle, tmp_path):
    """Choice: UpdateFirmware of an unsigned file is InstallationFailed (and InvalidFirmwareSignature) while a
    ManufacturerRootCertificate is installed; a file signed by `make_update.py --signing-key` installs."""
    files.files["plain.bin"] = bundle
    chain = tmp_path / "chain.pem"
    chain.write_text(signers["leaf"].pem + signers["int"].pem)
    files.files["signed.bin"] = make_update.sign(bundle, signers["leaf"].key, chain)
    fw = with_root(cs, firmware, signers)
    update(cs, files.url("plain.bin"))
    wait_status(cs, "InstallationFailed")
    fw.wait_log("InvalidFirmwareSignature.*unsigned, and a ManufacturerRootCertificate is installed")
    assert not (fw.flash / "app" / "a").exists()
    update(cs, files.url("signed.bin"))
    fw = rebooted(cs, firmware, fw)
    wait_status(cs, "Installed")
    assert statuses(cs) == ["Downloading", "Downloaded", "InstallationFailed", "Downloading", "Downloaded", "Installing", "Installed"]
    assert boot_versions(cs)[-1] == NEW


def test_a_request_refused_inside_its_checks_is_a_callerror(cs, firmware, files, signers, bundle):
    """The reply computed after the certificate checks (rpc.py's deferred replies): a location this charger cannot
    fetch is still a PropertyConstraintViolation, and the link answers the next CALL."""
    fw = with_root(cs, firmware, signers)
    past = iso(datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=1))
    chain = signers["leaf"].pem + signers["int"].pem
    firmware_ = {"location": "sftp://127.0.0.1/fw.bin", "retrieveDateTime": past, "signingCertificate": chain, "signature": "c2ln"}
    reply = call_raw(cs, "SignedUpdateFirmware", {"requestId": 3, "firmware": firmware_})
    assert reply.kind == 4 and reply.msg[2] == "PropertyConstraintViolation", reply
    assert cs.call(CP, call.GetConfiguration(key=["CpoName"])).configuration_key[0]["key"] == "CpoName"
    assert fw.proc.poll() is None


def test_a_signing_certificate_that_no_longer_chains_after_the_download_is_invalid_signature(cs, firmware, files, signers, bundle):
    """L01: the manufacturer root deleted between the request and the download: the check after Downloaded fails on
    the certificate, reported as InvalidSignature (InvalidCertificate is a reply status, not one of
    SignedFirmwareStatusNotification's), so the central system accepts it and nothing switches."""
    files.files["fw.bin"] = bundle
    fw = with_root(cs, firmware, signers)
    chain = signers["leaf"].pem + signers["int"].pem
    retrieve = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=3)
    assert signed_update(cs, files.url("fw.bin"), chain, openssl_sign(signers["leaf"].key, bundle), retrieve=retrieve) == "Accepted"
    wait_signed(cs, "DownloadScheduled")
    hd = cs.call(CP, call.GetInstalledCertificateIds(certificate_type=MF_ROOT)).certificate_hash_data[0]
    hd = {k.split("_")[0] + "".join(w.title() for w in k.split("_")[1:]): v for k, v in hd.items()}
    assert cs.call(CP, call.DeleteCertificate(certificate_hash_data=hd)).status == "Accepted"
    fw.wait_log("InvalidFirmwareSigningCertificate", timeout=20)
    wait_signed(cs, "InvalidSignature")
    assert signed_statuses(cs) == ["DownloadScheduled", "Downloading", "Downloaded", "InvalidSignature"]
    # Answered, not refused: no CALLERROR from the central system, nothing sent again.
    assert [f for f in cs.frames if f.direction == "out" and f.kind == 4] == []
    assert fw.proc.poll() is None
    assert not (fw.flash / "app" / "a").exists()


@pytest.mark.parametrize("trigger", ["TriggerMessage", "ExtendedTriggerMessage"])
def test_a_trigger_during_a_signed_update_is_answered_with_its_signed_status(cs, firmware, files, signers, bundle, trigger):
    """Whitepaper edition 2, SignedFirmwareStatusNotification (L01): a signed update's states (DownloadScheduled,
    SignatureVerified, InstallScheduled, InstallRebooting) are not in OCPP 1.6's FirmwareStatusNotification
    (section 7.25 FirmwareStatus): a triggered FirmwareStatusNotification while one runs is its
    SignedFirmwareStatusNotification with the requestId, which the central system accepts, never a
    FirmwareStatusNotification it must refuse."""
    files.files["fw.bin"] = bundle
    fw = with_root(cs, firmware, signers)
    chain = signers["leaf"].pem + signers["int"].pem
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    assert signed_update(cs, files.url("fw.bin"), chain, openssl_sign(signers["leaf"].key, bundle), request_id=9, retrieve=later) == "Accepted"
    wait_signed(cs, "DownloadScheduled")
    assert cs.call(CP, getattr(call, trigger)(requested_message="FirmwareStatusNotification")).status == "Accepted"
    cs.wait_for(lambda fs: signed_statuses(cs).count("DownloadScheduled") == 2, 10, "a second DownloadScheduled")
    assert {f.payload["requestId"] for f in cs.received("SignedFirmwareStatusNotification")} == {9}
    assert statuses(cs) == []
    assert [f for f in cs.frames if f.direction == "out" and f.kind == 4] == []
    assert fw.proc.poll() is None


def test_a_request_after_the_switch_does_not_cancel_its_reboot(cs, firmware, files, signers, bundle):
    """L01: once the switch is on flash (state.json's trial) the reboot into it must follow. A second
    SignedUpdateFirmware while InstallRebooting waits for its answer cancelled that reboot: the old version kept
    running with the trial armed on flash, and whatever reboot came next (a power cut weeks later) would start a
    firmware nobody asked for any more. The reboot goes on; the new request waits on flash for after it."""
    files.files["fw.bin"] = bundle
    fw = with_root(cs, firmware, signers, dict(CONFIRM, ocpp={"messageTimeout": 10}))
    chain = signers["leaf"].pem + signers["int"].pem
    sig = openssl_sign(signers["leaf"].key, bundle)
    assert signed_update(cs, files.url("fw.bin"), chain, sig, request_id=1) == "Accepted"
    wait_signed(cs, "SignatureVerified")
    cs.ignore_actions.add("SignedFirmwareStatusNotification")  # Installing and InstallRebooting wait for an answer
    fw.wait_log("installed, rebooting into it", timeout=20)
    assert signed_update(cs, files.url("missing.bin"), chain, sig, request_id=2, retries=0) == "Accepted"
    assert fw.wait_exit(30) == EXIT_HARD_RESET
    cs.ignore_actions.discard("SignedFirmwareStatusNotification")
    fw = again(cs, firmware, fw)
    fw.wait_log(r"loader: trying %s \(slot a\)" % NEW)
    fw.wait_log("confirmed: Accepted on its trial boot")
    assert boot_versions(cs) == [OLD, NEW]
    wait_signed(cs, "DownloadFailed")  # then the second request, from flash
    ids = [(f.payload["status"], f.payload["requestId"]) for f in cs.received("SignedFirmwareStatusNotification")]
    assert ids[-3:] == [("Installed", 1), ("Downloading", 2), ("DownloadFailed", 2)], ids


def test_extended_trigger_with_no_update_is_a_signed_idle(cs, firmware):
    """Whitepaper 5.5 (ExtendedTriggerMessage FirmwareStatusNotification triggers SignedFirmwareStatusNotification)
    and 5.19: with no update under way its status is Idle, without a requestId. TriggerMessage keeps 1.6's
    FirmwareStatusNotification Idle."""
    registered(cs, firmware)
    assert cs.call(CP, call.ExtendedTriggerMessage(requested_message="FirmwareStatusNotification")).status == "Accepted"
    got = cs.wait_received("SignedFirmwareStatusNotification")
    assert [f.payload for f in got] == [{"status": "Idle"}]
    assert cs.call(CP, call.TriggerMessage(requested_message="FirmwareStatusNotification")).status == "Accepted"
    wait_status(cs, "Idle")
    assert statuses(cs) == ["Idle"]
