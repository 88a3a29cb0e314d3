"""GetDiagnostics and the persistent log on flash (DIAG-01..DIAG-12), the firmware on the MicroPython
unix port against the test central system and a real HTTP(S) upload server (harness/http_server.py).

The log ring is read from outside, as files in the flash directory; uploads are what the server got.
"""

import re
import signal
import subprocess
import time

import pytest
from ocpp.v16 import call

from harness.firmware import MICROPYTHON, MICROPYPATH, run_micropython
from harness.http_server import FileServer, server_tls
from harness.pki import make_pki
from harness.wire import call_raw

KEY = "Diag0Secret0Key0XyZ"  # 19 printable characters (SEC-04)
NEW_KEY = "0123456789abcdef0123456789abcdef"  # 32 hex digits
STAMP = re.compile(rb"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) ")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def server():
    srv = FileServer().start()
    yield srv
    srv.stop()


def registered(cs, firmware, config, **kw):
    fw = firmware(cs.port, config, **kw)
    fw.wait_log("registration Accepted")
    return fw


def statuses(cs):
    return [f.payload["status"] for f in cs.received("DiagnosticsStatusNotification")]


def wait_status(cs, count, timeout=10.0):
    cs.wait_received("DiagnosticsStatusNotification", count=count, timeout=timeout)
    return statuses(cs)


def ring_lines(flash):
    # The ring's lines, oldest first (N-1.txt .. 0.txt).
    files = sorted((flash / "log").glob("*.txt"), key=lambda p: -int(p.stem))
    return [line for p in files for line in p.read_bytes().splitlines()]


def until(predicate, timeout=5.0, what="condition"):
    # Polls a file-system condition (the firmware prints a line, then writes it to flash).
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("no %s within %.1f s" % (what, timeout))
        time.sleep(0.02)


def log_section(body):
    return body.split(b"\n## log ", 1)[1].split(b"\n", 1)[1].splitlines()


def stamps(lines):
    return [m.group(1).decode() for m in (STAMP.match(line) for line in lines) if m]


def get_diagnostics(cs, location, **kw):
    return cs.call("CP001", call.GetDiagnostics(location=location, **kw)).file_name


def trigger(cs):
    return cs.call("CP001", call.TriggerMessage(requested_message="DiagnosticsStatusNotification")).status


