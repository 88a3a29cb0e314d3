# The twin's firmware process (MicroPython unix port): what a board's ROM
# does before the firmware runs, then the firmware's own boot.py and
# main.py, unchanged, sharing one globals dict as on a board.
#   MICROPYPATH=harness/twin/board:.frozen:lib micropython twin_boot.py REPO
# The stand-ins on the path make `import esp32` succeed, so uocpp.platform
# picks the ESP32 port. The one reach into the firmware: Esp32Evse.run is
# wrapped to start the probe (_agent.py) that tells the model when the
# firmware has acted on a change (the simulator's "settled") and what the
# connectors' OCPP status is: the eyes of the line protocol, not hardware.
import sys

import asyncio


def _wrap_evse():
    # After boot.py: the loader has put an installed bundle first on the
    # path by then, so the EVSE module wrapped is the one the firmware runs
    # (imported before boot.py, the built-in one would shadow the bundle).
    from uocpp.platform import esp32_evse

    _run = esp32_evse.Esp32Evse.run

    async def _run_with_probe(self, firmware):
        import _agent

        asyncio.create_task(_agent.serve(self, firmware))
        await _run(self, firmware)

    esp32_evse.Esp32Evse.run = _run_with_probe


_repo = sys.argv[1]
_g = {"__name__": "__main__"}
for _name in ("boot.py", "main.py"):
    if _name == "main.py":
        _wrap_evse()
    with open(_repo + "/" + _name) as _f:
        _code = _f.read()
    exec(_code, _g)
    del _code
