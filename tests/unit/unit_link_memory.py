# link/link.py: a MemoryError in a connection attempt (outside the connect
# itself: starting the connection's tasks, the security bookkeeping, a log
# line) no longer ends the link task: it backs off and connects again.
import asyncio

from check import eq

from uocpp import log
from uocpp.link.link import Link
from uocpp.model.keys import Keys
from uocpp.model.state import State

log.set_level("error")

CS = {"chargePointId": "CP1", "connectTimeout": 1, "maxFrameSize": 8192}


class Security:
    # target() -> a port nothing listens on; attempted() raises MemoryError once.
    def __init__(self):
        self.attempts = 0

    def target(self):
        return "ws://127.0.0.1:9", False, None

    def attempted(self, error):
        self.attempts += 1
        if self.attempts == 1:
            raise MemoryError("memory allocation failed")


async def test_memory_error_in_an_attempt_does_not_end_the_link_task():
    keys = Keys("/tmp/uocpp-unit-no-such-keys.json", {"RetryBackOffWaitMinimum": 0.05, "RetryBackOffRandomRange": 0, "RetryBackOffRepeatTimes": 1})
    sec = Security()
    link = Link(CS, keys, sec, State(), None)
    task = asyncio.create_task(link.run())
    for _ in range(100):
        await asyncio.sleep_ms(50)
        if sec.attempts >= 2:
            break
    eq(task.done(), False, "the link task lives")
    eq(sec.attempts >= 2, True, "it connected again")
    task.cancel()


class Ws:
    # One CALL to read, then nothing; every send fails (no heap for the reply).
    def __init__(self):
        self.texts = ['[2, "c1", "Anything", {}]']
        self.last_rx = 0

    async def recv(self):
        if self.texts:
            return self.texts.pop(0)
        await asyncio.sleep_ms(100000)

    async def send(self, frame):
        raise MemoryError("memory allocation failed")


class Registration:
    def answers_calls(self):
        return True


async def test_a_reply_that_cannot_be_sent_ends_the_connection():
    # The stream's state is unknown after a frame that did not go out
    # whole: the connection ends (and the link connects again) instead of
    # carrying on mute or writing after half a frame.
    from uocpp.rpc import Rpc

    keys = Keys("/tmp/uocpp-unit-no-such-keys.json", {})
    rpc = Rpc(lambda action, payload: {}, Registration(), keys)
    link = Link(CS, keys, Security(), State(), rpc)
    link._down = False  # a connection up (_serve)
    reader = asyncio.create_task(link._read(Ws()))
    for _ in range(50):
        await asyncio.sleep_ms(10)
        if reader.done():
            break
    eq(reader.done(), True, "the reader ended")
    eq(link._down, True, "the connection is down")
    eq(link._probe.is_set(), True, "the keepalive is woken to end it")


class Writer:
    # The stream as the WebSocket writes to it: takes every byte at once.
    def __init__(self):
        self.data = bytearray()
        self.out_buf = b""
        self.closed = False

    def write(self, buf):
        self.data.extend(buf)

    def close(self):
        self.closed = True

    async def wait_closed(self):
        pass


def pieces(count, fail_at=None):
    # A reply made as it is sent (GetConfiguration's): `count` pieces of 100
    # B; the piece `fail_at` is out of memory on the second making (the
    # bytes), or on the first (the length) when fail_at is negative.
    made = [0]

    def make():
        made[0] += 1
        for i in range(count):
            if fail_at is not None and i == abs(fail_at) and (made[0] == 2) == (fail_at > 0):
                raise MemoryError("memory allocation failed")
            yield "x" * 100

    return make


async def test_a_reply_out_of_memory_before_its_first_byte_leaves_the_link_as_it_was():
    from uocpp.link.websocket import WebSocket

    w = Writer()
    ws = WebSocket(None, w, 8192)
    await ws.send(pieces(5))
    eq((len(w.data), ws.closed), (2 + 2 + 4 + 500, False), "sent whole: header, 16-bit length, mask, 500 B")
    w.data = bytearray()
    for fail_at in (-3, 1):  # making its length; the bytes, within the first 256 B (none written yet)
        try:
            await ws.send(pieces(5, fail_at))
        except MemoryError:
            pass
        eq((len(w.data), ws.closed), (0, False), "nothing written, still open (%d)" % fail_at)
    try:
        await ws.send(pieces(5, 4))  # after 300 B went out: part of a frame
    except MemoryError:
        pass
    eq((len(w.data) > 0, ws.closed, w.closed), (True, True, True), "the connection ends after part of a frame")


async def test_a_reply_out_of_memory_before_its_first_byte_becomes_a_callerror():
    from uocpp.rpc import Rpc

    sent = []

    async def send(frame):
        if callable(frame):
            raise MemoryError("memory allocation failed")
        sent.append(frame)

    keys = Keys("/tmp/uocpp-unit-no-such-keys.json", {})
    rpc = Rpc(lambda action, payload: pieces(3), Registration(), keys)
    await rpc.on_message('[2, "c1", "GetConfiguration", {}]', send)
    eq(sent, ['[4, "c1", "InternalError", "out of memory", {}]'], "the CALLERROR instead, the link up")


