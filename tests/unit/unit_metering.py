# Meter values taken in a transaction but sent later (services/metering.py):
# a triggered value waits in the volatile lane, and is built when it goes
# out. It carries the transaction's id only while that transaction runs:
# sent after its stop (a slow link), it is the connector's value, never a
# stopped transaction's (the scenario engine's ledger found one, seed 1).
from check import eq
from fakes import Keys, Outbox

from uocpp import log
from uocpp.services.metering import ENERGY, Metering

log.set_level("off")


class Meter:
    async def read(self, n):
        return {ENERGY: 1500}


class Transactions:
    def __init__(self):
        self.running = {7: 1}  # local id -> connector
        self.readings = []  # (local, Wh) of every reading put on flash

    def running_on(self, n):
        for local, c in self.running.items():
            if c == n:
                return local
        return None

    def remote(self, local):
        return 1006  # the StartTransaction was answered

    def get(self, local):
        return {"t": ""}  # started before any value

    def reading(self, local, wh, at):
        self.readings.append((local, wh))


def aligned(keys):
    # Metering of one connector, no transaction, its clock-aligned values
    # by keys' ClockAlignedDataInterval (the register): (metering, outbox).
    tx, outbox = Transactions(), Outbox()
    tx.running = {}
    metering = Metering(Meter(), 1, keys, outbox, tx)
    metering.readings[1] = {ENERGY: 1500}
    return metering, outbox


class KeptClock:
    # The wall clock as it was, and whether it was set, back after the test.
    def __enter__(self):
        from uocpp import clock

        self.was = (clock.synced, clock.now())
        return clock

    def __exit__(self, *exc):
        from uocpp import clock

        clock.set_unix(self.was[1])
        clock.synced = self.was[0]


def ticks(metering, clock, times, last):
    # The metering task's ticks at each Unix time of times -> its last mark.
    for t in times:
        clock.set_unix(t)
        last = metering._aligned(last)
    return last


def stamps(outbox):
    # The timestamps of the values sent, taken off the outbox.
    sent = [m.build()["meterValue"][0]["timestamp"] for m in outbox.msgs]
    del outbox.msgs[:]
    return sent


def test_a_triggered_value_sent_after_its_transaction_stopped_has_no_transaction_id():
    tx, outbox = Transactions(), Outbox()
    metering = Metering(Meter(), 1, Keys(), outbox, tx)
    metering.readings[1] = {ENERGY: 1500}
    metering.begin(1)  # the transaction started: its values are the meter's
    metering.send(1, ENERGY, "Trigger", triggered=True)
    msg = outbox.msgs[0]
    eq(msg.build().get("transactionId"), 1006, "built while the transaction runs")
    del tx.running[7]  # stopped: its StopTransaction is in the journal
    payload = msg.build()
    eq(("transactionId" in payload, payload["connectorId"]), (False, 1), "built after its stop: the connector's value")
    eq(payload["meterValue"][0]["sampledValue"][0]["value"], "1500", "the value taken when triggered")


def test_a_transaction_whose_stop_is_held_gets_no_more_values():
    # Its stop is decided (end()) but not on flash yet (a full or read-only
    # flash), or it is a power cut's PowerLoss stop held at boot (never
    # begin()): the meter's values from then on are the connector's (the
    # soak's ledger found a new session's reading sent as the held
    # transaction's), and its reading on flash stays.
    tx, outbox = Transactions(), Outbox()
    metering = Metering(Meter(), 1, Keys(), outbox, tx)
    metering.readings[1] = {ENERGY: 4700000}
    for began in (False, True):  # held at boot / stopped in this run
        if began:
            metering.begin(1)
            metering.send(1, ENERGY, "Trigger", triggered=True)
            eq((tx.readings, outbox.msgs[-1].build().get("transactionId")), ([(7, 4700000)], 1006), "metered: the transaction's")
            waiting = outbox.msgs[-1]
            metering.end(1)  # stop() decided it
            eq("transactionId" in waiting.build(), False, "a value waiting since is built as the connector's")
        del outbox.msgs[:]
        metering.send(1, ENERGY, "Trigger", triggered=True)
        metering.send(1, ENERGY, "Sample.Clock")  # durable while metered: not for a held one
        eq([("transactionId" in m.build(), m.build()["connectorId"]) for m in outbox.msgs], [(False, 1), (False, 1)], "the connector's values")
    eq(tx.readings, [(7, 4700000)], "its reading on flash taken only while metered")


