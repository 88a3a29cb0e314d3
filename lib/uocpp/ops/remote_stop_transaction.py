# RemoteStopTransaction (C16 5.12): Accepted for a transaction running
# here (then stopped with reason Remote, after the reply), Rejected for any
# other transactionId.
from uocpp.validate import INT

REQUEST = (("transactionId", INT, True, None),)
USES = ("sessions", "transactions", "metering")


def handle(payload, sessions, transactions, metering):
    local = transactions.local_of(payload["transactionId"])
    if local is None:
        return {"status": "Rejected"}
    connector = transactions.get(local)["c"]

    async def stop():
        # The meter read now, not up to a second ago by the meter's task:
        # the stop bills the energy up to the relay's opening (a card's or
        # an unplug's is billed after the session loop's own read). A read
        # that fails or finds no heap stops it all the same; one that ended
        # meanwhile is not followed by the connector's next.
        try:
            await metering.poll()
        finally:
            if transactions.running_on(connector) == local:
                sessions.stop(connector, "Remote")

    return {"status": "Accepted"}, stop
