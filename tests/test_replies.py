"""Replies checked at the door (issue 22): every CALLRESULT the charger acts
on is checked against its 1.6 shape in the outbox before any hook sees it.
A bad reply is a failed attempt; it never ends a task. End to end on the
unix port against harness/raw_server.py, which answers what a test says."""

import itertools
import json

import pytest

from harness.charger import evse_client
from harness.net import free_port
from harness.raw_server import default_on_call

_ids = itertools.count(1)


class RawCharger:
    """The firmware with its EVSE simulator, against the raw server."""

    def __init__(self, raw, fw, port):
        self.raw, self.fw, self.port = raw, fw, port

    def evse(self, *lines):
        replies = evse_client.send(list(lines), port=self.port)
        for line, reply in zip(lines, replies):
            assert reply.startswith("ok"), "%s -> %s" % (line, reply)
        return replies

    def state(self, n=1):
        return json.loads(self.evse("state")[0][3:])[str(n)]

    def call(self, action, payload, timeout=5):
        """A CALL from the central system on the latest connection -> the charger's reply frame."""
        uid = "cs-%d" % next(_ids)
        conn = self.raw.conns[-1]
        self.raw.run(conn.send_call(uid, action, payload))
        return self.raw.wait_frame(lambda f: isinstance(f.msg, list) and f.msg[0] in (3, 4) and f.msg[1] == uid, timeout, "reply to %s" % action).msg

    def change(self, key, value):
        assert self.call("ChangeConfiguration", {"key": key, "value": value})[2] == {"status": "Accepted"}

    def payloads(self, action):
        return [f.msg[3] for f in self.raw.calls(action)]


@pytest.fixture
def raw_charger(raw, firmware):
    def start(config=None, heartbeat=60):
        port = free_port()
        raw.boot_interval = heartbeat
        cfg = {"simulator": {"port": port}, "log": {"level": "info"}}
        cfg.update(config or {})
        fw = firmware(raw.port, cfg)
        fw.wait_log("registration Accepted")
        fw.wait_log("simulator listening")
        return RawCharger(raw, fw, port)

    return start


ACCEPTED = {"status": "Accepted"}
DEFAULTS = {
    "Authorize": lambda msg, n: {"idTagInfo": ACCEPTED},
    "StartTransaction": lambda msg, n: {"transactionId": 100 + n, "idTagInfo": ACCEPTED},
}


def answering(overrides):
    """on_call: overrides[action](msg, n) -> payload (the n-th CALL of it, from 0), else the minimal CS."""
    seen = {}
    overrides = dict(DEFAULTS, **overrides)

    def on_call(conn, msg):
        action = msg[2]
        if action in overrides:
            n = seen.get(action, 0)
            seen[action] = n + 1
            payload = overrides[action](msg, n)
            return [3, msg[1], payload] if payload is not None else None
        return default_on_call(conn, msg)

    return on_call




def test_start_conf_with_a_string_id_tag_info_does_not_silence_the_charger(raw, raw_charger):
    """A StartTransaction.conf whose idTagInfo is a string: refused at the door, retried under
    TransactionMessageAttempts, then given up: the session is stopped (the central system cannot
    bill it), and all along Heartbeats go and a TriggerMessage is served."""
    raw.on_call = answering({"StartTransaction": lambda msg, n: {"transactionId": 5, "idTagInfo": "Accepted"}})
    ch = raw_charger(heartbeat=1)
    ch.change("TransactionMessageAttempts", "2")
    ch.change("TransactionMessageRetryInterval", "1")
    ch.evse("plug 1", "card 1 ALICE", "charge 1")
    starts = raw.wait_calls("StartTransaction", count=2, timeout=8)
    assert len({f.msg[1] for f in starts}) == 1  # the same message again
    ch.fw.wait_log(r"outbox: StartTransaction.conf refused: idTagInfo must be an object")
    ch.fw.wait_log(r"StartTransaction .* dropped after 2 attempts")
    # Given up: the transaction cannot be billed, so it ends here.
    raw.wait_for(lambda: ch.state()["relay"] is False, 5, "relay open")
    beats = len(raw.calls("Heartbeat"))
    raw.wait_calls("Heartbeat", count=beats + 2, timeout=6)
    reply = ch.call("TriggerMessage", {"requestedMessage": "StatusNotification", "connectorId": 1})
    assert reply[2] == ACCEPTED
    n = len(raw.calls("StatusNotification"))
    raw.wait_calls("StatusNotification", count=n + 1, timeout=5)
    assert " E supervisor:" not in ch.fw.log  # no task failed: nothing was restarted
    # Never sent again on this connection: the journal let it go.
    assert len(raw.calls("StartTransaction")) == 2
    assert not any(p.get("transactionId") == 5 for p in ch.payloads("StopTransaction"))


@pytest.mark.parametrize("bad", ["abc", 1.5, None], ids=["string", "float", "missing"])
def test_a_non_integer_transaction_id_is_not_kept(raw, raw_charger, bad):
    """transactionId is an integer: a string, a float or none at all is a failed attempt;
    the retry's valid id is the one the StopTransaction carries."""

    def start(msg, n):
        if n == 0:
            reply = {"idTagInfo": ACCEPTED}
            if bad is not None:
                reply["transactionId"] = bad
            return reply
        return {"transactionId": 77, "idTagInfo": ACCEPTED}

    raw.on_call = answering({"StartTransaction": start})
    ch = raw_charger()
    ch.change("TransactionMessageRetryInterval", "1")
    ch.evse("plug 1", "card 1 ALICE", "charge 1")
    raw.wait_calls("StartTransaction", count=2, timeout=6)
    ch.fw.wait_log(r"StartTransaction.conf refused: transactionId")
    raw.wait_for(lambda: ch.state()["transactionId"] == 77, 5, "transactionId 77")
    ch.evse("unplug 1")
    stop = raw.wait_calls("StopTransaction", timeout=5)[0].msg[3]
    assert stop["transactionId"] == 77


