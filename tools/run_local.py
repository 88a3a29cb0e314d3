"""`make run`: the bundled central system plus the firmware on the unix port.

Both print to this terminal, one whole line at a time: the central system's
lines start with `CS` (one line per OCPP message, `→` from the charge point,
`←` to it), the firmware's with its uptime, this supervisor's with `run:`.
The firmware is pointed at the bundled central system (its
centralSystem.url is rewritten when it names another host or port).

Ctrl-C, SIGTERM and SIGHUP stop both: the firmware runs in its own process
group, gets SIGINT and up to 5 s to say goodbye, then the group is killed.
A Hard reset (the firmware exits with status 75) restarts the firmware, as a
device would reboot. Exit status: 0 after a stop, the firmware's status when
it exits by itself (78: config.json is wrong), 1 when the central system
cannot listen, 2 for bad arguments.
"""

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from central_system import PLAN_HELP, CentralSystem, FrameLog, PlanError, listen_error, parse_plan, port_number, quiet_libraries  # noqa: E402

EXIT_HARD_RESET = 75
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
GRACE_S = 5  # how long the firmware may take to stop after SIGINT


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


def firmware_config(path, port, flash_dir, out):
    """The config file to give the firmware: `path` itself when its
    centralSystem.url already names the bundled central system, else a copy
    in the flash directory with the url rewritten. A file that is no JSON
    or lacks the url goes as it is: the firmware reports what is wrong."""
    try:
        with open(path) as f:
            doc = json.load(f)
        url = doc["centralSystem"]["url"]
        parts = urllib.parse.urlsplit(url)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return path
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
                self.proc.send_signal(signal.SIGINT)  # KeyboardInterrupt: the firmware says "interrupted, bye"
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

    async def run(self):
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
        env = dict(os.environ)
        env["MICROPYPATH"] = ".frozen:" + os.path.join(REPO, "lib")
        env.setdefault("OCPP_FLASH_DIR", os.path.join(REPO, "flash"))
        env["OCPP_CONFIG"] = firmware_config(os.path.abspath(self.args.config), cs.port, env["OCPP_FLASH_DIR"], self.out)
        micropython = os.path.join(os.path.dirname(sys.executable), "micropython")
        argv = [micropython, os.path.join(REPO, "main.py")]
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
    ap = argparse.ArgumentParser(description=__doc__, epilog=PLAN_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
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
    return asyncio.run(Supervisor(args, plan, out).run())


if __name__ == "__main__":
    sys.exit(main())
