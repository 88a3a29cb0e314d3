# The charger's certificate signing request (PKCS#10, RFC 2986) and its
# private key file (SEC1 ECPrivateKey, RFC 5915: what mbedTLS reads). The
# subject is what the whitepaper asks of a Charge Point certificate:
# O = CpoName, CN = the charge point id. The key is P-256, made here.
import hashlib

from uocpp.pki import der, p256


def _name(cpo, cp_id):
    rdn = b""
    for oid, text in ((der.ORG, cpo), (der.CN, cp_id)):
        rdn += der.enc(der.SET, der.enc(der.SEQ, der.enc(der.OID, oid) + der.enc(der.UTF8, text.encode())))
    return der.enc(der.SEQ, rdn)


def spki(q):
    alg = der.enc(der.SEQ, der.enc(der.OID, der.EC_KEY) + der.enc(der.OID, der.P256))
    return der.enc(der.SEQ, alg + der.enc(der.BIT_STRING, b"\x00" + p256.point_bytes(q)))


def key_der(d, q):
    body = der.enc(der.INTEGER, b"\x01") + der.enc(der.OCTET_STRING, d.to_bytes(32, "big"))
    body += der.enc(0xA0, der.enc(der.OID, der.P256)) + der.enc(0xA1, der.enc(der.BIT_STRING, b"\x00" + p256.point_bytes(q)))
    return der.enc(der.SEQ, body)


def public_of_key_der(raw):
    # Our key file -> its public point bytes (04|X|Y).
    s, e = der.expect(raw, 0, der.SEQ)
    _, _, i = der.tlv(raw, s, e)  # version
    _, _, i = der.tlv(raw, i, e)  # the private key
    while i < e:
        t, vs, ve = der.tlv(raw, i, e)
        if t == 0xA1:
            bs, be = der.expect(raw, vs, der.BIT_STRING, ve)
            return bytes(raw[bs + 1 : be])
        i = ve
    raise ValueError("key file without its public key")


async def make(cpo, cp_id):
    # -> (CSR PEM text, key file DER). Yields while it computes.
    d, q = await p256.generate_async()
    info = der.enc(der.SEQ, der.enc(der.INTEGER, b"\x00") + _name(cpo, cp_id) + spki(q) + b"\xa0\x00")
    r, s = await p256.sign_async(d, hashlib.sha256(info).digest())
    alg = der.enc(der.SEQ, der.enc(der.OID, der.ECDSA_SHA256))
    req = der.enc(der.SEQ, info + alg + der.enc(der.BIT_STRING, b"\x00" + p256.sig_der(r, s)))
    return der.der_to_pem(req, "CERTIFICATE REQUEST"), key_der(d, q)
