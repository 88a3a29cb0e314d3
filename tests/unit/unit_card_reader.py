# device/card_reader.py (the reader task and its MFRC522 driver) on the unix
# port, against the register-level MFRC522 model (harness/twin/mfrc522_chip.py)
# behind a minimal machine.SPI/Pin stand-in: one chip.transfer() per CS-low
# window.
import sys

import asyncio
import time

from check import eq

sys.path.append("../../harness/twin")

from mfrc522_chip import Mfrc522Chip  # noqa: E402

from uocpp import log  # noqa: E402
from uocpp.config import settings  # noqa: E402
from uocpp.device import card_reader  # noqa: E402
from uocpp.platform import esp32_evse_setup  # noqa: E402 - makes the reader from evse.cardReader

log.set_level("error")

UID4 = b"\xde\xad\xbe\xef"
UID7 = b"\x04\x1a\x2b\x3c\x4d\x5e\x80"
UID10 = b"\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a"


class Machine:
    # machine.Pin and machine.SPI as the reader uses them; the SPI hands each
    # transfer made while CS is low to the chip model.
    def __init__(self, chip, cs=5):
        self.chip = chip
        self.levels = {}
        self.spis = []
        self.outside_cs = 0  # transfers made with CS high (a driver bug)
        # Bumped by a task that runs whenever the driver yields: the
        # transfers made between two bumps are one stretch the loop was held.
        self.slice = 0
        self._cur = -1
        self._first = 0
        self._count = 0
        self.worst_count = 0  # transfers in one stretch
        self.worst_us = 0  # from its first transfer to the loop's next turn
        machine = self

        class Pin:
            IN = 1
            OUT = 3

            def __init__(self, gpio, mode=-1, value=None):
                self.gpio = gpio
                if value is not None:
                    machine.levels[gpio] = value

            def value(self, v=None):
                if v is None:
                    return machine.levels.get(self.gpio, 1)
                machine.levels[self.gpio] = v

        class SPI:
            def __init__(self, bus, baudrate=0, polarity=0, phase=0, sck=None, mosi=None, miso=None):
                self.args = (bus, baudrate, polarity, phase, sck.gpio, mosi.gpio, miso.gpio)
                machine.spis.append(self)

            def write_readinto(self, out, into):
                if machine.levels.get(cs) != 0:
                    machine.outside_cs += 1
                machine.held()
                got = machine.chip.transfer(bytes(out))
                for i in range(len(got)):
                    into[i] = got[i]

        self.Pin, self.SPI = Pin, SPI

    def held(self):
        now = time.ticks_us()
        if self.slice != self._cur:
            self._cur = self.slice
            self._first = now
            self._count = 0
        self._count += 1
        self.worst_count = max(self.worst_count, self._count)

    def end_slice(self):
        # The loop is back: the stretch ran from its first transfer to now.
        if self._cur == self.slice:
            self.worst_us = max(self.worst_us, time.ticks_diff(time.ticks_us(), self._first))
        self.slice += 1


class Log:
    # Stands in for uocpp.log in card_reader: counts the lines by level.
    def __init__(self):
        self.lines = []

    def info(self, tag, msg, *args):
        self.lines.append(("I", msg % args))

    def warning(self, tag, msg, *args):
        self.lines.append(("W", msg % args))

    def count(self, level):
        return len([1 for lv, _ in self.lines if lv == level])


def reader_cfg(**over):
    cfg = {"type": "mfrc522", "spi": 2, "sck": 18, "mosi": 23, "miso": 19, "cs": 5, "rst": 22, "baudrate": 1000000, "connector": 1, "debounce": 100}
    cfg.update(over)
    return cfg


def rig(debounce=100, connector=1, version=0x92):
    chip = Mfrc522Chip(version)
    board = Machine(chip)
    reader = esp32_evse_setup.from_config(reader_cfg(debounce=debounce, connector=connector), board)
    return chip, board, reader


async def polls(reader, n):
    for _ in range(n):
        await reader.poll()


async def taken(reader):
    out = []
    card = reader.take_card()
    while card is not None:
        out.append(card)
        card = reader.take_card()
    return out


# -- reading cards ------------------------------------------------------------------


