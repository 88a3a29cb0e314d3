# RFC 6455 WebSocket client on asyncio streams, written for OCPP-J:
# masked frames, 16/64-bit lengths, ping/pong,
# close handshake both ways, fragmented messages, and a size cap that refuses
# a frame before allocating it (close 1009); and the strict UTF-8 check of
# what comes in and goes out (decode, clean). The opening handshake is
# handshake.py's, loaded per connection.
# Reads carry no timeout of their own: the link's keepalive cancels a reader
# whose peer went silent (services/link.py).
import asyncio
import os
import re
import struct
import time

from micropython import const


_OP_CONT = const(0)
_OP_TEXT = const(1)
_OP_BINARY = const(2)
_OP_CLOSE = const(8)
_OP_PING = const(9)
_OP_PONG = const(10)

_CLOSE_NORMAL = const(1000)
_CLOSE_PROTOCOL = const(1002)
_CLOSE_BAD_DATA = const(1007)
_CLOSE_TOO_BIG = const(1009)

_CHUNK = const(256)  # read size while waiting for the server to close
_OUT_BYTES = const(256)  # per-connection send buffer: header, mask and payload pieces
_LINGER_MS = const(1000)

# struct formats, network byte order. A short string literal is an
# interned name for ever (docs/memory.md); a const() one is an object of
# the code that uses it.
_U16 = const("!H")  # a 16-bit length or a close code
_U64 = const("!Q")  # a 64-bit length
_LEN16 = const("!BH")  # the length marker 126 and a 16-bit length
_LEN64 = const("!BQ")  # the length marker 127 and a 64-bit length


def _ended(code, reason=""):
    # The error a closed link raises: an OSError that says the close code
    # (RFC 6455 7.4) and why. No class of its own: nobody tells it apart
    # from the other OSErrors of a link that ended, and a class is a type
    # object and a dict on the heap, frozen or not.
    return OSError("closed (%s%s)" % (code, ", " + reason if reason else ""))


async def close_stream(writer):
    # MicroPython 1.29: StreamWriter.close() does nothing; wait_closed() is
    # what closes the socket. Call both, so no socket is ever leaked.
    try:
        writer.close()
        await writer.wait_closed()
    except Exception:
        pass


def _mask_copy_py(dst, at, src, start, n, mask):
    # dst[at:at + n] = src[start:start + n] XOR the mask, whose phase follows
    # the offset in the payload (RFC 6455 5.3).
    for j in range(n):
        k = start + j
        dst[at + j] = src[k] ^ mask[k & 3]


try:
    from uocpp.link.mask_native import mask_copy as _mask_copy
except (ImportError, SyntaxError, ValueError):  # no native code here: the same in Python
    _mask_copy = _mask_copy_py


# Strict UTF-8 (RFC 3629). MicroPython's decoder checks only the byte
# structure and lets overlong forms, UTF-16 surrogates and code points above
# U+10FFFF through; RFC 6455 (8.1) and OCPP-J (J-07) allow none of them.
# MicroPython's json.loads also turns a "\ud800" escape into such a surrogate,
# which must not go out again in a reply.
_bad = None


def _pattern():
    # Compiled on first use: pure ASCII traffic never needs it.
    global _bad
    if _bad is None:
        _bad = re.compile(b"[\xc0\xc1\xf5-\xff]|\xe0[\x80-\x9f]|\xed[\xa0-\xbf]|\xf0[\x80-\x8f]|\xf4[\x90-\xbf]")
    return _bad


def decode(data):
    # bytes -> str, or None when data is not strict UTF-8.
    try:
        text = str(data, "utf-8")
    except UnicodeError:
        return None
    # re takes no bytearray; the copy is made only for non-ASCII messages.
    if len(text) != len(data) and _pattern().search(bytes(data)):
        return None
    return text


def clean(text):
    # True when a str can go out as valid UTF-8 (holds no surrogate).
    data = text.encode()
    return len(data) == len(text) or not _pattern().search(data)


