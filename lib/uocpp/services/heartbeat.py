# Heartbeat (HB-01..HB-05): after Accepted, a Heartbeat.req once the link has
# carried no CALL of ours for HeartbeatInterval seconds (the key in force:
# config.json's seed, a ChangeConfiguration, or the BootNotification.conf
# interval); each reply sets the clock. A new interval takes effect at once.
import asyncio
import time

from micropython import const

from uocpp import clock, errors, log, sleep
from uocpp.outbox import KEEP, Message
from uocpp.model import state as st

_PAUSE_MS = const(1000)  # after a try that found no heap
_TRIGGERED_KEY = const("hb:t")  # a triggered one's outbox key; a const(): a short literal would be an interned name for ever (docs/memory.md)


class Heartbeat:
    def __init__(self, outbox, rpc, keys, registration, state, set_rtc=None):
        # rpc: when our last CALL went out (any CALL is proof of life).
        self._outbox = outbox
        self._rpc = rpc
        self._keys = keys
        self._registered = registration.accepted
        self.state = state
        self._set_rtc = set_rtc
        self._changed = asyncio.Event()

    def interval_changed(self, seconds):
        log.info("heartbeat", "interval %s s", seconds)
        self._changed.set()

    def message(self, triggered=False):
        # A triggered one (TM-05) has its own coalescing key: it goes out even
        # when a periodic one is waiting, and may go while Pending (BN-12).
        # Its payload is empty: dict() makes it.
        return Message("Heartbeat", dict, KEEP, key=_TRIGGERED_KEY if triggered else "hb", triggered=triggered, answered=self._answered)

    def _answered(self, reply):
        try:
            unix = clock.parse_iso(reply["currentTime"])
            clock.set_unix(unix)
            if self._set_rtc:
                self._set_rtc(unix)
            stamp = clock.format_iso(unix)
            self.state.set(st.LAST_HEARTBEAT, stamp)
            log.info("heartbeat", "answered, time %s", stamp)
        except (KeyError, TypeError, ValueError):
            log.warning("heartbeat", "reply without a valid currentTime")

    async def run(self):
        await self._registered.wait()
        short = False  # in a streak of tries with no heap: logged once
        while True:
            # A MemoryError (no heap for the wait or the Heartbeat) ends
            # neither the task nor the loop's yield: the next try comes after
            # a pause.
            try:
                interval_ms = int(self._keys.get("HeartbeatInterval") * 1000)
                due = time.ticks_add(self._rpc.last_call_ms, interval_ms)
                left = time.ticks_diff(due, time.ticks_ms())
                if left > 0:
                    self._changed.clear()
                    await sleep.until(self._changed, left)
                    continue  # re-read: other traffic or a new interval may move it
                try:
                    await self._outbox.request(self.message())
                except errors.CallFailed as e:
                    log.info("heartbeat", "no answer: %s", e)
                short = False
            except MemoryError:
                if not short:
                    log.warning("heartbeat", "no heap: again in a second")  # (no arguments: no tuple to pack)
                short = True
                await asyncio.sleep_ms(_PAUSE_MS)
