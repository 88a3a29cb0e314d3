"""The ESP32 twin's hardware model (CPython): the board's circuits behind the
stand-ins of harness/twin/board/, and the simulator's line protocol on
top of them.

    firmware (MicroPython, ESP32 platform code)  --  stand-ins (machine, network, esp32)
        | one TCP line protocol (127.0.0.1:hw_port, board/_wire.py)
    Model: pilot circuit (EV state A..F through the front end and the ADC),
        relay, lock actuator with feedback, fault inputs, watchdog, Wi-Fi
        radio, card reader chip (when a chip model is given), and the energy
        meters: a real Modbus RTU server (pymodbus) on a pty behind the UART
    LineServer: `plug N`, `card N TAG`, ... on simulator.port, acting only
        through the model (tests and tools drive the twin as the simulator)

The model runs in its own process beside the firmware's, so that killing
the firmware (a power cut, a watchdog reset) leaves the meter, which a real
charger powers apart, with its register; the register is also kept on disk
(meter.json) across whole restarts of the twin.
"""

import json
import os
import socket
import socketserver
import struct
import threading
import time

VOLTS = 230.0
# The positive pilot level (V) that each EV state produces through the
# vehicle's resistors (IEC 61851-1): A nothing, B 2.74 kOhm, C 882 Ohm,
# D 246 Ohm; E the pilot shorted to PE; F the EVSE's own generator failed.
LEVELS = {"A": 12.0, "B": 9.0, "C": 6.0, "D": 3.0, "E": 0.0, "F": -12.0}
ERROR_CODES = (
    "ConnectorLockFailure", "EVCommunicationError", "GroundFailure", "HighTemperature",
    "InternalError", "LocalListConflict", "OtherError", "OverCurrentFailure",
    "OverVoltage", "PowerMeterFailure", "PowerSwitchFailure", "ReaderFailure",
    "ResetFailure", "UnderVoltage", "WeakSignal",
)  # fmt: skip
# The codes with a fault input pin on the twin's board; EVCommunicationError
# is the pilot itself (shorted to PE: state E), as on a real charger.
INPUT_CODES = tuple(c for c in ERROR_CODES if c != "EVCommunicationError")
LOCK_TRAVEL_S = 0.03  # the actuator's travel time
SETTLE_S = 10.0  # the longest a reply waits for the firmware (as evse_sim.py)


# The card reader's SPI pins (evse.cardReader's defaults, VSPI): kept free.
READER_PINS = {"cs": 5, "sck": 18, "mosi": 23, "miso": 19, "rst": 22}


def board_layout(count):
    """The twin's board for `count` connectors: config.json's evse section.
    GPIOs in order from 1, past the card reader's: per connector pilot out,
    pilot in, relay, lock, lock feedback; then one fault input per code and
    connector while GPIOs last (up to 48)."""
    free = [g for g in range(1, 49) if g not in READER_PINS.values()]
    ev = {k: [] for k in ("pilotOut", "pilotIn", "relay", "lockPin", "lockFeedback")}
    for _ in range(count):
        for key in ev:
            ev[key].append(free.pop(0))
    faults = []
    for n in range(1, count + 1):
        for code in INPUT_CODES:
            if not free:
                break
            faults.append({"pin": free.pop(0), "code": code, "active": 1, "connector": n})
    ev.update(faults=faults, lockTimeout=0.5)
    return ev


class Meter:
    """Energy registers (Wh) and the power each EV draws, per connector; kept
    in `path` so that the register outlives the twin's processes."""

    def __init__(self, count, path):
        self.count = count
        self.path = path
        self.energy = [0.0] * (count + 1)
        self.power = [0.0] * (count + 1)
        self.drawing = [False] * (count + 1)
        self._since = [time.monotonic()] * (count + 1)
        self._saved = 0.0
        try:
            with open(path) as f:
                saved = json.load(f)
            for n in range(1, count + 1):
                self.energy[n] = float(saved.get(str(n), 0.0))
        except (OSError, ValueError):
            pass

    def integrate(self, n):
        now = time.monotonic()
        if self.drawing[n]:
            self.energy[n] += self.power[n] * (now - self._since[n]) / 3600.0
        self._since[n] = now

    def watts(self, n):
        return self.power[n] if self.drawing[n] else 0.0

    def save(self, force=False):
        now = time.monotonic()
        if not force and now - self._saved < 0.2:
            return
        self._saved = now
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump({str(n): self.energy[n] for n in range(1, self.count + 1)}, f)
        os.replace(tmp, self.path)


