"""`make soak`: the randomized scenario engine (harness/scenario/) for a
given time, on a seed printed at the start; one summary line at the end,

    soak: seed 1234 minutes 30 events 8812 kills 41 violations 0

and a non-zero exit status when an invariant was violated. Each violation
is printed when it happens, with the seed, the time and the last events.

    python -m harness.soak [--minutes 30 | --seconds N] [--seed N] [--profile soak|test|energy] [--keep DIR] [--plan]

The same seed gives the same plan of events (the timing of the real
processes may differ from run to run).
"""

import argparse
import random
import shutil
import sys
import tempfile
from pathlib import Path

from harness.scenario.engine import PROFILES, Scenario, make_plan


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--seconds", type=int, help="the budget in seconds (overrides --minutes)")
    ap.add_argument("--seed", type=int, help="default: a random one, printed")
    ap.add_argument("--profile", choices=sorted(PROFILES), default="soak")
    ap.add_argument("--keep", metavar="DIR", help="keep the firmware's directory (flash, config) and its logs there")
    ap.add_argument("--plan", action="store_true", help="print the seed's plan of events and exit (nothing is run)")
    args = ap.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 10**6)
    seconds = args.seconds if args.seconds is not None else int(args.minutes * 60)
    if args.plan:
        for e in make_plan(seed, seconds, args.profile):
            print(e)
        return 0
    minutes = seconds / 60
    print("soak: seed %d, %g minutes, profile %s" % (seed, minutes, args.profile), flush=True)
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="uocpp-soak-"))
    replay = None
    if args.profile in ("soak", "energy"):
        replay = "make soak SEED=%d MINUTES=%g%s" % (seed, minutes, " PROFILE=energy" if args.profile == "energy" else "")
    scn = Scenario(seed, seconds, work / "fw", profile=args.profile, replay=replay)
    try:
        scn.run()
    finally:
        if args.keep:
            for i, fw in enumerate(scn.runs):
                (work / ("run%03d.log" % i)).write_text(fw.log + "\n")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(scn.figures())
    print(scn.summary(minutes=round(minutes, 2)), flush=True)
    return 1 if scn.violations else 0


if __name__ == "__main__":
    sys.exit(main())