class QuietWs:
    # A connection whose peer says nothing: recv() waits until cancelled.
    def __init__(self):
        self.last_rx = 0
        self.reading = asyncio.Event()
        self.cancelled = False
        self.closed = False

    async def recv(self):
        self.reading.set()
        try:
            await asyncio.sleep_ms(100000)
        except asyncio.CancelledError:
            self.cancelled = True
            raise

    async def ping(self):
        pass

    async def close(self):
        self.closed = True


class NoHeapRpc:
    # link_lost() finds no heap: the LinkLost it makes for a CALL waiting
    # for its reply is an allocation.
    def link_lost(self):
        raise MemoryError("memory allocation failed")


async def test_no_heap_as_a_connection_ends_still_ends_its_tasks():
    # Else the old connection's reader lives on beside the next connection
    # (answering CALLs on the old socket, and ending the new connection
    # when it ends), and the old socket stays open.
    keys = Keys("/tmp/uocpp-unit-no-such-keys.json", {})
    link = Link(CS, keys, Security(), State(), NoHeapRpc())
    ws = QuietWs()

    async def one_connection():
        try:
            await link._serve(ws)
        except MemoryError:
            pass  # run() takes it: backs off and connects again

    serve = asyncio.create_task(one_connection())
    await asyncio.wait_for_ms(ws.reading.wait(), 1000)
    link.drop("test")
    for _ in range(50):
        await asyncio.sleep_ms(10)
        if serve.done() and ws.cancelled:
            break
    eq(serve.done(), True, "the connection ended")
    eq((ws.cancelled, ws.closed, link._ws is None, link.up.is_set()), (True, True, True, False), "its reader cancelled, its socket closed")


async def test_no_heap_after_a_connect_closes_that_connection():
    # Security.attempted() after a connect that worked finds no heap (a
    # profile trial loads its code on use): the new connection is closed,
    # not left open to the central system beside the next attempt's.
    from uocpp.link import handshake  # the attempt finds this one in sys.modules

    made = []

    async def connect(url, **kw):
        made.append(QuietWs())
        return made[-1]

    real = handshake.connect
    handshake.connect = connect
    try:
        link = Link(CS, Keys("/tmp/uocpp-unit-no-such-keys.json", {}), Security(), State(), None)
        try:
            await link._attempt()
        except MemoryError:
            pass  # run() takes it: backs off and connects again
    finally:
        handshake.connect = real
    eq((len(made), made[0].closed), (1, True), "the connection made is closed")


def test_rotated_authorization_keys_do_not_pile_up_in_the_masked_secrets():
    # Every AuthorizationKey a ChangeConfiguration set stayed in log.secrets
    # until reboot: heap that grew with each rotation (a central system
    # rotating daily: kilobytes in months) and a longer mask() per log line.
    # The key it replaced leaves; the one in force stays masked.
    link = Link(CS, Keys("/tmp/uocpp-unit-no-such-keys.json", {}), Security(), State(), None)
    before = len(log.secrets)
    for n in range(10):
        link.new_key("%040x" % (n + 1))
    eq(len(log.secrets), before + 1, "secrets after ten rotations")
    eq(log.mask("k=%040x" % 10), "k=***", "the key in force masked")


async def test_a_long_outage_keeps_the_log_from_before_it():
    # Every reconnect attempt wrote "connecting to ..." and "...; backing
    # off ..." to the flash log (log.flashLevel info, 32 KB): a few hours
    # offline and the log from before the outage (what GetDiagnostics is
    # for) was gone. The first attempts are said, then the 8th, 16th, 32nd...
    import os

    from check import TempDir

    class Refused:
        attempts = 0
        enough = asyncio.Event()

        def target(self):
            return "ws://127.0.0.1:9", False, None

        def attempted(self, error):
            self.attempts += 1
            if self.attempts >= 300:
                self.enough.set()

    keys = Keys("/tmp/uocpp-unit-no-such-keys.json", {"RetryBackOffWaitMinimum": 0.001, "RetryBackOffRandomRange": 0, "RetryBackOffRepeatTimes": 1})
    sec = Refused()
    with TempDir("outage") as d:
        log.open_ring(d + "/log", "info", 32768, 2)
        try:
            log.info("app", "before the outage")
            task = asyncio.create_task(Link(CS, keys, sec, State(), None).run())
            await asyncio.wait_for(sec.enough.wait(), 30)
            task.cancel()
            log.ring.close()
            with open(d + "/log/0.txt") as f:
                text = f.read()
        finally:
            log.open_ring(d + "/log", "off", 0, 1)
            for name in os.listdir(d + "/log"):
                os.remove(d + "/log/" + name)
            os.rmdir(d + "/log")
    lines = text.splitlines()
    eq("before the outage" in lines[0], True, "the line before the outage kept")
    eq(len(lines) <= 40, True, "%d lines on flash for 300 attempts" % len(lines))
