# sleep.until (issue 24): an interruptible sleep without asyncio.wait_for.
# Woken by the event at once, False at the deadline, a cancel from outside
# still cancels, and nothing of it is left behind: no waker on the event,
# no task woken later, no heap kept per wait.
import gc
import time

import asyncio
from check import eq

from uocpp import sleep


async def test_set_already():
    e = asyncio.Event()
    e.set()
    eq(await sleep.until(e, 1000), True, "an event set before the call")
    eq(await sleep.until(e, 0), True, "also with no time left")
    e.clear()
    eq(await sleep.until(e, 0), False, "no time and not set")


async def test_woken_by_the_event():
    e = asyncio.Event()

    async def later():
        await asyncio.sleep_ms(30)
        e.set()

    asyncio.create_task(later())
    t0 = time.ticks_ms()
    eq(await sleep.until(e, 5000), True, "woken")
    took = time.ticks_diff(time.ticks_ms(), t0)
    eq(took < 500, True, "at once, not at the deadline (%d ms)" % took)


async def test_deadline():
    e = asyncio.Event()
    t0 = time.ticks_ms()
    eq(await sleep.until(e, 40), False, "the time ran out")
    took = time.ticks_diff(time.ticks_ms(), t0)
    eq(40 <= took < 1000, True, "slept its time (%d ms)" % took)
    await asyncio.sleep_ms(0)
    eq(e.waiting.peek(), None, "no waker left on the event")
    # The waker must not wake this task later, when it does something else.
    e.set()
    t0 = time.ticks_ms()
    await asyncio.sleep_ms(60)
    eq(time.ticks_diff(time.ticks_ms(), t0) >= 60, True, "a later set() does not cut another sleep short")


async def test_cancel_from_outside():
    e = asyncio.Event()
    ended = []

    async def sleeper():
        try:
            await sleep.until(e, 5000)
            ended.append("returned")
        except asyncio.CancelledError:
            ended.append("cancelled")
            raise

    t = asyncio.create_task(sleeper())
    await asyncio.sleep_ms(20)
    t.cancel()
    await asyncio.sleep_ms(20)
    eq(ended, ["cancelled"], "a cancel is a cancel")
    eq(e.waiting.peek(), None, "its waker went with it")
    # Cancelled and woken in the same turn: the cancel wins.
    ended.clear()
    t = asyncio.create_task(sleeper())
    await asyncio.sleep_ms(20)
    e.set()
    t.cancel()
    await asyncio.sleep_ms(20)
    eq(ended, ["cancelled"], "cancelled while the event woke it")


async def test_many_sleepers_one_event():
    e = asyncio.Event()
    got = []

    async def sleeper(ms):
        got.append(await sleep.until(e, ms))

    for ms in (5000, 5000, 30):
        asyncio.create_task(sleeper(ms))
    await asyncio.sleep_ms(100)
    eq(got, [False], "the short one timed out")
    e.set()
    await asyncio.sleep_ms(20)
    eq(got, [False, True, True], "the set woke the others")


async def test_no_heap_kept():
    e = asyncio.Event()
    for _ in range(3):
        await sleep.until(e, 1)
    gc.collect()
    before = gc.mem_alloc()
    for _ in range(50):
        await sleep.until(e, 1)
    e.set()
    for _ in range(50):
        await sleep.until(e, 1)
    e.clear()
    gc.collect()
    eq(gc.mem_alloc() - before <= 64, True, "heap kept after 100 waits: %d B" % (gc.mem_alloc() - before))


TESTS = (test_set_already, test_woken_by_the_event, test_deadline, test_cancel_from_outside, test_many_sleepers_one_event, test_no_heap_kept)
