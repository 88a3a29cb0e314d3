"""Home Assistant MQTT discovery (mqtt.discovery), end to end: the firmware on
the unix port, a real mosquitto, mosquitto_sub on the CPython side. Every
config is checked against Home Assistant's documented discovery schema
(https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery and the
sensor / binary_sensor pages), as written down in check_config() below, and
every state topic a config names must receive values.
"""

import json
import re
import subprocess

import pytest

from harness.net import tracked
from harness.firmware import run_micropython
from harness.mqtt_broker import Subscriber, mirror_config

BASE = "ocpp/CP001/"
PREFIX = "homeassistant"
NODE = "CP001"


@pytest.fixture
def subscriber():
    with tracked(lambda s: s.stop()) as track:
        yield lambda port, topic="#": track(Subscriber(port, topic))


def mqtt(port, **over):
    return {"mqtt": mirror_config(port, **over)}


# -- Home Assistant's discovery schema, as documented ---------------------------
# What follows the discovery prefix (HA matches it after stripping its prefix).
TOPIC = re.compile(r"(?P<component>[a-z_]+)/(?:(?P<node>[a-zA-Z0-9_-]+)/)?(?P<object>[a-zA-Z0-9_-]+)/config")
COMPONENT_KEYS = {
    # state_topic is required for both; binary_sensor's payloads default to ON/OFF.
    "sensor": {"required": {"state_topic"}},
    "binary_sensor": {"required": {"state_topic"}},
}
UNITS = {"energy": {"Wh", "kWh", "MWh"}, "power": {"W", "kW"}}
STATE_CLASSES = {"measurement", "total", "total_increasing"}
BINARY_DEVICE_CLASSES = {"connectivity", "plug", "power", "problem", "running", "battery_charging"}
SENSOR_DEVICE_CLASSES = {"energy", "power", "timestamp", "current", "voltage", "enum"}
DEVICE_KEYS = {
    "identifiers",
    "connections",
    "name",
    "manufacturer",
    "model",
    "sw_version",
    "hw_version",
    "serial_number",
    "configuration_url",
    "suggested_area",
    "via_device",
    "model_id",
}
ENTITY_KEYS = {
    "name",
    "unique_id",
    "state_topic",
    "availability_topic",
    "payload_available",
    "payload_not_available",
    "device",
    "device_class",
    "unit_of_measurement",
    "state_class",
    "payload_on",
    "payload_off",
    "value_template",
    "json_attributes_topic",
    "json_attributes_template",
    "icon",
    "entity_category",
    "expire_after",
    "force_update",
    "qos",
}


def check_config(topic, payload, prefix=PREFIX):
    """Problems of one discovery message, per HA's documentation (empty list: valid)."""
    m = topic.startswith(prefix + "/") and TOPIC.fullmatch(topic[len(prefix) + 1 :])
    if not m:
        return ["topic %s is not <prefix>/<component>/[<node_id>/]<object_id>/config" % topic]
    component = m["component"]
    try:
        c = json.loads(payload)
    except ValueError as e:
        return ["%s: not JSON (%s)" % (topic, e)]
    problems = []
    if component not in COMPONENT_KEYS:
        return ["%s: component %s not checked here" % (topic, component)]
    for key in COMPONENT_KEYS[component]["required"]:
        if not isinstance(c.get(key), str) or not c[key]:
            problems.append("%s: %s required" % (topic, key))
    unknown = set(c) - ENTITY_KEYS
    if unknown:
        problems.append("%s: keys HA does not know: %s" % (topic, unknown))
    # Device-based discovery: unique_id required; device needs identifiers or connections.
    if not isinstance(c.get("unique_id"), str) or not c["unique_id"]:
        problems.append("%s: unique_id required with a device" % topic)
    dev = c.get("device")
    if not isinstance(dev, dict):
        problems.append("%s: device block missing" % topic)
    else:
        if not dev.get("identifiers") and not dev.get("connections"):
            problems.append("%s: device needs identifiers or connections" % topic)
        if "identifiers" in dev and not (isinstance(dev["identifiers"], (list, str)) and dev["identifiers"]):
            problems.append("%s: identifiers must be a string or a non-empty list" % topic)
        if set(dev) - DEVICE_KEYS:
            problems.append("%s: unknown device keys %s" % (topic, set(dev) - DEVICE_KEYS))
    # Availability: one topic with its two payloads (not mixed with the `availability` list).
    if "availability" in c and "availability_topic" in c:
        problems.append("%s: availability and availability_topic are exclusive" % topic)
    for key in ("availability_topic", "payload_available", "payload_not_available"):
        if not isinstance(c.get(key), str):
            problems.append("%s: %s missing" % (topic, key))
    dc = c.get("device_class")
    if dc is not None:
        allowed = BINARY_DEVICE_CLASSES if component == "binary_sensor" else SENSOR_DEVICE_CLASSES
        if dc not in allowed:
            problems.append("%s: device_class %s invalid for %s" % (topic, dc, component))
        if dc in UNITS and c.get("unit_of_measurement") not in UNITS[dc]:
            problems.append("%s: unit %r invalid for device_class %s" % (topic, c.get("unit_of_measurement"), dc))
    if "state_class" in c:
        if component != "sensor" or c["state_class"] not in STATE_CLASSES:
            problems.append("%s: state_class %r invalid" % (topic, c["state_class"]))
        if dc == "energy" and c["state_class"] == "measurement":
            problems.append("%s: energy cannot be a measurement" % topic)
    if component == "binary_sensor" and ("unit_of_measurement" in c or "state_class" in c):
        problems.append("%s: binary_sensor has no unit or state_class" % topic)
    return problems


