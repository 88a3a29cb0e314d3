"""A real HTTP(S) server on 127.0.0.1 for transfer tests (firmware downloads, diagnostics uploads).

FileServer(tmpdir, tls=None).start() serves
  GET  /<name>     the bytes in server.files[name] (whole, or as the plan says)
  PUT  /<name>     stores the body in server.uploads[name]
  POST /<name>     a multipart/form-data body: stores the file part's bytes in server.uploads[name]
and records every request in server.requests as (method, path, headers dict).

server.plan[name] = [step, ...] scripts the next answers for that name, one step per
request, then normal service:
  404, 500, ...        answer that status with an empty body
  "truncate"           declare the full Content-Length, send half, close
  "corrupt"            send the file with one byte flipped in the middle
  "stall"              accept, read the request, never answer (until stop())
  ("redirect", path)   302 to path (an upload: its body read, then 307 to path)
"""

import http.server
import ssl
import threading
from email.parser import BytesParser
from email.policy import HTTP


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, *args):
        pass

    def _step(self, name):
        srv = self.server.owner
        with srv.lock:
            srv.requests.append((self.command, self.path, dict(self.headers.items())))
            steps = srv.plan.get(name)
            step = steps.pop(0) if steps else None
            srv.cond.notify_all()
        return step

    def _simple(self, code):
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        name = self.path.lstrip("/").split("?")[0]
        step = self._step(name)
        srv = self.server.owner
        if step == "stall":
            srv.stalled.wait(60)
            return
        if isinstance(step, tuple) and step[0] == "redirect":
            self.send_response(302)
            self.send_header("Location", step[1])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if isinstance(step, int):
            return self._simple(step)
        body = srv.files.get(name)
        if body is None:
            return self._simple(404)
        if step == "corrupt":
            mid = len(body) // 2
            body = body[:mid] + bytes([body[mid] ^ 0xFF]) + body[mid + 1 :]
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if step == "truncate":
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def _body(self):
        length = int(self.headers.get("Content-Length", "0"))
        return self.rfile.read(length)

    def _upload_planned(self, name):
        # True when the plan answered this upload (a status, or a stall).
        step = self._step(name)
        if step == "stall":
            self.server.owner.stalled.wait(60)
            return True
        if isinstance(step, int):
            self._simple(step)
            return True
        if isinstance(step, tuple) and step[0] == "redirect":
            self._body()
            self.send_response(307)
            self.send_header("Location", step[1])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return True
        return False

    def do_PUT(self):
        name = self.path.lstrip("/")
        if self._upload_planned(name):
            return
        self.server.owner.store(name, self._body())
        self._simple(201)

    def do_POST(self):
        name = self.path.lstrip("/")
        if self._upload_planned(name):
            return
        raw = self._body()
        head = ("Content-Type: %s\r\n\r\n" % self.headers.get("Content-Type", "")).encode()
        msg = BytesParser(policy=HTTP).parsebytes(head + raw)
        parts = [p for p in msg.iter_parts() if p.get_filename()] if msg.is_multipart() else []
        if len(parts) != 1:
            return self._simple(400)
        self.server.owner.store(name, parts[0].get_payload(decode=True), parts[0].get_filename())
        self._simple(200)


class FileServer:
    def __init__(self, tls=None):
        # tls: a server ssl.SSLContext (harness/pki.py server_context) or None.
        self.files = {}
        self.uploads = {}
        self.filenames = {}
        self.plan = {}
        self.requests = []
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.stalled = threading.Event()
        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.owner = self
        if tls is not None:
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True, do_handshake_on_connect=False)
        self.port = self._httpd.server_address[1]
        self.scheme = "https" if tls is not None else "http"

    def url(self, name):
        return "%s://127.0.0.1:%d/%s" % (self.scheme, self.port, name)

    def start(self):
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self.stalled.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def store(self, name, body, filename=None):
        with self.lock:
            self.uploads[name] = body
            self.filenames[name] = filename
            self.cond.notify_all()

    def wait_upload(self, name, timeout=10.0):
        with self.lock:
            if not self.cond.wait_for(lambda: name in self.uploads, timeout):
                raise TimeoutError("no upload of %s within %.1f s; requests: %r" % (name, timeout, self.requests))
            return self.uploads[name]

    def wait_requests(self, count, timeout=10.0):
        with self.lock:
            if not self.cond.wait_for(lambda: len(self.requests) >= count, timeout):
                raise TimeoutError("%d of %d requests within %.1f s" % (len(self.requests), count, timeout))
            return list(self.requests)


def server_tls(pki):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*pki.server)
    return ctx