def test_upload_snapshot_window_secrets_and_refusals(cs, firmware, server):
    """DIAG-01, DIAG-02, DIAG-03, DIAG-04, DIAG-05, DIAG-06, DIAG-07, DIAG-10, DIAG-12, TM-07: Trigger -> Idle; an
    upload to location + fileName carries the snapshot and the log; a window keeps only its lines; a 405 to the PUT
    is retried as a multipart POST; 403 each time -> `retries` attempts, then UploadFailed; no secret anywhere; after
    a SIGKILL and a restart the ring still holds the first run's lines."""
    cfg = {"centralSystem": {"authorizationKey": KEY}, "log": {"level": "info", "flashLevel": "debug"}}
    fw = registered(cs, firmware, cfg)
    # A new key over OCPP: its frame is withheld, the key masked from here on (SEC-10).
    assert cs.call("CP001", call.ChangeConfiguration(key="AuthorizationKey", value=NEW_KEY)).status == "Accepted"
    fw.wait_log("dropping the connection: new AuthorizationKey")
    cs.wait_for(lambda fs: len(cs.connections) == 2, 10, "the reconnection with the new key")
    assert trigger(cs) == "Accepted"
    assert wait_status(cs, 1) == ["Idle"]  # TM-07: nothing going on

    name = get_diagnostics(cs, server.url(""))  # ends in "/": PUT to location + fileName
    assert re.fullmatch(r"CP001-\d{8}T\d{6}Z\.txt", name)
    body = server.wait_upload(name)
    assert wait_status(cs, 3) == ["Idle", "Uploading", "Uploaded"]
    assert server.requests[0][0] == "PUT"
    text = body.decode()
    assert "chargePointVendor: TestVendor" in text and "firmware: uocpp " in text and "heap: alloc=" in text
    assert "HeartbeatInterval=60" in text and "\n0: Available" in text and "\n1: Available" in text
    assert "AuthorizationKey=" not in text  # a write-only key is left out
    logged = log_section(body)
    assert any(b"registration Accepted" in line for line in logged)
    assert any(b"dropping the connection: new AuthorizationKey" in line for line in logged)
    assert (fw.flash / "diag" / name).read_bytes() == body

    # PUT refused with 405: POST multipart/form-data at once, field "file" (DIAG-05).
    server.plan["post.txt"] = [405]
    name3 = get_diagnostics(cs, server.url("post.txt"))
    body3 = server.wait_upload("post.txt")
    assert server.filenames["post.txt"] == name3 and b"## identity" in body3
    assert [r[0] for r in server.requests if r[1] == "/post.txt"] == ["PUT", "POST"]
    assert wait_status(cs, 5)[3:] == ["Uploading", "Uploaded"]

    # 403 every time: `retries` attempts, retryInterval apart, then UploadFailed (DIAG-06).
    server.plan["no.txt"] = [403] * 5
    t0 = time.monotonic()
    get_diagnostics(cs, server.url("no.txt"), retries=3, retry_interval=1)
    assert wait_status(cs, 7)[5:] == ["Uploading", "UploadFailed"]
    assert [r[0] for r in server.requests if r[1] == "/no.txt"] == ["PUT"] * 3
    assert time.monotonic() - t0 >= 1.8

    # A window: only the lines stamped within it (DIAG-04). The lines so far span three seconds or more.
    seconds = sorted(set(stamps(ring_lines(fw.flash))))
    assert len(seconds) >= 3
    start, stop = seconds[1], seconds[-2]
    name2 = get_diagnostics(cs, server.url("win.txt"), start_time=start, stop_time=stop)
    body2 = server.wait_upload("win.txt")
    assert wait_status(cs, 9)[7:] == ["Uploading", "Uploaded"]
    logged2 = log_section(body2)
    inside = stamps(logged2)
    assert inside and len(inside) == len(logged2) and all(start <= s <= stop for s in inside)
    expected = [line for line in ring_lines(fw.flash) if STAMP.match(line) and start <= STAMP.match(line).group(1).decode() <= stop]
    assert logged2 == expected
    assert sorted(p.name for p in (fw.flash / "diag").iterdir()) == [name2]  # only the newest file kept

    # Credentials in the location: a Basic header for the server, "***@" in the frame the ring logs at debug.
    get_diagnostics(cs, "http://diag:Cred0Secret@127.0.0.1:%d/cred.txt" % server.port)
    assert b"## identity" in server.wait_upload("cred.txt")
    assert wait_status(cs, 11)[9:] == ["Uploading", "Uploaded"]
    assert [r[2]["Authorization"] for r in server.requests if r[1] == "/cred.txt"] == ["Basic ZGlhZzpDcmVkMFNlY3JldA=="]
    assert any(b"http://***@127.0.0.1" in line for line in ring_lines(fw.flash))

    for secret in (KEY, NEW_KEY, "Cred0Secret"):
        assert secret not in fw.log
        for upload in server.uploads.values():
            assert secret.encode() not in upload
        assert all(secret.encode() not in line for line in ring_lines(fw.flash))

    # SIGKILL, restart: the ring holds every line of the first run and goes on after them (DIAG-12).
    fw.kill()
    before = ring_lines(fw.flash)
    fw2 = registered(cs, firmware, cfg, workdir=fw.workdir)
    until(lambda: any(b"registration Accepted" in line for line in ring_lines(fw2.flash)[len(before) :]), what="the second boot on flash")
    assert ring_lines(fw2.flash)[: len(before)] == before


