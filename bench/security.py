"""Time and heap of the 1.6 security whitepaper's cryptography on the 32-bit unix port (issue 25).

    .venv/bin/python bench/security.py [--micropython /work/mp32/micropython] [--repeat 5] [--quick] [--write-readme]

Each figure comes from a fresh 32-bit MicroPython process running lib/ compiled
to .mpy (the code a board loads): P-256 key generation, a CSR (key pair and
its signature), an ECDSA P-256 and an RSA-2048 signature verification, a
certificate chain (leaf, intermediate, root) checked, and the live heap of
the certificate store with 8 roots installed (its modules and the open
index). Time is the median of --repeat runs in a 100 KB heap (about what a
plain ESP32 leaves to Python, so the collector runs as often). Heap is what
the operation needs: the smallest heap (-X heapsize, to 512 B) in which it
runs, less the smallest in which the same process runs without it (imports
and the certificates read).

The ESP32 column is an estimate, not a measurement: the host's time scaled by
ESP32_FACTOR, the ratio of a 240 MHz Xtensa LX6 to this host's core for
MicroPython bigint code, taken as the clock ratio (~3 GHz / 240 MHz = 12.5)
times 2 to 5 instructions per clock more on the host: x25 to x60, the table
gives both ends. Measure on a board to replace it.

Prints one Markdown table; --write-readme (or its older name --write-docs)
also writes it into the `security` block of docs/security-pki.md. --quick:
one run per operation and a coarser heap search (tests/test_bench.py).
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.common import compile_lib, port_arch, port_info, run_writing  # noqa: E402
from harness.pki import make_cert  # noqa: E402

MP32 = "/work/mp32/micropython"
HEAP = 100 * 1024
# The operation whose preparation (certificates read, a key) a figure's baseline keeps.
_PREP = {"sign": "prep-sign", "ecdsa": "prep", "rsa": "prep", "chain": "prep"}
ESP32_FACTOR = (25, 60)

# Runs on MicroPython: one operation, prints "ms peak_bytes".
WORKER = """
import gc, time, asyncio, hashlib
from uocpp.pki import der, p256, chain, csr, rsa
from uocpp.pki import store as st
OP = %r
D = %r
def load(name):
    return der.Cert(open(D + '/' + name + '.der', 'rb').read())
prep = {}
if OP in ('ecdsa', 'rsa', 'chain', 'prep'):
    prep['leaf'], prep['int'], prep['root'], prep['rsa_leaf'], prep['rsa_root'] = load('leaf'), load('int'), load('root'), load('rsa-leaf'), load('rsa-root')
if OP in ('sign', 'prep-sign'):
    prep['d'] = p256.generate()[0]
gc.collect()
t = time.ticks_us()
if OP in ('none', 'prep', 'prep-sign'):
    pass
elif OP == 'keygen':
    p256.generate()
elif OP == 'sign':
    p256.sign(prep['d'], hashlib.sha256(b'x').digest())
elif OP == 'csr':
    asyncio.run(csr.make('Test CPO', 'CP001'))
elif OP == 'ecdsa':
    assert chain.signed_by(prep['leaf'], prep['int'])
elif OP == 'rsa':
    assert chain.signed_by(prep['rsa_leaf'], prep['rsa_root'])
elif OP == 'chain':
    chain.verify_chain([prep['leaf'], prep['int']], [prep['root']], None)
