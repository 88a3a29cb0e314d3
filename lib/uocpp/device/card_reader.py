# The card reader's common part: one task polls the reader chip every
# _POLL_MS and turns a card held on it into ONE (connector, idTag) for the
# charging core, which asks take_card() when `changed` is set (the EVSE's
# own event, so the session task wakes as for a pilot change).
#
# Debounce: the card last reported is ignored while it stays on the reader
# and until it has been away for `debounce_ms` (a card at the edge of the
# field drops out for a poll or two; a user tapping twice in a hurry must
# not start and stop at once). Another card counts at once.
#
# The idTag is the UID in upper-case hex: 8, 14 or 20 characters for 4-, 7-
# and 10-byte UIDs, within OCPP's CiString20 (the form most central systems
# and RFID lists use).
#
# A chip that stops answering (loose wire, brown-out) is re-initialised with
# a back-off from _RETRY_MS to _RETRY_MAX_MS; the failure is logged once,
# the recovery once. Imported only when evse.cardReader is configured;
# made from it by platform/esp32_evse_setup.py's from_config().
#
# The chip's driver (Mfrc522, below) is in this module rather than one of
# its own: each module interns its path and dotted name for ever.
#
# The chip: NXP MFRC522 (the "RC522" reader modules) over SPI: reads the UID of one
# ISO/IEC 14443 A card (MIFARE Classic, Ultralight, NTAG, DESFire: 4-, 7- or
# 10-byte UIDs). Written for this project from the NXP MFRC522 datasheet
# (registers, SPI framing, timer) and ISO/IEC 14443-3 (REQA/WUPA, the
# anticollision loop, SELECT, HLTA, CRC_A); no MicroPython driver on PyPI
# fits (the one there is for HaaS Python's `driver` module, 4-byte UIDs
# only, with blocking loops).
#
# Every method that talks to a card is a coroutine: a transceive starts the
# chip, then checks its interrupt register and sleeps 1 ms between checks,
# so one poll never holds the asyncio loop longer than a few SPI
# transactions. The chip's own timer ends an exchange nobody answers
# (_TRELOAD ticks after the frame); a software deadline (_DEADLINE_MS) ends
# one where the chip itself does not answer, as ChipError.
#
# SPI (datasheet 8.1.2): mode 0, MSB first. Address byte: bit 7 = read,
# bits 6..1 = register, bit 0 = 0. A read sends one address byte per
# register and a final 0x00; MISO carries each register one byte later. A
# write sends the address, then data bytes all written to that register
# (the FIFO takes them in order). One SPI call per CS-low window: the
# twin's SPI stand-in hands each to the chip model's transfer().
import asyncio
import time

from micropython import const

from uocpp import log

_POLL_MS = const(100)
_CHECK_EVERY = const(10)  # polls between two chip health checks (about 1 s)
_RETRY_MS = const(500)
_RETRY_MAX_MS = const(30000)
_QUEUE = const(4)  # cards not yet taken; the oldest goes beyond that


# The reader's private state, self._s (a list indexed by constants: every
# attribute would be an interned name for ever, docs/memory.md):
_CHIP = const(0)
_DEBOUNCE_MS = const(1)
_LAST = const(2)  # UID of the card last reported
_SEEN = const(3)  # ticks_ms when it was last on the reader
_DOWN = const(4)  # logged as failing, no good poll since
_POLLS = const(5)
_HELD = const(6)  # no poll has missed it since: held, however far apart the polls came


