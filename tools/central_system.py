"""A small OCPP 1.6J central system on the `ocpp` package (schema validation on).

Used by `make run` (bundled local central system) and by the host tests,
which script its answers and read every frame it saw on the wire.

    python tools/central_system.py --port 9000 [--boot Pending:2,Accepted:10]
"""

import argparse
import asyncio
import base64
import json
import logging
import threading
import time
import urllib.parse
from datetime import datetime, timezone

import websockets
from ocpp.exceptions import InternalError
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action, RegistrationStatus

LOG = logging.getLogger("central_system")


def utc_now():
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_plan(text):
    """'Pending:2,Accepted:10,drop,error' -> [('Pending', 2), ...]."""
    plan = []
    for step in text.split(","):
        status, _, interval = step.partition(":")
        plan.append((status, int(interval or 0)))
    return plan


def cp_id_of(path):
    """The charge point id: the URL's last path segment, percent-decoded (J-02)."""
    return urllib.parse.unquote(path.rstrip("/").rsplit("/", 1)[-1])


def basic_authorization(cp_id, password):
    """The Authorization header value a charge point must send (SEC-03)."""
    if isinstance(password, str):
        password = password.encode()
    return "Basic " + base64.b64encode(cp_id.encode() + b":" + password).decode()


class Frame:
    __slots__ = ("t", "cp_id", "direction", "raw", "msg")

    def __init__(self, cp_id, direction, raw):
        self.t = time.monotonic()
        self.cp_id = cp_id
        self.direction = direction  # "in" = from the charge point
        self.raw = raw
        try:
            self.msg = json.loads(raw)
        except (ValueError, TypeError):
            self.msg = None

    @property
    def kind(self):
        return self.msg[0] if isinstance(self.msg, list) and self.msg else None

    @property
    def action(self):
        if self.kind == 2 and len(self.msg) > 2:
            return self.msg[2]
        return None

    @property
    def payload(self):
        return self.msg[-1] if isinstance(self.msg, list) and self.msg else None

    def __repr__(self):
        return "<%s %s %.3f %s>" % (self.cp_id, self.direction, self.t, self.raw[:120])


class _RecordingConnection:
    # The `ocpp` ChargePoint talks to this; every frame is recorded on its way.
    def __init__(self, ws, cs, cp_id):
        self.ws = ws
        self.cs = cs
        self.cp_id = cp_id

    async def recv(self):
        raw = await self.ws.recv()
        self.cs.record(Frame(self.cp_id, "in", raw))
        return raw

    async def send(self, raw):
        self.cs.record(Frame(self.cp_id, "out", raw))
        await self.ws.send(raw)


class ScriptedChargePoint(ChargePoint):
    """The central system's view of one charge point."""

    def __init__(self, cp_id, connection, cs):
        super().__init__(cp_id, connection, response_timeout=cs.response_timeout)
        self.cs = cs

    async def route_message(self, raw_msg):
        # A plan step "drop" swallows the BootNotification: no reply at all.
        try:
            msg = json.loads(raw_msg)
        except ValueError:
            msg = None
        if isinstance(msg, list) and len(msg) > 2 and msg[0] == 2:
            if msg[2] in self.cs.ignore_actions:
                return
            if msg[2] == "BootNotification" and self.cs.peek_boot()[0] == "drop":
                self.cs.next_boot()
                return
        await super().route_message(raw_msg)

    @on(Action.boot_notification)
    async def on_boot_notification(self, **kwargs):
        status, interval = self.cs.next_boot()
        if status == "error":
            raise InternalError(description="scripted failure")
        return call_result.BootNotification(current_time=utc_now(), interval=interval, status=RegistrationStatus(status))

    @on(Action.heartbeat)
    async def on_heartbeat(self):
        return call_result.Heartbeat(current_time=utc_now())

    @on(Action.status_notification)
    async def on_status_notification(self, **kwargs):
        return call_result.StatusNotification()

    # -- charging: an idTag's status comes from cs.id_tags (default Accepted) --
    @on(Action.authorize)
    async def on_authorize(self, id_tag):
        return call_result.Authorize(id_tag_info=self.cs.id_tag_info(id_tag))

    @on(Action.start_transaction)
    async def on_start_transaction(self, connector_id, id_tag, meter_start, timestamp, **kwargs):
        if "StartTransaction" in self.cs.error_actions:
            raise InternalError(description="scripted failure")
        return call_result.StartTransaction(transaction_id=self.cs.new_transaction_id(), id_tag_info=self.cs.id_tag_info(id_tag))

    @on(Action.stop_transaction)
    async def on_stop_transaction(self, meter_stop, timestamp, transaction_id, **kwargs):
        if "StopTransaction" in self.cs.error_actions:
            raise InternalError(description="scripted failure")
        tag = kwargs.get("id_tag")
        return call_result.StopTransaction(id_tag_info=self.cs.id_tag_info(tag) if tag else None)

    @on(Action.meter_values)
    async def on_meter_values(self, connector_id, meter_value, **kwargs):
        if "MeterValues" in self.cs.error_actions:
            raise InternalError(description="scripted failure")
        return call_result.MeterValues()

    @on(Action.data_transfer)
    async def on_data_transfer(self, vendor_id, **kwargs):
        return call_result.DataTransfer(status="UnknownVendorId")


