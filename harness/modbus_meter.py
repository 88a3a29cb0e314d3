"""An Eastron SDM meter on a pty: a real Modbus RTU server (pymodbus) behind a
byte relay that can damage the wire, and a MicroPython shell driving
uocpp.device.sdm on the other end.

    firmware (MicroPython, opens relay.path)
        <-> pty B <-> Relay thread (faults) <-> pty A <-> pymodbus ModbusSerialServer

The server holds input registers 0x0000..0x004F as float32 (high word first,
as Eastron meters send them); set() changes a value between reads. With
also=(2, ...) more meters answer on the same pty, each at its own Modbus
address with its own values (set_at): one RS-485 bus with several meters,
as the connector's meter and the grid meter of energy.gridBus "meter". The relay
passes requests through and applies one fault per reply from a plan:
"crc" (one data bit flipped: framing intact, CRC wrong), "drop" (no reply),
"garbage" (noise bytes first), "truncate" (the first 5 bytes only).
"""

import asyncio
import json
import os
import select
import struct
import subprocess
import threading
import time

from pymodbus.framer import FramerType
from pymodbus.server import ModbusSerialServer
from pymodbus.simulator import DataType, SimData, SimDevice

from harness.firmware import MICROPYTHON, MICROPYPATH
from harness.pty_peer import PtyPeer

# SDM input registers (see lib/uocpp/device/sdm.py)
V1, V2, V3, I1, I2, I3, P1 = 0x00, 0x02, 0x04, 0x06, 0x08, 0x0A, 0x0C
P_TOTAL, FREQ, IMPORT_KWH = 0x34, 0x46, 0x48


