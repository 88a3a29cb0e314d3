# Security profile 3's certificate (whitepaper A.3, use case A02/A03 of the
# 1.6 security edition): SignCertificate with a CSR made on the charger (the
# private key never leaves it), then CertificateSigned with the chain the
# central system's CA signed. The chain is checked before it replaces the
# old one: its size (CertificateSignedMaxChainSize), every certificate's
# validity dates, each one signed by the next up to a trusted Central System
# root (installed, else centralSystem.caFile), and the leaf's public key
# being ours. Loaded only for one exchange.
import asyncio
import os

from uocpp import clock, log
from uocpp import outbox as ob
from uocpp.pki import identity as idn
from uocpp.store import json_file

ACCEPTED = "Accepted"
REJECTED = "Rejected"
_running = None  # the task of an exchange under way


def start(app):
    # True when a SignCertificate exchange starts (one at a time).
    sec = app.security
    global _running
    if _running is not None and not _running.done():
        log.info("certs", "a SignCertificate is under way already")
        return False
    cpo = sec._keys.get("CpoName")
    if not cpo:
        log.warning("certs", "no SignCertificate: CpoName is not set (the CSR's organizationName)")
        return False
    _running = asyncio.create_task(_exchange(sec, cpo, app.outbox))
    return True


async def _exchange(sec, cpo, outbox):
    from uocpp import pki
    from uocpp.pki import csr

    t = clock.now()
    try:
        pem, key = await csr.make(cpo, sec._settings["centralSystem"]["chargePointId"])
    except MemoryError:
        log.error("certs", "no memory to make the key pair: SignCertificate dropped")
        return
    finally:
        pki.unload()
    # The new key waits in cp.new for its certificate; the one in use stays.
    try:
        os.mkdir(json_file.join(sec._flash, "certs"))
    except OSError:
        pass
    _write(idn.path(sec._flash, idn.PENDING), key)
    key = None
    log.info("certs", "key pair and CSR made in %d s: SignCertificate", clock.now() - t)
    msg = outbox.submit(ob.Message("SignCertificate", lambda: {"csr": pem}, ob.KEEP))
    try:
        reply = await msg.wait()
        log.info("certs", "SignCertificate %s", reply.get("status") if isinstance(reply, dict) else reply)
    except Exception as e:  # a failed CALL: the central system can trigger it again
        log.warning("certs", "SignCertificate not answered: %s", e)


def _write(p, data):
    tmp = p + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    json_file.replace(tmp, p)


def _roots(sec):
    # The Central System roots the chain must end at.
    from uocpp.pki import der
    from uocpp.pki import store as st

    found = st.Store(sec._flash).certs(st.CS_ROOT)
    if not found and sec._ca_file:
        with open(sec._ca_file, "rb") as f:
            found = [der.Cert(f.read())]
    return found


def signed_steps(sec, text):
    # CertificateSigned -> its status (steps: pki.arun()); the chain
    # replaces the old one only when every check passes.
    from uocpp import pki, security_event

    try:
        why = yield from _refusal(sec, text)
    except (OSError, ValueError) as e:
        why = str(e)
    finally:
        pki.unload()
    if why:
        log.warning("certs", "CertificateSigned rejected: %s", why)
        security_event.report("InvalidChargePointCertificate", why)
        return REJECTED
    log.info("certs", "the charge point certificate is installed")
    return ACCEPTED


def _refusal(sec, text):
    from uocpp.pki import chain, csr, der

    most = sec._keys.get("CertificateSignedMaxChainSize")
    if len(text) > most:
        return "the chain is over CertificateSignedMaxChainSize (%d)" % most
    ders = der.pem_to_ders(text)
    if not ders:
        return "no certificate in the chain"
    certs = [der.Cert(d) for d in ders]
    pending = idn.path(sec._flash, idn.PENDING)
    try:
        with open(pending, "rb") as f:
            ours = csr.public_of_key_der(f.read())
    except OSError:
        return "no key pair waits for a certificate (no SignCertificate sent)"
    if certs[0].key != ours:
        return "the certificate is not for our key"
    t = clock.now()
    roots = _roots(sec)
    if not roots:
        return "no Central System root to check the chain against"
    yield from chain.verify_chain_steps(certs, roots, t if t > 1600000000 else None)
    # Checked: the key it belongs to, then the leaf (whose presence says the
    # pair is complete, identity.refusal).
    f = sec._flash
    _write(idn.path(f, idn.CERT + ".new"), bytes(certs[0].der))
    json_file.replace(pending, idn.path(f, idn.KEY))
    json_file.replace(idn.path(f, idn.CERT + ".new"), idn.path(f, idn.CERT))
    return None
