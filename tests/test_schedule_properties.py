"""Property tests of the pure composite-schedule module (lib/uocpp/services/schedule.py)
on CPython: the merged schedule agrees with the limit at every instant."""

import importlib.util

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.firmware import REPO

_spec = importlib.util.spec_from_file_location("uocpp_schedule", REPO / "lib/uocpp/services/schedule.py")
schedule = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(schedule)

T0 = 1798761600
V, PH, MAX = 230, 3, 32


@st.composite
def profiles(draw):
    out = []
    for pid in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["Absolute", "Recurring", "Relative"]))
        starts = sorted(draw(st.sets(st.integers(0, 7200), min_size=1, max_size=4)))
        periods = [[p, draw(st.integers(0, 40)), draw(st.sampled_from([None, 1, 3]))] for p in starts]
        lo = draw(st.one_of(st.none(), st.integers(T0 - 3600, T0 + 7200)))
        out.append({
            "id": pid, "c": draw(st.sampled_from([0, 1])), "level": draw(st.integers(0, 3)),
            "purpose": draw(st.sampled_from(["TxDefaultProfile", "TxProfile", "ChargePointMaxProfile"])),
            "kind": kind, "rec": draw(st.sampled_from(["Daily", "Weekly"])) if kind == "Recurring" else None,
            "from": lo, "to": None if lo is None else lo + draw(st.integers(1, 20000)),
            "start": None if kind == "Relative" else draw(st.integers(T0 - 100000, T0 + 7200)),
            "dur": draw(st.one_of(st.none(), st.integers(1, 20000))), "unit": draw(st.sampled_from(["A", "W"])), "periods": periods,
        })
    return out


@settings(max_examples=200, deadline=None)
@given(profiles(), st.integers(T0 - 1000, T0 + 1000), st.one_of(st.none(), st.integers(T0 - 5000, T0)), st.integers(1, 20000))
def test_composite_agrees_with_the_limit_at_each_instant(items, t0, tx, duration):
    periods = schedule.composite(items, t0, duration, 1, tx, V, PH, MAX, most=10000)
    assert periods and periods[0][0] == 0
    starts = [p[0] for p in periods]
    assert starts == sorted(set(starts))
    assert all(periods[i][1:] != periods[i + 1][1:] for i in range(len(periods) - 1))  # a new period: a new limit or numberPhases
    rel = t0 if tx is None else tx
    for t in range(t0, t0 + duration, max(1, duration // 97)):
        want = schedule.limit_at(items, t, 1, rel, V, PH)
        want = MAX if want is None or want > MAX else want
        current = [p for p in periods if p[0] <= t - t0][-1]
        assert current[1] == round(want, 1), (t - t0, periods)
