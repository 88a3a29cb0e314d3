"""Smallest working heap: the scripted session, and a bisection over
`micropython -X heapsize=N` for the smallest N at which it completes.

The session: boot, `heartbeats` Heartbeats (each triggered by TriggerMessage),
GetConfiguration of all keys, a ChangeConfiguration (MeterValueSampleInterval
1), a TriggerMessage of StatusNotification, and one charging session through
the EVSE simulator (plug, card, charge, two sampled MeterValues, unplug,
StopTransaction). It completes when the central system has seen every step
answered as expected and the firmware neither died nor logged a MemoryError.
"""

import itertools
import re
import tempfile
import time

from ocpp.v16 import call

from bench.common import received, start_firmware, wait_alive
from bench.traffic import registered
from harness.net import free_port

# Generous: on a loaded machine a step can take seconds, and a step that
# times out counts as a heap too small. A heap that is too small shows
# sooner: the process exits, or its log says so (OUT_OF_MEMORY), and the
# session ends there.
STEP_TIMEOUT = 20.0
OUT_OF_MEMORY = ("MemoryError", "out of memory")
_ids = itertools.count(1)


def _triggered(cs, fw, cp_id, message, action, before, connector_id=None):
    reply = cs.call(cp_id, call.TriggerMessage(requested_message=message, connector_id=connector_id), timeout=STEP_TIMEOUT)
    if reply.status != "Accepted":
        raise RuntimeError("TriggerMessage(%s) answered %s" % (message, reply.status))
    wait_alive(cs, fw, lambda fs: len(received(cs, cp_id, action)) > before, STEP_TIMEOUT, "triggered %s" % action, OUT_OF_MEMORY)


def scripted_session(cs, fw, cp_id, heartbeats=100, evse_port=None):
    """Runs the session against a started firmware; raises on any failure."""
    wait_alive(cs, fw, lambda fs: received(cs, cp_id, "BootNotification") and cp_id in cs.charge_points, STEP_TIMEOUT, "BootNotification", OUT_OF_MEMORY)
    fw.wait_log("registration Accepted", STEP_TIMEOUT)
    for i in range(heartbeats):
        _triggered(cs, fw, cp_id, "Heartbeat", "Heartbeat", i)
    keys = cs.call(cp_id, call.GetConfiguration(), timeout=STEP_TIMEOUT).configuration_key
    if len(keys) < 20:
        raise RuntimeError("GetConfiguration listed only %d keys" % len(keys))
    status = cs.call(cp_id, call.ChangeConfiguration(key="MeterValueSampleInterval", value="1"), timeout=STEP_TIMEOUT).status
    if status != "Accepted":
        raise RuntimeError("ChangeConfiguration answered %s" % status)
    before = len(received(cs, cp_id, "StatusNotification"))
    _triggered(cs, fw, cp_id, "StatusNotification", "StatusNotification", before, connector_id=1)
    if evse_port:
        _charging(cs, fw, cp_id, evse_port)


def charging(cs, fw, cp_id, port):
    """A transaction started through the EVSE simulator (plug, card,
    charge) and running: returns once two sampled MeterValues are in (at
    MeterValueSampleInterval 1)."""
    import evse

    for reply in evse.send(["meter 1 1000", "power 1 7400", "plug 1", "card 1 BENCH", "charge 1"], port=port, timeout=STEP_TIMEOUT):
        if not reply.startswith("ok"):
            raise RuntimeError("simulator: %s" % reply)
    wait_alive(cs, fw, lambda fs: len(received(cs, cp_id, "MeterValues")) >= 2, STEP_TIMEOUT, "2 sampled MeterValues", OUT_OF_MEMORY)


def _charging(cs, fw, cp_id, port):
    # One charging session through the EVSE simulator, MeterValues every second.
    import evse

    charging(cs, fw, cp_id, port)
    evse.send(["unplug 1"], port=port, timeout=STEP_TIMEOUT)
    wait_alive(cs, fw, lambda fs: received(cs, cp_id, "StopTransaction"), STEP_TIMEOUT, "StopTransaction", OUT_OF_MEMORY)


