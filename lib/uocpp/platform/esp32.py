# ESP32: the only module that touches `machine` and `network`. It hands out
# the hardware (UART, Wi-Fi station, RTC, NTP, watchdog, reset); the policies
# around them (services/wifi.py, services/watchdog.py, modem.py) are shared
# with the unix port, so the host tests exercise them.
import asyncio
import sys
import time

import machine
import network
from micropython import const

from uocpp import clock, log

_NTP_FMT = const("NTP %s: %s")  # a const(): a short literal would be an interned name for ever (docs/memory.md)


def config_path():
    return "config.json"


def flash_dir(settings):
    return settings["storage"]["dir"] or "/"


def open_uart(cfg):
    # config.json's modem or meter section -> (port, description for the log).
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
    clock.follow_rtc(unix)


def watchdog(timeout_ms):
    # The hardware WDT cannot be stopped once armed (a soft reset keeps it
    # running); creating it again only changes the timeout.
    return machine.WDT(timeout=timeout_ms)


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
                # A setting like any other: its listeners measure the step
                # now (not at the next setting), and the clock is set.
                clock.set_unix(clock.now())
                log.info("clock", "set by NTP from %s", server)
                return True
            except (OSError, OverflowError, IndexError, ValueError) as e:  # ValueError: an answer cut short
                why = _NTP_FMT % (server, e)
            if time.ticks_diff(deadline, time.ticks_ms()) <= 0:
                break
            await asyncio.sleep_ms(1000)
    # The MicroPython build date ("... on 2026-07-05" in sys.version) as Unix
    # seconds: the device cannot be running before it. None if unreadable.
    # (Inline, as every function of a loaded module is a name for ever.)
    v = sys.version
    i = v.rfind(" on ")
    try:
        floor = clock.parse_iso("%sT00:00:00Z" % v[i + 4 : i + 14])
    except ValueError:
        floor = None
    now = time.time() + (946684800 if time.gmtime(0)[0] == 2000 else 0)  # time.time() from 2000 on a board
    if floor and now < floor:
        set_rtc(floor)
        log.warning("clock", "not set (%s): RTC raised to the build date; certificates may fail their date check", why)
    else:
        log.warning("clock", "not set (%s): certificate dates are checked against the RTC as it is", why)
    return False


def setup_wanted(settings, web):
    # Setup mode (extras/web/setup_form.py): web.setupMode, no Wi-Fi network
    # configured yet, or the setup button (web.setupButton, a GPIO pulled up,
    # pressed = low) held at boot.
    if web["setupMode"]:
        return True
    if not settings["wifi"]["ssid"] and web["setupWithoutWifi"] and not settings["modem"]["enabled"]:
        return True  # a fresh board: no way to the central system yet
    pin = web["setupButton"]
    return pin >= 0 and machine.Pin(pin, machine.Pin.IN, machine.Pin.PULL_UP).value() == 0


def access_point(ssid, password):
    # The installer's phone joins this network (WPA2) to reach the setup page.
    ap = network.WLAN(network.AP_IF)
    ap.active(True)
    ap.config(essid=ssid, password=password, authmode=network.AUTH_WPA2_PSK)
    log.info("web", "access point %r up at %s", ssid, ap.ifconfig()[0])


def reset():
    machine.reset()


def halt(message):
    # Safe state: no reboot loop. Repeat the reason on the console forever.
    while True:
        log.error("platform", "halted: %s (fix config.json and reset)", message)
        time.sleep(30)


# -- EVSE and meter -------------------------------------------------------------
def evse(settings):
    # The board's pilot, relay, lock and fault inputs (evse section).
    from uocpp.platform.esp32_evse import Esp32Evse

    return Esp32Evse(settings["evse"])


def meter(settings, board_evse):
    # Eastron SDM meters on an RS-485 UART (meter section).
    cfg = settings["meter"]
    if not cfg["model"]:
        raise ValueError("meter.model: an ESP32 charger needs its energy meter (SDM120 or SDM630)")
    from uocpp.device.sdm import BusMeters

    return BusMeters(open_uart(cfg)[0], cfg, settings["connectors"]["count"])


# -- firmware updates -----------------------------------------------------------
def ota():
    # Whole MicroPython images go to the next OTA app partition
    # (device/ota.py Image over esp32.Partition). Loaded only for an update.
    import esp32

    from uocpp.device.ota import Image

    return Image(esp32.Partition)
