"""The ESP32 twin's heap (issue 23): the live heap of the whole firmware idle
after boot, on the ESP32 platform code (tools/twin: stand-ins for machine,
network and esp32, the ESP32 EVSE driver sampling its pilot, the SDM120
over Modbus RTU, Wi-Fi, the watchdog) beside the same figure on the unix
port's simulator, from the firmware's own heap report (log.heapInterval).
With --micropython32 (make bench MICROPYTHON32=...), the 32-bit build too:
the nearest to an ESP32's heap.

    .venv/bin/python bench/twin.py [--micropython32 PATH]
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

from harness.firmware import FAST, MICROPYTHON, Firmware, merge  # noqa: E402
from harness.twin.firmware import TwinFirmware  # noqa: E402


def idle_heap(cs, cls, micropython, workdir):
    cfg = merge(FAST, {"centralSystem": {"url": "ws://127.0.0.1:%d/ocpp" % cs.port}, "log": {"level": "info", "heapInterval": 1}})
    fw = cls(workdir, cfg, env={"MICROPYTHON": micropython})
    if cls is Firmware:
        fw.argv[0] = micropython
    fw.start()
    try:
        fw.wait_log("registration Accepted", timeout=30)
        seen = sum(1 for _, line in list(fw.lines) if "diag: heap alloc=" in line)
        m = fw.wait_log(r"diag: heap alloc=(\d+) free=(\d+)", 20, count=seen + 3)
        return int(m.group(1))
    finally:
        fw.stop()


STANDINS = """
import gc
gc.collect()
a = gc.mem_alloc()
import machine, network, esp32, ntptime, _wire, _agent
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
    ap.add_argument("--micropython32", help="a 32-bit unix MicroPython build")
    args = ap.parse_args()
    builds = [("64-bit", MICROPYTHON)] + ([("32-bit", args.micropython32)] if args.micropython32 else [])
    cs = CentralSystemThread(boot_plan=[("Accepted", 60)]).start()
    rows = ["| Live heap, idle after boot | " + " | ".join(name for name, _ in builds) + " |", "| --- |" + " ---: |" * len(builds)]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for label, cls in (("unix port, simulated EVSE", Firmware), ("ESP32 twin (ESP32 platform code)", TwinFirmware)):
                cells = []
                for name, mp in builds:
                    cells.append(format(idle_heap(cs, cls, mp, os.path.join(tmp, "%s-%s" % (cls.__name__, name))), ",") + " B")
                rows.append("| %s | %s |" % (label, " | ".join(cells)))
            twin = [int(c[:-2].replace(",", "")) for c in cells]
            stand = [standins_heap(mp) for _, mp in builds]
            rows.append("| of which the stand-ins' own code (C on a board) | %s |" % " | ".join(format(x, ",") + " B" for x in stand))
            rows.append("| ESP32 twin less its stand-ins: the nearest to a board | %s |" % " | ".join(format(t - x, ",") + " B" for t, x in zip(twin, stand)))
    finally:
        cs.stop()
    print("\n".join(rows))


if __name__ == "__main__":
    from bench import common

    common.run_writing("twin", main)
