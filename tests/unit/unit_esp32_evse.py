# platform/esp32_evse.py on the unix port, against stand-ins for
# machine.Pin/PWM/ADC (hardware a PC lacks) handed in as hw.
import asyncio
import time

from check import eq, raises

from uocpp import log
from uocpp.platform import esp32_evse
from uocpp.platform.esp32_evse import Esp32Evse


class Clock:
    # The driver's `time`, with a microsecond clock of the test's own: an ADC
    # read takes Board.read_us of it (slow_us when set), so where a burst's
    # reads fall, and its gaps, are the test's whatever the host's load.
    us = 0
    ticks_ms = time.ticks_ms
    ticks_diff = time.ticks_diff
    sleep_ms = time.sleep_ms

    @staticmethod
    def ticks_us():
        return Clock.us


esp32_evse.time = Clock

log.set_level("error")

PLUS = 60000  # ADC reading at +12 V
MINUS = 5000  # ADC reading at -12 V


def raw(volts, plus=PLUS, minus=MINUS):
    return int(minus + (volts + 12) * (plus - minus) / 24 + 0.5)


class Board:
    # The machine module as the driver sees it. levels: GPIO -> 0/1 (or a
    # function giving it, for inputs that follow something); writes: every
    # (GPIO, level) driven; pilot: ADC GPIO -> volts of the PWM high phase;
    # pwm_low: when True, 9 reads in 10 fall in the -12 V low phase;
    # slow_us: each read takes that long (a burst something cuts into),
    # else read_us, on the driver's clock (Clock).
    def __init__(self, plus=PLUS, minus=MINUS):
        self.levels = {}
        self.writes = []
        self.pwms = {}
        self.adcs = {}
        self.pilot = {}
        self.pwm_low = False
        self.slow_us = 0
        self.read_us = 15  # an ESP32 read takes 10-20 us
        self.on_write = None
        board = self
        self.cal = (plus, minus)

        class Pin:
            IN = 1
            OUT = 3

            def __init__(self, gpio, mode=-1, value=None):
                self.gpio = gpio
                self.mode = mode
                if value is not None:
                    board.drive(gpio, value)

            def value(self, v=None):
                if v is None:
                    level = board.levels.get(self.gpio, 0)
                    return level() if callable(level) else level
                board.drive(self.gpio, v)

        class PWM:
            def __init__(self, pin, freq=None, duty_u16=None):
                self.gpio = pin.gpio
                self.frequency = freq
                self.duties = [duty_u16]
                board.pwms[pin.gpio] = self

            def freq(self, f=None):
                if f is None:
                    return self.frequency
                self.frequency = f

            def duty_u16(self, d=None):
                if d is None:
                    return self.duties[-1]
                if not 0 <= d <= 65535:
                    raise ValueError("duty_u16 must be from 0 to 65535")
                self.duties.append(d)

        class ADC:
            ATTN_11DB = 3

            def __init__(self, pin):
                self.gpio = pin.gpio
                self.attenuation = None
                self.reads = 0
                board.adcs[pin.gpio] = self

            def atten(self, a):
                self.attenuation = a

            def read_u16(self):
                self.reads += 1
                Clock.us = (Clock.us + (board.slow_us or board.read_us)) & 0x3FFFFFFF
                v = board.pilot.get(self.gpio, 12)
                if board.pwm_low and self.reads % 10:
                    v = -12
                return raw(v, *board.cal)

        self.Pin, self.PWM, self.ADC = Pin, PWM, ADC

    def drive(self, gpio, level):
        self.levels[gpio] = level
        self.writes.append((gpio, level))
        if self.on_write:
            self.on_write(gpio, level)


def config(**over):
    cfg = {
        "pilotOut": [25],
        "pilotIn": [34],
        "pilotInvert": False,
        "adcPlus12": PLUS,
        "adcMinus12": MINUS,
        "pilotInterval": 0.005,
        "debounce": 3,
        "hysteresis": 0.25,
        "relay": [26],
        "relayActive": 1,
        "lockMode": "level",
        "lockPin": [],
        "unlockPin": [],
        "lockActive": 1,
        "lockPulse": 0.02,
        "lockFeedback": [],
        "lockFeedbackActive": 1,
        "lockTimeout": 0.05,
        "faults": [],
    }
    cfg.update(over)
    return cfg


