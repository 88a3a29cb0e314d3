"""Security profiles 1 and 2: Basic auth, AuthorizationKey, wss:// with certificate checks (SEC-*).

The central system is the `ocpp` package over websockets; for profile 2 it
serves TLS with certificates openssl makes at test time (harness/pki.py),
and it checks Basic auth, answering 401 to a wrong password.
"""

import base64
import json
import secrets

import pytest
from ocpp.v16 import call

from central_system import CentralSystemThread, basic_authorization
from harness.net import free_port
from harness.firmware import EXIT_CONFIG, run_micropython
from harness.pki import make_pki, server_context

CP = "CP001"
KEY = "0123456789abcdefABCDEF0123456789abcdef01"  # 40 hex digits: 20 bytes of password (SEC-05)
PASSWORD = bytes.fromhex(KEY)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


def tls_central_system(cert_and_key, password=PASSWORD):
    server = CentralSystemThread(boot_plan=[("Accepted", 60)], ssl=server_context(cert_and_key)).start()
    if password is not None:
        server.passwords[CP] = password
    return server


@pytest.fixture
def tls_cs(pki):
    server = tls_central_system(pki.server)
    yield server
    server.stop()


def profile_2(port, pki, key=KEY, ca=None, cp_id=CP):
    """config.json for profile 2: a wss:// url makes it the default profile."""
    return {"centralSystem": {"url": "wss://127.0.0.1:%d/ocpp" % port, "authorizationKey": key, "caFile": str(ca or pki.ca_der), "chargePointId": cp_id}}


def get_key(cs, name):
    res = cs.call(CP, call.GetConfiguration(key=[name]))
    return res.configuration_key[0].get("value")


def change(cs, key, value):
    return cs.call(CP, call.ChangeConfiguration(key=key, value=value)).status


def round_trip_on_same_link(cs):
    """A GetConfiguration answered on the first connection: proof that nothing dropped the link before it."""
    get_key(cs, "HeartbeatInterval")
    assert len(cs.connections) == 1


def assert_no_key_in(text, *keys):
    for key in keys:
        variants = {key, key.lower(), key.upper()}
        try:
            raw = bytes.fromhex(key)
            variants.add(base64.b64encode(raw).decode())
        except ValueError:
            raw = key.encode()
        variants.add(basic_authorization(CP, raw).split(" ", 1)[1])
        for v in variants:
            assert v not in text, "a form of the key is in the log"


def test_j16_example_and_plain_text_passwords():
    """SEC-03, SEC-05 (J16 6.2.2, TC_085): 32..40 hex digits are the password's bytes, 16..20 characters the text itself."""
    code = """
from uocpp.link.handshake import basic_authorization as b
from uocpp.model.keytable import auth_key_ok as ok
print(b("AL1000", "0001020304050607FFFFFFFFFFFFFFFFFFFFFFFF"))
print(b("CP001", "sixteen-chars-pw"))
print(b("CP001", "00112233445566778899aabbccddeeff"))
print([ok(k) for k in ("0001020304050607FFFFFFFFFFFFFFFFFFFFFFFF", "sixteen-chars-pw", "twenty-characters-pw", "fifteen-chars-p", "twentyone-characters!", "0" * 42, "0" * 31, "with space inside 16")])
"""
    out = run_micropython(code).stdout.split("\n")
    assert out[0] == "Basic QUwxMDAwOgABAgMEBQYH////////////////"
    assert base64.b64decode(out[0][6:]) == b"AL1000:" + bytes(range(8)) + b"\xff" * 12
    assert out[1] == basic_authorization("CP001", "sixteen-chars-pw")
    assert out[2] == basic_authorization("CP001", bytes.fromhex("00112233445566778899aabbccddeeff"))
    # 16..20 printable characters or 32..40 hex digits; 21 characters is neither (SEC-04, SEC-11).
    assert out[3] == "[True, True, True, False, False, False, False, False]"


