# The GetDiagnostics file (DIAG-02, DIAG-03, DIAG-04, DIAG-10): a state
# snapshot, then the persistent log's lines, oldest first, each written as it
# is read: the file is never whole in RAM. Secrets are masked once more
# (a key registered after its line was written). Loaded by
# services/diagnostics.py for one file and dropped again.
#
# The window: startTime/stopTime pick lines by their UTC stamp. A line
# written before the clock was set (an uptime stamp, "+12.345") counts at the
# stamp of the line before it, and before any startTime when no stamped line
# precedes it.
import asyncio
import gc
import os
import time

from micropython import const

from uocpp import __version__, clock, log, unload
from uocpp.model import identity
from uocpp.model import keys as keydefs
from uocpp import log_ring
from uocpp.store import json_file

_YIELD_LINES = const(64)  # the loop gets a turn this often


def _stamp(line):
    # The UTC stamp a ring line starts with (Unix seconds), or None.
    if len(line) > 20 and line[4] == 45 and line[19] == 90:  # '-' and 'Z'
        try:
            return clock.parse_iso(line[:20].decode())
        except ValueError:
            return None
    return None


async def write(path, cp_id, keys, connectors, start, stop, ring=None):
    # Writes the file line by line (any older one in its directory removed:
    # only the newest is kept); returns its size. ring: another LogRing
    # whose lines are wanted instead of the snapshot and the flash log (the
    # security log, GetLog SecurityLog).
    d = path[: path.rfind("/")] if "/" in path else "."
    try:
        os.mkdir(d)
    except OSError:
        pass
    for old in os.listdir(d):
        try:
            os.remove(json_file.join(d, old))
        except OSError:
            pass
    with open(path, "wb") as f:
        if ring is None:
            _snapshot(f, cp_id, keys, connectors, start, stop)
            await _log_lines(f, start, stop, log.ring)
        else:
            _line(f, "# uOCPP security log of %s, %s (%s)" % (cp_id, clock.now_iso(), _window(start, stop)))
            await _log_lines(f, start, stop, ring)
        return f.tell()


def _line(f, text):
    f.write(log.mask(text).encode())
    f.write(b"\n")


def _snapshot(f, cp_id, keys, c, start, stop):
    w = _line
    up = time.ticks_diff(time.ticks_ms(), log.t0) // 1000  # as the log's uptime stamps
    w(f, "# uOCPP diagnostics of %s" % cp_id)
    w(f, "generated: %s%s" % (clock.now_iso(), "" if clock.synced else " (clock not set)"))
    w(f, "uptime: %d s" % up)
    w(f, "firmware: uocpp %s" % __version__)
    gc.collect()
    w(f, "heap: alloc=%d free=%d" % (gc.mem_alloc(), gc.mem_free()))
    w(f, "")
    w(f, "## identity")
    for field, _, _ in identity.FIELDS:
        value = identity.get(field)
        if value is not None:
            w(f, "%s: %s" % (field, value))
    w(f, "")
    w(f, "## configuration keys (write-only keys such as AuthorizationKey left out)")
    from uocpp.model import keytable  # the declarations, dropped after

    for d in keytable.declarations():
        if d[keydefs.ACCESS] != keydefs.W:
            name = keydefs.name(d[keydefs.INDEX])
            w(f, "%s=%s" % (name, keys.text(name)))
    unload(keytable.__name__)
    w(f, "")
    w(f, "## connectors")
    for cid in range(c.count + 1):
        w(f, "%d: %s %s" % (cid, c.status(cid), c.items[cid].error_code))
    w(f, "")
    w(f, "## log (%s)" % _window(start, stop))


def _window(start, stop):
    return "%s .. %s" % (clock.format_iso(start) if start is not None else "start", clock.format_iso(stop) if stop is not None else "now")


async def _log_lines(f, start, stop, ring):
    if ring is None:
        _line(f, "(the flash log is off: log.flashLevel)")
        return
    secrets = [s.encode() for s in log.secrets]
    last = None  # the stamp in force (see the window rule above)
    count = 0
    # Oldest file first. The loop gets a turn now and then, and the ring
    # may turn meanwhile: each turn moves the files one name up.
    n, turns = ring.files - 1, ring.turns
    while n >= 0:
        try:
            src = open(log_ring.path(ring.dir, n), "rb")
        except OSError:
            src = None
        n -= 1
        if src is None:
            continue
        with src:
            while True:
                line = src.readline()
                if not line:
                    break
                t = _stamp(line)
                if t is not None:
                    last = t
                if start is not None and (last is None or last < start):
                    continue
                if stop is not None and last is not None and last > stop:
                    continue
                for s in secrets:
                    if s in line:
                        line = line.replace(s, b"***")
                f.write(line if line[-1:] == b"\n" else line + b"\n")
                count += 1
                if count % _YIELD_LINES == 0:
                    await asyncio.sleep_ms(0)
                    n += ring.turns - turns
                    turns = ring.turns
