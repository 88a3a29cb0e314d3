"""`make bench`: heap, flash, start-up and message cost of the firmware on the
MicroPython unix port, beside a CPython charge point on the `ocpp` package.
Prints Markdown tables; writes nothing outside a temporary directory (unless
--write-readme: then the marked blocks of docs/performance.md and README.md).

    python bench/run.py            # the full run (a few minutes)
    python bench/run.py --quick    # tiny sizes: checks that the scripts work
    python bench/run.py --micropython32 PATH --micropython32-frozen PATH
                                   # adds the 32-bit columns (.mpy, ROMFS, frozen)
    python bench/run.py --write-readme   # also writes docs/performance.md's block and README.md's deployment table

The PyPI wheel is a 64-bit build: its objects are about twice an ESP32's.
A 32-bit build of the unix port (and one with lib/ frozen in) measures what
a board's heap holds. They are built outside this repository, from
MicroPython's own sources and build documentation (ports/unix/README.md);
the frozen one with a manifest that freezes lib/uocpp and lib/umqtt.
"""

import argparse
import concurrent.futures
import contextlib
import datetime
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common, modules, session, traffic, twin  # noqa: E402
from bench.common import REPO, received, wait_alive  # noqa: E402

# Where the full run's time went (864 s with the 32-bit columns): the
# bisections (about 16 scripted sessions per build, 11 builds), then
# start-up (21 x 7 boots); and the run waits far more than it computes (a
# session is paced by the firmware's timers and round trips: the whole
# bench uses about 2 minutes of CPU). Now a bisection is bracketed by the
# build's own live heap idle (the session cannot complete below it),
# resolves to 1 KB (the figures are read in tenths of a KB and two runs of
# the same code differ by more), and four run at once (a heap figure does
# not depend on timing: a step's timeout is generous, and a heap too small
# shows as an exit or a MemoryError); start-up, timed, runs alone, over 11
# boots.
FULL = {
    "heartbeats": 100,
    "bisect_span": 64 * 1024,
    "bisect_resolution": 1024,
    "bisect_steps": None,
    "parallel": 4,
    "warm_up": 100,
    "live_round_trips": 10000,
    "startups": 11,
    "rate_round_trips": 2000,
    "rate_repeats": 5,
    "heap_report_s": 0.2,
}
QUICK = {
    "heartbeats": 3,
    "bisect_span": 1 << 20,
    "bisect_resolution": 1024,
    "bisect_steps": 1,
    "parallel": 2,
    "warm_up": 10,
    "live_round_trips": 50,
    "startups": 1,
    "rate_round_trips": 20,
    "rate_repeats": 1,
    "heap_report_s": 0.05,
}

KB = 1024
# Budgets on the 32-bit port, as on an ESP32 (issue 14): goals, not tests.
# (build name, measure, bytes)
GOALS = (
    ("frozen-32", "heap", 48 * KB),
    ("frozen-32", "idle", 24 * KB),
    ("ROMFS-32", "heap", 72 * KB),
    (".mpy-32", "heap", 90 * KB),
)
# The Python heap of an ESP32 without PSRAM after its first growth
# (ports/esp32: 56 KB at start, grown on demand; ../shared/heap-32bit.md).
ESP32_HEAP = 111936
# Who each 32-bit build stands for (README, Which deployment fits which
# board), in the order a user tries them: the stock firmware first.
DEPLOYMENTS = (
    (".mpy-32", "stock MicroPython firmware (micropython.org)", "`make deploy`: `.mpy` files on the filesystem"),
    ("ROMFS-32", "a firmware you build with ROMFS and `manifest_romfs.py`", "`make deploy-romfs`: a ROMFS image"),
    ("frozen-32", "a firmware you build with `manifest.py`", "frozen into the firmware image"),
)


def heap_report(fw, after=2, timeout=10):
    """(alloc, free) from the `after`-th heap line logged from now on."""
    seen = sum(1 for _, line in list(fw.lines) if "diag: heap alloc=" in line)
    m = fw.wait_log(r"diag: heap alloc=(\d+) free=(\d+)", timeout, count=seen + after)
    return int(m.group(1)), int(m.group(2))


