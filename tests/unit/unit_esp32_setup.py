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


class _ShortNtp:
    # micropython-lib's ntptime, as frozen into the ESP32 firmware, reads
    # the server's answer with struct.unpack("!I", msg[40:44]): an answer
    # cut short (a broken or spoofed server, a middlebox) raises ValueError.
    host = None
    calls = 0

    @staticmethod
    def settime():
        import struct

        _ShortNtp.calls += 1
        msg = b"\x1c\x02\x03"  # 3 of the 48 bytes
        struct.unpack("!I", msg[40:44])


async def test_a_short_ntp_answer_is_a_clock_not_set_not_a_crash():
    # sync_clock runs in the start-up before the link (startup.py): what it
    # raises fails the application, and the board resets, meets the same
    # answer again, and resets for ever. A bad answer is one more way NTP
    # can fail: the clock stays as it is and the start goes on.
    sys.modules["ntptime"] = _ShortNtp
    try:
        ok = await esp32.sync_clock({"ntp": {"server": "ntp.example", "timeout": 0}})
    finally:
        del sys.modules["ntptime"]
    eq((ok, _ShortNtp.calls, _ShortNtp.host), (False, 1, "ntp.example"), "tried once, not set, went on")


class _SteppingNtp:
    # ntptime.settime() writes the RTC: time.time(), and with it clock.now(),
    # jumps (here: from a board's 2000-01-01 to years later). The clock
    # module's offset stands in for the RTC the stand-in cannot move.
    host = None
    step = 26 * 365 * 86400

    @staticmethod
    def settime():
        from uocpp import clock

        clock._offset += _SteppingNtp.step


async def test_an_ntp_step_is_a_setting_of_the_clock():
    # NTP sets the RTC before the link (startup.py, link/security.py
    # prepare): a setting of the clock like a BootNotification.conf. Not
    # told to the clock's listeners, the step stayed unmeasured until the
    # next setting, which then moved everything stamped after NTP by it: a
    # transaction started before the BootNotification was accepted had its
    # start (what a TxProfile and a Relative schedule count from, C16 3.13)
    # 26 years in the future. And the clock counted as never set.
    from check import TempDir
    from uocpp import clock
    from uocpp.services.smart_charging import SmartCharging

    class Sessions:
        def on_transaction(self, fn):
            self.fn = fn

    sys.modules["ntptime"] = _SteppingNtp
    saved = (clock._offset, clock.synced)
    try:
        with TempDir("ntp") as d:
            sessions = Sessions()
            smart = SmartCharging(d + "/profiles.json", sessions, None, 1, 32, 230, 3)
            ok = await esp32.sync_clock({"ntp": {"server": "ntp.example", "timeout": 0}})
            eq((ok, clock.synced), (True, True), "set by NTP: the clock is set")
            sessions.fn(1, "CARD1")  # a transaction starts, stamped on the NTP time
            start = smart._tx_start[1]
            clock.set_unix(clock.now())  # the BootNotification.conf agrees with NTP
            eq(abs(smart._tx_start[1] - start) <= 2, True, "start moved by %d s" % (smart._tx_start[1] - start))
    finally:
        del sys.modules["ntptime"]
        clock._offset, clock.synced = saved
        del clock._on_set[:]  # the smart charging listener this test made
