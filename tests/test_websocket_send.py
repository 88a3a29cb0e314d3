"""The WebSocket client's send path (RFC 6455 5.2, 5.3): frames built on the
unix port, decoded here by an independent parser."""

import binascii

import pytest

from harness.firmware import run_micropython

# Payload lengths around every boundary: the 7/16/64-bit length forms and
# the pieces of the per-connection send buffer.
LENGTHS = (0, 1, 125, 126, 241, 242, 243, 256, 300, 497, 498, 1000, 65535, 65536, 70001)

SNIPPET = """
import asyncio, binascii
from uocpp.link import websocket as w

class Writer:
    def __init__(self):
        self.data = bytearray()
    def write(self, b):
        self.data.extend(b)
    async def drain(self):
        pass

def text(n, multibyte):
    if multibyte:  # two UTF-8 bytes per character, plus one ASCII byte when n is odd
        return "\\u00e9" * (n // 2) + "x" * (n % 2)
    return ("ABCDEFGHIJKLMNOPQRSTUVWXYZ" * (n // 26 + 1))[:n]

async def main():
    for n in LENGTHS:
        for multibyte in (False, True):
            writer = Writer()
            ws = w.WebSocket(None, writer, 8192)
            await ws.send(text(n, multibyte))
            print(n, int(multibyte), binascii.hexlify(writer.data).decode())
    writer = Writer()
    ws = w.WebSocket(None, writer, 8192)
    await ws.ping(b"abc")
    await ws.send(b"raw bytes")
    print("ping+bytes", 0, binascii.hexlify(writer.data).decode())

asyncio.run(main())
"""


def decode_frames(data):
    """RFC 6455 client frames -> [(fin, opcode, mask, payload)]."""
    frames = []
    i = 0
    while i < len(data):
        b0, b1 = data[i], data[i + 1]
        assert b1 & 0x80, "client frames must be masked"
        n = b1 & 0x7F
        i += 2
        if n == 126:
            n = int.from_bytes(data[i : i + 2], "big")
            assert n >= 126, "16-bit length used for a short payload"
            i += 2
        elif n == 127:
            n = int.from_bytes(data[i : i + 8], "big")
            assert n >= 65536, "64-bit length used for a 16-bit payload"
            i += 8
        mask = data[i : i + 4]
        i += 4
        payload = bytes(b ^ mask[j % 4] for j, b in enumerate(data[i : i + n]))
        assert len(payload) == n, "frame shorter than its length"
        i += n
        frames.append((b0 & 0x80, b0 & 0x0F, mask, payload))
    return frames


def expected_text(n, multibyte):
    if multibyte:
        return "\u00e9" * (n // 2) + "x" * (n % 2)
    return "".join(chr(65 + i % 26) for i in range(n))


def run_send_snippet(extra=""):
    res = run_micropython(extra + SNIPPET.replace("LENGTHS", repr(LENGTHS)), timeout=60)
    assert res.returncode == 0, res.stderr
    return [line.split() for line in res.stdout.splitlines()]


def check_frames(rows):
    masks = set()
    seen = 0
    for row in rows:
        label, multibyte, hexdata = row[0], row[1] == "1", row[2] if len(row) > 2 else ""
        frames = decode_frames(binascii.unhexlify(hexdata))
        if label == "ping+bytes":
            assert [(f[0], f[1], f[3]) for f in frames] == [(0x80, 9, b"abc"), (0x80, 1, b"raw bytes")]
            continue
        assert len(frames) == 1
        fin, opcode, mask, payload = frames[0]
        assert (fin, opcode) == (0x80, 1)
        assert payload.decode("utf-8") == expected_text(int(label), multibyte)
        masks.add(mask)
        seen += 1
    assert seen == 2 * len(LENGTHS)
    assert len(masks) > seen - 3, "every frame needs a fresh random mask"


@pytest.mark.parametrize("masking", ["native", "python"])
def test_send_frames_every_length_form(masking):
    """J-01 (RFC 6455 5.2/5.3): text frames of every length form, ASCII and multi-byte UTF-8, each masked with a fresh key;
    with the viper masking (the unix port has a native emitter) and with its plain-Python fallback."""
    if masking == "python":
        extra = "from uocpp.link import websocket as _ws\nassert _ws._mask_copy is not _ws._mask_copy_py\n_ws._mask_copy = _ws._mask_copy_py\n"
    else:
        extra = "from uocpp.link import websocket as _ws, mask_native\nassert _ws._mask_copy is mask_native.mask_copy\n"
    check_frames(run_send_snippet(extra))


PIECES_SNIPPET = """
import asyncio, binascii
from uocpp.link import websocket as w

class Writer:
    def __init__(self):
        self.data = bytearray()
        self.writes = 0
    def write(self, b):
        self.data.extend(b)
        self.writes += 1
    async def drain(self):
        pass

CASES = [
    ["a"],
    ["", "", ""],
    ["[3,", '"id"', ",", "{}", "]"],
    ["x" * 250, "\\u00e9" * 3, "y" * 7, "z"],
    ["\\u00e9" * 200, "", "ab" * 300, "c"],
    ["p%d," % i for i in range(400)],
    ("tuple", " of ", "pieces"),
    ["q" * 70000, "r"],
]

async def main():
    for i, parts in enumerate(CASES):
        writer = Writer()
        ws = w.WebSocket(None, writer, 8192)
        await ws.send(parts)
        print(i, writer.writes, binascii.hexlify(writer.data).decode())

asyncio.run(main())
"""

PIECES = [
    ["a"],
    ["", "", ""],
    ["[3,", '"id"', ",", "{}", "]"],
    ["x" * 250, "\u00e9" * 3, "y" * 7, "z"],
    ["\u00e9" * 200, "", "ab" * 300, "c"],
    ["p%d," % i for i in range(400)],
    ("tuple", " of ", "pieces"),
    ["q" * 70000, "r"],
]


@pytest.mark.parametrize("masking", ["native", "python"])
def test_send_pieces_as_one_frame(masking):
    """J-01 (RFC 6455 5.3): a message given as a list of pieces goes out as one text frame of their concatenation,
    the mask's phase following the offset in the payload across pieces; written in buffer-sized chunks, not per piece."""
    extra = ""
    if masking == "python":
        extra = "from uocpp.link import websocket as _ws\n_ws._mask_copy = _ws._mask_copy_py\n"
    res = run_micropython(extra + PIECES_SNIPPET, timeout=60)
    assert res.returncode == 0, res.stderr
    rows = [line.split() for line in res.stdout.splitlines()]
    assert len(rows) == len(PIECES)
    for (i, writes, hexdata), parts in zip(rows, PIECES):
        frames = decode_frames(binascii.unhexlify(hexdata))
        assert len(frames) == 1, i
        fin, opcode, _, payload = frames[0]
        assert (fin, opcode) == (0x80, 1)
        expected = "".join(parts).encode()
        assert payload == expected, i
        # Header and payload through the 256-byte buffer: one write per 256 bytes or part of them.
        assert int(writes) == (len(binascii.unhexlify(hexdata)) + 255) // 256, i
