"""Hostile replies: over 2,000 malformed answers to the charger's own CALLs.

Beside test_fuzz.py (hostile CALLs from the central system), this fuzzes
the other direction: every CALL the charger sends (BootNotification,
Heartbeat, StatusNotification, MeterValues, Authorize, StartTransaction,
StopTransaction, DiagnosticsStatusNotification, FirmwareStatusNotification)
gets, most of the time, a reply generated from the 1.6 response schema the
`ocpp` package ships and then broken: a required field missing, a wrong
type, a wrong enum value, an oversized string, a bad date-time, a wrong
nesting, extra fields, a payload that is no object, a short or long frame,
or a CALLERROR. The rest get a valid reply, so that registration, sessions
and transactions go on. The raw server answers; TriggerMessages and a
charging session driven through the EVSE simulator make the charger send.

Seeded (random.Random(SEED), printed): the same sequence of choices every
run; which CALL gets which follows the charger's own timing.

Oracle: no crash (no task of the supervisor restarted, no traceback, the
process lives), no spin (the charger's CALLs follow what asked for them; no
CALL is sent again without a pause or more often than its rules allow;
quiet, it sends its Heartbeats and its paced backlog), alive (every
accepted trigger served, a probe CALL after every batch answered within
2 s, periodic Heartbeats once the central system is quiet).
"""

import copy
import json
import os
import random
import threading
import time
from pathlib import Path

import ocpp
import pytest

from harness import raw_server as rs
from harness.charger import evse_client
from harness.net import free_port
from harness.health import assert_alive

SEED = 22
BUDGET_S = float(os.environ.get("REPLY_FUZZ_S", 30))  # fuzzing time; the whole test stays near a minute
MIN_MALFORMED = int(os.environ.get("REPLY_FUZZ_MIN", 2000))
SCHEMAS = Path(ocpp.__file__).parent / "v16" / "schemas"
ACTIONS = [
    "Authorize", "BootNotification", "DataTransfer", "DiagnosticsStatusNotification", "FirmwareStatusNotification",
    "Heartbeat", "MeterValues", "StartTransaction", "StatusNotification", "StopTransaction",
]  # fmt: skip
# How often each action's reply is malformed: lower where a valid one is
# needed for the run to reach the next step (a session needs an Authorize
# and a StartTransaction to pass now and then).
MALFORMED_P = {"Authorize": 0.6, "StartTransaction": 0.6, "StopTransaction": 0.7}
BOOT_MALFORMED = 12
TRIGGERS = [
    {"requestedMessage": "Heartbeat"},
    {"requestedMessage": "StatusNotification", "connectorId": 1},
    {"requestedMessage": "StatusNotification", "connectorId": 0},
    {"requestedMessage": "MeterValues", "connectorId": 1},
    {"requestedMessage": "DiagnosticsStatusNotification"},
    {"requestedMessage": "FirmwareStatusNotification"},
    {"requestedMessage": "BootNotification"},  # Rejected once Accepted (TM-08): no CALL
]
ERROR_CODES = ["NotImplemented", "NotSupported", "InternalError", "ProtocolError", "SecurityError", "FormationViolation",
               "PropertyConstraintViolation", "OccurenceConstraintViolation", "TypeConstraintViolation", "GenericError"]  # fmt: skip
WRONG_VALUES = [123, -1, 0, 1.5, 2**70, "x", "", True, False, None, [], {}, [1, 2], {"a": 1}, [[[[[[]]]]]], "9" * 300]
BAD_DATES = ["2026-13-45T99:99:99Z", "yesterday", "", "2026-01-01", "2026-01-01T00:00:00+0100", "12345678901234567890", "2026-01-01T00:00:00+25:99x"]


def load_schemas():
    return {a: json.loads((SCHEMAS / ("%sResponse.json" % a)).read_text()) for a in ACTIONS}


def valid(rng, schema, action=None, uid=None, next_tx=None):
    """A valid instance of a (sub)schema."""
    if "enum" in schema:
        return rng.choice(schema["enum"])
    t = schema.get("type")
    if t == "object":
        out = {}
        for name, sub in schema.get("properties", {}).items():
            if name in schema.get("required", ()) or rng.random() < 0.5:
                out[name] = valid(rng, sub)
        return out
    if t == "string":
        if schema.get("format") == "date-time":
            return rs.utc_now()
        return "v" * rng.randint(0, min(schema.get("maxLength", 30), 30))
    if t == "integer":
        return rng.randint(0, 10**6)
    if t == "number":
        return rng.random() * 100
    if t == "boolean":
        return rng.random() < 0.5
    if t == "array":
        return []
    return None


