# Reset (RST-01..RST-03): answer Accepted, and only once that reply is on the
# wire stop the application (it stops running transactions first, reason
# SoftReset or HardReset). Soft restarts it in-process (a new
# BootNotification follows); Hard resets the device (machine.reset(); on the
# unix port exit status 75, which the run command restarts).
from uocpp import log
from uocpp.validate import ENUM

REQUEST = (("type", ENUM, True, ("Hard", "Soft")),)
USES = ("stop", "diagnostics")


def handle(payload, stop, slot):
    kind = payload["type"]

    async def reset():
        # The stops bill the registers as the relays left them: the session
        # loop reads the meter before it stores them, and the app waits for
        # that before it ends (app.py run()).
        log.info("reset", "%s reset requested by the central system", kind)
        if slot[0] is not None:  # an upload under way ends with its UploadFailed (services/diagnostics.py)
            slot[0].stop()
        stop(kind.lower())

    return {"status": "Accepted"}, reset
