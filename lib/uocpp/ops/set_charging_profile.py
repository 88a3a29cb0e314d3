# SetChargingProfile (C16 5.16): the profile is checked (a wrong shape gets
# its CALLERROR, content this charge point refuses Rejected), stored on flash
# and in force before the reply (services/smart_charging.py). A TxProfile
# needs a running transaction on its connector (and its transactionId, when
# given); a ChargePointMaxProfile goes on connector 0.
from uocpp.validate import INT, OBJ

REQUEST = (("connectorId", INT, True, (0, 1000)), ("csChargingProfiles", OBJ, True, None))
USES = ("smart",)


def handle(payload, smart):
    return {"status": smart.set_profile(payload["connectorId"], payload["csChargingProfiles"])}
