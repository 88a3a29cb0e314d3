# Reconnect back-off (BO-02): attempt k waits
#   wait_minimum * 2**min(k, repeat_times) + uniform(0, random_range)
# The random part is drawn afresh each time, so a fleet that lost the same
# central system at once spreads out instead of coming back in one burst.
import random


class Backoff:
    def __init__(self, wait_minimum, random_range, repeat_times, rand=random.random):
        self._params = (wait_minimum, random_range, repeat_times)
        self._rand = rand
        self.attempt = 0

    def params(self):
        # (wait_minimum, random_range, repeat_times) in force now.
        return self._params

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


class KeyBackoff(Backoff):
    # Follows the RetryBackOff* keys in force (BO-02), read at every attempt,
    # so a change by the central system applies to the very next wait.
    def __init__(self, keys, rand=random.random):
        super().__init__(0, 0, 0, rand)
        self._keys = keys

    def params(self):
        k = self._keys
        return k.get("RetryBackOffWaitMinimum"), k.get("RetryBackOffRandomRange"), k.get("RetryBackOffRepeatTimes")
