"""RFC 6455 on the wire: lib/ocpp/transport/websocket.py against the raw server.

The raw server sends exactly the bytes each test names (pings, fragments,
lying lengths, masks, bad UTF-8) and decodes the charge point's masked
frames. Where RFC 6455 demands that the connection fail, the firmware must
send a close frame with the right code, drop the TCP connection and come
back by itself; elsewhere it must stay connected and keep answering.
"""

import json

import pytest

from harness import raw_server as rs
from harness.health import assert_alive

MAX = 1024  # centralSystem.maxFrameSize for these tests


@pytest.fixture
def session(raw, firmware):
    """(fw, conn): the firmware registered over the raw server's first connection."""
    fw = firmware(raw.port, {"centralSystem": {"maxFrameSize": MAX}})
    conn = raw.wait_conn(1)
    fw.wait_log("registration Accepted")
    return fw, conn


def probe(raw, conn, uid):
    """Send a CALL for an unknown action; its CALLERROR proves the link still works."""
    raw.run(conn.send_call(uid, "Probe", {}))
    err = raw.wait_frame(lambda f: f.conn is conn and f.msg and f.msg[1] == uid, 5, "the reply to %s" % uid)
    assert err.msg[0] == 4 and err.msg[2] == "NotImplemented"
    return err


def send(raw, conn, *frames):
    raw.run(conn.send(b"".join(frames)))


def expect_close_and_return(raw, fw, conn, code):
    """The charge point closes with `code`, drops TCP and reconnects without a new BootNotification."""
    close = raw.wait_frame(lambda f: f.conn is conn and f.opcode == rs.OP_CLOSE, 3, "a close frame")
    assert close.close_code == code, close
    raw.wait_closed(conn, 3)
    again = raw.wait_upgraded(conn.index + 2, 5)
    probe(raw, again, "after-close")
    assert len(raw.calls("BootNotification")) == 1
    assert_alive(fw)


def test_every_client_frame_is_masked(raw, session):
    """J-06 (RFC 6455 5.1): a client masks every frame it sends."""
    fw, conn = session
    probe(raw, conn, "m-1")
    assert conn.rx and all(f.masked for f in conn.rx)


@pytest.mark.parametrize("payload", [b"", b"hello", bytes(range(125))], ids=["empty", "short", "125-bytes"])
def test_ping_is_answered_with_the_same_payload(raw, session, payload):
    """J-06 (RFC 6455 5.5.2/5.5.3): a server ping gets a pong carrying the same application data."""
    fw, conn = session
    send(raw, conn, rs.encode_frame(rs.OP_PING, payload))
    pong = raw.wait_frame(lambda f: f.conn is conn and f.opcode == rs.OP_PONG, 3, "a pong")
    assert pong.payload == payload and pong.fin and pong.masked


def test_unsolicited_pong_and_binary_frames_are_ignored(raw, session):
    """J-06, J-07: a pong nobody asked for and a binary message (OCPP-J is text only) are skipped; the link stays."""
    fw, conn = session
    call = json.dumps([2, "b-1", "Probe", {}]).encode()
    send(raw, conn, rs.encode_frame(rs.OP_PONG, b"unasked"), rs.encode_frame(rs.OP_BINARY, call), rs.encode_frame(rs.OP_BINARY, b"\xff\x00" * 100))
    probe(raw, conn, "b-2")
    assert not any(f.msg and f.msg[1] == "b-1" for f in conn.rx)
    assert len(raw.conns) == 1


def test_fragmented_message_is_reassembled(raw, session):
    """J-06 (RFC 6455 5.4): text + continuations, a ping between them and a UTF-8 character split across fragments."""
    fw, conn = session
    data = json.dumps([2, "frag-\u00e9\u20ac", "Probe", {"note": "x" * 300}], ensure_ascii=False).encode()
    cut = data.index("\u20ac".encode()) + 1  # inside the 3-byte euro sign
    send(
        raw,
        conn,
        rs.encode_frame(rs.OP_TEXT, data[:10], fin=False),
        rs.encode_frame(rs.OP_PING, b"between"),
        rs.encode_frame(rs.OP_CONT, data[10:cut], fin=False),
        rs.encode_frame(rs.OP_CONT, b"", fin=False),
        rs.encode_frame(rs.OP_CONT, data[cut:], fin=True),
    )
    err = raw.wait_frame(lambda f: f.conn is conn and f.msg and f.msg[1] == "frag-\u00e9\u20ac", 5, "the reply")
    assert err.msg[2] == "NotImplemented"
    pong = raw.wait_frame(lambda f: f.conn is conn and f.opcode == rs.OP_PONG, 3, "the pong")
    assert pong.payload == b"between" and pong.t < err.t  # answered in between, not after
    assert len(raw.conns) == 1


