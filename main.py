# Firmware entry point: the cooperative asyncio loop for BootNotification,
# heartbeat and the reconnecting WebSocket link.
# Unix port: MICROPYPATH=.frozen:lib micropython main.py (see the Makefile).
import gc
import sys

# Collect after every 8 KB allocated, not only when the heap is full
# (docs/memory-session.md): MicroPython allocates first-fit, so between two
# full collections the long-lived objects made meanwhile land all over the
# heap, and a large block (the interned names' next pool, 9 KB in one piece
# on 32-bit) is then missing although a third of the heap is free. Frequent
# collections keep what lives packed at the bottom and the top in one piece.
gc.threshold(8192)

if "lib" not in sys.path:
    sys.path.append("lib")

# Before anything of the package: the installed application bundle goes
# first on sys.path, and an unconfirmed trial is rolled back
# (lib/uocpp_loader.py, the part an update never replaces). update: None,
# or (firmwareVersion of the update that runs, one under way, trial boot).
# The loader then leaves memory.
try:
    from uocpp_loader import start
except ImportError:  # installed without it (mip): the built-in app, no updates
    update = None
else:
    update = start()
    del start
    from uocpp import unload

    unload("uocpp_loader", "uocpp_slots")
    del unload


def main():
    # The application itself is in the package (uocpp/main.py): frozen or in
    # a ROMFS image its code stays in flash, where this file's is compiled
    # into the heap at every boot. Imported here, under the trial boot's
    # guard: a bundle that cannot run it goes back too.
    from uocpp.main import main

    main(update)


if update and update[2]:
    # A trial boot: a crash reboots (a board would drop to the REPL), and the
    # loader then returns to the confirmed version.
    from uocpp_slots import guard

    guard(main)
else:
    main()
