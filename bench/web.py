"""The installer's web page (issue 18): live heap (after gc.collect()) idle
after boot with the page off (the heap budget's figure) and on, while a
status page request is being answered, and idle again after a run of
requests; and the time a request takes. The .mpy build on the unix port
(64-bit PyPI wheel), against the bundled central system.

    .venv/bin/python bench/web.py [--quick]
"""

import argparse
import http.client
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common, run, traffic  # noqa: E402
from harness.net import free_port  # noqa: E402
from harness.web_client import basic  # noqa: E402

PASSWORD = "bench-password"


def get(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path, headers={"Authorization": basic(PASSWORD)})
        r = conn.getresponse()
        body = r.read()
        assert r.status == 200, (r.status, body)
        return len(body)
    finally:
        conn.close()


def page_on(cs, build, workdir, requests, level="info"):
    """-> {figure: bytes or ms} for one boot with the page on."""
    port = free_port()
    cp_id = "WEB" + build.name.strip(".").upper()
    cfg = {"web": {"enabled": True, "port": port, "host": "127.0.0.1", "password": PASSWORD}, "log": {"heapInterval": 0.2, "level": level}}
    fw = common.start_firmware(workdir, cs, build, cp_id, config=cfg)
    out = {}
    try:
        traffic.registered(cs, fw, cp_id)
        fw.wait_log("status page on")
        out["idle, page on"] = run.heap_report(fw)[0] - build.live_offset
        for path in ("/", "/status.json"):
            seen = fw.log.count("serving %s:" % path)
            out["bytes " + path] = get(port, path)
            if level == "debug":
                m = fw.wait_log(r"serving %s: (\d+) B live heap" % path.replace(".", r"\."), count=seen + 1)
                out["while serving " + path] = int(m.group(1)) - build.live_offset
        times = []
        for _ in range(requests):
            t = time.perf_counter()
            get(port, "/")
            times.append((time.perf_counter() - t) * 1000)
        if times:
            out["ms per GET /"] = statistics.median(times)
        out["idle after %d requests" % (requests + 2)] = run.heap_report(fw)[0] - build.live_offset
    finally:
        fw.stop()
    return out


def measure(cs, build, tmp, requests):
    rows = {"idle, page off (heap budget figure)": run.idle_heap(cs, build, tmp / "off")}
    rows.update(page_on(cs, build, tmp / "on", requests))
    # The figure while serving comes from the firmware's debug line.
    debug = page_on(cs, build, tmp / "debug", 0, level="debug")
    rows.update((k, v) for k, v in debug.items() if k.startswith("while serving"))
    off = rows["idle, page off (heap budget figure)"]
    print("Web page, %s (live heap after gc.collect())\n" % build.label)
    print("| Figure | Value | Against page off |")
    print("|---|---:|---:|")
    for name, value in rows.items():
        if name.startswith("ms"):
            print("| %s | %.1f ms | |" % (name, value))
        elif name.startswith("bytes"):
            print("| response size %s | %d B | |" % (name[6:], value))
        else:
            print("| %s | %d B | %+d B |" % (name, value, value - off))
    print()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a few requests only")
    ap.add_argument("--micropython32", metavar="PATH", help="a 32-bit unix port: add its .mpy and ROMFS builds (the ESP32's figures)")
    args = ap.parse_args()
    requests = 5 if args.quick else 50
    cs = common.start_cs()
    tmp = Path(tempfile.mkdtemp(prefix="bench-web-"))
    try:
        builds = [common.mpy_build(tmp / "mpy")]
        if args.micropython32:
            mpy32 = common.mpy_build(tmp / "mpy32", args.micropython32, word=4)
            builds += [mpy32, common.romfs_build(mpy32, tmp / "romfs32")]
        for build in builds:
            measure(cs, build, tmp / build.name.strip("."), requests)
    finally:
        cs.stop()


if __name__ == "__main__":
    common.run_writing("web", main)