def good_reply(rng, schemas, action, counter):
    """A valid reply that moves the run along."""
    if action == "BootNotification":
        return {"status": "Accepted", "currentTime": rs.utc_now(), "interval": 1}
    if action in ("Authorize", "StartTransaction", "StopTransaction"):
        reply = {"idTagInfo": {"status": "Accepted"}}
        if action == "StartTransaction":
            reply["transactionId"] = next(counter)
        return reply
    return valid(rng, schemas[action])


def paths(schema, value, prefix=()):
    """(path, subschema) of every property present in value, nested ones included."""
    out = []
    if isinstance(value, dict):
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                out.append((prefix + (name,), sub))
                out += paths(sub, value[name], prefix + (name,))
    return out


def parent_of(value, path):
    for key in path[:-1]:
        value = value[key]
    return value


def wrong_type(rng, sub):
    t = sub.get("type")
    while True:
        v = rng.choice(WRONG_VALUES)
        if t == "string" and isinstance(v, str):
            continue
        if t == "integer" and type(v) is int:
            continue
        if t == "object" and isinstance(v, dict):
            continue
        return v


def malformed(rng, schema, base, uid):
    """(kind, frame): the reply frame for CALL uid, broken one way. base: a valid payload."""
    kinds = ["missing", "type", "enum", "length", "date", "extra", "nesting", "payload", "frame", "callerror"]
    props = paths(schema, base)
    while True:
        kind = rng.choice(kinds)
        p = copy.deepcopy(base)
        if kind == "missing":
            # A required property, at the top or nested.
            req = [(path, sub) for path, sub in props if path[-1] in parent_schema(schema, path).get("required", ())]
            if not req:
                continue
            path, _ = rng.choice(req)
            del parent_of(p, path)[path[-1]]
        elif kind == "type":
            if not props:
                continue
            path, sub = rng.choice(props)
            parent_of(p, path)[path[-1]] = wrong_type(rng, sub)
        elif kind == "enum":
            enums = [(path, sub) for path, sub in props if "enum" in sub]
            if not enums:
                continue
            path, sub = rng.choice(enums)
            parent_of(p, path)[path[-1]] = rng.choice(["accepted", "", sub["enum"][0] + " ", "Unknown", "x" * 500, sub["enum"][0].upper()])
        elif kind == "length":
            longs = [(path, sub) for path, sub in props if "maxLength" in sub]
            if not longs:
                # No maxLength here: an oversized string where a string goes (date-time, data).
                strs = [(path, sub) for path, sub in props if sub.get("type") == "string"]
                if not strs:
                    continue
                path, sub = rng.choice(strs)
                parent_of(p, path)[path[-1]] = "y" * rng.choice([300, 5000])
            else:
                path, sub = rng.choice(longs)
                parent_of(p, path)[path[-1]] = "z" * (sub["maxLength"] + rng.choice([1, 100]))
        elif kind == "date":
            dates = [(path, sub) for path, sub in props if sub.get("format") == "date-time"]
            if not dates:
                continue
            path, _ = rng.choice(dates)
            parent_of(p, path)[path[-1]] = rng.choice(BAD_DATES)
        elif kind == "extra":
            # Vendor fields: refused by the schema, ignored by the charger.
            target = p
            objs = [(path, sub) for path, sub in props if sub.get("type") == "object"]
            if objs and rng.random() < 0.5:
                target = parent_of(p, objs[0][0])[objs[0][0][-1]]
            target[rng.choice(["vendor", "x", "status2", "_"])] = rng.choice(WRONG_VALUES)
        elif kind == "nesting":
            objs = [(path, sub) for path, sub in props if sub.get("type") == "object"]
            if objs and rng.random() < 0.7:
                path, _ = rng.choice(objs)
                inner = parent_of(p, path)[path[-1]]
                parent_of(p, path)[path[-1]] = rng.choice([[inner], {path[-1]: inner}, json.dumps(inner)])
            else:
                p = {"payload": p} if rng.random() < 0.5 else [p]
        elif kind == "payload":
            return kind, [3, uid, rng.choice(["x", 1, None, [], [base], 1.5, True])]
        elif kind == "frame":
            return kind, rng.choice([[3, uid], [3, uid, base, {}], [3, uid, base, "extra"]])
        else:
            if rng.random() < 0.8:
                return kind, [4, uid, rng.choice(ERROR_CODES + ["Bogus", ""]), rng.choice(["", "no", "x" * 300]), rng.choice([{}, {"a": 1}])]
            return kind, rng.choice([[4, uid], [4, uid, 5, 6, 7], [4, uid, "InternalError"]])
        return kind, [3, uid, p]


def parent_schema(schema, path):
    for key in path[:-1]:
        schema = schema["properties"][key]
    return schema


