"""Build and deploy: `make mpy`, `make deploy` with mpremote, `mip install`.

The "board" is the MicroPython unix port's REPL on a pty made with socat;
its working directory stands in for the board's filesystem. mpremote talks
to it exactly as to a serial port (with `resume`: the unix port has no soft
reset to survive).
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

from harness.firmware import FAST, MICROPYTHON, REPO, merge

VENV_BIN = os.path.dirname(sys.executable)
MPREMOTE = os.path.join(VENV_BIN, "mpremote")
SOURCES = sorted(p.relative_to(REPO / "lib").as_posix() for p in (REPO / "lib" / "uocpp").rglob("*.py"))
# Everything under lib/ goes to the board: lib/uocpp and what make installs (lib/umqtt).
LIB_SOURCES = sorted(p.relative_to(REPO / "lib").as_posix() for p in (REPO / "lib").rglob("*.py"))


def run(cmd, timeout=120, **kw):
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    assert result.returncode == 0, "%s failed:\n%s\n%s" % (cmd, result.stdout[-3000:], result.stderr[-3000:])
    return result


@pytest.fixture
def board(tmp_path):
    """(filesystem root, pty path) of a unix-port REPL behind socat."""
    if shutil.which("socat") is None:
        pytest.fail("socat is missing: `make test` installs it (apt-get install socat)")
    root = tmp_path / "board"
    root.mkdir()
    tty = tmp_path / "ttyBOARD"
    env = dict(os.environ, MICROPYPATH=".frozen:lib")
    env.pop("OCPP_CONFIG", None)
    socat = subprocess.Popen(
        ["socat", "PTY,link=%s,raw,echo=0" % tty, "EXEC:%s -i,pty,raw,echo=0,stderr,setsid,ctty" % MICROPYTHON],
        cwd=root,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while not tty.exists():
        assert socat.poll() is None, "socat exited with %s" % socat.returncode
        assert time.monotonic() < deadline, "socat made no pty"
        time.sleep(0.05)
    yield root, str(tty)
    os.killpg(socat.pid, signal.SIGTERM)  # closing the pty hangs up the REPL process too
    socat.wait(10)


@pytest.mark.slow
def test_make_mpy_compiles_every_module_for_both_targets(tmp_path):
    """`make mpy` turns every source under lib/ into a .mpy for the ESP32 and for the host."""
    build = tmp_path / "build"
    run(["make", "-s", "mpy", "BUILD=%s" % build], cwd=REPO)
    for target in ("esp32", "unix"):
        lib = build / target / "lib"
        made = sorted(p.relative_to(lib).as_posix() for p in lib.rglob("*.mpy"))
        assert made == sorted(s[:-3] + ".mpy" for s in LIB_SOURCES)
        assert "uocpp/device/modem.mpy" in made and "umqtt/simple.mpy" in made
        assert list(lib.rglob("*.py")) == []
        for mpy in lib.rglob("*.mpy"):
            assert mpy.read_bytes()[:2] == b"M\x06"  # .mpy version 6, what MicroPython 1.2x loads


@pytest.mark.slow
def test_deploy_with_mpremote_then_boot_from_the_copied_files(cs, tmp_path, board):
    """BN-01: `make deploy` copies boot.py, main.py, config.json and the .mpy library; the board boots from them and registers."""
    root, tty = board
    config = tmp_path / "device-config.json"
    config.write_text(json.dumps(merge(FAST, {"centralSystem": {"url": "ws://127.0.0.1:%d/ocpp" % cs.port}, "chargePoint": {"chargePointModel": "Deployed"}})))
    out = run(["make", "deploy", "TARGET=unix", "PORT=%s" % tty, "BUILD=%s" % (tmp_path / "build"), "CONFIG=%s" % config], cwd=REPO, timeout=180).stdout
    assert "deploy: lib/uocpp and lib/umqtt cleared" in out

    assert json.loads((root / "config.json").read_text())["chargePoint"]["chargePointModel"] == "Deployed"
    assert (root / "boot.py").read_bytes() == (REPO / "boot.py").read_bytes()
    assert (root / "main.py").read_bytes() == (REPO / "main.py").read_bytes()
    on_board = sorted(p.relative_to(root / "lib").as_posix() for p in (root / "lib").rglob("*") if p.is_file())
    assert on_board == sorted(s[:-3] + ".mpy" for s in LIB_SOURCES)  # compiled only: no source can shadow them

    # What a board does after its reset: boot.py, then main.py, from its own files.
    proc = subprocess.Popen([MPREMOTE, "connect", tty, "resume", "exec", "import boot, main"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
    try:
        boot = cs.wait_received("BootNotification", timeout=30)[0]
        assert boot.payload["chargePointModel"] == "Deployed"
        deadline = time.monotonic() + 10
        while not any("registration Accepted" in line for line in lines):
            assert time.monotonic() < deadline, "".join(lines)
            time.sleep(0.05)
        assert any("identity TestVendor / Deployed from config.json" in line for line in lines)
    finally:
        proc.kill()
        proc.wait(10)


ROMFS_BOOT = """
import os, sys, vfs
image = open(os.getenv("ROMFS_IMAGE"), "rb").read()
vfs.mount(vfs.VfsRom(image), "/rom")
sys.path.insert(0, "/rom")  # a board with ROMFS mounts it at /rom, ahead of /lib
import uocpp.app
print("from", uocpp.app.__file__)
import boot, main
"""


def test_make_romfs_image_runs_the_firmware_in_place(cs, tmp_path):
    """BN-01: `make romfs` packs every compiled module of lib/ into one ROMFS image; mounted at /rom as a board mounts
    its ROMFS partition, the firmware imports from it (each module named by its /rom path) and registers."""
    image = tmp_path / "uocpp.romfs"
    out = run(["make", "-s", "romfs", "MARCH=host", "BUILD=%s" % (tmp_path / "build"), "ROMFS_IMAGE=%s" % image], cwd=REPO).stdout
    assert "%s: %d bytes, %d modules" % (image, image.stat().st_size, len(LIB_SOURCES)) in out
    assert image.read_bytes()[:3] == b"\xd2\xcd\x31"  # the ROMFS header
    dry = run(["make", "-n", "deploy-romfs", "PORT=/dev/ttyUSB7", "ROMFS_IMAGE=%s" % image], cwd=REPO).stdout
    assert "romfs deploy %s" % image in dry and "connect /dev/ttyUSB7 run tools/deploy_prepare.py" in dry
    board = tmp_path / "board"
    board.mkdir()
    (board / "config.json").write_text(json.dumps(merge(FAST, {"centralSystem": {"url": "ws://127.0.0.1:%d/ocpp" % cs.port}})))
    shutil.copy(REPO / "boot.py", board / "boot.py")
    shutil.copy(REPO / "main.py", board / "main.py")
    (board / "launch.py").write_text(ROMFS_BOOT)
    env = dict(os.environ, MICROPYPATH=".frozen", ROMFS_IMAGE=str(image), OCPP_FLASH_DIR=str(board / "flash"))
    env.pop("OCPP_CONFIG", None)
    proc = subprocess.Popen([MICROPYTHON, "launch.py"], cwd=board, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
    try:
        cs.wait_received("BootNotification", timeout=30)
        deadline = time.monotonic() + 10
        while not any("registration Accepted" in line for line in lines):
            assert time.monotonic() < deadline, "".join(lines)
            time.sleep(0.05)
        assert "from /rom/uocpp/app.mpy\n" in lines, "".join(lines)
    finally:
        proc.kill()
        proc.wait(10)


def test_frozen_names_list_exactly_the_library_modules():
    """Issue 24: frozen/uocpp_names.py (frozen by manifest.py, never imported) spells out every module's dotted
    name, so that a build with the library frozen in interns none of them in the heap at import, and the
    configuration keys' defaults that are dotted names, so that the key store's values cut from the table are in
    flash too."""
    sys.path.insert(0, str(REPO / "tools"))
    import frozen_names

    assert (REPO / "frozen" / "uocpp_names.py").read_text() == frozen_names.text(), "run: python tools/frozen_names.py"
    assert 'module("uocpp_names.py", base_path="frozen")' in (REPO / "manifest.py").read_text()


def test_romfs_names_list_the_modules_a_boot_loads(tmp_path):
    """Issue 24: frozen/romfs_modules.txt, whose modules' names a ROMFS image keeps in flash, is what a traced boot
    of the unix port loads (a name nothing imports would only take an entry in the names' table)."""
    sys.path.insert(0, str(REPO / "tools"))
    import romfs_names

    assert romfs_names.listed() == romfs_names.traced(tmp_path), "run: python tools/romfs_names.py --trace"


def test_romfs_names_are_interned_when_the_loader_is_loaded(tmp_path):
    """Issue 24: the names appended to uocpp_loader.mpy (make romfs, the bench's ROMFS build) are interned when it is
    imported, before any other module of ours, and the loader still works; appending twice adds nothing."""
    sys.path.insert(0, str(REPO / "tools"))
    import romfs_names

    from bench import common

    mpy = tmp_path / "uocpp_loader.mpy"
    subprocess.run([common._MPY_CROSS_BIN, "-o", str(mpy), str(REPO / "lib" / "uocpp_loader.py")], check=True)
    wanted = romfs_names.names(romfs_names.listed(), romfs_names.packages())
    assert "uocpp.link.websocket" in wanted and "/rom/uocpp/link/websocket.mpy" in wanted and "/rom/uocpp/link" in wanted
    added = romfs_names.append_names(mpy, wanted)
    assert added == len(set(wanted))
    assert romfs_names.append_names(mpy, wanted) == 0
    script = "import micropython, uocpp_loader\nprint(callable(uocpp_loader.start))\nmicropython.qstr_info(1)\n"
    out = run([MICROPYTHON, "-c", script], env=dict(os.environ, MICROPYPATH=".frozen:" + str(tmp_path)))
    assert out.stdout.split("\n", 1)[0] == "True"
    interned = set(re.findall(r"^Q\((.*)\)$", out.stdout, re.M))
    assert set(wanted) <= interned, sorted(set(wanted) - interned)[:5]


NAMES_PROBE = """
import micropython, sys
sys.path.insert(0, %r)
if %r:
    import uocpp_romfs_names
micropython.qstr_info(1)
print("----")
import uocpp.outbox, uocpp.services.sessions
micropython.qstr_info(1)
"""


def test_romfs_firmware_names_hold_every_name_of_the_image(tmp_path):
    """Issue 24: `tools/romfs_names.py --firmware` (make romfs) writes a module without code whose table holds every
    name of the image's modules, the names importing them interns, and boot.py's and main.py's; manifest_romfs.py
    freezes it into a ROMFS firmware. Loaded first, it leaves a module of the image nothing to intern: importing
    two of the charger's modules then adds only the names of their paths (here not /rom/...), where it adds hundreds
    without it."""
    sys.path.insert(0, str(REPO / "tools"))
    import romfs_names

    from bench import common

    stage = common.compile_lib(tmp_path / "stage", common.port_arch(), "/rom/")
    out = tmp_path / "fw" / "uocpp_romfs_names.mpy"
    out.parent.mkdir()
    added = romfs_names.firmware(stage, out, common._MPY_CROSS_BIN, [REPO / "boot.py", REPO / "main.py"])
    held = set(romfs_names.held_names(out))
    assert added == len(held) - 1  # beside its own file's name
    for f in (stage / "uocpp" / "outbox.mpy", stage / "uocpp" / "link" / "websocket.mpy", stage / "uocpp_loader.mpy"):
        assert set(romfs_names.held_names(f)) <= held, f
    assert {"uocpp.link.websocket", "/rom/uocpp/link/websocket.mpy", "/rom/uocpp/link", "gc", "threshold"} <= held
    assert 'freeze_mpy("build", "uocpp_romfs_names.mpy")' in (REPO / "manifest_romfs.py").read_text()
    assert "--firmware $(BUILD)/romfs $(BUILD)/uocpp_romfs_names.mpy" in (REPO / "Makefile").read_text()
    news = []
    for first in (True, False):
        env = dict(os.environ, MICROPYPATH=".frozen:%s" % out.parent)
        before, after = run([MICROPYTHON, "-c", NAMES_PROBE % (str(stage), first)], env=env).stdout.split("\n----\n")
        news.append(set(re.findall(r"^Q\((.*)\)$", after, re.M)) - set(re.findall(r"^Q\((.*)\)$", before, re.M)))
    assert news[0] and all(n.startswith(str(stage) + "/") for n in news[0]), sorted(news[0])
    assert len(news[1] - news[0]) > 200


def test_package_json_lists_exactly_the_library_sources():
    """package.json (for `mip install`) names every .py under lib/uocpp, at its path, and nothing else."""
    doc = json.loads((REPO / "package.json").read_text())
    ours = [(target, url) for target, url in doc["urls"] if target.startswith("uocpp/")]
    assert sorted(target for target, _ in ours) == SOURCES, "run: python tools/package_json.py"
    for target, url in ours:
        assert url == "lib/" + target  # relative to package.json: mip resolves it against the repository
    # Issue 26: microdot (the web page) too, the release the Makefile fetches, its files as lib/microdot/ holds them.
    theirs = [(target, url) for target, url in doc["urls"] if not target.startswith("uocpp/")]
    assert sorted(target for target, _ in theirs) == sorted("microdot/" + p.name for p in (REPO / "lib" / "microdot").glob("*.py"))
    version = re.search(r"^MICRODOT_VERSION := (\S+)$", (REPO / "Makefile").read_text(), re.M).group(1)
    assert all(url.startswith("https://raw.githubusercontent.com/miguelgrinberg/microdot/v%s/src/" % version) for _, url in theirs)
    assert (
        doc["version"]
        == run([MICROPYTHON, "-c", "import uocpp; print(uocpp.__version__)"], env=dict(os.environ, MICROPYPATH=".frozen:" + str(REPO / "lib"))).stdout.strip()
    )


@pytest.mark.slow
def test_mip_install_from_package_json_onto_the_board(board, tmp_path):
    """`mpremote mip install` of the package puts lib/uocpp on the board, importable as a user would."""
    root, tty = board
    # microdot's files from the copies `make` fetched (the same release), not from the network.
    doc = json.loads((REPO / "package.json").read_text())
    doc["urls"] = [[t, "lib/" + t] for t, _ in doc["urls"]]
    package = tmp_path / "package.json"
    package.write_text(json.dumps(doc))
    for name in ("uocpp", "microdot"):
        shutil.copytree(REPO / "lib" / name, tmp_path / "lib" / name)
    out = run([MPREMOTE, "connect", tty, "resume", "mip", "install", "--target", "lib", str(package)]).stdout
    installed = sorted(p.relative_to(root / "lib").as_posix() for p in (root / "lib").rglob("*") if p.is_file())
    assert installed == sorted(SOURCES + [t for t, _ in doc["urls"] if t.startswith("microdot/")]), out
    out = run(
        [
            MPREMOTE,
            "connect",
            tty,
            "resume",
            "exec",
            "from uocpp import app; from uocpp.device import modem; from uocpp.config import provision; print('imported', app.App.__name__)",
        ]
    ).stdout
    assert "imported App" in out
