# services/schedule.py: composite charging schedules (C16 3.13, 5.16, 6.24),
# pure arithmetic on the entries model/profiles.py stores.
from check import eq

from uocpp.services import schedule as s

DAY = 86400
T0 = 1798761600  # 2027-01-01T00:00:00Z
V, PH = 230, 3


def prof(pid=1, c=1, level=0, purpose="TxDefaultProfile", kind="Absolute", periods=((0, 16),), start=T0, dur=None, rec=None, unit="A", valid_from=None, valid_to=None):
    return {
        "id": pid, "c": c, "level": level, "purpose": purpose, "kind": kind, "rec": rec, "from": valid_from, "to": valid_to,
        "start": start, "dur": dur, "unit": unit, "periods": [[p[0], p[1], p[2] if len(p) > 2 else None] for p in periods],
    }


def lim(profiles, t, n=1, tx=None, share=1):
    return s.limit_at(profiles, t, n, tx, V, PH, share)


def test_absolute_periods_and_duration():
    p = prof(periods=((0, 16), (3600, 10)), dur=7200)
    eq(lim([p], T0 - 1), None, "before the start")
    eq(lim([p], T0), 16, "first period")
    eq(lim([p], T0 + 3599), 16)
    eq(lim([p], T0 + 3600), 10, "second period")
    eq(lim([p], T0 + 7200), None, "after its duration")
    eq(lim([], T0), None, "no profile")


def test_first_period_must_have_begun():
    p = prof(periods=((600, 8),))
    eq(lim([p], T0 + 599), None)
    eq(lim([p], T0 + 600), 8)


def test_valid_from_and_valid_to():
    p = prof(valid_from=T0 + 100, valid_to=T0 + 200)
    eq(lim([p], T0 + 99), None)
    eq(lim([p], T0 + 100), 16)
    eq(lim([p], T0 + 199), 16)
    eq(lim([p], T0 + 200), None, "validTo is exclusive")
    eq(s.next_change(p, T0, None), T0 + 100)
    eq(s.next_change(p, T0 + 100, None), T0 + 200)


def test_daily_recurring_across_midnight_utc():
    # 22:00 to 02:00 UTC every day: 10 A.
    p = prof(kind="Recurring", rec="Daily", start=T0 + 22 * 3600, dur=4 * 3600, periods=((0, 10),))
    eq(lim([p], T0 + 21 * 3600), None, "before the first start")
    eq(lim([p], T0 + 23 * 3600), 10)
    eq(lim([p], T0 + DAY + 3600), 10, "01:00 the next day")
    eq(lim([p], T0 + DAY + 2 * 3600), None, "02:00 ends it")
    eq(lim([p], T0 + 5 * DAY + 22 * 3600 + 1), 10, "days later")
    eq(s.next_change(p, T0 + DAY + 3600, None), T0 + DAY + 2 * 3600)
    eq(s.next_change(p, T0 + DAY + 2 * 3600, None), T0 + DAY + 22 * 3600)


def test_weekly_recurring():
    p = prof(kind="Recurring", rec="Weekly", start=T0, periods=((0, 10), (DAY, 20)))
    eq(lim([p], T0 + 3600), 10)
    eq(lim([p], T0 + 3 * DAY), 20)
    eq(lim([p], T0 + 7 * DAY + 5), 10, "the next week")


def test_relative_to_the_transaction_start():
    p = prof(kind="Relative", start=None, periods=((0, 6), (1800, 16)))
    eq(lim([p], T0 + 10), None, "no transaction")
    tx = T0 + 1000
    eq(lim([p], tx + 10, tx=tx), 6)
    eq(lim([p], tx + 1800, tx=tx), 16)
    eq(s.next_change(p, tx + 10, tx), tx + 1800)


def test_stack_levels_highest_wins_and_lower_shows_through():
    low = prof(pid=1, level=0, periods=((0, 16),))
    high = prof(pid=2, level=3, periods=((0, 8),), dur=600)
    eq(lim([low, high], T0 + 1), 8)
    eq(lim([high, low], T0 + 1), 8, "order does not matter")
    eq(lim([low, high], T0 + 600), 16, "the higher one ended")


