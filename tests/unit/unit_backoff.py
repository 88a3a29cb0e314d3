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
