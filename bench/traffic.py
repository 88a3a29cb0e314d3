"""Round trips initiated by the central system: GetConfiguration CALLs sent as
raw frames, pipelined over the central system's WebSocket to one charge
point, and the CALLRESULTs counted as the central system records them.
Used for the message rate (firmware and CPython peer alike) and for the
10,000 round trips of the live-heap measurement.
"""

import asyncio
import glob
import itertools
import time

from bench.common import received, wait_alive

# One key, answered by the firmware and the peer alike.
PAYLOAD = '{"key": ["HeartbeatInterval"]}'
_batches = itertools.count(1)


def connection(cs, cp_id):
    for cid, ws in reversed(cs.connections):
        if cid == cp_id:
            return ws
    raise KeyError("no connection from %s" % cp_id)


async def _pipelined(cs, cp_id, n, timeout):
    ws = connection(cs, cp_id)
    prefix = "b%d-" % next(_batches)
    done = asyncio.get_running_loop().create_future()
    counts = {"ok": 0, "error": 0}

    def seen(frame):
        if frame.direction != "in" or frame.cp_id != cp_id or frame.kind not in (3, 4):
            return
        if not str(frame.msg[1]).startswith(prefix):
            return
        counts["ok" if frame.kind == 3 else "error"] += 1
        if counts["ok"] + counts["error"] == n and not done.done():
            done.set_result(time.perf_counter())

    cs.on_frame = seen
    try:
        start = time.perf_counter()
        for i in range(n):
            await ws.send('[2, "%s%d", "GetConfiguration", %s]' % (prefix, i, PAYLOAD))
        end = await asyncio.wait_for(done, timeout)
    finally:
        cs.on_frame = None
        _forget_replies(cs, cp_id)
    if counts["error"]:
        raise RuntimeError("%d of %d GetConfiguration calls got a CALLERROR" % (counts["error"], n))
    return end - start


def _forget_replies(cs, cp_id):
    # The `ocpp` package queues every CALLRESULT for its own call(); these
    # raw ones are not its, so drop them before it looks.
    cp = cs.charge_points.get(cp_id)
    queue = getattr(cp, "_response_queue", None)
    while queue is not None and not queue.empty():
        queue.get_nowait()


def cpu_seconds(pid):
    """CPU time the process has used so far, all its threads (Linux schedstat, ns)."""
    total = 0
    for path in glob.glob("/proc/%d/task/*/schedstat" % pid):
        try:
            with open(path) as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total / 1e9


def round_trips(cs, cp_id, n, timeout=120):
    """Sends n GetConfiguration CALLs at once; returns the seconds until the
    last reply arrived. Raises if any reply is a CALLERROR or missing."""
    return cs.run(_pipelined(cs.cs, cp_id, n, timeout), timeout + 5)


def measured_batch(cs, cp_id, n, pid):
    """(round trips per second, CPU microseconds per round trip spent by the
    charge point's process `pid`) for one batch of n."""
    cpu = cpu_seconds(pid)
    wall = round_trips(cs, cp_id, n)
    return n / wall, (cpu_seconds(pid) - cpu) * 1e6 / n


def registered(cs, fw, cp_id, statuses=2, timeout=10):
    """Waits for the BootNotification and the StatusNotifications after it."""
    wait_alive(cs, fw, lambda fs: received(cs, cp_id, "BootNotification") and cp_id in cs.charge_points, timeout, "BootNotification")
    wait_alive(cs, fw, lambda fs: len(received(cs, cp_id, "StatusNotification")) >= statuses, timeout, "StatusNotifications")
