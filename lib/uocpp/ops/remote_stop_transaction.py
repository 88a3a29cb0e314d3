# RemoteStopTransaction (C16 5.12): Accepted for a transaction running
# here (then stopped with reason Remote, after the reply), Rejected for any
# other transactionId.
from uocpp.validate import INT

REQUEST = (("transactionId", INT, True, None),)
USES = ("sessions", "transactions")


def handle(payload, sessions, transactions):
    local = transactions.local_of(payload["transactionId"])
    if local is None:
        return {"status": "Rejected"}
    connector = transactions.get(local)["c"]

    async def stop():
        sessions.stop(connector, "Remote")

    return {"status": "Accepted"}, stop
