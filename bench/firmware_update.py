"""UpdateFirmware benchmark (issue 17): the heap a 1 MB download costs on the MicroPython unix port
(goal: at most 8 KB above the heap before it), and the download rate over loopback, for both
targets of the state machine (services/firmware_update.py): a bundle's staging file on flash and an
image's OTA partition blocks (a stand-in esp32.Partition that keeps nothing).

    .venv/bin/python bench/firmware_update.py [--quick]

The download runs the firmware's own code (FirmwareUpdate._download: link/http.py, device/ota.py
Receiver, SHA-256, the target) against harness/http_server.py on 127.0.0.1. Heap: the code is
imported and gc.collect() run first (that is the baseline); then, at every 1 KB piece, gc.collect()
and gc.mem_alloc(): the live heap the download holds at its worst. A second run without sampling
times it.
"""

import argparse
import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from harness.http_server import FileServer  # noqa: E402

MICROPYTHON = str(Path(sys.executable).parent / "micropython")

_SNIPPET = r"""
import asyncio, gc, time
from uocpp import log
log.set_level("error")
# What a running firmware has loaded anyway (the outbox, the link's handshake).
from uocpp import outbox, clock, errors
from uocpp.link import handshake
from uocpp.store import json_file
gc.collect()
before = gc.mem_alloc()
from uocpp.device import ota
from uocpp.services import firmware_update as fu
from uocpp.link import http, transfer
gc.collect()
code = gc.mem_alloc() - before

class Part:
    RUNNING = 1
    def __init__(self, *a):
        pass
    def info(self):
        return (0, 0, 0, 4 << 20, "ota_0", False)
    def get_next_update(self):
        return self
    def ioctl(self, op, block):
        pass
    def writeblocks(self, n, buf, offset):
        pass

class Reg:
    accepted = asyncio.Event()

cfg = {"caFile": "", "timeout": 10, "retries": 0, "retryInterval": 0, "confirmTimeout": 5}
svc = fu.FirmwareUpdate(cfg, "", %(flash)r, None, Reg(), None, None, ota.Image(Part), 1)
sample = %(sample)r
peak = [0]
get = transfer.download

async def sampled(url, sink, ca_file=None, timeout=30):
    def probe(view):
        sink(view)
        gc.collect()
        peak[0] = max(peak[0], gc.mem_alloc())
    return await get(url, probe if sample else sink, ca_file, timeout)

fu.transfer.download = sampled

async def main():
    gc.collect()
    base = gc.mem_alloc()
    t0 = time.ticks_us()
    recv = await svc._download(%(url)r)
    us = time.ticks_diff(time.ticks_us(), t0)
    print("RESULT kind=%%s bytes=%%d us=%%d peak=%%d code=%%d" %% (recv.kind, recv.length, us, max(0, peak[0] - base), code))

asyncio.run(main())
"""


def update_file(kind, size):
    payload = os.urandom(size)
    if kind == "bundle":
        payload = b"F %d big.bin\n" % size + payload + b"E\n"
    return b"UOCPP-UPDATE 1 %s 1.0.0 %d %s\n" % (kind.encode(), len(payload), hashlib.sha256(payload).hexdigest().encode()) + payload


def run(url, flash, sample, lib):
    env = dict(os.environ, MICROPYPATH=".frozen:%s" % lib)
    code = _SNIPPET % {"url": url, "flash": str(flash), "sample": sample}
    out = subprocess.run([MICROPYTHON, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    m = re.search(r"RESULT kind=(\w+) bytes=(\d+) us=(\d+) peak=(\d+) code=(\d+)", out.stdout)
    if not m:
        raise RuntimeError(out.stdout + out.stderr)
    return {"kind": m.group(1), "bytes": int(m.group(2)), "us": int(m.group(3)), "peak": int(m.group(4)), "code": int(m.group(5))}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="256 KB instead of 1 MB")
    args = ap.parse_args()
    size = (256 if args.quick else 1024) * 1024
    import tempfile

    from bench.common import compile_lib, port_arch

    srv = FileServer().start()
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            # The .mpy build, as the heap budget measures it.
            lib = compile_lib(Path(tmp) / "lib", port_arch(), "lib/")
            flash = Path(tmp) / "flash"
            flash.mkdir()
            for kind in ("bundle", "image"):
                srv.files[kind] = update_file(kind, size)
                heap = run(srv.url(kind), flash, True, lib)
                rate = min((run(srv.url(kind), flash, False, lib) for _ in range(3)), key=lambda r: r["us"])
                rows.append((kind, heap["peak"], heap["code"], rate["bytes"], rate["us"]))
    finally:
        srv.stop()
    print("| UpdateFirmware, %d KB download over loopback (.mpy, 64-bit unix port) | Peak heap above the baseline | Rate |" % (size // 1024))
    print("| --- | --- | --- |")
    for kind, peak, code, n, us in rows:
        where = "bundle -> staging file, SHA-256" if kind == "bundle" else "image -> OTA partition blocks (stand-in), SHA-256"
        verdict = "goal <= 8 KB: met" if peak <= 8192 else "goal <= 8 KB: MISSED"
        print("| %s | %s B (%s) | %.1f MB/s (%.2f s) |" % (where, format(peak, ","), verdict, n / us, us / 1e6))
    print("| the update code, loaded on the first UpdateFirmware (not counted above) | %s B | |" % format(rows[0][2], ","))


if __name__ == "__main__":
    from bench import common

    common.run_writing("update", main)
