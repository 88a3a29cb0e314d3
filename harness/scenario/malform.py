"""Malformed CALLRESULTs for the charge point's CALLs, generated from the
OCPP 1.6 response schemas that the `ocpp` package ships: a field of the
wrong type, a required field missing, a field the schema does not allow,
a value outside an enum, a string over its maxLength (or over any sane
size), a date-time that is not one, or a payload that is not an object.

Each mutation starts from the central system's real reply, so everything
not mutated stays as the central system meant it (a StartTransaction.conf
whose idTagInfo is broken keeps its real transactionId).
"""

import copy
import json
from pathlib import Path

import ocpp

SCHEMAS = Path(ocpp.__file__).parent / "v16" / "schemas"
_cache = {}


def schema(action):
    """The 1.6 response schema of an action (None when there is none)."""
    if action not in _cache:
        path = SCHEMAS / ("%sResponse.json" % action)
        _cache[action] = json.loads(path.read_text()) if path.exists() else None
    return _cache[action]


def fields(sch, path=()):
    """[(path, field schema, required)] of every property, depth first
    (array items are entered at index 0)."""
    out = []
    required = set(sch.get("required", ()))
    for name, sub in sch.get("properties", {}).items():
        p = path + (name,)
        out.append((p, sub, name in required))
        if sub.get("type") == "object":
            out.extend(fields(sub, p))
        elif sub.get("type") == "array" and sub.get("items", {}).get("type") == "object":
            out.extend(fields(sub["items"], p + (0,)))
    return out


def _wrong_types(sub):
    kind = sub.get("type")
    if kind == "string":
        return [42, None, {}, ["x"], True]
    if kind == "integer":
        return ["12", 1.5, None, {}, "1e3"]
    if kind == "number":
        return ["1.0", None, []]
    if kind == "object":
        return ["Accepted", [], 0, None]
    if kind == "array":
        return [{}, "x", 3]
    return ["x", 1]


def _set(obj, path, value):
    # Set a nested value, making the containers on the way.
    for i, key in enumerate(path[:-1]):
        nxt = path[i + 1]
        if isinstance(obj, dict):
            if not isinstance(obj.get(key), (dict, list)):
                obj[key] = [] if isinstance(nxt, int) else {}
            obj = obj[key]
        else:
            while len(obj) <= key:
                obj.append({})
            obj = obj[key]
    last = path[-1]
    if isinstance(obj, list):
        while len(obj) <= last:
            obj.append({})
    obj[last] = value


def _delete(obj, path):
    for key in path[:-1]:
        if isinstance(obj, dict):
            obj = obj.get(key)
        elif isinstance(obj, list) and len(obj) > key:
            obj = obj[key]
        else:
            return False
        if obj is None:
            return False
    if isinstance(obj, dict) and path[-1] in obj:
        del obj[path[-1]]
        return True
    return False


KINDS = ("type", "missing", "extra", "enum", "oversize", "date", "whole")


def malformed(action, valid, rng):
    """-> (description, payload): the valid reply broken one way."""
    sch = schema(action) or {"type": "object", "properties": {}}
    fs = fields(sch)
    out = copy.deepcopy(valid) if isinstance(valid, dict) else {}
    for _ in range(8):  # a kind that does not apply to this schema: draw again
        kind = rng.choice(KINDS)
        if kind == "type" and fs:
            path, sub, _req = rng.choice(fs)
            value = rng.choice(_wrong_types(sub))
            _set(out, path, value)
            return "%s wrong type %s=%s" % (action, _name(path), _short(value)), out
        if kind == "missing":
            req = [f for f in fs if f[2]]
            if req:
                path = rng.choice(req)[0]
                if _delete(out, path):
                    return "%s missing %s" % (action, _name(path)), out
        if kind == "extra":
            objects = [()] + [p for p, sub, _r in fs if sub.get("type") == "object"]
            where = rng.choice(objects)
            _set(out, where + ("scenarioExtra",), rng.choice([1, "x", {"a": []}]))
            return "%s extra field %s" % (action, _name(where + ("scenarioExtra",))), out
        if kind == "enum":
            enums = [(p, sub) for p, sub, _r in fs if "enum" in sub]
            if enums:
                path, sub = rng.choice(enums)
                value = rng.choice(["Bogus", sub["enum"][0].lower(), "", sub["enum"][0] + " "])
                _set(out, path, value)
                return "%s enum %s=%r" % (action, _name(path), value), out
        if kind == "oversize":
            # Over maxLength, or a date-time of 5,000 characters (a string
            # with no limit, DataTransfer's data, may be that long).
            strings = [(p, sub) for p, sub, _r in fs if "maxLength" in sub or sub.get("format") == "date-time"]
            if strings:
                path, sub = rng.choice(strings)
                n = rng.choice([sub["maxLength"] + 1, 5000]) if "maxLength" in sub else 5000
                _set(out, path, "x" * n)
                return "%s oversized %s (%d chars)" % (action, _name(path), n), out
        if kind == "date":
            dates = [p for p, sub, _r in fs if sub.get("format") == "date-time"]
            if dates:
                path = rng.choice(dates)
                value = rng.choice(["yesterday", "2026-13-45T99:99:99Z", "", "2026-12-06T10:00:00+0100"])
                _set(out, path, value)
                return "%s bad date-time %s=%r" % (action, _name(path), value), out
        if kind == "whole":
            value = rng.choice([[], "ok", None, 0, [{}]])
            return "%s payload %s" % (action, _short(value)), value
    _set(out, ("scenarioExtra",), 1)
    return "%s extra field scenarioExtra" % action, out


def _name(path):
    return ".".join(str(p) for p in path) or "<payload>"


def _short(value):
    text = json.dumps(value)
    return text if len(text) <= 24 else text[:21] + "..."
