"""The firmware's HTTP client (lib/uocpp/link/http.py) on the MicroPython unix port against a real
HTTP(S) server (harness/http_server.py) on 127.0.0.1, with openssl-made certificates.

Covers the transport under FW-* (UpdateFirmware downloads) and DIAG-* (GetDiagnostics uploads):
bodies stream through a small buffer, every failure is an exception with a reason, and TLS checks
the CA and the host name as the OCPP link does (SEC-07, SEC-08).
"""

import datetime
import hashlib
import http.server
import json
import os
import socket
import threading

import pytest
from ocpp.v16 import call

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


def test_a_relative_redirect_is_resolved_against_the_request_uri(server, tmp_path):
    """RFC 7231 7.1.2: Location is a URI-reference, resolved against the effective request URI (RFC 3986 5.2):
    "real.bin" from /fw/alias.bin is /fw/real.bin, and "//host:port/path" (a network-path reference) names the
    host as well."""
    server.files["fw/real.bin"] = b"payload"
    server.plan["fw/alias.bin"] = [("redirect", "real.bin")]
    res = _run(_GET, url=server.url("fw/alias.bin"), out=str(tmp_path / "o"))
    assert res.get("ok") == 7, res
    server.plan["fw/net.bin"] = [("redirect", "//127.0.0.1:%d/fw/real.bin" % server.port)]
    res = _run(_GET, url=server.url("fw/net.bin"), out=str(tmp_path / "o"))
    assert res.get("ok") == 7, res
    assert [r[1] for r in server.requests] == ["/fw/alias.bin", "/fw/real.bin", "/fw/net.bin", "/fw/real.bin"]


def test_the_host_header_of_an_ipv6_literal_has_its_brackets(tmp_path):
    """RFC 7230 5.4: Host is the URI's authority; an IPv6 address in it is an IP-literal in brackets (RFC 3986
    3.2.2): http://[::1]:port/ sends "Host: [::1]:port", never "::1:port", which a server cannot split."""
    hosts = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hosts.append(self.headers["Host"])
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    class V6(http.server.ThreadingHTTPServer):
        address_family = socket.AF_INET6

    srv = V6(("::1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        port = srv.server_address[1]
        res = _run(_GET, url="http://[::1]:%d/f.bin" % port, out=str(tmp_path / "o"))
        assert res.get("ok") == 2, res
        assert hosts == ["[::1]:%d" % port]
    finally:
        srv.shutdown()
        srv.server_close()


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


@pytest.fixture()
def both(pki):
    """A plain and a TLS server (the CA: pki.ca_der)."""
    plain, tls = FileServer().start(), FileServer(tls=server_tls(pki)).start()
    yield plain, tls
    plain.stop()
    tls.stop()


def test_https_to_http_redirect_is_refused_for_download_and_upload(both, pki, tmp_path):
    """Issue 25: what starts over https:// never goes on over http://: a 302 on a download and a 307 on an upload to
    an http:// URL are HttpErrors with the redirect's status and a reason; the http:// server hears nothing."""
    plain, tls = both
    plain.files["fw.bin"] = b"evil"
    tls.plan["fw.bin"] = [("redirect", plain.url("fw.bin"))]
    res = _run(_GET, url=tls.url("fw.bin"), out=str(tmp_path / "o"), ca=str(pki.ca_der))
    assert res["error"] == "HttpError" and res["status"] == 302 and "https:// to http:// refused" in res["text"]
    src = tmp_path / "d"
    src.write_bytes(b"diagnostics")
    tls.plan["up"] = [("redirect", plain.url("up"))]
    res = _run(_SEND, url=tls.url("up"), src=str(src), length=11, multipart=False, ca=str(pki.ca_der))
    assert res["error"] == "HttpError" and res["status"] == 307 and "https:// to http:// refused" in res["text"]
    assert plain.requests == [] and tls.uploads == {}


def test_other_redirects_are_followed_for_download_and_upload(both, pki, tmp_path):
    """https:// -> https://, http:// -> https:// and http:// -> http:// redirects go on, for downloads (302) and
    uploads (307: the same method, the body sent again)."""
    plain, tls = both
    body = os.urandom(20_000)
    tls.files["b.bin"] = body
    tls.plan["a.bin"] = [("redirect", "/b.bin")]
    plain.plan["c.bin"] = [("redirect", tls.url("a.bin"))]
    res = _run(_GET, url=plain.url("c.bin"), out=str(tmp_path / "o"), ca=str(pki.ca_der))
    assert res == {"ok": len(body), "sha": hashlib.sha256(body).hexdigest()}
    assert [r[1] for r in plain.requests] == ["/c.bin"] and [r[1] for r in tls.requests] == ["/a.bin", "/b.bin"]
    data = os.urandom(30_000)
    src = tmp_path / "d"
    src.write_bytes(data)
    tls.plan["upa"] = [("redirect", "/upb")]
    plain.plan["upc"] = [("redirect", tls.url("upa"))]
    res = _run(_SEND, url=plain.url("upc"), src=str(src), length=len(data), multipart=False, ca=str(pki.ca_der))
    assert res == {"ok": 201} and tls.uploads == {"upb": data}
    plain.plan["upd"] = [("redirect", "/upe")]
    res = _run(_SEND, url=plain.url("upd"), src=str(src), length=len(data), multipart=True)
    assert res == {"ok": 200} and plain.uploads == {"upe": data}
    assert [r[:2] for r in plain.requests] == [("GET", "/c.bin"), ("PUT", "/upc"), ("POST", "/upd"), ("POST", "/upe")]


def test_refused_redirect_fails_the_transfer_with_its_status(cs, firmware, both, pki):
    """Issue 25, DIAG-06, FW-04: GetDiagnostics and UpdateFirmware over https:// redirected to http://: a log line
    that says why, UploadFailed and DownloadFailed once the retries are spent; nothing reaches the http:// server."""
    plain, tls = both
    tls.plan["d.txt"] = [("redirect", plain.url("d.txt"))] * 2
    tls.plan["fw.bin"] = [("redirect", plain.url("fw.bin"))] * 2
    cfg = {"diagnostics": {"caFile": str(pki.ca_der)}, "firmware": {"caFile": str(pki.ca_der), "retryInterval": 0}}
    fw = firmware(cs.port, cfg)
    fw.wait_log("registration Accepted")
    cs.call("CP001", call.GetDiagnostics(location=tls.url("d.txt"), retries=2, retry_interval=0))
    cs.wait_received("DiagnosticsStatusNotification", count=2, timeout=10)
    assert [f.payload["status"] for f in cs.received("DiagnosticsStatusNotification")] == ["Uploading", "UploadFailed"]
    fw.wait_log(r"refusing the HTTP 307 redirect from https://127.0.0.1:\d+/d.txt to http://127.0.0.1:\d+/d.txt", count=2)
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    cs.call("CP001", call.UpdateFirmware(location=tls.url("fw.bin"), retrieve_date=when, retries=1, retry_interval=0))
    cs.wait_for(lambda fs: "DownloadFailed" in [f.payload["status"] for f in cs.received("FirmwareStatusNotification")], 15, "DownloadFailed")
    assert [f.payload["status"] for f in cs.received("FirmwareStatusNotification")] == ["Downloading", "Downloading", "DownloadFailed"]
    fw.wait_log(r"refusing the HTTP 302 redirect from https://127.0.0.1:\d+/fw.bin to http://", count=2)
    assert plain.requests == []
