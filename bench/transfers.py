"""File transfer benchmark (issue 25): the heap of a 256 KB download and a 64 KB upload over http://,
https://, ftp:// and ftps:// through the firmware's own clients (link/transfer.py, link/http.py,
link/ftp.py), against the test servers (harness/http_server.py, harness/ftp_server.py:
pyftpdlib) on 127.0.0.1, on the .mpy build of the 64-bit unix port and, with --micropython32, of a
32-bit build (the ESP32's object sizes).

    baseline   what a running firmware has loaded anyway (logger, clock, the link's handshake,
               asyncio's streams) after gc.collect()
    code       what importing link/transfer.py and the scheme's client adds (link/tls.py too for
               https:// and ftps://); none of it is loaded at boot
    peak       the highest live heap above the baseline, sampled at every 1 KB piece
               (gc.collect(), then gc.mem_alloc()), code included

    .venv/bin/python bench/transfers.py [--micropython32 PATH] [--write-readme]

--write-readme (or --write-docs) replaces the marked block in docs/transfers.md.
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
from harness.ftp_server import FtpServer  # noqa: E402
from harness.http_server import FileServer, server_tls  # noqa: E402
from harness.pki import make_pki  # noqa: E402

DOWN, UP = 256 * 1024, 64 * 1024

_MP = """
import asyncio, gc
from uocpp import clock, log
log.set_level("error")
from uocpp.link import handshake
asyncio.open_connection, asyncio.wait_for_ms  # asyncio loads its stream and funcs modules on first use
gc.collect()
base = gc.mem_alloc()
from uocpp.link import transfer
transfer.client(%(get)r)
if %(ca)r:
    from uocpp.link import tls
gc.collect()
code = gc.mem_alloc() - base
%(sampler)s
def sink(view):
    sample()

class Source:
    def __init__(self, f):
        self.f = f
    def readinto(self, buf):
        sample()
        return self.f.readinto(buf)
    def seek(self, n):
        return self.f.seek(n)

async def main():
    got = await transfer.download(%(get)r, sink, %(ca)r, 30)
    down = peak[0] - base
    peak[0] = 0
    with open(%(src)r, "rb") as f:
        c = transfer.client(%(put)r)
        if %(put)r.startswith("http"):
            await c.send("PUT", %(put)r, Source(f), %(up)d, %(ca)r, 30)
        else:
            await c.send(%(put)r, Source(f), %(up)d, %(ca)r, 30)
    print("RESULT code=%%d down=%%d up=%%d got=%%d" %% (code, down, peak[0] - base, got))

asyncio.run(main())
"""


def code_sizes(build):
    # The heap each module's code takes once imported, in the order a transfer loads them.
    names = ("uocpp.link.transfer", "uocpp.link.http", "uocpp.link.ftp", "uocpp.link.tls")
    return common.code_sizes(build, names, "from uocpp import clock, log\nfrom uocpp.link import handshake")


def measure(build, get, put, src, ca):
    code = _MP % {"get": get, "put": put, "src": str(src), "ca": ca and str(ca), "up": UP, "sampler": common.SAMPLER}
    env = dict(os.environ, MICROPYPATH=".frozen:" + str(build.lib))
    out = subprocess.run([build.micropython, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    m = re.search(r"RESULT code=(\d+) down=(-?\d+) up=(-?\d+) got=(\d+)", out.stdout)
    if not m or int(m.group(4)) != DOWN:
        raise RuntimeError("%s %s: %s" % (build.micropython, get, out.stdout + out.stderr))
    return dict(zip(("code", "down", "up"), map(int, m.groups()[:3])))


def rows(build, servers, pki, src):
    out = []
    for scheme, (get, put) in servers.items():
        ca = pki.ca_der if scheme in ("https", "ftps") else None
        out.append((scheme, measure(build, get, put, src, ca)))
    return out


def table(results, sizes):
    lines = [
        "| Scheme | Build | Code loaded for it | Peak above baseline: 256 KB download | 64 KB upload |",
        "| --- | --- | --- | --- | --- |",
    ]
    for label, measured in results:
        for scheme, r in measured:
            lines.append("| %s:// | %s | %s B | %s B | %s B |" % (scheme, label, format(r["code"], ","), format(r["down"], ","), format(r["up"], ",")))
    lines.append("")
    lines.append(
        "Code: link/transfer.py and the scheme's client (link/http.py or link/ftp.py; link/tls.py too with TLS), as "
        ".mpy in the heap (none when frozen or in ROMFS). Nothing here is loaded at boot. mbedTLS's own buffers are not "
        "in these figures: they are outside the MicroPython heap (the C heap on the unix port and on an ESP32)."
    )
    for label, s in sizes:
        lines.append("")
        lines.append(
            "Each module's code (%s .mpy): link/transfer.py %s B, link/http.py %s B, link/ftp.py %s B, link/tls.py %s B."
            % ((label,) + tuple(format(s[k], ",") for k in ("transfer", "http", "ftp", "tls")))
        )
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--micropython32", metavar="PATH", help="a 32-bit unix port: its .mpy build too")
    ap.add_argument("--write-readme", "--write-docs", dest="write_docs", action="store_true", help="replace the marked block in docs/transfers.md")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        builds = [("64-bit", common.mpy_build(tmp / "mpy"))]
        if args.micropython32:
            builds.append(("32-bit", common.mpy_build(tmp / "mpy32", args.micropython32, word=4)))
        (tmp / "pki").mkdir()
        pki = make_pki(tmp / "pki")
        body = os.urandom(DOWN)
        src = tmp / "up.bin"
        src.write_bytes(os.urandom(UP))
        plain, tls = FileServer().start(), FileServer(tls=server_tls(pki)).start()
        ftp, ftps = FtpServer(tmp / "ftp").start(), FtpServer(tmp / "ftps", tls=pki).start()
        try:
            for srv in (plain, tls):
                srv.files["fw.bin"] = body
            for srv in (ftp, ftps):
                srv.put("fw.bin", body)
            servers = {s.scheme: (s.url("fw.bin"), s.url("up.bin")) for s in (plain, tls, ftp, ftps)}
            text = table([(label, rows(build, servers, pki, src)) for label, build in builds], [(label, code_sizes(build)) for label, build in builds])
        finally:
            for srv in (plain, tls, ftp, ftps):
                srv.stop()
    print(text)
    if args.write_docs:
        common.write_blocks({"transfers": text})


if __name__ == "__main__":
    main()