async def test_a_4_byte_card_gives_one_event_with_its_uid():
    chip, board, reader = rig()
    await polls(reader, 3)
    eq(reader.ok, True, "initialised")
    eq(reader.take_card(), None, "no card yet")
    eq(reader.changed.is_set(), False, "no event yet")
    chip.present(UID4)
    await reader.poll()
    eq(reader.changed.is_set(), True, "changed set by the card")
    eq(await taken(reader), [(1, "DEADBEEF")], "one card, its UID in upper-case hex")
    eq(board.outside_cs, 0, "every transfer inside a CS-low window")
    eq(board.levels[5], 1, "CS high between transfers")
    eq(chip.frames[-4][0][:1] + bytes((chip.frames[-4][1],)), b"\x52\x07", "WUPA, 7 bits")
    eq(chip.state, "HALT", "the card is halted after its UID is read")


async def test_7_and_10_byte_uids_go_through_the_cascade_levels():
    for uid, tag in ((UID7, "041A2B3C4D5E80"), (UID10, "0102030405060708090A")):
        chip, board, reader = rig()
        chip.present(uid)
        await polls(reader, 2)
        eq(await taken(reader), [(1, tag)], "uid of %d bytes" % len(uid))
        eq(len(tag) <= 20, True, "within CiString20")
    # A 7-byte card with the cascade tag's value as its own first byte.
    chip, board, reader = rig()
    chip.present(b"\x88\x01\x02\x03\x04\x05\x06")
    await reader.poll()
    eq(await taken(reader), [(1, "88010203040506")], "a UID starting 0x88")


async def test_a_card_held_for_many_polls_gives_one_event():
    chip, board, reader = rig(debounce=250)
    chip.present(UID4)
    t0 = time.ticks_ms()
    n = 0
    while time.ticks_diff(time.ticks_ms(), t0) < 600:  # over twice the debounce time on the reader
        await reader.poll()
        await asyncio.sleep_ms(5)
        n += 1
    eq(await taken(reader), [(1, "DEADBEEF")], "one event over %d polls" % n)


async def test_a_card_held_while_the_loop_is_busy_gives_one_event():
    # A card held on the reader is one event however far apart the polls
    # come: the loop held for longer than the debounce between two polls (a
    # lock motor's blocking lock() right after the card started a session, a
    # TLS handshake) must not read the card still on the reader as a new
    # tap, which would stop the session that tap just started.
    chip, board, reader = rig(debounce=100)
    chip.present(UID4)
    await reader.poll()
    eq(await taken(reader), [(1, "DEADBEEF")], "the tap")
    t0 = time.ticks_ms()
    while time.ticks_diff(time.ticks_ms(), t0) < 150:  # the loop held: no poll
        pass
    await reader.poll()
    eq(await taken(reader), [], "still held: no second event")


async def test_removed_then_presented_again_gives_a_second_event():
    chip, board, reader = rig(debounce=200)
    chip.present(UID4)
    await reader.poll()
    eq(len(await taken(reader)), 1, "first tap")
    chip.remove()
    await polls(reader, 2)
    chip.present(UID4)
    await reader.poll()
    eq(await taken(reader), [], "back within the debounce: ignored")
    chip.remove()
    t0 = time.ticks_ms()
    while time.ticks_diff(time.ticks_ms(), t0) < 250:  # away longer than the debounce
        await reader.poll()
        await asyncio.sleep_ms(5)
    chip.present(UID4)
    reader.changed.clear()
    await reader.poll()
    eq(await taken(reader), [(1, "DEADBEEF")], "a second tap after the debounce")
    eq(reader.changed.is_set(), True, "changed set again")
    chip.present(UID7)
    await reader.poll()
    eq(await taken(reader), [(1, "041A2B3C4D5E80")], "another card counts at once")


async def test_the_configured_connector_and_event_are_used():
    chip = Mfrc522Chip()
    changed = asyncio.Event()
    reader = esp32_evse_setup.from_config(reader_cfg(connector=2), Machine(chip), changed)
    chip.present(UID4)
    await polls(reader, 2)
    eq(changed.is_set(), True, "the EVSE's event is set")
    eq(reader.take_card(), (2, "DEADBEEF"), "connector 2")


# -- bad frames and a failing chip ---------------------------------------------