class Fuzzer:
    """The raw server's on_call: every CALL of the charger, answered (in the server's thread)."""

    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.schemas = load_schemas()
        self.lock = threading.Lock()
        self.counts = {}  # action -> malformed replies sent
        self.kinds = {}
        self.good = 0
        self.tx = iter(range(1000, 10**6))

    def __call__(self, conn, msg):
        _, uid, action, _ = msg
        with self.lock:
            schema = self.schemas.get(action)
            if schema is None:
                return [3, uid, {}]
            base = good_reply(self.rng, self.schemas, action, self.tx)
            if action == "BootNotification":
                # The first BOOT_MALFORMED are all broken (retried with the
                # RetryBackOff* back-off), then Accepted: once per boot.
                bad = self.counts.get(action, 0) < BOOT_MALFORMED
            else:
                bad = self.rng.random() < MALFORMED_P.get(action, 0.9)
            if bad:
                kind, frame = malformed(self.rng, schema, base, uid)
                self.counts[action] = self.counts.get(action, 0) + 1
                self.kinds[kind] = self.kinds.get(kind, 0) + 1
                return frame
            self.good += 1
            return [3, uid, base]

    def malformed_total(self):
        with self.lock:
            return sum(self.counts.values())


class Session:
    """One charging session through the EVSE simulator, a step per batch."""

    STEPS = [["plug 1"], ["card 1 TAG%d"], ["charge 1"], ["meter 1 %d"], ["unplug 1"]]

    def __init__(self, port):
        self.port, self.step, self.n, self.wh = port, 0, 0, 1000

    def advance(self):
        lines = []
        for line in self.STEPS[self.step]:
            if "TAG" in line:
                line = line % self.n
            elif "meter" in line:
                self.wh += 500
                line = line % self.wh
            lines.append(line)
        for line, reply in zip(lines, evse_client.send(lines, port=self.port)):
            # "charge" before a start may be refused: the fuzzed Authorize said no.
            assert reply.startswith("ok") or "no EV" in reply, "%s -> %s" % (line, reply)
        self.step = (self.step + 1) % len(self.STEPS)
        if self.step == 0:
            self.n += 1


def is_call(f):
    return isinstance(f.msg, list) and len(f.msg) > 2 and f.msg[0] == 2


class Cursor:
    """Reads the connection's frames from where it left off (the raw
    server's own waits scan every frame: too slow over 10,000 of them)."""

    def __init__(self, raw, conn):
        self.raw, self.conn, self.at = raw, conn, 0
        self.calls = 0  # CALLs of the charger seen so far

    def wait(self, predicate, timeout, what):
        """The first new frame matching predicate (None after timeout if what is None, else an error)."""
        deadline = time.monotonic() + timeout
        with self.raw._cond:
            while True:
                rx = self.conn.rx
                while self.at < len(rx):
                    f = rx[self.at]
                    self.at += 1
                    if is_call(f):
                        self.calls += 1
                    if predicate(f):
                        return f
                left = deadline - time.monotonic()
                if left <= 0:
                    if what is None:
                        return None
                    raise TimeoutError("no %s within %.1f s" % (what, timeout))
                self.raw._cond.wait(left)

    def send_call(self, uid, action, payload):
        self.raw.run(self.conn.send_call(uid, action, payload))

    def reply(self, uid, timeout):
        return self.wait(lambda f: isinstance(f.msg, list) and len(f.msg) > 1 and f.msg[0] in (3, 4) and f.msg[1] == uid, timeout, "reply to %s" % uid)


