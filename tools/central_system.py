"""A small OCPP 1.6J central system on the `ocpp` package (schema validation on).

Used by `make run` (bundled local central system) and by the host tests,
which script its answers and read every frame it saw on the wire. Run alone,
it prints one line per OCPP message (`CS CP001 → Heartbeat`, `CS CP001 ← ...`).

    python tools/central_system.py --port 9000 [--boot Pending:2,Accepted:10]

Commands typed on its terminal (stdin) go to every charge point connected;
see COMMANDS_HELP (printed by --help and by `help`).
"""

import argparse
import asyncio
import base64
import json
import errno
import logging
import os
import sys
import threading
import time
import urllib.parse
from datetime import datetime, timezone

import websockets
from ocpp.exceptions import InternalError
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action, MessageTrigger, RegistrationStatus

LOG = logging.getLogger("central_system")


def utc_now():
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --boot: the answers to BootNotification, in turn. Printed by --help of
# this tool and of tools/run_local.py.
PLAN_HELP = """\
--boot PLAN: how the central system answers each BootNotification, in turn.
PLAN is a comma-separated list of steps, one per BootNotification:
  Accepted:N   accepted; N is the heartbeat interval in seconds (0: the
               charge point keeps its configured one)
  Pending:N    pending; N is the least wait in seconds before the next
               BootNotification (0: the charge point picks its own wait)
  Rejected:N   rejected; N as for Pending, and nothing else may be sent
  drop         no answer at all (the charge point's CALL times out)
  error        a CALLERROR InternalError instead of an answer
N is a whole number of seconds, 0 when left out (Accepted = Accepted:0); the
kinds are not case-sensitive. When the plan runs out, its last step answers
every further BootNotification (Pending:3,Accepted:10: one Pending, then
Accepted for ever; a plan ending in drop never answers again). One plan is
shared by every charge point that connects. Default: Accepted:10.
"""

PLAN_KINDS = ("Accepted", "Pending", "Rejected", "drop", "error")

# Typed on the terminal: CALLs to every connected charge point. Printed by
# --help of this tool and of tools/run_local.py, and by `help`.
TRIGGERS = ("BootNotification", "DiagnosticsStatusNotification", "FirmwareStatusNotification", "Heartbeat", "MeterValues", "StatusNotification")
COMMANDS_HELP = """\
Commands on this terminal (one per line, sent to every charge point connected;
each CALL and its answer show as CS lines):
  change KEY VALUE        ChangeConfiguration, e.g. change MeterValueSampleInterval 10
  get [KEY ...]           GetConfiguration (no KEY: every key)
  trigger MESSAGE [N]     TriggerMessage, MESSAGE one of %s;
                          N: the connector (optional)
  help                    this list
""" % ", ".join(TRIGGERS)


class CommandError(ValueError):
    """A terminal command that cannot be read; the message says how to write it."""


def parse_command(line):
    """'change K V' -> a call payload object; None for an empty line or
    `help`; CommandError names what is wrong."""
    words = line.split()
    if not words or words[0].lower() == "help":
        return None
    verb, args = words[0].lower(), words[1:]
    if verb == "change":
        if len(args) != 2:
            raise CommandError("change takes KEY VALUE, e.g. change MeterValueSampleInterval 10")
        return call.ChangeConfiguration(key=args[0], value=args[1])
    if verb == "get":
        return call.GetConfiguration(key=args) if args else call.GetConfiguration()
    if verb == "trigger":
        if not 1 <= len(args) <= 2:
            raise CommandError("trigger takes MESSAGE [CONNECTOR], e.g. trigger MeterValues 1")
        match = [t for t in TRIGGERS if t.lower() == args[0].lower()]
        if not match:
            raise CommandError("trigger: unknown message %r; one of %s" % (args[0], ", ".join(TRIGGERS)))
        if len(args) == 2:
            if not args[1].isdigit():
                raise CommandError("trigger: the connector must be a whole number, not %r" % args[1])
            return call.TriggerMessage(requested_message=MessageTrigger(match[0]), connector_id=int(args[1]))
        return call.TriggerMessage(requested_message=MessageTrigger(match[0]))
    raise CommandError("unknown command %r; type help" % words[0])


class PlanError(ValueError):
    """A --boot plan that cannot be read; the message names the bad step."""


