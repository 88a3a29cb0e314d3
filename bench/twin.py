"""The ESP32 twin's heap (issues 23 and 24): the live heap of the whole
firmware idle after boot, on the ESP32 platform code (tools/twin: stand-ins
for machine, network and esp32, the ESP32 EVSE driver sampling its pilot, the
SDM120 over Modbus RTU, Wi-Fi, the watchdog) beside the same figure on the
unix port's simulator, from the firmware's own heap report (log.heapInterval).
The difference, less the stand-ins' own code (C on a board), is what the ESP32
code path holds above the unix port's: the bench's smallest heaps are
measured on the unix port, so a board needs that much more (bench/run.py adds
it to the deployment table's verdict). Per build: the 64-bit sources (the
suite's), and with --micropython32 / --frozen32 the 32-bit .mpy files as
`make deploy` ships them (--romfs: and as a ROMFS image) and lib/ frozen in:
the nearest to an ESP32's heap.

    .venv/bin/python bench/twin.py [--micropython32 PATH [--romfs]] [--frozen32 PATH]
"""

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tools"))

from central_system import CentralSystemThread  # noqa: E402

from bench import common, session  # noqa: E402
from harness.firmware import FAST, Firmware, merge  # noqa: E402
from harness.twin.firmware import TwinFirmware  # noqa: E402


def idle_heap(cs, cls, build, workdir):
    """(live heap idle after boot, interned names idle, stand-in objects) of
    `build` (bench/common.py's Build) on the unix port's simulator (Firmware)
    or the twin (TwinFirmware); stand-in objects: {class: count}, the twin's
    report (harness/twin/board/_wire.py), else {}."""
    cfg = merge(FAST, {"centralSystem": {"url": "ws://127.0.0.1:%d/ocpp" % cs.port}, "log": {"level": "info", "heapInterval": 1}})
    fw = cls(workdir, cfg, env=dict(build.env, MICROPYTHON=build.micropython, MICROPYPATH=build.micropypath))
    common.link_lib(build, fw.workdir)  # a relative MICROPYPATH (lib) is the working directory's
    if cls is Firmware:
        fw.argv = [build.micropython, build.main]
    fw.start()
    try:
        fw.wait_log("registration Accepted", timeout=30)
        made = {}
        if cls is TwinFirmware:
            m = fw.wait_log(r"twin: stand-in objects(.*)", 20)
            made = {k: int(v) for k, v in (w.split("=") for w in m.group(1).split())}
        seen = sum(1 for _, line in list(fw.lines) if "diag: heap alloc=" in line)
        m = fw.wait_log(r"diag: heap alloc=(\d+) free=(\d+)", 20, count=seen + 3)
        names = int(fw.wait_log(r"^qstr pool: .*n_qstr=(\d+)", 20, count=seen + 3).group(1))
        return int(m.group(1)) - build.live_offset, names, made
    finally:
        fw.stop()


def esp32_extra(cs, build, workdir):
    """(unix port idle, twin idle, stand-ins, extra, unix names, twin names,
    stand-ins' names, twin names less the stand-ins', pool): bytes, then
    interned names (n_qstr) idle, then bytes.
    extra is what the ESP32 code path holds idle above the unix port's
    simulator, less what is the twin's own: the stand-ins' code and their
    objects (C on a board), and the twin's boot script. The interned names'
    1,280-entry pool is in extra only when a board needs it and the unix
    port's session does not: the twin's own names (the stand-ins') can take
    it over the 1,260-name boundary where a board, without them, stays
    below it through the session, and a board can cross it in the session
    where the twin idle does not (pool: what that changed, in bytes)."""
    unix, unix_names, _ = idle_heap(cs, Firmware, build, os.path.join(workdir, "unix"))
    twin, twin_names, made = idle_heap(cs, TwinFirmware, build, os.path.join(workdir, "twin"))
    stand, stand_names = standins(build.micropython, made)
    board = twin_names - stand_names
    # A board's names with a session's: the unix port's session adds the
    # same (uocpp/main.py makes a session's names at boot on both). A build
    # whose names are in flash (frozen, a ROMFS firmware) is so far below
    # the boundary that no session takes it there: not run (make bench's
    # time).
    pool = 0
    if twin_names > POOL_NAMES // 2:
        idle, after = session.names(cs, build, 3, Path(workdir) / "names")
        pool = pool_change(twin_names, unix_names, board + after - idle, after)
    if pool:
        pool *= pool_bytes(build.micropython, build.word)
    return unix, twin, stand, twin - stand - unix + pool, unix_names, twin_names, stand_names, board, pool


