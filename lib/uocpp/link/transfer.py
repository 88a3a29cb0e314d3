# File transfers by URL: the one place that picks the client for a scheme,
# for every download (UpdateFirmware, SignedUpdateFirmware) and every upload
# (GetDiagnostics, GetLog). http:// and https:// go to link/http.py, ftp://
# and ftps:// to link/ftp.py, each imported only when such a URL is used;
# any other scheme is refused before a request is accepted (supported()).
# Also the URL credentials both clients take: user:password@, %XX decoded.
import asyncio
import binascii

from micropython import const

CHUNK = const(1024)  # the one buffer a transfer streams through
_HTTP = ("http://", "https://")
_FTP = ("ftp://", "ftps://")


def _one_of(url, schemes):
    for s in schemes:
        if url.startswith(s):
            return True
    return False


def supported(url):
    # True for a URL this charger can transfer (nothing imported).
    return _one_of(url, _HTTP) or _one_of(url, _FTP)


def client(url):
    # -> the module for url's scheme, imported now; ValueError for another.
    if _one_of(url, _HTTP):
        from uocpp.link import http

        return http
    if _one_of(url, _FTP):
        from uocpp.link import ftp

        return ftp
    raise ValueError("%s: only http(s):// and ftp(s):// are supported" % url.split(":", 1)[0])


async def download(url, sink, ca_file=None, timeout=30):
    # Streams url into sink(memoryview), piece by piece; returns the bytes.
    return await client(url).get(url, sink, ca_file, timeout)


async def upload(url, path, size, name, ca_file=None, timeout=30, content_type="application/octet-stream"):
    # Uploads the file at path (size bytes) to url. HTTP: PUT, and at once a
    # multipart/form-data POST (field "file", filename name) when the PUT is
    # refused with 405 or 501 (DIAG-05). FTP: STOR.
    c = client(url)
    with open(path, "rb") as f:
        if not _one_of(url, _HTTP):
            return await c.send(url, f, size, ca_file, timeout)
        try:
            return await c.send("PUT", url, f, size, ca_file, timeout, content_type)
        except c.HttpError as e:
            if e.status not in (405, 501):
                raise
            status = e.status
        from uocpp import clock, log

        log.info("transfer", "PUT refused (HTTP %d): POST multipart/form-data", status)
        f.seek(0)
        ctype, head, tail = c.multipart("file", name, "uocpp-%d-%d" % (clock.now(), size))
        return await c.send("POST", url, f, size, ca_file, timeout, ctype, head, tail)


class TransferError(OSError):
    # status: the server's reply code (HTTP status, FTP reply), 0 when the
    # answer was not the protocol's or was cut short.
    def __init__(self, status, reason):
        super().__init__(reason)
        self.status = status


async def pump(source, length, stream, timeout_ms):
    # Sends length bytes from source.readinto() to stream, CHUNK at a time,
    # each write bounded by timeout_ms.
    buf = memoryview(bytearray(CHUNK))
    sent = 0
    while sent < length:
        n = source.readinto(buf[: min(CHUNK, length - sent)])
        if not n:
            raise ValueError("upload source ended at %d of %d bytes" % (sent, length))
        stream.write(buf[:n])
        await asyncio.wait_for_ms(stream.drain(), timeout_ms)
        sent += n


async def receive(stream, sink, length, timeout_ms):
    # Feeds sink(memoryview) from stream, CHUNK at a time, each read bounded
    # by timeout_ms, until length bytes (-1: the end of the stream). Returns
    # the bytes read, fewer than length when the stream ended first.
    buf = memoryview(bytearray(CHUNK))
    got = 0
    while length < 0 or got < length:
        want = CHUNK if length < 0 else min(CHUNK, length - got)
        n = await asyncio.wait_for_ms(stream.readinto(buf[:want]), timeout_ms)
        if n is None:  # a TLS record not whole yet
            continue
        if not n:
            break
        sink(buf[:n])
        got += n
    return got


def userinfo(url):
    # -> (url without user:password@, "user:password" decoded, or None).
    start = url.find("://") + 3
    end = url.find("/", start)
    at = url.rfind("@", start, len(url) if end < 0 else end)
    if start > 2 and at >= 0:
        return url[:start] + url[at + 1 :], unquote(url[start:at])
    return url, None


def unquote(text):
    # %XX in a URL part.
    if "%" not in text:
        return text
    out = bytearray()
    b = text.encode()
    i = 0
    while i < len(b):
        if b[i] == 37 and i + 2 < len(b):  # '%'
            out.append(int(b[i + 1 : i + 3], 16))
            i += 3
        else:
            out.append(b[i])
            i += 1
    return out.decode()


def basic(cred):
    # An HTTP Basic Authorization value for "user:password".
    return "Basic " + binascii.b2a_base64(cred.encode())[:-1].decode()