def test_profile_2_registers_over_tls_with_basic_auth(pki, firmware):
    """SEC-01, SEC-03, SEC-05, SEC-07, SEC-08: wss:// with TLS 1.2, the server certificate checked, the J16 example's header."""
    key = "0001020304050607FFFFFFFFFFFFFFFFFFFFFFFF"
    cs = tls_central_system(pki.server, None)
    cs.passwords["AL1000"] = bytes.fromhex(key)
    try:
        fw = firmware(cs.port, profile_2(cs.port, pki, key, cp_id="AL1000"))
        cs.wait_received("BootNotification")
        fw.wait_log("registration Accepted")
        assert cs.upgrades == [("AL1000", "Basic QUwxMDAwOgABAgMEBQYH////////////////", 101)]
        tls = cs.connections[0][1].transport.get_extra_info("ssl_object")
        assert tls.version() == "TLSv1.2"
        log = fw.log
        assert log.index("clock: kept by the host") < log.index("connecting to wss://127.0.0.1:%d/ocpp/AL1000" % cs.port)
        assert_no_key_in(log, key)
    finally:
        cs.stop()


def test_wrong_password_is_answered_401_then_backs_off(pki, tls_cs, firmware):
    """SEC-03, J-05, BO-02: every attempt carries Basic auth; a wrong password gets 401 and the usual back-off."""
    wrong = "a-wrong-password-17"
    fw = firmware(tls_cs.port, profile_2(tls_cs.port, pki, wrong))
    fw.wait_log(r"HTTP 401.*backing off 0\.2 s", timeout=10)
    fw.wait_log(r"HTTP 401.*backing off 0\.4 s", timeout=10)
    attempts = list(tls_cs.upgrades)
    assert len(attempts) >= 2
    assert all(a == (CP, basic_authorization(CP, wrong), 401) for a in attempts)
    assert tls_cs.received("BootNotification") == []
    tls_cs.passwords[CP] = wrong  # the central system learns this password: the next attempt gets in
    tls_cs.wait_received("BootNotification", timeout=10)
    assert_no_key_in(fw.log, wrong)


@pytest.mark.parametrize(
    "case,reason",
    [
        ("wrong_ca", "not correctly signed by the trusted CA"),
        ("wrong_host", r"Common Name \(CN\) does not match"),
    ],
)
def test_untrusted_server_certificate_is_refused(pki, firmware, case, reason):
    """SEC-08: a server certificate from another CA, or for another host name, ends the connection before any HTTP; logged, back-off."""
    cs = tls_central_system(pki.wrong_host if case == "wrong_host" else pki.server)
    try:
        ca = pki.other_ca_der if case == "wrong_ca" else pki.ca_der
        fw = firmware(cs.port, profile_2(cs.port, pki, ca=ca))
        fw.wait_log(r"InvalidCentralSystemCertificate \(.*" + reason, timeout=10)
        fw.wait_log(r"connect failed: .*" + reason + r".*backing off 0\.2 s", timeout=10)
        fw.wait_log(r"connect failed: .*" + reason + r".*backing off 0\.4 s", timeout=10)
        assert cs.upgrades == []  # no request (and no password) ever reached the server
        assert cs.connections == []
    finally:
        cs.stop()


def test_pem_ca_file_is_refused_with_the_conversion_hint(pki, tls_cs, firmware):
    """SEC-08: mbedTLS takes DER only; a PEM CA is named with the openssl command that converts it."""
    fw = firmware(tls_cs.port, profile_2(tls_cs.port, pki, ca=pki.ca_pem))
    fw.wait_log(r"connect failed: .*ca\.pem.*openssl x509 -in ca\.pem -outform der -out ca\.der.*backing off", timeout=10)
    assert tls_cs.upgrades == []


