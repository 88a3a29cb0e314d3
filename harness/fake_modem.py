"""A cellular modem on a pty, for the firmware's modem UART on the unix port.

It speaks real AT over the pty's master side (the firmware opens the slave
path, as it would /dev/ttyUSB0): commands end with CR, answers come framed
as "\\r\\n<line>\\r\\n" with a final OK / ERROR / +CME ERROR, optionally with
the command echoed and unsolicited result codes (URCs) mixed in. Each profile
below is a modem the firmware must cope with.
"""

import os
import select
import threading
import time

from harness.pty_peer import PtyPeer

ICCID = "89314404000123456789"
IMSI = "262011234567890"

# The ICCID command of each dialect, and how its answer line looks.
ICCID_DIALECTS = {
    "AT+CCID": "+CCID: {}",
    "AT+QCCID": "+QCCID: {}",
    "AT+ICCID": "+ICCID: {}",
    "AT+CICCID": "+CICCID: {}",
}


class FakeModem(PtyPeer):
    def __init__(
        self,
        iccid=ICCID,
        imsi=IMSI,
        iccid_commands=("AT+CCID",),
        iccid_line=None,
        imsi_line="{}",
        echo=False,
        urcs=False,
        delay=0.0,
        deaf_for=0,
        silent=False,
        error=False,
        cme=None,
    ):
        self.iccid = iccid
        self.imsi = imsi
        self.iccid_commands = iccid_commands  # the dialects this modem knows
        self.iccid_line = iccid_line  # None: the dialect's own format
        self.imsi_line = imsi_line
        self.echo = echo  # ATE1: every command comes back first
        self.urcs = urcs  # unsolicited lines around every answer
        self.delay = delay  # seconds before each answer
        self.deaf_for = deaf_for  # ignore this many commands (still booting)
        self.silent = silent  # never answers at all
        self.error = error  # answers ERROR to all but AT
        self.cme = cme  # answers +CME ERROR: <cme> to all but AT
        self.received = []  # every command line, in order
        self._lock = threading.Lock()
        super().__init__()
        self.master, self._slave, self.path = self._pty()

    def commands(self):
        with self._lock:
            return list(self.received)

    # -- the modem ------------------------------------------------------------
    def _write(self, data):
        try:
            os.write(self.master, data)
        except OSError:
            pass

    def _answer(self, command):
        """The lines of the answer to one command, final result code last."""
        upper = command.upper()
        if upper == "AT":
            return ["OK"]
        if self.cme is not None:
            return ["+CME ERROR: %s" % self.cme]
        if self.error:
            return ["ERROR"]
        if upper in self.iccid_commands:
            line = self.iccid_line or ICCID_DIALECTS[upper]
            return [line.format(self.iccid), "OK"]
        if upper == "AT+CIMI":
            return [self.imsi_line.format(self.imsi), "OK"]
        if upper in ("ATE0", "ATE1"):
            self.echo = upper == "ATE1"
            return ["OK"]
        return ["ERROR"]

    def _respond(self, raw, command):
        with self._lock:
            self.received.append(command)
            count = len(self.received)
        if self.silent or count <= self.deaf_for:
            return
        if self.echo:
            self._write(raw + b"\r")
        if self.delay:
            time.sleep(self.delay)
        lines = self._answer(command)
        out = b""
        if self.urcs:
            out += b"\r\n+CREG: 1,\"00A1\",\"3F2C\"\r\n\r\nRING\r\n"
        for i, line in enumerate(lines):
            out += b"\r\n" + line.encode() + b"\r\n"
            if self.urcs and i == 0 and len(lines) > 1:
                out += b"\r\n+CPIN: READY\r\n\r\n+CSQ: 17,99\r\n"
        self._write(out)

    def _serve(self):
        buf = b""
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if not ready:
                continue
            try:
                data = os.read(self.master, 256)
            except OSError:
                time.sleep(0.05)  # nobody has the slave open right now
                continue
            buf += data
            while b"\r" in buf:
                raw, _, buf = buf.partition(b"\r")
                raw = raw.strip(b"\n")
                if raw:
                    self._respond(raw, raw.decode("ascii", "replace").strip())


# The profiles the tests use.
def good(**kw):
    return FakeModem(**kw)


def slow(**kw):
    """Still booting: ignores the first command, then answers after a pause."""
    return FakeModem(delay=0.3, deaf_for=1, **kw)


def silent(**kw):
    return FakeModem(silent=True, **kw)


def chatty(**kw):
    """Echo on (the factory default) and URCs before, inside and after answers."""
    return FakeModem(echo=True, urcs=True, **kw)


def erroring(**kw):
    """Answers AT, then ERROR to everything (e.g. a SIM interface fault)."""
    return FakeModem(error=True, **kw)
