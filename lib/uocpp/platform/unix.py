# Unix-port stand-ins for the hardware, so the same firmware runs on a PC:
# a serial device path for the modem UART (unix_serial.py), a simulated
# Wi-Fi radio (unix_wlan.py), an RTC and a watchdog that log what a board
# would do, and exit codes for reset.
import os
import sys
import time

from micropython import const

from uocpp import clock, log

# Exit codes a supervisor (tools/run_local.py, tests) can act on. Private
# consts: compiled in, no names in the module (nor in uocpp.platform).
_EXIT_HARD_RESET = const(75)  # Reset Hard: restart me
_EXIT_CONFIG = const(78)  # bad config.json: do not restart, fix the file


def config_path():
    return os.getenv("OCPP_CONFIG") or "config.json"


def flash_dir(settings):
    # Where persisted files live: $OCPP_FLASH_DIR, else storage.dir from
    # config.json, else ./flash. Created when missing.
    path = os.getenv("OCPP_FLASH_DIR") or settings["storage"]["dir"] or "flash"
    try:
        os.mkdir(path)
    except OSError:
        pass
    return path


# -- UART and Wi-Fi: their stand-ins load on first use (unix_serial.py,
# unix_wlan.py), so a charger without a modem or Wi-Fi carries neither.
def open_uart(cfg):
    # config.json's modem section -> (port, description for the log).
    path = cfg["device"]
    if not path:
        raise ValueError("modem.device is empty: the unix port needs a serial device path")
    from uocpp.platform.unix_serial import Serial

    return Serial(path, cfg["baud"]), path


def wlan():
    from uocpp.platform.unix_wlan import Wlan

    return Wlan()


# -- EVSE and meter: simulated, driven over TCP (platform/evse_sim.py) ---------
def evse(settings):
    from uocpp.platform.evse_sim import SimEvse

    return SimEvse(settings["connectors"]["count"], settings["simulator"]["port"], flash_dir(settings))


def meter(settings, sim):
    # The simulated EVSE integrates its own energy register, unless a real
    # Modbus meter is on a serial device (meter.model, meter.device).
    cfg = settings["meter"]
    if not cfg["model"]:
        return sim
    from uocpp.device.sdm import BusMeters
    from uocpp.platform.unix_serial import Serial

    return BusMeters(Serial(cfg["device"], cfg["baud"]), cfg, settings["connectors"]["count"])


# -- RTC and watchdog ------------------------------------------------------------
def set_rtc(unix):
    # A PC's clock is not ours to set: the clock module keeps the offset. Log
    # what a board's RTC would be set to, so the conversion can be checked.
    log.debug("rtc", "unix stand-in: RTC.datetime(%r) = %s", clock.rtc_datetime(unix), clock.format_iso(unix))


class SimWdt:
    # machine.WDT stand-in: counts feeds and logs them; a gap longer than the
    # timeout is logged as the reset a real board would have done.
    def __init__(self, timeout_ms):
        self.timeout_ms = timeout_ms
        self.feeds = 0
        self._last = time.ticks_ms()
        log.debug("watchdog", "unix stand-in armed, timeout %d ms (counts feeds, never resets)", timeout_ms)

    def feed(self):
        now = time.ticks_ms()
        gap = time.ticks_diff(now, self._last)
        if gap > self.timeout_ms:
            log.error("watchdog", "fed %d ms after the last feed: a board would have reset", gap)
        self._last = now
        self.feeds += 1
        log.debug("watchdog", "fed (%d)", self.feeds)


def watchdog(timeout_ms):
    return SimWdt(timeout_ms)


async def sync_clock(settings):
    # The host keeps a PC's clock (and tests never leave 127.0.0.1).
    log.info("clock", "kept by the host")
    return True


# -- setup mode (extras/web/setup_form.py): on a PC only web.setupMode (no
# setup button; its network is up already). The access point's stand-in
# loads with the page.
def setup_wanted(settings, web):
    return web["setupMode"]


def access_point(ssid, password):
    from uocpp.platform.unix_wlan import access_point

    access_point(ssid, password)


# -- reset and halt --------------------------------------------------------------
def reset():
    log.info("platform", "hard reset: exiting with status %d", _EXIT_HARD_RESET)
    sys.exit(_EXIT_HARD_RESET)


def halt(message):
    # The safe state for a fatal configuration problem: say what is wrong and
    # stop, with a status that tells a supervisor not to restart us.
    log.error("platform", "halted: %s", message)
    sys.exit(_EXIT_CONFIG)
