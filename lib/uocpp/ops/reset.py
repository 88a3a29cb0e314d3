# Reset (RST-01..RST-03): answer Accepted, and only once that reply is on the
# wire stop the application (it stops running transactions first, reason
# SoftReset or HardReset). Soft restarts it in-process (a new
# BootNotification follows); Hard resets the device (machine.reset(); on the
# unix port exit status 75, which the run command restarts).
from uocpp import log
from uocpp.validate import ENUM

REQUEST = (("type", ENUM, True, ("Hard", "Soft")),)
USES = ("stop", "metering")


def handle(payload, stop, metering):
    kind = payload["type"]

    async def reset():
        log.info("reset", "%s reset requested by the central system", kind)
        # The meter read now, not up to a second ago by the meter's task:
        # the stops bill the energy up to the relays' opening. A read that
        # fails or finds no heap resets all the same.
        try:
            await metering.poll()
        finally:
            stop(kind.lower())

    return {"status": "Accepted"}, reset
