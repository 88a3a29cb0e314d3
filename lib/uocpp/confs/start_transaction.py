from uocpp.validate import DATE, ENUM, INT, OBJ, STR

# IdTagInfo (also in the other two .conf modules that carry one: a
# shared module would stay in the heap for one tuple).
_ID_TAG_INFO = (
    ("status", ENUM, True, ("Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx")),
    ("expiryDate", DATE, False, None),
    ("parentIdTag", STR, False, 20),
)

# transactionId: an integer, never a string or a float (it is sent back in
# every MeterValues and the StopTransaction).
CONF = (("idTagInfo", OBJ, True, _ID_TAG_INFO), ("transactionId", INT, True, None))