def test_the_checker_refuses_what_ha_refuses():
    """The schema checker itself: each documented rule catches its violation."""
    good = {
        "name": "E",
        "unique_id": "u",
        "state_topic": "s",
        "availability_topic": "a",
        "payload_available": "online",
        "payload_not_available": "offline",
        "device": {"identifiers": ["x"]},
        "device_class": "energy",
        "unit_of_measurement": "Wh",
        "state_class": "total_increasing",
    }
    assert check_config("homeassistant/sensor/n/o/config", json.dumps(good)) == []
    bad = [
        ("homeassistant/sensor/n o/o/config", {}),
        ("homeassistant/sensor/n/o/config", {"state_topic": None}),
        ("homeassistant/sensor/n/o/config", {"unique_id": None}),
        ("homeassistant/sensor/n/o/config", {"device": {"name": "no ids"}}),
        ("homeassistant/sensor/n/o/config", {"unit_of_measurement": "A"}),
        ("homeassistant/sensor/n/o/config", {"state_class": "measurement"}),
        ("homeassistant/sensor/n/o/config", {"state_class": "sum"}),
        ("homeassistant/sensor/n/o/config", {"device_class": "power", "unit_of_measurement": "Wh", "state_class": "measurement"}),
        ("homeassistant/sensor/n/o/config", {"payload_available": None}),
        ("homeassistant/sensor/n/o/config", {"stat_t": "abbreviated"}),
    ]
    for topic, over in bad:
        c = {k: v for k, v in dict(good, **over).items() if v is not None}
        assert check_config(topic, json.dumps(c)), (topic, over)
    assert check_config("homeassistant/sensor/n/o/config", "{not json")


def expected_configs(connectors):
    out = {"binary_sensor/%s/connection" % NODE: "connection"}
    for obj in ("registration", "last_heartbeat", "connector_0_status"):
        out["sensor/%s/%s" % (NODE, obj)] = None
    for n in range(1, connectors + 1):
        for what in ("status", "energy", "power", "transaction"):
            out["sensor/%s/connector_%d_%s" % (NODE, n, what)] = None
    return {"%s/%s/config" % (PREFIX, k) for k in out}


def configs_of(sub):
    return {topic: payload for _, retained, topic, payload in sub.messages if topic.startswith(PREFIX + "/") and retained}


