# Stand-in for ntptime (frozen into the ESP32 firmware), for the twin: the
# tests never leave 127.0.0.1, so "the NTP server" is the host's clock,
# which the RTC stand-in already runs on.
host = "pool.ntp.org"
timeout = 1


def time():
    import time as t

    return t.time()


def settime():
    pass
