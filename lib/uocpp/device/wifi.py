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
# Back-off between attempts: 1, 2, 4 ... 32 s, plus up to 1 s of spread so
# a building full of chargers does not hammer one access point in step.
_BACKOFF = (1, 1, 5)


class Wifi:
    def __init__(self, station, cfg, on_drop):
        # on_drop(reason): called when an up link drops (the OCPP link's drop).
        self.station = station
        self.ssid = cfg["ssid"]
        self._password = cfg["password"]
        self.timeout_ms = int(cfg["timeout"] * 1000)
        self.stable_ms = int(cfg["stableTime"] * 1000)
        self.backoff = Backoff(*_BACKOFF)
        self.up = asyncio.Event()
        self._on_drop = on_drop
        self.ticks = 0  # bumped on every look at the radio: progress for the watchdog

    async def _until(self, ms, connected):
        # Polls the radio for up to `ms`; True as soon as its state is `connected`.
        deadline = time.ticks_add(time.ticks_ms(), ms)
        while True:
            self.ticks += 1
            if self.station.isconnected() == connected:
                return True
            left = time.ticks_diff(deadline, time.ticks_ms())
            if left <= 0:
                return False
            await asyncio.sleep_ms(min(_POLL_MS, left))

    async def _attempt(self):
        # One attempt; returns None once the link is up and stable, else why not.
        if not self.station.isconnected():
            log.info("wifi", "connecting to %s", self.ssid)
            try:
                self.station.connect(self.ssid, self._password)
            except OSError as e:
                return "connect failed: %s" % (e,)
            if not await self._until(self.timeout_ms, True):
                self.station.disconnect()  # stop the driver's own retries before ours
                return "not up after %s s" % (self.timeout_ms / 1000)
        log.info("wifi", "associated, address %s; waiting %s s for it to stay up", self.station.ifconfig()[0], self.stable_ms / 1000)
        if await self._until(self.stable_ms, False):
            return "dropped again within %s s" % (self.stable_ms / 1000)
        return None

    async def connect(self):
        # Returns once the link is up and has stayed up; retries for ever.
        while True:
            why = await self._attempt()
            if why is None:
                self.backoff.reset()
                self.up.set()
                log.info("wifi", "up and stable (%s)", self.ssid)
                return
            delay = self.backoff.next()
            log.warning("wifi", "%s; retrying in %.1f s (attempt %d)", why, delay, self.backoff.attempt)
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
            log.warning("wifi", "link to %s dropped; reconnecting", self.ssid)
            self._on_drop("wifi down")