def test_discovery_configs_and_the_state_they_describe(cs, charger, broker, subscriber):
    """HA-01, HA-02: every config retained, valid per HA's schema, one device with the identity;
    published before any state topic; each state topic gets its value, charging included."""
    cs.boot_plan[:] = [("Accepted", 1)]
    b = broker()
    live = subscriber(b.port)
    ch = charger(mqtt(b.port, discovery=True))
    ch.fw.wait_log(r"mqtt: published 8 Home Assistant discovery configs under homeassistant/")
    want = expected_configs(1)
    live.out.wait_for(lambda _: want <= {t for _, _, t, _ in live.messages}, 10, "every config")
    # A late subscriber gets every config: retained.
    sub = subscriber(b.port)
    sub.out.wait_for(lambda _: want <= set(configs_of(sub)), 10, "every config, retained")
    configs = configs_of(sub)
    assert set(configs) == want
    devices = set()
    for topic, payload in configs.items():
        assert check_config(topic, payload) == [], payload
        c = json.loads(payload)
        assert c["availability_topic"] == BASE + "availability" and (c["payload_available"], c["payload_not_available"]) == ("online", "offline")
        assert c["state_topic"].startswith(BASE)
        assert c["unique_id"] == NODE + "_" + topic.split("/")[3]
        d = c["device"]
        assert (d["name"], d["manufacturer"], d["model"]) == ("CP001", "TestVendor", "TestModel") and d["sw_version"]
        devices.add(json.dumps(d, sort_keys=True))
    assert len(devices) == 1  # one device
    by_object = {t.split("/")[3]: json.loads(p) for t, p in configs.items()}
    energy, power, conn = by_object["connector_1_energy"], by_object["connector_1_power"], by_object["connection"]
    assert (energy["device_class"], energy["unit_of_measurement"], energy["state_class"]) == ("energy", "Wh", "total_increasing")
    assert (power["device_class"], power["unit_of_measurement"]) == ("power", "W")
    assert (conn["device_class"], conn["payload_on"], conn["payload_off"]) == ("connectivity", "connected", "disconnected")
    # The live subscriber saw every config of the session before its first state topic.
    order = [topic for _, _, topic, _ in live.messages]
    first_state = min(i for i, t in enumerate(order) if t.startswith(BASE))
    assert all(i < first_state for i, t in enumerate(order) if t.startswith(PREFIX + "/"))
    # The state topics the configs name get their values.
    topic_of = {o: c["state_topic"] for o, c in by_object.items()}
    sub.wait_value(topic_of["registration"], "Accepted")
    sub.wait_value(topic_of["connection"], conn["payload_on"])
    sub.wait_value(conn["availability_topic"], "online")
    sub.wait_value(topic_of["connector_1_status"], "Available")
    sub.wait_value(topic_of["connector_0_status"], "Available")
    sub.wait_value(topic_of["last_heartbeat"], re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"))
    sub.wait_value(topic_of["connector_1_transaction"], '{"transactionId":null,"idTag":null}')
    sub.wait_value(topic_of["connector_1_power"], "0")
    # A charging session: energy rises, power shows, the transaction id and idTag.
    ch.evse("meter 1 1500", "power 1 36000", "plug 1", "card 1 ALICE", "charge 1")
    sub.wait_value(topic_of["connector_1_status"], "Charging")
    tx = ch.transaction_id()
    sub.wait_value(topic_of["connector_1_transaction"], '{"transactionId":%d,"idTag":"ALICE"}' % tx)
    sub.wait_value(topic_of["connector_1_power"], "36000")

    def energies(_=None):
        return [int(p) for _, _, t, p in sub.messages if t == topic_of["connector_1_energy"]]

    # 10 Wh/s at 36 kW, read every second: two rising values above meterStart.
    sub.out.wait_for(lambda _: len({e for e in energies() if e > 1500}) >= 2, 5, "energy rising")
    assert energies() == sorted(energies())  # total_increasing
    ch.evse("unplug 1")
    sub.wait_value(topic_of["connector_1_status"], "Available")
    sub.wait_value(topic_of["connector_1_transaction"], '{"transactionId":null,"idTag":null}', timeout=5)
    sub.wait_value(topic_of["connector_1_power"], "0")


def test_discovery_off_publishes_nothing_under_the_prefix(cs, firmware, broker, subscriber):
    """HA-03: with mqtt.discovery off (the default) no topic appears under homeassistant/."""
    b = broker()
    sub = subscriber(b.port)
    fw = firmware(cs.port, mqtt(b.port))
    sub.wait_value(BASE + "registration", "Accepted")
    sub.wait_value(BASE + "connector/1", "Available")
    sub.wait_value(BASE + "connector/1/energy", "0")
    # A marker published after the state: everything the firmware sent before it has arrived.
    subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(b.port), "-t", PREFIX + "/marker", "-m", "m"], check=True, timeout=10)
    sub.wait_value(PREFIX + "/marker", "m")
    assert [t for _, _, t, _ in sub.messages if t.startswith(PREFIX + "/")] == [PREFIX + "/marker"]
    assert "Home Assistant discovery" not in fw.log


