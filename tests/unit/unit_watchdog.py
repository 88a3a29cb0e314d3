# device/watchdog.py (the watchdog and its link check): the link's stall bound follows the
# RetryBackOff* keys in force, not config.json's reconnect section (a board
# reset every minute in the field: RetryBackOffWaitMinimum=90 stored, the
# central system unreachable), and the "not feeding" reason stays the same
# words while it lasts, so its log line is written once.
from check import TempDir, eq

from uocpp import log
from uocpp.device import watchdog as wd
from uocpp.link.link import Link
from uocpp.model.keys import Keys
from uocpp.model.state import State
from uocpp.supervisor import Supervisor

log.set_level("error")


class FakeTime:
    # Stands in for `time` inside watchdog.py: the test moves the clock.
    def __init__(self):
        self.now = 0

    def ticks_ms(self):
        return self.now

    def ticks_diff(self, a, b):
        return a - b


SETTINGS = {"centralSystem": {"chargePointId": "CP1", "connectTimeout": 3, "maxFrameSize": 65536}, "watchdog": {"timeout": 1}, "wifi": {"ssid": ""}}
# config.json's reconnect section, as app.py seeds it
SEEDS = {"RetryBackOffWaitMinimum": 0.2, "RetryBackOffRandomRange": 0, "RetryBackOffRepeatTimes": 2}


def watchdog_with(stored):
    with TempDir("wd") as d:
        with open(d + "/keys.json", "w") as f:
            f.write(stored)
        keys = Keys(d + "/keys.json", SEEDS)
    link = Link(SETTINGS["centralSystem"], keys, None, State(), None)
    armed = []  # the watchdog is armed only in run(); never here
    # Its checks as startup.py gives them: the supervisor's verdict, the link's progress.
    dog = wd.Watchdog(SETTINGS["watchdog"]["timeout"], armed.append)
    dog.checks.append(Supervisor().verdict)
    dog.checks.append(wd.link_stall(link, SETTINGS["centralSystem"]["connectTimeout"]))
    return dog, keys, link


def test_stall_bound_follows_the_stored_keys():
    clock = FakeTime()
    wd.time = clock
    dog, keys, link = watchdog_with('{"RetryBackOffWaitMinimum": "90"}')
    eq(dog.verdict(), None, "first look")
    clock.now = 61000  # config.json's bound would have starved here
    eq(dog.verdict(), None, "61 s into a 90 s back-off")
    clock.now = 359000  # 90 s doubled twice: the longest legitimate wait is 360 s
    eq(dog.verdict(), None, "359 s")
    clock.now = 424000  # 360 + 0 random + 3 connect + 60 margin = 423 s
    eq(dog.verdict(), "link made no progress for over 423 s", "past the bound")


def test_reason_is_the_same_while_it_lasts():
    clock = FakeTime()
    wd.time = clock
    dog, keys, link = watchdog_with("{}")
    dog.verdict()
    clock.now = 100000
    first = dog.verdict()
    clock.now = 200000
    eq(dog.verdict(), first, "same words 100 s later")
    eq(first is not None, True, "starving")


def test_progress_resets_the_bound():
    clock = FakeTime()
    wd.time = clock
    dog, keys, link = watchdog_with("{}")
    dog.verdict()
    clock.now = 60000
    link.backoff.next()  # an attempt: progress
    eq(dog.verdict(), None, "progress")
    clock.now = 120000
    eq(dog.verdict(), None, "60 s after the attempt, within 0.8 + 3 + 60")


class Ticks30:
    # An ESP32's ticks_ms: 30 bits, wraps every 2**30 ms (12.4 days); a
    # ticks_diff past half of that comes out negative. `with Ticks30(module)
    # as ticks:` is the module's time for the block, then its own again.
    def __init__(self, module=None):
        self.now = 0
        self._module = module

    def __enter__(self):
        self._module.time = self
        return self

    def __exit__(self, *exc):
        self._module.time = __import__("time")

    def ticks_ms(self):
        return self.now & 0x3FFFFFFF

    def ticks_add(self, a, b):
        return (a + b) & 0x3FFFFFFF

    def ticks_diff(self, a, b):
        return ((a - b + 0x20000000) & 0x3FFFFFFF) - 0x20000000


