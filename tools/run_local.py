"""`make run`: the bundled central system plus the firmware on the unix port.

Both print to this terminal, one whole line at a time: the central system's
lines start with `CS` (one line per OCPP message, `→` from the charge point,
`←` to it), the firmware's with its uptime, this supervisor's with `run:`.
The config file is checked first, by the firmware's own rules, and named
in every problem; only then is the firmware pointed at the bundled central
system (a valid centralSystem.url that names another host or port is
rewritten in a copy in the flash directory).

One `make run` per flash directory: a second one finds the first's lock on
it (flash/.run.lock), says so in one line and exits 1.

Lines typed on this terminal are central-system commands (below: e.g.
`change MeterValueSampleInterval 10`, `trigger MeterValues 1`).

Ctrl-C, SIGTERM and SIGHUP stop both: the firmware runs in its own process
group and is ended with SIGTERM, at once, as a power cut would end it on a
board (the next start stops a transaction that was running with reason
PowerLoss and the meter's register, which the simulator keeps). Not SIGINT:
the unix port raises its KeyboardInterrupt from the signal handler, and one
that lands inside a garbage collection leaves MicroPython's heap locked for
good (every later allocation fails: "heap is locked"), so a polite stop could
hang with a traceback.
On a terminal this tool takes the terminal's foreground for the run, so that
Ctrl-C reaches it alone and `make run` ends with its status (0), not make's
"interrupted". A Hard reset (the firmware exits with status 75) restarts the
firmware, as a device would reboot. Exit status: 0 after a stop (Ctrl-C
included), the firmware's status when it exits by itself, 78 when the config
file is wrong, 1 when the central system cannot listen or another `make run`
uses the flash directory, 2 for bad arguments.
"""

import argparse
import asyncio
import fcntl
import json
import logging
import os
import signal
import subprocess
import sys
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from central_system import COMMANDS_HELP, PLAN_HELP, CentralSystem, FrameLog, PlanError, listen_error, parse_plan, port_number, quiet_libraries  # noqa: E402

EXIT_HARD_RESET = 75
EXIT_CONFIG = 78  # as the firmware's: config.json is wrong, do not restart
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
GRACE_S = 5  # how long the firmware may take to end after SIGTERM


class Out:
    """Writes whole lines to stdout, each with one write(2), so lines of the
    central system, the firmware and the supervisor never merge. Stops
    writing (silently) once the terminal is gone (SIGHUP, closed pipe)."""

    def __init__(self, fd=1):
        self.fd = fd
        self.broken = False

    def line(self, text):
        if self.broken:
            return
        data = (text.rstrip("\r\n") + "\n").encode("utf-8", "replace")
        try:
            while data:
                data = data[os.write(self.fd, data) :]
        except OSError:
            self.broken = True


class LineHandler(logging.Handler):
    def __init__(self, out):
        super().__init__()
        self.out = out

    def emit(self, record):
        try:
            self.out.line(self.format(record))
        except Exception:
            self.handleError(record)


# The firmware's own check of a config file (uocpp.config.settings.load),
# run on MicroPython: the same rules and messages as on a board.
CHECK = """
from uocpp.config import settings
try:
    settings.load(%r)
except settings.ConfigError as e:
    print(e)
    raise SystemExit(%d)
"""


