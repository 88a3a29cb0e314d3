# RemoteStartTransaction (C16 5.11): Accepted when the connector can start
# (connectorId absent: the first free one; 0 is Rejected, 1.6 says it SHALL
# be > 0), Rejected while the registration is not Accepted; then - after the
# reply - the idTag is authorized first when AuthorizeRemoteTxRequests is
# true, or when the connector is reserved with a parentIdTag for someone
# else (Authorize brings the idTag's parent), and the transaction starts as
# soon as an EV is plugged in (ConnectionTimeOut), the connector checked
# again then. A chargingProfile must be a TxProfile (else Rejected); smart
# charging installs it when the transaction starts, and it ends with it.
from uocpp import log
from uocpp.model import connectors as cn
from uocpp.model.state import ACCEPTED
from uocpp.validate import INT, OBJ, STR

REQUEST = (("connectorId", INT, False, None), ("idTag", STR, True, 20), ("chargingProfile", OBJ, False, None))
USES = ("sessions", "authorizer", "keys", "smart", "registration", "reservations")


def _first_free(sessions, reservations, tag):
    # A connector without connectorId: one with an EV plugged in (waiting in
    # Preparing) before an empty one; never one in Finishing, whose EV is
    # the last driver's (its status: Unavailable meanwhile ended it,
    # model/connectors.py, before the next pass clears the mark).
    free = [n for n in range(1, sessions.evse.count + 1) if sessions.can_start(n, tag) and sessions.status(n) != cn.FINISHING]
    # One reserved for someone else (a parentIdTag: Authorize decides, and
    # may refuse it after the Accepted) only when no other is free.
    free = [n for n in free if not (reservations and reservations.refuses(n, tag))] or free
    for n in free:
        if sessions.evse.pilot(n) != "A":
            return n
    return free[0] if free else None


def handle(payload, sessions, authorizer, keys, smart, registration, reservations):
    cid = payload.get("connectorId")
    tag = payload["idTag"]
    if registration.status != ACCEPTED:
        return {"status": "Rejected"}
    if cid is None:
        cid = _first_free(sessions, reservations, tag)
    elif not 1 <= cid <= sessions.evse.count or not sessions.can_start(cid, tag):
        cid = None
    if cid is None:
        return {"status": "Rejected"}
    profile = payload.get("chargingProfile")
    if profile is not None:
        profile = smart.tx_profile(cid, profile)
        if profile is None:
            return {"status": "Rejected"}
    # Reserved for another idTag with a parentIdTag: Authorize decides.
    held = reservations and reservations.refuses(cid, tag)  # the door false: no book, nothing refused

    async def start():
        nonlocal cid
        parent = None
        if keys.get("AuthorizeRemoteTxRequests") or held:
            info = await authorizer.authorize(tag)
            if info.get("status") != "Accepted":
                log.info("session", "remote start for %s: %s", tag, info.get("status"))
                return
            parent = info.get("parentIdTag")
        if payload.get("connectorId") is None and not sessions.can_start(cid, tag):
            # The connector picked for it was taken while it was authorized
            # (another remote start without connectorId answered meanwhile
            # picked the same one): the charge point picks again (5.11).
            cid = _first_free(sessions, reservations, tag) or cid
            if profile is not None:
                profile["c"] = cid
        if profile is not None:
            smart.offer(cid, profile, tag)  # before the start: installed when it starts (for this idTag)
        sessions.authorized(cid, tag, parent)

    return {"status": "Accepted"}, start
