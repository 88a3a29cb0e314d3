# ExtendedTriggerMessage (Security Whitepaper, edition 3): TriggerMessage's
# rules and code (ops/trigger_message.py) for the messages both have; here
# only what is new: LogStatusNotification (Uploading with the requestId of
# a running GetLog, else Idle) and SignChargePointCertificate (a CSR through
# uocpp.services.certificates' sign_request()).
from uocpp.model.state import ACCEPTED, PENDING
from uocpp.ops import trigger_message
from uocpp.validate import ENUM, INT

REQUEST = (
    (
        "requestedMessage",
        ENUM,
        True,
        (
            "BootNotification",
            "LogStatusNotification",
            "FirmwareStatusNotification",
            "Heartbeat",
            "MeterValues",
            "SignChargePointCertificate",
            "StatusNotification",
        ),
    ),
    ("connectorId", INT, False, None),
)
USES = trigger_message.USES
BY_NAME = True


def handle(payload, parts):
    requested = payload["requestedMessage"]
    if requested in ("LogStatusNotification", "FirmwareStatusNotification"):
        if "FirmwareManagement" not in parts["keys"].get("SupportedFeatureProfiles"):
            # GetLog and the updates are off with their profile: not
            # implemented (C16 5.17).
            return {"status": "NotImplemented"}
        if parts["registration"].status not in (ACCEPTED, PENDING):
            return {"status": "Rejected"}

        async def send():
            if requested == "LogStatusNotification":
                from uocpp.services import diagnostics as diag

                diag.trigger_log(parts["diagnostics"], parts["outbox"])
            else:
                # SignedFirmwareStatusNotification, Idle too (whitepaper 5.5).
                from uocpp.services import firmware_update

                firmware_update.trigger(parts["firmware"], parts["outbox"], True)

        return {"status": "Accepted"}, send
    if requested == "SignChargePointCertificate":
        # A SignCertificate exchange (services/certificates.py, profile 3),
        # started once this reply is on the wire (TM-02); one that cannot
        # start (no CpoName, one under way) says so in the log. Rejected
        # only on a build without the certificate service.
        try:
            from uocpp.services.certificates import sign_request
        except ImportError:
            return {"status": "Rejected"}

        async def send():
            sign_request()

        return {"status": "Accepted"}, send
    return trigger_message.handle(payload, parts)
