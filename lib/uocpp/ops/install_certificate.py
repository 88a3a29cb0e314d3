# InstallCertificate (whitepaper A.2, use case A03): a root certificate
# (PEM) into the certificate store, checked first (services/certificates.py).
# The reply is computed in a coroutine (rpc.py): checking a self-signature
# takes a second on a board, while the other tasks go on.
from uocpp.validate import ENUM, STR

REQUEST = (
    ("certificateType", ENUM, True, ("CentralSystemRootCertificate", "ManufacturerRootCertificate")),
    ("certificate", STR, True, 5500),
)
USES = ("settings", "keys")


def handle(payload, settings, keys):
    return _install(settings, keys, payload["certificateType"], payload["certificate"])


async def _install(settings, keys, kind, pem):
    from uocpp import pki
    from uocpp.services import certificates

    try:
        return {"status": await pki.arun(certificates.install_steps(settings, keys, kind, pem))}
    finally:
        pki.unload()
