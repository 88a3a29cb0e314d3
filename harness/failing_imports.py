# Test launcher (harness/firmware.py Firmware.fail_imports): runs the
# firmware's main.py with builtins.__import__ wrapped so that, while the file
# $OCPP_FAIL_IMPORT_FLAG exists, importing one of the modules named in
# $OCPP_FAIL_IMPORT (space-separated dotted names; `from pkg import mod`
# included) raises MemoryError, as a load on use does when the heap has no
# room for it. The firmware itself is unchanged.
import builtins
import os
import sys

_import = builtins.__import__
_names = os.getenv("OCPP_FAIL_IMPORT").split()
_flag = os.getenv("OCPP_FAIL_IMPORT_FLAG")


def _failing(name, fromlist):
    try:
        os.stat(_flag)
    except OSError:
        return False
    for full in _names:
        package, _, last = full.rpartition(".")
        if name == full or (name == package and fromlist and last in fromlist):
            return True
    return False


def _hook(name, globals=None, locals=None, fromlist=(), level=0):
    if _failing(name, fromlist):
        raise MemoryError("memory allocation failed (test: no heap for %s)" % name)
    return _import(name, globals, locals, fromlist, level)


builtins.__import__ = _hook
sys.path.insert(0, os.getenv("OCPP_MAIN").rsplit("/", 1)[0])

import main  # noqa: E402,F401 - runs the firmware
