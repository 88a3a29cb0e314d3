"""The firmware's own X.509/DER reader, P-256 ECDSA, RSA verification and chain checks (issue 25).

Each runs on the MicroPython unix port against certificates openssl makes
and is checked against the host's `cryptography` package: both directions
of every signature (ours verified by the host, the host's by ours).
"""

import hashlib
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from harness.firmware import run_micropython
from harness.pki import make_cert


@pytest.fixture(scope="module")
def chains(tmp_path_factory):
    d = tmp_path_factory.mktemp("chains")
    c = {}
    c["root"] = make_cert(d, "root")
    c["int"] = make_cert(d, "int", c["root"])
    c["leaf"] = make_cert(d, "leaf", c["int"], ca=False)
    c["rsa_root"] = make_cert(d, "rsa-root", rsa=True)
    c["rsa_leaf"] = make_cert(d, "rsa-leaf", c["rsa_root"], ca=False)
    c["other"] = make_cert(d, "other")
    c["expired"] = make_cert(d, "expired", c["int"], ca=False, days=-1)
    # Same names as the intermediate, but another key signed it: a wrong key.
    c["impostor"] = make_cert(d, "fake-int", c["other"], subject="/CN=int")
    c["wrong_key_leaf"] = make_cert(d, "wrong-key-leaf", c["impostor"], ca=False)
    return c


def mp(code):
    out = run_micropython(code)
    assert out.returncode == 0, out.stderr + out.stdout
    return out.stdout


def host_hash_data(cert_der, issuer_der):
    cert = x509.load_der_x509_certificate(cert_der)
    issuer = x509.load_der_x509_certificate(issuer_der)
    issuer_key = issuer.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    # The BIT STRING's value: the SubjectPublicKeyInfo's last element.
    spki_bits = _bit_string_of_spki(issuer_key)
    return {
        "hashAlgorithm": "SHA256",
        "issuerNameHash": hashlib.sha256(cert.issuer.public_bytes()).hexdigest(),
        "issuerKeyHash": hashlib.sha256(spki_bits).hexdigest(),
        "serialNumber": "%x" % cert.serial_number,
    }


def _bit_string_of_spki(spki):
    # SEQUENCE { AlgorithmIdentifier, BIT STRING }: skip to the BIT STRING, drop its unused-bits byte.
    def tlv(b, i):
        n = b[i + 1]
        i += 2
        if n & 0x80:
            k = n & 0x7F
            n = int.from_bytes(b[i : i + k], "big")
            i += k
        return i, i + n

    s, e = tlv(spki, 0)
    _, ae = tlv(spki, s)
    bs, be = tlv(spki, ae)
    return spki[bs + 1 : be]


def test_der_reader_reads_what_openssl_wrote(chains):
    """Serial, names, dates, key and basicConstraints as the host reads them; hash data as the whitepaper defines it."""
    for name in ("root", "int", "leaf", "rsa_root"):
        c = chains[name]
        issuer = chains[{"root": "root", "int": "root", "leaf": "int", "rsa_root": "rsa_root"}[name]]
        out = mp(
            "from uocpp.pki import der, store\nimport json\nc = der.Cert(open(%r, 'rb').read())\ni = der.Cert(open(%r, 'rb').read())\n"
            "print(json.dumps([c.serial, c.not_before, c.not_after, c.ca, c.name_field(der.CN), store.hash_data(c, i)]))"
            % (str(c.der_path), str(issuer.der_path))
        )
        serial, nb, na, ca, cn, hd = json.loads(out)
        host = x509.load_der_x509_certificate(c.der)
        assert serial == host.serial_number
        assert nb == int(host.not_valid_before_utc.timestamp()) and na == int(host.not_valid_after_utc.timestamp())
        assert ca == (name != "leaf")
        assert cn == host.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
        assert hd == host_hash_data(c.der, issuer.der)


