# ChangeAvailability (C16 5.2): Accepted, Scheduled when the connector is busy,
# Rejected for a connector that does not exist. Persists (RST-03). A
# reservation on a connector now Unavailable ends (5.13).
from uocpp.validate import ENUM, INT

REQUEST = (("connectorId", INT, True, None), ("type", ENUM, True, ("Inoperative", "Operative")))
USES = ("connectors", "reservations")


def handle(payload, connectors, reservations):
    status = connectors.change_availability(payload["connectorId"], payload["type"] == "Operative")
    reservations.changed.set()  # its task ends those on connectors no longer operative
    return {"status": status}
