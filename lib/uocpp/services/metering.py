# Meter values (C16 3.7, 9.1): the meter is read every second and its last
# reading kept per connector (what a start or a stop bills with); during a
# transaction MeterValuesSampledData every MeterValueSampleInterval seconds
# (context Sample.Periodic); clock-aligned MeterValuesAlignedData every
# ClockAlignedDataInterval seconds from midnight UTC (Sample.Clock), for
# connector 0 (the sum of the connectors) and each connector, in and out of
# transactions. Values of a transaction are durable (journal, delivered in
# order, transactionId filled in when sent); the others, and triggered ones
# (TM-03), are volatile: one waiting per connector and kind, the latest.
# A meter that fails _FAILS reads in a row wakes the session loop, which
# opens the relay (PowerMeterFailure, docs/charging.md); its next good read
# wakes it again.
import asyncio
import time

from micropython import const

from uocpp import clock, log
from uocpp.outbox import KEEP, Message

_POLL_MS = const(1000)
_FAILS = const(3)  # failed reads in a row that stop the energy (sessions.py's _FAILS)
ENERGY = "Energy.Active.Import.Register"
_UNITS = {"Energy": "Wh", "Power": "W", "Current": "A", "Voltage": "V", "Frequency": None, "Temperature": "Celsius", "SoC": "Percent"}


def sampled_values(reading, measurands, context):
    # [sampledValue] for the measurands the reading has (per phase too).
    out = []
    for m in measurands.split(","):
        value = reading.get(m)
        if value is None:
            continue
        unit = _UNITS.get(m.split(".")[0])
        for phase, v in value.items() if isinstance(value, dict) else ((None, value),):
            sv = {"value": ("%d" % v) if m.startswith("Energy") else ("%.1f" % v), "context": context, "measurand": m}
            if unit:
                sv["unit"] = unit
            if phase:
                sv["phase"] = phase
            out.append(sv)
    return out


