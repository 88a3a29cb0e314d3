# Starts the firmware's long-lived tasks and keeps them running. A task that
# raises is logged once with its traceback (console and flash ring) and
# started again after a back-off (1, 2, 4 ... s, at most 60 s); one that
# fails _LIMIT times within _WINDOW_MS is reported to the watchdog
# (verdict()), which stops feeding, so the board resets: only a fault that
# restarting does not cure costs a reboot. A task that returns is a failure
# too, unless it was started with may_end (each caller says why it may).
#
# Heap: no wrapper coroutine per task (a generator frame each); one watcher
# task looks at every task twice a second, and the loop's exception handler
# logs the failures of detached helper tasks (a link's reader, an
# operation's after()), which would otherwise only reach the console.
import asyncio
import time

from micropython import const

from uocpp import log, security_event

_FIRST_MS = const(1000)
_MOST_MS = const(60000)
_LIMIT = const(5)
_WINDOW_MS = const(600000)  # 5 failures within 10 min: restarting does not help
_TICK_MS = const(500)

# The tasks: one flat list, _SLOTS items per task: name, make, may_end,
# task, failures; failures is None until the first one, then [restart at
# (None: running), next delay, failures in the window, the window's start,
# the last failure's text]. One list for all: a list per task would cost
# its object and its items' block (48 B a task on 32-bit), a dict by name
# its table; a healthy task carries no failure record.
_NAME = const(0)
_MAKE = const(1)
_MAY_END = const(2)
_TASK = const(3)
_FAILS = const(4)
_SLOTS = const(5)
_AT = const(0)
_DELAY = const(1)
_COUNT = const(2)
_SINCE = const(3)
_LAST = const(4)


class Supervisor:
    def __init__(self, first_ms=_FIRST_MS, limit=_LIMIT):
        # first_ms, limit: the first back-off, and the failures within the
        # window that starve the watchdog (tests shorten them).
        self._first_ms = first_ms
        self._limit = limit
        self._tasks = []  # (above)
        self._watcher = None
        self.restarts = 0  # every restart since boot (the reply fuzzer wants 0)
        self.failing = None  # why the watchdog must stop feeding, once a task keeps failing

    def start(self, name, make, may_end=False):
        # make() -> the coroutine to run; called again for each restart. A
        # maker that raises now (an import finding no heap) is that task's
        # failure, as at a restart, not the app's.
        t = self._tasks
        t += (name, make, may_end, None, None)
        try:
            t[-2] = asyncio.create_task(make())
        except Exception as e:
            self._failed(len(t) - _SLOTS, e)
        if self._watcher is None:
            asyncio.get_event_loop().set_exception_handler(self._on_exception)
            self._watcher = asyncio.create_task(self._watch())

    def verdict(self):
        # For the watchdog (device/watchdog.py Watchdog.checks).
        return self.failing

    def cancel(self):
        # -> the tasks, cancelled: each ends (its finally closes a socket, a
        # server) only when the loop runs it again (App.run waits for that).
        if self._watcher is not None:
            self._watcher.cancel()
            self._watcher = None
            asyncio.get_event_loop().set_exception_handler(None)
        tasks = []
        for task in self._tasks[_TASK::_SLOTS]:
            if task is not None:  # None: its maker raised at the start
                task.cancel()
                tasks.append(task)
        self._tasks = []
        return tasks

    def _on_exception(self, loop, context):
        task = context.get("future")
        t = self._tasks
        for i in range(_TASK, len(t), _SLOTS):
            if t[i] is task:
                return  # the watcher restarts it and logs why
        exc = context.get("exception")
        if isinstance(exc, MemoryError):
            # A helper (an operation's work after its reply, a link's
            # reader) found no heap: that work is lost, said in one line
            # with nothing to format, as a supervised task's would be; no
            # traceback to build where there is no heap.
            log.error("supervisor", "a helper task found no heap: its work is not done")
            security_event.report("MemoryExhaustion", "a helper task")
            return
        log.exception("supervisor", "a helper task failed", exc)

    async def _watch(self):
        # The one task nobody restarts: a MemoryError in a tick (a restart's
        # new task, a failure's record) ends that tick only, and what it did
        # not finish is found again at the next (a restart stays due until
        # its task is made).
        while True:
            await asyncio.sleep_ms(_TICK_MS)
            try:
                gone = None
                t = self._tasks
                for i in range(0, len(t), _SLOTS):
                    f = t[i + _FAILS]
                    if f is not None and f[_AT] is not None:
                        if time.ticks_diff(time.ticks_ms(), f[_AT]) >= 0:
                            try:
                                t[i + _TASK] = asyncio.create_task(t[i + _MAKE]())
                            except MemoryError:
                                raise
                            except Exception as e:
                                # Its maker failed (an import): a failure
                                # of the task, never of the watcher.
                                self._failed(i, e)
                                continue
                            f[_AT] = None
                            log.info("supervisor", "the %s task restarted", t[i + _NAME])
                        continue
                    task = t[i + _TASK]
                    if not task.done():
                        continue
                    exc = task.data  # what ended it: its exception, or StopIteration
                    if isinstance(exc, StopIteration) or exc is None:
                        exc = None
                        if t[i + _MAY_END]:
                            log.info("supervisor", "the %s task has ended (by design)", t[i + _NAME])
                            gone = i
                            continue
                    self._failed(i, exc)
                if gone is not None:
                    del t[gone : gone + _SLOTS]  # one per tick is enough: another waits for the next
            except MemoryError:
                pass

    def _failed(self, i, exc):
        # i: the task's first slot in self._tasks.
        now = time.ticks_ms()
        t = self._tasks
        f = t[i + _FAILS]
        if f is None or not 0 <= time.ticks_diff(now, f[_SINCE]) <= _WINDOW_MS:
            # The first failure, or the first after a healthy spell: the
            # back-off starts afresh. (A spell of over half the ticks'
            # period, 6.2 days on a 32-bit board, reads as negative.)
            f = t[i + _FAILS] = [None, self._first_ms, 0, now, f[_LAST] if f else None]
        f[_COUNT] += 1
        self.restarts += 1
        name, delay = t[i + _NAME], f[_DELAY]
        # Due and judged first, logged after: a tick that finds no heap for
        # the lines leaves the restart due, never the failure counted twice.
        f[_AT] = time.ticks_add(now, delay)
        f[_DELAY] = min(_MOST_MS, delay * 2)
        if f[_COUNT] >= self._limit and self.failing is None:
            self.failing = name  # the verdict first, with no allocation; then why, if there is heap for it
            self.failing = "the %s task failed %d times in %d s" % (name, f[_COUNT], time.ticks_diff(now, f[_SINCE]) // 1000)
        why = "ended" if exc is None else repr(exc)
        if exc is None:
            log.error("supervisor", "the %s task ended; restart in %d ms", name, delay)
        elif why != f[_LAST]:
            log.exception("supervisor", "the %s task failed; restart in %d ms", exc, name, delay)
        else:
            # The same failure again: its traceback is in the log already.
            log.error("supervisor", "the %s task failed again: %s; restart in %d ms", name, why[:80], delay)
        f[_LAST] = why
        if isinstance(exc, MemoryError):
            security_event.report("MemoryExhaustion", name)
