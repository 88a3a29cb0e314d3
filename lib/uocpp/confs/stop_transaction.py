from uocpp.validate import DATE, ENUM, OBJ, STR

# IdTagInfo (also in the other two .conf modules that carry one: a
# shared module would stay in the heap for one tuple).
_ID_TAG_INFO = (
    ("status", ENUM, True, ("Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx")),
    ("expiryDate", DATE, False, None),
    ("parentIdTag", STR, False, 20),
)

CONF = (("idTagInfo", OBJ, False, _ID_TAG_INFO),)
