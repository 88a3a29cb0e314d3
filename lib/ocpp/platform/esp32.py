# ESP32: Wi-Fi, RTC and reset through `machine` and `network`.
import asyncio
import sys
import time

import machine
import network

from ocpp import log


def config_path():
    return "config.json"


def flash_dir(settings):
    return settings["storage"]["dir"] or "/"


async def connect_network(settings):
    # Connect Wi-Fi with retries; returns once the link is up.
    wifi = settings["wifi"]
    if not wifi["ssid"]:
        log.warning("wifi", "no wifi.ssid in config.json: assuming a wired or modem link")
        return True
    wlan = network.WLAN(network.STA_IF)
    wlan.active(True)
    delay = 2
    while True:
        if not wlan.isconnected():
            log.info("wifi", "connecting to %s", wifi["ssid"])
            try:
                wlan.connect(wifi["ssid"], wifi["password"])
            except OSError as e:
                log.warning("wifi", "connect failed: %s", e)
        deadline = time.ticks_add(time.ticks_ms(), int(wifi["timeout"] * 1000))
        while not wlan.isconnected() and time.ticks_diff(deadline, time.ticks_ms()) > 0:
            await asyncio.sleep_ms(250)
        if wlan.isconnected():
            log.info("wifi", "up, address %s", wlan.ifconfig()[0])
            return True
        log.warning("wifi", "not up after %s s; retrying in %d s", wifi["timeout"], delay)
        wlan.disconnect()
        await asyncio.sleep(delay)
        delay = min(delay * 2, 60)


def _epoch_shift():
    return 946684800 if time.gmtime(0)[0] == 2000 else 0


def set_rtc(unix):
    # The RTC keeps UTC; gmtime applies the port's own epoch.
    t = time.gmtime(unix - _epoch_shift())
    machine.RTC().datetime((t[0], t[1], t[2], t[6] + 1, t[3], t[4], t[5], 0))


def _build_time():
    # The MicroPython build date ("... on 2026-07-05" in sys.version) as Unix
    # seconds: the device cannot be running before it. None if unreadable.
    from ocpp import clock

    v = sys.version
    i = v.rfind(" on ")
    try:
        return clock.parse_iso(v[i + 4 : i + 14] + "T00:00:00Z")
    except ValueError:
        return None


async def sync_clock(settings):
    # TLS checks certificate dates (SEC-08), so the RTC must be right before
    # wss://. NTP first, for at most ntp.timeout seconds (ntptime blocks up
    # to ntptime.timeout per try). Out of reach: never leave the clock before
    # the build date, and go on; a clock still too far off shows as a
    # certificate date error, and the link backs off and retries.
    ntp = settings["ntp"]
    server = ntp["server"]
    why = "no ntp.server"
    if server:
        import ntptime

        ntptime.host = server
        deadline = time.ticks_add(time.ticks_ms(), int(ntp["timeout"] * 1000))
        while True:
            try:
                ntptime.settime()
                log.info("clock", "set by NTP from %s", server)
                return True
            except (OSError, OverflowError, IndexError) as e:
                why = "NTP %s: %s" % (server, e)
            if time.ticks_diff(deadline, time.ticks_ms()) <= 0:
                break
            await asyncio.sleep_ms(1000)
    floor = _build_time()
    now = time.time() + _epoch_shift()
    if floor and now < floor:
        set_rtc(floor)
        log.warning("clock", "not set (%s): RTC raised to the build date; certificates may fail their date check", why)
    else:
        log.warning("clock", "not set (%s): certificate dates are checked against the RTC as it is", why)
    return False


def reset():
    machine.reset()


def halt(message):
    # Safe state: no reboot loop. Repeat the reason on the console forever.
    while True:
        log.error("platform", "halted: %s (fix config.json and reset)", message)
        time.sleep(30)
