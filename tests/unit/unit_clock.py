# clock.parse_iso (J-21): ISO 8601 date-times from the central system, with
# fractional seconds and Z or +hh:mm / -hh:mm offsets, and a ValueError for
# anything else. (It reads the text by slices: a character taken out of a
# str by index would be an interned name for ever, issue 24; the names
# after a session are guarded by tests/test_heap_budget.py.)
from check import eq, raises

from uocpp import clock

EPOCH_2026 = 1767225600  # 2026-01-01T00:00:00Z


def test_forms():
    eq(clock.parse_iso("2026-01-01T00:00:00Z"), EPOCH_2026, "Z")
    eq(clock.parse_iso("2026-01-01t00:00:00z"), EPOCH_2026, "lower-case t and z")
    eq(clock.parse_iso("2026-01-01 00:00:00Z"), EPOCH_2026, "a space for T")
    eq(clock.parse_iso("2026-01-01T00:00:00.987654Z"), EPOCH_2026, "fractional seconds are dropped")
    eq(clock.parse_iso("2026-01-01T02:30:00+02:30"), EPOCH_2026, "a positive offset")
    eq(clock.parse_iso("2025-12-31T21:00:00-03:00"), EPOCH_2026, "a negative offset")
    # No offset (a Java LocalDateTime): UTC, as OCPP 1.6 3.14 advises; the
    # schemas' date-time wants one, but refusing the whole reply for it
    # failed a registration or a transaction (tests/test_replies.py).
    eq(clock.parse_iso("2026-01-01T00:00:00"), EPOCH_2026, "no offset: UTC")
    eq(clock.parse_iso("2026-01-01T00:00:00.250"), EPOCH_2026, "no offset, fractional seconds")
    eq(clock.parse_iso("2026-03-01T12:34:56.5+00:00"), EPOCH_2026 + (31 + 28) * 86400 + 12 * 3600 + 34 * 60 + 56, "a date after February")


def test_refused():
    for text in (
        "2026-01-01T00:00:00.Z",  # a point without digits
        "2026-01-01X00:00:00Z",
        "2026/01/01T00:00:00Z",
        "2026-01-01T00-00:00Z",
        "2026-01-01T00:00:00+0200",
        "2026-01-01T00:00:00*02:00",
        "2026-13-01T00:00:00Z",
        "2026-01-01T24:00:00Z",
        "2026-01-01",
        "",
    ):
        raises(ValueError, clock.parse_iso, text)
    raises(ValueError, clock.parse_iso, 20260101)
    raises(ValueError, clock.parse_iso, ["2026-01-01T00:00:00Z"])


def test_fields_are_digits_and_dates_exist():
    # int() took a sign or a space, so a BootNotification.conf's
    # currentTime "-026-01-01T00:00:00Z" set the clock to the year -26 and
    # "2026-01-01T-1:00:00Z" passed as an hour before; a day the month
    # lacks rolled over into the next month.
    for text in (
        "-026-01-01T00:00:00Z",
        "2026-01-01T-1:00:00Z",
        "2026-01-01T00:-1:00Z",
        "2026-01-01T00:00:-1Z",
        "2026-01-01T+1:00:00Z",
        "2026-01-01T 1:00:00Z",
        "2_26-01-01T00:00:00Z",
        "2026-01-01T00:00:00+-1:00",
        "2026-01-01T00:00:00+99:00",
        "2026-02-29T00:00:00Z",
        "2026-04-31T00:00:00Z",
    ):
        raises(ValueError, clock.parse_iso, text)
    eq(clock.parse_iso("2028-02-29T00:00:00Z"), EPOCH_2026 + (365 + 365 + 31 + 28) * 86400, "a leap day")


def test_every_time_read_is_written_back_as_one():
    # A four-digit year with an offset may stand for a UTC time outside the
    # years 0000-9999 (RFC 3339 5.6 date-fullyear is 4DIGIT):
    # "9999-12-31T23:59:59-23:59" is 10000-01-01T23:58:59Z. format_iso wrote
    # it "10000-01-01T23:58:59Z", which parse_iso does not read: a
    # SendLocalList entry with that expiryDate failed every look-up of its
    # card for good (local_list.py decode -> lookup) and the clock set to it
    # stamped every message so. Such times are held to the nearest one
    # RFC 3339 can write (0000-01-01T00:00:00Z, 9999-12-31T23:59:59Z). The
    # days conversions' C-style era correction, doubled by floor division,
    # put the first two months of the year 0 a day off or refused them.
    for text, back in (
        ("0000-01-01T00:00:00Z", "0000-01-01T00:00:00Z"),
        ("9999-12-31T23:59:59-23:59", "9999-12-31T23:59:59Z"),
        ("9999-12-31T23:59:59Z", "9999-12-31T23:59:59Z"),
        ("0000-01-01T00:00:00+00:01", "0000-01-01T00:00:00Z"),
        ("0001-01-01T00:00:00+23:59", "0000-12-31T00:01:00Z"),
    ):
        unix = clock.parse_iso(text)
        eq(clock.format_iso(unix), back, text)
        eq(clock.parse_iso(clock.format_iso(unix)), unix, text + ": read back")
