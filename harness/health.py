"""Checks that a firmware process came through a fault in good health.

All from the outside: its log (each line starts with the firmware's own
uptime, so gaps are measured on its clock), its process and its open sockets.
"""

import os
import re

_STAMP = re.compile(r"^(\d+)\.(\d{3}) ")


def log_events(fw, pattern):
    """[(uptime seconds, match)] for every log line matching the regex."""
    rx = re.compile(pattern)
    out = []
    for line in fw.log.splitlines():
        stamp = _STAMP.match(line)
        hit = rx.search(line)
        if stamp and hit:
            out.append((int(stamp.group(1)) + int(stamp.group(2)) / 1000, hit))
    return out


def backoff_waits(fw):
    return [float(m.group(1)) for _, m in log_events(fw, r"backing off ([0-9.]+) s")]


def assert_backoff_respected(fw):
    """After every 'backing off X s' the next connection attempt comes no earlier than X later."""
    events = sorted(
        [(t, "wait", float(m.group(1))) for t, m in log_events(fw, r"backing off ([0-9.]+) s")] + [(t, "connect", 0.0) for t, _ in log_events(fw, r"link: connecting to")]
    )
    checked = 0
    for i, (t, kind, wait) in enumerate(events):
        if kind != "wait":
            continue
        nxt = next((e for e in events[i + 1 :] if e[1] == "connect"), None)
        if nxt is None:
            continue
        # The log clock has 1 ms resolution; the wait itself is exact.
        assert nxt[0] - t >= wait - 0.002, "attempt %.3f s after 'backing off %.1f s' (at %.3f)" % (nxt[0] - t, wait, t)
        checked += 1
    return checked


def open_sockets(fw):
    """How many sockets the firmware process holds (leaked ones included)."""
    fd_dir = "/proc/%d/fd" % fw.proc.pid
    count = 0
    for fd in os.listdir(fd_dir):
        try:
            if os.readlink(os.path.join(fd_dir, fd)).startswith("socket:"):
                count += 1
        except OSError:
            pass
    return count


def assert_alive(fw):
    """Still running, and no uncaught exception ever reached the log."""
    assert fw.proc.poll() is None, "firmware exited with %s:\n%s" % (fw.proc.returncode, fw.log[-3000:])
    assert "Traceback" not in fw.log, fw.log[-3000:]
    assert "Task exception wasn't retrieved" not in fw.log, fw.log[-3000:]


def wait_next_log(fw, pattern, timeout=10.0):
    """Wait for the next log line matching the regex (ignoring earlier ones);
    returns the host's time.monotonic() when it arrived."""
    rx = re.compile(pattern)
    with fw._cond:
        start = len(fw.lines)
    fw.wait_log(pattern, timeout, count=sum(1 for _, line in fw.lines[:start] if rx.search(line)) + 1)
    with fw._cond:
        return next(t for t, line in fw.lines[start:] if rx.search(line))
