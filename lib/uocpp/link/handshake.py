# The WebSocket opening handshake (RFC 6455 section 4) for OCPP-J: the URL
# with the percent-encoded charge point id (J-02), the subprotocol offer and
# its check (J-03, J-04), Sec-WebSocket-Accept, and an optional Basic
# Authorization header (SEC-03). The HTTP answer is read under a byte cap.
# connect() returns the WebSocket (websocket.py) on the stream. The link
# imports this module per connection attempt and drops it after.
import asyncio
import binascii
import hashlib
import os

from micropython import const

from uocpp.link.websocket import WebSocket, close_stream, decode

_GUID = const(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11")
_MAX_HEADER_BYTES = const(4096)
_CHUNK = const(256)

# const(): a short string literal is an interned name for ever (docs/memory.md).
_PERCENT = const("%%%02X")
_BASIC = const("Basic ")
_STATUS_FMT = const("HTTP %d %s")
_OCPP16 = const("ocpp1.6")  # the WebSocket subprotocol


class HandshakeError(OSError):
    # status: the HTTP status (0 when the answer was not HTTP at all).
    def __init__(self, status, reason):
        super().__init__("handshake failed: %s" % reason)
        self.status = status
        self.reason = reason


def basic_authorization(cp_id, key):
    # SEC-03/SEC-05: 32..40 hex digits are the password's bytes in hex;
    # anything else is the password itself.
    if not key:
        return None
    password = key.encode()
    if 32 <= len(key) <= 40 and len(key) % 2 == 0:
        try:
            password = binascii.unhexlify(key)
        except ValueError:
            pass
    token = binascii.b2a_base64(cp_id.encode() + b":" + password)[:-1]
    return _BASIC + token.decode()


_UNRESERVED = const(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def quote(text):
    # Percent-encode a path segment per RFC 3986 (J-02): "RDAM 123" -> "RDAM%20123".
    # In bytes: chr() or a character taken out of a str is an interned name
    # for ever in MicroPython (docs/memory.md).
    out = bytearray()
    for b in text.encode():
        if b in _UNRESERVED:
            out.append(b)
        else:
            out.extend((_PERCENT % b).encode())
    return out.decode()


_WS = const(("ws://", "wss://"))


def parse_url(url, schemes=_WS, ports=(80, 443)):
    # -> (secure, host, port, path). schemes: the plain and the secure
    # prefix allowed (link/http.py passes http:// and https://); ports:
    # their default ports.
    if url.startswith(schemes[1]):
        secure, rest, port = True, url[len(schemes[1]) :], ports[1]
    elif url.startswith(schemes[0]):
        secure, rest, port = False, url[len(schemes[0]) :], ports[0]
    else:
        raise ValueError("URL must start with %s or %s" % schemes)
    slash = rest.find("/")
    hostport, path = (rest, "/") if slash < 0 else (rest[:slash], rest[slash:])
    if hostport.startswith("["):  # IPv6 literal
        end = hostport.find("]")
        host = hostport[1:end]
        if hostport[end + 1 : end + 2] == ":":
            port = int(hostport[end + 2 :])
    elif ":" in hostport:
        host, p = hostport.rsplit(":", 1)
        port = int(p)
    else:
        host = hostport
    if not host:
        raise ValueError("URL has no host")
    return secure, host, port, path


async def read_head(reader):
    # Reads the HTTP answer with a hard byte cap: a hostile server cannot make
    # us buffer an endless header line. Returns (the header, the bytes after
    # the blank line).
    buf = b""
    while True:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            return buf[:end], buf[end + 4 :]
        if len(buf) > _MAX_HEADER_BYTES:
            raise HandshakeError(0, "HTTP header larger than %d bytes" % _MAX_HEADER_BYTES)
        chunk = await reader.read(_CHUNK)
        if not chunk:
            raise HandshakeError(0, "server closed the connection during the handshake")
        buf += chunk


async def connect(url, protocol=_OCPP16, authorization=None, max_size=8192, ssl=None, send_timeout_ms=10000):
    # Opens the TCP (or TLS) connection and does the opening handshake, then
    # returns a WebSocket on that stream (websocket.py).
    # authorization: a ready header value ("Basic ...") or None.
    # send_timeout_ms: a frame the peer does not take within this time
    # (it stopped reading: TCP window zero) ends the link.
    # The caller bounds the whole thing with a timeout. This code is in the
    # heap only while a connection is made (the link drops it after).
    secure, host, port, path = parse_url(url)
    if secure and ssl is None:
        raise ValueError("wss:// needs an ssl context")
    if ssl is not None:
        reader, writer = await asyncio.open_connection(host, port, ssl=ssl, server_hostname=host)
    else:
        reader, writer = await asyncio.open_connection(host, port)
    try:
        key = binascii.b2a_base64(os.urandom(16))[:-1]
        hosthdr = host if port in (80, 443) else "%s:%d" % (host, port)
        req = (
            "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: %s\r\n"
            % (
                path,
                hosthdr,
                key.decode(),
                protocol,
            )
        )
        writer.write(req.encode())
        if authorization:
            writer.write(b"Authorization: " + authorization.encode() + b"\r\n")
        writer.write(b"\r\n")
        await writer.drain()
        head, rest = await read_head(reader)
        lines = head.split(b"\r\n")
        status = lines[0].split(b" ", 2)
        if len(status) < 2 or not status[0].startswith(b"HTTP/1.") or not status[1].isdigit():
            raise HandshakeError(0, "not an HTTP answer: %r" % lines[0][:60])
        code = int(status[1])
        if code != 101:
            # The reason phrase may be Latin-1 (RFC 7230 obs-text): left out
            # then, never a UnicodeError instead of the status (a 401, SEC-03).
            raise HandshakeError(code, _STATUS_FMT % (code, (decode(status[2]) or "") if len(status) > 2 else ""))
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        if headers.get(b"upgrade", b"").lower() != b"websocket":
            raise HandshakeError(101, "no 'Upgrade: websocket'")
        # The accept value: the key and the GUID, SHA-1, base64 (RFC 6455 4.2.2).
        if headers.get(b"sec-websocket-accept") != binascii.b2a_base64(hashlib.sha1(key + _GUID).digest())[:-1]:
            raise HandshakeError(101, "wrong Sec-WebSocket-Accept")
        agreed = headers.get(b"sec-websocket-protocol", b"")
        if agreed != protocol.encode():
            # J-03/J-04: without the agreed subprotocol this is no OCPP 1.6 link.
            raise HandshakeError(101, "server did not agree to subprotocol %s (got %r)" % (protocol, agreed))
    except BaseException:
        await close_stream(writer)
        raise
    return WebSocket(reader, writer, max_size, rest, send_timeout_ms)