def test_16_bit_length_is_read(raw, session):
    """J-06 (RFC 6455 5.2): a 126..65535-byte message uses the 16-bit length."""
    fw, conn = session
    send(raw, conn, rs.encode_frame(rs.OP_TEXT, json.dumps([2, "long-1", "Probe", {"pad": "p" * 600}])))
    err = raw.wait_frame(lambda f: f.conn is conn and f.msg and f.msg[1] == "long-1", 5, "the reply")
    assert err.msg[0] == 4


@pytest.mark.parametrize("claimed", [MAX + 1, 70000, 2**63 - 1], ids=["max+1", "16-bit", "64-bit-huge"])
def test_frame_over_max_size_is_refused_unread(raw, session, claimed):
    """RFC 6455 7.4.1 (1009): a header announcing more than maxFrameSize -> close 1009 at once, before any payload arrives."""
    fw, conn = session
    # Only the header: a client that waited for (or allocated) the payload would hang here.
    send(raw, conn, rs.encode_frame(rs.OP_TEXT, b"", length=claimed))
    expect_close_and_return(raw, fw, conn, 1009)
    fw.wait_log(r"over the %d limit" % MAX)


def test_fragments_adding_up_over_max_size_are_refused(raw, session):
    """RFC 6455 7.4.1 (1009): the limit counts the whole message, not each fragment."""
    fw, conn = session
    part = b"[" * (MAX // 2)
    send(raw, conn, rs.encode_frame(rs.OP_TEXT, part, fin=False), rs.encode_frame(rs.OP_CONT, part, fin=False), rs.encode_frame(rs.OP_CONT, b"]", fin=False))
    expect_close_and_return(raw, fw, conn, 1009)


PROTOCOL_ERRORS = {
    "ping-126-bytes": rs.encode_frame(rs.OP_PING, b"p" * 126),
    "close-126-bytes": rs.encode_frame(rs.OP_CLOSE, b"\x03\xe8" + b"r" * 124),
    "fragmented-ping": rs.encode_frame(rs.OP_PING, b"x", fin=False),
    "masked-frame": rs.encode_frame(rs.OP_TEXT, b"[2,\"x\",\"Probe\",{}]", mask=b"\x01\x02\x03\x04"),
    "rsv1": rs.encode_frame(rs.OP_TEXT, b"{}", rsv=4),
    "rsv3": rs.encode_frame(rs.OP_PING, b"", rsv=1),
    "opcode-3": rs.encode_frame(3, b"x"),
    "opcode-11": rs.encode_frame(11, b""),
    "continuation-first": rs.encode_frame(rs.OP_CONT, b"x"),
    "text-inside-fragments": rs.encode_frame(rs.OP_TEXT, b"[", fin=False) + rs.encode_frame(rs.OP_TEXT, b"]"),
}


@pytest.mark.parametrize("name", sorted(PROTOCOL_ERRORS))
def test_protocol_error_closes_with_1002(raw, session, name):
    """RFC 6455 5.2/5.4/5.5 (1002): oversize or fragmented control frames, a masked frame, RSV bits, unknown opcodes, broken fragmentation."""
    fw, conn = session
    send(raw, conn, PROTOCOL_ERRORS[name])
    expect_close_and_return(raw, fw, conn, 1002)


INVALID_UTF8 = {
    "ff": b"\xff",
    "stray-continuation": b"\x80abc",
    "truncated": b"abc\xe2\x82",
    "overlong-nul": b"\xc0\x80",
    "overlong-3": b"\xe0\x80\xaf",
    "surrogate": b"\xed\xa0\x80",
    "above-10ffff": b"\xf4\x90\x80\x80",
}


@pytest.mark.parametrize("name", sorted(INVALID_UTF8))
def test_invalid_utf8_closes_with_1007(raw, session, name):
    """J-07 (RFC 6455 8.1, 1007): a text message that is not strict UTF-8 fails the connection."""
    fw, conn = session
    bad = b'[2, "u-1", "Probe", {"v": "' + INVALID_UTF8[name] + b'"}]'
    send(raw, conn, rs.encode_frame(rs.OP_TEXT, bad))
    expect_close_and_return(raw, fw, conn, 1007)


def test_invalid_utf8_in_a_later_fragment_closes_with_1007(raw, session):
    """J-07 (RFC 6455 8.1): the check covers the reassembled message."""
    fw, conn = session
    send(raw, conn, rs.encode_frame(rs.OP_TEXT, b'[2, "u-2", "Pro', fin=False), rs.encode_frame(rs.OP_CONT, b'be\xed\xbf\xbf", {}]'))
    expect_close_and_return(raw, fw, conn, 1007)


def test_failing_the_connection_lets_the_server_close_tcp_first(raw, session):
    """RFC 6455 7.1.1 (1009): with unread data behind the refused frame, the client waits for the server's TCP close (here: that never comes) and ends with a FIN, not a RST."""
    fw, conn = session
    conn.close_on_close = False  # answer the close frame, keep reading, never close
    send(raw, conn, rs.encode_frame(rs.OP_TEXT, b"x" * 40000, length=MAX + 1))
    close = raw.wait_frame(lambda f: f.conn is conn and f.opcode == rs.OP_CLOSE, 3, "a close frame")
    assert close.close_code == 1009
    raw.wait_closed(conn, 3)
    assert not conn.reset_seen


def test_a_close_from_the_server_with_frames_behind_it_ends_with_a_fin(raw, session):
    """RFC 6455 7.1.1: the server's close arrives with more behind it (a pong, the reply to a CALL of ours, in flight
    as it closed). The client answers what came before, echoes the close and waits for the server's TCP close (here:
    that never comes) reading and dropping the rest: a FIN, not a RST, which would destroy replies the server had
    not read yet (the fuzz test lost its probe's reply that way on a loaded machine)."""
    fw, conn = session
    conn.close_on_close = False  # answer the close frame, keep reading, never close
    send(raw, conn, rs.encode_frame(rs.OP_TEXT, json.dumps([2, "last", "Probe", {}]).encode()), rs.encode_frame(rs.OP_CLOSE, rs.close_payload(1000)), rs.encode_frame(rs.OP_PONG, b"late"))
    reply = raw.wait_frame(lambda f: f.conn is conn and f.msg and f.msg[1] == "last", 3, "the reply before the close")
    assert reply.msg[0] == 4
    close = raw.wait_frame(lambda f: f.conn is conn and f.opcode == rs.OP_CLOSE, 3, "the close echoed")
    assert close.close_code == 1000
    raw.wait_closed(conn, 3)
    assert not conn.reset_seen
    fw.wait_log(r"read ended: closed \(1000, closed by the server\)")


BAD_CLOSES = {
    "code-1005": (rs.close_payload(1005), 1002),  # "no status": never on the wire
    "code-1006": (rs.close_payload(1006), 1002),  # "abnormal closure": never on the wire
    "code-999": (rs.close_payload(999), 1002),
    "code-5000": (rs.close_payload(5000), 1002),
    "reason-not-utf8": (rs.close_payload(1000, b"bye \xff"), 1007),
}


@pytest.mark.parametrize("name", sorted(BAD_CLOSES))
def test_a_close_with_an_invalid_code_or_reason_is_not_echoed(raw, session, name):
    """RFC 6455 7.4.1/7.4.2 (1002), 5.5.1/8.1 (1007): a close code no endpoint may send (1005, 1006) or none defined,
    or a reason that is not UTF-8, fails the connection with our own code instead of going back on the wire."""
    fw, conn = session
    payload, code = BAD_CLOSES[name]
    send(raw, conn, rs.encode_frame(rs.OP_CLOSE, payload))
    expect_close_and_return(raw, fw, conn, code)


def _change(raw, conn, uid, key, value):
    raw.run(conn.send_call(uid, "ChangeConfiguration", {"key": key, "value": value}))
    reply = raw.wait_frame(lambda f: f.conn is conn and f.msg and f.msg[1] == uid, 5, "the reply to %s" % uid)
    assert reply.msg[2] == {"status": "Accepted"}, reply


def test_setting_the_ping_interval_to_0_sends_no_ping(raw, firmware):
    """OCPP 1.6 section 9.1 (WebSocketPingInterval): 0 disables the client side
    ping/pong. A change restarts the keepalive's timing; set to 0, it sent a
    ping at once, the one thing 0 asks not to do."""
    fw = firmware(raw.port, {"centralSystem": {"maxFrameSize": MAX}, "ocpp": {"webSocketPingInterval": 300}})
    conn = raw.wait_conn(1)
    fw.wait_log("registration Accepted")
    _change(raw, conn, "pi-1", "WebSocketPingInterval", "0")
    probe(raw, conn, "pi-2")  # the keepalive ran meanwhile: what it sent is in before this
    assert [f for f in conn.rx if f.opcode == rs.OP_PING] == []
