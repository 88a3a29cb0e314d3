# Charging profiles on flash (C16 3.13, 5.16; <flash>/profiles.json, atomic
# rewrite), as the compact entries services/schedule.py computes with:
#   {"id", "c", "level", "purpose", "kind", "rec", "from", "to", "start",
#    "dur", "unit", "periods": [[startPeriod, limit, numberPhases], ...], "tx"}
# Replacement (5.16): a new profile replaces the one with its
# chargingProfileId, and the one with its stack level and purpose on the
# same connector. A TxProfile ends with its transaction (end_transaction);
# none survives a restart, since no transaction does (sessions.recover).
from uocpp import clock, errors, log, validate
from uocpp.store import json_file
from uocpp.validate import ARR, ENUM, INT, NUM, OBJ, STR

TX = "TxProfile"
PURPOSES = ("ChargePointMaxProfile", "TxDefaultProfile", TX)
PROFILE = (
    ("chargingProfileId", INT, True, None),
    ("transactionId", INT, False, None),
    ("stackLevel", INT, True, (0, 1000000)),
    ("chargingProfilePurpose", ENUM, True, PURPOSES),
    ("chargingProfileKind", ENUM, True, ("Absolute", "Recurring", "Relative")),
    ("recurrencyKind", ENUM, False, ("Daily", "Weekly")),
    ("validFrom", STR, False, 40),
    ("validTo", STR, False, 40),
    ("chargingSchedule", OBJ, True, None),
)
SCHEDULE = (
    ("duration", INT, False, (0, 0x7FFFFFFF)),
    ("startSchedule", STR, False, 40),
    ("chargingRateUnit", ENUM, True, ("A", "W")),
    ("chargingSchedulePeriod", ARR, True, (1, 1000)),
    ("minChargingRate", NUM, False, 0),
)
PERIOD = (("startPeriod", INT, True, (0, 0x7FFFFFFF)), ("limit", NUM, True, 0), ("numberPhases", INT, False, (1, 3)))


_FIELDS = ("id", "c", "level", "purpose", "kind", "rec", "from", "to", "start", "dur", "unit", "periods")


class Refused(Exception):
    # Well-formed, but not acceptable: the answer is Rejected.
    pass


def _time(text):
    if text is None:
        return None
    try:
        return clock.parse_iso(text)
    except ValueError:
        raise Refused("not a date-time: %s" % text[:40])


def entry(connector, profile, now):
    # csChargingProfiles -> the entry. A wrong shape raises the OcppError of
    # its CALLERROR (validate.py); content this charge point refuses raises
    # Refused. now: Unix seconds, the start of a Recurring schedule without
    # startSchedule. An Absolute one without it is relative to the start of
    # charging (7.13 startSchedule: "If absent the schedule will be relative
    # to start of charging"): kept as a Relative one.
    validate.check(PROFILE, profile)
    sch = profile["chargingSchedule"]
    validate.check(SCHEDULE, sch)
    periods = []
    for per in sch["chargingSchedulePeriod"]:
        if not isinstance(per, dict):
            raise errors.OcppError("TypeConstraintViolation", "chargingSchedulePeriod items must be objects")
        validate.check(PERIOD, per)
        periods.append([per["startPeriod"], per["limit"], per.get("numberPhases")])
    periods.sort(key=lambda p: p[0])
    for i in range(1, len(periods)):
        if periods[i][0] == periods[i - 1][0]:
            raise Refused("two periods start at %d" % periods[i][0])
    kind = profile["chargingProfileKind"]
    rec = profile.get("recurrencyKind")
    if kind == "Recurring" and rec is None:
        raise Refused("a Recurring profile needs recurrencyKind")
    start = _time(sch.get("startSchedule"))
    if kind == "Absolute" and start is None:
        kind = "Relative"
    e = {
        "id": profile["chargingProfileId"], "c": connector, "level": profile["stackLevel"],
        "purpose": profile["chargingProfilePurpose"], "kind": kind, "rec": rec,
        "from": _time(profile.get("validFrom")), "to": _time(profile.get("validTo")),
        "start": None if kind == "Relative" else (start if start is not None else int(now)),
        "dur": sch.get("duration"), "unit": sch["chargingRateUnit"], "periods": periods,
        "tx": profile.get("transactionId"),
    }
    if e["from"] is not None and e["to"] is not None and e["to"] <= e["from"]:
        raise Refused("validTo is not after validFrom")
    return e


