# The HTTP server both pages share: microdot with HTTP Basic auth on every
# route, a bound on request size, on time per request and on clients at once.
#
# A hostile browser (issue 25 item 5): once the installer has logged in, the
# browser sends Basic auth by itself with any request to the charger, also
# a form another site's page submits. So every request that is not a GET or
# HEAD must carry this server's token (made at start from os.urandom, never
# logged) as ?csrf= in its URL: the pages put it in their forms' action,
# and a page of another origin cannot read them (no CORS header is ever
# sent). Beside it, a request a browser marks as cross-site (Sec-Fetch-Site)
# or whose Origin is not this host is refused too. Refused: 403, before the
# handler reads a byte of the body, so nothing changes.
import asyncio
import binascii
import os
import time

from micropython import const

try:
    from microdot import Microdot, Request
except ImportError:
    # Said in one line where the page is wanted (main.py, app.py), never a traceback.
    raise ImportError("the web page needs microdot, which is not installed (lib/microdot/): make fetches it; "
                      "mpremote mip install with uocpp's package.json puts it on a board")

from uocpp import log, sleep
from uocpp.link.websocket import close_stream

_NORMAL_401 = const(10)  # requests without credentials a minute that are not worth a line
_REQUEST_S = const(10)  # a whole request, read and answered (slow clients too)
_CLIENTS = const(2)  # at once: each holds buffers, and the heap is small
_WAITING = const(4)  # connections waiting for one of those (a socket and a small task each)
_WAIT_MS = const(5000)  # the longest one waits
MAX_BODY = const(16384)  # larger -> 413 before a byte of the body is read
HTML = {"Content-Type": "text/html; charset=UTF-8"}

# Class attributes of microdot's Request: this is its only user.
Request.max_content_length = MAX_BODY
# Bodies up to this are read whole; larger ones (a CA upload) are streamed.
Request.max_body_length = 4096
Request.max_readline = 1024

_DENIED = ("Unauthorized", 401, {"WWW-Authenticate": 'Basic realm="uOCPP", charset="UTF-8"'})
_FORBIDDEN = ("Forbidden: not sent by this charger's own page", 403)


_HEAD_BYTES = const(4096)  # request line and headers, all told
_CHUNK = const(256)


class _Capped:
    # The client's stream as microdot reads it, with one budget for the whole
    # request (headers _HEAD_BYTES, body MAX_BODY): microdot bounds each
    # header line only after reading it whole, and not their number, so a
    # client could otherwise fill the heap before the password is checked.
    # Lines are read in small pieces, never more than the budget.
    def __init__(self, reader, budget):
        self._r = reader
        self._left = budget
        self._buf = b""

    async def _more(self, n):
        if self._left <= 0:
            raise OSError("request over %d B" % (_HEAD_BYTES + MAX_BODY))
        data = await self._r.read(min(n, self._left))
        self._left -= len(data)
        return data

    async def readline(self):
        while b"\n" not in self._buf:
            data = await self._more(_CHUNK)
            if not data:
                line, self._buf = self._buf, b""
                return line
            self._buf += data
        i = self._buf.index(b"\n") + 1
        line, self._buf = self._buf[:i], self._buf[i:]
        return line

    async def read(self, n=-1):
        if self._buf:
            data = self._buf if n < 0 else self._buf[:n]
            self._buf = self._buf[len(data) :]
            return data
        data = await self._more(_CHUNK if n < 0 else n)
        if not data and n:
            # The client closed before the end of its body: microdot's
            # multipart reader would ask again and again, busy, until _REQUEST_S.
            raise EOFError
        return data

    async def readexactly(self, n):
        out = b""
        while len(out) < n:
            data = await self.read(n - len(out))
            if not data:
                raise EOFError
            out += data
        return out


