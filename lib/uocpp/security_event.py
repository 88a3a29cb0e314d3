# The one door through which any part of the firmware reports a security
# event of the OCPP 1.6 Security Whitepaper (a failed authentication, a bad
# certificate, a firmware signature that does not verify, ...). Callers name
# the event type as the whitepaper spells it. Behind it (security_log.py,
# imported with the first event): a line in the security log on flash, and
# for the critical events a SecurityEventNotification queued on flash in
# the outbox's durable lane. Importing this module costs a few bytes; a
# report never raises (it is called from error paths, MemoryError ones too).
import sys
import time

from micropython import const

from uocpp import log

_GAP_MS = const(1000)

_where = None  # (log directory, outbox, send notifications), set by the app
_held = [None, {}]  # security_log's state while its code is out of the heap


def attach(directory, outbox, send):
    # app.py, once per application: where the log goes, who sends.
    global _where
    _where = (directory, outbox, send)


def report(kind, tech_info=None):
    # (Few names and strings here and in the hooks: each is interned when
    # its module loads at boot, and interned strings are never freed.)
    if kind in ("InvalidMessages", "MemoryExhaustion"):
        # What a peer or a short heap can repeat at any rate: one line a
        # second, and nothing loaded for the rest.
        now, last = time.ticks_ms(), _held[1].get(kind)
        if last is not None and time.ticks_diff(now, last) < _GAP_MS:
            return  # the caller logged its own line already
        _held[1][kind] = now
    log.warning("security", "%s%s", kind, " (%s)" % tech_info if tech_info else "")
    if _where is None:
        return  # before the app is wired (boot.py, tools): the console only
    try:
        ring(kind, tech_info)
    except Exception as e:  # MemoryError included: the caller goes on
        try:
            log.error("security", "%s: %r", kind, e)
        except Exception:
            pass


def ring(kind=None, tech_info=None):
    # Records an event; without one, -> the security log's LogRing (GetLog
    # reads it through diag_file). Either way security_log's code leaves the
    # heap after it: events are rare.
    from uocpp import security_log as m

    try:
        return m.record(_held, _where, kind, tech_info) if kind else m.ring(_held, _where[0])
    finally:
        sys.modules.pop(m.__name__, None)
        import uocpp

        delattr(uocpp, "security_log")
