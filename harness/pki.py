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
