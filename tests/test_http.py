"""The firmware's HTTP client (lib/uocpp/link/http.py) on the MicroPython unix port against a real
HTTP(S) server (harness/http_server.py) on 127.0.0.1, with openssl-made certificates.

Covers the transport under FW-* (UpdateFirmware downloads) and DIAG-* (GetDiagnostics uploads):
bodies stream through a small buffer, every failure is an exception with a reason, and TLS checks
the CA and the host name as the OCPP link does (SEC-07, SEC-08).
"""

import hashlib
import json
import os

import pytest

from harness.net import free_port
from harness.firmware import run_micropython
from harness.http_server import FileServer, server_tls
from harness.pki import make_pki

# Downloads url into a file, then prints one JSON line: {"ok": bytes, "sha": hex} or {"error": ...}.
_GET = """
import asyncio, hashlib, binascii, json
from uocpp.link import http
h = hashlib.sha256()
f = open(%(out)r, "wb")
def sink(mv):
    h.update(mv)
    f.write(mv)
async def main():
    try:
        n = await http.get(%(url)r, sink, ca_file=%(ca)r, timeout=%(timeout)r)
        print(json.dumps({"ok": n, "sha": binascii.hexlify(h.digest()).decode()}))
    except Exception as e:
        print(json.dumps({"error": type(e).__name__, "status": getattr(e, "status", None), "text": str(e)}))
asyncio.run(main())
f.close()
"""

_SEND = """
import asyncio, json
from uocpp.link import http
async def main():
    f = open(%(src)r, "rb")
    n = %(length)d
    try:
        if %(multipart)r:
            ctype, head, tail = http.multipart("file", "diag.txt", "b0undary42")
            code = await http.send("POST", %(url)r, f, n, ca_file=%(ca)r, timeout=%(timeout)r, content_type=ctype, head=head, tail=tail)
        else:
            code = await http.send("PUT", %(url)r, f, n, ca_file=%(ca)r, timeout=%(timeout)r)
        print(json.dumps({"ok": code}))
    except Exception as e:
        print(json.dumps({"error": type(e).__name__, "status": getattr(e, "status", None), "text": str(e)}))
asyncio.run(main())
"""


def _run(code, **kw):
    kw.setdefault("ca", None)
    kw.setdefault("timeout", 5)
    proc = run_micropython(code % kw, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture()
def server():
    srv = FileServer().start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


def test_download_streams_the_whole_body(server, tmp_path):
    body = os.urandom(200_000)
    server.files["fw.bin"] = body
    out = tmp_path / "out.bin"
    res = _run(_GET, url=server.url("fw.bin"), out=str(out))
    assert res == {"ok": len(body), "sha": hashlib.sha256(body).hexdigest()}
    assert out.read_bytes() == body
    method, path, headers = server.requests[0]
    assert (method, path, headers["Host"]) == ("GET", "/fw.bin", "127.0.0.1:%d" % server.port)


def test_status_other_than_200_is_an_error_with_the_status(server, tmp_path):
    server.files["fw.bin"] = b"x" * 10
    server.plan["fw.bin"] = [500]
    res = _run(_GET, url=server.url("fw.bin"), out=str(tmp_path / "o"))
    assert res["error"] == "HttpError" and res["status"] == 500 and "HTTP 500" in res["text"]
    res = _run(_GET, url=server.url("missing.bin"), out=str(tmp_path / "o"))
    assert res["status"] == 404


def test_truncated_body_is_detected(server, tmp_path):
    server.files["fw.bin"] = os.urandom(10_000)
    server.plan["fw.bin"] = ["truncate"]
    res = _run(_GET, url=server.url("fw.bin"), out=str(tmp_path / "o"))
    assert res["error"] == "HttpError" and "cut short: 5000 of 10000" in res["text"]


def test_redirect_is_followed_and_credentials_become_basic_auth(server, tmp_path):
    server.files["real.bin"] = b"payload"
    server.plan["alias.bin"] = [("redirect", "/real.bin")]
    url = "http://user:p%%40ss@127.0.0.1:%d/alias.bin" % server.port
    res = _run(_GET, url=url, out=str(tmp_path / "o"))
    assert res["ok"] == 7
    assert [r[1] for r in server.requests] == ["/alias.bin", "/real.bin"]
    # "user:p@ss" in base64, decoded from %40.
    assert server.requests[0][2]["Authorization"] == "Basic dXNlcjpwQHNz"


def test_a_stalled_server_times_out(server, tmp_path):
    server.files["fw.bin"] = b"x"
    server.plan["fw.bin"] = ["stall"]
    res = _run(_GET, url=server.url("fw.bin"), out=str(tmp_path / "o"), timeout=0.5)
    assert res["error"] == "TimeoutError"


def test_closed_port_is_an_oserror(tmp_path):
    url = "http://127.0.0.1:%d/fw.bin" % free_port()
    res = _run(_GET, url=url, out=str(tmp_path / "o"))
    assert res["error"] in ("OSError", "HttpError"), res


@pytest.mark.parametrize("multipart", [False, True])
def test_upload_put_and_multipart_post(server, tmp_path, multipart):
    data = os.urandom(70_000)
    src = tmp_path / "diag.txt"
    src.write_bytes(data)
    res = _run(_SEND, url=server.url("up/diag.txt"), src=str(src), length=len(data), multipart=multipart)
    assert res["ok"] in (200, 201)
    assert server.uploads["up/diag.txt"] == data
    method = server.requests[0][0]
    assert method == ("POST" if multipart else "PUT")
    if multipart:
        assert server.filenames["up/diag.txt"] == "diag.txt"


def test_upload_refused_is_an_error(server, tmp_path):
    src = tmp_path / "d"
    src.write_bytes(b"abc")
    server.plan["up"] = [403]
    res = _run(_SEND, url=server.url("up"), src=str(src), length=3, multipart=False)
    assert res["status"] == 403
    assert "up" not in server.uploads


def test_https_checks_the_ca_and_the_host(pki, tmp_path):
    body = os.urandom(50_000)
    srv = FileServer(tls=server_tls(pki)).start()
    try:
        srv.files["fw.bin"] = body
        res = _run(_GET, url=srv.url("fw.bin"), out=str(tmp_path / "o"), ca=str(pki.ca_der))
        assert res == {"ok": len(body), "sha": hashlib.sha256(body).hexdigest()}
        res = _run(_GET, url=srv.url("fw.bin"), out=str(tmp_path / "o"), ca=str(pki.other_ca_der))
        assert "error" in res and "ok" not in res
        # No CA at all: refused before connecting.
        res = _run(_GET, url=srv.url("fw.bin"), out=str(tmp_path / "o"))
        assert res["error"] == "ValueError" and "CA" in res["text"]
        assert len(srv.requests) == 1  # only the good one reached HTTP
    finally:
        srv.stop()
