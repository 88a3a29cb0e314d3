# The unix port's EVSE and meter: what a PC lacks (pilot, relay, lock, fault
# inputs, an energy meter), simulated, and driven from outside over a line
# protocol on TCP 127.0.0.1:<simulator.port>. The protocol is an interface
# other tools use: keep it exactly. One command per line, one reply line per
# command, sent only after the firmware has acted on the command:
#   plug N | unplug N        the EV's cable in (pilot state B) / out (A)
#   charge N | suspend N     the EV asks for energy (C) / stops asking (B)
#   card N IDTAG             an RFID card presented at connector N
#   power N WATTS            what the EV draws while the relay is closed in C
#   meter N WH               set connector N's energy register
# The registers survive a restart, as a real meter's (platform/sim_meter.py).
#   fault N CODE | clear N   raise a ChargePointErrorCode / clear it
#   lock N ok|fail           whether the lock actuator works from now on
#   tamper [TEXT]            the enclosure's tamper input fires (issue 25):
#                            TamperDetectionActivated, TEXT its techInfo
#   state                    ok {json}: {"1": {...}, "2": ...}, for each
#                            connector its status, transactionId, relay,
#                            offeredA, energyWh, locked (and pilot)
#   phases N                 ok {json}: the phase-switch output of connector
#                            N: {"phases": 1|3, "switches": changes so far,
#                            "underLoad": switches made with the contactor
#                            closed or current flowing (never, if all is well)}
# Replies: "ok" (maybe followed by text) or "error <reason>".
import asyncio
import json
import os
import time

from micropython import const

from uocpp import log

_SETTLE_MS = const(10000)  # the longest a reply waits for the firmware
_VOLTS = const(230)
_ERROR_CODES = (
    "ConnectorLockFailure", "EVCommunicationError", "GroundFailure", "HighTemperature",
    "InternalError", "LocalListConflict", "OtherError", "OverCurrentFailure",
    "OverVoltage", "PowerMeterFailure", "PowerSwitchFailure", "ReaderFailure",
    "ResetFailure", "UnderVoltage", "WeakSignal",
)