def two():
    # Two connectors: pilot out 25/32, in 34/35, relays 26/27.
    return dict(pilotOut=[25, 32], pilotIn=[34, 35], relay=[26, 27])


def samples(evse, count):
    return [evse._sample_pilots() for _ in range(count)]


# -- pilot out ------------------------------------------------------------------


def test_starts_at_100_percent_1_khz_with_relay_open():
    board = Board()
    evse = Esp32Evse(config(), board)
    pwm = board.pwms[25]
    eq(pwm.frequency, 1000, "freq")
    eq(pwm.duties, [65535], "duty at start")
    eq(board.levels[25], 1, "pin high before the PWM takes it")
    eq(board.levels[26], 0, "relay open")
    eq(board.adcs[34].attenuation, board.ADC.ATTN_11DB, "ADC attenuation")
    eq((evse.count, evse.offered(1), evse.relay(1)), (1, 0.0, False), "count, offered, relay")


def test_set_offered_writes_the_duty():
    board = Board()
    evse = Esp32Evse(config(), board)
    pwm = board.pwms[25]
    for amps, u16, shown in (
        (16, 17476, 16.0),
        (6, 6553, 6.0),
        (32, 34952, 32.0),
        (63, 58457, 63.0),
        (80, 62913, 80.0),
        (100, 62913, 80.0),
        (5, 65535, 0.0),
        (0, 65535, 0.0),
    ):
        evse.set_offered(1, amps)
        eq(pwm.duties[-1], u16, "duty_u16 at %r A" % amps)
        eq(evse.offered(1), shown, "offered at %r A" % amps)
    eq(pwm.frequency, 1000, "still 1 kHz")


def test_inverting_pilot_driver():
    board = Board()
    evse = Esp32Evse(config(pilotInvert=True), board)
    pwm = board.pwms[25]
    eq(pwm.duties, [0], "100 % through an inverting stage: steady low")
    evse.set_offered(1, 16)
    eq(pwm.duties[-1], 65535 - 17476, "16 A inverted")
    evse.set_offered(1, 0)
    eq(pwm.duties[-1], 0, "back to 100 %")


def test_connectors_have_their_own_pins():
    board = Board()
    evse = Esp32Evse(config(**two()), board)
    eq(evse.count, 2, "count")
    evse.set_offered(2, 10)
    eq(board.pwms[32].duties[-1], esp32_evse.duty_u16(10), "connector 2 pilot")
    eq(board.pwms[25].duties, [65535], "connector 1 untouched")
    evse.set_relay(2, True)
    eq((board.levels[27], board.levels[26]), (1, 0), "relay 2 closed, relay 1 open")
    for bad in (0, 3, -1, "1", None):
        raises(ValueError, evse.pilot, bad)


def test_config_mistakes_are_refused():
    raises(ValueError, Esp32Evse, config(pilotOut=[]), Board())
    raises(ValueError, Esp32Evse, config(pilotOut=[-1]), Board())
    raises(ValueError, Esp32Evse, config(pilotIn=[34, 35]), Board())
    raises(ValueError, Esp32Evse, config(relay=[-1]), Board())
    raises(ValueError, Esp32Evse, config(lockPin=[12, 13]), Board())
    raises(ValueError, Esp32Evse, config(adcMinus12=PLUS), Board())
    raises(ValueError, Esp32Evse, config(lockMode="pulse", lockPin=[12]), Board())


# -- pilot in -------------------------------------------------------------------


def test_state_at_start_comes_from_the_hardware():
    board = Board()
    board.pilot[34] = 9
    evse = Esp32Evse(config(), board)
    eq(evse.pilot(1), "B", "vehicle already plugged in at boot")
    eq(evse.changed.is_set(), False, "no change event for the first reading")


