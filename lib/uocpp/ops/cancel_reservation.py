# CancelReservation (C16 5.3): Accepted when the reservation exists (its
# connector is Available again), else Rejected.
from uocpp.validate import INT

REQUEST = (("reservationId", INT, True, None),)
USES = ("reservations",)


def handle(payload, reservations):
    return {"status": "Accepted" if reservations.end(payload["reservationId"], "cancelled") else "Rejected"}