def test_key_change_reconnects_with_the_new_password_and_no_key_is_logged(pki, tls_cs, firmware):
    """SEC-04, SEC-05, SEC-10, CFG-10: AuthorizationKey Accepted -> reconnect with the new password; no form of either key in the debug log."""
    fw = firmware(tls_cs.port, profile_2(tls_cs.port, pki))
    tls_cs.wait_received("BootNotification")
    fw.wait_log("registration Accepted")
    new_key = secrets.token_hex(18)  # 36 hex digits: 18 bytes
    tls_cs.passwords[CP] = bytes.fromhex(new_key)
    assert change(tls_cs, "AuthorizationKey", new_key) == "Accepted"
    dropped = float(fw.wait_log(r"^(\d+\.\d+) I link: dropping the connection: new AuthorizationKey").group(1))
    tls_cs.wait_for(lambda fs: len(tls_cs.connections) >= 2, 10, "a reconnect")
    back = float(fw.wait_log(r"^(\d+\.\d+) I link: connected \(connection 2\)").group(1))
    # Back-off 0.2 s plus a TLS handshake; the close must not wait out its 2 s limit over TLS.
    assert back - dropped < 1.5
    assert tls_cs.upgrades == [(CP, basic_authorization(CP, PASSWORD), 101), (CP, basic_authorization(CP, bytes.fromhex(new_key)), 101)]
    everything = tls_cs.call(CP, call.GetConfiguration())
    assert new_key not in json.dumps(everything.configuration_key)
    assert new_key.lower() not in json.dumps(everything.configuration_key).lower()
    fw.wait_log(r"frame: << .*GetConfiguration")  # debug level: frames are in the log
    assert "frame withheld: it carries an AuthorizationKey" in fw.log
    assert_no_key_in(fw.log, KEY, new_key)


def test_malformed_keys_are_rejected_and_change_nothing(firmware, cs):
    """SEC-04, SEC-11: under 16 bytes, 21+ characters, odd or over 40 hex digits, a space -> Rejected; no reconnect, the old password stays."""
    cs.passwords[CP] = "password-sixteen"
    fw = firmware(cs.port, {"centralSystem": {"authorizationKey": "password-sixteen"}})
    cs.wait_received("BootNotification")
    fw.wait_log("registration Accepted")
    for bad in ("short", "fifteen-chars-p", "0" * 31, "0" * 42, "twentyone-characters!", "with a space inside"):
        assert change(cs, "AuthorizationKey", bad) == "Rejected", bad
    round_trip_on_same_link(cs)
    assert "dropping the connection" not in fw.log
    assert cs.upgrades == [(CP, basic_authorization(CP, "password-sixteen"), 101)]
    assert_no_key_in(fw.log, "password-sixteen")


def test_malformed_key_in_config_is_a_named_error(firmware):
    """SEC-11: config.json's authorizationKey follows the same rule; the message names it but never shows it."""
    fw = firmware(1, {"centralSystem": {"authorizationKey": "tooshort-secret"}})
    assert fw.wait_exit(10) == EXIT_CONFIG
    assert "centralSystem.authorizationKey: must be 16 to 20 printable ASCII characters or 32 to 40 hex digits" in fw.log
    assert "tooshort-secret" not in fw.log


def test_profile_downgrade_or_same_is_rejected(pki, tls_cs, firmware):
    """SEC-02, SEC-12: SecurityProfile at or below the current one -> Rejected, no change, no reconnect."""
    fw = firmware(tls_cs.port, profile_2(tls_cs.port, pki))
    tls_cs.wait_received("BootNotification")
    assert get_key(tls_cs, "SecurityProfile") == "2"
    for value in ("1", "0", "2", "3", "-1"):
        assert change(tls_cs, "SecurityProfile", value) == "Rejected", value
    fw.wait_log(r"SecurityProfile 1 refused: not above the current profile 2")
    assert get_key(tls_cs, "SecurityProfile") == "2"
    round_trip_on_same_link(tls_cs)
    assert "dropping the connection" not in fw.log


