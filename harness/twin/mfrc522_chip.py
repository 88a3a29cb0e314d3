# A register-level model of an NXP MFRC522 on SPI, with at most one ISO/IEC
# 14443 A card in its field: what lib/uocpp/device/card_reader.py (its MFRC522 driver) relies on,
# from the datasheet, for the unit tests and the ESP32 twin. Plain Python
# that runs on CPython and MicroPython alike.
#
#   chip = Mfrc522Chip()
#   miso = chip.transfer(mosi)   one CS-low SPI transaction (bytes -> bytes)
#   chip.present(uid)            a card (4, 7 or 10 bytes) enters the field
#   chip.remove()                it leaves
#   chip.rx_errors("crc"|"collision"|"parity", count)
#                                the next count frames from the card arrive
#                                damaged
#   chip.dead = 0x00 or 0xFF     the chip stops answering: MISO stuck at
#                                that level (None: alive again)
#   chip.power_cycle()           a brown-out: registers back to reset values
#   uid_from_tag("DEADBEEF")     the UID of the card whose idTag that is
#
# SPI framing (datasheet 8.1.2): the first byte's bit 7 says read; a read
# sends one address byte per register (and a last 0x00), MISO carries each
# one byte later; a write sends the address, then bytes that all go to
# that register. Exchanges are instant: the card's answer (or the timer,
# when TModeReg.TAuto is set and nobody answers) is there at once.
#
# The card follows ISO/IEC 14443-3's state machine: IDLE, READY, ACTIVE,
# HALT (READY* and ACTIVE* remember a wake-up from HALT); REQA wakes it from
# IDLE only, WUPA from IDLE or HALT; anticollision (NVB 0x20) and SELECT
# (NVB 0x70, CRC_A checked) per cascade level; HLTA in ACTIVE halts it;
# any other frame sends it back to IDLE (HALT from a starred state),
# silently. The field is on only while TxControlReg drives both antennas;
# a card loses power (back to IDLE) when it goes off.

IDLE, READY, ACTIVE, HALT = "IDLE", "READY", "ACTIVE", "HALT"

_RESET = {
    0x01: 0x20,  # CommandReg: RcvOff=0, PowerDown=0 after the start-up, Idle
    0x02: 0x80,  # ComIEnReg
    0x04: 0x14,  # ComIrqReg
    0x0C: 0x10,  # ControlReg
    0x11: 0x3F,  # ModeReg
    0x14: 0x80,  # TxControlReg: antennas off
    0x2A: 0x00,  # TModeReg
}
_CMD, _COM_IRQ, _DIV_IRQ, _ERROR, _FIFO, _LEVEL, _CONTROL, _FRAMING, _COLL = 0x01, 0x04, 0x05, 0x06, 0x09, 0x0A, 0x0C, 0x0D, 0x0E
_TX_CONTROL, _T_MODE, _T_RELOAD_H, _T_RELOAD_L, _VERSION = 0x14, 0x2A, 0x2C, 0x2D, 0x37
_TRANSCEIVE, _SOFT_RESET = 0x0C, 0x0F
_TX_IRQ, _RX_IRQ, _IDLE_IRQ, _ERR_IRQ, _TIMER_IRQ = 0x40, 0x20, 0x10, 0x02, 0x01
_ERR_BITS = {"protocol": 0x01, "parity": 0x02, "crc": 0x04, "collision": 0x08}


def uid_from_tag(tag):
    # The card whose idTag (the UID in hex, as device/card_reader.py makes
    # it) is tag: 8, 14 or 20 hex digits. Other tags cannot be a card's UID.
    if len(tag) not in (8, 14, 20):
        raise ValueError("idTag %r: a card's is its UID in hex, 8, 14 or 20 digits" % tag)
    try:
        return bytes(int(tag[i : i + 2], 16) for i in range(0, len(tag), 2))
    except ValueError:
        raise ValueError("idTag %r: a card's is its UID in hex" % tag)


