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


# Nested objects, date-times and replies (confs/): idTagInfo is checked
# inside with paths in the messages; replies ignore unknown properties.
INFO = (("status", ENUM, True, ("Accepted", "Invalid")), ("expiryDate", validate.DATE, False, None), ("parentIdTag", STR, False, 20))
REPLY = (("idTagInfo", validate.OBJ, True, INFO), ("transactionId", INT, True, None))


def test_nested_objects_and_dates():
    good = {"idTagInfo": {"status": "Accepted", "expiryDate": "2027-01-01T00:00:00Z"}, "transactionId": 3}
    validate.check(REPLY, good)
    for bad, want, text in (
        ({"idTagInfo": "Accepted", "transactionId": 3}, "TypeConstraintViolation", "idTagInfo must be an object"),
        ({"idTagInfo": {}, "transactionId": 3}, "OccurenceConstraintViolation", "idTagInfo.status is required"),
        ({"idTagInfo": {"status": "Maybe"}, "transactionId": 3}, "PropertyConstraintViolation", "idTagInfo.status: Maybe is not allowed"),
        ({"idTagInfo": {"status": "Accepted", "expiryDate": "soon"}, "transactionId": 3}, "PropertyConstraintViolation", "idTagInfo.expiryDate is not an ISO 8601 date-time"),
        ({"idTagInfo": {"status": "Accepted", "parentIdTag": "p" * 21}, "transactionId": 3}, "PropertyConstraintViolation", "idTagInfo.parentIdTag is longer than 20"),
        ({"idTagInfo": {"status": "Accepted"}, "transactionId": 1.5}, "TypeConstraintViolation", "transactionId must be an integer"),
        ({"idTagInfo": {"status": "Accepted"}, "transactionId": "3"}, "TypeConstraintViolation", "transactionId must be an integer"),
        ({"idTagInfo": {"status": "Accepted"}}, "OccurenceConstraintViolation", "transactionId is required"),
    ):
        e = raises(errors.OcppError, validate.check, REPLY, bad)
        eq((e.code, e.description), (want, text), repr(bad))


def test_replies_ignore_unknown_properties():
    reply = {"idTagInfo": {"status": "Accepted", "vendor": 1}, "transactionId": 3, "x": {}}
    validate.check(REPLY, reply, False)
    eq(raises(errors.OcppError, validate.check, REPLY, reply).code, "FormationViolation", "a request still refuses them")


def test_a_current_time_outside_the_clock_s_years_is_a_bad_reply():
    # BootNotification.conf and Heartbeat.conf set the clock (C16 4.2, 4.6).
    # A time the clock cannot stand at (a board's RTC counts from 2000 and
    # a 32-bit port's seconds from 2000 end in 2136; every stamp is compared
    # as text, start_stop.py max()) was taken: "9999-12-31T23:59:59Z" or
    # "0001-01-01T00:00:00Z" stamped everything after it so. The clock's
    # years are 2000-2099 (docs/protocol.md): outside them the reply is
    # refused like any bad one, the clock untouched.
    from uocpp.confs import boot_notification, heartbeat

    for conf, reply in ((boot_notification, {"status": "Accepted", "interval": 1}), (heartbeat, {})):
        for text, good in (
            ("2000-01-01T00:00:00Z", True),
            ("2099-12-31T23:59:59Z", True),
            ("2026-12-08T01:00:00+01:00", True),
            ("1999-12-31T23:59:59Z", False),
            ("2100-01-01T00:00:00Z", False),
            ("2099-12-31T23:30:00-01:00", False),
            ("9999-12-31T23:59:59-23:59", False),
            ("0001-01-01T00:00:00Z", False),
        ):
            reply["currentTime"] = text
            if good:
                validate.check(conf.CONF, reply, False)
            else:
                e = raises(errors.OcppError, validate.check, conf.CONF, reply, False)
                eq(e.code, "PropertyConstraintViolation", text)
