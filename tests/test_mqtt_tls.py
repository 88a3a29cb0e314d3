"""MQTT over TLS (mqtt.tls, mqtt.caFile): the firmware on the unix port (mbedTLS,
TLS 1.2) against a real mosquitto whose second listener speaks TLS with
openssl-made certificates (harness/pki.py). The broker's certificate must
chain to the configured CA and name mqtt.host, and a broker that fails either
check never receives the CONNECT packet, with its credentials.
"""

import re

import pytest

from harness.net import free_port, tracked
from harness.firmware import EXIT_CONFIG, run_micropython
from harness.mqtt_broker import Broker, Subscriber
from harness.pki import make_pki

BASE = "ocpp/CP001/"
USER, PASSWORD = "charger", "tls-Pa55word-q7"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def tls_broker(tmp_path, pki):
    with tracked(lambda b: b.stop()) as track:

        def start(cert="server"):
            cert_file, key_file = getattr(pki, cert)
            workdir = str(tmp_path / ("broker%d" % len(track.started)))
            return track(Broker(workdir, free_port(), {USER: PASSWORD}, tls=(pki.ca_pem, cert_file, key_file), tls_port=free_port()).start())

        yield start


@pytest.fixture
def subscriber():
    with tracked(lambda s: s.stop()) as track:
        yield lambda port, topic=BASE + "#": track(Subscriber(port, topic, user=USER, password=PASSWORD))


def mqtt(b, ca_file, host="127.0.0.1", **over):
    cfg = {
        "enabled": True, "host": host, "port": b.tls_port, "tls": True, "caFile": str(ca_file), "user": USER, "password": PASSWORD,
        "clientId": "tls-cp", "keepalive": 5, "timeout": 2, "reconnectMinimum": 0.2, "reconnectRandomRange": 0, "reconnectRepeatTimes": 0,
    }
    cfg.update(over)
    return {"mqtt": cfg}


def test_right_ca_connects_and_publishes(cs, firmware, tls_broker, subscriber, pki):
    """MQ-01: the broker's certificate chains to mqtt.caFile and names 127.0.0.1: TLS session, user and password accepted, state published."""
    b = tls_broker()
    sub = subscriber(b.port)
    fw = firmware(cs.port, mqtt(b, pki.ca_der))
    fw.wait_log(r"mqtt: connected to 127\.0\.0\.1:%d \(TLS\) \(session 1\)" % b.tls_port)
    b.wait_log(r"New client connected from 127\.0\.0\.1:\d+ as tls-cp .*u'%s'" % USER)
    sub.wait_value(BASE + "availability", "online")
    sub.wait_value(BASE + "registration", "Accepted")
    late = subscriber(b.port)  # what came over TLS was stored, retained
    late.wait_value(BASE + "registration", "Accepted", retained=True)
    assert PASSWORD not in fw.log


def test_localhost_is_a_name_the_certificate_has(cs, firmware, tls_broker, subscriber, pki):
    """MQ-01: a DNS name of the certificate's subjectAltName (localhost) passes the host check too."""
    b = tls_broker()
    fw = firmware(cs.port, mqtt(b, pki.ca_der, host="localhost"))
    fw.wait_log(r"mqtt: connected to localhost:%d \(TLS\)" % b.tls_port)
    b.wait_log(r"New client connected .* as tls-cp ")


@pytest.mark.parametrize(
    "case,problem,alert",
    [
        # mbedTLS's words for the refusal, and the TLS alert the broker then logs.
        ("wrong CA", r"The certificate is not correctly signed by the trusted CA", "unknown ca"),
        ("wrong host", r"The certificate Common Name \(CN\) does not match with the expected CN", "bad certificate"),
    ],
)
def test_untrusted_broker_never_gets_the_credentials(cs, firmware, tls_broker, pki, case, problem, alert):
    """MQ-01, MQ-02: a broker the CA does not vouch for, or whose certificate names another host, is
    refused in the TLS handshake: the log names the certificate problem, the mirror retries, and
    the broker never saw a CONNECT (no client id, no user name, no password)."""
    if case == "wrong CA":
        b, ca = tls_broker(), pki.other_ca_der
    else:
        b, ca = tls_broker("wrong_host"), pki.ca_der
    fw = firmware(cs.port, mqtt(b, ca))
    fw.wait_log(r"mqtt: 127\.0\.0\.1:%d: TLS: the broker's certificate is refused: %s; retrying in 0\.2 s" % (b.tls_port, problem), count=2)
    # The broker saw each handshake end with the client's alert, and nothing after it.
    b.wait_log(r"New connection from 127\.0\.0\.1:\d+ on port %d" % b.tls_port, count=2)
    b.wait_log(r"OpenSSL Error\[0\]: .*alert %s" % alert, count=2)
    assert not re.search(r"New client connected", b.log), b.log
    assert "tls-cp" not in b.log and USER not in b.log
    fw.wait_log("registration Accepted")  # OCPP went on
    assert "connected to 127.0.0.1:%d" % b.tls_port not in fw.log


def test_ca_file_rules_are_named(firmware, tmp_path):
    """MQ-01: mqtt.tls without mqtt.caFile, or with one that cannot be read, halts naming the key and rule."""
    fw = firmware(1, {"mqtt": {"enabled": True, "host": "h", "tls": True}})
    assert fw.wait_exit(10) == EXIT_CONFIG
    assert "mqtt.caFile: required when mqtt.tls is true" in fw.log
    fw = firmware(1, {"mqtt": {"enabled": True, "host": "h", "tls": True, "caFile": str(tmp_path / "missing.der")}})
    assert fw.wait_exit(10) == EXIT_CONFIG
    assert "mqtt.caFile: cannot be read" in fw.log


def test_a_pem_ca_is_refused_with_the_hint(cs, firmware, tls_broker, pki):
    """A PEM file where DER is expected: each attempt says so (with the openssl command), nothing is sent."""
    b = tls_broker()
    fw = firmware(cs.port, mqtt(b, pki.ca_pem))
    fw.wait_log(r"mqtt: 127\.0\.0\.1:%d: TLS: .*DER expected.*; retrying" % b.tls_port, count=2)
    assert "New client connected" not in b.log


def test_tls_code_loads_only_when_on():
    """link/tls.py (and ssl) are imported by the mirror only with mqtt.tls on."""
    code = """
import sys
from uocpp.config import settings
from uocpp.model.state import State
from uocpp.extras.mqtt_mirror import MqttMirror
s, _, problems = settings.validate({"chargePoint": {"chargePointVendor": "V", "chargePointModel": "M"},
    "centralSystem": {"url": "ws://127.0.0.1:1/ocpp", "chargePointId": "CP"}, "mqtt": {"enabled": True, "host": "127.0.0.1", "port": %d}})
assert not problems, problems
MqttMirror(s, State())
print("tls", "uocpp.link.tls" in sys.modules, "ssl", "ssl" in sys.modules)
""" % free_port()
    r = run_micropython(code)
    assert "tls False ssl False" in r.stdout, r.stdout + r.stderr
