# One exception per OCPP 1.6 error code, spelled exactly as 1.6 spells it
# (ERR-01, ERR-02): "Occurence" has one "r" on purpose. Raising one of these
# from an operation handler makes the RPC layer answer with that CALLERROR.


class OcppError(Exception):
    code = "GenericError"

    def __init__(self, description="", details=None):
        super().__init__(description)
        self.description = description
        self.details = details or {}


class NotImplemented(OcppError):  # noqa: A001 - the 1.6 code's own spelling
    code = "NotImplemented"


class NotSupported(OcppError):
    code = "NotSupported"


class InternalError(OcppError):
    code = "InternalError"


class ProtocolError(OcppError):
    code = "ProtocolError"


class SecurityError(OcppError):
    code = "SecurityError"


class FormationViolation(OcppError):
    code = "FormationViolation"


class PropertyConstraintViolation(OcppError):
    code = "PropertyConstraintViolation"


class OccurenceConstraintViolation(OcppError):
    code = "OccurenceConstraintViolation"


class TypeConstraintViolation(OcppError):
    code = "TypeConstraintViolation"


class GenericError(OcppError):
    code = "GenericError"


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

