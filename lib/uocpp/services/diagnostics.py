# GetDiagnostics (DIAG-01..DIAG-09): one text file on flash with a state
# snapshot and the persistent log's lines (store/log_ring.py), uploaded
# over HTTP(S) (link/http.py), with DiagnosticsStatusNotification on the
# way. Loaded on the first GetDiagnostics or its TriggerMessage; the
# service lives in the app's "diagnostics" slot from then on (app.py).
#
#   file     <flash>/diag/<chargePointId>-<UTC yyyymmddThhmmssZ>.txt, only
#            the newest kept; written line by line, never whole in RAM
#   window   startTime/stopTime pick log lines by their UTC stamp; a line
#            written before the clock was set (an uptime stamp) counts at the
#            stamp of the line before it, and before any startTime when no
#            stamped line precedes it (DIAG-04)
#   upload   PUT to location, or to location + fileName when it ends in
#            "/"; a 405 or 501 answer to the PUT is retried at once as a
#            multipart/form-data POST with the field "file" (DIAG-05)
#   retries  `retries` attempts (at least 1; 3 when absent), `retryInterval`
#            seconds apart (30 when absent) (DIAG-06)
#   status   Uploading, then Uploaded or UploadFailed, queued by the outbox
#            while offline (PERSIST: sent again after a lost link) (DIAG-07)
#   again    a GetDiagnostics while one runs replaces it (DIAG-08)
#   ftp      not supported: the reply has no fileName, then UploadFailed
#            (DIAG-09)
import asyncio
import gc
import os
import time

from micropython import const

from uocpp import __version__, clock, log, platform
from uocpp import outbox as ob
from uocpp.model import identity
from uocpp.model import keys as keydefs
from uocpp.store import json_file, log_ring

IDLE = "Idle"
UPLOADING = "Uploading"
UPLOADED = "Uploaded"
FAILED = "UploadFailed"

_ATTEMPTS = const(3)
_MAX_ATTEMPTS = const(10)
_INTERVAL = const(30)
_YIELD_LINES = const(64)  # collecting gives the loop a turn this often


def service(slot, outbox, keys, connectors, settings):
    # The one Diagnostics, made on first use in the app's slot.
    if slot[0] is None:
        slot[0] = Diagnostics(outbox, keys, connectors, settings, platform.flash_dir(settings))
    return slot[0]


def notify(outbox, status, triggered=False):
    # DiagnosticsStatusNotification: kept until a link takes it, sent again
    # when the link is lost before its reply (PERSIST). A triggered one
    # coalesces with a triggered one still waiting.
    payload = {"status": status}
    log.info("diagnostics", "status %s", status)
    outbox.submit(ob.Message("DiagnosticsStatusNotification", lambda: payload, ob.PERSIST, key="diag:t" if triggered else None, triggered=triggered))


def trigger(slot, outbox):
    # TriggerMessage (TM-07): Uploading while a request runs, else Idle.
    busy = slot[0] is not None and slot[0].busy()
    notify(outbox, UPLOADING if busy else IDLE, True)


def _compact(unix):
    # 20261202T035000Z: a file name without ':' (FAT, URLs).
    t = clock.rtc_datetime(unix)
    return "%04d%02d%02dT%02d%02d%02dZ" % (t[0], t[1], t[2], t[4], t[5], t[6])


def _stamp(line):
    # The UTC stamp a ring line starts with (Unix seconds), or None.
    if len(line) > 20 and line[4] == 45 and line[19] == 90:  # '-' and 'Z'
        try:
            return clock.parse_iso(line[:20].decode())
        except ValueError:
            return None
    return None


