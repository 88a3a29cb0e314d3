# The work of config/provision.py's load(), once per boot: read
# config.json, check it (with the strict JSON reader below), feed the
# identity setters, read the modem. Loaded for that and dropped after
# (provision.py unloads it), with the config declarations and checks it
# loads.
from micropython import const

from uocpp import __version__, log, unload
from uocpp.model import identity


def load(path):
    # -> (settings, None), or (None, a message that names every bad key).
    from uocpp import platform
    from uocpp.config import settings as config

    path = path or platform.config_path()
    try:
        loaded, ident = config.load(path)
    except config.ConfigError as e:
        return None, str(e)
    finally:
        # The config declarations and checks run once per boot; dropping
        # them gives their code and tables back to the heap (about 7 KB).
        # energy: loaded by settings.py only when config.json has the section.
        unload("uocpp.config.settings", "uocpp.config.evse", "uocpp.config.energy", "uocpp.model.keytable")
    for secret in config.secrets(loaded):
        log.add_secret(secret)
    log.set_level(loaded["log"]["level"])
    # As the seed's loader: a setter only for keys present with string values.
    # firmwareVersion defaults to this library's version (uocpp.__version__).
    if "firmwareVersion" not in ident:
        ident["firmwareVersion"] = __version__
    for key, value in ident.items():
        identity.SETTERS[key](value)
    cfg = loaded["modem"]
    if cfg["enabled"]:
        # ICCID and IMSI from the modem, before the network starts. The
        # rule: a value the modem reported replaces chargePoint.iccid/imsi
        # from config.json; one it did not report (silent modem, no SIM,
        # ERROR, a value the setter refuses) leaves the configured value, or
        # none, in place. Bounded by modem.totalTimeout; never raises.
        from uocpp.device import modem

        values, why = modem.read(cfg, platform.open_uart)
        unload("uocpp.device.modem")  # read once per boot: its code leaves the heap too (about 4 KB)
        for key in ("iccid", "imsi"):
            if key in values:
                try:
                    identity.SETTERS[key](values[key])
                    log.info("modem", "%s %s", key.upper(), values[key])
                except identity.IdentityError as e:
                    log.warning("modem", "ignoring the modem's %s: %s", key.upper(), e)
        if why:
            missing = [k for k in ("iccid", "imsi") if k not in values]
            log.warning("modem", "%s; booting without the modem's %s", why, "ICCID and IMSI" if len(missing) > 1 else "".join(k.upper() for k in missing))
            for key in missing:
                if identity.get(key):
                    log.info("modem", "%s from config.json kept: %s", key.upper(), identity.get(key))
    log.info("boot", "identity %s / %s from %s", identity.get("chargePointVendor"), identity.get("chargePointModel"), path)
    return loaded, None


# The strict JSON reader (settings.load() calls index()): RFC 8259, for
# config.json's text, saying where it goes wrong and where each section and
# key stands. MicroPython's json gives no position in its errors, lets
# missing commas and colons through, and its dicts keep no order; this
# fills those gaps. It reads the text's UTF-8 bytes: a character taken out
# of a str (text[i], or a loop over it) is an interned name for ever in
# MicroPython, a byte is a small int. Offsets are byte offsets (they only
# order the problems); a message's column counts characters. Few
# functions, and no short string constants: each would be an interned name
# too (docs/memory.md). Here rather than a module of its own: a module
# costs names too (its path and dotted name).
_TAB = const(9)
_LF = const(10)
_CR = const(13)
_SPACE = const(32)
_QUOTE = const(34)  # "
_MINUS = const(45)
_ZERO = const(48)
_NINE = const(57)
_BRACKET = const(91)  # [
_BACKSLASH = const(92)
_CLOSE_BRACKET = const(93)  # ]
_BRACE = const(123)  # {
_CLOSE_BRACE = const(125)  # }


def index(text):
    # -> {"section": offset, "section.key": offset} of every key in the top
    # two levels (first occurrence), or at the first offence the message
    # "line L, column C: ..." (a str). Inside, an offence is a ValueError
    # (offset, "expected ..."[, True: the whole message]).
    t = text.encode()
    keys = {}
    try:
        n = _ws(t, _value(t, 0, "", keys))
        if n < len(t):
            raise ValueError(n, "expected nothing after the closing bracket of the JSON value")
    except ValueError as e:
        n, what = e.args[0], e.args[1]
        start = t.rfind(b"\n", 0, n) + 1
        where = "line %d, column %d: " % (t.count(b"\n", 0, n) + 1, len(t[start:n].decode()) + 1)
        if len(e.args) > 2:
            return where + what
        c = t[n] if n < len(t) else -1
        if c < 0:
            found = "the end of the file"
        elif t[n : n + 3] == b"\xef\xbb\xbf":
            found = "a byte-order mark (save the file as UTF-8 without BOM)"
        elif c == _LF:
            found = "the end of the line"
        elif not _SPACE <= c <= 126:
            # The whole character (1 to 4 bytes of UTF-8) for its code point.
            found = "character U+%04X" % ord(t[n : n + (1 if c < 0x80 else 2 if c < 0xE0 else 3 if c < 0xF0 else 4)].decode())
        else:  # the character itself, in quotes (no str of one character: that is a name)
            return ("%s%s, found '%c'" if c != 39 else '%s%s, found "%c"') % (where, what, c)
        return "%s%s, found %s" % (where, what, found)
    except RuntimeError:
        # _value recurses once per [ or {: deeper than the stack allows.
        return "arrays or objects nested too deep"
    return keys


