# StatusNotification (BN-15, BO-07, TM-05): after Accepted, one for connector
# 0 and for every connector; afterwards one whenever a status changes. A
# change made while offline goes out after the reconnect, and only the latest
# status of each connector is sent (no replay of history).
import asyncio

from uocpp import clock, errors, log


class StatusNotifier:
    def __init__(self, rpc, link, connectors, registered):
        self.rpc = rpc
        self.link = link
        self.connectors = connectors
        self.registered = registered
        self._sent = {}  # connector id -> the status the central system confirmed

    def _due(self):
        status = self.connectors.status
        return [c.id for c in self.connectors.items if self._sent.get(c.id) != status(c.id)]

    async def send(self, cid, triggered=False):
        c = self.connectors.items[cid]
        status = self.connectors.status(cid)
        payload = {"connectorId": cid, "errorCode": c.error_code, "status": status, "timestamp": clock.now_iso()}
        await self.rpc.call("StatusNotification", payload, triggered=triggered)
        self._sent[cid] = status

    async def send_triggered(self, cid=None):
        # TriggerMessage(StatusNotification): connector cid, or 0 and every
        # connector when cid is None (TM-05). Allowed while Pending (BN-12).
        ids = range(self.connectors.count + 1) if cid is None else (cid,)
        for i in ids:
            try:
                await self.send(i, triggered=True)
            except errors.CallFailed as e:
                log.info("status", "triggered StatusNotification %d failed: %s", i, e)
                return

    async def run(self):
        await self.registered.wait()
        changed = self.connectors.changed
        while True:
            await self.link.connected.wait()
            if not self._due():
                changed.clear()
                if not self._due():
                    await changed.wait()
                continue
            for cid in self._due():
                try:
                    await self.send(cid)
                except errors.CallFailed as e:
                    log.info("status", "StatusNotification %d not confirmed: %s", cid, e)
                    await asyncio.sleep_ms(200)  # the link is failing; retry after it recovers
                    break
