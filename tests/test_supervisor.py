"""The task supervisor (lib/uocpp/supervisor.py, issue 22 part C): a task
that raises is logged once with its traceback, on the console and in the
flash log ring, and restarted with a back-off; a task that keeps failing
starves the watchdog; a task that returns is restarted unless it may end.
Run on MicroPython with the real supervisor, log ring and the unix
platform's watchdog."""

import re

from harness.firmware import EXIT_HARD_RESET, REPO, run_micropython

PRELUDE = """
import asyncio
from uocpp import log, platform
from uocpp.supervisor import Supervisor
from uocpp.device import watchdog as wd
log.set_level("info")
log.open_ring(%r, "warning", 20000, 2)
"""


def run(tmp_path, body):
    ring = tmp_path / "log"
    ring.mkdir()
    result = run_micropython(PRELUDE % str(ring) + body, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    flash = "".join(p.read_text() for p in sorted(ring.glob("*.txt")))
    return result.stdout, flash


def test_a_failing_task_is_logged_with_its_traceback_and_restarted(tmp_path):
    out, flash = run(
        tmp_path,
        """
runs = [0]

async def flaky():
    runs[0] += 1
    if runs[0] <= 2:
        await asyncio.sleep_ms(10)
        raise ValueError("boom %d" % runs[0])
    await asyncio.sleep_ms(100000)

async def main():
    sup = Supervisor(first_ms=100)
    sup.start("flaky", flaky)
    for _ in range(100):
        await asyncio.sleep_ms(50)
        if runs[0] == 3:
            break
    await asyncio.sleep_ms(100)
    print("runs", runs[0], "restarts", sup.restarts, "failing", sup.failing)
    sup.cancel()

asyncio.run(main())
""",
    )
    assert "runs 3 restarts 2 failing None" in out
    # Once per failure, with its traceback (console) ...
    assert len(re.findall(r"E supervisor: the flaky task failed; restart in \d+ ms", out)) == 2
    assert out.count("Traceback (most recent call last)") == 2
    assert "ValueError: boom 1" in out and "ValueError: boom 2" in out
    assert re.search(r"restart in 100 ms.*\n(.*\n)*.*restart in 200 ms", out), "back-off doubles"
    # ... and in the flash ring, one entry each, the traceback joined with " | ".
    lines = [line for line in flash.splitlines() if "the flaky task failed" in line]
    assert len(lines) == 2
    assert all("Traceback (most recent call last): | " in line and "ValueError: boom" in line for line in lines)
    assert "Unhandled exception" not in out  # the loop's own handler never had to speak


def test_a_task_that_keeps_failing_starves_the_watchdog(tmp_path):
    out, flash = run(
        tmp_path,
        """
async def crashes():
    raise OSError(28)

async def fine():
    await asyncio.sleep_ms(100000)

async def main():
    sup = Supervisor(first_ms=20, limit=4)
    dog = wd.Watchdog(1, platform.watchdog)
    dog.checks.append(sup.verdict)
    t = asyncio.create_task(dog.run())
    sup.start("fine", fine)
    await asyncio.sleep_ms(300)
    print("fed before", dog.feeds, dog.starving)
    sup.start("metering", crashes)
    for _ in range(100):
        await asyncio.sleep_ms(50)
        if dog.starving:
            break
    fed = dog.feeds
    await asyncio.sleep_ms(600)
    print("starving", dog.starving)
    print("fed after", dog.feeds - fed)
    t.cancel()
    sup.cancel()

asyncio.run(main())
""",
    )
    assert re.search(r"fed before [1-9]\d* None", out)
    assert re.search(r"starving the metering task failed 4 times in \d+ s", out)
    assert "fed after 0" in out
    assert "watchdog: not feeding: the metering task failed 4 times" in out
    # The traceback once, then one short line per repeat of the same failure.
    assert out.count("Traceback (most recent call last)") == 1
    assert len(re.findall(r"the metering task failed again: OSError\(28,?\)", out)) >= 3
    assert "watchdog: not feeding" in flash


def test_a_task_that_returns_is_restarted_unless_it_may_end(tmp_path):
    out, _ = run(
        tmp_path,
        """
counts = {"forever": 0, "boot": 0}

async def returns(name):
    counts[name] += 1

async def main():
    sup = Supervisor(first_ms=50)
    sup.start("forever", lambda: returns("forever"))
    sup.start("boot", lambda: returns("boot"), True)
    for _ in range(60):
        await asyncio.sleep_ms(50)
        if counts["forever"] >= 3:
            break
    print("counts", counts["forever"] >= 3, counts["boot"])
    sup.cancel()

asyncio.run(main())
""",
    )
    assert "counts True 1" in out
    assert "supervisor: the boot task has ended (by design)" in out
    assert "E supervisor: the forever task ended; restart in 50 ms" in out


def test_a_restart_that_finds_no_heap_is_tried_again_and_the_watcher_lives(tmp_path):
    # The watcher is the one task nobody restarts: a MemoryError in its tick
    # (here making the restarted task) must not end it.
    out, _ = run(
        tmp_path,
        """
runs = [0]
makes = [0]

async def flaky():
    runs[0] += 1
    if runs[0] == 1:
        raise ValueError("boom")
    await asyncio.sleep_ms(100000)

def make():
    makes[0] += 1
    if makes[0] == 2:
        raise MemoryError("memory allocation failed, allocating 64 bytes")
    return flaky()

async def main():
    sup = Supervisor(first_ms=50)
    sup.start("flaky", make)
    for _ in range(100):
        await asyncio.sleep_ms(50)
        if runs[0] == 2:
            break
    print("runs", runs[0], "makes", makes[0], "watcher", sup._watcher.done(), "restarts", sup.restarts)
    sup.cancel()

asyncio.run(main())
""",
    )
    assert "runs 2 makes 3 watcher False restarts 1" in out, out
    assert out.count("I supervisor: the flaky task restarted") == 1


def test_a_detached_helper_task_failure_reaches_the_log(tmp_path):
    # A helper that finds no heap is one line, no traceback built: the event
    # loop's exception handler also runs with the heap still locked
    # (micropython.heap_lock: every allocation fails), and must then allocate
    # nothing on its way (one raised there would end asyncio.run).
    out, flash = run(
        tmp_path,
        """
import micropython

async def helper(what):
    if what == "locked":
        micropython.heap_lock()
        raise MemoryError
    if what == "no heap":
        raise MemoryError("memory allocation failed, allocating 96 bytes")
    raise KeyError("after")

async def idle():
    await asyncio.sleep_ms(100000)

async def main():
    sup = Supervisor()
    sup.start("idle", idle)
    for what in ("key", "no heap", "locked"):
        asyncio.create_task(helper(what))
        await asyncio.sleep_ms(50)
    micropython.heap_unlock()
    print("loop alive", sup.restarts)
    sup.cancel()

asyncio.run(main())
""",
    )
    assert "E supervisor: a helper task failed" in out
    assert "KeyError: after" in out
    assert "a helper task failed" in flash
    assert out.count("E supervisor: a helper task found no heap: its work is not done") == 1  # the locked one's line is lost, not the loop
    assert out.count("Traceback") == 1  # the KeyError's only
    assert "loop alive 0" in out


def test_an_application_that_fails_outside_every_task_resets_the_board(cs, firmware, tmp_path):
    """main.py's last line of defence: an exception that escapes the application itself (here App() raising, in a
    copy of lib/uocpp whose app.py does) is logged with its traceback and the board resets after a pause (the unix
    port exits 75, as a hard reset); nothing leaves a charger at the REPL prompt."""
    fake = tmp_path / "fake" / "uocpp"
    fake.mkdir(parents=True)
    for entry in (REPO / "lib" / "uocpp").iterdir():
        if entry.name != "app.py":
            (fake / entry.name).symlink_to(entry)
    (fake / "app.py").write_text("class App:\n    def __init__(self, settings, update=None):\n        raise RuntimeError('boom at start')\n")
    fw = firmware(cs.port, env={"MICROPYPATH": ".frozen:%s:%s" % (fake.parent, REPO / "lib")})
    fw.wait_log("the application failed: resetting in 5 s")
    assert fw.wait_exit(15) == EXIT_HARD_RESET
    assert "boom at start" in fw.log
