# StatusNotification (BN-15, BO-07, TM-05): after Accepted, one for connector
# 0 and for every connector; afterwards one whenever a status changes. A
# change made while offline goes out after the reconnect, and only the latest
# status of each connector is sent (no replay of history): the message for a
# connector is queued once and reads the status when it goes out. The status
# the central system confirmed is kept per connector: one whose message got
# no reply or a CALLERROR (a half-open link) is sent again on the next
# connection, so that after a reconnect the central system knows every
# connector's current status, each once. A fault is always told: one that
# cleared before its message went out (waiting behind a StopTransaction, or
# offline) goes as Faulted first, then the status of now (C16 4.9: "a status
# change or an error"); the last one per connector, so still bounded. On a connection that stays up (the
# link's probe answered, a central system busy), again a minute after it went
# out.
import asyncio
import time

from micropython import const

from uocpp import clock, log, sleep
from uocpp.errors import NoHeap
from uocpp.model.connectors import FAULTED
from uocpp.outbox import KEEP, Message, PERSIST

_RECHECK_MS = const(1000)  # while a status is unconfirmed: how often to look for a new connection
_AGAIN_MS = const(60000)  # a status not confirmed goes again this long after it went out, on the same connection


class StatusNotifier:
    def __init__(self, outbox, connectors, registration, link):
        self._outbox = outbox
        self.connectors = connectors
        self._registered = registration.accepted
        self._link = link
        self._queued = {}  # connector id -> the status last queued
        self._told = {}  # connector id -> the status the central system confirmed
        self._msg = {}  # connector id -> its message until answered

    def message(self, cid, triggered=False, error=None):
        # error: an errorCode for this message only (LocalListConflict,
        # services/authorize.py); the connector's status stays as it is.
        connectors = self.connectors

        def build():
            c = connectors.items[cid]
            status, code = connectors.status(cid), c.error_code
            if c.fault is not None and c.fault != code:
                status, code = FAULTED, c.fault  # a fault gone before it was told: first
            # error: a one-off errorCode for this message (LocalListConflict on connector 0).
            payload = {"connectorId": cid, "errorCode": error or code, "status": status, "timestamp": clock.now_iso()}
            msg.carried = (status, code)
            msg.sent_on = self._link.connections
            msg._retry_at = time.ticks_add(time.ticks_ms(), _AGAIN_MS)
            return payload

        def answered(reply):
            self._told[cid] = msg.carried
            c = connectors.items[cid]
            if c.fault == msg.carried[1]:
                c.fault = None  # told
            if self._msg.get(cid) is msg:
                del self._msg[cid]  # nothing to keep of an answered one
            connectors.changed.set()  # the notifier (its one waiter) looks again now, not at its next recheck

        key = ("st:t%d" if triggered else "st:%d") % cid
        msg = Message("StatusNotification", build, KEEP if triggered else PERSIST, key=key + error if error else key, triggered=triggered, answered=answered)
        return msg

    async def run(self):
        await self._registered.wait()
        changed = self.connectors.changed
        link = self._link
        short = False  # in a streak of looks with no heap: logged once
        while True:
            # A MemoryError (no heap for a message or the wait) ends neither
            # the task nor the loop's yield: what was not posted is posted at
            # the next look (what was queued but not told is told again).
            try:
                changed.clear()
                unconfirmed = False
                for c in self.connectors.items:
                    cid = c.id
                    # With its errorCode: a second fault while Faulted is news (4.9).
                    status = (self.connectors.status(cid), c.error_code)
                    # A fault not told yet counts as unconfirmed too (build()).
                    untold = self._told.get(cid) != status or c.fault is not None
                    if self._queued.get(cid) != status:
                        self._queued[cid] = status
                        self._post(cid)
                    elif untold:
                        m = self._msg.get(cid)
                        if m is None:
                            self._post(cid)  # answered, but it carried an older status
                        elif m.error is not None:
                            # It failed (no reply, a CALLERROR): again once a new
                            # connection is up, or on this one a minute after it
                            # went out; one that found no heap at the next look
                            # (asked first: one whose payload found none never
                            # said its connection).
                            if (
                                isinstance(m.error, NoHeap) or link.connections != m.sent_on or time.ticks_diff(time.ticks_ms(), m._retry_at) >= 0
                            ) and link.up.is_set():
                                self._post(cid)
                        # else waiting or on the wire: it reads the status when it goes out
                        m = None  # the frame outlives the message: it must not hold it
                    # Until confirmed, look again now and then: a failure sets no event.
                    unconfirmed = unconfirmed or untold
                short = False
                if unconfirmed:
                    await sleep.until(changed, _RECHECK_MS)
                else:
                    await changed.wait()
            except MemoryError:
                m = None  # the frame keeps no message
                if not short:
                    log.warning("status", "no heap: again in a second")  # (no arguments: no tuple to pack)
                short = True
                await asyncio.sleep_ms(_RECHECK_MS)

    def _post(self, cid):
        m = self._msg.get(cid)
        if m is not None and not m.finished():
            # Still queued, on the wire, or kept for the next connection
            # (PERSIST): it reads the status when it goes out, so a second one
            # would only say the same twice.
            return
        self._msg[cid] = self._outbox.submit(self.message(cid))
