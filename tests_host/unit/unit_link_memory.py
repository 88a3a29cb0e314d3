# link/link.py: a MemoryError in a connection attempt (outside the connect
# itself: starting the connection's tasks, the security bookkeeping, a log
# line) no longer ends the link task: it backs off and connects again.
import asyncio

from check import eq

from uocpp import log
from uocpp.link.link import Link
from uocpp.model.keys import Keys
from uocpp.model.state import State

log.set_level("error")

CS = {"chargePointId": "CP1", "connectTimeout": 1, "maxFrameSize": 8192}


class Security:
    # target() -> a port nothing listens on; attempted() raises MemoryError once.
    def __init__(self):
        self.attempts = 0

    def target(self):
        return "ws://127.0.0.1:9", False, None

    def attempted(self, error):
        self.attempts += 1
        if self.attempts == 1:
            raise MemoryError("memory allocation failed")


async def test_memory_error_in_an_attempt_does_not_end_the_link_task():
    keys = Keys("/tmp/uocpp-unit-no-such-keys.json", {"RetryBackOffWaitMinimum": 0.05, "RetryBackOffRandomRange": 0, "RetryBackOffRepeatTimes": 1})
    sec = Security()
    link = Link(CS, keys, sec, State(), None)
    task = asyncio.create_task(link.run())
    for _ in range(100):
        await asyncio.sleep_ms(50)
        if sec.attempts >= 2:
            break
    eq(task.done(), False, "the link task lives")
    eq(sec.attempts >= 2, True, "it connected again")
    task.cancel()
