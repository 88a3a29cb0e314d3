# Modbus RTU framing for the meter drivers (device/sdm.py): the CRC, a read
# request, and the search for its reply in the bytes received so far. Pure:
# bytes in, bytes or an exception out, so the unit tests reach every branch
# without a UART. The driver owns the port, the deadlines and the retries.
#
# Frames (Modbus over Serial Line V1.02, 2.5.1): address, function, data,
# then the CRC-16/MODBUS low byte first. A read reply's data is a byte count
# and the registers (big-endian); an exception reply is address,
# function | 0x80, exception code.
import struct

from micropython import const

_READ_HOLDING = const(0x03)  # not read: the SDM registers used are input registers
READ_INPUT = const(0x04)
_MAX_COUNT = const(125)  # registers per read: a reply carries at most 250 data bytes

# ModbusError kinds
CRC = "crc"  # a whole frame arrived with a wrong CRC (line noise)
EXCEPTION = "exception"  # the server answered, refusing: .code says why

# Exception codes (Modbus Application Protocol V1.1b3, section 7).
_NAMES = ("illegal function", "illegal data address", "illegal data value", "server device failure", "acknowledge", "server device busy")

# CRC-16/MODBUS (reflected poly 0xA001, init 0xFFFF) a nibble at a time: a
# 16-entry table is 16 small ints, a fraction of the 512 bytes of the usual
# 256-entry one, and half the loop steps of the bitwise form.
_NIBBLE = (
    0x0000, 0xCC01, 0xD801, 0x1400, 0xF001, 0x3C00, 0x2800, 0xE401,
    0xA001, 0x6C00, 0x7800, 0xB401, 0x5000, 0x9C01, 0x8801, 0x4400,
)  # fmt: skip


class ModbusError(Exception):
    # kind is CRC or EXCEPTION; code is the exception code (0 for CRC).
    def __init__(self, kind, code=0):
        super().__init__(kind, code)
        self.kind = kind
        self.code = code


def exception_name(code):
    if 1 <= code <= len(_NAMES):
        return _NAMES[code - 1]
    return "code %d" % code


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


def reply_size(count):
    return 5 + 2 * count


def find_reply(buf, address, function, count):
    # The register bytes of the reply to a read of `count` registers, once a
    # whole frame with a good CRC is in buf; None while it may still be
    # arriving (or buf holds nothing that can start it). Raises ModbusError
    # for an exception reply, or for a damaged reply (CRC) when no good one
    # follows it.
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
                raise ModbusError(EXCEPTION, buf[i + 2])
        elif f == function and i + 2 < n and buf[i + 2] == want:
            end = i + 5 + want
            if n >= end:
                if not crc16(buf, i, end):
                    return bytes(buf[i + 3 : end - 2])
                damaged = True
    if damaged:
        raise ModbusError(CRC)
    return None


def float32(data, register):
    # The IEEE-754 float in registers `register` and `register`+1 of a
    # reply's data: high word first, each word big-endian (what Eastron and
    # most meters send; some others swap the words).
    return struct.unpack_from(">f", data, 2 * register)[0]