class CardReader:
    def __init__(self, chip, connector, debounce_ms, changed=None):
        # chip: async init() -> version, check(), async read_uid() -> bytes or
        # None, both raising on a chip fault (Mfrc522 below).
        self._s = [chip, debounce_ms, None, 0, False, 0, False]
        self.connector = connector
        self.changed = changed if changed is not None else asyncio.Event()
        self._cards = []
        self.ok = False  # the chip is initialised and answering
        self.failures = 0  # chip faults since the start (for tests and diagnostics)
        self._retry = _RETRY_MS

    def take_card(self):
        # (connector, idTag) of the oldest card not taken yet, or None.
        return self._cards.pop(0) if self._cards else None

    async def run(self):
        while True:
            try:
                wait = await self.poll()
            except MemoryError:
                # A card's event found no heap: it is read again at the next
                # poll. Never the end of this task, which nobody restarts.
                wait = _POLL_MS
            await asyncio.sleep_ms(wait)

    async def poll(self):
        # One poll: (re-)init the chip if needed, read the card on it.
        # Returns the ms to wait before the next poll.
        s = self._s
        chip = s[_CHIP]
        try:
            if not self.ok:
                version = await chip.init()
                self.ok = True
                s[_POLLS] = 0
                if not self.failures:
                    log.info("card", "card reader: chip version 0x%02X, cards go to connector %d", version, self.connector)
            s[_POLLS] += 1
            if s[_POLLS] >= _CHECK_EVERY:
                s[_POLLS] = 0
                chip.check()
            uid = await chip.read_uid()
        except Exception as e:
            # Any fault of the chip or its bus (ChipError, OSError from SPI,
            # even a driver bug): never the end of the task.
            if not s[_DOWN]:
                s[_DOWN] = True
                log.warning("card", "card reader: chip fault (%s: %s): re-initialising, every %d s at most", type(e).__name__, e, _RETRY_MAX_MS // 1000)
            self.ok = False
            self.failures += 1
            wait = self._retry
            self._retry = min(wait * 2, _RETRY_MAX_MS)
            return wait
        if s[_DOWN]:
            s[_DOWN] = False
            self._retry = _RETRY_MS
            log.info("card", "card reader: chip answers again")
        if uid is not None:
            self._saw(uid)
        else:
            s[_HELD] = False  # the card last reported is away from this poll on
        return _POLL_MS

    def _saw(self, uid):
        # (A method of its own: the twin's probe counts the card events
        # through it, harness/twin/board/_agent.py.)
        s = self._s
        now = time.ticks_ms()
        # Held while no poll has missed it (however far apart the polls
        # came: a busy loop), else back within the debounce. (0 <=: seen
        # over half the ticks' period ago, 6.2 days on a 32-bit board, reads
        # as negative: a new tap, not a card still held.)
        if uid == s[_LAST] and (s[_HELD] or 0 <= time.ticks_diff(now, s[_SEEN]) < s[_DEBOUNCE_MS]):
            s[_SEEN] = now  # still held (or back too soon): no new event
            s[_HELD] = True
            return
        from binascii import hexlify

        tag = hexlify(uid).decode().upper()
        log.info("card", "card reader: card %s at connector %d", tag, self.connector)
        if len(self._cards) >= _QUEUE:
            self._cards.pop(0)
        self._cards.append((self.connector, tag))
        # Reported only once queued: a card whose event found no heap is
        # not taken as reported (and then ignored while it is held).
        s[_LAST] = uid
        s[_SEEN] = now
        s[_HELD] = True
        self.changed.set()


# -- the MFRC522 -------------------------------------------------------------------
# Registers (datasheet 9.2).
_COMMAND = const(0x01)
_COM_IEN = const(0x02)
_COM_IRQ = const(0x04)
_ERROR = const(0x06)
_FIFO_DATA = const(0x09)
_FIFO_LEVEL = const(0x0A)
_CONTROL = const(0x0C)
_BIT_FRAMING = const(0x0D)
_MODE = const(0x11)
_TX_MODE = const(0x12)
_RX_MODE = const(0x13)
_TX_CONTROL = const(0x14)
_TX_ASK = const(0x15)
_T_MODE = const(0x2A)
_T_PRESCALER = const(0x2B)
_T_RELOAD_H = const(0x2C)
_T_RELOAD_L = const(0x2D)
_VERSION = const(0x37)

# Commands (CommandReg bits 3..0).
_IDLE = const(0x00)
_TRANSCEIVE = const(0x0C)
_SOFT_RESET = const(0x0F)
_POWER_DOWN = const(0x10)  # CommandReg bit 4: set while the chip is (re)starting

# ComIrqReg bits.
_TIMER_IRQ = const(0x01)
_ERR_IRQ = const(0x02)
_RX_IRQ = const(0x20)
_ALL_IRQ = const(0x7F)  # written with Set1 = 0: clears them all

# ErrorReg bits: a bad frame from the card (the next poll tries again)...
_PROTOCOL_ERR = const(0x01)
_PARITY_ERR = const(0x02)
_CRC_ERR = const(0x04)
_COLL_ERR = const(0x08)
# ...or the chip itself in trouble (overflow, overheating, a bad write).
_CHIP_ERRORS = const(0xD0)  # WrErr | TempErr | BufferOvfl

# The timer: TModeReg TAuto (starts at the end of each frame sent), prescaler
# 0x0A9 = 169 -> 13.56 MHz / (2 * 169 + 1) = 40 kHz, 25 us a tick; 400 ticks
# = 10 ms without an answer ends the exchange. A card answers REQA within
# about 0.1 ms, and none of the frames here takes longer.
_T_AUTO = const(0x80)
_PRESCALER = const(0xA9)
_TRELOAD = const(400)
_DEADLINE_MS = const(40)  # the chip's own timer should have fired by far by then
_RESET_MS = const(50)  # the oscillator's start-up after a reset

# ISO/IEC 14443-3 type A.
_REQA = const(0x26)
_WUPA = const(0x52)
_HLTA = const(0x50)
_SEL = const(0x93)  # cascade level 1; levels 2 and 3 are 0x95, 0x97
_NVB_ALL = const(0x20)  # anticollision: we send 2 bytes, the card the rest
_NVB_SELECT = const(0x70)  # SELECT: all 7 bytes
_CT = const(0x88)  # cascade tag: this level carries 3 UID bytes, more follow
_SAK_MORE = const(0x04)  # SAK bit: UID not complete, go to the next level

# Chip versions seen on modules: 0x91/0x92 NXP v1/v2, 0x88 FM17522 and
# 0x12/0xB2 clones. Any is used; 0x00 and 0xFF are a bus with nothing on it.


class ChipError(Exception):
    # The chip does not answer, or answers nonsense: the caller re-inits it.
    pass


def crc_a(data, n=None):
    # ISO/IEC 14443-3 CRC_A (x^16 + x^12 + x^5 + 1, preset 0x6363, sent low
    # byte first) over data[:n], as an int. In software: the chip's CalcCRC
    # would cost a command and another wait per frame.
    crc = 0x6363
    for i in range(len(data) if n is None else n):
        b = (data[i] ^ crc) & 0xFF
        b = (b ^ (b << 4)) & 0xFF
        crc = (crc >> 8) ^ (b << 8) ^ (b << 3) ^ (b >> 4)
    return crc


class Mfrc522:
    def __init__(self, spi, cs, rst=None):
        # spi: machine.SPI (mode 0); cs, rst: machine.Pin outputs (rst may
        # be None when NRSTPD is tied high: a soft reset only).
        self._spi = spi
        self._cs = cs
        self._rst = rst
        self.version = None
        self._buf = bytearray(20)  # SPI transfers: address + up to 18 bytes
        self._frame = bytearray(9)  # SEL, NVB, 5 UID bytes, CRC_A
        cs.value(1)

    # -- registers -----------------------------------------------------------------
    def _write(self, reg, value):
        buf = self._buf
        buf[0] = (reg << 1) & 0x7E
        buf[1] = value
        self._xfer(2)

    def _read(self, reg):
        buf = self._buf
        buf[0] = 0x80 | ((reg << 1) & 0x7E)
        buf[1] = 0
        self._xfer(2)
        return buf[1]

    def _xfer(self, n):
        mv = memoryview(self._buf)[:n]
        self._cs.value(0)
        try:
            self._spi.write_readinto(mv, mv)
        finally:
            self._cs.value(1)

    # -- set-up ----------------------------------------------------------------------
    async def init(self):
        # Reset and configure; raises ChipError when no chip answers.
        if self._rst is not None:
            self._rst.value(0)
            time.sleep_us(10)  # the datasheet asks for 100 ns low
            self._rst.value(1)
            await asyncio.sleep_ms(_RESET_MS)
        self._write(_COMMAND, _SOFT_RESET)
        await asyncio.sleep_ms(_RESET_MS)
        version = self._read(_VERSION)
        if version == 0x00 or version == 0xFF:
            raise ChipError("no chip answers (VersionReg 0x%02X)" % version)
        if self._read(_COMMAND) & _POWER_DOWN:
            raise ChipError("still in power-down after a reset")
        self.version = version
        self._write(_T_MODE, _T_AUTO)
        self._write(_T_PRESCALER, _PRESCALER)
        self._write(_T_RELOAD_H, _TRELOAD >> 8)
        self._write(_T_RELOAD_L, _TRELOAD & 0xFF)
        self._write(_TX_ASK, 0x40)  # Force100ASK: the 100 % ASK type A needs
        self._write(_MODE, 0x3D)  # CRC preset 0x6363 (type A), TxWaitRF, MFIN active high
        self._write(_TX_MODE, 0x00)  # 106 kbit/s, no CRC added: frames carry their own
        self._write(_RX_MODE, 0x00)
        self._write(_COM_IEN, 0x80)  # IRQ pin inverted, no source enabled: polled
        self._write(_TX_CONTROL, self._read(_TX_CONTROL) | 0x03)  # antenna drivers on
        return version

    def check(self):
        # A chip that restarted on its own (a brown-out) answers but has lost
        # its configuration; one that is gone reads 0x00 or 0xFF. A few
        # register reads, no card traffic.
        version = self._read(_VERSION)
        if version != self.version:
            raise ChipError("VersionReg reads 0x%02X, was 0x%02X" % (version, self.version or 0))
        if self._read(_TX_CONTROL) & 0x03 != 0x03 or self._read(_T_MODE) != _T_AUTO:
            raise ChipError("lost its configuration (reset on its own?)")

    # -- cards ------------------------------------------------------------------------
    async def read_uid(self):
        # The UID (bytes) of the one card on the reader, or None: no card, or
        # a bad frame this time (noise, two cards colliding). WUPA rather
        # than REQA: it wakes a card that the last poll halted, so a card
        # held on the reader is seen at every poll.
        frame = self._frame
        frame[0] = _WUPA
        got = await self._transceive(frame, 7, 1)
        if got == 0:
            return None  # nobody answered
        uid = await self._select() if got == 2 else None
        # Halted whatever happened: a card that a bad frame left half-way
        # (READY) would ignore the next WUPA (ISO 14443-3 sends it back to
        # IDLE), and a poll would be lost.
        # HLTA: the card goes quiet until the next WUPA. It never answers:
        # rather than wait for the timer, stop once the frame is out (4
        # bytes at 106 kbit/s: about 0.4 ms).
        frame[0] = _HLTA
        frame[1] = 0
        crc = crc_a(frame, 2)
        frame[2] = crc & 0xFF
        frame[3] = crc >> 8
        self._start(frame, 0, 4)
        await asyncio.sleep_ms(1)
        self._write(_BIT_FRAMING, 0)
        self._write(_COMMAND, _IDLE)
        return uid

    async def _select(self):
        # The anticollision loop and SELECT, cascade level by level.
        frame = self._frame
        uid = bytearray()
        for level in range(3):
            frame[0] = _SEL + 2 * level
            frame[1] = _NVB_ALL
            if await self._transceive(frame, 0, 2) != 5:
                return None
            got = self._buf
            if got[1] ^ got[2] ^ got[3] ^ got[4] != got[5]:
                return None  # the BCC does not match: a bad frame
            for i in range(5):
                frame[2 + i] = got[1 + i]
            frame[1] = _NVB_SELECT
            crc = crc_a(frame, 7)
            frame[7] = crc & 0xFF
            frame[8] = crc >> 8
            if await self._transceive(frame, 0, 9) != 3:
                return None
            got = self._buf
            if crc_a(got[1:4]) != 0:
                return None  # SAK + CRC_A: over a correct frame the CRC comes out 0
            if not got[1] & _SAK_MORE:
                uid.extend(frame[2:6])
                return bytes(uid)
            if frame[2] != _CT:
                return None
            uid.extend(frame[3:6])
        return None  # more than three cascade levels: not ISO 14443 A

    def _start(self, data, last_bits, n):
        self._write(_COMMAND, _IDLE)
        self._write(_COM_IRQ, _ALL_IRQ)
        self._write(_FIFO_LEVEL, 0x80)  # FlushBuffer
        buf = self._buf  # data[:n] into the FIFO, one transaction
        buf[0] = _FIFO_DATA << 1
        for i in range(n):
            buf[i + 1] = data[i]
        self._xfer(n + 1)
        self._write(_COMMAND, _TRANSCEIVE)
        self._write(_BIT_FRAMING, 0x80 | last_bits)  # StartSend

    async def _transceive(self, data, last_bits, n):
        # Sends data[:n] (the last byte with last_bits bits, 0 = all 8) and
        # returns how many bytes came back into self._buf[1..]: 0 when nobody
        # answered, -1 for a bad frame from the card. Raises ChipError for
        # the chip.
        self._start(data, last_bits, n)
        start = time.ticks_ms()
        while True:
            # The shortest answer (ATQA) comes some 0.2 ms after the frame
            # starts: sleeping first yields to the loop once per exchange.
            await asyncio.sleep_ms(1)
            irq = self._read(_COM_IRQ)
            if irq & (_RX_IRQ | _ERR_IRQ | _TIMER_IRQ):
                break
            if time.ticks_diff(time.ticks_ms(), start) > _DEADLINE_MS:
                self._write(_COMMAND, _IDLE)
                raise ChipError("no end of an exchange within %d ms (ComIrqReg 0x%02X)" % (_DEADLINE_MS, irq))
        self._write(_BIT_FRAMING, last_bits)  # StartSend off
        self._write(_COMMAND, _IDLE)
        if irq & _ERR_IRQ:
            err = self._read(_ERROR)
            if err & _CHIP_ERRORS:
                raise ChipError("ErrorReg 0x%02X" % err)
            if err & (_PROTOCOL_ERR | _PARITY_ERR | _CRC_ERR | _COLL_ERR):
                return -1
        if not irq & _RX_IRQ:
            return 0  # the timer: no card answered
        got = self._read(_FIFO_LEVEL) & 0x7F
        if not 0 < got <= 18:
            return -1
        if self._read(_CONTROL) & 0x07:
            return -1  # a partial last byte: not a frame we asked for
        # The FIFO's got bytes in one transaction: self._buf[1..got].
        buf = self._buf
        for i in range(got):
            buf[i] = 0x80 | (_FIFO_DATA << 1)
        buf[got] = 0
        self._xfer(got + 1)
        return got
