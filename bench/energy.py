"""The heap cost of local energy management (issue 27, lib/uocpp/energy/).

The whole firmware's live heap idle after boot (bench/run.py's figure: after
gc.collect(), registered, StatusNotifications answered), .mpy build, on the
64-bit PyPI unix port and on the 32-bit build (/work/mp32/micropython, the
target's object sizes):
  off         no energy section (must equal today's figure: nothing imported)
  on          energy enabled with the local limit only (no MQTT: the manager alone)
  on, grid    plus the grid meter (a pymodbus SDM630 on a pty), load
              management, solar mode and phase switching: every part loaded

    .venv/bin/python bench/energy.py [--micropython32 PATH] [--quick] [--write-readme]

--micropython32: add the 32-bit build's column (ignored with --quick: the
64-bit build only, tests/test_bench.py keeps it from rotting).
--write-readme also writes the table into the `energy` block of docs/energy.md.
"""

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common, run  # noqa: E402
from harness.modbus_meter import Relay, SdmServer  # noqa: E402


def configs(relay):
    grid = {"grid": True, "gridDevice": relay.path, "gridAddress": 2, "mainsFuse": 25, "mode": "solar", "phaseSwitch": True}
    return (
        ("off", None),
        ("on", {"energy": {"enabled": True}}),
        ("on, grid", {"energy": dict(grid, enabled=True)}),
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="the 64-bit build only")
    ap.add_argument("--micropython32", metavar="PATH", help="a 32-bit unix port: add its .mpy column (the ESP32's figures)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        relay = Relay().start()
        server = SdmServer(relay.meter_path, address=2).start()
        server.set(V1=230.0, V2=230.0, V3=230.0, I1=5.0, I2=5.0, I3=5.0, P_TOTAL=-2000.0, FREQ=50.0, IMPORT_KWH=1.0)
        cs = common.start_cs()
        try:
            builds = [("64-bit", common.mpy_build(Path(tmp) / "mpy64"))]
            if args.micropython32 and not args.quick:
                builds.append(("32-bit", common.mpy_build(Path(tmp) / "mpy32", micropython=args.micropython32, word=4)))
            print("| energy | " + " | ".join("%s .mpy, live heap idle after boot" % name for name, _ in builds) + " |")
            print("|---|" + "---:|" * len(builds))
            base = {}
            for label, config in configs(relay):
                cells = []
                for name, build in builds:
                    live = run.idle_heap(cs, build, Path(tmp) / ("fw-%s-%d" % (name, len(label))), config=config)
                    base.setdefault(name, live)
                    grew = " (%s%s B)" % ("+" if live >= base[name] else "-", format(abs(live - base[name]), ","))
                    cells.append(format(live, ",") + " B" + (grew if label != "off" else ""))
                print("| %s | %s |" % (label, " | ".join(cells)))
        finally:
            cs.stop()
            server.stop()
            relay.close()


if __name__ == "__main__":
    common.run_writing("energy", main)
