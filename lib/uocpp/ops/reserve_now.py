# ReserveNow (C16 5.13): reserves a connector for an idTag until expiryDate.
#   Rejected     connectorId 0 (ReserveConnectorZeroSupported is false), a
#                connector that does not exist, an expiryDate already past
#   Faulted      the connector is Faulted
#   Unavailable  the connector (or the charge point) is Inoperative
#   Occupied     not Available: a transaction, an EV plugged in, a session
#                being prepared or finished, or another reservation on it
#   Accepted     reserved: status Reserved; the same reservationId again
#                replaces its reservation
from uocpp import clock
from uocpp.model import connectors as cn
from uocpp.validate import INT, STR, date_time

REQUEST = (
    ("connectorId", INT, True, None), ("expiryDate", STR, True, None), ("idTag", STR, True, 20),
    ("parentIdTag", STR, False, 20), ("reservationId", INT, True, None),
)
USES = ("reservations", "connectors")


def handle(payload, reservations, connectors):
    n, rid = payload["connectorId"], payload["reservationId"]
    expiry = date_time(payload, "expiryDate")
    # Connector 0: ReserveConnectorZeroSupported is false (keys.py, read-only).
    if n == 0 or not connectors.valid(n) or expiry <= clock.now():
        return {"status": "Rejected"}
    status = connectors.status(n)
    if status == cn.FAULTED:
        return {"status": "Faulted"}
    if status == cn.UNAVAILABLE:
        return {"status": "Unavailable"}
    held = reservations.on(n) if reservations else None  # the door false: no book, none held
    if (held is not None and held[0] != rid) or status not in (cn.AVAILABLE, cn.RESERVED):
        return {"status": "Occupied"}
    if not reservations.reserve(rid, n, payload["idTag"], payload.get("parentIdTag"), expiry):
        return {"status": "Rejected"}  # not on flash (full)
    return {"status": "Accepted"}
