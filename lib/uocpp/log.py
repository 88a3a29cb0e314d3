# A small levelled logger: one line per event, secrets masked.
# Formatting is lazy (args are only %-formatted when the level is enabled),
# so a disabled debug line costs no heap. Lines at log.flashLevel also go,
# masked the same way, to the persistent ring on flash (log_ring.py),
# stamped in UTC once the clock is set and with the uptime before.
import time
from micropython import const

from uocpp import clock

DEBUG = const(10)
_INFO = const(20)
_WARNING = const(30)
ERROR = const(40)

# Level names in level order (DEBUG, INFO, WARNING, ERROR = 10, 20, 30, 40)
# and their letters: a tuple and a string, no dicts to build at import.
_NAMES = const(("debug", "info", "warning", "error"))
_LETTERS = const("DIWE")
# const(): a short string literal is an interned name for ever (docs/memory.md).
_HIDDEN = const("***")  # what a secret is written as
_ARGS_FMT = const("%s %r")  # a message whose arguments did not fit its format
_UPTIME_FMT = const("+%d.%03d")  # seconds since boot, before the clock is set

_OFF = const(99)

_level = _INFO
_flash = _OFF  # the ring's level
_gate = _INFO  # the lower of the two: below it nothing is even formatted
# Read by the diagnostics service: the open LogRing (None: off), the
# registered secrets, and the ticks the uptime stamps count from.
ring = None
secrets = []
t0 = time.ticks_ms()


def _value(name):
    return _OFF if name == "off" else (_NAMES.index(name) + 1) * 10


def set_level(name):
    global _level, _gate
    _level = _value(name)
    _gate = min(_level, _flash)


def open_ring(directory, level, total, files):
    # The persistent log (log.flashLevel/flashBytes/flashFiles); "off" closes
    # it. Called again on a soft reset: the old file is closed first.
    global ring, _flash, _gate
    if ring is not None:
        ring.close()
        ring = None
    _flash = _value(level)
    if _flash != _OFF:
        from uocpp.log_ring import LogRing

        ring = LogRing(directory, total, files)
        ring.count = 0  # bounded: so many bytes a minute (log_ring.py)
    _gate = min(_level, _flash)


def enabled(level):
    return level >= _gate


def add_secret(value):
    # Any registered secret is replaced by *** in every line, whatever path
    # the text took to get there.
    if value and value not in secrets:
        secrets.append(value)


def mask(text):
    for s in secrets:
        if s in text:
            text = text.replace(s, _HIDDEN)
    return text


def _emit(level, tag, msg, args):
    # A line that finds no heap is lost, never its caller's work: logging is
    # called from error paths, MemoryError ones too.
    try:
        if args:
            try:
                msg = msg % args
            except Exception:
                msg = _ARGS_FMT % (msg, args)
        msg = mask(msg)
        i = msg.find("://") if "@" in msg else -1
        while i >= 0:
            # user:password@ in a URL (UpdateFirmware, GetDiagnostics
            # locations), in any line, becomes ***@: credentials never
            # reach a log.
            start = end = i + 3
            while end < len(msg) and msg[end] not in '/"? ':
                end += 1
            at = msg.rfind("@", start, end)
            if at >= 0:
                msg = msg[:start] + _HIDDEN + msg[at:]
            i = msg.find("://", start)
        t = time.ticks_diff(time.ticks_ms(), t0)
        letter = _LETTERS[level // 10 - 1]
        if level >= _level:
            print("%d.%03d %s %s: %s" % (t // 1000, t % 1000, letter, tag, msg))
        if level >= _flash and ring is not None:
            if "\n" in msg:  # one line per entry: the reader splits on newlines
                msg = msg.replace("\n", " | ")
            stamp = clock.now_iso() if clock.synced else _UPTIME_FMT % (t // 1000, t % 1000)
            why = ring.write(("%s %s %s: %s\n" % (stamp, letter, tag, msg)).encode())
            if why:
                # The console only: the ring is what failed.
                print("%d.%03d W log: %s" % (t // 1000, t % 1000, why))
    except MemoryError:
        pass


def debug(tag, msg, *args):
    if _gate <= DEBUG:
        _emit(DEBUG, tag, msg, args)


def sparse(n, fn):
    # The level of a retry's line: fn for attempts 1-7, then the 8th, 16th,
    # 32nd...; the others at debug, so that hours of outage (the link, the
    # Wi-Fi, the MQTT broker) do not overwrite the flash log from before.
    return fn if n < 8 or not n & (n - 1) else debug


def info(tag, msg, *args):
    if _gate <= _INFO:
        _emit(_INFO, tag, msg, args)


def warning(tag, msg, *args):
    if _gate <= _WARNING:
        _emit(_WARNING, tag, msg, args)


def error(tag, msg, *args):
    _emit(ERROR, tag, msg, args)


def exception(tag, msg, exc, *args):
    # An error line with exc's traceback under it (console), one entry on
    # the flash ring (its newlines become " | "). For failures nobody
    # expected: a supervised task's, a hook's. Never raises MemoryError (the
    # event loop's exception handler calls it: one raised there would end
    # the loop): with no heap for the traceback, its last line; with none
    # for that either, the bare message.
    import io
    import sys

    try:
        buf = io.StringIO()
        try:
            sys.print_exception(exc, buf)
            trace = buf.getvalue().rstrip("\n")
        except MemoryError:
            trace = repr(exc)  # no heap for the whole traceback: its last line
        buf = None
        _emit(ERROR, tag, msg + "\n%s", args + (trace,))
    except MemoryError:
        _emit(ERROR, tag, msg, args)


def frame(direction, data):
    # Every OCPP frame in and out, at debug level. A frame that carries an
    # AuthorizationKey is withheld whole: the key may be new and unregistered.
    if _gate > DEBUG:
        return
    if callable(data):  # a message made in pieces as it is sent (websocket.send)
        data = "".join(data())
    elif type(data) in (list, tuple):  # a message sent in pieces
        data = "".join(data)
    if isinstance(data, (bytes, bytearray)):
        try:
            data = data.decode()
        except Exception:
            data = repr(data)
    if "authorizationkey" in data.lower():
        data = "[frame withheld: it carries an AuthorizationKey]"

    _emit(DEBUG, "frame", "%s %s", (direction, data))
