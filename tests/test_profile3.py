"""Security profile 3 (issue 25 item 3): SignCertificate with a CSR made on the charger, CertificateSigned
checked before it replaces anything, TLS with the client certificate, profile 2 -> 3 and no way back.

The central system serves wss:// and asks for a client certificate (optional, so that profile 2 still
connects); openssl signs the charger's CSR as a CPO CA would. The CSR is started by
ExtendedTriggerMessage(SignChargePointCertificate), whose operation the secevents branch provides: these
tests are skipped where it is absent.
"""

import ssl
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from ocpp.v16 import call

from central_system import CentralSystemThread
from harness.firmware import REPO
from harness.pki import make_cert, server_context

CP = "CP001"
KEY = "0123456789abcdefABCDEF0123456789abcdef01"
PASSWORD = bytes.fromhex(KEY)
CPO = "Test CPO"

pytestmark = pytest.mark.skipif(
    not (REPO / "lib/uocpp/ops/extended_trigger_message.py").exists(), reason="ExtendedTriggerMessage comes with the secevents branch"
)


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    d = tmp_path_factory.mktemp("p3")
    c = {"dir": d}
    c["root"] = make_cert(d, "cs-root")
    c["other"] = make_cert(d, "other-root")
    c["server"] = make_cert(d, "server", c["root"], ca=False, subject="/CN=127.0.0.1", san="IP:127.0.0.1")
    c["stranger"] = make_cert(d, "stranger", c["root"], ca=False, subject="/CN=%s" % CP)
    return c


@pytest.fixture
def tls_cs(ca):
    ctx = server_context((ca["server"].pem_path, ca["server"].key))
    ctx.verify_mode = ssl.CERT_OPTIONAL  # a client certificate when there is one (profile 3)
    ctx.load_verify_locations(ca["root"].pem_path)
    server = CentralSystemThread(boot_plan=[("Accepted", 60)], ssl=ctx).start()
    server.passwords[CP] = PASSWORD
    yield server
    server.stop()


def profile_2(port, ca):
    return {"centralSystem": {"url": "wss://127.0.0.1:%d/ocpp" % port, "authorizationKey": KEY, "caFile": str(ca["root"].der_path)}}


def change(cs, key, value):
    return cs.call(CP, call.ChangeConfiguration(key=key, value=value)).status


def request_csr(cs, n=1):
    assert cs.call(CP, call.ExtendedTriggerMessage(requested_message="SignChargePointCertificate")).status == "Accepted"
    cs.wait_for(lambda f: len(cs.csrs) >= n, 60, "a SignCertificate")
    return cs.csrs[n - 1][1]


def sign(ca, csr_pem, name, signer="root", days=2):
    d = ca["dir"]
    (d / (name + ".csr")).write_text(csr_pem)
    signer = ca[signer]
    subprocess.run(
        [
            "openssl",
            "x509",
            "-req",
            "-in",
            name + ".csr",
            "-CA",
            str(signer.pem_path),
            "-CAkey",
            str(signer.key),
            "-set_serial",
            "7",
            "-days",
            str(days),
            "-out",
            name + ".pem",
        ],
        cwd=d,
        check=True,
        capture_output=True,
    )
    return (Path(d) / (name + ".pem")).read_text()


def signed(cs, chain):
    return cs.call(CP, call.CertificateSigned(certificate_chain=chain)).status


def peer_cn(cs, i=-1):
    cert = cs.connections[i][1].transport.get_extra_info("ssl_object").getpeercert()
    if not cert:
        return None
    return dict(x[0] for x in cert["subject"]).get("commonName")


def test_csr_is_made_on_the_charger_with_cpo_name_and_charge_point_id(ca, tls_cs, firmware):
    """A02: the CSR is a valid PKCS#10 (its signature checks), P-256, O = CpoName, CN = the charge point id;
    without CpoName no CSR is made."""
    fw = firmware(tls_cs.port, profile_2(tls_cs.port, ca))
    fw.wait_log("registration Accepted")
    assert tls_cs.call(CP, call.ExtendedTriggerMessage(requested_message="SignChargePointCertificate")).status == "Accepted"
    fw.wait_log("no SignCertificate: CpoName is not set")
    assert change(tls_cs, "CpoName", CPO) == "Accepted"
    csr = x509.load_pem_x509_csr(request_csr(tls_cs).encode())
    assert csr.is_signature_valid
    assert isinstance(csr.public_key(), ec.EllipticCurvePublicKey) and csr.public_key().curve.name == "secp256r1"
    assert csr.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == CP
    assert csr.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)[0].value == CPO
    # The private key never left: only the CSR went out, and it is on the charger's flash.
    assert (fw.flash / "certs" / "cp.new").exists()
    assert "PRIVATE" not in "".join(f.raw for f in tls_cs.frames)


@pytest.mark.parametrize("case", ["other key", "expired", "wrong issuer", "garbage"])
def test_certificate_signed_is_checked_before_it_replaces_anything(ca, tls_cs, firmware, case):
    """A02: Rejected (and the InvalidChargePointCertificate event) for a certificate of another key, an expired
    one, one of an issuer that does not chain to the Central System root, or no certificate; nothing installed."""
    fw = firmware(tls_cs.port, profile_2(tls_cs.port, ca))
    fw.wait_log("registration Accepted")
    assert change(tls_cs, "CpoName", CPO) == "Accepted"
    csr = request_csr(tls_cs)
    chain = {
        "other key": lambda: ca["stranger"].pem,
        "expired": lambda: sign(ca, csr, "expired-cp", days=-1),
        "wrong issuer": lambda: sign(ca, csr, "other-cp", signer="other"),
        "garbage": lambda: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    }[case]()
    assert signed(tls_cs, chain) == "Rejected"
    fw.wait_log("CertificateSigned rejected")
    fw.wait_log("InvalidChargePointCertificate")
    assert not (fw.flash / "certs" / "cp.crt").exists()
    assert change(tls_cs, "SecurityProfile", "3") == "Rejected"


