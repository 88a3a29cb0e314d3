# Heartbeat (HB-01..HB-05): after Accepted, a Heartbeat.req once the link has
# carried no CALL of ours for HeartbeatInterval seconds; each reply sets the
# clock. A new interval takes effect at once.
import asyncio
import time

from uocpp import clock, errors, log
from uocpp.model import state as st
from uocpp import sleep


class Heartbeat:
    def __init__(self, rpc, link, interval_s, state, set_rtc=None):
        self.rpc = rpc
        self.link = link
        self.interval_ms = int(interval_s * 1000)
        self._set_rtc = set_rtc
        self.state = state
        self._changed = asyncio.Event()
        self.registered = None  # asyncio.Event, set by the app

    def set_interval(self, seconds):
        self.interval_ms = int(seconds * 1000)
        log.info("heartbeat", "interval %s s", seconds)
        self._changed.set()

    async def beat(self, triggered=False):
        # One Heartbeat; returns True when the central system answered.
        try:
            reply = await self.rpc.call("Heartbeat", {}, triggered=triggered)
        except errors.CallFailed as e:
            log.info("heartbeat", "no answer: %s", e)
            return False
        try:
            unix = clock.set_from_iso(reply["currentTime"])
            if self._set_rtc:
                self._set_rtc(unix)
            self.state.set(st.LAST_HEARTBEAT, clock.format_iso(unix))
        except (KeyError, TypeError, ValueError):
            log.warning("heartbeat", "reply without a valid currentTime")
        return True

    async def run(self):
        await self.registered.wait()
        while True:
            await self.link.connected.wait()
            due = time.ticks_add(self.rpc.last_call_ms, self.interval_ms)
            left = time.ticks_diff(due, time.ticks_ms())
            if left > 0:
                self._changed.clear()
                await sleep.until(self._changed, left)
                continue  # re-read: other traffic or a new interval may move it
            if not await self.beat():
                await asyncio.sleep_ms(200)  # never spin on a failing link
