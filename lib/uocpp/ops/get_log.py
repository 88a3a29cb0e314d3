# GetLog (Security Whitepaper, edition 3, section 4.3 and 5.x): the request
# is checked here, the work is services/diagnostics.py's (the same upload as
# GetDiagnostics), made on first use. The reply carries the file name; the
# upload starts once it is on the wire.
from uocpp.validate import DATE, ENUM, INT, OBJ, STR, date_time

_LOG = (
    ("remoteLocation", STR, True, 512),
    ("oldestTimestamp", DATE, False, None),
    ("latestTimestamp", DATE, False, None),
)
REQUEST = (
    ("log", OBJ, True, _LOG),
    ("logType", ENUM, True, ("DiagnosticsLog", "SecurityLog")),
    ("requestId", INT, True, None),
    ("retries", INT, False, None),
    ("retryInterval", INT, False, (0, 86400)),  # UpdateFirmware's bound: a longer wait overflows the ticks
)
USES = ("diagnostics", "outbox", "keys", "connectors", "settings")


def handle(payload, slot, outbox, keys, connectors, settings):
    p = payload["log"]
    start, stop = date_time(p, "oldestTimestamp"), date_time(p, "latestTimestamp")
    from uocpp.services import diagnostics

    svc = diagnostics.service(slot, outbox, keys, connectors, settings)
    location = p["remoteLocation"]
    if "://" not in location:
        return {"status": "Rejected"}
    return svc.get_log(payload["logType"], location, payload.get("retries"), payload.get("retryInterval"), start, stop, payload["requestId"])
