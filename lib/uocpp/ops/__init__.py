# Operations: one small module per central-system action, imported on first
# use so that actions never called cost no heap. Each module has
#   REQUEST: the payload declaration checked first (validate.py),
#   USES: the names of the parts it may touch (the app's capabilities), and
#   handle(payload, *those parts) -> reply payload, or (reply payload, after)
# where after() is a coroutine function started once the reply is on the wire.
from uocpp import errors, validate

# Actions this charge point implements -> module in this package.
MODULES = {
    "CancelReservation": "cancel_reservation",
    "ChangeAvailability": "change_availability",
    "ChangeConfiguration": "change_configuration",
    "ClearCache": "clear_cache",
    "ClearChargingProfile": "clear_charging_profile",
    "DataTransfer": "data_transfer",
    "GetCompositeSchedule": "get_composite_schedule",
    "GetConfiguration": "get_configuration",
    "GetDiagnostics": "get_diagnostics",
    "GetLocalListVersion": "get_local_list_version",
    "RemoteStartTransaction": "remote_start_transaction",
    "RemoteStopTransaction": "remote_stop_transaction",
    "ReserveNow": "reserve_now",
    "Reset": "reset",
    "SetChargingProfile": "set_charging_profile",
    "SendLocalList": "send_local_list",
    "TriggerMessage": "trigger_message",
    "UnlockConnector": "unlock_connector",
    "UpdateFirmware": "update_firmware",
}

# issue 25: certificates. The security whitepaper's actions, in one
# comma-framed string (five more dict entries cost 0.8 KB of idle heap);
# each one's module is its name in snake case.
SECURITY_ACTIONS = (
    ",CertificateSigned,DeleteCertificate,GetInstalledCertificateIds,InstallCertificate,SignedUpdateFirmware,"
    # issue 25: security events (the same rule)
    "ExtendedTriggerMessage,GetLog,"
)


def _snake(name):
    out = ""
    for ch in name:
        out += "_" + ch.lower() if "A" <= ch <= "Z" and out else ch.lower()
    return out


# end issue 25: certificates

# The 1.6 actions that are not in MODULES: those only a charge point sends
# (every action the central system may send is implemented). One of them
# arriving gets NotSupported, anything else NotImplemented (ERR-01).
# In one comma-framed string: one object, not a tuple of names.
OCPP16_ACTIONS = (
    ",Authorize,BootNotification,DiagnosticsStatusNotification"
    ",FirmwareStatusNotification,Heartbeat,MeterValues"
    ",StartTransaction,StatusNotification,StopTransaction,"
    # issue 25: security events
    "SecurityEventNotification,LogStatusNotification,"
)


class Dispatcher:
    def __init__(self, parts):
        # parts: name -> object, what operations may be given (app.py).
        self._parts = parts
        self._loaded = {}

    def dispatch(self, action, payload):
        op = self._loaded.get(action)
        if op is None:
            name = MODULES.get(action)
            if name is None and "," not in action and "," + action + "," in SECURITY_ACTIONS:
                name = _snake(action)  # issue 25
            if name is None:
                if "," not in action and "," + action + "," in OCPP16_ACTIONS:
                    raise errors.NotSupported("%s is not supported by this charge point" % action)
                raise errors.NotImplemented("unknown action %s" % action[:40])
            module = __import__("uocpp.ops." + name, None, None, ("handle",))
            parts = tuple(self._parts[n] for n in module.USES)
            op = self._loaded[action] = (module.REQUEST, module.handle, parts)
        validate.check(op[0], payload)
        return op[1](payload, *op[2])
