"""A fault-injecting WebSocket proxy between the firmware and the real `ocpp`
central system (tools/central_system.py, schema validation on).

The firmware connects here (harness/raw_server.py's RFC 6455 server side);
for each connection the proxy opens one to the central system on the same
path and passes frames both ways, except that:

- each CALL the charge point sends gets a reply fault drawn by the engine
  (`engine.reply_fault(action)`): the central system's reply passes, is
  delayed, dropped, replaced with a CALLERROR or with a malformed CALLRESULT
  (malform.py);
- the engine injects the central system's CALLs (`call()`), and the proxy
  checks that each is answered within ANSWER_S;
- a probe CALL (GetConfiguration of HeartbeatInterval: no side effect) goes
  out every PROBE_S while the link is up, and must be answered within
  ANSWER_S;
- while the link is up and the charge point registered, some CALL of the
  charge point's (a Heartbeat when nothing else) comes at least every
  `engine.call_gap_s`;
- link faults: `close()` (a TCP reset), `half_open(seconds)` (from then on
  nothing is answered nor passed on, frames are read and thrown away, until
  the charge point closes or the time is up), `refuse(n)` (the next n
  upgrades are answered HTTP 503).

The central system keeps its own record of what it saw (its `frames`): the
billing ledger reads that.
"""

import asyncio
import json
import sys
import time

import websockets

from harness.firmware import REPO

sys.path.insert(0, str(REPO / "tools"))  # raw_server imports central_system from tools/

from harness import raw_server as rs  # noqa: E402
from harness.scenario.malform import malformed  # noqa: E402

PROBE_S = 1.0  # a probe CALL this often while the link is up
ANSWER_S = 2.0  # every CALL of the central system answered within this