def test_a_b_c_after_debounce():
    board = Board()
    evse = Esp32Evse(config(), board)
    eq(evse.pilot(1), "A", "no vehicle")
    board.pilot[34] = 9
    eq(samples(evse, 3), [False, False, True], "B counts on the third sample")
    eq(evse.pilot(1), "B", "vehicle connected")
    board.pilot[34] = 6
    eq(samples(evse, 3), [False, False, True], "C counts on the third sample")
    eq(evse.pilot(1), "C", "charging")
    board.pilot[34] = 3
    samples(evse, 3)
    eq(evse.pilot(1), "D", "ventilation")


def test_a_glitch_shorter_than_debounce_is_ignored():
    board = Board()
    evse = Esp32Evse(config(), board)
    board.pilot[34] = 6
    samples(evse, 2)
    board.pilot[34] = 12
    eq(samples(evse, 5), [False] * 5, "no change")
    eq(evse.pilot(1), "A", "still A")


def test_the_high_phase_is_found_in_the_pwm():
    # 9 reads in 10 at -12 V (the low phase); the burst's largest is the state.
    board = Board()
    board.pwm_low = True
    board.pilot[34] = 9
    evse = Esp32Evse(config(), board)
    eq(evse.pilot(1), "B", "B under PWM, not F")
    board.pilot[34] = 6
    samples(evse, 3)
    eq(evse.pilot(1), "C", "C under PWM")
    if board.adcs[34].reads < 40:
        raise AssertionError("a burst should span a PWM period: only %d reads" % board.adcs[34].reads)