class CentralSystem:
    def __init__(self, host="127.0.0.1", port=0, boot_plan=None, response_timeout=10, ssl=None):
        self.host = host
        self.port = port
        self.boot_plan = list(boot_plan or [("Accepted", 60)])
        self.response_timeout = response_timeout
        self.ignore_actions = set()
        self.frames = []
        self.charge_points = {}
        self.connections = []  # (cp_id, websocket) of every accepted link
        self.http_status = None  # answer the upgrade with this status instead
        self.ssl = ssl  # an ssl.SSLContext: serve wss:// (security profile 2)
        # Basic auth (security profiles 1, 2): cp_id -> password (bytes or
        # str); a charge point listed here without the right one gets 401.
        self.passwords = {}
        self.upgrades = []  # (cp_id, Authorization header or None, status) of every upgrade request
        self._cond = threading.Condition()
        self._server = None
        self.on_frame = None
        # Charging: idTag -> idTagInfo dict (absent: Accepted); actions
        # answered with CALLERROR InternalError; the next transactionId.
        self.id_tags = {}
        self.error_actions = set()
        self._next_tx = 1000

    # -- scripting ----------------------------------------------------------
    def id_tag_info(self, id_tag):
        return dict(self.id_tags.get(id_tag, {"status": "Accepted"}))

    def new_transaction_id(self):
        with self._cond:
            self._next_tx += 1
            return self._next_tx

    def peek_boot(self):
        return self.boot_plan[0]

    def next_boot(self):
        with self._cond:
            return self.boot_plan.pop(0) if len(self.boot_plan) > 1 else self.boot_plan[0]

    def record(self, frame):
        with self._cond:
            self.frames.append(frame)
            self._cond.notify_all()
        if self.on_frame:
            self.on_frame(frame)

    # -- observation (thread-safe) --------------------------------------------
    def received(self, action=None, cp_id=None):
        with self._cond:
            return [f for f in self.frames if f.direction == "in" and (action is None or f.action == action) and (cp_id is None or f.cp_id == cp_id)]

    def wait_for(self, predicate, timeout=10.0, what="condition"):
        """Wait until predicate(frames) is true; returns its value."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = predicate(self.frames)
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("timed out after %.1f s waiting for %s; frames: %r" % (timeout, what, self.frames[-8:]))
                self._cond.wait(left)

    def wait_received(self, action, count=1, timeout=10.0):
        def enough(frames):
            got = [f for f in frames if f.direction == "in" and f.action == action]
            return got if len(got) >= count else None

        return self.wait_for(enough, timeout, "%d x %s" % (count, action))

    # -- server ---------------------------------------------------------------
    async def _process_request(self, connection, request):
        if self.http_status:
            return connection.respond(self.http_status, "scripted answer\n")
        cp_id = cp_id_of(request.path)
        header = request.headers.get("Authorization")
        password = self.passwords.get(cp_id)
        status = 101
        if password is not None and header != basic_authorization(cp_id, password):
            status = 401
        with self._cond:
            self.upgrades.append((cp_id, header, status))
            self._cond.notify_all()
        if status == 401:
            LOG.warning("%s: wrong or missing Basic auth; answering 401", cp_id)
            response = connection.respond(401, "wrong credentials\n")
            response.headers["WWW-Authenticate"] = 'Basic realm="ocpp"'
            return response
        return None

    async def _on_connect(self, ws):
        cp_id = cp_id_of(ws.request.path)
        if ws.subprotocol != "ocpp1.6":
            LOG.warning("%s offered no ocpp1.6 subprotocol; closing", cp_id)
            await ws.close()
            return
        LOG.info("%s connected", cp_id)
        cp = ScriptedChargePoint(cp_id, _RecordingConnection(ws, self, cp_id), self)
        with self._cond:
            self.charge_points[cp_id] = cp
            self.connections.append((cp_id, ws))
            self._cond.notify_all()
        try:
            await cp.start()
        except websockets.ConnectionClosed:
            LOG.info("%s disconnected", cp_id)

    async def start(self):
        self._server = await websockets.serve(
            self._on_connect, self.host, self.port, subprotocols=["ocpp1.6"], process_request=self._process_request, ping_interval=None, ssl=self.ssl
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self):
        if self._server:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def call(self, cp_id, request):
        return await self.charge_points[cp_id].call(request)


class CentralSystemThread:
    """Runs a CentralSystem on its own event loop in a thread (for tests)."""

    def __init__(self, **kwargs):
        self.cs = CentralSystem(**kwargs)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __getattr__(self, name):
        return getattr(self.cs, name)

    def __setattr__(self, name, value):
        # The scripting knobs (error_actions, http_status, on_frame, ...) are
        # the central system's: `cs.error_actions = {...}` must reach it, not
        # stay on this wrapper while the central system goes on answering.
        if name in ("cs", "loop", "_thread"):
            object.__setattr__(self, name, value)
        else:
            setattr(self.cs, name, value)

    def run(self, coro, timeout=30):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self):
        self._thread.start()
        self.run(self.cs.start())
        return self

    def call(self, cp_id, request, timeout=30):
        return self.run(self.cs.call(cp_id, request), timeout)

    def stop(self):
        try:
            self.run(self.cs.stop(), 10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9000)
    ap.add_argument("--boot", default="Accepted:10", help="BootNotification answers in turn, e.g. Pending:3,Accepted:10")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="CS %(asctime)s %(message)s")

    async def serve():
        cs = await CentralSystem(args.host, args.port, parse_plan(args.boot)).start()
        LOG.info("central system listening on ws://%s:%d/<charge point id>", args.host, cs.port)
        await asyncio.Future()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
