"""The MFRC522 chip model (harness/twin/mfrc522_chip.py) on CPython, as the
ESP32 twin hosts it: SPI framing, one card's ISO 14443-3 exchange, and the
faults it can play. The firmware's driver runs against it on MicroPython in
tests/unit/unit_card_reader.py."""

import pytest

from harness.twin.mfrc522_chip import Mfrc522Chip, crc_a, uid_from_tag

READ = 0x80


def write(chip, reg, *values):
    chip.transfer(bytes([(reg << 1) & 0x7E, *values]))


def read(chip, *regs):
    out = chip.transfer(bytes([READ | (r << 1) for r in regs] + [0]))
    return list(out[1:])


def exchange(chip, frame, last_bits=0):
    # What the driver does: idle, clear IRQs, flush, fill the FIFO, Transceive, StartSend.
    write(chip, 0x01, 0x00)
    write(chip, 0x04, 0x7F)
    write(chip, 0x0A, 0x80)
    write(chip, 0x09, *frame)
    write(chip, 0x01, 0x0C)
    write(chip, 0x0D, 0x80 | last_bits)
    irq, err, level = read(chip, 0x04, 0x06, 0x0A)
    data = bytes(read(chip, *[0x09] * level)) if level else b""
    return irq, err, data


def configured(version=0x92):
    chip = Mfrc522Chip(version)
    write(chip, 0x2A, 0x80)  # TAuto
    write(chip, 0x2D, 0x90)  # TReload
    write(chip, 0x14, 0x83)  # antennas on
    return chip


def test_spi_framing_reads_answer_one_byte_later():
    chip = Mfrc522Chip(version=0x91)
    assert chip.transfer(bytes([READ | 0x37 << 1, 0])) == b"\x00\x91"
    write(chip, 0x2B, 0xA9)
    assert read(chip, 0x2B, 0x37, 0x2B) == [0xA9, 0x91, 0xA9]
    chip.dead = 0xFF
    assert read(chip, 0x37) == [0xFF]


def test_a_7_byte_card_answers_the_cascade_and_halts():
    chip = configured()
    uid = uid_from_tag("041A2B3C4D5E80")
    chip.present(uid)
    irq, err, atqa = exchange(chip, b"\x52", 7)
    assert (irq & 0x20, err, atqa) == (0x20, 0, b"\x44\x00")
    _, _, cl1 = exchange(chip, b"\x93\x20")
    assert cl1[:4] == b"\x88" + uid[:3] and cl1[4] == 0x88 ^ uid[0] ^ uid[1] ^ uid[2]
    sel = b"\x93\x70" + cl1
    _, _, sak = exchange(chip, sel + crc_a(sel))
    assert sak[0] & 0x04 and crc_a(sak) == b"\x00\x00"
    _, _, cl2 = exchange(chip, b"\x95\x20")
    assert cl2[:4] == uid[3:]
    sel = b"\x95\x70" + cl2
    _, _, sak = exchange(chip, sel + crc_a(sel))
    assert sak[0] == 0x08 and chip.state == "ACTIVE"
    irq, _, data = exchange(chip, b"\x50\x00" + crc_a(b"\x50\x00"))
    assert (data, irq & 0x01, chip.state) == (b"", 0x01, "HALT")
    assert exchange(chip, b"\x26", 7)[2] == b""  # REQA does not wake a halted card
    assert exchange(chip, b"\x52", 7)[2] == b"\x44\x00"  # WUPA does


def test_no_card_the_field_off_and_damaged_frames():
    chip = configured()
    assert exchange(chip, b"\x52", 7)[:2] == (0x41, 0)  # TxIRq + TimerIRq: nobody answered
    chip.present(b"\xde\xad\xbe\xef")
    write(chip, 0x14, 0x80)  # antennas off: an unpowered card is silent
    assert exchange(chip, b"\x52", 7)[2] == b""
    write(chip, 0x14, 0x83)
    chip.rx_errors("collision")
    irq, err, _ = exchange(chip, b"\x52", 7)
    assert (irq & 0x02, err) == (0x02, 0x08)
    assert read(chip, 0x0C)[0] & 0x07 == 3  # a partial last byte
    with pytest.raises(ValueError):
        uid_from_tag("ALICE")
