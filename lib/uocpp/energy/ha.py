# Home Assistant discovery for energy management (mqtt.discovery with an
# enabled energy section): per connector a number entity that sets the local
# limit (its command topic, energy/mqtt.py) and a sensor of the offer, and
# one select for the charging mode. Built like extras/ha_discovery.py, whose
# helpers it uses: one (topic, payload) at a time.
from uocpp.energy.limits import MODES
from uocpp.extras import ha_discovery as ha


def configs(prefix, cp_id, base, availability, count, max_amps):
    node = ha.node_id(cp_id)
    device = ha._device(cp_id, node)
    yield ha._one(
        prefix,
        "select",
        node,
        "charging_mode",
        "Charging mode",
        base + "energy/mode",
        availability,
        {"command_topic": base + "energy/mode/set", "options": list(MODES), "icon": "mdi:solar-power"},
        device,
    )
    for n in range(1, count + 1):
        yield ha._one(
            prefix,
            "number",
            node,
            "connector_%d_local_limit" % n,
            "Connector %d current limit" % n,
            base + "energy/%d/sources" % n,
            availability,
            {
                "command_topic": base + "energy/%d/limit/set" % n,
                "value_template": "{{ value_json.local }}",
                "min": 0,
                "max": max_amps,
                "step": 0.5,
                "unit_of_measurement": "A",
                "mode": "box",
            },
            device,
        )
        yield ha._one(
            prefix,
            "sensor",
            node,
            "connector_%d_offer" % n,
            "Connector %d offered current" % n,
            base + "energy/%d/offer" % n,
            availability,
            {"device_class": "current", "unit_of_measurement": "A", "state_class": "measurement"},
            device,
        )
