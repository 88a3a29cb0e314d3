"""The MQTT status mirror, end to end: firmware on the unix port, the `ocpp`
central system, a real mosquitto on 127.0.0.1 and real subscribers
(mosquitto_sub). Timing checks prove the OCPP loop never waits on MQTT.
"""

import json
import re
import time

import pytest
from ocpp.v16 import call

from harness.net import free_port, tracked
from harness.firmware import EXIT_CONFIG, FAST, merge, run_micropython
from harness.mqtt_broker import StalledBroker, Subscriber, mirror_config

# A broker may delay a Heartbeat or a CALL reply by at most 100 ms; the slack
# covers scheduling on a loaded 2-core CI machine (measured idle: < 10 ms).
BUDGET = 0.1
SLACK = 0.15
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
BASE = "ocpp/CP001/"


@pytest.fixture
def subscriber():
    with tracked(lambda s: s.stop()) as track:
        yield lambda port, topic=BASE + "#", **auth: track(Subscriber(port, topic, **auth))


def mqtt(port, **over):
    return {"mqtt": mirror_config(port, **over)}


def heartbeat_times(cs):
    """The central system's currentTime of every Heartbeat reply, as the mirror formats it."""
    calls = {f.msg[1] for f in cs.received("Heartbeat")}
    return {f.payload["currentTime"][:19] + "Z" for f in cs.frames if f.direction == "out" and f.kind == 3 and f.msg[1] in calls}


def wait_published(b, topic, payload, client="CP001", count=1):
    """Until the broker has received `count` retained PUBLISHes on topic with a payload
    of that length (so a new subscriber must find it)."""
    size = len(payload) if isinstance(payload, str) else payload
    b.wait_log(r"Received PUBLISH from %s \(d0, q0, r1, m0, '%s', \.\.\. \(%d bytes\)\)" % (re.escape(client), re.escape(topic), size), count=count)


def late_subscriber(subscriber, b, count=1):
    """A subscriber that connects once the broker holds the whole state after boot."""
    for key, payload in (("availability", "online"), ("registration", "Accepted"), ("connection", "connected"), ("lastHeartbeat", 20)):
        wait_published(b, BASE + key, payload, count=count if key == "connection" else 1)
    return subscriber(b.port)


def wait_retained_state(sub, registration="Accepted", connection="connected"):
    sub.wait_value(BASE + "availability", "online", retained=True)
    sub.wait_value(BASE + "registration", registration, retained=True)
    sub.wait_value(BASE + "connection", connection, retained=True)
    return sub.wait_value(BASE + "lastHeartbeat", ISO, retained=True)


def assert_ocpp_timing_holds(cs, beats=4, probes=12):
    """Heartbeats keep their 1 s cadence, and TriggerMessage CALLs spread over
    the mirror's retry cycle are all answered at once."""
    n = len(cs.received("Heartbeat"))
    got = cs.wait_received("Heartbeat", count=n + beats + 1, timeout=beats + 5)[n:]
    gaps = [b.t - a.t for a, b in zip(got, got[1:])]
    assert all(1 - 0.05 <= g <= 1 + BUDGET + SLACK for g in gaps), gaps
    rtts = []
    for _ in range(probes):
        t0 = time.monotonic()
        reply = cs.call("CP001", call.TriggerMessage(requested_message="Heartbeat"))
        rtts.append(time.monotonic() - t0)
        assert reply.status == "Accepted"
        # The spacing is the probe schedule (not a wait for an event): 0.17 s
        # is commensurate with no retry period, so the probes sample every
        # phase of the mirror's connect/wait cycle.
        time.sleep(0.17)
    assert max(rtts) <= BUDGET + SLACK, ["%.3f" % r for r in rtts]
    print("heartbeat gaps %s, TriggerMessage round trips %s" % (["%.3f" % g for g in gaps], ["%.3f" % r for r in rtts]))


def test_retained_state_after_boot(cs, firmware, broker, subscriber):
    """BN-05, HB-01: after boot a new subscriber finds the retained state: online, Accepted, connected, lastHeartbeat."""
    cs.boot_plan[:] = [("Accepted", 1)]
    b = broker()
    fw = firmware(cs.port, mqtt(b.port))
    cs.wait_received("Heartbeat", count=2)
    fw.wait_log(r"mqtt: connected to 127\.0\.0\.1:%d \(session 1\)" % b.port)
    sub = late_subscriber(subscriber, b)
    last = wait_retained_state(sub)
    assert last[3] in heartbeat_times(cs)
    assert all(retained for _, retained, _, _ in sub.messages[:4])  # a late subscriber gets them: retained
    b.wait_log(r"New client connected from 127\.0\.0\.1:\d+ as CP001 .*k5")
    b.wait_log(r"Will message specified \(7 bytes\) \(r1, q0\)")


