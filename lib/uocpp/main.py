# The application's entry, run by main.py once the loader has put the
# installed bundle first on sys.path (under its guard on a trial boot).
# Here, not in main.py, so that this code is in flash on the frozen and
# ROMFS builds (issue 24: main.py is compiled from source at every boot and
# its code stays in the heap).
# update: what main.py's loader found (uocpp_loader.start()), or None.
from micropython import const


def main(update):
    import asyncio

    from uocpp import log, platform
    from uocpp.config import provision

    App = None
    while True:
        # The boot, then each soft reset: the app kept only what its parts
        # read after the start (startup.py _keep), so the new one gets
        # config.json read again.
        settings = provision.load()
        if settings is None:
            platform.halt(provision.error)
            return
        # The web section leaves the settings (back only if the status page
        # is on, for app.py): with the page off none of it stays in the heap.
        web = settings.pop("web")
        if App is None:  # the boot
            if platform.setup_wanted(settings, web):
                # Setup mode: the setup form instead of the OCPP link; saved,
                # it resets into normal mode (unix port: exit 75).
                try:
                    from uocpp.extras.web import setup_form
                except ImportError as e:
                    platform.halt("setup mode: %s" % e)  # no way on without the form: say why and stay safe
                    return
                asyncio.run(setup_form.run(settings, web))
            from uocpp.app import App

            _session_names()
        # What the app gets: no firmware section (read again for an update,
        # services/firmware_update.py), no web or mqtt section when off (a
        # feature that is off keeps none of its keys in the heap).
        if web["enabled"]:
            settings["web"] = web
        web = None
        if not settings["mqtt"]["enabled"]:
            del settings["mqtt"]
        del settings["firmware"]
        # config.json's keys are heap strings, cut from config/settings.py's
        # table (a key spelled out in code would be an interned name for
        # ever): a key that the app's modules now intern anyway becomes that
        # name, and its own heap string goes (k[:] finds an interned name,
        # never makes one).
        for name in settings:
            section = {}
            for key, value in settings[name].items():
                section[key[:]] = value
            settings[name] = section
        try:
            # The run returns why it stopped and what the next app resumes
            # (an UpdateFirmware it took in: app.py run()). No local of this
            # frame holds the app: that kept 2 KB more in the heap.
            reason, update = asyncio.run(App(settings, update).run())
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
        settings = web = provision.settings = None


# Filled to this many, sys.modules is a table of 97 entries.
_MODULES = const(74)


def _session_names():
    # The interned names (qstrs) of what every charging session loads are
    # made now, before the heap fragments. Names are never freed and their
    # pools grow by doubling: the 1,261st name allocates a pool of 1,280
    # entries, 9 KB in one block on a 32-bit board, which a fragmented heap
    # in the middle of a session may not have (docs/memory.md). The unix
    # port's charger ends a session well below that boundary, but the ESP32
    # code path (its drivers: pilot, Modbus meter, card reader, Wi-Fi) idles
    # just under it and its first session crosses it (bench/twin.py's names
    # rows): importing and dropping these modules takes the growth into the
    # boot. The code goes again at once; only the names stay, which the
    # first session makes anyway.
    # The table of loaded modules (sys.modules) is sized now for the same
    # reason: it grows only when full, in one block (59 to 73 entries: 584
    # B on a 32-bit board), and a charging session takes the charger past
    # 59 modules loaded at once, where a frozen build's first Authorize,
    # near its smallest heap, found no such block among 5 KB free. The
    # unix port's charger peaks at 62 modules in the bench's session, the
    # ESP32 code path at 73 in a card's session on the twin (pilot, Modbus
    # meter, card reader, Wi-Fi): 97 entries leave room for an operation's
    # module or two (776 B). Made now, at about 19 modules, the block is at
    # the heap's start. Int keys: no name is interned for them.
    import sys

    from uocpp import unload

    n = len(sys.modules)
    for i in range(n, _MODULES):
        sys.modules[i] = None
    for i in range(n, _MODULES):
        del sys.modules[i]
    for name in "services.cards services.authorize model.auth_cache store.record store.journal confs.authorize confs.start_transaction confs.stop_transaction confs.heartbeat".split():
        name = "uocpp." + name
        if name not in sys.modules:
            __import__(name)
            unload(name)
