# ChangeAvailability (C16 5.2): Accepted, Scheduled when the connector is busy,
# Rejected for a connector that does not exist. Persists (RST-03). A
# reservation on a connector now Unavailable ends (5.13).
from uocpp.model.connectors import ACCEPTED, FINISHING, PREPARING, REJECTED, SCHEDULED
from uocpp.validate import ENUM, INT

REQUEST = (("connectorId", INT, True, None), ("type", ENUM, True, ("Inoperative", "Operative")))
USES = ("connectors", "reservations")


def handle(payload, connectors, reservations):
    status = change(connectors, payload["connectorId"], payload["type"] == "Operative")
    reservations.changed.set()  # its task ends those on connectors no longer operative
    return {"status": status}


def change(connectors, cid, operative):
    # The connectors' availability (model/connectors.py): connector 0 means
    # the whole charge point. Here, loaded only for the operation: a change
    # that waits for the end of a transaction is applied by
    # Connectors.set().
    if not connectors.valid(cid):
        return REJECTED
    targets = connectors.items if cid == 0 else (connectors.items[cid],)
    before = [(c.operative, c.scheduled, c.session) for c in targets]
    # Only a change waits for a transaction's end: the availability in
    # force is Accepted (5.2), and calls off a change scheduled before.
    status = ACCEPTED
    if any(c.busy and c.operative != operative for c in targets):
        status = SCHEDULED
        for c in targets:
            if c.busy:
                c.scheduled = operative
            else:
                c.operative = operative
    else:
        for c in targets:
            if operative and not c.operative and c.session == FINISHING:
                # Unavailable never goes back to Finishing (C16 4.9): the
                # cable still in, Preparing (H2); the session follows.
                c.session = PREPARING
            c.operative = operative
            c.scheduled = None
    if not connectors.save():
        # Not on flash (full), it would not outlive a reboot (C16 4.9:
        # Unavailable persists): not done, and the central system told so.
        for c, was in zip(targets, before):
            c.operative, c.scheduled, c.session = was
        return REJECTED
    connectors.publish()
    return status
