"""GetDiagnostics benchmark (issue 17): the heap a diagnostics upload of about 64 KB
takes above idle, on the MicroPython unix port (the .mpy build, 64-bit), against the
real HTTP(S) test server (harness/http_server.py).

The firmware's own modules run in one MicroPython process: a log ring on flash
prefilled with 64 KB of stamped lines, the diagnostics service
(services/diagnostics.py) collecting them with its snapshot into one file and
uploading it. Every file operation of the service (each line read and written,
each 1 KB upload chunk) is sampled: gc.collect() then gc.mem_alloc(), so the
figures are the live heap at those points, garbage excluded.

    idle        live heap before the first GetDiagnostics (the service not loaded)
    code        what loading the service and the HTTP client adds
    peak        the highest sample while collecting and while uploading, above idle

    .venv/bin/python bench/diagnostics.py [--quick]
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from bench import common  # noqa: E402
from harness.http_server import FileServer, server_tls  # noqa: E402
from harness.pki import make_pki  # noqa: E402

_MP = """
import asyncio, gc, os, sys
from uocpp import clock, log
log.set_level("warning")
clock.set_unix(1764640000)
log.open_ring(%(flash)r + "/log", "info", %(total)d, %(files)d)
from uocpp.model.connectors import Connectors
from uocpp.model.keys import Keys
from uocpp.model.state import State

class Outbox:
    def __init__(self):
        self.sent = []
    def submit(self, msg):
        self.sent.append(msg.build()["status"])
        return msg

settings = {"centralSystem": {"chargePointId": "BENCH", "caFile": ""}, "diagnostics": {"caFile": %(ca)r, "timeout": 10}, "storage": {"dir": %(flash)r}}
keys = Keys(%(flash)r + "/keys.json", {"AuthorizationKey": "0123456789abcdef"})
connectors = Connectors(1, %(flash)r + "/connectors.json", State())
outbox = Outbox()
slot = [None]
%(sampler)s
class Probe:
    # A file whose every read and write samples the heap first.
    def __init__(self, f):
        self.f = f
    def readline(self):
        sample()
        return self.f.readline()
    def write(self, b):
        sample()
        return self.f.write(b)
    def read(self, *n):
        return self.f.read(*n)
    def readinto(self, b):
        sample()
        return self.f.readinto(b)
    def tell(self):
        return self.f.tell()
    def seek(self, n):
        return self.f.seek(n)
    def flush(self):
        return self.f.flush()
    def close(self):
        return self.f.close()
    def __enter__(self):
        return self
    def __exit__(self, *a):
        self.f.close()

# What the firmware has loaded at idle anyway.
from uocpp import outbox as _o, platform as _p
from uocpp.model import identity as _i
from uocpp.store import json_file as _j
from uocpp.link import handshake as _h
import socket, ssl
asyncio.open_connection, asyncio.wait_for_ms  # asyncio loads its stream and funcs modules on first use
gc.collect()
idle = gc.mem_alloc()
from uocpp.services import diagnostics
svc = diagnostics.service(slot, outbox, keys, connectors, settings)
import builtins
_open = builtins.open
builtins.open = lambda path, mode="r": Probe(_open(path, mode))
gc.collect()
loaded = gc.mem_alloc()

async def main():
    reply, after = svc.request(%(url)r, 1, 0, None, None)
    path = %(flash)r + "/diag/" + reply["fileName"]
    peak[0] = 0
    size = await svc._collect(path, None, None, None)  # the service loads and drops the file writer
    collect = peak[0]
    peak[0] = 0
    await svc._run(reply["fileName"], %(url)r, 1, 0, None, None, None, diagnostics._DIAG, svc._notify)
    print("idle=%%d code=%%d collect=%%d upload=%%d size=%%d sent=%%s" %% (idle, loaded - idle, collect - idle, peak[0] - idle, size, ",".join(outbox.sent)))

