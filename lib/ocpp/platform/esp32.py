# ESP32: Wi-Fi, RTC and reset through `machine` and `network`.
import asyncio
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


def set_rtc(unix):
    # The RTC keeps UTC; gmtime applies the port's own epoch.
    t = time.gmtime(unix - (946684800 if time.gmtime(0)[0] == 2000 else 0))
    machine.RTC().datetime((t[0], t[1], t[2], t[6] + 1, t[3], t[4], t[5], 0))


def reset():
    machine.reset()


def halt(message):
    # Safe state: no reboot loop. Repeat the reason on the console forever.
    while True:
        log.error("platform", "halted: %s (fix config.json and reset)", message)
        time.sleep(30)
