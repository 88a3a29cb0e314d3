"""How a fleet comes back after its central system goes away.

N chargers lose the same central system at t = 0; it is back at t = outage.
Each charger runs the firmware's own back-off (lib/uocpp/link/backoff.py,
executed on the MicroPython unix port, one Backoff per charger, seeded): it
waits, tries (a refused attempt fails at once), waits again, until an attempt
lands after the outage. The result is when each charger reconnects, and the
peak number of reconnects (and of attempts) in any one second.

    python tools/backoff_fleet.py [--chargers 1000] [--outage 60] [--seed 1]
    python tools/backoff_fleet.py --table [--write-readme]
                                   # docs/resilience.md's table (make bench runs it)
"""

import argparse
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MICROPYTHON = str(Path(sys.executable).parent / "micropython")

# Runs on MicroPython with the firmware's module; prints JSON.
_SIMULATION = """
import json, random
from uocpp.link.backoff import Backoff
random.seed(%(seed)d)
reconnects, attempts = [], []
for _ in range(%(chargers)d):
    b = Backoff(%(wait_minimum)r, %(random_range)r, %(repeat_times)d)
    t = 0.0
    while True:
        t += b.next()
        attempts.append(t)
        if t >= %(outage)r:
            reconnects.append(t)
            break
print(json.dumps({"reconnects": reconnects, "attempts": attempts}))
"""


def simulate(chargers=1000, outage=60.0, wait_minimum=5, random_range=30, repeat_times=5, seed=1):
    """-> {"reconnects": [t, ...] one per charger, "attempts": [t, ...] every attempt}."""
    code = _SIMULATION % dict(
        chargers=chargers, outage=float(outage), wait_minimum=wait_minimum, random_range=random_range, repeat_times=repeat_times, seed=seed
    )
    env = dict(os.environ, MICROPYPATH=".frozen:" + str(REPO / "lib"))
    out = subprocess.run([MICROPYTHON, "-c", code], capture_output=True, text=True, env=env, timeout=120, check=True)
    return json.loads(out.stdout)


def peak_per_second(times):
    """The largest number of events that fall into one second [k, k+1)."""
    return max(Counter(int(t) for t in times).values())


def summary(result):
    r = sorted(result["reconnects"])
    return {
        "peak_reconnects_per_s": peak_per_second(r),
        "peak_attempts_per_s": peak_per_second(result["attempts"]),
        "first": r[0],
        "last": r[-1],
        "seconds_with_reconnects": len({int(t) for t in r}),
    }


# docs/resilience.md's table: the defaults, no randomization, a smaller range.
TABLE = ((5, 30, 5, "(the defaults)"), (5, 0, 5, "(no randomization)"), (5, 10, 5, ""))


def table(chargers=1000, outage=60.0, seed=1):
    """The Markdown table of docs/resilience.md (bench block "backoff")."""
    rows = [
        "| Back-off (waitMinimum, randomRange, repeatTimes), %d chargers | Back at once (outage 0 s) | After a %g s outage | Refused attempts during the outage, peak per s |"
        % (chargers, outage),
        "|---|---|---|---|",
    ]
    for wait_minimum, random_range, repeat_times, note in TABLE:
        cells = []
        for away in (0.0, outage):
            r = simulate(chargers, away, wait_minimum, random_range, repeat_times, seed)
            s = summary(r)
            cells.append("%d/s, over %.0f-%.0f s" % (s["peak_reconnects_per_s"], s["first"], s["last"]))
        refused = [t for t in r["attempts"] if t < outage]
        label = ("%g s, %g s, %d %s" % (wait_minimum, random_range, repeat_times, note)).strip()
        rows.append("| %s | %s | %s | %d |" % (label, cells[0], cells[1], peak_per_second(refused) if refused else 0))
    return "\n".join(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chargers", type=int, default=1000)
    ap.add_argument("--outage", type=float, default=60)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--table", action="store_true", help="print docs/resilience.md's table (--write-readme: write it there)")
    args = ap.parse_args()
    if args.table:
        print(table(args.chargers, args.outage, args.seed))
        return
    print("%d chargers, central system away for %g s (seed %d)" % (args.chargers, args.outage, args.seed))
    print("%-34s %10s %10s %14s" % ("back-off (min, random, doublings)", "peak rc/s", "peak att/s", "back within"))
    for wait_minimum, random_range, repeat_times in ((5, 30, 5), (5, 0, 5), (5, 10, 5), (30, 60, 3)):
        s = summary(simulate(args.chargers, args.outage, wait_minimum, random_range, repeat_times, args.seed))
        label = "%g s, %g s, %d" % (wait_minimum, random_range, repeat_times)
        print("%-34s %10d %10d %8.0f-%.0f s" % (label, s["peak_reconnects_per_s"], s["peak_attempts_per_s"], s["first"], s["last"]))


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    from bench import common

    common.run_writing("backoff", main)