def crc_a(data):
    crc = 0x6363
    for b in data:
        b = (b ^ crc) & 0xFF
        b = (b ^ (b << 4)) & 0xFF
        crc = (crc >> 8) ^ (b << 8) ^ (b << 3) ^ (b >> 4)
    return bytes((crc & 0xFF, crc >> 8))


class Mfrc522Chip:
    def __init__(self, version=0x92):
        self.version = version
        self.dead = None
        self.uid = None  # the card in the field
        self.state = IDLE
        self.starred = False  # woken from HALT: falls back to HALT, not IDLE
        self.level = 0  # the cascade level the card is at (0, 1, 2)
        self.sak = 0x08  # MIFARE Classic 1K
        self._errors = None
        self._error_count = 0
        self.transactions = 0  # CS-low windows seen
        self.frames = []  # every frame sent to a card: (bytes, last bits)
        self.power_cycle()

    # -- the test's hand -------------------------------------------------------------
    def present(self, uid):
        if len(uid) not in (4, 7, 10):
            raise ValueError("an ISO 14443 A UID is 4, 7 or 10 bytes")
        self.uid = bytes(uid)
        self.state = IDLE
        self.starred = False
        self.level = 0

    def remove(self):
        self.uid = None

    def rx_errors(self, kind, count=1):
        if kind not in _ERR_BITS:
            raise ValueError("kind: one of " + ", ".join(sorted(_ERR_BITS)))
        self._errors = kind
        self._error_count = count

    def power_cycle(self):
        self.regs = bytearray(64)
        for reg in _RESET:
            self.regs[reg] = _RESET[reg]
        self.regs[_VERSION] = self.version
        self.fifo = bytearray()
        self.state = IDLE

    def field_on(self):
        return self.regs[_TX_CONTROL] & 0x03 == 0x03

    # -- SPI -------------------------------------------------------------------------
    def transfer(self, write):
        self.transactions += 1
        n = len(write)
        if self.dead is not None:
            return bytes([self.dead]) * n
        if not n:
            return b""
        out = bytearray(n)
        if write[0] & 0x80:
            # Read: byte i on MISO is the register addressed by byte i - 1.
            for i in range(1, n):
                out[i] = self._read((write[i - 1] >> 1) & 0x3F)
        else:
            reg = (write[0] >> 1) & 0x3F
            for i in range(1, n):
                self._write(reg, write[i])
        return bytes(out)

    # -- registers -------------------------------------------------------------------
    def _read(self, reg):
        if reg == _FIFO:
            if not self.fifo:
                return 0
            b = self.fifo[0]
            self.fifo = self.fifo[1:]
            return b
        if reg == _LEVEL:
            return len(self.fifo)
        return self.regs[reg]

    def _write(self, reg, value):
        regs = self.regs
        if reg == _CMD:
            cmd = value & 0x0F
            if cmd == _SOFT_RESET:
                self.power_cycle()
                return
            regs[_CMD] = (regs[_CMD] & 0xF0) | (value & 0x3F)
        elif reg in (_COM_IRQ, _DIV_IRQ):
            # Set1 (bit 7): 1 sets the marked bits, 0 clears them.
            if value & 0x80:
                regs[reg] |= value & 0x7F
            else:
                regs[reg] &= ~value & 0x7F
        elif reg == _FIFO:
            if len(self.fifo) >= 64:
                regs[_ERROR] |= 0x10  # BufferOvfl
            else:
                self.fifo.append(value)
        elif reg == _LEVEL:
            if value & 0x80:
                self.fifo = bytearray()
                regs[_ERROR] &= ~0x10 & 0xFF
        elif reg == _FRAMING:
            regs[_FRAMING] = value & 0x7F  # StartSend reads back 0 once sent
            if value & 0x80 and regs[_CMD] & 0x0F == _TRANSCEIVE:
                self._exchange(value & 0x07)
        elif reg == _TX_CONTROL:
            was = self.field_on()
            regs[reg] = value
            if was and not self.field_on():
                self.state = IDLE  # the card loses its power
        elif reg in (_VERSION, _LEVEL, _ERROR, _CONTROL, _COLL):
            pass  # read-only
        else:
            regs[reg] = value

    # -- the air interface ----------------------------------------------------------
    def _exchange(self, last_bits):
        regs = self.regs
        frame = bytes(self.fifo)
        self.fifo = bytearray()
        self.frames.append((frame, last_bits))
        regs[_ERROR] = 0
        regs[_CONTROL] &= 0xF8
        regs[_COM_IRQ] |= _TX_IRQ
        answer = self._card(frame, last_bits) if self.uid is not None and self.field_on() else None
        if answer is None:
            # The timer, started at the end of the frame, runs out.
            if regs[_T_MODE] & 0x80 and (regs[_T_RELOAD_H] or regs[_T_RELOAD_L]):
                regs[_COM_IRQ] |= _TIMER_IRQ
            return
        if self._error_count:
            self._error_count -= 1
            kind = self._errors
            regs[_ERROR] |= _ERR_BITS[kind]
            regs[_COM_IRQ] |= _ERR_IRQ
            answer = bytearray(answer)
            if kind == "collision":
                # A second card answers too: the bits differ from bit 3 of
                # the first byte on; CollReg gives the position.
                regs[_COLL] = 0x04
                answer = answer[:1]
                answer[0] &= 0x07
                regs[_CONTROL] = (regs[_CONTROL] & 0xF8) | 3
            else:
                answer[-1] ^= 0x5A  # a damaged byte
        self.fifo = bytearray(answer)
        regs[_COM_IRQ] |= _RX_IRQ

    def _card(self, frame, last_bits):
        # The card's answer to one frame, or None (silent).
        if last_bits == 7 and len(frame) == 1:
            if frame[0] == 0x26 and self.state == IDLE or frame[0] == 0x52 and self.state in (IDLE, HALT):
                self.starred = self.state == HALT
                self.state = READY
                self.level = 0
                # ATQA: the UID size in bits 7..6 (single, double, triple).
                return bytes(({4: 0x04, 7: 0x44, 10: 0x84}[len(self.uid)], 0x00))
            return self._lost()
        if last_bits:
            return self._lost()
        if self.state == READY and len(frame) == 2 and frame[1] == 0x20 and frame[0] == (0x93, 0x95, 0x97)[self.level]:
            part = self._part()
            return part + bytes((part[0] ^ part[1] ^ part[2] ^ part[3],))
        if self.state == READY and len(frame) == 9 and frame[1] == 0x70 and frame[0] == (0x93, 0x95, 0x97)[self.level]:
            if crc_a(frame[:7]) != frame[7:]:
                return self._lost()
            part = self._part()
            if frame[2:6] != part or frame[6] != part[0] ^ part[1] ^ part[2] ^ part[3]:
                return self._lost()
            more = self.level * 3 + 4 < len(self.uid) if self.level < 2 else False
            if more:
                self.level += 1
                sak = 0x04
            else:
                self.state = ACTIVE
                sak = self.sak & ~0x04
            return bytes((sak,)) + crc_a(bytes((sak,)))
        if self.state == ACTIVE and frame == b"\x50\x00" + crc_a(b"\x50\x00"):
            self.state = HALT
            return None
        return self._lost()

    def _part(self):
        # The 4 bytes of the current cascade level: CT + 3 UID bytes while
        # more follow, else the last 4.
        uid, level = self.uid, self.level
        if level * 3 + 4 < len(uid):
            return b"\x88" + uid[level * 3 : level * 3 + 3]
        return uid[level * 3 : level * 3 + 4]

    def _lost(self):
        # A frame the card does not expect in its state: back to IDLE (HALT
        # when woken from HALT), no answer.
        if self.state != IDLE:
            self.state = HALT if self.starred or self.state == HALT else IDLE
        return None
