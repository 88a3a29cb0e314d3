# ESP32: the only module that touches `machine` and `network`. It hands out
# the hardware (UART, Wi-Fi station, RTC, watchdog, reset); the policies
# around them (services/wifi.py, services/watchdog.py, modem.py) are shared
# with the unix port, so the host tests exercise them.
import time

import machine
import network

from ocpp import clock, log


def config_path():
    return "config.json"


def flash_dir(settings):
    return settings["storage"]["dir"] or "/"


def open_uart(cfg):
    # config.json's modem section -> (port, description for the log).
    # timeout=0: read() returns at once (None when nothing has arrived).
    port = machine.UART(cfg["uart"], baudrate=cfg["baud"], tx=cfg["tx"], rx=cfg["rx"], timeout=0)
    return port, "UART%d (tx %d, rx %d, %d baud)" % (cfg["uart"], cfg["tx"], cfg["rx"], cfg["baud"])


def wlan():
    # The station interface, switched on; services/wifi.py drives it.
    station = network.WLAN(network.STA_IF)
    station.active(True)
    return station


def set_rtc(unix):
    # The RTC keeps UTC. time.time() follows the RTC, so the clock module's
    # offset is re-based afterwards; otherwise now() would count the jump twice.
    machine.RTC().datetime(clock.rtc_datetime(unix))
    clock.set_unix(unix)


def watchdog(timeout_ms):
    # The hardware WDT cannot be stopped once armed (a soft reset keeps it
    # running); creating it again only changes the timeout.
    return machine.WDT(timeout=timeout_ms)


def reset():
    machine.reset()


def halt(message):
    # Safe state: no reboot loop. Repeat the reason on the console forever.
    while True:
        log.error("platform", "halted: %s (fix config.json and reset)", message)
        time.sleep(30)
