# Meter values taken in a transaction but sent later (services/metering.py):
# a triggered value waits in the volatile lane, and is built when it goes
# out. It carries the transaction's id only while that transaction runs:
# sent after its stop (a slow link), it is the connector's value, never a
# stopped transaction's (the scenario engine's ledger found one, seed 1).
from check import eq
from fakes import Keys, Outbox

from uocpp import log
from uocpp.services.metering import ENERGY, Metering

log.set_level("off")


class Meter:
    async def read(self, n):
        return {ENERGY: 1500}


class Transactions:
    def __init__(self):
        self.running = {7: 1}  # local id -> connector

    def running_on(self, n):
        for local, c in self.running.items():
            if c == n:
                return local
        return None

    def remote(self, local):
        return 1006  # the StartTransaction was answered

    def reading(self, local, wh, at):
        pass


def test_a_triggered_value_sent_after_its_transaction_stopped_has_no_transaction_id():
    tx, outbox = Transactions(), Outbox()
    metering = Metering(Meter(), 1, Keys(), outbox, tx)
    metering.readings[1] = {ENERGY: 1500}
    metering.send(1, ENERGY, "Trigger", triggered=True)
    msg = outbox.msgs[0]
    eq(msg.build().get("transactionId"), 1006, "built while the transaction runs")
    del tx.running[7]  # stopped: its StopTransaction is in the journal
    payload = msg.build()
    eq(("transactionId" in payload, payload["connectorId"]), (False, 1), "built after its stop: the connector's value")
    eq(payload["meterValue"][0]["sampledValue"][0]["value"], "1500", "the value taken when triggered")