def parse_plan(text):
    """'Pending:2,Accepted:10,drop,error' -> [('Pending', 2), ...]; PlanError names a bad step."""
    plan = []
    steps = text.split(",")
    for n, step in enumerate(steps, 1):
        where = "step %d of %d (%r)" % (n, len(steps), step)
        kind, colon, interval = step.strip().partition(":")
        if not kind:
            raise PlanError("%s is empty; steps are %s" % (where, ", ".join(PLAN_KINDS)))
        match = [k for k in PLAN_KINDS if k.lower() == kind.lower()]
        if not match:
            raise PlanError("%s: unknown kind %r; steps are %s" % (where, kind, ", ".join(PLAN_KINDS)))
        kind = match[0]
        if kind in ("drop", "error"):
            if colon:
                raise PlanError("%s: %s takes no interval" % (where, kind))
            plan.append((kind, 0))
            continue
        interval = interval.strip()
        if colon and not (interval.isdigit() and interval.isascii()):
            raise PlanError("%s: the interval must be a whole number of seconds (0 or more), not %r" % (where, interval))
        plan.append((kind, int(interval or 0)))
    return plan


def cp_id_of(path):
    """The charge point id: the URL's last path segment, percent-decoded (J-02)."""
    return urllib.parse.unquote(path.rstrip("/").rsplit("/", 1)[-1])


def basic_authorization(cp_id, password):
    """The Authorization header value a charge point must send (SEC-03)."""
    if isinstance(password, str):
        password = password.encode()
    return "Basic " + base64.b64encode(cp_id.encode() + b":" + password).decode()


def client_certificate_cn(connection):
    """The commonName of the client certificate the TLS layer verified, or None."""
    tls = connection.transport.get_extra_info("ssl_object") if connection.transport else None
    cert = tls.getpeercert() if tls else None
    if not cert:
        return None
    return dict(x[0] for x in cert.get("subject", ())).get("commonName")


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


# -- one readable line per message ---------------------------------------------
TO_CS, TO_CP = "\u2192", "\u2190"  # → charge point to central system, ← back


def _clip(text, width=100):
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 3] + "..."


def _fields(payload):
    # Generic summary: key=value for each field, compact, clipped.
    if not isinstance(payload, dict):
        return _clip(json.dumps(payload))
    if not payload:
        return "ok"
    return _clip(" ".join("%s=%s" % (k, v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))) for k, v in payload.items()))


def _request(action, p):
    if not isinstance(p, dict):
        return _fields(p)
    if action == "BootNotification":
        text = "%s/%s" % (p.get("chargePointVendor"), p.get("chargePointModel"))
        if p.get("firmwareVersion"):
            text += " firmware " + str(p["firmwareVersion"])
        return text
    if action == "Heartbeat" and not p:
        return ""
    if action == "StatusNotification":
        text = "connector %s %s" % (p.get("connectorId"), p.get("status"))
        if p.get("errorCode") not in (None, "NoError"):
            text += " " + str(p["errorCode"])
        return text
    if action == "Authorize":
        return "idTag %s" % p.get("idTag")
    if action == "StartTransaction":
        return "connector %s idTag %s meterStart %s Wh" % (p.get("connectorId"), p.get("idTag"), p.get("meterStart"))
    if action == "StopTransaction":
        return "transaction %s meterStop %s Wh reason %s" % (p.get("transactionId"), p.get("meterStop"), p.get("reason", "Local"))
    if action == "MeterValues":
        values = [sv for mv in p.get("meterValue") or () for sv in mv.get("sampledValue") or ()]
        shown = ", ".join("%s %s%s" % (sv.get("measurand", "Energy.Active.Import.Register").split(".")[0], sv.get("value"), sv.get("unit", "")) for sv in values[:3])
        tx = " transaction %s" % p["transactionId"] if "transactionId" in p else ""
        context = values[0].get("context", "") if values else ""
        return _clip("connector %s%s %s: %s" % (p.get("connectorId"), tx, context, shown))
    return _fields(p) if p else ""


def _result(action, p):
    if not isinstance(p, dict):
        return _fields(p)
    if action == "BootNotification" and "status" in p:
        return "%s interval %s" % (p["status"], p.get("interval"))
    if action == "Heartbeat" and "currentTime" in p:
        return "time %s" % p["currentTime"]
    if action in ("Authorize", "StartTransaction", "StopTransaction") and ("idTagInfo" in p or "transactionId" in p):
        text = (p.get("idTagInfo") or {}).get("status", "ok")
        if "transactionId" in p:
            text += " transaction %s" % p["transactionId"]
        return text
    if action == "GetConfiguration" and "configurationKey" in p:
        text = "%d key(s)" % len(p.get("configurationKey") or ())
        if p.get("unknownKey"):
            text += ", unknown: " + ", ".join(map(str, p["unknownKey"]))
        return _clip(text)
    return _fields(p)


