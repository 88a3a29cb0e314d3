# Small JSON files on flash, written atomically: write a temporary file,
# close it, rename it over the old one. A power cut (or SIGKILL) at any
# moment leaves the old file or the new one, never a torn one.
import json
import os

from uocpp import log


def read_json(path, default):
    # A missing file gives `default` quietly; a corrupt one gives `default`
    # with a warning. A MemoryError is no verdict on the file: it goes up
    # (taken as corrupt, the file's defaults were written over it with the
    # next change: tx.json's transactions, keys.json's AuthorizationKey,
    # the certificate index), and the file is read again later (at boot:
    # the reset that follows).
    try:
        with open(path) as f:
            return json.load(f)
    except OSError:
        if path.endswith(".tmp"):
            return default
        # FAT: write_json_atomic killed between its remove and its rename
        # leaves the new file, whole, as path.tmp alone. Taken as the file
        # (renamed): the next write truncates path.tmp, and a cut or a full
        # flash during it must not take the only copy with it.
        tmp = path + ".tmp"
        got = read_json(tmp, None)
        if got is None:
            return default
        try:
            os.rename(tmp, path)
        except OSError:
            pass
        return got
    except ValueError as e:
        log.warning("storage", "%s is corrupt (%s): using defaults", path, e)
        return default


# Bytes this module wrote to flash since boot (the heap report shows them:
# flash wear is measured, not guessed).
written = 0


def write_json_atomic(path, obj):
    global written
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, separators=(",", ":"))  # no spaces: fewer bytes to wear the flash
        written += f.tell()
    replace(tmp, path)


def replace(src, dst):
    # src takes dst's place. FAT cannot rename onto an existing file
    # (LittleFS and POSIX can, atomically): remove, then rename there; a kill
    # between the two leaves src alone, which each reader adopts.
    try:
        os.rename(src, dst)
    except OSError:
        try:
            os.remove(dst)
        except OSError:
            pass
        os.rename(src, dst)


def exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def join(directory, name):
    return directory.rstrip("/") + "/" + name if directory else name
