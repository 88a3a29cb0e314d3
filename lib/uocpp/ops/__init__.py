# Operations: one small module per central-system action, imported when its
# CALL comes and dropped again once it has answered, so that an operation
# costs heap only while it runs. Each module has
#   REQUEST: the payload declaration checked first (validate.py),
#   USES: the names of the parts it may touch (the app's capabilities), and
#   handle(payload, *those parts) -> reply payload, or (reply payload, after)
# where after() is a coroutine function started once the reply is on the wire;
# a reply payload is a dict, or the pieces of its JSON text: a list, or a
# function making them (a long one, GetConfiguration's: the link makes
# them as it sends).
# A module that needs many parts sets BY_NAME = True and gets them as one
# dict instead, handle(payload, parts), still only those USES names.
# The module of an action is its name in snake case (CancelReservation ->
# cancel_reservation.py).
from micropython import const

from uocpp import errors, snake, unload, validate
from uocpp.model.keys import PROFILES

# Every 1.6 action, in one comma-framed string (one object, not a dict):
# "=" and the feature profile the action belongs to (a digit: its index in
# PROFILES), or "-" for those only a charge point sends, which get
# NotSupported (ERR-01); an action not listed gets NotImplemented.
_ACTIONS = const(
    ",CancelReservation=3,ChangeAvailability=0,ChangeConfiguration=0,ClearCache=0"
    ",ClearChargingProfile=5,DataTransfer=0,GetCompositeSchedule=5,GetConfiguration=0"
    ",GetDiagnostics=1,GetLocalListVersion=2,RemoteStartTransaction=0"
    ",RemoteStopTransaction=0,ReserveNow=3,Reset=0,SendLocalList=2"
    ",SetChargingProfile=5,TriggerMessage=4,UnlockConnector=0,UpdateFirmware=1"
    ",Authorize=-,BootNotification=-,DiagnosticsStatusNotification=-"
    ",FirmwareStatusNotification=-,Heartbeat=-,MeterValues=-,StartTransaction=-"
    ",StatusNotification=-,StopTransaction=-,"
    # The security whitepaper's (issue 25): the certificate store with Core,
    # the signed update and GetLog with FirmwareManagement (as GetDiagnostics),
    # ExtendedTriggerMessage with RemoteTrigger; SignCertificate and the
    # notifications only a charge point sends.
    ",CertificateSigned=0,DeleteCertificate=0,GetInstalledCertificateIds=0"
    ",InstallCertificate=0,SignedUpdateFirmware=1,GetLog=1,ExtendedTriggerMessage=4"
    ",SignCertificate=-,SignedFirmwareStatusNotification=-"
    ",SecurityEventNotification=-,LogStatusNotification=-,"
)


class Dispatcher:
    def __init__(self, parts):
        # parts: name -> object, what operations may be given (app.py). The
        # profiles on are those SupportedFeatureProfiles lists (config.json
        # ocpp.featureProfiles seeds it), as digits.
        self._parts = parts
        on = "," + parts["keys"].get("SupportedFeatureProfiles") + ","
        self._on = ""
        for i, p in enumerate(PROFILES):
            if "," + p + "," in on:
                self._on += str(i)

    def dispatch(self, action, payload):
        # Where action is in _ACTIONS, if 1.6 has such an action.
        at = -1 if "," in action or "=" in action else _ACTIONS.find("," + action + "=")
        if at < 0:
            raise errors.OcppError("NotImplemented", "unknown action %s" % action[:40])
        # The digit of its feature profile, "-" when only a charge point sends it.
        profile = _ACTIONS[at + len(action) + 2]
        if profile == "-":
            raise errors.OcppError("NotSupported", "%s is not supported by this charge point" % action)
        if profile not in self._on:
            raise errors.OcppError("NotSupported", "%s: the %s feature profile is off" % (action, PROFILES[int(profile)]))
        name = "uocpp.ops." + snake(action)
        try:
            module = __import__(name, None, None, ("handle",))
            validate.check(module.REQUEST, payload)
            parts = []
            for n in module.USES:
                parts.append(self._parts[n])
            if getattr(module, "BY_NAME", False):
                return module.handle(payload, dict(zip(module.USES, parts)))
            return module.handle(payload, *parts)
        finally:
            unload(name)
