# The charger's own identity for security profile 3: a P-256 key pair made
# on the charger (it never leaves it) and the certificate chain the central
# system signed for it (CertificateSigned), under <flash>/certs/:
#   cp.key   the private key, SEC1 DER (what mbedTLS's load_cert_chain takes)
#   cp.new   the key of a CSR still waiting for its certificate
#   cp.crt   the leaf certificate, DER
from uocpp.store import json_file

KEY = "cp.key"
PENDING = "cp.new"
CERT = "cp.crt"


def path(flash, name):
    return json_file.join(flash, "certs") + "/" + name


def refusal(sec):
    # Why profile 3 cannot be used now, or None.
    if not (json_file.exists(path(sec._flash, KEY)) and json_file.exists(path(sec._flash, CERT))):
        return "no charge point certificate (SignCertificate and CertificateSigned first)"
    return None


def _read(flash, name):
    with open(path(flash, name), "rb") as f:
        return f.read()


def load(ctx, flash):
    # Profile 3: our certificate and key into the TLS context, read for this
    # connection only, both DER. Only the leaf goes: the unix port's mbedTLS
    # parses no PEM (so no chain in one call), and a second call would
    # replace the key. The central system knows its own CA's intermediates.
    new = path(flash, CERT + ".new")
    if json_file.exists(new) and not json_file.exists(path(flash, KEY)) and json_file.exists(path(flash, PENDING)):
        # FAT: killed between the remove and the rename of the key's
        # replace(): the new key waits alone, its certificate checked.
        json_file.replace(path(flash, PENDING), path(flash, KEY))
    if json_file.exists(new) and not json_file.exists(path(flash, PENDING)):
        # CertificateSigned killed between its renames (csr_exchange.py):
        # the key is the new one already, so is the certificate waiting
        # whole beside the old one. Finish, or the pair never matches.
        json_file.replace(new, path(flash, CERT))
    ctx.load_cert_chain(_read(flash, CERT), _read(flash, KEY))
