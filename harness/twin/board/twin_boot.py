# The twin's firmware process (MicroPython unix port): what a board's ROM
# does before the firmware runs, then the firmware's own boot.py and
# main.py, unchanged, sharing one globals dict as on a board.
#   MICROPYPATH=harness/twin/board:.frozen:lib micropython twin_boot.py REPO
# The stand-ins on the path make `import esp32` succeed, so uocpp.platform
# picks the ESP32 port. The one reach into the firmware: Esp32Evse.run is
# wrapped to start the probe (_agent.py) that tells the model when the
# firmware has acted on a change (the simulator's "settled") and what the
# connectors' OCPP status is: the eyes of the line protocol, not hardware.
# The probe runs only with the line protocol on (tools/twin sets TWIN_AGENT
# then): it is the twin's, not the firmware's, so the bench runs without it.
# Once the EVSE runs, one line "twin: stand-in objects Pin=.. ..." says how
# many objects the stand-ins made (_wire.count; bench/twin.py subtracts them).
import os
import sys

import asyncio


def _wrap_evse():
    # After boot.py: the loader has put an installed bundle first on the
    # path by then, so the EVSE module wrapped is the one the firmware runs
    # (imported before boot.py, the built-in one would shadow the bundle).
    from uocpp.platform import esp32_evse

    _run = esp32_evse.Esp32Evse.run

    async def _run_with_probe(self, firmware):
        if os.getenv("TWIN_AGENT"):
            import _agent

            asyncio.create_task(_agent.serve(self, firmware))
        asyncio.create_task(_report())
        await _run(self, firmware)

    esp32_evse.Esp32Evse.run = _run_with_probe


async def _report():
    # Once, a second into the EVSE's run: the meter, the watchdog and Wi-Fi
    # have made theirs by then. The task ends here (nothing of it stays).
    import _wire

    await asyncio.sleep_ms(1000)
    print("twin: stand-in objects", " ".join("%s=%d" % kv for kv in sorted(_wire.made.items())))
    if os.getenv("TWIN_QSTRS"):  # every interned name, by hand (docs/twin.md)
        await asyncio.sleep_ms(4000)
        import micropython

        micropython.qstr_info(1)


_repo = sys.argv[1]
# The bench's launchers, for what they set up before main (run as the
# script, they would run main themselves):
#   OCPP_ROMFS         bench/romfs_main.py mounts that ROMFS image at /rom
#                      (bench/twin.py --romfs); main then comes from it
#   OCPP_IMPORT_TRACE  bench/import_trace.py's hook records the order the
#                      ESP32 code path loads its modules in (bench/modules.py
#                      trace(twin=True), for tools/romfs_names.py)
for _env, _launcher in (("OCPP_ROMFS", "romfs_main"), ("OCPP_IMPORT_TRACE", "import_trace")):
    if os.getenv(_env):
        with open("%s/bench/%s.py" % (_repo, _launcher)) as _f:
            exec(_f.read(), {"__name__": _launcher})
_g = {"__name__": "__main__"}
for _name in ("boot.py", "main.py"):
    if _name == "main.py":
        _wrap_evse()
        if os.getenv("OCPP_ROMFS"):
            import main  # noqa: F401 - the image's main.mpy, in place: runs the firmware

            break
    with open(_repo + "/" + _name) as _f:
        _code = _f.read()
    exec(_code, _g)
    del _code