def test_failures_days_apart_are_not_one_window():
    # A task that fails once a week (a rare fault restarting
    # cures) never fails 5 times in 10 min: its failures must not pile up
    # in one window because ticks_diff has turned negative (a board reset
    # every five weeks, and a back-off that grows).
    from uocpp import supervisor as sv

    with Ticks30(sv) as ticks:
        s = Supervisor()
        s._tasks = ["rare", None, False, None, None]
        for n in range(6):
            ticks.now = n * 7 * 86400000
            s._failed(0, ValueError("rare"))
            eq(s._tasks[4][2], 1, "failures in the window after failure %d" % (n + 1))
        eq(s.verdict(), None, "the watchdog still fed")


def test_the_flash_log_resumes_after_a_failure_a_week_ago():
    # After a flash failure the ring rests a minute. With the ring's level
    # at error, the next line may come a week later: its ticks_diff reads
    # negative (over half the ticks' period), and the ring stayed silent
    # for 6.2 more days.
    import os

    from uocpp import log_ring

    with Ticks30(log_ring) as ticks:
        with TempDir("ring") as d:
            ring = log_ring.LogRing(d + "/no/ring", 4096, 2)
            try:
                eq(ring.write(b"lost\n") is not None, True, "the flash failed")
                os.mkdir(d + "/no")
                ticks.now = 7 * 86400000
                before = log_ring.written
                eq(ring.write(b"a week later\n"), None, "no failure")
                eq(log_ring.written - before, 13, "bytes written to the ring")
            finally:
                ring.close()
                for name in ("/no/ring/0.txt", "/no/ring", "/no"):
                    try:
                        (os.rmdir if name != "/no/ring/0.txt" else os.remove)(d + name)
                    except OSError:
                        pass


def test_a_flood_of_log_lines_reaches_flash_only_so_far_a_minute():
    # The general log's ring (log.py bounds it) takes at most 8 KB a
    # minute: a central system sending a bad frame every few ms (a line
    # each) no longer writes flash as fast as it can (months to wear it
    # out). The lines over it go to the console only (one reason said);
    # the next minute's first line on flash says lines were not kept.
    from uocpp import log_ring

    with Ticks30(log_ring) as ticks:
        with TempDir("flood") as d:
            ring = log_ring.LogRing(d, 1 << 20, 2)
            ring.count = 0  # as log.open_ring makes it
            line = b"2026-01-01T00:00:00Z W rpc: ignored a frame that is not JSON (ValueError)\n"
            before = log_ring.written
            reasons = [r for r in (ring.write(line) for _ in range(1000)) if r]
            eq(log_ring.written - before <= 8192, True, "at most 8 KB in the minute: %d B" % (log_ring.written - before))
            eq(log_ring.written - before > 8192 - len(line), True, "up to the bound")
            eq(len(reasons), 1, "one reason, for the console")
            ticks.now = 60000
            eq(ring.write(line), None, "the next minute writes again")
            ring.close()
            with open(d + "/0.txt", "rb") as f:
                tail = f.read().split(b"\n")[-3:]
            eq(tail[0].startswith(b"2026-01-01T00:00:00Z W log: lines were not kept on flash"), True, "the gap said: %r" % tail[0])
            eq(tail[1] + b"\n", line, "then the line")
        with TempDir("flood-sec") as d:
            unbounded = log_ring.LogRing(d, 1 << 20, 2)  # the security log's: not bounded here
            before = log_ring.written
            for _ in range(200):
                unbounded.write(line)
            unbounded.close()
            eq(log_ring.written - before, 200 * len(line), "the security log keeps every line")


async def test_a_restart_whose_maker_raises_counts_as_a_failure():
    # A task's maker that raises at a restart (an import: the diag task's)
    # ended the watcher, the one task nobody restarts: no task was
    # restarted any more and the watchdog was fed all the same. It is now
    # a failure of that task: backed off, counted, and judged.
    import asyncio

    calls = []

    async def fails():
        raise ValueError("once")

    def make():
        calls.append(1)
        if len(calls) > 1:
            raise OSError(5)  # EIO: the module's file could not be read
        return fails()

    s = Supervisor(first_ms=10, limit=3)
    s.start("flaky", make)
    try:
        for _ in range(100):
            await asyncio.sleep_ms(50)
            if s.verdict() is not None or s._watcher.done():
                break
        eq(s._watcher.done(), False, "the watcher runs")
        eq(s.verdict() is not None, True, "judged")
    finally:
        s.cancel()


