"""`make bench`: heap, flash, start-up and message cost of the firmware on the
MicroPython unix port, beside a CPython charge point on the `ocpp` package.
Prints one Markdown table; writes nothing outside a temporary directory.

    python bench/run.py            # the full run (a few minutes)
    python bench/run.py --quick    # tiny sizes: checks that the scripts work
"""

import argparse
import datetime
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common, session, traffic  # noqa: E402
from bench.common import REPO, received, wait_alive  # noqa: E402

FULL = {"heartbeats": 100, "bisect_high": 1 << 16, "bisect_steps": None, "warm_up": 100, "live_round_trips": 10000, "startups": 21, "rate_round_trips": 2000, "rate_repeats": 5, "heap_report_s": 0.2}
QUICK = {"heartbeats": 3, "bisect_high": 1 << 20, "bisect_steps": 1, "warm_up": 10, "live_round_trips": 50, "startups": 1, "rate_round_trips": 20, "rate_repeats": 1, "heap_report_s": 0.05}


def heap_report(fw, after=2, timeout=10):
    """(alloc, free) from the `after`-th heap line logged from now on."""
    seen = sum(1 for _, line in list(fw.lines) if "diag: heap alloc=" in line)
    m = fw.wait_log(r"diag: heap alloc=(\d+) free=(\d+)", timeout, count=seen + after)
    return int(m.group(1)), int(m.group(2))


def live_heap(cs, build, warm_up, round_trips, workdir, report_s):
    """Live heap after gc.collect(): idle after boot, after a first burst of
    `warm_up` GetConfiguration calls (the module is imported on first use),
    and after `round_trips` more. Both later readings follow a pipelined
    burst: the heap holds 32 B more after a burst of 100 than after a single
    call, whatever the burst's length, so like is compared with like."""
    cp_id = "LIVE" + build.name.strip(".").upper()
    fw = common.start_firmware(workdir, cs, build, cp_id, config={"log": {"heapInterval": report_s}})
    try:
        traffic.registered(cs, fw, cp_id)
        idle = heap_report(fw)[0]
        traffic.round_trips(cs, cp_id, warm_up)
        first = heap_report(fw)[0]
        seconds = traffic.round_trips(cs, cp_id, round_trips)
        after = heap_report(fw)[0]
    finally:
        fw.stop()
    return {"idle": idle, "first": first, "after": after, "seconds": seconds}


def startup_ms(cs, build, runs, workdir):
    """Median milliseconds from process start to the BootNotification at the
    central system."""
    times = []
    for i in range(runs):
        cp_id = "UP%s%d" % (build.name.strip(".").upper(), i)
        fw = common.make_firmware(Path(workdir) / str(i), cs, build, cp_id)
        t0 = time.monotonic()
        fw.start()
        try:
            frames = wait_alive(cs, fw, lambda fs: received(cs, cp_id, "BootNotification"), 10, "BootNotification")
            times.append((frames[0].t - t0) * 1000)
        finally:
            fw.kill()
    return common.median(times)