def test_eight_connectors_odd_id_and_lazy_import(broker, subscriber):
    """HA-01, HA-03: 8 connectors -> 36 configs, node_id sanitized to [a-zA-Z0-9_-], custom prefix;
    ha_discovery is imported only with discovery on; the heap the configs take is reported."""
    b = broker()
    code = (
        """
import asyncio, gc, sys
from uocpp.config import settings
from uocpp.model import identity
from uocpp.model.state import State
from uocpp.extras.mqtt_mirror import MqttMirror
identity.set_charge_point_vendor("V"); identity.set_charge_point_model("M")
on = sys.argv[-1] == "on"
s, _, problems = settings.validate({"chargePoint": {"chargePointVendor": "V", "chargePointModel": "M"},
    "connectors": {"count": 8},
    "centralSystem": {"url": "ws://127.0.0.1:1/ocpp", "chargePointId": "A/B+C#.x"},
    "mqtt": {"enabled": True, "host": "127.0.0.1", "port": %d, "topicPrefix": "t", "discovery": on, "discoveryPrefix": "ha"}})
assert not problems, problems
state = State()
mirror = MqttMirror(s, state)
async def main():
    gc.collect()
    task = asyncio.create_task(mirror.run())
    while not mirror.sessions:
        await asyncio.sleep_ms(10)
    state.set("registration", "Accepted")
    # The round of configs comes first; then the mirror takes the change in.
    for _ in range(500):
        if mirror._version >= state.version:
            break
        await asyncio.sleep_ms(10)
    await asyncio.sleep_ms(0)
    gc.collect()
    print("heap", gc.mem_alloc())
    task.cancel()
asyncio.run(main())
print("discovery loaded", "uocpp.extras.ha_discovery" in sys.modules)
"""
        % b.port
    )
    on = run_micropython(code.replace('sys.argv[-1] == "on"', "True"))
    off = run_micropython(code.replace('sys.argv[-1] == "on"', "False"))
    # Loaded for the round of configs, then dropped until the next connection.
    assert "discovery loaded False" in on.stdout, on.stdout + on.stderr
    assert "discovery loaded False" in off.stdout and "discovery configs" not in off.stdout, off.stdout + off.stderr
    assert "published 36 Home Assistant discovery configs under ha/" in on.stdout
    heap_on, heap_off = (int(re.search(r"heap (\d+)", r.stdout)[1]) for r in (on, off))
    print("mirror heap with discovery on %d B, off %d B (+%d B)" % (heap_on, heap_off, heap_on - heap_off))
    sub = subscriber(b.port, "ha/#")  # after the runs: what it gets was retained
    sub.out.wait_for(lambda _: len(configs_of_prefix(sub, "ha/")) >= 36, 10, "36 configs")
    configs = configs_of_prefix(sub, "ha/")
    assert len(configs) == 36
    for topic, payload in configs.items():
        assert check_config(topic, payload, "ha") == [], payload
        assert topic.split("/")[2] == "A_B_C__x"
        assert json.loads(payload)["device"]["identifiers"] == ["uocpp_A_B_C__x"]
    assert "ha/sensor/A_B_C__x/connector_8_energy/config" in configs
    assert json.loads(configs["ha/sensor/A_B_C__x/connector_8_energy/config"])["state_topic"] == "t/A_B_C_.x/connector/8/energy"


def configs_of_prefix(sub, prefix):
    return {topic: payload for _, retained, topic, payload in sub.messages if topic.startswith(prefix) and retained}


@pytest.mark.parametrize(
    "override,expected",
    [
        ({"discovery": "on"}, "mqtt.discovery: must be a boolean, not str"),
        ({"discoveryPrefix": "ha/#"}, "mqtt.discoveryPrefix: must be at most 64 characters without +, # or a leading or trailing /"),
        ({"discovery": True, "discoveryPrefix": ""}, "mqtt.discoveryPrefix: must not be empty when mqtt.discovery is true"),
    ],
)
def test_bad_discovery_settings_are_named(override, expected):
    """A bad discovery key is named with its rule."""
    code = (
        "from uocpp.config import settings\ns, _, p = settings.validate({'chargePoint': {'chargePointVendor': 'V', 'chargePointModel': 'M'}, 'mqtt': %r})\nprint(p)"
        % override
    )
    r = run_micropython(code)
    assert expected in r.stdout, r.stdout + r.stderr
