"""Smart-charging benchmark (issue 16): heap and CPU time of the composite
schedule with MaxChargingProfilesInstalled (8) profiles of
ChargingScheduleMaxPeriods (24) periods each, on the MicroPython unix port
(bench/schedule_mp.py runs there).

    .venv/bin/python bench/schedule.py [--quick] [--write-readme]

--write-readme also puts the table into docs/performance.md's marked block.
"""

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
MICROPYTHON = str(Path(sys.executable).parent / "micropython")


def measure(count=8, periods=24, rounds=20):
    env = dict(os.environ, MICROPYPATH=".frozen:%s" % (REPO / "lib"))
    out = subprocess.run(
        [MICROPYTHON, str(HERE / "schedule_mp.py"), str(count), str(periods), str(rounds)], capture_output=True, text=True, env=env, timeout=120
    )
    m = re.search(r"alloc=(-?\d+) peak=(\d+) us=(\d+) limit_us=(\d+) periods=(\d+)", out.stdout)
    if not m:
        raise RuntimeError(out.stdout + out.stderr)
    return dict(zip(("alloc", "peak", "us", "limit_us", "periods"), map(int, m.groups())))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--write-readme", action="store_true", help="also replace docs/performance.md's marked smart-charging block with the table")
    args = ap.parse_args()
    r = measure(rounds=2 if args.quick else 50)
    lines = [
        "| Smart charging measure (8 profiles x 24 periods, 64-bit unix port) | Figure |",
        "| --- | --- |",
        "| composite schedule over 24 h (GetCompositeSchedule) | %.1f ms, %s B allocated (garbage included), %d periods |"
        % (r["us"] / 1000, format(r["peak"], ","), r["periods"]),
        "| limit in force now (every boundary and clock jump) | %d µs |" % r["limit_us"],
        "| heap kept afterwards | %+d B |" % r["alloc"],
    ]
    text = "\n".join(lines)
    print(text)
    if args.write_readme:
        sys.path.insert(0, str(REPO))
        from bench import common

        common.write_blocks({"schedule": text})


if __name__ == "__main__":
    main()
