# SignedUpdateFirmware (whitepaper use case L01): the signing certificate is
# checked at once against the installed ManufacturerRootCertificates
# (InvalidCertificate and the InvalidFirmwareSigningCertificate event when it
# does not chain); the request is on flash before the reply goes out and the
# work is UpdateFirmware's (services/firmware_update.py), which checks the
# signature over the whole file before anything switches and reports each
# step as SignedFirmwareStatusNotification.
from uocpp.validate import DATE, INT, OBJ, STR, date_time
from uocpp import unload

_FIRMWARE = (
    ("location", STR, True, 512),
    ("retrieveDateTime", DATE, True, None),
    ("installDateTime", DATE, False, None),
    ("signingCertificate", STR, True, 5500),
    ("signature", STR, True, 800),
)
REQUEST = (
    ("retries", INT, False, (0, 100)),
    ("retryInterval", INT, False, (0, 86400)),
    ("requestId", INT, True, None),
    ("firmware", OBJ, True, _FIRMWARE),
)
USES = ("firmware", "outbox", "registration", "transactions", "stop", "keys", "settings")


def handle(payload, firmware, outbox, registration, transactions, stop, keys, settings):
    return _request(payload, firmware, outbox, registration, transactions, stop, keys, settings)


async def _request(payload, firmware, outbox, registration, transactions, stop, keys, settings):
    # A coroutine (rpc.py): the certificate chain's checks take seconds on
    # a board, while the other tasks go on.
    import binascii

    from uocpp import log, pki, platform, security_event
    from uocpp.ops import update_firmware
    from uocpp.services import firmware_signature as fs

    fwr = payload["firmware"]
    url = fwr["location"]
    try:
        binascii.a2b_base64(fwr["signature"])
        await pki.arun(fs.check_pem(platform.flash_dir(settings), fwr["signingCertificate"]))
    except ValueError as e:
        # fs.SignatureError is one; a signature that is no base64 another.
        status = getattr(e, "status", "Rejected")
        log.warning("firmware", "SignedUpdateFirmware refused: %s", e)
        if status == fs.INVALID_CERTIFICATE:
            security_event.report("InvalidFirmwareSigningCertificate", str(e))
        return {"status": status}
    finally:
        pki.unload()
        unload("uocpp.services.firmware_signature")
    svc = update_firmware.service(url, firmware, outbox, registration, transactions, stop, keys)
    busy = bool(svc.st.get("pending"))
    signed = {"id": payload["requestId"], "sig": fwr["signature"], "cert": fwr["signingCertificate"], "install": date_time(fwr, "installDateTime")}
    svc.request(url, date_time(fwr, "retrieveDateTime"), payload.get("retries"), payload.get("retryInterval"), signed)
    return {"status": "AcceptedCanceled" if busy else "Accepted"}
