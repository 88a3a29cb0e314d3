# Observable charge-point state, for mirrors (MQTT) and diagnostics.
# Services write fields; one consumer awaits `changed` and reads the fields
# whose version moved since it last looked. Values are short strings, small ints or None.
import asyncio

# Field names (keep them stable: they become MQTT topics).
REGISTRATION = "registration"  # None, "Pending", "Accepted", "Rejected"
CONNECTION = "connection"  # "connected" / "disconnected"
LAST_HEARTBEAT = "lastHeartbeat"  # ISO 8601 UTC of the last answered Heartbeat
LAST_ERROR = "lastError"  # the latest problem, as text
CONNECTOR = "connector/%d"  # status of connector N (0 = the charge point)
# Per connector N >= 1, sampled from the meter and the transactions by the
# MQTT mirror (extras/mqtt_mirror.py) while it runs: ints, Wh and W.
ENERGY = "connector/%d/energy"  # Energy.Active.Import.Register, Wh
POWER = "connector/%d/power"  # Power.Active.Import, W (when the meter has it)
# JSON {"transactionId": id, or null until the central system gave one, "idTag": tag}
TRANSACTION = "connector/%d/transaction"


class State:
    def __init__(self):
        self.values = {}
        self.versions = {}
        self.version = 0
        self.changed = asyncio.Event()

    def set(self, key, value):
        # The state itself stands for no value (None and 0 are values).
        if self.values.get(key, self) == value:
            return
        self.values[key] = value
        self.version += 1
        self.versions[key] = self.version
        self.changed.set()

    def get(self, key, default=None):
        return self.values.get(key, default)

    def changed_since(self, version):
        # [(key, value)] of the fields written after `version`.
        return [(k, self.values[k]) for k, v in self.versions.items() if v > version]
