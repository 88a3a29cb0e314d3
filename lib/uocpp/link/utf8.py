# Strict UTF-8 (RFC 3629). MicroPython's decoder checks only the byte
# structure and lets overlong forms, UTF-16 surrogates and code points above
# U+10FFFF through; RFC 6455 (8.1) and OCPP-J (J-07) allow none of them.
# MicroPython's json.loads also turns a "\ud800" escape into such a surrogate,
# which must not go out again in a reply.
import re

_bad = None


def _pattern():
    # Compiled on first use: pure ASCII traffic never needs it.
    global _bad
    if _bad is None:
        _bad = re.compile(b"[\xc0\xc1\xf5-\xff]|\xe0[\x80-\x9f]|\xed[\xa0-\xbf]|\xf0[\x80-\x8f]|\xf4[\x90-\xbf]")
    return _bad


def decode(data):
    # bytes -> str, or None when data is not strict UTF-8.
    try:
        text = str(data, "utf-8")
    except UnicodeError:
        return None
    # re takes no bytearray; the copy is made only for non-ASCII messages.
    if len(text) != len(data) and _pattern().search(bytes(data)):
        return None
    return text


def clean(text):
    # True when a str can go out as valid UTF-8 (holds no surrogate).
    data = text.encode()
    return len(data) == len(text) or not _pattern().search(data)