@pytest.mark.slow
def test_hostile_replies(raw, firmware):
    """Issue 22 part 6: 2,000+ malformed replies to every CALL the charger sends: 0 crashes, 0 dead tasks, 0 spins, always alive."""
    print("reply fuzz seed", SEED)
    fuzz = Fuzzer(SEED)
    raw.on_call = fuzz
    raw.boot_interval = 1
    port = free_port()
    fw = firmware(
        raw.port,
        {
            "simulator": {"port": port},
            "ocpp": {"messageTimeout": 2},
            "reconnect": {"waitMinimum": 0.1, "randomRange": 0, "repeatTimes": 1},
            "log": {"level": "info"},
        },
    )
    fw.wait_log("registration Accepted", timeout=30)
    fw.wait_log("simulator listening")
    cur = Cursor(raw, raw.conns[-1])
    ids = iter(range(10**9))
    for key, value in (("TransactionMessageAttempts", "2"), ("TransactionMessageRetryInterval", "1"), ("MeterValueSampleInterval", "1")):
        uid = "cfg%d" % next(ids)
        cur.send_call(uid, "ChangeConfiguration", {"key": key, "value": value})
        assert cur.reply(uid, 2).msg[2] == {"status": "Accepted"}
    session = Session(port)
    rng = random.Random(SEED + 1)
    started = time.monotonic()
    triggers = probes = batches = missed = 0
    worst_probe = 0.0
    calls0 = cur.calls
    while time.monotonic() - started < BUDGET_S or fuzz.malformed_total() < MIN_MALFORMED:
        assert time.monotonic() - started < BUDGET_S * 2, "too slow: %d malformed replies in %.0f s" % (fuzz.malformed_total(), time.monotonic() - started)
        batches += 1
        for _ in range(5):
            session.advance()
            # A round: one TriggerMessage of each kind at once (each its own
            # coalescing key, so each makes a CALL). Sent together: the
            # charger's back-to-back replies and CALLs would otherwise wait
            # on Nagle's algorithm for the server's delayed ACK (40 ms).
            round_ = [("tm%d" % next(ids), t) for t in rng.sample(TRIGGERS, len(TRIGGERS))]
            for uid, trigger in round_:
                cur.send_call(uid, "TriggerMessage", trigger)
            triggers += len(round_)
            want = cur.calls
            for uid, _trigger in round_:
                answer = cur.reply(uid, 2).msg
                if answer[0] == 3 and answer[2].get("status") == "Accepted":
                    want += 1
            # Their CALLs come (or one joins a message waiting with its key).
            while cur.calls < want:
                if cur.wait(is_call, 0.5, None) is None:
                    missed += want - cur.calls
                    break
        # Liveness: a probe CALL answered within 2 s, whatever the replies did.
        uid = "probe%d" % next(ids)
        t0 = time.monotonic()
        cur.send_call(uid, "GetConfiguration", {"key": ["HeartbeatInterval"]})
        assert cur.reply(uid, 2).msg[0] == 3
        worst_probe = max(worst_probe, time.monotonic() - t0)
        probes += 1
        assert len(raw.conns) == 1, "the link was dropped"
    took = time.monotonic() - started
    if os.environ.get("REPLY_FUZZ_LOG"):
        Path(os.environ["REPLY_FUZZ_LOG"]).write_text(fw.log)
    cur.wait(lambda f: False, 0.05, None)
    calls = cur.calls - calls0
    # Quiet: no more triggers. What goes is the periodic Heartbeat (1 s) and
    # the durable lane's backlog (each stored message at most
    # TransactionMessageAttempts times, paced); a spinning retry would flood.
    quiet_from = len(cur.conn.rx)
    time.sleep(4)
    quiet = [f for f in cur.conn.rx[quiet_from:] if is_call(f)]
    beats = [f for f in quiet if f.msg[2] == "Heartbeat"]
    assert len([f for f in quiet if f.msg[2] not in ("StartTransaction", "StopTransaction", "MeterValues")]) <= 8, [f.msg[2] for f in quiet]
    assert len(beats) >= 2, "Heartbeats stopped: %r" % [f.msg[2] for f in quiet]
    # No CALL is sent again without a pause, nor more often than its rules
    # allow: every answer came at once, so a resend is a retry.
    sends = {}
    for f in cur.conn.rx:
        if is_call(f):
            sends.setdefault(f.msg[1], []).append(f.t)
    for uid, times in sends.items():
        assert len(times) <= 2, "%s sent %d times" % (uid, len(times))
        assert all(b - a >= 0.9 for a, b in zip(times, times[1:])), "%s resent after %.3f s" % (uid, times[1] - times[0])
    # Every accepted trigger was served (a dead outbox answers Accepted, sends nothing).
    assert missed <= triggers // 50, (missed, triggers)
    # The charger's CALLs were asked for: at most one per trigger, plus the
    # session's (a few per step) and the paced ones (1 s heartbeat, sampling,
    # retries), never a burst of its own.
    assert calls <= triggers + 12 * batches + 4 * took, (calls, triggers, batches, took)
    log = fw.log
    assert " E supervisor:" not in log, [line for line in log.splitlines() if "supervisor" in line][:5]
    assert "Traceback" not in log
    assert "a hook failed" not in log
    assert_alive(fw)
    total = fuzz.malformed_total()
    assert total >= MIN_MALFORMED, total
    for action in ("BootNotification", "Heartbeat", "StatusNotification", "MeterValues", "Authorize", "StartTransaction", "StopTransaction"):
        assert fuzz.counts.get(action, 0) > 0, "no malformed %s reply: %r" % (action, fuzz.counts)
    print(
        "reply fuzz: seed %d, %d malformed replies (%s; %s), %d valid, %d triggers (%d without a CALL), %d probes (slowest %.3f s), %d CALLs in %.1f s"
        % (SEED, total, fuzz.counts, fuzz.kinds, fuzz.good, triggers, missed, probes, worst_probe, calls, took)
    )
