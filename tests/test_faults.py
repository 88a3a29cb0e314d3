"""The fault matrix: each fault caused for real on 127.0.0.1, firmware on the unix port.

In every case the firmware recovers by itself, stays alive (no traceback),
sends no second BootNotification (it did not reboot), waits its back-off
before each new attempt, and holds no socket beyond the live one afterwards.
Peers: the `ocpp` central system (tools/central_system.py, also as a process
that gets SIGKILLed) and the raw server of harness/raw_server.py.
"""

import json
import signal
import subprocess
import sys
import time

import pytest

from central_system import CentralSystemThread
from harness import raw_server as rs
from harness.net import free_port
from harness.firmware import REPO
from harness.health import assert_alive, assert_backoff_respected, backoff_waits, log_events, open_sockets, wait_next_log

# Back-off of the FAST config: 0.2 s doubling twice, no random part.
WAITS = [0.2, 0.4, 0.8, 0.8]
SLACK = 1.0  # scheduling on a loaded CI machine


def recovered(fw):
    """The common end of every fault: healthy, back-off kept, one socket."""
    assert_alive(fw)
    assert_backoff_respected(fw)
    # The old connection's socket is closed by now (the close handshake has a
    # 2 s cap); only the live one remains.
    deadline = time.monotonic() + 5
    while open_sockets(fw) != 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert open_sockets(fw) == 1


def heartbeats_on(conn):
    return [m for m in conn.messages() if m[0] == 2 and m[2] == "Heartbeat"]


# -- the central system goes away ---------------------------------------------


def start_cs_process(port):
    """tools/central_system.py as its own process (so it can be SIGKILLed)."""
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "tools" / "central_system.py"), "--port", str(port), "--boot", "Accepted:1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    for line in proc.stdout:
        if "listening" in line:
            return proc
    raise RuntimeError("central system did not start (exit %s)" % proc.wait())


def test_central_system_killed_mid_session(firmware):
    """BO-01, BO-02, BO-06, J-24: SIGKILL the CS process -> back-off while refused; a new CS gets heartbeats, no BootNotification."""
    port = free_port()
    proc = start_cs_process(port)
    try:
        fw = firmware(port)
        fw.wait_log("registration Accepted")
        fw.wait_log(r'frame: >> \[2, "[^"]+", "Heartbeat"', count=2)  # one answered, the next in flight
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
        proc.stdout.close()
    fw.wait_log(r"link: read ended")
    fw.wait_log(r"connect failed.*backing off", count=3, timeout=10)
    cs = CentralSystemThread(port=port, boot_plan=[("Accepted", 1)]).start()
    try:
        cs.wait_received("Heartbeat", count=2, timeout=10)
        assert cs.received("BootNotification") == []
        fw.wait_log(r"connected \(connection 2\)")
        assert backoff_waits(fw)[:4] == WAITS
        recovered(fw)
    finally:
        cs.stop()


def test_central_system_stopped_while_a_call_is_pending(firmware):
    """J-17, BO-01, J-24: the CS shuts down while our Heartbeat waits -> the call ends at once, no timeout, and recovery."""
    port = free_port()
    cs = CentralSystemThread(port=port, boot_plan=[("Accepted", 1)]).start()
    cs.ignore_actions.add("Heartbeat")  # the Heartbeat stays unanswered
    fw = firmware(port, {"ocpp": {"messageTimeout": 30}})
    cs.wait_received("Heartbeat")
    cs.stop()
    fw.wait_log(r"heartbeat: no answer: link lost while waiting for the reply", timeout=5)
    fw.wait_log(r"backing off", count=2)
    cs = CentralSystemThread(port=port, boot_plan=[("Accepted", 1)]).start()
    try:
        cs.wait_received("Heartbeat", count=2, timeout=10)
        assert cs.received("BootNotification") == []
        assert "no reply within" not in fw.log
        recovered(fw)
    finally:
        cs.stop()


