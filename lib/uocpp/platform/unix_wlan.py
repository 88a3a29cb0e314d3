# Unix-port stand-in for the Wi-Fi station: a simulated radio. Imported by
# platform/unix.py's wlan() only when wifi.ssid is set.
import os

from uocpp import log


class Wlan:
    # network.WLAN's station calls, simulated: the link is up unless the file
    # named by $OCPP_WIFI_LINK exists without saying "up" (or is missing).
    # Tests write that file to take the "radio" down and up again.
    def __init__(self):
        self._path = os.getenv("OCPP_WIFI_LINK")

    def connect(self, ssid, password):
        log.debug("wifi", "unix stand-in: connect(%s)", ssid)

    def disconnect(self):
        pass

    def isconnected(self):
        if not self._path:
            return True
        try:
            with open(self._path) as f:
                return f.read().strip() == "up"
        except OSError:
            return False

    def ifconfig(self):
        return ("127.0.0.1", "255.0.0.0", "127.0.0.1", "127.0.0.1")


def access_point(ssid, password):
    # Setup mode's access point: a PC has no radio to open. Says what a board
    # would do (never the password); the page listens on web.host.
    log.info("web", "unix stand-in: access point %r (WPA2) would open here", ssid)
