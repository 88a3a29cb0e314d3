# Runs ON the board, first thing in `make deploy` (mpremote run): make room
# for the new library. Old sources would shadow the new .mpy files (a .py
# beside a .mpy of the same name wins), so the packages `make deploy` ships
# (lib/uocpp, and lib/umqtt from the Makefile's INSTALLED_LIBS) go whole.
# Anything else the user keeps in lib/ stays.
import os
import sys

if sys.platform == "esp32":
    # A watchdog armed by the firmware keeps running after mpremote stops
    # it; stretch it so the copy finishes (deploy ends with a hard reset).
    import machine

    machine.WDT(timeout=600000)


def _remove(path):
    try:
        mode = os.stat(path)[0]
    except OSError:
        return
    if mode & 0x4000:
        for name in os.listdir(path):
            _remove(path + "/" + name)
        os.rmdir(path)
    else:
        os.remove(path)


# "ocpp" is what releases before 0.2 were called: a board updated from one
# must not keep it (it would shadow nothing, but waste flash).
for _package in ("uocpp", "ocpp", "umqtt"):
    _remove("lib/" + _package)
try:
    os.mkdir("lib")
except OSError:
    pass
print("deploy: lib/uocpp and lib/umqtt cleared")