def test_a_retry_interval_over_a_day_is_refused(cs, firmware, server):
    """GetDiagnostics and GetLog with a retryInterval past UpdateFirmware's bound (a day): the wait after a failed
    attempt overflowed asyncio's ticks (10**16 s here; on a 32-bit board a week is enough), which ended the upload's
    task with Uploading as its last status, never UploadFailed. Now a PropertyConstraintViolation, nothing
    uploaded; a day is still taken."""
    fw = registered(cs, firmware, {})
    server.plan["big.txt"] = [403] * 3
    url = server.url("big.txt")
    for action, payload in (
        ("GetDiagnostics", {"location": url, "retries": 2, "retryInterval": 10**16}),
        ("GetDiagnostics", {"location": url, "retryInterval": 86401}),
        ("GetLog", {"log": {"remoteLocation": url}, "logType": "DiagnosticsLog", "requestId": 1, "retries": 2, "retryInterval": 10**16}),
    ):
        reply = call_raw(cs, action, payload)
        assert reply.kind == 4 and reply.msg[2] == "PropertyConstraintViolation", (action, reply.msg)
    assert [r for r in server.requests if r[1] == "/big.txt"] == []
    assert cs.received("DiagnosticsStatusNotification") == [] and cs.received("LogStatusNotification") == []
    assert call_raw(cs, "GetDiagnostics", {"location": server.url("day.txt"), "retryInterval": 86400}).kind == 3
    server.wait_upload("day.txt")
    assert fw.proc.poll() is None


def test_https_stall_unsupported_scheme_and_trigger_while_uploading(cs, firmware, pki):
    """DIAG-05, DIAG-06, DIAG-08, DIAG-09, TM-07: an upload over HTTPS (the CA from diagnostics.caFile); a second
    request replaces a running one; a stalled server times out on every attempt -> UploadFailed, and a trigger
    meanwhile says Uploading; a scheme other than http(s) and ftp(s) is refused."""
    srv = FileServer(tls=server_tls(pki)).start()
    try:
        cfg = {"diagnostics": {"caFile": str(pki.ca_der), "timeout": 0.5}}
        registered(cs, firmware, cfg)
        name = get_diagnostics(cs, srv.url("tls.txt"))
        assert b"## identity" in srv.wait_upload("tls.txt") and name
        assert wait_status(cs, 2) == ["Uploading", "Uploaded"]

        # A GetDiagnostics while one runs replaces it (DIAG-08): the stalled one is not retried.
        srv.plan["slow.txt"] = ["stall"]
        get_diagnostics(cs, srv.url("slow.txt"), retries=3, retry_interval=1)
        srv.wait_requests(2)
        get_diagnostics(cs, srv.url("again.txt"))
        assert b"## identity" in srv.wait_upload("again.txt")
        assert wait_status(cs, 5)[2:] == ["Uploading", "Uploading", "Uploaded"]

        srv.plan["stall.txt"] = ["stall", "stall"]
        get_diagnostics(cs, srv.url("stall.txt"), retries=2, retry_interval=1)
        srv.wait_requests(4)
        assert trigger(cs) == "Accepted"
        assert wait_status(cs, 7)[5:] == ["Uploading", "Uploading"]  # TM-07: the trigger's is Uploading
        assert wait_status(cs, 8, timeout=10)[7] == "UploadFailed"
        assert [r[0] for r in srv.requests if r[1] == "/stall.txt"] == ["PUT", "PUT"]
        assert [r[1] for r in srv.requests].count("/slow.txt") == 1  # 2 s later: the replaced one stayed stopped

        # An unsupported scheme: no fileName, then UploadFailed (DIAG-09; FTP: tests/test_ftp.py).
        reply = cs.call("CP001", call.GetDiagnostics(location="sftp://user:pw@127.0.0.1/diag/"))
        assert reply.file_name is None
        assert wait_status(cs, 9)[8] == "UploadFailed"
    finally:
        srv.stop()


def test_a_reset_during_an_upload_ends_it_with_upload_failed(cs, firmware, server):
    """OCPP 1.6 4.4: the charge point sends DiagnosticsStatusNotification to say the upload is busy or has finished
    successfully or failed. A Soft reset while an upload ran dropped it with the old app's loop: Uploading was the
    last word the central system got, for good. The reset ends it with UploadFailed, sent before the restart."""
    registered(cs, firmware, {"diagnostics": {"timeout": 60}})
    server.plan["reset.txt"] = ["stall"]
    get_diagnostics(cs, server.url("reset.txt"), retries=1)
    server.wait_requests(1)
    assert wait_status(cs, 1) == ["Uploading"]
    assert call_raw(cs, "Reset", {"type": "Soft"}).msg[2] == {"status": "Accepted"}
    cs.wait_received("BootNotification", count=2, timeout=15)
    boot = cs.received().index(cs.received("BootNotification")[1])
    assert [f.payload["status"] for f in cs.received()[:boot] if f.action == "DiagnosticsStatusNotification"] == ["Uploading", "UploadFailed"]