async def test_crc_collision_and_parity_errors_give_no_event_and_recover():
    for kind in ("crc", "collision", "parity"):
        chip, board, reader = rig()
        await reader.poll()
        chip.present(UID7)
        chip.rx_errors(kind, 1)
        await reader.poll()
        eq(await taken(reader), [], "%s: no event from a damaged frame" % kind)
        eq(reader.ok, True, "%s: no chip fault" % kind)
        await reader.poll()
        eq(await taken(reader), [(1, "041A2B3C4D5E80")], "%s: read at the next poll" % kind)
        chip.remove()
        await reader.poll()  # a poll finds it gone (none between: as if held)
        await asyncio.sleep_ms(110)  # away past the debounce
        chip.present(UID7)
        chip.rx_errors(kind, 3)
        await polls(reader, 3)
        eq(await taken(reader), [], "%s: no event while frames are damaged" % kind)
        await reader.poll()
        eq(await taken(reader), [(1, "041A2B3C4D5E80")], "%s: read once the frames are good" % kind)
        eq(reader.failures, 0, "%s: never taken for a chip fault" % kind)


async def test_each_damaged_frame_of_the_exchange_is_refused():
    # A 7-byte UID takes WUPA, ANTICOLL + SELECT at two levels, HLTA (no
    # answer): five answers, each damaged in turn, none giving a UID.
    chip = Mfrc522Chip()
    board = Machine(chip)
    drv = card_reader.Mfrc522(board.SPI(2, sck=board.Pin(18), mosi=board.Pin(23), miso=board.Pin(19)), board.Pin(5, 3, 1))
    await drv.init()
    for skip in range(5):
        for kind in ("crc", "collision", "parity"):
            chip.present(UID7)
            # Let `skip` answers through, damage the next one.
            good = skip

            class Counting:
                pass

            real = chip._card
            state = Counting()
            state.left = good

            def card(frame, bits, real=real, state=state):
                answer = real(frame, bits)
                if answer is not None:
                    if state.left == 0:
                        chip.rx_errors(kind, 1)
                    state.left -= 1
                return answer

            chip._card = card
            got = await drv.read_uid()
            chip._card = real
            eq(got, None, "answer %d damaged (%s)" % (skip + 1, kind))
    chip.present(UID7)
    eq(await drv.read_uid(), UID7, "and a clean exchange reads it")


async def test_a_chip_that_stops_answering_is_reinitialised_and_logged_once():
    for stuck in (0x00, 0xFF):
        chip, board, reader = rig()
        card_reader.log = Log()
        try:
            await reader.poll()
            eq(reader.ok, True, "up")
            chip.dead = stuck
            chip.present(UID4)
            waits = []
            for _ in range(4):
                waits.append(await reader.poll())
            eq(reader.ok, False, "0x%02X: taken as down" % stuck)
            eq(await taken(reader), [], "0x%02X: no event from a dead chip" % stuck)
            eq(waits, [500, 1000, 2000, 4000], "0x%02X: back-off" % stuck)
            eq(card_reader.log.count("W"), 1, "0x%02X: the fault logged once" % stuck)
            chip.dead = None
            chip.power_cycle()  # its power came back too: registers at reset
            chip.present(UID4)
            eq(await reader.poll(), 100, "0x%02X: back to the poll interval" % stuck)
            eq(reader.ok, True, "0x%02X: re-initialised" % stuck)
            eq(await taken(reader), [(1, "DEADBEEF")], "0x%02X: and reading" % stuck)
            eq(card_reader.log.lines[-2][0], "I", "0x%02X: the recovery logged" % stuck)
            eq(card_reader.log.count("W"), 1, "0x%02X: still one warning" % stuck)
            eq(reader._retry, 500, "0x%02X: back-off reset" % stuck)
        finally:
            card_reader.log = log


async def test_a_chip_that_reset_itself_is_found_and_reconfigured():
    chip, board, reader = rig()
    await reader.poll()
    chip.power_cycle()  # a brown-out: answers, antenna off, timer unset
    chip.present(UID4)
    for _ in range(12):  # the health check comes within _CHECK_EVERY polls
        await reader.poll()
        if not reader.ok:
            break
    eq(reader.ok, False, "the lost configuration is seen")
    await polls(reader, 2)
    eq(reader.ok, True, "re-initialised")
    eq(await taken(reader), [(1, "DEADBEEF")], "reading again")


