# link/backoff.py (BO-02): the wait doubles up to repeat_times, plus the random part.
from check import eq

from uocpp.link.backoff import Backoff


class FixedRandom:
    def __init__(self, value):
        self.value = value

    def __call__(self):
        return self.value


def test_doubles_then_stays():
    b = Backoff(5, 0, 3, rand=FixedRandom(0))
    eq([b.next() for _ in range(6)], [5, 10, 20, 40, 40, 40], "waits")


def test_random_part_is_added_every_time():
    b = Backoff(2, 10, 1, rand=FixedRandom(0.5))
    eq([b.next() for _ in range(3)], [7, 9, 9], "waits")


def test_reset_starts_again():
    b = Backoff(1, 0, 4, rand=FixedRandom(0))
    b.next(), b.next(), b.next()
    b.reset()
    eq(b.next(), 1, "after reset")


def test_the_longest_wait_fits_a_32_bit_board_s_sleep():
    # The keys allow RetryBackOffWaitMinimum 3600 s doubled 16 times
    # (RetryBackOffRepeatTimes) plus 3600 s. On a 32-bit board (ESP32:
    # ticks_ms wraps at 2**30) asyncio.sleep_ms of 2**29 ms or more raises
    # OverflowError (MicroPython's ticks_add checks its delta since PR 9608):
    # that ended the link task at every failed attempt past the limit (and
    # the outbox's, retrying a BootNotification), until the supervisor's
    # verdict reset the board. (This 64-bit port sleeps any length.)
    b = Backoff(3600, 3600, 16, rand=FixedRandom(1))
    waits = [b.next() for _ in range(18)]
    eq(int(max(waits) * 1000) < 2**29, True, "the longest wait, %d s, fits" % max(waits))
    eq(int(b.longest() * 1000) < 2**29, True, "longest() says what next() gives")
    b = Backoff(5, 30, 5, rand=FixedRandom(1))
    eq([b.next() for _ in range(7)], [35, 40, 50, 70, 110, 190, 190], "the defaults' waits are as before")