def test_tx_profile_over_tx_default_and_connector_over_site():
    site = prof(pid=1, c=0, periods=((0, 20),))
    own = prof(pid=2, c=1, periods=((0, 16),))
    tx = prof(pid=3, c=1, purpose="TxProfile", kind="Relative", start=None, periods=((0, 12),))
    eq(lim([site], T0, n=2), 20, "connector 0's default applies to every connector")
    eq(lim([site, own], T0), 16, "the connector's own prevails")
    eq(lim([site, own, tx], T0), 16, "a TxProfile only with a transaction")
    eq(lim([site, own, tx], T0, tx=T0), 12)
    eq(lim([site, own, tx], T0, n=2, tx=T0), 20, "not another connector's")


def test_charge_point_max_caps_and_shares():
    cap = prof(pid=1, c=0, purpose="ChargePointMaxProfile", periods=((0, 10),))
    dflt = prof(pid=2, c=0, periods=((0, 16),))
    eq(lim([cap, dflt], T0), 10, "capped")
    eq(lim([cap], T0), 10, "the cap alone")
    eq(lim([cap, dflt], T0, share=2), 5, "an equal share for two running transactions")
    low = prof(pid=3, c=1, periods=((0, 6),))
    eq(lim([cap, low], T0), 6, "below the cap: its own")
    eq(lim([cap, dflt], T0, n=0), 10, "connector 0: the cap")


def test_watts_to_amps():
    p = prof(unit="W", periods=((0, 11040),))
    eq(lim([p], T0), 16.0, "11040 W over 3 x 230 V")
    one = prof(unit="W", periods=((0, 3680, 1),))
    eq(s.limit_at([one], T0, 1, None, V, PH, 1, True), 16.0, "numberPhases 1, followed by phase switching")
    cap = prof(pid=2, c=0, purpose="ChargePointMaxProfile", unit="W", periods=((0, 6900),))
    eq(lim([p, cap], T0), 10.0, "a cap in W")


def test_composite_merges_changes():
    dflt = prof(pid=1, c=0, periods=((0, 16),))
    # evening cap 18:00-22:00 UTC, daily
    cap = prof(pid=2, c=0, purpose="ChargePointMaxProfile", kind="Recurring", rec="Daily", start=T0 + 18 * 3600, dur=4 * 3600, periods=((0, 10),))
    t = T0 + 17 * 3600
    got = s.composite([dflt, cap], t, 6 * 3600, 1, None, V, PH, 32)
    eq(got, [[0, 16, None], [3600, 10, None], [5 * 3600, 16, None]])
    # the same limit on both sides of a boundary is one period
    same = prof(pid=3, c=1, level=1, periods=((0, 16), (60, 16), (120, 8)))
    eq(s.composite([same], T0, 600, 1, None, V, PH, 32), [[0, 16, None], [120, 8, None]])
    # nothing limits it: the hardware's maximum; in W for 3 x 230 V
    eq(s.composite([], T0, 600, 1, None, V, PH, 32), [[0, 32, None]])
    eq(s.composite([dflt], T0, 600, 1, None, V, PH, 32, unit="W"), [[0, 11040, 3]])


def test_composite_relative_without_a_transaction_starts_now():
    p = prof(kind="Relative", start=None, periods=((0, 6), (300, 16)))
    eq(s.composite([p], T0 + 50, 900, 1, None, V, PH, 32), [[0, 6, None], [300, 16, None]])
    eq(s.composite([p], T0 + 50, 900, 1, T0, V, PH, 32), [[0, 6, None], [250, 16, None]], "a transaction began at T0")


def test_next_boundary_over_groups():
    a = prof(pid=1, c=0, periods=((0, 16), (100, 10)))
    b = prof(pid=2, c=1, level=1, periods=((0, 16), (50, 12)))
    eq(s.next_boundary([a, b], T0, 1, None), T0 + 50)
    eq(s.next_boundary([a, b], T0 + 50, 1, None), T0 + 100)
    eq(s.next_boundary([a, b], T0 + 100, 1, None), None)


def test_readme_worked_example():
    # README "Smart charging": 16 A default, 10 A cap 18:00-22:00 UTC daily.
    dflt = prof(pid=1, c=0, kind="Relative", start=None, periods=((0, 16.0),))
    cap = prof(pid=2, c=0, purpose="ChargePointMaxProfile", kind="Recurring", rec="Daily", start=T0 + 18 * 3600, dur=14400, periods=((0, 10.0),))
    t = T0 + 17 * 3600
    eq(s.composite([dflt, cap], t, 21600, 1, None, V, PH, 32), [[0, 16.0, None], [3600, 10.0, None], [18000, 16.0, None]])
    eq(s.composite([dflt, cap], t, 21600, 1, None, V, PH, 32, unit="W"), [[0, 11040.0, 3], [3600, 6900.0, 3], [18000, 11040.0, 3]])
    eq(lim([dflt, cap], T0 + DAY + 19 * 3600, tx=T0 + DAY + 17 * 3600), 10.0, "the next evening")
    eq(lim([dflt, cap], T0 + 19 * 3600, tx=T0, share=2), 5.0, "two connectors share the cap")