async def test_no_chip_at_boot_is_not_an_exception():
    chip, board, reader = rig()
    chip.dead = 0xFF
    for _ in range(3):
        await reader.poll()
    eq((reader.ok, reader.failures), (False, 3), "down, counted")
    drv = card_reader.Mfrc522(board.SPI(2, sck=board.Pin(1), mosi=board.Pin(2), miso=board.Pin(3)), board.Pin(5, 3, 1))
    try:
        await drv.init()
        raise AssertionError("init of a dead chip did not raise")
    except card_reader.ChipError as e:
        eq("no chip answers" in str(e), True, "says why: %s" % e)


async def test_a_chip_whose_timer_never_fires_ends_by_the_deadline():
    # The chip answers registers but the exchange never ends (TAuto lost):
    # the software deadline makes it a chip fault, never a hang.
    chip, board, reader = rig()
    await reader.poll()
    chip.regs[0x2A] = 0x00  # TModeReg: no automatic timer
    t0 = time.ticks_ms()
    await reader.poll()
    eq(reader.ok, False, "a fault")
    eq(time.ticks_diff(time.ticks_ms(), t0) < 200, True, "within the deadline")


async def test_a_card_that_finds_no_heap_is_read_again_and_the_reader_goes_on():
    # The idTag of a card found no heap: that poll's card is not lost for
    # good (it counts at the next poll), and the reader's task, which nobody
    # restarts, keeps polling.
    # (The idTag is made by binascii.hexlify, imported where it is used: a
    # stand-in module in sys.modules fails it once.)
    import binascii

    chip, board, reader = rig(debounce=10000)
    short = [1]

    class NoHeap:
        @staticmethod
        def hexlify(uid):
            if short[0]:
                short[0] -= 1
                raise MemoryError("memory allocation failed, allocating 16 bytes")
            return binascii.hexlify(uid)

    sys.modules["binascii"] = NoHeap
    task = asyncio.create_task(reader.run())
    try:
        chip.present(UID4)
        for _ in range(50):
            if reader.changed.is_set() or task.done():
                break
            await asyncio.sleep_ms(20)
        eq(task.done(), False, "the reader's task still runs")
        eq(short[0], 0, "the card met the short heap")
        eq(await taken(reader), [(1, "DEADBEEF")], "the card held on counts at a later poll")
    finally:
        sys.modules.pop("binascii")
        task.cancel()


# -- the loop is never held -------------------------------------------------------


async def test_polling_never_holds_the_loop_for_more_than_a_few_ms():
    # Between two yields to the loop the driver makes a few SPI transfers
    # (one register access each): counted, and timed with ticks_us from the
    # first to the loop's next turn. The time is taken in the best of three runs: the
    # host's scheduler may pause this process in the middle of any of them.
    best_us = None
    for _ in range(3):
        chip, board, reader = rig(debounce=100)
        task = asyncio.create_task(reader.run())

        async def phase(ms):
            t0 = time.ticks_ms()
            while time.ticks_diff(time.ticks_ms(), t0) < ms:
                board.end_slice()
                await asyncio.sleep_ms(0)

        await phase(250)  # no card
        chip.present(UID7)
        await phase(250)  # a card held
        chip.dead = 0x00
        await phase(250)  # a chip that stopped answering (its deadline, then re-init)
        chip.dead = None
        chip.rx_errors("crc", 5)
        await phase(800)  # damaged frames, then the re-init after the back-off
        task.cancel()
        eq(reader.ok, True, "the chip came back")
        eq(len(await taken(reader)) >= 1, True, "cards were read meanwhile")
        eq(board.worst_count <= 24, True, "at most 24 transfers without a yield, not %d" % board.worst_count)
        best_us = board.worst_us if best_us is None else min(best_us, board.worst_us)
        if best_us < 5000:
            break
    eq(best_us < 5000, True, "the loop held for %d us at most" % best_us)


# -- configuration ------------------------------------------------------------------


def doc(reader, count=1):
    return {
        "chargePoint": {"chargePointVendor": "V", "chargePointModel": "M"},
        "centralSystem": {"url": "ws://cs/ocpp", "chargePointId": "cp1"},
        "connectors": {"count": count},
        "evse": {"cardReader": reader},
    }