def _ws(t, n):
    # The offset of the first byte at or after n that is no white space.
    while n < len(t) and t[n] in (_SPACE, _TAB, _LF, _CR):
        n += 1
    return n


def _value(t, n, path, keys):
    # The offset after the value at n (white space before it skipped). path:
    # "" for the top level, "section." inside a section, None deeper or
    # inside an array (no offsets recorded there).
    n = _ws(t, n)
    c = t[n] if n < len(t) else -1
    if c == _BRACE:
        n = _ws(t, n + 1)
        if t[n : n + 1] == b"}":
            return n + 1
        while True:
            n = _ws(t, n)
            if t[n : n + 1] != b'"':
                raise ValueError(n, "expected a key in double quotes" + (" (no comma before '}')" if t[n : n + 1] == b"}" else ""))
            start = n
            n = _value(t, n, None, keys)
            name = t[start + 1 : n - 1].decode()
            if path is not None and path + name not in keys:
                keys[path + name] = start
            n = _ws(t, n)
            if t[n : n + 1] != b":":
                raise ValueError(n, "expected ':' after the key \"%s\"" % name)
            n = _ws(t, _value(t, n + 1, path + name + "." if path == "" else None, keys))
            if t[n : n + 1] == b"}":
                return n + 1
            if t[n : n + 1] != b",":
                raise ValueError(n, "expected ',' or '}' after the value of \"%s\"" % name)
            n += 1
    if c == _BRACKET:
        n = _ws(t, n + 1)
        if t[n : n + 1] == b"]":
            return n + 1
        while True:
            if t[_ws(t, n) : _ws(t, n) + 1] == b"]":
                raise ValueError(_ws(t, n), "expected a value (no comma before ']')")
            n = _ws(t, _value(t, n, None, keys))
            if t[n : n + 1] == b"]":
                return n + 1
            if t[n : n + 1] != b",":
                raise ValueError(n, "expected ',' or ']' in the array")
            n += 1
    if c == _QUOTE:
        start = n
        n += 1
        while n < len(t):
            c = t[n]
            if c == _QUOTE:
                return n + 1
            if c == _BACKSLASH:
                e = t[n + 1 : n + 2]
                if e == b"u":
                    h = t[n + 2 : n + 6]
                    if len(h) < 4 or [d for d in h if d not in b"0123456789abcdefABCDEF"]:
                        raise ValueError(n, "expected 4 hex digits after \\u")
                    if h[0] in b"dD" and h[1] in b"89abcdefABCDEF":
                        # MicroPython's json decodes each half of a pair alone (CESU-8, not UTF-8).
                        raise ValueError(n, "a \\uD800 to \\uDFFF escape (half of a surrogate pair) cannot be read here: write the character itself (UTF-8)", True)
                    n += 6
                    continue
                if not e or e not in b'"\\/bfnrt':
                    raise ValueError(n, 'expected an escape (\\" \\\\ \\/ \\b \\f \\n \\r \\t or \\uXXXX)')
                n += 2
                continue
            if c < _SPACE:
                raise ValueError(n, "expected the closing '\"' of the string (a line break or tab inside it must be written \\n or \\t)")
            n += 1
        raise ValueError(start, "this string has no closing '\"'", True)
    if c == _MINUS or _ZERO <= c <= _NINE:
        if c == _MINUS:
            n += 1
        if t[n : n + 1] == b"0":
            n += 1
            if _ZERO <= (t[n] if n < len(t) else 0) <= _NINE:
                raise ValueError(n, "a number must not start with 0 and another digit", True)
        else:
            n = _digits(t, n)
        if t[n : n + 1] == b".":
            n = _digits(t, n + 1)
        if t[n : n + 1] in (b"e", b"E"):
            n += 1
            if t[n : n + 1] in (b"+", b"-"):
                n += 1
            n = _digits(t, n)
        return n
    for word in (b"true", b"false", b"null"):
        if t[n : n + len(word)] == word:
            return n + len(word)
    raise ValueError(n, "expected a value (object, array, string in double quotes, number, true, false or null)")


def _digits(t, n):
    # The offset after the digits at n; there must be one at least.
    start = n
    while n < len(t) and _ZERO <= t[n] <= _NINE:
        n += 1
    if n == start:
        raise ValueError(n, "expected a digit")
    return n
