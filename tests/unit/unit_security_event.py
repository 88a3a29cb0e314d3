# security_event.py and security_log.py: MemoryExhaustion from the link's and
# the supervisor's MemoryError recoveries (hard to provoke in a whole
# firmware), the flood limit, what is sent and what only logged, a cleared
# log, a report before the app is wired, and security_log's code leaving the
# heap after each event.
import asyncio
import os
import sys

from check import TempDir, eq
from unit_link_memory import CS, Security  # target(): nothing listens; attempted(): MemoryError once

from uocpp import log, security_event
from uocpp.link.link import Link
from uocpp.model.keys import Keys
from uocpp.model.state import State

log.set_level("error")


class Outbox:
    def __init__(self):
        self.stored = []

    def store(self, action, payload, tag=None):
        self.stored.append((action, payload))

    def stored_count(self, action):
        return len([a for a, _p in self.stored if a == action])


class SecDir(TempDir):
    # TempDir, with the security log's directory inside it removed first.
    def __exit__(self, *exc):
        d = self.path + "/security"
        try:
            for name in os.listdir(d):
                os.remove(d + "/" + name)
            os.rmdir(d)
        except OSError:
            pass
        super().__exit__(*exc)


def lines(d):
    out = []
    for n in (3, 2, 1, 0):
        try:
            with open("%s/%d.txt" % (d, n)) as f:
                out.extend(line.split(" ", 2)[1:] for line in f.read().splitlines())
        except OSError:
            pass
    return out


def wired(tmp, send=True):
    security_event._where[3] = None
    security_event._where[4].clear()
    ob = Outbox()
    security_event._where[:3] = tmp + "/security", ob, send  # as startup.py wires it
    return ob


async def test_a_memory_error_in_the_link_is_memory_exhaustion():
    with SecDir("secev") as tmp:
        ob = wired(tmp)
        keys = Keys(tmp + "/keys.json", {"RetryBackOffWaitMinimum": 0.05, "RetryBackOffRandomRange": 0, "RetryBackOffRepeatTimes": 1})
        sec = Security()
        task = asyncio.create_task(Link(CS, keys, sec, State(), None).run())
        for _ in range(100):
            await asyncio.sleep_ms(50)
            if sec.attempts >= 2:
                break
        task.cancel()
        eq(lines(tmp + "/security"), [["MemoryExhaustion", "link"]], "the security log")
        eq([(a, p["type"], p["techInfo"]) for a, p in ob.stored], [("SecurityEventNotification", "MemoryExhaustion", "link")], "queued (critical)")


async def test_a_task_ended_by_a_memory_error_is_memory_exhaustion():
    from uocpp.supervisor import Supervisor

    async def short():
        raise MemoryError("memory allocation failed")

    with SecDir("secev") as tmp:
        ob = wired(tmp)
        sup = Supervisor(first_ms=5000)
        sup.start("metering", short)
        for _ in range(40):
            await asyncio.sleep_ms(50)
            if ob.stored:
                break
        sup.cancel()
        eq(lines(tmp + "/security"), [["MemoryExhaustion", "metering"]], "the security log")
        eq(ob.stored[0][1]["type"], "MemoryExhaustion", "queued")


def test_floods_are_one_line_a_second_non_critical_not_sent_and_the_code_leaves():
    with SecDir("secev") as tmp:
        ob = wired(tmp)
        for _ in range(5):
            security_event.report("InvalidMessages", "bad\nframe")
        security_event.report("ReconfigurationOfSecurityParameters", "AuthorizationKey")
        security_event.report("TamperDetectionActivated", "lid")
        security_event.report("TamperDetectionActivated", "lid again")  # not a flood type: every one counts
        eq(
            lines(tmp + "/security"),
            [
                ["InvalidMessages", "bad frame"],
                ["ReconfigurationOfSecurityParameters", "AuthorizationKey"],
                ["TamperDetectionActivated", "lid"],
                ["TamperDetectionActivated", "lid again"],
            ],
            "the security log",
        )
        eq([p["techInfo"] for _a, p in ob.stored], ["lid", "lid again"], "only the critical ones queued")
        eq("uocpp.security_log" in sys.modules, False, "security_log's code left the heap")


def test_at_most_20_notifications_wait_in_the_journal():
    with SecDir("secev") as tmp:
        ob = wired(tmp)
        for n in range(25):
            security_event.report("TamperDetectionActivated", "n=%d" % n)
        eq(len(ob.stored), 20, "queued")
        eq(len(lines(tmp + "/security")), 25, "every one in the security log")


