# Firmware entry point: the cooperative asyncio loop for BootNotification,
# heartbeat and the reconnecting WebSocket link.
# Unix port: MICROPYPATH=.frozen:lib micropython main.py (see the Makefile).
import sys

if "lib" not in sys.path:
    sys.path.append("lib")

import asyncio  # noqa: E402

from uocpp import log, platform  # noqa: E402
from uocpp.config import provision  # noqa: E402


def main():
    settings = provision.load()
    if settings is None:
        platform.halt(provision.error)
        return
    # The web section leaves the settings here, so with the page off none of
    # it stays in the heap; the page's code loads only when it is used.
    web = settings.pop("web")
    if web["setupMode"] or platform.setup_wanted(settings, web["setupButton"]):
        # Setup mode: the setup form instead of the OCPP link; once it is
        # saved, a reset starts normal mode (unix port: exit 75).
        from uocpp.extras.web import setup_form

        asyncio.run(setup_form.run(settings, web))
        platform.reset()
        return
    if web["enabled"]:
        settings["web"] = web  # the status page (app.py)
    del web
    from uocpp.app import App

    while True:
        try:
            reason = asyncio.run(App(settings).run())
        except KeyboardInterrupt:
            log.info("main", "interrupted, bye")
            return
        if reason == "hard":
            platform.reset()
        if reason != "soft":
            return
        log.info("main", "soft reset: restarting the application")
        asyncio.new_event_loop()


main()
