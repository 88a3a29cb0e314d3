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

# At most 31 (0x01..0x1F), one per line; append only, never reorder:
# records on flash hold their indices. A longer token comes before one it
# contains. One bytes object, not a tuple of 30: it costs the heap a third.
TOKENS = b"""\
"MeterValues"
"StartTransaction"
"StopTransaction"
"meterValue":[{
"sampledValue":[{
"context":"Sample.Periodic"
"context":"Sample.Clock"
"context":"Transaction.Begin"
"context":"Transaction.End"
"context":"
"measurand":"Energy.Active.Import.Register"
"measurand":"
Energy.Active.Import.Register
Power.Active.Import
Current.Import
"unit":"Wh"
"unit":"
"value":"
"phase":"
"timestamp":"
"connectorId":
"transactionId":
"meterStart":
"meterStop":
"idTag":"
"reason":"
"transactionData":[
"reservationId":
"StatusNotification"
},{
"""


def _tokens():
    # (control byte, token) in table order.
    start, code = 0, 1
    while start < len(TOKENS):
        end = TOKENS.index(b"\n", start)
        yield bytes((code,)), TOKENS[start:end]
        start, code = end + 1, code + 1


def dumps(obj):
    # -> bytes of obj's record.
    body = json.dumps(obj, separators=(",", ":")).encode()
    for code, token in _tokens():
        if token in body:
            body = body.replace(token, code)
    return body


def loads(body):
    # The object of a record (bytes or str), tokens or not. Raises
    # ValueError like json.loads.
    if isinstance(body, str):
        body = body.encode()
    for code, token in _tokens():
        if code in body:
            body = body.replace(code, token)
    return json.loads(body)
