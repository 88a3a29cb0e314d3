# validate.py: compact payload declarations -> the 1.6 CALLERROR codes
# (J-20, ERR-01..ERR-05), checked before an operation has any effect.
from check import eq, raises

from uocpp import errors, validate
from uocpp.validate import BOOL, ENUM, INT, STR, STRS

DECL = (
    ("name", STR, True, 5),
    ("count", INT, False, (0, 9)),
    ("flag", BOOL, False, None),
    ("kind", ENUM, False, ("A", "B")),
    ("keys", STRS, False, 3),
)


def code(payload):
    e = raises(errors.OcppError, validate.check, DECL, payload)
    return e.code


def test_valid_payloads_pass():
    validate.check(DECL, {"name": "abc"})
    validate.check(DECL, {"name": "abcde", "count": 9, "flag": False, "kind": "B", "keys": ["abc", ""]})


def test_each_breach_has_its_code():
    eq(code({}), "OccurenceConstraintViolation", "missing required")
    eq(code({"name": 5}), "TypeConstraintViolation", "number for a string")
    eq(code({"name": "a", "count": "1"}), "TypeConstraintViolation", "string for an integer")
    eq(code({"name": "a", "count": True}), "TypeConstraintViolation", "boolean for an integer")
    eq(code({"name": "a", "flag": 1}), "TypeConstraintViolation", "integer for a boolean")
    eq(code({"name": "a", "keys": "x"}), "TypeConstraintViolation", "string for an array")
    eq(code({"name": "abcdef"}), "PropertyConstraintViolation", "too long")
    eq(code({"name": "a", "count": 10}), "PropertyConstraintViolation", "out of range")
    eq(code({"name": "a", "kind": "C"}), "PropertyConstraintViolation", "not in the enum")
    eq(code({"name": "a", "keys": ["abcd"]}), "PropertyConstraintViolation", "array item too long")
    eq(code({"name": "a", "extra": 1}), "FormationViolation", "a property the schema lacks")