def test_a_clock_set_back_after_an_aligned_value_sends_none_off_the_boundary():
    # ClockAlignedDataInterval 900: the tick just after 12:15:00 sends the
    # clock-aligned values. A Heartbeat.conf then sets the clock back 2 s (a
    # board's RTC runs fast): 12:14:58 is no boundary, and nothing is due.
    metering, outbox = aligned(Keys(ClockAlignedDataInterval=900, MeterValuesAlignedData=ENERGY))
    boundary = 1767269700  # 2026-01-01T12:15:00Z
    with KeptClock() as clock:
        last = ticks(metering, clock, (boundary - 1, boundary), None)  # the tick before the boundary, then at it
        eq(stamps(outbox), ["2026-01-01T12:15:00Z"] * 2, "connectors 0 and 1 at the boundary")
        ticks(metering, clock, (boundary - 2,), last)
        eq(stamps(outbox), [], "nothing at 12:14:58")


def test_a_changed_clock_aligned_interval_keeps_to_its_own_boundaries():
    # ClockAlignedDataInterval is read at every tick (C16 9.1: the size of
    # the evenly spaced intervals of the day): changed from 60 to 900, the
    # values go on at the next quarter hour; changed back to 60, none comes
    # before the next minute. (Before: the tick after the change compared
    # the new interval's slot with the last one counted in the old
    # interval's units: a shorter interval sent a Sample.Clock value at
    # once, at 12:15:01, on no boundary.)
    keys = Keys(ClockAlignedDataInterval=60, MeterValuesAlignedData=ENERGY)
    metering, outbox = aligned(keys)
    quarter = 1767269700  # 2026-01-01T12:15:00Z
    with KeptClock() as clock:
        last = ticks(metering, clock, (quarter - 301, quarter - 300), None)  # 12:10:00, a minute's boundary
        eq(stamps(outbox), ["2026-01-01T12:10:00Z"] * 2, "every minute")
        keys.values["ClockAlignedDataInterval"] = 900
        last = ticks(metering, clock, (quarter - 299, quarter - 1, quarter), last)
        eq(stamps(outbox), ["2026-01-01T12:15:00Z"] * 2, "900: at the quarter hour only")
        keys.values["ClockAlignedDataInterval"] = 60
        ticks(metering, clock, (quarter + 1, quarter + 59, quarter + 60), last)
        eq(stamps(outbox), ["2026-01-01T12:16:00Z"] * 2, "60 again: at the next minute only")


def test_clock_aligned_intervals_start_at_every_midnight():
    # C16 9.1 ClockAlignedDataInterval: "the size (in seconds) of the set
    # of evenly spaced aggregation intervals per day, starting at 00:00:00
    # (midnight)". 25,200 s (7 hours) does not divide a day: each day's
    # intervals start at 00:00, 07:00, 14:00 and 21:00. (Before: counted
    # from 1970 they drifted by 3 hours a day: on 2026-01-02 they fell at
    # 04:00, 11:00 and 18:00, and none at midnight.)
    metering, outbox = aligned(Keys(ClockAlignedDataInterval=25200, MeterValuesAlignedData=ENERGY))
    midnight = 1767312000  # 2026-01-02T00:00:00Z
    with KeptClock() as clock:
        ticks(metering, clock, [midnight + hour * 3600 + d for hour in range(-1, 24) for d in (-1, 0)], None)
        sent = [m.build()["meterValue"][0]["timestamp"] for m in outbox.msgs if m.build()["connectorId"] == 0]
        eq(sent, ["2026-01-02T%sZ" % at for at in ("00:00:00", "07:00:00", "14:00:00", "21:00:00")], "the day's boundaries")