def test_config_defaults_and_errors_name_the_key():
    given = doc({"type": "mfrc522"})
    out, _, problems = settings.validate(given)
    eq(problems, [], "type alone is enough")
    eq(out["evse"]["cardReader"], reader_cfg(debounce=1000), "the defaults (VSPI wiring)")
    eq(given["evse"]["cardReader"], {"type": "mfrc522"}, "the document as given (the setup form writes it back)")
    out, _, problems = settings.validate(doc({}))
    eq(problems, ["evse.cardReader: type is required"], "no type")
    eq(settings.validate(doc({"type": "mfrc522"}))[0]["evse"]["cardReader"]["debounce"], 1000, "debounce 1 s")
    del_doc = doc({})
    del del_doc["evse"]
    eq(settings.validate(del_doc)[0]["evse"]["cardReader"], None, "absent: no reader")
    for given, want in (
        ({"type": "pn532"}, "evse.cardReader: type must be one of mfrc522"),
        ({"type": "mfrc522", "cs": 49}, "evse.cardReader: cs must be an integer between 0 and 48"),
        ({"type": "mfrc522", "rst": "22"}, "evse.cardReader: rst must be an integer between -1 and 48"),
        ({"type": "mfrc522", "spi": 0}, "evse.cardReader: spi must be an integer between 1 and 2"),
        ({"type": "mfrc522", "debounce": True}, "evse.cardReader: debounce must be an integer between 100 and 60000"),
        ({"type": "mfrc522", "baudrate": 20000000}, "evse.cardReader: baudrate must be an integer between 100000 and 10000000"),
        ({"type": "mfrc522", "cs": 18}, "evse.cardReader: GPIO 18 is used twice (sck, mosi, miso, cs, rst must differ)"),
        ({"type": "mfrc522", "ss": 5}, "evse.cardReader: unknown key ss"),
        ({"type": "mfrc522", "connector": 2}, "evse.cardReader: connector 2 does not exist (connectors.count is 1)"),
        ([], "evse.cardReader: must be an object, not list"),
    ):
        _, _, problems = settings.validate(doc(given))
        eq(len(problems), 1, "one problem for %r: %r" % (given, problems))
        eq(problems[0].startswith(want), True, "%r: %r" % (given, problems[0]))
    eq(settings.validate(doc({"type": "mfrc522", "connector": 2}, 2))[2], [], "connector 2 of 2")
    eq(settings.validate(doc({"type": "mfrc522", "rst": -1, "cs": 22}))[2], [], "no reset pin")


def test_from_config_opens_the_bus_as_configured():
    chip = Mfrc522Chip()
    board = Machine(chip)
    esp32_evse_setup.from_config(reader_cfg(spi=1, sck=14, mosi=13, miso=12, cs=15, rst=-1, baudrate=400000), board)
    eq(board.spis[0].args, (1, 400000, 0, 0, 14, 13, 12), "bus, baudrate, mode 0, pins")
    eq(board.levels, {15: 1}, "CS high, no reset pin driven")


def test_crc_a():
    # ISO/IEC 14443-3 annex B: CRC_A of 00 00 is A0 1E; of 12 34 is 26 CF.
    eq(card_reader.crc_a(b"\x00\x00"), 0x1EA0, "00 00")
    eq(card_reader.crc_a(b"\x12\x34"), 0xCF26, "12 34")


async def test_the_same_card_a_week_later_is_a_new_tap():
    # A board's ticks_ms wraps every 2**30 ms (12.4 days), and a ticks_diff
    # past half of that comes out negative: the last card, back 6.2 to 12.4
    # days later (a home charger's one card, a week on), read as still held
    # and its tap was lost.
    from unit_watchdog import Ticks30

    class Ticks(Ticks30):
        sleep_us = staticmethod(time.sleep_us)  # the chip's reset pulse (its driver shares the module's time)

    with Ticks(card_reader) as ticks:
        chip, board, reader = rig(debounce=1000)
        chip.present(UID4)
        await polls(reader, 2)
        eq(await taken(reader), [(1, "DEADBEEF")], "the first tap")
        chip.remove()
        await polls(reader, 2)
        ticks.now += 7 * 86400 * 1000  # a week on
        chip.present(UID4)
        await polls(reader, 2)
        eq(await taken(reader), [(1, "DEADBEEF")], "the same card a week later")
