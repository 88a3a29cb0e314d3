# device/sdm.py's Modbus RTU framing: CRC-16/MODBUS, read requests, the search
# for a reply in received bytes, float decoding; and its transaction loop on an
# in-memory port (what is sent, deadlines under a noise flood). Expected
# frames were cross-checked with a bitwise CRC-16/MODBUS in CPython.
import struct

import asyncio
from check import eq, raises

from uocpp.device import sdm
from uocpp.device.sdm import MeterError


def h(text):
    return bytes.fromhex(text.replace(" ", ""))


def frame(body):
    # body + its CRC, low byte first
    crc = sdm.crc16(body)
    return body + bytes((crc & 0xFF, crc >> 8))


def reply(address, values, function=4):
    data = struct.pack(">%df" % len(values), *values)
    return frame(bytes((address, function, len(data))) + data)


def test_crc_known_vectors():
    eq(sdm.crc16(h("01 04 00 00 00 02")), 0xCB71, "01 04 00 00 00 02")  # on the wire: 71 CB
    eq(sdm.crc16(b"123456789"), 0x4B37, "CRC-16/MODBUS check value")
    eq(sdm.crc16(b""), 0xFFFF, "empty")
    eq(sdm.crc16(h("01 84 02 c2 c1")), 0, "a frame followed by its CRC")
    eq(sdm.crc16(h("ff 01 04 00 00 00 02 71 cb ee"), 1, 9), 0, "a slice")


def test_read_requests():
    eq(sdm.read_request(1, 4, 0, 2), h("01 04 00 00 00 02 71 cb"), "0x0000+2")
    eq(sdm.read_request(1, 4, 0, 12), h("01 04 00 00 00 0c f0 0f"), "SDM630 block 1")
    eq(sdm.read_request(1, 4, 0x34, 22), h("01 04 00 34 00 16 30 0a"), "SDM630 block 2")
    eq(sdm.read_request(1, 4, 0, 14), h("01 04 00 00 00 0e 71 ce"), "SDM120 block 1")
    eq(sdm.read_request(1, 4, 0x46, 4), h("01 04 00 46 00 04 10 1c"), "SDM120 block 2")
    eq(sdm.read_request(11, 4, 0x48, 2), h("0b 04 00 48 00 02 f1 77"), "energy at address 11")
    for args in ((0, 4, 0, 2), (248, 4, 0, 2), (1, 4, 0, 0), (1, 4, 0, 126), (1, 4, 0xFFFF, 2), (1, 4, -1, 2)):
        raises(ValueError, sdm.read_request, *args)


def test_good_reply_and_its_floats():
    buf = reply(1, [1234.5, 230.25, -7.5])
    data = sdm.find_reply(buf, 1, 4, 6)
    eq(len(data), 12, "data bytes")
    eq([sdm.float32(data, r) for r in (0, 2, 4)], [1234.5, 230.25, -7.5], "floats")
    eq(sdm.float32(h("44 9a 50 00"), 0), 1234.5, "high word first")
    eq(sdm.float32(h("00 00 00 00 43 66 80 00"), 2), 230.5, "second float")
    nan = sdm.float32(h("7f c0 00 00"), 0)
    eq(nan != nan, True, "NaN decodes as NaN")


def test_reply_arriving_in_pieces():
    # None until the last byte, whatever the split
    whole = reply(1, [50.0, 1.5])
    for cut in range(len(whole)):
        eq(sdm.find_reply(whole[:cut], 1, 4, 4), None, "after %d bytes" % cut)
    eq(sdm.find_reply(whole, 1, 4, 4), whole[3:-2], "complete")


def test_short_or_other_replies_are_not_taken():
    good = reply(1, [50.0])
    eq(sdm.find_reply(good, 1, 4, 4), None, "byte count for 2 registers, 4 asked")
    eq(sdm.find_reply(good, 2, 4, 2), None, "another address")
    eq(sdm.find_reply(good, 1, 3, 2), None, "another function")
    eq(sdm.find_reply(reply(1, [50.0], function=3), 1, 4, 2), None, "a holding-register reply")