class MeterBus:
    """Eastron SDM120 meters (connector n at Modbus address address + n - 1)
    as a real pymodbus RTU server, on a pty behind a byte relay whose other
    pty is what the UART stand-in opens."""

    # SDM input registers (lib/uocpp/device/sdm.py)
    REGISTERS = {"V": 0x00, "I": 0x06, "P": 0x0C, "F": 0x46, "KWH": 0x48}

    def __init__(self, model, address):
        from harness.modbus_meter import Relay

        self.model = model
        self.address = address
        self.relay = Relay().start()
        self.path = self.relay.path
        self._loop = None
        self._server = None

    def _values(self, n):
        with self.model.lock:
            m = self.model.meter
            m.integrate(n)
            m.save(force=True)  # what the firmware reads is on disk before it is answered
            w = m.watts(n)
            return {"V": VOLTS, "I": w / VOLTS, "P": w, "F": 50.0, "KWH": m.energy[n] / 1000.0}

    def start(self):
        import asyncio

        from pymodbus.framer import FramerType
        from pymodbus.server import ModbusSerialServer
        from pymodbus.simulator import DataType, SimData, SimDevice

        ready = threading.Event()

        def action_for(n):
            async def action(_fc, start, _address, _count, registers, _set_values):
                for name, value in self._values(n).items():
                    reg = self.REGISTERS[name]
                    hi, lo = struct.unpack(">2H", struct.pack(">f", value))
                    if 0 <= reg - start < len(registers) - 1:
                        registers[reg - start] = hi
                        registers[reg - start + 1] = lo
                return None

            return action

        def run():
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)

            async def serve():
                devices = [
                    SimDevice(id=self.address + n - 1, simdata=[SimData(0, count=0x28, values=0.0, datatype=DataType.FLOAT32)], action=action_for(n))
                    for n in range(1, self.model.count + 1)
                ]
                self._server = ModbusSerialServer(devices, framer=FramerType.RTU, port=self.relay.meter_path, baudrate=9600, ignore_missing_devices=True)
                await self._server.serve_forever(background=True)
                ready.set()
                await self._server.serving

            self._loop.run_until_complete(serve())

        threading.Thread(target=run, daemon=True).start()
        if not ready.wait(10):
            raise RuntimeError("twin: the Modbus meter server did not start")
        return self


