# model/profiles.py (profiles on flash, replacement rules, checks of the
# csChargingProfiles shape), services/smart_charging.py (the door: what
# loads when, the clock-jump hook) and services/profile_limits.py (the
# limit it hands to sessions.set_limit), with stand-ins.
from check import TempDir, eq, raises
from fakes import Keys

from uocpp import clock, errors
from uocpp.model import profiles as pm
from uocpp.services.smart_charging import SmartCharging

NOW = 1798761600


def keys():
    return Keys(ChargeProfileMaxStackLevel=8, ChargingScheduleMaxPeriods=24, MaxChargingProfilesInstalled=3, ConnectionTimeOut=60)


def prof(pid, purpose="TxDefaultProfile", level=0, limit=16.0, **extra):
    p = {
        "chargingProfileId": pid,
        "stackLevel": level,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Relative",
        "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}]},
    }
    p.update(extra)
    return p


def test_entry_shape_and_content():
    e = pm.entry(1, prof(3, validFrom="2027-01-01T00:00:00Z"), NOW)
    eq((e["id"], e["c"], e["purpose"], e["from"], e["start"], e["periods"]), (3, 1, "TxDefaultProfile", NOW, None, [[0, 16.0, None]]))
    a = pm.entry(0, dict(prof(4), chargingProfileKind="Absolute"), NOW + 5)
    # 7.13 startSchedule: "If absent the schedule will be relative to start of charging".
    eq((a["kind"], a["start"]), ("Relative", None), "an Absolute without startSchedule counts from the start of charging")
    r = pm.entry(0, dict(prof(5), chargingProfileKind="Recurring", recurrencyKind="Daily"), NOW + 5)
    eq(r["start"], NOW + 5, "a Recurring one without it from when it was set")
    from uocpp.services import schedule

    two = dict(prof(6), chargingProfileKind="Absolute")
    two["chargingSchedule"]["chargingSchedulePeriod"] = [{"startPeriod": 0, "limit": 10}, {"startPeriod": 60, "limit": 16}]
    e = pm.entry(1, two, NOW)
    tx = NOW + 3600  # a transaction an hour after the profile was set
    eq(schedule.limit_at([e], tx + 30, 1, tx, 230, 3), 10, "its first period from the transaction's start")
    eq(schedule.limit_at([e], tx + 60, 1, tx, 230, 3), 16)
    eq(raises(errors.OcppError, pm.entry, 0, dict(prof(1), stackLevel="1"), NOW).code, "TypeConstraintViolation")
    eq(raises(errors.OcppError, pm.entry, 0, dict(prof(1), extra=1), NOW).code, "FormationViolation")
    bad = prof(1)
    bad["chargingSchedule"]["chargingSchedulePeriod"] = [7]
    eq(raises(errors.OcppError, pm.entry, 0, bad, NOW).code, "TypeConstraintViolation")
    raises(pm.Refused, pm.entry, 0, dict(prof(1), validFrom="soon"), NOW)
    raises(pm.Refused, pm.entry, 0, dict(prof(1), chargingProfileKind="Recurring"), NOW)
    two = prof(1)
    two["chargingSchedule"]["chargingSchedulePeriod"] = [{"startPeriod": 0, "limit": 6}, {"startPeriod": 0, "limit": 8}]
    raises(pm.Refused, pm.entry, 0, two, NOW)


def test_a_number_json_cannot_write_back_is_refused():
    # 1e999 is a JSON number that parses as inf: taken in, profiles.json
    # held "inf", which no parser reads, and every profile was lost at the
    # next boot (and a GetCompositeSchedule answered with invalid JSON).
    import json

    huge = json.loads("[1e999]")[0]
    e = raises(errors.OcppError, pm.entry, 0, prof(1, limit=huge), NOW)
    eq(e.code, "PropertyConstraintViolation", "an infinite limit")
    slow = prof(2)
    slow["chargingSchedule"]["minChargingRate"] = huge
    eq(raises(errors.OcppError, pm.entry, 0, slow, NOW).code, "PropertyConstraintViolation", "an infinite minChargingRate")