class _Quiet:
    # Refused requests on a WARNING line each would let anyone on the LAN
    # rewrite the flash log ring (the evidence GetDiagnostics uploads) and
    # wear the flash: the first is logged, the ones after it are counted and
    # logged as one line a minute while they go on.
    # With `normal` > 0 the kind is what every browser does (a first request
    # without credentials, answered by the password prompt): none is logged
    # alone, and the count only when more than `normal` came in a minute
    # (a scan, not a person).
    quiet_ms = 60000  # a class attribute, so that a test can shorten it

    def __init__(self, what, normal=0):
        self._what = what
        self._normal = normal
        self._held = None  # None: quiet; else how many were held back

    def warning(self, msg, *args):
        if self._held is not None:
            self._held += 1
            return
        self._held = 0
        if self._normal:
            self._held = 1
        else:
            log.warning("web", msg, *args)
        asyncio.create_task(self._report())

    async def _report(self):
        while True:
            await asyncio.sleep_ms(self.quiet_ms)
            n, self._held = self._held, 0
            if not n:
                self._held = None
                return
            if n > self._normal:
                log.warning("web", "%d %s%s in the last %d s", n, "" if self._normal else "more ", self._what, self.quiet_ms // 1000)


def _same(a, b):
    # Compares in a time that does not depend on where they differ.
    if len(a) != len(b):
        return False
    d = 0
    for x, y in zip(a, b):
        d |= x ^ y
    return d == 0


class Server(Microdot):
    def __init__(self, password):
        super().__init__()
        self._password = password.encode()
        self._clients = 0
        self._waiting = 0
        self._free = asyncio.Event()  # set when a client leaves
        # Apart: a browser's first request has no credentials, and it must
        # not hide a wrong password that follows. That first 401 is normal
        # (the browser then asks for the password): it is not logged, so it
        # never fills the flash log or the page's own log tail.
        self._no_credentials = _Quiet("requests without credentials refused (401)", _NORMAL_401)
        self._wrong_password = _Quiet("requests with a wrong password refused (401)")
        self._busy = _Quiet("connections refused (busy)")
        self._dropped = _Quiet("requests dropped")
        self._forged = _Quiet("cross-site requests refused (403)")
        self.after_response = None  # called once a response is written
        self.token = binascii.hexlify(os.urandom(16)).decode()
        self.before_request(self._auth)

    def _auth(self, req):
        # Any user name; the password is web.password (the AP password in
        # setup mode). Nothing is served without it, and it is never logged.
        h = req.headers.get("Authorization") or ""
        if h.startswith("Basic "):
            try:
                pair = binascii.a2b_base64(h[6:])
            except ValueError:
                pair = b""
            i = pair.find(b":")
            if i >= 0 and _same(pair[i + 1 :], self._password):
                return self._forgery(req)
        if h:
            self._wrong_password.warning("401 for %s %s: wrong password", req.method, req.path)
        else:
            self._no_credentials.warning("401 for %s %s: no credentials", req.method, req.path)
        return _DENIED

    def _forgery(self, req):
        # None for a request the charger's own page made (see the top).
        if req.method in ("GET", "HEAD"):
            return None
        h = req.headers
        why = None
        origin = h.get("Origin")
        if h.get("Sec-Fetch-Site") == "cross-site":
            why = "cross-site"
        elif origin and origin.split("://", 1)[-1] != h.get("Host"):
            why = "Origin " + origin[:60]
        elif not _same((req.args.get("csrf") or "").encode(), self.token.encode()):
            why = "no valid token"
        if why is None:
            return None
        self._forged.warning("403 for %s %s: %s", req.method, req.path, why)
        return _FORBIDDEN

    async def handle_request(self, reader, writer):
        # microdot's per-connection coroutine, bounded in time and in number.
        # A browser opens a connection or two ahead of use and may leave them
        # idle (until _REQUEST_S ends them), and the one before may still be
        # closing: a connection beyond _CLIENTS waits up to _WAIT_MS for a
        # free one rather than be reset, as long as few wait.
        if self._clients >= _CLIENTS and not await self._wait_turn():
            self._busy.warning("busy: connection refused (%d at once)", _CLIENTS)
            await close_stream(writer)
            return
        self._clients += 1
        try:
            await asyncio.wait_for(super().handle_request(_Capped(reader, _HEAD_BYTES + MAX_BODY), writer), _REQUEST_S)
        except Exception as e:  # a timeout, a reset, a broken request: only this one ends
            self._dropped.warning("request dropped (%s)", type(e).__name__)
            await close_stream(writer)
        finally:
            self._clients -= 1
            self._free.set()
        if self.after_response:
            self.after_response()

    async def _wait_turn(self):
        # True once fewer than _CLIENTS are served; False when _WAITING wait
        # already or the time ran out.
        if self._waiting >= _WAITING:
            return False
        self._waiting += 1
        try:
            end = time.ticks_add(time.ticks_ms(), _WAIT_MS)
            while self._clients >= _CLIENTS:
                self._free.clear()
                left = time.ticks_diff(end, time.ticks_ms())
                if not await sleep.until(self._free, left):
                    return False
            return True
        finally:
            self._waiting -= 1

    async def listen(self, host, port, what):
        # Runs the server; returns only if it cannot listen (logged). The
        # log line says when it accepts connections.
        task = asyncio.create_task(self.start_server(host=host, port=port))
        while self.server is None and not task.done():
            await asyncio.sleep_ms(10)
        if self.server is not None:
            log.info("web", "%s on http://%s:%d/", what, host, port)
        try:
            await task
        except OSError as e:
            log.error("web", "%s: cannot listen on %s:%d (%s)", what, host, port, e)


# The page head both pages share: one style block, no scripts, no images.
# It reads on a 400 px phone (installers use phones): long words and log
# lines wrap (overflow-wrap, pre-wrap) instead of widening the page.
_HEAD = (
    '<!DOCTYPE html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">%s'
    "<title>%s</title><style>body{font-family:sans-serif;max-width:36em;margin:1em auto;padding:0 1em;overflow-wrap:anywhere}"
    "pre{white-space:pre-wrap;font-size:.8em}"
    "table{border-collapse:collapse;font-size:.85em}td,th{border:1px solid #999;padding:.3em;text-align:left}"
    "label{display:block;margin-top:.8em}input,select{width:100%%;padding:.3em;box-sizing:border-box}.err{color:#b00}.ok{color:#070}"
    "</style></head><body><h1>%s</h1>"
)


def head(title, extra=""):
    return _HEAD % (extra, escape(title), escape(title))


def escape(text):
    # For HTML text and attribute values.
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