class WebSocket:
    def __init__(self, reader, writer, max_size, leftover=b"", send_timeout_ms=10000):
        self._r = reader
        self._w = writer
        self._max = max_size
        self._send_ms = send_timeout_ms
        self._left = leftover
        self._lock = asyncio.Lock()
        self._out = bytearray(_OUT_BYTES)
        self._out_view = memoryview(self._out)
        self.closed = False
        # True between a frame's header and the end of its payload: a reader
        # cancelled there leaves the stream off a frame boundary.
        self._mid_frame = False
        self._close_sent = False
        # ticks_ms of the last frame received, of any kind: proof of life.
        self.last_rx = time.ticks_ms()

    async def _exact(self, n):
        if self.closed:
            # A closed socket never becomes readable: waiting on it would hang.
            raise _ended(1006, "connection aborted")
        left = self._left
        if left:
            if len(left) >= n:
                self._left = left[n:]
                return left[:n]
            self._left = b""
            return left + await self._r.readexactly(n - len(left))
        return await self._r.readexactly(n)

    async def send(self, data, opcode=_OP_TEXT):
        # A text message, or another frame (a ping, a pong, our close).
        # data: str (sent as its UTF-8 bytes, not copied) or bytes, or a list
        # or tuple of them: one frame of their concatenation, so a long
        # message built in pieces never needs one block the size of all of
        # it; or a function that makes the pieces (a generator), called twice
        # here with nothing else running in between, for the length and then
        # for the bytes, so that no piece outlives its write. The frame is
        # masked piecewise through the connection's one small buffer, so
        # sending allocates nothing in proportion to it.
        if opcode == _OP_CLOSE:
            if self._close_sent:
                return  # our close goes once
            self._close_sent = True
        elif opcode == _OP_TEXT and (self.closed or self._close_sent):
            raise _ended(1006, "already closed")
        many = type(data) in (list, tuple)
        made = not many and callable(data)
        out = self._out
        async with self._lock:
            if self.closed:
                raise _ended(1006, "already closed")
            parts = data() if made else data if many else (data,)
            n = 0
            for part in parts:
                n += len(memoryview(part))
            # A failure before the first write (making a piece, say, out of
            # memory) leaves the stream as it was: the caller may send
            # something else. After it, the peer has part of a frame: the
            # connection ends.
            wrote = False
            try:
                if made:
                    parts = data()
                out[0] = 0x80 | opcode
                if n < 126:
                    out[1] = 0x80 | n
                    at = 2
                elif n < 65536:
                    out[1:4] = struct.pack(_LEN16, 0xFE, n)
                    at = 4
                else:
                    out[1:10] = struct.pack(_LEN64, 0xFF, n)
                    at = 10
                mask = os.urandom(4)
                out[at : at + 4] = mask
                at += 4
                # The mask's phase follows the offset in the payload (RFC 6455
                # 5.3): a piece starting at offset `sent` uses it rotated by sent.
                twice = mask + mask if made or len(parts) > 1 else None
                sent = 0
                for part in parts:
                    view = memoryview(part)
                    m = len(view)
                    phase = mask if twice is None else memoryview(twice)[sent & 3 : (sent & 3) + 4]
                    pos = 0
                    while pos < m:
                        take = min(m - pos, _OUT_BYTES - at)
                        _mask_copy(out, at, view, pos, take, phase)
                        pos += take
                        at += take
                        if at == _OUT_BYTES:
                            # The stream sends at once, or copies what the socket did not take.
                            self._w.write(self._out_view)
                            wrote = True
                            at = 0
                    sent += m
                if at:
                    self._w.write(self._out_view[:at])
            except Exception:
                if wrote:
                    await self._abort()
                raise
            if not getattr(self._w, "out_buf", True):
                # The socket took it all (the stream keeps in out_buf what it
                # did not): nothing to wait for, so no timeout task and its
                # frames on the heap per frame sent; yield as drain() would.
                await asyncio.sleep_ms(0)
                return
            try:
                # A peer that stops reading would block drain() forever and,
                # through the lock, every later send: give up instead.
                await asyncio.wait_for_ms(self._w.drain(), self._send_ms)
            except asyncio.TimeoutError:
                await self._abort()
                raise _ended(1006, "peer took no data for %d ms" % self._send_ms)

    async def ping(self, data=b""):
        await self.send(data, _OP_PING)

    async def _fail(self, code, reason):
        # We detected a protocol breach: send our close and give up the link.
        await self.close(code, _LINGER_MS, True)
        raise _ended(code, reason)

    async def recv(self):
        # Returns the next text message as str. Answers pings, skips pongs
        # and binary messages, and raises OSError (_ended()) when the link ends.
        parts = None
        size = 0
        while True:
            b0, b1 = await self._exact(2)
            self._mid_frame = True
            self.last_rx = time.ticks_ms()
            fin = b0 & 0x80
            opcode = b0 & 0x0F
            n = b1 & 0x7F
            if b0 & 0x70:
                await self._fail(_CLOSE_PROTOCOL, "RSV bits set")
            if b1 & 0x80:
                await self._fail(_CLOSE_PROTOCOL, "server frames must not be masked")
            if n == 126:
                n = struct.unpack(_U16, await self._exact(2))[0]
            elif n == 127:
                n = struct.unpack(_U64, await self._exact(8))[0]
            if opcode >= 8:
                if not fin or n > 125:
                    await self._fail(_CLOSE_PROTOCOL, "bad control frame")
                data = await self._exact(n) if n else b""
                self._mid_frame = False
                if opcode == _OP_PING:
                    await self.send(data, _OP_PONG)
                elif opcode == _OP_CLOSE:
                    # The server's close: ours answers with its code (1000
                    # when it gave none), or with why its payload is wrong.
                    code, answer = 1005, _CLOSE_NORMAL
                    if n == 1:
                        code = answer = _CLOSE_PROTOCOL
                    elif n:
                        code = answer = struct.unpack(_U16, data[:2])[0]
                        if not (1000 <= code <= 1014 and code not in (1004, 1005, 1006) or 3000 <= code <= 4999):
                            # RFC 6455 7.4: a code no endpoint may send (1005, 1006)
                            # or none defined: echoed, it would break the protocol too.
                            answer = _CLOSE_PROTOCOL
                        elif decode(data[2:]) is None:
                            answer = _CLOSE_BAD_DATA  # the reason is UTF-8 text (5.5.1, 8.1)
                    await self.close(answer, _LINGER_MS, True)
                    raise _ended(code, "closed by the server")
                elif opcode != _OP_PONG:
                    await self._fail(_CLOSE_PROTOCOL, "unknown control opcode %d" % opcode)
                continue
            if opcode == _OP_CONT:
                if parts is None:
                    await self._fail(_CLOSE_PROTOCOL, "continuation without a message")
            elif opcode in (_OP_TEXT, _OP_BINARY):
                if parts is not None:
                    await self._fail(_CLOSE_PROTOCOL, "new message inside a fragmented one")
            else:
                await self._fail(_CLOSE_PROTOCOL, "unknown opcode %d" % opcode)
            size += n
            if size > self._max:
                # Refused before reading (or allocating) the payload.
                await self._fail(_CLOSE_TOO_BIG, "message of %d+ bytes over the %d limit" % (size, self._max))
            data = await self._exact(n) if n else b""
            self._mid_frame = False
            if opcode != _OP_CONT:
                binary = opcode == _OP_BINARY
            if not fin or parts is not None:
                if parts is None:
                    parts = bytearray(data)
                else:
                    parts.extend(data)
                if not fin:
                    continue
                data, parts = parts, None
            size = 0
            if binary:
                continue
            text = decode(data)
            if text is None:
                # RFC 6455 8.1: invalid UTF-8 in a text message fails the link.
                await self._fail(_CLOSE_BAD_DATA, "text message is not UTF-8")
            return text

    async def close(self, code=_CLOSE_NORMAL, wait_ms=2000, linger=False):
        # Our side of the close handshake: send close, give the server a moment
        # to answer with its close, then drop the socket either way.
        # linger (we failed the link, or the server closed it): our close, then
        # the server closes first (RFC 6455 7.1.1): what it still sends (a
        # pong, the reply to a CALL of ours) is read and dropped until its
        # EOF, for at most wait_ms. Closing on unread data makes the kernel
        # reset the connection, and a reset destroys what the server had not
        # read yet: our last replies, our close.
        if self.closed:
            return
        try:
            if linger:
                await self.send(struct.pack(_U16, code), _OP_CLOSE)
            await asyncio.wait_for_ms(self._closing(code, linger), wait_ms)
        except Exception:
            pass
        await self._abort()

    async def _closing(self, code, linger):
        # What the server sends after our close, within close()'s time.
        if linger:
            # Our close is out: read and drop until the server's EOF.
            while await self._r.read(_CHUNK):
                pass
            return
        await self.send(struct.pack(_U16, code), _OP_CLOSE)
        if self._mid_frame:
            # A cancelled reader left us inside a frame: the server's close
            # cannot be found, and waiting for its TCP close does not work
            # over TLS (the server waits for our close_notify). Just go.
            return
        while True:
            b0, b1 = await self._exact(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(_U16, await self._exact(2))[0]
            elif n == 127:
                n = struct.unpack(_U64, await self._exact(8))[0]
            if n > self._max:
                return
            if n:
                await self._exact(n)
            if b0 & 0x0F == _OP_CLOSE:
                return

    async def _abort(self):
        if not self.closed:
            self.closed = True
            await close_stream(self._w)