def test_composite_keeps_number_phases():
    # Issue 22: each period's numberPhases is kept (it was dropped in A and
    # replaced by the charger's phases in W).
    one = prof(pid=1, c=1, periods=((0, 16, 1), (300, 16, 3), (600, 10)))
    eq(s.composite([one], T0, 900, 1, None, V, PH, 32), [[0, 16, 1], [300, 16, 3], [600, 10, None]])
    # In W: the power over the phases the charger uses (its three: it cannot
    # switch), numberPhases still as the profile gave it; with switching
    # the period's own.
    eq(s.composite([one], T0, 900, 1, None, V, PH, 32, unit="W"), [[0, 11040, 1], [300, 11040, 3], [600, 6900, 3]])
    eq(s.composite([one], T0, 900, 1, None, V, PH, 32, unit="W", switching=True), [[0, 3680, 1], [300, 11040, 3], [600, 6900, 3]])
    # the cap sets the limit: its period's phases
    cap = prof(pid=2, c=0, purpose="ChargePointMaxProfile", periods=((0, 8, 2),))
    eq(s.composite([one, cap], T0, 60, 1, None, V, PH, 32), [[0, 8, 2]])


def test_composite_of_a_long_duration_is_bounded():
    # GetCompositeSchedule's duration may be up to 2^31 - 1 s (68 years):
    # composite() stepped through every period boundary in it, even where
    # the merged limit does not change (a Daily profile of 24 periods of one
    # limit: 596,000 steps, 14 s on the unix port, many minutes on an ESP32),
    # freezing every task (the session loop that guards the relays too).
    cap = prof(pid=1, c=0, purpose="ChargePointMaxProfile", kind="Recurring", rec="Daily", periods=[(h * 3600, 16) for h in range(24)])
    steps = [0]
    real = s.next_boundary

    def counted(*args):
        steps[0] += 1
        if steps[0] > 1000:
            raise AssertionError("more than 1000 boundaries stepped through")
        return real(*args)

    s.next_boundary = counted
    try:
        eq(s.composite([cap], T0, 0x7FFFFFFF, 1, None, V, PH, 32), [[0, 16, None]])
    finally:
        s.next_boundary = real


def test_composite_of_duration_0_has_a_period():
    # GetCompositeSchedule with duration 0 answered chargingSchedulePeriod
    # [], where 1.6 (7.13 ChargingSchedule) requires 1..* periods: the limit
    # in force now is the one period.
    eq(s.composite([], T0, 0, 1, None, V, PH, 32), [[0, 32, None]])
    dflt = prof(pid=1, c=0, periods=((0, 16), (60, 8)))
    eq(s.composite([dflt], T0, 0, 1, None, V, PH, 32), [[0, 16, None]])


def test_a_limit_in_watts_is_spread_over_the_phases_the_charger_uses():
    # 2300 W with numberPhases 1 on a three-phase charger: without phase
    # switching the car charges on three phases, so the limit is 2300 W over
    # three (3.3 A), not 10 A a phase (6900 W); with switching it charges on
    # one phase at 10 A. numberPhases 2 with switching means three phases.
    p = prof(unit="W", periods=((0, 2300, 1), (600, 4600, 2)))
    got = s.limit_at([p], T0, 1, None, V, PH)
    eq(round(got, 2), 3.33, "no switching: over the charger's 3 phases")
    eq(s.limit_at([p], T0, 1, None, V, PH, 1, True), 10, "switching: one phase")
    eq(round(s.limit_at([p], T0 + 600, 1, None, V, PH, 1, True), 2), 6.67, "numberPhases 2 switches to three phases")
    eq(s.limit_at([p], T0, 1, None, V, 1), 10, "a one-phase charger: its one phase")
    w = s.composite([p], T0, 1200, 1, None, V, PH, 32, unit="W")
    eq([q[1] for q in w], [2300, 4600], "the composite in W says the profile's power")
    w = s.composite([p], T0, 1200, 1, None, V, PH, 32, unit="W", switching=True)
    eq([q[1] for q in w], [2300, 4600], "also when switching")
