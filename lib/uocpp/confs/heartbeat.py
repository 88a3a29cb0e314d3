from uocpp.validate import DATE

# currentTime sets the clock: its years are 2000-2099 (a board's RTC counts
# from 2000; every stamp is compared as text); outside them the reply is bad.
CONF = (("currentTime", DATE, True, (946684800, 4102444799)),)
