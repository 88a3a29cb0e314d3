"""FTP and FTPS transfers (lib/uocpp/link/ftp.py, picked by lib/uocpp/link/transfer.py) against a real FTP
server started here (pyftpdlib: harness/ftp_server.py), FTPS with openssl-made certificates.

First the client alone on the MicroPython unix port (streaming, passive mode, binary, explicit FTPS with PROT P,
every refusal and stall an exception with a reason); then GetDiagnostics (DIAG-*) and UpdateFirmware (FW-*) end to
end: the firmware against the test central system and the FTP server, observed from outside (frames, the server's
files and commands, the log).
"""

import hashlib
import json
import os
import socket

import pytest
from ocpp.v16 import call

from harness.firmware import run_micropython
from harness.ftp_server import PASSWORD, FtpServer
from harness.pki import make_pki
from tests.test_firmware_update import CONFIRM, NEW, boot_versions, rebooted, update
from tests.test_firmware_update import statuses as fw_statuses
from tests.test_firmware_update import wait_status as fw_wait
from harness.wire import call_raw

# Downloads url, then uploads the file src: one JSON line each, {"ok": ...} or {"error": ...}.
_CLIENT = """
import asyncio, hashlib, binascii, json
from uocpp.link import transfer
def report(coro):
    async def run():
        try:
            print(json.dumps({"ok": await coro}))
        except Exception as e:
            print(json.dumps({"error": type(e).__name__, "status": getattr(e, "status", None), "text": str(e)}))
    asyncio.run(run())
h = hashlib.sha256()
if %(get)r:
    report(transfer.download(%(get)r, h.update, %(ca)r, %(timeout)r))
    print(json.dumps({"sha": binascii.hexlify(h.digest()).decode()}))
if %(put)r:
    report(transfer.upload(%(put)r, %(src)r, %(length)d, "d.txt", %(ca)r, %(timeout)r))
"""