def _cp_id(prefix, build):
    return prefix + re.sub(r"[^A-Z0-9]", "", build.name.upper())


def idle_heap(cs, build, workdir, report_s=FULL["heap_report_s"], config=None):
    """The live heap (bytes, after gc.collect()) idle after boot: registered
    and its StatusNotifications answered, minus the build's image block.
    The same figure as live_heap()'s "idle" (the same charge point id: its
    length shows in the heap)."""
    cp_id = _cp_id("LIVE", build)
    fw = common.start_firmware(workdir, cs, build, cp_id, config=common.merge(config or {}, {"log": {"heapInterval": report_s}}))
    try:
        traffic.registered(cs, fw, cp_id)
        return heap_report(fw)[0] - build.live_offset
    finally:
        fw.stop()


def live_heap(cs, build, warm_up, round_trips, workdir, report_s):
    """Live heap after gc.collect(): idle after boot, after a first burst of
    `warm_up` GetConfiguration calls (the module is imported on first use),
    and after `round_trips` more. Both later readings follow a pipelined
    burst: the heap holds 32 B more after a burst of 100 than after a single
    call, whatever the burst's length, so like is compared with like."""
    cp_id = _cp_id("LIVE", build)
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
        cp_id = _cp_id("UP", build) + str(i)
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


def other_ports(args, notes):
    """The optional builds of other interpreters: [(kind, path, word)] that
    passed their checks; every skipped one leaves a note saying why."""
    wanted = []
    if args.micropython32:
        wanted += [(".mpy", args.micropython32, 4), ("ROMFS", args.micropython32_romfs or args.micropython32, 4)]
        if not args.micropython32_romfs:
            notes.append(
                "32-bit ROMFS column on the plain port: the charger's names are in its heap, where a ROMFS firmware holds them in flash"
                " (manifest_romfs.py; make bench MICROPYTHON32_ROMFS=/path/to/micropython-romfs)."
            )
    else:
        notes.append("32-bit .mpy and ROMFS columns skipped: no 32-bit unix port given (make bench MICROPYTHON32=/path/to/micropython).")
    if args.micropython32_frozen:
        wanted.append(("frozen", args.micropython32_frozen, 4))
    else:
        notes.append("32-bit frozen column skipped: no 32-bit unix port with lib/ frozen in given (make bench MICROPYTHON32_FROZEN=/path/to/micropython).")
    if args.micropython64_frozen:
        wanted.insert(0, ("frozen", args.micropython64_frozen, 8))
    emitted = common.mpy_cross_version()
    newest = max(p.stat().st_mtime for p in (REPO / "lib").rglob("*.py"))
    ok = []
    for kind, path, word in wanted:
        what = "%d-bit %s" % (word * 8, kind)
        try:
            info = common.port_info(path)
        except (OSError, RuntimeError, ValueError) as e:
            notes.append("%s column skipped: %s does not run (%s)." % (what, path, e))
            continue
        if info["word"] != word:
            notes.append("%s column skipped: %s is a %d-bit build." % (what, path, info["word"] * 8))
            continue
        if kind in (".mpy", "ROMFS") and info["mpy"] != emitted:
            notes.append("%s column skipped: %s loads .mpy v%d.%d, mpy-cross emits v%d.%d." % ((what, path) + info["mpy"] + emitted))
            continue
        if kind == "ROMFS" and path == args.micropython32_romfs:
            if common.ROMFS_NAMES not in common.frozen_modules(path):
                notes.append("%s column skipped: %s lacks frozen %s (freeze it as manifest_romfs.py does)." % (what, path, common.ROMFS_NAMES))
                continue
            if os.stat(path).st_mtime < newest:
                notes.append("%s: %s is older than the newest file under lib/; its names may miss new ones (rebuild it)." % (what, path))
        if kind == "frozen":
            missing = sorted(set(modules.lib_modules()) - common.frozen_modules(path))
            if missing:
                notes.append("%s column skipped: %s lacks frozen %s (freeze lib/ as manifest.py does)." % (what, path, ", ".join(missing[:5])))
                continue
            if os.stat(path).st_mtime < newest:
                notes.append("%s: %s is older than the newest file under lib/; rebuild it if lib/ changed since." % (what, path))
        ok.append((kind, path, word, info))
    return ok


