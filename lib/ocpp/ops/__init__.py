# Operations: one small module per central-system action, imported on first
# use so that actions never called cost no heap. Each module has
#   handle(app, payload) -> reply payload, or (reply payload, after)
# where after() is a coroutine function started once the reply is on the wire.
from ocpp import errors

# Actions this charge point implements -> module in this package.
MODULES = {
    "TriggerMessage": "trigger_message",
}

# Every action OCPP 1.6 defines (Core and the optional profiles), so that a
# known but unsupported one gets NotSupported and anything else NotImplemented
# (ERR-01).
OCPP16_ACTIONS = (
    "Authorize", "BootNotification", "CancelReservation", "ChangeAvailability",
    "ChangeConfiguration", "ClearCache", "ClearChargingProfile", "DataTransfer",
    "DiagnosticsStatusNotification", "FirmwareStatusNotification",
    "GetCompositeSchedule", "GetConfiguration", "GetDiagnostics",
    "GetLocalListVersion", "Heartbeat", "MeterValues", "RemoteStartTransaction",
    "RemoteStopTransaction", "ReserveNow", "Reset", "SendLocalList",
    "SetChargingProfile", "StartTransaction", "StatusNotification",
    "StopTransaction", "TriggerMessage", "UnlockConnector", "UpdateFirmware",
)


class Dispatcher:
    def __init__(self, app):
        self.app = app
        self._loaded = {}

    def dispatch(self, action, payload):
        handler = self._loaded.get(action)
        if handler is None:
            name = MODULES.get(action)
            if name is None:
                if action in OCPP16_ACTIONS:
                    raise errors.NotSupported("%s is not supported by this charge point" % action)
                raise errors.NotImplemented("unknown action %s" % action[:40])
            module = __import__("ocpp.ops." + name, None, None, ("handle",))
            handler = self._loaded[action] = module.handle
        return handler(self.app, payload)
