"""`tools/twin`: the whole ESP32 twin in the foreground.

Reads the unix firmware's environment: OCPP_CONFIG (default config.json),
OCPP_FLASH_DIR (default storage.dir, else ./flash) and MICROPYPATH (default
.frozen:<repo>/lib). Starts the hardware model (with the Modbus meter and
the line protocol on simulator.port) and boots the firmware on the unix
MicroPython with the ESP32 platform: boot.py then main.py, unchanged. The
firmware prints to this process's stdout; lines of the twin itself start
with "twin:".

The board: config.json as given, plus what an ESP32 charger's config.json
has and a unix one lacks, written to <flash>.twin/config.json (that
directory is the board's root, where config.json lives on a board; it also
holds the OTA partitions and the meter's register): the twin's pin layout
(model.board_layout) when evse.pilotOut is empty, an SDM120 on UART1 when
meter.model is empty, wifi.ssid "twin" (stableTime 0.2 s) when empty, and
storage.dir = the flash directory.

A machine.reset() or a watchdog that was not fed in time kills the firmware
process and boots it again (machine.reset_cause() tells which). SIGKILL of
the firmware's process alone is a power cut of the charger: the model (the
meter, powered apart) stays, and the board boots again. The firmware ending
by itself with no watchdog armed ends the twin with its status.
SIGINT/SIGTERM: the firmware gets SIGTERM (ended at once, as at a power
cut: harness/firmware.py's interrupt() says why not SIGINT), then the twin
exits; SIGKILL of the process group is a power cut, and starting again
on the same flash directory is the next boot.
"""

import copy
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
BOARD = os.path.join(HERE, "board")
sys.path.insert(0, REPO)

from harness.firmware import interrupt  # noqa: E402
from harness.twin import bootloader, model  # noqa: E402

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3


def say(text):
    sys.stdout.write("twin: %s\n" % text)
    sys.stdout.flush()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def board_config(doc, flash):
    """The unix config.json -> what this ESP32 board's config.json holds."""
    doc = copy.deepcopy(doc)
    count = doc.get("connectors", {}).get("count", 1)
    ev = doc.setdefault("evse", {})
    if not ev.get("pilotOut"):
        layout = model.board_layout(count)
        ev.setdefault("lockTimeout", layout.pop("lockTimeout"))
        ev.update(layout)
    meter = doc.setdefault("meter", {})
    if "model" not in meter:  # an explicit "" stays: a board without its meter (tests/test_twin.py)
        meter.update(model="SDM120", uart=1, tx=4, rx=5, baud=9600)
    meter.pop("device", None)
    wifi = doc.setdefault("wifi", {})
    if not wifi.get("ssid"):
        wifi.update(ssid="twin", password="twin-password")
        wifi.setdefault("stableTime", 0.2)
    if "cardReader" not in ev and _chip() is not None:
        # The board's MFRC522 on VSPI (the reader's defaults), at connector 1,
        # once the firmware and the twin have it (branch `reader`).
        # A 300 ms debounce (the reader's default is 1 s): a test's second tap
        # of the same card waits that out.
        ev["cardReader"] = {"type": "mfrc522", "cs": model.READER_PINS["cs"], "connector": 1, "debounce": 300}
    doc.setdefault("storage", {})["dir"] = flash
    return doc


