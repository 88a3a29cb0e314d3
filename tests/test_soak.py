"""Soak and flood: long runs of central-system requests must not grow the heap.

The raw server pipelines CALLs over one WebSocket (a window of requests in
flight, far faster than the `ocpp` package's call()) and checks every reply;
the firmware reports its live heap after gc.collect() every log.heapInterval
seconds (services/diag.py), which the tests read from its log.
"""

import asyncio
import json
import time

import pytest

from harness import raw_server as rs
from harness.health import assert_alive, log_events, wait_next_log

ROUND_TRIPS = 10000
WARM_UP = 600
WINDOW = 64  # requests in flight
HEAP_TOLERANCE = 1024  # bytes: the live heap after the soak vs. before it

# (action, payload, expected reply type). Answers without side effects that
# could change the run: GetConfiguration, a trigger for a message that is not
# built (NotImplemented), one refused after Accepted (TM-08), unknown actions.
REQUESTS = [
    ("GetConfiguration", {"key": ["HeartbeatInterval", "NoSuchKey"]}, 3),
    ("TriggerMessage", {"requestedMessage": "MeterValues"}, 3),
    ("FlyToTheMoon", {}, 4),
    ("TriggerMessage", {"requestedMessage": "BootNotification"}, 3),
    ("GetConfiguration", {"key": ["MessageTimeout"]}, 3),
    ("TriggerMessage", {"requestedMessage": "Heartbeat"}, 3),
    ("ReserveNow", {}, 4),
]
CONFIG = {"ocpp": {"heartbeatInterval": 3600}, "log": {"level": "info", "heapInterval": 0.2}}


async def pipeline(conn, first, count, requests=REQUESTS, window=WINDOW):
    """Send `count` CALLs with at most `window` unanswered; check each reply. -> seconds taken."""
    slots = asyncio.Semaphore(window)
    expected = {}
    t0 = time.monotonic()

    async def replies():
        for _ in range(count):
            while True:
                frame = await asyncio.wait_for(conn.inbox.get(), 20)
                msg = frame.msg
                if isinstance(msg, list) and msg and msg[0] in (3, 4):
                    break
            kind = expected.pop(msg[1])
            assert msg[0] == kind, msg
            slots.release()

    reader = asyncio.create_task(replies())
    for i in range(first, first + count):
        await slots.acquire()
        action, payload, kind = requests[i % len(requests)]
        uid = "s%d" % i
        expected[uid] = kind
        conn.writer.write(rs.encode_frame(rs.OP_TEXT, json.dumps([2, uid, action, payload])))
        if i % 16 == 0:
            await conn.writer.drain()
    await conn.writer.drain()
    await reader
    assert expected == {}
    return time.monotonic() - t0


def settled_heap(fw, reports=3, timeout=30):
    """The live heap once the firmware is idle: a few fresh reports in a row
    with nothing in the outbox, the last of them. (On a loaded machine a
    CALL of the charger's can time out behind a flood's replies; the outbox
    then pauses, up to 16 s, with messages queued, and a heap measured then
    holds them and the outbox task's frames: 1.4 to 2.7 KB.)"""
    deadline = time.monotonic() + timeout
    idle = 0
    while idle < reports:
        wait_next_log(fw, r"heap alloc=", timeout=max(0.1, deadline - time.monotonic()))
        idle = idle + 1 if log_events(fw, r"heap alloc=.* queued=(\d+)")[-1][1].group(1) == "0" else 0
    return int(log_events(fw, r"heap alloc=(\d+)")[-1][1].group(1))


