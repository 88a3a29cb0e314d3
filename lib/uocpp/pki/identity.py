# The charger's own identity for security profile 3: a P-256 key pair made
# on the charger (it never leaves it) and the certificate chain the central
# system signed for it (CertificateSigned), under <flash>/certs/:
#   cp.key   the private key, SEC1 DER (what mbedTLS's load_cert_chain takes)
#   cp.new   the key of a CSR still waiting for its certificate
#   cp.crt   the leaf certificate, DER; cp.chain: the intermediates, DER, one after another
from uocpp.store import json_file

KEY = "cp.key"
PENDING = "cp.new"
CERT = "cp.crt"
CHAIN = "cp.chain"


def path(flash, name):
    return json_file.join(flash, "certs") + "/" + name


def refusal(sec):
    # Why profile 3 cannot be used now, or None.
    if not (json_file.exists(path(sec._flash, KEY)) and json_file.exists(path(sec._flash, CERT))):
        return "no charge point certificate (SignCertificate and CertificateSigned first)"
    return None