def test_raising_needs_a_key_then_a_ca(cs, firmware):
    """SEC-12: 0 -> 1 without an AuthorizationKey, and -> 2 without a CA: Rejected; with a key, 0 -> 1 reconnects with Basic auth."""
    fw = firmware(cs.port)  # no key: profile 0
    cs.wait_received("BootNotification")
    assert get_key(cs, "SecurityProfile") == "0"
    assert change(cs, "SecurityProfile", "1") == "Rejected"
    assert change(cs, "SecurityProfile", "2") == "Rejected"
    fw.wait_log("SecurityProfile 1 refused: no valid AuthorizationKey")
    assert change(cs, "AuthorizationKey", KEY) == "Accepted"
    cs.wait_for(lambda fs: len(cs.connections) >= 2, 10, "a reconnect after the key change")
    assert cs.upgrades == [(CP, None, 101), (CP, None, 101)]  # profile 0 sends no credentials
    cs.passwords[CP] = PASSWORD  # from now on the central system insists on them
    assert change(cs, "SecurityProfile", "2") == "Rejected"
    fw.wait_log(r"SecurityProfile 2 refused: no wss:// url")
    assert change(cs, "SecurityProfile", "1") == "Accepted"
    cs.wait_for(lambda fs: len(cs.connections) >= 3, 10, "a reconnect at profile 1")
    assert cs.upgrades[-1] == (CP, basic_authorization(CP, PASSWORD), 101)
    fw.wait_log("SecurityProfile 1 connected: kept")
    assert get_key(cs, "SecurityProfile") == "1"


def start_at_profile_1(pki, firmware, plain, secure_port, workdir):
    """Profile 1 against `plain`, with a wss:// url and the CA ready for a raise to 2."""
    cfg = {"centralSystem": {"authorizationKey": KEY, "secureUrl": "wss://127.0.0.1:%d/ocpp" % secure_port, "caFile": str(pki.ca_der)}}
    plain.passwords[CP] = PASSWORD
    fw = firmware(plain.port, cfg, workdir=workdir)
    plain.wait_received("BootNotification")
    fw.wait_log("registration Accepted")
    assert get_key(plain, "SecurityProfile") == "1"
    return fw, cfg


def test_raise_to_2_moves_to_wss_and_persists(pki, cs, tls_cs, firmware, tmp_path):
    """SEC-12, SEC-02: 1 -> 2 Accepted -> reconnect to the wss:// url with TLS and Basic auth; after a restart still 2."""
    fw, cfg = start_at_profile_1(pki, firmware, cs, tls_cs.port, tmp_path / "cp")
    assert change(cs, "SecurityProfile", "2") == "Accepted"
    tls_cs.wait_for(lambda fs: len(tls_cs.connections) >= 1, 10, "a connection over wss://")
    assert tls_cs.upgrades == [(CP, basic_authorization(CP, PASSWORD), 101)]
    fw.wait_log("SecurityProfile 2 connected: kept")
    assert get_key(tls_cs, "SecurityProfile") == "2"
    fw.stop()
    # A power cycle: profile 2 is stored and wins; the ws:// url is not tried again.
    again = firmware(cs.port, cfg, workdir=tmp_path / "cp")
    tls_cs.wait_for(lambda fs: len(tls_cs.connections) >= 2, 10, "a wss:// connection after the restart")
    assert len(cs.connections) == 1
    assert again.wait_log(r"connecting to (\S+)").group(1) == "wss://127.0.0.1:%d/ocpp/CP001" % tls_cs.port


def test_raised_profile_that_cannot_connect_falls_back(pki, cs, firmware, tmp_path):
    """SEC-12: 1 -> 2 Accepted, but the wss:// server's certificate is for another host: back to 1, stored across a restart."""
    bad = tls_central_system(pki.wrong_host)
    try:
        fw, cfg = start_at_profile_1(pki, firmware, cs, bad.port, tmp_path / "cp")
        assert change(cs, "SecurityProfile", "2") == "Accepted"
        fw.wait_log("SecurityProfile 2 failed to connect 3 times: falling back to 1")
        cs.wait_for(lambda fs: len(cs.connections) >= 2, 10, "a reconnect at profile 1")
        assert cs.upgrades[-1] == (CP, basic_authorization(CP, PASSWORD), 101)
        assert get_key(cs, "SecurityProfile") == "1"
        assert bad.upgrades == []
        fw.stop()
        again = firmware(cs.port, cfg, workdir=tmp_path / "cp")
        cs.wait_for(lambda fs: len(cs.connections) >= 3, 10, "a connection at profile 1 after the restart")
        again.wait_log("registration Accepted")
        assert bad.upgrades == [] and "wss://" not in again.wait_log(r"connecting to (\S+)").group(1)
    finally:
        bad.stop()


