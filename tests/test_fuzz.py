"""Hostile frames: over 10,000 generated malformed frames against the firmware.

Hypothesis (derandomized: the same frames every run, so any failure
reproduces) generates batches of hostile messages; each batch goes out over
one live connection of the raw server, followed by a probe CALL whose reply
proves that everything before it was handled. An oracle on the CPython side
says what each frame deserves:

- a CALL whose unique id can be read gets a CALLERROR with a 1.6 error code
  (ERR-01, ERR-03, ERR-04), in order; a few known actions may get a CALLRESULT;
- anything else (no JSON, not an array, another message type, an unreadable
  id, binary frames, pongs) is ignored (J-09);
- a ping gets its pong with the same payload;
- what RFC 6455 says must fail the connection (bad UTF-8, frames over
  centralSystem.maxFrameSize, control frames over 125 bytes or fragmented,
  masked frames, RSV bits, reserved opcodes, broken fragmentation) ends at
  most one batch in four: the firmware must close with the right code and
  come back by itself, without a new BootNotification.

Meanwhile the firmware keeps heartbeating and its live heap (log.heapInterval)
stays within a fixed bound.
"""

import asyncio
import json
import struct
import time

import pytest

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from harness import raw_server as rs
from harness.health import assert_alive, log_events

MAX = 2048  # centralSystem.maxFrameSize for the run
BATCHES = 210
PER_BATCH = (30, 36)  # drawn messages; each brings up to five frames
# Live heap above its level after registration, at most. What a message
# leaves alive while its reply goes out is bounded by maxFrameSize: its text,
# its fragments, the reply (which may echo a long id). The parsed request is
# released before the write (rpc.py); parsed, nested brackets would be ~30
# times the frame size on this 64-bit port.
HEAP_GROWTH_BOUND = 8 * MAX

ERROR_CODES = {
    "NotImplemented", "NotSupported", "InternalError", "ProtocolError", "SecurityError", "FormationViolation",
    "PropertyConstraintViolation", "OccurenceConstraintViolation", "TypeConstraintViolation", "GenericError",
}  # fmt: skip
OCPP16_ACTIONS = {
    "Authorize", "BootNotification", "CancelReservation", "ChangeAvailability", "ChangeConfiguration", "ClearCache",
    "ClearChargingProfile", "DataTransfer", "DiagnosticsStatusNotification", "FirmwareStatusNotification",
    "GetCompositeSchedule", "GetConfiguration", "GetDiagnostics", "GetLocalListVersion", "Heartbeat", "MeterValues",
    "RemoteStartTransaction", "RemoteStopTransaction", "ReserveNow", "Reset", "SendLocalList", "SetChargingProfile",
    "StartTransaction", "StatusNotification", "StopTransaction", "TriggerMessage", "UnlockConnector", "UpdateFirmware",
}  # fmt: skip
# Actions whose hostile payloads are fair game: no side effect a fuzz run
# cannot afford (no Reset, no configuration change). They may succeed.
MAY_SUCCEED = ["TriggerMessage", "BootNotification", "Heartbeat", "StatusNotification", "DataTransfer", "GetConfiguration", "Authorize"]
SURROGATE_IDS = ["\ud800", "id-\udfff", "\ud83d\ude00"]  # MicroPython cannot echo these as UTF-8


class Item:
    """One hostile message: its bytes on the wire and what it deserves."""

    __slots__ = ("what", "wire", "reply_to", "kinds", "lenient", "pongs", "close")

    def __init__(self, what, wire, reply_to=None, kinds=(4,), lenient=None, pongs=(), close=None):
        self.what = what
        self.wire = wire
        self.reply_to = reply_to  # the unique id that must get a reply
        self.kinds = kinds  # acceptable reply message types
        self.lenient = lenient  # text CPython rejects: a reply is allowed, not required
        self.pongs = list(pongs)  # pong payloads owed, in order
        self.close = close  # terminal: the close code the firmware must send

    def __repr__(self):
        return "Item(%s, %r)" % (self.what, self.wire[:160])


