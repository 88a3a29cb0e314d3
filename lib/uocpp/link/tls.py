# TLS for wss:// (security profile 2; SEC-07, SEC-08) through the port's
# ssl module (mbedTLS: TLS 1.2 only, so nothing weaker is ever offered).
# Imported only when a wss:// connection is made or a profile 2 is checked.
#
# The server certificate must chain to one CA certificate stored on flash in
# DER form, and must name the host of the URL: handshake.connect passes the
# host as server_hostname, which mbedTLS matches against the certificate's
# subjectAltName (DNS names and IP addresses) or CN.
import ssl

from micropython import const

from uocpp import log
from uocpp.store import json_file

# A root CA certificate is 0.5..2 KB; refuse to read an absurd file into RAM.
_MAX_CA_BYTES = const(8192)
# MBEDTLS_ERR_X509_CERT_VERIFY_FAILED, as some ports report it.
_VERIFY_FAILED = const(-0x2700)

HINT = "DER expected; convert a PEM with: openssl x509 -in ca.pem -outform der -out ca.der"


# issue 25: the installed Central System roots (pki/store.py). While a new
# one is on trial, the attempts after one that failed on the server's
# certificate switch between the new set and the one before it.
_trial = False
_fallback = False


def _installed(flash):
    # DER of the installed Central System roots the next attempt trusts, or
    # None (none installed: caFile). The store loads for this only.
    global _trial, _fallback
    if not flash or not json_file.exists(flash + "/certs/index.json"):
        return None
    from uocpp import pki
    from uocpp.pki import store

    s = store.Store(flash)
    _trial = s.on_trial()
    _fallback = _fallback and _trial
    cas = s.trusted(_fallback)
    pki.unload()
    return cas


def context(ca_file, flash=None, client=False):
    # A client context that trusts the installed Central System roots
    # (flash: where the store is), else only the CA in ca_file; client:
    # with our certificate (security profile 3). Raises OSError (unreadable
    # file) or ValueError (no DER certificate) with a reason.
    cas = _installed(flash)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.verify_mode = ssl.CERT_REQUIRED
    if client:
        from uocpp import pki
        from uocpp.pki import identity

        try:
            identity.load(ctx, flash)
        finally:
            pki.unload()
    if cas:
        for der in cas:
            ctx.load_verify_locations(cadata=der)  # each call adds one to the chain
        return ctx
    with open(ca_file, "rb") as f:
        der = f.read(_MAX_CA_BYTES + 1)
    if len(der) > _MAX_CA_BYTES:
        raise ValueError("%s: over %d bytes; expected a single CA in DER" % (ca_file, _MAX_CA_BYTES))
    try:
        ctx.load_verify_locations(cadata=der)
    except ValueError as e:
        raise ValueError("%s: %s (%s)" % (ca_file, str(e).strip(), HINT))
    return ctx


def certificate_problem(exc):
    # Why the server's certificate was refused, or None when exc is some
    # other failure. mbedTLS reports a failed verification as a ValueError
    # with its verify text ("...not correctly signed by the trusted CA",
    # "...Common Name (CN) does not match...", "...validity has expired").
    if isinstance(exc, ValueError):
        text = str(exc).strip()
        if "certificate" in text.lower():
            return text
    if isinstance(exc, OSError) and exc.args and exc.args[0] == _VERIFY_FAILED:
        return "certificate verification failed"
    return None


def attempted(error, flash):
    # After each attempt of a TLS profile (link/security.py).
    global _fallback
    if error is not None:
        problem = certificate_problem(error)
        if problem:
            # The 1.6 security whitepaper's InvalidCentralSystemCertificate event (SEC-08).
            from uocpp import security_event

            security_event.report("InvalidCentralSystemCertificate", problem)
            if _trial:
                _fallback = not _fallback
                log.warning("security", "trying the %s Central System root(s) next", "previous" if _fallback else "new")
    elif _trial:
        from uocpp import pki
        from uocpp.pki import store

        store.Store(flash).connected(_fallback)
        pki.unload()
