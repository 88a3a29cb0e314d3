# Firmware signatures (whitepaper: signed firmware update, use case L01):
# the signing certificate must chain to an installed
# ManufacturerRootCertificate, and the signature (ECDSA P-256 or RSA,
# SHA-256) must verify with it, before anything switches. Loaded only to
# check one update (services/firmware_update.py, ops/signed_update_firmware.py).
from uocpp import clock
from uocpp.pki import chain, der
from uocpp.pki import store as st

INVALID_CERTIFICATE = "InvalidCertificate"
INVALID_SIGNATURE = "InvalidSignature"


class SignatureError(ValueError):
    # status: INVALID_CERTIFICATE or INVALID_SIGNATURE.
    def __init__(self, status, reason):
        super().__init__(reason)
        self.status = status


def roots(flash):
    return st.Store(flash).certs(st.MF_ROOT)


def _now():
    t = clock.now()
    return t if t > 1600000000 else None


# Each check is steps (pki.arun() in a task): a P-256 verification takes a
# second on a board.
def check_chain(flash, ders):
    # ders: the signing certificate, then its intermediates -> the leaf
    # Cert. Raises SignatureError(InvalidCertificate).
    try:
        certs = [der.Cert(d) for d in ders]
        if not certs:
            raise ValueError("no signing certificate")
        found = roots(flash)
        if not found:
            raise ValueError("no ManufacturerRootCertificate installed")
        yield from chain.verify_chain_steps(certs, found, _now())
    except ValueError as e:
        raise SignatureError(INVALID_CERTIFICATE, "signing certificate: %s" % e)
    return certs[0]


def check_pem(flash, pem):
    # SignedUpdateFirmware's signingCertificate (PEM: the certificate, then
    # any intermediates).
    try:
        ders = der.pem_to_ders(pem)
    except ValueError as e:
        raise SignatureError(INVALID_CERTIFICATE, "signing certificate: %s" % e)
    return (yield from check_chain(flash, ders))


def verify(leaf, digest, sig):
    if not (yield from chain.verify_digest_steps(leaf, digest, sig)):
        raise SignatureError(INVALID_SIGNATURE, "the signature does not verify with the signing certificate")