def client(get=None, put=None, src=None, length=0, ca=None, timeout=5):
    proc = run_micropython(_CLIENT % {"get": get, "put": put, "src": src and str(src), "length": length, "ca": ca and str(ca), "timeout": timeout}, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = [json.loads(line) for line in proc.stdout.strip().splitlines()]
    return out


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture()
def servers(tmp_path):
    made = []

    def make(**kw):
        srv = FtpServer(tmp_path / ("root%d" % len(made)), **kw).start()
        made.append(srv)
        return srv

    yield make
    for srv in made:
        srv.stop()


@pytest.mark.parametrize("secure", [False, True])
def test_download_and_upload_stream_in_binary_passive_mode(servers, pki, tmp_path, secure):
    """FW-*, DIAG-*: a 256 KB RETR and a 70 KB STOR arrive whole; TYPE I, EPSV; ftps:// is explicit FTPS: AUTH TLS
    before the credentials, PBSZ 0 and PROT P before any data connection."""
    srv = servers(tls=pki if secure else None)
    body = os.urandom(256 * 1024)
    srv.put("fw/fw.bin", body)
    os.makedirs(os.path.join(srv.root, "up"))
    data = os.urandom(70_000)
    (tmp_path / "src").write_bytes(data)
    got, sha, put = client(srv.url("fw/fw.bin"), srv.url("up/d.txt"), tmp_path / "src", len(data), pki.ca_der if secure else None)
    assert got == {"ok": len(body)} and sha == {"sha": hashlib.sha256(body).hexdigest()}
    assert put == {"ok": 226}
    assert srv.wait_upload("up/d.txt") == data
    verbs = srv.verbs()
    session = ["USER", "PASS", "TYPE", "EPSV"]
    if secure:
        session = ["AUTH", "USER", "PASS", "PBSZ", "PROT", "TYPE", "EPSV"]
    assert verbs == session + ["RETR", "QUIT"] + session + ["STOR", "QUIT"]
    assert ("TYPE", "I") in srv.commands and ("RETR", "fw/fw.bin") in srv.commands
    if secure:
        assert ("AUTH", "TLS") in srv.commands and ("PBSZ", "0") in srv.commands and ("PROT", "P") in srv.commands


def test_anonymous_pasv_fallback_and_escaped_credentials(servers, tmp_path):
    """Without a user: anonymous. A server without EPSV: PASV. %XX in the URL's user, password and path decoded."""
    srv = servers(epsv=False)
    srv.put("a b.bin", b"hello")
    [got, _] = client(srv.url("a%20b.bin", user=None))
    assert got == {"ok": 5}
    assert srv.commands[:2] == [("USER", "anonymous"), ("PASS", "uocpp@")]
    assert srv.verbs()[3:6] == ["EPSV", "PASV", "RETR"]
    [got, _] = client(srv.url("a%20b.bin", user="us%65r", password="p%77"))
    assert got == {"ok": 5}
    assert ("USER", "user") in srv.commands and ("PASS", PASSWORD) in srv.commands


def test_a_pasv_reply_without_parentheses(servers):
    """RFC 1123 4.1.2.6: the format of the 227 reply to PASV is not standardized; a client "cannot assume that the
    parentheses shown on page 40 of RFC-959 will be present" and must scan the reply for the first digit of the
    host and port numbers: "227 Entering passive mode 127,0,0,1,p1,p2." is a passive mode all the same."""
    srv = servers(epsv=False, pasv_bare=True)
    srv.put("f.bin", b"hello")
    [got, _] = client(srv.url("f.bin"))
    assert got == {"ok": 5}
    assert srv.verbs()[3:6] == ["EPSV", "PASV", "RETR"]


def test_a_120_greeting_is_followed_by_the_220(servers):
    """RFC 959 5.4, Connection Establishment: 120 then 220. A server not ready yet says "120 Service ready in nnn
    minutes" first; the client waits for its 220, it does not give up on the 120."""
    srv = servers(greet_120=True)
    srv.put("f.bin", b"hello")
    [got, _] = client(srv.url("f.bin"))
    assert got == {"ok": 5}
    assert srv.verbs()[:2] == ["USER", "PASS"]


def test_wrong_password_missing_file_and_wrong_ca_are_errors(servers, pki, tmp_path):
    """A 530 to PASS, a 550 to RETR: FtpError with the reply code; an FTPS server whose certificate does not chain
    to the CA gets no credentials."""
    srv = servers()
    [got, _] = client(srv.url("x.bin", password="wrong"))
    assert got["error"] == "FtpError" and got["status"] == 530 and got["text"].startswith("PASS: 530") and "wrong" not in got["text"]
    [got, _] = client(srv.url("missing.bin"))
    assert got["error"] == "FtpError" and got["status"] == 550 and "RETR missing.bin" in got["text"]
    tls = servers(tls=pki)
    [got, _] = client(tls.url("x.bin"), ca=pki.other_ca_der)
    assert "error" in got and "ok" not in got
    assert tls.verbs() == ["AUTH"]
    [got, _] = client(tls.url("x.bin"))
    assert got["error"] == "ValueError" and "CA" in got["text"]


def test_a_refused_prot_p_sends_nothing_in_clear(servers, pki, tmp_path):
    """An FTPS server that refuses PROT P (and would take data in clear) is refused: no data connection, no
    RETR, no STOR."""
    srv = servers(tls=pki, refuse_prot=True)
    srv.put("fw.bin", b"secret firmware")
    (tmp_path / "src").write_bytes(b"diagnostics")
    got, _, put = client(srv.url("fw.bin"), srv.url("d.txt"), tmp_path / "src", 11, pki.ca_der)
    for res in (got, put):
        assert res["error"] == "FtpError" and res["status"] == 534 and "refused PROT P" in res["text"]
    assert not {"EPSV", "PASV", "RETR", "STOR"} & set(srv.verbs())
    assert not (srv.root and os.path.exists(os.path.join(srv.root, "d.txt")))


@pytest.mark.parametrize("step", ["stall", "mute"])
def test_a_stalling_server_times_out_in_both_directions(servers, tmp_path, step):
    """A data connection that stops mid-transfer (stall) or a control connection that stops answering (mute), on
    a download and on an upload: a TimeoutError within the timeout, never a hang."""
    srv = servers()
    srv.put("fw.bin", os.urandom(256 * 1024))
    srv.plan["fw.bin"] = [step]
    srv.plan["d.txt"] = [step]
    data = os.urandom(64 * 1024)
    (tmp_path / "src").write_bytes(data)
    got, _, put = client(srv.url("fw.bin"), srv.url("d.txt"), tmp_path / "src", len(data), timeout=0.5)
    assert got["error"] == "TimeoutError" and put["error"] == "TimeoutError"
    assert srv.verbs().count("RETR") == 1 and srv.verbs().count("STOR") == 1


def test_a_server_that_never_greets_times_out():
    """A port that accepts the connection and never says 220: a TimeoutError, not a hang."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        [got, _] = client("ftp://127.0.0.1:%d/x.bin" % listener.getsockname()[1], timeout=0.5)
    assert got["error"] == "TimeoutError"


def test_no_command_injection_through_the_url(servers):
    """%0D%0A in the path, the user or the password would end the command and start another: refused before
    connecting."""
    srv = servers()
    srv.put("x.bin", b"x")
    for url in (srv.url("x.bin%0D%0ADELE%20x.bin"), srv.url("x.bin", user="user%0ADELE"), srv.url("x.bin", password="pw%0D%0ADELE%20x.bin")):
        [got, _] = client(url)
        assert got["error"] == "ValueError" and "CR or LF" in got["text"], got
    assert srv.commands == [] and srv.file("x.bin") == b"x"


def test_unsupported_scheme_is_refused(tmp_path):
    """link/transfer.py: a scheme other than http(s) and ftp(s) is a ValueError that names it."""
    [got, _] = client("sftp://127.0.0.1/fw.bin")
    assert got["error"] == "ValueError" and "sftp" in got["text"]


# -- GetDiagnostics -----------------------------------------------------------------------------------------


def diag_statuses(cs):
    return [f.payload["status"] for f in cs.received("DiagnosticsStatusNotification")]


def diag_wait(cs, count, timeout=15.0):
    cs.wait_received("DiagnosticsStatusNotification", count=count, timeout=timeout)
    return diag_statuses(cs)


def registered(cs, firmware, config=None):
    fw = firmware(cs.port, config)
    fw.wait_log("registration Accepted")
    return fw


@pytest.mark.parametrize("secure", [False, True])
def test_get_diagnostics_over_ftp(cs, firmware, servers, pki, secure):
    """DIAG-05, DIAG-06, DIAG-07: GetDiagnostics to an ftp:// or ftps:// directory. A wrong password: each of
    `retries` attempts refused (530), then UploadFailed. The right one: STOR of location + fileName, Uploading then
    Uploaded. The password never reaches the log (the URL's user:password@ masked)."""
    srv = servers(tls=pki if secure else None)
    os.makedirs(os.path.join(srv.root, "diag"))
    fw = registered(cs, firmware, {"diagnostics": {"caFile": str(pki.ca_der)}} if secure else None)
    cs.call("CP001", call.GetDiagnostics(location=srv.url("diag/", password="Ftp0Secret"), retries=2, retry_interval=0))
    assert diag_wait(cs, 2) == ["Uploading", "UploadFailed"]
    assert srv.verbs().count("PASS") == 2 and "STOR" not in srv.verbs()
    fw.wait_log(r"upload attempt 2 of 2 to %s://\*\*\*@127.0.0.1:\d+/diag/CP001-.* failed: FtpError\('PASS: 530" % srv.scheme)

    name = cs.call("CP001", call.GetDiagnostics(location=srv.url("diag/"))).file_name
    body = srv.wait_upload("diag/" + name)
    assert diag_wait(cs, 4)[2:] == ["Uploading", "Uploaded"]
    assert b"## identity" in body and (fw.flash / "diag" / name).read_bytes() == body
    fw.wait_log(r"uploaded to %s://\*\*\*@127.0.0.1" % srv.scheme)
    assert "Ftp0Secret" not in fw.log and ":%s@" % PASSWORD not in fw.log


def test_get_diagnostics_retries_a_stalled_upload(cs, firmware, servers):
    """DIAG-06: a server that stalls mid-upload (its data connection stops reading, its control connection says
    nothing): the attempt times out (diagnostics.timeout) and the next one, retryInterval later, goes through. A
    server that stalls on every attempt (control or data connection): UploadFailed once the retries are spent."""
    srv = servers()
    fw = registered(cs, firmware, {"diagnostics": {"timeout": 0.5}})
    srv.plan["d.txt"] = ["stall"]
    cs.call("CP001", call.GetDiagnostics(location=srv.url("d.txt"), retries=2, retry_interval=1))
    assert b"## identity" in srv.wait_upload("d.txt")
    assert diag_wait(cs, 2) == ["Uploading", "Uploaded"]
    assert srv.verbs().count("STOR") == 2
    # Stalled on every attempt, once on the control connection (no answer to STOR), once on the data one.
    srv.plan["e.txt"] = ["mute", "stall"]
    cs.call("CP001", call.GetDiagnostics(location=srv.url("e.txt"), retries=2, retry_interval=1))
    assert diag_wait(cs, 4)[2:] == ["Uploading", "UploadFailed"]
    assert srv.verbs().count("STOR") == 4 and "e.txt" not in srv.received
    fw.wait_log(r"upload attempt 2 of 2 to ftp://\*\*\*@127.0.0.1:\d+/e.txt failed: TimeoutError")


def test_unsupported_schemes_are_refused_before_anything_is_accepted(cs, firmware):
    """DIAG-09, FW-01: GetDiagnostics to sftp://: no fileName, then UploadFailed; UpdateFirmware from sftp://: a
    PropertyConstraintViolation, nothing on flash."""
    fw = registered(cs, firmware)
    assert cs.call("CP001", call.GetDiagnostics(location="sftp://127.0.0.1/diag/")).file_name is None
    assert diag_wait(cs, 1) == ["UploadFailed"]
    fw.wait_log("sftp: only http\\(s\\):// and ftp\\(s\\):// uploads are supported")
    reply = call_raw(cs, "UpdateFirmware", {"location": "sftp://127.0.0.1/fw.bin", "retrieveDate": "2026-01-01T00:00:00Z"})
    assert reply.kind == 4 and reply.msg[2] == "PropertyConstraintViolation", reply
    assert not (fw.flash / "app" / "state.json").exists() or "sftp" not in (fw.flash / "app" / "state.json").read_text()


# -- UpdateFirmware -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("secure", [False, True])
def test_update_firmware_over_ftp(cs, firmware, servers, pki, bundle, secure):
    """FW-01, FW-02, FW-04, FW-05: a real bundle over ftp:// or ftps:// end to end. The first download stalls
    mid-transfer (the timeout ends it), the second goes through: Downloading twice, Downloaded, Installing, reboot,
    the new version, Installed."""
    srv = servers(tls=pki if secure else None)
    srv.put("fw/fw.bin", bundle)
    srv.plan["fw/fw.bin"] = ["stall"]
    cfg = {"firmware": dict(CONFIRM["firmware"], timeout=1, caFile=str(pki.ca_der) if secure else "")}
    fw = registered(cs, firmware, cfg)
    update(cs, srv.url("fw/fw.bin"), retries=1, retry_interval=0)
    fw.wait_log("download failed: TimeoutError")
    fw = rebooted(cs, firmware, fw, timeout=30)
    fw_wait(cs, "Installed")
    assert fw_statuses(cs) == ["Downloading", "Downloading", "Downloaded", "Installing", "Installed"]
    assert boot_versions(cs)[-1] == NEW
    assert srv.verbs().count("RETR") == 2


def test_update_firmware_missing_file_is_download_failed(cs, firmware, servers):
    """FW-04: a file the server does not have (550): each attempt fails, then DownloadFailed; nothing switches."""
    srv = servers()
    fw = registered(cs, firmware, CONFIRM)
    update(cs, srv.url("none.bin"), retries=1, retry_interval=0)
    fw_wait(cs, "DownloadFailed")
    assert fw_statuses(cs) == ["Downloading", "Downloading", "DownloadFailed"]
    fw.wait_log(r"download failed: FtpError RETR none.bin: 550")
    assert srv.verbs().count("RETR") == 2 and fw.proc.poll() is None
