# The text of a stored message (the outbox's journal records): its JSON
# without spaces, and each of the names and values every transaction
# message repeats (the action, "meterValue", "Energy.Active.Import.Register",
# "Sample.Periodic", ...) as one control byte 0x01..0x1F. A periodic
# MeterValues record shrinks from about 230 bytes to about 80: the flash
# written per charging hour is mostly these records.
#
# Lossless for any value: JSON text never holds a raw control byte (the
# encoder escapes them inside strings as \u00XX, and its punctuation has
# none), so each such byte in a record is one token, and no token holds one,
# so no token can be formed across another. Bodies written before this
# (plain JSON, with spaces) hold none either and decode unchanged. Pure
# code, also loaded by the test suite's ledger on CPython.
import json

# At most 31 (0x01..0x1F); append only, never reorder: records on flash
# hold their indices. A longer token comes before one it contains.
TOKENS = (
    b'"MeterValues"',
    b'"StartTransaction"',
    b'"StopTransaction"',
    b'"meterValue":[{',
    b'"sampledValue":[{',
    b'"context":"Sample.Periodic"',
    b'"context":"Sample.Clock"',
    b'"context":"Transaction.Begin"',
    b'"context":"Transaction.End"',
    b'"context":"',
    b'"measurand":"Energy.Active.Import.Register"',
    b'"measurand":"',
    b"Energy.Active.Import.Register",
    b"Power.Active.Import",
    b"Current.Import",
    b'"unit":"Wh"',
    b'"unit":"',
    b'"value":"',
    b'"phase":"',
    b'"timestamp":"',
    b'"connectorId":',
    b'"transactionId":',
    b'"meterStart":',
    b'"meterStop":',
    b'"idTag":"',
    b'"reason":"',
    b'"transactionData":[',
    b'"reservationId":',
    b'"StatusNotification"',
    b"},{",
)


def dumps(obj):
    # -> bytes of obj's record.
    body = json.dumps(obj, separators=(",", ":")).encode()
    for i, token in enumerate(TOKENS):
        if token in body:
            body = body.replace(token, bytes((i + 1,)))
    return body


def loads(body):
    # The object of a record (bytes or str), tokens or not. Raises
    # ValueError like json.loads.
    if isinstance(body, str):
        body = body.encode()
    for i, token in enumerate(TOKENS):
        code = bytes((i + 1,))
        if code in body:
            body = body.replace(code, token)
    return json.loads(body)
