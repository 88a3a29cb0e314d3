"""The heap budget: the live heap idle after boot may not grow unnoticed.

One boot of the .mpy build (the PyPI wheel's unix port, as `make bench`
measures it) against the bundled central system; the firmware's own heap
report (log.heapInterval) gives the live heap after gc.collect(). More than
`tolerance` bytes over the figure in bench/heap_budget.json fails: a change
that costs heap must say so by raising the figure, with the reason in its
commit. The figure is deterministic to the byte on a given interpreter.
"""

import json
import warnings

from bench import common, run
from harness.firmware import REPO

BUDGET = REPO / "bench" / "heap_budget.json"


def test_live_heap_after_boot_stays_within_the_recorded_budget(tmp_path):
    """Issue 14 item 4: the live heap idle after boot (.mpy, 64-bit wheel) stays within 2 KB of the recorded figure."""
    budget = json.loads(BUDGET.read_text())
    figure, tolerance = budget["live_heap_after_boot"], budget["tolerance"]
    cs = common.start_cs()
    try:
        live = run.idle_heap(cs, common.mpy_build(tmp_path / "mpy"), tmp_path / "fw")
    finally:
        cs.stop()
    assert live <= figure + tolerance, (
        "live heap after boot is %d B, %+d B against the budget of %d B in bench/heap_budget.json (tolerance %d B). "
        "Find the cost with `python bench/run.py --quick` (per-module breakdown) and cut it, or raise the figure "
        "on purpose with the reason in the commit." % (live, live - figure, figure, tolerance)
    )
    if live < figure - tolerance:
        warnings.warn("live heap after boot is %d B, %d B under the budget of %d B: lower the figure in bench/heap_budget.json" % (live, figure - live, figure))