def check_config(path, micropython, env):
    """None when the firmware accepts `path`, else its message (which names
    `path`): checked before any copy, so every problem names the user's file."""
    try:
        res = subprocess.run([micropython, "-c", CHECK % (path, EXIT_CONFIG)], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return "%s: cannot be checked (%s)" % (path, e)
    if res.returncode == 0:
        return None
    return (res.stdout + res.stderr).strip() or "%s: the check failed with status %d" % (path, res.returncode)


def lock_flash(flash_dir):
    """An exclusive lock on the flash directory for this run (released when
    the process ends, however it ends), or the message for a second run."""
    os.makedirs(flash_dir, exist_ok=True)
    path = os.path.join(flash_dir, ".run.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
        os.close(fd)
        return None, "%s is in use by another `make run` (pid %s): stop that one first, or give this one its own flash directory (OCPP_FLASH_DIR=... make run CS_PORT=9001)" % (flash_dir, holder)
    os.ftruncate(fd, 0)
    os.write(fd, b"%d\n" % os.getpid())
    return fd, None


class Foreground:
    """On a terminal: this process in a process group of its own, made the
    terminal's foreground for the run, so that Ctrl-C reaches this tool alone
    (make, which would otherwise die of the SIGINT and report it, only waits
    for our status). Given back when the run ends. Nothing without a
    terminal, or when we are not in its foreground (a background job)."""

    def __init__(self, fd=0):
        self.fd = fd
        self.old = None

    def __enter__(self):
        try:
            if os.isatty(self.fd) and os.tcgetpgrp(self.fd) == os.getpgrp():
                old = os.getpgrp()
                os.setpgid(0, 0)
                self._tcsetpgrp(os.getpgrp())
                self.old = old
        except OSError:
            pass
        return self

    def _tcsetpgrp(self, pgrp):
        # A background group that sets the foreground gets SIGTTOU: ignored here.
        prev = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
        try:
            os.tcsetpgrp(self.fd, pgrp)
        finally:
            signal.signal(signal.SIGTTOU, prev)

    def __exit__(self, *exc):
        if self.old is not None:
            try:
                self._tcsetpgrp(self.old)
            except OSError:
                pass


def firmware_config(path, port, flash_dir, out):
    """The config file to give the firmware: `path` itself when its
    centralSystem.url already names the bundled central system, else a copy
    in the flash directory with the url's host and port rewritten. Called
    only for a file the firmware accepted (check_config), so the url is a
    valid ws:// or wss:// one."""
    with open(path) as f:
        doc = json.load(f)
    url = doc["centralSystem"]["url"]
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "ws" and parts.hostname in ("127.0.0.1", "localhost") and parts.port == port:
        return path
    local = urllib.parse.urlunsplit(("ws", "127.0.0.1:%d" % port, parts.path or "/ocpp", "", ""))
    doc["centralSystem"]["url"] = local
    for key in ("secureUrl", "caFile", "securityProfile"):  # the bundled central system speaks plain ws://
        doc["centralSystem"].pop(key, None)
    os.makedirs(flash_dir, exist_ok=True)
    copy = os.path.join(flash_dir, "run_local.config.json")
    with open(copy, "w") as f:
        json.dump(doc, f, indent=2)
    out.line("run: %s names %s; the firmware gets %s with centralSystem.url %s" % (path, url, copy, local))
    return copy


class Supervisor:
    def __init__(self, args, plan, out):
        self.args = args
        self.plan = plan
        self.out = out
        self.stop_signal = None  # the signal that asked us to stop
        self.stopping = None  # asyncio.Event, set by a stop signal
        self.proc = None

    def _on_signal(self, signum):
        if self.stop_signal is None:
            self.stop_signal = signum
            self.out.line("run: %s: stopping the firmware and the central system" % signal.Signals(signum).name)
            self.stopping.set()
        elif self.proc and self.proc.returncode is None:
            self.out.line("run: %s again: killing the firmware" % signal.Signals(signum).name)
            self._killpg(signal.SIGKILL)

    def _killpg(self, sig):
        # The firmware leads its own process group (the PyPI `micropython`
        # is a CPython wrapper; anything it starts is in the group too).
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    async def _pump(self, stream):
        # The firmware's stdout and stderr, as whole lines.
        buf = b""
        while True:
            chunk = await stream.read(4096)
            if not chunk:
                break
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                self.out.line(line.decode("utf-8", "replace"))
        if buf:
            self.out.line(buf.decode("utf-8", "replace"))

    async def _firmware(self, argv, env):
        # One run of the firmware; returns its exit status, or None when a
        # stop signal ended it.
        self.proc = await asyncio.create_subprocess_exec(
            *argv, cwd=REPO, env=env, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, process_group=0
        )
        pump = asyncio.ensure_future(self._pump(self.proc.stdout))
        waiter = asyncio.ensure_future(self.proc.wait())
        stop = asyncio.ensure_future(self.stopping.wait())
        try:
            await asyncio.wait([waiter, stop], return_when=asyncio.FIRST_COMPLETED)
            if not waiter.done():
                self.proc.send_signal(signal.SIGTERM)  # at once, as a power cut (above)
                try:
                    await asyncio.wait_for(asyncio.shield(waiter), GRACE_S)
                except asyncio.TimeoutError:
                    self.out.line("run: the firmware did not stop within %d s; killing it" % GRACE_S)
            # Whatever is left of its process group goes too.
            self._killpg(signal.SIGKILL)
            await waiter
            try:
                await asyncio.wait_for(pump, 2)
            except asyncio.TimeoutError:
                pump.cancel()
        finally:
            stop.cancel()
            if self.proc.returncode is None:  # this task was cancelled
                self._killpg(signal.SIGKILL)
        return None if self.stop_signal else self.proc.returncode

    def prepare(self):
        """Before anything listens: the flash directory's lock and the
        user's config file checked. None, or the exit status after one
        clear line."""
        env = self.env = dict(os.environ)
        env["MICROPYPATH"] = ".frozen:" + os.path.join(REPO, "lib")
        env.setdefault("OCPP_FLASH_DIR", os.path.join(REPO, "flash"))
        self.micropython = os.path.join(os.path.dirname(sys.executable), "micropython")
        self.lock, problem = lock_flash(env["OCPP_FLASH_DIR"])
        if problem:
            self.out.line("run: " + problem)
            return 1
        self.config = os.path.abspath(self.args.config)
        problem = check_config(self.config, self.micropython, env)
        if problem:
            self.out.line("run: " + problem)
            return EXIT_CONFIG
        return None

    async def run(self):
        code = self.prepare()
        if code is not None:
            return code
        loop = asyncio.get_running_loop()
        self.stopping = asyncio.Event()
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, self._on_signal, sig)
        log = logging.getLogger("central_system")
        cs = CentralSystem("127.0.0.1", self.args.port, self.plan)
        cs.on_frame = FrameLog(log.info)
        try:
            await cs.start()
        except OSError as e:
            print("run: " + listen_error("127.0.0.1", self.args.port, e), file=sys.stderr)
            return 1
        log.info("listening on ws://127.0.0.1:%d/<charge point id>", cs.port)
        if cs.read_commands(log.info):
            log.info("type help for the commands (ChangeConfiguration, TriggerMessage, GetConfiguration)")
        env = self.env
        env["OCPP_CONFIG"] = firmware_config(self.config, cs.port, env["OCPP_FLASH_DIR"], self.out)
        argv = [self.micropython, os.path.join(REPO, "main.py")]
        if self.args.twin:  # the ESP32 twin (tools/twin): the same firmware on the ESP32 platform code
            argv = [sys.executable, os.path.join(REPO, "tools", "twin")]
        try:
            while not self.stopping.is_set():
                code = await self._firmware(argv, env)
                if code is None:
                    break
                if code != EXIT_HARD_RESET:
                    self.out.line("run: firmware exited with status %d" % code)
                    return code
                self.out.line("run: firmware asked for a hard reset: restarting it")
        finally:
            await cs.stop()
        self.out.line("run: stopped")
        return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, epilog=PLAN_HELP + "\n" + COMMANDS_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default=os.path.join(REPO, "config.json"), help="the firmware's config.json (default: the repository's)")
    ap.add_argument("--port", type=port_number, default=9000, help="the central system's TCP port (default 9000; 0 = any free port); make run CS_PORT=N")
    ap.add_argument("--twin", action="store_true", help="run the firmware on the ESP32 twin (tools/twin) instead of the unix port; make twin")
    ap.add_argument("--boot", default="Accepted:10", metavar="PLAN", help="the central system's BootNotification answers in turn, e.g. Pending:3,Accepted:10 (see below)")
    args = ap.parse_args()
    try:
        plan = parse_plan(args.boot)
    except PlanError as e:
        print("%s: --boot %s: %s" % (ap.prog, args.boot, e), file=sys.stderr)
        return 2
    out = Out()
    handler = LineHandler(out)
    handler.setFormatter(logging.Formatter("CS %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    quiet_libraries()
    with Foreground():
        return asyncio.run(Supervisor(args, plan, out).run())


if __name__ == "__main__":
    sys.exit(main())