@pytest.mark.parametrize("reply", [{"idTagInfo": {}}, "Accepted", [{"idTagInfo": {"status": "Accepted"}}]], ids=["empty-idTagInfo", "string", "array"])
def test_a_malformed_authorize_conf_is_a_refusal(raw, raw_charger, reply):
    """An Authorize.conf with idTagInfo {} (or a payload that is no object) is no
    answer to take as offline: with AllowOfflineTxForUnknownId on, the card is
    still refused while online."""
    raw.on_call = answering({"Authorize": lambda msg, n: reply})
    ch = raw_charger()
    ch.change("AllowOfflineTxForUnknownId", "true")
    ch.evse("plug 1", "card 1 NOBODY")
    raw.wait_calls("Authorize", timeout=5)
    ch.fw.wait_log(r"Authorize.conf refused: ")
    ch.fw.wait_log(r"card NOBODY( at connector 1)?: Invalid")
    assert raw.calls("StartTransaction") == []
    assert ch.state()["relay"] is False


def test_extra_properties_in_a_reply_are_ignored(raw, raw_charger):
    """Vendor fields beside a valid reply do not make it a bad one (documented choice)."""
    raw.on_call = answering({"StartTransaction": lambda msg, n: {"transactionId": 9, "idTagInfo": {"status": "Accepted", "vendorX": 1}, "vendor": "x"}})
    ch = raw_charger()
    ch.evse("plug 1", "card 1 ALICE", "charge 1")
    raw.wait_for(lambda: ch.state()["transactionId"] == 9, 5, "transactionId 9")
    assert len(raw.calls("StartTransaction")) == 1
    assert "refused" not in ch.fw.log


def test_a_remote_start_for_an_id_tag_with_a_lone_surrogate_sends_no_invalid_utf8(raw, raw_charger):
    """J-07: RemoteStartTransaction whose idTag holds a lone "\\ud800" escape (MicroPython keeps it as a surrogate,
    which has no UTF-8 form). Taken in, it would go out in the Authorize and the StartTransaction as a text frame that is not UTF-8,
    which the central system fails the connection for (RFC 6455 8.1), and the stored message would go again at
    every connection, holding every later transaction message behind it. It is refused at the door
    (FormationViolation, as echoed text is); every frame the charger sends stays valid UTF-8."""
    raw.on_call = answering({})
    ch = raw_charger()
    reply = ch.call("RemoteStartTransaction", {"connectorId": 1, "idTag": "EVIL\ud800"})
    ch.evse("plug 1")
    # A start that follows is this test's event: by then the first one would have gone out.
    assert ch.call("RemoteStartTransaction", {"connectorId": 1, "idTag": "ALICE"})[2] == ACCEPTED
    raw.wait_calls("StartTransaction", timeout=10)
    texts = [f for c in raw.conns for f in c.rx if f.opcode == 1]
    assert all(f.text is not None for f in texts), [f for f in texts if f.text is None]
    assert [p["idTag"] for p in ch.payloads("StartTransaction")] == ["ALICE"]
    assert reply[0] == 4 and reply[2] == "FormationViolation", reply


# Date-times without an offset (a Java LocalDateTime, "2026-12-31T23:59:59"): the 1.6 JSON
# schemas' "date-time" wants one (RFC 3339 5.6), but OCPP 1.6 3.14 only advises UTC, and
# refusing the whole reply for it does harm. The charger reads them as UTC in what the
# central system sends (lenient reader) and always writes "Z" (strict writer).


def test_a_start_conf_expiry_date_without_an_offset_keeps_the_transaction(raw, raw_charger):
    """Refused, the StartTransaction.conf was retried, given up and the session stopped while the
    central system kept an open transaction."""
    info = {"status": "Accepted", "expiryDate": "2099-12-31T23:59:59"}
    raw.on_call = answering({"StartTransaction": lambda msg, n: {"transactionId": 11, "idTagInfo": info}})
    ch = raw_charger()
    ch.change("TransactionMessageRetryInterval", "1")
    ch.evse("plug 1", "card 1 ALICE", "charge 1")
    raw.wait_for(lambda: ch.state()["transactionId"] == 11, 5, "transactionId 11")
    ch.evse("unplug 1")
    stop = raw.wait_calls("StopTransaction", timeout=5)[0].msg[3]
    assert stop["transactionId"] == 11
    assert len(raw.calls("StartTransaction")) == 1
    assert "refused" not in ch.fw.log


def test_a_boot_conf_current_time_without_an_offset_registers_and_sets_the_clock(raw, raw_charger):
    """Refused, the BootNotification.conf was retried for ever: the charger never registered."""
    raw.on_call = answering({"BootNotification": lambda msg, n: {"status": "Accepted", "interval": 60, "currentTime": "2031-05-06T07:08:09"}})
    ch = raw_charger()
    ch.evse("plug 1")
    stamps = [p["timestamp"] for p in ch.payloads("StatusNotification")]
    raw.wait_for(lambda: any(p["timestamp"].startswith("2031-05-06T07:") for p in ch.payloads("StatusNotification")), 5, "a stamp on the central system's clock")
    assert len(raw.calls("BootNotification")) == 1
    assert all(s.endswith("Z") for s in stamps)
