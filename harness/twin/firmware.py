"""The twin under test: tools/twin in its own process group, watched like the
unix firmware (harness/firmware.py: wait_log on its stdout), plus the
hardware model's own view (hw()) and its controls (radio())."""

import json
import os
import signal
import socket
import subprocess
import sys

from harness.firmware import REPO, Firmware


class TwinFirmware(Firmware):
    def __init__(self, workdir, config, env=None, raw_config=None):
        super().__init__(workdir, config, env=env, raw_config=raw_config)
        self.argv = [sys.executable, str(REPO / "tools" / "twin")]
        self._hw = None

    def start(self):
        self.proc = subprocess.Popen(
            self.argv,
            cwd=self.workdir,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,
        )
        import threading

        self._pump_thread = threading.Thread(target=self._pump, args=(self.proc,), daemon=True)
        self._pump_thread.start()
        return self

    def _killpg(self, sig):
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self._killpg(signal.SIGTERM)
            try:
                self.proc.wait(8)
            except subprocess.TimeoutExpired:
                self._killpg(signal.SIGKILL)
                self.proc.wait(5)
        self._close_hw()

    def kill(self):
        """SIGKILL to the whole twin (a power cut of the charger and its meter's host)."""
        if self.proc and self.proc.poll() is None:
            self._killpg(signal.SIGKILL)
            self.proc.wait(5)
        self._close_hw()

    def _close_hw(self):
        if self._hw:
            self._hw.close()
            self._hw = None

    def hw_ask(self, line):
        if self._hw is None:
            port = int(self.wait_log(r"twin: board .* hardware model on 127\.0\.0\.1:(\d+)").group(1))
            self._hw = socket.create_connection(("127.0.0.1", port), timeout=5).makefile("rwb")
        self._hw.write(line.encode() + b"\n")
        self._hw.flush()
        return self._hw.readline().decode().strip()

    def hw(self):
        """The model's view: per connector dutyPct, pilotHighV, relay, locked; boots, wdtMs, radio, resetCause."""
        return json.loads(self.hw_ask("hw"))

    def radio(self, up):
        """The Wi-Fi access point in reach (True) or gone (False)."""
        assert self.hw_ask("radio %s" % ("up" if up else "down")) == "ok"

    def stall(self, request):
        """The next `request` (adc, spi, in, ...) of the firmware never returns, until a reset."""
        assert self.hw_ask("stall %s" % request) == "ok"

    @property
    def root(self):
        return self.flash.parent / (self.flash.name + ".twin")
