# Stand-in for the ESP32 port's `esp32` (C on a board), for the twin: the
# OTA app partitions as files in $TWIN_PARTITIONS (ota_0.bin, ota_1.bin) and
# the boot selection in otadata.json there, which the model's bootloader
# (harness/twin/bootloader.py) reads at every boot, rolling back an
# image that never confirmed itself, as ESP-IDF's does.
import json
import os

from micropython import const

_BLOCK = const(4096)
_SIZE = const(0x1E0000)  # an ota_N app partition of the usual 4 MB layout
_LABELS = ("ota_0", "ota_1")


def _dir():
    return os.getenv("TWIN_PARTITIONS")


def _otadata():
    with open(_dir() + "/otadata.json") as f:
        return json.load(f)


def _save(data):
    path = _dir() + "/otadata.json"
    with open(path + ".tmp", "w") as f:
        json.dump(data, f)
    os.rename(path + ".tmp", path)


class Partition:
    BOOT = 0
    RUNNING = 1
    TYPE_APP = 0
    TYPE_DATA = 1

    def __init__(self, id, block_size=_BLOCK):
        if id == Partition.RUNNING:
            id = _otadata()["running"]
        elif id == Partition.BOOT:
            id = _otadata()["boot"]
        if id not in _LABELS:
            raise ValueError("partition not found")
        self._label = id
        self._path = "%s/%s.bin" % (_dir(), id)

    @staticmethod
    def find(type=TYPE_APP, subtype=0xFF, label=None, block_size=_BLOCK):
        if type != Partition.TYPE_APP:
            return []
        return [Partition(x) for x in _LABELS if label is None or label == x]

    def info(self):
        return (Partition.TYPE_APP, 0x10 + _LABELS.index(self._label), 0x10000 + _LABELS.index(self._label) * _SIZE, _SIZE, self._label, False)

    def _open(self):
        try:
            return open(self._path, "r+b")
        except OSError:
            with open(self._path, "wb"):
                pass
            return open(self._path, "r+b")

    def readblocks(self, block, buf, offset=0):
        with self._open() as f:
            f.seek(block * _BLOCK + offset)
            got = f.read(len(buf))
        buf[: len(got)] = got
        for i in range(len(got), len(buf)):
            buf[i] = 0xFF  # never written: erased flash

    def writeblocks(self, block, buf, offset=None):
        if offset is None:
            self.ioctl(6, block)
            offset = 0
        with self._open() as f:
            f.seek(block * _BLOCK + offset)
            f.write(buf)

    def ioctl(self, op, arg):
        if op == 4:
            return _SIZE // _BLOCK
        if op == 5:
            return _BLOCK
        if op == 6:
            with self._open() as f:
                f.seek(arg * _BLOCK)
                f.write(b"\xff" * _BLOCK)
            return 0
        return None

    def set_boot(self):
        # The next boot runs this partition, on trial until it confirms.
        data = _otadata()
        data["boot"] = self._label
        if self._label != data["running"]:
            data["state"] = "new"
            data["previous"] = data["running"]
        else:
            data["state"] = "valid"  # back to the running image: nothing on trial
        _save(data)

    def get_next_update(self):
        return Partition(_LABELS[1 - _LABELS.index(self._label)])

    @classmethod
    def mark_app_valid_cancel_rollback(cls):
        data = _otadata()
        data["state"] = "valid"
        _save(data)
