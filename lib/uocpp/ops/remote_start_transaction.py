# RemoteStartTransaction (C16 5.11): Accepted when the connector can start
# (connectorId 0 or absent: the first free one), then - after the reply -
# the idTag is authorized first when AuthorizeRemoteTxRequests is true, and
# the transaction starts as soon as an EV is plugged in (ConnectionTimeOut).
# A chargingProfile must be a TxProfile (else Rejected); smart charging
# installs it when the transaction starts, and it ends with it.
from uocpp import log
from uocpp.validate import INT, OBJ, STR

REQUEST = (("connectorId", INT, False, None), ("idTag", STR, True, 20), ("chargingProfile", OBJ, False, None))
USES = ("sessions", "authorizer", "keys", "smart")


def handle(payload, sessions, authorizer, keys, smart):
    cid = payload.get("connectorId")
    tag = payload["idTag"]
    if not cid:
        cid = sessions.first_free(tag)
    elif not 1 <= cid <= sessions.evse.count or not sessions.can_start(cid, tag):
        cid = None
    if cid is None:
        return {"status": "Rejected"}
    profile = payload.get("chargingProfile")
    if profile is not None:
        profile = smart.tx_profile(cid, profile)
        if profile is None:
            return {"status": "Rejected"}

    async def start():
        if keys.get("AuthorizeRemoteTxRequests"):
            info = await authorizer.authorize(tag)
            if info.get("status") != "Accepted":
                log.info("session", "remote start for %s: %s", tag, info.get("status"))
                return
        if profile is not None:
            smart.offer(cid, profile)
        sessions.authorized(cid, tag)

    return {"status": "Accepted"}, start
