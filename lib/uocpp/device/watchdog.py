# Feeds the hardware watchdog, but only while the firmware is healthy: the
# loop runs (else this task could not run either), no task keeps failing
# (the supervisor restarts one that fails now and then: supervisor.py),
# and the link and Wi-Fi keep making progress. When a
# check fails the feeding stops, and the board resets within the timeout;
# a wedged charger comes back on its own instead of staying dark.
# The watchdog is optional (config.json: watchdog.timeout 0) and costs
# nothing when off; startup.py arms it and gives it its checks: the
# supervisor's verdict and the progress of the link and the Wi-Fi station
# (link_stall, wifi_stall below).
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
        # What it watches (startup.py appends them): each check() returns
        # None while healthy, else the reason it is not.
        self.checks = []
        self.feeds = 0
        self.starving = None  # the reason feeding stopped, while it is stopped

    def verdict(self):
        for check in self.checks:
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


def link_stall(link, connect_s):
    # The link keeps connecting while it is down: each attempt moves its
    # counters, and the longest wait between two is the back-off in force
    # (the RetryBackOff* keys, which the central system may raise) plus the
    # connect timeout.
    return progress(
        "link", lambda: None if link.up.is_set() else (link.connections, link.backoff.attempt), lambda: link.backoff.longest() + connect_s + _MARGIN_S
    )


def wifi_stall(wifi, timeout_s):
    # The Wi-Fi station, while it is down, looks at the radio at least once
    # per its timeout (wifi.ticks).
    return progress("wifi", lambda: None if wifi.up.is_set() else wifi.ticks, lambda: timeout_s + _MARGIN_S)
