# A small HTTP client for file transfers: UpdateFirmware downloads and
# GetDiagnostics uploads, over http:// or https:// (the CA on flash, the
# host name checked, as the OCPP link does: link/tls.py). Bodies stream
# through one small buffer in both directions, so a 1 MB firmware never needs
# more than transfer.CHUNK bytes of RAM.
#
# Requests are HTTP/1.0 on purpose: a server must then end its body with
# Content-Length or by closing the connection, never with chunked encoding,
# which saves a decoder. Every step (connect, each read, each write) is
# bounded by the caller's timeout, so a stalled server cannot hold a transfer
# forever. Credentials in the URL (http://user:pass@host/) become a Basic
# Authorization header (log.py masks them in every line). A redirect from
# https:// to http:// is refused, for downloads and uploads alike.
import asyncio

from micropython import const

from uocpp import log
from uocpp.link import handshake, transfer
from uocpp.link.websocket import close_stream

_MAX_REDIRECTS = const(3)
_REDIRECTS = (301, 302, 303, 307, 308)
_SCHEMES = ("http://", "https://")


class HttpError(transfer.TransferError):
    # status: the HTTP status, 0 when the answer was not HTTP or was cut short.
    pass


def split(url):
    # -> (secure, host, port, path, authorization header value or None)
    url, cred = transfer.userinfo(url)
    secure, host, port, path = handshake.parse_url(url, _SCHEMES)
    return secure, host, port, path, transfer.basic(cred) if cred else None


def _follow(base, code, location):
    # A redirect's Location, absolute or relative to the server of base.
    # What came over https:// never goes on over http:// (a redirect is no
    # reason to give up TLS: whoever can answer it could read the rest).
    # RFC 3986 5.2: "//host/path" keeps the scheme; "/path" the server;
    # "path" replaces the base path's last segment.
    if not (location.startswith("http://") or location.startswith("https://")):
        start = base.find("://") + 3
        if location.startswith("//"):
            location = base[: start - 2] + location
        else:
            end = base.find("/", start)
            root = base if end < 0 else base[:end]
            if not location.startswith("/"):
                path = "/" if end < 0 else base[end:].split("?", 1)[0]
                location = path[: path.rfind("/") + 1] + location
            location = root + location
    if base.startswith("https://") and not location.startswith("https://"):
        log.warning("http", "refusing the HTTP %d redirect from %s to %s: https:// never goes on over http://", code, base, location)
        raise HttpError(code, "redirect from https:// to http:// refused")
    return location


async def _open(url, ca_file, timeout_ms):
    secure, host, port, path, auth = split(url)
    if secure:
        if not ca_file:
            raise ValueError("https:// needs a CA certificate file")
        from uocpp.link import tls

        opening = asyncio.open_connection(host, port, ssl=tls.context(ca_file), server_hostname=host)
    else:
        opening = asyncio.open_connection(host, port)
    reader, writer = await asyncio.wait_for_ms(opening, timeout_ms)
    h = "[%s]" % host if ":" in host else host  # an IPv6 literal (RFC 3986 3.2.2)
    hosthdr = h if port in (80, 443) else "%s:%d" % (h, port)
    return reader, writer, path, hosthdr, auth


def _request(method, path, hosthdr, auth, extra):
    text = "%s %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: uocpp\r\n" % (method, path, hosthdr)
    if auth:
        text += "Authorization: " + auth + "\r\n"
    return (text + extra + "\r\n").encode()


async def _response(reader, timeout_ms):
    # -> (status, headers {lower-case bytes: bytes}, body bytes already read)
    try:
        head, rest = await asyncio.wait_for_ms(handshake.read_head(reader), timeout_ms)
    except handshake.HandshakeError as e:
        raise HttpError(0, e.reason)
    lines = head.split(b"\r\n")
    status = lines[0].split(b" ", 2)
    if len(status) < 2 or not status[0].startswith(b"HTTP/1.") or not status[1].isdigit():
        raise HttpError(0, "not an HTTP answer: %r" % lines[0][:60])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    return int(status[1]), headers, rest


def _refused(code, what):
    return HttpError(code, "%s: HTTP %d" % (what, code))


