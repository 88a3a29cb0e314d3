from uocpp.validate import DATE, ENUM, INT

# currentTime sets the clock: its years are 2000-2099 (a board's RTC counts
# from 2000; every stamp is compared as text); outside them the reply is bad.
# interval: seconds, 0 or more (0: keep the configured heartbeat, BN-16).
CONF = (
    ("status", ENUM, True, ("Accepted", "Pending", "Rejected")),
    ("currentTime", DATE, True, (946684800, 4102444799)),
    ("interval", INT, True, (0, 0x3FFFFFFF)),
)
