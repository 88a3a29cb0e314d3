# Compact payload declarations for central-system CALLs (J-20, ERR-01..05),
# checked before an operation has any effect. Instead of shipping the JSON
# schemas to flash, each operation module declares its request as a tuple:
#   ((field, kind, required, arg), ...)
# kinds: STR (arg = max length), INT (arg = (min, max) or None), BOOL,
# ENUM (arg = allowed strings), STRS (array of strings, arg = max length),
# OBJ (a JSON object; arg None: its own operation checks inside, else the
# object's own declaration, checked the same way), NUM (a JSON number,
# arg = minimum or None), ARR (an array, arg = (min, max) items or None; its
# own operation checks each), DATE (an ISO 8601 date-time string, arg =
# (min, max) Unix seconds or None).
# Error codes (1.6 leaves the mapping open, ERR-05):
#   missing required field        -> OccurenceConstraintViolation
#   wrong JSON type                -> TypeConstraintViolation
#   too long / not in enum / range -> PropertyConstraintViolation
#   property the schema lacks      -> FormationViolation
from micropython import const

from uocpp import errors

STR = const(0)
INT = const(1)
BOOL = const(2)
ENUM = const(3)
STRS = const(4)
OBJ = const(5)
NUM = const(6)
ARR = const(7)
DATE = const(8)


def check(decl, payload, strict=True, at=""):
    # strict: a property the declaration lacks is a FormationViolation (a
    # request); replies pass False (confs/__init__.py says why). at: the path of a
    # nested object, for the messages ("idTagInfo.").
    for name, kind, required, arg in decl:
        if name not in payload:
            if required:
                raise errors.OcppError("OccurenceConstraintViolation", "%s%s is required" % (at, name))
            continue
        value = payload[name]
        if at:
            name = at + name
        bad = None  # what its type should be, when it is not
        why = None  # the PropertyConstraintViolation, when it breaks one
        if kind == INT:
            if type(value) is not int:
                bad = "%s must be an integer"
            elif arg is not None and not arg[0] <= value <= arg[1]:
                why = "%s must be between %d and %d" % (name, arg[0], arg[1])
        elif kind == BOOL:
            if type(value) is not bool:
                bad = "%s must be a boolean"
        elif kind == NUM:
            if type(value) not in (int, float):
                bad = "%s must be a number"
            elif arg is not None and value < arg:
                why = "%s must be at least %s" % (name, arg)
            elif value - value:
                # inf (1e999 parses so): json writes it back as "inf",
                # which no parser reads (a profile on flash, a reply).
                why = "%s is out of range" % name
        elif kind == ARR:
            if not isinstance(value, list):
                bad = "%s must be an array"
            elif arg is not None and not arg[0] <= len(value) <= arg[1]:
                why = "%s must have %d to %d items" % (name, arg[0], arg[1])
        elif kind == OBJ:
            if not isinstance(value, dict):
                bad = "%s must be an object"
            elif arg is not None:
                check(arg, value, strict, name + ".")
        elif kind == DATE:
            _string(name, value, None)
            from uocpp import clock

            try:
                value = clock.parse_iso(value)
            except (ValueError, TypeError, IndexError):
                why = "%s is not an ISO 8601 date-time" % name
            else:
                if arg is not None and not arg[0] <= value <= arg[1]:
                    why = "%s is out of range" % name
        elif kind == STRS:
            if not isinstance(value, list):
                bad = "%s must be an array"
            else:
                for item in value:
                    _string(name, item, arg)
        else:
            _string(name, value, arg if kind == STR else None)
            if kind == ENUM and value not in arg:
                why = "%s: %s is not allowed" % (name, value[:30])
        if bad is not None:
            raise errors.OcppError("TypeConstraintViolation", bad % name)
        if why is not None:
            raise errors.OcppError("PropertyConstraintViolation", why)
    if strict:
        for key in payload:
            for field, _kind, _required, _arg in decl:
                if field == key:
                    break
            else:
                raise errors.OcppError("FormationViolation", "unexpected property %s" % str(key)[:30])


def _string(name, value, maxlen):
    if not isinstance(value, str):
        raise errors.OcppError("TypeConstraintViolation", "%s must be a string" % name)
    if maxlen is not None and len(value) > maxlen:
        raise errors.OcppError("PropertyConstraintViolation", "%s is longer than %d" % (name, maxlen))


def date_time(payload, name):
    # A dateTime field (checked as a string by check()) -> Unix seconds, or
    # None when absent; text that is no ISO 8601 date-time is a
    # PropertyConstraintViolation.
    text = payload.get(name)
    if text is None:
        return None
    from uocpp import clock

    try:
        return clock.parse_iso(text)
    except ValueError:
        raise errors.OcppError("PropertyConstraintViolation", "%s is not an ISO 8601 date-time" % name)
