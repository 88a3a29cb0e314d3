# Signatures and certificate chains: a signature checked with a
# certificate's key (ECDSA P-256 or RSA, SHA-256), and a chain of
# certificates checked up to one of a set of trusted roots (validity dates,
# issuer names, signatures, basicConstraints cA on every issuer).
import hashlib

from micropython import const

from uocpp.pki import der


class ChainError(ValueError):
    pass


def verify_digest(cert, digest, sig, alg=None):
    # True when sig over the SHA-256 digest verifies with cert's key. alg:
    # the signature algorithm OID when known (a certificate's), else taken
    # from the key.
    if cert.key_alg == der.EC_KEY:
        if alg not in (None, der.ECDSA_SHA256):
            return False
        from uocpp.pki import p256

        try:
            r, s = p256.sig_from_der(sig)
            return p256.verify(p256.parse_point(cert.key), digest, r, s)
        except ValueError:
            return False
    if cert.key_alg == der.RSA_KEY:
        if alg not in (None, der.RSA_SHA256):
            return False
        from uocpp.pki import rsa

        try:
            return rsa.verify(rsa.public_key(cert.key), digest, sig)
        except ValueError:
            return False
    return False


def signed_by(cert, issuer):
    # cert's own signature checks with issuer's key, and the names match.
    if cert.part(cert.issuer) != issuer.part(issuer.subject):
        return False
    digest = hashlib.sha256(cert.part(cert.tbs)).digest()
    return verify_digest(issuer, digest, cert.sig, cert.sig_alg)


# A certificate made a moment ago may start a second after a clock that is
# a little behind: a minute of skew is forgiven at the start, none at the end.
_SKEW = const(60)


def check_dates(cert, now):
    if now is not None and not cert.not_before - _SKEW <= now <= cert.not_after:
        raise ChainError("certificate not valid now (%s)" % _name(cert))


def _name(cert):
    return cert.name_field(der.CN) or "no CN"


def verify_chain(chain, roots, now):
    # chain: [leaf, intermediate, ...] as Cert; roots: Cert list. Raises
    # ChainError with the reason; returns the root it chains to. now None:
    # no clock yet, dates are not checked.
    for c in chain:
        check_dates(c, now)
    for i in range(len(chain) - 1):
        up = chain[i + 1]
        if not up.ca:
            raise ChainError("%s is no CA certificate" % _name(up))
        if not signed_by(chain[i], up):
            raise ChainError("%s is not signed by %s" % (_name(chain[i]), _name(up)))
    top = chain[-1]
    for root in roots:
        if root.der == top.der:
            return root
        if top.part(top.issuer) == root.part(root.subject) and signed_by(top, root):
            check_dates(root, now)
            return root
    raise ChainError("%s chains to no installed root" % _name(top))