def test_tcp_reset_while_a_call_is_pending(raw, firmware):
    """BO-01, J-24: RST (SO_LINGER 0) as our Heartbeat waits -> reconnect after the minimum wait, heartbeats resume."""
    raw.boot_interval = 1
    answer = raw.on_call

    def on_call(conn, msg):
        if conn.index == 0 and msg[2] == "Heartbeat":
            conn.reset()
            return None
        return answer(conn, msg)

    raw.on_call = on_call
    raw.swallow_unanswered = True
    fw = firmware(raw.port)
    c2 = raw.wait_conn(2, timeout=10)
    raw.wait_for(lambda: len(heartbeats_on(c2)) >= 2, 10, "heartbeats on the new connection")
    fw.wait_log(r"read ended: .*(104|ECONNRESET)")
    fw.wait_log(r"heartbeat: no answer: link lost")
    assert len(raw.calls("BootNotification")) == 1
    assert backoff_waits(fw) == [0.2]
    assert c2.t_open - raw.conns[0].t_closed >= 0.2 - 0.01
    recovered(fw)


# -- half-open links ------------------------------------------------------------


def silence_and_time_detection(raw, fw, conn):
    """The server stops reading and answering; returns seconds until the firmware says the link is dead."""
    t0 = time.monotonic()
    raw.run(conn.pause_reading())
    return wait_next_log(fw, r"link is dead", timeout=20) - t0


def test_half_open_found_by_pong_timeout(raw, firmware):
    """J-25: the server goes silent -> no pong within messageTimeout of a ping -> dead within pingInterval + timeout; reconnect."""
    fw = firmware(raw.port, {"ocpp": {"webSocketPingInterval": 1, "messageTimeout": 1}})
    c1 = raw.wait_conn(1)
    fw.wait_log("registration Accepted")
    raw.wait_frame(lambda f: f.opcode == rs.OP_PING, 5, "a ping")  # the keepalive runs
    took = silence_and_time_detection(raw, fw, c1)
    assert took <= 1 + 1 + 0.6, took
    fw.wait_log(r"nothing received within 1\.0 s of a ping: link is dead")
    c2 = raw.wait_conn(2, timeout=10)
    raw.wait_frame(lambda f: f.conn is c2 and f.opcode == rs.OP_PING, 5, "pings on the new connection")
    assert len(raw.calls("BootNotification")) == 1
    recovered(fw)


def test_half_open_found_by_call_timeout(raw, firmware):
    """J-17, J-19: no pings configured; a Heartbeat times out -> probe ping -> no pong -> dead; reconnect, heartbeats resume."""
    raw.boot_interval = 1
    fw = firmware(raw.port, {"ocpp": {"webSocketPingInterval": 0, "messageTimeout": 1}})
    c1 = raw.wait_conn(1)
    raw.wait_calls("Heartbeat", 1)
    took = silence_and_time_detection(raw, fw, c1)
    # Next heartbeat due (1 s) + its timeout (1 s) + the probe's pong timeout (1 s).
    assert took <= 1 + 1 + 1 + SLACK, (took, fw.log)
    fw.wait_log(r"Heartbeat [0-9a-f-]+: no reply within 1000 ms")
    c2 = raw.wait_conn(2, timeout=10)
    raw.wait_for(lambda: len(heartbeats_on(c2)) >= 2, 10, "heartbeats on the new connection")
    assert len(raw.calls("BootNotification")) == 1
    recovered(fw)


@pytest.mark.parametrize("ping", [0, 30])
def test_peer_that_stops_reading_is_dropped(firmware, ping):
    """J-25: a server that floods CALLs but reads nothing fills the TCP window -> a send that cannot finish within messageTimeout ends the link."""
    raw = rs.RawServer(rcvbuf=4096).start()  # a small window fills sooner
    try:
        fw = firmware(raw.port, {"ocpp": {"webSocketPingInterval": ping, "messageTimeout": 1}, "log": {"level": "info"}})
        c1 = raw.wait_conn(1)
        fw.wait_log("registration Accepted")

        async def flood():
            await c1.pause_reading()
            # Ids over 36 characters: each comes back in a CALLERROR, ~1 KB a reply.
            c1.writer.write(b"".join(rs.encode_frame(rs.OP_TEXT, json.dumps([2, "%06d" % i + "i" * 1000, "Flood", {}])) for i in range(3000)))

        raw.run(flood())
        fw.wait_log(r"peer took no data for 1000 ms", timeout=30)
        raw.wait_conn(2, timeout=10)
        assert len(raw.calls("BootNotification")) == 1
        recovered(fw)
    finally:
        raw.stop()


