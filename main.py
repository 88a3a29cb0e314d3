# Firmware entry point: the cooperative asyncio loop for BootNotification,
# heartbeat and the reconnecting WebSocket link.
# Unix port: MICROPYPATH=.frozen:lib micropython main.py (see the Makefile).
import sys

if "lib" not in sys.path:
    sys.path.append("lib")

# Before anything of the package: the installed application bundle goes
# first on sys.path, and an unconfirmed trial is rolled back
# (lib/uocpp_loader.py, the part an update never replaces).
# -> None, or (firmwareVersion of the update that runs, update under way,
# trial boot). The loader then leaves memory.
try:
    from uocpp_loader import start as _load
except ImportError:  # installed without it (mip): the built-in app, no updates
    update = False
else:
    update = _load()
    del _load
    sys.modules.pop("uocpp_loader", None)


def main():
    import asyncio

    from uocpp import log, platform
    from uocpp.config import provision

    settings = provision.load()
    if settings is None:
        platform.halt(provision.error)
        return
    from uocpp.app import App

    while True:
        try:
            reason = asyncio.run(App(settings, update).run())
        except KeyboardInterrupt:
            log.info("main", "interrupted, bye")
            return
        if reason == "hard":
            platform.reset()
        if reason != "soft":
            return
        log.info("main", "soft reset: restarting the application")
        asyncio.new_event_loop()


try:
    main()
except Exception as e:
    # A new version that crashes on its trial boot (a board would drop to
    # the REPL) reboots; the loader then returns to the confirmed one.
    if not (update and update[2]):
        raise
    from uocpp_loader import crashed

    crashed(e)