def test_a_burst_cut_into_never_reads_a_lower_state():
    # Charging at 6 A: a 100 us high phase. Reads 150 us apart (the burst
    # cut into, over and over) that all fell in the -12 V low phase said F
    # before: a fault, the session stopped with "Other". They say nothing.
    board = Board()
    board.pilot[34] = 6
    evse = Esp32Evse(config(), board)
    evse.set_offered(1, 6)
    eq(evse.pilot(1), "C", "C at start")
    board.pilot[34] = -12
    board.slow_us = 150
    start = Clock.us
    eq(samples(evse, 4), [False] * 4, "no change from bursts with gaps")
    eq((evse.pilot(1), evse.fault(1)), ("C", "NoError"), "still C")
    eq((Clock.us - start) // 150, 4 * (5000 // 150 + 1), "each burst reads for just over 5 ms, then gives up")
    board.slow_us = 0  # a clean burst: the same -12 V high phase is F
    samples(evse, 3)
    eq((evse.pilot(1), evse.fault(1)), ("F", "InternalError"), "F from clean bursts")


def test_an_offer_that_finds_no_heap_still_reads_its_pilot_as_such():
    # On a board the offered current is a float: set_offered() can meet a
    # MemoryError after the duty went out (the caller hears of it). The
    # bursts must still fit the duty now on the pilot: at 6 A, reads 150 us
    # apart miss its 100 us high phase and say nothing, never F.
    board = Board()
    board.pilot[34] = 6
    evse = Esp32Evse(config(), board)

    def no_heap(x):
        raise MemoryError("memory allocation failed, allocating 16 bytes")

    esp32_evse.float = no_heap
    try:
        raises(MemoryError, evse.set_offered, 1, 6)
    finally:
        del esp32_evse.float
    eq(board.pwms[25].duties[-1], esp32_evse.duty_u16(6), "6 A on the pilot")
    board.pilot[34] = -12
    board.slow_us = 150
    eq(samples(evse, 4), [False] * 4, "no change from bursts with gaps")
    eq((evse.pilot(1), evse.fault(1)), ("C", "NoError"), "still C")


class Warnings:
    # Stands in for uocpp.log in esp32_evse: keeps the warnings.
    def __init__(self):
        self.lines = []

    def info(self, tag, msg, *args):
        pass

    def warning(self, tag, msg, *args):
        self.lines.append(msg % args)


def test_reads_too_far_apart_for_low_currents_are_said_at_start():
    # Reads 120 us apart cannot be closer than the high phase less 20 us
    # below 9 A (8 A: 112 us): the one warning names that current. Reads
    # 15 us apart (an ESP32's) say nothing; 1 ms apart, no current reads,
    # and the boot's first burst ends all the same (it once tried for ever)
    # with what it read.
    said = esp32_evse.log = Warnings()
    try:
        rows = []
        for us in (15, 120, 1000):
            board = Board()
            board.read_us = us
            said.lines = []
            evse = Esp32Evse(config(), board)
            rows.append(said.lines)
    finally:
        esp32_evse.log = log
    eq(evse.pilot(1), "A", "1 ms apart: the boot took the +12 V it read")
    eq(rows[0], [], "15 us apart: nothing said")
    eq(rows[1], ["pilot: ADC reads are 120 us apart, too far for a burst below 9 A: there a vehicle's B to C, E and F are not seen"], "120 us apart")
    eq(len(rows[2]) == 1 and "below any current" in rows[2][0], True, "1 ms apart: %r" % rows[2])


def test_an_unplug_reads_through_bursts_cut_into():
    # A higher pilot than the state in force cannot come from a missed high
    # phase: it counts from any burst, so an unplug is never held up.
    board = Board()
    board.pilot[34] = 6
    evse = Esp32Evse(config(), board)
    evse.set_offered(1, 6)
    board.pilot[34] = 12
    board.slow_us = 150
    samples(evse, 3)
    eq(evse.pilot(1), "A", "A through bursts with gaps")
    # At 100 % duty (nothing offered) the high phase is the whole period:
    # reads 150 us apart are no gap, and a lower state counts.
    evse.set_offered(1, 0)
    board.pilot[34] = 9
    samples(evse, 3)
    eq(evse.pilot(1), "B", "B at 100 % duty")


def test_an_inverting_front_end_uses_the_smallest_reading():
    board = Board(plus=MINUS, minus=PLUS)
    board.pwm_low = True
    board.pilot[34] = 6
    evse = Esp32Evse(config(adcPlus12=MINUS, adcMinus12=PLUS), board)
    eq(evse.pilot(1), "C", "C through an inverting front-end")


def test_hysteresis_holds_a_level_near_an_edge():
    board = Board()
    board.pilot[34] = 9
    evse = Esp32Evse(config(), board)
    board.pilot[34] = 7.35  # below 7.5, within 0.25 V of it: still B
    eq(samples(evse, 5), [False] * 5, "held")
    eq(evse.pilot(1), "B", "B")
    board.pilot[34] = 7.1
    samples(evse, 3)
    eq(evse.pilot(1), "C", "C once clearly past the edge")


async def test_run_sets_changed_for_a_b_c():
    board = Board()
    evse = Esp32Evse(config(), board)
    task = asyncio.create_task(evse.run(None))
    try:
        for volts, want in ((9, "B"), (6, "C"), (9, "B"), (12, "A")):
            board.pilot[34] = volts
            await asyncio.wait_for_ms(evse.changed.wait(), 1000)
            evse.changed.clear()
            eq(evse.pilot(1), want, "after %r V" % volts)
    finally:
        task.cancel()


async def test_a_sample_with_no_heap_is_skipped_and_the_sampling_goes_on():
    # An allocation failing in a sample (issue 24's invariants): the
    # sampling task lives on and the next samples read the pilot as ever.
    board = Board()
    evse = Esp32Evse(config(), board)
    sample = evse._sample_pilots
    starved = [3]

    def starving():
        if starved[0]:
            starved[0] -= 1
            raise MemoryError("memory allocation failed, allocating 32 bytes")
        return sample()

    evse._sample_pilots = starving
    task = asyncio.create_task(evse.run(None))
    try:
        for volts, want in ((9, "B"), (6, "C")):
            board.pilot[34] = volts
            while evse.pilot(1) != want:
                await asyncio.wait_for_ms(evse.changed.wait(), 1000)
                evse.changed.clear()
        eq(starved[0], 0, "the samples with no heap came first")
        eq(task.done(), False, "the sampling task still runs")
    finally:
        task.cancel()


class Reader:
    # The card-reader protocol (platform/seam.py): take_card() and run().
    def __init__(self, changed):
        self.changed = changed
        self.cards = []
        self.running = False
        self.cancelled = False

    def take_card(self):
        return self.cards.pop(0) if self.cards else None

    async def run(self):
        self.running = True
        try:
            while True:
                await asyncio.sleep_ms(10)
                if self.cards:
                    self.changed.set()
        except asyncio.CancelledError:
            self.cancelled = True
            raise


async def test_a_pilot_that_cannot_be_read_is_a_fault_not_the_state_before():
    # An ADC read that raises (ESP_ERR_TIMEOUT: a pilotIn on an ADC2 GPIO
    # once Wi-Fi runs, the ADC driver failing) while charging: the pilot is
    # not known any more. Held as C, the contactor would stay closed with
    # nobody watching the vehicle (the sampling task ended, its restarts
    # fail the same way); it is the charger's own fault (F, InternalError)
    # after the debounce, and the pilot as read again once reads work.
    board = Board()
    board.pilot[34] = 6
    evse = Esp32Evse(config(), board)
    eq(evse.pilot(1), "C", "charging")
    read = board.adcs[34].read_u16
    failing = [True]

    def read_u16():
        if failing[0]:
            raise OSError(263)  # ESP_ERR_TIMEOUT
        return read()

    board.adcs[34].read_u16 = read_u16
    task = asyncio.create_task(evse.run(None))
    try:
        while evse.pilot(1) == "C":
            await asyncio.wait_for_ms(evse.changed.wait(), 1000)
            evse.changed.clear()
        eq((evse.pilot(1), evse.fault(1)), ("F", "InternalError"), "a pilot not known: a fault, the relay opens")
        failing[0] = False
        while evse.pilot(1) != "C":
            await asyncio.wait_for_ms(evse.changed.wait(), 1000)
            evse.changed.clear()
        eq((evse.fault(1), task.done()), ("NoError", False), "read again: C, the sampling never stopped")
    finally:
        task.cancel()


async def test_the_card_reader_runs_beside_the_sampling_and_hands_its_cards_over():
    board = Board()
    evse = Esp32Evse(config(), board)
    reader = Reader(evse.changed)
    evse._reader = reader  # as the constructor does with evse.cardReader
    eq(evse.take_card(), None, "no card yet")
    task = asyncio.create_task(evse.run(None))
    await asyncio.sleep_ms(30)
    eq(reader.running, True, "the reader's poll task started with run()")
    evse.changed.clear()
    reader.cards.append((1, "04A1B2C3"))
    await asyncio.wait_for_ms(evse.changed.wait(), 1000)
    eq(evse.take_card(), (1, "04A1B2C3"), "the card, once")
    eq(evse.take_card(), None, "and only once")
    task.cancel()
    await asyncio.sleep_ms(20)
    eq(reader.cancelled, True, "the reader's task ends with the EVSE's")


# -- faults ---------------------------------------------------------------------


FAULTS = [
    {"pin": 14, "code": "GroundFailure", "active": 0},
    {"pin": 15, "code": "HighTemperature", "active": 1, "connector": 2},
]


def test_fault_inputs_give_their_code():
    board = Board()
    board.levels[14] = 1  # active low: idle
    board.levels[15] = 0  # active high: idle
    evse = Esp32Evse(config(faults=FAULTS, **two()), board)
    eq((evse.fault(1), evse.fault(2)), ("NoError", "NoError"), "idle")
    board.levels[15] = 1
    evse._poll_inputs()
    evse._poll_inputs()
    eq(evse.fault(2), "NoError", "two polls are not enough")
    eq(evse._poll_inputs(), True, "third poll: changed")
    eq((evse.fault(1), evse.fault(2)), ("NoError", "HighTemperature"), "connector 2 only")
    board.levels[14] = 0
    for _ in range(3):
        evse._poll_inputs()
    eq((evse.fault(1), evse.fault(2)), ("GroundFailure", "GroundFailure"), "first active input, every connector")
    board.levels[14] = 1
    board.levels[15] = 0
    for _ in range(3):
        evse._poll_inputs()
    eq((evse.fault(1), evse.fault(2)), ("NoError", "NoError"), "cleared")


def test_a_fault_active_at_start_is_reported_at_once():
    board = Board()
    board.levels[14] = 0
    evse = Esp32Evse(config(faults=FAULTS[:1]), board)
    eq(evse.fault(1), "GroundFailure", "at start")


def test_the_tamper_input_reports_tamper_detection_activated():
    # issue 25: evse.tamperPin; each activation (debounced) is one report, none for its release.
    from uocpp import security_event

    reports = []
    real = security_event.report
    security_event.report = lambda kind, tech=None: reports.append((kind, tech))
    try:
        board = Board()
        board.levels[13] = 1  # active low: closed lid
        evse = Esp32Evse(config(tamperPin=13, tamperActive=0), board)
        eq(reports, [], "idle at start")
        board.levels[13] = 0
        evse._poll_inputs()
        evse._poll_inputs()
        eq(reports, [], "two polls are not enough")
        evse._poll_inputs()
        eq(reports, [("TamperDetectionActivated", "tamper input GPIO 13")], "opened")
        board.levels[13] = 1
        for _ in range(3):
            evse._poll_inputs()
        eq(len(reports), 1, "closing it again is no event")
        board.levels[13] = 0
        Esp32Evse(config(tamperPin=13, tamperActive=0), board)
        eq(len(reports), 2, "open at start: an event at once")
    finally:
        security_event.report = real


def test_pilot_e_and_f_are_faults():
    board = Board()
    board.pilot[34] = 0
    evse = Esp32Evse(config(), board)
    eq((evse.pilot(1), evse.fault(1)), ("E", "EVCommunicationError"), "0 V")
    board.pilot[34] = -6  # no state: invalid, reads as E
    samples(evse, 3)
    eq((evse.pilot(1), evse.fault(1)), ("E", "EVCommunicationError"), "-6 V")
    board.pilot[34] = -12
    samples(evse, 3)
    eq((evse.pilot(1), evse.fault(1)), ("F", "InternalError"), "-12 V high phase")
    board.pilot[34] = 9
    samples(evse, 3)
    eq((evse.pilot(1), evse.fault(1)), ("B", "NoError"), "back to B")


def test_a_pilot_that_leaves_c_but_flickers_is_no_longer_c():
    # A loose pilot contact while charging: the high phase jumps between
    # 9 V, 0 V and -12 V, never the same level three samples in a row. It is
    # not C any more (the session opens the contactor on anything but C/D).
    board = Board()
    board.pilot[34] = 6
    evse = Esp32Evse(config(), board)
    eq(evse.pilot(1), "C", "charging")
    changes = []
    for volts in (9, 0, -12, 9, 0, -12, 9, 0, -12):
        board.pilot[34] = volts
        changes.append(evse._sample_pilots())
    eq(evse.pilot(1) in ("C", "D"), False, "no longer C after 9 samples that are not C")
    eq(changes[2], True, "a change within the debounce's 3 samples")


async def test_run_sets_changed_for_a_fault_input():
    board = Board()
    board.levels[14] = 1
    evse = Esp32Evse(config(faults=FAULTS[:1]), board)
    task = asyncio.create_task(evse.run(None))
    try:
        await asyncio.sleep_ms(30)
        eq(evse.changed.is_set(), False, "quiet while nothing changes")
        board.levels[14] = 0
        await asyncio.wait_for_ms(evse.changed.wait(), 1000)
        eq(evse.fault(1), "GroundFailure", "after the event")
    finally:
        task.cancel()


async def test_a_fault_input_is_read_while_every_pilot_sample_finds_no_heap():
    # The fault inputs have a net of their own: a pilot sample that keeps
    # failing (no heap) never holds up their reading.
    board = Board()
    board.levels[14] = 1
    evse = Esp32Evse(config(faults=FAULTS[:1]), board)

    def starving():
        raise MemoryError("memory allocation failed, allocating 16 bytes")

    evse._sample_pilots = starving
    task = asyncio.create_task(evse.run(None))
    try:
        board.levels[14] = 0
        for _ in range(200):  # each wake is a sample (5 ms): inputs are read every 50 ms
            if evse.fault(1) == "GroundFailure" or task.done():
                break
            await asyncio.wait_for_ms(evse.changed.wait(), 1000)
            evse.changed.clear()
        eq((evse.fault(1), task.done()), ("GroundFailure", False), "the fault read, the task alive")
    finally:
        task.cancel()


# -- relay ------------------------------------------------------------------------


def test_relay_levels():
    board = Board()
    evse = Esp32Evse(config(), board)
    evse.set_relay(1, True)
    eq((board.levels[26], evse.relay(1)), (1, True), "closed")
    evse.set_relay(1, False)
    eq((board.levels[26], evse.relay(1)), (0, False), "open")
    low = Board()
    evse = Esp32Evse(config(relayActive=0), low)
    eq(low.levels[26], 1, "active-low relay starts open (high)")
    evse.set_relay(1, 1)
    eq((low.levels[26], evse.relay(1)), (0, True), "active-low closed")


# -- lock -------------------------------------------------------------------------


def test_lock_level_with_feedback():
    board = Board()
    board.levels[13] = lambda: board.levels.get(12, 0)  # feedback follows the actuator
    evse = Esp32Evse(config(lockPin=[12], lockFeedback=[13]), board)
    eq((board.levels[12], evse.locked(1)), (0, False), "released at start")
    eq(evse.lock(1, True), True, "locked")
    eq((board.levels[12], evse.locked(1)), (1, True), "actuator and feedback")
    eq(evse.lock(1, False), True, "unlocked")
    eq((board.levels[12], evse.locked(1)), (0, False), "released")


def test_a_lock_that_opens_while_locked_is_a_connector_lock_failure():
    # The feedback leaves "locked" while the lock is meant to be locked (the
    # bolt forced back or an actuator that fails during a charge): the plug
    # may be pulled under load, so it is a fault that opens the contactor,
    # ConnectorLockFailure ("failure to lock or unlock connector", OCPP 1.6
    # 7.6 ChargePointErrorCode); a lock that just moved is no fault at once.
    board = Board()
    board.levels[13] = lambda: board.levels.get(12, 0)  # feedback follows the actuator
    evse = Esp32Evse(config(lockPin=[12], lockFeedback=[13]), board)
    eq(evse.lock(1, True), True, "locked")
    eq(evse.fault(1), "NoError", "locked as asked, before any input poll")
    board.levels[13] = 0  # the bolt is out while it should be in
    for _ in range(3):
        evse._poll_inputs()
    eq(evse.fault(1), "ConnectorLockFailure", "the lock opened while locked")
    board.levels[13] = lambda: board.levels.get(12, 0)
    eq(evse.lock(1, False), True, "released")
    eq(evse.fault(1), "NoError", "released as asked: no fault")


def test_lock_feedback_that_never_comes_times_out():
    board = Board()
    board.levels[13] = 0  # stuck: never reports locked
    evse = Esp32Evse(config(lockPin=[12], lockFeedback=[13], lockTimeout=0.05), board)
    start = time.ticks_ms()
    eq(evse.lock(1, True), False, "lock failed")
    took = time.ticks_diff(time.ticks_ms(), start)
    if not 50 <= took < 500:
        raise AssertionError("gave up after %d ms, want about 50" % took)
    eq(evse.locked(1), False, "feedback says unlocked")


def test_lock_feedback_active_low():
    board = Board()
    board.levels[13] = lambda: 1 - board.levels.get(12, 0)
    evse = Esp32Evse(config(lockPin=[12], lockFeedback=[13], lockFeedbackActive=0), board)
    eq(evse.lock(1, True), True, "locked")
    eq(evse.locked(1), True, "feedback low = locked")


def test_lock_pulse_mode():
    board = Board()
    state = {"locked": 0}

    def motor(gpio, level):
        if level == 1 and gpio == 12:
            state["locked"] = 1
        elif level == 1 and gpio == 16:
            state["locked"] = 0

    board.levels[13] = lambda: state["locked"]
    evse = Esp32Evse(config(lockMode="pulse", lockPin=[12], unlockPin=[16], lockFeedback=[13]), board)
    board.on_write = motor
    del board.writes[:]
    start = time.ticks_ms()
    eq(evse.lock(1, True), True, "locked")
    if time.ticks_diff(time.ticks_ms(), start) < 20:
        raise AssertionError("the pulse lasts lockPulse")
    eq(board.writes, [(12, 1), (12, 0)], "one pulse on the lock pin")
    del board.writes[:]
    eq(evse.lock(1, False), True, "unlocked")
    eq(board.writes, [(16, 1), (16, 0)], "one pulse on the unlock pin")
    eq(evse.locked(1), False, "feedback")


def test_lock_without_feedback_or_actuator():
    board = Board()
    evse = Esp32Evse(config(lockPin=[12]), board)
    eq(evse.lock(1, True), True, "assumed to work")
    eq((board.levels[12], evse.locked(1)), (1, True), "driven, reported as asked")
    none = Esp32Evse(config(), Board())
    eq(none.lock(1, True), None, "no actuator: no lock to move (a tethered cable), nothing failed")
    eq(none.locked(1), True, "as asked")
    eq(none.take_card(), None, "no card reader on the ESP32")


def test_unlock_connector_on_a_charger_without_a_lock_is_not_supported():
    # C16 5.18 UnlockStatus: NotSupported "Charge Point has no connector
    # lock" (OCTT TC_017_2_CS, a fixed cable). (Before: the driver said a
    # lock it does not have had moved: Unlocked.) A charger with a lock
    # still answers Unlocked.
    from uocpp.ops import unlock_connector

    class Sessions:
        def __init__(self, evse):
            self.evse = evse

        def stop(self, n, reason):
            return False  # no transaction

    none = Esp32Evse(config(), Board())
    eq(unlock_connector.handle({"connectorId": 1}, Sessions(none)), {"status": "NotSupported"}, "no lock")
    locking = Esp32Evse(config(lockPin=[12]), Board())
    eq(unlock_connector.handle({"connectorId": 1}, Sessions(locking)), {"status": "Unlocked"}, "a lock")


async def test_run_sets_changed_when_the_lock_is_forced():
    board = Board()
    board.levels[13] = 1
    evse = Esp32Evse(config(lockPin=[12], lockFeedback=[13]), board)
    task = asyncio.create_task(evse.run(None))
    try:
        board.levels[13] = 0  # someone pulled the lock open
        await asyncio.wait_for_ms(evse.changed.wait(), 1000)
        eq(evse.locked(1), False, "feedback")
    finally:
        task.cancel()


def test_phase_output_switches_only_with_the_contactor_open():
    # energy.phaseSwitch: evse.phasePin, energized = 3 phases; off (1 phase) at boot.
    board = Board()
    evse = Esp32Evse(config(phasePin=[14]), board)
    eq((board.levels[14], evse.phases(1)), (0, 1), "1 phase at boot")
    evse.set_phases(1, 3)
    eq((board.levels[14], evse.phases(1)), (1, 3), "3 phases")
    evse.set_relay(1, True)
    evse.set_phases(1, 1)
    eq((board.levels[14], evse.phases(1)), (1, 3), "never under load: unchanged while the contactor is closed")
    evse.set_relay(1, False)
    evse.set_phases(1, 1)
    eq((board.levels[14], evse.phases(1)), (0, 1), "1 phase once open")
    eq(Esp32Evse(config(), Board()).phases(1), 3, "no output: the supply as wired")
