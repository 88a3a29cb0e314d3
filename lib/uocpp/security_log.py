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
#   flood    InvalidMessages and MemoryExhaustion: one line per type a
#            second at first, then ever further apart while it goes on, up
#            to one an hour (security_event.py decides, before this module loads),
#            so a peer sending malformed frames (or a heap that stays short)
#            can neither wear the flash nor slow the firmware down
#   queue    at most _QUEUED notifications wait in the journal (a long
#            offline spell): the journal's room is for the transactions;
#            beyond it, the line in the security log only
#   cleared  a marker file beside the ring, made once a line is on flash: a
#            ring found empty while the marker exists was cleared behind the
#            firmware's back, and that is SecurityLogWasCleared
# Loaded for each event (StartupOfTheDevice at every boot) and dropped after
# it (security_event.py): between events only the ring object stays, and it
# holds no open file.
import os

from micropython import const

from uocpp import clock, log
from uocpp.log_ring import LogRing, path

_BYTES = const(16384)
_FILES = const(4)
_TECH = const(255)  # SecurityEventNotification.techInfo's maxLength
_QUEUED = const(20)  # SecurityEventNotifications waiting on flash, at most
_MARK = const(".mark")  # the marker file's suffix; a const(): a short literal would be an interned name for ever (docs/memory.md)

# (Few names here: each string and global is interned when the module loads,
# at every boot, and the interned strings are never freed.)


def ring(where, outbox=None):
    # where: [directory, outbox, send notifications, ring, {type: ticks_ms
    # of its last line}], kept by security_event.py while this module leaves
    # the heap between events. -> the ring of the directory (GetLog reads it
    # through diag_file), made once per boot; then a ring found empty while
    # its marker file exists was cleared behind the firmware's back:
    # SecurityLogWasCleared.
    r = where[3]
    if r is None or r.dir != where[0]:
        r = where[3] = LogRing(where[0], _BYTES, _FILES)
        try:
            os.stat(where[0] + _MARK)
        except OSError:
            return r  # no line has been on flash here: the marker comes with the first (_write)
        for n in range(_FILES):
            try:
                os.stat(path(where[0], n))
                return r
            except OSError:
                pass
        _write(r, "SecurityLogWasCleared", None, outbox)
    return r


def record(where, kind, info):
    outbox = where[1] if where[2] else None
    _write(ring(where, outbox), kind, log.mask(str(info).replace("\n", " ")[:_TECH]) if info else None, outbox)


def _write(r, kind, info, outbox):
    # One line on flash; then, for a critical event with notifications on,
    # the SecurityEventNotification stored in the durable lane.
    stamp = clock.now_iso()
    why = r.write(("%s %s %s\n" % (stamp, kind, info or "")).encode())
    r.close()  # between events no file is held open
    if why:
        log.error("security", why)
    elif r._failed_at is None:  # (not a line dropped while the ring rests)
        # The marker says a line was on flash: a ring found empty later was
        # cleared (not a first line a full flash refused).
        mark = r.dir + _MARK
        try:
            os.stat(mark)
        except OSError:
            try:
                open(mark, "w").close()
            except OSError:
                pass
    # The whitepaper's critical events (Appendix 1) are sent.
    if outbox is not None and kind in (
        "FirmwareUpdated", "SettingSystemTime", "StartupOfTheDevice", "ResetOrReboot",
        "SecurityLogWasCleared", "MemoryExhaustion", "TamperDetectionActivated",
    ):  # fmt: skip
        if outbox.stored_count("SecurityEventNotification") >= _QUEUED:
            # The journal is the transactions' first: events waiting there
            # never crowd out a StartTransaction or StopTransaction.
            why = "%d wait already" % _QUEUED
        else:
            payload = {"type": kind, "timestamp": stamp}
            if info:
                payload["techInfo"] = info
            try:
                outbox.store("SecurityEventNotification", payload)
                return
            except Exception as e:
                why = repr(e)
        log.error("security", "%s not queued: %s", kind, why)
