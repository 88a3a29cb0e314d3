# CancelReservation (C16 5.3): Accepted when the reservation exists (its
# connector is Available again), else Rejected.
from uocpp.validate import INT

REQUEST = (("reservationId", INT, True, None),)
USES = ("reservations",)


def handle(payload, reservations):
    # No book made (the door false): no reservation to end.
    return {"status": "Accepted" if reservations and reservations.end(payload["reservationId"], "cancelled") else "Rejected"}
