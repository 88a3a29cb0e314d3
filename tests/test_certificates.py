"""The certificate store (issue 25 item 2): InstallCertificate, GetInstalledCertificateIds, DeleteCertificate.

Against the `ocpp` central system (schema validation on) with roots made by
openssl; the hash data are checked against the host's own computation
(test_pki.host_hash_data), and the link's TLS against a real wss:// server.
"""

import contextlib

import pytest
from ocpp.v16 import call

from central_system import CentralSystemThread
from harness.pki import make_cert, server_context
from tests.test_pki import host_hash_data

CP = "CP001"
KEY = "0123456789abcdefABCDEF0123456789abcdef01"
CS_ROOT = "CentralSystemRootCertificate"
MF_ROOT = "ManufacturerRootCertificate"


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    d = tmp_path_factory.mktemp("roots")
    r = {}
    r["a"] = make_cert(d, "root-a")
    r["b"] = make_cert(d, "root-b")
    r["mf"] = make_cert(d, "mf-root", rsa=True)
    r["expired"] = make_cert(d, "old-root", days=-1)
    r["int"] = make_cert(d, "int", r["a"])
    r["leaf"] = make_cert(d, "leaf", r["a"], ca=False)
    # AdditionalRootCertificateCheck: the next root, signed by root a.
    r["a_next"] = make_cert(d, "root-a-next", r["a"])
    r["server_a"] = make_cert(d, "server-a", r["a"], ca=False, subject="/CN=127.0.0.1", san="IP:127.0.0.1")
    r["server_b"] = make_cert(d, "server-b", r["b"], ca=False, subject="/CN=127.0.0.1", san="IP:127.0.0.1")
    return r


def install(cs, kind, pem):
    return cs.call(CP, call.InstallCertificate(certificate_type=kind, certificate=pem)).status


def installed(cs, kind):
    res = cs.call(CP, call.GetInstalledCertificateIds(certificate_type=kind))
    hd = res.certificate_hash_data
    return res.status, hd and [camel(h) for h in hd]


def camel(d):
    # The ocpp package hands replies over in snake_case.
    return {k.split("_")[0] + "".join(w.title() for w in k.split("_")[1:]): v for k, v in d.items()}


def delete(cs, hd):
    return cs.call(CP, call.DeleteCertificate(certificate_hash_data=hd)).status


def test_install_list_and_delete_roots(roots, cs, firmware, tmp_path):
    """A03, A02, A01: each type kept apart, hash data as the whitepaper defines them, a re-install is no duplicate, and the store survives a restart."""
    fw = firmware(cs.port, workdir=tmp_path / "cp")
    fw.wait_log("registration Accepted")
    assert installed(cs, CS_ROOT) == ("NotFound", None)
    assert install(cs, CS_ROOT, roots["a"].pem) == "Accepted"
    assert install(cs, MF_ROOT, roots["mf"].pem) == "Accepted"  # RSA: its self-signature checked with RSA
    assert install(cs, CS_ROOT, roots["a"].pem) == "Accepted"  # again: nothing new
    a = host_hash_data(roots["a"].der, roots["a"].der)
    mf = host_hash_data(roots["mf"].der, roots["mf"].der)
    assert installed(cs, CS_ROOT) == ("Accepted", [a])
    assert installed(cs, MF_ROOT) == ("Accepted", [mf])
    fw.stop()
    fw = firmware(cs.port, workdir=tmp_path / "cp")
    fw.wait_log("registration Accepted", timeout=15)
    assert installed(cs, MF_ROOT) == ("Accepted", [mf])
    assert delete(cs, dict(mf, serialNumber="1234")) == "NotFound"
    assert delete(cs, mf) == "Accepted"
    assert installed(cs, MF_ROOT) == ("NotFound", None)
    assert delete(cs, mf) == "NotFound"
    assert installed(cs, CS_ROOT) == ("Accepted", [a])


