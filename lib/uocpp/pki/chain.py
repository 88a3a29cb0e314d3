# Signatures and certificate chains: a signature checked with a
# certificate's key (ECDSA P-256 or RSA, SHA-256), and a chain of
# certificates checked up to one of a set of trusted roots (validity dates,
# issuer names, signatures, basicConstraints cA on every issuer).
import hashlib

from micropython import const

from uocpp.pki import der, run


class ChainError(ValueError):
    pass


# Each check comes as steps (a generator that yields while an EC
# multiplication runs: p256.run() does it at once, p256.arun() in a task)
# and as a plain function.
def verify_digest_steps(cert, digest, sig, alg=None):
    # True when sig over the SHA-256 digest verifies with cert's key. alg:
    # the signature algorithm OID when known (a certificate's), else taken
    # from the key.
    if cert.key_alg == der.EC_KEY:
        if alg not in (None, der.ECDSA_SHA256):
            return False
        from uocpp.pki import p256

        try:
            r, s = p256.sig_from_der(sig)
            q = p256.parse_point(cert.key)
        except ValueError:
            return False
        return (yield from p256.verify_steps(q, digest, r, s))
    if cert.key_alg == der.RSA_KEY:
        if alg not in (None, der.RSA_SHA256):
            return False
        from uocpp.pki import rsa

        try:
            return rsa.verify(rsa.public_key(cert.key), digest, sig)
        except ValueError:
            return False
    return False


def signed_by_steps(cert, issuer):
    # cert's own signature checks with issuer's key, and the names match.
    if cert.part(cert.issuer) != issuer.part(issuer.subject):
        return False
    digest = hashlib.sha256(cert.part(cert.tbs)).digest()
    return (yield from verify_digest_steps(issuer, digest, cert.sig, cert.sig_alg))


# A certificate made a moment ago may start a second after a clock that is
# a little behind: a minute of skew is forgiven at the start, none at the end.
_SKEW = const(60)


def check_dates(cert, now):
    if now is not None and not cert.not_before - _SKEW <= now <= cert.not_after:
        raise ChainError("certificate not valid now (%s)" % _name(cert))


def _name(cert):
    return cert.name_field(der.CN) or "no CN"


def verify_chain_steps(chain, roots, now):
    # chain: [leaf, intermediate, ...] as Cert; roots: Cert list. Raises
    # ChainError with the reason; returns the root it chains to. now None:
    # no clock yet, dates are not checked.
    for c in chain:
        check_dates(c, now)
    for i in range(len(chain) - 1):
        up = chain[i + 1]
        if not up.ca:
            raise ChainError("%s is no CA certificate" % _name(up))
        if not (yield from signed_by_steps(chain[i], up)):
            raise ChainError("%s is not signed by %s" % (_name(chain[i]), _name(up)))
    top = chain[-1]
    for root in roots:
        if root.der == top.der:
            return root
        if top.part(top.issuer) == root.part(root.subject) and (yield from signed_by_steps(top, root)):
            check_dates(root, now)
            return root
    raise ChainError("%s chains to no installed root" % _name(top))


def verify_digest(cert, digest, sig, alg=None):
    return run(verify_digest_steps(cert, digest, sig, alg))


def signed_by(cert, issuer):
    return run(signed_by_steps(cert, issuer))


def verify_chain(chain, roots, now):
    return run(verify_chain_steps(chain, roots, now))
