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
#   GetLog   (issue 25) the same file (DiagnosticsLog) or the security
#            log's lines (SecurityLog, security_log.py), the same upload,
#            retries and window (oldestTimestamp/latestTimestamp); statuses
#            as LogStatusNotification with the requestId: Uploading, then
#            Uploaded, UploadFailure, or PermissionDenied when the server's
#            last answer was 401 or 403 (FTP: 530); a scheme not supported is Rejected
#            and NotSupportedOperation; one replacing a running upload is
#            AcceptedCanceled
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
_DIAG = (UPLOADING, UPLOADED, FAILED, FAILED)
_LOG = ("Uploading", "Uploaded", "UploadFailure", "PermissionDenied")


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


def notify_log(outbox, status, request_id, triggered=False):
    # LogStatusNotification (GetLog, ExtendedTriggerMessage): as above.
    payload = {"status": status}
    if request_id is not None:
        payload["requestId"] = request_id
    log.info("diagnostics", "log status %s", status)
    outbox.submit(ob.Message("LogStatusNotification", lambda: payload, ob.PERSIST, key="log:t" if triggered else None, triggered=triggered))


def trigger_log(slot, outbox):
    # ExtendedTriggerMessage LogStatusNotification: Uploading with the id of
    # the GetLog that runs, else Idle.
    svc = slot[0]
    if svc is not None and svc.busy() and svc.log_request is not None:
        notify_log(outbox, "Uploading", svc.log_request, True)
    else:
        notify_log(outbox, "Idle", None, True)


def supported(location):
    # The one check of an upload's scheme (GetDiagnostics, GetLog).
    from uocpp.link import transfer

    if transfer.supported(location):
        return True
    log.warning("diagnostics", "%s: only http(s):// and ftp(s):// uploads are supported", location.split(":", 1)[0])
    return False


def _later(fn, *args):
    async def run():
        fn(*args)

    return run


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
        self.log_request = None  # the requestId of the GetLog whose upload runs

    def busy(self):
        return self._task is not None and not self._task.done()

    def stop(self):
        # A Reset ends a running upload, said with its failure status (1.6
        # 4.4: the charge point says the upload has finished successfully
        # or failed): the restart drops its task with the old loop, and
        # the status goes before the app stops (the outbox drains).
        if self.busy():
            self._task.cancel()
            tell, statuses = self._end
            tell(statuses[2])

    def _notify(self, status):
        notify(self._outbox, status)

    def request(self, location, retries, interval, start, stop):
        # -> (reply payload, after) for ops/get_diagnostics.py.
        if not supported(location):

            async def refuse():
                self._notify(FAILED)

            return {}, refuse
        name = "%s-%s.txt" % (self._cp_id, _compact(clock.now()))
        return {"fileName": name}, self._after(name, location, retries, interval, start, stop, None, _DIAG, self._notify)

    def get_log(self, log_type, location, retries, interval, start, stop, request_id):
        # GetLog (issue 25): DiagnosticsLog is GetDiagnostics' file,
        # SecurityLog the security log's lines; the same upload, statuses
        # as LogStatusNotification with the request's id. -> (reply, after).
        def tell(status):
            notify_log(self._outbox, status, request_id)

        if not supported(location):
            return {"status": "Rejected"}, _later(tell, "NotSupportedOperation")
        ring = None
        if log_type == "SecurityLog":
            from uocpp import security_event

            ring = security_event.ring()
        name = "%s-%s-%s.txt" % (self._cp_id, log_type, _compact(clock.now()))
        status = "AcceptedCanceled" if self.busy() else "Accepted"
        return {"status": status, "filename": name}, self._after(name, location, retries, interval, start, stop, ring, _LOG, tell, request_id)

    def _after(self, name, location, retries, interval, start, stop, ring, statuses, tell, request_id=None):
        # The coroutine function that starts the transfer once the reply is
        # on the wire; a request while one runs replaces it (DIAG-08).
        attempts = _ATTEMPTS if retries is None else max(1, min(retries, _MAX_ATTEMPTS))
        interval = _INTERVAL if interval is None else max(0, interval)
        url = location + name if location.endswith("/") else location

        async def after():
            if self.busy():
                log.info("diagnostics", "a new request replaces the running upload")
                self._task.cancel()
            self.log_request = request_id
            self._end = tell, statuses
            self._task = asyncio.create_task(self._run(name, url, attempts, interval, start, stop, ring, statuses, tell))

        return after

    async def _collect(self, path, start, stop, ring):
        # -> the size of the file written; its code leaves the heap after.
        from uocpp.services import diag_file

        try:
            return await diag_file.write(path, self._cp_id, self._keys, self._connectors, start, stop, ring)
        finally:
            unload("uocpp.services.diag_file", "uocpp.model.identity_set")  # the file reads identity.FIELDS
            from uocpp import services

            if hasattr(services, "diag_file"):
                delattr(services, "diag_file")

    async def _run(self, name, url, attempts, interval, start, stop, ring, statuses, tell):
        # statuses: (uploading, uploaded, failed, refused by the server).
        path = json_file.join(self._dir, name)
        try:
            size = await self._collect(path, start, stop, ring)
        except Exception as e:
            log.error("diagnostics", "cannot write %s: %r", path, e)
            tell(statuses[2])
            return
        from uocpp.link import transfer

        tell(statuses[0])
        last = None
        for n in range(1, attempts + 1):
            try:
                await transfer.upload(url, path, size, name, self._ca, self._timeout, "text/plain")
                log.info("diagnostics", "%s (%d bytes) uploaded to %s", name, size, url)
                tell(statuses[1])
                return
            except Exception as e:
                last = e
                log.warning("diagnostics", "upload attempt %d of %d to %s failed: %r", n, attempts, url, e)
            if n < attempts:
                await asyncio.sleep(interval)
        # Credentials refused: HTTP 401 or 403, FTP 530 Not logged in.
        tell(statuses[3] if getattr(last, "status", None) in (401, 403, 530) else statuses[2])