class Metering:
    def __init__(self, meter, count, keys, outbox, transactions, changed=None):
        # meter: read(n) (async) -> {measurand: value or {phase: value}};
        # measurands() -> what it can measure. changed: the session loop's
        # wake-up (the EVSE's), set when a meter fails _FAILS reads in a row
        # (PowerMeterFailure: no energy it cannot bill) or answers again.
        self.changed = changed or asyncio.Event()
        self._meter = meter
        self._count = count
        self._keys = keys
        self._outbox = outbox
        self._tx = transactions
        self.readings = [{} for _ in range(count + 1)]
        # Per connector: ticks of the transaction's last periodic sample (or
        # of its start), None without a transaction whose values are the
        # meter's (none, or its stop decided: end()). The next one is due
        # MeterValueSampleInterval after it, read at every tick, so that a
        # change of the interval takes effect at once, also for a session
        # that started while it was 0.
        self._sampled = [None] * (count + 1)
        self.failed = [0] * (count + 1)  # failed reads in a row (up to _FAILS), per connector
        self._lock = asyncio.Lock()  # one meter transaction at a time (a shared RS-485 bus)

    def energy_wh(self, n):
        return int(self.readings[n].get(ENERGY, 0))

    async def poll(self):
        async with self._lock:
            for n in range(1, self._count + 1):
                failed = self.failed[n]
                try:
                    self.readings[n] = await self._meter.read(n)
                    self.failed[n] = 0
                    if failed:
                        # The loop woken (a start waits for a good read)
                        # before the line (no heap for it is no read
                        # failure, and must not keep the relay open).
                        self.changed.set()
                        if failed == _FAILS:
                            log.info("meter", "connector %d: the meter answers again", n)
                except Exception as e:
                    # Counted and the loop woken before the line (which
                    # may find no heap): the relay opens all the same.
                    if failed < _FAILS:
                        self.failed[n] = failed + 1
                        if failed + 1 == _FAILS:
                            self.changed.set()
                    if not failed:
                        log.error("meter", "connector %d: meter read failed: %s", n, e)

    def meter_value(self, n, measurands, context, at=None):
        # One MeterValue {timestamp, sampledValue} of connector n (0: the sum),
        # stamped now or at `at` (Unix s: a clock-aligned value's boundary).
        reading = {ENERGY: sum(r.get(ENERGY, 0) for r in self.readings[1:])} if n == 0 else self.readings[n]
        return {"timestamp": clock.now_iso() if at is None else clock.format_iso(at), "sampledValue": sampled_values(reading, measurands, context)}

    def send(self, n, measurands, context, triggered=False, at=None):
        # A MeterValues.req: durable when a transaction runs on n (unless
        # triggered); the others volatile, one waiting per connector and kind.
        mv = self.meter_value(n, measurands, context, at)
        if not mv["sampledValue"] and triggered:
            # A trigger Accepted is a promise to send (5.17): connector 0
            # (the registers' sum) has none of the measurands but the
            # register, the default one.
            mv = self.meter_value(n, ENERGY, context)
        if not mv["sampledValue"]:
            return
        local = self._tx.running_on(n) if n else None
        if local is not None and self._sampled[n] is None:
            # Its stop is decided (end()) but not on flash yet, or it is a
            # power cut's, recovered at boot and held (never begin()): what
            # the meter says from now on is the connector's, never the
            # transaction's.
            local = None
        payload = {"connectorId": n, "meterValue": [mv]}
        if local is not None:
            # The latest stored reading is what a power cut bills with: on
            # flash before any meter value of the transaction is (sampled,
            # triggered or clock-aligned), so that a cut never bills less than
            # a value already stored or sent. Never stamped before the
            # transaction's start (a clock set back since), as its stop is not.
            mv["timestamp"] = max(mv["timestamp"], self._tx.get(local)["t"])
            self._tx.reading(local, self.energy_wh(n), mv["timestamp"])
            if not triggered:
                try:
                    self._outbox.store("MeterValues", payload, local)
                except Exception as e:  # flash full of Starts and Stops: this sample is lost, not the bill
                    log.error("meter", "connector %d: MeterValues not stored: %s", n, e)
                return
        # Volatile: a triggered value answers a question asked now (a flood of
        # triggers must not fill the journal and push out the transaction's
        # samples); clock-aligned values outside a transaction are kept only
        # while offline. Keyed per connector and kind: one waits, and it
        # carries the latest value (a waiting one is given the new payload).
        tx, sampled = self._tx, self._sampled

        def build():
            # At send time: the transaction's id once its StartTransaction is
            # answered, and only while it runs and is metered; sent after its
            # stop was decided (a trigger waiting out a slow link), the value
            # is the connector's, never a stopped transaction's.
            payload.pop("transactionId", None)
            if local is not None and tx.running_on(n) == local and sampled[n] is not None:
                remote = tx.remote(local)
                if remote is not None:
                    payload["transactionId"] = remote
            return payload

        key = ("mv:t%d" if triggered else "mv:%d") % n
        msg = self._outbox.submit(Message("MeterValues", build, KEEP, key=key, triggered=triggered))
        msg.build = build

    def begin(self, n):
        # A transaction started on n: sampling counts from now.
        self._sampled[n] = time.ticks_ms()

    def end(self, n):
        self._sampled[n] = None

    def transaction_data(self, n, begin):
        # StopTransaction's transactionData: StopTxnSampledData at the start
        # (kept with the transaction) and now, plus StopTxnAlignedData now
        # while clock-aligned data is on (9.1: none with
        # ClockAlignedDataInterval 0).
        k = self._keys
        data = []
        if begin:
            data.append(begin)
        end = self.meter_value(n, k.get("StopTxnSampledData"), "Transaction.End")
        if k.get("ClockAlignedDataInterval"):
            end["sampledValue"] += self.meter_value(n, k.get("StopTxnAlignedData"), "Sample.Clock")["sampledValue"]
        if end["sampledValue"]:
            data.append(end)
        return data

    def accepts(self, measurands):
        # A ChangeConfiguration of a *Data key: only what the meter has.
        have = self._meter.measurands()
        return all(m in have for m in measurands.split(",") if m)

    async def run(self):
        aligned_at = None
        short = False  # in a streak of ticks with no heap: logged once
        while True:
            # A MemoryError in a tick loses what that tick was building (a
            # sample), never the task: the next tick reads and samples again.
            try:
                await self.poll()
                now = time.ticks_ms()
                every = self._keys.get("MeterValueSampleInterval") * 1000  # 0: no periodic samples
                for n in range(1, self._count + 1):
                    last = self._sampled[n]
                    if not every or last is None or self._tx.running_on(n) is None:
                        continue
                    late = time.ticks_diff(now, last) - every
                    # (late < -every: a negative ticks_diff, the last sample
                    # over 6.2 days ago, sampling off meanwhile: due.)
                    if late >= 0 or late < -every:
                        # On the interval's grid while it keeps up; after a change
                        # to a shorter interval (or a long stall) from now.
                        self._sampled[n] = time.ticks_add(now, -late) if 0 <= late < every else now
                        self.send(n, self._keys.get("MeterValuesSampledData"), "Sample.Periodic")
                aligned_at = self._aligned(aligned_at)
                short = False
            except MemoryError:
                if not short:
                    log.error("meter", "no heap for a sample: again next tick")  # (no arguments: no tuple to pack)
                short = True
            await asyncio.sleep_ms(_POLL_MS)

    def _aligned(self, last):
        interval = self._keys.get("ClockAlignedDataInterval")
        if not interval or not clock.synced:
            # Off, or no clock yet (a board's starts at 2000-01-01): its
            # boundaries are none of the day's, nor is the moment it is set.
            return None
        now = int(clock.now())
        # The day's intervals start at midnight (9.1; an interval that
        # does not divide a day: the day's last one is shorter). A boundary
        # of the interval in force crossed forward since the last tick's time
        # (a changed interval's first tick too): a clock set back (a
        # Heartbeat's correction) crosses none, and its time is no boundary.
        # The values bear the latest boundary crossed, not the tick's time (a
        # second or more late, or after a forward step of the clock): OCTT
        # TC_071_CS wants clock-aligned timestamps.
        day = now % 86400
        at = now - day + day // interval * interval
        if last is not None and at > last:
            for n in range(self._count + 1):
                self.send(n, self._keys.get("MeterValuesAlignedData"), "Sample.Clock", False, at)
        return now