def test_reply_after_timeout_is_dropped(raw, firmware):
    """J-16, J-17, J-19: a CALLRESULT that comes after its call timed out is ignored; the next call gets its own reply."""
    raw.boot_interval = 1
    held = []
    answer = raw.on_call

    def on_call(conn, msg):
        if msg[2] == "Heartbeat" and not held:
            held.append(msg)  # the first Heartbeat gets no answer in time
            return None
        if msg[2] == "Heartbeat" and len(held) == 1:
            # Heartbeat 2: first the stale reply to Heartbeat 1, then its own.
            held.append(msg)
            late = [3, held[0][1], {"currentTime": rs.utc_now()}]
            conn.writer.write(rs.encode_frame(rs.OP_TEXT, json.dumps(late)))
        return answer(conn, msg)

    raw.on_call = on_call
    raw.swallow_unanswered = True
    fw = firmware(raw.port, {"ocpp": {"messageTimeout": 1}})
    raw.wait_calls("Heartbeat", 4, timeout=10)
    first, second = held[0][1], held[1][1]
    fw.wait_log(r"Heartbeat %s: no reply within 1000 ms" % first)
    fw.wait_log(r"ignored a reply for unknown or expired id %s" % first)
    assert "no reply within 1000 ms" not in fw.log.split(first + ": no reply")[1]  # only the first ever timed out
    assert "%s\", {\"currentTime\"" % second in fw.log  # the second got its own answer
    assert len(raw.conns) == 1
    assert_alive(fw)


# -- the opening handshake --------------------------------------------------------


async def _status(conn, status, headers=(), body=b""):
    await conn.read_request()
    await conn.respond(status, headers=headers, body=body)
    await conn.wait_eof()


async def _raw_answer(conn, data, then_close=False):
    await conn.read_request()
    await conn.send(data)
    if then_close:
        await conn.close()
    else:
        await conn.wait_eof()


async def _upgrade(conn, **kw):
    await conn.read_request()
    await conn.respond(101, **kw)
    await conn.wait_eof()


async def _close_after_request(conn):
    await conn.read_request()
    await conn.close()


async def _reset_after_request(conn):
    await conn.read_request()
    conn.reset()


async def _silent(conn):
    await conn.read_request()
    await conn.wait_eof()


