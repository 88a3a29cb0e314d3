# The one door through which any part of the firmware reports a security
# event of the OCPP 1.6 Security Whitepaper (a failed authentication, a bad
# certificate, a firmware signature that does not verify, ...). Callers name
# the event type as the whitepaper spells it; what is done with it (flash
# log, SecurityEventNotification) lives behind this function, so importing
# this module costs almost nothing.
from uocpp import log


def report(kind, tech_info=None):
    log.warning("security", "%s%s", kind, " (%s)" % tech_info if tech_info else "")
