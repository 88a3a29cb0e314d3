# Unix-port stand-in for the modem's UART: a serial device path (a USB
# adapter, or a pty in the tests). Imported by platform/unix.py's
# open_uart() only when a modem is configured.
import os

from micropython import const

# Linux termios c_cc indices (the termios module has no names for them).
_VTIME = const(5)
_VMIN = const(6)


class Serial:
    # The part of machine.UART(timeout=0) the modem uses: write(), deinit(),
    # and a read() that returns at once with whatever arrived (b"" if nothing).
    def __init__(self, path, baud):
        self._f = open(path, "r+b")
        try:
            _make_raw(self._f.fileno(), path, baud)
        except Exception:
            self._f.close()
            raise

    def read(self, n=256):
        return self._f.read(n)

    def write(self, data):
        return self._f.write(data)

    def deinit(self):
        self._f.close()


def _make_raw(fd, path, baud):
    # Raw bytes (no echo, no CR/LF mapping) and VMIN=0/VTIME=0, so a read
    # never blocks: the unix port's open() cannot ask for O_NONBLOCK.
    try:
        import termios
    except ImportError:
        # A unix port built without termios: stty does the same from outside.
        if os.system("stty -F %s raw -echo clocal min 0 time 0 %d" % (path, baud)) != 0:
            raise OSError("stty could not configure %s" % path)
        return
    termios.setraw(fd)
    attr = termios.tcgetattr(fd)
    attr[6][_VMIN] = 0
    attr[6][_VTIME] = 0
    speed = getattr(termios, "B%d" % baud, None)
    if speed is not None:
        attr[4] = attr[5] = speed
    termios.tcsetattr(fd, termios.TCSANOW, attr)