def test_a_profile_past_its_valid_to_makes_room():
    # MaxChargingProfilesInstalled (3 here) counts only profiles that may
    # still apply: one past its validTo is dropped when a new one needs its
    # place (a central system sending each day's profile with a new id and
    # stack level found them Rejected from the fourth day on, for good).
    with TempDir("expired") as d:
        store = pm.Profiles(d + "/profiles.json", keys())
        now = clock.now()
        for pid in (1, 2, 3):
            e = pm.entry(1, prof(pid, level=pid, validTo=clock.format_iso(now + 10 * pid)), now)
            eq(store.install(e), "Accepted", "day %d" % pid)
        eq(store.install(pm.entry(1, prof(4, level=4), now)), "Rejected", "three still valid: no room")
        clock.set_unix(now + 15)  # profile 1 has ended
        eq(store.install(pm.entry(1, prof(4, level=4), now + 15)), "Accepted", "the ended one made room")
        eq(sorted(p["id"] for p in pm.Profiles(d + "/profiles.json", keys()).items), [2, 3, 4], "and left the flash")


def test_replacement_limits_and_flash():
    with TempDir("profiles") as d:
        path = d + "/profiles.json"
        store = pm.Profiles(path, keys())
        eq(store.install(pm.entry(0, prof(1), NOW)), "Accepted")
        eq(store.install(pm.entry(1, prof(1, level=2), NOW)), "Accepted")  # same id: replaces
        eq([(p["id"], p["c"], p["level"]) for p in store.items], [(1, 1, 2)])
        eq(store.install(pm.entry(1, prof(2, level=2), NOW)), "Accepted")  # same connector, level, purpose: replaces
        eq([p["id"] for p in store.items], [2])
        eq(store.install(pm.entry(0, prof(3, level=2), NOW)), "Accepted")  # another connector: both stay
        eq(store.install(pm.entry(0, prof(4, level=9), NOW)), "Rejected", "stack level")
        eq(store.install(pm.entry(0, prof(5, "ChargePointMaxProfile"), NOW)), "Accepted")
        eq(store.install(pm.entry(0, prof(6, "ChargePointMaxProfile", level=1), NOW)), "Rejected", "a fourth profile")
        eq(store.install(pm.entry(1, prof(7, "TxProfile"), NOW)), "Rejected", "still three")
        eq(store.clear(pid=5), 1)
        eq(store.install(pm.entry(1, prof(7, "TxProfile"), NOW)), "Accepted")
        again = pm.Profiles(path, keys())
        eq(sorted(p["id"] for p in again.items), [2, 3], "on flash, without the TxProfile")
        eq(store.end_transaction(1), 1)
        eq(store.clear(connector=0, level=2), 1)
        eq(store.clear(purpose="TxProfile"), 0)
        eq(store.clear(), 1)


def test_a_profile_installed_as_it_is_writes_nothing():
    # A central system that sends its profiles again at every connection
    # rewrote profiles.json each time.
    from uocpp.store import json_file

    with TempDir("profiles") as d:
        store = pm.Profiles(d + "/profiles.json", keys())
        eq(store.install(pm.entry(0, prof(1, "ChargePointMaxProfile"), NOW)), "Accepted")
        before = json_file.written
        for _ in range(3):
            eq(store.install(pm.entry(0, prof(1, "ChargePointMaxProfile"), NOW + 60)), "Accepted")
        eq(json_file.written, before, "bytes written")
        eq(store.install(pm.entry(0, prof(1, "ChargePointMaxProfile", limit=10.0), NOW)), "Accepted")
        eq(json_file.written > before, True, "a changed one is written")
        eq(pm.Profiles(d + "/profiles.json", keys()).items[0]["periods"], [[0, 10.0, None]], "on flash")


class Sessions:
    def __init__(self):
        self.limits = {}
        self.watchers = []

    def on_transaction(self, fn):
        self.watchers.append(fn)

    def set_limit(self, n, amps):
        self.limits[n] = amps

    def transaction_id(self, n):
        return 42