HANDSHAKE_FAULTS = {
    "401": (lambda c: _status(c, 401, ['WWW-Authenticate: Basic realm="ocpp"']), r"HTTP 401"),
    "404": (lambda c: _status(c, 404), r"HTTP 404"),
    # A reason phrase in Latin-1 (RFC 7230 obs-text): still the 401 it is.
    "401-latin1-reason": (lambda c: _raw_answer(c, b"HTTP/1.1 401 Non autoris\xe9\r\nContent-Length: 0\r\n\r\n"), r"HTTP 401"),
    "500": (lambda c: _status(c, 500, body=b"oops"), r"HTTP 500"),
    "503": (lambda c: _status(c, 503, ["Retry-After: 1"]), r"HTTP 503"),
    "302": (lambda c: _status(c, 302, ["Location: ws://127.0.0.1:1/elsewhere"]), r"HTTP 302"),
    "200": (lambda c: _status(c, 200, body=b"<html>hello</html>"), r"HTTP 200"),
    "no-subprotocol": (lambda c: _upgrade(c, protocol=None), r"did not agree to subprotocol ocpp1\.6"),
    "wrong-subprotocol": (lambda c: _upgrade(c, protocol="ocpp2.0.1"), r"did not agree to subprotocol ocpp1\.6"),
    "wrong-accept": (lambda c: _upgrade(c, accept=rs.accept_key(b"not-the-key")), r"wrong Sec-WebSocket-Accept"),
    "no-upgrade-header": (
        lambda c: _raw_answer(c, b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Protocol: ocpp1.6\r\n\r\n"),
        r"no 'Upgrade: websocket'",
    ),
    "garbage": (lambda c: _raw_answer(c, b"SSH-2.0-OpenSSH_9.2\r\n\x00\xff\xfe garbage\r\n\r\n"), r"not an HTTP answer"),
    "endless-header": (lambda c: _raw_answer(c, b"HTTP/1.1 101 OK\r\nX-Long: " + b"a" * 6000), r"HTTP header larger than 4096 bytes"),
    "close-before-answer": (_close_after_request, r"server closed the connection during the handshake"),
    "close-mid-headers": (lambda c: _raw_answer(c, b"HTTP/1.1 101 Switching Protocols\r\nUpgr", then_close=True), r"server closed the connection during the handshake"),
    "reset": (_reset_after_request, r"connect failed: .*(104|ECONNRESET)"),
    "silent": (_silent, r"connect timed out"),
}


@pytest.mark.parametrize("fault", sorted(HANDSHAKE_FAULTS))
def test_handshake_fault_backs_off_then_connects(raw, firmware, fault):
    """J-03, J-04, J-05, BO-01, BO-02: a bad answer to the upgrade (twice) -> growing back-off, then a good one registers."""
    script, expected = HANDSHAKE_FAULTS[fault]
    raw.scripts[:] = [script, script, rs.ocpp_session]
    fw = firmware(raw.port, {"centralSystem": {"connectTimeout": 0.5}})
    fw.wait_log("registration Accepted", timeout=10)
    assert len(log_events(fw, expected)) == 2, fw.log
    assert backoff_waits(fw) == [0.2, 0.4]
    assert len(raw.conns) == 3
    for earlier, later in zip(raw.conns, raw.conns[1:]):
        assert later.t_open - earlier.t_closed >= 0.2 - 0.01
    assert len(raw.calls("BootNotification")) == 1
    recovered(fw)


# -- name resolution and refused connections ---------------------------------------


def test_unresolvable_host_backs_off_and_never_stalls_the_loop(firmware):
    """BO-01, BO-02: a host name that cannot be resolved -> growing back-off; other tasks keep running between attempts.

    The name is under .invalid with a 70-character label: glibc refuses it
    before sending any DNS query, so nothing leaves 127.0.0.1. (getaddrinfo
    blocks the loop on the unix port; a resolver that answers bounds it.)
    """
    host = "a" * 70 + ".invalid"
    fw = firmware(0, {"centralSystem": {"url": "ws://%s:9000/ocpp" % host}, "log": {"heapInterval": 0.1}})
    fw.wait_log(r"backing off", count=4, timeout=10)
    assert backoff_waits(fw)[:4] == WAITS
    fw.wait_log(r"connect failed: .*addrinfo")
    attempts = [t for t, _ in log_events(fw, r"link: connecting to")]
    heap = [t for t, _ in log_events(fw, r"heap alloc=")]
    for a, b in zip(attempts, attempts[1:4]):
        assert any(a < t < b for t in heap), "the loop stalled between attempts at %.3f and %.3f" % (a, b)
    assert_alive(fw)
    assert_backoff_respected(fw)
    assert open_sockets(fw) == 0


def test_refused_connection_backs_off_and_leaks_no_socket(firmware):
    """BO-01, BO-02: nobody listens -> refused attempts with growing, capped waits; no socket is left behind."""
    port = free_port()
    fw = firmware(port)
    fw.wait_log(r"backing off", count=5, timeout=10)
    assert backoff_waits(fw)[:5] == WAITS + [0.8]
    assert_alive(fw)
    assert_backoff_respected(fw)
    assert open_sockets(fw) == 0
    raw = rs.RawServer().start(port=port)
    try:
        raw.wait_calls("BootNotification", 1, timeout=10)
        recovered(fw)
    finally:
        raw.stop()


# -- close frames ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload,echo",
    [
        (rs.close_payload(1000), 1000),
        (rs.close_payload(1001, b"going away"), 1001),
        (rs.close_payload(4000, "restarting \u00e9".encode()), 4000),
        (b"", 1000),  # no code: we answer 1000 (RFC 6455 5.5.1)
        (b"\x03", 1002),  # a 1-byte body is a protocol error
    ],
    ids=["1000", "1001-reason", "4000-utf8-reason", "no-code", "one-byte"],
)
def test_close_frame_is_echoed_then_reconnects(raw, firmware, payload, echo):
    """BO-01, J-24: the server closes -> we answer with a close, reconnect after the minimum wait, heartbeats resume without BootNotification."""
    raw.boot_interval = 1
    fw = firmware(raw.port)
    c1 = raw.wait_conn(1)
    fw.wait_log("registration Accepted")
    raw.run(c1.send_frame(rs.OP_CLOSE, payload))
    answer = raw.wait_frame(lambda f: f.conn is c1 and f.opcode == rs.OP_CLOSE, 5, "the close answer")
    assert answer.masked and answer.close_code == echo
    raw.wait_closed(c1)
    c2 = raw.wait_conn(2, timeout=10)
    raw.wait_for(lambda: len(heartbeats_on(c2)) >= 1, 10, "a heartbeat on the new connection")
    assert c2.t_open - c1.t_closed >= 0.2 - 0.01
    assert len(raw.calls("BootNotification")) == 1
    fw.wait_log(r"read ended: closed \(%d" % (1005 if not payload else echo if len(payload) > 1 else 1002))
    recovered(fw)


