# Feeds the hardware watchdog, but only while the firmware is healthy: the
# loop runs (else this task could not run either), no task keeps failing
# (the supervisor restarts one that fails now and then: supervisor.py),
# and the link and Wi-Fi keep making progress. When a
# check fails the feeding stops, and the board resets within the timeout;
# a wedged charger comes back on its own instead of staying dark.
# The Board (below) is the device around the OCPP core: this watchdog and
# the Wi-Fi station, both optional (config.json: watchdog.timeout 0,
# wifi.ssid empty) and costing nothing when off. The app creates one Board
# and hands it the supervisor (supervisor.py) that runs the tasks. One
# module for both: each module costs its object, globals and names for
# ever (issue 24).
import asyncio
import time

from micropython import const

from uocpp import log

_FEEDS_PER_TIMEOUT = const(4)  # three feeds may go astray before a reset
_MARGIN_S = const(60)  # on top of the longest legitimate quiet spell


class Watchdog:
    def __init__(self, timeout_s, arm):
        # arm(timeout_ms) -> object with feed(): platform.watchdog.
        self.timeout_ms = int(timeout_s * 1000)
        self._arm = arm
        self._checks = []
        self.feeds = 0
        self.starving = None  # the reason feeding stopped, while it is stopped

    def watch(self, check):
        # check() returns None while healthy, else the reason it is not.
        self._checks.append(check)

    def verdict(self):
        for check in self._checks:
            why = check()
            if why:
                return why
        return None

    async def run(self):
        wdt = self._arm(self.timeout_ms)
        log.info("watchdog", "armed: %d ms, fed while the firmware is healthy", self.timeout_ms)
        period = max(1, self.timeout_ms // _FEEDS_PER_TIMEOUT)
        while True:
            why = self.verdict()
            if why is None:
                wdt.feed()
                self.feeds += 1
                if self.starving:
                    log.warning("watchdog", "healthy again: feeding resumed")
                    self.starving = None
            elif why != self.starving:
                self.starving = why
                log.error("watchdog", "not feeding: %s; the board resets within %d ms", why, self.timeout_ms)
            await asyncio.sleep_ms(period)


def progress(name, sample, stall_s):
    # sample() returns None while `name` is fine as it is (e.g. connected),
    # else a value that must change at least every stall_s() seconds: a
    # function, so that the bound follows settings changed at run time.
    last = [None, time.ticks_ms()]

    def check():
        value = sample()
        now = time.ticks_ms()
        if value is None or value != last[0]:
            last[0] = value
            last[1] = now
            return None
        bound = stall_s()
        if time.ticks_diff(now, last[1]) > int(bound * 1000):
            # The same words while it lasts: the log line is written once.
            return "%s made no progress for over %g s" % (name, bound)
        return None

    return check


class Board:
    def __init__(self, settings, link, arm_watchdog, wlan):
        # link: dropped at once when Wi-Fi goes down; watched for progress.
        # arm_watchdog(timeout_ms), wlan(): the platform's (app.py hands
        # them in: imports run platform -> device, never back up).
        self._link = link
        self._connect_s = settings["centralSystem"]["connectTimeout"]
        self.watchdog = None
        self.wifi = None
        w = settings["watchdog"]
        if w["timeout"]:
            self.watchdog = Watchdog(w["timeout"], arm_watchdog)
        cfg = settings["wifi"]
        if cfg["ssid"]:
            # Imported only with Wi-Fi configured: a wired or cellular charger
            # does not carry the station's code in its heap (about 5 KB).
            from uocpp.device.wifi import Wifi

            self.wifi = Wifi(wlan(), cfg, link.drop)
            self._wifi_stall_s = cfg["timeout"] + _MARGIN_S
        else:
            log.info("wifi", "no wifi.ssid in config.json: using the network as it is (wired, modem or host)")

    def start(self, sup):
        # Starts the watchdog task (fed from now on, while healthy).
        if self.watchdog:
            sup.start("watchdog", self.watchdog.run)
            wifi = self.wifi
            if wifi:
                self.watchdog.watch(progress("wifi", lambda: None if wifi.up.is_set() else wifi.ticks, lambda: self._wifi_stall_s))

    async def network_up(self, sup):
        # Returns once Wi-Fi is up and stable (at once without Wi-Fi), then
        # keeps a task watching it.
        if self.wifi:
            await self.wifi.connect()
            sup.start("wifi", self.wifi.run)

    def supervise(self, sup):
        # The health checks the watchdog feeds on: no task keeps failing
        # (the supervisor restarts one that fails now and then), and the
        # link keeps connecting while it is down.
        if not self.watchdog:
            return
        self.watchdog.watch(sup.verdict)
        link = self._link
        self.watchdog.watch(progress("link", lambda: None if link.up.is_set() else (link.connections, link.backoff.attempt), self._link_stall_s))

    def _link_stall_s(self):
        # Each attempt moves the link's counters; the longest wait between
        # two is the back-off in force (the RetryBackOff* keys, which the
        # central system may raise) plus the connect timeout.
        return self._link.backoff.longest() + self._connect_s + _MARGIN_S
