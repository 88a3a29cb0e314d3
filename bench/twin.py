"""The ESP32 twin's heap (issues 23 and 24): the live heap of the whole
firmware idle after boot, on the ESP32 platform code (tools/twin: stand-ins
for machine, network and esp32, the ESP32 EVSE driver sampling its pilot, the
SDM120 over Modbus RTU, Wi-Fi, the watchdog) beside the same figure on the
unix port's simulator, from the firmware's own heap report (log.heapInterval).
The difference, less the stand-ins' own code (C on a board), is what the ESP32
code path holds above the unix port's: the bench's smallest heaps are
measured on the unix port, so a board needs that much more (bench/run.py adds
it to the deployment table's verdict). Per build: the 64-bit sources (the
suite's), and with --micropython32 / --frozen32 the 32-bit .mpy files as
`make deploy` ships them and lib/ frozen in: the nearest to an ESP32's heap.

    .venv/bin/python bench/twin.py [--micropython32 PATH] [--frozen32 PATH]
"""

import argparse
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tools"))

from central_system import CentralSystemThread  # noqa: E402

from bench import common  # noqa: E402
from harness.firmware import FAST, Firmware, merge  # noqa: E402
from harness.twin.firmware import TwinFirmware  # noqa: E402


def idle_heap(cs, cls, build, workdir):
    """The live heap idle after boot of `build` (bench/common.py's Build) on
    the unix port's simulator (Firmware) or the twin (TwinFirmware)."""
    cfg = merge(FAST, {"centralSystem": {"url": "ws://127.0.0.1:%d/ocpp" % cs.port}, "log": {"level": "info", "heapInterval": 1}})
    fw = cls(workdir, cfg, env=dict(build.env, MICROPYTHON=build.micropython, MICROPYPATH=build.micropypath))
    common.link_lib(build, fw.workdir)  # a relative MICROPYPATH (lib) is the working directory's
    if cls is Firmware:
        fw.argv = [build.micropython, build.main]
    fw.start()
    try:
        fw.wait_log("registration Accepted", timeout=30)
        seen = sum(1 for _, line in list(fw.lines) if "diag: heap alloc=" in line)
        m = fw.wait_log(r"diag: heap alloc=(\d+) free=(\d+)", 20, count=seen + 3)
        return int(m.group(1)) - build.live_offset
    finally:
        fw.stop()


def esp32_extra(cs, build, workdir):
    """(unix port idle, twin idle, stand-ins, extra): bytes; extra is what the
    ESP32 code path holds idle above the unix port's simulator, less the
    stand-ins' own code."""
    unix = idle_heap(cs, Firmware, build, os.path.join(workdir, "unix"))
    twin = idle_heap(cs, TwinFirmware, build, os.path.join(workdir, "twin"))
    stand = standins_heap(build.micropython)
    return unix, twin, stand, twin - stand - unix


STANDINS = """
import gc
gc.collect()
a = gc.mem_alloc()
import machine, network, esp32, ntptime, socket, _wire, _agent
gc.collect()
print(gc.mem_alloc() - a)
"""


def standins_heap(micropython):
    # What the stand-ins' own code takes (C in the ROM on a board).
    import subprocess

    from harness.twin.run import BOARD

    env = dict(os.environ, MICROPYPATH=BOARD + ":.frozen:" + str(REPO / "lib"))
    out = subprocess.run([micropython, "-c", STANDINS], capture_output=True, text=True, env=env, timeout=30)
    return int(out.stdout.split()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--micropython32", help="a 32-bit unix MicroPython build: the .mpy column")
    ap.add_argument("--frozen32", help="a 32-bit build with lib/ frozen in: the frozen column")
    args = ap.parse_args()
    cs = CentralSystemThread(boot_plan=[("Accepted", 60)]).start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            builds = [("64-bit .py", common.source_build())]
            if args.micropython32:
                builds.append(("32-bit .mpy", common.mpy_build(tmp / "mpy32", micropython=args.micropython32, word=4)))
            if args.frozen32:
                builds.append(("32-bit frozen", common.frozen_build(args.frozen32, 4)))
            got = [esp32_extra(cs, b, tmp / b.name) for _, b in builds]
    finally:
        cs.stop()
    rows = ["| Live heap, idle after boot | " + " | ".join(label for label, _ in builds) + " |", "| --- |" + " ---: |" * len(builds)]
    for i, label in enumerate(
        (
            "unix port, simulated EVSE",
            "ESP32 twin (ESP32 platform code)",
            "of which the stand-ins' own code (C on a board)",
            "the ESP32 code path above the unix port's (twin less stand-ins less unix)",
        )
    ):
        rows.append("| %s | %s |" % (label, " | ".join(format(g[i], ",") + " B" for g in got)))
    print("\n".join(rows))


if __name__ == "__main__":
    from bench import common

    common.run_writing("twin", main)