def test_notifications_off_log_only_and_a_cleared_log_is_reported():
    with SecDir("secev") as tmp:
        ob = wired(tmp, send=False)
        security_event.report("StartupOfTheDevice", "1.0")
        eq(ob.stored, [], "nothing queued while off")
        os.remove(tmp + "/security/0.txt")
        ob = wired(tmp)  # the next boot
        security_event.report("StartupOfTheDevice", "1.0")
        eq(lines(tmp + "/security"), [["SecurityLogWasCleared", ""], ["StartupOfTheDevice", "1.0"]], "the security log")
        eq([p["type"] for _a, p in ob.stored], ["SecurityLogWasCleared", "StartupOfTheDevice"], "both critical")


def test_a_report_before_the_app_is_wired_is_the_console_only():
    security_event._where[0] = None
    security_event.report("StartupOfTheDevice")  # no directory: nothing on flash, no error
    eq("uocpp.security_log" in sys.modules, False, "not even loaded")


def test_a_report_with_no_heap_at_all_never_raises():
    # Reported from error paths, MemoryError ones too (the supervisor's
    # handlers): with the heap locked (every allocation fails) its line is
    # lost, the caller goes on.
    import micropython

    security_event._where[0] = None
    security_event._where[4].clear()  # the rate's record: a first report inserts its key
    micropython.heap_lock()
    try:
        security_event.report("MemoryExhaustion", "a helper task")
        raised = None
    except MemoryError as e:
        raised = e
    finally:
        micropython.heap_unlock()
    eq(raised, None, "raised")


def test_a_flood_type_a_week_later_is_reported():
    # The flood limit's "within a second" read a negative ticks_diff once
    # more than half the ticks' period (6.2 days on a 32-bit board) had
    # passed since the last report: every InvalidMessages was then dropped
    # for the next 6.2 days.
    from unit_watchdog import Ticks30

    with Ticks30(security_event) as ticks, SecDir("secev") as tmp:
        wired(tmp)
        security_event.report("InvalidMessages", "first")
        ticks.now = 7 * 86400000
        security_event.report("InvalidMessages", "a week later")
        eq(lines(tmp + "/security"), [["InvalidMessages", "first"], ["InvalidMessages", "a week later"]], "the security log")


def test_a_long_flood_keeps_the_earlier_events():
    # InvalidMessages and MemoryExhaustion were one line a second each for
    # as long as they came: a peer sending bad frames for a few minutes
    # filled the 16 KB ring (~200 lines) and every earlier security event
    # was gone. A flood's lines now come ever further apart.
    from unit_watchdog import Ticks30

    with Ticks30(security_event) as ticks, SecDir("secev") as tmp:
        wired(tmp, False)
        security_event.report("TamperDetectionActivated", "lid opened")
        for _ in range(3600):  # an hour of it, a report of each a second
            ticks.now += 1000
            security_event.report("InvalidMessages", "x" * 60)
            security_event.report("MemoryExhaustion", "y" * 60)
        got = lines(tmp + "/security")
        eq(got[0], ["TamperDetectionActivated", "lid opened"], "the earlier event")
        eq(len(got) <= 30, True, "%d lines for an hour of flood" % len(got))
        ticks.now += 3 * 3600000  # long quiet: the next one is said at once
        security_event.report("InvalidMessages", "again")
        eq(lines(tmp + "/security")[-1], ["InvalidMessages", "again"], "after a quiet spell")


def test_a_first_line_a_full_flash_refused_is_no_cleared_log():
    # The first boot's first line finds the flash full (LittleFS has no
    # block for the ring's directory; the marker beside it, an entry in a
    # directory that exists, still fits). Nothing was ever on flash, so
    # nothing was cleared: the next boot must not report
    # SecurityLogWasCleared (a critical event, sent to the central system).
    from uocpp.log_ring import LogRing

    real = LogRing._open

    def full(self, turn=False):
        raise OSError(28)  # ENOSPC

    with SecDir("secev") as tmp:
        wired(tmp)
        LogRing._open = full
        try:
            security_event.report("StartupOfTheDevice", "1.0")
            security_event.report("TamperDetectionActivated", "lid")  # dropped: the ring rests a minute
        finally:
            LogRing._open = real
        eq(lines(tmp + "/security"), [], "nothing on flash")
        ob = wired(tmp)  # the next boot, with room again
        security_event.report("StartupOfTheDevice", "1.0")
        eq(lines(tmp + "/security"), [["StartupOfTheDevice", "1.0"]], "the security log")
        eq([p["type"] for _a, p in ob.stored], ["StartupOfTheDevice"], "queued")
        os.remove(tmp + "/security/0.txt")
        ob = wired(tmp)  # a boot after the log was cleared: still told
        security_event.report("StartupOfTheDevice", "1.0")
        eq([p["type"] for _a, p in ob.stored], ["SecurityLogWasCleared", "StartupOfTheDevice"], "cleared: reported")