def test_state_follows_a_reconnect_of_the_ocpp_link(cs, firmware, broker, subscriber):
    """BO-06, J-24: the link drops -> connection disconnected, lastError set; back -> connected, heartbeats published."""
    cs.boot_plan[:] = [("Accepted", 1)]
    b = broker()
    sub = subscriber(b.port)
    fw = firmware(cs.port, mqtt(b.port))
    sub.wait_value(BASE + "connection", "connected")
    cs.wait_received("Heartbeat")
    cs.run(cs.connections[0][1].close())
    sub.wait_value(BASE + "connection", "disconnected")
    sub.wait_value(BASE + "lastError", "connection lost")
    fw.wait_log(r"link: connected \(connection 2\)")
    n = len(cs.received("Heartbeat"))
    cs.wait_received("Heartbeat", count=n + 1, timeout=5)
    late = late_subscriber(subscriber, b, count=2)
    last = wait_retained_state(late)
    assert last[3] in heartbeat_times(cs)
    topics = [m[2] for m in sub.messages]
    assert topics.count(BASE + "connection") >= 3  # connected, disconnected, connected


def test_last_will_marks_the_charger_offline_when_killed(cs, firmware, broker, subscriber):
    """The broker publishes the last will (offline, retained) when the firmware dies with SIGKILL."""
    b = broker()
    sub = subscriber(b.port)
    fw = firmware(cs.port, mqtt(b.port, keepalive=60))
    sub.wait_value(BASE + "availability", "online")
    sub.wait_value(BASE + "registration", "Accepted")
    fw.kill()
    sub.wait_value(BASE + "availability", "offline", timeout=5)
    late = subscriber(b.port)
    late.wait_value(BASE + "availability", "offline", retained=True)
    late.wait_value(BASE + "registration", "Accepted", retained=True)  # the last known state stays


def test_broker_restart_gets_every_field_again(cs, firmware, broker, subscriber):
    """The mirror reconnects with its own back-off and republishes all fields to a broker that lost them."""
    cs.boot_plan[:] = [("Accepted", 1)]
    b = broker()
    fw = firmware(cs.port, mqtt(b.port))
    fw.wait_log(r"mqtt: connected .*session 1")
    cs.wait_received("Heartbeat")
    b.stop()
    fw.wait_log(r"mqtt: 127\.0\.0\.1:%d: .*retrying in 0\.2 s" % b.port, count=2)
    b2 = broker(port=b.port)  # persistence off: no retained message survived
    fw.wait_log(r"mqtt: connected .*session 2", timeout=5)
    wait_retained_state(late_subscriber(subscriber, b2))
    assert len(cs.received("BootNotification")) == 1


def test_a_long_broker_outage_keeps_the_flash_log_from_before_it(cs, firmware):
    """Every reconnect attempt to a broker that is gone wrote its "retrying in" line to the flash log (log.flashLevel
    info, a 32 KB ring; one a minute at the default back-off): hours without the broker and the log from before
    the outage was gone. The first attempts are said, then only the 8th, 16th, 32nd... (the console, at debug, all)."""
    fw = firmware(cs.port, mqtt(free_port(), reconnectMinimum=0.05))
    fw.wait_log(r"mqtt: 127\.0\.0\.1:\d+: .*retrying in", count=150, timeout=60)
    text = "".join(p.read_text() for p in sorted((fw.flash / "log").glob("*.txt")))
    lines = [line for line in text.splitlines() if " mqtt: " in line and "retrying in" in line]
    assert 5 <= len(lines) <= 20, len(lines)


def test_user_and_password(cs, firmware, broker, subscriber):
    """The broker's password file admits the configured user; the password never reaches the log (debug level)."""
    password = "mqtt-Pa55word-xyz"
    b = broker(users={"charger": password})
    fw = firmware(cs.port, mqtt(b.port, user="charger", password=password, clientId="charger-7", topicPrefix="site/a"))
    fw.wait_log(r"mqtt: connected .*publishing under site/a/CP001/")
    b.wait_log(r"New client connected .* as charger-7 .*u'charger'")
    wait_published(b, "site/a/CP001/registration", "Accepted", "charger-7")
    sub = subscriber(b.port, "site/a/CP001/#", user="charger", password=password)
    sub.wait_value("site/a/CP001/registration", "Accepted", retained=True)
    assert password not in fw.log


def test_mqtt_password_is_masked_in_every_log_line(tmp_path):
    """mqtt.password is registered as a secret at boot, like centralSystem.authorizationKey."""
    path = tmp_path / "config.json"
    path.write_text(json.dumps(merge(FAST, {"centralSystem": {"url": "ws://127.0.0.1:1/ocpp"}, "mqtt": {"user": "charger", "password": "pw-Zq81x"}})))
    code = "from uocpp import log\nfrom uocpp.config import provision\ns = provision.load(%r)\nlog.info('t', 'leak %%s', s['mqtt']['password'])" % str(path)
    r = run_micropython(code)
    assert "t: leak ***" in r.stdout, r.stdout + r.stderr
    assert "pw-Zq81x" not in r.stdout