def test_no_clock_aligned_value_before_the_clock_is_set_nor_at_its_setting():
    # A board's clock starts at 2000-01-01 and is set by the central system
    # (BootNotification.conf). Before that its boundaries are no
    # ClockAlignedDataInterval boundaries (9.1: evenly spaced intervals of
    # the day), and setting it is no boundary either: the first aligned
    # values come at the first boundary after it. (Before: a value stamped
    # 2000-01-01T00:15:00Z, then one at 12:10:17, the moment the clock was
    # set.)
    metering, outbox = aligned(Keys(ClockAlignedDataInterval=900, MeterValuesAlignedData=ENERGY))
    quarter = 1767269700  # 2026-01-01T12:15:00Z
    with KeptClock() as clock:
        last = None
        for t in (946685699, 946685700):  # 2000-01-01T00:14:59Z, 00:15:00Z
            clock.set_unix(t)
            clock.synced = False  # the board's own clock
            last = metering._aligned(last)
        ticks(metering, clock, (quarter - 283, quarter - 282, quarter - 1, quarter), last)  # set at 12:10:17
        eq(stamps(outbox), ["2026-01-01T12:15:00Z"] * 2, "from the first boundary after the clock was set")


def test_no_stop_aligned_data_while_clock_aligned_data_is_off():
    # C16 9.1 StopTxnAlignedData: clock-aligned measurands in StopTransaction's
    # transactionData "for every ClockAlignedDataInterval of the
    # Transaction"; ClockAlignedDataInterval 0 (9.1): "no clock-aligned
    # data should be transmitted". (Before: a Sample.Clock value at the stop
    # all the same.) With an interval, the stop carries them (at its end).
    tx, outbox = Transactions(), Outbox()
    keys = Keys(ClockAlignedDataInterval=0, StopTxnAlignedData=ENERGY, StopTxnSampledData="")
    metering = Metering(Meter(), 1, keys, outbox, tx)
    metering.readings[1] = {ENERGY: 1500}
    eq(metering.transaction_data(1, None), [], "interval 0: no aligned data")
    keys.values["ClockAlignedDataInterval"] = 900
    data = metering.transaction_data(1, None)
    eq([sv["context"] for mv in data for sv in mv["sampledValue"]], ["Sample.Clock"], "interval 900: at the stop")


def test_a_triggered_value_of_connector_0_goes_out_without_an_energy_measurand():
    # TriggerMessage(MeterValues, connectorId 0) is Accepted: "the Charge
    # Point will send the requested notification" (5.17, TriggerMessage.conf).
    # Connector 0 has the sum of the registers only; with
    # MeterValuesSampledData "Voltage" it still sends, with the register
    # (the default measurand). (Before: Accepted, and nothing sent.)
    tx, outbox = Transactions(), Outbox()
    tx.running = {}
    metering = Metering(Meter(), 1, Keys(), outbox, tx)
    metering.readings[1] = {ENERGY: 1500, "Voltage": 230.0}
    metering.send(0, "Voltage", "Trigger", triggered=True)
    eq([sv["measurand"] for m in outbox.msgs for sv in m.build()["meterValue"][0]["sampledValue"]], [ENERGY], "the register")
    del outbox.msgs[:]
    metering.send(1, "Voltage", "Trigger", triggered=True)
    eq([sv["measurand"] for m in outbox.msgs for sv in m.build()["meterValue"][0]["sampledValue"]], ["Voltage"], "connector 1: as configured")


# -- the simulated meter (platform/evse_sim.py, platform/sim_meter.py) ---------------


async def test_a_simulated_meter_file_with_an_infinite_register_starts_at_0():
    # <flash>/sim_meter.json stands for the meter's memory; one that holds a
    # number too large for a float (1e999: infinity) is a foreign file, and
    # leaves the register at 0 like any other: the EVSE is made, the meter
    # reads. (Before: an OverflowError made no EVSE, and no boot.)
    from check import TempDir

    from uocpp.platform.evse_sim import SimEvse

    with TempDir("simmeter") as d:
        with open(d + "/sim_meter.json", "w") as f:
            f.write("[0, 1e999]")
        evse = SimEvse(1, None, d)
        eq((await evse.read(1))[ENERGY], 0.0, "the register")


async def test_an_infinite_or_nan_meter_or_power_command_is_refused():
    # `meter 1 inf` set the register to infinity: its save raised out of the
    # command (the tool got no reply), and every reading after it was one no
    # start or sample can bill (int(inf)). Refused like any bad argument,
    # the register as it was.
    from uocpp.platform.evse_sim import SimEvse

    class Firmware:
        async def settled(self):
            pass

    evse = SimEvse(1, None)
    evse._firmware = Firmware()
    evse._apply(["meter", "1", "1500"])
    for words in (["meter", "1", "inf"], ["meter", "1", "nan"], ["power", "1", "inf"], ["power", "1", "nan"]):
        reply = await evse._command(words)
        eq(reply.startswith("error"), True, " ".join(words) + ": " + reply)
    eq((await evse.read(1))[ENERGY], 1500.0, "the register as it was")


