# Stand-in for the ESP32 port's `network` (C on a board), for the twin: the
# station and the access point. The radio is the model's (tests take it
# down and up); the sockets the firmware opens are the host's real ones.
from _wire import ask, count

STA_IF = 0
AP_IF = 1
AUTH_OPEN = 0
AUTH_WPA_PSK = 2
AUTH_WPA2_PSK = 3
STAT_IDLE = 1000
STAT_CONNECTING = 1001
STAT_GOT_IP = 1010


class WLAN:
    def __init__(self, interface=STA_IF):
        count(self)
        self._if = interface
        self._active = False
        self._config = {}

    def active(self, on=None):
        if on is None:
            return self._active
        self._active = bool(on)
        ask("wifi %s %s" % ("ap" if self._if == AP_IF else "sta", "on" if on else "off"))

    def connect(self, ssid=None, key=None, **kw):
        if not self._active:
            raise OSError("Wifi Internal Error")  # as on a board: station not active
        ask("wifi connect %s" % (ssid or "-"))

    def disconnect(self):
        ask("wifi disconnect")

    def isconnected(self):
        if self._if == AP_IF:
            return self._active
        return ask("wifi isconnected") == "1"

    def status(self, param=None):
        if param == "rssi":
            return int(ask("wifi rssi"))
        return STAT_GOT_IP if self.isconnected() else STAT_IDLE

    def ifconfig(self, config=None):
        if config is not None:
            return None
        if self._if == AP_IF:
            return ("192.168.4.1", "255.255.255.0", "192.168.4.1", "0.0.0.0")
        return ("127.0.0.1", "255.0.0.0", "127.0.0.1", "127.0.0.1") if self.isconnected() else ("0.0.0.0",) * 4

    def config(self, *names, **values):
        if values:
            self._config.update(values)
            if self._if == AP_IF:
                ask("wifi ap_config %s" % values.get("essid", "-"))
            return None
        if names == ("mac",):
            return bytes.fromhex(ask("unique_id"))
        return self._config.get(names[0]) if names else None

    def scan(self):
        return []