def test_wrong_password_is_refused_and_retried(cs, firmware, broker):
    """A refusing broker: the CONNACK code is logged, the mirror backs off, OCPP goes on."""
    password = "right-password-123"
    b = broker(users={"charger": password})
    fw = firmware(cs.port, mqtt(b.port, user="charger", password="wrong-password-456"))
    fw.wait_log(r"mqtt: .*connection refused: (not authorized|bad user name or password) \([45]\); retrying", count=2)
    fw.wait_log("registration Accepted")
    assert "wrong-password-456" not in fw.log


def test_broker_down_does_not_delay_ocpp(cs, firmware):
    """HB-02, J-18: nothing listens on the MQTT port; the mirror retries every 50 ms, OCPP keeps its timing."""
    cs.boot_plan[:] = [("Accepted", 1)]
    port = free_port()
    fw = firmware(cs.port, mqtt(port, reconnectMinimum=0.05))
    cs.wait_received("Heartbeat")
    assert_ocpp_timing_holds(cs)
    assert len(re.findall(r"mqtt: 127\.0\.0\.1:%d: .*retrying" % port, fw.log)) >= 20


@pytest.mark.parametrize("kind", ["stalled", "unreachable"])
def test_stalled_or_unreachable_broker_does_not_delay_ocpp(cs, firmware, kind):
    """HB-02, J-18: a broker that accepts TCP and never answers, or one whose SYNs go unanswered:
    each attempt waits 0.7 s for CONNACK off the loop, and OCPP keeps its timing."""
    cs.boot_plan[:] = [("Accepted", 1)]
    peer = StalledBroker(accept=kind == "stalled")
    try:
        fw = firmware(cs.port, mqtt(peer.port, timeout=0.7, reconnectMinimum=0.05))
        cs.wait_received("Heartbeat")
        assert_ocpp_timing_holds(cs)
        assert len(re.findall(r"mqtt: 127\.0\.0\.1:%d: no answer within 0\.7 s; retrying" % peer.port, fw.log)) >= 5
        if kind == "stalled":
            assert len(peer.accepted) >= 5
    finally:
        peer.close()


def test_paused_broker_does_not_delay_ocpp_and_mirror_recovers(cs, firmware, broker, subscriber):
    """HB-02, J-18: mosquitto SIGSTOPped mid-session: OCPP timing holds, the dead session is found by PINGREQ; SIGCONT -> all republished."""
    cs.boot_plan[:] = [("Accepted", 1)]
    b = broker()
    fw = firmware(cs.port, mqtt(b.port, keepalive=1, timeout=0.7))
    fw.wait_log(r"mqtt: connected .*session 1")
    cs.wait_received("Heartbeat")
    b.pause()
    try:
        assert_ocpp_timing_holds(cs)
        fw.wait_log(r"mqtt: (no PINGRESP within 0\.7 s|the broker took no data)", timeout=5)
    finally:
        b.resume()
    fw.wait_log(r"mqtt: connected .*session [2-9]", timeout=10)
    wait_retained_state(late_subscriber(subscriber, b, count=2))


def test_connector_status_and_topic_safe_ids(broker, subscriber):
    """Fields written as connector/N become <prefix>/<id>/connector/N; '/', '+', '#' in the id become '_'."""
    b = broker()
    sub = subscriber(b.port, "t/#")
    code = (
        """
import asyncio
from uocpp.config import settings
from uocpp.model.state import State
from uocpp.extras.mqtt_mirror import MqttMirror
s, _, problems = settings.validate({"chargePoint": {"chargePointVendor": "V", "chargePointModel": "M"},
    "centralSystem": {"url": "ws://127.0.0.1:1/ocpp", "chargePointId": "A/B+C#"},
    "mqtt": {"enabled": True, "host": "127.0.0.1", "port": %d, "topicPrefix": "t"}})
assert not problems, problems
state = State()
mirror = MqttMirror(s, state)
async def main():
    task = asyncio.create_task(mirror.run())
    while not mirror.sessions:
        await asyncio.sleep_ms(10)
    state.set("connector/1", "Available")
    state.set("connector/2", "Charging")
    await asyncio.sleep_ms(300)
    state.set("connector/1", "Preparing")
    await asyncio.sleep_ms(300)
    task.cancel()
asyncio.run(main())
print("done")
"""
        % b.port
    )
    r = run_micropython(code)
    assert "done" in r.stdout, r.stdout + r.stderr
    sub.wait_value("t/A_B_C_/connector/1", "Available")
    sub.wait_value("t/A_B_C_/connector/2", "Charging")
    sub.wait_value("t/A_B_C_/connector/1", "Preparing")
    sub.wait_value("t/A_B_C_/connection", "disconnected")
    sub.wait_value("t/A_B_C_/availability", "offline")  # the script ended: last will