@contextlib.contextmanager
def _central(pki=None):
    """A central system for one stage, stopped after it: plain (yields it),
    or with pki a directory, the TLS one (yields it and the wss:// config)."""
    if pki is None:
        cs = common.start_cs()
        got = cs
    else:
        cs, wss = common.start_tls_cs(pki)
        got = (cs, wss)
    try:
        yield got
    finally:
        cs.stop()


class Stages:
    """One progress line per stage: its number, the total and the time so far."""

    def __init__(self, total, log):
        self.total, self.log, self.done, self.t0 = total, log, 0, time.monotonic()
        self.lock = threading.Lock()

    def next(self, what):
        with self.lock:
            self.done += 1
            self.log("run.py [%d/%d] %s (%.0f s so far)" % (self.done, self.total, what, time.monotonic() - self.t0))


def measure(sizes, args, log=print):
    out = {"notes": []}
    ports = other_ports(args, out["notes"])
    # The total is known once the builds are: 3 stages each, 2 more each
    # over wss://, the rate and the breakdown, and this first one.
    n, n_tls = 3 + len(ports), 1 + sum(1 for p in ports if p[2] == 4)
    # The ESP32 twin, once per 32-bit build (bench/twin.py).
    n_twin = sum(1 for p in ports if p[2] == 4 and p[0] in (".mpy", "ROMFS", "frozen"))
    stages = Stages(1 + 3 * n + 2 * n_tls + 2 + n_twin, log)
    stages.next("compiling lib/ for %d builds" % n)
    with tempfile.TemporaryDirectory(prefix="uocpp-bench-") as tmp:
        tmp = Path(tmp)
        src = common.source_build()
        mpy = common.mpy_build(tmp / "mpy")
        rom = common.romfs_build(mpy, tmp / "rom")
        builds = [src, mpy, rom]
        out["flash", 8] = common.mpy_sizes(mpy)
        out["image", 8] = Path(rom.env["OCPP_ROMFS"]).stat().st_size
        for kind, path, word, info in ports:
            if kind == ".mpy":
                b = common.mpy_build(tmp / ("mpy%d" % word), micropython=path, word=word)
                out["flash", word] = common.mpy_sizes(b)
                builds.append(b)
            elif kind == "ROMFS":
                b = common.romfs_build([x for x in builds if x.kind == ".mpy" and x.word == word][0], tmp / ("rom%d" % word), micropython=path)
                out["image", word] = Path(b.env["OCPP_ROMFS"]).stat().st_size
                builds.append(b)
            else:
                builds.append(common.frozen_build(path, word))
        out["builds"] = builds
        out["versions"] = {b.name: common.micropython_version(b.micropython) for b in builds}
        tls_builds = [b for b in builds if not (b.kind == ".py" or (b.word == 8 and b.kind != ".mpy"))]
        assert (len(builds), len(tls_builds)) == (n, n_tls), "the stage count is off"
        # A central system of its own for each stage: it keeps every frame,
        # and each wait scans them, so one shared by the whole run (10,000
        # round trips per build) made every later step slower.
        with _central() as cs:
            # Live heap first: each build's idle figure brackets its bisection.
            for b in builds:
                stages.next("live heap, %s (%d round trips)" % (b.label, sizes["live_round_trips"]))
                live = live_heap(cs, b, sizes["warm_up"], sizes["live_round_trips"], tmp / ("live" + b.name), sizes["heap_report_s"])
                out["live", b.name] = {k: v - b.live_offset for k, v in live.items() if k != "seconds"}

        def heap(b, tls, key, what, low, span):
            stages.next("smallest heap%s, %s" % (what, b.label))
            with _central(tmp / ("pki" + b.name) if tls else None) as got:
                server, config = got if tls else (got, None)
                found, runs = session.smallest_heap(
                    server,
                    b,
                    low=low,
                    high=low + span,
                    resolution=sizes["bisect_resolution"],
                    heartbeats=sizes["heartbeats"],
                    max_steps=sizes["bisect_steps"],
                    config=config,
                    low_fails=True,
                )
            out[key, b.name] = found - b.heap_offset
            return found

        def heaps(b):
            # ws:// bracketed by the build's live heap idle (nothing completes
            # below it), then wss:// by the ws:// figure (TLS only adds to
            # it) and a quarter of the span (it adds a few KB; the bracket
            # doubles if that is short): four bisection steps fewer.
            found = heap(b, False, "heap", "", out["live", b.name]["idle"] + b.live_offset, sizes["bisect_span"])
            if b in tls_builds:
                heap(b, True, "tls heap", " over wss://", found - sizes["bisect_resolution"], sizes["bisect_span"] // 4)

        # Heap figures do not depend on timing: bisections run side by side.
        with concurrent.futures.ThreadPoolExecutor(sizes["parallel"]) as pool:
            for f in [pool.submit(heaps, b) for b in builds]:
                f.result()
        with _central(tmp / "pki") as (tls, wss):
            for b in tls_builds:
                stages.next("live heap idle over wss://, %s" % b.label)
                out["tls idle", b.name] = idle_heap(tls, b, tmp / ("tls" + b.name), sizes["heap_report_s"], wss)
        # Timed measures last, one at a time.
        for b in builds:
            stages.next("start-up, %s (median of %d)" % (b.label, sizes["startups"]))
            with _central() as cs:
                out["startup", b.name] = startup_ms(cs, b, sizes["startups"], tmp / ("up" + b.name))
        stages.next("message rate: firmware (64-bit .mpy) and CPython peer")
        with _central() as cs:
            out["rates"] = message_rates(cs, mpy, sizes["rate_round_trips"], sizes["rate_repeats"], tmp / "rate")
        # What the ESP32 code path (the twin: pilot, relay, Modbus meter, card
        # reader, Wi-Fi) holds idle above the unix port's simulator: the
        # smallest heaps above are the unix port's, a board needs this more.
        for b in builds:
            if b.word == 4 and b.kind in (".mpy", "ROMFS", "frozen"):
                stages.next("the ESP32 twin's extra idle heap, %s" % b.label)
                with _central() as cs:
                    out["twin", b.name] = twin.esp32_extra(cs, b, str(tmp / ("twin" + b.name)))
        stages.next("per-module breakdown")
        with _central() as cs:
            out["modules"] = modules.breakdown(cs, [b for b in builds if b.kind != ".py"], tmp / "modules", log)
    return out


def _kb(n):
    return "%.1f KB" % (n / KB)


_KIND_LABEL = {".py": ".py sources", ".mpy": ".mpy files", "ROMFS": "ROMFS image (code in place)", "frozen": "frozen into the interpreter"}


def _goal(build, measure):
    for name, what, limit in GOALS:
        if name == build.name and what == measure:
            return limit
    return None


# A smallest heap moves by about ±1.5 KB between bisections of the same tree
# (fragmentation decides where a session fails), so one bisection within
# this of its goal does not show the goal met; the live heap is exact.
_NOISE = 2 * KB


def _verdict(measure, value, limit):
    if value > limit:
        return "not met"
    if measure == "heap" and value > limit - _NOISE:
        return "at the goal, within a bisection's noise: not shown met"
    return "met"


def _with_goal(build, measure, value):
    limit = _goal(build, measure)
    text = _kb(value)
    if limit is not None:
        text += " (goal ≤ %d KB: %s)" % (limit // KB, _verdict(measure, value, limit))
    return text


def _ordered(builds):
    # The 32-bit builds (as on an ESP32) first, the 64-bit wheel's beside them.
    return sorted(builds, key=lambda b: b.word != 4)


def table(out, sizes):
    builds = _ordered(out["builds"])
    names = [b.name for b in builds]
    head = ["Measure"] + ["%d-bit %s" % (b.word * 8, _KIND_LABEL[b.kind]) for b in builds] + ["Goal"]
    rows = [head, ["---"] * len(head)]

    def row(label, values, goal=""):
        rows.append([label] + list(values) + [goal])

    def only(name, text):
        return [text if n == name else "" for n in names]

    live = [out["live", n] for n in names]
    row("Smallest heap (`-X heapsize`) for the scripted session", [_with_goal(b, "heap", out["heap", b.name]) for b in builds])
    row("Live heap, idle after boot", [_with_goal(b, "idle", v["idle"]) for b, v in zip(builds, live)])
    peers = {(b.kind, b.word): b.name for b in builds}
    if any(b.word == 4 for b in builds):
        ratio = [
            ("%.2f / %.2f" % (out["heap", b.name] / out["heap", peers[b.kind, 8]], out["live", b.name]["idle"] / out["live", peers[b.kind, 8]]["idle"]))
            if b.word == 4 and (b.kind, 8) in peers
            else ""
            for b in builds
        ]
        row("32-bit / 64-bit: smallest heap / live heap idle", ratio)
    tls = [("tls heap", b.name) in out for b in builds]
    row("Smallest heap for the session over wss:// (security profile 2, TLS)", [_kb(out["tls heap", b.name]) if t else "" for b, t in zip(builds, tls)])
    row(
        "Live heap, idle after boot, over wss://",
        [
            _kb(out["tls idle", b.name]) + " (%+.1f KB)" % ((out["tls idle", b.name] - out["live", b.name]["idle"]) / KB) if t else ""
            for b, t in zip(builds, tls)
        ],
    )
    row("Live heap after the first %d GetConfiguration round trips (imports its module)" % sizes["warm_up"], [_kb(v["first"]) for v in live])
    n = format(sizes["live_round_trips"], ",")
    row("Live heap after %s more round trips" % n, [_kb(v["after"]) for v in live])
    row("Growth over those %s round trips" % n, ["%+d B" % (v["after"] - v["first"]) for v in live], "0 B")
    row("Start-up to BootNotification on the wire (median of %d)" % sizes["startups"], ["%.0f ms" % out["startup", n] for n in names])
    flash = []
    for b in builds:
        if b.kind == ".mpy":
            f = out["flash", b.word]
            flash.append("%s B in %d files" % (format(sum(f.values()), ","), len(f)))
        elif b.kind == "ROMFS":
            flash.append("%s B image" % format(out["image", b.word], ","))
        elif b.kind == "frozen":
            flash.append("in the interpreter")
        else:
            flash.append("")
    row("Flash: lib/ (uocpp, umqtt, microdot) compiled with mpy-cross", flash)
    (fw_rate, fw_cpu), (peer_rate, peer_cpu) = out["rates"]["fw"], out["rates"]["peer"]
    m = "%s GetConfiguration calls pipelined, median of %d batches" % (format(sizes["rate_round_trips"], ","), sizes["rate_repeats"])
    row("Round trips/s, this firmware on MicroPython (%s)" % m, only(".mpy", "%.0f" % fw_rate), "≥ CPython peer")
    row("Round trips/s, `ocpp` package charge point on CPython", only(".mpy", "%.0f" % peer_rate))
    row("Ratio of round trips/s, firmware / CPython peer", only(".mpy", "%.2f" % (fw_rate / peer_rate)), "≥ 1")
    row("CPU time per round trip in the charge point's process, firmware / CPython peer", only(".mpy", "%.0f µs / %.0f µs" % (fw_cpu, peer_cpu)))
    lines = ["| " + " | ".join(r) + " |" for r in rows]
    top = sorted(((k, v) for k, v in out["flash", 8].items() if k.startswith("uocpp/")), key=lambda kv: -kv[1])[:5]
    lines.append("")
    lines.append("Largest modules of the firmware (.mpy, 64-bit): " + ", ".join("%s %s B" % (name, format(size, ",")) for name, size in top))
    return "\n".join(lines)


def goals(out):
    """One line per budget: the figure beside it, met or not (or not measured)."""
    names = {b.name: b for b in out["builds"]}
    what = {"heap": "smallest heap", "idle": "live heap idle after boot"}
    lines = []
    for name, measure, limit in GOALS:
        kind = name.split("-")[0]
        label = "32-bit %s, %s ≤ %d KB" % (_KIND_LABEL[kind], what[measure], limit // KB)
        if name not in names:
            lines.append("- %s: not measured" % label)
            continue
        value = out["heap", name] if measure == "heap" else out["live", name]["idle"]
        lines.append("- %s: %s, **%s**" % (label, _kb(value), _verdict(measure, value, limit)))
    return "\n".join(lines)


def module_table(out):
    """The per-module breakdown: bytes each module adds to the live heap when
    imported, in load order, per build; then the rest of the live heap."""
    mods = out["modules"]
    builds = [b for b in _ordered(out["builds"]) if b.label in mods["cost"]]
    head = ["Module (load order)"] + [b.label for b in builds]
    rows = [head, ["---"] + ["---:"] * len(builds)]

    def own(b, m):
        # The module's own objects; interned names are counted apart.
        v = mods["cost"][b.label].get(m)
        return v - mods["qstr"][b.label].get(m, 0) if v else None

    def cell(b, m):
        v = own(b, m)
        text = format(v, ",") if v else "·"
        if m in mods["peak"][b.label]:
            text += " (%s while loaded)" % format(mods["peak"][b.label][m], ",")
        return text

    def qstrs(names):
        return [format(sum(mods["qstr"][b.label].get(m, 0) for m in names), ",") for b in builds]

    def section(title, names):
        rows.append(["*%s*" % title] + [""] * len(builds))
        for m in names:
            label = "`%s`" % m + (" (unloaded after boot)" if m in mods["unloaded"] else "")
            rows.append([label] + [cell(b, m) for b in builds])

    boot = mods["boot"]
    section("loaded at boot", boot)
    rows.append(["interned names (qstr pools) of the modules above"] + qstrs(boot))
    totals = [sum(v for m, v in mods["cost"][b.label].items() if m in boot and v) for b in builds]
    base = [mods["base"][b.label] for b in builds]
    idle = [out["live", b.name]["idle"] for b in builds]
    rows.append(["**modules loaded at boot, all told**"] + ["**%s**" % format(t, ",") for t in totals])
    rows.append(["the interpreter before any import"] + [format(x, ",") for x in base])
    rows.append(["runtime state (live heap after boot − modules − interpreter)"] + [format(i - t - x, ",") for i, t, x in zip(idle, totals, base)])
    rows.append(["**live heap, idle after boot**"] + ["**%s**" % format(i, ",") for i in idle])
    section("not loaded at boot with this config (on first use, or when configured)", mods["later"])
    rows.append(["interned names (qstr pools) of the modules above"] + qstrs(mods["later"]))
    lines = ["| " + " | ".join(r) + " |" for r in rows]
    lines.append("")
    lines.append(
        "Bytes of live heap each module adds when imported after the ones above it, gc.collect() before and after"
        " (· = nothing of its own: loaded with the one before, or not importable on the unix port)."
        " Interned names (qstrs: identifiers and strings of up to 10 characters) are shown apart: their pools grow by"
        " doubling, so one module would pay for the next pool; they stay interned even when their module is unloaded."
        " Frozen code keeps its names, strings and bytecode in the firmware image."
    )
    return "\n".join(lines)


def header(out):
    v = out["versions"]
    text = "uOCPP benchmark, %s; %s, %d CPUs; MicroPython %s (PyPI wheel, unix port, 64-bit)" % (
        datetime.date.today().isoformat(),
        common.cpu_model(),
        os.cpu_count(),
        v[".mpy"],
    )
    # The other interpreters: each version once, with the builds run on it.
    binaries = {}
    for b in out["builds"]:
        if b.micropython != common.MICROPYTHON:
            what = "%d-bit%s" % (b.word * 8, " frozen" if b.kind == "frozen" else "")
            binaries.setdefault(v[b.name], [])
            if what not in binaries[v[b.name]]:
                binaries[v[b.name]].append(what)
    for version, whats in sorted(binaries.items()):
        text += " and %s (unix port built from source: %s)" % (version, ", ".join(whats))
    return text + "; CPython %s" % sys.version.split()[0]


def deployments(out):
    """Which deployment fits which board: the 32-bit figures per deployment,
    against an ESP32's Python heap without PSRAM."""
    names = {b.name for b in out["builds"]}
    rows = [
        (
            "Firmware on the ESP32",
            "Deployment",
            "Smallest heap, scripted session (32-bit)",
            "The same over wss://",
            "Live heap idle after boot",
            "The ESP32 code path's extra (twin, idle)",
            "In a plain ESP32's %s B heap (smallest + extra)" % format(ESP32_HEAP, ","),
        ),
        ("---",) * 7,
    ]
    first = None
    for name, board, how in DEPLOYMENTS:
        if name not in names:
            rows.append((board, how, "not measured", "", "", "", ""))
            continue
        # The session is measured on the unix port's simulator; the twin says
        # what the ESP32's drivers hold on top, for each build.
        extra = out.get(("twin", name))
        extra = extra and extra[3]  # twin less its own less unix
        shown = _kb(extra) if extra is not None else "not measured"
        need = max(out["heap", name], out.get(("tls heap", name), 0)) + (extra or 0)
        spare = ESP32_HEAP - need
        fits = "fits, %.0f KB to spare" % (spare / KB) if spare > 0 else "does not fit (%.0f KB short)" % (-spare / KB)
        if spare > 0 and first is None:
            first = how
        tls = _kb(out["tls heap", name]) if ("tls heap", name) in out else ""
        rows.append((board, how, _kb(out["heap", name]), tls, _kb(out["live", name]["idle"]), shown, fits))
    text = "\n".join("| " + " | ".join(r) + " |" for r in rows)
    # The advice is derived from the rows, so no text can contradict them.
    if first:
        advice = "On a plain ESP32 (no PSRAM) take the first way that fits: %s. A board with PSRAM fits every way." % first
    elif len(rows) - 2 == len(DEPLOYMENTS) and all(r[2] != "not measured" for r in rows[2:]):
        advice = "On a plain ESP32 (no PSRAM) no way fits this scripted session: use a board with PSRAM."
    else:
        advice = "Not every way was measured (the 32-bit builds were not given to the bench): see the notes of docs/performance.md."
    return text + "\n\n" + advice


def report(out, sizes, seconds, quick):
    parts = [header(out), "", table(out, sizes), ""]
    parts += ["Goals on the 32-bit port (as on an ESP32):", "", goals(out), ""]
    for note in out["notes"]:
        parts.append("Note: " + note)
    if out["notes"]:
        parts.append("")
    parts += ["Per-module breakdown of the live heap after boot:", "", module_table(out), ""]
    parts.append(
        "(%s in %.0f s; scripted session: boot, %d triggered Heartbeats, GetConfiguration of all keys, a ChangeConfiguration, a TriggerMessage)"
        % ("quick run" if quick else "full run", seconds, sizes["heartbeats"])
    )
    return "\n".join(parts)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny sizes, for the smoke test")
    ap.add_argument("--micropython32", metavar="PATH", help="a 32-bit build of the MicroPython unix port: adds the 32-bit .mpy and ROMFS columns")
    ap.add_argument("--micropython32-frozen", metavar="PATH", help="a 32-bit unix port with lib/uocpp and lib/umqtt frozen in: adds the 32-bit frozen column")
    ap.add_argument(
        "--micropython32-romfs",
        metavar="PATH",
        help="a 32-bit unix port with the charger's names frozen in (manifest_romfs.py): the 32-bit ROMFS column runs on it, as on a ROMFS firmware",
    )
    ap.add_argument("--micropython64-frozen", metavar="PATH", help="optional: a 64-bit unix port with lib/ frozen in")
    ap.add_argument(
        "--write-readme", action="store_true", help="also write the tables into their marked blocks: docs/performance.md's and README.md's deployment table"
    )
    ap.add_argument(
        "--save",
        metavar="FILE",
        help="also write to FILE (JSON, by build name) each build's smallest heap and its twin figures, which bench/fit.py and bench/twin.py"
        " --measured take instead of measuring again (make bench: one figure per build in every table)",
    )
    args = ap.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    logging.getLogger("ocpp").setLevel(logging.CRITICAL)  # failed sessions are expected while bisecting
    t0 = time.monotonic()
    out = measure(sizes, args, log=lambda msg: print(msg, file=sys.stderr, flush=True))
    if args.save:
        saved = {what: {k[1]: v for k, v in out.items() if isinstance(k, tuple) and k[0] == what} for what in ("heap", "twin")}
        Path(args.save).write_text(json.dumps(saved))
    text = report(out, sizes, time.monotonic() - t0, args.quick)
    print(text)
    print()
    print("Which deployment fits which board (32-bit figures):")
    print()
    print(deployments(out))
    if args.write_readme:
        common.write_blocks({"run": text, "deploy": deployments(out)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