def test_noise_and_echo_before_the_reply_are_skipped():
    good = reply(1, [50.0, 1.5])
    echo = sdm.read_request(1, 4, 0x46, 4)
    # the last ones look like a start: an exception (2 bytes match), a reply (3 bytes)
    for prefix in (b"\x00", b"\xff\xff\x00", echo, b"\x01", b"\x01\x04", b"\x01\x04\x00", b"\x01\x84", b"\x01\x04\x08"):
        eq(sdm.find_reply(prefix + good, 1, 4, 4), good[3:-2], "after %r" % prefix)
    eq(sdm.find_reply(good + b"\x00\xff", 1, 4, 4), good[3:-2], "trailing noise")


def test_bad_crc_raises_once_the_frame_is_complete():
    good = bytearray(reply(1, [230.5, 16.0]))
    for at in (3, 6, len(good) - 2, len(good) - 1):
        bad = bytearray(good)
        bad[at] ^= 0x10
        eq(sdm.find_reply(bad[:-1], 1, 4, 4), None, "incomplete at %d" % at)
        e = raises(MeterError, sdm.find_reply, bad, 1, 4, 4)
        eq((e.kind, e.code), (sdm.CRC, 0), "flipped byte %d" % at)


def test_exception_replies():
    e = raises(MeterError, sdm.find_reply, h("01 84 02 c2 c1"), 1, 4, 22)
    eq((e.kind, e.code), (sdm.EXCEPTION, 2), "illegal data address")
    eq(sdm.find_reply(h("01 84 02 c2"), 1, 4, 22), None, "exception still arriving")
    eq(sdm.find_reply(h("01 84 02 c2 c3"), 1, 4, 22), None, "a damaged exception reply is noise")
    eq(sdm.find_reply(h("02 84 02 c2 c1"), 1, 4, 22), None, "exception from another address")
    ex = frame(bytes((1, 0x84, 6)))
    e = raises(MeterError, sdm.find_reply, ex, 1, 4, 2)
    eq(e.code, 6, "busy")


# -- the driver's loop on an in-memory port ---------------------------------------
class Port:
    # Replies with the frames of `answers` in turn (None: stays silent).
    def __init__(self, answers, noise=None):
        self.answers = list(answers)
        self.sent = []
        self.pending = b""
        self.noise = noise

    def write(self, data):
        self.sent.append(bytes(data))
        answer = self.answers.pop(0) if self.answers else None
        if answer:
            self.pending += answer

    def read(self, n=256):
        if self.noise:
            return self.noise
        chunk, self.pending = self.pending[:5], self.pending[5:]
        return chunk or None


async def test_exception_replies_are_named_in_the_meter_error():
    # The exception code's name (Modbus Application Protocol, section 7), or
    # its number when it has none; a refusal is final, busy (6) is retried.
    for code, named, tail in ((2, "illegal data address", ""), (11, "code 11", ""), (6, "server device busy", " (2 attempts)")):
        port = Port([frame(bytes((1, 0x84, code)))] * 2)
        try:
            await sdm.SdmMeter(port, model="SDM120").read()
        except sdm.MeterError as e:
            eq((e.kind, e.code), (sdm.EXCEPTION, code), "code %d" % code)
            eq(e.reason, "SDM120 at address 1: Modbus exception %d (%s) to read 0x0000+14%s" % (code, named, tail), "code %d" % code)
            continue
        raise AssertionError("no MeterError for code %d" % code)


async def energy_register_refused(port):
    # An SDM120 read whose checked replies hold a value the energy register
    # (0x0048) cannot have: a VALUE MeterError that names it.
    try:
        await sdm.SdmMeter(port, model="SDM120").read()
    except sdm.MeterError as e:
        eq(e.kind, sdm.VALUE, "kind")
        eq("0x0048" in e.reason, True, e.reason)
        return
    raise AssertionError("no MeterError")


