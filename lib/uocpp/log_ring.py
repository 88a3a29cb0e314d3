# The persistent log: a bounded ring of text files on flash, <dir>/0.txt the
# newest (being written), <dir>/1.txt .. <dir>/<files-1>.txt older ones.
# When 0.txt would pass its share of the total, the oldest file is dropped
# and each file moves up one name (renames are atomic on LittleFS and POSIX),
# so the ring never holds more than `total` bytes in `files` files.
#
# Power cuts: each line goes out in one write followed by a flush (LittleFS
# commits it; the unix port fsyncs), so a cut loses at most the line being
# written. A torn last line is ended with a newline when the ring reopens.
# At idle the ring holds one open file and a few integers: no line buffer.
# write() never raises: it returns a reason the first time the flash fails,
# then drops lines until _RETRY_MS have passed and tries again.
import os
import time

from micropython import const

_RETRY_MS = const(60000)
_APPEND = const("ab")  # open()'s mode; a const(): a short literal would be an interned name for ever (docs/memory.md)
# The general log's bound (log.py): at most this many bytes a minute reach
# flash, whatever floods it (a central system sending a bad frame every few
# ms logs a line each): 11.8 MB a day at most, where a flood unbounded wore
# the flash out within months. The lines over it go to the console only.
_MINUTE_BYTES = const(8192)

# Bytes this ring wrote to flash since boot (flash wear, like json_file.written).
written = 0


def path(directory, n):
    return "%s/%d.txt" % (directory, n)


class LogRing:
    def __init__(self, directory, total, files):
        self.dir = directory
        self.files = files
        self.cap = total // files
        self._f = None
        self._size = 0
        self._failed_at = None  # ticks_ms of the last failure, None when writing
        self.turns = 0  # rotations since boot (a reader follows its file)
        # Bounded (log.py sets count to 0): bytes written in the minute from
        # ticks start; None: unbounded (the security log, whose events are
        # bounded where they are reported).
        self.count = None
        self.start = 0

    def _open(self, turn=False):
        # turn: 0.txt is full: each file moves up one name, the oldest is
        # overwritten (a rename replaces its target atomically on LittleFS
        # and POSIX), and a new 0.txt starts.
        d = self.dir
        if turn:
            self._f.close()
            self._f = None
            self.turns += 1
            for n in range(self.files - 1, 0, -1):
                try:
                    os.rename(path(d, n - 1), path(d, n))
                except OSError:
                    pass
        else:
            try:
                os.mkdir(d)
            except OSError:
                pass
        name = path(d, 0)
        try:
            self._size = os.stat(name)[6]
        except OSError:
            self._size = 0
        f = self._f = open(name, _APPEND)
        if self._size:
            # A line cut by a power loss has no newline: end it here, so the
            # next line starts on its own.
            with open(name, "rb") as r:
                r.seek(self._size - 1)
                torn = r.read(1) != b"\n"
            if torn:
                f.write(b"\n")
                f.flush()
                self._size += 1

    def write(self, line):
        # line: bytes ending in a newline. -> None, or why the flash failed
        # (once per failure; the ring then rests).
        global written
        if self._failed_at is not None:
            # (0 <=: a failure over half the ticks' period ago, 6.2 days on
            # a 32-bit board, reads as negative.)
            if 0 <= time.ticks_diff(time.ticks_ms(), self._failed_at) < _RETRY_MS:
                return None
            self._failed_at = None
        if self.count is not None:
            now = time.ticks_ms()
            if not 0 <= time.ticks_diff(now, self.start) < _RETRY_MS:
                if self.count > _MINUTE_BYTES:
                    # The last minute dropped lines: said first, with this line's stamp.
                    line = line[: line.find(b" ")] + b" W log: lines were not kept on flash (over %d bytes a minute)\n" % _MINUTE_BYTES + line
                self.start, self.count = now, 0
            if self.count + len(line) > _MINUTE_BYTES:
                first = self.count <= _MINUTE_BYTES
                self.count = _MINUTE_BYTES + 1
                return "flash log: over %d bytes this minute, lines kept on the console only" % _MINUTE_BYTES if first else None
            self.count += len(line)
        n = len(line)
        if n > self.cap:
            line = line[: self.cap - 1] + b"\n"
            n = self.cap
        try:
            if self._f is None:
                self._open()
            if self._size + n > self.cap:
                self._open(True)
            self._f.write(line)
            self._f.flush()
            self._size += n
            written += n
        except Exception as e:
            self.close()
            self._failed_at = time.ticks_ms()
            return "flash log paused for %d s: %r" % (_RETRY_MS // 1000, e)
        return None

    def close(self):
        if self._f is not None:
            try:
                self._f.close()
            except Exception:
                pass
            self._f = None