async def test_sampling_turned_on_after_a_week_in_a_transaction_samples():
    # MeterValueSampleInterval 0 (config.json's default) through a week-long
    # transaction (a fleet car left plugged in), then the central system
    # sets 60 s: the last sample's mark is the transaction's start, over
    # half the ticks' period ago (6.2 days on a 32-bit board), its
    # ticks_diff negative, and no sample came for up to 6.2 more days.
    import asyncio

    from unit_watchdog import Ticks30

    from uocpp.services import metering as mod

    class Journal(Outbox):
        def __init__(self):
            super().__init__()
            self.sampled = asyncio.Event()

        def store(self, action, payload, local):
            self.sampled.set()

    keys = Keys(MeterValueSampleInterval=0, MeterValuesSampledData=ENERGY, ClockAlignedDataInterval=0)
    outbox = Journal()
    m = Metering(Meter(), 1, keys, outbox, Transactions())
    task = None
    with Ticks30(mod) as ticks:
        try:
            m.begin(1)  # the transaction starts
            ticks.now = 7 * 86400000
            keys.values["MeterValueSampleInterval"] = 60
            task = asyncio.create_task(m.run())
            await asyncio.wait_for_ms(outbox.sampled.wait(), 3000)
        except asyncio.TimeoutError:
            raise AssertionError("no Sample.Periodic once sampling was on")
        finally:
            if task is not None:
                task.cancel()


def test_clock_aligned_values_bear_their_boundary_s_time():
    # C16 9.1 ClockAlignedDataInterval: values of the "evenly spaced
    # intervals per day, starting at 00:00:00"; OCTT TC_071_CS: "The
    # MeterValue.timestamp should contain a Clock-aligned value". The task
    # ticks every second, and a tick may come a second or more after the
    # boundary (a slow meter read) or after a forward step of the clock
    # (a Heartbeat's correction, NTP): the value was stamped with the
    # tick's time, 12:15:01 or 12:22:17, on no boundary. It bears the
    # boundary it was sent for (the latest one crossed).
    metering, outbox = aligned(Keys(ClockAlignedDataInterval=900, MeterValuesAlignedData=ENERGY))
    quarter = 1767269700  # 2026-01-01T12:15:00Z
    with KeptClock() as clock:
        last = ticks(metering, clock, (quarter - 1, quarter + 1), None)
        eq(stamps(outbox), ["2026-01-01T12:15:00Z"] * 2, "a late tick")
        ticks(metering, clock, (quarter + 400, quarter + 900 + 437), last)  # the clock stepped 15:37 forward
        eq(stamps(outbox), ["2026-01-01T12:30:00Z"] * 2, "after a forward step")


async def test_a_failing_meter_is_counted_logged_once_and_wakes_the_loop_at_the_third_read_and_when_back():
    # A meter that raises at once (its bus gone): failed[n] counts the reads
    # in a row up to 3, the session loop is woken at the third (it opens the
    # relay: PowerMeterFailure) and at the next good read; one error line,
    # not one per read; the last good reading is kept (what a stop bills).
    import asyncio

    class Flaky:
        broken = False

        async def read(self, n):
            if self.broken:
                raise OSError("no answer to read 0x0046+4 within 300 ms")
            return {ENERGY: 1500}

    meter, woken, lines = Flaky(), asyncio.Event(), []
    m = Metering(meter, 1, Keys(), Outbox(), Transactions(), woken)
    error = log.error
    log.error = lambda tag, msg, *args: lines.append(msg % args)
    try:
        await m.poll()
        meter.broken = True
        seen = []
        for _ in range(5):
            await m.poll()
            seen.append((m.failed[1], woken.is_set()))
            woken.clear()
        eq(seen, [(1, False), (2, False), (3, True), (3, False), (3, False)], "counted, woken once at the third")
        eq((len(lines), m.readings[1]), (1, {ENERGY: 1500}), "one line, the last good reading kept")
        meter.broken = False
        await m.poll()
        eq((m.failed[1], woken.is_set()), (0, True), "back: cleared, the loop woken")
    finally:
        log.error = error
