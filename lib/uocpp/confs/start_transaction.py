from uocpp.validate import DATE, ENUM, INT, OBJ, STR

# idTagInfo's IdTagInfo is written out in each of the three .conf modules
# that carry one: a shared module would stay in the heap for one tuple, and
# a module-level name for it would be an interned name for ever.
# transactionId: an integer, never a string or a float (it is sent back in
# every MeterValues and the StopTransaction).
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
    ("transactionId", INT, True, None),
)
