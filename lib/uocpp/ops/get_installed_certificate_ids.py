# GetInstalledCertificateIds (whitepaper use case A02): the certificateHashData
# of every installed root of the type asked for, from the store's index.
from uocpp.validate import ENUM

REQUEST = (("certificateType", ENUM, True, ("CentralSystemRootCertificate", "ManufacturerRootCertificate")),)
USES = ("settings",)


def handle(payload, settings):
    from uocpp import pki
    from uocpp.services import certificates

    found = certificates.ids(settings, payload["certificateType"])
    pki.unload()
    if not found:
        return {"status": "NotFound"}
    return {"status": "Accepted", "certificateHashData": found}