def message_rates(cs, build, n, repeats, workdir):
    """Round trips per second and CPU time per round trip, for the firmware
    and for the CPython peer; the batches are taken in turn so that both see
    the same machine load. Returns {"fw": (rate, cpu_us), "peer": (...)},
    each the median over the batches."""
    fw = common.start_firmware(workdir, cs, build, "RATEFW")
    peer = subprocess.Popen([sys.executable, str(REPO / "bench" / "peer_cp.py"), "ws://127.0.0.1:%d/ocpp" % cs.port, "RATEPY"])
    pids = {"fw": fw.proc.pid, "peer": peer.pid}
    ids = {"fw": "RATEFW", "peer": "RATEPY"}
    try:
        traffic.registered(cs, fw, "RATEFW")
        cs.wait_for(lambda fs: received(cs, "RATEPY", "BootNotification") and "RATEPY" in cs.charge_points, 15, "peer's BootNotification")
        for who in ids:  # warm up both
            traffic.round_trips(cs, ids[who], max(10, n // 10))
        batches = {"fw": [], "peer": []}
        for _ in range(repeats):
            for who in ids:
                batches[who].append(traffic.measured_batch(cs, ids[who], n, pids[who]))
    finally:
        fw.stop()
        peer.terminate()
        peer.wait(5)
    return {who: (common.median([b[0] for b in got]), common.median([b[1] for b in got])) for who, got in batches.items()}


def measure(sizes, log=print):
    out = {}
    with tempfile.TemporaryDirectory(prefix="uocpp-bench-") as tmp:
        tmp = Path(tmp)
        src = common.source_build()
        mpy = common.mpy_build(tmp / "mpy")
        rom = common.romfs_build(mpy, tmp / "rom")
        builds = (src, mpy, rom)
        out["builds"] = builds
        out["flash"] = common.mpy_sizes(mpy)
        out["image"] = rom.heap_offset and Path(rom.env["OCPP_ROMFS"]).stat().st_size
        cs = common.start_cs()
        try:
            for b in builds:
                log("smallest heap, %s: bisecting ..." % b.name)
                heap, runs = session.smallest_heap(cs, b, high=sizes["bisect_high"], heartbeats=sizes["heartbeats"], max_steps=sizes["bisect_steps"])
                out["heap", b.name] = heap - b.heap_offset
            for b in builds:
                log("live heap, %s: %d round trips ..." % (b.name, sizes["live_round_trips"]))
                live = live_heap(cs, b, sizes["warm_up"], sizes["live_round_trips"], tmp / ("live" + b.name), sizes["heap_report_s"])
                out["live", b.name] = {k: v - b.live_offset for k, v in live.items() if k != "seconds"}
            for b in builds:
                log("start-up, %s: %d runs ..." % (b.name, sizes["startups"]))
                out["startup", b.name] = startup_ms(cs, b, sizes["startups"], tmp / ("up" + b.name))
            log("message rate: firmware (.mpy) and CPython peer ...")
            out["rates"] = message_rates(cs, mpy, sizes["rate_round_trips"], sizes["rate_repeats"], tmp / "rate")
        finally:
            cs.stop()
    return out


def _kb(n):
    return "%.1f KB" % (n / 1024)


def table(out, sizes):
    names = [b.name for b in out["builds"]]
    rows = [("Measure", ".py sources", ".mpy files", "ROMFS image (code in place)", "Goal"), ("---",) * 5]

    def row(label, values, goal=""):
        rows.append((label,) + tuple(values) + (goal,))

    row("Smallest heap (`-X heapsize`) for the scripted session", [_kb(out["heap", n]) for n in names], "≤ 24 KB")
    live = [out["live", n] for n in names]
    row("Live heap, idle after boot", [_kb(v["idle"]) for v in live])
    row("Live heap after the first %d GetConfiguration round trips (imports its module)" % sizes["warm_up"], [_kb(v["first"]) for v in live])
    n = format(sizes["live_round_trips"], ",")
    row("Live heap after %s more round trips" % n, [_kb(v["after"]) for v in live])
    row("Growth over those %s round trips" % n, ["%+d B" % (v["after"] - v["first"]) for v in live], "0 B")
    row("Start-up to BootNotification on the wire (median of %d)" % sizes["startups"], ["%.0f ms" % out["startup", n] for n in names])
    flash = out["flash"]
    row("Flash: compiled lib/uocpp", ["", "%s B in %d files" % (format(sum(flash.values()), ","), len(flash)), "%s B image" % format(out["image"], ",")])
    (fw_rate, fw_cpu), (peer_rate, peer_cpu) = out["rates"]["fw"], out["rates"]["peer"]
    m = "%s GetConfiguration calls pipelined, median of %d batches" % (format(sizes["rate_round_trips"], ","), sizes["rate_repeats"])
    row("Round trips/s, this firmware on MicroPython (%s)" % m, ["", "%.0f" % fw_rate, ""], "≥ CPython peer")
    row("Round trips/s, `ocpp` package charge point on CPython", ["", "%.0f" % peer_rate, ""])
    row("Ratio of round trips/s, firmware / CPython peer", ["", "%.2f" % (fw_rate / peer_rate), ""], "≥ 1")
    row("CPU time per round trip in the charge point's process, firmware / CPython peer", ["", "%.0f µs / %.0f µs" % (fw_cpu, peer_cpu), ""])
    lines = ["| " + " | ".join(r) + " |" for r in rows]
    top = sorted(flash.items(), key=lambda kv: -kv[1])[:5]
    lines.append("")
    lines.append("Largest modules (.mpy): " + ", ".join("%s %s B" % (name, format(size, ",")) for name, size in top))
    return "\n".join(lines)


def header():
    return "uOCPP benchmark, %s; %s, %d CPUs; MicroPython %s (unix port, 64-bit); CPython %s" % (
        datetime.date.today().isoformat(),
        common.cpu_model(),
        os.cpu_count(),
        common.micropython_version(),
        sys.version.split()[0],
    )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny sizes, for the smoke test")
    args = ap.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    logging.getLogger("ocpp").setLevel(logging.CRITICAL)  # failed sessions are expected while bisecting
    t0 = time.monotonic()
    out = measure(sizes, log=lambda msg: print(msg, file=sys.stderr, flush=True))
    print(header())
    print()
    print(table(out, sizes))
    print()
    print("(%s in %.0f s; scripted session: boot, %d triggered Heartbeats, GetConfiguration of all keys, a ChangeConfiguration, a TriggerMessage)" % ("quick run" if args.quick else "full run", time.monotonic() - t0, sizes["heartbeats"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
