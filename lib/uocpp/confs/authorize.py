from uocpp.validate import DATE, ENUM, OBJ, STR

# IdTagInfo (also in the other two .conf modules that carry one: a
# shared module would stay in the heap for one tuple).
_ID_TAG_INFO = (
    ("status", ENUM, True, ("Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx")),
    ("expiryDate", DATE, False, None),
    ("parentIdTag", STR, False, 20),
)

CONF = (("idTagInfo", OBJ, True, _ID_TAG_INFO),)


def instead():
    # A malformed Authorize.conf came from a central system that is there:
    # the card is refused (Invalid), never decided by the offline rules
    # (AllowOfflineTxForUnknownId must not start a transaction while
    # online). A new dict each time: the authorization cache keeps it.
    return {"idTagInfo": {"status": "Invalid"}}
