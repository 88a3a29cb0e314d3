# Reconnect back-off (BO-02): attempt k waits
#   wait_minimum * 2**min(k, repeat_times) + uniform(0, random_range)
# The random part is drawn afresh each time, so a fleet that lost the same
# central system at once spreads out instead of coming back in one burst.
import random


class Backoff:
    def __init__(self, wait_minimum, random_range, repeat_times, rand=random.random):
        self.wait_minimum = wait_minimum
        self.random_range = random_range
        self.repeat_times = repeat_times
        self._rand = rand
        self.attempt = 0

    def configure(self, wait_minimum, random_range, repeat_times):
        self.wait_minimum = wait_minimum
        self.random_range = random_range
        self.repeat_times = repeat_times

    def next(self):
        # Seconds to wait before the next attempt.
        base = self.wait_minimum * (1 << min(self.attempt, self.repeat_times))
        self.attempt += 1
        return base + self._rand() * self.random_range

    def reset(self):
        self.attempt = 0
