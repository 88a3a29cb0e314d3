from uocpp.validate import DATE, ENUM, OBJ, STR

# idTagInfo's IdTagInfo is written out in each of the three .conf modules
# that carry one: a shared module would stay in the heap for one tuple, and
# a module-level name for it would be an interned name for ever.
CONF = (
    (
        "idTagInfo",
        OBJ,
        True,
        (
            ("status", ENUM, True, ("Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx")),
            ("expiryDate", DATE, False, None),
            ("parentIdTag", STR, False, 20),
        ),
    ),
)


def instead():
    # A malformed Authorize.conf came from a central system that is there:
    # the card is refused (Invalid), never decided by the offline rules
    # (AllowOfflineTxForUnknownId must not start a transaction while
    # online). A new dict each time: the authorization cache keeps it.
    return {"idTagInfo": {"status": "Invalid"}}
