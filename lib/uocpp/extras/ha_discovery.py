# Home Assistant MQTT discovery (mqtt.discovery): retained configs on
#   <discoveryPrefix>/<component>/<node_id>/<object_id>/config
# that make the charge point ONE device in Home Assistant, its entities
# reading the mirror's state topics (extras/mqtt_mirror.py) and its
# availability topic. Imported by the mirror only when discovery is on.
#
# Memory: configs() yields one (topic, payload) at a time, built from a
# small dict that the caller publishes and drops before the next one is
# made; nothing holds all of them (35 configs for 8 connectors, about
# 0.6 KB each). The device block is encoded once per round.
#
# Full key names, not HA's abbreviations: a user reading the broker sees
# what each field is, and the mirror sends them once per connection.
import json

from uocpp.model import identity
from uocpp.extras import mqtt_mirror as mm
from uocpp.model import state as st

ONLINE = "online"
OFFLINE = "offline"

# (component, object_id, name, state key, extras) of the charge point...
_POINT = (
    ("sensor", "registration", "Registration", st.REGISTRATION, None),
    ("binary_sensor", "connection", "Central system connection", st.CONNECTION,
     {"device_class": "connectivity", "payload_on": "connected", "payload_off": "disconnected"}),
    ("sensor", "last_heartbeat", "Last heartbeat", st.LAST_HEARTBEAT, {"device_class": "timestamp", "entity_category": "diagnostic"}),
    ("sensor", "connector_0_status", "Charge point status", st.CONNECTOR % 0, None),
)
# ...and of each connector N (%d: N).
_CONNECTOR = (
    ("sensor", "connector_%d_status", "Connector %d status", st.CONNECTOR, None),
    ("sensor", "connector_%d_energy", "Connector %d energy", mm.ENERGY,
     {"device_class": "energy", "unit_of_measurement": "Wh", "state_class": "total_increasing"}),
    ("sensor", "connector_%d_power", "Connector %d power", mm.POWER,
     {"device_class": "power", "unit_of_measurement": "W", "state_class": "measurement"}),
    # The state is the transaction id (unknown while none runs: "None" is
    # HA's unknown); transactionId and idTag also become attributes.
    ("sensor", "connector_%d_transaction", "Connector %d transaction", mm.TRANSACTION,
     {"value_template": "{{ value_json.transactionId }}", "json_attributes": True, "icon": "mdi:ev-station"}),
)


def node_id(cp_id):
    # HA allows only [a-zA-Z0-9_-] in node_id and object_id.
    out = ""
    for ch in cp_id:
        out += ch if ch.isalpha() or ch.isdigit() or ch in "_-" else "_"
    return out


def _device(cp_id, node):
    # The device block, as JSON text spliced into every config.
    d = {
        # Home Assistant keeps entities by these ids: they never change.
        "identifiers": ["uocpp_%s" % node],
        "name": cp_id,
        "manufacturer": identity.get("chargePointVendor"),
        "model": identity.get("chargePointModel"),
    }
    for key, field in (("sw_version", "firmwareVersion"), ("serial_number", "chargePointSerialNumber")):
        value = identity.get(field) or (identity.get("chargeBoxSerialNumber") if key == "serial_number" else None)
        if value:
            d[key] = value
    return json.dumps(d)


def _payload(name, unique_id, state_topic, availability_topic, extras, device):
    c = {
        "name": name,
        "unique_id": unique_id,
        "state_topic": state_topic,
        "availability_topic": availability_topic,
        "payload_available": ONLINE,
        "payload_not_available": OFFLINE,
    }
    if extras:
        for key, value in extras.items():
            if key == "json_attributes":
                c["json_attributes_topic"] = state_topic
            else:
                c[key] = value
    text = json.dumps(c)
    # The device block goes in as text: made once, not once per entity.
    return (text[:-1] + ', "device": ' + device + "}").encode()


def configs(prefix, cp_id, base, availability_topic, count):
    # Yields (topic, payload) bytes, one config at a time. base: the mirror's
    # "<topicPrefix>/<id>/"; count: connectors 1..count.
    node = node_id(cp_id)
    device = _device(cp_id, node)
    for component, object_id, name, key, extras in _POINT:
        yield _one(prefix, component, node, object_id, name, base + key, availability_topic, extras, device)
    for n in range(1, count + 1):
        for component, object_id, name, key, extras in _CONNECTOR:
            yield _one(prefix, component, node, object_id % n, name % n, base + key % n, availability_topic, extras, device)


def _one(prefix, component, node, object_id, name, state_topic, availability_topic, extras, device):
    topic = "%s/%s/%s/%s/config" % (prefix, component, node, object_id)
    return topic.encode(), _payload(name, node + "_" + object_id, state_topic, availability_topic, extras, device)
