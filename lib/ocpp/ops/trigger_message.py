# TriggerMessage (TM-01..TM-05, TM-08): the CALLRESULT goes first, then the
# requested message (TM-02). Works while Pending (BN-12).

from ocpp import errors
from ocpp.services import boot_notification as bn

_KNOWN = ("BootNotification", "DiagnosticsStatusNotification", "FirmwareStatusNotification", "Heartbeat", "MeterValues", "StatusNotification")

# Triggered messages queued but not yet answered. A flood of triggers for the
# same message coalesces into the one already queued, so the queue of our own
# CALLs stays bounded instead of a task (and heap) per request.
_queued = set()

def handle(app, payload):
    requested = payload.get("requestedMessage")
    if not isinstance(requested, str):
        raise errors.OccurenceConstraintViolation("requestedMessage is required")
    if requested not in _KNOWN:
        raise errors.PropertyConstraintViolation("requestedMessage %s is not in the 1.6 enum" % requested[:40])
    connector = payload.get("connectorId")
    if connector is not None and (type(connector) is not int or connector < 0):
        raise errors.TypeConstraintViolation("connectorId must be a non-negative integer")
    if requested == "BootNotification":
        # trigger() refuses after Accepted (TM-08); the boot task sends it.
        return {"status": "Accepted" if app.boot.trigger() == bn.SUCCESS else "Rejected"}
    if requested == "Heartbeat":
        if app.boot.config.status not in (bn.ACCEPTED, bn.PENDING):
            return {"status": "Rejected"}

        if requested in _queued:
            return {"status": "Accepted"}

        async def beat():
            try:
                await app.heartbeat.beat(triggered=True)
            finally:
                _queued.discard(requested)

        _queued.add(requested)
        return {"status": "Accepted"}, beat
    return {"status": "NotImplemented"}