def test_a_trial_cut_short_by_a_power_loss_still_falls_back(pki, cs, firmware, tmp_path):
    """SEC-12: the old profile is kept on flash during the trial; a restart in the middle still falls back."""
    closed_port = free_port()  # nothing listens there: the profile 2 attempt fails
    flash = tmp_path / "cp" / "flash"
    flash.mkdir(parents=True)
    # What the flash holds right after an Accepted raise 1 -> 2, before the new connection succeeded.
    (flash / "keys.json").write_text(json.dumps({"SecurityProfile": "2"}))
    (flash / "security.json").write_text(json.dumps({"fallback": 1}))
    cs.passwords[CP] = PASSWORD
    cfg = {"centralSystem": {"authorizationKey": KEY, "secureUrl": "wss://127.0.0.1:%d/ocpp" % closed_port, "caFile": str(pki.ca_der)}}
    fw = firmware(cs.port, cfg, workdir=tmp_path / "cp")
    fw.wait_log("SecurityProfile 2 still on trial")
    fw.wait_log("SecurityProfile 2 failed to connect 3 times: falling back to 1")
    cs.wait_received("BootNotification")
    assert json.loads((flash / "keys.json").read_text())["SecurityProfile"] == "1"
    assert json.loads((flash / "security.json").read_text()) == {}


def test_security_settings_are_checked_together(pki, tmp_path):
    """SEC-01, SEC-02: config.json's profile, url, key and CA must fit one profile; each problem is named."""
    code = """
from uocpp.config import settings
base = {"chargePoint": {"chargePointVendor": "V", "chargePointModel": "M"}}
def check(cs):
    doc = dict(base, centralSystem=dict({"chargePointId": "CP001"}, **cs))
    out, _, problems = settings.validate(doc)
    print(problems or out["centralSystem"]["securityProfile"])
check({"url": "ws://h/o"})
check({"url": "ws://h/o", "authorizationKey": "password-sixteen"})
check({"url": "ws://h/o", "authorizationKey": "password-sixteen", "securityProfile": 0})
check({"url": "wss://h/o", "authorizationKey": "password-sixteen", "caFile": "%(ca)s"})
check({"url": "wss://h/o", "authorizationKey": "password-sixteen", "caFile": "%(ca)s", "securityProfile": 1})
check({"url": "wss://h/o"})
check({"url": "ws://h/o", "securityProfile": 2, "authorizationKey": "password-sixteen", "caFile": "%(missing)s"})
check({"url": "ws://h/o", "secureUrl": "ws://h/o"})
""" % {"ca": pki.ca_der, "missing": tmp_path / "absent.der"}
    out = run_micropython(code).stdout.strip().split("\n")
    assert out[:4] == ["0", "1", "0", "2"]
    assert "wss:// is security profile 2, not 1" in out[4]
    assert "centralSystem.authorizationKey: required by security profile 2" in out[5]
    assert "centralSystem.caFile: required by security profile 2" in out[5]
    assert "centralSystem.secureUrl: required by security profile 2" in out[6]
    assert "centralSystem.caFile: cannot be read" in out[6]
    assert "centralSystem.secureUrl: must start with wss://" in out[7]


NTP_FAKES = {
    # Hardware a PC lacks, for lib/ocpp/platform/esp32.py: the RTC and the network.
    "machine.py": "class RTC:\n    set = []\n    def datetime(self, t):\n        RTC.set.append(t)\n",
    "network.py": "",
    "ntptime.py": (
        "import machine\nhost = None\ncalls = 0\nreachable = False\n"
        "def settime():\n    global calls\n    calls += 1\n"
        "    if not reachable:\n        raise OSError(110)\n"
        "    machine.RTC().datetime((2031, 5, 6, 2, 7, 8, 9, 0))\n"
    ),
}