class Twin:
    def __init__(self):
        cfg_path = os.path.abspath(os.getenv("OCPP_CONFIG") or "config.json")
        with open(cfg_path) as f:
            self.user = json.load(f)
        flash = os.getenv("OCPP_FLASH_DIR") or self.user.get("storage", {}).get("dir") or "flash"
        self.flash = os.path.abspath(flash)
        os.makedirs(self.flash, exist_ok=True)
        self.root = self.flash.rstrip("/") + ".twin"
        os.makedirs(self.root, exist_ok=True)
        self.config = board_config(self.user, self.flash)
        with open(os.path.join(self.root, "config.json"), "w") as f:
            json.dump(self.config, f, indent=1)
        self.settings = _with_defaults(self.config)
        self.model = model.Model(self.settings, self.root, chip=_chip())
        self.model.meter_bus = model.MeterBus(self.model, self.settings["meter"]["address"]).start()
        self.hw = model.hw_server(self.model)
        self.agent_port = free_port()
        sim_port = self.settings["simulator"]["port"]
        self.line = model.LineServer(self.model, model.Agent(self.agent_port), sim_port) if sim_port else None
        self.parts = os.path.join(self.root, "partitions")
        bootloader.prepare(self.parts)
        self.proc = None
        self.stopping = False
        say(
            "board %s: hardware model on 127.0.0.1:%d, line protocol on %s, meter %s on %s"
            % (self.root, self.hw.server_address[1], sim_port or "(off)", self.settings["meter"]["model"], self.model.meter_bus.path)
        )

    def _env(self):
        env = dict(os.environ)
        path = os.getenv("MICROPYPATH") or ".frozen:" + os.path.join(REPO, "lib")
        # The firmware runs in the board's root: relative entries (lib) are the caller's.
        path = ":".join(p if p == ".frozen" or os.path.isabs(p) else os.path.abspath(p) for p in path.split(":"))
        env.update(
            MICROPYPATH=BOARD + ":" + path,
            TWIN_HW=str(self.hw.server_address[1]),
            TWIN_PARTITIONS=self.parts,
            OCPP_FLASH_DIR=self.flash,
        )
        env.pop("OCPP_CONFIG", None)  # the board reads its own /config.json
        if self.line:  # the probe serves the line protocol only (twin_boot.py)
            env["TWIN_AGENT"] = str(self.agent_port)
        return env

    def boot(self):
        m = self.model
        with m.lock:
            m.boots += 1
            m.wdt_ms = None  # a reset disarms the watchdog until the firmware arms it again
            m.reset_request = None
            m.stalled.clear()  # a reset frees a wedged peripheral
            m.unstall.set()
            # A reset (or a power cut) leaves every GPIO an input: the relay
            # driver and the PWM stop, the relay drops out, a level lock lets go.
            m.out.clear()
            m.pwm.clear()
            for n in range(1, m.count + 1):
                m._lock_driven(n)
            m._meter_follow()
        label = bootloader.boot(self.parts, say)
        micropython = os.getenv("MICROPYTHON") or os.path.join(os.path.dirname(sys.executable), "micropython")
        argv = [micropython, os.path.join(BOARD, "twin_boot.py"), REPO]
        extra = os.getenv("TWIN_MICROPYTHON_ARGS")  # e.g. "-X heapsize=110K" (the bench)
        if extra:
            argv[1:1] = extra.split()
        say("boot %d from %s (reset cause %d)" % (m.boots, label, m.reset_cause))
        self.proc = subprocess.Popen(argv, cwd=self.root, env=self._env(), stdin=subprocess.DEVNULL)
        say("firmware process %d" % self.proc.pid)

    def _reset(self, cause, why):
        say("%s: resetting the board" % why if cause != PWRON_RESET else "%s: booting again" % why)
        self.proc.kill()
        self.proc.wait()
        self.model.reset_cause = cause
        self.boot()

    def run(self):
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, self._on_signal)
        self.boot()
        m = self.model
        while not self.stopping:
            time.sleep(0.02)
            with m.lock:
                for n in range(1, m.count + 1):
                    m.meter.integrate(n)
                m.meter.save()
                request = m.reset_request
                starved = m.wdt_ms is not None and (time.monotonic() - m.last_feed) * 1000 > m.wdt_ms
            if self.stopping:
                break
            if request:
                self._reset(HARD_RESET, "machine.reset()")
            elif starved:
                self._reset(WDT_RESET, "watchdog not fed for %d ms" % m.wdt_ms)
            elif self.proc.poll() is not None and self.proc.returncode < 0 and not self.stopping:
                # Killed by a signal (SIGKILL of the firmware's process): a
                # power cut of the charger; the meter, powered apart, goes on.
                # The power returns: the board boots again.
                self._reset(PWRON_RESET, "the firmware process was killed (%s): a power cut" % signal.Signals(-self.proc.returncode).name)
            elif self.proc.poll() is not None:
                if m.wdt_ms is None:
                    say("the firmware ended with status %d and no watchdog is armed: the board stays down" % self.proc.returncode)
                    return self.proc.returncode
                # A board sits in the REPL until the armed watchdog resets it.
        return 0

    def _on_signal(self, signum, _frame):
        self.stopping = True
        interrupt(self.proc)
        with self.model.lock:
            self.model.meter.save(force=True)


def _chip():
    # The card reader chip, once harness/twin/mfrc522_chip.py exists
    # (branch `reader`); until then the board has no reader.
    try:
        from harness.twin import mfrc522_chip
    except ImportError:
        return None
    for name in ("Mfrc522Chip", "MFRC522Chip", "Chip"):
        if hasattr(mfrc522_chip, name):
            return getattr(mfrc522_chip, name)()
    return None


def _with_defaults(doc):
    # The few settings the model reads, with config.json's defaults.
    out = copy.deepcopy(doc)
    out.setdefault("connectors", {}).setdefault("count", 1)
    meter = out.setdefault("meter", {})
    meter.setdefault("uart", 1)
    meter.setdefault("address", 1)
    out.setdefault("simulator", {}).setdefault("port", 0)
    return out


def main():
    twin = Twin()
    code = twin.run()
    sys.exit(code)


if __name__ == "__main__":
    threading.current_thread().name = "twin"
    main()
