# TriggerMessage (TM-01..TM-05, TM-08, TM-10, TM-11): the CALLRESULT goes
# first, then the requested message (TM-02). Works while Pending (BN-12).
from ocpp.services import boot_notification as bn
from ocpp.validate import ENUM, INT

REQUEST = (
    (
        "requestedMessage",
        ENUM,
        True,
        ("BootNotification", "DiagnosticsStatusNotification", "FirmwareStatusNotification", "Heartbeat", "MeterValues", "StatusNotification"),
    ),
    ("connectorId", INT, False, None),
)


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

        async def beat():
            await app.heartbeat.beat(triggered=True)

        return {"status": "Accepted"}, beat
    if requested == "StatusNotification":
        # 0 is the charge point itself (TM-11); absent means all (TM-05).
        if cid is not None and not app.connectors.valid(cid):
            return {"status": "Rejected"}

        async def status():
            await app.status.send_triggered(cid)

        return {"status": "Accepted"}, status
    # MeterValues, DiagnosticsStatusNotification, FirmwareStatusNotification
    # are not built yet (TM-03).
    return {"status": "NotImplemented"}