dt = time.ticks_diff(time.ticks_us(), t)
print(dt / 1000)
"""

# The store: modules imported and the index open, live after gc.collect().
STORE = """
import gc
gc.collect()
base = gc.mem_alloc()
from uocpp.pki import store as st
s = st.Store(%r)
ids = s.entries(st.CS_ROOT) + s.entries(st.MF_ROOT)
gc.collect()
print(gc.mem_alloc() - base, len(ids))
"""

OPS = (
    ("keygen", "P-256 key generation"),
    ("sign", "ECDSA P-256 signature (SHA-256 digest)"),
    ("csr", "CSR: key pair + signed PKCS#10 (async, yields)"),
    ("ecdsa", "ECDSA P-256 certificate signature verified"),
    ("rsa", "RSA-2048 certificate signature verified"),
    ("chain", "chain leaf -> intermediate -> root checked (2 ECDSA)"),
)


def run(micropython, lib, code, cwd, heap=None, check=True):
    env = dict(os.environ, MICROPYPATH=".frozen:%s" % lib)
    args = [micropython] + (["-X", "heapsize=%d" % heap] if heap else []) + ["-c", code]
    out = subprocess.run(args, capture_output=True, text=True, timeout=600, env=env, cwd=cwd)
    if out.returncode:
        if not check:
            return None
        raise SystemExit("bench/security.py: worker failed: %s" % (out.stderr or out.stdout))
    return out.stdout.split()


def smallest_heap(micropython, lib, code, cwd, step=512):
    # Binary search, `step` bytes, between 4 KB and 1 MB.
    lo, hi = 4096, 1 << 20
    while hi - lo > step:
        mid = (lo + hi) // 2
        if run(micropython, lib, code, cwd, mid, check=False) is None:
            lo = mid
        else:
            hi = mid
    return hi


def certs(d):
    root = make_cert(d, "root")
    inter = make_cert(d, "int", root)
    make_cert(d, "leaf", inter, ca=False)
    rsa_root = make_cert(d, "rsa-root", rsa=True)
    make_cert(d, "rsa-leaf", rsa_root, ca=False)
    return root, rsa_root


def store_with_roots(micropython, lib, d, n=8):
    # Install n roots through the firmware's own store code, then measure it opened.
    flash = d / "flash"
    flash.mkdir()
    names = [make_cert(d, "store-%d" % i, rsa=(i % 2 == 1)).der_path for i in range(n)]
    code = (
        "from uocpp.pki import der, store as st\ns = st.Store(%r)\nfor i, p in enumerate(%r):\n s.add(st.CS_ROOT if i %% 2 == 0 else st.MF_ROOT, der.Cert(open(p, 'rb').read()))\n"
        % (str(flash), [str(p) for p in names])
    )
    run(micropython, lib, code, d)
    live, count = run(micropython, lib, STORE % str(flash), d)
    return int(live), int(count)


def measure(micropython, repeat, step=512):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        lib = compile_lib(tmp / "lib", port_arch(micropython), "lib/")
        d = tmp / "certs"
        d.mkdir()
        certs(d)
        rows = []
        for op, what in OPS:
            times = [float(run(micropython, lib, WORKER % (op, str(d)), d, HEAP)[0]) for _ in range(repeat)]
            need = smallest_heap(micropython, lib, WORKER % (op, str(d)), d, step)
            bare = smallest_heap(micropython, lib, WORKER % ("none" if op in ("keygen", "csr") else _PREP[op], str(d)), d, step)
            rows.append((what, statistics.median(times), need - bare))
        store = store_with_roots(micropython, lib, tmp)
    return rows, store


def table(rows, store, bits, step=512):
    lo, hi = ESP32_FACTOR
    out = [
        "| Operation (%d-bit unix port, .mpy) | Time here | ESP32 at 240 MHz (estimate, x%d..x%d) | Heap it needs |" % (bits, lo, hi),
        "| --- | --- | --- | --- |",
    ]
    for what, ms, need in rows:
        # Below the search's step the operation needs no more than reading its inputs did.
        heap = "%s B" % format(need, ",") if need >= step else "< %s B" % format(step, ",")
        out.append("| %s | %.1f ms | %s..%s |  %s |" % (what, ms, _secs(ms * lo), _secs(ms * hi), heap))
    out.append("| certificate store: modules + index with %d roots, live | | | %s B |" % (store[1], format(store[0], ",")))
    return "\n".join(out)


def _secs(ms):
    return "%.0f ms" % ms if ms < 1000 else "%.1f s" % (ms / 1000)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--micropython", default=MP32, help="a 32-bit unix port (default %s)" % MP32)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="one run each, 4 KB heap steps (smoke test)")
    args = ap.parse_args(argv)
    if not Path(args.micropython).exists():
        raise SystemExit("bench/security.py: no MicroPython at %s (--micropython PATH)" % args.micropython)
    args.micropython = os.path.abspath(args.micropython)  # the workers run in another directory
    step = 4096 if args.quick else 512
    rows, store = measure(args.micropython, 1 if args.quick else args.repeat, step)
    print(table(rows, store, 8 * port_info(args.micropython)["word"], step))


if __name__ == "__main__":
    # --write-docs: this script's flag before the bench blocks had one name.
    sys.argv = ["--write-readme" if a == "--write-docs" else a for a in sys.argv]
    run_writing("security", main)
