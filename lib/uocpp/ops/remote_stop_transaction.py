# RemoteStopTransaction (C16 5.12): Accepted for a transaction running
# here (then stopped with reason Remote, after the reply), Rejected for any
# other transactionId.
from uocpp.validate import INT

REQUEST = (("transactionId", INT, True, None),)
USES = ("sessions", "transactions")


def handle(payload, sessions, transactions):
    local = transactions.running_on(payload["transactionId"], "remote")
    if local is None:
        return {"status": "Rejected"}
    connector = transactions.get(local)["c"]

    async def stop():
        # After the reply (one that ended meanwhile is not followed by the
        # connector's next). The stop bills the register as the relay left
        # it: the session loop reads the meter before it stores the stop
        # (services/start_stop.py stop()).
        if transactions.running_on(connector) == local:
            sessions.stop(connector, "Remote")

    return {"status": "Accepted"}, stop
