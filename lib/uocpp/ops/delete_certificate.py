# DeleteCertificate (whitepaper use case A01): the installed root that the
# certificateHashData names; NotFound when none does.
from uocpp.validate import ENUM, OBJ, STR

_HASH = (
    ("hashAlgorithm", ENUM, True, ("SHA256", "SHA384", "SHA512")),
    ("issuerNameHash", STR, True, 128),
    ("issuerKeyHash", STR, True, 128),
    ("serialNumber", STR, True, 40),
)
REQUEST = (("certificateHashData", OBJ, True, _HASH),)
USES = ("settings", "keys")


def handle(payload, settings, keys):
    from uocpp import pki
    from uocpp.services import certificates

    try:
        return {"status": certificates.delete(settings, keys, payload["certificateHashData"])}
    finally:
        pki.unload()