class SimEvse:
    def __init__(self, count, port, flash=None):
        self.count = count
        self.port = port
        self.changed = asyncio.Event()
        n = count + 1  # index 0 unused: connectors start at 1
        self._pilot = ["A"] * n
        self._fault = ["NoError"] * n
        self._offered = [0] * n
        self._relay = [False] * n
        self._locked = [False] * n
        self._lock_works = [True] * n
        self._power = [0.0] * n
        self._energy = [0.0] * n
        self._file = flash + "/sim_meter.json" if flash else None
        self._saved = None  # the registers on file (whole Wh); None: not read or written yet
        try:
            os.stat(self._file)
        except (OSError, TypeError):
            pass
        else:
            from uocpp.platform import sim_meter

            self._saved = sim_meter.load(self._file, self._energy)
        self._since = [time.ticks_ms()] * n
        self._cards = []
        self.phase_out = None  # the phase-switch output, made at its first use (platform/sim_phases.py)

    # -- the seam (platform/seam.py EVSE, as platform/esp32_evse.py) ---------
    def pilot(self, n):
        return self._pilot[n]

    def fault(self, n):
        return self._fault[n]

    def take_card(self):
        # (connector, idTag) of the oldest card presented, or None.
        return self._cards.pop(0) if self._cards else None

    def set_offered(self, n, amps):
        self._offered[n] = amps if amps >= 6 else 0

    def offered(self, n):
        return self._offered[n]

    def set_relay(self, n, closed):
        self._integrate(n)
        self._relay[n] = closed

    def relay(self, n):
        return self._relay[n]

    def set_phases(self, n, phases):
        from uocpp.platform import sim_phases

        sim_phases.set_phases(self, n, phases, self._relay[n] or self._drawn(n))

    def phases(self, n):
        return self.phase_out[n][0] if self.phase_out else 3

    def lock(self, n, locked):
        # True when the lock reached the wanted position.
        if self._lock_works[n]:
            self._locked[n] = locked
            return True
        return False

    def locked(self, n):
        return self._locked[n]

    # -- the meter (platform/seam.py METER) -----------------------------------------
    def measurands(self):
        return ("Energy.Active.Import.Register", "Power.Active.Import", "Current.Import", "Current.Offered", "Voltage")

    async def read(self, n):
        # One reading of connector n's meter: {measurand: value}, a
        # single-phase meter on a 230 V supply.
        self._integrate(n)
        watts = self._drawn(n)
        return {
            "Energy.Active.Import.Register": self._energy[n], "Power.Active.Import": watts,
            "Current.Import": watts / _VOLTS, "Current.Offered": self._offered[n], "Voltage": _VOLTS,
        }

    def _drawn(self, n):
        return self._power[n] if self._relay[n] and self._pilot[n] in ("C", "D") else 0.0

    def _integrate(self, n):
        # The energy register follows the power drawn, in real time.
        now = time.ticks_ms()
        watts = self._drawn(n)
        self._energy[n] += watts * time.ticks_diff(now, self._since[n]) / 3600000
        self._since[n] = now
        if watts:
            self._keep()

    def _keep(self):
        # The registers to file as they pass whole Wh (read every second
        # while charging): a Ctrl-C or a kill loses less than 1 Wh.
        if self._file:
            from uocpp.platform import sim_meter

            self._saved = sim_meter.save(self._file, self._energy, self._saved)

    # -- the line protocol ---------------------------------------------------------
    async def run(self, firmware):
        # firmware: status(n), transaction_id(n), and await settled(): returns
        # once every change made so far has been acted on.
        self._firmware = firmware
        if not self.port:
            # No simulator port: nothing will ever be plugged in. The task
            # idles rather than ends: no EVSE task ends by design.
            await asyncio.Event().wait()
        try:
            server = await asyncio.start_server(self._client, "127.0.0.1", self.port)
        except OSError as e:
            # Another firmware has the port: it would get every tools/evse.py
            # command meant for this one. One line and exit 78, no traceback.
            from uocpp import platform

            platform.halt("simulator.port %d: cannot listen (%s): another firmware (make run) is using it; choose another simulator.port" % (self.port, e))
        log.info("evse", "simulator listening on 127.0.0.1:%d", self.port)
        try:
            while True:
                await asyncio.sleep_ms(3600000)
        finally:
            server.close()

    async def _client(self, reader, writer):
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                reply = await self._command(line.decode().split())
                writer.write(reply.encode() + b"\n")
                await writer.drain()
        except Exception as e:  # a tool that misbehaves must not hurt the charger
            log.info("evse", "simulator client ended: %s", e)
        finally:
            writer.close()
            await writer.wait_closed()

    async def _command(self, words):
        try:
            if words == ["state"]:
                return "ok " + json.dumps(self._state())
            if words[:1] == ["phases"]:
                from uocpp.platform import sim_phases

                return sim_phases.command(self, words)
            if words[:1] == ["tamper"]:
                from uocpp import security_event

                security_event.report("TamperDetectionActivated", " ".join(words[1:]) or "tamper")
                return "ok"
            reply = self._apply(words)
        except (ValueError, IndexError):
            return "error bad arguments: " + " ".join(words)[:80]
        if reply.startswith("error"):
            return reply
        self.changed.set()
        try:
            await asyncio.wait_for_ms(self._firmware.settled(), _SETTLE_MS)
        except asyncio.TimeoutError:
            return "error the firmware did not settle within %d ms" % _SETTLE_MS
        return reply

    def _apply(self, words):
        verb = words[0] if words else ""
        if verb not in ("plug", "unplug", "charge", "suspend", "card", "power", "meter", "fault", "clear", "lock"):
            return "error unknown command " + verb[:20]
        n = int(words[1])
        if not 1 <= n <= self.count:
            return "error no connector %d" % n
        args = words[2:]
        want = 1 if verb in ("card", "power", "meter", "fault", "lock") else 0
        if len(args) != want:
            return "error %s takes %d argument(s) after the connector" % (verb, want)
        if verb in ("power", "meter") and float(args[0]) - float(args[0]) != 0:
            raise ValueError  # inf or nan: a register no bill can take (bad arguments)
        self._integrate(n)
        if verb == "plug":
            self._pilot[n] = "B" if self._pilot[n] == "A" else self._pilot[n]
        elif verb == "unplug":
            self._pilot[n] = "A"
        elif verb == "charge":
            if self._pilot[n] == "A":
                return "error connector %d: no EV plugged in" % n
            self._pilot[n] = "C"
        elif verb == "suspend":
            if self._pilot[n] == "A":
                return "error connector %d: no EV plugged in" % n
            self._pilot[n] = "B"
        elif verb == "card":
            if len(args[0]) > 20:
                return "error an idTag has at most 20 characters"
            self._cards.append((n, args[0]))
        elif verb == "power":
            self._power[n] = max(0.0, float(args[0]))
        elif verb == "meter":
            self._energy[n] = max(0.0, float(args[0]))
            self._keep()
        elif verb == "fault":
            if args[0] not in _ERROR_CODES:
                return "error unknown ChargePointErrorCode " + args[0][:30]
            self._fault[n] = args[0]
        elif verb == "clear":
            self._fault[n] = "NoError"
        else:
            if args[0] not in ("ok", "fail"):
                return "error lock takes ok or fail"
            self._lock_works[n] = args[0] == "ok"
        return "ok"

    def _state(self):
        fw = self._firmware
        out = {}
        for n in range(1, self.count + 1):
            self._integrate(n)
            out[str(n)] = {
                "status": fw.status(n), "transactionId": fw.transaction_id(n),
                "relay": self._relay[n], "offeredA": self._offered[n],
                "energyWh": round(self._energy[n], 3), "locked": self._locked[n], "pilot": self._pilot[n],
            }
        return out
