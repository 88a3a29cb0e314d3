# When an ESP32 starts in setup mode (platform/esp32.py setup_wanted), with
# stand-ins for `machine` and `network` (hardware a PC lacks) put in
# sys.modules before the platform module is imported. WEB-01.
import sys

from check import eq


class _Pin:
    IN = 1
    PULL_UP = 2
    level = 1  # the setup button: pulled up, pressed = 0

    def __init__(self, n, mode=None, pull=None):
        self.n = n

    def value(self):
        return _Pin.level


class _Machine:
    Pin = _Pin


sys.modules["machine"] = _Machine()
sys.modules["network"] = object()

from uocpp.platform import esp32  # noqa: E402


def settings(ssid="", modem=False):
    return {"wifi": {"ssid": ssid}, "modem": {"enabled": modem}}


def web(mode=False, button=-1, without_wifi=True):
    return {"setupMode": mode, "setupButton": button, "setupWithoutWifi": without_wifi}


def test_a_fresh_board_without_wifi_starts_in_setup_mode():
    eq(esp32.setup_wanted(settings(), web()), True, "no ssid, no other link")
    eq(esp32.setup_wanted(settings("home"), web()), False, "Wi-Fi configured")


def test_a_modem_or_wired_board_without_wifi_runs_ocpp():
    eq(esp32.setup_wanted(settings(modem=True), web()), False, "modem link")
    eq(esp32.setup_wanted(settings(), web(without_wifi=False)), False, "wired link")


def test_the_flag_and_the_button_start_setup_mode_whatever_the_link():
    eq(esp32.setup_wanted(settings("home", True), web(mode=True)), True, "web.setupMode")
    _Pin.level = 0
    eq(esp32.setup_wanted(settings("home"), web(button=4)), True, "button held")
    _Pin.level = 1
    eq(esp32.setup_wanted(settings("home"), web(button=4)), False, "button not held")
