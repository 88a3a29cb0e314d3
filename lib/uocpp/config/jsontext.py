# A strict JSON (RFC 8259) reader for config.json's text that says where it
# goes wrong, and where each section and key stands. MicroPython's json
# gives no position in its errors, lets missing commas and colons through,
# and its dicts keep no order; this fills those gaps. Boot-time only:
# provision.py unloads it with the settings.


class JsonError(ValueError):
    # args: (line, column, message); str() is "line L, column C: message".
    def __str__(self):
        return "line %d, column %d: %s" % self.args


class _Bad(Exception):
    pass  # args: (offset, what was expected[, True: the whole message])


def scan(text):
    # -> {"section": offset, "section.key": offset} of every key in the top
    # two levels (first occurrence). Raises JsonError at the first offence.
    keys = {}
    try:
        i = _value(text, 0, "", keys, 0)
        i = _ws(text, i)
        if i < len(text):
            raise _Bad(i, "nothing after the closing bracket of the JSON value")
    except _Bad as e:
        pos, what = e.args[0], e.args[1]
        line, col = position(text, pos)
        raise JsonError(line, col, what if len(e.args) > 2 else "expected %s, found %s" % (what, _found(text, pos)))
    return keys


def position(text, pos):
    # 1-based line and column (in characters) of an offset.
    start = text.rfind("\n", 0, pos) + 1
    return text.count("\n", 0, pos) + 1, pos - start + 1


def _found(t, i):
    if i >= len(t):
        return "the end of the file"
    c = t[i]
    if c == "\ufeff":
        return "a byte-order mark (save the file as UTF-8 without BOM)"
    if c == "\n":
        return "the end of the line"
    if not " " <= c <= "~":
        return "character U+%04X" % ord(c)
    return ("'%s'" % c) if c != "'" else '"\'"'


def _ws(t, i):
    n = len(t)
    while i < n and t[i] in " \t\n\r":
        i += 1
    return i


def _value(t, i, path, keys, depth):
    i = _ws(t, i)
    c = t[i : i + 1]
    if c == "{":
        return _object(t, i, path, keys, depth)
    if c == "[":
        return _array(t, i, path, keys, depth)
    if c == '"':
        return _string(t, i)
    if c == "-" or "0" <= c <= "9":
        return _number(t, i)
    for word in ("true", "false", "null"):
        if t.startswith(word, i):
            return i + len(word)
    raise _Bad(i, "a value (object, array, string in double quotes, number, true, false or null)")


def _object(t, i, path, keys, depth):
    i = _ws(t, i + 1)
    if t[i : i + 1] == "}":
        return i + 1
    while True:
        i = _ws(t, i)
        if t[i : i + 1] != '"':
            raise _Bad(i, "a key in double quotes" + (" (no comma before '}')" if t[i : i + 1] == "}" else ""))
        start = i
        i = _string(t, i)
        name = t[start + 1 : i - 1]
        if depth < 2 and path + name not in keys:
            keys[path + name] = start
        i = _ws(t, i)
        if t[i : i + 1] != ":":
            raise _Bad(i, "':' after the key \"%s\"" % name)
        i = _ws(t, _value(t, i + 1, path + name + ".", keys, depth + 1))
        c = t[i : i + 1]
        if c == "}":
            return i + 1
        if c != ",":
            raise _Bad(i, "',' or '}' after the value of \"%s\"" % name)
        i += 1


def _array(t, i, path, keys, depth):
    i = _ws(t, i + 1)
    if t[i : i + 1] == "]":
        return i + 1
    while True:
        if t[_ws(t, i) : _ws(t, i) + 1] == "]":
            raise _Bad(_ws(t, i), "a value (no comma before ']')")
        i = _ws(t, _value(t, i, path, keys, 99))
        c = t[i : i + 1]
        if c == "]":
            return i + 1
        if c != ",":
            raise _Bad(i, "',' or ']' in the array")
        i += 1


def _string(t, i):
    # t[i] is the opening quote; returns the offset after the closing one.
    n = len(t)
    j = i + 1
    while j < n:
        c = t[j]
        if c == '"':
            return j + 1
        if c == "\\":
            e = t[j + 1 : j + 2]
            if e == "u":
                h = t[j + 2 : j + 6]
                if len(h) < 4 or [d for d in h if d not in "0123456789abcdefABCDEF"]:
                    raise _Bad(j, "4 hex digits after \\u")
                j += 6
                continue
            if not e or e not in '"\\/bfnrt':
                raise _Bad(j, "an escape (\\\" \\\\ \\/ \\b \\f \\n \\r \\t or \\uXXXX)")
            j += 2
            continue
        if c < " ":
            raise _Bad(j, "the closing '\"' of the string (a line break or tab inside it must be written \\n or \\t)")
        j += 1
    raise _Bad(i, "this string has no closing '\"'", True)


def _digits(t, i):
    j = i
    while "0" <= t[j : j + 1] <= "9":
        j += 1
    if j == i:
        raise _Bad(i, "a digit")
    return j


def _number(t, i):
    if t[i] == "-":
        i += 1
    if t[i : i + 1] == "0":
        i += 1
        if "0" <= t[i : i + 1] <= "9":
            raise _Bad(i, "a number must not start with 0 and another digit", True)
    else:
        i = _digits(t, i)
    if t[i : i + 1] == ".":
        i = _digits(t, i + 1)
    if t[i : i + 1] in ("e", "E"):
        i += 1
        if t[i : i + 1] in ("+", "-"):
            i += 1
        i = _digits(t, i)
    return i
