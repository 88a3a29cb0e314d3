# The IEC 61851-1 pilot arithmetic of platform/esp32_evse.py: duty cycle <->
# current, pilot volts -> state with hysteresis, and the debouncer. The exact
# duty cycle and the vehicle's reading of a duty cycle live here, not in the
# firmware: the charger never needs them, they are what its rounded duty_u16
# is checked against.
from check import eq

from uocpp.platform import esp32_evse


def duty_percent(amps):
    # The exact duty cycle in percent for an offered current (100.0: none).
    amps = esp32_evse.offered(amps)
    if not amps:
        return 100.0
    if amps <= 51:
        return amps / 0.6
    return amps / 2.5 + 64


def amps_for_duty(pct):
    # What a vehicle may draw at a duty cycle in percent; 0 = no charging
    # (the error bands, the 5 % digital-communication band, 100 %).
    if pct < 8 or pct > 97:
        return 0
    if pct < 10:
        return 6
    if pct <= 85:
        return pct * 0.6
    if pct <= 96:
        return (pct - 64) * 2.5
    return 80


def amps_for_u16(value):
    return amps_for_duty(value * 100 / esp32_evse.FULL)


def near(got, want, what, tol=0.005):
    if abs(got - want) > tol:
        raise AssertionError("%s: got %r, want %r" % (what, got, want))


def test_duty_percent_at_the_standard_currents():
    # 6..51 A: A / 0.6; 51..80 A: A / 2.5 + 64
    for amps, pct in ((6, 10.0), (10, 16.67), (16, 26.67), (32, 53.33), (51, 85.0), (63, 89.2), (80, 96.0)):
        near(duty_percent(amps), pct, "%d A" % amps)


def test_duty_u16_values_are_rounded_down():
    for amps, u16 in ((6, 6553), (10, 10922), (16, 17476), (32, 34952), (51, 55704), (63, 58457), (80, 62913)):
        eq(esp32_evse.duty_u16(amps), u16, "duty_u16 at %d A" % amps)
    # Never above the exact duty, never a whole step below it (0.1 A steps).
    for tenth in range(60, 801):
        amps = tenth / 10
        exact = duty_percent(amps) * 655.35
        got = esp32_evse.duty_u16(amps)
        if not exact - 1.01 < got <= exact + 1e-6:
            raise AssertionError("%.1f A: duty_u16 %d, exact %.3f" % (amps, got, exact))


