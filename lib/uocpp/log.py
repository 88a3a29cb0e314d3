# A small levelled logger: one line per event, secrets masked.
# Formatting is lazy (args are only %-formatted when the level is enabled),
# so a disabled debug line costs no heap.
import time
from micropython import const

DEBUG = const(10)
INFO = const(20)
WARNING = const(30)
ERROR = const(40)

# Level names in level order (DEBUG, INFO, WARNING, ERROR = 10, 20, 30, 40)
# and their letters: a tuple and a string, no dicts to build at import.
_NAMES = ("debug", "info", "warning", "error")
_LETTERS = "DIWE"

_level = INFO
_secrets = []
_t0 = time.ticks_ms()


def set_level(name):
    global _level
    _level = (_NAMES.index(name) + 1) * 10


def enabled(level):
    return level >= _level


def add_secret(value):
    # Any registered secret is replaced by *** in every line, whatever path
    # the text took to get there.
    if value and value not in _secrets:
        _secrets.append(value)


def forget_secret(value):
    if value in _secrets:
        _secrets.remove(value)


def _emit(level, tag, msg, args):
    if args:
        try:
            msg = msg % args
        except Exception:
            msg = "%s %r" % (msg, args)
    for s in _secrets:
        if s in msg:
            msg = msg.replace(s, "***")
    t = time.ticks_diff(time.ticks_ms(), _t0)
    print("%d.%03d %s %s: %s" % (t // 1000, t % 1000, _LETTERS[level // 10 - 1], tag, msg))


def debug(tag, msg, *args):
    if _level <= DEBUG:
        _emit(DEBUG, tag, msg, args)


def info(tag, msg, *args):
    if _level <= INFO:
        _emit(INFO, tag, msg, args)


def warning(tag, msg, *args):
    if _level <= WARNING:
        _emit(WARNING, tag, msg, args)


def error(tag, msg, *args):
    _emit(ERROR, tag, msg, args)


def frame(direction, data):
    # Every OCPP frame in and out, at debug level. A frame that carries an
    # AuthorizationKey is withheld whole: the key may be new and unregistered.
    if _level > DEBUG:
        return
    if type(data) in (list, tuple):  # a message sent in pieces (websocket.send)
        data = "".join(data)
    if isinstance(data, (bytes, bytearray)):
        try:
            data = data.decode()
        except Exception:
            data = repr(data)
    if "authorizationkey" in data.lower():
        data = "[frame withheld: it carries an AuthorizationKey]"
    _emit(DEBUG, "frame", "%s %s", (direction, data))