# The interned names' pools (docs/memory.md): the first six dynamic pools
# hold 1,260 names; the 1,261st allocates one of 1,280 entries in one block.
POOL_NAMES = 1260


def pool_change(twin_idle, unix_idle, board_after, unix_after):
    """-1, 0 or 1: how many 1,280-entry pools to add to the twin's extra
    (twin idle less unix idle) so that it holds the pool exactly when a board
    needs it through the session and the unix port's session does not (the
    smallest heap, measured there, counts it then)."""
    has = (twin_idle > POOL_NAMES) - (unix_idle > POOL_NAMES)
    wants = (board_after > POOL_NAMES) - (unix_after > POOL_NAMES)
    return wants - has


POOL = """
import gc
class O:
    pass
o = O()
gc.collect()
prev = gc.mem_alloc()
for i in range(2000):
    name = "zq%d" % i
    setattr(o, name, 0)  # interns the name
    delattr(o, name)
    name = None
    gc.collect()
    now = gc.mem_alloc()
    print("grew", now - prev)
    prev = now
"""


def pool_bytes(micropython, word):
    """The block the 1,261st interned name allocates on this port (its 1,280
    entries: a hash, a length and a pointer each, and the pool's header),
    measured: the one growth of that size while 2,000 names are interned."""
    import re
    import subprocess

    out = subprocess.run([micropython, "-c", POOL], capture_output=True, text=True, timeout=60).stdout
    entries = 1280 * (word + 3)
    for grew in (int(g) for g in re.findall(r"^grew (-?\d+)", out, re.M)):
        if entries <= grew < entries + 16 * word:
            return grew
    raise SystemExit("bench/twin.py: no growth of about %d B (the 1,280-entry pool) while interning names on %s" % (entries, micropython))


# What the twin holds that a board does not, measured on the same build: the
# stand-ins' code (C in a board's ROM) and the twin's boot script, with the
# names they intern (a board's machine and network have theirs built in),
# then one instance of each stand-in class (a board's are C objects of a few
# words, or none: a Pin is a constant there), made with the wire to the
# model stubbed. The twin's report says how many of each the firmware made.
STANDINS = """
import gc, micropython, _wire
def names():
    micropython.qstr_info()
gc.collect()
a = gc.mem_alloc()
names()
import machine, network, esp32, ntptime, socket
with open(%r) as f:
    boot = compile(f.read(), "twin_boot.py", "exec")
gc.collect()
names()
print("code", gc.mem_alloc() - a)
_wire.ask = lambda line: "/dev/null" if line.startswith("uart") else "0"
machine.ask = network.ask = _wire.ask
machine._raw = lambda fd, baud: None
pin = machine.Pin(5)
make = {
    "Pin": lambda: machine.Pin(5, machine.Pin.OUT, value=0),
    "PWM": lambda: machine.PWM(pin, freq=1000, duty_u16=0),
    "ADC": lambda: machine.ADC(pin),
    "UART": lambda: machine.UART(1, baudrate=9600, tx=17, rx=16, timeout=0),
    "SPI": lambda: machine.SPI(1),
    "WDT": lambda: machine.WDT(timeout=5000),
    "WLAN": lambda: network.WLAN(network.STA_IF),
}
kept = [None] * 16  # every object stays alive: a freed one would be counted against the next
i = 0
for name, new in make.items():
    kept[i] = new()  # the first of a class also grows _wire.made
    gc.collect()
    a = gc.mem_alloc()
    kept[i + 1] = new()
    i += 2
    gc.collect()
    print("object", name, gc.mem_alloc() - a)
"""


