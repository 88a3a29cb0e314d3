# UnlockConnector (C16 5.18): a transaction on the connector is stopped
# first (reason UnlockCommand); then the lock is opened: Unlocked, or
# UnlockFailed when the actuator did not move. A connector that does not
# exist, or has no lock (a tethered cable): NotSupported.
from uocpp.validate import INT

REQUEST = (("connectorId", INT, True, None),)
USES = ("sessions",)


def handle(payload, sessions):
    n = payload["connectorId"]
    if not 1 <= n <= sessions.evse.count:
        return {"status": "NotSupported"}
    sessions.stop(n, "UnlockCommand")
    moved = sessions.evse.lock(n, False)
    return {"status": "NotSupported" if moved is None else "Unlocked" if moved else "UnlockFailed"}