def test_fractional_amps_keep_their_centiamps():
    eq(esp32_evse.duty_u16(16.1), 1610 * 13107 // 1200, "16.1 A")
    eq(esp32_evse.duty_u16(13.5), 1350 * 13107 // 1200, "13.5 A")


def test_below_6_amps_is_100_percent():
    for amps in (0, 0.0, 5, 5.99, -1, None, float("nan")):
        eq(esp32_evse.duty_u16(amps), 65535, "duty_u16 at %r" % amps)
        eq(duty_percent(amps), 100.0, "percent at %r" % amps)
        eq(esp32_evse.offered(amps), 0, "offered at %r" % amps)
    eq(esp32_evse.offered(6), 6, "6 A is offered")


def test_above_80_amps_is_clamped():
    for amps in (80.01, 81, 100, 1000):
        eq(esp32_evse.duty_u16(amps), esp32_evse.duty_u16(80), "duty_u16 at %r" % amps)
        eq(esp32_evse.offered(amps), 80, "offered at %r" % amps)
    near(duty_percent(125), 96.0, "125 A")


def test_never_5_percent():
    # 5 % asks for digital communication: no current may produce it.
    for tenth in range(0, 1001):
        pct = esp32_evse.duty_u16(tenth / 10) * 100 / 65535
        if 3 <= pct <= 7:
            raise AssertionError("%.1f A gives %.2f %%" % (tenth / 10, pct))


def test_current_from_duty():
    cases = (
        (0, 0), (2, 0), (5, 0), (7.5, 0),  # error bands and 5 % digital communication
        (8, 6), (9.5, 6), (10, 6), (26.6667, 16), (50, 30), (85, 51),
        (85.5, 53.75), (89.2, 63), (96, 80), (96.5, 80), (97, 80),
        (97.5, 0), (100, 0),  # 100 %: no charging allowed
    )
    for pct, amps in cases:
        near(amps_for_duty(pct), amps, "%r %%" % pct, 0.001)


def test_round_trip_through_duty_u16():
    for tenth in range(60, 801):
        amps = tenth / 10
        back = amps_for_u16(esp32_evse.duty_u16(amps))
        if 51 < amps <= 52.5:
            # The standard's seam: A / 2.5 + 64 is read with x 0.6 up to 85 %
            # (52.5 A lands just below 85 % as it is rounded down).
            if not 50.6 <= back <= amps:
                raise AssertionError("%.1f A read back as %.3f" % (amps, back))
        elif not amps - 0.004 <= back <= amps:  # one duty_u16 step: 0.0038 A at most
            raise AssertionError("%.1f A read back as %.4f" % (amps, back))
    eq(amps_for_u16(65535), 0, "100 %")
    eq(amps_for_u16(0), 0, "0 %")


def test_states_at_nominal_levels():
    for v, want in ((12, "A"), (9, "B"), (6, "C"), (3, "D"), (0, "E"), (-12, "F")):
        eq(esp32_evse.state(v), want, "%r V" % v)


def test_thresholds_at_each_boundary():
    cases = (
        (10.51, "A"), (10.5, "B"), (7.51, "B"), (7.5, "C"), (4.51, "C"), (4.5, "D"),
        (1.51, "D"), (1.5, "E"), (-1.5, "E"), (-10.51, "F"), (-13, "F"), (14, "A"),
    )
    for v, want in cases:
        eq(esp32_evse.state(v), want, "%r V" % v)


def test_invalid_levels_read_as_e():
    # Between E and F no state is defined: an error, reported as E.
    for v in (-1.51, -3, -6, -9, -10.5):
        eq(esp32_evse.state(v), "E", "%r V" % v)


def test_hysteresis_keeps_the_state_near_an_edge():
    h = 0.25
    eq(esp32_evse.state(10.4, "A", h), "A", "A just below 10.5")
    eq(esp32_evse.state(10.2, "A", h), "B", "A well below 10.5")
    eq(esp32_evse.state(10.7, "B", h), "B", "B just above 10.5")
    eq(esp32_evse.state(10.8, "B", h), "A", "B well above 10.5")
    eq(esp32_evse.state(7.3, "B", h), "B", "B just below 7.5")
    eq(esp32_evse.state(7.6, "C", h), "C", "C just above 7.5")
    eq(esp32_evse.state(4.4, "C", h), "C", "C just below 4.5")
    eq(esp32_evse.state(1.6, "E", h), "E", "E just above 1.5")
    eq(esp32_evse.state(1.4, "D", h), "D", "D just below 1.5")
    eq(esp32_evse.state(-10.3, "F", h), "F", "F just above -10.5")
    eq(esp32_evse.state(-10.3, "E", h), "E", "invalid stays E")
    eq(esp32_evse.state(10.4, "A"), "B", "no hysteresis given")
    eq(esp32_evse.state(10.4, None, h), "B", "no state in force")


def test_volts_from_the_calibration_line():
    near(esp32_evse.volts(60000, 60000, 5000), 12, "+12 V reading")
    near(esp32_evse.volts(5000, 60000, 5000), -12, "-12 V reading")
    near(esp32_evse.volts(32500, 60000, 5000), 0, "midway")
    near(esp32_evse.volts(53125, 60000, 5000), 9, "9 V")
    # An inverting front-end: the +12 V reading is the smaller one.
    near(esp32_evse.volts(5000, 5000, 60000), 12, "inverted +12 V")
    near(esp32_evse.volts(18750, 5000, 60000), 6, "inverted 6 V")


def test_debouncer_ignores_glitches_shorter_than_n():
    d = esp32_evse.Debouncer(3, "A")
    eq([d.feed(s) for s in "BBA"], [False, False, False], "two B then A")
    eq(d.value, "A", "still A")
    eq([d.feed(s) for s in "BAB"], [False] * 3, "A again cuts the run")
    eq(d.value, "A", "still A")
    eq([d.feed(s) for s in "BB"], [False, True], "third B in a row")  # B then B B
    eq(d.value, "B", "now B")
    eq([d.feed(s) for s in "BBB"], [False] * 3, "no change while it stays")


def test_debouncer_ends_the_value_after_n_samples_that_are_not_it():
    # Samples that differ among themselves too (a pilot flickering between
    # B, E and F while C was in force) end the value: the newest counts.
    d = esp32_evse.Debouncer(3, "C")
    eq([d.feed(s) for s in "BEF"], [False, False, True], "three samples, none C")
    eq(d.value, "F", "the newest")
    eq([d.feed(s) for s in "EBEF"], [False, False, True, False], "E B E: not F")
    eq(d.value, "E", "the one seen most often")
    d = esp32_evse.Debouncer(3, "C")
    eq([d.feed(s) for s in "BBF"], [False, False, True], "a clean change with a glitch last")
    eq(d.value, "B", "not the glitch")
    one = esp32_evse.Debouncer(1, False)
    eq(one.feed(True), True, "n = 1 follows at once")
    eq(one.value, True, "value")
    start = esp32_evse.Debouncer(2)
    eq(start.value, None, "nothing yet")
    eq([start.feed(x) for x in (1, 1)], [False, True], "first value after n")