# -- hostile answers to our own calls ------------------------------------------------------


def test_boot_reply_with_hostile_current_time_is_retried(raw, firmware):
    """BN-04, J-20: BootNotification.conf whose currentTime is an object -> RESPONSE_ACCEPT_FAILED and a retry, not a dead boot task."""
    answer = raw.on_call
    hostile = {str(i): i for i in range(20)}  # indexable like a string of 20 characters

    def on_call(conn, msg):
        if msg[2] == "BootNotification" and len(raw.calls("BootNotification")) == 1:
            return [3, msg[1], {"status": "Accepted", "interval": 1, "currentTime": hostile}]
        return answer(conn, msg)

    raw.on_call = on_call
    fw = firmware(raw.port)
    fw.wait_log("BootNotification.conf is malformed")
    fw.wait_log("RESPONSE_ACCEPT_FAILED: next BootNotification in 0.2 s")
    fw.wait_log("registration Accepted", timeout=5)
    assert len(raw.calls("BootNotification")) == 2
    assert_alive(fw)


def test_heartbeat_reply_with_hostile_current_time_is_ignored(raw, firmware):
    """HB-03, TM-02: Heartbeat.conf whose currentTime is no date-time leaves the clock alone; heartbeats go on."""
    answer = raw.on_call
    hostile = [{str(i): i for i in range(20)}, 12, None, ["2026-01-01T00:00:00Z"], "2026-13-45T99:99:99Z", "x" * 5000]
    hostile += ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00Z"]  # outside the clock's years (2000-2099)
    replies = list(hostile)

    def on_call(conn, msg):
        if msg[2] == "Heartbeat" and replies:
            return [3, msg[1], {"currentTime": replies.pop(0)}]
        return answer(conn, msg)

    raw.on_call = on_call
    fw = firmware(raw.port)
    c1 = raw.wait_conn(1)
    fw.wait_log("registration Accepted")
    for i in range(len(hostile) + 1):  # each TriggerMessage(Heartbeat) makes one heartbeat
        raw.run(c1.send_call("t%d" % i, "TriggerMessage", {"requestedMessage": "Heartbeat"}))
        raw.wait_calls("Heartbeat", i + 1)
    fw.wait_log(r'"currentTime": "[0-9-]+T[0-9:.]+Z"\}\]')  # the last, valid reply arrived
    # Refused at the door (outbox, confs/heartbeat.py): the heartbeat never sees it.
    assert len(log_events(fw, r"Heartbeat.conf refused: currentTime")) == len(hostile)
    assert len(raw.conns) == 1
    assert_alive(fw)
