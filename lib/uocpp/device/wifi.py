# Wi-Fi station policy, over the platform's station object (network.WLAN on
# an ESP32, a simulated radio on the unix port): connect with a timeout per
# attempt and back-off between attempts, call the link "up" only once it has
# stayed up for wifi.stableTime, and reconnect whenever it drops.
import asyncio
import time

from micropython import const

from uocpp import log
from uocpp.link.backoff import Backoff

_POLL_MS = const(250)  # how often the radio's state is looked at
# The private state, self._w (a list: every attribute is an interned name
# for ever, docs/memory.md):
_STATION = const(0)
_SSID = const(1)
_PASSWORD = const(2)
_TIMEOUT_MS = const(3)  # per attempt
_STABLE_MS = const(4)  # up for this long counts as up
_BACKOFF = const(5)
_DROP = const(6)
_DOWN = const("wifi down")  # the reason given to drop; a const(): a short literal would be an interned name for ever (docs/memory.md)


class Wifi:
    def __init__(self, station, cfg, drop):
        # drop(reason): called when an up link drops (the OCPP link's drop).
        # Back-off between attempts: 1, 2, 4 ... 32 s, plus up to 1 s of
        # spread so a building full of chargers does not hammer one access
        # point in step.
        self._w = [station, cfg["ssid"], cfg["password"], int(cfg["timeout"] * 1000), int(cfg["stableTime"] * 1000), Backoff(1, 1, 5), drop]
        self.up = asyncio.Event()
        self.ticks = 0  # bumped on every look at the radio: progress for the watchdog

    async def _until(self, ms, connected):
        # Polls the radio for up to `ms`; True as soon as its state is `connected`.
        deadline = time.ticks_add(time.ticks_ms(), ms)
        while True:
            self.ticks += 1
            if self._w[_STATION].isconnected() == connected:
                return True
            left = time.ticks_diff(deadline, time.ticks_ms())
            if left <= 0:
                return False
            await asyncio.sleep_ms(min(_POLL_MS, left))

    async def connect(self):
        # Returns once the link is up and has stayed up; retries for ever.
        w = self._w
        station = w[_STATION]
        backoff = w[_BACKOFF]
        while True:
            # One attempt: why stays None once the link is up and stable.
            why = None
            if not station.isconnected():
                n = backoff.attempt + 1
                # In a long outage only the 8th, 16th, 32nd... attempt reaches the
                # flash log: a week offline keeps the log from before it.
                log.sparse(n, log.info)("wifi", "connecting to %s", w[_SSID])
                try:
                    station.connect(w[_SSID], w[_PASSWORD])
                except OSError as e:
                    why = "connect failed: %s" % (e,)
                else:
                    if not await self._until(w[_TIMEOUT_MS], True):
                        station.disconnect()  # stop the driver's own retries before ours
                        why = "not up after %s s" % (w[_TIMEOUT_MS] / 1000)
            if why is None:
                log.info("wifi", "associated, address %s; waiting %s s for it to stay up", station.ifconfig()[0], w[_STABLE_MS] / 1000)
                if not await self._until(w[_STABLE_MS], False):
                    backoff.reset()
                    self.up.set()
                    log.info("wifi", "up and stable (%s)", w[_SSID])
                    return
                why = "dropped again within %s s" % (w[_STABLE_MS] / 1000)
            delay = backoff.next()
            n = backoff.attempt
            log.sparse(n, log.warning)("wifi", "%s; retrying in %.1f s (attempt %d)", why, delay, n)
            await asyncio.sleep_ms(int(delay * 1000))
            self.ticks += 1

    async def run(self):
        # The monitor task: connect, then watch the link and reconnect when it
        # drops. The link service hears of a drop at once through on_drop.
        while True:
            if not self.up.is_set():
                await self.connect()
            while not await self._until(_POLL_MS * 4, False):
                pass
            self.up.clear()
            log.warning("wifi", "link to %s dropped; reconnecting", self._w[_SSID])
            self._w[_DROP](_DOWN)
