# TriggerMessage (TM-01..TM-05, TM-08, TM-10, TM-11): the CALLRESULT goes
# first, then the requested message (TM-02). Works while Pending (BN-12).
from uocpp.services import boot_notification as bn
from uocpp.validate import ENUM, INT

REQUEST = (
    (
        "requestedMessage",
        ENUM,
        True,
        ("BootNotification", "DiagnosticsStatusNotification", "FirmwareStatusNotification", "Heartbeat", "MeterValues", "StatusNotification"),
    ),
    ("connectorId", INT, False, None),
)


# Triggered messages queued per kind: at most one on the wire and one
# waiting. A flood of triggers coalesces into the waiting one, which still
# goes out after each of their replies (TM-02), so the queue of our own CALLs
# stays bounded instead of growing by a task (and its heap) per request.
# The counts belong to the running app: a soft reset starts from none.


def _queue(app, key, send):
    queued = app.triggered
    if queued.get(key, 0) >= 2:
        return {"status": "Accepted"}

    async def once():
        try:
            await send()
        finally:
            queued[key] -= 1

    queued[key] = queued.get(key, 0) + 1
    return {"status": "Accepted"}, once


def handle(app, payload):
    requested = payload["requestedMessage"]
    cid = payload.get("connectorId")
    if requested == "BootNotification":
        # connectorId does not matter here (TM-05). Refused after Accepted
        # until the next reboot (TM-08); the boot task sends it.
        return {"status": "Accepted" if app.boot.trigger() == bn.SUCCESS else "Rejected"}
    if app.boot.config.status not in (bn.ACCEPTED, bn.PENDING):
        return {"status": "Rejected"}
    if requested == "Heartbeat":
        return _queue(app, requested, lambda: app.heartbeat.beat(triggered=True))
    if requested == "StatusNotification":
        # 0 is the charge point itself (TM-11); absent means all (TM-05).
        if cid is not None and not app.connectors.valid(cid):
            return {"status": "Rejected"}
        return _queue(app, (requested, cid), lambda: app.status.send_triggered(cid))
    # MeterValues, DiagnosticsStatusNotification, FirmwareStatusNotification
    # are not built yet (TM-03).
    return {"status": "NotImplemented"}