def session_completes(cs, build, heapsize, heartbeats=100, config=None, lines=None):
    """(True, "") when the session completes with this heap, else (False, why).
    config: overrides of the firmware's config.json (the wss:// url, say).
    lines: a list that gets the firmware's log lines about the heap (a
    MemoryError, "out of memory"), and the traceback after each, of a run
    that fails (bench/fit.py --why)."""
    cp_id = "HEAP%d" % next(_ids)
    port = free_port()
    config = dict(config or {}, simulator={"port": port})
    with tempfile.TemporaryDirectory(prefix="bench-heap-") as work:
        fw = start_firmware(work, cs, build, cp_id, heapsize=heapsize, config=config)
        try:
            scripted_session(cs, fw, cp_id, heartbeats, port)
            if fw.proc.poll() is not None:
                return False, "firmware exited with status %s" % fw.proc.returncode
            time.sleep(0.05)  # let the last log lines arrive
            if any(text in fw.log for text in OUT_OF_MEMORY):
                return False, "MemoryError in the log"
            return True, ""
        except Exception as e:  # any failed step means "does not complete"
            return False, "%s: %s" % (type(e).__name__, str(e).splitlines()[0] if str(e) else "")
        finally:
            fw.stop()
            if lines is not None:
                lines.extend(memory_lines(fw.log))


def memory_lines(log, after=6):
    # The log's lines naming OUT_OF_MEMORY or a failed allocation (a task
    # that went on: "cannot store the StartTransaction (memory allocation
    # failed, ...)"), each with the lines after it (a traceback), once.
    out, text, last = [], log.splitlines(), -1
    for i, line in enumerate(text):
        if any(t in line for t in OUT_OF_MEMORY + ("memory allocation failed",)):
            for j in range(max(i, last + 1), min(i + after + 1, len(text))):
                out.append(text[j])
            last = max(last, i + after)
    return out


def smallest_heap(cs, build, low=4096, high=65536, resolution=256, heartbeats=100, max_steps=None, config=None, low_fails=False):
    """Bisection: the smallest heap (bytes, a multiple of `resolution`) at
    which the session completes, with the number of sessions run. `high` is
    checked first: when it fails it becomes the lower bound and the bracket
    above it doubles until a heap passes. `low` must fail: it is checked
    unless the caller knows it fails (low_fails: the build's live heap idle,
    below which nothing completes). max_steps caps the bisection (smoke
    test), leaving a coarser answer."""
    runs = 1
    span = max(high - low, resolution)
    ok, why = session_completes(cs, build, high, heartbeats, config)
    while not ok:
        if high >= 1 << 22:
            raise RuntimeError("the session fails even with %d bytes: %s" % (high, why))
        low, span = high, span * 2
        high = low + span
        runs += 1
        ok, why = session_completes(cs, build, high, heartbeats, config)
    if not low_fails:
        runs += 1
        ok, why = session_completes(cs, build, low, heartbeats, config)
        if ok:
            return low, runs
    steps = 0
    while high - low > resolution and (max_steps is None or steps < max_steps):
        mid = (low + high) // 2 // resolution * resolution
        if mid <= low:
            mid = low + resolution
        runs += 1
        steps += 1
        ok, why = session_completes(cs, build, mid, heartbeats, config)
        if ok:
            high = mid
        else:
            low = mid
    return high, runs


def _n_qstr(fw, after=2, timeout=10):
    # n_qstr (dynamic interned names) of the `after`-th "qstr pool:" line
    # from now: extras/diag.py prints it after each heap report.
    seen = sum(1 for _, line in list(fw.lines) if line.startswith("qstr pool:"))
    return int(fw.wait_log(r"^qstr pool: .*n_qstr=(\d+)", timeout, count=seen + after).group(1))


def names(cs, b, heartbeats, tmp):
    # (interned names idle after boot, at the end of the scripted session):
    # one run at the port's default heap. On a 32-bit .mpy build the pools
    # hold 1,260 names; the next one is a 1,280-entry pool, 8,976 B in one
    # block (docs/memory.md).
    cp_id = "NAMES" + re.sub(r"[^A-Z0-9]", "", b.name.upper())
    port = free_port()
    fw = start_firmware(tmp / ("names" + b.name), cs, b, cp_id, config={"log": {"heapInterval": 0.2}, "simulator": {"port": port}})
    try:
        registered(cs, fw, cp_id)
        idle = _n_qstr(fw)
        scripted_session(cs, fw, cp_id, heartbeats, port)
        return idle, _n_qstr(fw)
    finally:
        fw.stop()
