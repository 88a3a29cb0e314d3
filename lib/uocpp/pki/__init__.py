# Certificates and keys of the 1.6 security whitepaper: a DER/X.509 reader
# (der.py), P-256 and RSA signatures (p256.py, rsa.py), chain checks
# (chain.py), the certificate store on flash (store.py) and the charger's
# own key and CSR (csr.py). Every module loads on use only.
import sys


def unload():
    # Give the code back to the heap once the work is done (a TLS context
    # built, a certificate installed): these modules are used rarely.
    from uocpp import pki

    for name in ("der", "p256", "rsa", "chain", "store", "csr", "identity"):
        sys.modules.pop("uocpp.pki." + name, None)
        if hasattr(pki, name):
            delattr(pki, name)
    sys.modules.pop("uocpp.services.certificates", None)
