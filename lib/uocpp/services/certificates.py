# The certificate operations' shared work (whitepaper A.1-A.3, its use cases
# Install, GetInstalledCertificateIds, DeleteCertificate), loaded only when
# one of them arrives. The store itself is pki/store.py.
from uocpp import clock, log, platform
from uocpp.pki import der
from uocpp.pki import store as st

ACCEPTED = "Accepted"
REJECTED = "Rejected"
FAILED = "Failed"


def open_store(settings):
    return st.Store(platform.flash_dir(settings))


def _now():
    # None until the clock was set: dates cannot be judged before.
    t = clock.now()
    return t if t > 1600000000 else None


def install_steps(settings, keys, kind, pem):
    # InstallCertificate -> its status (steps: pki.arun()).
    try:
        ders = der.pem_to_ders(pem)
        if len(ders) != 1:
            raise ValueError("%d certificates in the PEM, 1 expected" % len(ders))
        cert = der.Cert(ders[0])
    except ValueError as e:
        log.warning("certs", "InstallCertificate %s refused: %s", kind, e)
        return REJECTED
    store = open_store(settings)
    arc = kind == st.CS_ROOT and keys.get("AdditionalRootCertificateCheck")
    issuer = None
    replaces = ()
    if arc:
        # One Central System root at a time; the new one must be signed by
        # the one it replaces, which stays as the fall-back until the new
        # one connected (whitepaper A.1.2). Only the very first may be any
        # root.
        replaces = [e for e in store.entries(kind) if e[1] not in store.idx["old"]]
        olds = store.certs(kind, store.idx["old"])
        if olds:
            from uocpp.pki import chain

            for o in olds:
                if (yield from chain.signed_by_steps(cert, o)):
                    issuer = o
            if issuer is None:
                log.warning(
                    "certs", "InstallCertificate refused: the new Central System root is not signed by the installed one (AdditionalRootCertificateCheck)"
                )
                return REJECTED
    why = yield from _refusal(cert, issuer)
    if why:
        log.warning("certs", "InstallCertificate %s refused: %s", kind, why)
        return REJECTED
    hd = st.hash_data(cert, issuer)
    if [e for e in store.entries(kind) if st.same_hash(e[2], hd)]:
        return ACCEPTED  # installed already as this type: nothing to do
    if store.count() - len(store.idx["old"]) - len(replaces) >= keys.get("CertificateStoreMaxLength"):
        log.warning("certs", "InstallCertificate refused: the store is full (CertificateStoreMaxLength %d)", keys.get("CertificateStoreMaxLength"))
        return REJECTED
    try:
        name = store.add(kind, cert, replaces, issuer)
    except OSError as e:
        log.error("certs", "cannot store the certificate: %s", e)
        return FAILED
    log.info("certs", "%s installed as %s (serial %x)", kind, name, cert.serial)
    return ACCEPTED


def _refusal(cert, issuer):
    # Why cert cannot be a root of the store, or None. issuer: the old root
    # that signed it (AdditionalRootCertificateCheck), else it must be
    # self-signed.
    from uocpp.pki import chain

    try:
        chain.check_dates(cert, _now())
    except chain.ChainError:
        return "not valid now"
    if cert.ca is False:
        return "not a CA certificate (basicConstraints)"
    if issuer is not None:
        return None
    if not cert.self_issued():
        return "not a root certificate (issuer and subject differ)"
    if not (yield from chain.signed_by_steps(cert, cert)):
        return "its self-signature does not verify"
    return None


def ids(settings, kind):
    store = open_store(settings)
    return [e[2] for e in store.entries(kind)]


def delete(settings, keys, hd):
    store = open_store(settings)
    entry = store.find(hd)
    if entry is None:
        return "NotFound"
    if entry[0] == "C" and keys.get("SecurityProfile") >= 2:
        # The roots trusted once it is gone: the root on trial deleted,
        # the ones it replaced are trusted again (pki/store.py remove()).
        new = entry[1] == store.idx["new"]
        left = [e for e in store.entries(st.CS_ROOT) if e[1] != entry[1] and (new or e[1] not in store.idx["old"])]
        if not left and not settings["centralSystem"]["caFile"]:
            # The link would have nothing to trust: it could never connect
            # again to be given another one.
            log.warning("certs", "DeleteCertificate refused: the only Central System root of a TLS link")
            return FAILED
    try:
        store.remove(entry)
    except OSError as e:
        log.error("certs", "cannot delete %s: %s", entry[1], e)
        return FAILED
    log.info("certs", "certificate %s deleted", entry[1])
    return ACCEPTED


def sign_request():
    # ExtendedTriggerMessage(SignChargePointCertificate): start a
    # SignCertificate exchange (services/csr_exchange.py). True if started.
    from uocpp.link.security import Security
    from uocpp.services import csr_exchange

    return csr_exchange.start(Security.app)
