"""Per-module breakdown of the live heap after boot.

Two steps. First the firmware boots once under bench/import_trace.py, which
records the order in which modules finish loading and which of them are
still loaded at the first heap report. Then, for each build, a fresh
interpreter (bench/import_cost.py) imports those modules one by one in that
order, each after gc.collect(), so that each figure is what that module adds
by itself: its bytecode (unless the build keeps code out of the heap), its
functions, classes, tables and interned names. What the live heap after boot
holds beyond the interpreter and these imports is the firmware's runtime
state (settings, the app's objects, tasks, the connection's buffers).

A module the boot loads and unloads again (the config declarations) is
unloaded the same way at its place in the order; its figure is what it leaves
behind. Those loaded only later (an operation on first use, Wi-Fi, the
modem, TLS, the MQTT mirror) are measured after the boot modules and listed
apart.

Host-side only; nothing here goes to the device.
"""

import os
import re
import subprocess
import tempfile
from pathlib import Path

from bench import common, traffic

LIB = common.REPO / "lib"


def trace(cs, build, workdir, timeout=15, twin=False):
    """(modules in load order, those of them unloaded again) from one boot
    of `build` (its source tree is what counts); twin: on the ESP32 twin
    (its pilot, Modbus meter, card reader and Wi-Fi), not the unix port."""
    out = Path(workdir) / "import-trace.txt"
    config = {"log": {"heapInterval": 0.05}}
    if twin:
        from harness.firmware import FAST, merge
        from harness.twin.firmware import TwinFirmware

        config = merge(FAST, dict(config, centralSystem={"url": "ws://127.0.0.1:%d/ocpp" % cs.port, "chargePointId": "TRACE"}))
        fw = TwinFirmware(workdir, config, env=dict(build.env, MICROPYTHON=build.micropython, MICROPYPATH=build.micropypath))
        common.link_lib(build, fw.workdir)
    else:
        fw = common.make_firmware(workdir, cs, build, "TRACE", config=config)
        fw.env["OCPP_MAIN"] = build.main
        fw.argv = [build.micropython, str(common.REPO / "bench" / "import_trace.py")]
    fw.env["OCPP_IMPORT_TRACE"] = str(out)
    fw.start()
    try:
        traffic.registered(cs, fw, "TRACE", timeout=30 if twin else 10)
        fw.wait_log(r"diag: heap alloc=", timeout)
    finally:
        fw.stop()
    text = out.read_text()
    if "-- boot\n" not in text:
        raise RuntimeError("the import trace has no boot section:\n" + text)
    loaded, _, after = text.partition("-- boot\n")
    order = [m for m in loaded.split("\n") if m]
    boot = set(m for m in after.split("\n") if m)
    return order, [m for m in order if m not in boot]


def lib_modules():
    """Every importable module under lib/ (package __init__ as the package)."""
    names = []
    for py in sorted(LIB.rglob("*.py")):
        parts = list(py.relative_to(LIB).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names.append(".".join(parts))
    return names


def costs(build, names, timeout=60):
    """(interpreter's own live heap, {module: bytes or None}, {module: bytes
    of it in interned-name pools}, {unloaded module: bytes while loaded}) for
    `build`. A name ending in "!" is unloaded after its import, as the
    firmware does; its figure is then what stays. None marks a module
    already loaded by an earlier one, or not importable on this port."""
    env = dict(build.env, MICROPYPATH=build.micropypath)
    with tempfile.TemporaryDirectory(prefix="bench-imports-") as tmp:
        common.link_lib(build, tmp)
        proc = subprocess.run([build.micropython, str(common.REPO / "bench" / "import_cost.py")] + list(names), capture_output=True, text=True, timeout=timeout, env=dict(os.environ, **env), cwd=tmp)
    if proc.returncode != 0:
        raise RuntimeError("import_cost.py failed on %s: %s" % (build.name, (proc.stdout + proc.stderr)[-2000:]))
    base, got, qstr, peak = None, {}, {}, {}
    name, last = None, 0
    for line in proc.stdout.splitlines():
        if line.startswith("qstr pool:"):
            total = int(re.search(r"n_total_bytes=(\d+)", line).group(1))
            if build.kind == "ROMFS":
                # The names' text stays in the image (qstr_from_strn_static):
                # only the pools' tables are heap.
                total -= int(re.search(r"n_str_data_bytes=(\d+)", line).group(1))
            if name is not None:
                qstr[name] = total - last
            name, last = None, total
        elif line.startswith("-- base "):
            base = int(line.split()[2])
        elif line.startswith("-- peak "):
            peak[line.split()[2]] = int(line.split()[3])
        elif line.startswith("-- "):
            name = line.split()[1]
            got[name] = None
        else:
            name, n = line.rsplit(" ", 1)
            got[name] = int(n) or None
    return base - build.live_offset, got, qstr, peak


def breakdown(cs, builds, workdir, log=print):
    """{"boot": modules loaded at boot in load order, "unloaded": those of
    them unloaded after boot, "later": the rest of lib/, "base": {build: B},
    "cost", "qstr", "peak": {build: {module: B}}} for the given builds
    (keyed by their labels); see costs()."""
    src = common.source_build()
    boot, unloaded = trace(cs, src, Path(workdir) / "trace")
    later = [m for m in lib_modules() if m not in boot]
    out = {"boot": boot, "unloaded": unloaded, "later": later, "base": {}, "cost": {}, "qstr": {}, "peak": {}}
    names = [m + "!" if m in unloaded else m for m in boot] + later
    for b in builds:
        log("per-module breakdown, %s ..." % b.label)
        out["base"][b.label], out["cost"][b.label], out["qstr"][b.label], out["peak"][b.label] = costs(b, names)
    return out
