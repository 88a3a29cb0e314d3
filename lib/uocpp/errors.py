# One constructor per OCPP 1.6 error code, spelled exactly as 1.6 spells it
# (ERR-01, ERR-02): "Occurence" has one "r" on purpose. Raising what one of
# them builds (an OcppError with that code) from an operation handler makes
# the RPC layer answer with that CALLERROR.


class OcppError(Exception):
    code = "GenericError"

    def __init__(self, description="", details=None, code=None):
        super().__init__(description)
        self.description = description
        self.details = details or {}
        if code:
            self.code = code


# The other 1.6 codes: errors.FormationViolation("why") and the like build
# an OcppError that carries the code (catch OcppError and read .code). They
# are made on use by the module's __getattr__, so they cost no heap at all.
_CODES = (
    "NotImplemented", "NotSupported", "InternalError", "ProtocolError", "SecurityError", "FormationViolation",
    "PropertyConstraintViolation", "OccurenceConstraintViolation", "TypeConstraintViolation", "GenericError",
)


def __getattr__(name):
    if name not in _CODES:
        raise AttributeError(name)
    return lambda description="", details=None: OcppError(description, details, name)


# Outcomes of our own CALLs, raised by Rpc.call().


class CallFailed(Exception):
    pass


class CallErrorReceived(CallFailed):
    # The central system answered our CALL with a CALLERROR.
    def __init__(self, code, description):
        super().__init__("%s: %s" % (code, description))
        self.code = code


class ReplyRefused(CallFailed):
    # A CALLRESULT came, but its payload breaks the action's .conf.
    pass


class CallTimeout(CallFailed):
    pass


class NotConnected(CallFailed):
    # Not sent: no link, or the send failed.
    pass


class LinkLost(NotConnected):
    # Sent, but the link went down before the reply came.
    pass

