"""lib/uocpp/confs/: each reply declaration says what the 1.6 response schema
(as the `ocpp` package ships it) says: the same properties, which are
required, the types, enums and maximum lengths. A field the charger checks
differently from the schema would refuse good replies or pass bad ones."""

import json
from pathlib import Path

import ocpp

from harness.firmware import run_micropython

SCHEMAS = Path(ocpp.__file__).parent / "v16" / "schemas"
DECLARED = ["Authorize", "BootNotification", "DataTransfer", "Heartbeat", "StartTransaction", "StopTransaction"]
EMPTY = ["DiagnosticsStatusNotification", "FirmwareStatusNotification", "MeterValues", "StatusNotification"]
KINDS = {0: "STR", 1: "INT", 3: "ENUM", 5: "OBJ", 8: "DATE"}


def declarations():
    code = """
import json
from uocpp import outbox
out = {}
for a in %r:
    m = outbox.conf_of(a)
    out[a] = None if m is None else m.CONF
print(json.dumps(out))
""" % (DECLARED + EMPTY)
    result = run_micropython(code)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def expected(schema):
    """The schema's object as [(name, kind, required, arg)] like validate.py's."""
    out = []
    for name, sub in schema.get("properties", {}).items():
        required = name in schema.get("required", ())
        if "enum" in sub:
            out.append([name, "ENUM", required, sorted(sub["enum"])])
        elif sub["type"] == "object":
            out.append([name, "OBJ", required, expected(sub)])
        elif sub["type"] == "string" and sub.get("format") == "date-time":
            out.append([name, "DATE", required, None])
        elif sub["type"] == "string":
            out.append([name, "STR", required, sub.get("maxLength")])
        elif sub["type"] == "integer":
            out.append([name, "INT", required, None])
        else:
            raise AssertionError("no kind for %s: %r" % (name, sub))
    return sorted(out)


def normal(decl):
    out = []
    for name, kind, required, arg in decl:
        kind = KINDS[kind]
        if kind == "ENUM":
            arg = sorted(arg)
        elif kind == "OBJ":
            arg = normal(arg)
        elif kind in ("INT", "DATE"):
            # A range the schema lacks: BootNotification's interval is 0 or
            # more (BN-16); a currentTime is in the clock's years.
            arg = None
        out.append([name, kind, required, arg])
    return sorted(out)


def test_each_conf_declares_its_response_schema():
    got = declarations()
    for action in DECLARED:
        schema = json.loads((SCHEMAS / ("%sResponse.json" % action)).read_text())
        assert normal(got[action]) == expected(schema), action
    for action in EMPTY:
        schema = json.loads((SCHEMAS / ("%sResponse.json" % action)).read_text())
        assert not schema.get("properties") and got[action] is None, action