@pytest.mark.parametrize(
    "which,reason",
    [
        ("garbage", "0 certificates in the PEM"),
        ("two", "2 certificates in the PEM"),
        ("expired", "not valid now"),
        ("leaf", "not a CA certificate"),
        ("int", "not a root certificate"),
        ("cut", "DER: truncated"),
    ],
)
def test_install_refuses_what_cannot_be_a_root(roots, cs, firmware, which, reason):
    """A03: Rejected, with the reason in the log, and nothing installed."""
    fw = firmware(cs.port)
    fw.wait_log("registration Accepted")
    a = roots["a"].pem
    body = "".join(a.split("\n")[1:-2])
    pem = {
        "garbage": "not a certificate",
        "two": a + roots["b"].pem,
        "expired": roots["expired"].pem,
        "leaf": roots["leaf"].pem,
        "int": roots["int"].pem,
        "cut": "-----BEGIN CERTIFICATE-----\n%s\n-----END CERTIFICATE-----\n" % body[: len(body) // 2 // 4 * 4],
    }[which]
    assert install(cs, CS_ROOT, pem) == "Rejected"
    fw.wait_log("InstallCertificate CentralSystemRootCertificate refused: .*" + reason)
    assert installed(cs, CS_ROOT) == ("NotFound", None)


def test_additional_root_check_wants_the_new_root_signed_by_the_old(roots, cs, firmware):
    """A.1.2 AdditionalRootCertificateCheck: one root, replaced only by one it signed; the old one kept as fall-back."""
    fw = firmware(cs.port, {"centralSystem": {"additionalRootCertificateCheck": True}})
    fw.wait_log("registration Accepted")
    assert cs.call(CP, call.GetConfiguration(key=["AdditionalRootCertificateCheck"])).configuration_key[0]["value"] == "true"
    assert install(cs, CS_ROOT, roots["a"].pem) == "Accepted"  # the first one: any root
    assert install(cs, CS_ROOT, roots["b"].pem) == "Rejected"
    fw.wait_log("not signed by the installed one")
    assert install(cs, CS_ROOT, roots["a_next"].pem) == "Accepted"
    status, ids = installed(cs, CS_ROOT)
    assert ids == [host_hash_data(roots["a"].der, roots["a"].der), host_hash_data(roots["a_next"].der, roots["a"].der)]


@contextlib.contextmanager
def wss_charger(roots, server, ca, firmware):
    """A wss:// central system serving `server`'s certificate, and a charger trusting `ca` (caFile), registered."""
    ctx = server_context((roots[server].pem_path, roots[server].key))
    cs = CentralSystemThread(boot_plan=[("Accepted", 60)], ssl=ctx).start()
    try:
        fw = firmware(cs.port, {"centralSystem": {"url": "wss://127.0.0.1:%d/ocpp" % cs.port, "authorizationKey": KEY, "caFile": str(roots[ca].der_path)}})
        fw.wait_log("registration Accepted")
        yield cs, ctx, fw
    finally:
        cs.stop()


def test_tls_tries_a_new_root_and_keeps_the_old_until_it_connects(roots, firmware):
    """A.1: the link trusts the installed root; while it cannot connect the old one is the fall-back; connected once, the old one goes."""
    with wss_charger(roots, "server_a", "a", firmware) as (cs, ctx, fw):
        assert install(cs, CS_ROOT, roots["b"].pem) == "Accepted"
        cs.run(cs.connections[-1][1].close())
        # The new root cannot verify server a: back to caFile, which can.
        fw.wait_log("trying the previous Central System root")
        cs.wait_for(lambda f: len(cs.connections) == 2, what="a second connection")
        # The central system moves to a certificate of root b.
        ctx.load_cert_chain(roots["server_b"].pem_path, roots["server_b"].key)
        cs.run(cs.connections[-1][1].close())
        fw.wait_log("trying the new Central System root")
        fw.wait_log("the new Central System root certificate connected: the fall-back goes")
        cs.wait_for(lambda f: len(cs.connections) == 3, what="a third connection")
        assert installed(cs, CS_ROOT) == ("Accepted", [host_hash_data(roots["b"].der, roots["b"].der)])


def test_deleting_the_last_installed_root_gives_the_trust_back_to_ca_file(roots, firmware):
    """A01: the installed root deleted, the link trusts centralSystem.caFile again and reconnects."""
    with wss_charger(roots, "server_b", "b", firmware) as (cs, ctx, fw):
        assert install(cs, CS_ROOT, roots["a"].pem) == "Accepted"
        assert delete(cs, host_hash_data(roots["a"].der, roots["a"].der)) == "Accepted"
        cs.run(cs.connections[-1][1].close())
        cs.wait_for(lambda f: len(cs.connections) == 2, what="a connection trusting caFile")
        assert "InvalidCentralSystemCertificate" not in fw.log


def test_a_full_store_refuses_more(roots, cs, firmware, tmp_path):
    """A03, CertificateStoreMaxLength (8, both types together): the ninth is Rejected, one deleted makes room."""
    fw = firmware(cs.port)
    fw.wait_log("registration Accepted")
    assert cs.call(CP, call.GetConfiguration(key=["CertificateStoreMaxLength"])).configuration_key[0]["value"] == "8"
    many = [make_cert(tmp_path, "many-%d" % i) for i in range(9)]
    for i, c in enumerate(many[:8]):
        assert install(cs, CS_ROOT if i % 2 else MF_ROOT, c.pem) == "Accepted"
    assert install(cs, CS_ROOT, many[8].pem) == "Rejected"
    fw.wait_log(r"the store is full \(CertificateStoreMaxLength 8\)")
    assert delete(cs, host_hash_data(many[0].der, many[0].der)) == "Accepted"
    assert install(cs, CS_ROOT, many[8].pem) == "Accepted"
    assert len(installed(cs, CS_ROOT)[1]) == 5 and len(installed(cs, MF_ROOT)[1]) == 3


def test_a_root_installed_as_one_type_can_be_installed_as_the_other(roots, cs, firmware):
    """M05 (InstallCertificate): Accepted means installed as the type asked for; the same root already installed
    as a CentralSystemRootCertificate is no ManufacturerRootCertificate yet."""
    fw = firmware(cs.port)
    fw.wait_log("registration Accepted")
    assert install(cs, CS_ROOT, roots["a"].pem) == "Accepted"
    assert install(cs, MF_ROOT, roots["a"].pem) == "Accepted"
    a = host_hash_data(roots["a"].der, roots["a"].der)
    assert installed(cs, MF_ROOT) == ("Accepted", [a])
    assert installed(cs, CS_ROOT) == ("Accepted", [a])


def test_deleting_the_root_on_trial_gives_the_old_one_back(roots, cs, firmware):
    """A.1.2 AdditionalRootCertificateCheck: the root on trial deleted, the one it replaced is the installed root
    again: trusted, and the one a next root must be signed by (not a store with no root to check against)."""
    fw = firmware(cs.port, {"centralSystem": {"additionalRootCertificateCheck": True}})
    fw.wait_log("registration Accepted")
    assert install(cs, CS_ROOT, roots["a"].pem) == "Accepted"
    assert install(cs, CS_ROOT, roots["a_next"].pem) == "Accepted"
    assert delete(cs, host_hash_data(roots["a_next"].der, roots["a"].der)) == "Accepted"
    assert installed(cs, CS_ROOT) == ("Accepted", [host_hash_data(roots["a"].der, roots["a"].der)])
    assert install(cs, CS_ROOT, roots["b"].pem) == "Rejected"
    fw.wait_log("not signed by the installed one")
    assert installed(cs, CS_ROOT) == ("Accepted", [host_hash_data(roots["a"].der, roots["a"].der)])


def test_a_root_on_trial_that_cannot_connect_can_be_deleted_while_the_old_one_stays(roots, firmware):
    """A.1.2 and DeleteCertificate (A01): TLS with no caFile, the installed roots only; the new root on trial
    (AdditionalRootCertificateCheck) cannot verify the server and the link runs on the fall-back. Deleting the new
    one leaves the old one to trust: Accepted (not Failed as if it were the last root), and the link connects with
    the old one."""
    wss = CentralSystemThread(boot_plan=[("Accepted", 60)], ssl=server_context((roots["server_a"].pem_path, roots["server_a"].key))).start()
    plain = CentralSystemThread(boot_plan=[("Accepted", 60)]).start()
    try:
        secure = "wss://127.0.0.1:%d/ocpp" % wss.port
        fw = firmware(plain.port, {"centralSystem": {"secureUrl": secure, "authorizationKey": KEY, "additionalRootCertificateCheck": True}})
        fw.wait_log("registration Accepted")
        assert install(plain, CS_ROOT, roots["a"].pem) == "Accepted"
        assert install(plain, CS_ROOT, roots["a_next"].pem) == "Accepted"
        assert plain.call(CP, call.ChangeConfiguration(key="SecurityProfile", value="2")).status == "Accepted"
        fw.wait_log("trying the previous Central System root")
        wss.wait_for(lambda f: wss.connections, 30, "a connection with the old root")
        fw.wait_log("SecurityProfile 2 connected: kept")
        assert delete(wss, host_hash_data(roots["a_next"].der, roots["a"].der)) == "Accepted"
        assert installed(wss, CS_ROOT) == ("Accepted", [host_hash_data(roots["a"].der, roots["a"].der)])
        wss.run(wss.connections[-1][1].close())
        wss.wait_for(lambda f: len(wss.connections) == 2, 30, "a connection trusting the old root")
    finally:
        wss.stop()
        plain.stop()


def test_profile_2_on_installed_roots_only_sets_the_clock_before_tls_at_boot(roots, firmware, tmp_path):
    """SEC-08 (TLS checks certificate dates): a charger raised to profile 2 with an installed Central System root and
    no caFile sets its clock first at every boot, as one with a caFile does; on a board whose RTC reads 2000-01-01
    after a power cut the server certificate is not valid yet otherwise, and the link never connects again. On the
    unix port the clock step says "kept by the host"."""
    wss = CentralSystemThread(boot_plan=[("Accepted", 60)], ssl=server_context((roots["server_a"].pem_path, roots["server_a"].key))).start()
    plain = CentralSystemThread(boot_plan=[("Accepted", 60)]).start()
    try:
        cfg = {"centralSystem": {"secureUrl": "wss://127.0.0.1:%d/ocpp" % wss.port, "authorizationKey": KEY}}
        fw = firmware(plain.port, cfg, workdir=tmp_path / "cp")
        fw.wait_log("registration Accepted")
        assert "kept by the host" not in fw.log  # profile 1: no TLS, no clock step
        assert install(plain, CS_ROOT, roots["a"].pem) == "Accepted"
        assert plain.call(CP, call.ChangeConfiguration(key="SecurityProfile", value="2")).status == "Accepted"
        wss.wait_for(lambda f: wss.connections, 30, "a connection at profile 2")
        fw.wait_log("SecurityProfile 2 connected: kept")
        fw.stop()
        fw = firmware(plain.port, cfg, workdir=tmp_path / "cp")
        fw.wait_log("clock: kept by the host")
        wss.wait_for(lambda f: len(wss.connections) == 2, 30, "a connection at profile 2 after the restart")
    finally:
        wss.stop()
        plain.stop()


def test_a_root_installed_while_one_is_on_trial_keeps_the_root_that_connected(roots, firmware, tmp_path):
    """A.1.2 AdditionalRootCertificateCheck: the replaced root stays as the fall-back until the new one connected.
    A second new root installed before the first one ever connected replaces the one on trial, not the fall-back:
    root a connected, a_next on trial (no reconnect since), a_next2 (signed by a_next) installed; server a's
    certificate still verifies with the fall-back, and the link connects again (it dropped a and never did)."""
    a_next2 = make_cert(tmp_path, "root-a-next2", roots["a_next"])
    with wss_charger(roots, "server_a", "a", firmware) as (cs, ctx, fw):
        assert install(cs, CS_ROOT, roots["a"].pem) == "Accepted"
        cs.run(cs.connections[-1][1].close())
        fw.wait_log("the new Central System root certificate connected: the fall-back goes")
        cs.wait_for(lambda f: len(cs.connections) == 2, 30, "a connection with root a")
        fw.stop()  # the store as it is; then AdditionalRootCertificateCheck on, for the next roots
        cfg = {"centralSystem": {"url": "wss://127.0.0.1:%d/ocpp" % cs.port, "authorizationKey": KEY, "caFile": str(roots["a"].der_path)}}
        cfg["centralSystem"]["additionalRootCertificateCheck"] = True
        fw = firmware(cs.port, cfg, workdir=fw.workdir)
        cs.wait_for(lambda f: len(cs.connections) == 3, 30, "a connection after the restart")
        fw.wait_log("registration Accepted|connected \\(connection 1\\)")
        assert install(cs, CS_ROOT, roots["a_next"].pem) == "Accepted"
        assert install(cs, CS_ROOT, a_next2.pem) == "Accepted"
        ids = installed(cs, CS_ROOT)[1]
        assert host_hash_data(roots["a"].der, roots["a"].der) in ids
        cs.run(cs.connections[-1][1].close())
        fw.wait_log("trying the previous Central System root")
        cs.wait_for(lambda f: len(cs.connections) == 4, 30, "a connection with the fall-back root a")