@pytest.mark.parametrize("garbage", ["b''", "b'\\x30\\x82\\xff\\xff\\x30'", "open(%r, 'rb').read()[:-7]", "open(%r, 'rb').read() + b'x'"])
def test_der_reader_refuses_truncated_and_garbage(chains, garbage):
    if "%r" in garbage:
        garbage = garbage % str(chains["root"].der_path)
    out = mp("from uocpp.pki import der\ntry:\n der.Cert(%s)\n print('read')\nexcept ValueError as e:\n print('refused', e)" % garbage)
    assert out.startswith("refused")


def test_p256_signatures_verify_both_ways():
    """Ours verified by the host's cryptography, the host's verified by ours, and a changed message refused by both."""
    digest = hashlib.sha256(b"the message").digest()
    out = mp(
        "from uocpp.pki import p256\nimport binascii, json\nd, q = p256.generate()\nr, s = p256.sign(d, %r)\n"
        "print(json.dumps([binascii.hexlify(p256.point_bytes(q)).decode(), r, s, p256.public_key(7)]))" % digest
    )
    point, r, s, seven = json.loads(out)
    pub = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), bytes.fromhex(point))
    pub.verify(encode_dss_signature(r, s), b"the message", ec.ECDSA(hashes.SHA256()))
    with pytest.raises(Exception):
        pub.verify(encode_dss_signature(r, s), b"the messagf", ec.ECDSA(hashes.SHA256()))
    # 7·G from the host's own arithmetic.
    host7 = ec.derive_private_key(7, ec.SECP256R1()).public_key().public_numbers()
    assert seven == [host7.x, host7.y]
    key = ec.generate_private_key(ec.SECP256R1())
    hr, hs = decode_dss_signature(key.sign(b"the message", ec.ECDSA(hashes.SHA256())))
    raw = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    out = mp(
        "from uocpp.pki import p256\nq = p256.parse_point(%r)\nprint(p256.verify(q, %r, %d, %d), p256.verify(q, %r, %d, %d), p256.verify(q, %r, %d, %d))"
        % (raw, digest, hr, hs, hashlib.sha256(b"other").digest(), hr, hs, digest, hr, hs + 1)
    )
    assert out.split() == ["True", "False", "False"]


def _chain_check(chains, names, roots):
    code = (
        "from uocpp.pki import der, chain\nimport time\n"
        "cs = [der.Cert(open(p, 'rb').read()) for p in %r]\nrs = [der.Cert(open(p, 'rb').read()) for p in %r]\n"
        "try:\n chain.verify_chain(cs, rs, time.time() + 946684800 * (time.gmtime(0)[0] == 2000))\n print('ok')\nexcept chain.ChainError as e:\n print('refused:', e)"
    ) % ([str(chains[n].der_path) for n in names], [str(chains[n].der_path) for n in roots])
    return mp(code).strip()


def test_chains_are_checked_to_an_installed_root(chains):
    assert _chain_check(chains, ["leaf", "int"], ["root"]) == "ok"
    assert _chain_check(chains, ["rsa_leaf"], ["rsa_root"]) == "ok"  # RSA PKCS#1 v1.5
    assert _chain_check(chains, ["leaf", "int"], ["other"]).startswith("refused: int chains to no installed root")
    assert _chain_check(chains, ["leaf"], ["root"]).startswith("refused: leaf chains to no installed root")  # the intermediate missing
    assert "not valid now" in _chain_check(chains, ["expired", "int"], ["root"])
    # Names that match, a key that does not: the signature check catches it.
    assert _chain_check(chains, ["leaf", "impostor"], ["other"]) == "refused: leaf is not signed by int"
    assert _chain_check(chains, ["wrong_key_leaf", "int"], ["root"]) == "refused: wrong-key-leaf is not signed by int"
    assert _chain_check(chains, ["int", "leaf"], ["root"]) == "refused: leaf is no CA certificate"
