"""The platform layer and the device services: Wi-Fi, watchdog, RTC and clock.

On the unix port the platform module stands in for the hardware (a
simulated radio driven by a file, a watchdog and an RTC that log what a
board would do); the policies around them are the same code an ESP32 runs.
"""

import json
import random
import re
import sys
from datetime import datetime, timedelta, timezone

from harness.firmware import REPO, run_micropython

LIB = REPO / "lib" / "uocpp"


def test_only_the_platform_layer_touches_machine_and_network():
    """Nothing in lib/uocpp but platform/esp32.py imports `machine` or `network`."""
    pattern = re.compile(r"^\s*(import\s+[\w, ]*\b(machine|network)\b|from\s+(machine|network)\b)|__import__\(\s*[\"'](machine|network)", re.M)
    offenders = []
    for path in sorted(LIB.rglob("*.py")):
        if path.relative_to(LIB).as_posix() in ("platform/esp32.py", "platform/esp32_evse.py"):
            assert pattern.search(path.read_text()), "esp32.py is where machine/network belong"
            continue
        if pattern.search(path.read_text()):
            offenders.append(path.relative_to(REPO).as_posix())
    assert offenders == []


def test_imports_run_platform_to_device_never_back():
    """Issue 26: platform/ may import device/ (drivers it builds), device/ never imports platform/ (it is handed the
    port's functions: watchdog.py Board, modem.py), so the two layers import one way only."""
    pattern = re.compile(r"^\s*(from\s+uocpp\.platform\b|import\s+uocpp\.platform\b|from\s+uocpp\s+import\s+[\w, ]*\bplatform\b)", re.M)
    offenders = [p.relative_to(REPO).as_posix() for p in sorted((LIB / "device").rglob("*.py")) if pattern.search(p.read_text())]
    assert offenders == []
    # and the check can fail: the pattern finds each way of writing it
    for line in ("from uocpp.platform import evse", "import uocpp.platform.unix", "from uocpp import log, platform"):
        assert pattern.search(line), line


# -- clock: ISO 8601 UTC and the RTC tuple ------------------------------------


def test_clock_conversions_match_the_calendar():
    """J-21: format_iso is ISO 8601 UTC with Z; rtc_datetime gives RTC.datetime's tuple (weekday 0 = Monday)."""
    rng = random.Random(21)
    edges = [0, 951782400, 951868800, 4107542400, 2147483647, 2147483648, 4102444799, 1709164800, 86399, 1234567890]
    samples = edges + [rng.randrange(0, 2**33) for _ in range(300)]
    code = "from uocpp import clock\nfor t in %s:\n    print(clock.format_iso(t), clock.rtc_datetime(t))" % json.dumps(samples)
    result = run_micropython(code)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == len(samples)
    for t, line in zip(samples, lines):
        d = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=t)
        iso, rtc = line.split(" ", 1)
        assert iso == d.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert rtc == repr((d.year, d.month, d.day, d.weekday(), d.hour, d.minute, d.second, 0))


def test_current_time_with_an_offset_sets_the_rtc_in_utc():
    """J-21, BN-05: currentTime in any offset becomes UTC, for the clock and for the RTC tuple."""
    code = """
from uocpp import clock, log, platform
log.set_level("debug")
unix = clock.parse_iso("2031-05-06T02:30:15.250+02:00")
clock.set_unix(unix)
platform.set_rtc(unix)
print(clock.now_iso())
"""
    result = run_micropython(code)
    assert result.returncode == 0, result.stderr
    assert "RTC.datetime((2031, 5, 6, 1, 0, 30, 15, 0)) = 2031-05-06T00:30:15Z" in result.stdout
    assert result.stdout.splitlines()[-1] in ("2031-05-06T00:30:15Z", "2031-05-06T00:30:16Z")


def timestamps(value):
    """Every timestamp-like field (timestamp, *Time) in a payload, however deep."""
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, str) and (key == "timestamp" or key.endswith("Time")):
                yield item
            else:
                yield from timestamps(item)
    elif isinstance(value, list):
        for item in value:
            yield from timestamps(item)


