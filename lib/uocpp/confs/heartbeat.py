from uocpp.validate import DATE

CONF = (("currentTime", DATE, True, None),)