class Model:
    """Every circuit of the board; `lock` guards all of it."""

    def __init__(self, settings, state_dir, chip=None):
        self.lock = threading.Lock()
        self.settings = settings
        ev = settings["evse"]
        self.ev = ev
        self.count = settings["connectors"]["count"]
        n1 = self.count + 1
        self.ev_state = ["A"] * n1  # what the vehicle presents (the line protocol's view)
        self.shorted = [False] * n1  # CP shorted to PE (pilot state E)
        self.faults = [set() for _ in range(n1)]
        self.lock_works = [True] * n1
        self.lock_pos = [False] * n1  # the bolt: locked or not
        self._lock_move = [None] * n1  # (target, when it arrives)
        self.out = {}  # GPIO -> level driven by the firmware
        self.pull = {}
        self.pwm = {}  # GPIO -> (freq, duty_u16)
        self.pins = {}  # GPIO -> (role, connector)
        for role in ("pilotOut", "pilotIn", "relay", "lockPin", "lockFeedback"):
            for i, gpio in enumerate(ev.get(role) or []):
                if gpio >= 0:
                    self.pins[gpio] = (role, i + 1)
        self.fault_pins = {f["pin"]: f for f in ev.get("faults", [])}
        self.meter = Meter(self.count, os.path.join(state_dir, "meter.json"))
        self.chip = chip  # a card reader chip model: transfer(bytes) -> bytes, present(uid), remove()
        reader = ev.get("cardReader") or {}
        # Its chip select: MFRC522 boards label it SDA.
        self.chip_cs = reader.get("cs", READER_PINS["cs"]) if reader else None
        self._spi_pending = None
        self.card_gone = {}  # uid -> when it left the reader
        self.radio = True  # the access point is in reach
        self.station = {"active": False, "ssid": None, "since": None}
        self.wdt_ms = None
        self.last_feed = None
        self.boots = 0
        self.reset_cause = 1  # PWRON_RESET
        self.reset_request = None  # set by the firmware (machine.reset) or the watchdog
        self.uid = bytes.fromhex("24dcc3a1b2c4")
        # A peripheral that hangs (`stall adc`): its next access never
        # returns, as a wedged ADC or bus can; a reset clears it.
        self.stalled = set()
        self.unstall = threading.Event()
        # Where a connection goes while the station has no link: a port bound
        # and never listening, so a connect is refused at once.
        self.no_route = socket.socket()
        self.no_route.bind(("127.0.0.1", 0))

    # -- the pilot ------------------------------------------------------------
    def _duty_fraction(self, n):
        # The fraction of each PWM period the pilot generator drives +12 V.
        gpio = self.ev["pilotOut"][n - 1]
        _freq, duty = self.pwm.get(gpio, (0, 0))
        frac = duty / 65535.0
        return 1.0 - frac if self.ev.get("pilotInvert") else frac

    def duty_percent(self, n):
        with self.lock:
            return round(self._duty_fraction(n) * 100.0, 3)

    def pilot_volts(self, n, high):
        if not high:
            return -12.0  # the low phase: -12 V (the vehicle's diode passes nothing)
        if self.shorted[n]:
            return 0.0
        return LEVELS[self.ev_state[n]]

    def adc_levels(self, gpio):
        # The pilot as its ADC pin sees it: the fraction of each 1 kHz period
        # in the high phase, and the reading of each phase (front end and ADC,
        # without noise). The stand-in ADC samples this waveform at the
        # firmware's own clock: on the chip the PWM timer and the ADC share
        # one crystal, so where a read falls in the period is a matter of the
        # firmware's timing, never of this process's or the wire's.
        _role, n = self.pins[gpio]
        frac = self._duty_fraction(n)
        plus, minus = self.ev.get("adcPlus12", 57600), self.ev.get("adcMinus12", 5000)

        def raw(v):
            return int(min(65535, max(0, minus + (v + 12.0) * (plus - minus) / 24.0)))

        return (1.0 if frac >= 0.9999 else frac), raw(self.pilot_volts(n, True)), raw(self.pilot_volts(n, False))

    def offered_amps(self, n):
        # What the vehicle reads from the duty cycle (IEC 61851-1, vehicle side).
        pct = self._duty_fraction(n) * 100.0
        if pct < 8 or pct > 97:
            return 0
        amps = 6 if pct < 10 else pct * 0.6 if pct <= 85 else (pct - 64) * 2.5 if pct <= 96 else 80
        amps = round(amps, 1)
        return int(amps) if amps == int(amps) else amps

    # -- relay and lock --------------------------------------------------------
    def relay_closed(self, n):
        gpio = self.ev["relay"][n - 1]
        return self.out.get(gpio, 1 - self.ev.get("relayActive", 1)) == self.ev.get("relayActive", 1)

    def _lock_update(self, n):
        move = self._lock_move[n]
        if move and time.monotonic() >= move[1]:
            self.lock_pos[n] = move[0]
            self._lock_move[n] = None

    def _lock_driven(self, n):
        # A level-mode actuator: the bolt goes where the lock pin says, if it works.
        gpio = (self.ev.get("lockPin") or [-1] * n)[n - 1]
        if gpio < 0:
            return
        target = self.out.get(gpio, 0) == self.ev.get("lockActive", 1)
        self._lock_update(n)
        if self.lock_works[n] and target != self.lock_pos[n]:
            self._lock_move[n] = (target, time.monotonic() + LOCK_TRAVEL_S)
        elif not self.lock_works[n]:
            self._lock_move[n] = None  # stuck where it is

    def locked(self, n):
        self._lock_update(n)
        return self.lock_pos[n]

    def _drawing(self, n):
        return self.relay_closed(n) and self.ev_state[n] in ("C", "D") and not self.shorted[n]

    def _meter_follow(self):
        for n in range(1, self.count + 1):
            d = self._drawing(n)
            if d != self.meter.drawing[n]:
                self.meter.integrate(n)
                self.meter.drawing[n] = d
                self.meter.save(force=True)

    # -- the stand-ins' requests -------------------------------------------------
    def handle(self, words):
        verb = words[0]
        if verb in self.stalled:
            self.unstall.wait()  # outside the lock: the rest of the board goes on
            return "!stalled"
        with self.lock:
            if verb == "adc":
                return "%.5f %d %d" % self.adc_levels(int(words[1]))
            if verb == "in":
                return str(self._input(int(words[1])))
            if verb == "out":
                gpio, level = int(words[1]), int(words[2])
                self.out[gpio] = level
                if gpio == self.chip_cs:
                    self._chip_select(level)
                role = self.pins.get(gpio)
                if role and role[0] == "lockPin":
                    self._lock_driven(role[1])
                self._meter_follow()
                return "ok"
            if verb == "pwm":
                self.pwm[int(words[1])] = (int(words[2]), int(words[3]))
                return "ok"
            if verb in ("mode", "pull", "adc_atten"):
                if verb == "pull":
                    self.pull[int(words[1])] = int(words[2])
                return "ok"
            if verb in ("spi", "spiw"):
                return self._spi(verb == "spiw", b"" if words[2] == "-" else bytes.fromhex(words[2]))
            if verb == "uart":
                uart = int(words[1])
                if self.meter_bus is not None and uart == self.settings["meter"]["uart"]:
                    return self.meter_bus.path
                return "!no device wired to UART%d" % uart
            if verb == "wdt":
                self.wdt_ms = int(words[1])
                self.last_feed = time.monotonic()
                return "ok"
            if verb == "feed":
                self.last_feed = time.monotonic()
                return "ok"
            if verb == "wifi":
                return self._wifi(words[1:])
            if verb == "reset":
                self.reset_request = 2  # HARD_RESET
                return "ok"
            if verb == "reset_cause":
                return str(self.reset_cause)
            if verb == "unique_id":
                return self.uid.hex()
            if verb == "hw":
                return json.dumps(self.hw_state())
            if verb == "radio":
                self.radio = words[1] == "up"
                return "ok"
            if verb == "stall":
                self.unstall.clear()
                self.stalled.add(words[1])
                return "ok"
        return "!unknown request " + verb

    meter_bus = None

    def chip_uid(self, tag):
        # The UID of the card whose idTag is `tag` (the chip model's rule:
        # the UID in hex); ValueError for a tag no card can have.
        from harness.twin.mfrc522_chip import uid_from_tag

        return uid_from_tag(tag)

    # -- the card reader chip on SPI ---------------------------------------------
    # The chip model takes one CS-low transaction at a time:
    # chip.transfer(bytes written) -> bytes read, as long. A driver may split
    # a transaction into calls (write the address, then read the value):
    # writes are held until a call needs bytes back (then the transaction so
    # far goes to the chip and the call gets its part of the answer) or CS
    # rises. Without a known CS pin, each call is one transaction.
    def _chip_select(self, level):
        if level == 0:
            self._spi_pending = bytearray()
        else:
            pending, self._spi_pending = self._spi_pending, None
            if pending and self.chip is not None:
                self.chip.transfer(bytes(pending))

    def _spi(self, write_only, data):
        if self.chip is None:
            return "ff" * len(data) or "-"  # nothing on the bus: MISO floats high
        pending = self._spi_pending
        if pending is None:
            return bytes(self.chip.transfer(data)).hex() or "-"
        pending.extend(data)
        if write_only:
            return "00" * len(data) or "-"
        got = bytes(self.chip.transfer(bytes(pending)))
        self._spi_pending = bytearray()
        return got[len(got) - len(data) :].hex() or "-"

    def _input(self, gpio):
        role = self.pins.get(gpio)
        if role and role[0] == "lockFeedback":
            on = self.ev.get("lockFeedbackActive", 1)
            return on if self.locked(role[1]) else 1 - on
        f = self.fault_pins.get(gpio)
        if f:
            on = f.get("active", 0)
            return on if f["code"] in self.faults[f.get("connector", 0) or 1] else 1 - on
        if gpio in self.out:
            return self.out[gpio]
        return self.pull.get(gpio, 0)  # a button pulled up and not pressed reads 1

    def _wifi(self, words):
        st = self.station
        if words[0] in ("sta", "ap"):
            if words[0] == "sta":
                st["active"] = words[1] == "on"
            return "ok"
        if words[0] == "connect":
            st["ssid"] = words[1]
            st["since"] = time.monotonic()
            return "ok"
        if words[0] == "disconnect":
            st["ssid"] = None
            return "ok"
        if words[0] == "isconnected":
            # Associated a moment after connect(), while the radio reaches the AP.
            up = st["active"] and st["ssid"] and self.radio and time.monotonic() - st["since"] > 0.05
            if st["ssid"] and not self.radio:
                st["since"] = time.monotonic()  # the driver keeps trying: back a moment after the AP returns
            return "1" if up else "0"
        if words[0] == "routed":
            # No route only while the station is on and has no link: in
            # setup mode (the access point, no station) the board's own
            # addresses still work.
            up = st["ssid"] and self.radio and time.monotonic() - (st["since"] or 0) > 0.05
            return "0" if st["active"] and not up else "1"
        if words[0] == "noroute":
            return str(self.no_route.getsockname()[1])
        if words[0] == "rssi":
            return "-55" if self.radio else "-100"
        return "ok"

    def hw_state(self):
        out = {}
        for n in range(1, self.count + 1):
            out[str(n)] = {
                "dutyPct": round(self._duty_fraction(n) * 100.0, 3),
                "pilotHighV": self.pilot_volts(n, True),
                "relay": self.relay_closed(n),
                "locked": self.locked(n),
                "lockPin": self.out.get((self.ev.get("lockPin") or [-1] * n)[n - 1]),
            }
        return {"connectors": out, "boots": self.boots, "wdtMs": self.wdt_ms, "radio": self.radio, "resetCause": self.reset_cause}

    # -- what the line protocol reports ---------------------------------------------
    def connector_state(self, n):
        with self.lock:
            self.meter.integrate(n)
            self.meter.save()
            return {
                "relay": self.relay_closed(n),
                "offeredA": self.offered_amps(n),
                "energyWh": round(self.meter.energy[n], 3),
                "locked": self.locked(n),
                "pilot": self.ev_state[n],
            }