def test_rtc_is_set_from_the_boot_notification_current_time(cs, firmware, monkeypatch):
    """BN-05, J-21: currentTime sent with +05:30 goes to the RTC in UTC; every timestamp sent after is ISO 8601 UTC from it."""
    central_system = sys.modules["central_system"]
    monkeypatch.setattr(central_system, "utc_now", lambda: "2030-01-01T05:30:00.000+05:30")
    fw = firmware(cs.port, {"connectors": {"count": 2}})
    cs.wait_received("BootNotification")
    fw.wait_log(r"rtc: unix stand-in: RTC\.datetime\(\(2030, 1, 1, 1, 0, 0, 0, 0\)\) = 2030-01-01T00:00:00Z")
    cs.wait_received("StatusNotification", count=3)
    sent = [t for frame in cs.received() for t in timestamps(frame.payload)]
    assert len(sent) >= 3
    for stamp in sent:
        assert re.fullmatch(r"2030-01-01T00:00:0\dZ", stamp), stamp


# -- watchdog -------------------------------------------------------------------


def test_watchdog_is_fed_while_the_firmware_runs(cs, firmware):
    """The watchdog task feeds the (stand-in) hardware watchdog at a quarter of its timeout while healthy."""
    fw = firmware(cs.port, {"watchdog": {"timeout": 1}})
    cs.wait_received("BootNotification")
    fw.wait_log(r"watchdog: armed: 1000 ms")
    fw.wait_log(r"watchdog: fed \(12\)", timeout=6)
    assert "would have reset" not in fw.log
    assert "not feeding" not in fw.log


def test_watchdog_stops_feeding_when_a_task_dies_or_stalls():
    """Feeding stops (and says why) when a forever-task ends or stops making progress; resumes when healthy."""
    code = """
import asyncio
from uocpp import log, platform
from uocpp.device import watchdog as wd
log.set_level("info")

async def crashes():
    await asyncio.sleep_ms(300)
    raise ValueError("boom")

async def main():
    dog = wd.Watchdog(1, platform.watchdog)
    task = asyncio.create_task(crashes())
    dog.checks.append(lambda: "the link task has ended" if task.done() else None)  # a task meant to run for ever
    ok = asyncio.create_task(dog.run())
    await asyncio.sleep_ms(200)
    print("fed before", dog.feeds)
    await asyncio.sleep_ms(1000)
    print("fed after", dog.feeds, dog.starving)
    ok.cancel()

    counter = [0]
    dog = wd.Watchdog(1, platform.watchdog)
    dog.checks.append(wd.progress("wifi", lambda: counter[0], lambda: 0.3))
    t = asyncio.create_task(dog.run())
    await asyncio.sleep_ms(900)
    stalled = dog.feeds
    print("stalled", dog.starving)
    counter[0] += 1
    # The next check sees the progress: wait for it (bounded), not for a time,
    # since without more progress it starves again 0.3 s later.
    for _ in range(100):
        await asyncio.sleep_ms(20)
        if dog.starving is None and dog.feeds > stalled:
            break
    print("resumed", dog.feeds > stalled, dog.starving)
    t.cancel()

asyncio.run(main())
"""
    result = run_micropython(code)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    before = int(re.search(r"fed before (\d+)", out).group(1))
    after = re.search(r"fed after (\d+) (.*)", out)
    assert before >= 1
    assert int(after.group(1)) <= before + 1  # at most the feed already due when the task died
    assert after.group(2) == "the link task has ended"
    assert "watchdog: not feeding: the link task has ended; the board resets within 1000 ms" in out
    assert "stalled wifi made no progress for over 0.3 s" in out
    assert "resumed True None" in out
    assert "watchdog: healthy again: feeding resumed" in out


# -- Wi-Fi ------------------------------------------------------------------------


def wifi_config(**over):
    cfg = {"ssid": "TestNet", "password": "wifi-secret-1", "timeout": 1, "stableTime": 0.5}
    cfg.update(over)
    return {"wifi": cfg}


