"""Test certificates, made with openssl at test time (EC P-256: quick to make and to use).

make_pki(dir) -> a Pki with:
  ca_der, ca_pem           the CA the firmware trusts (DER is what mbedTLS takes)
  other_ca_der             a second, unrelated CA
  server                   (cert, key) for 127.0.0.1 and localhost, signed by the CA
  wrong_host               (cert, key) for other.example only, signed by the CA
"""

import secrets
import ssl
import subprocess
from pathlib import Path

_EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def _ca(d, name):
    _openssl("req", "-x509", *_EC, "-keyout", name + ".key", "-out", name + ".pem", "-days", "2", "-subj", "/CN=%s" % name,
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    _openssl("x509", "-in", name + ".pem", "-outform", "der", "-out", name + ".der", cwd=d)
    return d / (name + ".der")


def _server(d, name, ca, common_name, san):
    (d / (name + ".ext")).write_text("subjectAltName=%s\nextendedKeyUsage=serverAuth\n" % san)
    _openssl("req", "-new", *_EC, "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=%s" % common_name, cwd=d)
    _openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key", "-set_serial", str(secrets.randbits(63)),
             "-days", "2", "-extfile", name + ".ext", "-out", name + ".pem", cwd=d)
    return d / (name + ".pem"), d / (name + ".key")


class Pki:
    def __init__(self, d):
        d = Path(d)
        self.dir = d
        self.ca_der = _ca(d, "ca")
        self.ca_pem = d / "ca.pem"
        self.other_ca_der = _ca(d, "other-ca")
        self.server = _server(d, "server", "ca", "127.0.0.1", "IP:127.0.0.1,DNS:localhost")
        self.wrong_host = _server(d, "wrong-host", "ca", "other.example", "DNS:other.example")


def make_pki(d):
    return Pki(d)


def server_context(cert_and_key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*cert_and_key)
    return ctx


# -- chains for the certificate store, signed updates and profile 3 (issue 25) --
_RSA = ["-newkey", "rsa:2048", "-nodes"]
_CA_EXT = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign,digitalSignature\n"


class Cert:
    """One openssl-made certificate: its PEM and DER files, its key, and the DER bytes."""

    def __init__(self, d, name):
        self.name = name
        self.pem_path = d / (name + ".pem")
        self.der_path = d / (name + ".der")
        self.key = d / (name + ".key")
        _openssl("x509", "-in", self.pem_path.name, "-outform", "der", "-out", self.der_path.name, cwd=d)
        self.pem = self.pem_path.read_text()
        self.der = self.der_path.read_bytes()


def make_cert(d, name, signer=None, ca=True, rsa=False, days=2, key_of=None, subject=None, san=None):
    """A certificate signed by signer (a Cert) or self-signed; ca: a CA certificate.

    days < 0 makes one that has already expired; key_of: reuse that Cert's
    key (a certificate for the same key); subject: the /CN=... text.
    """
    d = Path(d)
    subj = subject or "/CN=%s" % name
    key = ["-key", str(key_of.key)] if key_of else (_RSA if rsa else _EC)
    if key_of is None:
        key = [*key, "-keyout", name + ".key"]
    ext = _CA_EXT if ca else "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
    if san:
        ext += "subjectAltName=%s\nextendedKeyUsage=serverAuth\n" % san
    (d / (name + ".ext")).write_text(ext)
    if signer is None and days < 0:
        # req -x509 takes no negative days; x509 -req -signkey does.
        _openssl("req", "-new", *key, "-out", name + ".csr", "-subj", subj, cwd=d)
        _openssl("x509", "-req", "-in", name + ".csr", "-signkey", name + ".key", "-days", str(days), "-extfile", name + ".ext", "-out", name + ".pem", cwd=d)
    elif signer is None:
        _openssl("req", "-x509", *key, "-out", name + ".pem", "-days", str(days), "-subj", subj,
                 *[a for line in ext.strip().split("\n") for a in ("-addext", line)], cwd=d)
    else:
        _openssl("req", "-new", *key, "-out", name + ".csr", "-subj", subj, cwd=d)
        _openssl("x509", "-req", "-in", name + ".csr", "-CA", str(signer.pem_path), "-CAkey", str(signer.key),
                 "-set_serial", str(secrets.randbits(63)), "-days", str(days), "-extfile", name + ".ext", "-out", name + ".pem", cwd=d)
    c = Cert(d, name)
    if key_of is not None:
        c.key = key_of.key
    return c
