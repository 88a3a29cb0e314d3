# GetDiagnostics (DIAG-01..DIAG-03): the request is checked here, the work
# is services/diagnostics.py's, made on first use (app.py). The reply
# carries the file name; collecting and uploading start once it is on the
# wire (as TriggerMessage does, TM-02).
from uocpp import errors
from uocpp.validate import INT, STR, date_time

REQUEST = (
    ("location", STR, True, None),
    ("retries", INT, False, None),
    ("retryInterval", INT, False, (0, 86400)),  # UpdateFirmware's bound: a longer wait overflows the ticks
    ("startTime", STR, False, None),
    ("stopTime", STR, False, None),
)
USES = ("diagnostics", "outbox", "keys", "connectors", "settings")


def handle(payload, slot, outbox, keys, connectors, settings):
    location = payload["location"]
    if "://" not in location:
        raise errors.OcppError("PropertyConstraintViolation", "location is not a URI")
    start, stop = date_time(payload, "startTime"), date_time(payload, "stopTime")
    from uocpp.services import diagnostics

    svc = diagnostics.service(slot, outbox, keys, connectors, settings)
    return svc.request(location, payload.get("retries"), payload.get("retryInterval"), start, stop)