class FrameLog:
    """on_frame hook: one line per OCPP message, e.g. `CP001 → BootNotification
    Vendor/Model` and `CP001 ← Accepted interval 10` (→ = from the charge point)."""

    def __init__(self, write):
        self.write = write
        self._pending = {}  # (cp_id, unique id) -> action of a CALL not answered yet

    def __call__(self, frame):
        self.write(self.describe(frame))

    def describe(self, frame):
        arrow = TO_CS if frame.direction == "in" else TO_CP
        msg = frame.msg
        head = "%s %s " % (frame.cp_id, arrow)
        if not (isinstance(msg, list) and len(msg) >= 3 and msg[0] in (2, 3, 4) and isinstance(msg[1], str)):
            return head + "not an OCPP-J message: " + _clip(frame.raw)
        key = (frame.cp_id, msg[1])
        if msg[0] == 2:
            action = msg[2] if isinstance(msg[2], str) else "?"
            self._pending[key] = action
            while len(self._pending) > 256:  # calls that were never answered
                self._pending.pop(next(iter(self._pending)))
            return (head + action + " " + _request(action, msg[3] if len(msg) > 3 else None)).rstrip()
        action = self._pending.pop(key, None)
        if msg[0] == 3:
            return head + _result(action, msg[2])
        code = msg[2] if len(msg) > 2 else "?"
        desc = msg[3] if len(msg) > 3 and msg[3] else ""
        return head + _clip("error %s%s" % (code, ": %s" % desc if desc else ""))


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
        return call_result.BootNotification(current_time=self.cs.current_time(), interval=interval, status=RegistrationStatus(status))

    @on(Action.heartbeat)
    async def on_heartbeat(self):
        return call_result.Heartbeat(current_time=self.cs.current_time())

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

    @on(Action.firmware_status_notification)
    async def on_firmware_status_notification(self, status, **kwargs):
        return call_result.FirmwareStatusNotification()

    @on(Action.diagnostics_status_notification)
    async def on_diagnostics_status_notification(self, status):
        return call_result.DiagnosticsStatusNotification()

    # -- the 1.6 security whitepaper (issue 25) ---------------------------------
    @on(Action.signed_firmware_status_notification)
    async def on_signed_firmware_status_notification(self, status, request_id=None):
        return call_result.SignedFirmwareStatusNotification()

    @on(Action.sign_certificate)
    async def on_sign_certificate(self, csr):
        # cs.sign_csr(cp_id, csr PEM) -> None: the CSR is kept in cs.csrs and
        # the test answers with a CertificateSigned of its own making.
        with self.cs._cond:
            self.cs.csrs.append((self.id, csr))
            self.cs._cond.notify_all()
        return call_result.SignCertificate(status=self.cs.sign_certificate_status)

    # -- the 1.6 security extensions (issue 25) --------------------------------
    @on(Action.security_event_notification)
    async def on_security_event_notification(self, type, timestamp, **kwargs):
        if "SecurityEventNotification" in self.cs.error_actions:
            raise InternalError(description="scripted failure")
        return call_result.SecurityEventNotification()

    @on(Action.log_status_notification)
    async def on_log_status_notification(self, status, **kwargs):
        return call_result.LogStatusNotification()


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
        # SignCertificate (issue 25): every CSR received, and the answer.
        self.csrs = []
        self.sign_certificate_status = "Accepted"
        self.clock_shift = 0  # seconds added to the currentTime it answers (a central system whose clock is off)

    # -- scripting ----------------------------------------------------------
    def current_time(self):
        if not self.clock_shift:
            return utc_now()
        t = datetime.fromtimestamp(time.time() + self.clock_shift, timezone.utc)
        return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")

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
        if password is not None and header is None and client_certificate_cn(connection) == cp_id:
            password = None  # security profile 3: a verified client certificate naming it is the authentication
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

    async def command(self, line, write):
        """One terminal command (COMMANDS_HELP): its CALL to every charge
        point connected; `write` gets a line for help and for problems (the
        CALL and its answer are on_frame lines)."""
        try:
            request = parse_command(line)
        except CommandError as e:
            write(str(e))
            return
        if request is None:
            if line.strip():
                for text in COMMANDS_HELP.rstrip().splitlines():
                    write(text)
            return
        with self._cond:
            live = [cp_id for cp_id, ws in self.connections if ws.state == websockets.protocol.State.OPEN]
        if not live:
            write("no charge point connected")
        for cp_id in dict.fromkeys(live):
            try:
                await self.call(cp_id, request)
            except Exception as e:  # a timeout or a CALLERROR: said, never fatal
                write("%s: %s: %s" % (cp_id, type(e).__name__, e))

    def read_commands(self, write):
        """Reads commands from stdin while the loop runs (a terminal or a
        pipe; nothing for /dev/null or a file). Returns False when stdin
        cannot be watched."""
        loop = asyncio.get_running_loop()
        fd = sys.stdin.fileno() if sys.stdin else -1
        buf = bytearray()
        try:
            if os.isatty(fd) and os.tcgetpgrp(fd) != os.getpgrp():
                return False  # a background job (make run &): reading the terminal would stop us (SIGTTIN)
        except OSError:
            return False

        def readable():
            try:
                data = os.read(fd, 4096)
            except OSError:
                data = b""
            if not data:
                loop.remove_reader(fd)
                return
            buf.extend(data)
            while b"\n" in buf:
                i = buf.index(b"\n")
                text = buf[:i].decode("utf-8", "replace")
                del buf[: i + 1]
                loop.create_task(self.command(text, write))

        try:
            loop.add_reader(fd, readable)
        except (OSError, ValueError):
            return False
        return True


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
        # Idempotent: a test may stop the central system and its fixture again.
        if not self._thread.is_alive():
            return
        try:
            self.run(self.cs.stop(), 10)
            self.run(cancel_leftover_tasks(), 10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5)
            if not self._thread.is_alive():
                self.loop.close()


