# Reconnect back-off (BO-02): attempt k waits
#   wait_minimum * 2**min(k, repeat_times) + uniform(0, random_range)
# The random part is drawn afresh each time, so a fleet that lost the same
# central system at once spreads out instead of coming back in one burst.
import random


class Backoff:
    def __init__(self, wait_minimum, random_range=0, repeat_times=0, rand=random.random):
        # The three figures; or, as KeyBackoff(keys), the OCPP keys, whose
        # RetryBackOff* values are read at every attempt (BO-02), so a change
        # by the central system applies to the very next wait. One class for
        # both: a class is a type object and a dict on the heap.
        self._params = (wait_minimum, random_range, repeat_times)
        self._rand = rand
        self.attempt = 0

    def params(self):
        # (wait_minimum, random_range, repeat_times) in force now.
        p = self._params
        k = p[0]
        if type(k) in (int, float):
            return p
        return k.get("RetryBackOffWaitMinimum"), k.get("RetryBackOffRandomRange"), k.get("RetryBackOffRepeatTimes")

    def next(self):
        # Seconds to wait before the next attempt.
        wait_minimum, random_range, repeat_times = self.params()
        base = wait_minimum * (1 << min(self.attempt, repeat_times))
        self.attempt += 1
        # At most 536870 s: a 32-bit board's asyncio.sleep_ms takes less
        # than 2**29 ms (OverflowError past it), 6.2 days.
        return min(base + self._rand() * random_range, 536870)

    def longest(self):
        # The longest wait next() can give, however many attempts failed.
        wait_minimum, random_range, repeat_times = self.params()
        return min(wait_minimum * (1 << repeat_times) + random_range, 536870)

    def reset(self):
        self.attempt = 0


# The link's and the outbox's: KeyBackoff(keys), the keys' back-off.
KeyBackoff = Backoff
