# The platform layer: the only code that touches `machine`, `network` and
# `esp32`. Every port module offers the same functions; platform/seam.py
# states them (and the EVSE, meter and card-reader protocols) once, and a
# unit test holds each port to it.
#
# The ESP32 port is chosen where the `esp32` module exists: on a board, and
# on the twin (harness/twin/board/ puts stand-ins for machine, network
# and esp32 on the unix port's path). Everywhere else: the unix port.
try:
    import esp32  # noqa: F401
except ImportError:
    from uocpp.platform.unix import *  # noqa: F401,F403
else:
    del esp32
    from uocpp.platform.esp32 import *  # noqa: F401,F403
