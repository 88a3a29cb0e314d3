from uocpp.validate import DATE, ENUM, INT

# interval: seconds, 0 or more (0: keep the configured heartbeat, BN-16).
CONF = (
    ("status", ENUM, True, ("Accepted", "Pending", "Rejected")),
    ("currentTime", DATE, True, None),
    ("interval", INT, True, (0, 0x3FFFFFFF)),
)