# -- the oracle ------------------------------------------------------------------------


def _no_constants(name):
    raise ValueError("JSON has no %s" % name)


def has_surrogate(text):
    return any(0xD800 <= ord(c) <= 0xDFFF for c in text)


def oracle(text, may_succeed=False):
    """(reply_to, kinds, lenient) for a valid-UTF-8 text message."""
    try:
        msg = json.loads(text, parse_constant=_no_constants)
    except (ValueError, RecursionError):
        return None, (4,), text
    if not isinstance(msg, list) or len(msg) < 2:
        return None, (4,), None
    kind, uid = msg[0], msg[1]
    if type(kind) is not int or kind != 2 or not isinstance(uid, str) or has_surrogate(uid):
        return None, (4,), None  # J-09, or no id that could be echoed
    if max(map(ord, uid), default=0) > 0xFFFF and "\\ud" in text.lower():
        # An astral character written as an escaped surrogate pair: MicroPython's
        # json.loads keeps the two halves, so the id cannot be echoed as UTF-8
        # and is treated as unreadable (a documented limitation).
        return None, (4,), text
    proper = len(msg) == 4 and isinstance(msg[2], str) and isinstance(msg[3], dict) and len(uid) <= 36
    return uid, (3, 4) if proper and msg[2] in MAY_SUCCEED else (4,), None


# -- strategies --------------------------------------------------------------------------

# Characters that matter to a JSON parser and a UTF-8 decoder, plus some
# others: a small alphabet keeps generation fast (the suite has a budget).
ALPHABET = st.sampled_from(list('ab"\\/[]{},: \t\n\x00\x1f\x7fé€\u2028\uffff😀') + ["\U0010ffff"])
short_text = st.text(ALPHABET, max_size=10)
leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([2**64, -(2**70), 1e308, -0.0, 1.5e-300]),
    short_text,
    st.sampled_from(SURROGATE_IDS),
)
values = st.recursive(leaves, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(short_text, inner, max_size=3), max_leaves=4)
ids = st.one_of(
    st.text(ALPHABET, min_size=1, max_size=36),
    st.integers(37, MAX - 60).map(lambda n: "x" * n),
    st.sampled_from(SURROGATE_IDS),
    values,
)
kinds = st.one_of(st.just(2), st.just(2), st.sampled_from([3, 4, 0, 1, 5, -2, 2**70, 2.0, True, None, "2", [2]]), st.integers())
actions = st.one_of(short_text.filter(lambda a: a not in OCPP16_ACTIONS), st.sampled_from(MAY_SUCCEED), values)
payloads = st.one_of(st.dictionaries(short_text, values, max_size=3), values)


@st.composite
def call_texts(draw):
    """A JSON array shaped like an OCPP-J message, broken in any of its elements."""
    n = draw(st.sampled_from([4, 4, 4, 0, 1, 2, 3, 5, 6]))
    msg = [draw(s) for s in (kinds, ids, actions, payloads, values, values)[:n]]
    try:
        text = json.dumps(msg, ensure_ascii=draw(st.booleans()))
        text.encode()
    except UnicodeEncodeError:  # a lone surrogate: only the escaped form exists
        text = json.dumps(msg)
    return text


def mangle(draw, text):
    """Invalid JSON (mostly): cut short, a character inserted or deleted, quotes swapped."""
    i = draw(st.integers(0, len(text)))
    how = draw(st.sampled_from(["cut", "insert", "delete", "unquote"]))
    if how == "cut":
        return text[:i]
    if how == "insert":
        return text[:i] + draw(st.sampled_from(list('[]{},:"\\\x00x1e-. '))) + text[i:]
    if how == "delete":
        return text[:i] + text[i + 1 :]
    return text.replace('"', "'")


