"""Run the real firmware on the MicroPython unix port and watch it.

Tests observe the firmware only from outside: its frames on the wire (through
the central system) and its log lines on stdout.
"""

import copy
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MICROPYTHON = str(Path(sys.executable).parent / "micropython")
MICROPYPATH = ".frozen:" + str(REPO / "lib")

EXIT_HARD_RESET = 75
EXIT_CONFIG = 78

# Short timings keep the suite fast; tests override what they exercise.
FAST = {
    "chargePoint": {"chargePointVendor": "TestVendor", "chargePointModel": "TestModel"},
    "centralSystem": {"chargePointId": "CP001", "connectTimeout": 3},
    "ocpp": {"heartbeatInterval": 60, "messageTimeout": 2, "bootRetryInterval": 1, "webSocketPingInterval": 0},
    "reconnect": {"waitMinimum": 0.2, "randomRange": 0, "repeatTimes": 2},
    "log": {"level": "debug"},
}


def merge(base, over):
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        elif v is None:
            out.pop(k, None)
        else:
            out[k] = v
    return out


def run_micropython(code, timeout=30, cwd=None):
    """Run a snippet on the unix port with lib/ on the path; returns CompletedProcess."""
    env = dict(os.environ, MICROPYPATH=MICROPYPATH)
    return subprocess.run([MICROPYTHON, "-c", code], capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)


def interrupt(proc, grace=5):
    """SIGTERM (the firmware ends at once, as at a power cut), then SIGKILL
    after `grace` seconds. Not SIGINT: the unix port raises KeyboardInterrupt
    from its signal handler, and one that lands inside a garbage collection
    leaves the heap locked for good, so the firmware could hang instead of
    saying bye (tools/run_local.py)."""
    if proc and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(grace)


class Firmware:
    def __init__(self, workdir, config, env=None, raw_config=None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = self.workdir / "config.json"
        self.flash = self.workdir / "flash"
        if raw_config is not None:
            self.config_path.write_text(raw_config)
        else:
            self.config_path.write_text(json.dumps(config, indent=1))
        self.env = dict(os.environ, MICROPYPATH=MICROPYPATH, OCPP_CONFIG=str(self.config_path), OCPP_FLASH_DIR=str(self.flash))
        self.env.update(env or {})
        # The command line; the benchmarks swap in a heap size or an .mpy build.
        self.argv = [MICROPYTHON, str(REPO / "main.py")]
        self.lines = []
        self.proc = None
        self._cond = threading.Condition()

    def fail_imports(self, *names):
        """Before start(): while fail_now(True) holds, importing one of these
        modules (dotted names) raises MemoryError in the firmware, as a load
        on use with no heap for it does (harness/failing_imports.py)."""
        self._fail_flag = self.workdir / "fail-imports"
        self.env.update(OCPP_MAIN=self.argv[-1], OCPP_FAIL_IMPORT=" ".join(names), OCPP_FAIL_IMPORT_FLAG=str(self._fail_flag))
        self.argv = [self.argv[0], str(REPO / "harness" / "failing_imports.py")]

    def fail_now(self, on):
        if on:
            self._fail_flag.write_text("")
        elif self._fail_flag.exists():
            self._fail_flag.unlink()

    def start(self):
        self.proc = subprocess.Popen(self.argv, cwd=self.workdir, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
        self._pump_thread = threading.Thread(target=self._pump, args=(self.proc,), daemon=True)
        self._pump_thread.start()
        return self

    def _pump(self, proc):
        for line in proc.stdout:
            with self._cond:
                self.lines.append((time.monotonic(), line.rstrip("\n")))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def lines_after(self, seen):
        """The log lines (time, text) after the first `seen`: for a reader that keeps its own cursor."""
        with self._cond:
            return self.lines[seen:]

    @property
    def log(self):
        with self._cond:
            return "\n".join(line for _, line in self.lines)

    def wait_log(self, pattern, timeout=10.0, count=1):
        """Wait until `count` log lines match the regex; returns the last match."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                hits = [m for m in (rx.search(line) for _, line in self.lines) if m]
                if len(hits) >= count:
                    return hits[count - 1]
                left = deadline - time.monotonic()
                if left <= 0:
                    tail = "\n".join(line for _, line in self.lines[-25:])
                    raise TimeoutError("no %d log line(s) matching %r within %.1f s; last lines:\n%s" % (count, pattern, timeout, tail))
                self._cond.wait(min(left, 0.5))

    def wait_exit(self, timeout=10.0):
        code = self.proc.wait(timeout)
        self._pump_thread.join(5)  # every line the process printed is in self.lines
        return code

    def stop(self):
        interrupt(self.proc)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