class Diagnostics:
    def __init__(self, outbox, keys, connectors, settings, flash):
        self._outbox = outbox
        self._keys = keys
        self._connectors = connectors
        self._cp_id = settings["centralSystem"]["chargePointId"]
        d = settings["diagnostics"]
        # diagnostics.caFile, else the central system's CA (DER).
        self._ca = d["caFile"] or settings["centralSystem"]["caFile"] or None
        self._timeout = d["timeout"]
        self._dir = json_file.join(flash, "diag")
        self._task = None

    def busy(self):
        return self._task is not None and not self._task.done()

    def _notify(self, status):
        notify(self._outbox, status)

    def request(self, location, retries, interval, start, stop):
        # -> (reply payload, after) for ops/get_diagnostics.py.
        if not (location.startswith("http://") or location.startswith("https://")):
            log.warning("diagnostics", "%s: only http:// and https:// uploads are supported", location.split(":", 1)[0])

            async def refuse():
                self._notify(FAILED)

            return {}, refuse
        name = "%s-%s.txt" % (self._cp_id, _compact(clock.now()))
        attempts = _ATTEMPTS if retries is None else max(1, min(retries, _MAX_ATTEMPTS))
        interval = _INTERVAL if interval is None else max(0, interval)

        async def after():
            if self.busy():
                log.info("diagnostics", "a new GetDiagnostics replaces the running one")
                self._task.cancel()
            self._task = asyncio.create_task(self._run(name, location, attempts, interval, start, stop))

        return {"fileName": name}, after

    async def _run(self, name, location, attempts, interval, start, stop):
        from uocpp.link import http

        path = json_file.join(self._dir, name)
        try:
            size = await self._collect(path, start, stop)
        except Exception as e:
            log.error("diagnostics", "cannot write %s: %r", path, e)
            self._notify(FAILED)
            return
        url = location + name if location.endswith("/") else location
        self._notify(UPLOADING)
        for n in range(1, attempts + 1):
            try:
                await self._upload(http, url, path, size, name)
                log.info("diagnostics", "%s (%d bytes) uploaded to %s", name, size, http.redacted(url))
                self._notify(UPLOADED)
                return
            except Exception as e:
                log.warning("diagnostics", "upload attempt %d of %d to %s failed: %r", n, attempts, http.redacted(url), e)
            if n < attempts:
                await asyncio.sleep(interval)
        self._notify(FAILED)

    async def _upload(self, http, url, path, size, name):
        with open(path, "rb") as f:
            try:
                await http.send("PUT", url, f, size, self._ca, self._timeout, "text/plain")
                return
            except http.HttpError as e:
                if e.status not in (405, 501):
                    raise
                log.info("diagnostics", "PUT refused (HTTP %d): POST multipart/form-data", e.status)
            f.seek(0)
            ctype, head, tail = http.multipart("file", name, "uocpp-%d-%d" % (clock.now(), size))
            await http.send("POST", url, f, size, self._ca, self._timeout, ctype, head, tail)

    # -- the file ----------------------------------------------------------------
    async def _collect(self, path, start, stop):
        # Writes the file line by line; returns its size.
        try:
            os.mkdir(self._dir)
        except OSError:
            pass
        for old in os.listdir(self._dir):
            try:
                os.remove(json_file.join(self._dir, old))
            except OSError:
                pass
        with open(path, "wb") as f:
            self._snapshot(f, start, stop)
            await self._log_lines(f, start, stop)
            return f.tell()

    def _line(self, f, text):
        f.write(log.mask(text).encode())
        f.write(b"\n")

    def _snapshot(self, f, start, stop):
        w = self._line
        up = time.ticks_diff(time.ticks_ms(), log.t0) // 1000  # as the log's uptime stamps
        w(f, "# uOCPP diagnostics of %s" % self._cp_id)
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
        for d in keydefs.DECLARATIONS:
            if d[keydefs.ACCESS] != keydefs.W:
                w(f, "%s=%s" % (d[keydefs.NAME], self._keys.text(d[keydefs.NAME])))
        w(f, "")
        w(f, "## connectors")
        c = self._connectors
        for cid in range(c.count + 1):
            w(f, "%d: %s %s" % (cid, c.status(cid), c.items[cid].error_code))
        w(f, "")
        window = "%s .. %s" % (clock.format_iso(start) if start is not None else "start", clock.format_iso(stop) if stop is not None else "now")
        w(f, "## log (%s)" % window)

    async def _log_lines(self, f, start, stop):
        ring = log.ring
        if ring is None:
            self._line(f, "(the flash log is off: log.flashLevel)")
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
