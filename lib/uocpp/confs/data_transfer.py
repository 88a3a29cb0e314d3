from uocpp.validate import ENUM, STR

CONF = (
    ("status", ENUM, True, ("Accepted", "Rejected", "UnknownMessageId", "UnknownVendorId")),
    ("data", STR, False, None),
)
