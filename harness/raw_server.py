"""A scriptable raw WebSocket server (RFC 6455 by hand) for fault and fuzz tests.

The `ocpp` central system only ever speaks correct WebSocket. This one does
whatever a test scripts: any HTTP answer to the upgrade, any bytes, frames
with lying lengths, masks, RSV bits or bad opcodes, a TCP reset, a peer that
stops reading. It decodes (and unmasks) every frame the charge point sends
and records it, so tests can check the firmware's side of the protocol.

It runs its own asyncio loop in a thread, like tools/central_system.py's
CentralSystemThread. Each accepted connection gets a `Conn` and is handed to
a script, an async function `script(conn)`: `srv.scripts[i]` for the i-th
connection (the last one repeats). The default script, `ocpp_session`, does
a correct handshake and then `conn.serve()`: it answers pings and close
frames, and answers the charge point's CALLs like a minimal central system
(BootNotification Accepted, Heartbeat with the time, anything else `{}`).
"""

import asyncio
import base64
import hashlib
import json
import socket
import struct
import threading
import time
from datetime import datetime, timezone

from central_system import cancel_leftover_tasks  # tools/, on the path from conftest.py

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10


def accept_key(key):
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key (bytes or str)."""
    if isinstance(key, str):
        key = key.encode()
    return base64.b64encode(hashlib.sha1(key + GUID).digest())


def utc_now():
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def encode_frame(opcode, payload=b"", fin=True, rsv=0, mask=None, length=None):
    """One frame as bytes. length: the length to claim in the header (may lie);
    mask: 4 bytes to mask the payload with (servers must not, RFC 6455 5.1)."""
    if isinstance(payload, str):
        payload = payload.encode()
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | (rsv & 7) << 4 | opcode & 0x0F
    mbit = 0x80 if mask is not None else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if mask is not None:
        payload = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
        head += mask
    return head + payload


def close_payload(code=None, reason=b""):
    return b"" if code is None else struct.pack("!H", code) + reason


class Frame:
    """A frame received from the charge point, unmasked."""

    __slots__ = ("t", "fin", "rsv", "opcode", "masked", "payload", "conn")

    def __init__(self, conn, fin, rsv, opcode, masked, payload):
        self.t = time.monotonic()
        self.conn = conn
        self.fin, self.rsv, self.opcode, self.masked, self.payload = fin, rsv, opcode, masked, payload

    @property
    def text(self):
        """The payload as strict UTF-8 (None when it is not)."""
        try:
            return self.payload.decode("utf-8")
        except UnicodeDecodeError:
            return None

    @property
    def msg(self):
        """The OCPP-J message of a text frame, or None."""
        if self.opcode != OP_TEXT or self.text is None:
            return None
        try:
            return json.loads(self.text)
        except ValueError:
            return None

    @property
    def close_code(self):
        if self.opcode != OP_CLOSE:
            return None
        return struct.unpack("!H", self.payload[:2])[0] if len(self.payload) >= 2 else 1005

    def __repr__(self):
        return "<conn %d fin=%d op=%d masked=%d %r>" % (self.conn.index, self.fin, self.opcode, self.masked, self.payload[:100])


class Conn:
    """One TCP connection from the charge point, seen from the server."""

    def __init__(self, server, index, reader, writer):
        self.server = server
        self.index = index
        self.reader = reader
        self.writer = writer
        self.t_open = time.monotonic()
        self.t_closed = None  # when the charge point's side ended (EOF/reset)
        self.t_upgraded = None  # when we answered 101
        self.reset_seen = False  # the charge point's side ended with a TCP RST
        self.request = None  # (method, path, version)
        self.headers = {}
        self.rx = []  # every Frame received, in order
        self.inbox = asyncio.Queue()  # frames serve() did not answer itself
        self.close_sent = False
        self.close_on_close = True  # serve() ends TCP once close frames crossed
        self._reading = asyncio.Event()
        self._reading.set()

    # -- handshake ----------------------------------------------------------
    async def read_request(self):
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.request = tuple(lines[0].split(" ", 2))
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                self.headers[name.strip().lower()] = value.strip()
        return self.request

    async def respond(self, status=101, reason=None, protocol="ocpp1.6", accept=None, headers=(), body=b""):
        """An HTTP answer. For 101: Upgrade, Connection, Sec-WebSocket-Accept
        (correct unless `accept` is given) and the subprotocol (none if None)."""
        reason = reason or {101: "Switching Protocols", 401: "Unauthorized", 404: "Not Found", 500: "Internal Server Error"}.get(status, "Whatever")
        out = ["HTTP/1.1 %d %s" % (status, reason)]
        if status == 101:
            key = self.headers.get("sec-websocket-key", "")
            out += ["Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Accept: %s" % (accept or accept_key(key)).decode()]
            if protocol is not None:
                out.append("Sec-WebSocket-Protocol: %s" % protocol)
        else:
            out.append("Content-Length: %d" % len(body))
        out += list(headers)
        await self.send(("\r\n".join(out) + "\r\n\r\n").encode() + body)
        if status == 101:
            with self.server._cond:
                self.t_upgraded = time.monotonic()
                self.server._cond.notify_all()

    async def handshake(self):
        await self.read_request()
        await self.respond(101)

    # -- bytes and frames -----------------------------------------------------
    async def send(self, data):
        self.writer.write(data)
        await self.writer.drain()

    async def send_frame(self, opcode, payload=b"", **kw):
        if opcode == OP_CLOSE:
            self.close_sent = True
        await self.send(encode_frame(opcode, payload, **kw))

    async def send_text(self, text):
        await self.send_frame(OP_TEXT, text)

    async def send_call(self, uid, action, payload):
        await self.send_text(json.dumps([2, uid, action, payload]))

    async def read_frame(self):
        """The next frame from the charge point (recorded), or None at EOF."""
        try:
            b0, b1 = await self.reader.readexactly(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", await self.reader.readexactly(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", await self.reader.readexactly(8))[0]
            mask = await self.reader.readexactly(4) if b1 & 0x80 else None
            payload = await self.reader.readexactly(n)
        except ConnectionResetError:
            self.reset_seen = True
            self._ended()
            return None
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            self._ended()
            return None
        if mask:
            payload = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
        frame = Frame(self, bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0x0F, mask is not None, payload)
        with self.server._cond:
            self.rx.append(frame)
            self.server._cond.notify_all()
        return frame

    def _ended(self):
        with self.server._cond:
            if self.t_closed is None:
                self.t_closed = time.monotonic()
            self.server._cond.notify_all()

    async def wait_eof(self):
        """Read (and record) until the charge point closes its side."""
        while await self.read_frame() is not None:
            pass

    # -- the minimal central system -------------------------------------------
    async def serve(self):
        """Answer pings, close frames and the charge point's CALLs until EOF.
        Frames not answered here go to `inbox` for the test to read."""
        while True:
            await self._reading.wait()
            frame = await self.read_frame()
            if frame is None:
                return
            if not self._reading.is_set():
                continue  # paused while this read was under way: it goes unanswered
            if frame.opcode == OP_PING:
                await self._try(self.send_frame(OP_PONG, frame.payload))
                continue
            if frame.opcode == OP_CLOSE:
                if not self.close_sent:  # the charge point started it: echo
                    await self._try(self.send_frame(OP_CLOSE, frame.payload[:2]))
                self.inbox.put_nowait(frame)
                if self.close_on_close:
                    await self.close()
                    return
                continue
            msg = frame.msg
            if isinstance(msg, list) and len(msg) == 4 and msg[0] == 2:
                reply = self.server.on_call(self, msg)
                if reply is not None:
                    await self._try(self.send_text(json.dumps(reply)))
                    continue
                if self.server.swallow_unanswered:
                    continue
            self.inbox.put_nowait(frame)

    @staticmethod
    async def _try(coro):
        try:
            await coro
        except (ConnectionError, OSError):
            pass

    async def pause_reading(self):
        """Half-open from here on: read nothing, answer nothing."""
        self._reading.clear()

    # -- ending -----------------------------------------------------------------
    async def close(self):
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass

    def reset(self):
        """Abort with a TCP RST (SO_LINGER 0), as a crashing peer or a NAT box does."""
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()

    # -- observation (any thread) -------------------------------------------------
    def messages(self):
        with self.server._cond:
            return [f.msg for f in self.rx if f.msg is not None]


def default_on_call(conn, msg):
    """The charge point's CALL -> our reply (None: no reply)."""
    _, uid, action, _ = msg
    if action == "BootNotification":
        return [3, uid, {"status": "Accepted", "currentTime": utc_now(), "interval": conn.server.boot_interval}]
    if action == "Heartbeat":
        return [3, uid, {"currentTime": utc_now()}]
    return [3, uid, {}]


