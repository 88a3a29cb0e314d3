# ChangeAvailability (C16 5.2): Accepted, Scheduled when the connector is busy,
# Rejected for a connector that does not exist. Persists (RST-03).
from uocpp.validate import ENUM, INT

REQUEST = (("connectorId", INT, True, None), ("type", ENUM, True, ("Inoperative", "Operative")))
USES = ("connectors",)


def handle(payload, connectors):
    return {"status": connectors.change_availability(payload["connectorId"], payload["type"] == "Operative")}
