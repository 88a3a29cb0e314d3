# StatusNotification (BN-15, BO-07, TM-05): after Accepted, one for connector
# 0 and for every connector; afterwards one whenever a status changes. A
# change made while offline goes out after the reconnect, and only the latest
# status of each connector is sent (no replay of history): the message for a
# connector is queued once and reads the status when it goes out.
from uocpp import clock, outbox


class StatusNotifier:
    def __init__(self, outbox_, connectors, registration):
        self._outbox = outbox_
        self.connectors = connectors
        self._registered = registration.accepted
        self._queued = {}  # connector id -> the status last queued

    def message(self, cid, triggered=False):
        connectors = self.connectors

        def build():
            c = connectors.items[cid]
            return {"connectorId": cid, "errorCode": c.error_code, "status": connectors.status(cid), "timestamp": clock.now_iso()}

        key = ("st:t%d" if triggered else "st:%d") % cid
        return outbox.Message("StatusNotification", build, outbox.KEEP if triggered else outbox.PERSIST, key=key, triggered=triggered)

    def trigger(self, cid=None):
        # TriggerMessage(StatusNotification): connector cid, or 0 and every
        # connector when cid is None (TM-05). Allowed while Pending (BN-12).
        for i in range(self.connectors.count + 1) if cid is None else (cid,):
            self._outbox.submit(self.message(i, True))

    async def run(self):
        await self._registered.wait()
        changed = self.connectors.changed
        while True:
            changed.clear()
            for c in self.connectors.items:
                status = self.connectors.status(c.id)
                if self._queued.get(c.id) != status:
                    self._queued[c.id] = status
                    self._outbox.submit(self.message(c.id))
            await changed.wait()
