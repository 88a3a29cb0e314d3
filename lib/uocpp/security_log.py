# The security log (OCPP 1.6 Security Whitepaper, edition 3, section 2 and
# Appendix 1): every security event the firmware reports (security_event.py)
# is one line on flash, "<UTC stamp> <type> <techInfo>", in its own bounded
# ring of files (log_ring.py: the same power-cut rules as the flash log, a
# SIGKILL loses at most the line being written), <flash>/security/.
# The critical events of the whitepaper's list also go out as
# SecurityEventNotification when centralSystem.securityEvents is on: stored
# in the outbox's durable lane first, so they wait on flash while offline and
# go out in order with the transaction messages.
#
#   size     _BYTES in _FILES files: a rotation drops the oldest quarter, so
#            12..16 KB stay, 150 to 200 events of ~80 B (a techInfo is at
#            most 255 characters)
#   flood    InvalidMessages and MemoryExhaustion: one line per type per
#            _GAP_MS, so a peer sending malformed frames (or a heap that
#            stays short) cannot wear the flash faster than that
#   cleared  a marker file beside the ring: a ring found empty while the
#            marker exists was cleared behind the firmware's back, and that
#            is SecurityLogWasCleared
# Loaded with the first event (StartupOfTheDevice at every boot); the ring
# holds no open file between events.
import os
import time

from micropython import const

from uocpp import clock, log
from uocpp.log_ring import LogRing, path

_BYTES = const(16384)
_FILES = const(4)
_GAP_MS = const(1000)
_TECH = const(255)  # SecurityEventNotification.techInfo's maxLength

# The whitepaper's critical events (Appendix 1): sent to the central system.
CRITICAL = ",FirmwareUpdated,SettingSystemTime,StartupOfTheDevice,ResetOrReboot,SecurityLogWasCleared,MemoryExhaustion,TamperDetectionActivated,"

# What a peer or a short heap can repeat at any rate: one line a second.
_FLOODS = ",InvalidMessages,MemoryExhaustion,"

_ring = None
_last = {}  # type -> ticks_ms of its last line


def ring(directory):
    # The ring of `directory` (GetLog reads it through diag_file).
    global _ring
    if _ring is None or _ring.dir != directory:
        _ring = LogRing(directory, _BYTES, _FILES)
        _cleared(directory)
    return _ring


def _exists(name):
    try:
        os.stat(name)
        return True
    except OSError:
        return False


def _cleared(directory):
    # Once per boot, when the ring is first used.
    mark = directory + ".mark"
    if not _exists(mark):
        try:
            with open(mark, "w") as f:
                f.write("security log\n")
        except OSError:
            pass
        return
    for n in range(_FILES):
        if _exists(path(directory, n)):
            return
    stamp = clock.now_iso()
    _line(directory, "SecurityLogWasCleared", "the security log on flash was found empty", stamp)
    if _where_send is not None:
        _notify(_where_send, "SecurityLogWasCleared", stamp, None)


_where_send = None  # the outbox while notifications are on (for _cleared)


def record(where, kind, tech_info):
    global _where_send
    directory, outbox, send = where
    if "," + kind + "," in _FLOODS:
        now = time.ticks_ms()
        last = _last.get(kind)
        if last is not None and time.ticks_diff(now, last) < _GAP_MS:
            return
        _last[kind] = now
    _where_send = outbox if send else None
    tech = None
    if tech_info:
        tech = str(tech_info).replace("\n", " ")[:_TECH]
    stamp = clock.now_iso()
    ring(directory)
    _line(directory, kind, tech, stamp)
    if send and "," + kind + "," in CRITICAL:
        _notify(outbox, kind, stamp, tech)


def _line(directory, kind, tech, stamp=None):
    r = ring(directory)
    why = r.write(("%s %s %s\n" % (stamp or clock.now_iso(), kind, log.mask(tech or ""))).encode())
    r.close()  # between events no file is held open
    if why:
        log.error("security", "security log: %s", why)


def _notify(outbox, kind, stamp, tech):
    payload = {"type": kind, "timestamp": stamp}
    if tech:
        payload["techInfo"] = log.mask(tech)
    try:
        outbox.store("SecurityEventNotification", payload)
    except Exception as e:
        log.error("security", "SecurityEventNotification %s not queued: %r", kind, e)
