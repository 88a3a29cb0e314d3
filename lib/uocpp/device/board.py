# The device around the OCPP core: the hardware watchdog and the Wi-Fi
# station, wired into the app's tasks. Both are optional (config.json:
# watchdog.timeout 0, wifi.ssid empty) and cost nothing when off.
import asyncio

from uocpp import log, platform
from uocpp.device import watchdog as wd

# App tasks that end by design (boot: after Accepted; mqtt: when umqtt is
# not installed); every other one ending means the firmware is broken, and
# the watchdog stops feeding.
_MAY_END = ("boot", "watchdog", "mqtt")
_MARGIN_S = 60  # on top of the longest legitimate quiet spell


def start(app, tasks):
    # Creates the watchdog and Wi-Fi objects and starts the watchdog task
    # (fed from now on, while healthy). Adds what it starts to `tasks`.
    s = app.settings
    app.watchdog = None
    app.wifi = None
    if s["watchdog"]["timeout"]:
        app.watchdog = wd.Watchdog(s["watchdog"]["timeout"], platform.watchdog)
        tasks["watchdog"] = asyncio.create_task(app.watchdog.run())
    if s["wifi"]["ssid"]:
        # Imported only with Wi-Fi configured: a wired or cellular charger
        # does not carry the station's code in its heap (about 5 KB).
        from uocpp.device.wifi import Wifi

        app.wifi = Wifi(platform.wlan(), s["wifi"])
        app.wifi.on_drop = app.link.drop
        if app.watchdog:
            app.watchdog.watch(wd.progress("wifi", lambda: None if app.wifi.up.is_set() else app.wifi.ticks, s["wifi"]["timeout"] + _MARGIN_S))
    else:
        log.info("wifi", "no wifi.ssid in config.json: using the network as it is (wired, modem or host)")


async def network_up(app, tasks):
    # Returns once Wi-Fi is up and stable (at once without Wi-Fi), then keeps
    # a task watching it.
    if app.wifi:
        await app.wifi.connect()
        tasks["wifi"] = asyncio.create_task(app.wifi.run())


def supervise(app, tasks):
    # The health checks the watchdog feeds on: every task that should run
    # for ever is alive, and the link keeps connecting while it is down
    # (each attempt moves its counters; the longest wait between two is the
    # full back-off plus the connect timeout).
    if not app.watchdog:
        return
    for name, task in tasks.items():
        if name not in _MAY_END:
            app.watchdog.watch(wd.task_alive(name, task))
    r = app.settings["reconnect"]
    stall = r["waitMinimum"] * (1 << r["repeatTimes"]) + r["randomRange"] + app.settings["centralSystem"]["connectTimeout"] + _MARGIN_S
    link = app.link
    app.watchdog.watch(wd.progress("link", lambda: None if link.connected.is_set() else (link.connections, link.backoff.attempt), stall))