async def test_a_maker_that_raises_at_the_first_start_is_that_tasks_failure():
    # The same failure at the first start (the diag task's import finding
    # no heap) went up through Supervisor.start into App.run: the whole
    # app failed, and main.py reset the board after 5 s. It is that task's
    # failure, as at a restart: backed off, counted, started again.
    import asyncio

    ran = asyncio.Event()
    calls = []

    async def fine():
        ran.set()
        await asyncio.Event().wait()

    def make():
        calls.append(1)
        if len(calls) == 1:
            raise MemoryError
        return fine()

    s = Supervisor(first_ms=10)
    try:
        s.start("diag", make)
        await asyncio.wait_for_ms(ran.wait(), 2000)
        eq((len(calls), s.restarts, s.verdict()), (2, 1, None), "started again once")
    finally:
        s.cancel()


def test_a_phase_switch_refused_a_week_ago_is_tried_again():
    # A switch that could not be made safely (energy/phases.py) waits a
    # minute before the next try. Its time stays recorded: a week later
    # (over half the ticks' period, 6.2 days on a 32-bit board) ticks_diff
    # read negative, "within the minute", and the switch the schedule asks
    # for was not tried for 6.2 more days.
    import asyncio

    from uocpp.energy import phases

    class Energy:
        count, mode, solar_phases, cfg = 1, "fast", None, {}

        def __init__(self):
            self.phases = [3, 3]
            self.want_phases = [None, 1]  # a schedule's numberPhases 1

        def show_phases(self, n):
            pass

    class Evse:
        def relay(self, n):
            return False

        def set_phases(self, n, want):
            pass

    real = asyncio.create_task
    asyncio.create_task = lambda coro: coro.close()  # the switch itself is not this test's
    try:
        with Ticks30(phases) as ticks:
            s = phases.Switcher(Energy(), Evse(), None)
            s._refused_at[1] = ticks.ticks_ms()  # refused now
            s.check()
            eq(s._busy[1], False, "within the minute: not tried")
            ticks.now = 7 * 86400000
            s.check()
            eq(s._busy[1], True, "a week later: tried again")
    finally:
        asyncio.create_task = real


async def test_a_clock_set_after_a_week_offline_is_no_step_of_the_clock():
    # SettingSystemTime is a step of the clock away from where it ran,
    # measured on ticks_ms since the last setting (app.py App.moved). A week
    # offline (no Heartbeat.conf sets the clock) is over half the ticks'
    # period on a board (6.2 days): the next setting, the clock exactly
    # where it ran, read as a step of 12 days, a false critical security
    # event. The app looks at the clock every hour while it runs.
    import asyncio

    from uocpp import app as app_mod
    from uocpp import clock, security_event
    from uocpp.app import App

    week = 7 * 86400
    ticks = Ticks30()
    events = []

    def passes(ms):  # ms of ticks and of the RTC (time.time()) go by
        ticks.now += ms
        clock._offset += ms // 1000

    class Sleep:
        @staticmethod
        async def until(event, ms):
            if event.is_set() or ticks.now >= week * 1000:
                return True
            passes(ms)
            return False

    class Part:
        async def drained(self, seconds):
            pass

        async def close(self):
            pass

        async def settled(self):
            pass

        def get(self, key):
            return 1

    async def started(app, sup):
        pass

    a = object.__new__(App)
    part = Part()
    a.outbox, a.link, a.keys, a.sessions, a.watchdog, a._firmware, a.stop_reason = part, part, part, part, None, [None], "soft"
    a._stopped, a._update = asyncio.Event(), None
    listeners, offset, report, real_start = clock._on_set[:], clock._offset, security_event.report, app_mod._start
    app_mod.time, app_mod._start = ticks, started
    app_mod.sleep = Sleep  # (absent before the fix: nothing to restore)
    security_event.report = lambda kind, info=None: events.append((kind, info))
    del clock._on_set[:]
    try:
        a._seen = [clock.now(), ticks.ticks_ms()]
        clock.on_set(a.moved)
        try:
            await asyncio.wait_for_ms(a.run(), 2000)
        except asyncio.TimeoutError:
            pass  # nothing looked at the clock meanwhile
        passes(week * 1000 - ticks.now)  # a week on, either way
        clock.set_unix(clock.now())  # back online: a Heartbeat.conf, the clock where it ran
        eq(events, [], "security events")
    finally:
        clock._on_set[:] = listeners
        clock._offset, security_event.report, app_mod._start = offset, report, real_start
        app_mod.time = __import__("time")
        app_mod.sleep = __import__("uocpp.sleep").sleep