@pytest.mark.parametrize("reachable", [True, False])
def test_esp32_sets_the_clock_by_ntp_before_tls(tmp_path, reachable):
    """SEC-08: on a device the clock is set by NTP first; out of reach, after about ntp.timeout the RTC is raised to the build date."""
    for name, text in NTP_FAKES.items():
        (tmp_path / name).write_text(text)
    code = """
import sys, time
sys.path.insert(0, %(fakes)r)
import asyncio, machine, ntptime
ntptime.reachable = %(reachable)r
from uocpp.platform import esp32
class Rtc:  # a device RTC that was never set: 2000-01-01
    ticks_ms, ticks_add, ticks_diff, gmtime = time.ticks_ms, time.ticks_add, time.ticks_diff, time.gmtime
    def time():
        return 946684800
esp32.time = Rtc
t0 = time.ticks_ms()
ok = asyncio.run(esp32.sync_clock({"ntp": {"server": "ntp.example", "timeout": 1}}))
print(ok, ntptime.host, ntptime.calls, time.ticks_diff(time.ticks_ms(), t0), machine.RTC.set)
""" % {"fakes": str(tmp_path), "reachable": reachable}
    res = run_micropython(code)
    ok, host, calls, elapsed_ms, rtc = res.stdout.strip().split("\n")[-1].split(" ", 4)
    assert host == "ntp.example"
    if reachable:
        assert (ok, calls, rtc) == ("True", "1", "[(2031, 5, 6, 2, 7, 8, 9, 0)]")
        assert "clock: set by NTP from ntp.example" in res.stdout
    else:
        # Bounded: tried for about ntp.timeout (1 s), then the RTC is set to
        # the MicroPython build date ("... on 2026-07-05" in sys.version).
        build = run_micropython("import sys; print(sys.version)").stdout.strip().rsplit(" on ", 1)[1]
        y, m, d = (int(x) for x in build.split("-"))
        assert ok == "False" and int(calls) >= 2 and 900 <= int(elapsed_ms) <= 3000
        assert rtc.startswith("[(%d, %d, %d, " % (y, m, d)) and rtc.endswith(", 0, 0, 0, 0)]")
        assert "NTP ntp.example: [Errno 110]" in res.stdout and "RTC raised to the build date" in res.stdout


def test_a_raised_profile_survives_one_failed_attempt(cs, firmware):
    """SEC-12: 0 -> 1 Accepted, and the first connection at profile 1 meets a central system answering 503 (restarting):
    one failed attempt is not a profile that cannot connect; the next attempt, at profile 1, registers and keeps it."""
    fw = firmware(cs.port)
    fw.wait_log("registration Accepted")
    assert change(cs, "AuthorizationKey", KEY) == "Accepted"
    cs.wait_for(lambda fs: len(cs.connections) >= 2, 10, "a reconnect after the key change")
    fw.wait_log("connected \\(connection 2\\)")
    cs.passwords[CP] = PASSWORD
    cs.http_status = 503
    assert change(cs, "SecurityProfile", "1") == "Accepted"
    fw.wait_log("SecurityProfile 0 -> 1: reconnecting")
    fw.wait_log("503")
    cs.http_status = None
    cs.wait_for(lambda fs: len(cs.connections) >= 3, 10, "a reconnect")
    assert cs.upgrades[-1] == (CP, basic_authorization(CP, PASSWORD), 101)
    fw.wait_log("SecurityProfile 1 connected: kept")
    assert "falling back" not in fw.log
    assert get_key(cs, "SecurityProfile") == "1"


def test_a_trial_counts_its_failures_across_a_restart(pki, cs, firmware, tmp_path):
    """SEC-12: two attempts of profile 2 failed before a power cut (on flash): the first failure after the restart is
    the third, and falls back; a restart does not start the count again."""
    closed_port = free_port()
    flash = tmp_path / "cp" / "flash"
    flash.mkdir(parents=True)
    (flash / "keys.json").write_text(json.dumps({"SecurityProfile": "2"}))
    (flash / "security.json").write_text(json.dumps({"fallback": 1, "failed": 2}))
    cs.passwords[CP] = PASSWORD
    cfg = {"centralSystem": {"authorizationKey": KEY, "secureUrl": "wss://127.0.0.1:%d/ocpp" % closed_port, "caFile": str(pki.ca_der)}}
    fw = firmware(cs.port, cfg, workdir=tmp_path / "cp")
    fw.wait_log("SecurityProfile 2 failed to connect 3 times: falling back to 1")
    cs.wait_received("BootNotification")
    assert "attempts): kept for now" not in fw.log
    assert json.loads((flash / "security.json").read_text()) == {}
