"""A peer on the far side of a pseudo-terminal, served by one thread: the fake modem and the
Modbus relay share this lifecycle (open raw ptys, start, stop the thread, close every fd)."""

import os
import threading
import tty


def open_pty():
    """-> (master fd, slave fd, slave path), the slave raw: no echo, no CR/LF mapping."""
    master, slave = os.openpty()
    tty.setraw(slave)
    return master, slave, os.ttyname(slave)


class PtyPeer:
    def __init__(self):
        self._fds = []  # every fd close() closes
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _pty(self):
        master, slave, path = open_pty()
        self._fds += [master, slave]
        return master, slave, path

    def _serve(self):
        raise NotImplementedError

    def start(self):
        self._thread.start()
        return self

    def close(self):
        self._stop.set()
        self._thread.join(2)
        for fd in self._fds:
            try:
                os.close(fd)
            except OSError:
                pass