@pytest.mark.slow
def test_soak_10000_round_trips_heap_does_not_grow(raw, firmware):
    """J-10, J-11, J-12, J-18, CFG-01, TM-03, TM-08, ERR-01: 10,000 central-system round trips on one link; the live heap ends where it started."""
    fw = firmware(raw.port, CONFIG)
    conn = raw.wait_upgraded(1)
    fw.wait_log("registration Accepted")
    raw.run(pipeline(conn, 0, WARM_UP))  # every handler imported, every buffer made
    before = settled_heap(fw)
    took = raw.run(pipeline(conn, WARM_UP, ROUND_TRIPS), timeout=120)
    after = settled_heap(fw)
    peak = max(int(m.group(1)) for _, m in log_events(fw, r"heap alloc=(\d+)"))
    print("soak: %d round trips in %.1f s (%.0f/s); heap %d -> %d bytes, peak %d" % (ROUND_TRIPS, took, ROUND_TRIPS / took, before, after, peak))
    assert abs(after - before) <= HEAP_TOLERANCE, (before, after)
    assert len(raw.conns) == 1
    assert len(raw.calls("BootNotification")) == 1
    assert_alive(fw)


def test_trigger_flood_is_coalesced(raw, firmware):
    """TM-01, TM-02: 3,000 TriggerMessage requests at once -> each Accepted, but the triggered CALLs coalesce: no queue (and heap) per request."""
    fw = firmware(raw.port, CONFIG)
    conn = raw.wait_upgraded(1)
    fw.wait_log("registration Accepted")
    raw.wait_calls("StatusNotification", 1)
    flood = [("TriggerMessage", {"requestedMessage": "Heartbeat"}, 3), ("TriggerMessage", {"requestedMessage": "StatusNotification", "connectorId": 1}, 3)]
    raw.run(pipeline(conn, 0, 20, flood, window=1))  # one at a time: the handler is imported
    before = settled_heap(fw)
    beats, statuses = len(raw.calls("Heartbeat")), len(raw.calls("StatusNotification"))
    raw.run(pipeline(conn, 20, 3000, flood, window=3000))  # all in flight at once
    peak = max(int(m.group(1)) for _, m in log_events(fw, r"heap alloc=(\d+)"))
    # The same 20 one at a time as before `before`: the heap is measured
    # after the same last steps both times.
    raw.run(pipeline(conn, 3020, 20, flood, window=1))
    after = settled_heap(fw)
    accepted = [m for m in conn.messages() if m[0] == 3 and str(m[1]).startswith("s")]
    assert len(accepted) == 3040 and all(m[2] == {"status": "Accepted"} for m in accepted)
    # Each trigger found its message already queued, or queued it: at most a
    # few of each went out, not 1,500.
    assert 1 <= len(raw.calls("Heartbeat")) - beats <= 50
    assert 1 <= len(raw.calls("StatusNotification")) - statuses <= 50
    assert peak - before <= 32 * 1024, (before, peak)
    series = [int(m.group(1)) for _, m in log_events(fw, r"heap alloc=(\d+)")]
    assert abs(after - before) <= HEAP_TOLERANCE, "%s" % ((before, after, series[-12:]),)
    assert_alive(fw)


def test_trigger_while_the_triggered_message_is_in_flight_gets_its_own(raw, firmware):
    """TM-02: a trigger answered while the previous triggered Heartbeat awaits its reply is not swallowed: a second Heartbeat follows."""
    held = []
    answer = raw.on_call

    def on_call(conn, msg):
        if msg[2] == "Heartbeat" and not held:
            held.append(msg)  # the first triggered Heartbeat stays in flight
            return None
        return answer(conn, msg)

    raw.on_call = on_call
    raw.swallow_unanswered = True
    fw = firmware(raw.port, CONFIG)
    conn = raw.wait_upgraded(1)
    fw.wait_log("registration Accepted")
    raw.run(conn.send_call("t-1", "TriggerMessage", {"requestedMessage": "Heartbeat"}))
    raw.wait_calls("Heartbeat", 1)
    raw.run(conn.send_call("t-2", "TriggerMessage", {"requestedMessage": "Heartbeat"}))
    raw.wait_frame(lambda f: f.msg and f.msg[1] == "t-2" and f.msg[2] == {"status": "Accepted"}, 5, "t-2 Accepted")
    raw.run(conn.send_text(json.dumps([3, held[0][1], {"currentTime": rs.utc_now()}])))
    raw.wait_calls("Heartbeat", 2, timeout=5)
    assert_alive(fw)
