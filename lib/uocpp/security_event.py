# The one door through which any part of the firmware reports a security
# event of the OCPP 1.6 Security Whitepaper (a failed authentication, a bad
# certificate, a firmware signature that does not verify, ...). Callers name
# the event type as the whitepaper spells it. Behind it (security_log.py,
# imported with the first event): a line in the security log on flash, and
# for the critical events a SecurityEventNotification queued on flash in
# the outbox's durable lane. Importing this module costs a few bytes; a
# report never raises (it is called from error paths, MemoryError ones too).
import time

from micropython import const

from uocpp import log, unload

_GAP_MS = const(1000)
_GAP_MAX_MS = const(3600000)
_LINE_FMT = const("%s (%s)")  # a const(): a short literal would be an interned name for ever (docs/memory.md)

# [log directory, outbox, send notifications, security_log's ring, {flood
# type: ticks_ms of its last report}]: the first three set by the app once
# per application (startup.py: where the log goes, who sends), all kept
# here while security_log's code is out of the heap.
_where = [None, None, False, None, {}]


def report(kind, tech_info=None):
    # The seam's signature: callers may name tech_info.
    # (Few names and strings here and in the hooks: each is interned when
    # its module loads at boot, and interned strings are never freed.)
    try:
        if kind in ("InvalidMessages", "MemoryExhaustion"):
            # What a peer or a short heap can repeat at any rate: a line a
            # second at first, then twice as far apart each time while it
            # goes on (up to an hour), and nothing loaded for the rest: a
            # flood of hours is a few dozen lines, not the whole ring over
            # every earlier event. An hour without one: a second again.
            # [ticks of its last line, the wait after it, ticks last seen]
            now, last = time.ticks_ms(), _where[4].get(kind)
            # (0 <=: over half the ticks' period ago, 6.2 days on a 32-bit
            # board, reads as negative.)
            if last is None or not 0 <= time.ticks_diff(now, last[2]) < _GAP_MAX_MS:
                _where[4][kind] = [now, _GAP_MS, now]
            else:
                last[2] = now
                if 0 <= time.ticks_diff(now, last[0]) < last[1]:
                    return  # the caller logged its own line already
                last[0], last[1] = now, min(2 * last[1], _GAP_MAX_MS)
        if tech_info:
            log.warning("security", _LINE_FMT, kind, tech_info)
        else:
            log.warning("security", kind)
    except MemoryError:
        return  # no heap even for its line (its arguments, the rate's record): the caller's line says it
    if _where[0] is None:
        return  # before the app is wired (boot.py, tools): the console only
    try:
        ring(kind, tech_info)
    except Exception as e:  # MemoryError included: the caller goes on
        try:
            log.error("security", "%s: %s", kind, repr(e))
        except Exception:
            pass


def ring(kind=None, info=None):
    # Records an event; without one, -> the security log's LogRing (GetLog
    # reads it through diag_file). Either way security_log's code leaves the
    # heap after it: events are rare.
    from uocpp import security_log as m

    try:
        return m.record(_where, kind, info) if kind else m.ring(_where)
    finally:
        unload("uocpp.security_log")