def test_profile_2_to_3_upgrade_and_no_way_back(ca, tls_cs, firmware):
    """A.3, SEC-12: 3 is refused without a certificate; CSR, CertificateSigned, then 3 reconnects with the client
    certificate and without Basic auth; a downgrade to 2 is refused; the profile holds over a restart."""
    fw = firmware(tls_cs.port, profile_2(tls_cs.port, ca))
    fw.wait_log("registration Accepted")
    assert peer_cn(tls_cs) is None
    assert change(tls_cs, "SecurityProfile", "3") == "Rejected"
    fw.wait_log("SecurityProfile 3 refused: no charge point certificate")
    assert change(tls_cs, "CpoName", CPO) == "Accepted"
    chain = sign(ca, request_csr(tls_cs), "cp")
    assert signed(tls_cs, chain) == "Accepted"
    fw.wait_log("the charge point certificate is installed")
    assert len(tls_cs.connections) == 1  # at profile 2 nothing reconnects
    assert change(tls_cs, "SecurityProfile", "3") == "Accepted"
    tls_cs.wait_for(lambda f: len(tls_cs.connections) == 2, 20, "a profile 3 connection")
    assert peer_cn(tls_cs) == CP
    assert tls_cs.upgrades[-1] == (CP, None, 101)  # no Basic auth at profile 3
    fw.wait_log("SecurityProfile 3 connected: kept")
    assert change(tls_cs, "SecurityProfile", "2") == "Rejected"
    fw.wait_log("SecurityProfile 2 refused: not above the current profile 3")
    # A renewed certificate: accepted, and the link reconnects with it.
    chain = sign(ca, request_csr(tls_cs, 2), "cp2")
    assert signed(tls_cs, chain) == "Accepted"
    tls_cs.wait_for(lambda f: len(tls_cs.connections) == 3, 20, "a reconnection with the renewed certificate")
    assert peer_cn(tls_cs) == CP
    fw.stop()
    fw = firmware(tls_cs.port, raw_config=fw.config_path.read_text(), workdir=fw.workdir)
    tls_cs.wait_for(lambda f: len(tls_cs.connections) == 4, 20, "a connection after the restart")
    assert peer_cn(tls_cs) == CP


def test_profile_3_that_cannot_connect_falls_back_after_the_retries(ca, firmware, tmp_path):
    """SEC-12: a central system that refuses the client certificate: back to profile 2 after 3 failed attempts, not 1."""
    ctx = server_context((ca["server"].pem_path, ca["server"].key))
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.load_verify_locations(ca["root"].pem_path)
    cs = CentralSystemThread(boot_plan=[("Accepted", 60)], ssl=ctx).start()
    cs.passwords[CP] = PASSWORD
    try:
        fw = firmware(cs.port, profile_2(cs.port, ca))
        fw.wait_log("registration Accepted")
        assert change(cs, "CpoName", CPO) == "Accepted"
        assert signed(cs, sign(ca, request_csr(cs), "cp-fb")) == "Accepted"
        cs.http_status = 403  # from now on every upgrade is refused
        assert change(cs, "SecurityProfile", "3") == "Accepted"
        fw.wait_log("SecurityProfile 3 failed to connect \\(1 of 3 attempts\\)", timeout=20)
        fw.wait_log("SecurityProfile 3 failed to connect 3 times: falling back to 2", timeout=30)
        cs.http_status = None
        cs.wait_for(lambda f: len(cs.connections) == 2, 30, "a profile 2 connection")
        assert peer_cn(cs) is None
    finally:
        cs.stop()


def test_a_renewal_killed_between_the_key_and_the_certificate_still_connects(ca, tls_cs, firmware):
    """A02, SIGKILL: CertificateSigned at profile 3 replaces the key, then the certificate (two renames). Killed
    between them, the new key sits beside the old certificate, the new certificate whole as cp.crt.new: the next
    start finishes the replacement and connects at profile 3, rather than never again."""
    fw = firmware(tls_cs.port, profile_2(tls_cs.port, ca))
    fw.wait_log("registration Accepted")
    assert change(tls_cs, "CpoName", CPO) == "Accepted"
    assert signed(tls_cs, sign(ca, request_csr(tls_cs), "cp-k1")) == "Accepted"
    assert change(tls_cs, "SecurityProfile", "3") == "Accepted"
    fw.wait_log("SecurityProfile 3 connected: kept", timeout=20)
    renewal = sign(ca, request_csr(tls_cs, 2), "cp-k2")
    fw.stop()
    certs = fw.flash / "certs"
    # What the kill leaves: cp.crt.new written, cp.new renamed to cp.key, cp.crt still the old one.
    (certs / "cp.crt.new").write_bytes(ssl.PEM_cert_to_DER_cert(renewal))
    (certs / "cp.new").rename(certs / "cp.key")
    n = len(tls_cs.connections)
    fw = firmware(tls_cs.port, raw_config=fw.config_path.read_text(), workdir=fw.workdir)
    tls_cs.wait_for(lambda f: len(tls_cs.connections) > n, 30, "a profile 3 connection after the restart")
    assert peer_cn(tls_cs) == CP
    assert (certs / "cp.crt").read_bytes() == ssl.PEM_cert_to_DER_cert(renewal)