async def get(url, sink, ca_file=None, timeout=30):
    # Downloads url, calling sink(memoryview) for each piece of the body in
    # order (the view is only valid during the call). Follows up to three
    # redirects. Returns the number of body bytes. Raises HttpError (a status
    # other than 200, a body shorter than its Content-Length), OSError
    # (connection), ValueError (URL, CA file) or asyncio.TimeoutError.
    timeout_ms = int(timeout * 1000)
    for _ in range(_MAX_REDIRECTS + 1):
        reader, writer, path, hosthdr, auth = await _open(url, ca_file, timeout_ms)
        try:
            writer.write(_request("GET", path, hosthdr, auth, ""))
            await asyncio.wait_for_ms(writer.drain(), timeout_ms)
            code, headers, rest = await _response(reader, timeout_ms)
            if code in _REDIRECTS and b"location" in headers:
                url = _follow(url, code, headers[b"location"].decode())
                continue
            if code != 200:
                raise _refused(code, "download")
            length = int(headers.get(b"content-length", b"-1"))
            if 0 <= length < len(rest):
                rest = rest[:length]
            if rest:
                sink(memoryview(rest))
            got = len(rest)
            del rest
            got += await transfer.receive(reader, sink, length - got if length >= 0 else -1, timeout_ms)
            if got < length:
                raise HttpError(0, "download cut short: %d of %d bytes" % (got, length))
            return got
        finally:
            await close_stream(writer)
    raise HttpError(0, "more than %d redirects" % _MAX_REDIRECTS)


async def send(method, url, source, length, ca_file=None, timeout=30, content_type="application/octet-stream", head=b"", tail=b""):
    # Uploads length bytes read from source (an object with readinto(buf)
    # and seek(0), such as a file opened "rb") with method (PUT or POST),
    # between head and tail (the framing of a multipart form, see
    # multipart()). Follows up to three redirects that keep the method
    # (301, 302, 307, 308), sending the body again. Returns the HTTP status
    # (2xx); raises HttpError for any other, OSError, ValueError or
    # asyncio.TimeoutError as get() does.
    timeout_ms = int(timeout * 1000)
    for _ in range(_MAX_REDIRECTS + 1):
        code, headers = await _send_once(method, url, source, length, ca_file, timeout_ms, content_type, head, tail)
        if 200 <= code < 300:
            return code
        if code == 303 or code not in _REDIRECTS or b"location" not in headers:
            raise _refused(code, "upload")
        url = _follow(url, code, headers[b"location"].decode())
        source.seek(0)
    raise HttpError(0, "more than %d redirects" % _MAX_REDIRECTS)


async def _send_once(method, url, source, length, ca_file, timeout_ms, content_type, head, tail):
    # One request: -> (status, headers).
    reader, writer, path, hosthdr, auth = await _open(url, ca_file, timeout_ms)
    try:
        extra = "Content-Type: %s\r\nContent-Length: %d\r\n" % (content_type, len(head) + length + len(tail))
        writer.write(_request(method, path, hosthdr, auth, extra))
        if head:
            writer.write(head)
        try:
            await transfer.pump(source, length, writer, timeout_ms)
            if tail:
                writer.write(tail)
            await asyncio.wait_for_ms(writer.drain(), timeout_ms)
        except OSError as e:
            # A server may refuse (405, 413) or redirect before the body is
            # in, and close: its answer, when it can still be read, says more
            # than the pipe.
            try:
                answer = await _response(reader, timeout_ms)
            except Exception:
                raise e
            if 200 <= answer[0] < 300:
                raise e
            return answer[:2]
        return (await _response(reader, timeout_ms))[:2]
    finally:
        await close_stream(writer)


def multipart(field, filename, boundary):
    # The framing of a multipart/form-data body with one file part
    # (RFC 7578): (content type, head, tail) for send().
    head = '--%s\r\nContent-Disposition: form-data; name="%s"; filename="%s"\r\nContent-Type: application/octet-stream\r\n\r\n' % (
        boundary,
        field,
        filename,
    )
    return "multipart/form-data; boundary=" + boundary, head.encode(), ("\r\n--%s--\r\n" % boundary).encode()
