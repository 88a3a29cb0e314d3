# UpdateFirmware (FW-01, FW-02): the empty reply at once; the request is on
# flash before it goes out, and the work (wait for retrieveDate and for the
# running transactions, download, check, install, reboot) runs in
# services/firmware_update.py, which reports each step with a
# FirmwareStatusNotification.
from uocpp import errors, unload
from uocpp.validate import INT, STR, date_time

REQUEST = (
    ("location", STR, True, 512),
    ("retries", INT, False, (0, 100)),
    ("retrieveDate", STR, True, None),
    ("retryInterval", INT, False, (0, 86400)),
)
USES = ("firmware", "outbox", "registration", "transactions", "stop", "keys")


def handle(payload, firmware, outbox, registration, transactions, stop, keys):
    url = payload["location"]
    at = date_time(payload, "retrieveDate")
    service(url, firmware, outbox, registration, transactions, stop, keys).request(url, at, payload.get("retries"), payload.get("retryInterval"))
    return {}


def service(url, firmware, outbox, registration, transactions, stop, keys):
    # The checks UpdateFirmware and SignedUpdateFirmware share, then the
    # firmware service (made on first use).
    from uocpp.link import transfer

    if not transfer.supported(url):
        # The schema says anyURI; this charger fetches over HTTP(S) and
        # FTP(S) only, and refuses another before anything is accepted.
        raise errors.OcppError("PropertyConstraintViolation", "location must be an http(s):// or ftp(s):// URL")
    try:
        __import__("uocpp_loader")  # main.py dropped it; only its presence matters
    except ImportError:
        raise errors.OcppError("NotSupported", "no uocpp_loader on this charger (a mip install): it could not boot an update")
    unload("uocpp_loader")
    from uocpp.services import firmware_update

    return firmware_update.get(firmware, outbox, registration, transactions, stop, keys)
