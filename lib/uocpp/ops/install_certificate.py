# InstallCertificate (whitepaper A.2, use case A03): a root certificate
# (PEM) into the certificate store, checked first (services/certificates.py).
from uocpp.validate import ENUM, STR

REQUEST = (
    ("certificateType", ENUM, True, ("CentralSystemRootCertificate", "ManufacturerRootCertificate")),
    ("certificate", STR, True, 5500),
)
USES = ("settings", "keys")


def handle(payload, settings, keys):
    from uocpp import pki
    from uocpp.services import certificates

    try:
        return {"status": certificates.install(settings, keys, payload["certificateType"], payload["certificate"])}
    finally:
        pki.unload()
