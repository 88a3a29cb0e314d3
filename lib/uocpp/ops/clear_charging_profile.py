# ClearChargingProfile (C16 5.5): by id (the other criteria then do not
# matter), else every profile matching all the criteria given (none: all).
# Accepted when at least one went, else Unknown.
from uocpp.lazy import held
from uocpp.model.profiles import PURPOSES
from uocpp.validate import ENUM, INT

REQUEST = (
    ("id", INT, False, None),
    ("connectorId", INT, False, (0, 1000)),
    ("chargingProfilePurpose", ENUM, False, PURPOSES),
    ("stackLevel", INT, False, (0, 1000000)),
)
USES = ("smart",)


def handle(payload, smart):
    if not smart and not held(smart.path):
        return {"status": "Unknown"}  # nothing installed: nothing to load
    g = payload.get
    return {"status": smart.clear(g("id"), g("connectorId"), g("chargingProfilePurpose"), g("stackLevel"))}
