# The CALLERROR an operation handler raises: one class carrying the OCPP 1.6
# error code, spelled exactly as 1.6 spells it (ERR-01, ERR-02):
# "NotImplemented", "NotSupported", "InternalError", "ProtocolError",
# "SecurityError", "FormationViolation", "PropertyConstraintViolation",
# "OccurenceConstraintViolation" ("Occurence" has one "r" on purpose),
# "TypeConstraintViolation", "GenericError". One class, not one per code:
# each class is a type object and a dict on the heap even when frozen, and
# the code is what the RPC layer answers with, e.g.
#   raise errors.OcppError("TypeConstraintViolation", "x must be an integer")


class OcppError(Exception):
    def __init__(self, code, description="", details=None):
        super().__init__(description)
        self.code = code
        self.description = description
        self.details = details or {}


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


class NoHeap(CallFailed):
    # The outbox found no heap to make or send the message (outbox.py _send):
    # not the central system's answer, so its sender may post it again at
    # once (services/status.py).
    pass
