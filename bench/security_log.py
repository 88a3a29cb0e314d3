"""Security log benchmark (issue 25): the heap of the always-on security-event reporting and of the security log
on flash (lib/uocpp/security_event.py, lib/uocpp/security_log.py), on the MicroPython unix port: the .mpy build on
the PyPI wheel's 64-bit port and, where it exists, on the 32-bit build (/work/mp32/micropython, a board's object
sizes). One MicroPython process per build; each figure is gc.mem_alloc() after gc.collect().

    door        security_event imported and wired (what every boot holds)
    held        after the first event: the ring object and flood times kept between events
    event peak  the highest live heap while one event is written (security_log loaded for it)
    notify      one critical event with notifications on, above `held` (a stand-in outbox keeps the payload)
    lines       events the ring holds when full, at this bench's line length

    .venv/bin/python bench/security_log.py [--micropython32 PATH] [--write-readme]

--write-readme also writes the table into the `security_log` block of docs/security-events.md.
"""

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from bench import common  # noqa: E402

_MP = """
import gc, os
from uocpp import clock, log, log_ring  # log_ring: loaded at every boot by the flash log
log.set_level("error")
clock.set_unix(1764640000)
def live():
    gc.collect()
    return gc.mem_alloc()
class Outbox:
    def __init__(self):
        self.kept = []
    def store(self, action, payload, tag=None):
        self.kept.append(payload)
base = live()
from uocpp import security_event
ob = Outbox()
security_event._where[:3] = %(dir)r, ob, False
door = live() - base
security_event.report("StartupOfTheDevice", "1.0.0")
held = live() - base
import micropython
peak0 = micropython.mem_peak() if hasattr(micropython, "mem_peak") else 0
security_event.report("ReconfigurationOfSecurityParameters", "AuthorizationKey")
peak = (micropython.mem_peak() - base) if peak0 else -1
security_event._where[:3] = %(dir)r, ob, True
before = live()
security_event.report("TamperDetectionActivated", "enclosure opened")
notify = live() - before
security_event._where[:3] = %(dir)r, ob, False
for i in range(2000):
    security_event.report("TamperDetectionActivated", "enclosure opened %%d" %% i)
n = 0
for f in os.listdir(%(dir)r):
    with open(%(dir)r + "/" + f) as fh:
        n += len(fh.read().splitlines())
print("RESULT", door, held, peak, notify, n)
"""


def measure(build):
    with tempfile.TemporaryDirectory() as tmp:
        code = _MP % {"dir": tmp + "/security"}
        env = {"MICROPYPATH": ".frozen:" + str(build.lib)}
        out = subprocess.run([build.micropython, "-c", code], capture_output=True, text=True, timeout=120, env=env, cwd=tmp)
        line = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")]
        if not line:
            raise RuntimeError(out.stdout + out.stderr)
        return [int(v) for v in line[0].split()[1:]]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--micropython32", metavar="PATH", help="a 32-bit unix port: add its .mpy row (a board's object sizes)")
    ap.add_argument("--quick", action="store_true", help="accepted for make bench; the run is short anyway")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        builds = [("64-bit .mpy", common.mpy_build(Path(tmp) / "mpy64"))]
        if args.micropython32:
            builds.append(("32-bit .mpy", common.mpy_build(Path(tmp) / "mpy32", args.micropython32, 4)))
        print("| Security log | door (B) | held (B) | event peak (B) | notify (B) | lines when full |")
        print("|---|---:|---:|---:|---:|---:|")
        for name, build in builds:
            door, held, peak, notify, n = measure(build)
            print("| %s | %d | %d | %s | %d | %d |" % (name, door, held, peak if peak >= 0 else "n/a", notify, n))


if __name__ == "__main__":
    common.run_writing("security_log", main)