async def test_a_negative_energy_register_in_a_checked_reply_is_a_meter_error():
    # An import register counts up from 0 (seam.py: "a register that never
    # falls"); a checked reply with -5 kWh there is not a reading (another
    # device at that address, a meter that answers garbage), and billed as
    # meterStart or meterStop it would be a negative meter value.
    await energy_register_refused(Port([frame(h("01 04 1c") + bytes(28)), reply(1, [50.0, -5.0])]))


async def test_sdm630_read_is_two_requests():
    block1 = reply(1, [230.0, 231.0, 232.0, 10.0, 11.0, 12.0])
    block2 = reply(1, [7000.0] + [0.0] * 8 + [50.0, 12.5])
    port = Port([block1, block2])
    values = await sdm.SdmMeter(port).read()
    eq(port.sent, [h("01 04 00 00 00 0c f0 0f"), h("01 04 00 34 00 16 30 0a")], "requests")
    eq(values[sdm.ENERGY], 12500.0, "Wh")
    eq(values[sdm.VOLTAGE], {"L1": 230.0, "L2": 231.0, "L3": 232.0}, "voltages")
    eq(values[sdm.CURRENT]["L3"], 12.0, "L3 current")
    eq((values[sdm.POWER], values[sdm.FREQUENCY]), (7000.0, 50.0), "power, frequency")


async def test_nan_in_a_checked_reply_is_a_meter_error():
    # SDM120: 0x0000+14 all zeros, then 0x0046+4 with NaN in the energy register (0x0048).
    await energy_register_refused(Port([frame(h("01 04 1c") + bytes(28)), frame(h("01 04 08 00 00 00 00 7f c0 00 00"))]))


async def test_noise_flood_ends_at_the_deadline_without_blocking():
    ticks = [0]

    async def ticker():
        while True:
            await asyncio.sleep_ms(10)
            ticks[0] += 1

    task = asyncio.create_task(ticker())
    meter = sdm.SdmMeter(Port([], noise=b"\x00\xff\x01\x04" * 16), timeout_ms=100, retries=1)
    import time

    t0 = time.ticks_ms()
    try:
        await meter.read()
        raise AssertionError("no MeterError")
    except sdm.MeterError as e:
        eq(e.kind, sdm.GARBLED, e.reason)
    took = time.ticks_diff(time.ticks_ms(), t0)
    task.cancel()
    # 2 attempts of 100 ms, plus the 100 ms gap before the second: never
    # sooner; the upper bound only catches a read that never ends (a busy
    # host may be slow, so it is generous).
    eq(280 <= took <= 3000, True, "took %d ms" % took)
    # The ticker ran during the read: a read that blocked the loop for its
    # timeouts would let it run once at most, at the end. (Not a rate: a busy
    # host slows the ticker by any factor.)
    eq(ticks[0] >= 3, True, "ticker ran %d times in %d ms" % (ticks[0], took))


async def test_concurrent_reads_take_turns_on_the_wire():
    # A read() while another is under way (the metering poll and a
    # triggered MeterValues): each request waits for the previous reply
    # (two exchanges mixed on the bus would be garbage).
    class ByStart(Port):
        def write(self, data):
            if self.pending:
                raise AssertionError("request sent while a reply was pending")
            self.sent.append(bytes(data))
            self.pending = self.answers[data[3]]

    answers = {
        0x00: reply(1, [230.0] * 3 + [10.0] * 3),
        0x34: reply(1, [7000.0] + [0.0] * 8 + [50.0, 12.5]),
    }
    port = ByStart([])
    port.answers = answers
    meter = sdm.SdmMeter(port)
    first, second = await asyncio.gather(meter.read(), meter.read())
    eq((first[sdm.ENERGY], second[sdm.ENERGY]), (12500.0, 12500.0), "both answered")
    eq([r[3] for r in port.sent], [0x00, 0x00, 0x34, 0x34], "one exchange at a time, in the order asked")