def test_smart_charging_applies_and_follows_clock_jumps():
    with TempDir("smart") as d:
        sessions = Sessions()
        smart = SmartCharging(d + "/profiles.json", sessions, keys(), 2, 32, 230, 3)
        eq(smart.set_profile(1, prof(1, "TxProfile")), "Rejected", "no transaction")
        eq(smart.set_profile(1, prof(2, "ChargePointMaxProfile")), "Rejected", "not on connector 0")
        eq(smart.set_profile(3, prof(2)), "Rejected", "no connector 3")
        rel = prof(3)
        rel["chargingSchedule"]["chargingSchedulePeriod"] = [{"startPeriod": 0, "limit": 10}, {"startPeriod": 3600, "limit": 20}]
        eq(smart.set_profile(0, rel), "Accepted")
        eq(sessions.limits, {1: None, 2: None}, "Relative: nothing before a transaction")
        sessions.watchers[0](1, "CARD1")
        eq(sessions.limits[1], 10)
        eq(smart.set_profile(1, prof(4, "TxProfile", limit=8.0, transactionId=41)), "Rejected", "another transaction")
        eq(smart.set_profile(1, prof(4, "TxProfile", limit=8.0, transactionId=42)), "Accepted")
        eq(sessions.limits[1], 8.0)
        eq(smart.clear(4, None, None, None), "Accepted")
        eq(smart.clear(4, None, None, None), "Unknown")
        eq(sessions.limits[1], 10)
        # The wall clock jumps a day ahead: the transaction's hour has not passed.
        clock.set_unix(clock.now() + 86400)
        smart.apply()
        eq(sessions.limits[1], 10, "relative to the transaction, not the wall clock")
        eq(smart.set_profile(0, prof(5, "ChargePointMaxProfile", limit=12.0)), "Accepted")
        sessions.watchers[0](2, "CARD1")
        eq((sessions.limits[1], sessions.limits[2]), (6.0, 6.0), "two transactions share the cap")
        sessions.watchers[0](2, None)
        eq(sessions.limits[1], 10)
        t0, periods = smart.composite(1, 7200, "A")
        eq(periods[0][1], 10)
        eq(periods[1][1], 12, "the cap under the 20 A period")


def test_a_remote_start_tx_profile_outlives_a_clock_set_forward_before_the_start():
    # RemoteStartTransaction with a chargingProfile (C16 5.11: the TxProfile
    # is used for the transaction it starts): the transaction starts within
    # ConnectionTimeOut, but a Heartbeat.conf set the clock 5 minutes
    # forward meanwhile (the board's RTC ran slow). The wait is a duration,
    # not a wall-clock time: the profile must still come with the start,
    # else the EV charges at the hardware's maximum. (Before: the offer's
    # deadline was on the wall clock, and the jump had expired it.)
    synced, now = clock.synced, clock.now()
    try:
        with TempDir("offer") as d:
            sessions = Sessions()
            smart = SmartCharging(d + "/profiles.json", sessions, keys(), 2, 32, 230, 3)
            e = smart.tx_profile(1, prof(9, "TxProfile", limit=8.0))
            smart.offer(1, e, "ALICE")
            clock.set_unix(clock.now() + 300)
            sessions.watchers[0](1, "ALICE")
            eq(sessions.limits[1], 8.0, "the remote start's TxProfile in force")
    finally:
        clock.set_unix(now)
        clock.synced = synced


_PART = "uocpp.services.profile_limits"


def test_profiles_of_another_shape_stop_no_task():
    # profiles.json entries of another shape (a bit flipped, another
    # version's, edited by hand) raised TypeError or IndexError in every
    # schedule computed from them: the smart charging task failed at each
    # restart, five times in ten minutes reset the board, and the next boot
    # read the same file (a reset loop). Such an entry is dropped at load.
    import json

    good = {"id": 1, "c": 0, "level": 0, "purpose": "TxDefaultProfile", "kind": "Relative", "rec": None, "from": None, "to": None, "start": None, "dur": None, "unit": "A", "periods": [[0, 10, None]], "tx": None}
    bad = []
    for k, v in (("periods", 5), ("periods", [[0]]), ("periods", [5]), ("to", "x"), ("from", "x"), ("dur", "x"), ("periods", [["a", 10, None]]), ("periods", [[0, "x", None]])):
        e = dict(good, id=len(bad) + 2)
        e[k] = v
        bad.append(e)
    with TempDir("door") as d:
        with open(d + "/profiles.json", "w") as f:
            json.dump([good] + bad, f)
        smart = SmartCharging(d + "/profiles.json", Sessions(), keys(), 2, 32, 230, 3)
        eq([p["id"] for p in smart.profiles.items], [1], "the one of this firmware's shape")
        eq(smart.composite(1, 600, "A")[1], [[0, 10, None]], "and a schedule from it")