# The ring on its own, on MicroPython: `count` lines through log.py into a small ring.
_RING = """
from uocpp import log
log.set_level("error")
log.open_ring(%(dir)r, "info", %(total)d, %(files)d)
for i in range(%(count)d):
    log.info("t", "line %%05d %%s", i, "x" * (i %% 40))
"""


def test_log_ring_wraps_within_its_bounds(tmp_path):
    """DIAG-11: at most flashFiles files, each within flashBytes / flashFiles; the newest lines kept, the oldest gone.
    (180 lines of about 40 B: within the 8 KB a minute the general log may write, log_ring.py.)"""
    d = tmp_path / "log"
    res = run_micropython(_RING % {"dir": str(d), "total": 3000, "files": 3, "count": 180})
    assert res.returncode == 0, res.stderr
    files = sorted(d.iterdir())
    assert [p.name for p in files] == ["0.txt", "1.txt", "2.txt"]
    assert all(p.stat().st_size <= 1000 for p in files)
    lines = ring_lines(tmp_path)
    numbers = [int(re.search(rb"line (\d+)", line).group(1)) for line in lines]
    assert numbers == list(range(numbers[0], 180))  # in order, none missing, up to the newest
    assert numbers[0] > 90  # the oldest gone
    assert all(line.startswith(b"+") and b" I t: line " in line for line in lines)  # clock not set: uptime stamps


_FAILING = """
from uocpp import log
log.open_ring(%(dir)r, %(level)r, 4096, 2)
for i in range(5):
    log.info("t", "line %%d", i)
print("done")
"""


def test_log_ring_off_and_failing_flash_never_raise(tmp_path):
    """DIAG-11: flashLevel "off" writes nothing; a flash that fails (here: the ring's directory under a file) costs one
    console line, never an exception, and the console lines stay as they are."""
    res = run_micropython(_FAILING % {"dir": str(tmp_path / "log"), "level": "off"})
    assert res.returncode == 0 and "done" in res.stdout and not (tmp_path / "log").exists(), res.stderr
    (tmp_path / "file").write_text("")
    res = run_micropython(_FAILING % {"dir": str(tmp_path / "file" / "log"), "level": "info"})
    assert res.returncode == 0 and res.stdout.splitlines()[-1] == "done", res.stdout + res.stderr
    lines = res.stdout.splitlines()
    assert len([line for line in lines if " W log: flash log paused for 60 s" in line]) == 1
    assert [re.sub(r"^\d+\.\d{3} ", "", line) for line in lines if " I t: " in line] == ["I t: line %d" % i for i in range(5)]


_FOREVER = """
from uocpp import log
log.open_ring(%(dir)r, "info", 1048576, 2)
i = 0
while True:
    log.info("t", "line %%06d", i)
    i += 1
"""


def test_sigkill_while_logging_loses_at_most_the_last_line(tmp_path):
    """DIAG-12: SIGKILL in the middle of logging: the ring stays readable, every line but the last printed is there,
    and a restart goes on appending after them."""
    d = tmp_path / "log"
    env = {"MICROPYPATH": MICROPYPATH, "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen([MICROPYTHON, "-c", _FOREVER % {"dir": str(d)}], stdout=subprocess.PIPE, env=env)
    printed = []
    for raw in proc.stdout:
        printed.append(int(raw.split(b"line ")[1]))
        if len(printed) >= 300:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(5)
    # A line is printed, then written to flash: only the one being written when the signal came may be
    # missing (the lines printed after the 300th are still in the pipe).
    ring = [int(line.split(b"line ")[1]) for line in ring_lines(tmp_path)]
    assert ring == list(range(len(ring))) and len(ring) >= len(printed) - 1
    res = run_micropython(_RING % {"dir": str(d), "total": 1048576, "files": 2, "count": 3})
    assert res.returncode == 0, res.stderr
    after = ring_lines(tmp_path)
    assert [int(line.split(b"line ")[1].split()[0]) for line in after] == list(range(len(ring))) + [0, 1, 2]
