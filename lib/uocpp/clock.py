# UTC wall clock for OCPP timestamps (J-21), kept as an offset from the
# platform's time.time() so it works before and after the RTC is set.
# Conversions are our own (days from civil), independent of the port's epoch
# and of any local time zone.
import time

_EPOCH_SHIFT = 946684800 if time.gmtime(0)[0] == 2000 else 0
_offset = 0
synced = False


def _days_from_civil(y, m, d):
    y -= m <= 2
    era = y // 400  # (floor division: no C-style correction for y < 0)
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _civil_from_days(z):
    z += 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    return y + (m <= 2), m, d


def parse_iso(text):
    # ISO 8601 date-time -> Unix seconds (int). Accepts fractional seconds
    # and Z or +hh:mm / -hh:mm offsets (J-21), or none: UTC (a lenient
    # reader; format_iso, the writer, always puts Z). Raises ValueError.
    if not isinstance(text, str):
        # A hostile reply may put an object here: it indexes without IndexError.
        raise ValueError("not an ISO 8601 date-time: a %s" % type(text).__name__)
    try:
        # Slices, not text[i]: a character taken out of a str by index is an
        # interned name for ever (docs/memory.md); a slice is a passing object.
        if len(text) < 19 or text[4:5] != "-" or text[7:8] != "-" or text[10:11] not in ("T", "t", " ") or text[13:14] != ":" or text[16:17] != ":":
            raise ValueError
        if not (text[0:4] + text[5:7] + text[8:10] + text[11:13] + text[14:16] + text[17:19]).isdigit():
            raise ValueError  # int() would take a sign or a space ("-026", "-1")
        y, mo, d = int(text[0:4]), int(text[5:7]), int(text[8:10])
        h, mi, s = int(text[11:13]), int(text[14:16]), int(text[17:19])
        rest = text[19:]
        if rest[:1] == ".":
            i = 1
            while i < len(rest) and "0" <= rest[i : i + 1] <= "9":
                i += 1
            if i == 1:
                raise ValueError
            rest = rest[i:]
        offset = 0
        if rest in ("Z", "z", ""):
            pass  # none: read as UTC (a Java LocalDateTime; docs/deploying.md)
        elif len(rest) == 6 and rest[:1] in ("+", "-") and rest[3:4] == ":" and (rest[1:3] + rest[4:6]).isdigit():
            offset = int(rest[1:3]) * 3600 + int(rest[4:6]) * 60
            if offset >= 86400 or int(rest[4:6]) >= 60:
                raise ValueError
            if rest[:1] == "-":
                offset = -offset
        else:
            raise ValueError
        if not (1 <= mo <= 12 and 1 <= d <= 31 and h < 24 and mi < 60 and s < 61) or _civil_from_days(_days_from_civil(y, mo, d))[2] != d:
            raise ValueError  # (the second: a day the month lacks, February 30th)
    except (ValueError, IndexError):
        raise ValueError("not an ISO 8601 date-time: %r" % text)
    # RFC 3339 years have four digits: a time an offset takes past them
    # ("9999-12-31T23:59:59-23:59") is held to the nearest one format_iso
    # can write and this reads back (0000-01-01T00:00:00Z..9999-12-31T23:59:59Z).
    return min(max(_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offset, -62167219200), 253402300799)


def rtc_datetime(unix):
    # Unix seconds -> the tuple machine.RTC().datetime() takes, in UTC:
    # (year, month, day, weekday 0=Monday, hours, minutes, seconds, subseconds).
    days, secs = divmod(int(unix), 86400)
    y, m, d = _civil_from_days(days)
    return (y, m, d, (days + 3) % 7, secs // 3600, secs // 60 % 60, secs % 60, 0)  # 1970-01-01 was a Thursday


def format_iso(unix):
    # Every timestamp the firmware sends: ISO 8601, UTC, "Z" (J-21).
    t = rtc_datetime(unix)
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (t[0], t[1], t[2], t[4], t[5], t[6])


def now():
    # Unix seconds, UTC.
    return time.time() + _EPOCH_SHIFT + _offset


def now_iso():
    return format_iso(now())


def set_unix(unix):
    global synced
    follow_rtc(unix)
    synced = True


def follow_rtc(unix):
    # time.time() reads `unix` now (or the RTC was just set to it): keep now()
    # on it. Called by the platform after every RTC write, so the jump is
    # never counted twice.
    global _offset
    _offset = unix - time.time() - _EPOCH_SHIFT
    for fn in _on_set:
        fn()


# Called with no argument after every clock set (a jump may cross a
# charging-schedule boundary: services/smart_charging.py).
_on_set = []


def on_set(fn):
    _on_set.append(fn)