class _HwHandler(socketserver.StreamRequestHandler):
    def handle(self):
        model = self.server.model
        for line in self.rfile:
            words = line.decode().split()
            if not words:
                continue
            try:
                reply = model.handle(words)
            except Exception as e:  # a bad request must not end the board
                reply = "!%s: %s" % (type(e).__name__, e)
            self.wfile.write(reply.encode() + b"\n")


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def hw_server(model, port=0):
    server = _Server(("127.0.0.1", port), _HwHandler)
    server.model = model
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class Agent:
    """The line-protocol server's view into the firmware (board/_agent.py)."""

    def __init__(self, port):
        self.port = port

    def ask(self, line, timeout):
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            s.sendall(line.encode() + b"\n")
            f = s.makefile("rb")
            reply = f.readline()
        if not reply:
            raise OSError("agent closed")
        return reply.decode().strip()

    def until(self, deadline, line, ok):
        # Asks until ok(reply) or the deadline; the firmware may be booting.
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                if ok(self.ask(line, left)):
                    return True
            except (OSError, ValueError):
                pass
            time.sleep(0.02)


class _LineHandler(socketserver.StreamRequestHandler):
    def handle(self):
        twin = self.server.twin
        for line in self.rfile:
            try:
                reply = twin.command(line.decode().split())
            except Exception as e:  # a tool that misbehaves must not hurt the charger
                reply = "error %s" % e
            self.wfile.write(reply.encode() + b"\n")