asyncio.run(main())
"""


def code_sizes(build):
    # The heap each module's code takes once imported (what a frozen build keeps in flash instead).
    preload = "from uocpp import clock, log, outbox, platform\nfrom uocpp.model import identity, keys\nfrom uocpp import log_ring\nfrom uocpp.store import json_file\nfrom uocpp.link import handshake"
    return common.code_sizes(build, ("uocpp.services.diagnostics", "uocpp.services.diag_file", "uocpp.link.transfer", "uocpp.link.http"), preload)


def prefill(flash, total, files, line_bytes=100):
    # Files 1 .. files-1 full of stamped lines (what a busy charger leaves), 0.txt empty.
    d = flash / "log"
    d.mkdir(parents=True)
    cap = total // files
    n = 0
    for f in range(1, files):
        out = []
        size = 0
        while size + line_bytes <= cap:
            line = "2025-12-02T01:%02d:%02dZ I bench: line %06d %s\n" % (n // 60 % 60, n % 60, n, "x" * (line_bytes - 46))
            out.append(line)
            size += len(line)
            n += 1
        (d / ("%d.txt" % f)).write_text("".join(out))
    (d / "0.txt").write_text("")


def measure(build, url, ca="", total=86016, files=4):
    with tempfile.TemporaryDirectory() as tmp:
        flash = Path(tmp) / "flash"
        prefill(flash, total, files)
        code = _MP % {"flash": str(flash), "total": total, "files": files, "url": url, "ca": ca, "sampler": common.SAMPLER}
        env = dict(os.environ, MICROPYPATH=".frozen:" + str(build.lib), OCPP_FLASH_DIR=str(flash))
        out = subprocess.run([build.micropython, "-c", code], capture_output=True, text=True, env=env, timeout=120, cwd=tmp)
        m = re.search(r"idle=(\d+) code=(-?\d+) collect=(-?\d+) upload=(-?\d+) size=(\d+) sent=(\S+)", out.stdout)
        if not m or "Uploaded" not in m.group(6):
            raise RuntimeError(out.stdout + out.stderr)
        return dict(zip(("idle", "code", "collect", "upload", "size"), map(int, m.groups()[:5])), sent=m.group(6))


def report(build, total, pki, plain, tls):
    rows = [("HTTP PUT", measure(build, plain.url("put.txt"), total=total))]
    plain.plan["post.txt"] = [405]
    rows.append(("HTTP PUT refused (405), then POST multipart", measure(build, plain.url("post.txt"), total=total)))
    rows.append(("HTTPS PUT (unix port: mbedTLS buffers in the heap)", measure(build, tls.url("tls.txt"), ca=str(pki.ca_der), total=total)))
    sizes = code_sizes(build)
    code_collect = sizes["diagnostics"] + sizes["diag_file"]
    code_upload = sizes["diagnostics"] + sizes["transfer"] + sizes["http"]
    print(
        "| GetDiagnostics, a %s B file (%s) | Peak above idle: collecting | uploading | of which working memory (peak less code) | Statuses |"
        % (format(rows[0][1]["size"], ","), build.label)
    )
    print("| --- | --- | --- | --- | --- |")
    for name, r in rows:
        print(
            "| %s | %s B | %s B | %s B / %s B | %s |"
            % (
                name,
                format(r["collect"], ","),
                format(r["upload"], ","),
                format(r["collect"] - code_collect, ","),
                format(r["upload"] - code_upload, ","),
                r["sent"],
            )
        )
    print(
        "\nCode in the heap (%s; none when frozen or in ROMFS): services/diagnostics.py %s B, "
        "services/diag_file.py %s B (collecting only), link/transfer.py %s B + link/http.py %s B (uploading only). Goal: <= 8 KB above idle.\n"
        % ((build.label,) + tuple(format(sizes[k], ",") for k in ("diagnostics", "diag_file", "transfer", "http")))
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a 16 KB file instead of 64 KB")
    ap.add_argument("--micropython32", metavar="PATH", help="a 32-bit unix port: its .mpy build too (the ESP32's object sizes)")
    args = ap.parse_args()
    total = 24576 if args.quick else 86016  # 3 of 4 files full: 18 KB or 63 KB of lines
    with tempfile.TemporaryDirectory() as tmp:
        builds = [common.mpy_build(Path(tmp) / "mpy")]
        if args.micropython32:
            builds.append(common.mpy_build(Path(tmp) / "mpy32", args.micropython32, word=4))
        (Path(tmp) / "pki").mkdir()
        pki = make_pki(Path(tmp) / "pki")
        plain = FileServer().start()
        tls = FileServer(tls=server_tls(pki)).start()
        try:
            for build in builds:
                report(build, total, pki, plain, tls)
        finally:
            plain.stop()
            tls.stop()


if __name__ == "__main__":
    common.run_writing("diagnostics", main)
