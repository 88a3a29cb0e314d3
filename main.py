# Firmware entry point: the cooperative asyncio loop for BootNotification,
# heartbeat and the reconnecting WebSocket link.
# Unix port: MICROPYPATH=.frozen:lib micropython main.py (see the Makefile).
import gc
import sys

# Collect after every 16 KB allocated, not only when the heap is full
# (docs/memory-session.md): MicroPython allocates first-fit, so between two
# full collections the long-lived objects made meanwhile land all over the
# heap, and a large block (the interned names' next pool, 9 KB in one piece
# on 32-bit) is then missing although a third of the heap is free. Frequent
# collections keep what lives packed at the bottom and the top in one piece.
gc.threshold(16384)

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
    import asyncio

    from uocpp import log, platform
    from uocpp.config import provision

    settings = provision.load()
    if settings is None:
        platform.halt(provision.error)
        return
    # The web section leaves the settings (back only if the status page is
    # on, for app.py): with the page off none of it stays in the heap.
    web = settings.pop("web")
    if platform.setup_wanted(settings, web):
        # Setup mode: the setup form instead of the OCPP link; saved, it
        # resets into normal mode (unix port: exit 75).
        try:
            from uocpp.extras.web import setup_form
        except ImportError as e:
            platform.halt("setup mode: %s" % e)  # no way on without the form: say why and stay safe
            return
        asyncio.run(setup_form.run(settings, web))
    if web["enabled"]:
        settings["web"] = web
    del web
    if not settings["mqtt"]["enabled"]:
        del settings["mqtt"]  # a mirror that is off keeps none of its keys in the heap either
    del settings["firmware"]  # read again for an update (services/firmware_update.py)
    from uocpp.app import App

    # config.json's keys are heap strings, cut from config/settings.py's
    # table (a key spelled out in code would be an interned name for ever):
    # a key that the app's modules now intern anyway becomes that name, and
    # its own heap string goes (k[:] finds an interned name, never makes one).
    for name in settings:
        settings[name] = {key[:]: value for key, value in settings[name].items()}
    while True:
        try:
            reason = asyncio.run(App(settings, update).run())
        except KeyboardInterrupt:
            log.info("main", "interrupted, bye")
            return
        except Exception as e:
            if update and update[2]:
                raise  # a trial boot: the loader's guard goes back to the confirmed version
            # Nothing may leave a charger at the REPL prompt: the board
            # resets (the unix port exits 75), after a pause so that a fault
            # that outlives the reset cannot spin.
            log.exception("main", "the application failed: resetting in 5 s", e)
            import time

            time.sleep(5)
            reason = "hard"
        if reason == "hard":
            platform.reset()
        if reason != "soft":
            return
        log.info("main", "soft reset: restarting the application")
        asyncio.new_event_loop()


if update and update[2]:
    # A trial boot: a crash reboots (a board would drop to the REPL), and the
    # loader then returns to the confirmed version.
    from uocpp_slots import guard

    guard(main)
else:
    main()