class LineServer:
    """The unix simulator's line protocol (lib/uocpp/platform/evse_sim.py
    header), acting through the model: the same replies, the same state."""

    VERBS = ("plug", "unplug", "charge", "suspend", "card", "power", "meter", "fault", "clear", "lock")

    def __init__(self, model, agent, port):
        self.model = model
        self.agent = agent
        self._busy = threading.Lock()  # one command at a time, as the firmware's single loop
        server = _Server(("127.0.0.1", port), _LineHandler)
        server.twin = self
        self.server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def command(self, words):
        with self._busy:
            if words == ["state"]:
                return "ok " + json.dumps(self._state())
            try:
                reply, seen = self._apply(words)
            except (ValueError, IndexError):
                return "error bad arguments: " + " ".join(words)[:80]
            if reply.startswith("error"):
                return reply
            deadline = time.monotonic() + SETTLE_S
            if seen and seen[0] == "card":
                if not self._tap(seen[1], deadline):
                    return "error the firmware did not settle within %d ms" % (SETTLE_S * 1000)
                seen = None
            if seen and not self.agent.until(deadline, "seen %d" % seen[0], seen[1]):
                return "error the firmware did not settle within %d ms" % (SETTLE_S * 1000)
            if not self.agent.until(deadline, "settled", lambda r: r == "ok"):
                return "error the firmware did not settle within %d ms" % (SETTLE_S * 1000)
            return reply

    def _tap(self, uid, deadline):
        # A card held to the reader until the firmware's reader reported it
        # and the sessions took it, then taken away. The same card again
        # waits out the reader's debounce first, as a person tapping twice
        # does (a card held on is one presentation).
        m = self.model
        debounce_s = (m.ev.get("cardReader") or {}).get("debounce", 1000) / 1000.0
        wait = m.card_gone.get(uid, 0) + debounce_s + 0.15 - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        got = {}

        def cards(r):
            got.update(json.loads(r))
            return True

        if not self.agent.until(deadline, "cards", cards):
            return False
        before = got["events"]
        with m.lock:
            m.chip.present(uid)
        try:
            return self.agent.until(deadline, "cards", lambda r: json.loads(r)["events"] > before and json.loads(r)["queued"] == 0)
        finally:
            with m.lock:
                m.chip.remove()
                m.card_gone[uid] = time.monotonic()

    def _state(self):
        got = {}
        try:
            got = json.loads(self.agent.ask("state", SETTLE_S))
        except (OSError, ValueError):
            pass
        out = {}
        for n in range(1, self.model.count + 1):
            status, tx = got.get(str(n), ["Unavailable", None])
            st = {"status": status, "transactionId": tx}
            st.update(self.model.connector_state(n))
            out[str(n)] = {k: st[k] for k in ("status", "transactionId", "relay", "offeredA", "energyWh", "locked", "pilot")}
        return out

    def _apply(self, words):
        # -> (reply, (connector, ok(seen reply)) the firmware must read first, or None)
        m = self.model
        verb = words[0] if words else ""
        if verb not in self.VERBS:
            return "error unknown command " + verb[:20], None
        n = int(words[1])
        if not 1 <= n <= m.count:
            return "error no connector %d" % n, None
        args = words[2:]
        want = 1 if verb in ("card", "power", "meter", "fault", "lock") else 0
        if len(args) != want:
            return "error %s takes %d argument(s) after the connector" % (verb, want), None

        def pilot_is(state):
            return n, lambda r: json.loads(r)["pilot"] == state

        with m.lock:
            m.meter.integrate(n)
            if verb in ("plug", "unplug", "charge", "suspend"):
                if verb in ("charge", "suspend") and m.ev_state[n] == "A":
                    return "error connector %d: no EV plugged in" % n, None
                if verb == "plug":
                    m.ev_state[n] = "B" if m.ev_state[n] == "A" else m.ev_state[n]
                else:
                    m.ev_state[n] = {"unplug": "A", "charge": "C", "suspend": "B"}[verb]
                m._meter_follow()
                return "ok", None if m.shorted[n] else pilot_is(m.ev_state[n])
            if verb == "card":
                if len(args[0]) > 20:
                    return "error an idTag has at most 20 characters", None
                reader = m.ev.get("cardReader")
                if m.chip is None or not reader:
                    return "error no card reader on this board (evse.cardReader)", None
                if n != reader.get("connector", 1):
                    return "error no card reader at connector %d (it serves connector %d)" % (n, reader.get("connector", 1)), None
                try:
                    uid = m.chip_uid(args[0])
                except ValueError as e:
                    return "error %s" % e, None
                return "ok", ("card", uid)
            if verb == "power":
                m.meter.power[n] = max(0.0, float(args[0]))
                m.meter.save(force=True)
                return "ok", None
            if verb == "meter":
                m.meter.energy[n] = max(0.0, float(args[0]))
                m.meter.save(force=True)
                return "ok", None
            if verb == "fault":
                code = args[0]
                if code not in ERROR_CODES:
                    return "error unknown ChargePointErrorCode " + code[:30], None
                if code == "EVCommunicationError":
                    m.shorted[n] = True
                    m._meter_follow()
                    return "ok", (n, lambda r: json.loads(r)["fault"] != "NoError")
                if not any(f["code"] == code and f.get("connector", 0) in (0, n) for f in m.fault_pins.values()):
                    return "error no fault input for %s on connector %d on this board" % (code, n), None
                m.faults[n].add(code)
                return "ok", (n, lambda r: json.loads(r)["fault"] != "NoError")
            if verb == "clear":
                m.faults[n].clear()
                m.shorted[n] = False
                m._meter_follow()
                state = m.ev_state[n]
                return "ok", (n, lambda r: json.loads(r)["fault"] == "NoError" and json.loads(r)["pilot"] == state)
            if args[0] not in ("ok", "fail"):
                return "error lock takes ok or fail", None
            m.lock_works[n] = args[0] == "ok"
            return "ok", None