async def test_every_meter_on_one_bus_takes_turns_with_the_grid_meter():
    # Connector 2's meter and the grid meter sharing the connectors' bus
    # (BusMeters.share, energy/grid.py): the metering poll and the grid's
    # reading run as separate tasks, and a request while another meter's
    # reply is still on the bus garbles both (and the drain before a request
    # swallows the other's reply).
    class ByAddress(Port):
        def write(self, data):
            if self.pending:
                raise AssertionError("request to %d sent while a reply was pending" % data[0])
            self.sent.append(bytes(data))
            self.pending = reply(data[0], [230.0] * 3 + [10.0] * 3) if data[3] == 0 else reply(data[0], [7000.0] + [0.0] * 8 + [50.0, 12.5])

    port = ByAddress([])
    bus = sdm.BusMeters(port, {"address": 1, "model": "SDM630", "timeout": 0.3}, 2)
    grid = bus.share(9, "SDM630", 300)
    mine, theirs = await asyncio.gather(bus.read(2), grid.read())
    eq((mine[sdm.ENERGY], theirs[sdm.ENERGY]), (12500.0, 12500.0), "both answered")
    eq(sorted(r[0] for r in port.sent), [2, 2, 9, 9], "each request once, one exchange at a time on the bus")


def test_unknown_model_or_address():
    raises(ValueError, sdm.SdmMeter, None, 1, "SDM999")
    raises(ValueError, sdm.SdmMeter, None, 0)
    raises(ValueError, sdm.SdmMeter, None, 1, "SDM630", 300, -1)
    raises(ValueError, sdm.SdmMeter, None, 1, "SDM630", 0, 1)
    eq(sdm.SdmMeter(None, model="SDM120").measurands(), (sdm.ENERGY, sdm.POWER, sdm.CURRENT, sdm.VOLTAGE, sdm.FREQUENCY), "measurands")


async def test_an_energy_register_just_below_its_kwh_is_billed_as_that_kwh():
    # The SDM counts kWh in a float32: 12.7 kWh is held as 12.69999981 (the
    # nearest float32), which is 12700 Wh, not 12699: a start or a stop
    # billed with it must say what the meter's display says.
    from uocpp.services.metering import Metering

    from fakes import Keys, Outbox

    port = Port([frame(h("01 04 1c") + bytes(28)), reply(1, [50.0, 12.7])])
    values = await sdm.SdmMeter(port, model="SDM120").read()
    metering = Metering(None, 1, Keys(), Outbox(), None)
    metering.readings[1] = values
    eq(metering.energy_wh(1), 12700, "meterStart / meterStop in Wh")
    eq(metering.meter_value(1, sdm.ENERGY, "Sample.Periodic")["sampledValue"][0]["value"], "12700", "the sampled value")


async def test_an_energy_register_of_whole_wh_is_billed_as_those_wh():
    # 1.001 kWh in the meter's float32 is 1.00100005; its 7 digits, "1.001",
    # times 1000 in binary floating point is 1000.9999999999999, which
    # truncated to Wh billed 1000 (8.155 kWh: 8154). The Wh the meter's
    # display means, for a start, a stop or a sampled value.
    from uocpp.services.metering import Metering

    from fakes import Keys, Outbox

    for kwh, wh in ((1.001, 1001), (8.155, 8155), (1.003, 1003), (12.7, 12700), (1234.567, 1234567)):
        port = Port([frame(h("01 04 1c") + bytes(28)), reply(1, [50.0, kwh])])
        values = await sdm.SdmMeter(port, model="SDM120").read()
        metering = Metering(None, 1, Keys(), Outbox(), None)
        metering.readings[1] = values
        eq(metering.energy_wh(1), wh, "%s kWh: meterStart / meterStop in Wh" % kwh)
        eq(metering.meter_value(1, sdm.ENERGY, "Sample.Periodic")["sampledValue"][0]["value"], str(wh), "%s kWh: the sampled value" % kwh)
