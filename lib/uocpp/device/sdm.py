# Eastron SDM energy meters over Modbus RTU (RS-485 on a UART): the meter
# values of a charging session: SDM120 (single phase), SDM630 (three phase).
#
# Input registers (function 0x04), each an IEEE-754 float32 in two registers,
# high word first. Addresses as on the wire (the manuals' 3xxxx number - 30001):
#   0x0000 30001  V    phase 1 line to neutral volts (SDM120: the voltage)
#   0x0002 30003  V    phase 2 line to neutral volts            (SDM630)
#   0x0004 30005  V    phase 3 line to neutral volts            (SDM630)
#   0x0006 30007  A    phase 1 current (SDM120: the current)
#   0x0008 30009  A    phase 2 current                          (SDM630)
#   0x000A 30011  A    phase 3 current                          (SDM630)
#   0x000C 30013  W    active power (SDM120; SDM630: phase 1, unused here)
#   0x0034 30053  W    total system power                       (SDM630)
#   0x0046 30071  Hz   frequency of supply voltages
#   0x0048 30073  kWh  total import active energy (import kWh on the SDM120)
# Sources: the input register tables (3xxxx numbering) of lamaplc.com
# "Eastron SDM Modbus" and ob121.com "Eastron Modbus maps", the SDM120 table
# in plebann/eastron_SDM_HA_integration docs/registers-sdm120.md, and openWB/core
# packages/modules/common/sdm.py, which reads 0x00/0x06/0x0C/0x46/0x48 (kWh * 1000).
#
# One read() is two requests per model, the fewest: the registers span 0x00
# to 0x49, and some SDMs refuse more than 50 registers in one request with
# "illegal data address" (openWB/core#2890; reads that long span unlisted
# registers, as our blocks do between those we use). Not yet checked on a
# real meter: if one refuses a block, split it at the gap.
#
# Modbus RTU framing (below: the CRC, a read request, and the search for its
# reply in the bytes received so far) is pure: bytes in, bytes or an
# exception out, so the unit tests reach every branch without a UART; the
# meter owns the port, the deadlines and the retries. In this module rather
# than one of its own: each module interns its path and dotted name for ever.
#
# Frames (Modbus over Serial Line V1.02, 2.5.1): address, function, data,
# then the CRC-16/MODBUS low byte first. A read reply's data is a byte count
# and the registers (big-endian); an exception reply is address,
# function | 0x80, exception code.
import asyncio
import struct
import time

from micropython import const

ENERGY = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"
CURRENT = "Current.Import"
VOLTAGE = "Voltage"
FREQUENCY = "Frequency"
_MEASURANDS = (ENERGY, POWER, CURRENT, VOLTAGE, FREQUENCY)
# const(): a short string literal is an interned name for ever (docs/memory.md).
_FLOAT32 = const(">f")  # a register pair: a big-endian IEEE-754 float32
_DIGITS_7 = const("%.7g")
_CODE_FMT = const("code %d")  # an exception code without a name

# MeterError kinds
TIMEOUT = "timeout"  # no reply at all
GARBLED = "garbled"  # bytes came, but no whole reply (partial frame, noise, another address)
CRC = "crc"  # a whole frame arrived with a wrong CRC (line noise)
EXCEPTION = "exception"  # the meter refused: .code holds the Modbus exception code
VALUE = "value"  # a checked reply with NaN or infinity in it

_POLL_MS = const(5)  # a 9600 baud byte is 1 ms: polling is not what limits a reply
_GAP_MS = const(100)  # Eastron advise 100 ms between requests (openWB waits the same)
_MAX_DRAIN_READS = const(16)  # a port spewing noise must not keep the drain going

# model -> blocks: (first register, count, ((measurand, phase or None, register offset), ...))
_MODELS = {
    "SDM630": (
        (0x0000, 12, ((VOLTAGE, "L1", 0), (VOLTAGE, "L2", 2), (VOLTAGE, "L3", 4),
                      (CURRENT, "L1", 6), (CURRENT, "L2", 8), (CURRENT, "L3", 10))),
        (0x0034, 22, ((POWER, None, 0), (FREQUENCY, None, 18), (ENERGY, None, 20))),
    ),
    "SDM120": (
        (0x0000, 14, ((VOLTAGE, None, 0), (CURRENT, None, 6), (POWER, None, 12))),
        (0x0046, 4, ((FREQUENCY, None, 0), (ENERGY, None, 2))),
    ),
}  # fmt: skip


class MeterError(Exception):
    # reason: one line for the log. kind (TIMEOUT, GARBLED, CRC, EXCEPTION,
    # VALUE) and code (the Modbus exception code) for callers that act on it.
    def __init__(self, reason, kind=None, code=0):
        super().__init__(reason)
        self.reason = reason
        self.kind = kind
        self.code = code


# -- Modbus RTU framing ------------------------------------------------------------
_READ_INPUT = const(0x04)
_MAX_COUNT = const(125)  # registers per read: a reply carries at most 250 data bytes

