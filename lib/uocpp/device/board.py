# The device around the OCPP core: the hardware watchdog and the Wi-Fi
# station. Both are optional (config.json: watchdog.timeout 0, wifi.ssid
# empty) and cost nothing when off. The app creates one Board and hands it
# the supervisor (supervisor.py) that runs the tasks.
from uocpp import log
from uocpp.device import watchdog as wd

_MARGIN_S = 60  # on top of the longest legitimate quiet spell


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
            self.watchdog = wd.Watchdog(w["timeout"], arm_watchdog)
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
                self.watchdog.watch(wd.progress("wifi", lambda: None if wifi.up.is_set() else wifi.ticks, lambda: self._wifi_stall_s))

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
        self.watchdog.watch(wd.progress("link", lambda: None if link.up.is_set() else (link.connections, link.backoff.attempt), self._link_stall_s))

    def _link_stall_s(self):
        # Each attempt moves the link's counters; the longest wait between
        # two is the back-off in force (the RetryBackOff* keys, which the
        # central system may raise) plus the connect timeout.
        return self._link.backoff.longest() + self._connect_s + _MARGIN_S