@st.composite
def deep(draw):
    """Deep nesting in the payload (a CALLERROR is due) or in the type field (ignored)."""
    depth = draw(st.integers(1, (MAX - 60) // 2))
    uid = "deep-%d" % depth
    where = draw(st.sampled_from(["payload-list", "payload-dict", "type", "unbalanced"]))
    if where == "payload-list":
        return Item("deep list", None, uid, (4,)), '[2, "%s", "DeepNest", %s]' % (uid, "[" * depth + "]" * depth)
    if where == "payload-dict":
        depth = min(depth, (MAX - 60) // 8)
        return Item("deep dict", None, uid, (4,)), '[2, "%s", "DeepNest", %s]' % (uid, '{"a":' * depth + "1" + "}" * depth)
    if where == "type":
        return Item("deep type", None), '[%s, "%s", "DeepNest", {}]' % ("[" * depth + "]" * depth, uid)
    return Item("unbalanced", None), '[2, "%s", "DeepNest", %s' % (uid, "[" * depth)


def split(draw, data):
    """Cut a message into 1..4 fragments (empty ones allowed)."""
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=3)))
    bounds = [0] + cuts + [len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


def text_wire(draw, data, opcode=rs.OP_TEXT):
    """A message as one frame, or fragmented with pings in between. -> (bytes, pong payloads)."""
    pieces = split(draw, data) if draw(st.integers(0, 4)) == 0 else [data]
    wire, pongs = b"", []
    for i, piece in enumerate(pieces):
        wire += rs.encode_frame(opcode if i == 0 else rs.OP_CONT, piece, fin=i == len(pieces) - 1)
        if i < len(pieces) - 1 and draw(st.booleans()):
            ping = draw(st.binary(max_size=125))
            wire += rs.encode_frame(rs.OP_PING, ping)
            pongs.append(ping)
    return wire, pongs


def text_item(draw, what, text):
    data = text.encode()
    if len(data) > MAX:  # keep it under the limit: oversize is a terminal case
        text = data[:MAX].decode("utf-8", "ignore")
        data = text.encode()
    reply_to, kinds_, lenient = oracle(text)
    wire, pongs = text_wire(draw, data)
    return Item(what, wire, reply_to, kinds_, lenient, pongs)


@st.composite
def hostile(draw):
    """A few non-terminal hostile messages: one drawn message and its mangled variants."""
    what = draw(st.sampled_from(["call", "call", "call", "text", "deep", "binary", "ping", "pong", "long-id"]))
    if what == "deep":
        item, text = draw(deep())
        item.wire, item.pongs = text_wire(draw, text.encode())
        return [item]
    if what == "binary":
        data = draw(st.one_of(st.binary(max_size=300), call_texts().map(str.encode)))[:MAX]
        wire, pongs = text_wire(draw, data, rs.OP_BINARY)
        return [Item("binary", wire, pongs=pongs)]
    if what == "ping":
        payload = draw(st.binary(max_size=125))
        return [Item("ping", rs.encode_frame(rs.OP_PING, payload), pongs=[payload])]
    if what == "pong":
        return [Item("pong", rs.encode_frame(rs.OP_PONG, draw(st.binary(max_size=125))))]
    if what == "long-id":
        uid = draw(short_text) + "y" * draw(st.integers(37, MAX - 60))
        return [text_item(draw, what, json.dumps([2, uid, "Probe", {}]))]
    if what == "text":
        return [text_item(draw, what, draw(st.text(max_size=40)))]
    text = draw(call_texts())
    return [text_item(draw, "call", text)] + [text_item(draw, "mangled", mangle(draw, text)) for _ in range(draw(st.integers(0, 4)))]


def invalid_utf8(data):
    try:
        data.decode("utf-8")
        return False
    except UnicodeDecodeError:
        return True


@st.composite
def terminal(draw):
    """One frame after which RFC 6455 wants the connection failed (or closed)."""
    what = draw(st.sampled_from(["utf8", "oversize", "oversize-fragments", "big-control", "fragmented-control", "masked", "rsv", "opcode", "cont-first", "text-in-fragments", "close"]))
    if what == "utf8":
        bad = draw(st.binary(min_size=1, max_size=40).filter(invalid_utf8))
        wire, _ = text_wire(draw, b'[2, "u", "' + bad + b'", {}]')
        return Item(what, wire, close=1007)
    if what == "oversize":
        claimed = draw(st.integers(MAX + 1, 2**63 - 1))
        return Item(what, rs.encode_frame(rs.OP_TEXT, draw(st.binary(max_size=100)), length=claimed), close=1009)
    if what == "oversize-fragments":
        n = draw(st.integers(2, 5))
        size = MAX // (n - 1) + 1
        wire = b"".join(rs.encode_frame(rs.OP_TEXT if i == 0 else rs.OP_CONT, b" " * size, fin=False) for i in range(n))
        return Item(what, wire, close=1009)
    if what == "big-control":
        opcode = draw(st.sampled_from([rs.OP_PING, rs.OP_PONG, rs.OP_CLOSE]))
        return Item(what, rs.encode_frame(opcode, draw(st.binary(min_size=126, max_size=300))), close=1002)
    if what == "fragmented-control":
        opcode = draw(st.sampled_from([rs.OP_PING, rs.OP_PONG, rs.OP_CLOSE]))
        return Item(what, rs.encode_frame(opcode, draw(st.binary(max_size=20)), fin=False), close=1002)
    if what == "masked":
        opcode = draw(st.sampled_from([rs.OP_TEXT, rs.OP_BINARY, rs.OP_PING]))
        return Item(what, rs.encode_frame(opcode, b'[2, "m", "X", {}]', mask=draw(st.binary(min_size=4, max_size=4))), close=1002)
    if what == "rsv":
        return Item(what, rs.encode_frame(rs.OP_TEXT, b"{}", rsv=draw(st.integers(1, 7))), close=1002)
    if what == "opcode":
        opcode = draw(st.sampled_from([3, 4, 5, 6, 7, 11, 12, 13, 14, 15]))
        return Item(what, rs.encode_frame(opcode, draw(st.binary(max_size=20))), close=1002)
    if what == "cont-first":
        return Item(what, rs.encode_frame(rs.OP_CONT, draw(st.binary(max_size=20)), fin=draw(st.booleans())), close=1002)
    if what == "text-in-fragments":
        return Item(what, rs.encode_frame(rs.OP_TEXT, b"[2,", fin=False) + rs.encode_frame(draw(st.sampled_from([rs.OP_TEXT, rs.OP_BINARY])), b"]"), close=1002)
    # The server closes: a 2-byte code is echoed, no body -> 1000, one byte -> 1002.
    code = draw(st.one_of(st.none(), st.sampled_from([1000, 1001, 1002, 1003, 1007, 1008, 1009, 1011, 3000, 4000, 4999]), st.just(-1)))
    body = b"" if code is None else b"\x05" if code == -1 else struct.pack("!H", code) + draw(st.text(max_size=20)).encode()[:100]
    return Item(what, rs.encode_frame(rs.OP_CLOSE, body), close=1000 if code is None else 1002 if code == -1 else code)


batches = st.tuples(
    st.lists(hostile(), min_size=PER_BATCH[0], max_size=PER_BATCH[1]).map(lambda groups: [item for group in groups for item in group]),
    terminal(),  # used by one batch in four (one_batch): how often hypothesis drew it varied between runs
)


# -- the exchange --------------------------------------------------------------------------


class Run:
    def __init__(self, raw, fw):
        self.raw = raw
        self.fw = fw
        self.conn = raw.conns[0]
        self.batches = 0
        self.frames = 0
        self.closes = 0
        self.failure = None  # (exception, batch) of the first failing batch

    async def exchange(self, items, end):
        """Send a batch and its probe; -> (replies before the probe, pongs, the close frame)."""
        conn = self.conn
        probe = "probe-%d" % self.batches
        wire = b"".join(i.wire for i in items) + rs.encode_frame(rs.OP_TEXT, json.dumps([2, probe, "Probe", {}]))
        if end is not None:
            wire += end.wire
            conn.close_sent = end.what == "close"
        conn.writer.write(wire)
        try:
            await conn.writer.drain()
        except ConnectionError:
            if end is None:
                raise  # only a terminal frame may end the connection
        replies, pongs, close = [], [], None
        while True:
            f = await asyncio.wait_for(conn.inbox.get(), 20)
            if f.opcode == rs.OP_PONG:
                pongs.append(f.payload)
                continue
            assert f.opcode == rs.OP_TEXT and f.fin, "unexpected frame from the charge point: %r" % f
            assert f.text is not None, "the charge point sent invalid UTF-8: %r" % f
            msg = json.loads(f.text)
            if msg[1] == probe:
                break
            replies.append(msg)
        if end is not None:
            while close is None and not (conn.t_closed and conn.inbox.empty()):
                try:
                    f = await asyncio.wait_for(conn.inbox.get(), 0.1)
                except asyncio.TimeoutError:
                    continue
                close = f if f.opcode == rs.OP_CLOSE else None
            await self._reconnected(conn)
        return replies, pongs, close

    async def _reconnected(self, old):
        deadline = time.monotonic() + 10
        while not (old.t_closed and len(self.raw.conns) > old.index + 1 and self.raw.conns[-1].t_upgraded):
            assert time.monotonic() < deadline, "no reconnect after the close"
            await asyncio.sleep(0.01)
        self.conn = self.raw.conns[-1]

    def check(self, items, end):
        if self.failure:
            return  # the first failure stands; later batches would only cascade
        try:
            replies, pongs, close = self.raw.run(self.exchange(items, end))
        except (asyncio.TimeoutError, ConnectionError) as e:
            tail = [line for line in self.fw.log.splitlines() if "diag: heap" not in line and "qstr pool" not in line][-30:]
            seen = self.conn.rx[-5:]
            raise AssertionError("%r on connection %d (of %d), which last received %r; the charge point's log ends:\n%s" % (e, self.conn.index + 1, len(self.raw.conns), seen, "\n".join(tail))) from None
        self.batches += 1
        self.frames += len(items) + (end is not None)
        # The replies to readable CALLs, in order; between them only answers
        # to frames CPython calls invalid JSON and MicroPython reads anyway.
        extras, j = [], 0
        for item in items:
            if item.reply_to is None:
                continue
            while j < len(replies) and replies[j][1] != item.reply_to:
                extras.append(replies[j])
                j += 1
            assert j < len(replies), "no reply to %r" % item
            assert replies[j][0] in item.kinds, "%r answered with %r" % (item, replies[j])
            j += 1
        extras += replies[j:]
        assert len(extras) <= sum(item.lenient is not None for item in items), "replies to frames that deserve none: %r" % extras
        assert all(msg[0] == 4 for msg in extras), extras
        for msg in replies:
            assert msg[0] in (3, 4), msg
            if msg[0] == 4:  # ERR-01, J-12: five elements, a 1.6 code
                assert len(msg) == 5 and msg[2] in ERROR_CODES and isinstance(msg[3], str) and isinstance(msg[4], dict), msg
        owed = [p for item in items for p in item.pongs]
        assert pongs == owed, "pongs %r, owed %r" % (pongs, owed)
        if end is not None:
            self.closes += 1
            assert close is not None, "%r: the connection ended without a close frame" % end
            assert close.masked and close.close_code == end.close, "%r answered with close %s" % (end, close.close_code)


@pytest.mark.slow
def test_hostile_frames(raw, firmware):
    """ERR-01, ERR-03, ERR-04, J-07, J-09, J-10, J-12, J-14, HB-01: 10,000+ hostile frames; never exits, answers or ignores as 1.6 says, heap bounded."""
    raw.boot_interval = 1
    fw = firmware(
        raw.port,
        {
            "centralSystem": {"maxFrameSize": MAX},
            "ocpp": {"webSocketPingInterval": 1, "messageTimeout": 5},
            "reconnect": {"waitMinimum": 0.05, "randomRange": 0},
            "log": {"level": "info", "heapInterval": 0.2},
        },
    )
    raw.wait_upgraded(1)
    fw.wait_log("registration Accepted")
    fw.wait_log("heap alloc=", count=2)
    run = Run(raw, fw)
    started = time.monotonic()

    @settings(
        max_examples=BATCHES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(batch=batches)
    def one_batch(batch):
        items, end = batch
        if run.batches % 4 != 3:
            end = None  # one batch in four ends the connection: 52 of 210, whatever hypothesis draws
        try:
            run.check(items, end)
        except Exception as e:
            run.failure = run.failure or (e, batch)
            raise

    one_batch()
    if run.failure:  # hypothesis reports it too; this keeps it from being lost
        raise AssertionError("batch %d failed: %s\nbatch: %r" % (run.batches, run.failure[0], run.failure[1]))
    took = time.monotonic() - started
    assert run.frames >= 10000, run.frames
    assert run.closes >= 20, (run.closes, run.batches, run.frames)
    assert_alive(fw)
    # Still heartbeating: Heartbeat.req at least every interval (1 s) plus slack, reconnects included.
    beats = [f.t for f in raw.calls("Heartbeat") if f.t >= started]
    assert len(beats) >= took / 2, (len(beats), took)
    gaps = [b - a for a, b in zip([started] + beats, beats + [time.monotonic()])]
    assert max(gaps) < 1 + 1.5, max(gaps)
    assert len(raw.calls("BootNotification")) == 1
    # Bounded memory: every heap report during the run within a fixed bound.
    heap = [int(m.group(1)) for _, m in log_events(fw, r"heap alloc=(\d+)")]
    assert max(heap) - heap[0] <= HEAP_GROWTH_BOUND, (heap[0], max(heap))
    print("fuzz: %d frames in %d batches, %d closes, %.1f s; heap %d..%d bytes" % (run.frames, run.batches, run.closes, took, min(heap), max(heap)))


# -- pinned cases (each failed before its fix) ------------------------------------------


def registered(raw, firmware):
    fw = firmware(raw.port)
    conn = raw.wait_upgraded(1)
    fw.wait_log("registration Accepted")
    return fw, conn


def reply_to(raw, conn, uid, timeout=5):
    return raw.wait_frame(lambda f: f.conn is conn and f.msg and f.msg[1] == uid, timeout, "the reply to %s" % uid)


def test_lone_surrogate_escapes_never_leave_as_invalid_utf8(raw, firmware):
    """J-07, ERR-03, J-09: a "\\ud800" escape in the id -> ignored (it cannot be echoed); in echoed text -> a CALLERROR that is valid UTF-8."""
    fw, conn = registered(raw, firmware)
    raw.run(conn.send_call("\ud800", "Probe", {}))  # json.dumps writes the escape
    raw.run(conn.send_call("sur-1", "Fly\udfffAway", {}))  # the action goes into the description
    raw.run(conn.send_call("sur-2", "GetConfiguration", {"key": ["No\ud800Key"]}))  # unknownKey echoes it
    raw.run(conn.send_call("sur-3", "Probe", {}))
    reply_to(raw, conn, "sur-3")
    texts = [f for f in conn.rx if f.opcode == rs.OP_TEXT]
    assert all(f.text is not None for f in texts), [f for f in texts if f.text is None]
    replies = {f.msg[1]: f.msg for f in texts if f.msg and f.msg[0] in (3, 4)}
    assert set(replies) >= {"sur-1", "sur-2", "sur-3"} and not any(has_surrogate(uid) for uid in replies)
    assert replies["sur-1"][0] == 4 and replies["sur-1"][2] in ERROR_CODES
    assert replies["sur-2"][0] == 4 and replies["sur-2"][2] == "FormationViolation"
    fw.wait_log(r"ignored a frame whose unique id is not a valid string")
    assert_alive(fw)


def test_a_lone_surrogate_is_never_stored_to_go_out_later(raw, firmware):
    """J-07: a "\\ud800" escape in a value that is kept and sent later (ChangeConfiguration of the free-text
    CpoName, which GetConfiguration reports) must not be taken in: its reply to that GetConfiguration would be
    a text frame that is not UTF-8, which the central system must fail the connection for (RFC 6455 8.1), at
    every GetConfiguration from then on. The change is refused (FormationViolation, as echoed text is); the
    key keeps its value and GetConfiguration answers in valid UTF-8."""
    fw, conn = registered(raw, firmware)
    raw.run(conn.send_call("cpo-1", "ChangeConfiguration", {"key": "CpoName", "value": "Evil\ud800Corp"}))
    change = reply_to(raw, conn, "cpo-1")
    raw.run(conn.send_call("cpo-2", "GetConfiguration", {"key": ["CpoName"]}))
    raw.run(conn.send_call("cpo-3", "Probe", {}))
    reply_to(raw, conn, "cpo-3")
    texts = [f for f in conn.rx if f.opcode == rs.OP_TEXT]
    assert all(f.text is not None for f in texts), [f for f in texts if f.text is None]
    assert change.msg[0] == 4 and change.msg[2] == "FormationViolation", change.msg
    got = reply_to(raw, conn, "cpo-2")
    assert got.msg[2]["configurationKey"] == [{"key": "CpoName", "readonly": False, "value": ""}], got.msg
    assert_alive(fw)


def test_deeply_nested_message_type_is_ignored_quietly(raw, firmware):
    """J-09: a message type that is a 3,000-deep list is ignored with a warning naming its type, not an error."""
    fw, conn = registered(raw, firmware)
    raw.run(conn.send_text('[%s, "d-1", "X", {}]' % ("[" * 3000 + "]" * 3000)))
    raw.run(conn.send_call("d-2", "Probe", {}))
    reply_to(raw, conn, "d-2")
    fw.wait_log(r"ignored a frame with message type list \(J-09\)")
    assert "message handling failed" not in fw.log
    assert not any(f.msg and f.msg[1] == "d-1" for f in conn.rx)
    assert_alive(fw)


def test_a_request_is_released_before_its_reply_goes_out(raw, firmware):
    """300 requests of nested brackets (8 KB each, ~30 times that parsed) pipelined: none is still held while its reply is written."""
    fw = firmware(raw.port, {"log": {"level": "info", "heapInterval": 0.01}})
    conn = raw.wait_upgraded(1)
    fw.wait_log("registration Accepted")
    fw.wait_log(r"heap alloc=", count=3)
    start = int(log_events(fw, r"heap alloc=(\d+)")[-1][1].group(1))
    seen = len(log_events(fw, r"heap alloc="))
    deep = rs.encode_frame(rs.OP_TEXT, '[2, "deep", "DeepNest", %s]' % ("[" * 4000 + "]" * 4000))
    raw.run(conn.send(deep * 300))
    raw.run(conn.send_call("end", "Probe", {}))
    # 300 parses of 4,000 nested brackets: 2-4 s alone, up to 10 s on a
    # loaded machine (5 s failed there, before this stop's changes too).
    reply_to(raw, conn, "end", timeout=30)
    during = [int(m.group(1)) for _, m in log_events(fw, r"heap alloc=(\d+)")[seen:]]
    assert len(during) >= 10  # the report ran while the requests were handled
    assert max(during) - start <= 4 * 8192, (start, max(during))
    assert_alive(fw)