# Exception codes (Modbus Application Protocol V1.1b3, section 7).
_NAMES = const(("illegal function", "illegal data address", "illegal data value", "server device failure", "acknowledge", "server device busy"))

# CRC-16/MODBUS (reflected poly 0xA001, init 0xFFFF) a nibble at a time: a
# 16-entry table is 16 small ints, a fraction of the 512 bytes of the usual
# 256-entry one, and half the loop steps of the bitwise form.
_NIBBLE = const((
    0x0000, 0xCC01, 0xD801, 0x1400, 0xF001, 0x3C00, 0x2800, 0xE401,
    0xA001, 0x6C00, 0x7800, 0xB401, 0x5000, 0x9C01, 0x8801, 0x4400,
))  # fmt: skip


def crc16(data, start=0, end=None):
    # Over data[start:end]; a frame followed by its own CRC gives 0.
    t = _NIBBLE
    crc = 0xFFFF
    for i in range(start, len(data) if end is None else end):
        b = data[i]
        crc = (crc >> 4) ^ t[(crc ^ b) & 15]
        crc = (crc >> 4) ^ t[(crc ^ (b >> 4)) & 15]
    return crc


def read_request(address, function, start, count):
    # The 8-byte request to read `count` registers from `start`.
    if not 1 <= address <= 247:
        raise ValueError("Modbus address must be 1..247")
    if not 1 <= count <= _MAX_COUNT or not 0 <= start <= 0x10000 - count:
        raise ValueError("register range out of bounds")
    frame = bytearray((address, function, start >> 8, start & 0xFF, count >> 8, count & 0xFF, 0, 0))
    crc = crc16(frame, 0, 6)
    frame[6] = crc & 0xFF
    frame[7] = crc >> 8
    return bytes(frame)


def find_reply(buf, address, function, count):
    # The register bytes of the reply to a read of `count` registers, once a
    # whole frame with a good CRC is in buf; None while it may still be
    # arriving (or buf holds nothing that can start it). Raises MeterError
    # (kind EXCEPTION or CRC, the driver words the reason) for an exception
    # reply, or for a damaged reply when no good one follows it.
    #
    # A frame may start anywhere: bytes before it are skipped (noise when the
    # RS-485 transceiver turns around, a stale tail, our own request echoed
    # by a 2-wire adapter: its third byte is the start address' high byte,
    # never the byte count of a reply to it). A reply must match address,
    # function and the exact byte count; an exception reply matches on two
    # bytes only, so one with a bad CRC is taken for noise, not an error.
    n = len(buf)
    want = 2 * count
    damaged = False
    for i in range(n - 1):
        if buf[i] != address:
            continue
        f = buf[i + 1]
        if f == function | 0x80:
            if n - i >= 5 and not crc16(buf, i, i + 5):
                raise MeterError(EXCEPTION, EXCEPTION, buf[i + 2])
        elif f == function and i + 2 < n and buf[i + 2] == want:
            end = i + 5 + want
            if n >= end:
                if not crc16(buf, i, end):
                    return bytes(buf[i + 3 : end - 2])
                damaged = True
    if damaged:
        raise MeterError(CRC, CRC)
    return None


def float32(data, register):
    # The IEEE-754 float in registers `register` and `register`+1 of a
    # reply's data: high word first, each word big-endian (what Eastron and
    # most meters send; some others swap the words).
    return struct.unpack_from(_FLOAT32, data, 2 * register)[0]


