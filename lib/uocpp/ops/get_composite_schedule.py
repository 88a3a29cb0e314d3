# GetCompositeSchedule (C16 5.7): the limits connector n will have from now
# for `duration` seconds, merged from every profile in force (schedule.py),
# in A (default) or W; connector 0: the ChargePointMaxProfile. Without any
# profile the limit is the hardware's maximum. Rejected for no such connector.
from uocpp import clock
from uocpp.validate import ENUM, INT

REQUEST = (("connectorId", INT, True, (0, 1000)), ("duration", INT, True, (0, 0x7FFFFFFF)), ("chargingRateUnit", ENUM, False, ("A", "W")))
USES = ("smart",)


def handle(payload, smart):
    n, unit = payload["connectorId"], payload.get("chargingRateUnit", "A")
    got = smart.composite(n, payload["duration"], unit)
    if got is None:
        return {"status": "Rejected"}
    t0, periods = got
    out = []
    for start, limit, phases in periods:
        p = {"startPeriod": start, "limit": limit}
        if phases:
            p["numberPhases"] = phases
        out.append(p)
    when = clock.format_iso(t0)
    return {
        "status": "Accepted", "connectorId": n, "scheduleStart": when,
        "chargingSchedule": {"duration": payload["duration"], "startSchedule": when, "chargingRateUnit": unit, "chargingSchedulePeriod": out},
    }