def standins(micropython, made):
    """(bytes, names) the stand-ins and the twin's boot script hold in the
    twin's process, with `made` ({class: count}) stand-in objects."""
    import re
    import subprocess

    from harness.twin.run import BOARD

    env = dict(os.environ, MICROPYPATH=BOARD + ":.frozen:" + str(REPO / "lib"))
    script = STANDINS % os.path.join(BOARD, "twin_boot.py")
    out = subprocess.run([micropython, "-c", script], capture_output=True, text=True, env=env, timeout=30).stdout
    n = [int(x) for x in re.findall(r"n_qstr=(\d+)", out)]
    size = {w[1]: int(w[2]) for w in (line.split() for line in out.splitlines()) if w[0] == "object"}
    code = int(re.search(r"^code (\d+)", out, re.M).group(1))
    unknown = set(made) - set(size)
    if unknown:
        raise SystemExit("bench/twin.py: no size measured for the stand-in objects %s" % sorted(unknown))
    return code + sum(size[k] * c for k, c in made.items()), n[1] - n[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--micropython32", help="a 32-bit unix MicroPython build: the .mpy column")
    ap.add_argument("--frozen32", help="a 32-bit build with lib/ frozen in: the frozen column")
    ap.add_argument("--romfs", action="store_true", help="with --micropython32: also a ROMFS image of its .mpy files")
    ap.add_argument(
        "--micropython32-romfs", metavar="PATH", help="with --romfs: the image runs on this port, the charger's names frozen in (manifest_romfs.py)"
    )
    ap.add_argument("--measured", metavar="FILE", help="the figures bench/run.py --save wrote: a build measured there is not measured again (make bench)")
    args = ap.parse_args()
    saved = json.loads(Path(args.measured).read_text())["twin"] if args.measured else {}
    cs = CentralSystemThread(boot_plan=[("Accepted", 60)]).start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            builds = [("64-bit .py", common.source_build())]
            if args.micropython32:
                mpy = common.mpy_build(tmp / "mpy32", micropython=args.micropython32, word=4)
                builds.append(("32-bit .mpy", mpy))
                if args.romfs:
                    builds.append(("32-bit ROMFS", common.romfs_build(mpy, tmp / "rom32", micropython=args.micropython32_romfs)))
            if args.frozen32:
                builds.append(("32-bit frozen", common.frozen_build(args.frozen32, 4)))
            # The deployment table (bench/run.py) and this one show the same figure.
            got = [saved.get(b.name) or esp32_extra(cs, b, tmp / b.name) for _, b in builds]
    finally:
        cs.stop()
    rows = ["| Live heap, idle after boot | " + " | ".join(label for label, _ in builds) + " |", "| --- |" + " ---: |" * len(builds)]
    for i, label in enumerate(
        (
            "unix port, simulated EVSE",
            "ESP32 twin (ESP32 platform code)",
            "of which the twin's own: the stand-ins' code and objects, its boot script (C or nothing on a board)",
            "the ESP32 code path above the unix port's (twin less its own less unix)",
            "interned names, idle (n_qstr): unix port",
            "interned names, idle: ESP32 twin",
            "interned names, idle: of which the twin's own",
            "interned names, idle: ESP32 twin less its own, the nearest to a board (the 1,261st allocates a pool of 1,280 entries)",
            "the pool of 1,280 names: added to the extra (a board needs it in the session) or taken out (the twin's own names brought it)",
        )
    ):
        unit = " B" if i < 4 or i == 8 else ""
        rows.append("| %s | %s |" % (label, " | ".join(format(g[i], ",") + unit for g in got)))
    print("\n".join(rows))


if __name__ == "__main__":
    from bench import common

    common.run_writing("twin", main)