class SdmMeter:
    def __init__(self, port, address=1, model="SDM630", timeout_ms=300, retries=1, lock=None):
        if model not in _MODELS:
            raise ValueError("unknown meter model %r (known: %s)" % (model, ", ".join(sorted(_MODELS))))
        if not 1 <= address <= 247:
            raise ValueError("Modbus address must be 1..247")
        if timeout_ms <= 0 or retries < 0:
            raise ValueError("timeout_ms must be > 0 and retries >= 0")
        self.port = port
        self.address = address
        self.model = model
        self.timeout_ms = timeout_ms
        self.retries = retries
        self.phases = 3 if model == "SDM630" else 1
        self._last = time.ticks_add(time.ticks_ms(), -_GAP_MS)  # end of the last exchange
        # One request on the wire at a time: a read() may come while another
        # is under way (the metering poll and a triggered MeterValues); meters
        # on one bus share it.
        self._lock = lock or asyncio.Lock()

    def measurands(self):
        return _MEASURANDS

    async def read(self):
        # One poll of every block -> {measurand: value}; energy in Wh. Current
        # and voltage are {"L1": .., "L2": .., "L3": ..} on a three-phase meter,
        # plain floats on a single-phase one.
        values = {}
        for start, count, fields in _MODELS[self.model]:
            data = await self._exchange(start, count)
            for name, phase, offset in fields:
                value = float32(data, offset)
                if value - value != 0 or (name == ENERGY and value < 0):  # NaN or +-inf (inf - inf is NaN); an import register below 0
                    raise MeterError("%s at address %d: register 0x%04X holds %r, not a reading" % (self.model, self.address, start + offset, value), VALUE)
                if name == ENERGY:
                    # The meter counts kWh in a float32: its 7 digits are
                    # the kWh it means (12.7 is held as 12.69999981, which
                    # truncated to Wh bills 12699). The unix port's floats are
                    # doubles; a board's are float32 already. Rounded to 7
                    # digits after the scaling, which is inexact too ("1.001"
                    # * 1000 is 1000.9999999999999, which bills 1000).
                    value = float(_DIGITS_7 % (value * 1000))  # OCPP's default unit is Wh
                if phase is None:
                    values[name] = value
                else:
                    values.setdefault(name, {})[phase] = value
        return values

    # -- one Modbus transaction --------------------------------------------------
    # One function on purpose (each function and attribute of a loaded module
    # costs heap and interned names, docs/memory.md).
    async def _exchange(self, start, count):
        # The register bytes of one read, after up to `retries` more attempts
        # on silence, noise or a CRC error. A refusal is final, unless the
        # meter says it is busy (codes 5 and 6: it will answer later).
        async with self._lock:
            request = read_request(self.address, _READ_INPUT, start, count)
            where = "%s at address %d" % (self.model, self.address)
            what = "read 0x%04X+%d" % (start, count)
            port = self.port
            size = 5 + 2 * count  # a whole reply: address, function, byte count, data, CRC
            attempts = self.retries + 1
            for _ in range(attempts):
                # Leave the meter its gap after the last exchange, then drop
                # whatever arrived since (a late reply to a timed-out request
                # is not the answer to the next one).
                wait = _GAP_MS - time.ticks_diff(time.ticks_ms(), self._last)
                if wait > 0:
                    await asyncio.sleep_ms(min(wait, _GAP_MS))
                for _ in range(_MAX_DRAIN_READS):
                    if not port.read(256):
                        break
                port.write(request)
                # The reply: polls with short sleeps, so it never blocks the
                # loop, and the deadline holds even when bytes keep coming.
                buf = bytearray()
                data = None
                deadline = time.ticks_add(time.ticks_ms(), self.timeout_ms)
                try:
                    while time.ticks_diff(deadline, time.ticks_ms()) > 0:
                        chunk = port.read(256)
                        if not chunk:
                            await asyncio.sleep_ms(_POLL_MS)
                            continue
                        buf.extend(chunk)
                        data = find_reply(buf, self.address, _READ_INPUT, count)
                        if data is not None:
                            break
                        if len(buf) > 2 * size:
                            # A whole reply in what goes would have been found already.
                            buf = buf[len(buf) - size :]
                        await asyncio.sleep_ms(0)
                except MeterError as e:  # from find_reply: a refusal or a CRC error
                    kind, code = e.kind, e.code
                    self._last = time.ticks_ms()
                    if kind == EXCEPTION:
                        why = "Modbus exception %d (%s) to %s" % (code, _NAMES[code - 1] if 1 <= code <= len(_NAMES) else _CODE_FMT % code, what)
                        if code not in (5, 6):
                            raise MeterError("%s: %s" % (where, why), EXCEPTION, code)
                    else:
                        why = "CRC error in the reply to " + what
                    continue
                self._last = time.ticks_ms()
                if data is not None:
                    return data
                code = 0
                if buf:
                    from binascii import hexlify

                    kind = GARBLED
                    why = "incomplete or garbled reply to %s (%d bytes: %s)" % (what, len(buf), hexlify(buf[:16]).decode())
                else:
                    kind = TIMEOUT
                    why = "no answer to %s within %d ms" % (what, self.timeout_ms)
            raise MeterError("%s: %s (%d attempts)" % (where, why, attempts), kind, code)


class BusMeters:
    # The energy meters on an RS-485 bus, one per connector: connector n's
    # meter answers at Modbus address `address + n - 1`. The metering service
    # reads them one at a time (a shared bus). Here rather than in a module
    # of its own: each module interns its path and dotted name for ever.
    def __init__(self, port, cfg, count):
        # cfg: config.json's meter section. One lock for the bus: every
        # meter on it (and one shared with it) takes turns.
        self._lock = lock = asyncio.Lock()
        self._meters = [None] + [SdmMeter(port, cfg["address"] + n, cfg["model"], int(cfg["timeout"] * 1000), 1, lock) for n in range(count)]

    def measurands(self):
        return _MEASURANDS

    async def read(self, n):
        return await self._meters[n].read()

    def share(self, address, model, timeout_ms):
        # Another meter on this bus (the grid meter, energy/grid.py): its
        # requests take turns with the connectors' meters.
        return SdmMeter(self._meters[1].port, address, model, timeout_ms, 1, self._lock)
