# GetDiagnostics (DIAG-01..DIAG-09): one text file on flash with a state
# snapshot and the persistent log's lines (log_ring.py), uploaded over
# HTTP(S) or FTP(S) (link/transfer.py), with DiagnosticsStatusNotification on
# the way. Loaded on the first GetDiagnostics or its TriggerMessage; the
# service lives in the app's "diagnostics" slot from then on (app.py).
#
#   file     <flash>/diag/<chargePointId>-<UTC yyyymmddThhmmssZ>.txt, only
#            the newest kept; written line by line, never whole in RAM
#   window   startTime/stopTime pick log lines by their UTC stamp; a line
#            written before the clock was set (an uptime stamp) counts at the
#            stamp of the line before it, and before any startTime when no
#            stamped line precedes it (DIAG-04)
#   upload   to location, or to location + fileName when it ends in "/":
#            HTTP PUT, and a multipart/form-data POST with the field "file"
#            at once when the PUT gets 405 or 501 (DIAG-05); FTP STOR
#   retries  `retries` attempts (at least 1; 3 when absent), `retryInterval`
#            seconds apart (30 when absent) (DIAG-06)
#   status   Uploading, then Uploaded or UploadFailed, queued by the outbox
#            while offline (PERSIST: sent again after a lost link) (DIAG-07)
#   again    a GetDiagnostics while one runs replaces it (DIAG-08)
#   scheme   http(s):// and ftp(s):// (link/transfer.py); another: the reply
#            has no fileName, then UploadFailed (DIAG-09)
# Memory: the file is written by services/diag_file.py, loaded for that and
# dropped before the upload, which then needs only its client (link/http.py
# or link/ftp.py) and its 1 KB buffer (bench/diagnostics.py and
# bench/transfers.py measure the peak).
import asyncio

from micropython import const

from uocpp import clock, log, platform, unload
from uocpp import outbox as ob
from uocpp.store import json_file

IDLE = "Idle"
UPLOADING = "Uploading"
UPLOADED = "Uploaded"
FAILED = "UploadFailed"

_ATTEMPTS = const(3)
_MAX_ATTEMPTS = const(10)
_INTERVAL = const(30)


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
        from uocpp.link import transfer

        if not transfer.supported(location):
            log.warning("diagnostics", "%s: only http(s):// and ftp(s):// uploads are supported", location.split(":", 1)[0])

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

    async def _collect(self, path, start, stop):
        # -> the size of the file written; its code leaves the heap after.
        from uocpp.services import diag_file

        try:
            return await diag_file.write(path, self._cp_id, self._keys, self._connectors, start, stop)
        finally:
            unload("uocpp.services.diag_file")
            from uocpp import services

            if hasattr(services, "diag_file"):
                delattr(services, "diag_file")

    async def _run(self, name, location, attempts, interval, start, stop):
        path = json_file.join(self._dir, name)
        try:
            size = await self._collect(path, start, stop)
        except Exception as e:
            log.error("diagnostics", "cannot write %s: %r", path, e)
            self._notify(FAILED)
            return
        from uocpp.link import transfer

        url = location + name if location.endswith("/") else location
        self._notify(UPLOADING)
        for n in range(1, attempts + 1):
            try:
                await transfer.upload(url, path, size, name, self._ca, self._timeout, "text/plain")
                log.info("diagnostics", "%s (%d bytes) uploaded to %s", name, size, url)
                self._notify(UPLOADED)
                return
            except Exception as e:
                log.warning("diagnostics", "upload attempt %d of %d to %s failed: %r", n, attempts, url, e)
            if n < attempts:
                await asyncio.sleep(interval)
        self._notify(FAILED)