def test_off_by_default_costs_no_import():
    """Without mqtt.enabled the mirror and umqtt are never imported; with it, both are."""
    code = """
import asyncio, sys
from uocpp.config import settings
doc = {"chargePoint": {"chargePointVendor": "V", "chargePointModel": "M"},
    "centralSystem": {"url": "ws://127.0.0.1:%d/ocpp", "chargePointId": "CP"}, "log": {"level": "error"}}
if sys.argv[-1] == "on":
    doc["mqtt"] = {"enabled": True, "host": "127.0.0.1", "port": %d}
s, _, problems = settings.validate(doc)
from uocpp.app import App
async def main():
    app = App(s)
    t = asyncio.create_task(app.run())
    await asyncio.sleep_ms(200)
    app.stop("shutdown")
    await t
asyncio.run(main())
print("mirror", "uocpp.extras.mqtt_mirror" in sys.modules, "umqtt", "umqtt.simple" in sys.modules)
""" % (free_port(), free_port())
    off = run_micropython(code.replace('sys.argv[-1] == "on"', "False"))
    on = run_micropython(code.replace('sys.argv[-1] == "on"', "True"))
    assert "mirror False umqtt False" in off.stdout, off.stdout + off.stderr
    assert "mirror True umqtt True" in on.stdout, on.stdout + on.stderr


@pytest.mark.parametrize(
    "override,expected",
    [
        ({"enabled": True}, "mqtt.host: required when mqtt.enabled is true"),
        ({"topicPrefix": "a/#"}, "mqtt.topicPrefix: must be at most 64 characters without +, # or a leading or trailing /"),
        ({"port": 0}, "mqtt.port: must be between 1 and 65535"),
        ({"enabled": "yes", "host": "h"}, "mqtt.enabled: must be a boolean, not str"),
        ({"qos": 1}, "mqtt.qos: unknown key"),
    ],
)
def test_bad_mqtt_settings_are_named(firmware, override, expected):
    """A bad mqtt section halts in the safe state (exit 78) naming the key and its rule."""
    fw = firmware(1, {"mqtt": override})
    assert fw.wait_exit(10) == EXIT_CONFIG
    assert expected in fw.log


class _CutFirstSession:
    """A TCP relay in front of the broker that ends its first connection once the client has sent `cut` bytes
    (a Wi-Fi drop in the middle of the session's first publishes); later connections pass whole."""

    def __init__(self, broker_port, cut):
        import socket
        import threading

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.cut_done = threading.Event()
        self._broker, self._cut, self._conns = broker_port, cut, []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        import socket
        import threading

        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self._broker))
            self._conns += [client, upstream]
            limit = None if self.cut_done.is_set() else self._cut
            threading.Thread(target=self._pipe, args=(client, upstream, limit), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, None), daemon=True).start()

    def _pipe(self, src, dst, limit):
        import socket

        sent = 0
        try:
            while True:
                data = src.recv(4096)
                if not data:
                    break
                if limit is not None and sent + len(data) >= limit:
                    dst.sendall(data[: limit - sent])
                    break
                dst.sendall(data)
                sent += len(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if limit is not None:
            self.cut_done.set()

    def close(self):
        self.sock.close()
        for c in self._conns:
            c.close()


def test_a_first_session_cut_short_still_clears_an_earlier_boots_registration(firmware, broker, subscriber):
    """The broker keeps an earlier boot's retained registration ("Accepted"); this boot is not registered (nothing
    listens at the central system's url), so its first MQTT session clears it. When that first session is cut
    during its discovery configs, before the clear, the next session must clear it: else Home Assistant shows
    Accepted for a charger that never registered."""
    import subprocess

    b = broker()
    subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(b.port), "-t", BASE + "registration", "-m", "Accepted", "-r"], check=True, timeout=10)
    relay = _CutFirstSession(b.port, 1500)  # CONNECT and two or three discovery configs
    try:
        fw = firmware(free_port(), mqtt(relay.port, discovery=True))
        fw.wait_log(r"mqtt: connected to 127\.0\.0\.1:%d \(session 2\)" % relay.port)
        assert relay.cut_done.is_set() and "registration Accepted" not in fw.log
        wait_published(b, BASE + "availability", "online", count=1)
        sub = subscriber(b.port)
        sub.wait_value(BASE + "availability", "online", retained=True)
        b.wait_log(r"Received PUBLISH from CP001 \(d0, q0, r1, m0, '%s', \.\.\. \(0 bytes\)\)" % re.escape(BASE + "registration"), timeout=5)
        assert BASE + "registration" not in sub.values(retained_only=True)
    finally:
        relay.close()
