# Stand-in for the ESP32 port's `socket` (C over lwIP on a board), for the
# twin: the host's sockets, except that a board whose Wi-Fi station is on
# and has no link has no route anywhere. While the model's station is down, a name
# looked up to connect to resolves to a local port that refuses every
# connection (on a board: EHOSTUNREACH, or a DNS failure); addresses to
# listen on (0.0.0.0) are left alone.
from usocket import *  # noqa: F401,F403

import usocket as _host

from _wire import ask


def getaddrinfo(host, port, *rest):
    if host not in ("0.0.0.0", "", "::") and ask("wifi routed") != "1":
        return _host.getaddrinfo("127.0.0.1", int(ask("wifi noroute")), *rest)
    return _host.getaddrinfo(host, port, *rest)