class SdmServer:
    """pymodbus RTU server on its own pty and event loop thread."""

    def __init__(self, path, address=1, registers=0x50, baud=9600, also=()):
        self.path = path
        self.address = address
        self.by_address = {a: {} for a in (address,) + tuple(also)}
        self.values = self.by_address[address]  # register -> float, written into the block on every request
        self.requests = 0
        self._lock = threading.Lock()
        self._registers = registers
        self._baud = baud
        self._loop = None
        self._server = None
        self._thread = None

    def set(self, **values):
        """set(V1=230.0, IMPORT_KWH=12.5): names of the constants above."""
        self.set_at(self.address, **values)

    def set_at(self, address, **values):
        """set() for the meter at another address of the bus (also=)."""
        with self._lock:
            for name, value in values.items():
                self.by_address[address][globals()[name]] = value

    def _action_for(self, address):
        async def action(fc, start, at, count, registers, set_values):
            return await self._action(fc, start, at, count, registers, set_values, address)

        return action

    async def _action(self, _fc, start, _address, _count, registers, _set_values, address=None):
        # Called by pymodbus before it answers: put the current floats in.
        with self._lock:
            self.requests += 1
            for register, value in self.by_address[self.address if address is None else address].items():
                hi, lo = struct.unpack(">2H", struct.pack(">f", value))
                if 0 <= register - start < len(registers) - 1:
                    registers[register - start] = hi
                    registers[register - start + 1] = lo
        return None

    def start(self):
        ready = threading.Event()

        def run():
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)

            async def serve():
                device = [
                    SimDevice(
                        id=a,
                        simdata=[SimData(0, count=self._registers // 2, values=0.0, datatype=DataType.FLOAT32)],
                        action=self._action_for(a),
                    )
                    for a in self.by_address
                ]
                self._server = ModbusSerialServer(device, framer=FramerType.RTU, port=self.path, baudrate=self._baud, ignore_missing_devices=True)
                await self._server.serve_forever(background=True)
                ready.set()
                await self._server.serving

            self._loop.run_until_complete(serve())

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        assert ready.wait(10), "pymodbus server did not start"
        return self

    def stop(self):
        if self._loop and self._server:
            fut = asyncio.run_coroutine_threadsafe(self._server.shutdown(), self._loop)
            fut.result(5)
            self._thread.join(5)
            self._server = None


class Relay(PtyPeer):
    """Copies bytes between the firmware's pty and the server's pty, damaging
    replies as planned. path: what the firmware opens; meter_path: the server's."""

    def __init__(self):
        super().__init__()
        self.fw_master, self._fw_slave, self.path = self._pty()
        self.meter_master, self._meter_slave, self.meter_path = self._pty()
        self.plan = []  # faults for the next replies, one per request
        self.always = None  # a fault for every reply once the plan is used up
        # Addresses with a meter on this bus (None: all). Others get no reply, as
        # on RS-485; pymodbus 3.16.1 itself answers an unknown id with exception
        # 4 (SimCore raises KeyError, not NoSuchIdException, so
        # ignore_missing_devices has no effect).
        self.present = None
        self.to_meter = bytearray()  # everything the firmware sent
        self.faults = []  # the faults applied, in order
        self._fault = None
        self._pos = 0  # bytes of the current reply passed so far
        self._lock = threading.Lock()

    def set_plan(self, plan, always=None):
        with self._lock:
            self.plan = list(plan)
            self.always = always

    def _request(self, data):
        with self._lock:
            self.to_meter.extend(data)
            if self.present is not None and data[0] not in self.present:
                self.faults.append("absent")
                return
            self._fault = self.plan.pop(0) if self.plan else self.always
            self._pos = 0
            self.faults.append(self._fault or "ok")
        os.write(self.meter_master, data)

    def take(self):
        """(bytes the firmware sent, faults applied) since the last call."""
        with self._lock:
            sent, faults = bytes(self.to_meter), list(self.faults)
            self.to_meter.clear()
            self.faults.clear()
            return sent, faults

    def _reply(self, data):
        with self._lock:
            fault, pos = self._fault, self._pos
            self._pos += len(data)
        if fault == "drop":
            return
        if fault == "crc":
            data = bytearray(data)
            if pos <= 3 < pos + len(data):
                data[3 - pos] ^= 0x04  # first data byte: length and header stay right
        elif fault == "garbage" and pos == 0:
            data = b"\x00\xff\x13\x01\x37" + data
        elif fault == "truncate":
            data = data[: max(0, 5 - pos)]
        if data:
            os.write(self.fw_master, bytes(data))

    def _serve(self):
        while not self._stop.is_set():
            ready, _, _ = select.select([self.fw_master, self.meter_master], [], [], 0.05)
            for fd in ready:
                try:
                    data = os.read(fd, 512)
                except OSError:
                    time.sleep(0.02)  # that side's slave is closed right now
                    continue
                if fd == self.fw_master:
                    self._request(data)
                else:
                    self._reply(data)


# The firmware side: one command per stdin line, one JSON line per answer.
SHELL = r"""
import sys, json, time
import asyncio
from uocpp.platform.unix_serial import Serial
from uocpp.device.sdm import SdmMeter, MeterError

port = Serial(PATH, 9600)
meter = None

async def ticking(op, ticks):
    # op with a 10 ms ticker beside it: ticks[0] counts how often it ran
    async def ticker():
        while True:
            await asyncio.sleep_ms(10)
            ticks[0] += 1
    task = asyncio.create_task(ticker())
    try:
        return await op
    finally:
        task.cancel()

def run(op, tick):
    ticks = [0]
    t0 = time.ticks_ms()
    out = {}
    try:
        out["ok"] = asyncio.run(ticking(op, ticks) if tick else op)
    except MeterError as e:
        out["error"] = e.reason
        out["kind"] = e.kind
        out["code"] = e.code
    out["ms"] = time.ticks_diff(time.ticks_ms(), t0)
    if tick:
        out["ticks"] = ticks[0]
    return out

print(json.dumps({"ready": True}))
while True:
    line = sys.stdin.readline()
    if not line:
        break
    cmd = line.split()
    if cmd[0] == "meter":
        meter = SdmMeter(port, address=int(cmd[2]), model=cmd[1], timeout_ms=int(cmd[3]), retries=int(cmd[4]))
        print(json.dumps({"ok": meter.measurands(), "phases": meter.phases}))
    elif cmd[0] == "read":
        tick = len(cmd) > 1 and cmd[1] == "tick"
        print(json.dumps(run(meter.read(), tick)))
    elif cmd[0] == "quit":
        break
"""


class Shell:
    """MicroPython running SHELL on the relay's firmware-side pty."""

    def __init__(self, path):
        code = "PATH = %r\n%s" % (path, SHELL)
        env = dict(os.environ, MICROPYPATH=MICROPYPATH)
        self.proc = subprocess.Popen([MICROPYTHON, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        assert self._answer() == {"ready": True}

    def _answer(self):
        line = self.proc.stdout.readline()  # the shell answers every command: waits on output
        if not line:
            raise AssertionError("micropython ended: " + self.proc.stderr.read())
        return json.loads(line)

    def ask(self, command):
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self._answer()

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
