# RemoteStartTransaction (C16 5.11): Accepted when the connector can start
# (connectorId 0 or absent: the first free one), then - after the reply -
# the idTag is authorized first when AuthorizeRemoteTxRequests is true, and
# the transaction starts as soon as an EV is plugged in (ConnectionTimeOut).
# A TxProfile in the request limits the transaction's current until smart
# charging takes it over (its first period's limit, in A).
from uocpp import log
from uocpp.validate import INT, OBJ, STR

REQUEST = (("connectorId", INT, False, None), ("idTag", STR, True, 20), ("chargingProfile", OBJ, False, None))
USES = ("sessions", "authorizer", "keys")


def handle(payload, sessions, authorizer, keys):
    cid = payload.get("connectorId")
    tag = payload["idTag"]
    if not cid:
        cid = sessions.first_free(tag)
    elif not 1 <= cid <= sessions.evse.count or not sessions.can_start(cid, tag):
        cid = None
    if cid is None:
        return {"status": "Rejected"}
    limit = _tx_profile_limit(payload.get("chargingProfile"))

    async def start():
        if keys.get("AuthorizeRemoteTxRequests"):
            info = await authorizer.authorize(tag)
            if info.get("status") != "Accepted":
                log.info("session", "remote start for %s: %s", tag, info.get("status"))
                return
        if limit is not None:
            sessions.limit_amps[cid] = limit
        sessions.authorized(cid, tag)

    return {"status": "Accepted"}, start


def _tx_profile_limit(profile):
    try:
        if profile["chargingProfilePurpose"] != "TxProfile":
            return None
        schedule = profile["chargingSchedule"]
        if schedule.get("chargingRateUnit") != "A":
            return None
        return float(schedule["chargingSchedulePeriod"][0]["limit"])
    except (TypeError, KeyError, IndexError, ValueError):
        return None
