# The charge point's state, one object (app.state, also app.registration):
# the registration that BootNotification.conf sets, and the observable
# fields for mirrors (MQTT) and diagnostics.
import asyncio

# REGISTRATIONSTATUS
ACCEPTED = "Accepted"
PENDING = "Pending"
REJECTED = "Rejected"

# Field names (keep them stable: they become MQTT topics).
REGISTRATION = "registration"  # None, "Pending", "Accepted", "Rejected"
CONNECTION = "connection"  # "connected" / "disconnected"
LAST_HEARTBEAT = "lastHeartbeat"  # ISO 8601 UTC of the last answered Heartbeat
LAST_ERROR = "lastError"  # the latest problem, as text
CONNECTOR = "connector/%d"  # status of connector N (0 = the charge point)
# The MQTT mirror's own fields, per connector (energy, power, transaction):
# extras/mqtt_mirror.py's, in the heap only while it is.


class State:
    def __init__(self):
        # The registration, BOOTNOTIFICATIONCONFIG_T (seed section 3.2): what
        # the last valid BootNotification.conf said. The boot service writes
        # it; the outbox reads it before every CALL of ours (BN-04, BN-09,
        # BN-12) and the RPC layer before answering one of the central
        # system's (BN-10). status is None until one arrived; current_time
        # is its ISO text.
        self.status = None
        self.current_time = None
        self.interval = 0
        self.accepted = asyncio.Event()  # validBootnotification
        # The observable fields: services write them (set()); one consumer
        # (extras/mqtt_mirror.py) awaits `changed` and reads the fields whose
        # version moved since it last looked. Values are short strings, small
        # ints or None.
        self.values = {}
        self.versions = {}
        self.version = 0
        self.changed = asyncio.Event()
        self.get = self.values.get  # get(key, default=None): the dict's own

    def may_send(self, triggered):
        # A CALL other than BootNotification: only after Accepted, or while
        # Pending when a TriggerMessage asked for it (BN-04, BN-12).
        status = self.status
        return status == ACCEPTED or (status == PENDING and triggered)

    def answers_calls(self):
        # While Rejected the central system's CALLs get no answer (BN-10).
        return self.status != REJECTED

    def set(self, key, value):
        # The state itself stands for no value (None and 0 are values).
        if self.values.get(key, self) == value:
            return
        self.values[key] = value
        self.version += 1
        self.versions[key] = self.version
        self.changed.set()
