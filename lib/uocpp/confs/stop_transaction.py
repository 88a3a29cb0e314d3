from uocpp.validate import DATE, ENUM, OBJ, STR

# idTagInfo's IdTagInfo is written out in each of the three .conf modules
# that carry one: a shared module would stay in the heap for one tuple, and
# a module-level name for it would be an interned name for ever.
CONF = (
    (
        "idTagInfo",
        OBJ,
        False,
        (
            ("status", ENUM, True, ("Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx")),
            ("expiryDate", DATE, False, None),
            ("parentIdTag", STR, False, 20),
        ),
    ),
)
