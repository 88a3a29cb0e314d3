"""Reconnect back-off (lib/ocpp/services/backoff.py) on MicroPython, and a fleet of 1,000.

The waits are computed by the firmware's own module on the unix port, with
the random part drawn from a seeded generator (or a fixed function), so the
figures are the same on every run.
"""

import json
import statistics
import sys

from harness.firmware import REPO, run_micropython

sys.path.insert(0, str(REPO / "tools"))

import backoff_fleet  # noqa: E402


def waits(wait_minimum, random_range, repeat_times, rand, count=10, reset_after=None):
    """The first `count` waits of one Backoff on MicroPython. rand: MicroPython source of a function."""
    code = """
import json, random
from uocpp.link.backoff import Backoff
random.seed(7)
b = Backoff(%r, %r, %d, rand=%s)
out = []
for i in range(%d):
    if i == %r:
        b.reset()
    out.append(b.next())
print(json.dumps(out))
""" % (wait_minimum, random_range, repeat_times, rand, count, reset_after)
    done = run_micropython(code)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_no_random_part_doubles_up_to_the_cap():
    """BO-02, BO-03: rand() = 0 -> exactly waitMinimum * 2^min(k, repeatTimes): 5, 10, 20, 40, 80, 160, then 160 for ever."""
    assert waits(5, 30, 5, "lambda: 0.0") == [5, 10, 20, 40, 80, 160, 160, 160, 160, 160]


def test_first_wait_is_at_least_the_minimum_and_each_at_least_double_the_last_base():
    """BO-02, BO-03 (TC_B_57_CS bounds): wait_0 >= WaitMinimum; with RandomRange 0, wait_k >= 2 * wait_(k-1) until the cap."""
    w = waits(2.5, 0, 3, "random.random", count=6)
    assert w[0] >= 2.5
    assert all(b >= 2 * a for a, b in zip(w[:3], w[1:4]))
    assert w[3:] == [w[3]] * 3  # capped after repeatTimes doublings


def test_random_part_is_within_range_and_spread():
    """BO-02: each wait is its base plus a fresh uniform draw in [0, RandomRange): present, bounded, not constant."""
    w = waits(5, 30, 5, "random.random", count=400)
    bases = [5 * 2 ** min(k, 5) for k in range(400)]
    extra = [a - b for a, b in zip(w, bases)]
    assert all(0 <= e < 30 for e in extra)
    assert len(set(extra)) > 390  # drawn afresh every time
    assert 12 < statistics.mean(extra) < 18  # uniform on [0, 30): mean 15
    assert statistics.pstdev(extra) > 7  # uniform: 8.7


def test_largest_random_draw_stays_below_base_plus_range():
    """BO-02: rand() just under 1 -> just under base + RandomRange, never more."""
    w = waits(5, 30, 2, "lambda: 0.999999", count=4)
    assert [round(x, 3) for x in w] == [35.0, 40.0, 50.0, 50.0]
    assert all(x < b + 30 for x, b in zip(w, [5, 10, 20, 20]))


def test_reset_starts_from_the_minimum_again():
    """BO-02: once a connection carries a message the back-off starts afresh."""
    assert waits(1, 0, 4, "lambda: 0.0", count=6, reset_after=3) == [1, 2, 4, 1, 2, 4]


def test_fleet_of_1000_comes_back_spread_out():
    """BO-01, BO-02, J-05: 1,000 chargers lose the central system at once; with the default randomRange they return spread over time, not in one burst."""
    spread = backoff_fleet.summary(backoff_fleet.simulate(chargers=1000, outage=60, wait_minimum=5, random_range=30, repeat_times=5, seed=1))
    burst = backoff_fleet.summary(backoff_fleet.simulate(chargers=1000, outage=60, wait_minimum=5, random_range=0, repeat_times=5, seed=1))
    assert burst["peak_reconnects_per_s"] == 1000  # no randomization: everyone in the same instant
    assert spread["peak_reconnects_per_s"] <= 60  # about 1000 / 30 s, with the noise of the draw
    assert spread["seconds_with_reconnects"] >= 30
    assert spread["first"] >= 60 and spread["last"] <= 60 + 160 + 30  # nobody waits beyond the capped wait
    assert spread["peak_attempts_per_s"] <= 100  # the refused attempts during the outage are spread too
