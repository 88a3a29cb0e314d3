"""The heap cost of local energy management (issue 27, lib/uocpp/energy/).

The whole firmware's live heap idle after boot (bench/run.py's figure: after
gc.collect(), registered, StatusNotifications answered), .mpy build, on the
64-bit PyPI unix port and on the 32-bit build (/work/mp32/micropython, the
target's object sizes):
  off         no energy section (must equal today's figure: nothing imported)
  on          energy enabled with the local limit only (no MQTT: the manager alone)
  on, grid    plus the grid meter (a pymodbus SDM630 on a pty), load
              management, solar mode and phase switching: every part loaded

    .venv/bin/python bench/energy.py [--quick]

--quick: the 64-bit build only (tests/test_bench.py keeps it from rotting).
"""

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common, run  # noqa: E402
from harness.modbus_meter import Relay, SdmServer  # noqa: E402

MP32 = "/work/mp32/micropython"


def configs(relay):
    grid = {"grid": True, "gridDevice": relay.path, "gridAddress": 2, "mainsFuse": 25, "mode": "solar", "phaseSwitch": True}
    return (
        ("off", None),
        ("on", {"energy": {"enabled": True}}),
        ("on, grid", {"energy": dict(grid, enabled=True)}),
    )


def main():
    with tempfile.TemporaryDirectory() as tmp:
        relay = Relay().start()
        server = SdmServer(relay.meter_path, address=2).start()
        server.set(V1=230.0, V2=230.0, V3=230.0, I1=5.0, I2=5.0, I3=5.0, P_TOTAL=-2000.0, FREQ=50.0, IMPORT_KWH=1.0)
        cs = common.start_cs()
        try:
            builds = [("64-bit", common.mpy_build(Path(tmp) / "mpy64"))]
            if os.path.exists(MP32) and "--quick" not in sys.argv:
                builds.append(("32-bit", common.mpy_build(Path(tmp) / "mpy32", micropython=MP32, word=4)))
            print("| energy | " + " | ".join("%s .mpy, live heap idle after boot" % name for name, _ in builds) + " |")
            print("|---|" + "---|" * len(builds))
            base = {}
            for label, config in configs(relay):
                cells = []
                for name, build in builds:
                    live = run.idle_heap(cs, build, Path(tmp) / ("fw-%s-%d" % (name, len(label))), config=config)
                    base.setdefault(name, live)
                    cells.append("%d (%+d)" % (live, live - base[name]) if label != "off" else "%d" % live)
                print("| %s | %s |" % (label, " | ".join(cells)))
        finally:
            cs.stop()
            server.stop()
            relay.close()


if __name__ == "__main__":
    main()