def _fits(e):
    # An entry on flash of the shape entry() makes, not a TxProfile: one of
    # another shape (a bit flipped, another version's) must not fail every
    # schedule computed from it (the smart charging task, at each restart).
    num = (int, float)
    try:
        return (
            all(k in e for k in _FIELDS) and e["purpose"] in PURPOSES and e["purpose"] != TX
            and type(e["c"]) is int and type(e["level"]) is int
            and all(e[k] is None or type(e[k]) in num for k in ("from", "to", "start", "dur"))
            and all(type(p) is list and len(p) == 3 and type(p[0]) is int and type(p[1]) in num and p[2] in (None, 1, 2, 3) for p in e["periods"])
        )  # fmt: skip
    except TypeError:
        return False


class Profiles:
    def __init__(self, path, keys):
        self._path = path
        self._keys = keys
        saved = json_file.read_json(path, [])
        if not isinstance(saved, list):
            log.warning("profiles", "%s holds no list: no profiles", path)
            saved = []
        self.items = [e for e in saved if _fits(e)]
        if len(self.items) != len(saved):
            # A full or read-only flash must not stop the boot (a TxProfile
            # left by a power cut, made at boot): the next change writes.
            try:
                self._save()
            except OSError as err:
                log.error("profiles", "cannot store the profiles: %s", err)

    def _save(self):
        json_file.write_json_atomic(self._path, self.items)

    def room(self, e):
        # The profiles that stay beside e once it is installed, or None when
        # the keys refuse it (stack level, periods, MaxChargingProfilesInstalled).
        k = self._keys
        if e["level"] > k.get("ChargeProfileMaxStackLevel") or len(e["periods"]) > k.get("ChargingScheduleMaxPeriods"):
            return None
        # A profile past its validTo never applies again: it makes room too
        # (else a central system that sends a new one each day, each valid
        # for that day, finds them all Rejected once MaxChargingProfilesInstalled is reached).
        now = clock.now()
        kept = [
            p for p in self.items
            if p["id"] != e["id"] and not (p["c"] == e["c"] and p["level"] == e["level"] and p["purpose"] == e["purpose"]) and not (p["to"] is not None and p["to"] <= now)
        ]  # fmt: skip
        return kept if len(kept) < k.get("MaxChargingProfilesInstalled") else None

    def install(self, e):
        # -> "Accepted" or "Rejected"; on flash when Accepted.
        kept = self.room(e)
        if kept is None:
            return "Rejected"
        if e in self.items:
            # Installed as it is (a central system that sends its profiles
            # again at every connection): nothing to write.
            return "Accepted"
        before = self.items
        self.items = kept + [e]
        try:
            self._save()
        except OSError as err:
            log.error("profiles", "cannot store profile %d: %s", e["id"], err)
            self.items = before
            return "Rejected"
        log.info("profiles", "profile %d (%s, stack level %d) on connector %d", e["id"], e["purpose"], e["level"], e["c"])
        return "Accepted"

    def clear(self, pid=None, connector=None, purpose=None, level=None):
        # ClearChargingProfile: by id, else every one matching all the given
        # criteria (none given: all). -> how many went.
        def hit(p):
            if pid is not None:
                return p["id"] == pid
            return (connector is None or p["c"] == connector) and (purpose is None or p["purpose"] == purpose) and (level is None or p["level"] == level)

        # A full flash keeps them all (in force, as the next boot reads
        # them) and raises: a CALLERROR, not Accepted.
        before = self.items
        try:
            return self._drop(hit)
        except OSError:
            self.items = before
            raise

    def end_transaction(self, connector):
        # A TxProfile outlives no restart: gone from RAM is enough.
        try:
            return self._drop(lambda p: p["purpose"] == TX and p["c"] == connector)
        except OSError:
            return 1  # (logged)

    def _drop(self, hit):
        kept = [p for p in self.items if not hit(p)]
        gone = len(self.items) - len(kept)
        if gone:
            self.items = kept
            try:
                self._save()
            except OSError as err:
                log.error("profiles", "cannot store the profiles: %s", err)
                raise
        return gone