class Link:
    """One connection of the firmware, and its upstream to the central system."""

    def __init__(self, proxy, conn, up):
        self.proxy = proxy
        self.eng = proxy.eng
        self.conn = conn
        self.up = up
        self.index = conn.index
        self.t_up = time.monotonic()
        self.alive = True
        self.half_open_until = None  # monotonic time the half-open spell ends
        self.faults = {}  # uid of a charge point CALL -> (action, fault)
        self.waiting = {}  # uid of our CALL -> [action, sent at, future]
        self.last_call_t = self.t_up  # the charge point's last CALL
        self.gap_reported = False

    @property
    def half_open(self):
        return self.half_open_until is not None

    def usable(self):
        return self.alive and not self.half_open

    async def send_fw(self, text):
        try:
            await self.conn.send_text(text)
        except (ConnectionError, OSError, RuntimeError):
            self.alive = False

    async def run(self):
        tasks = [asyncio.create_task(c) for c in (self._from_fw(), self._from_cs(), self._probe(), self._watch())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.alive = False
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for uid, (action, _t, fut) in list(self.waiting.items()):
                if not fut.done():
                    fut.set_result(None)  # the link ended first: not a violation

    # -- the charge point's side ----------------------------------------------------
    async def _from_fw(self):
        conn = self.conn
        while True:
            frame = await conn.read_frame()
            if frame is None:
                return
            if self.half_open:
                if frame.opcode == rs.OP_CLOSE:
                    self.eng.note("link %d: the charge point closed the half-open link after %.1f s" % (self.index, time.monotonic() - self.half_open_from))
                    self.eng.count("half-open detected")
                    return
                continue  # read and thrown away: nothing answers
            if frame.opcode == rs.OP_PING:
                await conn.send_frame(rs.OP_PONG, frame.payload)
                continue
            if frame.opcode == rs.OP_CLOSE:
                try:
                    await conn.send_frame(rs.OP_CLOSE, frame.payload[:2])
                except (ConnectionError, OSError):
                    pass
                return
            if frame.opcode != rs.OP_TEXT or frame.text is None:
                continue
            msg = frame.msg
            if isinstance(msg, list) and len(msg) >= 3 and msg[0] == 2:
                action = msg[2]
                self.last_call_t = time.monotonic()
                self.gap_reported = False
                self.faults[msg[1]] = (action, self.eng.reply_fault(action))
                await self.up.send(frame.text)
            elif isinstance(msg, list) and len(msg) >= 3 and msg[0] in (3, 4) and msg[1] in self.waiting:
                entry = self.waiting.pop(msg[1])
                if not entry[2].done():
                    entry[2].set_result(msg)
            else:
                await self.up.send(frame.text)

    # -- the central system's side ------------------------------------------------------
    async def _from_cs(self):
        async for raw in self.up:
            if self.half_open:
                continue
            try:
                msg = json.loads(raw)
            except ValueError:
                msg = None
            if isinstance(msg, list) and len(msg) >= 3 and msg[0] in (3, 4) and msg[1] in self.faults:
                action, fault = self.faults.pop(msg[1])
                await self._reply(action, msg, fault)
            else:
                await self.send_fw(raw)

    async def _reply(self, action, msg, fault):
        kind = fault[0]
        self.eng.count("reply " + kind)
        if kind == "pass":
            await self.send_fw(json.dumps(msg))
        elif kind == "delay":
            self.eng.note("reply: %s %s delayed %.1f s" % (action, msg[1], fault[1]))
            asyncio.get_running_loop().create_task(self._later(fault[1], msg))
        elif kind == "drop":
            self.eng.note("reply: %s %s dropped" % (action, msg[1]))
        elif kind == "callerror":
            self.eng.note("reply: %s %s -> CALLERROR %s" % (action, msg[1], fault[1]))
            await self.send_fw(json.dumps([4, msg[1], fault[1], "scenario", {}]))
        else:  # malformed, from the real reply (a CALLERROR passes as it is)
            if msg[0] != 3:
                await self.send_fw(json.dumps(msg))
                return
            what, payload = malformed(action, msg[2], fault[1])
            self.eng.note("reply: %s %s malformed: %s" % (action, msg[1], what))
            await self.send_fw(json.dumps([3, msg[1], payload]))

    async def _later(self, seconds, msg):
        await asyncio.sleep(seconds)
        if self.usable():
            await self.send_fw(json.dumps(msg))

    # -- the central system's CALLs -----------------------------------------------------
    async def call(self, action, payload, raw=None):
        """Send a CALL (or raw text with the uid given); -> the reply message,
        or None when the link ended or went half-open before the deadline."""
        uid = "scn-%d" % self.proxy.next_uid()
        text = raw(uid) if raw else json.dumps([2, uid, action, payload])
        fut = asyncio.get_running_loop().create_future()
        t0 = time.monotonic()
        self.waiting[uid] = [action, t0, fut]
        await self.send_fw(text)
        try:
            reply = await asyncio.wait_for(asyncio.shield(fut), ANSWER_S)
        except asyncio.TimeoutError:
            self.waiting.pop(uid, None)
            if self.usable():
                self.eng.violation("answer", "%s %s not answered within %.0f s on link %d" % (action, uid, ANSWER_S, self.index))
                return "timeout"
            return None
        return reply

    async def _probe(self):
        while True:
            await asyncio.sleep(PROBE_S)
            if not self.usable():
                continue
            reply = await self.call("GetConfiguration", {"key": ["HeartbeatInterval"]})
            if isinstance(reply, list):
                self.eng.count("probes answered")

    async def _watch(self):
        # Half-open spells end; the charge point's CALLs keep coming.
        while True:
            await asyncio.sleep(0.2)
            now = time.monotonic()
            if self.half_open and now >= self.half_open_until:
                self.eng.note("link %d: half-open spell over, the charge point did not close it: reset" % self.index)
                self.eng.count("half-open reset")
                self.conn.reset()
                return
            since = max(self.t_up, self.eng.registered_t or now, self.last_call_t)
            gap = now - since
            if self.usable() and self.eng.registered_t and gap > self.eng.call_gap_s and not self.gap_reported:
                self.gap_reported = True
                self.eng.violation(
                    "heartbeat",
                    "no CALL from the charge point for %.1f s on a live, registered link %d (HeartbeatInterval %d s)" % (gap, self.index, self.eng.heartbeat_s),
                )


class Proxy:
    def __init__(self, eng, cs_port):
        self.eng = eng
        self.cs_port = cs_port
        self.server = rs.RawServer(scripts=[self._session])
        self.link = None
        self.refusals = 0  # the next upgrades answered 503
        self._uid = 0

    def start(self):
        self.server.start()
        self.port = self.server.port
        return self

    def stop(self):
        self.server.stop()

    def next_uid(self):
        self._uid += 1
        return self._uid

    def run(self, coro, timeout=30):
        return self.server.run(coro, timeout)

    async def _session(self, conn):
        await conn.read_request()
        if self.refusals > 0:
            self.refusals -= 1
            self.eng.note("link: upgrade %d answered 503" % conn.index)
            self.eng.count("upgrades refused")
            await conn.respond(503, "Service Unavailable", body=b"try later\n")
            return
        url = "ws://127.0.0.1:%d%s" % (self.cs_port, conn.request[1])
        try:
            up = await websockets.connect(url, subprotocols=["ocpp1.6"], ping_interval=None, max_size=None, open_timeout=5)
        except (OSError, asyncio.TimeoutError, websockets.WebSocketException) as e:
            self.eng.note("link: the central system is unreachable: %s" % e)
            await conn.respond(502, "Bad Gateway")
            return
        await conn.respond(101)
        link = Link(self, conn, up)
        self.link = link
        self.eng.count("links")
        try:
            await link.run()
        finally:
            if self.link is link:
                self.link = None
            try:
                await asyncio.wait_for(up.close(), 2)
            except asyncio.TimeoutError:
                pass  # a close that takes longer is not the firmware's fault: the socket goes below
            finally:
                # The proxy's stop cancels this close: the socket goes at once,
                # else the central system's stop waited for its close frame's
                # answer for 10 s, as long as its own stop allows (a CI failure).
                up.transport.abort()

    # -- for the engine (any thread) --------------------------------------------------
    def call(self, action, payload, raw=None, timeout=10):
        """The central system's CALL on the live link: -> reply, None (no
        usable link, or it ended before the deadline) or "timeout"."""
        link = self.link
        if link is None or not link.usable():
            return None
        return self.run(link.call(action, payload, raw), timeout)

    def close(self):
        link = self.link
        if link is not None and link.alive:
            link.conn.reset()
            return True
        return False

    def half_open(self, seconds):
        link = self.link
        if link is not None and link.usable():
            link.half_open_from = time.monotonic()
            link.half_open_until = link.half_open_from + seconds
            return True
        return False

    def refuse(self, n):
        self.refusals = n