def _gone():
    from uocpp.lazy import unload

    for name in (_PART, "uocpp.services.schedule"):
        unload(name)


def test_no_profile_on_flash_loads_nothing():
    import sys

    with TempDir("door") as d:
        _gone()
        sessions = Sessions()
        smart = SmartCharging(d + "/profiles.json", sessions, keys(), 2, 32, 230, 3)
        eq((bool(smart), _PART in sys.modules, "uocpp.services.schedule" in sys.modules), (False, False, False), "nothing loaded at boot")
        from uocpp.ops import clear_charging_profile

        eq(clear_charging_profile.handle({}, smart), {"status": "Unknown"}, "ClearChargingProfile with none installed")
        eq(_PART in sys.modules, False, "still nothing loaded")
        sessions.watchers[0](1, "CARD1")
        eq((_PART in sys.modules, smart._tx_start[1] is not None), (False, True), "a start is kept by the door alone")
        with open(d + "/profiles.json", "w") as f:
            f.write("[]")
        eq(bool(SmartCharging(d + "/profiles.json", Sessions(), keys(), 2, 32, 230, 3)), False, "an emptied profiles file")


def test_a_profile_on_flash_loads_smart_charging_at_boot():
    import sys

    with TempDir("door") as d:
        first = SmartCharging(d + "/profiles.json", Sessions(), keys(), 2, 32, 230, 3)
        eq(first.set_profile(0, prof(7)), "Accepted")
        _gone()
        sessions = Sessions()
        smart = SmartCharging(d + "/profiles.json", sessions, keys(), 2, 32, 230, 3)
        eq((bool(smart), _PART in sys.modules), (True, True), "loaded at boot")
        eq([p["id"] for p in smart.profiles.items], [7])


async def test_the_part_is_dropped_once_no_profile_is_left():
    import sys

    import asyncio

    with TempDir("door") as d:
        _gone()
        sessions = Sessions()
        smart = SmartCharging(d + "/profiles.json", sessions, keys(), 2, 32, 230, 3)
        task = asyncio.create_task(smart.run())
        sessions.watchers[0](1, "CARD1")
        eq(smart.set_profile(1, prof(8, limit=10.0)), "Accepted", "SetChargingProfile loads it")
        await asyncio.sleep_ms(20)
        eq((bool(smart), sessions.limits[1]), (True, 10.0), "in force, kept while installed")
        eq(smart.clear(8, None, None, None), "Accepted")
        await asyncio.sleep_ms(20)
        eq((bool(smart), _PART in sys.modules, sessions.limits[1]), (False, False, None), "dropped, the hardware's maximum again")
        t0, periods = smart.composite(1, 600, "A")
        eq(periods, [[0, 32, None]], "GetCompositeSchedule loads it: the hardware maximum")
        await asyncio.sleep_ms(20)
        eq((bool(smart), _PART in sys.modules), (False, False), "and it goes again")
        task.cancel()


def test_a_clear_the_flash_refuses_is_not_accepted():
    # A full flash (OSError 28) during ClearChargingProfile: the profile
    # stayed on flash and comes back at the next boot (a ChargePointMaxProfile
    # of 0 A then stops every charge again), so it must stay in force now too
    # and the central system must not read Accepted (C16 5.5).
    from uocpp.store import json_file

    with TempDir("profiles") as d:
        path = d + "/profiles.json"
        store = pm.Profiles(path, keys())
        eq(store.install(pm.entry(0, prof(1, "ChargePointMaxProfile", limit=0.0), NOW)), "Accepted")
        write = json_file.write_json_atomic

        def full(path, obj):
            raise OSError(28)

        json_file.write_json_atomic = full
        try:
            try:
                gone = store.clear(pid=1)
            except OSError:
                gone = None  # the answer: a CALLERROR, not Accepted
        finally:
            json_file.write_json_atomic = write
        eq(bool(gone), False, "not cleared, not Accepted")
        eq([p["id"] for p in store.items], [1], "still in force")
        eq([p["id"] for p in pm.Profiles(path, keys()).items], [1], "as on flash")
        eq(store.end_transaction(0), 0)