async def cancel_leftover_tasks():
    """Cancel and await every other task on this loop (handlers of links the
    server has closed, the `ocpp` package's message tasks), so none is left
    pending when the loop stops: no "Task was destroyed but it is pending!"."""
    me = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not me]
    for t in tasks:
        t.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=5)


def port_number(text):
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError("%r is not a TCP port (0-65535; 0 = any free port)" % text)
    return port


def listen_error(host, port, e):
    """One line for an OSError from listening on host:port."""
    if e.errno == errno.EADDRINUSE:
        return "cannot listen on %s:%d: the port is already in use (another central system or `make run`?); choose another with --port, or make run CS_PORT=N" % (host, port)
    reason = e.strerror or str(e)
    reason = reason.split("): ", 1)[-1]  # asyncio prefixes "error while attempting to bind on address (...)"
    return "cannot listen on %s:%d: %s" % (host, port, reason)


def quiet_libraries():
    # The `ocpp` package logs every raw frame at info; FrameLog says it shorter.
    logging.getLogger("ocpp").setLevel(logging.WARNING)
    logging.getLogger("websockets").setLevel(logging.WARNING)


def main():
    ap = argparse.ArgumentParser(description=__doc__, epilog=PLAN_HELP + "\n" + COMMANDS_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=port_number, default=9000, help="TCP port to listen on (default 9000; 0 = any free port)")
    ap.add_argument("--boot", default="Accepted:10", metavar="PLAN", help="BootNotification answers in turn, e.g. Pending:3,Accepted:10 (see below)")
    args = ap.parse_args()
    prog = ap.prog
    try:
        plan = parse_plan(args.boot)
    except PlanError as e:
        print("%s: --boot %s: %s" % (prog, args.boot, e), file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="CS %(asctime)s %(message)s", stream=sys.stdout)
    quiet_libraries()

    async def serve():
        cs = CentralSystem(args.host, args.port, plan)
        cs.on_frame = FrameLog(LOG.info)
        try:
            await cs.start()
        except OSError as e:
            print("%s: %s" % (prog, listen_error(args.host, args.port, e)), file=sys.stderr)
            return 1
        LOG.info("central system listening on ws://%s:%d/<charge point id>", args.host, cs.port)
        if cs.read_commands(LOG.info):
            LOG.info("type help for the commands (ChangeConfiguration, TriggerMessage, GetConfiguration)")
        await asyncio.Future()

    try:
        return asyncio.run(serve())
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
