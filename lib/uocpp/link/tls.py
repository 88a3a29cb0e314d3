# TLS for wss:// (security profile 2; SEC-07, SEC-08) through the port's
# ssl module (mbedTLS: TLS 1.2 only, so nothing weaker is ever offered).
# Imported only when a wss:// connection is made or a profile 2 is checked.
#
# The server certificate must chain to one CA certificate stored on flash in
# DER form, and must name the host of the URL: websocket.connect passes the
# host as server_hostname, which mbedTLS matches against the certificate's
# subjectAltName (DNS names and IP addresses) or CN.
import ssl

from micropython import const

# A root CA certificate is 0.5..2 KB; refuse to read an absurd file into RAM.
_MAX_CA_BYTES = const(8192)
# MBEDTLS_ERR_X509_CERT_VERIFY_FAILED, as some ports report it.
_VERIFY_FAILED = const(-0x2700)

HINT = "DER expected; convert a PEM with: openssl x509 -in ca.pem -outform der -out ca.der"


def context(ca_file):
    # A client context that trusts only the CA in ca_file. Raises OSError
    # (unreadable file) or ValueError (no DER certificate) with a reason.
    with open(ca_file, "rb") as f:
        der = f.read(_MAX_CA_BYTES + 1)
    if len(der) > _MAX_CA_BYTES:
        raise ValueError("%s: over %d bytes; expected a single CA in DER" % (ca_file, _MAX_CA_BYTES))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.verify_mode = ssl.CERT_REQUIRED
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
