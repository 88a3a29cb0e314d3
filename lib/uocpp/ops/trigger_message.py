# TriggerMessage (TM-01..TM-05, TM-08, TM-10, TM-11): the CALLRESULT goes
# first, then the requested message (TM-02). Works while Pending (BN-12).
# The outbox coalesces triggered messages by kind (and connector): a flood of
# triggers leaves one waiting behind the one on the wire, so the queue of our
# own CALLs stays bounded.
from uocpp.model.state import ACCEPTED, PENDING
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
USES = ("boot", "registration", "outbox", "heartbeat", "status", "connectors", "metering", "keys", "diagnostics", "firmware")
BY_NAME = True  # one dict of those ten parts (ops/__init__.py); each message reads its own


def handle(payload, parts):
    requested = payload["requestedMessage"]
    registration, outbox, connectors = parts["registration"], parts["outbox"], parts["connectors"]
    cid = payload.get("connectorId")
    if requested == "BootNotification":
        # connectorId does not matter here (TM-05). Before Accepted (no
        # reply yet, Pending, Rejected) it is sent at once by the boot task.
        # After Accepted it is Rejected until the next reboot (TM-08): the
        # 1.6 errata (v4.0, 3.35 and 3.40) RECOMMEND that the charge point
        # rejects it after Accepted "until the next reset, reboot or
        # reconnect" and say the central system SHALL NOT send one then.
        # After a reconnect accepting it is allowed, not asked for; we keep
        # rejecting it because a registration is Accepted once per boot
        # (J-24: a reconnect sends no new BootNotification) and a second
        # BootNotification.conf (Pending or Rejected) would take back an
        # Accepted registration while transactions run. What the central
        # system wants from one (identity, firmware version) is in
        # GetConfiguration and FirmwareStatusNotification.
        if registration.status == ACCEPTED:
            return {"status": "Rejected"}  # the boot service is out of the heap by then (app.py)
        from uocpp.services.boot_notification import SUCCESS

        return {"status": "Accepted" if parts["boot"].trigger() == SUCCESS else "Rejected"}
    if requested in ("DiagnosticsStatusNotification", "FirmwareStatusNotification") and "FirmwareManagement" not in parts["keys"].get("SupportedFeatureProfiles"):
        # Its profile off (config.json ocpp.featureProfiles): a message this
        # charge point does not implement (C16 5.17).
        return {"status": "NotImplemented"}
    if registration.status not in (ACCEPTED, PENDING):
        return {"status": "Rejected"}
    if requested == "Heartbeat":

        async def send():
            outbox.submit(parts["heartbeat"].message(triggered=True))

        return {"status": "Accepted"}, send
    if requested == "StatusNotification":
        # 0 is the charge point itself (TM-11); absent means all (TM-05).
        if cid is not None and not connectors.valid(cid):
            return {"status": "Rejected"}

        async def send():
            # Connector cid, or 0 and every connector; allowed while Pending
            # (BN-12).
            for n in range(connectors.count + 1) if cid is None else (cid,):
                outbox.submit(parts["status"].message(n, True))

        return {"status": "Accepted"}, send
    if requested == "MeterValues":
        if cid is not None and not connectors.valid(cid):
            return {"status": "Rejected"}

        async def send():
            # A fresh reading first: right after boot a bus meter (about
            # 0.3 s a read) has given none yet, and an empty sample is not
            # sent at all (found on the ESP32 twin).
            metering = parts["metering"]
            await metering.poll()
            for n in range(connectors.count + 1) if cid is None else (cid,):
                metering.send(n, parts["keys"].get("MeterValuesSampledData"), "Trigger", triggered=True)

        return {"status": "Accepted"}, send
    if requested == "DiagnosticsStatusNotification":
        # Uploading while a GetDiagnostics runs, else Idle (TM-07).

        async def send():
            from uocpp.services import diagnostics as diag

            diag.trigger(parts["diagnostics"], outbox)

        return {"status": "Accepted"}, send
    if requested == "FirmwareStatusNotification":

        async def send():
            from uocpp.services import firmware_update

            firmware_update.trigger(parts["firmware"], outbox)

        return {"status": "Accepted"}, send
    return {"status": "NotImplemented"}