def test_wifi_waits_for_a_stable_link_then_reconnects_after_a_drop(cs, firmware, tmp_path):
    """BO-01: no connection before Wi-Fi is up and stable; a drop closes the link; Wi-Fi and link come back."""
    radio = tmp_path / "wifi_link"
    radio.write_text("down")
    fw = firmware(cs.port, wifi_config(), env={"OCPP_WIFI_LINK": str(radio)})
    fw.wait_log(r"wifi: not up after 1\.0 s; retrying in \d\.\d s \(attempt 1\)", timeout=5)
    assert cs.received() == []
    radio.write_text("up")
    fw.wait_log(r"wifi: associated, address 127\.0\.0\.1; waiting 0\.5 s for it to stay up", timeout=5)
    fw.wait_log(r"wifi: up and stable \(TestNet\)")
    cs.wait_received("BootNotification")
    log = fw.log
    assert log.index("wifi: up and stable") < log.index("link: connecting")
    assert "wifi-secret-1" not in log

    radio.write_text("down")
    fw.wait_log(r"wifi: link to TestNet dropped; reconnecting", timeout=5)
    fw.wait_log(r"link: dropping the connection: wifi down")
    radio.write_text("up")
    fw.wait_log(r"wifi: up and stable", count=2, timeout=10)
    fw.wait_log(r"link: connected \(connection 2\)", timeout=10)
    assert len(cs.received("BootNotification")) == 1  # J-24: a reconnect is no new boot


def test_wifi_retries_in_a_long_outage_keep_the_log_from_before_it():
    """Every Wi-Fi attempt logged "connecting to" and a "retrying in" warning (log.flashLevel info, 32 KB ring):
    a few hours without the network and the log from before the outage was gone when GetDiagnostics could run.
    The first attempts are said, then only the 8th, 16th, 32nd..."""
    code = """
import asyncio
from uocpp import log
from uocpp.device.wifi import Wifi
from uocpp.link.backoff import Backoff

class Station:
    attempts = 0
    def connect(self, ssid, password):
        self.attempts += 1
        raise OSError("no AP")
    def disconnect(self):
        pass
    def isconnected(self):
        return False

async def main():
    station = Station()
    wifi = Wifi(station, {"ssid": "Gone", "password": "", "timeout": 1, "stableTime": 0.6}, print)
    wifi._w[5] = Backoff(0.001, 0, 1)  # the back-off's waits, not its count
    task = asyncio.create_task(wifi.connect())
    while station.attempts < 300:
        await asyncio.sleep_ms(0)
    task.cancel()
    print("attempts", station.attempts)

log.set_level("info")
asyncio.run(main())
"""
    result = run_micropython(code)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "attempts 300" in out
    lines = [line for line in out.splitlines() if " wifi: " in line]
    assert "(attempt 1)" in lines[1] and len(lines) <= 40, len(lines)


def test_wifi_flapping_link_is_not_called_up():
    """A link that drops within stableTime counts as a failed attempt, with back-off before the next one."""
    code = """
import asyncio, time
from uocpp import log
from uocpp.device.wifi import Wifi

class Station:
    # up for 0.35 s after the first connect (a flap), then up for good after the second
    def __init__(self):
        self.connects = []
    def connect(self, ssid, password):
        self.connects.append(time.ticks_ms())
    def disconnect(self):
        pass
    def isconnected(self):
        if not self.connects:
            return False
        since = time.ticks_diff(time.ticks_ms(), self.connects[-1])
        if len(self.connects) == 1:
            return 100 <= since < 450
        return since >= 50
    def ifconfig(self):
        return ("10.0.0.7",)

async def main():
    station = Station()
    wifi = Wifi(station, {"ssid": "Flappy", "password": "", "timeout": 1, "stableTime": 0.6}, print)
    t0 = time.ticks_ms()
    await wifi.connect()
    print("up after", time.ticks_diff(time.ticks_ms(), t0), "connects", len(station.connects), wifi.up.is_set())

asyncio.run(main())
"""
    result = run_micropython(code)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "wifi: dropped again within 0.6 s; retrying in" in out
    m = re.search(r"up after (\d+) connects (\d+) True", out)
    assert m and m.group(2) == "2"
    # flap (~0.5 s) + back-off (1..2 s) + association (0.05 s) + stable (0.6 s)
    assert 1800 <= int(m.group(1)) <= 4000