async def ocpp_session(conn):
    """A correct handshake, then the minimal central system."""
    await conn.handshake()
    await conn.serve()


class RawServer:
    def __init__(self, scripts=None, boot_interval=60, rcvbuf=None):
        self.scripts = list(scripts or [ocpp_session])
        self.rcvbuf = rcvbuf  # SO_RCVBUF for accepted sockets: a small one stalls a peer sooner
        self.boot_interval = boot_interval
        self.on_call = default_on_call
        self.swallow_unanswered = False  # on_call -> None: drop it instead of the inbox
        self.conns = []
        self.port = None
        self.errors = []  # exceptions raised by scripts
        self._cond = threading.Condition()
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._server = None

    async def _accept(self, reader, writer):
        with self._cond:
            conn = Conn(self, len(self.conns), reader, writer)
            self.conns.append(conn)
            self._cond.notify_all()
        script = self.scripts[min(conn.index, len(self.scripts) - 1)]
        try:
            await script(conn)
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            pass
        except asyncio.CancelledError:
            # stop() cancels scripts still running. Ending normally instead
            # of as cancelled keeps Python 3.11's StreamReaderProtocol from
            # logging a CancelledError traceback for the finished task.
            pass
        except Exception as e:  # a broken script must fail the test, not vanish
            with self._cond:
                self.errors.append(e)
        finally:
            conn._ended()
            if not writer.is_closing():
                writer.close()

    async def _start(self):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if self.rcvbuf:
            # Set before listen(), so accepted sockets inherit it and the
            # window is negotiated small from the start.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
        sock.bind(("127.0.0.1", self.port or 0))
        self._server = await asyncio.start_server(self._accept, sock=sock)
        self.port = self._server.sockets[0].getsockname()[1]

    def start(self, port=None):
        self.port = port
        self._thread.start()
        self.run(self._start())
        return self

    def run(self, coro, timeout=60):
        """Run a coroutine on the server's loop; returns its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _stop_listening(self):
        if self._server:
            self._server.close()
            self._server = None

    def stop(self):
        async def shutdown():
            await self._stop_listening()
            for conn in self.conns:
                conn.writer.transport.abort()
            # Scripts still running (a connection's script waits on a read
            # that the abort ends only on the next loop pass): cancelled and
            # awaited, as the bundled central system does at its stop.
            await cancel_leftover_tasks()

        try:
            self.run(shutdown(), 15)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5)
            if not self._thread.is_alive():
                self.loop.close()

    # -- observation (any thread) ---------------------------------------------
    def wait_for(self, predicate, timeout=10.0, what="condition"):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = predicate()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    recent = [f for c in self.conns[-2:] for f in c.rx[-6:]]
                    raise TimeoutError("timed out after %.1f s waiting for %s; %d connection(s), recent frames %r" % (timeout, what, len(self.conns), recent))
                self._cond.wait(min(left, 0.5))

    def wait_conn(self, count=1, timeout=10.0):
        """The count-th connection (1-based), once it exists."""
        return self.wait_for(lambda: len(self.conns) >= count and self.conns[count - 1], timeout, "connection %d" % count)

    def wait_upgraded(self, count=1, timeout=10.0):
        """The count-th connection (1-based), once we answered its upgrade with 101."""
        return self.wait_for(lambda: len(self.conns) >= count and self.conns[count - 1].t_upgraded and self.conns[count - 1], timeout, "connection %d upgraded" % count)

    def wait_closed(self, conn, timeout=10.0):
        return self.wait_for(lambda: conn.t_closed, timeout, "connection %d to end" % (conn.index + 1))

    def frames(self):
        with self._cond:
            return [f for c in self.conns for f in c.rx]

    def calls(self, action=None):
        """Every CALL the charge point sent, as Frames, over all connections."""
        return [f for f in self.frames() if isinstance(f.msg, list) and len(f.msg) > 2 and f.msg[0] == 2 and (action is None or f.msg[2] == action)]

    def wait_calls(self, action, count=1, timeout=10.0):
        return self.wait_for(lambda: (lambda got: got if len(got) >= count else None)(self.calls(action)), timeout, "%d x %s" % (count, action))

    def wait_frame(self, predicate, timeout=10.0, what="frame"):
        return self.wait_for(lambda: next((f for f in self.frames() if predicate(f)), None), timeout, what)

