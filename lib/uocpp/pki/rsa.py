# RSA PKCS#1 v1.5 signature verification with SHA-256 (RFC 8017 8.2.2): what
# CA and manufacturer certificates are often signed with. Verify only: the
# charger's own key is P-256.
from uocpp.pki import der

# DigestInfo of SHA-256, before the 32 hash bytes.
_DIGEST_INFO = b"\x30\x31\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x01\x05\x00\x04\x20"


def public_key(raw):
    # RSAPublicKey SEQUENCE { n, e } (a certificate's key BIT STRING) -> (n, e).
    s, e = der.expect(raw, 0, der.SEQ)
    ns, ne = der.expect(raw, s, der.INTEGER, e)
    es, ee = der.expect(raw, ne, der.INTEGER, e)
    return der.uint(raw, ns, ne), der.uint(raw, es, ee)


def verify(key, digest, sig):
    n, e = key
    k = der.nbytes(n)
    if len(sig) != k or k < 64:
        return False
    m = pow(int.from_bytes(sig, "big"), e, n)
    want = b"\x00\x01" + b"\xff" * (k - 3 - len(_DIGEST_INFO) - 32) + b"\x00" + _DIGEST_INFO + digest
    return m.to_bytes(k, "big") == want
