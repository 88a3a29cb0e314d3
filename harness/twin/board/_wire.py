# The twin's wire from the stand-ins (machine, network, esp32) to the
# hardware model (harness/twin/model.py, a CPython process): one blocking
# TCP connection to 127.0.0.1:$TWIN_HW, one request line, one reply line.
# Blocking on purpose: a register access on a real chip does not yield to
# the scheduler either.
import os

import usocket as socket  # the host's, not the twin's socket.py

_sock = None

# How many objects of each stand-in class the firmware made (machine's Pin,
# PWM, ADC, UART, SPI, WDT; network's WLAN): C objects of a few words on a
# board, Python instances here. twin_boot.py prints it once after boot, and
# bench/twin.py subtracts that many instances at their measured size from the
# twin's heap. Every one of them is held for the firmware's life (a PWM or
# ADC keeps the Pin it was made from, as the C object keeps its GPIO).
made = {}


def count(obj):
    name = type(obj).__name__
    made[name] = made.get(name, 0) + 1


def ask(line):
    global _sock
    if _sock is None:
        port = int(os.getenv("TWIN_HW"))
        s = socket.socket()
        s.connect(socket.getaddrinfo("127.0.0.1", port)[0][-1])
        _sock = s
    _sock.write(line.encode() + b"\n")
    reply = _sock.readline()
    if not reply:
        raise OSError("twin: the hardware model went away")
    reply = reply.decode().rstrip("\n")
    if reply.startswith("!"):
        raise OSError("twin: " + reply[1:])
    return reply
